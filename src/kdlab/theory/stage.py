"""One stage of a chain: its state-evolution map (``docs/theory.md``, "One stage").

:class:`StageMap` is the map ``x -> G(x)`` of stage ``k`` with the earlier stages frozen. For
every training set of the stage (:mod:`.sets`) the frozen members' fields are computed once
on an outer point set (:func:`.grid.build_grid`, a nested tensor rule; or
:func:`.grid.build_qmc`, randomized quasi-Monte Carlo, when the set has more than
:data:`TENSOR_MAX_DIM` members), the stage's own field on an inner rule in its own variable
(one node per RQMC point); the conjugates are sums over the sets (each weighted by its
``alpha``) of outer sums of inner (fiber) sums; the input side is the chain's
(:class:`.inputs.ChainInputs`). The bias is part of the state (one safeguarded Newton step on
``sum_s alpha_s E_s[g] = 0`` per evaluation). :func:`solve_stage` runs the fixed point with
quadrature refinement (:func:`.refine.solve_with_refinement`); a stage known in closed form
(:data:`CLOSED_FORMS`) overrides only its fixed point.

State ``x = (m, q, Q_kj for the other members j of its sets, V_kk, V_kj for the members j that
train on one of its sets[, b])``, ``j`` in chain order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from ..stages import BayesOptimalTeacher
from .fixed_point import HUGE, Diverged, FixedPointInfo, relative_residual
from .grid import build_grid, build_qmc, cross_terms, eval_member, label_combinations, source_fields, split_dims
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
from .sets import cholesky_next

__all__ = ["StageMap", "StageSolution", "solve_stage", "Layout", "HUGE", "TENSOR_MAX_DIM", "QMC_LEVELS",
           "CLOSED_FORMS"]

#: Testing: use Stein's lemma for every susceptibility (not only with hard labels).
FORCE_STEIN = False
#: A set with more members than this (the stage included) is integrated by RQMC; one member
#: fewer for a stage that trains on several sets or a set with hard labels (a 4-D tensor rule
#: costs seconds per solve, and with the splits of hard labels it does not reach its tolerance:
#: measured in ``benchmarks/bench_depth.py``).
TENSOR_MAX_DIM = 4


def uses_qmc(views, view) -> bool:
    """Whether ``view`` (one of the stage's ``views``) is integrated by RQMC."""
    hard = any(m.hard_labels for m in view.members)
    return view.pos + 1 > (TENSOR_MAX_DIM if len(views) == 1 and not hard else TENSOR_MAX_DIM - 1)
#: RQMC: log2 of the points per replicate: (presolve, first, finest).
QMC_LEVELS = (10, 12, 15)


@dataclass(frozen=True)
class Layout:
    """Where stage ``k``'s state keeps its overlaps ``Q_kj`` (``J``) and responses ``V_kj``
    (``T``), chain indices in order."""

    k: int
    J: tuple
    T: tuple

    def unpack(self, x):
        nJ = len(self.J)
        Q = dict(zip(self.J, x[2:2 + nJ]))
        V = dict(zip(self.T, x[3 + nJ:3 + nJ + len(self.T)]))
        return x[0], x[1], Q, x[2 + nJ], V

    def pack(self, m, Qrow, Vrow):
        k = self.k
        return np.concatenate([[m, Qrow[k]], [Qrow[j] for j in self.J], [Vrow[k]], [Vrow[j] for j in self.T]])

    @property
    def size(self) -> int:
        return 3 + len(self.J) + len(self.T)

    @property
    def cross_response_slice(self) -> slice:
        """Where ``V_kj`` (``j`` in ``T``) sit in the state."""
        return slice(3 + len(self.J), 3 + len(self.J) + len(self.T))

    @property
    def positive(self) -> list:
        """Indices of ``q`` and ``V_kk`` (kept positive; log scale in the extrapolation)."""
        return [1, 2 + len(self.J)]


def layout_of(views, k: int) -> Layout:
    J, T = set(), set()
    for v in views:
        for mem in v.members[:-1]:
            J.add(mem.index)
            if not mem.is_ext:
                T.add(mem.index)
    return Layout(k, tuple(sorted(J)), tuple(sorted(T)))


class _FixedRoot:
    def __init__(self, b):
        self.b, self.step, self.evaluations, self.converged = b, 0.0, 0, True


class _SetPart:
    """One training set of a stage map: its outer points, the frozen members' fields on them
    and the inner rule in the stage's own variable."""

    def __init__(self, view, levels, data, qmc: bool, need_derivs: bool):
        self.view, self.qmc = view, qmc
        members = view.members
        k = self.pos = view.pos
        self.ndim = k + 1
        self.mem = members[k]
        self.alpha = view.alpha
        self.stein = FORCE_STEIN or any(m.hard_labels for m in members[:k + 1])
        if qmc:
            self.levels = (int(levels[0]),)
            self.grid, self.F = build_qmc(members, k, self.levels[0], data, need_derivs=not self.stein)
            self.xin = self.grid.xi[:, k:k + 1]
            self.win = np.ones(1)
            self.whin = None
        else:
            self.levels = tuple(int(v) for v in levels)
            self.grid, self.F = build_grid(members, k, self.levels, data, need_derivs=not self.stein)
            x, w, wh = trap_rule(n_nodes(self.levels[k], self.ndim), window(self.ndim))
            self.xin, self.win, self.whin = x[None, :], w, wh
        gr = self.grid
        self.Wo = gr.W
        self.y = gr.y
        self.y2 = gr.y[:, None]
        self.yt2 = gr.yt[:, None]
        ut = source_fields(self.mem, self.F)
        self.ut2 = None if ut is None else (tuple(_col(a) for a in ut) if isinstance(ut, tuple) else _col(ut))
        self.Lpar = np.array([m.L[:k] for m in members[:k]]).reshape(k, k)
        self.trainers = [j for j in range(k) if not members[j].is_ext]
        self.u = None

    @property
    def n_entries(self) -> int:
        """Entries of the flat level list: one per dimension (tensor) or one (RQMC)."""
        return 1 if self.qmc else self.ndim

    def weights(self, alt):
        """Outer weights: the full rule, or ``("half", d)`` the half rule in outer dimension
        ``d``, or ``("rep", r)`` RQMC replicate ``r`` alone."""
        if alt is None or (alt[0] == "half" and alt[1] == self.pos):
            return self.Wo
        if alt[0] == "half":
            return self.grid.W_half(alt[1])
        return self.grid.W_rep(alt[1])

    def set_rows(self, m, Qk: dict, Vkk: float, Vk: dict, delta: float):
        k = self.pos
        mems = self.view.members
        cov = np.array([delta * Qk[mems[j].index] for j in range(k)])
        self.L_row = cholesky_next(self.Lpar, cov, delta * Qk[mems[k].index])
        V = np.zeros(k + 1)
        V[k] = Vkk
        for j in self.trainers:
            V[j] = Vk.get(mems[j].index, 0.0)
        self.V_row = V
        gr = self.grid
        bo = gr.y * m + gr.xi[:, :k] @ self.L_row[:k]
        for j in self.trainers:
            if V[j] != 0.0:
                bo = bo - V[j] * self.F[j]["g"]
        self.base_outer = bo
        self.base = bo[:, None] + self.L_row[k] * self.xin

    def at(self, b):
        """Fields at bias ``b``; returns ``(E[g], E[h s])`` (``s = 1 / (1 + V h)``)."""
        Vs = self.V_row[self.pos]
        c = self.base + b
        u0 = c if self.u is None or self.u.shape != c.shape else self.u + self.slope * (c - self.c)
        u, g, h = prox_grid(self.mem.loss, c, Vs, self.yt2, self.ut2, u0)
        slope = 1.0 / (1.0 + Vs * h)
        self.c, self.u, self.g, self.h, self.slope = c, u, g, h, slope
        self._fib = {}
        return float(self.Wo @ (g @ self.win)), float(self.Wo @ ((h * slope) @ self.win))

    def fiber(self, half: bool):
        """Inner (own-variable) sums per outer point, with the full or half inner rule."""
        if half not in self._fib:
            w = self.whin if half else self.win
            g = self.g
            f = {"g": g @ w, "gg": (g * g) @ w, "sh": (self.slope * self.h) @ w}
            if self.stein:
                f["xg"] = (g * self.xin) @ w
            if not self.stein:
                n_src = len(self.mem.src)
                if n_src:
                    lxs = cross_terms(self.mem.loss, self.u, self.yt2, self.ut2, n_src)
                    f["slx"] = [(self.slope * np.broadcast_to(lx, self.u.shape)) @ w for lx in lxs]
            self._fib[half] = f
        return self._fib[half]

    def hats(self, alt=None):
        """This set's share of stage ``k``'s conjugates, rows over the set's positions:
        ``(E[g], mhat, Qhat, Vhat)``, each already times ``alpha``."""
        a, k = self.alpha, self.pos
        Wo = self.weights(alt)
        f = self.fiber(alt is not None and alt[0] == "half" and alt[1] == k)
        Wg = Wo * f["g"]
        mhat = -a * float(Wg @ self.y)
        Qhat = np.zeros(k + 1)
        Qhat[k] = a * float(Wo @ f["gg"])
        for j in self.trainers:
            Qhat[j] = a * float(Wg @ self.F[j]["g"])
        if self.stein:
            # Stein: E[xi g] = L^T E[dg / domega]. The own term E[dg / domega_k] = E[s h] is smooth
            # (a hard label jumps in a source's field, not in the stage's own), so it is taken
            # directly and only the earlier rows are solved for (their pivots, not the stage's
            # own, which is small when the stage nearly copies a member, divide the noise). A
            # frozen copy of earlier members (zero pivot) takes no share: only the sum of the
            # responses to identical fields enters the input side.
            Exg = Wg @ self.grid.xi[:, :k]
            Vhat = np.zeros(k + 1)
            if FORCE_STEIN:
                if self.L_row[k] <= 1e-10:
                    raise ArithmeticError("Stein's lemma needs a non-degenerate field covariance")
                Vhat[k] = float(Wo @ f["xg"]) / self.L_row[k]
            else:
                Vhat[k] = float(Wo @ f["sh"])
            nz = np.flatnonzero(np.diag(self.Lpar) > 0.0)
            if nz.size:
                rhs = Exg - self.L_row[:k] * Vhat[k]
                Vhat[nz] = np.linalg.solve(self.Lpar[np.ix_(nz, nz)].T, rhs[nz])
            Vhat *= a
        else:
            Vhat = np.zeros(k + 1)
            Vhat[k] = float(Wo @ f["sh"])
            if k > 0:
                # E[dg_k / domega_j] = E[s h dc_k / domega_j + sum_i s lx_i du_i / domega_j], j < k
                acc = np.zeros((Wo.size, k))
                for j in self.trainers:
                    if self.V_row[j] != 0.0:
                        acc[:, :j + 1] -= self.V_row[j] * self.F[j]["G"]
                Vhat[:k] = (Wo * f["sh"]) @ acc
                for src, slx in zip(self.mem.src, f.get("slx", ())):
                    if isinstance(src, int):
                        D = self.F[src]["D"]
                        Vhat[:D.shape[1]] += (Wo * slx) @ D
            Vhat *= a
        return a * float(Wo @ f["g"]), mhat, Qhat, Vhat

    def train_error(self, x_m, b, data, target=None, max_points=4e6):
        """``P(ytilde u_k < 0)`` on this set: exact in the own variable (``u_k < 0`` iff
        ``c_k < V_kk ell'(0)``), the outer rules refined until the half-rule differences are
        below ``target`` (RQMC: the points of the map). Returns (value, error estimate)."""
        k = self.pos
        Lk, Vs = self.L_row[k], self.V_row[k]
        loss = self.mem.loss
        if self.qmc:
            gr, F = self.grid, self.F
            err = self._error_integrand(gr, F, x_m, b, Lk, Vs, loss)
            vals = [float(gr.W_rep(r) @ err) for r in range(gr.n_rep)]
            return float(np.mean(vals)), float(np.std(vals) / math.sqrt(len(vals)))
        if target is None:
            target = 1e-12 if k <= 1 else 1e-9
        if k == 1 and not self.mem.hard_labels:
            return self._train_error_one_parent(x_m, b, data), 0.0
        levels = list(self.levels)
        hi = 14 if k == 1 else MAX_LEVEL_BY_DIM.get(k + 1, 11) + 2
        while True:
            gr, F = build_grid(self.view.members, k, levels, data, need_derivs=False, ndim=self.ndim)
            err = self._error_integrand(gr, F, x_m, b, Lk, Vs, loss)
            val = float(gr.W @ err)
            est = max([abs(val - float(gr.W_half(d) @ err)) for d in range(k)] + [0.0])
            if est <= target or k == 0 or gr.xi.shape[0] * 2 ** min(k, 3) > max_points or min(levels[:k]) >= hi:
                return val, est
            levels = [min(v + 1, hi) for v in levels[:k]] + levels[k:]

    def _error_integrand(self, gr, F, x_m, b, Lk, Vs, loss):
        k = self.pos
        rest = gr.y * x_m + gr.xi[:, :k] @ self.L_row[:k] + b
        for j in self.trainers:
            if self.V_row[j] != 0.0:
                rest = rest - self.V_row[j] * F[j]["g"]
        thr = Vs * loss.grad(np.zeros_like(rest), gr.yt, source_fields(self.mem, F))
        if Lk > 1e-300:
            return ndtr(gr.yt * (thr - rest) / Lk)
        return (gr.yt * (thr - rest) > 0).astype(float)

    def _train_error_one_parent(self, x_m, b, data, max_level: int = 14):
        """Training error with one smooth earlier dimension (the talk's student):
        ``E_xi0[Phi(ytilde B(xi0) / L_11)]`` with ``B = thr - c_rest``. The integrand is a step of
        width ``L_11 / |B'|``; the rule in ``xi0`` is refined (the earlier member's fields
        recomputed on the finer nodes) until it resolves the step, and when the step is sharper
        than the finest rule (``L_11`` close to 0: ``chi = 0, eta = 1`` or the copy limit) the
        Gaussian measure of ``{ytilde B > 0}`` is taken exactly between the roots of the
        piecewise-linear ``B``."""
        par, mem = self.view.members[0], self.mem
        L1, V1 = self.L_row[1], self.V_row[1]
        combos = label_combinations(data)
        y = np.array([c[0] for c in combos])[:, None]
        yt = np.array([c[1] for c in combos])[:, None]
        wc = np.array([c[2] for c in combos])

        def boundary(level):
            x, w, _ = trap_rule(n_nodes(level, 2), window(2))
            xi = np.tile(x, len(combos))[:, None]
            yy, yyt = np.repeat(y[:, 0], x.size), np.repeat(yt[:, 0], x.size)
            F0 = eval_member(par, 0, xi, yy, yyt, [], derivs=False)
            rest = yy * x_m + xi[:, 0] * self.L_row[0] + b
            if self.V_row[0] != 0.0 and F0["g"] is not None:
                rest = rest - self.V_row[0] * F0["g"]
            thr = V1 * mem.loss.grad(np.zeros_like(rest), yyt, source_fields(mem, [F0]))
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
            return float(wc @ (ndtr(yt * B / L1) @ w))
        return float(wc @ _measure_positive(x, yt * B))

    def train_loss(self):
        val = self.mem.loss.value(self.u, self.yt2, self.ut2)
        return float(self.Wo @ (val @ self.win))


def _col(a):
    return a[:, None] if isinstance(a, np.ndarray) else a


class StageMap:
    """x -> G(x) for stage ``k`` (earlier stages frozen), summed over its training sets."""

    def __init__(self, k, plan, views, inputs, layout, levels, data, b0, fixed_bias):
        self.k, self.plan, self.views, self.inputs, self.layout = k, plan, views, inputs, layout
        self.data = data
        self.parts = []
        i = 0
        for v in views:
            qmc = uses_qmc(views, v)
            n = 1 if qmc else v.pos + 1
            self.parts.append(_SetPart(v, levels[i:i + n], data, qmc, need_derivs=True))
            i += n
        self.levels = tuple(int(v) for v in levels)
        self.qmc_entries = [p.qmc for p in self.parts for _ in range(p.n_entries)]
        self.fixed_bias = fixed_bias
        self.b = float(b0) if fixed_bias is None else fixed_bias
        self.root = None

    @property
    def free_bias(self) -> bool:
        return self.fixed_bias is None

    def unpack(self, x):
        m, q, QJ, Vkk, VT = self.layout.unpack(x)
        Qk = dict(QJ)
        Qk[self.k] = q
        return m, Qk, Vkk, VT

    def _at(self, b):
        Eg = dEg = 0.0
        for p in self.parts:
            e, de = p.at(b)
            Eg += p.alpha * e
            dEg += p.alpha * de
        self.b = b
        return Eg, dEg

    def __call__(self, x):
        m, Qk, Vkk, Vk = self.unpack(x)
        k = self.k
        if not (Qk[k] > 0 and Vkk > 0):
            raise ValueError(f"invalid state q={Qk[k]!r}, V={Vkk!r}")
        if np.max(np.abs(x)) > HUGE:
            raise Diverged(f"stage {k}: overlaps grow without bound (q = {Qk[k]:.3g})")
        self.x = np.array(x, float)
        for p in self.parts:
            p.set_rows(m, Qk, Vkk, Vk, self.data.delta)
        if self.free_bias:
            # the bias is part of the state: one Newton step on sum_s alpha_s E_s[g](b) = 0 per evaluation
            b = float(x[-1])
            Eg, dEg = self._at(b)
            step = -Eg / dEg if dEg > 0 else -math.copysign(1.0, Eg)
            if abs(step) > 1.0 + abs(b):
                step = math.copysign(1.0 + abs(b), step)
            self.root = _FixedRoot(b)
            return np.concatenate([self.inputs_of(self.hats()), [b + step]])
        self._at(self.fixed_bias)
        self.root = _FixedRoot(self.b)
        return self.inputs_of(self.hats())

    def hats(self, alt_part=None, alt=None):
        """Stage ``k``'s conjugates, rows over the chain's stages ``0..k``: ``(mhat, Qhat, Vhat)``
        (``alt_part``, ``alt``: that set's outer rule replaced, :meth:`_SetPart.weights`)."""
        k = self.k
        mhat = 0.0
        Qhat = np.zeros(k + 1)
        Vhat = np.zeros(k + 1)
        self._Eg = 0.0
        for i, p in enumerate(self.parts):
            Eg, mh, Qh, Vh = p.hats(alt if i == alt_part else None)
            self._Eg += Eg
            mhat += mh
            idx = p.view.indices
            Qhat[idx] += Qh
            Vhat[idx] += Vh
        return mhat, Qhat, Vhat

    def inputs_of(self, hats):
        mhat, Qhat, Vhat = hats
        m, Q, V, _ = self.inputs.row(self.k, self.plan.eta, self.plan.lam, mhat, Qhat, Vhat)
        return self.layout.pack(m, Q, V)

    def quad_errors(self, x):
        """One error estimate per entry of the level list: the half-rule difference of each
        tensor dimension, the replicate standard error of each RQMC set (relative to
        ``1 + |x|``, the bias shift included)."""
        full = self.inputs_of(self.hats())
        Eg_full = self._Eg
        self.qmc_response_error = math.nan if not any(p.qmc for p in self.parts) else 0.0
        dEg = sum(p.alpha * float(p.Wo @ p.fiber(False)["sh"]) for p in self.parts)
        out = []

        def alt_state(i, alt):
            z = self.inputs_of(self.hats(i, alt))
            db = (self._Eg - Eg_full) / max(dEg, 1e-300) if self.free_bias else 0.0
            return z, db

        A = None
        for i, p in enumerate(self.parts):
            if p.qmc:
                # replicate r moves the map by dG_r; the fixed point moves by (I - J)^-1 dG_r
                dG = []
                for r in range(p.grid.n_rep):
                    z, db = alt_state(i, ("rep", r))
                    dG.append(np.concatenate([z - full, [-db]]) if self.free_bias else z - full)
                if A is None:
                    A = np.eye(len(x)) - self.jacobian_near(x)
                try:
                    dx = np.linalg.solve(A, np.array(dG).T).T
                except np.linalg.LinAlgError:
                    dx = np.full((len(dG), len(x)), np.inf)
                se = np.std(dx, axis=0) / math.sqrt(len(dG)) / (1.0 + np.abs(np.asarray(x, float)))
                # the responses to the earlier members (V_kj, j < k) are estimated through Stein's
                # lemma with the hard labels' jumps and are the noisiest entries; they are reported
                # (qmc_response_error) but the stage's overlaps, bias and own response decide
                cross = self.layout.cross_response_slice
                self.qmc_response_error = max(self.qmc_response_error, float(np.max(se[cross], initial=0.0)))
                keep = np.ones(se.size, bool)
                keep[cross] = False
                out.append(float(np.max(se[keep])))
                continue
            for d in range(p.pos + 1):
                z, db = alt_state(i, ("half", d))
                out.append(max(relative_residual(full, z), abs(db) / (1.0 + abs(self.b))))
        return tuple(out)

    def jacobian_near(self, x, rel: float = 1e-3):
        """:meth:`jacobian` at ``x``, or the one computed last on these rules when it was at a
        point within ``rel`` (relative) of ``x`` (the checkpoint and the end of a solve): the
        error estimate needs the Jacobian to a few digits only."""
        x = np.asarray(x, float)
        last = getattr(self, "_jac", None)
        if last is not None and np.all(np.abs(last[0] - x) <= rel * (1.0 + np.abs(x))):
            return last[1]
        J = self.jacobian(x)
        self._jac = (x.copy(), J)
        return J

    def jacobian(self, x, rel_step: float = 1e-6):
        """``dG / dx`` at ``x`` by forward differences (the map's fields are left at ``x``)."""
        x = np.asarray(x, float)
        g0 = np.asarray(self(x), float)
        J = np.empty((g0.size, x.size))
        for i in range(x.size):
            h = rel_step * max(1.0, abs(x[i]))
            z = x.copy()
            z[i] += h
            J[:, i] = (np.asarray(self(z), float) - g0) / h
        self(x)
        return J

    # --- observables at the converged point
    def train_error(self):
        """``sum_s alpha_s P_s(ytilde u_k < 0) / sum_s alpha_s``: the error on all the stage's
        training samples against their sets' observed labels; (value, error estimate)."""
        tot = sum(p.alpha for p in self.parts)
        vals = [p.train_error(self.x[0], self.b, self.data) for p in self.parts]
        return (sum(p.alpha * v for p, (v, _) in zip(self.parts, vals)) / tot,
                sum(p.alpha * e for p, (_, e) in zip(self.parts, vals)) / tot)

    def train_loss(self):
        """Mean per-sample loss over all the stage's training samples."""
        tot = sum(p.alpha for p in self.parts)
        return sum(p.alpha * p.train_loss() for p in self.parts) / tot


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


def _set_levels(view, Qk: dict, delta: float, quad_tol=None):
    """A priori levels of one tensor set from the coefficients of xi_d in the fields."""
    mems = view.members
    k = view.pos
    Lpar = np.array([m.L[:k] for m in mems[:k]]).reshape(k, k)
    cov = np.array([delta * Qk[mems[j].index] for j in range(k)])
    L = cholesky_next(Lpar, cov, delta * Qk[mems[k].index])
    Lfull = np.zeros((k + 1, k + 1))
    Lfull[:k, :k] = Lpar
    Lfull[k] = L
    hi = MAX_LEVEL_BY_DIM.get(k + 1, 5)
    splits = split_dims(mems, k) + [False]
    out = []
    for dd in range(k + 1):
        temperature = min([1.0] + [mems[j].temperature for j in range(dd, k + 1)])
        width = math.pi * temperature
        s = max(float(np.max(np.abs(Lfull[dd:, dd]))), 1e-6)
        if k + 1 <= 2:
            lo = 5 if dd < k else 4
        else:
            lo = MIN_LEVEL_BY_DIM.get(k + 1, 7) + (1 if dd < k else 0)
            if quad_tol is not None:
                lo = max(lo, gauss_floor_level(k + 1, quad_tol))
        if splits[dd]:
            lo = max(lo, 5 if k + 1 <= 2 else 10)
        if k + 1 <= 2:
            out.append(level_for_width(width / s, lo=lo, hi=hi, digits=DIGITS.get(k + 1, 7.0)))
        else:
            h = 2 * math.pi * (width / s) / (DIGITS.get(k + 1, 7.0) * math.log(10.0))
            n = 2 * window(k + 1) / h
            lv = math.ceil(2 * (math.log2(max(n, 1.0)) + 0.0))
            out.append(int(min(max(lv, lo), hi)))
    return out


def _estimate_levels(views, layout, x, delta, quad_tol=None, qmc_level=None):
    m, q, QJ, Vkk, VT = layout.unpack(x)
    Qk = dict(QJ)
    Qk[layout.k] = q
    out = []
    for v in views:
        if uses_qmc(views, v):
            out.append(QMC_LEVELS[1] if qmc_level is None else qmc_level)
        else:
            out.extend(_set_levels(v, Qk, delta, quad_tol))
    return tuple(out)


def _initial_state(k, plan, views, inputs, solved, layout, data, chi):
    """A start for stage ``k``: its first label source's overlaps scaled by ``eta`` (a little
    decorrelated: a start equal to the source would make the fields' covariance singular, which
    the Stein form of a hard-label stage cannot use), or the logistic loss at ``u = 0``;
    ``chi``: the weight of the label sources (the responses to the source start at ``chi``
    times its own)."""
    eta, lam, d = plan.eta, plan.lam, data.delta
    a = sum(v.alpha for v in views)
    par = plan.parent
    if par is not None and solved[par].constant is not None:
        par = None
    if par is None:
        A = lam + d * a / 4.0
        m, q, V = 0.5 * a / A * eta, (0.25 * a * a + 0.25 * d * a) / (A * A) * eta, d / A * eta
        Qrow = np.zeros(k + 1)
        Qrow[k] = q
        Vrow = np.zeros(k + 1)
        Vrow[k] = V
        return layout.pack(m, Qrow, Vrow), None
    Q, R = inputs.Q, inputs.R
    Qrow = np.zeros(k + 1)
    for j in layout.J:
        Qrow[j] = 0.9 * eta * Q[par, j]
    Qrow[k] = eta * Q[par, par]
    Vrow = np.zeros(k + 1)
    if par in layout.T:
        Vrow[k] = eta * d * R[par, par]
        for j in layout.T:
            Vrow[j] = chi * Vrow[k] if j == par else chi * eta * d * R[par, j]
    else:
        Vrow[k] = eta * d / (lam + d * a / 4.0)
    return layout.pack(eta * inputs.m[par], Qrow, Vrow), solved[par].b


def _source_share(plan) -> float:
    """The share of a stage's loss weight on label sources."""
    src = sum(s.weight for u in plan.uses for s in u.sources)
    return src / max(src + sum(u.label_weight for u in plan.uses), 1e-300)


@dataclass
class StageSolution:
    """A solved (or failed) stage: the map at the returned state, the state and diagnostics
    (``quad_error``: largest tensor half-rule estimate; ``qmc_error``: largest RQMC standard
    error, NaN without RQMC)."""

    map: "StageMap"
    x: np.ndarray
    info: FixedPointInfo
    levels: tuple
    quad_error: float
    qmc_error: float
    seconds: float
    closed_form: bool = False
    qmc_response_error: float = math.nan


def _bayes_closed_form(G: StageMap):
    """The Bayes-optimal teacher's linear loss ``-y u`` has ``g = -y``, so ``mhat = alpha``,
    ``Qhat = alpha``, ``Vhat = 0`` and the input side gives its overlaps (``docs/theory.md``,
    "Bayes-optimal teacher: closed form")."""
    if G.k != 0 or G.data.label_noise > 0:
        return None
    a = G.views[0].alpha
    return G.inputs_of((a, np.array([a]), np.array([0.0])))


#: Stages whose fixed point is known in closed form: ``type -> f(map) -> state or None``.
CLOSED_FORMS = {BayesOptimalTeacher: _bayes_closed_form}


def solve_stage(k, spec, plan, views, inputs, solved, data, fixed_bias, *, tol, quad_tol, qmc_tol, maxiter,
                method="anderson", init=None, init_bias=None) -> StageSolution:
    """Fixed point of stage ``k`` (the earlier stages solved and frozen).

    ``init``: a starting state of the right layout (e.g. a neighbouring point's); otherwise
    :func:`_initial_state`.
    """
    t0 = time.perf_counter()
    layout = layout_of(views, k)
    chi = min(getattr(spec, "chi", None) if hasattr(spec, "chi") else _source_share(plan), 1.0)
    x0, b0 = _initial_state(k, plan, views, inputs, solved, layout, data, chi)
    pos = layout.positive
    if init is not None:
        xi = np.asarray(init, float)
        if xi.shape == x0.shape and np.all(np.isfinite(xi)) and all(xi[i] > 0 for i in pos):
            x0 = xi
            if init_bias is not None and math.isfinite(init_bias):
                b0 = float(init_bias)
    if b0 is None or not math.isfinite(b0):
        b0 = data.prior_bias
    if fixed_bias is None:
        x0 = np.concatenate([x0, [b0]])
    valid = lambda z: bool(np.all(np.isfinite(z)) and all(z[i] > 0 for i in pos) and np.max(np.abs(z)) < HUGE)  # noqa: E731
    his, tols, entries = [], [], []
    for v in views:
        if uses_qmc(views, v):
            his.append(QMC_LEVELS[2])
            tols.append(qmc_tol)
            entries.append("qmc")
        else:
            his.extend([MAX_LEVEL_BY_DIM.get(v.pos + 1, 5)] * (v.pos + 1))
            tols.extend([quad_tol] * (v.pos + 1))
            entries.extend(["tensor"] * (v.pos + 1))
    estimate = lambda z: _estimate_levels(views, layout, z, data.delta, quad_tol)  # noqa: E731
    presolve = []
    for v in views:
        nd = v.pos + 1
        if uses_qmc(views, v):
            presolve.append(QMC_LEVELS[0])
        else:
            presolve.extend([min(5, MAX_LEVEL_BY_DIM.get(nd, 5))] * nd if nd <= 2
                            else [MIN_LEVEL_BY_DIM.get(nd, 7) + 1] * nd)

    def make_map(levels, prev):
        return StageMap(k, plan, views, inputs, layout, levels, data, b0 if prev is None else prev.b, fixed_bias)

    def finish(G, x, info, levels, errs, closed):
        tq = [e for e, kind in zip(errs, entries) if kind == "tensor"]
        qq = [e for e, kind in zip(errs, entries) if kind == "qmc"]
        return StageSolution(G, x, info, tuple(levels), float(max(tq, default=0.0)),
                             float(max(qq)) if qq else math.nan, time.perf_counter() - t0, closed,
                             float(getattr(G, "qmc_response_error", math.nan)))

    override = CLOSED_FORMS.get(type(spec))
    if override is not None:
        G = make_map(list(presolve), None)
        xc = override(G)
        if xc is not None:  # the stage's own override: its fixed point, no iteration
            levels = tuple(estimate(xc))
            G = make_map(levels, None)
            gx = G(xc)
            info = FixedPointInfo(True, 1, relative_residual(xc, gx), "closed form", "closed-form")
            return finish(G, xc, info, levels, G.quad_errors(xc), True)

    G, x, info, levels, errs = solve_with_refinement(
        make_map, x0, list(estimate(x0)), tol=tol, maxiter=maxiter, method=method, valid=valid,
        log=pos, quad_tol=tols, max_level=his, estimate_levels=estimate, presolve=presolve, qmc=entries)
    return finish(G, x, info, levels, errs, False)
