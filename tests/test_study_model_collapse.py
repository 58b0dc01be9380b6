"""The ``model-collapse`` study: the model facts its findings rest on (soft accumulate reproduces
generation 0; hard replace ends at the constant classifier), its verdict logic on hand-made
tables (each verdict flips when the numbers do), a small run through the whole pipeline and the
``--quick`` run (slow) with its findings recomputed from the written tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kdlab import GaussianMixture, simulate, theory
from kdlab.reporting.findings import CONTRADICTED, PARTLY, SUPPORTED
from kdlab.studies import STUDIES, study, study_params
from kdlab.studies import model_collapse as mc
from kdlab.workflows import accumulate, replace

NAME = "model-collapse"


# ----------------------------------------------------------------------------- the model facts


def test_soft_accumulate_reproduces_generation_zero_in_both_backends():
    """The teacher's weights are a stationary point of every soft accumulate generation: the errors
    of generations 1, 2 equal generation 0's (theory to 1e-6; simulation: the same fit)."""
    data = GaussianMixture(alpha=2.0, rho=0.3, label_noise=0.2)
    p = accumulate(data, 2, temperature=1.0)
    r = theory.solve(p)
    e = [s.gen_error for s in r.stages]
    assert all(st.code.value == "converged" for st in r.stage_status)
    assert e[1] == pytest.approx(e[0], abs=1e-6) and e[2] == pytest.approx(e[0], abs=1e-6)
    assert r.stages[2].q == pytest.approx(r.stages[0].q, rel=1e-5)  # the same weights, not only the same error
    s = simulate(p.data, list(p.stages), n_features=80, seeds=2)
    assert s.stages[2].gen_error == pytest.approx(s.stages[0].gen_error, abs=1e-6)
    # hard labels are not a fixed point: the first hard generation's weights move
    h = theory.solve(accumulate(data, 1, temperature=0.0))
    assert abs(h.stages[1].q - h.stages[0].q) > 0.1


def test_hard_replace_ends_as_the_constant_classifier():
    r = theory.solve(replace(GaussianMixture(alpha=2.0, rho=0.3), 8))
    codes = [s.code.value for s in r.stage_status]
    assert codes[0] == "converged" and codes[-1] == "constant"
    assert r.stages[-1].gen_error == pytest.approx(0.3, abs=1e-12)  # P(y != -1) with rho = 0.3


# ----------------------------------------------------------------------------- verdict logic on hand-made tables


P = {**mc.PARAMS, "alphas": [2.0], "noises": [0.0], "generations": 4, "acc_generations": 2,
     "mix_fractions": [0.5, 1.0]}


def _tables(rep_end=0.30, acc_rise=0.002, mix_end=(0.25, 0.19), soft_better=True, gen_beats_tuned=False,
            trend=None):
    """Theory rows at alpha = 2, theta = 0, eps_0 = 0.2: replace rises linearly to ``rep_end``,
    accumulate by ``acc_rise`` then flat, mix at fractions (0.5, 1) ends at ``mix_end``; hard
    labels drift 0.005 more than soft (``soft_better``) or less; baselines 0.21 (same recipe) and
    0.19 (tuned; 0.5 with ``gen_beats_tuned``)."""
    rows = []
    e0 = 0.2
    G, Ga = P["generations"], P["acc_generations"]
    for T in (1.0, 0.0):
        extra = (0.005 if T == 0 else 0.0) if soft_better else (0.0 if T == 0 else 0.005)

        def add(wf, errs, f=None):
            for t, e in enumerate(errs):
                rows.append(dict(kind="theory", series=mc._series(wf, T, f), workflow=wf, temperature=T,
                                 real_fraction=f, alpha=2.0, label_noise=0.0, generation=t,
                                 gen_error=e + (extra if t else 0.0) if e < 0.3 - 1e-9 else e,
                                 status="constant" if e >= 0.3 - 1e-9 else "converged", converged=True))
        add("replace", [e0 + (rep_end - e0) * t / G for t in range(G + 1)])
        add("accumulate", [e0] + [e0 + acc_rise] * Ga)
        for f, end in zip(P["mix_fractions"], mix_end):
            add("mix", [e0 + (end - e0) * min(t, 2) / 2 for t in range(G + 1)], f)
    g = pd.DataFrame(rows)
    reals = sorted({2.0 * (1 + t * f) for f in P["mix_fractions"] for t in range(G + 1)})
    b = pd.DataFrame([dict(kind="theory", tuned=tuned, alpha=2.0, label_noise=0.0, real_alpha=ra,
                           gen_error=(0.5 if gen_beats_tuned else 0.19) if tuned else 0.21, converged=True)
                      for ra in reals for tuned in (False, True)])
    tr = pd.DataFrame(trend or [], columns=["series", "alpha", "label_noise", "generation", "n_features", "n_seeds",
                                            "theory", "simulation", "stderr", "diff", "ok"])
    return {"generations": g, "baselines": b, "n_trend": tr}


