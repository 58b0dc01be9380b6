"""The per-stage interface of the simulation: a stage family (``docs/architecture.md``).

The one per-seed loop over the stages (:func:`.run.simulate_seed_chains`) and the one
aggregation over seeds (:func:`.run.simulate_many`) know nothing of what a fitted stage is:
they ask the data's stage family (the binary chain, :class:`.run.BinaryDraws`; the K-class
chain, :class:`.multinomial.MulticlassDraws`). A family is the class of one seed's draws,
shared by every chain simulated on that seed:

* ``Draws(data, n_features, seed, n_test)``: the seed's draws (class means, test set; training
  sets drawn when first used, one per set, shared by the chains);
* ``chain(problem)``: one chain's record on these draws (its sets by name, ``fits``: its fitted
  stages so far, appended by the loop);
* ``fit(chain, k, tol)``: fit stage ``k`` (earlier stages in ``chain.fits``) and measure it:
  ``(fit, observables)``, ``fit.iterations`` its optimizer's iterations, ``observables`` a dict
  of floats or arrays (``p`` / ``P``, the overlap with an earlier stage, included);
* ``overlaps(chain)``: the overlaps between the chain's fitted stages (``None``: not reported);
* ``overlap_columns(overlaps)`` (a static method): the per-seed table's columns of those overlaps.

The loop does the ordering, the sharing of stage 0 between chains (one fit per seed, and the
last fits of the process), the per-seed rows; the aggregation the means, standard errors, the
per-seed table and the :class:`~kdlab.results.Result`. A new stage family is one class with
these methods and one entry in :data:`.run.FAMILIES`.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["Draws", "ChainFits"]


class ChainFits:
    """One chain on one seed's draws: its ``problem``, its training ``sets`` (a mapping, name ->
    set) and ``fits``, its fitted stages in order."""

    def __init__(self, problem, sets):
        self.problem, self.sets, self.fits = problem, sets, []


class Draws:
    """One seed's draws for one stage family (see the module docstring)."""

    def __init__(self, data, n_features: int, seed: int, n_test: Optional[int]):
        self.data, self.n_features, self.seed = data, n_features, seed

    def chain(self, problem) -> ChainFits:
        raise NotImplementedError

    def fit(self, chain: ChainFits, k: int, tol: float) -> tuple[Any, dict]:
        raise NotImplementedError

    def overlaps(self, chain: ChainFits) -> Any:
        return None

    @staticmethod
    def overlap_columns(overlaps) -> dict:
        return {}
