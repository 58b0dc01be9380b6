"""The ``self-distillation`` study: its quick run (files, report, resumed from the cache), its
verdict logic on hand-made tables (each verdict flips when the numbers do) and the model facts
its greedy tuning relies on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kdlab.problem import Fresh, GaussianMixture, LogisticTeacher, Student
from kdlab.reporting.findings import CONTRADICTED, PARTLY, SUPPORTED
from kdlab.studies import STUDIES
from kdlab.studies import self_distillation as sd

NAME = "self-distillation"


# ----------------------------------------------------------------------------- the model facts


@pytest.mark.parametrize("fresh", [False, True])
def test_chi_zero_student_reproduces_round_zero(fresh):
    """A student at chi = 0 with round 0's ridge is a logistic model on labels (its own fresh set of
    the same size, or the shared one): the error of round 0, the safe start of the greedy search."""
    from kdlab import theory

    data = GaussianMixture(alpha=1.0, delta=1.0, rho=0.3, label_noise=0.1)
    t = LogisticTeacher(lam=0.3, eta=1.0)
    st = Student(eta=1.0, chi=0.0, temperature=1.0, lam=0.3, **({"data": Fresh(alpha=1.0)} if fresh else {}))
    r0 = theory.solve(data, t)
    r1 = theory.solve(data, [t, st])
    assert r1.stages[-1].gen_error == pytest.approx(r0.teacher.gen_error, abs=1e-7)


def test_worth_rounds_rule():
    e = pd.Series([0.3, 0.29, 0.28995, 0.2899])
    assert sd.worth_rounds(e, 1e-4) == 1
    assert sd.worth_rounds(pd.Series([0.3, 0.29, 0.28, 0.27]), 1e-4) == 3  # still improving at the last
    assert sd.worth_rounds(pd.Series([0.3, 0.30001]), 1e-4) == 0


# ----------------------------------------------------------------------------- verdict logic


def _table(shared_soft=0.001, shared_hard_noisy=0.002, shared_hard_clean=0.0005, fresh=0.01,
           fresh_hard_noisy=0.003, fresh_hard_clean=0.001, later=0.0, shared_soft_noisy=None):
    """Hand-made theory rows on alphas (1, 2) x noises (0, 0.3): round 0 at 0.25 (+0.05 with noise);
    shared soft rounds 1, 2 below round 0 by ``shared_soft`` (round 1) and ``later`` more (round 2);
    shared hard round 1 by ``shared_hard_clean`` / ``shared_hard_noisy``; fresh chains (rounds 1..3)
    by ``fresh`` at round 1 and halving improvements after."""
    rows = []
    for a in (1.0, 2.0):
        for th in (0.0, 0.3):
            e0 = 0.25 + (0.05 if th else 0.0) - 0.02 * a
            for (d, lab), series in sd.SETTINGS.items():
                if d == "shared" and lab == "soft":
                    g1 = shared_soft if not th or shared_soft_noisy is None else shared_soft_noisy
                    errs = [e0, e0 - g1, e0 - g1 - later]
                elif d == "shared":
                    errs = [e0, e0 - (shared_hard_noisy if th else shared_hard_clean)]
                else:
                    g = fresh if lab == "soft" else (fresh_hard_noisy if th else fresh_hard_clean)
                    errs = [e0, e0 - g, e0 - 1.5 * g, e0 - 1.75 * g]
                for r, e in enumerate(errs):
                    rows.append(dict(kind="theory", series=series, alpha=a, label_noise=th, data=d, labels=lab,
                                     round=r, gen_error=e, converged=True, lam=0.1, chi=0.5 if r else math.nan,
                                     temperature=1.0 if lab == "soft" else 0.0, at_bound=False, bound_params=""))
    return {"rounds": pd.DataFrame(rows)}


P = {**sd.PARAMS, "alphas": [1.0, 2.0], "noises": [0.0, 0.3]}


def _v(claim, start):
    (f,) = [f for f in claim.findings if f.name.startswith(start)]
    return f.verdict


def test_round_helps_verdict_flips():
    c = sd.findings(_table(), P)
    assert _v(c, "one shared training set, soft labels: some round") == SUPPORTED
    c = sd.findings(_table(shared_soft=0.0), P)
    assert _v(c, "one shared training set, soft labels: some round") == CONTRADICTED
    c = sd.findings(_table(shared_soft=0.0, shared_soft_noisy=0.002), P)
    assert _v(c, "one shared training set, soft labels: some round") == PARTLY


def test_rounds_worth_it_verdict_flips():
    c = sd.findings(_table(later=0.0), P)  # round 2 adds nothing: one round is enough
    assert _v(c, "one shared training set: one round captures") == SUPPORTED
    c = sd.findings(_table(later=0.001), P)  # round 2 still improves by 1e-3
    assert _v(c, "one shared training set: one round captures") == CONTRADICTED
    # fresh chains keep improving (by >= 1e-4 up to round 3): contradicted; tiny improvements: supported
    assert _v(sd.findings(_table(), P), "a fresh training set per round: one round") == CONTRADICTED
    c = sd.findings(_table(fresh=1.5e-4, fresh_hard_noisy=1.5e-4, fresh_hard_clean=1.5e-4), P)
    assert _v(c, "a fresh training set per round: one round") == SUPPORTED


def test_denoise_verdict_flips():
    c = sd.findings(_table(shared_hard_noisy=0.002, shared_hard_clean=0.0005), P)
    assert _v(c, "one shared training set: hard pseudo-labels denoise") == SUPPORTED
    assert c.verdict == SUPPORTED
    c = sd.findings(_table(shared_hard_noisy=0.0001, shared_hard_clean=0.0005), P)
    assert _v(c, "one shared training set: hard pseudo-labels denoise") == CONTRADICTED
    assert c.verdict == SUPPORTED  # the headline: rounds on one set and the reference point, not denoising
    c = sd.findings({**_table(), "pseudo": _pseudo(sim_gain=0.0)}, PP)
    assert c.verdict == PARTLY


def test_gain_map_verdict_flips_and_map():
    c = sd.findings(_table(shared_soft=0.001, shared_soft_noisy=0.003), P)
    assert _v(c, "one shared training set: the gain over the single model grows") == SUPPORTED
    c = sd.findings(_table(shared_soft=0.003, shared_soft_noisy=0.001, shared_hard_noisy=0.001,
                           shared_hard_clean=0.0005), P)
    assert _v(c, "one shared training set: the gain over the single model grows") == CONTRADICTED
    gm = sd.gain_map(_table(shared_soft=0.003, shared_hard_clean=0.0005)["rounds"])
    row = gm[(gm["data"] == "shared") & (gm["alpha"] == 1.0) & (gm["label_noise"] == 0.0)].iloc[0]
    assert row["gain"] == pytest.approx(0.003) and row["labels"] == "soft" and row["round"] == 1


def test_figures_from_a_hand_made_table():
    import matplotlib.pyplot as plt

    figs = sd.figures(_table(), P)
    assert set(figs) == {"self-distillation-rounds", "self-distillation-gain-map"}
    for f in figs.values():
        plt.close(f)


# ----------------------------------------------------------------------------- the quick run


@pytest.mark.slow
def test_quick_run_writes_everything_and_resumes(tmp_path):
    from kdlab.studies import study

    assert NAME in STUDIES
    out = tmp_path / "q"
    r = study(NAME, out, quick=True, progress=False)
    for f in sd.figures(r.tables, r.params):
        assert (out / f"{f}.png").stat().st_size > 0 and (out / f"{f}.pdf").stat().st_size > 0
    for ext in ("csv", "parquet"):
        assert (out / "tables" / f"{NAME}-rounds.{ext}").is_file()
    t = pd.read_parquet(out / "tables" / f"{NAME}-rounds.parquet")
    for col in ("series", "kind", "alpha", "label_noise", "data", "labels", "round", "gen_error",
                "gen_error_stderr", "lam", "chi", "temperature", "at_bound", "bound_params", "converged"):
        assert col in t
    th = t[(t["kind"] == "theory") & t["labels"].isin(["soft", "hard"])]
    assert set(th["data"]) == {"shared", "fresh"}
    tuned = th[~th["extrapolated"].astype(bool)]
    assert tuned.groupby(["data", "labels"])["round"].max().to_dict() == {
        ("fresh", "hard"): 2, ("fresh", "soft"): 2, ("shared", "hard"): 1, ("shared", "soft"): 1}
    # every simulated round has its theory row (the later shared rounds at the repeated values)
    sims = t[t["kind"] == "simulate"]
    for _, row in sims.iterrows():
        m = th if row["labels"] != "pooled" else t[(t["kind"] == "theory") & (t["labels"] == "pooled")]
        m = m[(m["series"] == row["series"]) & (m["alpha"] == row["alpha"])
              & (m["label_noise"] == row["label_noise"]) & (m["round"] == row["round"])]
        assert len(m) == 1 and bool(m["converged"].iloc[0]), row.to_dict()
    # the pooled label-only baseline of the fresh rounds: alpha_total = (r + 1) alpha is better than round 0
    pooled = t[(t["kind"] == "theory") & (t["labels"] == "pooled")]
    assert set(pooled["round"]) == {1, 2}
    ps = pd.read_parquet(out / "tables" / f"{NAME}-pseudo.parquet")
    pth = ps[ps["kind"] == "theory"]
    assert set(zip(pth["labels"], pth["bias"])) == {(lab, b) for lab in ("hard", "soft") for b in ("prior", "free")}
    assert set(ps["tuning"]) == {"oracle", "validation"}
    assert (pth.groupby(["labels", "bias"])["round"].max() == 1).all()
    # greedy tuning never ends above round 0 (chi = 0 reproduces it)
    for _, g in th.groupby(["data", "labels", "alpha", "label_noise"]):
        assert (g["gen_error"] <= g.loc[g["round"] == 0, "gen_error"].iloc[0] + 1e-6).all()
    sim = t[t["kind"] == "simulate"]
    assert len(sim) and sim["gen_error_stderr"].notna().all()
    assert sim.loc[sim["data"] == "shared", "extrapolated"].astype(bool).any()
    text = (out / "report.md").read_text()
    assert "## Verdict:" in text and "Theory vs simulation" in text
    assert r.comparison is not None and len(r.comparison)
    stamps = {f: f.stat().st_mtime_ns for f in (out / "cache").rglob("*.json")}
    r2 = study(NAME, out, quick=True, progress=False)
    assert {f: f.stat().st_mtime_ns for f in (out / "cache").rglob("*.json")} == stamps  # nothing recomputed
    assert r2.claim.verdict == r.claim.verdict
    e1, e2 = (x.tables["rounds"]["gen_error"].to_numpy(float) for x in (r, r2))
    assert np.allclose(e1, e2, equal_nan=True)


# ----------------------------------------------------------------------------- pure pseudo-label chains


def _pseudo(gain_hard=0.05, gain_soft=0.06, sim_gain=0.05, sim_sd=0.01, n_seeds=10):
    """Hand-made pseudo table: theory map cells (two) and the reference point with simulations whose
    per-seed gains are ``sim_gain`` + noise of s.d. ``sim_sd``."""
    import json

    rows = []
    rng = np.random.default_rng(0)
    for rho in (0.3, 0.5):
        for lab, g in (("hard", gain_hard), ("soft", gain_soft)):
            for b in ("prior", "free"):
                e0 = 0.25 + (0.01 if b == "free" else 0.0)
                for r, e in ((0, e0), (1, 0.25 - g)):
                    rows.append(dict(kind="theory", tuning="oracle", rho=rho, delta=0.5, label_noise=0.3, alpha=1.0,
                                     labels=lab, bias=b, round=r, gen_error=e, converged=True, lam=100.0,
                                     temperature=0.0, at_bound=False, bound_params="", series=f"{lab}, {b}",
                                     stage_params=json.dumps([{"lam": 100.0}]
                                                             + [{"lam": 100.0, "temperature": 0.0}] * r)))
    e0 = 0.25 + 0.02 * rng.standard_normal(n_seeds)
    for lab in ("hard", "soft"):
        for b in ("prior", "free"):
            e1 = e0 - sim_gain - sim_sd * rng.standard_normal(n_seeds)
            for r, e in ((0, e0), (1, e1)):
                rows.append(dict(kind="simulate", tuning="oracle", rho=0.5, delta=0.5, label_noise=0.3, alpha=1.0,
                                 labels=lab, bias=b, round=r, n_features=1000, n_seeds=n_seeds,
                                 gen_error=float(e.mean()), gen_error_stderr=float(e.std(ddof=1) / np.sqrt(n_seeds)),
                                 per_seed=json.dumps(list(map(float, e))), bias_sd=0.0, series=f"{lab}, {b}"))
    from kdlab.studies._pseudo_labels import paired_gains

    t = pd.DataFrame(rows)
    sim = paired_gains(t[t["kind"] == "simulate"])
    return pd.concat([t[t["kind"] == "theory"], sim], ignore_index=True)


PP = {**sd.PARAMS, "pl_rhos": [0.3, 0.5], "pl_deltas": [0.5], "pl_noises": [0.3], "pl_alphas": [1.0], "ref_n": [1000]}


def test_paired_gains_are_the_mean_and_se_of_per_seed_differences():
    import json

    t = _pseudo()
    s = t[(t["kind"] == "simulate") & (t["labels"] == "hard") & (t["bias"] == "prior")].set_index("round")
    d = np.array(json.loads(s.loc[0, "per_seed"])) - np.array(json.loads(s.loc[1, "per_seed"]))
    assert s.loc[1, "gain"] == pytest.approx(d.mean()) and s.loc[0, "gain"] == 0.0
    assert s.loc[1, "gain_stderr"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)))


def test_pseudo_label_verdicts_flip():
    tables = {**_table(), "pseudo": _pseudo()}
    c = sd.findings(tables, PP)
    assert _v(c, "one pure hard pseudo-label round") == SUPPORTED
    assert _v(c, "reference point (rho = 0.5, Delta = 0.5, theta = 0.3, alpha = 1), bias fixed") == SUPPORTED
    c = sd.findings({**_table(), "pseudo": _pseudo(gain_hard=-0.01, sim_gain=0.0)}, PP)
    assert _v(c, "one pure hard pseudo-label round") == CONTRADICTED
    assert _v(c, "reference point (rho = 0.5, Delta = 0.5, theta = 0.3, alpha = 1), bias fixed") == CONTRADICTED
    assert "Reference point" in c.table


@pytest.mark.slow
def test_takanami_reference_point_theory_agrees_with_simulation_at_n2000():
    """rho = 0.5, Delta = 0.5, label noise 0.3, alpha = 1, one hard pure pseudo-label round (chi = 1),
    bias fixed at 0, ridges at the joint theory optimum (the edge lam = 100 of the study's interval:
    the direction, not the scale, matters with the bias fixed): theory and simulation (N = 2000,
    16 seeds) agree within 3 s.e. on both errors and on the paired gain."""
    from kdlab import simulate, theory
    from kdlab.problem import GaussianMixture, LogisticTeacher, Student

    gm = GaussianMixture(alpha=1.0, delta=0.5, rho=0.5, label_noise=0.3)
    chain = [LogisticTeacher(lam=100.0, bias=0.0), Student(eta=1.0, lam=100.0, chi=1.0, temperature=0.0, bias=0.0)]
    th = theory.solve(gm, chain)
    assert th.stages[0].gen_error - th.stages[1].gen_error > 0.05  # the theory's gain: 0.2435 -> 0.1879
    sim = simulate(gm, chain, n_features=2000, seeds=16)
    for k in (0, 1):
        assert abs(sim.stages[k].gen_error - th.stages[k].gen_error) <= 3 * sim.stages[k].gen_error_stderr
    d = sim.per_seed["stage0_gen_error"] - sim.per_seed["stage1_gen_error"]
    gain_th = th.stages[0].gen_error - th.stages[1].gen_error
    assert abs(d.mean() - gain_th) <= 3 * d.std(ddof=1) / np.sqrt(len(d))
