"""The K-class stage family of the theory (``docs/theory-multiclass.md``).

Every stage has K outputs; the softmax losses ignore a common shift, and the ridge makes every
stage's rows sum to zero, so each stage lives in the ``r = K - 1`` coordinates of the basis
``P`` (:func:`shift_basis`). Stage ``k``'s state is ``x = (m_k, Q_kj (j <= k), V_kj (j <= k),
b_k)``: ``m_k = W_k mu^T / N`` (r x K), the overlaps and responses as r x r blocks, the bias in
r coordinates. On each training set the fields of the set's members (the earlier stages that
trained on it, the label sources, the stage itself) are jointly Gaussian given the class; the
expectations over them are tensor trapezoid rules (1 and 2 dimensions), Gauss-Hermite rules
(3: pruned tensor, 4: Smolyak sparse; smooth targets, at most :data:`TENSOR_MAX_DIM`
dimensions) or randomized quasi-Monte Carlo (Sobol', scrambled; more dimensions, or the jumps
of ``hard`` and ``top`` targets). The fixed point is iterated on the cheapest rule and finished
on the accepted one by defect correction (:func:`_solve_stage`). The proximal operator is an
r-dimensional Newton iteration, computed column by column (:func:`_prox_cols`: explicit small-matrix
algebra). The input side is :class:`MultiInputs` (the chain's recursion
with r x r blocks), the fixed point :func:`.fixed_point.fixed_point`.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..losses import reduced_hessian_cols, shift_basis, softmax_cols
from ..results import Observables, SolverStatus, Status, class_errors
from .family import StageFamily
from .fixed_point import HUGE, Diverged, FixedPointInfo, Stop, fixed_point, relative_residual
from .quadrature import trap_rule

__all__ = ["shift_basis", "MultiInputs", "MulticlassFamily", "MultiStageState", "TENSOR_MAX_DIM", "QMC_ACCEPT_MC",
           "QUAD_ACCEPT_MC"]

#: Largest integration dimension (members x (K - 1)) done by a tensor trapezoid rule.
TENSOR_MAX_DIM = 4
#: Node counts per dimension of the tensor rules, by dimension: (first, finest).
TENSOR_NODES = {1: (129, 2049), 2: (65, 513)}
#: Gauss-Hermite rules of the 3- and 4-dimensional sets, a ladder by dimension: tensor rules
#: (nodes per dimension, pruned: :func:`gh_points`) or Smolyak sparse rules (levels:
#: :func:`smolyak_points`), whichever reached 1e-6 with fewer points on the benchmark's chains
#: (``docs/theory-multiclass.md``). The first rung only drives the cheap fixed-point iteration;
#: the error estimate of a rung is its difference from the rung below at the same state.
GH_LADDER = {3: ("tensor", (10, 14, 20, 28, 36)), 4: ("smolyak", (9, 10, 11, 12, 13, 14, 15))}
#: A pruned tensor rule drops its smallest weights up to this total mass.
GH_PRUNE = 1e-13
#: RQMC: replicates and log2 of the points per replicate (first, finest).
QMC_REPS = 8
QMC_LEVELS = (11, 16)
#: A tensor rule's half-rule estimate above this at the finest rule: not converged.
QUAD_ACCEPT_MC = 1e-5
#: An RQMC standard error (relative) above this at the most points: not converged.
QMC_ACCEPT_MC = 1e-3


# ----------------------------------------------------------------------------- input side


class MultiInputs:
    """The input side of the K-class chain: stage ``k``'s weights (r-vectors per coordinate)
    solve ``Lam_kk w_k = M_k (mhat_k mu + sqrt(Delta) xi_k - sum_{i<k} Lam_ki w_i)`` with
    ``Lam_kk = lam_k I + Delta Vhat_kk``, ``Lam_ki = Delta Vhat_ki``, ``E[xi_k xi_j^T] =
    Qhat_kj``, ``E[mu mu^T] = gram`` and the mask ``M_k`` (``E M_k = eta_k``). The averages
    reduce to a recursion over the earlier rows (``docs/theory-multiclass.md``)."""

    def __init__(self, delta: float, gram: np.ndarray, n: int, r: int):
        self.delta, self.G, self.n, self.r = float(delta), np.asarray(gram, float), n, r
        z = np.zeros((n, n, r, r))
        self.Lam, self.X, self.Q, self.R = z.copy(), z.copy(), z.copy(), z.copy()
        self.eta = np.full(n, math.nan)
        self.m = np.zeros((n, r, gram.shape[0]))

    def row(self, k: int, eta: float, lam: float, mhat, Qhat, Vhat):
        """``(m_k, Q_k[0..k], V_k[0..k])`` from stage ``k``'s conjugates (``Qhat``, ``Vhat``:
        ``(k + 1, r, r)``, row ``k`` the self terms)."""
        d, sd, r = self.delta, math.sqrt(self.delta), self.r
        Lk = d * np.asarray(Vhat, float)
        Lk[k] += lam * np.eye(r)
        Linv = np.linalg.inv(Lk[k])
        X = np.zeros((k, r, r))
        for j in range(k):
            acc = sd * Qhat[j] - sum((X[i] @ self.Lam[j, i].T for i in range(j)), np.zeros((r, r)))
            X[j] = self.eta[j] * acc @ np.linalg.inv(self.Lam[j, j]).T
        m = eta * Linv @ (mhat @ self.G - sum((Lk[i] @ self.m[i] for i in range(k)), np.zeros_like(mhat)))
        Q = np.zeros((k + 1, r, r))
        for j in range(k):
            acc = mhat @ self.m[j].T + sd * X[j] - sum((Lk[i] @ self.Q[i, j] for i in range(k)), np.zeros((r, r)))
            Q[j] = eta * Linv @ acc
        A = mhat @ self.G @ mhat.T + d * Qhat[k]
        for i in range(k):
            t = mhat @ self.m[i].T @ Lk[i].T + sd * X[i] @ Lk[i].T
            A = A - t - t.T
            for i2 in range(k):
                A = A + Lk[i] @ self.Q[i, i2] @ Lk[i2].T
        Q[k] = eta * Linv @ A @ Linv.T
        Q[k] = 0.5 * (Q[k] + Q[k].T)
        R = np.zeros((k + 1, r, r))
        R[k] = eta * Linv
        for j in range(k):
            R[j] = -eta * Linv @ sum((Lk[i] @ self.R[i, j] for i in range(j, k)), np.zeros((r, r)))
        return m, Q, d * R

    def freeze(self, k, eta, lam, mhat, Qhat, Vhat):
        m, Q, V = self.row(k, eta, lam, mhat, Qhat, Vhat)
        self.eta[k] = eta
        Lk = self.delta * np.asarray(Vhat, float)
        Lk[k] += lam * np.eye(self.r)
        self.Lam[k, :k + 1] = Lk
        for j in range(k):
            acc = math.sqrt(self.delta) * Qhat[j] - sum((self.X[k, i] @ self.Lam[j, i].T for i in range(j)),
                                                        np.zeros((self.r, self.r)))
            self.X[k, j] = self.eta[j] * acc @ np.linalg.inv(self.Lam[j, j]).T
        self.m[k] = m
        for j in range(k + 1):
            self.Q[k, j] = Q[j]
            self.Q[j, k] = Q[j].T
        self.R[k, :k + 1] = V / self.delta
        return m, Q, V


# ----------------------------------------------------------------------------- point sets


@dataclass
class Points:
    """Standard normal points ``xi`` (n x D) with weights ``w`` (summing to 1); ``alt``: the
    half rule's weights (tensor) or the replicate index of every point (RQMC)."""

    xi: np.ndarray
    w: np.ndarray
    qmc: bool
    alt: np.ndarray
    size: int

    def estimates(self, values):
        """Per-replicate (RQMC) or half-rule (tensor) values of ``sum w f`` for each column of ``values``."""
        if self.qmc:
            return np.array([np.sum(values[self.alt == i], axis=0) / np.sum(self.alt == i) for i in range(QMC_REPS)])
        return (self.alt @ values)[None]


