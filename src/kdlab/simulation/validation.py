"""Validation tuning in simulation: hyper-parameters chosen on a held-out validation set.

The theory's tuning (:mod:`kdlab.runs.tuning`) picks every parameter at the exact population
error: an oracle. A practitioner has a validation set instead. :func:`validation_tuned` fits,
for every seed, the chain stage after stage; for each tuned stage ``k`` it fits every candidate
of its grid (the earlier stages fixed at their chosen values) and keeps the one with the fewest
errors on a held-out validation set of ``round(alpha_val N)`` samples with **observed** (noisy)
labels (:func:`.sampling.sample_validation`; ties: the first candidate of the grid). The chosen
model is then measured like any simulation (the exact error of ``docs/model.md``).
"""

from __future__ import annotations

import itertools
import math
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..params import SIMULATION_OPTIONS
from ..problem import Problem
from .run import _check_seeds, _fit_and_measure, _Sets
from .sampling import sample_dataset, sample_test, sample_validation

__all__ = ["validation_tuned", "validation_summary"]


def _candidates(grid: Mapping[str, Sequence[float]]) -> list[dict]:
    names = list(grid)
    return [dict(zip(names, vals)) for vals in itertools.product(*(list(grid[n]) for n in names))]


def _seed(problem: Problem, grids: dict, alpha_val: float, n_features: int, seed: int, tol: float) -> dict:
    data = problem.data
    ds0 = sample_dataset(data, n_features, seed)
    X_test, y_test = sample_test(data, ds0.v, 0, seed)  # no test set: gen_error is exact
    val = sample_validation(data, ds0.v, alpha_val, seed)
    datasets = _Sets(problem, data, ds0, seed)
    stages, W, fitted = list(problem.stages), [], []
    row: dict = {"seed": int(seed)}
    for k, spec in enumerate(stages):
        best = None
        for cand in _candidates(grids.get(k, {})) or [{}]:
            sp = spec.replace(**cand) if cand else spec
            p = Problem(data, tuple(stages[:k]) + (sp,))
            fs, w, obs = _fit_and_measure(p, k, sp, datasets, W, fitted, data, n_features, seed, X_test, y_test, tol)
            b = fs.bias
            u = val.X @ w / math.sqrt(n_features) + (0.0 if not np.isfinite(b) else b)
            if not np.isfinite(b):
                u = np.full(val.y.shape, b)
            err = float(np.mean(np.where(u > 0, 1.0, -1.0) != val.y))
            if best is None or err < best[0]:
                best = (err, cand, sp, fs, w, obs)
        err, cand, sp, fs, w, obs = best
        stages[k] = sp
        W.append(w)
        fitted.append(fs)
        row[f"stage{k}_gen_error"] = obs["gen_error"]
        row[f"stage{k}_val_error"] = err
        row.update({f"stage{k}_{n}": float(v) for n, v in cand.items()})
    return row


def validation_tuned(problem: Problem, grids: Mapping[int, Mapping[str, Sequence[float]]], *, alpha_val: float = 1.0,
                     n_features: Optional[int] = None, seeds=None, tol: Optional[float] = None,
                     n_jobs: Optional[int] = None) -> pd.DataFrame:
    """Per seed, the chain with the parameters of ``grids`` (``{k: {name: values}}``, every
    combination of a stage's values is a candidate) chosen stage after stage on a validation set
    of ``alpha_val N`` samples. One row per seed: ``stage<k>_gen_error`` (the chosen model's exact
    error), ``stage<k>_val_error`` (its validation error) and ``stage<k>_<name>`` (the choice)."""
    if not isinstance(problem, Problem):
        raise TypeError(f"validation_tuned needs a Problem, got {type(problem).__name__}")
    if not (isinstance(alpha_val, (int, float)) and math.isfinite(alpha_val) and alpha_val > 0):
        raise ValueError(f"alpha_val must be a positive number, got {alpha_val!r}")
    n = len(problem.stages)
    grids = {int(k): dict(g) for k, g in dict(grids).items()}
    for k, g in grids.items():
        if not 0 <= k < n:
            raise ValueError(f"validation_tuned: stage index must be in 0..{n - 1}, got {k}")
        for name, vals in g.items():
            if name not in type(problem.stages[k]).PARAMS:
                raise ValueError(f"stage {k} ({problem.stages[k].kind}) has no parameter {name} to tune")
            if len(list(vals)) == 0:
                raise ValueError(f"validation_tuned: the grid of stage {k} {name} is empty")
    decl = SIMULATION_OPTIONS
    n_features = decl["n_features"].check(decl["n_features"].default if n_features is None else n_features)
    seeds = _check_seeds(decl["seeds"].default if seeds is None else seeds)
    tol = decl["tol"].check(decl["tol"].default if tol is None else tol)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        if n_jobs == 1 or len(seeds) == 1:
            rows = [_seed(problem, grids, float(alpha_val), n_features, s, tol) for s in seeds]
        else:
            from joblib import Parallel, delayed

            rows = Parallel(n_jobs=-1 if n_jobs is None else n_jobs, prefer="threads")(
                delayed(_seed)(problem, grids, float(alpha_val), n_features, s, tol) for s in seeds)
    return pd.DataFrame(rows).sort_values("seed").reset_index(drop=True)


def validation_summary(per_seed: pd.DataFrame, k: int) -> dict:
    """Mean and standard error over seeds of stage ``k``'s exact error, and the median choices."""
    col = per_seed[f"stage{k}_gen_error"]
    n = len(col)
    out = {"gen_error": float(col.mean()),
           "gen_error_stderr": float(col.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan, "n_seeds": n}
    for c in per_seed.columns:
        if c.startswith(f"stage{k}_") and c not in (f"stage{k}_gen_error", f"stage{k}_val_error"):
            out[c[len(f"stage{k}_"):]] = float(per_seed[c].median())
    return out
