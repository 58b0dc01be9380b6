"""Finite-size simulation backend: sample the data, fit every stage exactly, measure.

* :func:`simulate` -- one problem over many seeds, returns a :class:`kdlab.results.Result`.
* :mod:`.erm` -- exact empirical risk minimization (truncated Newton-CG) and the
  separability test; :mod:`.run` -- sampling, seeds and the per-seed loop.
"""

from .run import simulate

__all__ = ["simulate"]
