"""Learners on sample groups (several sets, several label sources), the workflows, the chain's
input side, and the constant classifier (``docs/model.md``, "Learners and sample groups")."""

from __future__ import annotations

import itertools
import math
import tomllib

import numpy as np
import pytest

from kdlab import simulate, theory
from kdlab.errors import ParameterError
from kdlab.problem import (
    Fresh,
    GaussianMixture,
    Group,
    Learner,
    LogisticTeacher,
    Problem,
    Student,
    from_stage,
)
from kdlab.results import Status
from kdlab.theory.inputs import ChainInputs
from kdlab.workflows import accumulate, mix, replace, workflow

DATA = GaussianMixture(alpha=2.0, delta=1.0, label_noise=0.2)
T = LogisticTeacher(lam=0.1)


def _learner_of(student: Student, k: int, set_name: str) -> Learner:
    """The two-group learner form of ``student`` (stage ``k``) on ``set_name``."""
    alpha = student.data.alpha if isinstance(student.data, Fresh) else None
    return Learner(eta=student.eta, lam=student.lam, bias=student.bias, class_weight=student.class_weight,
                   groups=(Group(set_name, alpha=alpha, weight=1 - student.chi),
                           Group(set_name, alpha=alpha, weight=student.chi,
                                 labels=from_stage(k - 1, student.temperature, student.t2_scaling))))


STUDENTS = [
    Student(chi=0.6, temperature=2.0, lam=0.1, eta=0.7),
    Student(chi=1.0, temperature=0.0, lam=0.2),
    Student(chi=0.5, temperature=3.0, t2_scaling=True, lam=0.05, bias="prior"),
    Student(chi=0.8, temperature=1.0, lam=0.1, data=Fresh(alpha=1.5)),
    Student(chi=1.0, temperature=0.0, lam=0.1, eta=0.6, data=Fresh(alpha=3.0)),
]


@pytest.mark.parametrize("student", STUDENTS, ids=range(len(STUDENTS)))
def test_a_student_and_its_two_group_learner_are_the_same_computation(student):
    name = "fresh2" if isinstance(student.data, Fresh) else "train"
    chain_s = [T, Student(chi=0.5, temperature=2.0, lam=0.1), student]
    first = _learner_of(chain_s[1], 1, "train")
    chain_l = [T, first, _learner_of(student, 2, name)]
    for backend in (lambda c: theory.solve(DATA, c), lambda c: simulate(DATA, c, n_features=120, seeds=2)):
        a, b = backend(chain_s), backend(chain_l)
        for oa, ob in zip(a.stages, b.stages):
            for key, va in oa.values().items():
                vb = ob.values()[key]
                assert abs(va - vb) <= 1e-10 * (1 + abs(va)), (key, va, vb)


def test_soft_accumulation_at_the_teachers_ridge_keeps_the_teacher_exactly():
    # the soft labels of w0 on new inputs are fitted exactly by w0 (CE(s(h0/T), s(u/T)) is smallest
    # at u = h0), and the real set's term is the teacher's own objective: every generation is w0
    # (generation 3 has 4 members on the real set besides others: RQMC, exact to its standard error)
    p = accumulate(DATA, 3, temperature=2.0)
    r = theory.solve(p)
    assert r.status.converged
    assert "qmc_error_stage3" in r.extra and "qmc_error_stage2" not in r.extra
    for k, o in enumerate(r.stages[1:], 1):
        tol = 1e-8 + 4 * r.extra.get(f"qmc_error_stage{k}", 0.0)
        for key in ("gen_error", "m", "q", "bias"):
            assert getattr(o, key) == pytest.approx(getattr(r.stages[0], key), rel=tol, abs=1e-10), (k, key)
    s = simulate(p, n_features=150, seeds=2)
    for o in s.stages[1:]:
        assert o.q == pytest.approx(s.stages[0].q, rel=1e-6)


