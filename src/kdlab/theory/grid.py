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

__all__ = ["Grid", "label_combinations", "build_grid", "eval_member", "PRUNE", "PRUNE_MASS"]

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



def eval_member(mem, pos: int, grid_xi, y, yt, F, derivs: bool):
    """Fields of a solved member at points; F: list of dicts for members < pos."""
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
            out["D"] = D
        return out
    ut = F[pos - 1]["u"] if pos > 0 else None
    Vs = mem.V[pos]
    u, g, h = prox_grid(mem.loss, c, Vs, yt, ut, c)
    out.update(u=u, g=g, h=h)
    if derivs:
        G, D = _derivative_rows(mem, pos, h, mem.loss.cross(u, yt, ut) if pos > 0 else None, Vs, F, mem.V)
        out.update(G=G, D=D)
    return out


def _derivative_rows(mem, pos, h, lx, Vs, F, Vrow):
    """Pointwise dg/domega and dh/domega rows (chain rule through the parents)."""
    P = h.shape[0]
    acc = np.zeros((P, pos + 1))
    acc[:, pos] = 1.0
    for j in range(pos):
        if F[j]["g"] is not None and Vrow[j] != 0.0:
            acc[:, :j + 1] -= Vrow[j] * F[j]["G"]
    s = 1.0 / (1.0 + Vs * h)
    num = h[:, None] * acc
    if lx is not None and pos > 0:
        num[:, :pos] += lx[:, None] * F[pos - 1]["D"]
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
        ut = F[pos - 1]["u"] if pos > 0 else None
        thr = mem.V[pos] * mem.loss.grad(np.zeros_like(c_rest), yt, ut)
    Ld = mem.L[pos]
    if not Ld > 0:
        return np.full(c_rest.shape, np.inf)
    return (thr - c_rest) / Ld


def build_grid(members, k, levels, data, need_derivs, ndim=None):
    """Outer grid over xi_0..xi_{k-1} (the parents' dimensions) and the fields of members
    0..k-1 on it. ``ndim`` (default k + 1) selects the rule ladder and window."""
    ndim = k + 1 if ndim is None else ndim
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
        split = members[d + 1].hard_labels
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

