"""The computed report: each claim of the talk with the numbers that support or contradict it,
and the check of the simulation against the theory.

Everything in the report is computed from the figures' tables; the only fixed text is the
statement of each claim and the rule used to reach a verdict, printed next to it (both in the
figure's module). :func:`evaluate_claims` returns the structured :class:`Claim` objects (tests
and scripts use them), :func:`build_report` the Markdown, :func:`write_report` writes it.

A verdict is reached on the grid of the run. Where that grid lacks series of the default grid
or covers a narrower alpha range (``--quick``), the findings that quantify over the missing
part are marked *undecided* (computed from the two grids, see
:meth:`kdlab.reporting.findings.Finding.decide`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Optional

import pandas as pd

from ..io import write_text
from ..reporting import report as sections
from ..reporting.compare import TIE_TOL, match, ranks_agree
from ..reporting.findings import CONTRADICTED, MISSING, PARTLY, SUPPORTED, Claim, Finding, md_table
from . import FIGURES
from ._core import SERIES_COLUMNS

__all__ = ["SUPPORTED", "PARTLY", "CONTRADICTED", "MISSING", "TIE_TOL", "Claim", "Finding",
           "evaluate_claims", "theory_vs_simulation", "ranks_agree", "simulation_summary", "comparison",
           "build_report", "write_report"]


def evaluate_claims(tables: Mapping[str, pd.DataFrame], params: Mapping[str, dict],
                    defaults: Optional[Mapping[str, dict]] = None) -> list[Claim]:
    """One :class:`Claim` per figure table present, numbered in the talk's order. A finding
    whose grid (``params``) lacks part of the figure's default grid (``defaults``, default: the
    registry's) gets its ``undecided`` reason."""
    out = []
    for number, (name, fig) in enumerate(FIGURES.items(), start=1):
        t = tables.get(name)
        if t is None or t.empty:
            continue
        p = dict(params.get(name, {}))
        c = fig.claim(t, p)
        c.number = number
        ref = fig.params if defaults is None else defaults.get(name)
        for f in c.findings:
            f.decide(p, ref)
        out.append(c)
    return out


# ----------------------------------------------------------------------------- theory vs simulation


def _teacher_matters(row) -> bool:
    """The teacher plays a role: no student (teacher alone), or a student that learns from it."""
    chi = row.get("series_chi")
    return chi is None or (isinstance(chi, float) and math.isnan(chi)) or chi > 0


def theory_vs_simulation(t: pd.DataFrame, observables=(("stage1_gen_error", False),)) -> pd.DataFrame:
    """Each simulated point next to the theory point of the same series (typed series columns)
    and alpha (:func:`kdlab.reporting.compare.match`). ``observables``: ``(column,
    needs_teacher)``; a ``needs_teacher`` column (the teacher's error) is compared only where the
    teacher plays a role (not in a label-only series, chi = 0)."""
    if t is None or t.empty:
        return pd.DataFrame()
    keys = [c for c in SERIES_COLUMNS if c in t] + ["alpha"]
    obs = [(o, None) if isinstance(o, str) else (o[0], _teacher_matters if o[1] else None) for o in observables]
    return match(t, keys, obs, converged="status_converged")


def simulation_summary(name: str, t: pd.DataFrame) -> Optional[dict]:
    """The theory-vs-simulation numbers of one figure (None without simulation): the worst point
    is the one with the largest |z| (the ``max_abs_z`` column)."""
    fig = FIGURES[name]
    if t is None or t.empty or not (t["kind"] == "simulate").any():
        return None
    cmp_ = theory_vs_simulation(t, fig.observables)
    if cmp_.empty:
        return None
    z = cmp_["z"].abs()
    ranked, n_rank = 0, 0
    for _, g in cmp_.groupby(["alpha", "observable"]):
        g = g.drop_duplicates("series")
        ok = ranks_agree(g["theory"], g["simulation"]) if len(g) >= 2 else None
        if ok is not None:
            n_rank += 1
            ranked += int(ok)
    worst = cmp_.loc[z.idxmax()] if z.notna().any() else cmp_.iloc[0]
    return {"points": len(cmp_), "within2": int((z < 2).sum()), "within3": int((z < 3).sum()),
            "ok": int(cmp_["ok"].sum()), "above": int((cmp_["diff"] > 0).sum()),
            "mean_diff": float(cmp_["diff"].mean()), "ranked": ranked, "n_rank": n_rank,
            "max_abs_diff": float(cmp_["diff"].abs().max()), "max_abs_z": float(z.max()), "worst": worst.to_dict(),
            "n_features": int(cmp_["n_features"].iloc[0]), "n_seeds": int(cmp_["n_seeds"].iloc[0])}


