"""State evolution of the sparse KD student, given the converged teacher (``docs/theory.md``).

Given ``y`` the cavity fields ``(omega~, omega)`` are Gaussian with mean ``y (mt, m)`` and
covariance ``Delta [[qt, p], [p, q]]``; with independent ``xi1, xi2 ~ N(0, 1)``,
``omega~ = y mt + sqrt(Delta qt) xi1`` and
``omega = y m + sqrt(Delta) (p / sqrt(qt) xi1 + sqrt(q - p^2 / qt) xi2)``.
The teacher's quantities depend on ``xi1`` only and are computed once.

Output side: ``u = prox_{V L}(omega + b - Vx gt)`` (``h + V L'(h + b) = omega - Vx gt``),
``g = L'(u)``, ``dg/domega = L'' / (1 + V L'')``,
``dg/domega~ = [Lx dh~/domega~ - L'' Vx dgt/domega~] / (1 + V L'')`` with ``Lx = d^2 L / du dut``.
Conjugates ``mhat2 = -alpha E[y g]``, ``qhat22 = alpha E[g^2]``, ``qhat12 = alpha E[gt g]``,
``Vhat22 = alpha E[dg/domega]``, ``Vhat21 = alpha E[dg/domega~]``; the bias solves ``E[g] = 0``.
Input side (``A = lam_t + Delta Vhat11``, ``B = lam + Delta Vhat22``), from the effective scalar
problem ``B w = mhat2 v + sqrt(Delta) z2 - Delta Vhat21 w~``, ``A w~ = mhat1 v + sqrt(Delta) z1``:
``m = eta a / B`` with ``a = mhat2 - Delta Vhat21 mhat1 / A``,
``p = eta [mhat1 a + Delta (qhat12 - Delta Vhat21 qhat11 / A)] / (A B)``,
``q = eta [a^2 + Delta (qhat22 - 2 Delta Vhat21 qhat12 / A + Delta^2 Vhat21^2 qhat11 / A^2)] / B^2``,
``V = eta Delta / B``, ``Vx = -eta Delta^2 Vhat21 / (A B)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.special import ndtr

from ..problem import Student
from .bias import solve_bias
from .fixed_point import HUGE, Diverged, FixedPointInfo, Stop, relative_residual
from .prox import prox_grid
from .quadrature import MIN_LEVEL, WINDOW, gauss_trapezoid, level_for_width
from .refine import solve_with_refinement
from .teacher import TeacherSolution, Y, _py

__all__ = ["StudentSolution", "solve_student", "initial_student_state", "STUDENT_MAX_LEVEL"]

#: Finest rule per dimension of the student's 2-D grid (513 nodes).
STUDENT_MAX_LEVEL = 9
#: Work allowed to one student solve, in grid points x map evaluations (a few seconds at worst:
#: 19 evaluations on the finest 2 x 513 x 513 grid, thousands on typical grids).
MAX_WORK = 1e7
#: Finest 1-D rule for the training error's outer integral (16385 nodes).
TRAIN_ERROR_MAX_LEVEL = 14


@dataclass
class StudentSolution:
    m: float
    q: float
    p: float
    V: float
    Vx: float
    b: float
    mhat: float
    qhat: float
    qhat12: float
    Vhat: float
    Vhat21: float
    train_error: float
    train_loss: float
    info: FixedPointInfo
    levels: tuple
    quad_error: float
    bias_step: float

    @property
    def state(self) -> np.ndarray:
        return np.array([self.m, self.q, self.p, self.V, self.Vx])


class _StudentMap:
    """``x = (m, q, p, V, Vx) -> G(x)`` on one 2-D rule, bias solved inside, caches fields."""

    def __init__(self, teacher: TeacherSolution, student: Student, loss, levels, b0: float,
                 bias_tol: float, work: list):
        data = teacher.data
        self.data, self.t, self.student, self.loss = data, teacher, student, loss
        self.levels = tuple(levels)
        r1, r2 = gauss_trapezoid(levels[0]), gauss_trapezoid(levels[1])
        self.r1, self.r2 = r1, r2
        ut, gt, dgt, dht = teacher.fields(r1.x)
        self.ut, self.gt, self.dgt, self.dht = (a[:, :, None] for a in (ut, gt, dgt, dht))
        self.y = Y[:, None, None]
        self.xi1 = r1.x[None, :, None]
        self.xi2 = r2.x[None, None, :]
        py = _py(data)[:, None, None]
        self.py = py
        self.W = py * r1.w[None, :, None] * r2.w[None, None, :]
        self.b = float(b0)
        self.bias_tol = bias_tol
        self.u = None
        self.root = None
        self.evaluations = 0
        self.work = work  # shared [points x evaluations so far, budget]

    def _coefficients(self, x):
        m, q, p, V, Vx = x
        d, qt = self.data.delta, self.t.qt
        a1 = math.sqrt(d) * p / math.sqrt(qt)
        a2 = math.sqrt(d * max(q - p * p / qt, 0.0))
        return a1, a2

    def _at(self, base, V, b):
        c = base + b
        u0 = None if self.u is None else self.u + self.slope * (c - self.c)
        u, g, lpp = prox_grid(self.loss, c, V, self.y, self.ut, u0)
        slope = 1.0 / (1.0 + V * lpp)
        self.c, self.u, self.g, self.lpp, self.slope, self.b = c, u, g, lpp, slope, b
        self.dg = lpp * slope
        return float(np.sum(self.W * g)), float(np.sum(self.W * self.dg))

    def hats(self, W, x):
        Vx = x[4]
        a = self.data.alpha
        Wg = W * self.g
        lx = self.loss.cross(self.u, self.y, self.ut)
        dg21 = (lx * self.dht - self.lpp * Vx * self.dgt) * self.slope
        return (-a * float(np.sum(Wg * self.y)), a * float(np.sum(Wg * self.g)),
                a * float(np.sum(Wg * self.gt)), a * float(np.sum(W * self.dg)),
                a * float(np.sum(W * dg21)))

    def inputs(self, hats):
        mhat2, qhat22, qhat12, Vhat22, Vhat21 = hats
        t, d, eta = self.t, self.data.delta, self.student.eta
        A, mhat1, qhat11 = t.A, t.mhat, t.qhat
        B = self.student.lam + d * Vhat22
        a = mhat2 - d * Vhat21 * mhat1 / A
        m = eta * a / B
        p = eta * (mhat1 * a + d * (qhat12 - d * Vhat21 * qhat11 / A)) / (A * B)
        q = eta * (a * a + d * (qhat22 - 2 * d * Vhat21 * qhat12 / A
                                + d * d * Vhat21 * Vhat21 * qhat11 / (A * A))) / (B * B)
        return np.array([m, q, p, eta * d / B, -eta * d * d * Vhat21 / (A * B)])

    def __call__(self, x):
        m, q, p, V, Vx = x
        if not (q > 0 and V > 0):
            raise ValueError(f"invalid student state q={q!r}, V={V!r}")
        if max(abs(m), q, V, abs(Vx)) > HUGE:
            raise Diverged(f"student overlaps grow without bound (q = {q:.3g}, V = {V:.3g}): "
                           "no finite minimizer, or one too large to represent (separable data at lam = 0, "
                           "or soft labels saturated at a small temperature?)")
        self.evaluations += 1
        self.work[0] += self.W.size
        if self.work[0] > self.work[1]:
            raise Stop(f"work budget exhausted ({self.work[1]:.0e} grid points x evaluations) on a "
                       f"{self.W.shape[1]}x{self.W.shape[2]} grid: the point needs finer quadrature than "
                       "affordable (e.g. very small temperature with a large teacher variance)")
        a1, a2 = self._coefficients(x)
        base = (self.y * m + a1 * self.xi1 - Vx * self.gt) + a2 * self.xi2
        self.root = solve_bias(lambda b: self._at(base, V, b), self.b, tol=self.bias_tol)
        if not self.root.converged:
            raise ArithmeticError(f"student bias root not converged (last step {self.root.step:.3e})")
        return self.inputs(self.hats(self.W, x))

    def quad_errors(self, x):
        """Half-rule error estimates ``(dimension 1, dimension 2)`` at the last evaluated point."""
        full = self.inputs(self.hats(self.W, x))
        out = []
        for wa, wb in ((self.r1.w_half, self.r2.w), (self.r1.w, self.r2.w_half)):
            W = self.py * wa[None, :, None] * wb[None, None, :]
            half = self.inputs(self.hats(W, x))
            db = float(np.sum(W * self.g)) / max(float(np.sum(W * self.dg)), 1e-300)
            out.append(max(relative_residual(full, half), abs(db) / (1.0 + abs(self.b))))
        return tuple(out)

    def train_error(self, x) -> float:
        """``P(y u < 0)``, integrated exactly over ``xi2``.

        ``u < 0  <=>  omega < V L'(0; y, ut) - b + Vx gt``, and given ``xi1`` the field
        ``omega`` is Gaussian, so the error is ``E_xi1[Phi(y B(xi1) / a2)]`` with
        ``B = V L'(0; y, ut) - b + Vx gt - y m - a1 xi1``. The integrand in ``xi1`` is a step of
        width ``a2 / |B'|``; the rule is refined (teacher fields recomputed on the finer nodes)
        until it resolves the step, and when the step is sharper than the finest rule (``a2``
        close to 0, e.g. ``chi = 0, eta = 1`` or the copy limit) the Gaussian measure of
        ``{y B > 0}`` is taken exactly between the roots of the piecewise-linear ``B``.
        """
        m, q, p, V, Vx = x
        a1, a2 = self._coefficients(x)
        y = self.y[:, :, 0]
        py = self.py[:, :, 0]

        def boundary(xi, ut, gt):
            thr = V * self.loss.grad(np.zeros_like(ut), y, ut) - self.b + Vx * gt
            return thr - y * m - a1 * xi[None, :]

        rule = self.r1
        B = boundary(rule.x, self.ut[:, :, 0], self.gt[:, :, 0])
        h = rule.x[1] - rule.x[0]
        slope = float(np.max(np.abs(np.diff(B, axis=1)))) / h
        level = rule.level
        if a2 <= 0.0 or 0.5 * a2 < slope * h:
            need = math.ceil(math.log2(max(2 * WINDOW * slope / (0.5 * a2), 2.0))) if a2 > 0 else 99
            level = min(max(need, rule.level), TRAIN_ERROR_MAX_LEVEL)
            rule = gauss_trapezoid(level)
            ut, gt = self.t.fields(rule.x)[:2]
            B = boundary(rule.x, ut, gt)
            h = rule.x[1] - rule.x[0]
            slope = float(np.max(np.abs(np.diff(B, axis=1)))) / h
        if a2 > 0.0 and 0.5 * a2 >= slope * h:
            return float(np.sum(py * rule.w[None, :] * ndtr(y * B / a2)))
        return float(py[:, 0] @ _measure_positive(rule.x, y * B))


def _measure_positive(x, s):
    """Gaussian measure of ``{s > 0}``, ``s`` linear between the nodes ``x`` (rows of ``s``)."""
    Phi = ndtr(x)
    s0, s1 = s[:, :-1], s[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = x[:-1] - s0 * (x[1:] - x[:-1]) / (s1 - s0)
    Pr = ndtr(np.where(np.isfinite(r), r, 0.0))
    both = (s0 > 0) & (s1 > 0)
    up = (s0 <= 0) & (s1 > 0)
    down = (s0 > 0) & (s1 <= 0)
    seg = np.where(both, Phi[1:] - Phi[:-1], 0.0)
    seg = seg + np.where(up, Phi[1:] - Pr, 0.0) + np.where(down, Pr - Phi[:-1], 0.0)
    tails = np.where(s[:, 0] > 0, Phi[0], 0.0) + np.where(s[:, -1] > 0, 1.0 - Phi[-1], 0.0)
    return seg.sum(axis=1) + tails


def initial_student_state(teacher: TeacherSolution, student: Student) -> np.ndarray:
    """Cold start: the teacher's overlaps restricted to ``eta N`` coordinates."""
    eta = student.eta
    V = eta * teacher.Vt
    return np.array([eta * teacher.mt, eta * teacher.qt, eta * teacher.qt, V, student.chi * V])


