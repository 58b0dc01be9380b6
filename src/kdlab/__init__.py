"""kdlab: knowledge distillation in a solvable model.

One problem description (:class:`GaussianMixture`, :class:`LogisticTeacher` /
:class:`BayesOptimalTeacher`, :class:`Student`) and two backends returning the same
:class:`~kdlab.results.Result`: :func:`simulate` (finite N) and :func:`theory.solve`
(N -> infinity). The model and its conventions: ``docs/model.md``; the theory: ``docs/theory.md``.
"""

from . import theory
from .problem import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student
from .results import Observables, Result, SolverStatus, gen_error
from .simulation import simulate

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "LogisticTeacher",
    "BayesOptimalTeacher",
    "Student",
    "simulate",
    "theory",
    "Result",
    "Observables",
    "SolverStatus",
    "gen_error",
]
