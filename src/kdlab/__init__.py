"""kdlab: knowledge distillation in a solvable model.

A problem is data (:class:`GaussianMixture`) plus a chain of stages: a teacher
(:class:`LogisticTeacher` or :class:`BayesOptimalTeacher`) and students (:class:`Student`),
each on its parent's training set (:class:`Shared`) or a fresh one (:class:`Fresh`), or
learners (:class:`Learner`) on any list of sample groups (:class:`Group`: a training set and
its labels, true or :func:`from_stage`; :mod:`kdlab.workflows` builds the model-collapse
designs). Two
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
                      Group,
                      Learner,
                      LogisticTeacher,
                      MulticlassMixture,
                      Problem,
                      Shared,
                      Student,
                      from_stage,
                      load_problem,
)
from .results import Observables, Result, SolverStatus, Status, gen_error
from .simulation import simulate

__version__ = "0.3.0"

#: Subpackages loaded on first access (``kdlab.talk.reproduce(...)``): the root imports only the
#: model and the two backends, never the applications built on them.
_LAZY = ("runs", "reporting", "talk", "studies", "experiments", "estimator", "torch", "params", "losses", "io",
         "workflows")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GaussianMixture",
    "MulticlassMixture",
    "LogisticTeacher",
    "BayesOptimalTeacher",
    "Student",
    "Shared",
    "Fresh",
    "Learner",
    "Group",
    "from_stage",
    "Problem",
    "load_problem",
    "simulate",
    "theory",
    "Result",
    "Observables",
    "SolverStatus",
    "Status",
    "gen_error",
    "KdlabError",
    "NoMinimizerError",
    "ConvergenceError",
]
