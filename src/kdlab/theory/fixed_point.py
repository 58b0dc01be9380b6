"""Fixed-point solver: Anderson acceleration with a damped-iteration fallback.

Solves ``x = G(x)`` for the small state vectors of the state evolution (teacher
``(mt, qt, Vt)``, student ``(m, q, p, V, Vx)``). Convergence is measured by the relative
residual ``max_i |G_i(x) - x_i| / (1 + |x_i|)``.

Anderson (type II, memory ``m``): with ``f_k = G(x_k) - x_k`` and the differences ``dX``,
``dF`` of the last ``m`` iterates, ``gamma = argmin ||f_k - dF gamma||`` and
``x_{k+1} = x_k + f_k - (dX + dF) gamma``. Safeguards: a proposal outside the valid domain
(``valid(x)`` false) or a failed evaluation becomes a damped step ``x + damping f`` from the
best point so far with the history cleared; a residual 100 times above the best restarts from
the best point; 25 iterations without improving the best residual switch to plain damped
iteration (damping 0.5, which converged at every point where the equations were checked).
The solver never returns silently: ``FixedPointInfo`` says whether it converged, after how
many evaluations, with which residual, and why it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FixedPointInfo", "fixed_point", "relative_residual", "Stop", "Diverged", "HUGE"]


@dataclass
class FixedPointInfo:
    converged: bool
    iterations: int
    residual: float
    message: str
    method: str
    stopped: bool = False  # ended by the map (divergence, work budget)
    diverged: bool = False  # ended by :class:`Diverged`


#: Overlaps beyond this are reported as divergence (no finite minimizer, e.g. separable data at
#: lam = 0); Anderson proposals beyond it are rejected. Shared by every stage map.
HUGE = 1e12


class Stop(Exception):
    """Raised by a map to end the iteration as not converged, with its message."""


class Diverged(Stop):
    """Overlaps growing without bound (no finite minimizer)."""

    def __str__(self):
        return f"diverged: {super().__str__()}"


def relative_residual(x, gx) -> float:
    return float(np.max(np.abs(gx - x) / (1.0 + np.abs(x))))


def fixed_point(G, x0, *, tol: float = 1e-10, maxiter: int = 1000, method: str = "anderson",
                memory: int = 5, damping: float = 0.5, valid=None, stall: int = 25, log=None, beta: float = 1.0,
                checkpoint=None):
    """Iterate to ``|G(x) - x| / (1 + |x|) <= tol``.

    Returns ``(x, gx, info)``. On convergence ``gx = G(x)`` was the last evaluation (the
    caller's cached quantities belong to ``x``); otherwise ``x`` is the best point met (or
    ``x0``), ``gx`` its image or ``None``, and the caller must evaluate ``G(x)`` again before
    using cached quantities. ``G`` may raise any ``ArithmeticError``/``RuntimeError`` at a
    bad point (handled as above) or :class:`Stop` (e.g. :class:`Diverged`) to end the iteration
    as not converged with that message (``info.stopped``). ``beta``: Anderson mixing parameter.
    ``log``: indices of positive components (``q``, ``V``) that the Anderson extrapolation
    treats in log scale (they range over orders of magnitude; this keeps them positive and the map closer to linear).
    ``checkpoint = (tol_c, fn)``: the first time the residual is below ``tol_c``, ``fn(x)`` is
    called (the caller's caches belong to ``x``); if it returns true the iteration stops there
    with ``info.message == "checkpoint"`` (used to refine the quadrature without restarting).
    """
    if method not in ("anderson", "damped"):
        raise ValueError(f"method must be 'anderson' or 'damped', got {method!r}")
    valid = valid or (lambda x: bool(np.all(np.isfinite(x))))
    x = np.asarray(x0, float).copy()
    scale = 1.0 + np.abs(x)
    if log is not None:
        log = np.asarray(log, int)
        scale[log] = 1.0
    dX: list = []
    dF: list = []
    best = (np.inf, None, None)
    since_best = 0
    mode = method
    last_err = ""
    prev = None  # (z, f) of the previous accepted evaluation, scaled
    res = np.inf
    for k in range(1, maxiter + 1):
        try:
            gx = np.asarray(G(x), float)
            if not np.all(np.isfinite(gx)):
                raise FloatingPointError("map returned non-finite values")
        except Stop as exc:
            return (*_best_or(best, x0), FixedPointInfo(False, k, float(best[0]), str(exc), mode, True,
                                                        isinstance(exc, Diverged)))
        except (ArithmeticError, RuntimeError, ValueError) as exc:
            last_err = str(exc)
            if best[1] is None:
                return x, None, FixedPointInfo(False, k, float("inf"),
                                               f"map failed at the initial point: {exc}", mode)
            # step back towards the best point
            damping *= 0.5
            if damping < 1e-4:
                return (*_best_or(best, x0),
                        FixedPointInfo(False, k, float(best[0]), f"map failed repeatedly: {exc}", mode))
            x = best[1] + damping * (best[2] - best[1])
            dX.clear()
            dF.clear()
            prev = None
            continue
        res = relative_residual(x, gx)
        if checkpoint is not None and res <= checkpoint[0]:
            stop = checkpoint[1](x)
            checkpoint = None
            if stop:
                return x, gx, FixedPointInfo(True, k, res, "checkpoint", mode)
        if res <= tol:
            return x, gx, FixedPointInfo(True, k, res, f"converged ({mode})", mode)
        if res < best[0]:
            best = (res, x.copy(), gx.copy())
            since_best = 0
        else:
            since_best += 1
        if mode == "anderson" and since_best >= stall:
            mode = "damped"
            x = best[1] + damping * (best[2] - best[1])
            dX.clear()
            dF.clear()
            prev = None
            continue
        if mode == "anderson" and res > 100 * best[0]:
            x = best[1] + damping * (best[2] - best[1])
            dX.clear()
            dF.clear()
            prev = None
            continue
        if mode == "damped":
            x = x + damping * (gx - x)
            continue
        if log is not None:
            zx, zg = x.copy(), gx.copy()
            zx[log], zg[log] = np.log(x[log]), np.log(gx[log])
            z, f = zx / scale, (zg - zx) / scale
        else:
            z, f = x / scale, (gx - x) / scale
        if prev is not None:
            dX.append(z - prev[0])
            dF.append(f - prev[1])
            if len(dX) > memory:
                dX.pop(0)
                dF.pop(0)
        prev = (z, f)
        if dX:
            DF = np.array(dF).T
            DX = np.array(dX).T
            # Regularized least squares (columns of DF can be nearly collinear).
            reg = 1e-12 * max(float(np.sum(DF * DF)), 1e-300)
            try:
                gamma = np.linalg.solve(DF.T @ DF + reg * np.eye(DF.shape[1]), DF.T @ f)
                znew = z + beta * f - (DX + beta * DF) @ gamma
            except np.linalg.LinAlgError:
                znew = z + beta * f
                dX.clear()
                dF.clear()
        else:
            znew = z + beta * f
        xnew = znew * scale
        if log is not None:
            xnew[log] = np.exp(np.minimum(xnew[log], 700.0))
        if not valid(xnew):
            xnew = x + damping * (gx - x)
            dX.clear()
            dF.clear()
            prev = None
            if not valid(xnew):
                xnew = gx
        x = xnew
    msg = f"not converged after {maxiter} evaluations ({mode}); best relative residual {best[0]:.3e}"
    if last_err:
        msg += f"; last map failure: {last_err}"
    return (*_best_or(best, x0), FixedPointInfo(False, maxiter, float(best[0]), msg, mode))


def _best_or(best, x0):
    if best[1] is None:
        return np.asarray(x0, float), None
    return best[1], best[2]
