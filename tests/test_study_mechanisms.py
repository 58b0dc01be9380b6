"""The ``mechanisms`` study and the shared baseline machinery (``kdlab.studies._baselines``): the
decomposition G = R + H + U, each verdict flipping with the simulated margin in s.e., the K-class
part reported as not measured, the baselines' rows (smoothing as a constant teacher, the recalibrated
bias), the margin rule, the finite-size table, and the quick run (slow)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kdlab.reporting.findings import CONTRADICTED, MISSING, SUPPORTED
from kdlab.studies import _baselines as bl
from kdlab.studies import mechanisms as me
from kdlab.studies import study_params

ERR = {"teacher": 0.20, "labels": 0.250, "weighted": 0.249, "bias": 0.245, "smoothing": 0.250, "bayes": 0.230,
       "hard": 0.243, "large-T": 0.240, "soft": 0.240}


def _table(err=ERR, sim=None) -> pd.DataFrame:
    rows = [dict(kind="theory", alpha=2.0, rho=0.3, variant=v, series=v, gen_error=e, converged=True,
                 temperature={"hard": 0.0, "large-T": 100.0}.get(v, 2.0)) for v, e in err.items()]
    for v, (m, se) in (sim or {}).items():
        rows.append(dict(rows[list(err).index(v)], kind="simulate", gen_error=m, gen_error_stderr=se,
                         n_features=200))
    return pd.DataFrame(rows)


def _verdicts(t):
    c = me.findings({"errors": t}, study_params("mechanisms", quick=True))
    return {f.name.split(":")[0] if ":" in f.name[:3] else f.name: f for f in c.findings}, c


def test_decomposition_adds_up():
    d = me.decomposition(_table()).iloc[0]
    assert d["corrected"] == 0.245 and d["corrected_by"] == "bias"
    assert d["R"] == pytest.approx(0.005) and d["H"] == pytest.approx(0.002) and d["U"] == pytest.approx(0.003)
    assert d["G"] == pytest.approx(d["R"] + d["H"] + d["U"])


def test_parts_flip_with_the_simulated_margin():
    sim = {"labels": (0.250, 0.001), "weighted": (0.250, 0.001), "bias": (0.245, 0.001),
           "smoothing": (0.251, 0.001), "hard": (0.243, 0.001), "soft": (0.236, 0.001), "large-T": (0.237, 0.001)}
    v, c = _verdicts(_table(sim=sim))
    assert v["R"].verdict == SUPPORTED and "3.5 s.e." in v["R"].text  # 0.005 / sqrt(2) 0.001
    assert v["H"].verdict == CONTRADICTED  # 0.002: 1.4 s.e.
    assert v["U"].verdict == SUPPORTED
    kd = [f for k, f in v.items() if "same-information" in k][0]
    assert kd.verdict == SUPPORTED and "baseline" not in kd.name
    assert c.verdict != SUPPORTED  # H is not resolved
    sim["soft"] = sim["large-T"] = (0.2425, 0.001)
    v, _ = _verdicts(_table(sim=sim))
    assert v["U"].verdict == CONTRADICTED
    assert [f for k, f in v.items() if "same-information" in k][0].verdict == CONTRADICTED


def test_k_class_part_is_reported_as_not_measured():
    v, _ = _verdicts(_table())
    f = v["relational information between classes"]
    assert f.verdict == MISSING and "not measured by this study yet" in f.text and "MulticlassMixture" in f.text


def test_tiny_gain_is_not_split_into_percentages():
    err = dict(ERR, soft=0.25 - 5e-5, **{"large-T": 0.25 - 5e-5})
    v, _ = _verdicts(_table(err))
    assert "no split" in v["R"].text and "%" not in v["R"].text.split("simulation")[0]


def test_margin_rule():
    d, se, z = bl.margin(0.26, 0.003, 0.25, 0.004)
    assert d == pytest.approx(0.01) and se == pytest.approx(0.005) and z == pytest.approx(2.0)
    assert np.isnan(bl.margin(0.26, float("nan"), 0.25, 0.004)[2])


def test_baselines_smoothing_and_recalibrated_bias():
    from kdlab.problem import GaussianMixture

    gm = GaussianMixture(alpha=1.0, rho=0.3)
    by = {r["baseline"]: r for r in bl.baseline_rows(gm, 0.5, ("labels", "bias", "smoothing"), sweeps=1)}
    # the recalibrated bias starts at the prior log-odds and beats the free bias here
    assert by["bias"]["gen_error"] < by["labels"]["gen_error"] - 1e-3
    assert -2.0 < by["bias"]["bias"] < 0.0
    # smoothing with eps = 0 is the plain student: never worse than it beyond the search tolerance
    assert by["smoothing"]["gen_error"] <= by["labels"]["gen_error"] + 1e-6
    pt = json.loads(by["smoothing"]["sim_point"])
    assert pt["teacher_lam"] == bl.SMOOTH_TEACHER_LAM and pt["teacher_bias"] == 0.0
    assert by["smoothing"]["sim_stage"] == 1
    assert json.loads(by["bias"]["sim_point"])["rho"] == 0.3
    # no Bayes-optimal baseline with label noise
    assert bl.baseline_task(1.0, 0.3, 1.0, 0.1, 0.5, "bayes", [1e-4, 1e4]) == []


def test_finite_size_table_trend():
    t = pd.DataFrame([dict(kind="theory", series="a", alpha=1.0, gen_error=0.30),
                      dict(kind="simulate", series="a", alpha=1.0, gen_error=0.33, gen_error_stderr=0.005,
                           n_features=200),
                      dict(kind="simulate", series="a", alpha=1.0, gen_error=0.31, gen_error_stderr=0.003,
                           n_features=800)])
    fs = bl.finite_size_table(t, ("series", "alpha"), 200, 800)
    assert len(fs) == 1 and fs["trend"].iloc[0] == "closer" and fs["z_N"].iloc[0] == pytest.approx(6.0)
    t.loc[2, "gen_error"] = 0.34
    assert bl.finite_size_table(t, ("series", "alpha"), 200, 800)["trend"].iloc[0] == "not closer"
    assert "N = 800: 0.3400 +- 0.0030" in bl.trend_text(bl.finite_size_table(t, ("series", "alpha"), 200, 800)
                                                      .iloc[0])


def test_figure_draws_hand_made_table():
    import matplotlib.pyplot as plt

    figs = me.figures({"errors": _table(sim={"soft": (0.24, 0.002), "labels": (0.25, 0.002)})},
                      study_params("mechanisms", quick=True))
    assert list(figs) == ["mechanisms"] and len(figs["mechanisms"].axes) == 2
    plt.close("all")


@pytest.mark.slow
def test_quick_run(tmp_path):
    from kdlab.studies import study

    r = study("mechanisms", tmp_path / "m", quick=True, progress=False)
    text = (tmp_path / "m" / "report.md").read_text()
    assert "## Verdict: " in text and "not measured by this study yet" in text
    t = r.tables["errors"]
    assert set(t["kind"]) == {"theory", "simulate"}
    assert {"labels", "weighted", "bias", "smoothing", "bayes", "hard", "soft", "teacher"} <= set(t["variant"])
    d = me.decomposition(t).iloc[0]
    assert d["G"] == pytest.approx(d["R"] + d["H"] + d["U"])


def test_baseline_below_the_bayes_floor_is_flagged_not_reported():
    from kdlab import theory
    from kdlab.problem import GaussianMixture

    fl = theory.bayes_optimal_error(GaussianMixture(alpha=4.0, rho=0.5), 0.5)
    rows = pd.DataFrame([dict(kind="theory", baseline="smoothing", alpha_data=4.0, rho=0.5, eta=0.5, label_noise=0.0,
                              gen_error=fl - 0.02, converged=True),
                         dict(kind="theory", baseline="labels", alpha_data=4.0, rho=0.5, eta=0.5, label_noise=0.0,
                              gen_error=fl + 1e-9, converged=True)])
    out = bl.flag_below_floor(rows, 1.0)
    assert not out["converged"].iloc[0] and np.isnan(out["gen_error"].iloc[0])
    assert "below the Bayes floor" in out["status"].iloc[0]
    assert out["converged"].iloc[1] and out["gen_error"].iloc[1] == rows["gen_error"].iloc[1]
