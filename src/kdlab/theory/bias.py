"""Bias condition ``E[g](b) = 0``: safeguarded 1-D Newton with stopping on the step.

``E[g]`` is increasing in ``b`` (``dE[g]/db = E[L''/(1 + V L'')] >= 0``). Newton steps from the
warm start; every evaluation narrows a sign bracket; a step that leaves the bracket, or a
Newton step that failed to halve ``|E[g]|``, is replaced by bisection (or by a doubling search
while the bracket is open on one side). ``|E[g]| -> 0`` is not a usable stopping rule in
floating point: stop when the step is below ``tol (1 + |b|)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BiasRoot", "solve_bias"]

#: A step this small (relative) at which ``|E[g]|`` no longer decreases is at the noise floor.
NOISE_STEP = 1e-9


@dataclass
class BiasRoot:
    b: float
    step: float
    evaluations: int
    converged: bool


def solve_bias(fun, b0: float, *, tol: float = 1e-12, maxiter: int = 100) -> BiasRoot:
    """Root of the increasing ``E[g](b)``; ``fun(b) -> (E[g], dE[g]/db)``.

    The root is returned at the last evaluated ``b`` (so the caller's cached fields belong to
    it), once the next step would be smaller than ``tol (1 + |b|)``.
    """
    lo, hi = -math.inf, math.inf
    b = float(b0)
    prev_abs = math.inf
    last_newton = False
    search = 1.0
    step = math.inf
    for k in range(1, maxiter + 1):
        Eg, dEg = fun(b)
        if not (math.isfinite(Eg) and math.isfinite(dEg)):
            raise FloatingPointError(f"E[g] not finite at b = {b!r}")
        if Eg == 0.0:
            return BiasRoot(b, 0.0, k, True)
        if Eg > 0:
            hi = min(hi, b)
        else:
            lo = max(lo, b)
        bracketed = math.isfinite(lo) and math.isfinite(hi)
        slow = last_newton and abs(Eg) > 0.5 * prev_abs
        cand = b - Eg / dEg if dEg > 0 else math.nan
        last_newton = True
        if not (lo < cand < hi) or (slow and bracketed):
            last_newton = False
            if bracketed:
                cand = 0.5 * (lo + hi)
            else:  # bracket open on one side: move towards the root by a growing step
                cand = b - math.copysign(search * (1.0 + abs(b)), Eg)
                search *= 2.0
        step = cand - b
        if abs(step) <= tol * (1.0 + abs(b)) or (bracketed and hi - lo <= tol * (1.0 + abs(b))):
            return BiasRoot(b, step, k, True)
        if abs(Eg) >= prev_abs and abs(step) <= NOISE_STEP * (1.0 + abs(b)):
            # |E[g]| stopped decreasing at a tiny step: the floating-point floor of the sum
            return BiasRoot(b, step, k, True)
        prev_abs = abs(Eg)
        b = cand
    return BiasRoot(b, step, maxiter, False)