def test_a_stage_that_does_not_use_an_earlier_one_does_not_respond_to_it():
    # stage 1 trains on syn1 only; stage 2 (the teacher's objective plus its soft labels on syn1)
    # is the teacher again, and its response to stage 1 is exactly 0
    st = [T, Learner(lam=0.2, groups=(Group("syn1", alpha=2.0, labels=from_stage(0, 1.0)),)),
          Learner(lam=0.1, groups=(Group("train"), Group("syn1", labels=from_stage(0, 1.0))))]
    r = theory.solve(DATA, st)
    assert r.stages[2].gen_error == pytest.approx(r.stages[0].gen_error, rel=1e-9)
    assert abs(r.stages[2].Vx) < 1e-8


def _input_side_by_classes(delta, etas, lams, mhats, Qhat, Vhat, k):
    """Oracle: stage k's m, Q row, V row by enumerating which stages are active on a coordinate
    (2^k classes), each a lower-triangular linear system (``docs/theory.md``)."""
    m, Q, V = 0.0, np.zeros(k + 1), np.zeros(k + 1)
    for bits in itertools.product((0, 1), repeat=k):
        S = [j for j in range(k) if bits[j]] + [k]
        P = etas[k] * np.prod([etas[j] if bits[j] else 1 - etas[j] for j in range(k)])
        Lam = np.array([[delta * Vhat[a, b] + (lams[a] if a == b else 0.0) if b <= a else 0.0 for b in S] for a in S])
        Li = np.linalg.inv(Lam)
        mv = np.array([mhats[j] for j in S])
        Cov = np.outer(mv, mv) + delta * Qhat[np.ix_(S, S)]
        m += P * (Li[-1] @ mv)
        rows = Li @ Cov @ Li.T
        for a, j in enumerate(S):
            Q[j] += P * rows[-1, a]
            V[j] += P * delta * Li[-1, a]
    return m, Q, V


def test_the_chain_input_side_equals_the_sum_over_coordinate_classes():
    rng = np.random.default_rng(3)
    K, delta = 4, 0.7
    etas, lams = [1.0, 0.6, 0.8, 0.5], [0.1, 0.3, 0.05, 0.2]
    mhats = rng.uniform(0.5, 2.0, K)
    A = rng.normal(size=(K, K))
    Qhat = A @ A.T / K
    Vhat = np.tril(rng.uniform(-0.3, 1.0, (K, K)), -1) + np.diag(rng.uniform(0.2, 1.0, K))
    ci = ChainInputs(delta, K)
    for k in range(K):
        m, Q, V = ci.freeze(k, etas[k], lams[k], mhats[k], Qhat[k, :k + 1], Vhat[k, :k + 1])
        mo, Qo, Vo = _input_side_by_classes(delta, etas, lams, mhats, Qhat, Vhat, k)
        assert m == pytest.approx(mo, rel=1e-12)
        assert np.allclose(V, Vo, rtol=1e-12, atol=1e-14)
        assert np.allclose(Q, Qo, rtol=1e-12, atol=1e-14)


def test_hard_replacement_reaches_the_constant_classifier_in_both_backends():
    p = replace(DATA, 8)
    r = theory.solve(p)
    assert r.status.converged
    codes = [s.code for s in r.stage_status]
    assert Status.CONSTANT in codes
    first = codes.index(Status.CONSTANT)
    assert all(c is Status.CONSTANT for c in codes[first:])  # its children copy a constant
    c = r.stages[first]
    assert c.q == 0.0 and c.m == 0.0 and c.bias == -math.inf
    assert c.gen_error == pytest.approx(DATA.rho)  # it names the majority class: error P(y = +1)
    assert "constant classifier" in r.stage_status[first].message
    s = simulate(p, n_features=200, seeds=2)
    assert s.stages[-1].bias == -math.inf and s.stages[-1].q == 0.0
    assert s.stages[-1].gen_error == pytest.approx(DATA.rho)


