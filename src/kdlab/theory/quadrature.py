"""Gaussian expectations by the trapezoidal rule on a wide window.

``E[f(xi)]``, ``xi ~ N(0, 1)``, is approximated by ``sum_k w_k f(xi_k)`` with ``2^level + 1``
equispaced nodes on ``[-L, L]`` (``L = 8``: the Gaussian tail beyond is ``1e-15``) and
weights ``h phi(xi_k)`` (halved at the ends), normalized to sum to one. For integrands
analytic in a strip ``|Im xi| < d`` the error is ``O(exp(-2 pi d / h))``: geometric in the
number of nodes, unlike Gauss-Hermite, whose nodes spread out as ``sqrt(n)`` and converge slowly
when the proximal operator has complex singularities close to the real axis (``docs/theory.md``).
Every other node of a rule is the rule of the level below, so the difference
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


# --------------------------------------------------------------------------- rules of the chains
# Grids of three or more dimensions (stage k >= 2 of one training set) use a finer ladder of
# node counts and a narrower window; a dimension split at a discontinuity (a hard-label child)
# uses Fejer's second rule on both pieces (``docs/theory.md``, "Chains of stages").

#: Finest / coarsest level of a rule by grid dimension (>= 3 dimensions: ladder levels).
MAX_LEVEL_BY_DIM = {1: 11, 2: 9, 3: 14, 4: 12, 5: 11}
MIN_LEVEL_BY_DIM = {1: 4, 2: 4, 3: 8, 4: 7, 5: 7}
#: Digits asked of the a priori level estimate by grid dimension (the half-rule check then refines).
DIGITS = {1: 10.0, 2: 10.0, 3: 7.0, 4: 7.0, 5: 6.0}


def n_nodes(level: int, ndim: int) -> int:
    """Odd node count of a rule: ``2^level + 1`` for grids of <= 2 dimensions; for >= 3
    dimensions the ladder ``2 round(2^(level/2 - 1)) + 1`` (17, 23, 33, 47, 65 at levels 8..12),
    steps of about sqrt(2), so that a refinement costs a factor ~2^(ndim/2), not 2^ndim.
    Every ladder rule's half rule (every other node) is again a trapezoid rule."""
    if ndim <= 2:
        return 2 ** level + 1
    return 2 * int(round(2.0 ** (level / 2.0 - 1.0))) + 1


def window(ndim: int) -> float:
    """Half-width (sd) of the trapezoid window: ``WINDOW`` up to 2 dimensions, 7 beyond (Gaussian
    mass outside 2.6e-12 per dimension; not seen by the half-rule estimate)."""
    return WINDOW if ndim <= 2 else 7.0


_TRAP: dict = {}


def trap_rule(n: int, W: float):
    """Trapezoid rule for N(0, 1) on ``[-W, W]`` with ``n`` (odd) nodes: ``(x, w, w_half)``.
    Identical to :func:`gauss_trapezoid` where that rule exists."""
    key = (n, W)
    if key not in _TRAP:
        if n < 3 or n % 2 == 0:
            raise ValueError(f"trapezoid rule: n must be odd >= 3, got {n}")
        lv = int(round(math.log2(n - 1)))
        if n == 2 ** lv + 1 and W == WINDOW:
            r = gauss_trapezoid(lv)
            _TRAP[key] = (r.x, r.w, r.w_half)
        else:
            x = np.linspace(-W, W, n)
            h = 2 * W / (n - 1)
            wh = np.zeros(n)
            wh[::2] = _weights(x[::2], 2 * h)
            _TRAP[key] = (x, _weights(x, h), wh)
    return _TRAP[key]


def _fejer2_unit(m: int):
    """Fejer's second rule on [-1, 1]: the ``m - 1`` interior Chebyshev nodes ``cos(j pi / m)``."""
    theta = np.pi * np.arange(1, m) / m
    k = np.arange(1, m // 2 + 1)
    S = np.sin(np.outer(theta, 2 * k - 1)) / (2 * k - 1)
    w = 4.0 * np.sin(theta) / m * S.sum(axis=1)
    return np.cos(theta)[::-1].copy(), w[::-1].copy()


_FEJER: dict = {}


def fejer_rule(n: int):
    """Rule on [-1, 1] for a piece of a split dimension, from an odd ``n``: Fejer's second rule
    with ``n - 1`` intervals (``n - 2`` interior nodes). The endpoints lie on the discontinuity,
    where the integrand must not be evaluated (Clenshaw-Curtis, which uses them, converges only
    as O(1/n^2) there). Nested: the half rule lives on every other node. ``(x, w, w_half)``."""
    if n not in _FEJER:
        m = n - 1
        x, w = _fejer2_unit(m)
        wh = np.zeros(x.size)
        if m // 2 >= 2:
            wh[1::2] = _fejer2_unit(m // 2)[1]
        else:
            wh[:] = w
        _FEJER[n] = (x, w, wh)
    return _FEJER[n]


def normal_pdf(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def gauss_floor_level(ndim: int, quad_tol: float) -> int:
    """Smallest ladder level whose half rule integrates the Gaussian weight itself to
    ``quad_tol / 10`` (trapezoid error ``exp(-2 pi^2 / h^2)`` by Poisson summation); starting
    below it only costs a useless refinement round (>= 3 dimensions)."""
    W = window(ndim)
    target = math.log(max(quad_tol, 1e-300) / 10.0)
    for L in range(MIN_LEVEL_BY_DIM.get(ndim, 7), MAX_LEVEL_BY_DIM.get(ndim, 11) + 1):
        h2 = 2 * (2 * W / (n_nodes(L, ndim) - 1))
        if -2 * math.pi ** 2 / h2 ** 2 <= target:
            return L
    return MAX_LEVEL_BY_DIM.get(ndim, 11)