@functools.lru_cache(maxsize=None)
def _gh1(n: int):
    """``n``-node Gauss-Hermite rule for the standard normal (weights summing to 1)."""
    from numpy.polynomial.hermite_e import hermegauss

    x, w = hermegauss(n)
    return x, w / w.sum()


def _tensor(rules):
    """The tensor product of 1-D rules ``(x, w)``: points (last index fastest) and weights."""
    D = len(rules)
    x = np.empty(tuple(len(r[0]) for r in rules) + (D,))
    for d, r in enumerate(rules):
        x[..., d] = r[0].reshape((-1,) + (1,) * (D - 1 - d))
    W = rules[0][1]
    for r in rules[1:]:
        W = np.multiply.outer(W, r[1])
    return x.reshape(-1, D), W.ravel()


@functools.lru_cache(maxsize=None)
def _gh_tensor(idx: tuple):
    """``(x)_j GH(2 i_j - 1)``: one term of the Smolyak combination (shared by the levels)."""
    return _tensor([_gh1(2 * i - 1) for i in idx])


@functools.lru_cache(maxsize=32)
def smolyak_points(D: int, level: int) -> Points:
    """Smolyak sparse Gauss-Hermite rule (combination technique) of ``level`` (``>= D``):
    ``sum_{level - D < |i| <= level} (-1)^(level - |i|) C(D - 1, level - |i|) (x)_j GH(2 i_j - 1)``,
    coincident nodes merged (some weights are negative; they sum to 1). Exact for polynomials
    of total degree ``2 (level - D) + 1``."""
    xs, ws = [], []
    for idx in itertools.product(range(1, level - D + 2), repeat=D):
        s = sum(idx)
        if s <= level - D or s > level:
            continue
        x, w = _gh_tensor(idx)
        xs.append(x)
        ws.append((-1) ** (level - s) * math.comb(D - 1, level - s) * w)
    x, w = np.concatenate(xs), np.concatenate(ws)
    key = np.round(x * 1e9).astype(np.int64)
    order = np.lexsort(key.T[::-1])
    new = np.ones(order.size, bool)
    new[1:] = np.any(key[order[1:]] != key[order[:-1]], axis=1)
    group = np.cumsum(new) - 1
    W = np.bincount(group, weights=w[order])
    X = x[order[new]]
    keep = W != 0.0
    return _readonly(Points(X[keep], W[keep], False, None, level))


@functools.lru_cache(maxsize=32)
def gh_points(D: int, n: int) -> Points:
    """Tensor Gauss-Hermite rule, ``n`` nodes per dimension, less its smallest product weights
    up to a total of :data:`GH_PRUNE` (most of the corners), renormalized."""
    x, w = _tensor([_gh1(n)] * D)
    order = np.argsort(w)
    keep = np.ones(w.size, bool)
    keep[order[np.cumsum(w[order]) <= GH_PRUNE]] = False
    return _readonly(Points(x[keep], w[keep] / w[keep].sum(), False, None, n))


def gh_rule(D: int, rung: int) -> Points:
    """Rung ``rung`` of :data:`GH_LADDER` for dimension ``D`` (the last if beyond)."""
    kind, lad = GH_LADDER[D]
    size = lad[min(rung, len(lad) - 1)]
    return gh_points(D, size) if kind == "tensor" else smolyak_points(D, size)


def _readonly(pts: Points) -> Points:
    for a in (pts.xi, pts.w, pts.alt):
        if a is not None:
            a.flags.writeable = False
    return pts


@functools.lru_cache(maxsize=32)
def tensor_points(D: int, n: int) -> Points:
    x, w, wh = trap_rule(n, 8.0 if D <= 2 else 7.0)
    grids = np.meshgrid(*([x] * D), indexing="ij")
    xi = np.stack([g.ravel() for g in grids], axis=1)
    W = w
    Wh = wh
    for _ in range(D - 1):
        W = np.multiply.outer(W, w)
        Wh = np.multiply.outer(Wh, wh)
    return _readonly(Points(xi, W.ravel(), False, Wh.ravel(), n))


@functools.lru_cache(maxsize=32)
def qmc_points(D: int, level: int, seed: int = 2026) -> Points:
    from scipy.special import ndtri
    from scipy.stats import qmc

    xs = []
    for i in range(QMC_REPS):
        u = qmc.Sobol(D, scramble=True, seed=seed + 7919 * i).random_base2(level)
        xs.append(ndtri(np.clip(u, 1e-16, 1 - 1e-16)))
    n = 2 ** level
    xi = np.concatenate(xs)
    return _readonly(Points(xi, np.full(xi.shape[0], 1.0 / xi.shape[0]), True, np.repeat(np.arange(QMC_REPS), n),
                            level))


# ----------------------------------------------------------------------------- members of a set


@dataclass
class Member:
    """A stage whose field enters a set's expectation: its chain index, whether it trained on
    the set (its in-sample output is a proximal operator) and its label source there."""

    index: int
    trains: bool
    source: Optional[int]


def set_members(problem, k: int, name: str) -> list:
    """The members of set ``name`` for stage ``k``, in chain order, ``k`` last: the earlier stages
    that trained on it and the label sources (recursively) of those and of ``k``."""
    def src(j):
        pl = problem.plan(j)
        u = pl.use(name)
        if u is None or not u.sources:
            return None
        return u.sources[0].stage

    trainers = [j for j in range(k) if name in problem.plan(j).set_names]
    need = set(trainers)
    todo = list(trainers) + [k]
    while todo:
        j = todo.pop()
        s = src(j) if (j == k or j in trainers) else None
        if s is not None and s not in need:
            need.add(s)
            todo.append(s)
    order = sorted(need)
    return [Member(j, j in trainers, src(j) if j in trainers else None) for j in order] + [Member(k, True, src(k))]


