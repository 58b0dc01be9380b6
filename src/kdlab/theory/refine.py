"""Fixed point with quadrature refinement, shared by the teacher and the student solvers.

Solve on the current rules to a loose tolerance, check the half-rule differences at that
point, refine the rules that fail (jumping by the predicted number of levels), and finish on
the final rules at the requested tolerance.
"""

from __future__ import annotations

import math

from .fixed_point import FixedPointInfo, fixed_point
from .quadrature import next_level

COARSE_TOL = 1e-6
PRESOLVE_TOL = 1e-4


def solve_with_refinement(make_map, x, levels, *, tol, maxiter, method, valid, log, quad_tol,
                          max_level, estimate_levels, presolve=None, qmc=None):
    """Returns ``(G, x, info, levels, quad_errors)``; ``G`` holds the fields at ``x``.

    ``make_map(levels, G_prev)`` builds the map on the given rules (warm from ``G_prev``);
    ``G.quad_errors(x)`` returns one half-rule estimate per dimension; ``estimate_levels(x)``
    gives a priori levels from a state. ``presolve``: coarse levels on which to iterate first
    to ``PRESOLVE_TOL`` (cold starts), so that the levels are estimated from a state close to
    the solution rather than from the initial guess. ``quad_tol`` and ``max_level`` may be
    one value per level entry; ``qmc[i] == "qmc"`` marks an RQMC entry (level = log2 of its
    points per replicate), refined one level (twice the points) at a time.
    """
    n = len(levels)
    tols = list(quad_tol) if isinstance(quad_tol, (list, tuple)) else [quad_tol] * n
    his = list(max_level) if isinstance(max_level, (list, tuple)) else [max_level] * n
    kinds = list(qmc) if qmc is not None else ["tensor"] * n
    total = 0
    G = None
    if presolve is not None:
        G = make_map(list(presolve), None)
        x1, gx, info = fixed_point(G, x, tol=PRESOLVE_TOL, maxiter=max(1, maxiter // 2), method=method,
                                   valid=valid, log=log)
        total += info.iterations
        if info.stopped:
            return _finish(G, x1, info, total, presolve)
        x = x1
        levels = estimate_levels(x)
    levels = [int(min(lv, hi)) for lv, hi in zip(levels, his)]
    while True:
        G = make_map(levels, G)
        pending = []

        def check(z, G=G):
            try:
                errs = G.quad_errors(z)
            except ArithmeticError:
                return False
            refine = [e > t and lv < hi for e, lv, t, hi in zip(errs, levels, tols, his)]
            if any(refine):
                est = estimate_levels(z)
                pending.append([(lv + 1 if kind == "qmc" else next_level(lv, e, t, es, hi)) if r else lv
                                for lv, e, r, es, t, hi, kind in zip(levels, errs, refine, est, tols, his, kinds)])
            return bool(pending)

        x, gx, info = fixed_point(G, x, tol=tol, maxiter=maxiter - total, method=method, valid=valid,
                                  log=log, checkpoint=(max(tol, COARSE_TOL), check))
        total += info.iterations
        if pending and total < maxiter:
            levels = pending[0]
            continue
        if gx is not None and info.converged and info.message == "checkpoint":
            # refinement wanted but the evaluation budget is spent
            info = FixedPointInfo(False, info.iterations, info.residual,
                                  "evaluation budget spent while refining the quadrature", info.method)
        break
    return _finish(G, x, info, total, levels)


def _finish(G, x, info, total, levels):
    if not info.converged or G.root is None:
        try:  # refresh the cached fields at the returned point
            G(x)
        except Exception:  # noqa: BLE001 - the failure is reported through info
            pass
    try:
        errs = G.quad_errors(x) if G.root is not None else None
    except ArithmeticError:
        errs = None
    if errs is None or not all(math.isfinite(e) for e in errs):
        errs = tuple(math.inf for _ in levels)
    info = FixedPointInfo(info.converged, total, info.residual, info.message, info.method, info.stopped,
                          info.diverged)
    return G, x, info, tuple(levels), tuple(errs)
