"""Per-sample losses, defined once for both backends.

Every loss is a function ``ell(u; y, ut)`` of the total pre-activation ``u = h + b`` of the
model, of the label ``y`` in {-1, +1} and (for the KD loss) of the teacher's total
pre-activation ``ut``. Each provides

* ``value``  -- ``ell``
* ``grad``   -- ``d ell / du``
* ``hess``   -- ``d^2 ell / du^2``
* ``cross``  -- ``d^2 ell / du dut`` (zero for the teachers' losses)
* ``prox``   -- ``argmin_u (u - omega)^2 / (2 V) + ell(u)``

vectorized over any broadcastable arrays and evaluated in stable forms (``expit``,
``logaddexp``), so that ``|u|`` up to 1e3 and temperatures from 0.05 to 100 are safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from .errors import ProxError

__all__ = [
    "shift_basis",
    "MixedLoss",
    "softplus",
    "sigmoid",
    "dsigmoid",
    "Loss",
    "KDLoss",
    "LogisticLoss",
    "SoftCrossEntropy",
    "SmoothLabelLoss",
    "SoftmaxKDLoss",
    "softmax",
    "logsumexp",
    "softmax_hessian",
    "softmax_cols",
    "reduced_hessian_cols",
    "LinearLoss",
    "ProxError",
]

sigmoid = expit


def softplus(x):
    """``log(1 + exp(x))`` without overflow."""
    return np.logaddexp(0.0, x)


def dsigmoid(x):
    """``sigmoid'(x) = sigmoid(x) sigmoid(-x)``, stable for any ``|x|``."""
    return expit(x) * expit(-x)


