"""State evolution of the teacher (``docs/theory.md``), logistic or Bayes-optimal.

Output side, for ``y = +-1`` and the cavity field ``omega~ = y mt + sqrt(Delta qt) xi``:
``u~ = prox_{Vt lt}(omega~ + bt)`` (i.e. ``h~ + Vt lt'(h~ + bt) = omega~``), ``gt = lt'(u~)``,
``dgt/domega~ = lt'' / (1 + Vt lt'')``, ``dh~/domega~ = 1 / (1 + Vt lt'')``. Conjugates
``mhat = -alpha E[y gt]``, ``qhat = alpha E[gt^2]``, ``Vhat = alpha E[dgt/domega~]``; input side
with ``A = lam_t + Delta Vhat``: ``mt = mhat / A``, ``qt = (mhat^2 + Delta qhat) / A^2``,
``Vt = Delta / A``. The bias solves ``E[gt] = 0`` inside every evaluation of the map.

The Bayes-optimal teacher is in closed form: ``mt = 2 alpha / (Delta (Delta + alpha))``,
``qt = 4 alpha / (Delta^2 (Delta + alpha))``, ``Vt = 2 / (Delta + alpha)``, ``bt = log(rho / (1 - rho))``,
``u~ = omega~ + Vt y + bt`` (linear loss ``-y u``, ridge ``Delta (Delta + alpha) / 2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.special import ndtr

from ..problem import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, teacher_loss
from .bias import solve_bias
from .fixed_point import HUGE, Diverged, FixedPointInfo, relative_residual
from .prox import prox_grid
from .quadrature import MAX_LEVEL, MIN_LEVEL, gauss_trapezoid, level_for_width
from .refine import solve_with_refinement

__all__ = ["TeacherSolution", "solve_teacher", "bayes_optimal_teacher", "Y"]

#: Label values, first axis of every grid.
Y = np.array([1.0, -1.0])


def _py(data: GaussianMixture) -> np.ndarray:
    return np.array([data.rho, 1.0 - data.rho])


@dataclass
class TeacherSolution:
    """Converged (or not) teacher state: overlaps, conjugates, observables and diagnostics."""

    data: GaussianMixture
    spec: object
    loss: object
    mt: float
    qt: float
    Vt: float
    bt: float
    mhat: float
    qhat: float
    Vhat: float
    A: float
    train_error: float
    train_loss: float
    info: FixedPointInfo
    level: Optional[int] = None
    quad_error: float = 0.0
    bias_step: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def closed_form(self) -> bool:
        return isinstance(self.spec, BayesOptimalTeacher)

    @property
    def state(self) -> np.ndarray:
        return np.array([self.mt, self.qt, self.Vt])

    def fields(self, xi: np.ndarray):
        """Teacher quantities on nodes ``xi`` of ``omega~ = y mt + sqrt(Delta qt) xi``.

        Returns ``(ut, gt, dgt, dht)``, each of shape ``(2, len(xi))`` (rows ``y = +1, -1``):
        total pre-activation ``u~``, ``gt = lt'``, ``dgt/domega~`` and ``dh~/domega~``.
        """
        y = Y[:, None]
        s = math.sqrt(self.data.delta * self.qt)
        c = y * self.mt + s * np.asarray(xi, float)[None, :] + self.bt
        if self.closed_form:
            ut = c + self.Vt * y
            shape = ut.shape
            return ut, np.broadcast_to(-y, shape).copy(), np.zeros(shape), np.ones(shape)
        ut, gt, lpp = prox_grid(self.loss, c, self.Vt, y)
        dht = 1.0 / (1.0 + self.Vt * lpp)
        return ut, gt, lpp * dht, dht


def _train_error(loss, data, mt, qt, Vt, bt) -> float:
    """``P(y u~ < 0)`` in closed form: ``u~ < 0  <=>  omega~ + bt < Vt lt'(0; y)``."""
    s = math.sqrt(data.delta * qt)
    c0 = Vt * np.asarray(loss.grad(0.0, Y), float)
    z = Y * (c0 - bt) - mt
    if s > 0:
        err = ndtr(z / s)
    else:
        err = np.where(z > 0, 1.0, np.where(z < 0, 0.0, 0.5))
    return float(_py(data) @ err)


