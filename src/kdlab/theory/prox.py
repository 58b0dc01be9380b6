"""Proximal operator on a whole quadrature grid, warm-started from the previous iterate.

Solves ``F(u) = u - c + V ell'(u; y, ut) = 0`` (``u = prox_{V ell}(c)``) with plain Newton
steps from a predictor ``u0`` (the previous solution moved along its slope), clipped to the
bracket ``[c - V G, c + V G]`` (``G = sup |ell'|``). Elements not converged after a few steps
are handed to the safeguarded :meth:`kdlab.losses.Loss.prox` (Newton with bisection), so the
result is always the loss module's proximal operator to its tolerance; the fast path only
saves time when the start is good (every iteration of the fixed point after the first).
``y`` and ``ut`` are passed unbroadcast (e.g. shapes ``(2, 1, 1)`` and ``(2, n1, 1)``), so that
functions of them alone are not evaluated on the full grid.
"""

from __future__ import annotations

import numpy as np

from ..losses import ProxError

__all__ = ["prox_grid", "ProxError"]

PROX_TOL = 1e-13


def grad_hess(loss, u, y, ut=None):
    """``(loss.grad, loss.hess)`` at ``u``; uses ``loss.grad_hess`` when the loss provides one
    (a fused evaluation sharing the sigmoids), else the two methods."""
    f = getattr(loss, "grad_hess", None)
    if f is not None:
        return f(u, y, ut)
    return loss.grad(u, y, ut), loss.hess(u, y, ut)


def prox_grid(loss, c, V, y, ut=None, u0=None, *, tol: float = PROX_TOL, newton_steps: int = 6):
    """``(u, g, h)``: ``u = prox_{V loss}(c)`` elementwise, ``g = loss.grad(u)``, ``h = loss.hess(u)``.

    Converged to ``|F| <= tol (1 + |c| + V G)``, like ``Loss.prox``.
    """
    c = np.asarray(c, float)
    G = loss.grad_bound()
    bound = V * G if np.isfinite(G) else 0.0
    scale = tol * (1.0 + np.abs(c) + bound)
    if u0 is not None:
        u = np.asarray(u0, float)
        lo = c - V * G if np.isfinite(G) else None
        hi = c + V * G if np.isfinite(G) else None
        for _ in range(newton_steps + 1):
            g, h = grad_hess(loss, u, y, ut)
            F = u - c + V * g
            bad = np.abs(F) > scale
            if not bad.any():
                return u, g, h
            u = u - F / (1.0 + V * h)
            if lo is not None:
                u = np.minimum(np.maximum(u, lo), hi)
        g = loss.grad(u, y, ut)
        bad = np.abs(u - c + V * g) > scale
    else:
        u = np.empty_like(c)
        bad = np.ones(c.shape, bool)
    yb = np.broadcast_to(np.asarray(y, float), c.shape)
    utb = None if ut is None else np.broadcast_to(np.asarray(ut, float), c.shape)
    u = np.array(u, copy=True)
    u[bad] = loss.prox(c[bad], V, yb[bad], None if utb is None else utb[bad], tol=tol)
    return (u, *grad_hess(loss, u, y, ut))
