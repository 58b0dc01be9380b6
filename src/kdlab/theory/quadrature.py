"""Gaussian expectations by the trapezoidal rule on a wide window.

``E[f(xi)]``, ``xi ~ N(0, 1)``, is approximated by ``sum_k w_k f(xi_k)`` with ``2^level + 1``
equispaced nodes on ``[-L, L]`` (``L = 8``: the Gaussian tail beyond is ``1e-15``) and
weights ``h phi(xi_k)`` (halved at the ends), normalized to sum to one. For integrands
analytic in a strip ``|Im xi| < d`` the error is ``O(exp(-2 pi d / h))``: geometric in the
number of nodes, unlike Gauss-Hermite, whose nodes spread out as ``sqrt(n)`` and converge slowly
when the proximal operator has complex singularities close to the real axis (``docs/theory.md``). Every other node of a rule is the rule of the level below, so the difference
between the two (``weights_half``) is a free error estimate: at geometric convergence the
full rule's error is about the square of that difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Rule", "gauss_trapezoid", "level_for_width", "WINDOW", "MIN_LEVEL", "MAX_LEVEL"]

#: Half-width of the window, in standard deviations.
WINDOW = 8.0
MIN_LEVEL = 4  # 17 nodes
MAX_LEVEL = 11  # 2049 nodes


@dataclass(frozen=True)
class Rule:
    """Nodes ``x`` and normalized weights ``w`` of one rule; ``w_half`` uses every other node."""

    level: int
    x: np.ndarray
    w: np.ndarray
    w_half: np.ndarray

    @property
    def n(self) -> int:
        return self.x.size


def _weights(x: np.ndarray, h: float) -> np.ndarray:
    w = h * np.exp(-0.5 * x * x)
    w[0] *= 0.5
    w[-1] *= 0.5
    return w / w.sum()


@lru_cache(maxsize=None)
def gauss_trapezoid(level: int) -> Rule:
    """Trapezoidal rule for ``N(0, 1)`` with ``2^level + 1`` nodes on ``[-WINDOW, WINDOW]``."""
    if not 1 <= level <= 20:
        raise ValueError(f"quadrature level must be in [1, 20], got {level}")
    n = 2 ** level + 1
    x = np.linspace(-WINDOW, WINDOW, n)
    h = 2 * WINDOW / (n - 1)
    w = _weights(x, h)
    w_half = np.zeros(n)
    w_half[::2] = _weights(x[::2], 2 * h)
    for a in (x, w, w_half):
        a.setflags(write=False)
    return Rule(level, x, w, w_half)


def level_for_width(d: float, *, digits: float = 10.0, lo: int = MIN_LEVEL, hi: int = MAX_LEVEL) -> int:
    """Smallest level whose step ``h`` makes ``exp(-2 pi d / h) < 10^-digits``.

    ``d`` is the estimated half-width (in units of the Gaussian variable) of the strip where
    the integrand is analytic. Only a starting guess: the solvers check the half-rule
    difference at the converged point and refine.
    """
    if not d > 0 or not math.isfinite(d):
        return lo
    h = 2 * math.pi * d / (digits * math.log(10.0))
    n = 2 * WINDOW / h
    level = math.ceil(math.log2(max(n, 1.0)))
    return int(min(max(level, lo), hi))


def next_level(level: int, err: float, quad_tol: float, estimate: int, hi: int) -> int:
    """Level to try after a half-rule difference ``err > quad_tol`` at ``level``.

    At geometric convergence each level squares the error, so ``err`` predicts how many levels
    are missing: ``err^(2^k) <= quad_tol``. At least one level up, and not below the a priori
    ``estimate``.
    """
    step = 1
    if 0.0 < err < 0.5:
        step = max(1, math.ceil(math.log2(math.log(quad_tol) / math.log(err))))
    return int(min(max(level + step, estimate), hi))
