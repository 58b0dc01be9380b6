"""Theory of chains of stages (``docs/theory.md``, "Chains of stages"): exact limits, the
the former pair solver's numbers, honest failures, bad input, warm starts, the CLI, and
(slow) theory vs ``kdlab.simulate``."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import kdlab
from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student, gen_error
from kdlab.cli import app
from kdlab.errors import ParameterError
from kdlab.losses import KDLoss
from kdlab.problem import Fresh, Problem, teacher_from_name
from kdlab.results import Status
from kdlab.theory import WarmStart, bayes_optimal_error, curve, solve
from kdlab.theory import stage as stage_module

OBS = ("gen_error", "train_error", "train_loss", "m", "q", "bias")
DATA = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
T01 = LogisticTeacher(lam=0.1)


def rel(a, b):
    return abs(a - b) / (1.0 + abs(b))


# --------------------------------------------------------------------------- exact limits
PAIR_REFERENCE = json.loads((Path(__file__).parent / "data" / "pair-reference.json").read_text())


@pytest.mark.parametrize("name", sorted(PAIR_REFERENCE))
def test_the_one_path_gives_the_former_pair_solvers_numbers(name):
    """kdlab 0.2 solved the talk's pair with dedicated maps (tests/data/make_pair_reference.py
    stored their output); the generic per-stage map, now the only path, gives the same numbers
    to 1e-10 relative: observables, susceptibilities and conjugates."""
    ref = PAIR_REFERENCE[name]
    pr = ref["problem"]
    data = GaussianMixture(**pr["data"])
    teacher = teacher_from_name(pr["teacher"]["kind"], **{k: v for k, v in pr["teacher"].items() if k != "kind"})
    student = Student(**{k: v for k, v in pr["student"].items() if k != "data"})
    res = solve(Problem(data, (teacher, student)), tol=1e-12)
    assert res.status.converged, res.status.message
    for obs, want in zip(res.stages, ref["stages"]):
        for key, value in want.items():
            assert rel(getattr(obs, key), value) < 1e-10, (name, key, getattr(obs, key), value)


def test_small_noise_and_teacher_subset_are_continuous():
    st = Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1)
    ref = solve(DATA, T01, st, tol=1e-12)
    noisy = solve(DATA.replace(label_noise=1e-9), T01, st, tol=1e-12)
    sub = solve(DATA, LogisticTeacher(lam=0.1, eta=1.0 - 1e-9), st, tol=1e-12)
    for r in (noisy, sub):
        assert r.status.converged
        for a, b in zip(r.stages, ref.stages):
            for o in OBS:
                assert rel(getattr(a, o), getattr(b, o)) < 1e-7, o


def test_fresh_student_with_chi0_is_an_independent_logistic_model():
    data = GaussianMixture(alpha=1.0, delta=1.0, rho=0.5, label_noise=0.2)
    c = solve(data, [T01, Student(eta=0.7, chi=0.0, lam=0.05, data=Fresh(alpha=2.0))], tol=1e-12)
    ind = solve(data.replace(alpha=2.0), [LogisticTeacher(lam=0.05, eta=0.7)], tol=1e-12)
    for o in OBS:
        assert rel(getattr(c.stages[1], o), getattr(ind.stages[0], o)) < 1e-10, o
    # independent training sets: the only common direction is the mean
    assert abs(c.overlaps[1, 0] - c.stages[0].m * c.stages[1].m) < 1e-12


def test_chi0_stage_inside_a_shared_chain_is_independent():
    data = DATA.replace(label_noise=0.15)
    ch = [LogisticTeacher(lam=0.1, eta=0.8), Student(eta=0.6, chi=0.7, temperature=2.0, lam=0.05),
          Student(eta=0.5, chi=0.0, lam=0.2)]
    c = solve(data, ch, tol=1e-12)
    ind = solve(data, [LogisticTeacher(lam=0.2, eta=0.5)], tol=1e-12)
    for o in OBS:
        assert rel(getattr(c.stages[2], o), getattr(ind.stages[0], o)) < 1e-9, o


@pytest.mark.parametrize("teacher", [T01, BayesOptimalTeacher()])
def test_copy_limit_along_a_chain(teacher):
    """eta = 1, chi = 1, lam -> 0 on the parent's set: each stage copies its parent (the
    deviation is O(lam), as for the pair)."""
    copy = Student(eta=1.0, chi=1.0, temperature=2.0, lam=1e-7)
    c = solve(GaussianMixture(alpha=3.0, rho=0.3), [teacher, copy, copy, copy])
    assert c.status.converged
    t = c.stages[0]
    for s in c.stages[1:]:
        for o in ("gen_error", "m", "q", "bias"):
            assert rel(getattr(s, o), getattr(t, o)) < 1e-5, o
    np.testing.assert_allclose(c.overlaps, t.q, rtol=1e-5)


@pytest.mark.parametrize("alpha, delta, rho, eta", [(0.7, 0.5, 0.5, 0.3), (2.0, 1.0, 0.3, 0.6)])
def test_bayes_optimal_teacher_on_a_subset(alpha, delta, rho, eta):
    data = GaussianMixture(alpha=alpha, delta=delta, rho=rho)
    c = solve(data, [BayesOptimalTeacher(eta=eta)])
    a2, d2 = alpha / eta, delta / eta
    ref = gen_error(2 * a2 / (d2 * (d2 + a2)), 4 * a2 / (d2 * d2 * (d2 + a2)), data.prior_bias, d2, rho)
    assert c.status.converged
    assert abs(c.teacher.gen_error - float(ref)) < 1e-12
    assert abs(c.teacher.gen_error - bayes_optimal_error(data, eta)) < 1e-12


def test_stein_lemma_equals_the_chain_rule(monkeypatch):
    data = DATA.replace(label_noise=0.1)
    ch = [T01, Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1),
          Student(eta=0.7, chi=0.5, lam=0.1, data=Fresh(alpha=1.5))]
    a = solve(data, ch)
    monkeypatch.setattr(stage_module, "FORCE_STEIN", True)
    b = solve(data, ch)
    for sa, sb in zip(a.stages[1:], b.stages[1:]):
        for o in OBS + ("p",):
            assert rel(getattr(sa, o), getattr(sb, o)) < 1e-9, o


def test_hard_labels_converge_and_the_quadrature_is_honest():
    ch = [T01, Student(eta=0.5, chi=1.0, temperature=0.0, lam=0.1)]
    a = solve(DATA, ch, quad_tol=1e-6)
    b = solve(DATA, ch, quad_tol=1e-9)
    assert a.status.converged and b.status.converged
    for o in OBS + ("p",):
        assert abs(getattr(a.student, o) - getattr(b.student, o)) < 1e-8, o


def test_chi_above_one_uses_kdlabs_loss():
    loss = Student(eta=0.5, chi=1.5, temperature=1.0, lam=0.1).loss()
    assert isinstance(loss, KDLoss) and loss.grad_bound() >= 1.5
    u = loss.prox(np.array([-30.0]), 10.0, np.array([-1.0]), np.array([20.0]))
    assert abs(u[0] - (-15.0)) < 1e-4
    c = solve(DATA, [T01, Student(eta=0.5, chi=1.5, lam=0.1)])
    assert c.status.converged and 0 < c.student.gen_error < 0.5


# --------------------------------------------------------------------------- API and layout
MIXTURE = [T01, Student(eta=0.7, chi=0.5, lam=0.1, data=Fresh(alpha=3.0)),
           Student(eta=0.7, chi=0.5, temperature=2.0, lam=0.1),
           Student(eta=0.8, chi=1.0, temperature=0.0, lam=0.1, data=Fresh(alpha=2.0))]


def test_mixture_result_layout_overlaps_and_warm_start():
    data = DATA.replace(label_noise=0.1)
    c = solve(data, MIXTURE)
    assert c.status.converged and c.status.code is Status.CONVERGED
    assert len(c.stages) == 4 and len(c.stage_status) == 4
    assert c.overlaps.shape == (4, 4)
    np.testing.assert_allclose(c.overlaps, c.overlaps.T)
    assert np.linalg.eigvalsh(c.overlaps).min() > 0
    for k, s in enumerate(c.stages):
        assert c.overlaps[k, k] == s.q
        if k:
            assert c.overlaps[k, k - 1] == s.p
        assert s.gen_error == pytest.approx(float(gen_error(s.m, s.q, s.bias, data.delta, data.rho)))
    warm = solve(data, MIXTURE, init=c)
    assert warm.status.iterations < c.status.iterations / 3
    for a, b in zip(warm.stages, c.stages):
        for o in OBS:
            assert rel(getattr(a, o), getattr(b, o)) < 1e-8
    ws = WarmStart.from_result(c)
    assert ws.stages is not None and len(ws.stages) == 4 and ws.stages[3].layout == ((2,), ())  # Fresh: its parent only


def test_two_ways_to_call_give_the_same_result():
    st = Student(eta=0.5, chi=0.5, lam=0.1)
    for teacher in (T01, LogisticTeacher(lam=0.1, eta=0.5)):
        a, b = solve(DATA, teacher, st), solve(DATA, [teacher, st])
        assert a.to_record() == b.to_record()
        assert a.stages == b.stages
        np.testing.assert_array_equal(a.overlaps, b.overlaps)


def test_curve_along_a_later_stage_parameter():
    ch = [LogisticTeacher(lam=0.1, eta=0.7), Student(eta=0.7, chi=0.5, lam=0.1),
          Student(eta=0.6, chi=0.5, lam=0.1, data=Fresh(alpha=2.0))]
    df, res = curve(DATA, ch, along="stage1_chi", values=[0.3, 0.4, 0.5], return_results=True)
    assert bool(df["status_converged"].all())
    cold = solve(DATA, ch)
    for o in OBS:
        assert rel(getattr(res[-1].stages[2], o), getattr(cold.stages[2], o)) < 1e-8


def test_failures_are_honest():
    ch = [LogisticTeacher(lam=0.0), Student(eta=0.5, chi=0.5, lam=0.1), Student(eta=0.5, chi=0.5, lam=0.1)]
    c = solve(GaussianMixture(alpha=0.5, rho=0.3, label_noise=0.0), [LogisticTeacher(lam=0.0, eta=0.5)] + ch[1:])
    assert not c.status.converged and c.status.code is Status.DIVERGED
    assert [s.code for s in c.stage_status] == [Status.DIVERGED, Status.NOT_SOLVED, Status.NOT_SOLVED]
    assert all(math.isnan(s.gen_error) for s in c.stages)
    assert np.isnan(c.overlaps).all()
    short = solve(DATA, MIXTURE, maxiter=3)
    assert short.stage_status[0].code is Status.NOT_CONVERGED
    assert all(s.code is Status.NOT_SOLVED for s in short.stage_status[1:])


@pytest.mark.parametrize("make, error, words", [
    (lambda: solve(DATA, [T01, "student"]), TypeError, ["stage 1", "'student'"]),
    (lambda: solve(DATA, [T01, Student(), object()]), TypeError, ["stage 2", "object"]),
    (lambda: solve(DATA, [Student(), Student()]), TypeError, ["stage 0", "Student"]),
    (lambda: solve(DATA, [T01, Student(), LogisticTeacher()]), TypeError, ["stage 2", "teacher"]),
    (lambda: Student(data=Fresh(alpha=0.0)), ValueError, ["Fresh", "alpha"]),
    (lambda: Fresh(alpha=-1.0), ValueError, ["Fresh", "alpha"]),
    (lambda: GaussianMixture(alpha=2.0, label_noise=0.5), ValueError, ["label_noise"]),
    (lambda: solve(DATA.replace(label_noise=0.1), [BayesOptimalTeacher(), Student()]), ParameterError,
     ["stage 0", "label_noise"]),
])
def test_bad_input_is_a_one_line_error(make, error, words):
    with pytest.raises(error) as exc:
        make()
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_five_stages_on_fresh_sets_are_solved():
    ch = [T01] + [Student(eta=0.7, chi=0.5, lam=0.1, data=Fresh(alpha=2.0))] * 5
    c = solve(DATA, ch)
    assert c.status.converged and c.overlaps.shape == (6, 6)


CHAIN_TOML = """
[data]
alpha = 2.0
rho = 0.3
label_noise = 0.1