class Loss:
    """Base class: convex per-sample loss of the total pre-activation ``u``.

    Subclasses implement ``value``, ``grad``, ``hess`` and ``grad_bound`` (a bound on
    ``|grad|``, used to bracket the proximal operator); ``cross`` defaults to zero.
    """

    def value(self, u, y, ut=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, u, y, ut=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def hess(self, u, y, ut=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def cross(self, u, y, ut=None):
        """``d^2 ell / du dut``; zero unless the loss depends on a teacher."""
        return np.zeros(np.broadcast(np.asarray(u, float), np.asarray(y, float)).shape)

    def grad_bound(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def prox(self, omega, V, y, ut=None, *, tol: float = 1e-13, maxiter: int = 200,
             return_residual: bool = False):
        """``argmin_u (u - omega)^2 / (2 V) + ell(u; y, ut)``, elementwise.

        Solves ``F(u) = u - omega + V ell'(u) = 0`` (strictly increasing) by Newton steps
        safeguarded by a bracket ``[omega - V G, omega + V G]`` (``G = sup |ell'|``): a step
        leaving the bracket, or a Newton step that failed to halve ``|F|``, is replaced by
        bisection. Raises :class:`ProxError` if ``|F| > tol (1 + |omega| + V G)`` after
        ``maxiter`` steps.
        """
        omega, V, y = np.broadcast_arrays(np.asarray(omega, float), np.asarray(V, float),
                                          np.asarray(y, float))
        if ut is not None:
            ut = np.broadcast_to(np.asarray(ut, float), omega.shape)
        if np.any(V <= 0) or not np.all(np.isfinite(V)):
            raise ValueError("prox: V must be finite and > 0")
        G = self.grad_bound()
        lo = omega - V * G
        hi = omega + V * G
        scale = tol * (1.0 + np.abs(omega) + V * G)
        u = omega.copy()
        F = u - omega + V * self.grad(u, y, ut)
        bisect_next = np.zeros(u.shape, bool)
        for _ in range(maxiter):
            active = np.abs(F) > scale
            if not active.any():
                break
            lo = np.where(F < 0, np.maximum(lo, u), lo)
            hi = np.where(F > 0, np.minimum(hi, u), hi)
            dF = 1.0 + V * self.hess(u, y, ut)
            newton = u - F / dF
            use_bisect = bisect_next | ~((newton > lo) & (newton < hi))
            step = np.where(use_bisect, 0.5 * (lo + hi), newton)
            u_new = np.where(active, step, u)
            F_new = u_new - omega + V * self.grad(u_new, y, ut)
            bisect_next = active & ~use_bisect & (np.abs(F_new) > 0.5 * np.abs(F))
            # A collapsed bracket means u is exact to floating point.
            collapsed = (hi - lo) <= 4 * np.finfo(float).eps * (1.0 + np.abs(u_new))
            u, F = u_new, np.where(collapsed, 0.0, F_new)
        resid = np.abs(F) / (1.0 + np.abs(omega) + V * G)
        worst = float(resid.max()) if resid.size else 0.0
        if worst > tol:
            raise ProxError(f"prox did not converge in {maxiter} steps: relative residual {worst:.3e}")
        if return_residual:
            return u, worst
        return u


@dataclass(frozen=True)
class KDLoss(Loss):
    """``a w(y) log(1 + exp(-y u)) + c [softplus(u / T) - sigmoid(ut / T) u / T]``.

    ``a = label_weight`` (``1 - chi``), ``c = kd_weight`` (``chi``, or ``chi T^2`` in
    Hinton's convention), ``w(y) = pos_weight`` for ``y = +1`` and 1 for ``y = -1`` (a
    class-reweighted label term; 1: unweighted). The KD term is the cross-entropy ``H(s, sigmoid(u / T))`` with the
    teacher's soft label ``s = sigmoid(ut / T)``, evaluated as
    ``s softplus(-u / T) + (1 - s) softplus(u / T)`` (a sum of non-negative terms).
    """

    label_weight: float = 1.0
    kd_weight: float = 0.0
    temperature: float = 1.0
    pos_weight: float = 1.0

    def _w(self, y):
        """The label term's weight per sample: ``pos_weight`` where ``y = +1``, else 1."""
        if self.pos_weight == 1.0:
            return 1.0
        return np.where(np.asarray(y, float) > 0, self.pos_weight, 1.0)

    def __post_init__(self):
        if not (self.kd_weight >= 0 and self.temperature >= 0):
            raise ValueError("KDLoss: kd_weight and temperature must be >= 0")
        if self.label_weight < 0 and not (self.temperature == 1.0 and self.label_weight + self.kd_weight >= 0):
            raise ValueError("KDLoss: label_weight < 0 (chi > 1) is allowed only at temperature 1 "
                             "with label_weight + kd_weight >= 0 (then the loss stays convex)")

    @property
    def hard(self) -> bool:
        """``temperature = 0``: hard labels ``sign(ut)``, the KD term is ``log(1 + exp(-sign(ut) u))``."""
        return self.temperature == 0.0

    @property
    def _T(self) -> float:
        """Temperature applied to the model's own pre-activation (1 for hard labels)."""
        return 1.0 if self.temperature == 0.0 else self.temperature

    def _s(self, ut):
        if ut is None:
            if self.kd_weight:
                raise ValueError("KDLoss with kd_weight > 0 needs the teacher's pre-activation ut")
            return 0.0
        if self.hard:
            return np.heaviside(np.asarray(ut, float), 0.5)
        return expit(np.asarray(ut, float) / self.temperature)

    def _s_bar(self, ut):
        """``1 - sigmoid(ut / T)`` without cancellation."""
        if self.hard:
            return np.heaviside(-np.asarray(ut, float), 0.5)
        return expit(-np.asarray(ut, float) / self.temperature)

    def value(self, u, y, ut=None):
        u = np.asarray(u, float)
        y = np.asarray(y, float)
        out = self.label_weight * self._w(y) * softplus(-y * u) if self.label_weight else 0.0 * u * y
        if self.kd_weight:
            T = self._T
            s, s_bar = self._s(ut), self._s_bar(ut)
            out = out + self.kd_weight * (s * softplus(-u / T) + s_bar * softplus(u / T))
        return out

    def grad(self, u, y, ut=None):
        u = np.asarray(u, float)
        y = np.asarray(y, float)
        out = -self.label_weight * self._w(y) * y * expit(-y * u)
        if self.kd_weight:
            T = self._T
            # sigmoid(u/T) - s(ut), in the complement form where both are near 1.
            z = u / T
            diff = np.where(np.asarray(ut, float) > 0, self._s_bar(ut) - expit(-z), expit(z) - self._s(ut))
            out = out + (self.kd_weight / T) * diff
        return out

    def hess(self, u, y, ut=None):
        u = np.asarray(u, float)
        out = self.label_weight * self._w(y) * dsigmoid(u) + 0.0 * np.asarray(y, float)
        if self.kd_weight:
            T = self._T
            out = out + (self.kd_weight / T ** 2) * dsigmoid(u / T)
        return out

    def grad_hess(self, u, y, ut=None):
        """``(grad, hess)`` from one ``exp(-|x|)`` per argument (fused, for the hot loops)."""
        u = np.asarray(u, float)
        y = np.asarray(y, float)
        e = np.exp(-np.abs(u))
        inv = 1.0 / (1.0 + e)
        # sigmoid(-y u): y u >= 0 -> e/(1+e), else 1/(1+e)
        w = self._w(y)
        g = -self.label_weight * w * y * np.where(y * u >= 0, e * inv, inv)
        h = self.label_weight * w * e * inv * inv
        if self.kd_weight:
            T = self._T
            z = u / T
            e = np.exp(-np.abs(z))
            inv = 1.0 / (1.0 + e)
            sig, sig_bar = np.where(z >= 0, inv, e * inv), np.where(z >= 0, e * inv, inv)
            if self.hard:
                diff = np.where(np.asarray(ut, float) > 0, -sig_bar, sig) - 0.0
                diff = np.where(np.asarray(ut, float) == 0, sig - 0.5, diff)
            else:
                zt = np.asarray(ut, float) / T
                diff = np.where(zt > 0, expit(-zt) - sig_bar, sig - expit(zt))
            g = g + (self.kd_weight / T) * diff
            h = h + (self.kd_weight / T ** 2) * e * inv * inv
        return g, h

    def cross(self, u, y, ut=None):
        """``d^2 ell / du dut``; for hard labels a delta function at ``ut = 0``, returned as 0
        (the theory handles that term by Gaussian integration by parts)."""
        if not self.kd_weight or self.hard:
            return super().cross(u, y, ut)
        T = self.temperature
        shape = np.broadcast(np.asarray(u, float), np.asarray(y, float), np.asarray(ut, float)).shape
        return np.broadcast_to(-(self.kd_weight / T ** 2) * dsigmoid(np.asarray(ut, float) / T), shape)

    def grad_bound(self) -> float:
        return abs(self.label_weight) * max(1.0, self.pos_weight) + self.kd_weight / self._T


@dataclass(frozen=True)
class SmoothLabelLoss(KDLoss):
    """Label smoothing: ``a w(y) log(1 + exp(-y u)) + c H(s_y, sigmoid(u / T))`` with the target
    ``s_y = 1 - eps`` for ``y = +1`` and ``eps`` for ``y = -1`` (no teacher): the KD loss with
    the teacher's pre-activation replaced by ``y T log((1 - eps) / eps)``."""

    smoothing: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        if self.temperature == 0.0:
            object.__setattr__(self, "temperature", 1.0)

    def _ut(self, y):
        e = self.smoothing
        big = 800.0 * self.temperature  # eps = 0: the observed label itself
        z = big if e == 0 else self.temperature * (math.log1p(-e) - math.log(e))
        return np.asarray(y, float) * z

    def value(self, u, y, ut=None):
        return super().value(u, y, self._ut(y))

    def grad(self, u, y, ut=None):
        return super().grad(u, y, self._ut(y))

    def hess(self, u, y, ut=None):
        return super().hess(u, y, self._ut(y))

    def grad_hess(self, u, y, ut=None):
        return super().grad_hess(u, y, self._ut(y))

    def cross(self, u, y, ut=None):
        return Loss.cross(self, u, y, ut)

    def prox(self, omega, V, y, ut=None, **kw):
        return super().prox(omega, V, y, self._ut(y), **kw)


class LogisticLoss(KDLoss):
    """Logistic loss ``w(y) log(1 + exp(-y u))`` (the logistic teacher's loss; ``w(+1) =
    pos_weight``, ``w(-1) = 1``)."""

    def __init__(self, pos_weight: float = 1.0):
        super().__init__(label_weight=1.0, kd_weight=0.0, temperature=1.0, pos_weight=pos_weight)

    def __repr__(self):
        return "LogisticLoss()" if self.pos_weight == 1.0 else f"LogisticLoss(pos_weight={self.pos_weight})"


class SoftCrossEntropy(KDLoss):
    """Cross-entropy ``H(sigmoid(ut / T), sigmoid(u / T))`` against the teacher's soft label."""

    def __init__(self, temperature: float = 1.0):
        super().__init__(label_weight=0.0, kd_weight=1.0, temperature=temperature)

    def __repr__(self):
        return f"SoftCrossEntropy(temperature={self.temperature})"


@dataclass(frozen=True)
class LinearLoss(Loss):
    """Linear loss ``-y u`` of the Bayes-optimal teacher (prox in closed form)."""

    def value(self, u, y, ut=None):
        return -np.asarray(y, float) * np.asarray(u, float)

    def grad(self, u, y, ut=None):
        return -np.asarray(y, float) + 0.0 * np.asarray(u, float)

    def hess(self, u, y, ut=None):
        return 0.0 * np.asarray(u, float) * np.asarray(y, float)

    def grad_bound(self) -> float:
        return 1.0

    def prox(self, omega, V, y, ut=None, *, tol: float = 1e-13, maxiter: int = 200,
             return_residual: bool = False):
        """``omega + V y`` exactly."""
        u = np.asarray(omega, float) + np.asarray(V, float) * np.asarray(y, float)
        return (u, 0.0) if return_residual else u


@dataclass(frozen=True)
class MixedLoss(Loss):
    """A learner's per-sample loss on one training set, the sum of its groups' terms there:
    ``a w(y) log(1 + exp(-y u)) + sum_i c_i H(s_i, sigmoid(u / T_i))`` with the soft label
    ``s_i = sigmoid(ut_i / T_i)`` of source ``i`` (``T_i = 0``: the hard label ``[ut_i > 0]``, and
    the term ``log(1 + exp(-sign(ut_i) u))``). ``ut`` is the tuple of the sources'
    pre-activations, in the order of ``weights`` / ``temperatures``. With one source this is
    :class:`KDLoss` (the backends build a ``KDLoss`` then, so that a :class:`~kdlab.stages.Student`
    and its two-group learner are the same computation)."""

    label_weight: float = 1.0
    weights: tuple = ()
    temperatures: tuple = ()
    pos_weight: float = 1.0

    def __post_init__(self):
        if len(self.weights) != len(self.temperatures):
            raise ValueError("MixedLoss: one temperature per source weight")
        if self.label_weight < 0 or any(w < 0 for w in self.weights) or any(t < 0 for t in self.temperatures):
            raise ValueError("MixedLoss: weights and temperatures must be >= 0")

    @property
    def terms(self) -> list:
        """One :class:`KDLoss` per source (its KD term only), in order."""
        return [KDLoss(label_weight=0.0, kd_weight=w, temperature=t) for w, t in zip(self.weights, self.temperatures)]

    @property
    def hard(self) -> bool:
        return any(t == 0.0 for t, w in zip(self.temperatures, self.weights) if w > 0)

    def _label(self):
        return KDLoss(label_weight=self.label_weight, pos_weight=self.pos_weight)

    def _uts(self, ut):
        if len(self.weights) == 0:
            return ()
        if not isinstance(ut, (tuple, list)) or len(ut) != len(self.weights):
            raise ValueError(f"MixedLoss needs the pre-activations of its {len(self.weights)} source(s) as a tuple")
        return tuple(ut)

    def value(self, u, y, ut=None):
        out = self._label().value(u, y)
        for t, uti in zip(self.terms, self._uts(ut)):
            out = out + t.value(u, y, uti)
        return out

    def grad(self, u, y, ut=None):
        out = self._label().grad(u, y)
        for t, uti in zip(self.terms, self._uts(ut)):
            out = out + t.grad(u, y, uti)
        return out

    def hess(self, u, y, ut=None):
        out = self._label().hess(u, y)
        for t, uti in zip(self.terms, self._uts(ut)):
            out = out + t.hess(u, y, uti)
        return out

    def grad_hess(self, u, y, ut=None):
        g, h = self._label().grad_hess(u, y)
        for t, uti in zip(self.terms, self._uts(ut)):
            gi, hi = t.grad_hess(u, y, uti)
            g, h = g + gi, h + hi
        return g, h

    def cross_terms(self, u, y, ut=None) -> list:
        """``d^2 ell / du dut_i`` for every source ``i`` (0 for hard labels: their delta function is
        taken by Stein's lemma in the theory)."""
        return [t.cross(u, y, uti) for t, uti in zip(self.terms, self._uts(ut))]

    def grad_bound(self) -> float:
        return abs(self.label_weight) * max(1.0, self.pos_weight) + sum(
            w / (1.0 if t == 0 else t) for w, t in zip(self.weights, self.temperatures))

    def prox(self, omega, V, y, ut=None, *, tol: float = 1e-13, maxiter: int = 200, return_residual: bool = False):
        """The safeguarded Newton of :meth:`Loss.prox`, with the sources' pre-activations a tuple."""
        omega, V, y = np.broadcast_arrays(np.asarray(omega, float), np.asarray(V, float), np.asarray(y, float))
        uts = tuple(np.broadcast_to(np.asarray(a, float), omega.shape) for a in self._uts(ut))
        return _Bound(self, uts).prox(omega, V, y, None, tol=tol, maxiter=maxiter, return_residual=return_residual)


class _Bound(Loss):
    """A :class:`MixedLoss` with its sources' pre-activations bound (a one-argument loss, for the
    generic safeguarded Newton of :meth:`Loss.prox`)."""

    def __init__(self, loss: MixedLoss, uts: tuple):
        self.loss, self.uts = loss, uts

    def value(self, u, y, ut=None):
        return self.loss.value(u, y, self.uts)

    def grad(self, u, y, ut=None):
        return self.loss.grad(u, y, self.uts)

    def hess(self, u, y, ut=None):
        return self.loss.hess(u, y, self.uts)

    def grad_bound(self) -> float:
        return self.loss.grad_bound()


def loss_of_terms(label_weight: float, sources: list, pos_weight: float = 1.0):
    """The per-sample loss of a learner's terms on one set: ``label_weight`` for the set's labels,
    ``sources`` ``[(weight, temperature), ...]`` for its label sources. One source (or none) is a
    :class:`KDLoss` (the same object a :class:`~kdlab.stages.Student` builds), several a
    :class:`MixedLoss`."""
    if len(sources) <= 1:
        w, t = sources[0] if sources else (0.0, 1.0)
        return KDLoss(label_weight=label_weight, kd_weight=w, temperature=t, pos_weight=pos_weight)
    return MixedLoss(label_weight=label_weight, weights=tuple(w for w, _ in sources),
                     temperatures=tuple(t for _, t in sources), pos_weight=pos_weight)


# --------------------------------------------------------------------------- K classes


def shift_basis(K: int) -> np.ndarray:
    """``P`` (K x (K - 1)): orthonormal columns orthogonal to ``1`` (Helmert basis; ``K = 2``:
    ``(1, -1) / sqrt(2)``). The softmax ignores a common shift, so both backends work in these
    K - 1 coordinates."""
    P = np.zeros((K, K - 1))
    for j in range(1, K):
        P[:j, j - 1] = 1.0
        P[j, j - 1] = -j
        P[:, j - 1] /= math.sqrt(j * (j + 1))
    return P


def softmax(z, axis: int = -1):
    """``exp(z) / sum exp(z)`` along ``axis``, stable for any ``|z|``."""
    z = np.asarray(z, float)
    if axis == -1 and 1 < z.shape[-1] <= 8 and z.ndim > 1:
        # a few classes: column by column (numpy's reductions over a short last axis are slow)
        return np.stack(softmax_cols([z[..., i] for i in range(z.shape[-1])]), axis=-1)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(z, axis: int = -1):
    """``log sum exp(z)`` along ``axis``, stable."""
    z = np.asarray(z, float)
    mx = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(mx, axis) + np.log(np.sum(np.exp(z - mx), axis=axis))


def softmax_cols(z):
    """``softmax`` of the K columns ``z`` (arrays of one shape), as K arrays; stable for any ``|z|``
    (the one implementation: :func:`softmax` of a few classes calls it)."""
    m = z[0]
    for zk in z[1:]:
        m = np.maximum(m, zk)
    e = [np.exp(zk - m) for zk in z]
    tot = e[0].copy()
    for ek in e[1:]:
        tot += ek
    for ek in e:
        ek /= tot
    return e


def _pcomb(coef, cols):
    """``sum_i coef[i] cols[i]`` (zero coefficients skipped)."""
    out = None
    for c, x in zip(coef, cols):
        if c == 0.0:
            continue
        out = c * x if out is None else out + c * x
    return np.zeros_like(np.asarray(cols[0], float)) if out is None else out


def reduced_hessian_cols(diag, outer, P):
    """``P^T diag(d) P - sum_(c, v) c v v^T`` column by column (``d``: K arrays; ``outer``: pairs of
    a weight and r arrays), as r x r nested lists (symmetric entries shared)."""
    r = P.shape[1]
    H = [[None] * r for _ in range(r)]
    for i in range(r):
        for j in range(i, r):
            h = _pcomb(P[:, i] * P[:, j], diag)
            for c, v in outer:
                h = h - c * (v[i] * v[j])
            H[i][j] = H[j][i] = h
    return H


def softmax_hessian(p):
    """``diag(p) - p p^T`` for every row of ``p`` (shape ``(..., K, K)``)."""
    p = np.asarray(p, float)
    return p[..., :, None] * (np.eye(p.shape[-1]) - p[..., None, :])


@dataclass(frozen=True)
class SoftmaxKDLoss:
    """K-class loss of the total pre-activations ``u`` (K per sample), the observed class ``c``
    and the parent's ``up``:

    ``a (logsumexp(u) - u_c) + w [logsumexp(u / T) - t . u / T]``,

    i.e. ``a CE(e_c, softmax(u)) + w CE(t, softmax(u / T))``, ``a = label_weight`` (``1 - chi``),
    ``w = kd_weight``. The target ``t`` (``target``): ``soft`` ``softmax(up / T)``; ``hard``
    the one-hot of ``argmax up`` (own temperature 1); ``top`` ``max softmax(up / T)`` on the
    parent's top class and the rest spread uniformly over the other ``K - 1``; ``smooth``
    ``1 - eps`` on ``c``, ``eps / (K - 1)`` elsewhere (no parent). Gradient
    ``a (softmax(u) - e_c) + (w / T) (softmax(u / T) - t)``, Hessian
    ``a H(softmax(u)) + (w / T^2) H(softmax(u / T))`` with ``H(p) = diag(p) - p p^T``: convex
    whenever ``a + w >= 0`` at ``T = 1``. Invariant under a common shift of ``u``.
    """

    label_weight: float = 1.0
    kd_weight: float = 0.0
    temperature: float = 1.0
    target: str = "soft"
    smoothing: float = 0.0

    @property
    def T(self) -> float:
        """The temperature of the model's own softmax in the KD term."""
        return 1.0 if self.temperature == 0.0 or self.target == "hard" else self.temperature

    @property
    def hard(self) -> bool:
        return self.kd_weight > 0 and (self.target == "hard" or (self.temperature == 0.0 and self.target != "smooth"))

    @property
    def uses_parent(self) -> bool:
        return self.kd_weight > 0 and self.target != "smooth"

    def targets(self, c, up=None):
        """The KD term's target ``t`` (rows), from the observed classes ``c`` (ints) and the
        parent's pre-activations ``up`` (rows)."""
        if self.target == "smooth":
            c = np.asarray(c)
            K = self._K
            e = self.smoothing
            return np.where(np.arange(K) == c[..., None], 1.0 - e, e / (K - 1))
        up = np.asarray(up, float)
        K = up.shape[-1]
        if self.hard:
            return (np.arange(K) == np.argmax(up, axis=-1)[..., None]).astype(float)
        p = softmax(up / self.temperature)
        if self.target == "top":
            top = np.max(p, axis=-1, keepdims=True)
            return np.where(np.arange(K) == np.argmax(up, axis=-1)[..., None], top, (1.0 - top) / (K - 1))
        return p

    _K: int = 0  # K for the smooth target (set by :meth:`with_classes`)

    def with_classes(self, K: int) -> "SoftmaxKDLoss":
        from dataclasses import replace

        return replace(self, _K=int(K))

    def value(self, u, c, up=None, t=None):
        """The loss per row (``t``: the targets, if already computed)."""
        u = np.asarray(u, float)
        c = np.asarray(c)
        out = 0.0
        if self.label_weight:
            uc = np.take_along_axis(u, c[..., None], axis=-1)[..., 0]
            out = out + self.label_weight * (logsumexp(u) - uc)
        if self.kd_weight:
            z = u / self.T
            t = self.targets(c, up) if t is None else t
            out = out + self.kd_weight * (logsumexp(z) - np.sum(t * z, axis=-1))
        return out + np.zeros(u.shape[:-1])

    def grad_hess_reduced(self, u, onehot, t, P):
        """Gradient and Hessian in the shift-free coordinates ``u = P u_r`` (``P``: K x r,
        orthonormal columns orthogonal to 1), column by column: ``u`` the r coordinates (arrays of
        one shape), ``onehot`` the K columns of the observed classes' one-hot, ``t`` the K columns
        of the KD targets. Returns ``g`` (r arrays: ``grad P``) and ``H`` (r x r nested lists of
        arrays, symmetric entries shared: ``P^T hess P``):

        ``g = a (p - e) P + (w / T) (q - t) P``, ``H = P^T diag(a p + (w / T^2) q) P - a (P^T p)
        (P^T p)^T - (w / T^2) (P^T q) (P^T q)^T`` with ``p = softmax(P u_r)``, ``q =
        softmax(P u_r / T)`` (one softmax per term; explicit products: numpy's small stacked
        matrix products are several times slower)."""
        K, r = P.shape
        z = [_pcomb(P[k], u) for k in range(K)]
        resid, diag, outer = [0.0] * K, [0.0] * K, []
        if self.label_weight:
            a = self.label_weight
            p = softmax_cols(z)
            for k in range(K):
                resid[k] = a * (p[k] - onehot[k])
                diag[k] = a * p[k]
            outer.append((a, [_pcomb(P[:, i], p) for i in range(r)]))
        if self.kd_weight:
            w, T = self.kd_weight, self.T
            q = softmax_cols([zk / T for zk in z] if T != 1.0 else z)
            for k in range(K):
                resid[k] = resid[k] + (w / T) * (q[k] - t[k])
                diag[k] = diag[k] + (w / T ** 2) * q[k]
            outer.append((w / T ** 2, [_pcomb(P[:, i], q) for i in range(r)]))
        g = [_pcomb(P[:, i], resid) for i in range(r)]
        return g, reduced_hessian_cols(diag, outer, P)

    def grad(self, u, c, up=None, t=None):
        """``d loss / du`` (rows); ``t``: the targets, if already computed."""
        u = np.asarray(u, float)
        K = u.shape[-1]
        out = np.zeros(u.shape)
        if self.label_weight:
            out += self.label_weight * (softmax(u) - (np.arange(K) == np.asarray(c)[..., None]))
        if self.kd_weight:
            t = self.targets(c, up) if t is None else t
            out += (self.kd_weight / self.T) * (softmax(u / self.T) - t)
        return out

    def hess(self, u, c=None, up=None):
        """``d^2 loss / du^2`` (``(..., K, K)``); it does not depend on ``c`` or ``up``."""
        u = np.asarray(u, float)
        out = np.zeros(u.shape + (u.shape[-1],))
        if self.label_weight:
            out += self.label_weight * softmax_hessian(softmax(u))
        if self.kd_weight:
            out += (self.kd_weight / self.T ** 2) * softmax_hessian(softmax(u / self.T))
        return out
