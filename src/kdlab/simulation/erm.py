"""Exact empirical risk minimization for linear models with an unregularized bias.

Minimizes ``J(w, b) = sum_mu ell(u_mu; y_mu, ut_mu) + (lam / 2) ||w||^2`` with
``u = X w + b`` for any convex loss of :mod:`kdlab.losses`, by a truncated Newton method:
Newton directions from preconditioned conjugate gradients on exact Hessian-vector products
``H s = X^T D X s_w + ... + lam s_w``, an Armijo backtracking line search on ``J``, and a
stopping rule on the relative gradient norm ``||grad J||_inf <= tol max(1, ||grad J(0)||_inf)``.
Used by the simulation backend (with ``X / sqrt(N)``) and by the scikit-learn estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConvergenceError, NoMinimizerError
from ..losses import KDLoss, LinearLoss, Loss

__all__ = ["FitResult", "fit_linear", "NoMinimizerError", "ConvergenceError"]


@dataclass(frozen=True)
class FitResult:
    """Minimizer ``(w, b)``, pre-activations ``u``, iterations and final relative gradient."""

    w: np.ndarray
    bias: float
    u: np.ndarray
    iterations: int
    grad_norm: float
    objective: float


def _separates(u: np.ndarray, y: np.ndarray) -> bool:
    """Whether the fitted pre-activations classify every training sample strictly correctly
    (then ``(w, b)`` itself is a separating hyperplane: a certificate of separability)."""
    return bool(u.size) and float(np.min(y * u)) > 0.0


_SEPARABLE = ("lam = 0 and the training set is linearly separable: the logistic loss has no minimizer "
              "(the weights diverge); use lam > 0")


def _objective(loss: Loss, u, y, ut, w, lam, sw):
    return float(np.sum(sw * loss.value(u, y, ut)) + 0.5 * lam * (w @ w))


def fit_linear(X: np.ndarray, y: np.ndarray, loss: Loss, lam: float, *, ut=None,
               fit_bias: bool = True, bias: float = 0.0, tol: float = 1e-10, max_iter: int = 200,
               sample_weight=None, newton_dtype=np.float64) -> FitResult:
    """Minimize ``sum_mu s_mu ell(x_mu . w + b) + (lam / 2) ||w||^2`` over ``w`` (and ``b``).

    ``bias`` is the fixed bias when ``fit_bias`` is False. ``newton_dtype``: the precision of
    the Hessian-vector products that give the Newton direction (``np.float32`` halves their
    memory traffic; an inexact Newton direction only changes the path: the gradient, the line
    search and the stopping rule stay in float64, so the minimizer reached is the same to
    ``tol``; for ``tol`` far below ``1e-7`` keep float64). Raises :class:`NoMinimizerError`
    if ``lam = 0`` and the loss has no minimizer on these data, :class:`ConvergenceError`
    if ``max_iter`` Newton steps do not reach ``tol``.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    M, d = X.shape
    sw = np.ones(M) if sample_weight is None else np.asarray(sample_weight, float)
    lam = float(lam)

    if isinstance(loss, LinearLoss):
        if lam <= 0:
            raise NoMinimizerError("the linear loss -y u needs lam > 0 to have a minimizer")
        if fit_bias:
            raise NoMinimizerError("the linear loss -y u has no minimizer in a free bias; fix the bias")
        w = X.T @ (sw * y) / lam
        u = X @ w + bias
        return FitResult(w, float(bias), u, 1, 0.0, _objective(loss, u, y, ut, w, lam, sw))

    # lam = 0 on labels alone: a minimizer exists iff the data are not linearly separable.
    # Newton decides it: on separable data the iterates separate the training set (a
    # certificate, checked at the end); at a stationary point that misclassifies a sample
    # the data are not separable (along a separating direction the loss would decrease at
    # a rate bounded away from zero).
    labels_only = lam == 0 and isinstance(loss, KDLoss) and loss.kd_weight == 0
    if labels_only and M <= d + int(fit_bias) and np.linalg.matrix_rank(X) == M:
        raise NoMinimizerError(_SEPARABLE)

    w = np.zeros(d)
    b = float(bias)

    def wloss(f, u):
        return sw * f(u, y, ut)

    u = X @ w + b
    J = _objective(loss, u, y, ut, w, lam, sw)
    scale = None
    X2 = Xn = None  # X in newton_dtype, and X * X for the Jacobi preconditioner
    for it in range(max_iter + 1):
        r = wloss(loss.grad, u)
        gw = X.T @ r + lam * w
        gb = float(r.sum()) if fit_bias else 0.0
        gmax = max(np.max(np.abs(gw)) if d else 0.0, abs(gb))
        if scale is None:
            scale = max(1.0, gmax)
        if gmax <= tol * scale:
            if labels_only and _separates(u, y):
                raise NoMinimizerError(_SEPARABLE)
            return FitResult(w, b, u, it, gmax / scale, J)
        if it == max_iter:
            break
        D = wloss(loss.hess, u)
        # Preconditioned CG on H s = -g (Jacobi preconditioner).
        if X2 is None:
            Xn = X if np.dtype(newton_dtype) == X.dtype else X.astype(newton_dtype)
            X2 = Xn * Xn
        Dn = D.astype(Xn.dtype, copy=False)
        diag_w = (X2.T @ Dn).astype(float) + lam
        diag_b = float(D.sum()) if fit_bias else 1.0
        pre_w = 1.0 / np.maximum(diag_w, 1e-300)
        pre_b = 1.0 / max(diag_b, 1e-300)

        def hvp(sw_, sb_):
            t = D * ((Xn @ sw_.astype(Xn.dtype, copy=False)) + sb_)
            return (Xn.T @ t.astype(Xn.dtype, copy=False)).astype(float) + lam * sw_, \
                (float(t.sum()) if fit_bias else 0.0)

        gnorm = np.sqrt(gw @ gw + gb * gb)
        eta_cg = min(0.1, np.sqrt(gmax / scale))
        sw_dir = np.zeros(d)
        sb_dir = 0.0
        rw, rb = -gw, -gb
        zw, zb = pre_w * rw, pre_b * rb * fit_bias
        pw, pb = zw.copy(), zb
        rz = rw @ zw + rb * zb
        for _ in range(max(50, 2 * d)):
            Hw, Hb = hvp(pw, pb)
            pHp = pw @ Hw + pb * Hb
            if pHp <= 0:
                break
            a = rz / pHp
            sw_dir += a * pw
            sb_dir += a * pb
            rw -= a * Hw
            rb -= a * Hb
            if np.sqrt(rw @ rw + rb * rb) <= eta_cg * gnorm:
                break
            zw, zb = pre_w * rw, pre_b * rb * fit_bias
            rz_new = rw @ zw + rb * zb
            beta = rz_new / rz
            rz = rz_new
            pw = zw + beta * pw
            pb = zb + beta * pb
        if not np.any(sw_dir) and sb_dir == 0.0:
            sw_dir, sb_dir = -gw, -gb
        # Armijo backtracking.
        slope = gw @ sw_dir + gb * sb_dir
        du = X @ sw_dir + sb_dir
        step = 1.0
        for _ in range(60):
            w_new = w + step * sw_dir
            u_new = u + step * du
            J_new = _objective(loss, u_new, y, ut, w_new, lam, sw)
            if J_new <= J + 1e-4 * step * slope or abs(J_new - J) <= 1e-15 * abs(J):
                break
            step *= 0.5
        # the line search's last trial is the new iterate (u = X w + b up to rounding)
        w, b, u, J = w_new, b + step * sb_dir, u_new, J_new
        if not np.isfinite(J) or np.max(np.abs(w), initial=0.0) > 1e12:
            if labels_only and _separates(u, y):
                raise NoMinimizerError(_SEPARABLE)
            raise NoMinimizerError("the weights diverge: the objective has no minimizer (lam = 0 on "
                                   "separable data?); use lam > 0")
    if labels_only and _separates(u, y):
        raise NoMinimizerError(_SEPARABLE)
    raise ConvergenceError(f"Newton did not reach tol={tol:g} in {max_iter} iterations "
                           f"(relative gradient {gmax / scale:.3e})")