# ----------------------------------------------------------------------------- one set of one stage


class _Frozen:
    """The outputs of a stage already solved: its state blocks, bias, loss and responses."""

    def __init__(self, k, loss, b, V):
        self.k, self.loss, self.b, self.V = k, loss, b, V  # V: {j: r x r}, j <= k


def _combos(data):
    """``(c, y, weight)``: true class, observed label, ``prior[c] P(y | c)``."""
    N = data.noise_matrix
    out = []
    for c, pc in enumerate(data.prior):
        for y in range(data.n_classes):
            if N[c, y] > 0:
                out.append((c, y, pc * N[c, y]))
    return out


def _rowmax_abs(F):
    """``max_i |F_i|`` over the r columns ``F`` (arrays of one shape)."""
    out = np.abs(F[0])
    for f in F[1:]:
        out = np.maximum(out, np.abs(f))
    return out


def _cols(a):
    """The last axis of ``a`` as a list of contiguous arrays (the column form of the small-matrix
    algebra below: numpy's products of stacks of 2 x 2 or 3 x 3 matrices are several times slower
    than explicit element formulas)."""
    return [np.ascontiguousarray(a[..., i]) for i in range(a.shape[-1])]


def _stack_mat(M):
    """r x r nested lists of arrays -> one array ``(..., r, r)``."""
    return np.stack([np.stack(row, axis=-1) for row in M], axis=-2)


def _inv_cols(J):
    """``J^-1`` of r x r nested lists of arrays, r <= 3: adjugate over determinant."""
    r = len(J)
    if r == 1:
        return [[1.0 / J[0][0]]]
    if r == 2:
        (a, b), (c, d) = J
        idet = 1.0 / (a * d - b * c)
        return [[d * idet, -b * idet], [-c * idet, a * idet]]
    if r == 3:
        C = [[J[(j + 1) % 3][(i + 1) % 3] * J[(j + 2) % 3][(i + 2) % 3]
              - J[(j + 1) % 3][(i + 2) % 3] * J[(j + 2) % 3][(i + 1) % 3] for j in range(3)] for i in range(3)]
        idet = 1.0 / (J[0][0] * C[0][0] + J[0][1] * C[1][0] + J[0][2] * C[2][0])
        return [[C[i][j] * idet for j in range(3)] for i in range(3)]
    raise ValueError("explicit inverse for r <= 3 only")


def _solve_cols(J, B):
    """``J^-1 B`` (``J``: r x r, ``B``: r x w nested lists of arrays or constants): explicit for
    r <= 3, else numpy's stacked solve."""
    r = len(J)
    if r <= 3:
        return _matmul(_inv_cols(J), B)
    shape = np.shape(J[0][0])
    Bs = np.stack([np.stack([np.broadcast_to(v, shape) for v in row], axis=-1) for row in B], axis=-2)
    X = np.linalg.solve(_stack_mat(J), Bs)
    return [[X[..., i, j] for j in range(len(B[0]))] for i in range(r)]


def _ldl_solve_cols(A, B):
    """``A^-1 B`` for a symmetric positive definite r x r ``A`` (nested lists of arrays): ``A =
    L D L^T`` element by element (no pivoting needed: ``A`` is positive definite), then forward
    and back substitution column by column."""
    r, w = len(A), len(B[0])
    L = [[None] * r for _ in range(r)]
    D = [None] * r
    for j in range(r):
        D[j] = A[j][j] - sum(L[j][q] * L[j][q] * D[q] for q in range(j))
        for i in range(j + 1, r):
            L[i][j] = (A[i][j] - sum(L[i][q] * L[j][q] * D[q] for q in range(j))) / D[j]
    Y = [[None] * w for _ in range(r)]
    for i in range(r):
        for c in range(w):
            Y[i][c] = B[i][c] - sum(L[i][q] * Y[q][c] for q in range(i))
    X = [[None] * w for _ in range(r)]
    for i in reversed(range(r)):
        for c in range(w):
            X[i][c] = Y[i][c] / D[i] - sum(L[q][i] * X[q][c] for q in range(i + 1, r))
    return X


def _spd_inverse(V):
    """``V^-1`` of a constant response matrix if it is positive definite, else ``None``."""
    try:
        C = np.linalg.cholesky(0.5 * (V + V.T))
    except np.linalg.LinAlgError:
        return None
    Ci = np.linalg.inv(C)
    return Ci.T @ Ci


def _reduced_newton(V, H):
    """``(V^-1, V^-1 + H)`` for r >= 4 when ``V`` is positive definite (``V^-1 + H`` is then
    symmetric positive definite at every point), else ``None`` (the explicit or stacked path)."""
    r = len(H)
    Vi = _spd_inverse(V) if r > 3 else None
    if Vi is None:
        return None
    return Vi, [[H[i][j] + Vi[i, j] for j in range(r)] for i in range(r)]


def _newton_solve(V, H, B):
    """``(I + V H)^-1 B`` (``V`` constant, ``H`` symmetric r x r nested lists): for r >= 4 as
    ``(V^-1 + H)^-1 V^-1 B`` by :func:`_ldl_solve_cols`, explicit for r <= 3."""
    red = _reduced_newton(V, H)
    if red is None:
        return _solve_cols(_newton_system(V, H), B)
    Vi, A = red
    return _ldl_solve_cols(A, _matmul(_const(Vi, len(H)), B))


def _h_newton(V, H):
    """``H (I + V H)^-1`` (``V`` constant, ``H`` symmetric): for r >= 4 ``X^T V^-1`` with ``X =
    (V^-1 + H)^-1 H`` (both factors symmetric), explicit for r <= 3."""
    red = _reduced_newton(V, H)
    if red is None:
        J = _newton_system(V, H)  # H (I + V H)^-1 = ((I + V H)^-T H^T)^T
        return _transpose(_solve_cols(_transpose(J), _transpose(H)))
    Vi, A = red
    return _matmul(_transpose(_ldl_solve_cols(A, H)), _const(Vi, len(H)))


def _transpose(M):
    return [list(col) for col in zip(*M)]


def _matmul(A, B):
    """``A B`` column by column (nested lists of arrays or constant matrices)."""
    n, m = len(B), len(B[0])
    return [[sum(A[i][l] * B[l][j] for l in range(n)) for j in range(m)] for i in range(len(A))]


def _newton_system(V, H):
    """``I + V H`` (r x r nested lists; ``V`` constant)."""
    r = len(H)
    J = _matmul(V, H)
    for i in range(r):
        J[i][i] = J[i][i] + 1.0
    return J


