"""Theory against simulation, one matcher for every pipeline.

:func:`match` puts each simulated row of a tidy table next to the theory row with the same key
columns: ``diff = simulation - theory``, ``z = diff / stderr`` and ``ok``: within
:data:`SIM_TOL_SE` standard errors plus :data:`SIM_TOL_REL` of the theory value.
:func:`ranks_agree` checks that the simulation orders series as the theory does (ties excluded).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

__all__ = ["SIM_TOL_SE", "SIM_TOL_REL", "TIE_TOL", "within_tolerance", "match", "compare_tables", "ranks_agree"]

#: A simulated mean agrees with the theory when ``|sim - theory| <= SIM_TOL_SE * stderr +
#: SIM_TOL_REL * |theory|``.
SIM_TOL_SE = 3.0
SIM_TOL_REL = 0.01
#: Theory values of two series closer than this are a tie: their order is not a ranking to check.
TIE_TOL = 1e-6

Observable = Union[str, tuple]  # a column, or (column, where(row) -> bool)


def within_tolerance(diff, stderr, theory) -> bool:
    """``|diff| <= 3 stderr + 1% |theory|`` (:data:`SIM_TOL_SE`, :data:`SIM_TOL_REL`)."""
    se = 0.0 if stderr is None or not np.isfinite(stderr) else float(stderr)
    return bool(abs(diff) <= SIM_TOL_SE * se + SIM_TOL_REL * abs(theory))


def _same(col: pd.Series, v) -> pd.Series:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return col.isna()
    if isinstance(v, (bool, np.bool_)):
        return col.fillna(False).astype(bool) == bool(v)
    if isinstance(v, (int, float, np.number)):
        return pd.Series(np.isclose(pd.to_numeric(col, errors="coerce"), float(v), rtol=1e-9, atol=1e-12),
                         index=col.index)
    return col == v


def match(t: pd.DataFrame, keys: Sequence[str], observables: Sequence[Observable] = ("gen_error",), *,
          converged: str = "converged", table: Optional[str] = None) -> pd.DataFrame:
    """Each simulated row (``kind == "simulate"``) of ``t`` next to the first converged theory row
    with the same ``keys`` (numbers equal to 1e-9 relative, NaN matching NaN). ``observables``:
    column names, or ``(column, where)`` pairs where ``where(simulated_row)`` says whether to compare
    that column there. One output row per (simulated row, observable): the keys, ``observable``,
    ``theory``, ``simulation``, ``stderr`` (column ``<observable>_stderr``), ``diff``, ``z`` (a
    degenerate point with a zero s.e. is floored at the solvers' 1e-9), ``ok`` and the size."""
    if t is None or t.empty or "kind" not in t:
        return pd.DataFrame()
    th, sim = t[t["kind"] == "theory"], t[t["kind"] == "simulate"]
    if converged in th:
        th = th[th[converged].fillna(False).astype(bool)]
    out = []
    for _, r in sim.iterrows():
        m = th
        for c in keys:
            m = m[_same(m[c], r[c])]
        if m.empty:
            continue
        m = m.iloc[0]
        for obs in observables:
            col, where = (obs, None) if isinstance(obs, str) else obs
            if where is not None and not where(r):
                continue
            if col not in r or pd.isna(r[col]) or col not in m or pd.isna(m[col]):
                continue
            se = r.get(f"{col}_stderr")
            diff = float(r[col] - m[col])
            ok_se = se is not None and np.isfinite(se)
            row = {} if table is None else {"table": table}
            row.update({"series": r.get("series"), **{c: r[c] for c in keys if c != "series"},
                        "observable": col, "theory": float(m[col]), "simulation": float(r[col]),
                        "stderr": float(se) if ok_se else math.nan, "diff": diff,
                        "z": diff / max(float(se), 1e-9) if ok_se else math.nan,
                        "ok": within_tolerance(diff, se, m[col]),
                        "n_features": r.get("n_features"), "n_seeds": r.get("n_seeds")})
            out.append(row)
    return pd.DataFrame(out)


def compare_tables(tables: Mapping[str, pd.DataFrame], keys: Mapping[str, Sequence[str]],
                   observables: Sequence[Observable] = ("gen_error",), converged: str = "converged") -> pd.DataFrame:
    """:func:`match` on each table ``name`` of ``keys`` (its key columns), one frame with a
    ``table`` column."""
    parts = [match(tables.get(n), cols, observables, converged=converged, table=n) for n, cols in keys.items()]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def ranks_agree(theory, simulation, tol: float = TIE_TOL) -> Optional[bool]:
    """Does the simulation order the series as the theory does? Only pairs whose theory values
    differ by more than ``tol`` are compared (a tie is not a ranking); ``None``: no such pair."""
    th, sm = np.asarray(theory, float), np.asarray(simulation, float)
    checked = False
    for i in range(len(th)):
        for j in range(i + 1, len(th)):
            if abs(th[i] - th[j]) <= tol:
                continue
            checked = True
            if np.sign(sm[i] - sm[j]) != np.sign(th[i] - th[j]):
                return False
    return True if checked else None


#: A where-predicate of :func:`match` (kept for callers that build observables lists).
Where = Callable[[pd.Series], bool]
