"""kdlab: knowledge distillation in a solvable model.

A problem is data (:class:`GaussianMixture`) plus a chain of stages: a teacher
(:class:`LogisticTeacher` or :class:`BayesOptimalTeacher`) and students (:class:`Student`),
each on its parent's training set (:class:`Shared`) or a fresh one (:class:`Fresh`). Two
backends return the same :class:`~kdlab.results.Result`: :func:`simulate` (finite N) and
:func:`theory.solve` (N -> infinity). The model and its conventions: ``docs/model.md``; the
theory: ``docs/theory.md``.
"""

from . import theory
from .errors import ConvergenceError, KdlabError, NoMinimizerError
from .problem import (
                      BayesOptimalTeacher,
                      Fresh,
                      GaussianMixture,
                      LogisticTeacher,
                      Problem,
                      Shared,
                      Student,
                      load_problem,
)
from .results import Observables, Result, SolverStatus, Status, gen_error
from .simulation import simulate

__version__ = "0.2.0"


def study(name: str, out, quick: bool = False, **kwargs):
    """Run the study ``name`` (``kdlab study --list``) into the folder ``out``: figures, tables,
    ``report.md`` with computed verdicts (:func:`kdlab.studies.study`, which documents the
    keyword arguments); returns a :class:`kdlab.studies.StudyOutput`."""
    from .studies import study as _study

    return _study(name, out, quick, **kwargs)


__all__ = [
    "GaussianMixture",
    "LogisticTeacher",
    "BayesOptimalTeacher",
    "Student",
    "Shared",
    "Fresh",
    "Problem",
    "load_problem",
    "simulate",
    "theory",
    "study",
    "Result",
    "Observables",
    "SolverStatus",
    "Status",
    "gen_error",
    "KdlabError",
    "NoMinimizerError",
    "ConvergenceError",
]