def _prox_cols(loss, c, V, e, t, P, u0=None, tol=1e-12, maxiter=60):
    """:func:`_prox` in column form: ``c``, ``u0`` r arrays, ``e`` and ``t`` K arrays (``t`` may be
    ``None``). Returns ``(u, g, H)`` in column form."""
    r = V.shape[0]
    u = c if u0 is None else u0
    scale = tol * (1.0 + max(float(np.max(np.abs(ci))) for ci in c))

    def residual(u):
        g, H = loss.grad_hess_reduced(u, e, t, P)
        F = [u[i] - c[i] for i in range(r)]
        for i in range(r):
            for j in range(r):
                if V[i, j] != 0.0:
                    F[i] += V[i, j] * g[j]
        return g, H, F

    g, H, F = residual(u)
    nF = _rowmax_abs(F)
    for _ in range(maxiter):
        if float(np.max(nF)) <= scale:
            return u, g, H
        step = [row[0] for row in _newton_solve(V, H, [[f] for f in F])]
        frac = None
        for _ in range(40):
            un = [u[i] - step[i] for i in range(r)] if frac is None else [u[i] - frac * step[i] for i in range(r)]
            gn, Hn, Fn = residual(un)
            nFn = _rowmax_abs(Fn)
            bad = (nFn > nF) & (nF > scale)
            if not np.any(bad):
                break
            frac = np.where(bad, 0.5, 1.0) if frac is None else np.where(bad, 0.5 * frac, frac)
        u, g, H, F, nF = un, gn, Hn, Fn, nFn
    if float(np.max(nF)) > 1e-9 * (1.0 + max(float(np.max(np.abs(ci))) for ci in c)):
        raise ArithmeticError(f"K-class proximal operator did not converge (residual {float(np.max(nF)):.2e})")
    return u, g, H


def _prox(loss, cvec, V, E, t, P, u0=None, tol=1e-12, maxiter=60):
    """``argmin_u (u - c)^T V^-1 (u - c) / 2 + loss(P u; y, t)`` for every row: Newton on
    ``F(u) = u - c + V grad(u) = 0``, a step halved (row by row) while it does not lower
    ``|F|``. Returns ``(u, grad, hess)`` at the solution (reduced coordinates, stacked)."""
    K = P.shape[0]
    u, g, H = _prox_cols(loss, _cols(cvec), V, [E[..., k] for k in range(K)],
                         None if t is None else [t[..., k] for k in range(K)], P,
                         u0=None if u0 is None else _cols(u0), tol=tol, maxiter=maxiter)
    return np.stack(u, axis=-1), np.stack(g, axis=-1), _stack_mat(H)


def _cross(loss, up, P):
    """``d grad_r / d up_r`` for a soft target, column by column (``up``: the parent's r reduced
    coordinates): ``-(w / T^2) (P^T diag(t) P - (P^T t) (P^T t)^T)``, ``t = softmax(P up / T)``."""
    c = -loss.kd_weight / loss.temperature ** 2
    t = softmax_cols([sum(P[k, i] * up[i] for i in range(len(up))) / loss.temperature for k in range(P.shape[0])])
    tP = [sum(P[k, i] * t[k] for k in range(P.shape[0])) for i in range(P.shape[1])]
    return reduced_hessian_cols([c * tk for tk in t], [(c, tP)], P)


def _wsum(W, A):
    """``sum_{c, p} W[c, p] A[i][j][c, p]`` for nested lists ``A`` (or a list) of arrays of ``W``'s shape."""
    if isinstance(A, list):
        return np.array([_wsum(W, a) for a in A])
    return float(np.vdot(W, A)) if np.ndim(A) else float(A * np.sum(W))


def _const(V, r):
    """A constant matrix as nested lists (``_matmul`` takes either)."""
    return [[float(V[i, j]) for j in range(r)] for i in range(r)]


