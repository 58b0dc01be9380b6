"""Optimal hyper-parameters: bounded searches over a toy solver and over the real theory."""

from __future__ import annotations

import math

import pytest

from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student
from kdlab.problem import Problem, as_problem
from kdlab.results import Observables, Result, SolverStatus
from kdlab.runs.tuning import OptimizationError, optimal_kd, optimal_lam, solve_robust


def _obs(err):
    return Observables(gen_error=err, train_error=0.0, train_loss=0.0, m=1.0, q=1.0, bias=0.0)


def toy_solve(*problem, init=None, target=0.3, fail_below=None, **_):
    """eps = 0.1 + (log10 lam - log10 target)^2 for the optimized model; chi, T: a bowl at (0.7, 2)."""
    problem = as_problem(*problem)
    teacher, student = problem.stages[0], (problem.stages[-1] if len(problem.stages) > 1 else None)
    if student is None:
        x = teacher.lam
    else:
        x = student.lam
    if fail_below is not None and x < fail_below:
        raise RuntimeError("toy failure")
    err = 0.1 + (math.log10(x) - math.log10(target)) ** 2
    if student is not None:
        err += (student.chi - 0.7) ** 2 + (math.log10(student.temperature) - math.log10(2.0)) ** 2
    stages = (_obs(err),) if student is None else (_obs(0.2), _obs(err))
    return Result("toy", problem, stages, status=SolverStatus(True))


DATA = GaussianMixture(2.0, 1.0, 0.3)


@pytest.mark.parametrize("target", [1e-3, 0.3, 20.0])
def test_optimal_lam_finds_the_minimum_of_a_toy(target):
    opt = optimal_lam(DATA, LogisticTeacher(1.0), None, solve=toy_solve, target=target, xatol=1e-3)
    assert opt.params.keys() == {"lam"} and opt.stage == 0 and opt.record.keys() == {"stage0_lam"}
    assert math.log10(opt.value) == pytest.approx(math.log10(target), abs=5e-3)
    assert opt.gen_error == pytest.approx(0.1, abs=1e-4)
    assert not opt.at_bound and opt.n_evals < 40


def test_optimal_lam_student_and_bound_flag():
    st = Student(eta=0.5, chi=0.0, lam=1.0)
    opt = optimal_lam(DATA, LogisticTeacher(0.1), st, solve=toy_solve, target=1e-6, bounds=(1e-4, 1e2))
    assert "lam" in opt.params and opt.at_bound and opt.value == pytest.approx(1e-4, rel=0.05)


def test_optimal_lam_survives_failed_solves_and_reports_total_failure():
    opt = optimal_lam(DATA, LogisticTeacher(1.0), None, solve=toy_solve, target=0.3, fail_below=1e-2)
    assert opt.value == pytest.approx(0.3, rel=0.02)
    with pytest.raises(OptimizationError):
        optimal_lam(DATA, LogisticTeacher(1.0), None, solve=toy_solve, fail_below=1e9)


@pytest.mark.parametrize("kw, msg", [
    (dict(which="teacher", teacher=BayesOptimalTeacher()), "no ridge"),
    (dict(which="student"), "needs a student"),
    (dict(bounds=(1.0, 0.1)), "low < high"),
    (dict(bounds=(0.0, 1.0)), "0 < low"),
    (dict(n_grid=2), "n_grid"),
    (dict(which="both"), "which"),
])
def test_optimal_lam_validation(kw, msg):
    teacher = kw.pop("teacher", LogisticTeacher(0.1))
    with pytest.raises(ValueError, match=msg):
        optimal_lam(DATA, teacher, None, solve=toy_solve, **kw)


def test_optimal_kd_on_a_toy_bowl():
    st = Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.3)
    opt = optimal_kd(DATA, LogisticTeacher(0.1), st, solve=toy_solve, temperature_bounds=(0.1, 10))
    assert opt.params["chi"] == pytest.approx(0.7, abs=0.02)
    assert opt.params["temperature"] == pytest.approx(2.0, rel=0.05)
    assert opt.gen_error == pytest.approx(0.1, abs=1e-3)
    with pytest.raises(ValueError, match="chi_bounds"):
        optimal_kd(DATA, LogisticTeacher(0.1), st, solve=toy_solve, chi_bounds=(0.0, 1.5))
    with pytest.raises(ValueError, match="needs a student"):
        optimal_kd(DATA, LogisticTeacher(0.1), None, solve=toy_solve)


