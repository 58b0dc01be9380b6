"""The ``dark-knowledge`` study: the decomposition G = S + D + U + R (theory and paired
simulation), each verdict flipping with its rule, the trend rules in s and K, K = 2 (top targets
are soft targets: no relational part), the cached tasks, and the quick run (slow)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kdlab.reporting.findings import CONTRADICTED, PARTLY, SUPPORTED
from kdlab.studies import dark_knowledge as dk
from kdlab.studies import study_params

ERR = {"labels": 0.372, "smooth": 0.371, "hard": 0.366, "top": 0.360, "soft": 0.355}


def _errors(points, sim: bool = False) -> pd.DataFrame:
    rows = []
    for (g, K, s), err in points.items():
        for m, e in err.items():
            rows.append(dict(kind="theory", label_noise=0.0, geometry=g, classes=K, similarity=s, method=m, series=m,
                             gen_error=e, converged=True))
    return pd.DataFrame(rows)


def _raw(points, n_seeds=8, noise=0.01, shift=None, seed=0) -> pd.DataFrame:
    """Per-seed simulated errors: a common per-seed offset (paired noise, cancels in the parts)
    plus a small independent noise ``noise / 10``; ``shift``: {method: added to its mean}."""
    rng = np.random.default_rng(seed)
    rows = []
    for (g, K, s), err in points.items():
        common = rng.normal(0, noise, n_seeds)
        for m, e in err.items():
            own = rng.normal(0, noise / 10, n_seeds)
            for i in range(n_seeds):
                rows.append(dict(label_noise=0.0, geometry=g, classes=K, similarity=s, method=m, seed=i, n_features=500,
                                 gen_error=e + (shift or {}).get(m, 0.0) + common[i] + own[i]))
    return pd.DataFrame(rows)


def _tables(points, shift=None):
    th = _errors(points)
    raw = _raw(points, shift=shift)
    sim = dk._sim_means(raw, th)
    t = pd.concat([th, sim], ignore_index=True)
    g = pd.concat([dk.decomposition(t), dk.decomposition(t, "simulate", raw)], ignore_index=True)
    return {"errors": t, "gains": g, "seeds": raw}


def _findings(points, shift=None, **p):
    c = dk.findings(_tables(points, shift), {**study_params("dark-knowledge"), **p})
    return {f.name.split(":")[0] if ":" in f.name[:3] else f.name: f for f in c.findings}, c


def test_decomposition_adds_up_and_paired_errors_are_small():
    pts = {("pair", 3, 0.6): ERR}
    t = _tables(pts)
    th = t["gains"][t["gains"]["kind"] == "theory"].iloc[0]
    assert th["R"] == pytest.approx(0.005) and th["U"] == pytest.approx(0.006) and th["D"] == pytest.approx(0.005)
    assert th["S"] + th["D"] + th["U"] + th["R"] == pytest.approx(th["G"])
    assert th["Gs"] == pytest.approx(th["D"] + th["U"] + th["R"])
    sim = t["gains"][t["gains"]["kind"] == "simulate"].iloc[0]
    # the common per-seed offset (s.e. 0.01 / sqrt(8) = 0.0035 of each mean) cancels in the paired parts
    raw = t["seeds"]
    per = raw.pivot_table(index="seed", columns="method", values="gen_error")
    d = per["top"] - per["soft"]
    assert sim["R"] == pytest.approx(d.mean())
    assert sim["R_se"] == pytest.approx(d.std(ddof=1) / math.sqrt(len(d)))
    means = t["errors"][t["errors"]["kind"] == "simulate"].set_index("method")
    assert sim["R_se"] < 0.5 * math.hypot(means.loc["top", "gen_error_stderr"], means.loc["soft", "gen_error_stderr"])


def test_relational_verdict_flips_with_the_simulated_margin():
    pts = {("pair", 3, 0.6): ERR}
    v, _ = _findings(pts)
    assert v["R"].verdict == SUPPORTED and "s.e." in v["R"].text
    v, _ = _findings(pts, shift={"soft": 0.005})  # the simulated soft student no better than top
    assert v["R"].verdict == CONTRADICTED
    assert v["U"].verdict == SUPPORTED


def test_trend_rules_in_s_and_K():
    up = {("pair", 3, s): dict(ERR, soft=ERR["top"] - r) for s, r in ((0.0, 0.0), (0.3, 0.002), (0.6, 0.005))}
    up.update({("equal", K, 0.6): dict(ERR, soft=ERR["top"] - r) for K, r in ((3, 0.004), (4, 0.003), (6, 0.001))})
    v, _ = _findings(up)
    s_name = [k for k in v if k.startswith("the relational part R grows with the overlap")][0]
    k_name = [k for k in v if k.startswith("the relational part R grows with the number")][0]
    assert v[s_name].verdict == SUPPORTED and "0.0050 (similarity = 0.6)" in v[s_name].text
    assert v[k_name].verdict == CONTRADICTED


def test_smoothing_share_and_missing_points():
    pts = {("pair", 3, 0.6): ERR, ("pair", 3, 0.9): dict(ERR, soft=math.nan)}
    v, c = _findings(pts)
    name = [k for k in v if k.startswith("label smoothing does not explain")][0]
    assert "6% (pair, K = 3, s = 0.6)" in v[name].text  # S / G = 0.001 / 0.017
    assert "s = 0.9" not in v[name].text  # no converged soft student: no share
    assert c.numbers["R"]["pair, K = 3, s = 0.6"] == pytest.approx(0.005)


def test_two_classes_top_targets_are_soft_targets():
    """K = 2: the top target is the soft target, so the relational part is 0 (theory; the two are
    integrated by different rules, RQMC for top, so they agree to the quadrature's 1e-5)."""
    import kdlab

    d = dk.mixture("pair", 2, 0.3, alpha=2.0, delta=1.0, norm=4.0)
    e = {}
    for tg in ("top", "soft"):
        chain = dk._stages(tg, 2, 0.5, 1.0, lam=1.0, chi=0.7)
        r = kdlab.theory.solve(d, chain, quad_tol=1e-5)
        assert r.status.converged, r.status.message
        e[tg] = r.stages[-1].gen_error
    assert abs(e["top"] - e["soft"]) < 1e-5


def test_parts_trend_finding_follows_its_rule():
    """The parts' N trend: each of R, G, Gs judged like the errors (ends within 3 s.e.: supported;
    a gap that grows: contradicted; still beyond 3 s.e.: partly), the finding combining them."""
    def trend(gaps, se=0.001):
        return pd.DataFrame([dict(label_noise=0.0, geometry="equal", classes=6, similarity=0.6, n_features=N,
                                  n_seeds=10, quantity=k, simulated=0.001 + g, stderr=se, theory=0.001, gap=g,
                                  z=g / se) for N, g in gaps for k in dk.TREND_PARTS])

    for gaps, verdict in (([(300, -0.006), (1000, -0.002)], SUPPORTED), ([(300, -0.002), (1000, -0.005)], CONTRADICTED),
                          ([(300, -0.02), (1000, -0.007)], PARTLY)):
        c = dk.Claim("t", "t", "t")
        dk._trend_finding(c, trend(gaps))
        f = [f for f in c.findings if f.name.startswith("the simulated parts approach")]
        assert len(f) == 1 and f[0].verdict == verdict and "K = 6" in f[0].name, (gaps, f)


def test_a_part_that_is_exactly_zero_is_not_shown():
    """Smoothing tuned to eps = 0 is the label-only student on every seed: S = 0 with s.e. 0 is a
    part that does not lower the error (z = 0, contradicted), not a missing one."""
    pts = {("pair", 3, 0.6): dict(ERR, smooth=ERR["labels"])}
    t = _tables(pts)
    raw = t["seeds"]
    raw.loc[raw["method"] == "smooth", "gen_error"] = raw.loc[raw["method"] == "labels", "gen_error"].to_numpy()
    sim = dk._sim_means(raw, t["errors"][t["errors"]["kind"] == "theory"])
    tab = pd.concat([t["errors"][t["errors"]["kind"] == "theory"], sim], ignore_index=True)
    g = dk.decomposition(tab, "simulate", raw).iloc[0]
    assert g["S"] == 0 and g["S_se"] == 0 and g["S_z"] == 0
    c = dk.findings({**t, "gains": pd.concat([dk.decomposition(tab), dk.decomposition(tab, "simulate", raw)])},
                    study_params("dark-knowledge"))
    assert {f.name.split(":")[0]: f.verdict for f in c.findings}["S"] == CONTRADICTED


def test_trend_finding_follows_its_rule():
    """The N trend: a gap that ends smaller and within 3 s.e. is supported (it need not fall at every
    step when it is within the noise), one that grows is contradicted, one still beyond 3 s.e. partly."""
    def trend(gaps, se=0.01):
        return pd.DataFrame([dict(label_noise=0.2, geometry="pair", classes=3, similarity=0.6, n_features=N, n_seeds=4,
                                  quantity=m, simulated=0.4 + g, stderr=se, theory=0.4, gap=g, z=g / se)
                             for N, g in gaps for m in dk.METHODS])

    for gaps, verdict in (([(300, 0.06), (1000, 0.02)], SUPPORTED), ([(300, 0.02), (1000, 0.05)], CONTRADICTED),
                          ([(300, 0.2), (1000, 0.1)], PARTLY),
                          ([(300, 0.010), (1000, 0.004), (3000, 0.007)], SUPPORTED)):  # within the noise throughout
        c = dk.Claim("t", "t", "t")
        dk._trend_finding(c, trend(gaps))
        assert c.findings[0].verdict == verdict, (gaps, c.findings[0].text)


def test_quick_grid_is_small():
    p = study_params("dark-knowledge", quick=True)
    assert len(dk._points(p)) <= 2 and p["n_scan"] <= 3 and p["sweeps"] == 1
    full = dk._points(study_params("dark-knowledge"))
    assert {n for n, *_ in full} == {0.0, 0.2} and {K for _, g, K, _ in full if g == "equal"} == {3, 4, 6}


def test_the_trend_points_are_the_first_and_the_largest_k():
    """The sizes of the trend are simulated at the first point and at the first point of the
    largest K of the equal geometry (once if they coincide)."""
    pts = dk._points(study_params("dark-knowledge"))
    at = dk._trend_points(pts)
    assert at == {0, pts.index((0.0, "equal", 6, 0.6))}
    assert dk._trend_points([(0.2, "pair", 3, 0.6), (0.2, "pair", 3, 0.0)]) == {0}
    assert dk._trend_points([(0.0, "equal", 4, 0.6), (0.0, "equal", 3, 0.6), (0.2, "equal", 4, 0.6)]) == {0}


def test_two_class_run_caches_its_tasks(tmp_path):
    """A K = 2 run on one point (cheap): the tables, the figure, the report; a rerun reads every
    task from the cache (no file rewritten) and gives the same findings; R = 0 at K = 2."""
    from kdlab.studies import study

    kw = dict(pair_classes=2, pair_similarities=[0.3], n_features=100, seeds=2, trend_features=[200], progress=False,
              n_jobs=1,
              xatol=0.5, lam_bounds=[0.1, 10.0], temperature_bounds=[0.5, 2.0])
    out = tmp_path / "dk"
    r = study("dark-knowledge", out, quick=True, **kw)
    assert (out / "dark-knowledge.png").stat().st_size > 1000
    g = r.tables["gains"]
    th = g[g["kind"] == "theory"].iloc[0]
    assert abs(th["R"]) < dk.RESOLVED / 4  # top = soft at K = 2, up to the quadrature and the search
    # every student contains the label-only one (chi = 0) and its search starts there: never worse
    assert all(th[m] <= th["labels"] + 1e-12 for m in ("smooth", "hard", "top", "soft"))
    assert set(r.tables["errors"]["kind"]) == {"theory", "simulate"}
    text = (out / "report.md").read_text()
    for f in r.claim.findings:
        assert f"*{f.name}* — **{f.verdict}**" in text
    tasks = sorted((out / "cache" / "calls").glob("*.json"))
    assert len(tasks) == 1 + 1 + 4 + 2 + 2  # teacher, labels, the four others, two seeds at N = 100 and at 200
    tr = r.tables["trend"]
    assert sorted(set(tr["n_features"])) == [100, 200] and set(tr["quantity"]) >= set(dk.METHODS) | {"R", "G"}
    assert np.allclose(tr["gap"], tr["simulated"] - tr["theory"], equal_nan=True)
    assert any(f.name.startswith("the simulated errors approach the theory") for f in r.claim.findings)
    stamp = {p: p.stat().st_mtime_ns for p in tasks}
    r2 = study("dark-knowledge", out, quick=True, **kw)
    assert all(p.stat().st_mtime_ns == stamp[p] for p in tasks)
    assert [f.verdict for f in r2.claim.findings] == [f.verdict for f in r.claim.findings]


@pytest.mark.slow
def test_quick_run(tmp_path):
    from kdlab.studies import study

    r = study("dark-knowledge", tmp_path / "q", quick=True, progress=False)
    th = r.tables["errors"]
    th = th[th["kind"] == "theory"]
    assert th["converged"].all()
    assert set(th["method"]) == {"teacher", *dk.METHODS}


def test_the_trend_panel_draws_every_trend_point():
    """Panel (c): the five students' gaps vs N at each point of the trend table, one line style
    per point, both points named in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [dict(label_noise=0.0, geometry=g, classes=K, similarity=0.6, n_features=N, quantity=m, gap=0.01 / N,
                 stderr=0.001)
            for g, K in (("pair", 3), ("equal", 6)) for N in (300, 1000) for m in dk.METHODS]
    fig, ax = plt.subplots()
    dk._trend_panel(ax, pd.DataFrame(rows))
    assert len(ax.containers) == 2 * len(dk.METHODS)
    assert "K = 6" in ax.get_title() and "pair" in ax.get_title()
    plt.close(fig)