class SetPart:
    """Stage ``k``'s expectation over one training set: points, the frozen members' outputs on
    them (computed once) and the stage's own prox."""

    def __init__(self, problem, k, use, members, frozen, inputs, points: Points, P, derivs: bool = True):
        self.problem, self.k, self.use, self.members, self.P = problem, k, use, members, P
        self.alpha = use.alpha
        data = problem.data
        self.r = r = data.n_classes - 1
        self.n = len(members)
        self.D = self.n * r
        self.pts = points
        self.combos = _combos(data)
        self.stein = any(_jumps(problem.plan(m.index).use(use.set).loss) for m in members if m.trains)
        need = derivs and not self.stein
        C = np.zeros((self.D, self.D))
        idx = [m.index for m in members]
        for a, ja in enumerate(idx[:-1]):
            for b_, jb in enumerate(idx[:-1]):
                C[a * r:(a + 1) * r, b_ * r:(b_ + 1) * r] = data.delta * inputs.Q[ja, jb]
        self.Cfrozen = C[:-r, :-r] if self.n > 1 else np.zeros((0, 0))
        self.Lf = _chol(self.Cfrozen)
        npts = points.xi.shape[0]
        nc = len(self.combos)
        ys = np.array([cy[1] for cy in self.combos])
        self.y = np.repeat(ys[:, None], npts, axis=1)  # (C, n)
        self.E = np.broadcast_to((np.arange(data.n_classes) == ys[:, None])[:, None, :].astype(float),
                                 (nc, npts, data.n_classes))
        self.wc = np.array([cy[2] for cy in self.combos])
        nf = self.n - 1
        self.e = [self.E[..., j] for j in range(data.n_classes)]
        self.u, self.g, self.gc, self.Du, self.Dg, self._lxdu = {}, {}, {}, {}, {}, {}
        xi = points.xi
        for a, m in enumerate(members[:-1]):
            fr = frozen[m.index]
            omega = (xi[:, :(a + 1) * r] @ self.Lf[a * r:(a + 1) * r, :(a + 1) * r].T)[None]
            mean = np.array([inputs.m[m.index][:, cy[0]] for cy in self.combos])[:, None, :]
            base = np.broadcast_to(mean + omega + fr.b, (nc, npts, r))
            if not m.trains:
                self.u[a] = base.copy()
                if need:  # the identity on its own block of omega (constants)
                    self.Du[a] = [[1.0 if j == a * r + i else 0.0 for j in range(nf * r)] for i in range(r)]
                continue
            cvec = base.copy()
            for b_, mb in enumerate(members[:a]):
                if mb.trains and mb.index in fr.V and mb.index != m.index:
                    cvec = cvec - self.g[b_] @ fr.V[mb.index].T
            t = self._targets(a, fr.loss)
            u, g, H = _prox_cols(fr.loss, _cols(cvec), fr.V[m.index], self.e, self._tcols(t), P)
            self.u[a], self.g[a], self.gc[a] = np.stack(u, axis=-1), np.stack(g, axis=-1), g
            if need:
                self._derivs(a, fr.loss, fr.V, H, nf * r)
        self.Wc = self.wc[:, None] * points.w[None, :]
        self.uk = None

    @staticmethod
    def _tcols(t):
        return None if t is None else [t[..., j] for j in range(t.shape[-1])]

    def _src_pos(self, a):
        m = self.members[a]
        if m.source is None:
            return None
        return [mm.index for mm in self.members].index(m.source)

    def _targets(self, a, loss):
        if not loss.kd_weight:
            return None
        if not loss.uses_parent:
            return loss.targets(self.y)
        s = self._src_pos(a)
        return loss.targets(self.y, self.u[s] @ self.P.T)

    def _responses(self, a, loss, Vrow, H, width):
        """``(du_a, dg_a) / domega`` of a member with Hessian ``H`` (``omega``: the stacked
        fields of the frozen members): ``(I + V_aa H) du = e_a - sum_b V_ab dg_b - V_aa L_x du_src``,
        ``dg = H du + L_x du_src``; column form (r x ``width`` nested lists). ``L_x du_src`` (the
        source is frozen) is computed once per set."""
        r = self.r
        idx = [mm.index for mm in self.members]
        rhs = [[1.0 if a < self.n - 1 and j == a * r + i else 0.0 for j in range(width)] for i in range(r)]
        for b_ in range(min(a, self.n - 1)):
            if self.members[b_].trains and idx[b_] in Vrow and b_ in self.Dg and np.any(Vrow[idx[b_]]):
                VD = _matmul(_const(Vrow[idx[b_]], r), self.Dg[b_])
                rhs = [[rhs[i][j] - VD[i][j] for j in range(width)] for i in range(r)]
        s = self._src_pos(a)
        LxDu = None
        if s is not None and loss.kd_weight and loss.uses_parent:
            if a not in self._lxdu:
                self._lxdu[a] = _matmul(_cross(loss, _cols(self.u[s]), self.P), self.Du[s])
            LxDu = self._lxdu[a]
            VL = _matmul(_const(Vrow[idx[a]], r), LxDu)
            rhs = [[rhs[i][j] - VL[i][j] for j in range(width)] for i in range(r)]
        Du = _newton_solve(Vrow[idx[a]], H, rhs)
        Dg = _matmul(H, Du)
        if LxDu is not None:
            Dg = [[Dg[i][j] + LxDu[i][j] for j in range(width)] for i in range(r)]
        return Du, Dg

    def _derivs(self, a, loss, Vrow, H, width):
        self.Du[a], self.Dg[a] = self._responses(a, loss, Vrow, H, width)

    def set_state(self, mk, Qrow, Vrow, inputs):
        """Stage ``k``'s Cholesky row and the parts of its argument fixed by the state."""
        data, r, n = self.problem.data, self.r, self.n
        idx = [m.index for m in self.members]
        Ckf = np.zeros((r, (n - 1) * r))
        for a, j in enumerate(idx[:-1]):
            Ckf[:, a * r:(a + 1) * r] = data.delta * Qrow[j]
        Ckk = data.delta * Qrow[self.k]
        if n > 1:
            Lrow = np.linalg.solve(self.Lf, Ckf.T).T
            S = Ckk - Lrow @ Lrow.T
        else:
            Lrow, S = np.zeros((r, 0)), Ckk
        Lkk = _chol(S)
        self.Lrow, self.Lkk = np.concatenate([Lrow, Lkk], axis=1), Lkk
        xi = self.pts.xi
        mean = np.array([mk[:, cy[0]] for cy in self.combos])[:, None, :]
        base = mean + (xi @ self.Lrow.T)[None]
        for a, m in enumerate(self.members[:-1]):
            if m.trains and idx[a] in Vrow and np.any(Vrow[idx[a]]):
                base = base - self.g[a] @ Vrow[idx[a]].T
        self.base = np.broadcast_to(base, self.E.shape[:-1] + (r,))
        self.Vkk, self.Vrow = Vrow[self.k], Vrow
        self.loss = self.use.loss
        self.t = self._targets(n - 1, self.loss)

    def at(self, b):
        """Prox at bias ``b``: ``(E[g], E[dg/domega_k])``."""
        c = _cols(self.base + b)
        u0 = None if self.uk is None or self.uk[0].shape != c[0].shape else self.uk
        self.uk, self.gk, self.Hk = _prox_cols(self.loss, c, self.Vkk, self.e, self._tcols(self.t), self.P, u0=u0)
        self.dgk = _h_newton(self.Vkk, self.Hk)
        return _wsum(self.Wc, self.gk), _wsum(self.Wc, self.dgk)

    def hats(self, weights=None):
        """This set's conjugates of stage ``k`` (times ``alpha``): ``(mhat (r x K), Qhat {j},
        Vhat {j})``; ``weights``: other point weights (half rule or one replicate)."""
        a_, r, K = self.alpha, self.r, self.problem.data.n_classes
        W = self.Wc if weights is None else self.wc[:, None] * weights[None, :]
        idx = [m.index for m in self.members]
        mhat = np.zeros((r, K))
        for ci, (c, _, _) in enumerate(self.combos):
            for i in range(r):
                mhat[i, c] -= a_ * (W[ci] @ self.gk[i][ci])
        Wg = [W * gi for gi in self.gk]
        Qhat = {self.k: a_ * _wsum(W, _matmul([[gi] for gi in self.gk], [self.gk]))}
        for a, m in enumerate(self.members[:-1]):
            if m.trains:
                Qhat[idx[a]] = a_ * np.array([[np.vdot(wg, ga) for ga in self.gc[a]] for wg in Wg])
        Vhat = {self.k: a_ * _wsum(W, self.dgk)}
        nf = self.n - 1
        if nf == 0:
            return mhat, Qhat, Vhat
        if self.stein:
            # Stein: E[g xi^T] = E[dg/domega] L (L lower triangular): back-substitution from the
            # stage's own block, which is taken directly.
            S = np.array([wg.sum(axis=0) @ self.pts.xi for wg in Wg])
            Dall = np.zeros((r, self.D))
            Dall[:, nf * r:] = Vhat[self.k] / a_
            L = np.zeros((self.D, self.D))
            L[:nf * r, :nf * r] = self.Lf
            L[nf * r:] = self.Lrow
            for a in range(nf - 1, -1, -1):
                sl = slice(a * r, (a + 1) * r)
                rhs = S[:, sl] - Dall[:, (a + 1) * r:] @ L[(a + 1) * r:, sl]
                Dall[:, sl] = np.linalg.solve(L[sl, sl].T, rhs.T).T
            for a in range(nf):
                Vhat[idx[a]] = a_ * Dall[:, a * r:(a + 1) * r]
            return mhat, Qhat, Vhat
        if weights is None or not hasattr(self, "_Dgk"):
            _, self._Dgk = self._responses(self.n - 1, self.loss, self.Vrow, self.Hk, nf * r)
        E = _wsum(W, self._Dgk)
        for a in range(nf):
            Vhat[idx[a]] = a_ * E[:, a * r:(a + 1) * r]
        return mhat, Qhat, Vhat

    def train_error(self):
        wrong = (np.argmax(np.stack(self.uk, axis=-1) @ self.P.T, axis=-1) != self.y).astype(float)
        return float(np.sum(self.Wc * wrong))

    def train_loss(self):
        return float(np.sum(self.Wc * self.loss.value(np.stack(self.uk, axis=-1) @ self.P.T, self.y, t=self.t)))


