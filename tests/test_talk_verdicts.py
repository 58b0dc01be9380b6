"""The verdict logic of the talk's claims on small hand-made tables: each verdict flips when
the numbers do; ties are not rankings; a plateau-and-kink is not a peak; a grid lacking
series of the default grid leaves the verdicts that depend on them undecided."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kdlab.reporting.findings import CONTRADICTED, PARTLY, SUPPORTED, Finding, peaks
from kdlab.talk import FIGURES, double_descent, kd_bayes, kd_logistic, regularization
from kdlab.talk._core import concat, curve, select, series_of, tag
from kdlab.talk.report import evaluate_claims, ranks_agree, simulation_summary, theory_vs_simulation

A = [0.5, 1.0, 2.0, 4.0, 8.0]


def rows(label, series, kind="theory", alphas=A, **cols):
    """One series: ``cols`` are per-alpha lists (or scalars) of observables."""
    d = pd.DataFrame({"alpha": alphas, **{k: (v if np.ndim(v) else [v] * len(alphas)) for k, v in cols.items()}})
    d["status_converged"] = True
    return tag(d, label, kind, **series)


def finding(claim, name):
    (f,) = [f for f in claim.findings if f.name == name]
    return f


# ----------------------------------------------------------------------------- series columns


def test_series_are_selected_by_typed_columns_not_labels():
    t = concat([rows("whatever label", dict(teacher="logistic", teacher_lam=0.1), stage0_gen_error=0.2),
                rows("another", dict(teacher="logistic", optimal_teacher_lam=True), stage0_gen_error=0.1)])
    assert len(select(t, "theory", teacher_lam=0.1)) == len(A)
    assert len(select(t, "theory", optimal_teacher_lam=True)) == len(A)
    assert len(select(t, "theory", teacher_lam=float("nan"), teacher="logistic")) == len(A)  # the optimal one
    s = series_of(t)
    assert [x["label"] for x in s] == ["whatever label", "another"]
    assert curve(t, "stage0_gen_error", optimal_teacher_lam=True).tolist() == [0.1] * len(A)
    with pytest.raises(ValueError):
        select(t, colour=1)


# ----------------------------------------------------------------------------- claim 1


def _reg(opt_err, bayes_err, spread):
    fixed = [rows(f"lam={lam:g}", dict(regularization.FIXED, teacher_lam=lam), stage0_gen_error=opt_err + s)
             for lam, s in ((0.01, spread), (1.0, 0.0))]
    return concat(fixed + [
        rows("optimal lam", regularization.OPTIMAL, stage0_gen_error=opt_err, stage0_lam=0.3),
        rows("Bayes-optimal", regularization.BAYES, stage0_gen_error=bayes_err)])


def test_claim1_flips_with_the_numbers():
    c = regularization.claim(_reg(0.20, 0.18, 0.05), {"rho": 0.3})
    assert c.verdict == SUPPORTED
    assert finding(c, "tuning lam is key").verdict == SUPPORTED
    # the optimum reaches Bayes: the second sub-claim is contradicted
    c = regularization.claim(_reg(0.20, 0.20, 0.05), {"rho": 0.3})
    assert finding(c, "optimal lam stays above Bayes-optimal").verdict == CONTRADICTED
    # every lam gives the same error: tuning is not key
    c = regularization.claim(_reg(0.20, 0.18, 0.0), {"rho": 0.3})
    assert finding(c, "tuning lam is key").verdict == CONTRADICTED


# ----------------------------------------------------------------------------- claim 2

P2 = dict(chi=1.0, temperature=1.0, lam=1e-3)


def _kdl(student_good, student_bad, lab_same, lab_opt, teacher_good=0.20, teacher_bad=0.25):
    kd = kd_logistic._kd(P2)
    return concat([
        rows("KD, lam_t=0.1", dict(kd, teacher_lam=0.1), stage0_gen_error=teacher_good,
             stage1_gen_error=student_good),
        rows("KD, lam_t=0.001", dict(kd, teacher_lam=0.001), stage0_gen_error=teacher_bad,
             stage1_gen_error=student_bad),
        rows(kd_logistic.LAB_OPT, kd_logistic.LABELS_OPT, stage1_gen_error=lab_opt, stage1_lam=0.2,
             stage0_gen_error=teacher_bad),
        rows(kd_logistic.LAB_SAME, kd_logistic._labels_same(P2), stage1_gen_error=lab_same,
             stage0_gen_error=teacher_bad)])


def test_claim2_inheritance_flips_when_the_kd_student_is_worse():
    c = kd_logistic.claim(_kdl(0.26, 0.28, lab_same=0.30, lab_opt=0.25), P2)
    assert c.verdict == SUPPORTED
    assert finding(c, "the student inherits the teacher's regularization").verdict == SUPPORTED
    # the KD students are worse than the label-only student at the same lam: nothing inherited
    c = kd_logistic.claim(_kdl(0.31, 0.32, lab_same=0.30, lab_opt=0.25), P2)
    assert finding(c, "the student inherits the teacher's regularization").verdict == CONTRADICTED
    assert c.verdict == PARTLY


def test_claim2_ranking_and_suboptimality_flip():
    # the better teacher has the worse student at every alpha
    c = kd_logistic.claim(_kdl(0.28, 0.26, lab_same=0.30, lab_opt=0.25), P2)
    assert finding(c, "better teacher, better student").verdict == CONTRADICTED
    # a KD student below the optimally regularized label-only student: not sub-optimal
    c = kd_logistic.claim(_kdl(0.24, 0.28, lab_same=0.30, lab_opt=0.25), P2)
    assert finding(c, "stays sub-optimal").verdict == CONTRADICTED
    # the better teacher's student is better at some alphas only
    c = kd_logistic.claim(_kdl([0.26, 0.26, 0.29, 0.29, 0.29], 0.28, lab_same=0.30, lab_opt=0.25), P2)
    assert finding(c, "better teacher, better student").verdict == PARTLY


# ----------------------------------------------------------------------------- claim 3


def _kdb(kd_errs, lab=0.25, floor=0.22):
    parts = [rows(kd_bayes._kd_name(chi, T), kd_bayes._kd(chi, T), stage1_gen_error=e, stage1_lam=0.05,
                  bayes_floor_sparse=floor) for (chi, T), e in kd_errs.items()]
    parts.append(rows(kd_bayes.LAB_OPT, kd_bayes.LABELS, stage1_gen_error=lab, stage1_lam=0.2,
                      bayes_floor_sparse=floor))
    return concat(parts)


def test_claim3_flips_with_the_numbers():
    c = kd_bayes.claim(_kdb({(1.0, 3.0): 0.221}), {})
    assert finding(c, "KD beats the optimally regularized logistic student").verdict == SUPPORTED
    assert finding(c, "KD closes the gap to the best achievable error").verdict == SUPPORTED
    c = kd_bayes.claim(_kdb({(1.0, 3.0): 0.26}), {})
    assert finding(c, "KD beats the optimally regularized logistic student").verdict == CONTRADICTED
    assert finding(c, "KD closes the gap to the best achievable error").verdict == CONTRADICTED
    c = kd_bayes.claim(_kdb({(1.0, 3.0): 0.21}), {})  # below the bound: inconsistent
    assert finding(c, "consistency: no student below the bound").verdict == CONTRADICTED


def test_a_grid_without_default_series_leaves_dependent_verdicts_undecided():
    """The quick grid has one KD series where the default has three: 'KD beats' (partly on the
    quick grid) may become supported with the others, so it is undecided; a supported
    'KD beats' cannot be undone by more series, so it is decided."""
    quick = {**FIGURES["kd-bayes-teacher"].params, **FIGURES["kd-bayes-teacher"].quick}
    t = _kdb({(1.0, 3.0): [0.26, 0.24, 0.24, 0.24, 0.24]})
    (c,) = evaluate_claims({"kd-bayes-teacher": t}, {"kd-bayes-teacher": quick})
    f = finding(c, "KD beats the optimally regularized logistic student")
    assert f.verdict == PARTLY and "kd" in f.undecided and "(1, 1)" in f.undecided
    (c,) = evaluate_claims({"kd-bayes-teacher": _kdb({(1.0, 3.0): 0.221})}, {"kd-bayes-teacher": quick})
    assert not finding(c, "KD beats the optimally regularized logistic student").undecided
    assert finding(c, "consistency: no student below the bound").undecided  # more series could break it
    # on the default grid nothing is undecided
    (c,) = evaluate_claims({"kd-bayes-teacher": t}, {"kd-bayes-teacher": FIGURES["kd-bayes-teacher"].params})
    assert not c.undecided


def test_undecided_rules():
    d = {"alpha_min": 0.1, "alpha_max": 10, "kd": [(1, 1), (1, 3)]}
    f = Finding("x", SUPPORTED, "", over=("alpha", "kd"), more="hurts")
    assert f.decide({"alpha_min": 0.1, "alpha_max": 10, "kd": [[1, 3]]}, d)  # lists read back from JSON
    assert not f.decide({"alpha_min": 0.1, "alpha_max": 10, "kd": [[1, 1], [1, 3], [0.5, 1]]}, d)
    assert "alpha in [0.1, 5]" in f.decide({"alpha_min": 0.1, "alpha_max": 5, "kd": d["kd"]}, d)
    f = Finding("x", CONTRADICTED, "", over=("alpha", "kd"), more="hurts")
    assert not f.decide({"alpha_min": 0.1, "alpha_max": 10, "kd": [[1, 3]]}, d)


# ----------------------------------------------------------------------------- claim 4 and peaks

ALPHAS = list(np.geomspace(0.1, 10, 12))
PLATEAU_KINK = [0.3175, 0.3220, 0.3245, 0.3253, 0.3254, 0.3253, 0.3254, 0.3255, 0.2880, 0.2570, 0.2390, 0.2190]
BUMP = [0.309, 0.315, 0.326, 0.352, 0.393, 0.341, 0.305, 0.272, 0.250, 0.235, 0.225, 0.218]


def test_plateau_and_kink_is_not_a_peak_but_a_bump_is():
    assert peaks(ALPHAS, PLATEAU_KINK) == []
    (pk,) = peaks(ALPHAS, BUMP)
    assert pk.alpha == pytest.approx(ALPHAS[4]) and pk.value == 0.393 and pk.prominence > 0.03
    assert peaks(ALPHAS, BUMP, min_prominence=0.1) == []
    assert peaks(ALPHAS, np.linspace(0.3, 0.2, 12)) == []  # monotone
    # a small real bump on a plateau is a peak once it stands out on both sides
    small = list(PLATEAU_KINK)
    small[4] += 0.004
    assert [p.alpha for p in peaks(ALPHAS, small)] == [pytest.approx(ALPHAS[4])]


P4 = dict(lam=1e-4, teacher_lam=0.1, eta=0.5)


def _dd(labels, kd):
    return concat([rows("chi=0, T=1", double_descent._series(P4, 0.0, 1.0), alphas=ALPHAS, stage1_gen_error=labels),
                   rows("chi=0.5, T=1", double_descent._series(P4, 0.5, 1.0), alphas=ALPHAS, stage1_gen_error=kd)])


def test_claim4_flips_with_the_numbers():
    c = double_descent.claim(_dd(PLATEAU_KINK, BUMP), P4)
    f = finding(c, "an interpolation peak at small lam")
    assert f.verdict == SUPPORTED and "1 of 2 curves" in f.text and "labels only (chi = 0): no interior peak" in f.text
    assert finding(c, "KD (chi, T) changes the peak").verdict == SUPPORTED
    # no curve has a peak (the plateau-and-kink does not count): contradicted
    c = double_descent.claim(_dd(PLATEAU_KINK, PLATEAU_KINK), P4)
    assert finding(c, "an interpolation peak at small lam").verdict == CONTRADICTED
    assert finding(c, "KD (chi, T) changes the peak").verdict == CONTRADICTED
    # the same peak with and without KD: KD does not change it
    c = double_descent.claim(_dd(BUMP, BUMP), P4)
    assert finding(c, "KD (chi, T) changes the peak").verdict == CONTRADICTED


# ----------------------------------------------------------------------------- theory vs simulation


def test_ties_are_not_rankings():
    assert ranks_agree([0.3, 0.3 + 1e-12], [0.31, 0.30]) is None
    assert ranks_agree([0.3, 0.31], [0.30, 0.32]) is True
    assert ranks_agree([0.3, 0.31], [0.32, 0.30]) is False
    # a tie among three: only the untied pairs count
    assert ranks_agree([0.3, 0.3 + 1e-9, 0.35], [0.32, 0.31, 0.36]) is True


def _kdl_with_sim():
    t = _kdl(0.26, 0.28, lab_same=0.30, lab_opt=0.25)
    kd = kd_logistic._kd(P2)
    sim = dict(alphas=[1.0], n_features=200, n_seeds=2, stage0_gen_error_stderr=0.01,
               stage1_gen_error_stderr=0.01)
    return concat([t,
                   rows("KD, lam_t=0.1", dict(kd, teacher_lam=0.1), "simulate", stage0_gen_error=0.205,
                        stage1_gen_error=0.262, **sim),
                   rows("KD, lam_t=0.001", dict(kd, teacher_lam=0.001), "simulate", stage0_gen_error=0.25,
                        stage1_gen_error=0.281, **sim),
                   # the label-only student's teacher plays no role: its (tied) error is not compared
                   rows(kd_logistic.LAB_OPT, kd_logistic.LABELS_OPT, "simulate", stage0_gen_error=0.40,
                        stage1_gen_error=0.30, stage1_lam=0.2, **sim)])


def test_teacher_errors_are_compared_only_where_the_teacher_matters():
    t = _kdl_with_sim()
    cmp_ = theory_vs_simulation(t, FIGURES["kd-logistic-teacher"].observables)
    teach = cmp_[cmp_["observable"] == "stage0_gen_error"]
    assert len(teach) == 2 and (teach["series_chi"] > 0).all()
    s = simulation_summary("kd-logistic-teacher", t)
    # the worst point is the point of the max abs z column (issue 21): the label-only student, z = 5
    assert s["worst"]["observable"] == "stage1_gen_error" and s["worst"]["series_chi"] == 0
    assert abs(s["worst"]["z"]) == s["max_abs_z"]
    # the teachers rank as in theory; the students do not (the label-only student is far off)
    assert (s["ranked"], s["n_rank"]) == (1, 2)


# ----------------------------------------------------------------------------- CLI file-system errors


def test_cli_output_errors_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from kdlab.cli import app

    f = tmp_path / "a-file"
    f.write_text("x")
    for cmd in (["reproduce", "--quick", "--out", str(f)], ["figure", "regularization", "--out", str(f / "sub")]):
        r = CliRunner().invoke(app, cmd)
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output and r.output.strip().startswith("Error:")
        assert len(r.output.strip().splitlines()) == 1


def test_figure_refuses_to_replace_another_runs_figure(tmp_path):
    from typer.testing import CliRunner

    from kdlab.cli import app
    from kdlab.reporting.output import OutputFolder

    OutputFolder(tmp_path, "talk").open().record([], figures={"regularization": {"rho": 0.3, "n_alpha": 36}})
    r = CliRunner().invoke(app, ["figure", "regularization", "--quick", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--force" in r.output
    assert not (tmp_path / "regularization.png").exists()
