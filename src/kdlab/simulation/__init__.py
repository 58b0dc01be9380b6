"""Finite-size simulation backend: sample the data, fit every stage exactly, measure.

* :func:`simulate` -- one problem over many seeds, returns a :class:`kdlab.results.Result`.
* :mod:`.erm` -- exact empirical risk minimization (truncated Newton-CG) and the
  separability test; :mod:`.run` -- seeds, the one per-seed loop over the stages and the one
  aggregation over seeds, the binary stage family; :mod:`.family` -- the stage-family
  interface; :mod:`.multinomial` -- the K-class family.
"""

from .run import simulate

__all__ = ["simulate"]