def _jumps(loss) -> bool:
    """A target with jumps in the parent's field (hard; top for K >= 3)."""
    return bool(loss.kd_weight) and loss.uses_parent and (loss.hard or loss.target == "top")


def _chol(C):
    if C.size == 0:
        return C
    C = 0.5 * (C + C.T)
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        ev = np.linalg.eigvalsh(C)
        if ev[0] < -1e-8 * max(1.0, ev[-1]):
            raise ArithmeticError("the fields' covariance is not positive semi-definite") from None
        return np.linalg.cholesky(C + (abs(ev[0]) + 1e-14 * max(1.0, ev[-1])) * np.eye(C.shape[0]))


# ----------------------------------------------------------------------------- the stage map


class MultiStageMap:
    """``x -> G(x)`` of K-class stage ``k`` (earlier stages frozen), summed over its sets."""

    def __init__(self, problem, k, inputs, frozen, points_of, P):
        self.problem, self.k, self.inputs, self.P, self.frozen = problem, k, inputs, P, frozen
        plan = problem.plan(k)
        self.plan = plan
        data = problem.data
        self.K, self.r = data.n_classes, data.n_classes - 1
        self.parts = []
        for u in plan.uses:
            mem = set_members(problem, k, u.set)
            self.parts.append(SetPart(problem, k, u, mem, frozen, inputs, points_of(u, len(mem) * self.r), P))
        self.b = None

    # state: m (r K), Q_kj (j <= k: (k + 1) r^2), V_kj (j <= k), b (r)
    def unpack(self, x):
        r, K, k = self.r, self.K, self.k
        i = 0
        m = x[i:i + r * K].reshape(r, K)
        i += r * K
        Q = x[i:i + (k + 1) * r * r].reshape(k + 1, r, r)
        i += (k + 1) * r * r
        V = x[i:i + (k + 1) * r * r].reshape(k + 1, r, r)
        i += (k + 1) * r * r
        return m, Q, V, x[i:i + r]

    @staticmethod
    def pack(m, Q, V, b):
        return np.concatenate([np.ravel(m), np.ravel(Q), np.ravel(V), np.ravel(b)])

    def __call__(self, x):
        m, Q, V, b = self.unpack(np.asarray(x, float))
        k = self.k
        if np.max(np.abs(x)) > HUGE:
            raise Diverged(f"stage {k}: overlaps grow without bound")
        if np.linalg.eigvalsh(0.5 * (Q[k] + Q[k].T))[0] <= 0 or np.linalg.eigvalsh(0.5 * (V[k] + V[k].T))[0] <= 0:
            raise ValueError("invalid state: Q_kk and V_kk must be positive definite")
        Qrow = {j: Q[j] for j in range(k + 1)}
        Vrow = {j: V[j] for j in range(k + 1)}
        for p in self.parts:
            p.set_state(m, Qrow, Vrow, self.inputs)
        Eg = np.zeros(self.r)
        dEg = np.zeros((self.r, self.r))
        for p in self.parts:
            e, de = p.at(b)
            Eg += p.alpha * e
            dEg += p.alpha * de
        step = -np.linalg.solve(dEg, Eg)
        lim = 1.0 + np.max(np.abs(b))
        if np.max(np.abs(step)) > lim:
            step *= lim / np.max(np.abs(step))
        self.b = b
        mhat, Qhat, Vhat = self.hats()
        mn, Qn, Vn = self.inputs.row(k, self.plan.eta, self.plan.lam, mhat, Qhat, Vhat)
        return self.pack(mn, Qn, Vn, b + step)

    def hats(self, alt_part=None, weights=None):
        r, K, k = self.r, self.K, self.k
        mhat = np.zeros((r, K))
        Qhat = np.zeros((k + 1, r, r))
        Vhat = np.zeros((k + 1, r, r))
        for i, p in enumerate(self.parts):
            mh, Qh, Vh = p.hats(weights if i == alt_part else None)
            mhat += mh
            for j, v in Qh.items():
                Qhat[j] += v
            for j, v in Vh.items():
                Vhat[j] += v
        return mhat, Qhat, Vhat

    def quad_error(self, gx, lower=None):
        """Largest error estimate of the map at the state of its last evaluation (image ``gx``)
        over the sets, relative to ``1 + |G(x)|``: the half-rule difference (trapezoid), the
        replicates' standard error (RQMC) or, for the Gauss-Hermite sets, the difference from
        ``lower``, the image of the same state under the rung below (``None``: infinite); and
        whether RQMC was used."""
        mn = lambda h: self.pack(*self.inputs.row(self.k, self.plan.eta, self.plan.lam, *h), self.b)  # noqa: E731
        full = mn(self.hats())
        worst, qmc = 0.0, False
        for i, p in enumerate(self.parts):
            if p.pts.qmc:
                qmc = True
                reps = []
                for rep in range(QMC_REPS):
                    w = np.where(p.pts.alt == rep, 1.0, 0.0)
                    w /= w.sum()
                    reps.append(mn(self.hats(i, w)))
                se = np.std(np.array(reps), axis=0) / math.sqrt(QMC_REPS)
                worst = max(worst, float(np.max(se / (1.0 + np.abs(full)))))
            elif p.pts.alt is None:  # Gauss-Hermite: against the rung one step down, same state
                worst = max(worst, math.inf if lower is None else relative_residual(gx, lower))
            else:
                worst = max(worst, relative_residual(full, mn(self.hats(i, p.pts.alt))))
        return worst, qmc


# ----------------------------------------------------------------------------- the chain


def _initial(problem, k, inputs, frozen, r, K):
    plan = problem.plan(k)
    eta, lam, d = plan.eta, plan.lam, problem.data.delta
    a = plan.alpha_total
    par = plan.parent
    Q = np.zeros((k + 1, r, r))
    V = np.zeros((k + 1, r, r))
    if par is None:
        A = lam + d * a / 4.0
        m = 0.5 * a / A * eta * _class_directions(problem, r, K)
        Q[k] = (0.25 * a * a + 0.25 * d * a) / (A * A) * eta * np.eye(r) / max(r, 1)
        V[k] = d / A * eta * np.eye(r)
        return MultiStageMap.pack(m, Q, V, np.zeros(r))
    m = eta * inputs.m[par]
    for j in range(k):
        Q[j] = 0.9 * eta * inputs.Q[par, j]
    Q[k] = eta * inputs.Q[par, par]
    V[k] = eta * d * inputs.R[par, par]
    src = sum(s.weight for u in plan.uses for s in u.sources)
    V[par] = min(src / max(src + sum(u.label_weight for u in plan.uses), 1e-300), 1.0) * V[k]
    return MultiStageMap.pack(m, Q, V, frozen[par].b)