def comparison(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every figure's matched simulated points, one frame with a ``figure`` column."""
    parts = []
    for name in FIGURES:
        t = tables.get(name)
        if t is not None and not t.empty and (t["kind"] == "simulate").any():
            c = theory_vs_simulation(t, FIGURES[name].observables)
            if not c.empty:
                parts.append(c.assign(figure=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# ----------------------------------------------------------------------------- report


def build_report(tables: Mapping[str, pd.DataFrame], params: Mapping[str, dict], *,
                 meta: Optional[Mapping[str, object]] = None) -> str:
    """The Markdown report (claims, verdicts, numbers, tables, theory-vs-simulation check).
    ``meta``: ``command``, ``mode`` (``"quick"``, ``"default"``...), ``version``, ``elapsed_s``, ``date``,
    ``note`` (a sentence after the first line)."""
    meta = dict(meta or {})
    claims = evaluate_claims(tables, params)
    L = sections.header("Reproducing the talk: inheriting regularization through knowledge distillation", meta,
                        "kdlab reproduce")
    L += ["Every number below is computed from the tables in `tables/`; each verdict follows the rule "
          "stated next to it. Theory = the N -> infinity state evolution (`kdlab.theory`), simulation = "
          "finite-N empirical risk minimization (`kdlab.simulate`). " + sections.MODEL_SENTENCE, ""]
    absent = [n for n in FIGURES if n not in tables or tables[n] is None or tables[n].empty]
    if absent:
        L += [f"This folder holds {len(FIGURES) - len(absent)} of the {len(FIGURES)} figures; not computed here: "
              + ", ".join(f"`{n}`" for n in absent) + ".", ""]
    L += sections.undecided_note(claims, meta, "kdlab reproduce")
    L += ["## Summary", "", md_table(["claim", "figure", "verdict"],
                                     [[f"{c.number}. {c.title}", f"`{c.figure}`", f"**{sections.headline(c, meta)}**"]
                                      for c in claims]), ""]
    for c in claims:
        L += [f"## Claim {c.number}: {c.title}", "", f"> The talk: {c.statement}", "",
              f"![{c.figure}]({c.figure}.png)", "", f"**Verdict: {sections.headline(c, meta)}.**", ""]
        L += sections.findings_lines(c, meta)
        if c.table:
            L += [f"Theory values (table `tables/{c.figure}.csv`):", "", c.table, ""]
        if c.figure in params:
            L += [f"Parameters: {sections.params_line(params[c.figure])}.", ""]
    L += sections.simulation_section(
        comparison(tables), "figure",
        intro=("The teacher's error is compared only where the teacher plays a role (not in the label-only series, "
               "chi = 0). A coordinate counts as ranked when the simulation orders every pair of series the theory "
               f"separates by more than {TIE_TOL:g} as the theory does."))
    bad = []
    for name, t in tables.items():
        if t is not None and "status_converged" in t:
            nb = int((~t["status_converged"].astype(bool)).sum())
            if nb:
                bad.append(f"`{name}`: {nb} of {len(t)} rows did not converge (kept in the table, excluded "
                           f"from the numbers above)")
    for name, t in tables.items():
        if t is not None and "optimize_at_bound" in t:
            nb = int(t["optimize_at_bound"].fillna(False).astype(bool).sum())
            if nb:
                bad.append(f"`{name}`: {nb} optimized ridge(s) on the edge of the search interval (the true "
                           f"optimum may lie beyond)")
    n_opt = sum(int((t["optimize"].fillna("none") != "none").sum()) for t in tables.values()
                if t is not None and "optimize" in t)
    L += sections.solver_lines(bad, "Every theory point converged, every simulation fit reached its tolerance, and "
                               f"none of the {n_opt} optimized ridges sits on the edge of its search interval.")
    return "\n".join(L)


def write_report(path, tables, params, *, meta=None) -> Path:
    """Write :func:`build_report` to ``path`` (atomically)."""
    return write_text(Path(path), build_report(tables, params, meta=meta))
