"""Nested quadrature grids over the fields of a group's frozen members (``docs/theory.md``,
"Chains of stages").

Given the label combination ``(y, ytilde)`` the cavity fields ``omega_0..omega_k`` of the
members of one training set are Gaussian; in Cholesky-standardized variables
``omega_j - y m_j = sum_l L_jl xi_l`` member ``j``'s field depends on ``xi_0..xi_j`` only. The
grid is built dimension by dimension: after adding ``xi_d`` the fields of member ``d`` (prox,
gradient, and the pointwise derivative rows through its parents) are evaluated once and
carried along. A smooth dimension uses the trapezoid rule (:func:`.quadrature.trap_rule`);
a dimension whose child has hard labels (T = 0) is split at the closed-form point where
member ``d``'s pre-activation changes sign and integrated by Fejer's second rule on both
pieces. Every rule is nested, so the half rule of each dimension is an error estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .prox import prox_grid
from .quadrature import fejer_rule, n_nodes, normal_pdf, trap_rule, window

__all__ = ["Grid", "QMCGrid", "label_combinations", "build_grid", "build_qmc", "eval_member", "source_fields",
           "cross_terms", "split_dims", "PRUNE", "PRUNE_MASS", "QMC_REPLICATES"]

#: Grid points of product weight below this are dropped.
PRUNE = 1e-18
#: >= 3 dimensions: the lightest points are dropped up to this total weight per dimension.
PRUNE_MASS = 1e-12

@dataclass
class Grid:
    """Flattened nested grid: points ``xi`` (P, d), per-dimension full / half weights."""

    xi: np.ndarray
    wf: np.ndarray
    wh: np.ndarray
    y: np.ndarray
    yt: np.ndarray
    wc: np.ndarray

    @property
    def W(self):
        return self.wc * np.prod(self.wf, axis=1)

    def W_half(self, d):
        w = self.wf.copy()
        w[:, d] = self.wh[:, d]
        return self.wc * np.prod(w, axis=1)


def label_combinations(data):
    """``(y, ytilde, weight)``: true class, observed (possibly flipped) label, probability."""
    rho, th = data.rho, data.label_noise
    out = []
    for y, py in ((1.0, rho), (-1.0, 1.0 - rho)):
        out.append((y, y, py * (1.0 - th)))
        if th > 0:
            out.append((y, -y, py * th))
    return out



def source_fields(mem, F, key: str = "u"):
    """The sources' pre-activations a member's loss takes: ``None`` (no source), one array, or
    a tuple (several sources); a constant source (a stage that is the constant classifier) is
    its constant field ``+-inf``."""
    vals = [F[s][key] if isinstance(s, int) else s for s in mem.src]
    if not vals:
        return None
    return vals[0] if len(vals) == 1 else tuple(vals)


def cross_terms(loss, u, y, ut, n_src: int) -> list:
    """``d^2 ell / du dut_i`` per source (0 for hard labels: Stein's lemma takes their delta)."""
    if n_src == 0:
        return []
    if n_src == 1:
        return [loss.cross(u, y, ut)]
    return loss.cross_terms(u, y, ut)


def eval_member(mem, pos: int, grid_xi, y, yt, F, derivs: bool):
    """Fields of a frozen member (position ``pos`` of its training set's members) at points;
    ``F``: the fields of the members before it. The cavity field is
    ``c = y m + b + L . xi - sum_j V_j g_j`` over the earlier members that train on the set; a
    member that trains on it takes the proximal step ``u = prox_{V ell}(c)``, an external one
    (a label source that never saw the set) is ``u = c``."""
    c = y * mem.m + mem.b + grid_xi[:, :pos + 1] @ mem.L[:pos + 1]
    P = c.shape[0]
    for j in range(pos):
        if F[j]["g"] is not None and mem.V[j] != 0.0:
            c = c - mem.V[j] * F[j]["g"]
    out = {"c": c}
    if mem.is_ext:
        out.update(u=c, g=None)
        if derivs:
            out["G"] = np.zeros((P, pos + 1))
            D = np.zeros((P, pos + 1))
            D[:, pos] = 1.0
            for j in range(pos):
                if F[j]["g"] is not None and mem.V[j] != 0.0:
                    D[:, :j + 1] -= mem.V[j] * F[j]["G"]
            out["D"] = D
        return out
    ut = source_fields(mem, F)
    Vs = mem.V[pos]
    u, g, h = prox_grid(mem.loss, c, Vs, yt, ut, c)
    out.update(u=u, g=g, h=h)
    if derivs:
        G, D = _derivative_rows(mem, pos, h, cross_terms(mem.loss, u, yt, ut, len(mem.src)), Vs, F, mem.V)
        out.update(G=G, D=D)
    return out


def _derivative_rows(mem, pos, h, lx, Vs, F, Vrow):
    """Pointwise dg/domega and du/domega rows (chain rule through the earlier members and the
    sources: ``dg = s (h dc + sum_i lx_i du_i)``, ``s = 1 / (1 + V h)``, ``du = dc - V dg``)."""
    P = h.shape[0]
    acc = np.zeros((P, pos + 1))
    acc[:, pos] = 1.0
    for j in range(pos):
        if F[j]["g"] is not None and Vrow[j] != 0.0:
            acc[:, :j + 1] -= Vrow[j] * F[j]["G"]
    s = 1.0 / (1.0 + Vs * h)
    num = h[:, None] * acc
    for src, lxi in zip(mem.src, lx):
        if isinstance(src, int):
            Dj = F[src]["D"]
            num[:, :Dj.shape[1]] += np.asarray(lxi)[:, None] * Dj
    G = num * s[:, None]
    D = acc - Vs * G
    return G, D


def _split_point(mem, pos: int, xi_outer, y, yt, F):
    """xi_pos at which u_pos = 0, given the outer variables (closed form: c = V L'(0))."""
    c_rest = y * mem.m + mem.b + (xi_outer[:, :pos] @ mem.L[:pos] if pos > 0 else 0.0)
    for j in range(pos):
        if F[j]["g"] is not None and mem.V[j] != 0.0:
            c_rest = c_rest - mem.V[j] * F[j]["g"]
    if mem.is_ext:
        thr = 0.0
    else:
        thr = mem.V[pos] * mem.loss.grad(np.zeros_like(c_rest), yt, source_fields(mem, F))
    Ld = mem.L[pos]
    if not Ld > 0:
        return np.full(c_rest.shape, np.inf)
    return (thr - c_rest) / Ld


def split_dims(members, k) -> list:
    """``split[d]``: some member ``d < j <= k`` takes member ``d``'s hard labels (its rule is
    split where ``u_d`` changes sign)."""
    return [any(d in m.hard_src for m in members[d + 1:k + 1]) for d in range(k)]


def build_grid(members, k, levels, data, need_derivs, ndim=None):
    """Outer grid over xi_0..xi_{k-1} (the parents' dimensions) and the fields of members
    0..k-1 on it. ``ndim`` (default k + 1) selects the rule ladder and window."""
    ndim = k + 1 if ndim is None else ndim
    splits = split_dims(members, k)
    cs = label_combinations(data)
    xi = np.zeros((len(cs), 0))
    wf = np.zeros((len(cs), 0))
    wh = np.zeros((len(cs), 0))
    y = np.array([c[0] for c in cs])
    yt = np.array([c[1] for c in cs])
    wc = np.array([c[2] for c in cs])
    F = []
    Wwin = window(ndim)
    for d in range(k):
        split = splits[d]
        P = xi.shape[0]
        if split:
            xs = _split_point(members[d], d, xi, y, yt, F)
            xs = np.clip(xs, -Wwin, Wwin)
            x, w, whh = fejer_rule(n_nodes(levels[d], ndim))
            nodes, wfull, whalf = [], [], []
            for a, b in ((np.full(P, -Wwin), xs), (xs, np.full(P, Wwin))):
                half = 0.5 * (b - a)
                nd = 0.5 * (a + b)[:, None] + half[:, None] * x[None, :]
                ph = normal_pdf(nd)
                nodes.append(nd)
                wfull.append(half[:, None] * w[None, :] * ph)
                whalf.append(half[:, None] * whh[None, :] * ph)
            nodes = np.concatenate(nodes, axis=1)
            wfull = np.concatenate(wfull, axis=1)
            whalf = np.concatenate(whalf, axis=1)
            wfull /= wfull.sum(axis=1, keepdims=True)
            whalf /= whalf.sum(axis=1, keepdims=True)
            n = nodes.shape[1]
            newcol, newwf, newwh = nodes.ravel(), wfull.ravel(), whalf.ravel()
        else:
            rx, rw, rwh = trap_rule(n_nodes(levels[d], ndim), Wwin)
            n = rx.size
            newcol, newwf, newwh = np.tile(rx, P), np.tile(rw, P), np.tile(rwh, P)
        rep = lambda a, n=n: np.repeat(a, n, axis=0)  # noqa: E731
        xi = np.concatenate([rep(xi), newcol[:, None]], axis=1)
        wf = np.concatenate([rep(wf), newwf[:, None]], axis=1)
        wh = np.concatenate([rep(wh), newwh[:, None]], axis=1)
        y, yt, wc = rep(y), rep(yt), rep(wc)
        F = [{key: (None if val is None else rep(val)) for key, val in f.items()} for f in F]
        # prune negligible points (a half-rule weight is at most ~2x the full one); for >= 3
        # dimensions drop the lightest points up to a total mass PRUNE_MASS per dimension
        # (a controlled truncation: error <= PRUNE_MASS sup|f|)
        Wp = wc * np.prod(wf, axis=1)
        keep = Wp > PRUNE
        if ndim >= 3:
            order = np.argsort(Wp)
            drop = order[np.cumsum(Wp[order]) <= PRUNE_MASS]
            keep[drop] = False
        if not keep.all():
            xi, wf, wh, y, yt, wc = xi[keep], wf[keep], wh[keep], y[keep], yt[keep], wc[keep]
            F = [{key: (None if val is None else val[keep]) for key, val in f.items()} for f in F]
        F.append(eval_member(members[d], d, xi, y, yt, F, need_derivs))
    return Grid(xi, wf, wh, y, yt, wc), F



# ----------------------------------------------------------------------------- RQMC point sets
#: Independent scramblings of the Sobol sequence per RQMC point set (their spread is the error
#: estimate).
QMC_REPLICATES = 8


@dataclass
class QMCGrid:
    """Randomized quasi-Monte Carlo points over all ``k + 1`` dimensions of a set:
    ``QMC_REPLICATES`` independently scrambled Sobol sequences of ``2^level`` points each,
    mapped to ``N(0, 1)`` by the inverse CDF, every point under every label combination.
    ``W`` are the points' weights, ``W_rep(r)`` those of replicate ``r`` alone (summing to one)."""

    xi: np.ndarray
    y: np.ndarray
    yt: np.ndarray
    wc: np.ndarray
    rep: np.ndarray
    n_rep: int

    @property
    def W(self):
        return self.wc / self.n_rep

    def W_rep(self, r):
        return np.where(self.rep == r, self.wc, 0.0)


def _sobol_normal(ndim: int, level: int, n_rep: int, seed: int) -> np.ndarray:
    from scipy.special import ndtri
    from scipy.stats import qmc

    out = []
    for r in range(n_rep):
        u = qmc.Sobol(ndim, scramble=True, seed=np.random.default_rng([seed, ndim, r])).random_base2(level)
        out.append(ndtri(np.clip(u, 1e-300, 1.0 - 2**-53)))
    return np.concatenate(out)


def build_qmc(members, k, level, data, need_derivs, seed: int = 0):
    """RQMC points over xi_0..xi_k (the last one stage ``k``'s own variable) and the fields of
    members 0..k-1 on them."""
    cs = label_combinations(data)
    pts = _sobol_normal(k + 1, int(level), QMC_REPLICATES, seed)
    n = pts.shape[0]
    rep = np.repeat(np.arange(QMC_REPLICATES), n // QMC_REPLICATES)
    xi = np.tile(pts, (len(cs), 1))
    y = np.repeat([c[0] for c in cs], n)
    yt = np.repeat([c[1] for c in cs], n)
    wc = np.repeat([c[2] / (n // QMC_REPLICATES) for c in cs], n)
    F = []
    for d in range(k):
        F.append(eval_member(members[d], d, xi, y, yt, F, need_derivs))
    return QMCGrid(xi, y, yt, wc, np.tile(rep, len(cs)), QMC_REPLICATES), F