def _v(claim, start):
    (f,) = [f for f in claim.findings if f.name.startswith(start)]
    return f.verdict


def test_replace_collapse_verdict_flips():
    assert _v(mc.findings(_tables(rep_end=0.30), P), "replace") == SUPPORTED
    assert _v(mc.findings(_tables(rep_end=0.25), P), "replace") == CONTRADICTED


def test_accumulate_bounded_verdict_flips():
    assert _v(mc.findings(_tables(acc_rise=0.002), P), "accumulate: the error stays") == SUPPORTED
    # a rise of 0.05 is half the gap from 0.2 to the trivial 0.3
    assert _v(mc.findings(_tables(acc_rise=0.05), P), "accumulate: the error stays") == CONTRADICTED


def test_mix_verdict_and_smallest_fraction():
    c = mc.findings(_tables(mix_end=(0.25, 0.19)), P)
    assert _v(c, "mix") == SUPPORTED
    assert "smallest f that stops it: 1" in [f for f in c.findings if f.name.startswith("mix")][0].text
    c = mc.findings(_tables(mix_end=(0.19, 0.18)), P)
    assert "smallest f that stops it: 0.5" in [f for f in c.findings if f.name.startswith("mix")][0].text
    assert _v(mc.findings(_tables(mix_end=(0.25, 0.22)), P), "mix") == CONTRADICTED
    assert mc.findings(_tables(mix_end=(0.25, 0.22)), P).verdict == PARTLY


def test_baseline_and_soft_hard_verdicts_flip():
    assert _v(mc.findings(_tables(), P), "no generation beats") == SUPPORTED
    assert _v(mc.findings(_tables(gen_beats_tuned=True), P), "no generation beats") == CONTRADICTED
    assert _v(mc.findings(_tables(soft_better=True), P), "soft labels drift less") == SUPPORTED
    assert _v(mc.findings(_tables(soft_better=False), P), "soft labels drift less") == CONTRADICTED


def test_trend_in_n_verdict():
    row = ["replace, hard (T = 0)", 2.0, 0.0, 3]
    shrink = [row + [250, 6, 0.25, 0.27, 0.002, 0.02, False], row + [1000, 6, 0.25, 0.26, 0.001, 0.01, False]]
    grow = [row + [250, 6, 0.25, 0.255, 0.002, 0.005, True], row + [1000, 6, 0.25, 0.27, 0.001, 0.02, False]]
    assert _v(mc.findings(_tables(trend=shrink), P), "where the simulation") == SUPPORTED
    assert _v(mc.findings(_tables(trend=grow), P), "where the simulation") == CONTRADICTED
    assert _v(mc.findings(_tables(), P), "where the simulation") == SUPPORTED  # no disagreement


def test_figures_from_a_hand_made_table():
    import matplotlib.pyplot as plt

    figs = mc.figures(_tables(), P)
    assert set(figs) == {"model-collapse", "mix-fraction"}
    for f in figs.values():
        plt.close(f)


# ----------------------------------------------------------------------------- runs through the pipeline