@pytest.mark.parametrize("make, words", [
    (lambda: Problem(DATA, (T, Learner(groups=(Group("syn"),)))), ["stage 1", "syn", "alpha"]),
    (lambda: Problem(DATA, (T, Learner(groups=(Group("train", alpha=3.0),)))), ["train", "alpha"]),
    (lambda: Problem(DATA, (T, Learner(groups=(Group("s", alpha=1.0),)), Learner(groups=(Group("s", alpha=2.0),)))),
     ["stage 2", "'s'", "alpha"]),
    (lambda: Problem(DATA, (T, Learner(groups=(Group("train", labels=from_stage(1)),)))), ["stage 1", "earlier"]),
    (lambda: Group("train", labels="teacher"), ["labels"]),
    (lambda: Group("", alpha=1.0), ["set"]),
    (lambda: Group("train", weight=-1.0), ["weight"]),
    (lambda: Learner(groups=()), ["groups"]),
    (lambda: Learner(groups=(Group("train", weight=0.0),)), ["weight > 0"]),
    (lambda: Learner(bias="parent", groups=(Group("train"),)), ["parent"]),
    (lambda: from_stage(0, temperature=1e-9), ["temperature"]),
    (lambda: replace(DATA, 0), ["generations"]),
    (lambda: workflow("collapse", DATA, 3), ["workflow", "replace"]),
])
def test_bad_groups_are_one_line_errors(make, words):
    with pytest.raises((ParameterError, ValueError, TypeError)) as exc:
        make()
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_workflows_build_the_published_designs():
    r = replace(DATA, 3, syn_alpha=1.0)
    assert r.sets() == {"train": 2.0, "syn1": 1.0, "syn2": 1.0, "syn3": 1.0}
    assert [r.plan(k).sources for k in range(4)] == [(), (0,), (1,), (2,)]
    a = accumulate(DATA, 3)
    assert a.plan(3).set_names == ("train", "syn1", "syn2", "syn3")
    assert [u.source_stages for u in a.plan(3).uses] == [(), (0,), (1,), (2,)]
    assert a.plan(3).alpha_total == pytest.approx(8.0)
    m = mix(DATA, 2, real_alpha=0.5)
    assert m.plan(2).set_names == ("real2", "syn2") and m.sets()["real2"] == 0.5
    rec = a.to_record()
    assert rec["stage3_alpha_total"] == 8.0 and rec["stage3_groups"].startswith("train:true*1 + syn1")


def test_a_learner_problem_round_trips_through_its_toml_file():
    p = accumulate(DATA, 2, temperature=1.5, syn_alpha=0.5)
    back = Problem.from_dict(tomllib.loads(p.to_toml()))
    assert back == p


def test_a_sweep_point_can_be_a_workflow():
    from kdlab.runs.grid import expand_grid, make_problem, point_stages

    pts = expand_grid({"alpha": [1.0, 2.0], "workflow": "mix", "workflow_generations": 3,
                       "workflow_real_alpha": 0.5, "label_noise": 0.2})
    assert len(pts) == 2 and pts[0]["workflow"] == "mix" and pts[0]["workflow_syn_alpha"] is None
    p = make_problem(pts[1])
    assert point_stages(pts[1]) == 4 and p == mix(GaussianMixture(alpha=2.0, label_noise=0.2), 3, real_alpha=0.5)
    for bad, words in [({"workflow": "replace", "workflow_real_alpha": 0.5}, ["replace", "real_alpha"]),
                       ({"workflow": "replace", "chi": 0.5}, ["chi"]),
                       ({"workflow_generations": 3}, ["workflow ="]),
                       ({"workflow": "copy"}, ["workflow must be"]),
                       ({"workflow": "replace", "workflow_generations": 0}, ["generations"])]:
        with pytest.raises(ValueError) as exc:
            expand_grid({"alpha": 1.0, **bad})
        assert all(w in str(exc.value) for w in words), str(exc.value)