def test_solve_robust_retries_a_non_converged_solve():
    calls = []

    def flaky(problem, *, method="anderson", init=None):
        calls.append(method)
        return Result("toy", problem, (_obs(0.2),), status=SolverStatus(method == "damped", 1, 0.0, method))

    res = solve_robust(flaky, Problem(DATA, (LogisticTeacher(0.1),)), init="warm")
    assert res.status.converged and calls == ["anderson", "anderson", "damped"]


@pytest.mark.parametrize("residual, retried", [(1e-12, False), (1e-3, True)])
def test_solve_robust_does_not_retry_a_stage_that_reached_its_fixed_point(residual, retried):
    """Issue 20, item 3: a stage whose iteration reached its fixed point (residual <= tol) but whose
    integrals are not accurate enough fails alike from a cold start or with the damped iteration,
    so solve_robust does not retry it (and remembers it); a stage that stopped short is retried."""
    from kdlab.results import Status
    from kdlab.runs import tuning

    tuning.KNOWN_FAILURES.clear()
    calls = []

    def inaccurate(problem, *, method="anderson", init=None):
        calls.append(method)
        st = SolverStatus(False, 30, residual, "quadrature error estimate above 1e-05", Status.NOT_CONVERGED)
        return Result("toy", problem, (_obs(0.2),), status=st, stage_status=(st,))

    p = Problem(DATA, (LogisticTeacher(0.1),))
    res = solve_robust(inaccurate, p, init="warm")
    assert not res.status.converged
    assert calls == (["anderson", "anderson", "damped"] if retried else ["anderson"])
    calls.clear()
    solve_robust(inaccurate, p, init="warm")  # known now: never retried again
    assert calls == ["anderson"]


# ----------------------------------------------------------------------------- real theory


def test_optimal_teacher_lam_is_a_minimum_of_the_theory():
    from kdlab import theory

    opt = optimal_lam(DATA, LogisticTeacher(0.1), None)
    assert opt.result.status.converged and not opt.at_bound
    for f in (0.7, 1.4):
        other = theory.solve(DATA, LogisticTeacher(opt.value * f)).teacher.gen_error
        assert other >= opt.gen_error - 1e-9
    # unbalanced clusters: even the optimum stays above the Bayes-optimal error
    assert opt.gen_error > theory.bayes_optimal_error(DATA) + 1e-3


def test_optimal_student_lam_of_the_theory():
    from kdlab import theory

    st = Student(eta=0.5, chi=0.0, lam=0.1)
    opt = optimal_lam(DATA, LogisticTeacher(0.1), st)
    assert 1e-3 < opt.value < 10 and opt.result.student is not None
    for f in (0.7, 1.4):
        other = theory.solve(DATA, LogisticTeacher(0.1), st.replace(lam=opt.value * f)).student.gen_error
        assert other >= opt.gen_error - 1e-9