def _initial_levels(teacher: TeacherSolution, student: Student, x) -> tuple:
    m, q, p, V, Vx = x
    d, qt = teacher.data.delta, teacher.qt
    a1 = math.sqrt(d) * abs(p) / math.sqrt(qt)
    a2 = math.sqrt(d * max(q - p * p / qt, 0.0))
    # analytic strip of the integrands: pi for the logistic prox, pi T for the KD terms
    width = math.pi * (min(1.0, student.temperature) if student.chi > 0 else 1.0)
    s1 = max(math.sqrt(d * qt), a1, 1e-6)
    return (level_for_width(width / s1, lo=5, hi=STUDENT_MAX_LEVEL),
            level_for_width(width / max(a2, 1e-6), lo=MIN_LEVEL, hi=STUDENT_MAX_LEVEL))


def solve_student(teacher: TeacherSolution, student: Student, *, loss=None, tol: float = 1e-10,
                  maxiter: int = 1000, method: str = "anderson", init=None,
                  init_bias: Optional[float] = None, levels=None, quad_tol: float = 1e-6,
                  max_level: int = STUDENT_MAX_LEVEL, bias_tol: float = 1e-12,
                  max_work: float = MAX_WORK) -> StudentSolution:
    """Solve the student's state evolution for a solved ``teacher``.

    ``loss`` overrides ``student.loss()`` (any :class:`kdlab.losses.Loss`; used in tests for the
    logit-matching limit). ``levels``: starting quadrature levels ``(xi1, xi2)``, refined until
    the half-rule differences are below ``quad_tol``.
    """
    loss = student.loss() if loss is None else loss
    x = initial_student_state(teacher, student) if init is None else np.asarray(init, float)
    if not (x.shape == (5,) and np.all(np.isfinite(x)) and x[1] > 0 and x[3] > 0):
        x = initial_student_state(teacher, student)
    b = teacher.bt if init_bias is None or not math.isfinite(init_bias) else float(init_bias)
    lv = list(_initial_levels(teacher, student, x) if levels is None else levels)
    # cold start: iterate first on coarse rules (but not so coarse that the map is noise)
    presolve = tuple(min(max(v, 5), 7) for v in lv) if levels is None and init is None else None
    lv = [int(min(max(v, MIN_LEVEL), max_level)) for v in lv]
    # Anderson proposals beyond HUGE are rejected (damped step instead): only a plain image
    # G(x) that large is reported as divergence
    valid = lambda z: bool(np.all(np.isfinite(z)) and z[1] > 0 and z[3] > 0 and np.max(np.abs(z)) < HUGE)  # noqa: E731

    work = [0.0, float(max_work)]

    def make_map(levels, prev):
        return _StudentMap(teacher, student, loss, levels, b if prev is None else prev.b, bias_tol, work)

    G, x, info, lv, qerr = solve_with_refinement(
        make_map, x, lv, tol=tol, maxiter=maxiter, method=method, valid=valid, log=[1, 3],
        quad_tol=quad_tol, max_level=max_level,
        estimate_levels=lambda z: _initial_levels(teacher, student, z), presolve=presolve)
    nan = math.nan
    if G.root is not None:
        hats = G.hats(G.W, x)
        train_loss = float(np.sum(G.W * loss.value(G.u, G.y, G.ut)))
        train_error = G.train_error(x)
        bstep = G.root.step
    else:
        hats, train_loss, train_error, bstep = (nan,) * 5, nan, nan, nan
    m, q, p, V, Vx = (float(v) for v in x)
    return StudentSolution(m, q, p, V, Vx, G.b, hats[0], hats[1], hats[2], hats[3], hats[4],
                           train_error, train_loss, info, tuple(lv), float(max(qerr)), bstep)