def bayes_optimal_teacher(data: GaussianMixture, spec: BayesOptimalTeacher | None = None) -> TeacherSolution:
    """Closed form of the Bayes-optimal teacher (exact; no iteration)."""
    spec = spec or BayesOptimalTeacher()
    a, d = data.alpha, data.delta
    mt = 2 * a / (d * (d + a))
    qt = 4 * a / (d * d * (d + a))
    Vt = 2 / (d + a)
    bt = data.prior_bias
    loss = teacher_loss(spec)
    lam = spec.ridge(data)
    train_loss = -(mt + Vt + bt * (2 * data.rho - 1))  # E[-y u~], u~ = y mt + s xi + Vt y + bt
    info = FixedPointInfo(True, 0, 0.0, "closed form", "closed-form")
    return TeacherSolution(data, spec, loss, mt, qt, Vt, bt, mhat=a, qhat=a, Vhat=0.0, A=lam,
                           train_error=_train_error(loss, data, mt, qt, Vt, bt),
                           train_loss=train_loss, info=info)


class _TeacherMap:
    """``x = (mt, qt, Vt) -> G(x)`` on one quadrature rule, bias solved inside, caches fields."""

    def __init__(self, data: GaussianMixture, lam: float, loss, level: int, b0: float,
                 bias_tol: float):
        self.data, self.lam, self.loss = data, lam, loss
        self.rule = gauss_trapezoid(level)
        self.y = Y[:, None]
        self.xi = self.rule.x[None, :]
        py = _py(data)[:, None]
        self.W = py * self.rule.w[None, :]
        self.W_half = py * self.rule.w_half[None, :]
        self.b = float(b0)
        self.bias_tol = bias_tol
        self.u = None
        self.root = None
        self.evaluations = 0

    def _at(self, x, b):
        mt, qt, Vt = x
        c = self.y * mt + math.sqrt(self.data.delta * qt) * self.xi + b
        u0 = None if self.u is None else self.u + self.slope * (c - self.c)
        u, g, lpp = prox_grid(self.loss, c, Vt, self.y, None, u0)
        slope = 1.0 / (1.0 + Vt * lpp)
        self.c, self.u, self.g, self.lpp, self.slope, self.b = c, u, g, lpp, slope, b
        self.dg = lpp * slope
        return float(np.sum(self.W * g)), float(np.sum(self.W * self.dg))

    def hats(self, W):
        a = self.data.alpha
        return (-a * float(np.sum(W * self.y * self.g)), a * float(np.sum(W * self.g * self.g)),
                a * float(np.sum(W * self.dg)))

    def inputs(self, hats):
        mhat, qhat, Vhat = hats
        d = self.data.delta
        A = self.lam + d * Vhat
        return np.array([mhat / A, (mhat * mhat + d * qhat) / (A * A), d / A])

    def __call__(self, x):
        mt, qt, Vt = x
        if not (qt > 0 and Vt > 0):
            raise ValueError(f"invalid teacher state qt={qt!r}, Vt={Vt!r}")
        if max(abs(mt), qt, Vt) > HUGE:
            raise Diverged(f"teacher overlaps grow without bound (qt = {qt:.3g}, Vt = {Vt:.3g}): "
                           "no finite minimizer, or one too large to represent (separable data at lam_t = 0?)")
        self.evaluations += 1
        self.root = solve_bias(lambda b: self._at(x, b), self.b, tol=self.bias_tol)
        if not self.root.converged:
            raise ArithmeticError(f"teacher bias root not converged (last step {self.root.step:.3e})")
        return self.inputs(self.hats(self.W))

    def quad_errors(self, x) -> tuple:
        """Half-rule estimate of the quadrature error at the last evaluated point.

        Relative change of ``G(x)`` and bias shift ``-E_half[g] / E_half[dg/domega]`` when the
        rule of the level below is used on the same fields.
        """
        full, half = self.inputs(self.hats(self.W)), self.inputs(self.hats(self.W_half))
        db = float(np.sum(self.W_half * self.g)) / max(float(np.sum(self.W_half * self.dg)), 1e-300)
        return (max(relative_residual(full, half), abs(db) / (1.0 + abs(self.b))),)