def _class_directions(problem, r, K):
    """A start for ``m``: the class means' directions in the shift-free coordinates."""
    P = shift_basis(K)
    G = np.asarray(problem.data.gram)
    return P.T @ G / max(1.0, float(np.max(np.abs(P.T @ G))))


@dataclass(frozen=True)
class MultiStageState:
    """Solved state of one K-class stage (the warm start of a neighbouring solve): ``layout``
    ``(K, k)`` and the state vector ``x`` (``m, Q_kj, V_kj, b``, :meth:`MultiStageMap.unpack`)."""

    layout: tuple
    x: tuple


class MulticlassFamily(StageFamily):
    """The K-class chain's stages (:mod:`.family`): the input side :class:`MultiInputs`, the
    frozen stages' outputs and the fixed point :func:`_solve_stage`; the same status and NaN
    rules as the binary chain (the loop's)."""

    def __init__(self, problem, train_error: bool = True):
        super().__init__(problem, train_error)
        data = problem.data
        self.data, self.K, self.r = data, data.n_classes, data.n_classes - 1
        self.P = shift_basis(self.K)
        self.inputs = MultiInputs(data.delta, np.asarray(data.gram), problem.n_stages, self.r)
        self.frozen: dict = {}

    def start(self, k, warm):
        """The warm state where it is one of stage ``k`` with the same K, else :func:`_initial`."""
        x0 = _initial(self.problem, k, self.inputs, self.frozen, self.r, self.K)
        if isinstance(warm, MultiStageState) and warm.layout == (self.K, k) and len(warm.x) == x0.size:
            return np.array(warm.x, float)
        return x0

    def solve(self, k, start, *, tol, maxiter, method, quad_tol, qmc_tol):
        return _solve_stage(self.problem, k, self.inputs, self.frozen, self.P, start, tol=tol, maxiter=maxiter,
                            method=method, quad_tol=quad_tol, qmc_tol=qmc_tol)

    def status(self, k, sol, seconds):
        G, x, info, qerr, qmc = sol
        accept = QMC_ACCEPT_MC if qmc else QUAD_ACCEPT_MC
        ok = info.converged and qerr <= accept
        code = Status.DIVERGED if info.diverged else Status.CONVERGED if ok else Status.NOT_CONVERGED
        msg = (f"stage {k}: {info.message}, {info.iterations} evaluations, residual {info.residual:.2e}, "
               f"{'RQMC standard error' if qmc else 'half-rule estimate'} {qerr:.1e} ({seconds:.1f} s)")
        if info.converged and not ok:
            msg += f"; quadrature error estimate above {accept:g} at the finest rule"
        return SolverStatus(ok, int(info.iterations), float(info.residual), msg, code), {f"quad_error_stage{k}": qerr}

    def freeze(self, k, sol):
        G, x = sol[0], sol[1]
        plan = self.problem.plan(k)
        m, Q, V, b = G.unpack(x)
        mhat, Qhat, Vhat = G.hats()
        self.inputs.freeze(k, plan.eta, plan.lam, mhat, Qhat, Vhat)
        self.inputs.m[k] = m
        for j in range(k + 1):
            self.inputs.Q[k, j] = Q[j]
            self.inputs.Q[j, k] = Q[j].T
        self.frozen[k] = _Frozen(k, plan.uses[0].loss, b.copy(), {j: V[j] for j in range(k + 1)})

    def observables(self, k, sol):
        """Class errors (``docs/model.md``, "K classes"), ``M = P m``, ``Q = P Q_kk P^T``, the bias
        ``P b``, the training error and loss (NaN with ``train_error=False``), ``P`` (the overlap
        with the parent) for a student."""
        G, x, info = sol[0], sol[1], sol[2]
        data, P = self.data, self.P
        m, Q, V, b = G.unpack(x)
        tot = sum(p.alpha for p in G.parts)
        Mf = P @ m
        Qf = P @ Q[k] @ P.T
        bf = P @ b
        errs = class_errors(Mf, Qf, bf, data.delta)
        extra = {"V": P @ V[k] @ P.T, "iterations": float(info.iterations)}
        te = tl = math.nan
        if self.train_error:
            if TRAIN_ERROR_QMC:
                te, extra["train_error_se"] = _train_error(G, x)
            else:
                te = sum(p.alpha * p.train_error() for p in G.parts) / tot
            tl = sum(p.alpha * p.train_loss() for p in G.parts) / tot
        values = dict(gen_error=float(np.asarray(data.prior) @ errs), train_error=te, train_loss=tl,
                      class_errors=errs, M=Mf, Q=Qf, bias=bf)
        par = self.problem.plan(k).parent
        if k > 0 and par is not None:
            values["P"] = P @ Q[par].T @ P.T if par < k else Qf
        return Observables(extra=extra, **values)

    def state(self, k, sol):
        return MultiStageState((self.K, k), tuple(float(v) for v in sol[1]))

    def nan_observables(self, k):
        nan, K = math.nan, self.K
        v = dict(gen_error=nan, train_error=nan, train_loss=nan, class_errors=np.full(K, nan),
                 M=np.full((K, K), nan), Q=np.full((K, K), nan), bias=np.full(K, nan))
        if k > 0:
            v["P"] = np.full((K, K), nan)
        return Observables(**v)

    def overlaps(self):
        S, K, P = self.problem.n_stages, self.K, self.P
        ov = np.full((S, S, K, K), math.nan)
        for i in range(S):
            for j in range(S):
                if i in self.frozen and j in self.frozen:
                    ov[i, j] = P @ self.inputs.Q[i, j] @ P.T
        return ov


#: The training error (an indicator: a jump in the fields) by RQMC of ``QMC_REPS x 2^TRAIN_ERROR_LEVEL``
#: points at the fixed point, not by the map's rules; its standard error over the replicates is
#: the stage's ``extra["train_error_se"]``. Level 12: on the benchmark's K = 3 student (training
#: error 0.32) the replicates' standard error is 4.5e-4, 1.5e-4, 1.3e-4, 1.1e-4, 8.5e-5 at levels
#: 11..15 and the values spread by 5e-4 over levels 12..15: past level 12 more points buy little.
TRAIN_ERROR_QMC = True
TRAIN_ERROR_LEVEL = 12
#: The prox's tolerance for the training error: it decides only ``argmax u``, which a relative
#: error of 1e-8 changes on a set of points of measure ~1e-8, far below the RQMC error (~1e-4).
TRAIN_PROX_TOL = 1e-8


