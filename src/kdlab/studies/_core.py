"""What every study is made of: the :class:`Study` record, how its computations run
(:class:`StudyContext`: cached sweeps and cached tasks), the theory-vs-simulation check and
the conventions of its tidy tables.

A study's tables have one row per (series, kind, coordinates): ``series`` (a display label,
never parsed), ``kind`` (``"theory"`` line or ``"simulate"`` markers), the study's coordinate
columns (e.g. ``alpha``, ``label_noise``, ``round``), the values (``gen_error`` and, for
simulations, ``gen_error_stderr``), the tuned parameters and, for optimized theory rows,
``at_bound`` (a tuned parameter ended on the edge of its search interval) and
``bound_params`` (which ones). ``converged`` is False where the solver did not converge (the
values are then NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..runs.sweep import Sweep
from ..talk._claims import Claim
from ..talk._core import RunContext

__all__ = ["Study", "StudyContext", "StudyOutput", "compare", "SIM_TOL_SE", "SIM_TOL_REL", "within_tolerance",
           "optimum_row", "edge_rows", "simulate_at"]

#: Theory vs simulation: a simulated mean agrees with the theory when
#: ``|sim - theory| <= SIM_TOL_SE * stderr + SIM_TOL_REL * |theory|``.
SIM_TOL_SE = 3.0
SIM_TOL_REL = 0.01


@dataclass(frozen=True)
class Study:
    """One study, defined in one module of :mod:`kdlab.studies`.

    ``name`` (the CLI name), ``title``, ``summary`` (one line, for ``kdlab study --list``),
    ``question`` (the question the report answers), ``params`` (default grid) and ``quick``
    (overrides for ``--quick``), ``compute(params, ctx) -> {table name: DataFrame}``,
    ``figures(tables, params) -> {figure name: matplotlib Figure}``, ``findings(tables,
    params) -> Claim`` (verdicts with the numbers and rule behind each, see
    :mod:`kdlab.talk._claims`), ``compare``: ``{table name: key columns}`` matching each
    simulated row to its theory row (the theory-vs-simulation check), ``observables``: the
    columns compared.
    """

    name: str
    title: str
    summary: str
    question: str
    params: dict
    quick: dict
    compute: Callable[[dict, "StudyContext"], dict]
    figures: Callable[[dict, dict], dict]
    findings: Callable[[dict, dict], Claim]
    compare: Mapping[str, Sequence[str]] = field(default_factory=dict)
    observables: tuple = ("gen_error",)


@dataclass
class StudyContext(RunContext):
    """How a study runs its computations: :class:`kdlab.talk.RunContext` (cache ``store``,
    ``n_jobs``, Dask ``scheduler``, progress; ``run(sweep, label)`` for cached sweeps) plus
    :meth:`map` for cached theory tasks."""

    def map(self, fn: Callable, items: Sequence[Mapping[str, Any]], label: str = "") -> pd.DataFrame:
        """``fn(**args)`` for every ``args`` of ``items`` (each returns a list of row dicts), cached
        task by task (:func:`kdlab.studies._tasks.run_tasks`); all rows as one table."""
        from ._tasks import run_tasks

        rows = run_tasks(fn, items, self.store, n_jobs=self.n_jobs, scheduler=self.scheduler,
                         progress=self.progress, label=label)
        return pd.DataFrame([r for rs in rows for r in rs])


@dataclass
class StudyOutput:
    """What :func:`kdlab.study` wrote and computed: the folder, the files, the tables, the
    parameters, the findings (:class:`~kdlab.talk._claims.Claim`), the report's path, the time."""

    name: str
    out: Path
    files: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    claim: Optional[Claim] = None
    report: Optional[Path] = None
    elapsed_s: float = 0.0
    mode: str = "default"
    comparison: Optional[pd.DataFrame] = None


# ----------------------------------------------------------------------------- optima


def optimum_row(opt, stage: int = -1) -> dict:
    """The columns of an optimized theory row from an :class:`~kdlab.runs.tuning.Optimum`:
    ``gen_error`` of the tuned stage, the tuned values, ``at_bound``, ``bound_params``, ``converged``,
    ``n_evals``."""
    res = opt.result
    obs = res.stages[stage]
    return {"gen_error": float(obs.gen_error), **{k: float(v) for k, v in opt.params.items()},
            "at_bound": bool(opt.at_bound), "bound_params": ",".join(opt.bound_params),
            "converged": bool(getattr(res.status, "converged", True)), "n_evals": int(opt.n_evals)}


def _natural(param: str, row) -> bool:
    """Is ``param`` of this optimized row on a limit of the model's range rather than of the search
    (chi = 0; chi = 1 where chi > 1 is not allowed, T != 1): then the edge is the answer."""
    if param != "chi":
        return False
    chi, T = row.get("chi"), row.get("temperature")
    if chi is None or pd.isna(chi):
        return False
    return chi <= 0.02 or (chi >= 0.98 and chi <= 1.0 + 1e-9 and not (T is not None and abs(T - 1.0) < 1e-12))


