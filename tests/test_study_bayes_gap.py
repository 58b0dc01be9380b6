"""The ``bayes-gap`` study: its verdict logic on hand-made tables (each verdict flips when the
numbers do), the theory tasks (baselines, the temperature search), the figure, and the quick run
(files, report, rho = 0.5, the pooled series, resume)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kdlab.reporting.findings import CONTRADICTED, SUPPORTED
from kdlab.studies import _baselines as bl
from kdlab.studies import bayes_gap as bg
from kdlab.studies import study_params

T_MAX = 100.0
#: (rho, alpha): labels only, floor, floor at 2 alpha.
POINTS = {(0.3, 1.0): (0.2625, 0.2530, 0.2351), (0.5, 1.0): (0.308538, 0.308538, 0.281851)}


def _row(rho, alpha, variant, data, err, **kw):
    series = (bl.series_label(variant, data == "pooled") if variant in bl.BASELINES else
              bg.FLOORS[data] if variant == "floor" else bg.kd_series(variant, data, T_MAX))
    return dict(kind="theory", rho=rho, alpha=alpha, variant=variant, data=data, series=series, gen_error=err,
                baseline=variant if variant in bl.BASELINES else None, converged=True, at_bound=False,
                bound_params="", lam=0.2, chi=0.4, temperature=kw.pop("temperature", 5.0), **kw)


def _table(change=None, sim=None) -> pd.DataFrame:
    """Theory rows at (0.3, 1) and (0.5, 1): the corrected label-only student closes 30% of the gap,
    shared KD 20% (soft), fresh KD worse than the pooled baseline; ``change``: {(rho, variant, data):
    {col: value}}; ``sim``: {(rho, variant, data): (mean, se)} simulated rows at N = 200."""
    rows = []
    for (r, a), (lab, fl, fl2) in POINTS.items():
        gap = lab - fl
        rows += [_row(r, a, "labels", "shared", lab), _row(r, a, "weighted", "shared", lab - 0.1 * gap),
                 _row(r, a, "bias", "shared", lab - 0.3 * gap), _row(r, a, "smoothing", "shared", lab),
                 _row(r, a, "bayes", "shared", fl), _row(r, a, "floor", "shared", fl),
                 _row(r, a, "floor", "fresh", fl2)]
        rows += [_row(r, a, v, "pooled", fl2 + 0.5 * (lab - fl2) * (1 if v == "labels" else 0.9))
                 for v in bl.ERM]
        rows += [_row(r, a, "soft", "shared", lab - 0.2 * gap), _row(r, a, "hard", "shared", lab - 0.1 * gap,
                                                                    temperature=0.0),
                 _row(r, a, "large-T", "shared", lab - 0.2 * gap, temperature=T_MAX)]
        rows += [_row(r, a, v, "fresh", fl2 + 0.5 * (lab - fl2)) for v in ("soft", "hard", "large-T")]
    t = pd.DataFrame(rows)
    for (r, v, d), vals in (change or {}).items():
        m = np.isclose(t["rho"], r) & (t["variant"] == v) & (t["data"] == d)
        assert m.sum() == 1
        for k, x in vals.items():
            t.loc[m, k] = x
    if sim:
        s = []
        for (r, v, d), (mean, se) in sim.items():
            row = t[np.isclose(t["rho"], r) & (t["variant"] == v) & (t["data"] == d)].iloc[0].to_dict()
            row.update(kind="simulate", gen_error=mean, gen_error_stderr=se, n_features=200, n_seeds=4)
            s.append(row)
        t = pd.concat([t, pd.DataFrame(s)], ignore_index=True)
    fl = {r: v[1] for (r, _), v in POINTS.items()}
    fl2 = {r: v[2] for (r, _), v in POINTS.items()}
    return t.assign(floor=t["rho"].map(fl), floor_2alpha=t["rho"].map(fl2))


def _verdicts(t, fs=None):
    tables = {"errors": t} if fs is None else {"errors": t, "finite-size": fs}
    c = bg.findings(tables, study_params("bayes-gap", quick=True))
    return {f.name: f for f in c.findings}, c


def _find(v: dict, word: str):
    (k,) = [k for k in v if word in k]
    return v[k]


def test_verdicts_on_hand_made_table():
    v, c = _verdicts(_table())
    assert _find(v, "rho = 0.5").verdict == SUPPORTED
    assert "0.308538 vs 0.308538" in _find(v, "rho = 0.5").text
    assert _find(v, "without any teacher").verdict == SUPPORTED
    assert _find(v, "what the gap is made of").verdict == SUPPORTED  # 30% (bias) vs 20% (soft KD)
    assert "30% (bias) vs 20% (soft KD)" in _find(v, "what the gap is made of").text
    assert _find(v, "temperature").verdict == SUPPORTED
    assert _find(v, "below its floor").verdict == SUPPORTED
    # the KD gains: the theory margins are negative, no simulation: not computed
    assert "-0.00" in _find(v, "teacher's training set, KD beats").text
    assert "| 0.3 | 1 | 0.2625 |" in c.table


def test_rho_half_flips_and_is_required():
    v, _ = _verdicts(_table({(0.5, "labels", "shared"): {"gen_error": 0.3090}}))
    assert _find(v, "rho = 0.5").verdict == CONTRADICTED
    t = _table()
    v, _ = _verdicts(t[~np.isclose(t["rho"], 0.5)])
    assert _find(v, "rho = 0.5").verdict == "not computed"


def test_gap_made_of_flips():
    # KD on the shared set closes 50%, the corrected label-only 30%: contradicted
    t = _table({(0.3, "soft", "shared"): {"gen_error": 0.2625 - 0.5 * (0.2625 - 0.2530)}})
    assert _find(_verdicts(t)[0], "what the gap is made of").verdict == CONTRADICTED


def test_kd_gain_needs_three_standard_errors_in_simulation():
    lab, fl = POINTS[(0.3, 1.0)][:2]
    better = {(0.3, "soft", "shared"): {"gen_error": fl + 0.01 * (lab - fl)}}  # KD beats every baseline in theory
    sim = {(0.3, "soft", "shared"): (0.2540, 0.001), (0.3, "bias", "shared"): (0.2600, 0.001),
           (0.3, "labels", "shared"): (0.2630, 0.001)}
    f = _find(_verdicts(_table(better, sim))[0], "teacher's training set, KD beats")
    assert f.verdict == SUPPORTED and "4.2 s.e. (vs bias" in f.text
    sim[(0.3, "bias", "shared")] = (0.2560, 0.001)  # 1.4 s.e.: not a supported gain
    f = _find(_verdicts(_table(better, sim))[0], "teacher's training set, KD beats")
    assert f.verdict == CONTRADICTED and "1.4 s.e." in f.text


def test_temperature_search_must_not_miss():
    t = _table({(0.3, "large-T", "shared"): {"gen_error": 0.2625 - 0.25 * (0.2625 - 0.2530)}})
    assert _find(_verdicts(t)[0], "temperature").verdict == CONTRADICTED


def test_floor_consistency_flips():
    t = _table({(0.3, "soft", "fresh"): {"gen_error": 0.2351 - 1e-3}})
    assert _find(_verdicts(t)[0], "below its floor").verdict == CONTRADICTED
    t = _table({(0.3, "soft", "fresh"): {"gen_error": 0.2401}})  # below eps*(alpha), above eps*(2 alpha)
    assert _find(_verdicts(t)[0], "below its floor").verdict == SUPPORTED


def test_finite_size_finding_reports_the_trend():
    fs = pd.DataFrame([dict(series="x", rho=0.5, alpha=1.0, theory=0.30, sim_N=0.33, stderr_N=0.005, N=1000,
                            sim_4N=0.31, stderr_4N=0.003, N_large=4000, z_N=6.0, z_4N=3.3, trend="closer")])
    sim = {(0.5, "bias", "shared"): (0.33, 0.005)}
    f = _find(_verdicts(_table(sim=sim), fs)[0], "finite size")
    assert f.verdict == SUPPORTED and "N = 4000: 0.3100 +- 0.0030" in f.text
    fs.loc[0, "trend"] = "not closer"
    assert _find(_verdicts(_table(sim=sim), fs)[0], "finite size").verdict == CONTRADICTED


def test_non_converged_rows_are_left_out():
    t = _table({(0.3, "soft", "shared"): {"converged": False, "gen_error": math.nan}})
    v, c = _verdicts(t)
    assert "(hard KD)" in _find(v, "what the gap is made of").text or "(large-T KD)" in \
        _find(v, "what the gap is made of").text


def test_baseline_task_rows_and_bayes_floor():
    from kdlab import theory
    from kdlab.problem import GaussianMixture

    rows = bg.baseline_task(1.0, 0.5, False, 1.0, 0.5, [1e-4, 1e4], sweeps=1)
    by = {r["variant"]: r for r in rows}
    assert set(by) == set(bl.BASELINES)
    fl = theory.bayes_optimal_error(GaussianMixture(alpha=1.0, rho=0.5), 0.5)
    assert abs(by["bayes"]["gen_error"] - fl) < 1e-9
    assert abs(by["labels"]["gen_error"] - fl) < 1e-6  # rho = 0.5: lam -> infinity reaches the floor
    pooled = bg.baseline_task(1.0, 0.5, True, 1.0, 0.5, [1e-4, 1e4], sweeps=1)
    assert {r["variant"] for r in pooled} == set(bl.ERM) and all(r["data"] == "pooled" for r in pooled)
    assert all(r["alpha_data"] == 2.0 and '"alpha": 2.0' in r["sim_point"] for r in pooled)


def test_soft_search_is_never_worse_than_the_large_temperature_end():
    rows = {r["variant"]: r for r in bg.kd_task(2.0, 0.3, "shared", 1.0, 0.5, [1e-4, 1e4], [0.5, 100.0], sweeps=1)}
    assert rows["soft"]["gen_error"] <= rows["large-T"]["gen_error"] + 1e-12
    assert rows["hard"]["temperature"] == 0.0 and rows["large-T"]["temperature"] == 100.0


def test_figure_draws_hand_made_table():
    import matplotlib.pyplot as plt

    t = _table(sim={(0.3, "soft", "shared"): (0.26, 0.002), (0.3, "labels", "shared"): (0.265, 0.002)})
    figs = bg.figures({"errors": t}, study_params("bayes-gap", quick=True))
    assert list(figs) == ["bayes-gap"]
    ax = figs["bayes-gap"].axes
    assert len(ax) == 2 and [a.get_title() for a in ax] == ["$\\rho$ = 0.3", "$\\rho$ = 0.5"]
    plt.close("all")


def test_quick_grid_varies_rho_with_half():
    p = study_params("bayes-gap", quick=True)
    assert 0.5 in p["rhos"] and len(p["rhos"]) >= 2


@pytest.mark.slow
def test_quick_run_writes_and_resumes(tmp_path):
    from kdlab.studies import study

    out = tmp_path / "bg"
    r = study("bayes-gap", out, quick=True, progress=False)
    for ext in ("png", "pdf"):
        assert (out / f"bayes-gap.{ext}").stat().st_size > 1000
    for ext in ("csv", "parquet"):
        assert (out / "tables" / f"bayes-gap-errors.{ext}").is_file()
    text = (out / "report.md").read_text()
    assert "## Verdict: " in text and "at rho = 0.5 the label-only student" in text
    assert "0.308538 vs 0.308538" in text
    for f in r.claim.findings:
        assert f"*{f.name}* — **{f.verdict}**" in text
    t = r.tables["errors"]
    assert set(t["kind"]) == {"theory", "simulate"}
    assert {0.3, 0.5} <= set(t["rho"])
    assert (t["data"] == "pooled").sum() >= 8 and t["series"].str.contains("pooled data").any()
    th = t[t["kind"] == "theory"]
    assert th["converged"].all()
    tasks = sorted((out / "cache" / "calls").glob("*.json"))
    stamp = {p: p.stat().st_mtime_ns for p in tasks}
    r2 = study("bayes-gap", out, quick=True, progress=False)
    assert all(p.stat().st_mtime_ns == stamp[p] for p in tasks)
    assert r2.claim.verdict == r.claim.verdict
