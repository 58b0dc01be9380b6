"""The K-class family of the simulation backend (``docs/model.md``, "K classes").

Sampling (class means of Gram exactly ``gram``), exact multinomial ERM with soft targets
(:func:`fit_multinomial`: Newton-CG on the ``K - 1`` shift-free coordinates, stopped on a
certified relative gradient norm), the exact generalization error from Gaussian orthant
probabilities (:func:`class_errors`); the stage family :class:`MulticlassDraws` of the one
per-seed loop of :mod:`.run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConvergenceError, NoMinimizerError
from ..losses import SoftmaxKDLoss, logsumexp, shift_basis, softmax
from ..results import class_errors
from .family import ChainFits, Draws
from .sampling import SEED_SALT, n_samples, share, stage_subset

__all__ = ["MultiFit", "fit_multinomial", "shift_basis", "sample_means", "MultiSet", "MulticlassDraws",
           "MultiStageFit"]

_MEANS, _TRAIN, _TEST, _FLIPS, _FRESH = 11, 12, 13, 14, 15


def _rng(seed: int, role: int, k: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([SEED_SALT, seed, role, k]))


def sample_means(gram, n_features: int, rng) -> np.ndarray:
    """Class means ``mu`` (K x N) with ``mu mu^T / N = gram`` exactly: ``sqrt(N) gram^(1/2) O^T``
    with ``O`` (N x K) uniformly random orthonormal columns."""
    G = np.asarray(gram, float)
    ev, U = np.linalg.eigh(G)
    root = (U * np.sqrt(np.clip(ev, 0.0, None))) @ U.T
    O, R = np.linalg.qr(rng.standard_normal((n_features, G.shape[0])))
    O = O * np.sign(np.diag(R))
    return math.sqrt(n_features) * root @ O.T


@dataclass(frozen=True)
class MultiSet:
    """One training set: inputs ``X`` (unscaled), true classes ``c`` and observed labels ``y``."""

    X: np.ndarray
    c: np.ndarray
    y: np.ndarray

    @property
    def Xs(self) -> np.ndarray:
        return self.X / math.sqrt(self.X.shape[1])


def _draw(data, mu, n, rng):
    K, N = mu.shape
    c = rng.choice(K, size=n, p=np.asarray(data.prior))
    X = mu[c] / math.sqrt(N) + math.sqrt(data.delta) * rng.standard_normal((n, N))
    return X, c


def _noisy(data, c, rng):
    if data.label_noise == 0:
        return c.copy()
    K = data.n_classes
    swap = rng.random(c.size) < data.label_noise
    return np.where(swap, (c + rng.integers(1, K, size=c.size)) % K, c)


def draw_set(data, mu, alpha, seed: int, k: int) -> MultiSet:
    """Training set ``k`` of ``seed`` (``k = 0``: the data's own set)."""
    X, c = _draw(data, mu, n_samples(alpha, mu.shape[1]), _rng(seed, _TRAIN if k == 0 else _FRESH, k))
    return MultiSet(X, c, _noisy(data, c, _rng(seed, _FLIPS, k)))


# ----------------------------------------------------------------------------- ERM


@dataclass(frozen=True)
class MultiFit:
    """Minimizer ``W`` (K x d, rows summing to 0), centred bias ``b``, pre-activations ``U``
    (M x K), iterations and the final relative gradient norm."""

    W: np.ndarray
    b: np.ndarray
    U: np.ndarray
    iterations: int
    grad_norm: float
    objective: float


def fit_multinomial(X, y, loss: SoftmaxKDLoss, lam: float, *, targets=None, tol: float = 1e-10,
                    max_iter: int = 200) -> MultiFit:
    """Minimize ``sum_mu loss(W x_mu + b; y_mu, t_mu) + (lam / 2) ||W||_F^2`` (``b`` free).

    The loss ignores a common shift of the K outputs, so ``W = P W_r``, ``b = P b_r`` with the
    basis :func:`shift_basis` (the ridge makes the rows of the minimizer sum to zero: nothing
    is lost), and the strictly convex problem in ``(W_r, b_r)`` is solved by Newton-CG with an
    Armijo search, stopped when ``||grad||_inf <= tol max(1, ||grad(0)||_inf)``.
    ``targets``: the KD term's targets per sample (``loss.targets``).
    """
    X = np.asarray(X, float)
    y = np.asarray(y)
    M, d = X.shape
    K = targets.shape[1] if targets is not None else int(loss._K or (y.max() + 1))
    P = shift_basis(K)
    lam = float(lam)
    Y = (np.arange(K) == y[:, None]).astype(float)
    a, w, T = loss.label_weight, loss.kd_weight, loss.T
    t = targets if w else None
    if lam == 0 and w == 0 and M <= d + 1 and np.linalg.matrix_rank(X) == M:
        raise NoMinimizerError("lam = 0 and the training set is linearly separable: the multinomial loss has no "
                               "minimizer; use lam > 0")

    def objective(U, Wr):
        val = 0.0
        if a:
            val += a * float(np.sum(logsumexp(U) - np.sum(Y * U, axis=1)))
        if w:
            Z = U / T
            val += w * float(np.sum(logsumexp(Z) - np.sum(t * Z, axis=1)))
        return val + 0.5 * lam * float(np.sum(Wr * Wr))

    def probs(U):
        return (softmax(U) if a else None), (softmax(U / T) if w else None)

    def grad_full(pa, pw):
        G = np.zeros((M, K))
        if a:
            G += a * (pa - Y)
        if w:
            G += (w / T) * (pw - t)
        return G

    Wr = np.zeros((K - 1, d))
    br = np.zeros(K - 1)
    U = np.zeros((M, K))
    J = objective(U, Wr)
    scale = None
    gmax = math.inf
    for it in range(max_iter + 1):
        pa, pw = probs(U)
        Gr = grad_full(pa, pw) @ P  # M x (K - 1)
        gW = Gr.T @ X + lam * Wr
        gb = Gr.sum(axis=0)
        gmax = max(float(np.max(np.abs(gW))) if d else 0.0, float(np.max(np.abs(gb))))
        if scale is None:
            scale = max(1.0, gmax)
        if gmax <= tol * scale:
            return MultiFit(P @ Wr, P @ br, U, it, gmax / scale, J)
        if it == max_iter:
            break
        # Hessian blocks in the reduced coordinates, per sample: P^T H_mu P
        Hs = np.zeros((M, K, K))
        if a:
            Hs += a * (pa[:, :, None] * (np.eye(K) - pa[:, None, :]))
        if w:
            Hs += (w / T ** 2) * (pw[:, :, None] * (np.eye(K) - pw[:, None, :]))
        Hr = np.einsum("ki,mkl,lj->mij", P, Hs, P)

        def hvp(SW, sb):
            du = X @ SW.T + sb  # M x (K - 1)
            tt = np.einsum("mij,mj->mi", Hr, du)
            return tt.T @ X + lam * SW, tt.sum(axis=0)

        X2 = X * X
        diag_W = np.einsum("mi,md->id", np.einsum("mii->mi", Hr), X2) + lam
        diag_b = np.einsum("mii->i", Hr)
        pre_W, pre_b = 1.0 / np.maximum(diag_W, 1e-300), 1.0 / np.maximum(diag_b, 1e-300)
        gnorm = math.sqrt(float(np.sum(gW * gW) + gb @ gb))
        eta_cg = min(0.1, math.sqrt(gmax / scale))
        sW, sb = np.zeros_like(Wr), np.zeros_like(br)
        rW, rb = -gW, -gb
        zW, zb = pre_W * rW, pre_b * rb
        pW, pb = zW.copy(), zb.copy()
        rz = float(np.sum(rW * zW) + rb @ zb)
        for _ in range(max(50, 2 * d * (K - 1))):
            HW, Hb = hvp(pW, pb)
            pHp = float(np.sum(pW * HW) + pb @ Hb)
            if pHp <= 0:
                break
            step_cg = rz / pHp
            sW += step_cg * pW
            sb += step_cg * pb
            rW -= step_cg * HW
            rb -= step_cg * Hb
            if math.sqrt(float(np.sum(rW * rW) + rb @ rb)) <= eta_cg * gnorm:
                break
            zW, zb = pre_W * rW, pre_b * rb
            rz_new = float(np.sum(rW * zW) + rb @ zb)
            beta = rz_new / rz
            rz = rz_new
            pW = zW + beta * pW
            pb = zb + beta * pb
        if not np.any(sW) and not np.any(sb):
            sW, sb = -gW, -gb
        slope = float(np.sum(gW * sW) + gb @ sb)
        dU = (X @ sW.T + sb) @ P.T
        step = 1.0
        for _ in range(60):
            Wn = Wr + step * sW
            Un = U + step * dU
            Jn = objective(Un, Wn)
            if Jn <= J + 1e-4 * step * slope or abs(Jn - J) <= 1e-15 * abs(J):
                break
            step *= 0.5
        Wr, br = Wn, br + step * sb
        U = (X @ Wr.T + br) @ P.T
        J = objective(U, Wr)
        if not math.isfinite(J) or float(np.max(np.abs(Wr), initial=0.0)) > 1e12:
            raise NoMinimizerError("the weights diverge: the objective has no minimizer (lam = 0 on separable "
                                   "data?); use lam > 0")
    raise ConvergenceError(f"Newton did not reach tol={tol:g} in {max_iter} iterations "
                           f"(relative gradient {gmax / scale:.3e})")


# ----------------------------------------------------------------------------- one seed, a chain


def _measure(W, b, U, loss, y, t, mu, data, X_test, c_test) -> dict:
    """Observables of a fitted K-class stage (``docs/model.md``): overlaps ``M = W mu^T / N``,
    ``Q = W W^T / N``, the centred bias, exact class errors and their prior-weighted mean, the
    test error, the training error against the observed labels and the mean training loss."""
    N = W.shape[1]
    Mo = W @ mu.T / N
    Q = W @ W.T / N
    errs = class_errors(Mo, Q, b, data.delta)
    u_test = X_test @ W.T / math.sqrt(N) + b
    return {
        "gen_error": float(np.asarray(data.prior) @ errs),
        "gen_error_test": share(np.argmax(u_test, axis=1) != c_test),
        "train_error": float(np.mean(np.argmax(U, axis=1) != y)),
        "train_loss": float(np.mean(_loss_value(loss, U, y, t))),
        "class_errors": errs,
        "M": Mo,
        "Q": Q,
        "bias": b - b.mean(),
    }


def _loss_value(loss, U, y, t):
    out = 0.0
    if loss.label_weight:
        out = out + loss.label_weight * (logsumexp(U) - np.take_along_axis(U, y[:, None], axis=1)[:, 0])
    if loss.kd_weight:
        Z = U / loss.T
        out = out + loss.kd_weight * (logsumexp(Z) - np.sum(t * Z, axis=1))
    return out


@dataclass(frozen=True)
class MultiStageFit:
    """A fitted K-class stage: weights ``W`` (K x N), centred bias ``b``, pre-activations ``U`` on
    each of its sets and the optimizer's iterations."""

    W: np.ndarray
    b: np.ndarray
    U: dict
    iterations: int


class _MultiSets:
    """A chain's training sets on one seed, drawn when first used (``k``-th set of
    :meth:`Problem.sets`: :func:`draw_set` ``k``), shared by the chains of the seed."""

    def __init__(self, draws, problem):
        self.draws, self.order, self.alpha = draws, {n: i for i, n in enumerate(problem.sets())}, problem.sets()

    def __getitem__(self, name):
        key = (self.order[name], self.alpha[name])
        d = self.draws
        if key not in d.sets:
            d.sets[key] = draw_set(d.data, d.mu, self.alpha[name], d.seed, self.order[name])
        return d.sets[key]


class MulticlassDraws(Draws):
    """The K-class stage family of the simulation (:mod:`.family`): one seed's class means
    (:func:`sample_means`), test set and training sets; a stage is fitted by
    :func:`fit_multinomial` on its set and measured by :func:`_measure`. Every draw depends only
    on the seed, the set and the stage."""

    def __init__(self, data, n_features, seed, n_test):
        super().__init__(data, n_features, seed, n_test)
        self.mu = sample_means(data.gram, n_features, _rng(seed, _MEANS))
        self.n_test = n_samples(data.alpha, n_features) if n_test is None else n_test
        self.X_test, self.c_test = _draw(data, self.mu, self.n_test, _rng(seed, _TEST))
        self.sets: dict = {}

    def chain(self, problem):
        return ChainFits(problem, _MultiSets(self, problem))

    def fit(self, chain, k, tol):
        """Stage ``k`` on its set (targets from its parent's outputs there); ``P``: the overlap
        ``W_parent W_k^T / N``."""
        data, N, problem = self.data, self.n_features, chain.problem
        plan = problem.plan(k)
        use = plan.uses[0]
        ds = chain.sets[use.set]
        subset = stage_subset(plan.eta, N, self.seed, k)
        Xs = ds.Xs if subset is None else ds.Xs[:, subset]
        loss = use.loss
        t = None
        if loss.kd_weight:
            if loss.uses_parent:
                par = chain.fits[plan.parent]
                up = par.U.get(use.set)
                if up is None:
                    up = ds.Xs @ par.W.T + par.b
                t = loss.targets(ds.y, up)
            else:
                t = loss.targets(ds.y)
        fit = fit_multinomial(Xs, ds.y, loss, plan.lam, targets=t, tol=tol)
        W = np.zeros((data.n_classes, N))
        if subset is None:
            W[:] = fit.W
        else:
            W[:, subset] = fit.W
        obs = _measure(W, fit.b, fit.U, loss, ds.y, t, self.mu, data, self.X_test, self.c_test)
        if k > 0:
            obs["P"] = chain.fits[plan.parent].W @ W.T / N
        return MultiStageFit(W, fit.b, {use.set: fit.U}, fit.iterations), obs

    def overlaps(self, chain):
        """``W_i W_j^T / N`` for every pair of stages: ``(S, S, K, K)``."""
        W = [f.W for f in chain.fits]
        return np.array([[Wi @ Wj.T / self.n_features for Wj in W] for Wi in W])
