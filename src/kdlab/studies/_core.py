"""What every study is made of: the :class:`Study` record and the conventions of its tidy
tables (its computations run in a :class:`kdlab.runs.context.RunContext`: cached sweeps and
cached calls; its report is built by :mod:`kdlab.reporting`).

A study's tables have one row per (series, kind, coordinates): ``series`` (a display label,
never parsed), ``kind`` (``"theory"`` line or ``"simulate"`` markers), the study's coordinate
columns (e.g. ``alpha``, ``label_noise``, ``round``), the values (``gen_error`` and, for
simulations, ``gen_error_stderr``), the tuned parameters and, for optimized theory rows,
``at_bound`` (a tuned parameter ended on the edge of its search interval) and
``bound_params`` (which ones). ``converged`` is False where the solver did not converge (the
values are then NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import pandas as pd

from ..reporting.findings import Claim
from ..runs.context import RunContext
from ..runs.sweep import Sweep

__all__ = ["Study", "StudyOutput", "optimum_row", "edge_rows", "simulate_at"]

@dataclass(frozen=True)
class Study:
    """One study, defined in one module of :mod:`kdlab.studies`.

    ``name`` (the CLI name), ``title``, ``summary`` (one line, for ``kdlab study --list``),
    ``question`` (the question the report answers), ``params`` (default grid) and ``quick``
    (overrides for ``--quick``), ``compute(params, ctx) -> {table name: DataFrame}`` (``ctx``: a
    :class:`~kdlab.runs.context.RunContext`),
    ``figures(tables, params) -> {figure name: matplotlib Figure}``, ``findings(tables,
    params) -> Claim`` (verdicts with the numbers and rule behind each, see
    :mod:`kdlab.reporting.findings`), ``compare``: ``{table name: key columns}`` matching each
    simulated row to its theory row (the theory-vs-simulation check), ``observables``: the
    columns compared, ``method``: how the theory and simulation rows are obtained (the report's
    method sentence; empty: tuned with the theory, simulated at the tuned values).
    """

    name: str
    title: str
    summary: str
    question: str
    params: dict
    quick: dict
    compute: Callable[[dict, RunContext], dict]
    figures: Callable[[dict, dict], dict]
    findings: Callable[[dict, dict], Claim]
    compare: Mapping[str, Sequence[str]] = field(default_factory=dict)
    observables: tuple = ("gen_error",)
    method: str = ""

    def evaluate(self, tables: Mapping[str, pd.DataFrame], params: dict) -> Claim:
        """The findings computed from ``tables``; a table of :attr:`compare` that is missing or
        empty makes every finding 'not computed' (naming the table), never a traceback."""
        missing = [t for t in self.compare if tables.get(t) is None or tables[t].empty]
        if missing:
            from ..reporting.findings import MISSING

            c = Claim(self.title, self.question, self.name)
            c.add("tables", MISSING, f"not computed: the table(s) {', '.join(missing)} are missing or empty")
            return c
        return self.findings(tables, params)


@dataclass
class StudyOutput:
    """What :func:`kdlab.studies.study` wrote and computed: the folder, the files, the tables, the
    parameters, the findings (:class:`~kdlab.reporting.findings.Claim`), the report's path, the time."""

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
                coords = ", ".join(f"{c} = {r[c]:g}" for c in ("rho", "alpha", "label_noise", "teacher_eta", "round")
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


def simulate_at(ctx: RunContext, points: Sequence[Mapping[str, Any]], base: Mapping[str, Any], *,
                n_features: int, seeds, label: str = "") -> list:
    """Simulate the sweep ``points`` (fields of :mod:`kdlab.runs.grid`, completed by ``base``)
    and return one record (a dict: the sweep's row) per point, in the order given (points that
    normalize to the same problem share one simulation)."""
    import json

    from ..runs.grid import normalize_point

    if not points:
        return []
    sweep = Sweep(points=list(points), base=base, backend="simulate", n_features=n_features, seeds=seeds,
                  n_test=0)  # no test set: the studies use the exact gen_error
    key_of = {json.dumps(t.point, sort_keys=True, default=str): t.key for t in sweep.tasks}
    table = ctx.run(sweep, label)
    by_key = {r["key"]: r for r in table.to_dict("records")}
    return [by_key.get(key_of[json.dumps(normalize_point(pt, base), sort_keys=True, default=str)])
            for pt in points]
