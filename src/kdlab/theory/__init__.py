"""Asymptotic theory (N -> infinity) of the teacher, the KD student and chains of stages
(``docs/theory.md``).

* :func:`solve` -- one point of any chain, returns a :class:`kdlab.results.Result` (``backend="theory"``).
* :func:`curve` -- a learning curve along one parameter, warm-starting each point from its
  neighbours; a ``pandas.DataFrame`` of ``Result.to_record()`` rows.
* :func:`bayes_optimal_error` -- the Bayes-optimal error of a data model.

Method: the leave-one-out state evolution of ``docs/theory.md``; Gaussian expectations by nested
trapezoid rules (Fejer's second rule across the jump of hard labels), refined until the
half-rule difference is below ``quad_tol``; proximal operators of the shared loss objects
(:mod:`kdlab.losses`) on the whole grid with warm-started Newton steps; Anderson-accelerated
fixed point with a damped fallback and honest convergence reporting in ``Result.status``.

Modules: :mod:`.quadrature` (rules), :mod:`.prox`, :mod:`.fixed_point`, :mod:`.refine` (shared
machinery); :mod:`.family` (the per-stage interface of a stage family); :mod:`.binary`,
:mod:`.sets`, :mod:`.grid`, :mod:`.stage`, :mod:`.inputs` (the binary family: member records,
the state-evolution map, closed forms as overrides of their stage); :mod:`.multiclass` (the
K-class family); :mod:`.chain` (``solve``: the one loop over the stages); :mod:`.curves`.
"""

from .chain import QUAD_ACCEPT, WarmStart, bayes_optimal_error, solve
from .curves import CURVE_PARAMETERS, curve, parse_values

__all__ = ["solve", "curve", "bayes_optimal_error", "WarmStart", "parse_values", "CURVE_PARAMETERS",
           "QUAD_ACCEPT"]