def _check_run(r, out, p):
    g = pd.read_parquet(out / "tables" / f"{NAME}-generations.parquet")
    b = pd.read_parquet(out / "tables" / f"{NAME}-baselines.parquet")
    for f in ("model-collapse", "mix-fraction"):
        assert (out / f"{f}.png").stat().st_size > 0 and (out / f"{f}.pdf").stat().st_size > 0
    th = g[g["kind"] == "theory"]
    assert th["converged"].astype(bool).all()
    assert th.groupby("workflow")["generation"].max().to_dict() == {
        "replace": p["generations"], "mix": p["generations"], "accumulate": p["acc_generations"]}
    # soft accumulate is generation 0 at every generation; the same-recipe baseline of replace is generation 0
    soft_acc = th[(th["workflow"] == "accumulate") & (th["temperature"] == 1.0)]
    for _, c in soft_acc.groupby(["alpha", "label_noise"]):
        assert np.allclose(c["gen_error"], c["gen_error"].iloc[0], atol=5e-4)
    rep0 = th[(th["workflow"] == "replace") & (th["generation"] == 0)]
    for _, row in rep0.iterrows():
        same = b[(b["kind"] == "theory") & ~b["tuned"].astype(bool) & np.isclose(b["alpha"], row["alpha"])
                 & np.isclose(b["label_noise"], row["label_noise"]) & np.isclose(b["real_alpha"], row["alpha"])]
        assert same["gen_error"].iloc[0] == pytest.approx(row["gen_error"], abs=1e-9)
    # the tuned baseline is never worse than the same-recipe one
    bt = b[b["kind"] == "theory"].pivot_table(index=["alpha", "label_noise", "real_alpha"], columns="tuned",
                                              values="gen_error")
    assert (bt[True] <= bt[False] + 1e-9).all()
    # the findings are computed from the tables as written
    tables = {"generations": g, "baselines": b,
              "n_trend": pd.read_parquet(out / "tables" / f"{NAME}-n_trend.parquet")}
    again = STUDIES[NAME].evaluate(tables, p)
    assert [f.verdict for f in again.findings] == [f.verdict for f in r.claim.findings]
    text = (out / "report.md").read_text()
    assert "## Verdict:" in text and "Theory vs simulation" in text and "nothing is tuned" in text
    return g


def test_small_run_through_the_pipeline(tmp_path):
    p = study_params(NAME, quick=True, generations=3, acc_generations=1, noises=[0.2], mix_fractions=[1.0],
                     n_features=60, seeds=2, trend_n=[30])
    r = study(NAME, tmp_path / "s", quick=True, progress=False, n_jobs=1, generations=3, acc_generations=1,
              noises=[0.2], mix_fractions=[1.0], n_features=60, seeds=2, trend_n=[30])
    assert r.params == p and r.mode == "custom"
    g = _check_run(r, tmp_path / "s", p)
    sim = g[g["kind"] == "simulate"]
    assert len(sim) == 2 * (4 + 2 + 4) and sim["gen_error_stderr"].notna().all()
    assert r.comparison is not None and len(r.comparison) == len(sim)


@pytest.mark.slow
def test_quick_run_writes_everything_and_resumes(tmp_path):
    out = tmp_path / "q"
    r = study(NAME, out, quick=True, progress=False)
    p = study_params(NAME, quick=True)
    g = _check_run(r, out, p)
    th = g[g["kind"] == "theory"]
    # hard replace reaches the constant classifier within the quick run's generations
    hard = th[(th["workflow"] == "replace") & (th["temperature"] == 0.0)]
    assert (hard.groupby("label_noise")["status"].last() == "constant").all()
    assert np.allclose(hard.groupby("label_noise")["gen_error"].last(), min(p["rho"], 1 - p["rho"]))
    # most simulated generations agree with the theory (N = 200): at least 90 %
    assert r.comparison["ok"].mean() >= 0.9
    stamps = {f: f.stat().st_mtime_ns for f in (out / "cache").rglob("*.json")}
    r2 = study(NAME, out, quick=True, progress=False)
    assert {f: f.stat().st_mtime_ns for f in (out / "cache").rglob("*.json")} == stamps
    assert r2.claim.verdict == r.claim.verdict
    assert not math.isnan(r.elapsed_s)
