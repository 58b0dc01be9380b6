"""The computed report: each claim of the talk with the numbers that support or contradict it,
and the check of the simulation against the theory.

Everything in the report is computed from the figures' tables; the only fixed text is the
statement of each claim and the rule used to reach a verdict, printed next to it (both in the
figure's module). :func:`evaluate_claims` returns the structured :class:`Claim` objects (tests
and scripts use them), :func:`build_report` the Markdown, :func:`write_report` writes it.

A verdict is reached on the grid of the run. Where that grid lacks series of the default grid
or covers a narrower alpha range (``--quick``), the findings that quantify over the missing
part are marked *undecided* (computed from the two grids, see
:meth:`kdlab.talk._claims.Finding.decide`).
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from ..io import write_text
from . import FIGURES
from ._claims import CONTRADICTED, MISSING, PARTLY, SUPPORTED, TOL, Claim, Finding, fmt, fmt_g, md_table
from ._core import SERIES_COLUMNS

__all__ = ["SUPPORTED", "PARTLY", "CONTRADICTED", "MISSING", "TIE_TOL", "Claim", "Finding",
           "evaluate_claims", "theory_vs_simulation", "ranks_agree", "simulation_summary", "build_report",
           "write_report"]

#: Theory values of two series closer than this are a tie: their order is not a ranking to check.
TIE_TOL = TOL


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


def _teacher_matters(chi) -> bool:
    """The teacher plays a role: no student (teacher alone), or a student that learns from it."""
    return chi is None or (isinstance(chi, float) and math.isnan(chi)) or chi > 0


def theory_vs_simulation(t: pd.DataFrame, observables=(("stage1_gen_error", False),)) -> pd.DataFrame:
    """Each simulated point next to the theory point of the same series (typed series columns)
    and alpha: ``diff = sim - theory`` and ``z = diff / stderr``. ``observables``: ``(column,
    needs_teacher)``; a ``needs_teacher`` column (the teacher's error) is compared only where
    the teacher plays a role (not in a label-only series, chi = 0)."""
    keys = [c for c in SERIES_COLUMNS if c in t]
    sim, th = t[t["kind"] == "simulate"], t[t["kind"] == "theory"]
    if "status_converged" in th:
        th = th[th["status_converged"].astype(bool)]
    th = th.drop_duplicates(keys + ["alpha"])
    out = []
    for _, r in sim.iterrows():
        m = th[np.isclose(th["alpha"], r["alpha"])]
        for k in keys:
            m = m[m[k].isna()] if pd.isna(r[k]) else m[m[k] == r[k]]
        if m.empty:
            continue
        m = m.iloc[0]
        for obs in observables:
            col, needs_teacher = (obs, False) if isinstance(obs, str) else obs
            if needs_teacher and not _teacher_matters(r.get("series_chi")):
                continue
            if col not in r or pd.isna(r[col]) or col not in m or pd.isna(m[col]):
                continue
            se = r.get(f"{col}_stderr")
            out.append({"series": r["series"], **{k: r[k] for k in keys}, "alpha": r["alpha"], "observable": col,
                        "theory": m[col], "simulation": r[col], "stderr": se, "diff": r[col] - m[col],
                        # a degenerate point (e.g. the constant classifier, eps_g = rho on every
                        # seed) has a zero s.e.: floor it at the 1e-9 precision of the solvers
                        "z": (r[col] - m[col]) / max(se, 1e-9) if se is not None and se >= 0 else float("nan"),
                        "n_features": r.get("n_features"), "n_seeds": r.get("n_seeds")})
    return pd.DataFrame(out)


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


def simulation_summary(name: str, t: pd.DataFrame) -> Optional[dict]:
    """The theory-vs-simulation numbers of one figure (None without simulation)."""
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
    worst = cmp_.loc[z.idxmax()] if z.notna().any() else cmp_.iloc[0]  # the point of max |z|
    return {"points": len(cmp_), "within2": int((z < 2).sum()), "within3": int((z < 3).sum()),
            "above": int((cmp_["diff"] > 0).sum()), "mean_diff": float(cmp_["diff"].mean()),
            "ranked": ranked, "n_rank": n_rank, "max_abs_diff": float(cmp_["diff"].abs().max()),
            "max_abs_z": float(z.max()), "worst": worst.to_dict(),
            "n_features": int(cmp_["n_features"].iloc[0]), "n_seeds": int(cmp_["n_seeds"].iloc[0])}


# ----------------------------------------------------------------------------- report


def _params_line(p: dict) -> str:
    items = [f"{k} = {v}" for k, v in p.items() if k != "seeds"]
    if p.get("seeds"):
        items.append(f"seeds = {len(p['seeds'])} ({p['seeds'][0]}..{p['seeds'][-1]})")
    return "; ".join(items)


def _undecided_label(meta) -> str:
    return "undecided in --quick" if meta.get("mode") == "quick" else "undecided on this grid"


def _verdict_cell(c: Claim, meta) -> str:
    s = f"**{c.verdict}**"
    if c.undecided:
        s += f" on this grid ({len(c.undecided)} of {len(c.findings)} sub-verdicts {_undecided_label(meta)})"
    return s


def build_report(tables: Mapping[str, pd.DataFrame], params: Mapping[str, dict], *,
                 meta: Optional[Mapping[str, object]] = None) -> str:
    """The Markdown report (claims, verdicts, numbers, tables, theory-vs-simulation check).
    ``meta``: ``command``, ``mode`` (``"quick"``, ``"default"``...), ``version``, ``elapsed_s``, ``date``,
    ``note`` (a sentence after the first line)."""
    meta = dict(meta or {})
    claims = evaluate_claims(tables, params)
    L = ["# Reproducing the talk: inheriting regularization through knowledge distillation", ""]
    L.append(f"Generated by `{meta.get('command', 'kdlab reproduce')}`"
             + (f" ({meta['mode']} run)" if "mode" in meta else "")
             + f" on {meta.get('date', _dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}"
             + (f", kdlab {meta['version']}" if "version" in meta else "")
             + (f", in {meta['elapsed_s']:.0f} s" if "elapsed_s" in meta else "") + "."
             + (f" {meta['note']}" if meta.get("note") else ""))
    L += ["", "Every number below is computed from the tables in `tables/`; each verdict follows the rule "
          "stated next to it. Theory = the N -> infinity state evolution (`kdlab.theory`), simulation = "
          "finite-N empirical risk minimization (`kdlab.simulate`); the model is described in "
          "`docs/model.md` and the asymptotic theory in `docs/theory.md` of the kdlab repository.", ""]
    absent = [n for n in FIGURES if n not in tables or tables[n] is None or tables[n].empty]
    if absent:
        L += [f"This folder holds {len(FIGURES) - len(absent)} of the {len(FIGURES)} figures; not computed here: "
              + ", ".join(f"`{n}`" for n in absent) + ".", ""]
    if any(c.undecided for c in claims):
        L += [f"**{_undecided_label(meta).capitalize()}.** The grid of this run lacks series or part of the "
              "alpha range of the default grid; a sub-verdict that quantifies over them may differ on the "
              "default grid, so it is marked *" + _undecided_label(meta) + "* with what is missing. "
              "Run `kdlab reproduce` (without --quick) to decide it. Every verdict is reached at the alphas of "
              "this grid, which may sample alpha more coarsely than the default one.", ""]
    L += ["## Summary", "", md_table(["claim", "figure", "verdict"],
                                     [[f"{c.number}. {c.title}", f"`{c.figure}`", _verdict_cell(c, meta)]
                                      for c in claims]), ""]
    for c in claims:
        L += [f"## Claim {c.number}: {c.title}", "", f"> The talk: {c.statement}", "",
              f"![{c.figure}]({c.figure}.png)", "", f"**Verdict: {c.verdict}.**", ""]
        for f in c.findings:
            tail = f" ({_undecided_label(meta)}: {f.undecided})" if f.undecided else ""
            L.append(f"- *{f.name}* — **{f.verdict}**{tail}: {f.text}")
        L.append("")
        if c.table:
            L += [f"Theory values (table `tables/{c.figure}.csv`):", "", c.table, ""]
        if c.figure in params:
            L += [f"Parameters: {_params_line(params[c.figure])}.", ""]
    L += ["## Theory vs simulation", "",
          "Each simulated point (mean over seeds, standard error s.e.) against the theory at the same "
          "parameters; z = (simulation - theory) / s.e. Finite N has an O(1/N) bias (docs/theory.md), so z "
          "grows with the number of seeds; with few seeds the s.e. itself is noisy. All points of a run "
          "share the same seeds (the same cluster centres v), so their deviations are correlated: a "
          "deviation of one sign at most points is a common shift of those draws, not independent "
          "disagreements. The teacher's error is compared only where the teacher plays a role (not in the "
          f"label-only series, chi = 0). Rankings: series whose theory values differ by at most {TIE_TOL:g} "
          "are ties, not a ranking to check; an alpha counts if the simulation orders every other pair as "
          "the theory does. The worst point is the one with the largest |z| (the max abs z column).", ""]
    rows = []
    for name in FIGURES:
        s = simulation_summary(name, tables.get(name))
        if s is None:
            continue
        w = s["worst"]
        rows.append([f"`{name}`", s["points"], f"{s['within2']} / {s['within3']}", f"{s['above']} / {s['points']}",
                     fmt(s["mean_diff"]), f"{s['ranked']} / {s['n_rank']}" if s["n_rank"] else "-",
                     fmt(s["max_abs_diff"]), fmt(s["max_abs_z"], 2),
                     f"{w['series']}, alpha = {fmt_g(w['alpha'])}, {w['observable']}: "
                     f"{fmt(w['simulation'])} +- {fmt(w['stderr'])} vs {fmt(w['theory'])} (z = {fmt(w['z'], 2)})",
                     f"N = {s['n_features']}, {s['n_seeds']} seeds"])
    if rows:
        L += [md_table(["figure", "points", "within 2 / 3 s.e.", "simulation above theory", "mean diff",
                        "alphas where simulation ranks the series as theory does", "max abs diff", "max abs z",
                        "worst point", "size"], rows), ""]
    else:
        L += ["No simulation in this run.", ""]
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
    L += ["## Solver status", "", ("; ".join(bad) + ".") if bad else
          "Every theory point converged, every simulation fit reached its tolerance, and none of the "
          f"{n_opt} optimized ridges sits on the edge of its search interval.", ""]
    return "\n".join(L)


def write_report(path, tables, params, *, meta=None) -> Path:
    """Write :func:`build_report` to ``path`` (atomically)."""
    return write_text(Path(path), build_report(tables, params, meta=meta))