def edge_rows(tables: Mapping[str, pd.DataFrame]) -> tuple[list[str], list[str]]:
    """Optimized theory rows with a tuned parameter on the edge of its interval, grouped by table,
    series and parameter: ``(search, natural)`` lines. ``search``: the edge of the search interval
    (the optimum may lie beyond it); ``natural``: a limit of the model's range (chi = 0, or chi = 1
    where chi > 1 is not allowed), a genuine optimum."""
    groups: dict = {}
    for name, t in tables.items():
        if t is None or t.empty or "at_bound" not in t:
            continue
        d = t[(t["kind"] == "theory") & t["at_bound"].fillna(False).astype(bool)]
        for _, r in d.iterrows():
            for prm in str(r.get("bound_params") or "").split(","):
                if not prm:
                    continue
                coords = ", ".join(f"{c} = {r[c]:g}" for c in ("alpha", "label_noise", "teacher_eta", "round")
                                   if c in r and isinstance(r[c], (int, float)) and not pd.isna(r[c]))
                val = r.get(prm)
                key = (_natural(prm, r), name, r["series"], prm)
                groups.setdefault(key, []).append(f"{coords}: {prm} = {val:.3g}" if isinstance(val, float)
                                                  else coords)
    out: tuple[list, list] = ([], [])
    for (natural, name, series, prm), where in groups.items():
        shown = "; ".join(where[:4]) + (f"; ... ({len(where) - 4} more)" if len(where) > 4 else "")
        out[1 if natural else 0].append(f"`{name}`: {series}: {prm} on the edge at {len(where)} point(s) ({shown})")
    return out


# ----------------------------------------------------------------------------- theory vs simulation


def within_tolerance(diff, stderr, theory) -> bool:
    """``|diff| <= 3 stderr + 1% |theory|`` (:data:`SIM_TOL_SE`, :data:`SIM_TOL_REL`)."""
    se = 0.0 if stderr is None or not np.isfinite(stderr) else float(stderr)
    return bool(abs(diff) <= SIM_TOL_SE * se + SIM_TOL_REL * abs(theory))


def _same(col: pd.Series, v) -> pd.Series:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return col.isna()
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return pd.Series(np.isclose(pd.to_numeric(col, errors="coerce"), float(v), rtol=1e-9, atol=1e-12),
                         index=col.index)
    return col == v


def compare(tables: Mapping[str, pd.DataFrame], keys: Mapping[str, Sequence[str]],
            observables: Sequence[str] = ("gen_error",)) -> pd.DataFrame:
    """Each simulated row next to the theory row of its table with the same ``keys`` columns:
    ``diff = sim - theory``, ``z = diff / stderr``, ``ok``: within 3 s.e. + 1% of the theory."""
    out = []
    for name, cols in keys.items():
        t = tables.get(name)
        if t is None or t.empty or "kind" not in t:
            continue
        th, sim = t[t["kind"] == "theory"], t[t["kind"] == "simulate"]
        if "converged" in th:
            th = th[th["converged"].fillna(False).astype(bool)]
        for _, r in sim.iterrows():
            m = th
            for c in cols:
                m = m[_same(m[c], r[c])]
            if m.empty:
                continue
            m = m.iloc[0]
            for obs in observables:
                if obs not in r or pd.isna(r[obs]) or pd.isna(m.get(obs)):
                    continue
                se = r.get(f"{obs}_stderr")
                diff = float(r[obs] - m[obs])
                out.append({"table": name, "series": r["series"], **{c: r[c] for c in cols if c != "series"},
                            "observable": obs, "theory": float(m[obs]), "simulation": float(r[obs]),
                            "stderr": se, "diff": diff,
                            "z": diff / max(se, 1e-9) if se is not None and np.isfinite(se) else math.nan,
                            "ok": within_tolerance(diff, se, m[obs]),
                            "n_features": r.get("n_features"), "n_seeds": r.get("n_seeds")})
    return pd.DataFrame(out)


def simulate_at(ctx: StudyContext, points: Sequence[Mapping[str, Any]], base: Mapping[str, Any], *,
                n_features: int, seeds, label: str = "") -> list:
    """Simulate the sweep ``points`` (fields of :mod:`kdlab.runs.grid`, completed by ``base``)
    and return one record (a dict: the sweep's row) per point, in the order given (points that
    normalize to the same problem share one simulation)."""
    import json

    from ..runs.grid import normalize_point

    if not points:
        return []
    sweep = Sweep(points=list(points), base=base, backend="simulate", n_features=n_features, seeds=seeds)
    key_of = {json.dumps(t.point, sort_keys=True, default=str): t.key for t in sweep.tasks}
    table = ctx.run(sweep, label)
    by_key = {r["key"]: r for r in table.to_dict("records")}
    return [by_key.get(key_of[json.dumps(normalize_point(pt, base), sort_keys=True, default=str)])
            for pt in points]