def initial_teacher_state(data: GaussianMixture, lam: float) -> np.ndarray:
    """First iterate from ``gt ~ -y / 2``, ``lt'' ~ 1 / 4`` (the logistic loss at ``u = 0``)."""
    a, d = data.alpha, data.delta
    A = lam + d * a / 4.0
    return np.array([0.5 * a / A, (0.25 * a * a + 0.25 * d * a) / (A * A), d / A])


def solve_teacher(data: GaussianMixture, spec, *, tol: float = 1e-10, maxiter: int = 1000,
                  method: str = "anderson", init=None, init_bias: float | None = None,
                  level: int | None = None, quad_tol: float = 1e-6, max_level: int = MAX_LEVEL,
                  bias_tol: float = 1e-12) -> TeacherSolution:
    """Solve the teacher's state evolution (closed form for the Bayes-optimal teacher).

    ``init``: starting ``(mt, qt, Vt)``; ``level``: starting quadrature level (refined until
    the half-rule difference is below ``quad_tol``).
    """
    if isinstance(spec, BayesOptimalTeacher):
        return bayes_optimal_teacher(data, spec)
    if not isinstance(spec, LogisticTeacher):
        raise TypeError(f"teacher must be LogisticTeacher or BayesOptimalTeacher, got {type(spec).__name__}")
    loss = teacher_loss(spec)
    lam = spec.lam
    x = np.asarray(initial_teacher_state(data, lam) if init is None else init, float)
    if not (x.shape == (3,) and np.all(np.isfinite(x)) and x[1] > 0 and x[2] > 0):
        x = initial_teacher_state(data, lam)
    b = data.prior_bias if init_bias is None or not math.isfinite(init_bias) else float(init_bias)
    estimate = lambda z: (level_for_width(math.pi / max(math.sqrt(data.delta * z[1]), 1e-6)),)  # noqa: E731
    presolve = [MIN_LEVEL + 1] if level is None and init is None else None
    level = estimate(x)[0] if level is None else level
    level = int(min(max(level, MIN_LEVEL), max_level))
    # Anderson proposals beyond HUGE are rejected (damped step instead): only a plain image
    # G(x) that large is reported as divergence
    valid = lambda z: bool(np.all(np.isfinite(z)) and z[1] > 0 and z[2] > 0 and np.max(np.abs(z)) < HUGE)  # noqa: E731

    def make_map(levels, prev):
        return _TeacherMap(data, lam, loss, levels[0], b if prev is None else prev.b, bias_tol)

    G, x, info, levels, errs = solve_with_refinement(
        make_map, x, [level], tol=tol, maxiter=maxiter, method=method, valid=valid, log=[1, 2],
        quad_tol=quad_tol, max_level=max_level, estimate_levels=estimate,
        presolve=presolve)
    level, qerr = levels[0], errs[0]
    mt, qt, Vt = (float(v) for v in x)
    if G.root is not None:
        mhat, qhat, Vhat = G.hats(G.W)
        train_loss = float(np.sum(G.W * loss.value(G.u, G.y)))
        bstep = G.root.step
    else:
        mhat = qhat = Vhat = train_loss = bstep = math.nan
    A = lam + data.delta * Vhat
    return TeacherSolution(data, spec, loss, mt, qt, Vt, G.b, mhat, qhat, Vhat, A,
                           train_error=_train_error(loss, data, mt, qt, Vt, G.b),
                           train_loss=train_loss, info=info, level=level, quad_error=qerr,
                           bias_step=bstep)