def test_cli_optimize(tmp_path):
    import json

    from typer.testing import CliRunner

    from kdlab.cli import app

    r = CliRunner().invoke(app, ["optimize", "lam", "--which", "teacher", "--alpha", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["optimum"]) == {"lam"} and 0 < out["gen_error"] < 0.3
    r = CliRunner().invoke(app, ["optimize", "lam", "--bounds", "1,0.1"])
    assert r.exit_code != 0 and "low < high" in r.output
    r = CliRunner().invoke(app, ["optimize", "kd", "--grid", "2", "--chi-bounds", "0.5,1",
                                 "--temperature-bounds", "1,3"])
    assert r.exit_code == 0, r.output
    assert "chi = " in r.stdout and "temperature = " in r.stdout


# ----------------------------------------------------------------------------- optimal_stage


def test_optimal_stage_finds_the_bowl_of_a_toy_in_three_coordinates():
    from kdlab.runs.tuning import optimal_stage

    st = Student(eta=0.5, chi=0.2, temperature=1.0, lam=1.0)
    opt = optimal_stage(Problem(DATA, [LogisticTeacher(0.1), st]), ["lam", "chi", "temperature"], solve=toy_solve,
                        target=0.05, xatol=1e-3)
    assert opt.params["lam"] == pytest.approx(0.05, rel=0.02)
    assert opt.params["chi"] == pytest.approx(0.7, abs=5e-3)
    assert opt.params["temperature"] == pytest.approx(2.0, rel=0.02)
    assert opt.gen_error == pytest.approx(0.1, abs=1e-4) and not opt.at_bound and opt.bound_params == ()


def test_optimal_stage_flags_the_coordinate_on_the_edge():
    from kdlab.runs.tuning import optimal_stage

    st = Student(eta=0.5, chi=0.2, temperature=1.0, lam=1.0)
    opt = optimal_stage(Problem(DATA, [LogisticTeacher(0.1), st]), {"lam": (1e-2, 1.0), "chi": (0.0, 0.5)},
                        solve=toy_solve, target=1e-4)
    assert opt.at_bound and set(opt.bound_params) == {"lam", "chi"}
    assert opt.params["lam"] == pytest.approx(1e-2, rel=0.05) and opt.params["chi"] == pytest.approx(0.5, abs=0.01)


def test_optimal_stage_never_ends_above_its_start_on_the_theory():
    """Started at the label-only optimum (chi = 0), the tuned KD student is at least as good."""
    from kdlab import theory
    from kdlab.runs.tuning import optimal_stage

    data = GaussianMixture(2.0, 1.0, 0.3, label_noise=0.1)
    lab = optimal_lam(data, LogisticTeacher(0.1), Student(eta=0.5, chi=0.0, lam=1.0))
    opt = optimal_stage(Problem(data, [LogisticTeacher(0.1), Student(eta=0.5, chi=0.5, lam=1.0)]),
                        ["lam", "chi", "temperature"], x0={"lam": lab.value, "chi": 0.0})
    assert opt.gen_error <= lab.gen_error + 1e-9
    again = theory.solve(data, LogisticTeacher(0.1), Student(eta=0.5, lam=opt.params["lam"], chi=opt.params["chi"],
                                                             temperature=opt.params["temperature"]))
    assert again.student.gen_error == pytest.approx(opt.gen_error, abs=1e-8)


@pytest.mark.parametrize("space, msg", [
    (["eta"], "tunes lam, chi, temperature"),
    ({"lam": (1.0, 0.1)}, "low < high"),
    ({}, "at least one"),
])
def test_optimal_stage_rejects_bad_spaces(space, msg):
    from kdlab.runs.tuning import optimal_stage

    with pytest.raises(ValueError, match=msg):
        optimal_stage(Problem(DATA, [LogisticTeacher(0.1), Student()]), space, solve=toy_solve)


# ----------------------------------------------------------------------------- optimal_chain (joint)


def _joint_toy(*problem, init=None, **_):
    """Last stage's eps = 0.1 + (log10 lam1 - log10 lam0 / 2 - 1)^2 + (log10 lam0 - 0.5)^2 / 2; stage 0's
    own error is smallest at lam0 = 1e-2 (greedy tuning would stop there)."""
    problem = as_problem(*problem)
    l0 = math.log10(problem.stages[0].lam)
    e0 = 0.1 + (l0 + 2.0) ** 2
    if len(problem.stages) == 1:
        return Result("toy", problem, (_obs(e0),), status=SolverStatus(True))
    l1 = math.log10(problem.stages[1].lam)
    e1 = 0.1 + (l1 - 0.5 * l0 - 1.0) ** 2 + 0.5 * (l0 - 0.5) ** 2
    return Result("toy", problem, (_obs(e0), _obs(e1)), status=SolverStatus(True))


def test_optimal_chain_tunes_stages_jointly_and_beats_greedy():
    from kdlab.runs.tuning import optimal_chain, optimal_stage

    p = Problem(DATA, [LogisticTeacher(1.0), Student(eta=1.0, chi=1.0, lam=1.0)])
    g0 = optimal_stage(Problem(DATA, [LogisticTeacher(1.0)]), {"lam": (1e-3, 1e3)}, solve=_joint_toy)
    assert g0.params["lam"] == pytest.approx(1e-2, rel=0.05)
    g1 = optimal_stage(p.replace(stage0={"lam": g0.params["lam"]}), {"lam": (1e-3, 1e3)}, solve=_joint_toy)
    opt = optimal_chain(p, {0: {"lam": (1e-3, 1e3)}, 1: {"lam": (1e-3, 1e3)}}, solve=_joint_toy, sweeps=6,
                        xatol=1e-3)
    assert set(opt.params) == {"stage0_lam", "stage1_lam"} and opt.record == opt.params
    assert opt.per_stage == {0: {"lam": opt.params["stage0_lam"]}, 1: {"lam": opt.params["stage1_lam"]}}
    assert math.log10(opt.params["stage0_lam"]) == pytest.approx(0.5, abs=0.05)
    assert math.log10(opt.params["stage1_lam"]) == pytest.approx(1.25, abs=0.05)
    assert opt.gen_error == pytest.approx(0.1, abs=1e-3) and opt.gen_error < g1.gen_error - 0.5
    # a local polish from the greedy optimum never ends above it
    loc = optimal_chain(p, {0: ["lam"], 1: ["lam"]}, solve=_joint_toy, scan=False,
                        x0={0: {"lam": g0.params["lam"]}, 1: {"lam": g1.params["lam"]}})
    assert loc.gen_error <= g1.gen_error + 1e-12


def test_optimal_chain_flags_edges_and_rejects_bad_spaces():
    from kdlab.runs.tuning import optimal_chain

    p = Problem(DATA, [LogisticTeacher(1.0), Student(eta=1.0, chi=1.0, lam=1.0)])
    opt = optimal_chain(p, {0: {"lam": (1e-3, 1.0)}, 1: {"lam": (1e-3, 1e3)}}, solve=_joint_toy)
    assert opt.bound_params == ("stage0_lam",) and opt.at_bound
    with pytest.raises(ValueError, match="stage index"):
        optimal_chain(p, {2: ["lam"]}, solve=_joint_toy)
    with pytest.raises(ValueError, match="no parameter chi"):
        optimal_chain(p, {0: ["chi"]}, solve=_joint_toy)
    with pytest.raises(ValueError, match="at least one"):
        optimal_chain(p, {}, solve=_joint_toy)


def _failing_below(lam_fail, calls):
    """A toy solver that does not converge (any method, warm or cold) for lam < lam_fail."""
    def solve(*problem, init=None, method="anderson", **kw):
        res = toy_solve(*problem, target=0.3)
        lam = res.problem.stages[-1].lam
        calls.append((lam, method, init is not None))
        ok = lam >= lam_fail
        return Result("toy", res.problem, res.stages, status=SolverStatus(ok, 1, 0.0, "ok" if ok else "no"))
    return solve


def test_searches_report_failed_solves_and_retries_within_the_budget(monkeypatch):
    """Issue 20, item 3: a search counts the points whose solve failed (n_failed) and the retries
    spent on them (n_retries), never more than RETRY_BUDGET; a problem whose retries failed is
    not retried again by a later search in this process (its own warm solve still runs)."""
    from kdlab.runs import tuning

    tuning.KNOWN_FAILURES.clear()
    calls: list = []
    solve = _failing_below(0.05, calls)
    opt = optimal_lam(DATA, LogisticTeacher(1.0), None, solve=solve, n_grid=9)
    assert opt.value == pytest.approx(0.3, rel=0.05)
    failed = [c for c in calls if c[0] < 0.05]
    assert opt.n_failed == len({c[0] for c in failed}) >= 2
    assert opt.n_retries == len(failed) - opt.n_failed  # every failed point: one solve, then its retries
    assert {c[1] for c in failed} == {"anderson", "damped"}
    # the same search again: the known failures are not retried
    calls.clear()
    again = optimal_lam(DATA, LogisticTeacher(1.0), None, solve=solve, n_grid=9)
    assert again.value == opt.value and again.n_failed == opt.n_failed and again.n_retries == 0
    assert all(c[1] == "anderson" for c in calls if c[0] < 0.05)
    # a budget of 3 retries: spent, then failed solves are +inf at once
    tuning.KNOWN_FAILURES.clear()
    monkeypatch.setattr(tuning, "RETRY_BUDGET", 3)
    calls.clear()
    low = optimal_lam(DATA, LogisticTeacher(1.0), None, solve=solve, n_grid=9)
    assert low.n_retries == 3 and low.n_failed == opt.n_failed and low.value == opt.value
    assert len([c for c in calls if c[0] < 0.05]) == low.n_failed + 3