def _train_error(G, x):
    """``P(argmax u_k != y)`` over the stage's training samples at the fixed point ``x``, by RQMC;
    and its standard error over the replicates."""
    m, Q, V, b = G.unpack(np.asarray(x, float))
    tot = 0.0
    reps = np.zeros(QMC_REPS)
    for p in G.parts:
        pts = qmc_points(p.D, TRAIN_ERROR_LEVEL)
        q = SetPart(G.problem, G.k, p.use, p.members, G.frozen, G.inputs, pts, G.P, derivs=False)
        q.set_state(m, {j: Q[j] for j in range(G.k + 1)}, {j: V[j] for j in range(G.k + 1)}, G.inputs)
        c = q.base + b
        u = _prox(q.loss, c, q.Vkk, q.E, q.t, q.P, tol=TRAIN_PROX_TOL)[0]
        wrong = q.wc @ (np.argmax(u @ q.P.T, axis=-1) != q.y)  # per point, over (class, label)
        reps += p.alpha * pts.estimates(wrong)
        tot += p.alpha
    reps /= tot
    return float(reps.mean()), float(reps.std(ddof=1) / math.sqrt(QMC_REPS))


def _solve_stage(problem, k, inputs, frozen, P, x0, *, tol, maxiter, method, quad_tol, qmc_tol):
    """Fixed point of stage ``k`` with its point sets refined until the error estimate is
    below ``quad_tol`` (trapezoid, Gauss-Hermite) or ``qmc_tol`` (RQMC). The fixed point is iterated
    on the cheapest rules (level -1: half the trapezoid nodes, the first Gauss-Hermite rung, the
    first RQMC level); each finer level is first only evaluated at that point (its
    error estimate: half rule, replicates, or the difference from the level below at the same
    state), and the first level whose estimate meets the target is finished by defect
    correction (:func:`_defect_solve`: a few evaluations of the fine map), its estimate taken
    again at its fixed point. Returns ``(map, x, info, estimate, whether RQMC was used)``."""
    r = problem.data.n_classes - 1
    members = {u.set: set_members(problem, k, u.set) for u in problem.plan(k).uses}

    def kind(use):
        D = len(members[use.set]) * r
        jumps = any(_jumps(problem.plan(m.index).use(use.set).loss) for m in members[use.set] if m.trains)
        return "qmc" if D > TENSOR_MAX_DIM or jumps else "gh" if D in GH_LADDER else "trap"

    kinds = {u.set: kind(u) for u in problem.plan(k).uses}

    def points_of(level):
        def pts(use, D):
            kd = kinds[use.set]
            if kd == "qmc":  # the cheap level is the first (fewer points barely speed the solve up)
                return qmc_points(D, min(QMC_LEVELS[0] + max(level, 0), QMC_LEVELS[1]))
            if kd == "gh":
                return gh_rule(D, level + 1)
            first, last = TENSOR_NODES[D]
            return tensor_points(D, min(int((first - 1) * 2.0 ** level) + 1, last))
        return pts

    def finest(G):
        return all((p.pts.qmc and p.pts.size >= QMC_LEVELS[1]) or
                   (not p.pts.qmc and p.pts.size >= (GH_LADDER[p.D][1][-1] if p.pts.alt is None
                                                     else TENSOR_NODES[p.D][1])) for p in G.parts)

    valid = lambda z: bool(np.all(np.isfinite(z)))  # noqa: E731
    maps = {-1: MultiStageMap(problem, k, inputs, frozen, points_of(-1), P)}
    x, gx, info = fixed_point(maps[-1], x0, tol=tol, maxiter=maxiter, method=method, valid=valid)
    evals = info.iterations
    images = {-1: gx}  # the maps' images of the current x
    level = 0
    while info.converged:
        for old in [j for j in maps if 0 <= j < level - 1]:
            del maps[old]  # only the cheapest map and the level below are needed again
        same = all(points_of(level)(p.use, p.D) is p.pts for p in maps[-1].parts)
        G = maps[level] = maps[-1] if same else MultiStageMap(problem, k, inputs, frozen, points_of(level), P)
        try:
            images[level] = images[-1] if same else np.asarray(G(x), float)
        except (ArithmeticError, RuntimeError, ValueError, Stop) as exc:
            info = FixedPointInfo(False, evals, info.residual, f"map failed on a finer rule: {exc}", method,
                                  isinstance(exc, Stop), isinstance(exc, Diverged))
            break
        evals += not same
        err, qmc = G.quad_error(images[level], images.get(level - 1))
        last = finest(G)
        if err > (qmc_tol if qmc else quad_tol) and not last:
            if qmc and err > 0 and not any(p.pts.alt is None and not p.pts.qmc for p in G.parts):
                # RQMC with the jumps of hard targets: the standard error falls about as n^(-3/4)
                level += max(1, math.ceil(math.log2(err / qmc_tol) / 0.75))
            else:
                level += 1
            continue
        x, gx, info, n = _defect_solve(G, maps[-1], x, images[level], tol=tol, maxiter=maxiter - evals,
                                       method=method, valid=valid)
        evals += n
        if not info.converged:
            break
        if n == 0:  # already the fixed point: the estimate above is the one at it
            info.iterations = evals
            return G, x, info, err, qmc
        lower = None
        if level - 1 in maps and any(p.pts.alt is None and not p.pts.qmc for p in G.parts):
            lower = np.asarray(maps[level - 1](x), float)  # the estimate at the fixed point itself
            evals += 1
        err, qmc = G.quad_error(gx, lower)
        info.iterations = evals
        return G, x, info, err, qmc
    info.iterations = evals
    G = maps[max(maps)]
    return G, x, info, math.inf, any(p.pts.qmc for p in G.parts)


#: Defect-correction rounds on a finer rule before falling back to iterating the fine map itself.
DEFECT_ROUNDS = 8


def _defect_solve(fine, cheap, x, gf, *, tol, maxiter, method, valid):
    """Fixed point of ``fine`` from ``x`` (``gf = fine(x)``) by defect correction: ``x <- fixed
    point of cheap(z) + d`` with ``d = fine(x) - cheap(x)`` until ``|fine(x) - x| <= tol`` (it
    converges at the rate of the difference of the two maps' Jacobians). The last evaluation is
    ``fine(x)`` (its caches belong to ``x``). Returns ``(x, fine(x), info, evaluations)``."""
    n = 0
    try:
        for _ in range(DEFECT_ROUNDS):
            res = relative_residual(x, gf)
            if res <= tol:
                return x, gf, FixedPointInfo(True, n, res, f"converged ({method}, defect correction)", method), n
            d = gf - np.asarray(cheap(x), float)
            xn, _, info = fixed_point(lambda z: np.asarray(cheap(z), float) + d, x, tol=0.1 * tol,
                                      maxiter=max(maxiter - n, 1), method=method, valid=valid)
            n += info.iterations + 1
            if not info.converged:
                break
            x = xn
            gf = np.asarray(fine(x), float)
            n += 1
    except (ArithmeticError, RuntimeError, ValueError, Stop):
        pass  # the fine map's own iteration below reports it
    x, gx, info = fixed_point(fine, x, tol=tol, maxiter=max(maxiter - n, 1), method=method, valid=valid)
    return x, gx, info, n + info.iterations
