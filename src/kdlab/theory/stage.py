"""One stage of a chain: its member record and its state-evolution map (``docs/theory.md``,
"Chains of stages").

:class:`Member` holds what a stage needs and, once solved, what its children need (its row of
``m``, ``Q``, ``V``, the Cholesky row ``L`` and its conjugates). :class:`StageMap` is the map
``x -> G(x)`` of stage ``k`` of a group with its parents frozen: the parents' fields are
computed once on an outer grid over ``xi_0..xi_{k-1}`` (:func:`.grid.build_grid`), the stage's
own field on an inner trapezoid rule in ``xi_k``; the conjugates are outer sums of inner (fiber)
sums; the input side is the group's (:meth:`.group.Group.input_side`). The bias is part of the
state (one safeguarded Newton step on ``E[g] = 0`` per evaluation). :func:`solve_stage` runs the
shared fixed point with quadrature refinement (:func:`.refine.solve_with_refinement`).

State ``x = (m, q, Q_{k,0..k-1}, V_kk, V_{k,j} for the stage parents j < k[, b])``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.special import ndtr

from .fixed_point import HUGE, Diverged, FixedPointInfo, relative_residual
from .grid import build_grid
from .prox import prox_grid
from .quadrature import (
    DIGITS,
    MAX_LEVEL_BY_DIM,
    MIN_LEVEL_BY_DIM,
    gauss_floor_level,
    level_for_width,
    n_nodes,
    trap_rule,
    window,
)
from .refine import solve_with_refinement

__all__ = ["Member", "StageMap", "StageSolution", "solve_stage", "make_member", "HUGE"]

#: Testing: use Stein's lemma for every susceptibility (not only with hard labels).
FORCE_STEIN = False


@dataclass
class Member:
    """One member of a group (a solved stage, or the fixed external parent ``ext``)."""

    kind: str                 # 'ext', 'bo', 'logistic', 'student'
    index: int                # chain index
    spec: object = None
    loss: object = None
    lam: float = 0.0
    eta: float = 1.0
    hard_labels: bool = False  # loss jumps in the parent's pre-activation (a KD term at temperature 0)
    temperature: float = math.inf  # temperature of a soft KD term (sets the analytic strip of its fields)
    fixed_bias: Optional[float] = None
    # solved quantities (row entries over group positions 0..pos)
    m: float = math.nan
    b: float = math.nan
    L: np.ndarray = None      # Cholesky row of Delta Q
    V: np.ndarray = None      # susceptibility row (V[pos] = self term); 0 for ext
    Q: np.ndarray = None      # overlap row
    mhat: float = 0.0
    Qhat: np.ndarray = None
    Vhat: np.ndarray = None

    @property
    def is_ext(self):
        return self.kind == "ext"

    def closed_form(self, group, pos: int):
        """The stage's fixed point when it is known in closed form, in the layout of its map
        (``None`` otherwise): the Bayes-optimal teacher's linear loss ``-y u`` has ``g = -y``, so
        ``mhat = alpha``, ``Qhat = alpha``, ``Vhat = 0`` and the input side gives its overlaps
        (``docs/theory.md``, "Bayes-optimal teacher: closed form")."""
        if self.kind != "bo" or pos != 0 or group.ext is not None or group.data.label_noise > 0:
            return None
        a = group.alpha
        m, Q, V, _ = group.input_side(pos, a, np.array([a]), np.array([0.0]))
        return np.array([m, Q[0], V[0]])




class _FixedRoot:
    def __init__(self, b):
        self.b, self.step, self.evaluations, self.converged = b, 0.0, 0, True


# ----------------------------------------------------------------------------- stage map
class StageMap:
    """x -> G(x) for stage ``pos`` of a group (parents frozen), on one grid; caches fields.

    Grid = outer grid over the parents' variables xi_0..xi_{k-1} (parents' fields computed
    once) x inner trapezoid rule in xi_k (stage k's own variable, which enters only its own
    field, linearly). Arrays of stage k are (P_outer, n_inner); every hat is an outer sum
    of outer quantities times inner (fiber) sums.
    State ``x = (m, q, Q_{k,0..k-1}, V_kk, V_{k,j} for stage parents j < k[, b])``.
    """

    def __init__(self, group, pos: int, levels, b0: float, bias_tol: float = 1e-12):
        self.group, self.pos, self.levels = group, pos, tuple(int(v) for v in levels)
        self.mem = group.members[pos]
        self.data = group.data
        members = group.members
        self.ndim = pos + 1
        self.stein = FORCE_STEIN or any(members[j].hard_labels for j in range(pos + 1))
        self.grid, self.F = build_grid(members, pos, self.levels, self.data, need_derivs=not self.stein)
        gr = self.grid
        self.Wo = gr.W                                  # outer weights (P,)
        self.xin, self.win, self.whin = trap_rule(n_nodes(self.levels[pos], self.ndim), window(self.ndim))
        self.parents = [j for j in range(pos) if not members[j].is_ext]
        self.b = float(b0) if self.mem.fixed_bias is None else self.mem.fixed_bias
        self.u = None
        self.root = None
        self.y2 = gr.y[:, None]
        self.yt2 = gr.yt[:, None]
        self.ut = self.F[pos - 1]["u"] if pos > 0 else None
        self.ut2 = None if self.ut is None else self.ut[:, None]
        self.Lpar = np.zeros((pos, pos))
        for j in range(pos):
            self.Lpar[j, :j + 1] = members[j].L[:j + 1]

    # --- state layout
    def unpack(self, x):
        k = self.pos
        m, q = x[0], x[1]
        Q = np.empty(k + 1)
        Q[:k] = x[2:2 + k]
        Q[k] = q
        V = np.zeros(k + 1)
        V[k] = x[2 + k]
        for i, j in enumerate(self.parents):
            V[j] = x[3 + k + i]
        return m, Q, V

    def pack(self, m, Q, V):
        k = self.pos
        return np.concatenate([[m, Q[k]], Q[:k], [V[k]], [V[j] for j in self.parents]])

    @property
    def free_bias(self):
        return self.mem.fixed_bias is None

    def cholesky_row(self, Q):
        k, d = self.pos, self.data.delta
        L = np.zeros(k + 1)
        rhs = d * Q[:k]
        for j in range(k):
            s = rhs[j] - self.Lpar[j, :j] @ L[:j]
            L[j] = s / self.Lpar[j, j] if self.Lpar[j, j] > 1e-14 else 0.0
        L[k] = math.sqrt(max(d * Q[k] - L[:k] @ L[:k], 0.0))
        return L

    # --- output side
    def _at(self, Vs, b):
        c = self.base + b
        # warm start from the previous fields; cold start from u = c (prox_grid's Newton steps,
        # then its safeguarded fallback only for the elements not converged)
        u0 = c if self.u is None else self.u + self.slope * (c - self.c)
        u, g, h = prox_grid(self.mem.loss, c, Vs, self.yt2, self.ut2, u0)
        slope = 1.0 / (1.0 + Vs * h)
        self.c, self.u, self.g, self.h, self.slope, self.b = c, u, g, h, slope, b
        self._fib = {}
        Eg = float(self.Wo @ (g @ self.win))
        dEg = float(self.Wo @ ((h * slope) @ self.win))
        return Eg, dEg

    def __call__(self, x):
        m, Q, V = self.unpack(x)
        k = self.pos
        if not (Q[k] > 0 and V[k] > 0):
            raise ValueError(f"invalid state q={Q[k]!r}, V={V[k]!r}")
        if np.max(np.abs(x)) > HUGE:
            raise Diverged(f"stage {self.mem.index}: overlaps grow without bound (q = {Q[k]:.3g})")
        L = self.cholesky_row(Q)
        self.x, self.L_row, self.V_row = np.array(x, float), L, V
        gr = self.grid
        bo = gr.y * m + gr.xi @ L[:k]
        for j in self.parents:
            if V[j] != 0.0:
                bo = bo - V[j] * self.F[j]["g"]
        self.base_outer = bo
        self.base = bo[:, None] + L[k] * self.xin[None, :]
        if self.free_bias:
            # the bias is part of the state: one Newton step on E[g](b) = 0 per map evaluation
            b = float(x[-1])
            Eg, dEg = self._at(V[k], b)
            step = -Eg / dEg if dEg > 0 else -math.copysign(1.0, Eg)
            if abs(step) > 1.0 + abs(b):
                step = math.copysign(1.0 + abs(b), step)
            self.root = _FixedRoot(b)
            return np.concatenate([self.inputs(self.hats()), [b + step]])
        self._at(V[k], self.mem.fixed_bias)
        self.root = _FixedRoot(self.b)
        return self.inputs(self.hats())

    def _fiber(self, half):
        """Inner (xi_k) sums per outer point, with the full or half inner rule."""
        key = bool(half)
        if key not in self._fib:
            w = self.whin if half else self.win
            g = self.g
            f = {"g": g @ w, "gg": (g * g) @ w, "sh": (self.slope * self.h) @ w}
            if self.stein:
                f["xg"] = (g * self.xin[None, :]) @ w
            elif self.pos > 0:
                lx = self.mem.loss.cross(self.u, self.yt2, self.ut2)
                f["slx"] = (self.slope * lx) @ w
            self._fib[key] = f
        return self._fib[key]

    def hats(self, half_dim=None):
        """Conjugates with the full rule, or the half rule in dimension ``half_dim``."""
        a = self.group.alpha
        k = self.pos
        Wo = self.Wo if half_dim is None or half_dim == k else self.grid.W_half(half_dim)
        f = self._fiber(half_dim == k)
        Wg = Wo * f["g"]
        mhat = -a * float(Wg @ self.grid.y)
        Qhat = np.zeros(k + 1)
        Qhat[k] = a * float(Wo @ f["gg"])
        for j in self.parents:
            Qhat[j] = a * float(Wg @ self.F[j]["g"])
        if self.stein:
            Lfull = np.zeros((k + 1, k + 1))
            Lfull[:k, :k] = self.Lpar
            Lfull[k] = self.L_row
            if np.min(np.diag(Lfull)) <= 1e-10:
                raise ArithmeticError("Stein's lemma needs a non-degenerate field covariance")
            Exg = np.empty(k + 1)
            Exg[:k] = Wg @ self.grid.xi
            Exg[k] = float(Wo @ f["xg"])
            Vhat = a * np.linalg.solve(Lfull.T, Exg)
        else:
            Vhat = np.zeros(k + 1)
            Vhat[k] = float(Wo @ f["sh"])
            if k > 0:
                # E[G_kj] = E_outer[acc_j * sum_i w_i s h + D_{k-1, j} * sum_i w_i s lx], j < k
                acc = np.zeros((Wo.size, k))
                for j in self.parents:
                    if self.V_row[j] != 0.0:
                        acc[:, :j + 1] -= self.V_row[j] * self.F[j]["G"]
                Vhat[:k] = (Wo * f["sh"]) @ acc[:, :k] + (Wo * f["slx"]) @ self.F[k - 1]["D"][:, :k]
            Vhat *= a
        return mhat, Qhat, Vhat

    def inputs(self, hats):
        mhat, Qhat, Vhat = hats
        m, Q, V, _ = self.group.input_side(self.pos, mhat, Qhat, Vhat)
        return self.pack(m, Q, V)

    def quad_errors(self, x):
        full = self.inputs(self.hats())
        out = []
        for d in range(self.pos + 1):
            half = self.inputs(self.hats(half_dim=d))
            if self.free_bias:
                # bias shift of the half rule RELATIVE to the full rule (the bias is in the
                # state, so E_full[g] = 0 only at the fixed point, not at the checkpoint)
                Wo = self.Wo if d == self.pos else self.grid.W_half(d)
                f = self._fiber(d == self.pos)
                ff = self._fiber(False)
                Eg_full = float(self.Wo @ ff["g"])
                db = (float(Wo @ f["g"]) - Eg_full) / max(float(self.Wo @ ff["sh"]), 1e-300)
            else:
                db = 0.0
            out.append(max(relative_residual(full, half), abs(db) / (1.0 + abs(self.b))))
        return tuple(out)

    # --- observables at the converged point
    def train_error(self, target=None, max_points=4e6):
        """P(ytilde u_k < 0): exact in xi_k (u_k < 0 iff c_k < V_kk L'(0)), quadrature outside.

        The outer integrand ``Phi(ytilde (thr - c_rest) / L_kk)`` is a smoothed step of width
        ``L_kk``: the outer rules are refined (parents' fields recomputed) until the half-rule
        differences are below ``target``. Returns (value, half-rule estimate).
        """
        k = self.pos
        if target is None:
            target = 1e-12 if k <= 1 else 1e-9
        Lk = self.L_row[k]
        Vs = self.V_row[k]
        if k == 1 and not self.group.members[1].hard_labels:
            return self._train_error_one_parent()
        levels = list(self.levels)
        hi = 14 if k == 1 else MAX_LEVEL_BY_DIM.get(k + 1, 11) + 2
        while True:
            gr, F = build_grid(self.group.members, k, levels, self.data, need_derivs=False, ndim=self.ndim)
            rest = gr.y * self.x[0] + gr.xi @ self.L_row[:k] + self.b
            for j in self.parents:
                if self.V_row[j] != 0.0:
                    rest = rest - self.V_row[j] * F[j]["g"]
            ut = F[k - 1]["u"] if k > 0 else None
            thr = Vs * self.mem.loss.grad(np.zeros_like(rest), gr.yt, ut)
            if Lk > 1e-300:
                err = ndtr(gr.yt * (thr - rest) / Lk)
            else:
                err = (gr.yt * (thr - rest) > 0).astype(float)
            val = float(gr.W @ err)
            est = max([abs(val - float(gr.W_half(d) @ err)) for d in range(k)] + [0.0])
            if est <= target or k == 0 or gr.xi.shape[0] * 2 ** min(k, 3) > max_points or min(levels[:k]) >= hi:
                return val, est
            levels = [min(v + 1, hi) for v in levels[:k]] + levels[k:]

    def _train_error_one_parent(self, max_level: int = 14):
        """Training error of a stage with one smooth parent dimension (the talk's student):
        ``E_xi0[Phi(ytilde B(xi0) / L_11)]`` with ``B = thr - c_rest``. The integrand is a step of
        width ``L_11 / |B'|``; the rule in ``xi0`` is refined (the parent's fields recomputed on
        the finer nodes) until it resolves the step, and when the step is sharper than the finest
        rule (``L_11`` close to 0: ``chi = 0, eta = 1`` or the copy limit) the Gaussian measure of
        ``{ytilde B > 0}`` is taken exactly between the roots of the piecewise-linear ``B``.
        Returns (value, 0.0)."""
        from .grid import eval_member, label_combinations

        par, mem = self.group.members[0], self.mem
        L1, V1 = self.L_row[1], self.V_row[1]
        combos = label_combinations(self.data)
        y = np.array([c[0] for c in combos])[:, None]
        yt = np.array([c[1] for c in combos])[:, None]
        wc = np.array([c[2] for c in combos])

        def boundary(level):
            x, w, _ = trap_rule(n_nodes(level, 2), window(2))
            xi = np.tile(x, len(combos))[:, None]
            yy, yyt = np.repeat(y[:, 0], x.size), np.repeat(yt[:, 0], x.size)
            F0 = eval_member(par, 0, xi, yy, yyt, [], derivs=False)
            rest = yy * self.x[0] + xi[:, 0] * self.L_row[0] + self.b
            if self.V_row[0] != 0.0 and F0["g"] is not None:
                rest = rest - self.V_row[0] * F0["g"]
            thr = V1 * mem.loss.grad(np.zeros_like(rest), yyt, F0["u"])
            B = (thr - rest).reshape(len(combos), x.size)
            h = x[1] - x[0]
            return x, w, B, float(np.max(np.abs(np.diff(B, axis=1)))) / h, h

        level = self.levels[0]
        x, w, B, slope, h = boundary(level)
        if not (L1 > 0.0 and 0.5 * L1 >= slope * h):
            need = math.ceil(math.log2(max(2 * window(2) * slope / (0.5 * L1), 2.0))) if L1 > 0 else 99
            level = min(max(need, level), max_level)
            x, w, B, slope, h = boundary(level)
        if L1 > 0.0 and 0.5 * L1 >= slope * h:
            return float(wc @ (ndtr(yt * B / L1) @ w)), 0.0
        return float(wc @ _measure_positive(x, yt * B)), 0.0

    def train_loss(self):
        val = self.mem.loss.value(self.u, self.yt2, self.ut2)
        return float(self.Wo @ (val @ self.win))



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


def _estimate_levels(group, pos: int, x, quad_tol=None):
    """A priori levels per dimension from the coefficients of xi_d in the fields."""
    k = pos
    mem = group.members
    d = group.data.delta
    # Cholesky row of the current stage
    m_, Q, V = _unpack(x, k, [j for j in range(k) if not mem[j].is_ext])
    Lpar = np.zeros((k, k))
    for j in range(k):
        Lpar[j, :j + 1] = mem[j].L[:j + 1]
    L = np.zeros(k + 1)
    for j in range(k):
        s = d * Q[j] - Lpar[j, :j] @ L[:j]
        L[j] = s / Lpar[j, j] if Lpar[j, j] > 1e-14 else 0.0
    L[k] = math.sqrt(max(d * Q[k] - L[:k] @ L[:k], 0.0))
    Lfull = np.zeros((k + 1, k + 1))
    Lfull[:k, :k] = Lpar
    Lfull[k] = L
    hi = MAX_LEVEL_BY_DIM.get(k + 1, 5)
    out = []
    for dd in range(k + 1):
        temperature = min([1.0] + [mem[j].temperature for j in range(dd, k + 1)])
        width = math.pi * temperature
        s = max(float(np.max(np.abs(Lfull[dd:, dd]))), 1e-6)
        if k + 1 <= 2:
            lo = 5 if dd < k else 4
        else:
            lo = MIN_LEVEL_BY_DIM.get(k + 1, 7) + (1 if dd < k else 0)
            if quad_tol is not None:
                lo = max(lo, gauss_floor_level(k + 1, quad_tol))
        if dd + 1 <= k and mem[dd + 1].hard_labels:
            lo = max(lo, 5 if k + 1 <= 2 else 10)
        if k + 1 <= 2:
            out.append(level_for_width(width / s, lo=lo, hi=hi, digits=DIGITS.get(k + 1, 7.0)))
        else:
            h = 2 * math.pi * (width / s) / (DIGITS.get(k + 1, 7.0) * math.log(10.0))
            n = 2 * window(k + 1) / h
            L = math.ceil(2 * (math.log2(max(n, 1.0)) + 0.0))
            out.append(int(min(max(L, lo), hi)))
    return tuple(out)


def _unpack(x, k, parents):
    Q = np.empty(k + 1)
    Q[:k] = x[2:2 + k]
    Q[k] = x[1]
    V = np.zeros(k + 1)
    V[k] = x[2 + k]
    for i, j in enumerate(parents):
        V[j] = x[3 + k + i]
    return x[0], Q, V


def _initial_state(group, pos: int):
    mem = group.members[pos]
    a, d = group.alpha, group.data.delta
    parents = [j for j in range(pos) if not group.members[j].is_ext]
    if pos == 0 or group.members[pos - 1] is None:
        lam = mem.lam
        A = lam + d * a / 4.0
        m, q, V = 0.5 * a / A * mem.eta, (0.25 * a * a + 0.25 * d * a) / (A * A) * mem.eta, d / A * mem.eta
        if mem.kind == "bo":
            m, q, V = mem.eta * a / lam, mem.eta * (a * a + d * a) / lam ** 2, mem.eta * d / lam
        return np.concatenate([[m, q], [V]]), None
    par = group.members[pos - 1]
    eta = mem.eta
    # the parent's overlaps, a little decorrelated (0.9): a start equal to the parent would make
    # the fields' covariance singular, which the Stein form of a hard-label stage cannot use
    Q = np.zeros(pos + 1)
    Q[:pos] = 0.9 * eta * par.Q[:pos]
    Q[pos] = eta * par.Q[pos - 1]
    V = np.zeros(pos + 1)
    if par.is_ext:
        V[pos] = eta * d / (mem.lam + d * a / 4.0)
    else:
        V[pos] = eta * par.V[pos - 1]
        chi = min(getattr(mem.spec, "chi", 0.0), 1.0)
        V[pos - 1] = chi * V[pos]
        for j in parents:
            if j < pos - 1:
                V[j] = chi * eta * par.V[j]
    x = np.concatenate([[eta * par.m, Q[pos]], Q[:pos], [V[pos]], [V[j] for j in parents]])
    return x, par.b


@dataclass
class StageSolution:
    """A solved (or failed) stage: the map at the returned state, the state and diagnostics."""

    map: "StageMap"
    x: np.ndarray
    info: FixedPointInfo
    levels: tuple
    quad_error: float
    seconds: float
    closed_form: bool = False


def solve_stage(group, pos: int, *, tol, quad_tol, maxiter, method="anderson", init=None,
                init_bias=None) -> StageSolution:
    """Fixed point of stage ``pos`` of ``group`` (its parents solved and frozen).

    ``init``: a starting state of the right layout (e.g. a neighbouring point's); otherwise the
    parent's state scaled by ``eta`` (or the logistic loss at ``u = 0`` for a group's first stage).
    """
    t0 = time.perf_counter()
    mem = group.members[pos]
    x0, b0 = _initial_state(group, pos)
    if init is not None:
        xi = np.asarray(init, float)
        if xi.shape == x0.shape and np.all(np.isfinite(xi)) and xi[1] > 0 and xi[2 + pos] > 0:
            x0 = xi
            if init_bias is not None and math.isfinite(init_bias):
                b0 = float(init_bias)
    if b0 is None or not math.isfinite(b0):
        b0 = group.data.prior_bias
    if mem.fixed_bias is None:
        x0 = np.concatenate([x0, [b0]])
    k = pos
    ndim = k + 1
    hi = MAX_LEVEL_BY_DIM.get(ndim, 5)
    valid = lambda z: bool(np.all(np.isfinite(z)) and z[1] > 0 and z[2 + k] > 0 and np.max(np.abs(z)) < HUGE)  # noqa: E731
    estimate = lambda z: _estimate_levels(group, k, z, quad_tol)  # noqa: E731
    presolve = [min(5, hi)] * ndim if ndim <= 2 else [MIN_LEVEL_BY_DIM.get(ndim, 7) + 1] * ndim

    def make_map(levels, prev):
        return StageMap(group, k, levels, b0 if prev is None else prev.b)

    xc = mem.closed_form(group, pos)
    if xc is not None:  # the stage's own override: its fixed point, no iteration
        levels = tuple(estimate(xc))
        G = make_map(levels, None)
        gx = G(xc)
        info = FixedPointInfo(True, 1, relative_residual(xc, gx), "closed form", "closed-form")
        return StageSolution(G, xc, info, levels, float(max(G.quad_errors(xc))), time.perf_counter() - t0, True)

    G, x, info, levels, errs = solve_with_refinement(
        make_map, x0, list(estimate(x0)), tol=tol, maxiter=maxiter, method=method, valid=valid,
        log=[1, 2 + k], quad_tol=quad_tol, max_level=hi, estimate_levels=estimate, presolve=presolve)
    return StageSolution(G, x, info, tuple(levels), float(max(errs)), time.perf_counter() - t0)


def make_member(stage, index: int, data, parent_bias: Optional[float] = None) -> Member:
    """The member of chain stage ``index`` (a kdlab stage spec) on the model ``data``
    (``parent_bias``: the solved bias of its parent, for a bias fixed at the parent's)."""
    kind = {"bayes-optimal": "bo"}.get(stage.kind, stage.kind)
    mem = Member(kind=kind, index=index, spec=stage, loss=stage.loss(), eta=float(stage.eta),
                 lam=float(stage.ridge(data)), fixed_bias=stage.fixed_bias(data, parent_bias))
    if kind == "student":
        mem.hard_labels = stage.hard_labels and stage.chi > 0
        if stage.chi > 0 and stage.temperature > 0:
            mem.temperature = stage.temperature
    return mem
