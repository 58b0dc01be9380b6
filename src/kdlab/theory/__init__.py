"""Asymptotic theory (N -> infinity) of the teacher and the KD student (``docs/theory.md``).

* :func:`solve` -- one point, returns a :class:`kdlab.results.Result` (``backend="theory"``).
* :func:`curve` -- a learning curve along one parameter, warm-starting each point from its
  neighbours; a ``pandas.DataFrame`` of ``Result.to_record()`` rows.
* :func:`bayes_optimal_error` -- the Bayes-optimal error of a data model.

Method: the leave-one-out state evolution of ``docs/theory.md``; Gaussian expectations by trapezoidal
rules on ``[-8, 8]`` standard deviations (1-D for the teacher, 2-D for the student, refined
until the half-rule difference is below ``quad_tol``); proximal operators of the shared loss
objects (:mod:`kdlab.losses`) on the whole grid with warm-started Newton steps; biases by a
safeguarded 1-D Newton inside every map evaluation; Anderson-accelerated fixed point with a
damped fallback and honest convergence reporting in ``Result.status``.
"""

from .chain import QUAD_ACCEPT, WarmStart, bayes_optimal_error, solve
from .curves import CURVE_PARAMETERS, curve, parse_values

__all__ = ["solve", "curve", "bayes_optimal_error", "WarmStart", "parse_values", "CURVE_PARAMETERS",
           "QUAD_ACCEPT"]
