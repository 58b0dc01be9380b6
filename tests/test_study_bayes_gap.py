"""The ``bayes-gap`` study: its verdict logic on hand-made tables (each verdict flips when the
numbers do), one theory task, the figure, and the quick run (files, report, resume)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kdlab.reporting.findings import CONTRADICTED, PARTLY, SUPPORTED
from kdlab.studies import bayes_gap as bg
from kdlab.studies import study_params

ALPHAS = (1.0, 4.0)
T_MAX = 100.0


def _table(**change) -> pd.DataFrame:
    """A hand-made `errors` table (theory rows only): labels 0.26 / 0.23, floor 0.25 / 0.22 (gap 0.01),
    shared KD closes 30% (soft, large T) and 10% (hard), fresh KD 110% / 60%; ``change``:
    ``{(variant, data, alpha): {column: value}}`` given as keyword ``rows``."""
    lab = {1.0: 0.26, 4.0: 0.23}
    floor = {1.0: 0.25, 4.0: 0.22}
    floor2 = {1.0: 0.24, 4.0: 0.215}
    closed = {("soft", "shared"): 0.30, ("hard", "shared"): 0.10, ("large-T", "shared"): 0.30,
              ("soft", "fresh"): 1.10, ("hard", "fresh"): 0.60, ("large-T", "fresh"): 1.10}
    temp = {"soft": 5.0, "hard": 0.0, "large-T": T_MAX}
    rows = []
    for a in ALPHAS:
        rows.append(dict(kind="theory", alpha=a, variant="labels", data="shared", series=bg.LABELS,
                         gen_error=lab[a], lam=0.2, chi=0.0, temperature=1.0, converged=True, at_bound=False,
                         bound_params="", check_gen_error=lab[a], check_lam=0.2))
        for d in ("shared", "fresh"):
            rows.append(dict(kind="theory", alpha=a, variant="floor", data=d, series=bg.FLOORS[d],
                             gen_error=floor[a] if d == "shared" else floor2[a], converged=True, at_bound=False,
                             bound_params=""))
        for (v, d), f in closed.items():
            rows.append(dict(kind="theory", alpha=a, variant=v, data=d, series=bg.kd_series(v, d, T_MAX),
                             gen_error=lab[a] - f * (lab[a] - floor[a]), lam=0.1, chi=0.5, temperature=temp[v],
                             converged=True, at_bound=False, bound_params=""))
    t = pd.DataFrame(rows)
    for (v, d, a), vals in change.get("rows", {}).items():
        m = (t["variant"] == v) & (t["data"] == d) & np.isclose(t["alpha"], a)
        assert m.sum() == 1
        for k, x in vals.items():
            t.loc[m, k] = x
    t["floor"] = t["alpha"].map(floor)
    t["floor_2alpha"] = t["alpha"].map(floor2)
    return t


def _verdicts(t) -> dict:
    c = bg.findings({"errors": t}, study_params("bayes-gap", quick=True))
    return {f.name: f.verdict for f in c.findings}, c


def _find(v: dict, word: str) -> str:
    (k,) = [k for k in v if word in k]
    return v[k]


def test_verdicts_on_hand_made_table():
    v, c = _verdicts(_table())
    assert len(v) == 6
    assert all(x == SUPPORTED for x in v.values()), v
    assert c.verdict == SUPPORTED
    assert "30% (soft) at alpha = 1" in c.findings[0].text
    assert "110% vs 30% at alpha = 1" in c.findings[1].text
    assert "| 1 | 0.2600 | 0.2500 |" in c.table


def test_only_part_of_the_gap_flips():
    # shared KD closes 95% at alpha = 4 only: partly; at both alphas: contradicted
    ch = {("soft", "shared", 4.0): {"gen_error": 0.23 - 0.95 * 0.01}}
    assert _find(_verdicts(_table(rows=ch))[0], "only part") == PARTLY
    ch[("soft", "shared", 1.0)] = {"gen_error": 0.26 - 0.95 * 0.01}
    v, c = _verdicts(_table(rows=ch))
    assert _find(v, "only part") == CONTRADICTED
    assert c.verdict == PARTLY


def test_shared_set_holds_back_flips():
    # fresh no better than shared anywhere: contradicted
    ch = {(v, "fresh", a): {"gen_error": (0.26 if a == 1 else 0.23) - 0.3 * 0.01}
          for v in ("soft", "hard", "large-T") for a in ALPHAS}
    assert _find(_verdicts(_table(rows=ch))[0], "holds the student back") == CONTRADICTED
    # fresh only 5 points better at alpha = 1: partly
    ch = {(v, "fresh", 1.0): {"gen_error": 0.26 - 0.35 * 0.01} for v in ("soft", "hard", "large-T")}
    assert _find(_verdicts(_table(rows=ch))[0], "holds the student back") == PARTLY


def test_soft_beats_hard_flips():
    ch = {("hard", d, a): {"gen_error": (0.26 if a == 1 else 0.23) - 0.5 * 0.01} for d in ("shared",)
          for a in ALPHAS}
    assert _find(_verdicts(_table(rows=ch))[0], "soft labels") == PARTLY  # fresh soft still better
    ch.update({("hard", "fresh", a): {"gen_error": (0.26 if a == 1 else 0.23) - 1.5 * 0.01} for a in ALPHAS})
    assert _find(_verdicts(_table(rows=ch))[0], "soft labels") == CONTRADICTED


def test_large_temperature_flips():
    # T = T_max worse than the tuned T by 5% of the gap everywhere: contradicted
    ch = {("large-T", d, a): {"gen_error": (0.26 if a == 1 else 0.23) - (0.25 if d == "shared" else 1.05) * 0.01}
          for d in ("shared", "fresh") for a in ALPHAS}
    assert _find(_verdicts(_table(rows=ch))[0], "temperature") == CONTRADICTED
    # and a tuned T* on the edge is reported
    v, c = _verdicts(_table(rows={("soft", "shared", 1.0): {"temperature": T_MAX, "bound_params": "temperature"}}))
    assert _find(v, "temperature") == SUPPORTED
    assert "at 1 of 4" in [f for f in c.findings if "temperature" in f.name][0].text


def test_consistency_flips():
    # a shared KD error below eps*(alpha): contradicted
    ch = {("soft", "shared", 1.0): {"gen_error": 0.25 - 1e-3}}
    assert _find(_verdicts(_table(rows=ch))[0], "below its floor") == CONTRADICTED
    # a fresh one below eps*(alpha) but above eps*(2 alpha) is allowed; below eps*(2 alpha) is not
    assert _find(_verdicts(_table(rows={("soft", "fresh", 1.0): {"gen_error": 0.2401}}))[0],
                 "below its floor") == SUPPORTED
    assert _find(_verdicts(_table(rows={("soft", "fresh", 1.0): {"gen_error": 0.2399}}))[0],
                 "below its floor") == CONTRADICTED
    # the label-only student changes with its teacher: contradicted
    ch = {("labels", "shared", 4.0): {"check_gen_error": 0.2301}}
    assert _find(_verdicts(_table(rows=ch))[0], "does not depend") == CONTRADICTED


def test_non_converged_rows_are_left_out():
    t = _table(rows={("soft", "shared", 1.0): {"converged": False, "gen_error": math.nan}})
    v, c = _verdicts(t)
    assert all(x in (SUPPORTED, PARTLY) for x in v.values())
    assert "n/a" not in c.findings[0].text


def test_labels_task_ignores_teacher():
    (r,) = bg.variant_task(2.0, "labels", "shared", 0.3, 1.0, 0.5, [1e-4, 1e2], [0.5, 100.0], sweeps=1)
    assert r["variant"] == "labels" and r["chi"] == 0.0 and r["converged"]
    assert abs(r["gen_error"] - r["check_gen_error"]) < 1e-8
    from kdlab import theory
    from kdlab.problem import GaussianMixture

    assert r["gen_error"] > theory.bayes_optimal_error(GaussianMixture(alpha=2.0, delta=1.0, rho=0.3), 0.5)


def test_figure_draws_hand_made_table():
    import matplotlib.pyplot as plt

    t = _table()
    sim = t[(t["variant"] != "floor") & np.isclose(t["alpha"], 1.0)].assign(kind="simulate", gen_error_stderr=0.002)
    figs = bg.figures({"errors": pd.concat([t, sim], ignore_index=True)}, study_params("bayes-gap", quick=True))
    assert list(figs) == ["bayes-gap"]
    ax = figs["bayes-gap"].axes
    assert len(ax) == 3 and all(a.get_title() for a in ax)
    plt.close("all")


@pytest.mark.slow
def test_quick_run_writes_and_resumes(tmp_path):
    from kdlab.studies import study

    out = tmp_path / "bg"
    r = study("bayes-gap", out, quick=True, progress=False)
    for ext in ("png", "pdf"):
        assert (out / f"bayes-gap.{ext}").stat().st_size > 1000
    for ext in ("csv", "parquet"):
        assert (out / "tables" / f"bayes-gap-errors.{ext}").is_file()
        assert (out / "tables" / f"bayes-gap-theory-vs-simulation.{ext}").is_file()
    text = (out / "report.md").read_text()
    assert "## Verdict: " in text and "only part of the gap" in text
    for f in r.claim.findings:
        assert f"*{f.name}* — **{f.verdict}**" in text
    t = r.tables["errors"]
    assert set(t["kind"]) == {"theory", "simulate"}
    for col in ("series", "kind", "alpha", "variant", "data", "gen_error", "gen_error_stderr", "lam", "chi",
                "temperature", "at_bound", "bound_params", "converged", "floor"):
        assert col in t
    th = t[t["kind"] == "theory"]
    assert th["converged"].all()
    assert r.comparison is not None and len(r.comparison) == int((t["kind"] == "simulate").sum())
    tasks = sorted((out / "cache" / "calls").glob("*.json"))
    stamp = {p: p.stat().st_mtime_ns for p in tasks}
    r2 = study("bayes-gap", out, quick=True, progress=False)
    assert sorted((out / "cache" / "calls").glob("*.json")) == tasks
    assert all(p.stat().st_mtime_ns == stamp[p] for p in tasks)
    assert r2.claim.verdict == r.claim.verdict


def test_tuned_and_large_temperature_curves_have_distinct_colours():
    """Issue 21, item 14: the T = T_max line, drawn thin on the tuned-T one, was green on blue
    (they blended); the two colours are now far apart (RGB distance > 0.5)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    figs = bg.figures({"errors": _table()}, study_params("bayes-gap", quick=True))
    ax0 = figs["bayes-gap"].axes[0]
    colours = {ln.get_label(): np.array(to_rgb(ln.get_color())) for ln in ax0.get_lines()}
    tuned = [c for lab, c in colours.items() if lab.startswith("soft KD, optimal (lam, chi, T)")]
    large = [c for lab, c in colours.items() if lab.startswith("soft KD at T =")]
    assert tuned and large
    assert min(np.linalg.norm(a - b) for a in tuned for b in large) > 0.5
    plt.close("all")
