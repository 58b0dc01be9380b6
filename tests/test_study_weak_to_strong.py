"""The ``weak-to-strong`` study: its quick run (files, report, resumed from the cache), its verdict
logic on hand-made tables (each verdict flips when the numbers do) and the model facts it relies on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kdlab.errors import ParameterError
from kdlab.problem import Fresh, GaussianMixture, LogisticTeacher, Student
from kdlab.reporting.findings import CONTRADICTED, PARTLY, SUPPORTED
from kdlab.studies import STUDIES
from kdlab.studies import _baselines as bl
from kdlab.studies import weak_to_strong as w2s

NAME = "weak-to-strong"


# ----------------------------------------------------------------------------- the model facts


def test_chi_above_one_only_at_unit_temperature():
    Student(eta=1.0, chi=1.5, temperature=1.0)  # accepted
    with pytest.raises(ParameterError):
        Student(eta=1.0, chi=1.5, temperature=2.0)
    with pytest.raises(ParameterError):
        Student(eta=1.0, chi=1.5, temperature=0.0)


def test_chi_above_one_and_ceiling_in_the_theory():
    from kdlab import theory

    data = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
    weak = LogisticTeacher(lam=0.2, eta=0.3)
    r = theory.solve(data, [weak, Student(eta=1.0, chi=1.5, temperature=1.0, lam=0.1, data=Fresh(alpha=2.0))])
    assert r.status.converged and 0 < r.stages[-1].gen_error < 0.5
    # the strong ceiling (chi = 0, all features) is the logistic classifier on all the features
    lone = theory.solve(data, LogisticTeacher(lam=0.3, eta=1.0))
    ceil = theory.solve(data, [weak, Student(eta=1.0, chi=0.0, temperature=1.0, lam=0.3)])
    assert ceil.stages[-1].gen_error == pytest.approx(lone.teacher.gen_error, abs=1e-7)


# ----------------------------------------------------------------------------- verdict logic


def _table(pure=0.01, best_gain=0.005, chi_big=1.5, big_gain=0.001, fresh_better=0.002, pgr_rise=True):
    """A hand-made theory table on alphas (1, 2) x eta_t (0.5, 1): the teacher's error, the
    ceiling's; the pure student ``pure`` below its teacher (a float, or a dict (data, alpha, eta_t)
    -> gain), the best ``best_gain`` below the ceiling, the T = 1 student at ``chi_big`` better than
    the soft one by ``big_gain``, fresh data better than shared by ``fresh_better``."""
    rows = []
    ceiling = {1.0: 0.22, 2.0: 0.19}
    for a in (1.0, 2.0):
        rows.append(dict(kind="theory", converged=True, student="ceiling", data="", alpha=a, teacher_eta=math.nan,
                         gen_error=ceiling[a], lam=0.2, chi=0.0, temperature=1.0, series=w2s.CEILING_SERIES))
        for e in (0.5, 1.0):
            te = ceiling[a] + (0.06 if e < 1 else 0.0)
            rows.append(dict(kind="theory", converged=True, student="teacher", data="", alpha=a, teacher_eta=e,
                             gen_error=te, series=w2s.TEACHER_SERIES))
            for dk in w2s.DATAS:
                g = pure.get((dk, a, e), 0.01) if isinstance(pure, dict) else pure
                if dk == "fresh" and pgr_rise:
                    g = g * a  # the gain (and PGR) grows with alpha on fresh data
                shift = fresh_better if dk == "fresh" else 0.0
                soft = ceiling[a] - best_gain - shift
                big = soft - big_gain
                for st, err, chi, temp in (("pure", te - g - shift, 1.0, 0.8), ("soft", soft, 0.4, 1.2),
                                           ("chi>1", big, chi_big, 1.0), ("best", min(soft, big), chi_big, 1.0)):
                    rows.append(dict(kind="theory", converged=True, student=st, data=dk, alpha=a, teacher_eta=e,
                                     gen_error=err, lam=0.1, chi=chi, temperature=temp,
                                     series=w2s._label(st, dk)))
        # the strong label-only baselines: on the teacher's alpha N samples and on the pooled 2 alpha N
        for key, own, pooled in (("labels", 0.0, -0.003), ("bias", -0.001, -0.0035)):
            for data, d in (("own", own), ("pooled", pooled)):
                rows.append(dict(kind="theory", converged=True, student="label-only", baseline=key, variant=key,
                                 data=data, alpha=a, teacher_eta=math.nan, gen_error=ceiling[a] + d,
                                 series=bl.series_label(key, data == "pooled")))
    return {"errors": pd.DataFrame(rows)}


def _with_sim(tables, rows):
    """``tables`` with simulated copies of theory rows: {(student, data, alpha, eta_t): (mean, se)}."""
    t = tables["errors"]
    sim = []
    for (st, dk, a, e), (m, se) in rows.items():
        d = t[(t["student"] == st) & (t["data"] == dk) & np.isclose(t["alpha"], a)]
        d = d[np.isclose(d["teacher_eta"], e)] if e is not None else d
        r = d.iloc[0].to_dict()
        r.update(kind="simulate", gen_error=m, gen_error_stderr=se, n_features=1000)
        sim.append(r)
    return {"errors": pd.concat([t, pd.DataFrame(sim)], ignore_index=True)}


def _verdicts(tables):
    c = w2s.findings(tables, w2s.PARAMS)
    return {f.name: f.verdict for f in c.findings}, c


def _find(v, *words):
    hits = [k for k in v if all(w in k for w in words)]
    assert len(hits) == 1, (words, list(v))
    return v[hits[0]]


def test_pure_student_beats_teacher_flips():
    v, c = _verdicts(_table(pure=0.01))
    assert _find(v, "beats its weak teacher", "fresh") == SUPPORTED
    assert _find(v, "beats its weak teacher", "own training set") == SUPPORTED
    assert c.numbers["max_gain_fresh"] == pytest.approx(0.02 + 0.002)
    assert c.verdict in (SUPPORTED, PARTLY)
    v, _ = _verdicts(_table(pure=-0.01))
    assert _find(v, "beats its weak teacher", "fresh") == CONTRADICTED
    assert _find(v, "beats its weak teacher", "own training set") == CONTRADICTED
    v, _ = _verdicts(_table(pure={("shared", 1.0, 0.5): -0.01, ("fresh", 1.0, 0.5): -0.01}))
    assert _find(v, "beats its weak teacher", "fresh") == PARTLY
    assert _find(v, "beats its weak teacher", "own training set") == PARTLY


def test_pure_gain_over_teacher_needs_three_standard_errors_in_simulation():
    sim = {("teacher", "", 2.0, 0.5): (0.250, 0.001), ("pure", "fresh", 2.0, 0.5): (0.245, 0.001),
           ("pure", "shared", 2.0, 0.5): (0.248, 0.001)}
    v, c = _verdicts(_with_sim(_table(pure=0.01), sim))
    assert _find(v, "beats its weak teacher", "fresh") == SUPPORTED  # 3.5 s.e.
    assert _find(v, "beats its weak teacher", "own training set") == CONTRADICTED  # 1.4 s.e.
    f = [f for f in c.findings if "beats its weak teacher" in f.name and "fresh" in f.name][0]
    assert "baseline: the weak teacher" in f.text and "3.5 s.e." in f.text


def test_same_information_baseline_beats_the_pure_student():
    v, c = _verdicts(_table(pure=0.01))
    assert _find(v, "same information") == CONTRADICTED  # the teacher is 0.06 above the label-only student
    v, _ = _verdicts(_table(pure=0.08))
    assert _find(v, "same information") == SUPPORTED  # 0.08 > 0.06 + 0.001 everywhere
    v, _ = _verdicts(_table(pure={("shared", 1.0, 0.5): 0.08}))
    assert _find(v, "same information") == PARTLY


def test_pgr_growth_flips():
    v, c = _verdicts(_table(pgr_rise=True))
    assert _find(v, "PGR") == SUPPORTED
    assert 0 < c.numbers["pgr_min"] < c.numbers["pgr_max"] < 1
    v, _ = _verdicts(_table(pgr_rise=False))
    assert _find(v, "PGR") == CONTRADICTED


def test_labels_help_and_chi_above_one_flip():
    v, _ = _verdicts(_table(best_gain=0.005))
    assert _find(v, "soft labels help") == SUPPORTED
    v, _ = _verdicts(_table(best_gain=-0.005, big_gain=0.0))
    assert _find(v, "soft labels help") == CONTRADICTED
    v, c = _verdicts(_table(chi_big=1.5, big_gain=0.001))
    assert _find(v, "chi > 1") == SUPPORTED and c.numbers["chi_above_1_helps"] == 4
    v, _ = _verdicts(_table(chi_big=0.8, big_gain=0.001))  # better, but not with chi > 1
    assert _find(v, "chi > 1") == CONTRADICTED
    v, _ = _verdicts(_table(chi_big=1.5, big_gain=-0.001))  # chi > 1 chosen, but worse than soft
    assert _find(v, "chi > 1") == CONTRADICTED


def test_shared_vs_fresh_flips():
    v, _ = _verdicts(_table(fresh_better=0.002, pgr_rise=False))
    assert _find(v, "fresh data beat", "pure") == SUPPORTED
    assert _find(v, "fresh data beat", "best") == SUPPORTED
    v, _ = _verdicts(_table(fresh_better=-0.002, pgr_rise=False))
    assert _find(v, "fresh data beat", "pure") == CONTRADICTED
    assert _find(v, "fresh data beat", "best") == CONTRADICTED


def test_gains_pgr_undefined_without_gap():
    g = w2s.gains(_table()["errors"], "shared")
    assert np.isnan(g.loc[(1.0, 1.0), "pgr"]) and np.isfinite(g.loc[(1.0, 0.5), "pgr"])
    assert g.loc[(2.0, 0.5), "pgr"] == pytest.approx(0.01 / 0.06)


def test_figures_from_hand_made_table():
    import matplotlib.pyplot as plt

    figs = w2s.figures(_table(), {**w2s.PARAMS, "seeds": [0, 1]})
    assert set(figs) == {"weak-to-strong-phase", "weak-to-strong-errors"}
    for f in figs.values():
        plt.close(f)


# ----------------------------------------------------------------------------- the quick run


@pytest.mark.slow
def test_quick_run_writes_everything_and_resumes(tmp_path):
    from kdlab.studies import study

    assert NAME in STUDIES
    out = tmp_path / NAME
    r = study(NAME, out, quick=True, progress=False)
    for fig in ("weak-to-strong-phase", "weak-to-strong-errors"):
        assert (out / f"{fig}.png").stat().st_size > 0 and (out / f"{fig}.pdf").stat().st_size > 0
    for ext in ("csv", "parquet"):
        assert (out / "tables" / f"{NAME}-errors.{ext}").is_file()
        assert (out / "tables" / f"{NAME}-theory-vs-simulation.{ext}").is_file()
    text = (out / "report.md").read_text()
    assert "## Verdict:" in text and "beats its weak teacher" in text
    assert all(f.verdict in (SUPPORTED, PARTLY, CONTRADICTED) for f in r.claim.findings)
    t = r.tables["errors"]
    assert {"series", "kind", "alpha", "teacher_eta", "data", "student", "gen_error", "gen_error_stderr", "lam", "chi",
            "temperature", "teacher_lam", "at_bound", "bound_params", "converged"} <= set(t.columns)
    assert (t["kind"] == "simulate").any() and r.comparison is not None and len(r.comparison) > 0
    assert {"own", "pooled"} <= set(t.loc[t["student"] == "label-only", "data"])
    assert "same information" in text
    th = t[t["kind"] == "theory"]
    # chi > 1 only at T = 1; the best student is no worse than the soft one, nor the soft one than its corners
    assert (th.loc[th["chi"] > 1, "temperature"] == 1.0).all()
    for dk in w2s.DATAS:
        soft = w2s._grid(t, "soft", dk)
        assert (w2s._grid(t, "best", dk) <= soft + 1e-12).all()
        assert (soft <= w2s._grid(t, "pure", dk) + 1e-9).all()
    tasks = sorted((out / "cache" / "calls").glob("*.json"))
    stamps = {p.name: p.stat().st_mtime_ns for p in tasks}
    r2 = study(NAME, out, quick=True, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cache" / "calls").glob("*.json")} == stamps
    assert r2.claim.verdict == r.claim.verdict