[[stages]]
kind = "logistic"
lam = 0.1
eta = 0.8

[[stages]]
eta = 0.7
chi = 0.5
temperature = 2.0
lam = 0.1

[[stages]]
eta = 0.6
chi = 1.0
temperature = 0.0
lam = 0.1
data = "fresh"
data_alpha = 1.5
"""


def test_cli_chain_file_theory_and_simulate(tmp_path):
    path = tmp_path / "chain.toml"
    path.write_text(CHAIN_TOML)
    runner = CliRunner()
    outs = []
    for args in (["theory", "--problem", str(path), "--json"],
                 ["simulate", "--problem", str(path), "--json", "--n-features", "300", "--seeds", "2"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert len(out["stages"]) == 3
        assert np.asarray(out["overlaps"]).shape == (3, 3)
        for s in out["stages"]:
            assert isinstance(s["gen_error"], float) and 0 < s["gen_error"] < 0.5
        outs.append(out)
    ref = solve(GaussianMixture(alpha=2.0, rho=0.3, label_noise=0.1),
                [LogisticTeacher(lam=0.1, eta=0.8), Student(eta=0.7, chi=0.5, temperature=2.0, lam=0.1),
                 Student(eta=0.6, chi=1.0, temperature=0.0, lam=0.1, data=Fresh(alpha=1.5))])
    assert outs[0]["stages"][2]["gen_error"] == ref.stages[2].gen_error
    assert outs[0]["status"]["converged"] is True


# --------------------------------------------------------------------------- theory vs simulation
N_SIM, SEEDS = 2000, 16
SIM_POINTS = {
    # 3 students on one set (covers 2- and 3-student chains), chi = 1.5 at T = 1, rho = 0.3
    "shared4_chi15": (DATA, [T01, Student(eta=0.7, chi=0.5, lam=0.1),
                             Student(eta=0.7, chi=0.8, temperature=2.0, lam=0.05),
                             Student(eta=0.6, chi=1.5, temperature=1.0, lam=0.1)]),
    # weak teacher (eta = 0.3) with a full student, label noise 0.2, then a hard Fresh student
    "weak_noise_fresh_hard": (GaussianMixture(alpha=2.0, rho=0.4, label_noise=0.2),
                              [LogisticTeacher(lam=0.1, eta=0.3), Student(eta=1.0, chi=0.5, lam=0.1),
                               Student(eta=0.7, chi=1.0, temperature=0.0, lam=0.1, data=Fresh(alpha=1.5))]),
    # Bayes-optimal weak teacher, a Fresh student, then a Shared soft one after it
    "bo_fresh_shared": (GaussianMixture(alpha=1.5, rho=0.35),
                        [BayesOptimalTeacher(eta=0.3), Student(eta=1.0, chi=0.7, temperature=2.0, lam=0.05,
                                                               data=Fresh(alpha=2.0)),
                         Student(eta=0.6, chi=0.5, lam=0.1)]),
    # hard labels on the teacher's set, then a soft student; label noise 0.1, rho = 1/2
    "hard_middle_noise": (GaussianMixture(alpha=2.0, rho=0.5, label_noise=0.1),
                          [T01, Student(eta=0.7, chi=1.0, temperature=0.0, lam=0.1),
                           Student(eta=0.7, chi=0.5, lam=0.1)]),
    # the pairs and short chains the issue lists, one feature at a time
    "fresh_student": (DATA, [T01, Student(eta=0.5, chi=1.0, temperature=2.0, lam=0.01, data=Fresh(alpha=3.0))]),
    "two_fresh": (DATA, [T01, Student(eta=0.7, chi=0.5, lam=0.1, data=Fresh(alpha=1.5)),
                         Student(eta=0.7, chi=1.0, temperature=2.0, lam=0.05, data=Fresh(alpha=2.0))]),
    "noise03_fresh": (GaussianMixture(alpha=2.0, rho=0.4, label_noise=0.3),
                      [T01, Student(eta=0.7, chi=0.5, lam=0.1, data=Fresh(alpha=2.0))]),
    "hard_shared": (DATA, [T01, Student(eta=0.5, chi=1.0, temperature=0.0, lam=0.05)]),
    "weak_teacher_full_student": (DATA, [LogisticTeacher(lam=0.1, eta=0.3),
                                         Student(eta=1.0, chi=1.0, temperature=1.0, lam=0.05)]),
    "chi15_pair": (DATA, [T01, Student(eta=0.5, chi=1.5, temperature=1.0, lam=0.1)]),
    "shared3_noise01": (GaussianMixture(alpha=2.0, rho=0.3, label_noise=0.1),
                        [T01, Student(eta=1.0, chi=1.0, temperature=2.0, lam=0.05),
                         Student(eta=1.0, chi=1.0, temperature=2.0, lam=0.05)]),
    "t2_fresh": (GaussianMixture(alpha=1.5, rho=0.35), [T01, Student(eta=0.6, chi=0.5, temperature=3.0, lam=0.1,
                                                                      t2_scaling=True, data=Fresh(alpha=2.0))]),
    # bias fixing and class weights (issue 18): both backends
    "fixed_bias_pseudo_labels": (GaussianMixture(alpha=1.0, delta=0.5, rho=0.5, label_noise=0.3),
                                 [LogisticTeacher(lam=0.1), Student(eta=1.0, chi=1.0, temperature=0.0, lam=0.1,
                                                                    bias=0.0)]),
    "prior_bias_weighted_teacher_parent_bias_student": (
        DATA, [LogisticTeacher(lam=0.1, bias="prior", class_weight=2.0),
               Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1, bias="parent", class_weight=0.7)]),
}


def _check_point(name):
    data, ch = SIM_POINTS[name]
    th = solve(data, ch)
    assert th.status.converged, th.status.message
    sim = kdlab.simulate(data, ch, n_features=N_SIM, seeds=SEEDS, n_jobs=2)
    bad = []
    keys = OBS + ("p",)
    for k, (t, s) in enumerate(zip(th.stages, sim.stages)):
        for o in keys:
            if o == "p" and k == 0:
                continue
            tv, sv, se = getattr(t, o), getattr(s, o), s.stderr.get(o, 0.0)
            if abs(tv - sv) > 3 * se + 0.01 * abs(tv) + 1e-12:
                bad.append(f"stage {k} {o}: theory {tv:.5f}, simulation {sv:.5f} +- {se:.5f}")
    K1 = len(ch)
    for i in range(K1):
        for j in range(i):
            tv, sv, se = th.overlaps[i, j], sim.overlaps[i, j], sim.overlaps_stderr[i, j]
            if abs(tv - sv) > 3 * se + 0.01 * abs(tv):
                bad.append(f"overlap {i},{j}: theory {tv:.5f}, simulation {sv:.5f} +- {se:.5f}")
    assert not bad, "; ".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SIM_POINTS))
def test_theory_equals_simulation(name):
    _check_point(name)


def test_bias_rules_and_class_weights():
    """A fixed bias is the stage's bias exactly (prior log-odds, a number, the parent's); a free
    bias at rho = 1/2 with symmetric labels is 0; a class weight w on the +1 samples of a label-only
    learner is the same minimizer as w-weighted samples (scikit-learn's sample_weight)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from kdlab.simulation.run import fit_stage, sample_dataset

    r = solve(DATA, [LogisticTeacher(lam=0.1, bias="prior"), Student(eta=0.5, lam=0.1, bias="parent"),
                     Student(eta=0.5, lam=0.1, bias=-0.25)])
    assert r.status.converged
    assert r.stages[0].bias == DATA.prior_bias and r.stages[1].bias == r.stages[0].bias
    assert r.stages[2].bias == -0.25
    free = solve(DATA, [LogisticTeacher(lam=0.1)])
    assert abs(free.teacher.bias - DATA.prior_bias) > 0.05 and r.teacher.gen_error != free.teacher.gen_error
    # class weights in the ERM: sklearn with sample weights
    ds = sample_dataset(DATA, 300, seed=1)
    fit, w = fit_stage(LogisticTeacher(lam=0.5, class_weight=2.5), DATA, ds, None, None, DATA.alpha)
    sk = LogisticRegression(C=1 / 0.5, tol=1e-12, max_iter=10000).fit(ds.Xs, ds.y,
                                                                      sample_weight=np.where(ds.y > 0, 2.5, 1.0))
    assert np.allclose(w, sk.coef_[0], atol=1e-6) and abs(fit.bias - sk.intercept_[0]) < 1e-6
    # in theory, weighting the minority class moves the bias towards it
    wt = solve(DATA, [LogisticTeacher(lam=0.1, class_weight=1.0 / DATA.rho - 1.0)])
    assert wt.status.converged and wt.teacher.bias > free.teacher.bias
