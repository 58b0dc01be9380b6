"""What every figure of the talk is made of: the :class:`Figure` record, how its sweeps run
(:class:`RunContext`), and its tidy table's *typed series columns*.

A figure's table has one row per (series, backend, alpha). A series is identified by typed
columns, constant within the series (``NaN`` / ``None`` where a column does not apply):

``series_teacher``             ``"logistic"`` or ``"bayes-optimal"``
``series_teacher_lam``         the logistic teacher's fixed ridge lam_t (``NaN``: optimized or n/a)
``series_optimal_teacher_lam`` the teacher's ridge is optimized at each alpha
``series_chi``                 the student's KD mixing chi (``NaN``: no student)
``series_temperature``         the student's KD temperature T (``NaN``: no student)
``series_lam``                 the student's fixed ridge lam (``NaN``: optimized or n/a)
``series_optimal_lam``         the student's ridge is optimized at each alpha

plus ``series`` (a human-readable label, for legends and tables only: code never parses or
matches it) and ``kind`` (``"theory"`` line or ``"simulate"`` markers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from ..runs.context import RunContext

__all__ = ["Figure", "FigureOutput", "RunContext", "SERIES_COLUMNS", "tag", "concat", "select", "curve",
           "series_of", "key", "alphas", "with_union", "sim_settings", "bayes_error"]

#: The typed columns that identify a series, with their "does not apply" value.
SERIES_COLUMNS = {"series_teacher": None, "series_teacher_lam": math.nan, "series_optimal_teacher_lam": False,
                  "series_chi": math.nan, "series_temperature": math.nan, "series_lam": math.nan,
                  "series_optimal_lam": False}


@dataclass(frozen=True)
class Figure:
    """One figure of the talk and its claim, all defined in one module of :mod:`kdlab.talk`.

    ``params``: default parameters; ``quick``: overrides for ``--quick``; ``compute(params,
    ctx)`` -> tidy table (typed series columns, see the module doc); ``plot(table, params)`` ->
    matplotlib Figure; ``claim(table, params)`` -> :class:`kdlab.talk._claims.Claim` (title,
    findings with verdicts); ``observables``: the columns compared between theory and
    simulation, as ``(column, needs_teacher)`` (``needs_teacher``: compare it only in series
    where the student learns from the teacher, chi > 0, or where there is no student);
    ``main``: the observable whose worst point the report names.
    """

    name: str
    params: dict
    quick: dict
    compute: Callable[[dict, "RunContext"], pd.DataFrame]
    plot: Callable[[pd.DataFrame, dict], Any]
    claim: Callable[[pd.DataFrame, dict], Any]
    observables: tuple = (("stage1_gen_error", False),)
    main: str = "stage1_gen_error"


# ----------------------------------------------------------------------------- series


def tag(df: pd.DataFrame, label: str, kind: str, **series) -> pd.DataFrame:
    """``df`` with its series label, kind and typed series columns (the rest: not applicable)."""
    unknown = {f"series_{k}" for k in series} - set(SERIES_COLUMNS)
    if unknown:
        raise ValueError(f"unknown series column(s) {sorted(unknown)}")
    df = df.copy()
    df.insert(0, "series", label)
    df.insert(1, "kind", kind)  # "theory" line or "simulate" markers
    for i, (col, na) in enumerate(SERIES_COLUMNS.items()):
        v = series.get(col[len("series_"):], na)
        df.insert(2 + i, col, pd.Series([v] * len(df), index=df.index,
                                        dtype=object if col == "series_teacher" else None))
    return df


def concat(parts) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    return pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame()


def _match(col: pd.Series, value) -> pd.Series:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return col.isna()
    if isinstance(value, bool):
        return col.fillna(False).astype(bool) == value
    return col == value


def select(t: pd.DataFrame, kind: Optional[str] = None, **series) -> pd.DataFrame:
    """The rows of ``t`` of ``kind`` whose typed series columns equal ``series``
    (``select(t, "theory", chi=0.0, optimal_lam=True)``; ``nan`` / ``None`` select "not applicable")."""
    m = pd.Series(True, index=t.index)
    if kind is not None:
        m &= t["kind"] == kind
    for k, v in series.items():
        col = f"series_{k}"
        if col not in SERIES_COLUMNS:
            raise ValueError(f"unknown series column {col!r}")
        m &= _match(t[col], v)
    return t[m]


def curve(t: pd.DataFrame, col: str, kind: str = "theory", **series) -> pd.Series:
    """One series' ``col`` against alpha (theory: converged points only), sorted by alpha."""
    d = select(t, kind, **series)
    if kind == "theory" and "status_converged" in d:
        d = d[d["status_converged"].astype(bool)]
    return d.groupby("alpha")[col].first().sort_index()


def series_of(t: pd.DataFrame, kind: str = "theory", **series) -> list[dict]:
    """The distinct series of ``t`` (matching ``series``), in table order, as keyword dicts for
    :func:`select` / :func:`curve`, each with its display ``label``."""
    d = select(t, kind, **series)
    cols = list(SERIES_COLUMNS)
    out, seen = [], set()
    for row in d[cols + ["series"]].itertuples(index=False):
        key = tuple("nan" if (isinstance(v, float) and math.isnan(v)) else v for v in row[:-1])
        if key in seen:
            continue
        seen.add(key)
        out.append({**{c[len("series_"):]: _clean(v) for c, v in zip(cols, row[:-1])}, "label": row[-1]})
    return out


def _clean(v):
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v


def key(s: dict) -> dict:
    """A :func:`series_of` entry without its label (keyword arguments for :func:`select`)."""
    return {k: v for k, v in s.items() if k != "label"}


# ----------------------------------------------------------------------------- grids


def alphas(lo, hi, n):
    return [float(round(a, 6)) for a in np.geomspace(lo, hi, int(n))]


def with_union(values, extra):
    return sorted(set(values) | set(extra))


def sim_settings(p):
    """A figure's simulation settings. No test set (``n_test = 0``): the figures plot the exact
    ``gen_error`` of each fitted model (``docs/model.md``), which a test set would only
    estimate; drawing one as large as the training set was half of the draws."""
    return {"n_features": p["n_features"], "seeds": p["seeds"], "n_test": 0}


def bayes_error(alpha, delta, rho, eta=1.0):
    """Bayes-optimal error of the model (``eta = 1``) or of a sparse student (docs/theory.md)."""
    from .. import theory
    from ..problem import GaussianMixture

    return float(theory.bayes_optimal_error(GaussianMixture(alpha, delta, rho), eta))


@dataclass
class FigureOutput:
    """What :func:`kdlab.talk.make_figure` wrote and computed."""

    name: str
    files: list = field(default_factory=list)
    table: Optional[pd.DataFrame] = None
    params: dict = field(default_factory=dict)
