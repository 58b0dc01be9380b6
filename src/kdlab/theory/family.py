"""The per-stage interface of the theory: a stage family (``docs/architecture.md``).

The one loop over the stages (:func:`.chain.solve`) knows nothing of what a stage's state is:
it asks the problem's stage family, one object per solve, for each stage in order. A family
(the binary chain, :class:`.binary.BinaryFamily`; the K-class chain,
:class:`.multiclass.MulticlassFamily`) supplies

* ``chain_extra()``: the chain-wide entries of ``Result.extra`` (the Bayes-optimal errors);
* ``override(k)``: a stage known without its fixed point (the constant classifier) or refused
  before it, as ``(status, observables)`` (frozen already); ``None`` to solve it;
* ``start(k, warm)``: the starting point of stage ``k``: the warm state ``warm`` (from a
  previous result) where it fits the stage, else the family's own initial point;
* ``solve(k, start, **options)``: the stage's fixed point with quadrature refinement, earlier
  stages frozen (closed forms are overrides inside it);
* ``status(k, solution, seconds)``: the stage's :class:`~kdlab.results.SolverStatus` and its
  diagnostics for ``Result.extra``;
* ``freeze(k, solution)``: stage ``k`` becomes an input of the later stages;
* ``observables(k, solution)`` (the training error and loss NaN where the family was made
  with ``train_error=False``: they are not computed), ``state(k, solution)`` (the stage's warm state),
  ``nan_observables(k)`` (a stage that failed or was not solved), ``overlaps()`` (the
  overlaps between the frozen stages, NaN for the others).

The loop does the ordering, "stage ``j`` failed: every later stage ``NOT_SOLVED`` with NaN
observables", the timing, the warm start, the chain's status and the
:class:`~kdlab.results.Result`. A new stage family is one class with these methods and one
entry in :data:`.chain.FAMILIES`.
"""

from __future__ import annotations

from typing import Any, Optional

from ..results import Observables, SolverStatus

__all__ = ["StageFamily", "NO_TRAIN_ERROR"]

#: What the status of a solve with ``train_error=False`` adds to its message.
NO_TRAIN_ERROR = "training error and loss not computed (train_error=False): NaN"


class StageFamily:
    """One stage family of the theory (see the module docstring); ``problem``: the chain;
    ``train_error``: whether :meth:`observables` computes the training error and loss."""

    def __init__(self, problem, train_error: bool = True):
        self.problem = problem
        self.train_error = bool(train_error)

    def chain_extra(self) -> dict:
        return {}

    def override(self, k: int) -> Optional[tuple]:
        return None

    def start(self, k: int, warm: Any) -> Any:
        raise NotImplementedError

    def solve(self, k: int, start: Any, **options) -> Any:
        raise NotImplementedError

    def status(self, k: int, solution: Any, seconds: float) -> tuple[SolverStatus, dict]:
        raise NotImplementedError

    def freeze(self, k: int, solution: Any) -> None:
        raise NotImplementedError

    def observables(self, k: int, solution: Any) -> Observables:
        raise NotImplementedError

    def state(self, k: int, solution: Any) -> Any:
        return None

    def nan_observables(self, k: int) -> Observables:
        raise NotImplementedError

    def overlaps(self) -> Any:
        return None
