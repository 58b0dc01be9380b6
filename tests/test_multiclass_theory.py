"""The K-class theory (``docs/theory-multiclass.md``): K = 2 is the binary theory, and the
K-class chain agrees with a small live simulation."""

from __future__ import annotations

import numpy as np
import pytest

import kdlab
from kdlab.data import MulticlassMixture
from kdlab.problem import Fresh, GaussianMixture, LogisticTeacher, Student


@pytest.mark.parametrize("student", [dict(eta=0.5, chi=0.5, temperature=2.0),
                                     dict(eta=0.7, chi=1.0, temperature=1.0, data=Fresh(alpha=1.5))])
def test_two_classes_equal_the_binary_theory(student):
    """``gram = [[1, -1], [-1, 1]]``, ``prior = (rho, 1 - rho)``, the binary ridge ``lam / 2``:
    every observable of the teacher and of a KD student equals the binary theory's to 1e-8
    (``m = 2 M_00``, ``q = 4 Q_00``, ``b = 2 b_0``, ``p = 4 P_00``); the training error, a
    quadrature of an indicator, to 1e-3."""
    rho = 0.3
    db = GaussianMixture(alpha=2.0, rho=rho, label_noise=0.1)
    dm = MulticlassMixture(alpha=2.0, prior=[rho, 1 - rho], gram=[[1, -1], [-1, 1]], label_noise=0.1)
    rb = kdlab.theory.solve(db, [LogisticTeacher(lam=0.1), Student(lam=0.1, **student)], quad_tol=1e-11)
    rm = kdlab.theory.solve(dm, [LogisticTeacher(lam=0.2), Student(lam=0.2, **student)], quad_tol=1e-11)
    assert rb.status.converged and rm.status.converged, rm.status.message
    for b, m in zip(rb.stages, rm.stages):
        assert abs(m.gen_error - b.gen_error) < 1e-8
        assert abs(2 * m.M[0, 0] - b.m) < 1e-8 and abs(4 * m.Q[0, 0] - b.q) < 1e-8
        assert abs(2 * m.bias[0] - b.bias) < 1e-8 and abs(m.train_loss - b.train_loss) < 1e-8
        assert abs(m.train_error - b.train_error) < 1e-3
        assert np.allclose(m.class_errors, [kdlab.gen_error(b.m, b.q, b.bias, 1.0, 1.0),
                                            kdlab.gen_error(b.m, b.q, b.bias, 1.0, 0.0)], atol=1e-8)
        if b.p is not None:
            assert abs(4 * m.P[0, 0] - b.p) < 1e-8


def _gaussian_moment(powers):
    """``E prod x_i^a_i`` for independent standard normals: ``prod (a_i - 1)!!`` (0 if any is odd)."""
    out = 1.0
    for a in powers:
        if a % 2:
            return 0.0
        out *= float(np.prod(np.arange(a - 1, 0, -2))) if a else 1.0
    return out


@pytest.mark.parametrize("D, level", [(3, 8), (4, 9), (4, 11)])
def test_the_smolyak_rules_are_exact_to_their_degree(D, level):
    """A Smolyak Gauss-Hermite rule of ``level`` integrates every monomial of total degree
    ``<= 2 (level - D) + 1`` exactly (to rounding) and its weights sum to 1."""
    import itertools

    from kdlab.theory.multiclass import smolyak_points

    pts = smolyak_points(D, level)
    assert abs(pts.w.sum() - 1.0) < 1e-13
    deg = 2 * (level - D) + 1
    for powers in itertools.product(range(deg + 1), repeat=D):
        if sum(powers) <= deg:
            val = pts.w @ np.prod(pts.xi ** np.array(powers), axis=1)
            assert abs(val - _gaussian_moment(powers)) < 1e-9 * (1 + _gaussian_moment(powers)), powers


def test_the_pruned_tensor_rule_keeps_its_low_moments():
    """The pruned 3-D tensor rule (20 nodes: the smallest product weights up to 1e-13 dropped)
    keeps fewer points and still integrates the moments of degree <= 4 to 1e-9."""
    import itertools

    from kdlab.theory.multiclass import gh_points

    pts = gh_points(3, 20)
    assert pts.xi.shape[0] < 20 ** 3 * 0.7
    for powers in itertools.product(range(5), repeat=3):
        if sum(powers) <= 4:
            val = pts.w @ np.prod(pts.xi ** np.array(powers), axis=1)
            assert abs(val - _gaussian_moment(powers)) < 1e-9, powers


def test_warm_start_of_a_neighbouring_k_class_solve():
    """``solve(problem, init=previous)`` starts each K-class stage from the previous result's
    state: at a neighbouring ridge it takes fewer map evaluations than a cold solve and gives the
    same answer to the solver's tolerance; at the same problem one evaluation confirms the
    fixed point; a state of another K (another layout) is ignored (the cold solve exactly)."""
    from kdlab.theory.multiclass import MultiStageState

    d = MulticlassMixture(alpha=2.0, delta=0.5)
    prev = kdlab.theory.solve(d, [LogisticTeacher(lam=0.1)])
    assert isinstance(prev.state.stages[0], MultiStageState) and prev.state.stages[0].layout == (3, 0)
    near = [LogisticTeacher(lam=0.102)]
    cold = kdlab.theory.solve(d, near)
    warm = kdlab.theory.solve(d, near, init=prev)
    assert cold.status.converged and warm.status.converged, warm.status.message
    assert warm.status.iterations < cold.status.iterations, (warm.status.iterations, cold.status.iterations)
    a, b = cold.stages[0], warm.stages[0]
    assert abs(a.gen_error - b.gen_error) < 1e-9
    assert np.max(np.abs(a.M - b.M)) < 1e-8 and np.max(np.abs(a.Q - b.Q)) < 1e-8
    assert np.max(np.abs(a.bias - b.bias)) < 1e-8
    again = kdlab.theory.solve(d, [LogisticTeacher(lam=0.1)], init=prev)
    assert again.status.iterations <= 2 and abs(again.stages[0].gen_error - prev.stages[0].gen_error) < 1e-12
    d2 = MulticlassMixture(alpha=2.0, prior=[0.3, 0.7], gram=[[1, -1], [-1, 1]])
    other = kdlab.theory.solve(d2, [LogisticTeacher(lam=0.1)])
    ignored = kdlab.theory.solve(d, near, init=other)
    assert ignored.status.iterations == cold.status.iterations
    assert ignored.stages[0].gen_error == cold.stages[0].gen_error


def test_a_failed_k_class_stage_makes_the_later_ones_not_solved():
    """The one loop's rule for every stage family: stage 0 stopped after 2 map evaluations is
    ``NOT_CONVERGED``, every later stage ``NOT_SOLVED``; all their observables, the overlaps and
    the chain's status say so (NaN, not converged, the first failure's code)."""
    from kdlab.results import Status

    d = MulticlassMixture(alpha=2.0, delta=0.5)
    res = kdlab.theory.solve(d, [LogisticTeacher(lam=0.1), Student(eta=0.6, chi=1.0, lam=0.1),
                                 Student(eta=0.5, chi=1.0, lam=0.1)], maxiter=2)
    assert [s.code for s in res.stage_status] == [Status.NOT_CONVERGED, Status.NOT_SOLVED, Status.NOT_SOLVED]
    assert not res.status.converged and res.status.code is Status.NOT_CONVERGED
    assert "stage 1: not solved (stage 0 did not converge)" in res.status.message
    for k, st in enumerate(res.stages):
        assert np.isnan(st.gen_error) and np.all(np.isnan(st.M)) and np.all(np.isnan(st.class_errors))
        assert (st.P is None) == (k == 0) and (k == 0 or np.all(np.isnan(st.P)))
    assert res.overlaps.shape == (3, 3, 3, 3) and np.all(np.isnan(res.overlaps))
    assert res.state.stages == (None, None, None)


def test_train_error_false_skips_only_the_training_error():
    """``train_error=False``: the same fixed point (every other observable identical), the
    training error and loss NaN, and the status says so; K = 3 and binary."""
    import math

    d3 = MulticlassMixture.from_geometry("pair", 3, 0.6, alpha=2.0, delta=0.5, prior=[0.5, 0.3, 0.2])
    db = GaussianMixture(alpha=2.0, delta=0.5, rho=0.4)
    for p in (kdlab.Problem(d3, (LogisticTeacher(lam=0.05), Student(eta=0.6, chi=1.0, temperature=3.0, lam=0.05))),
              kdlab.Problem(db, (LogisticTeacher(lam=0.1), Student(eta=0.6, chi=0.5, temperature=2.0, lam=0.1)))):
        full, fast = kdlab.theory.solve(p), kdlab.theory.solve(p, train_error=False)
        assert full.status.converged and fast.status.converged
        assert "train_error=False" in fast.status.message and "train_error=False" not in full.status.message
        for a, b in zip(full.stages, fast.stages):
            assert math.isfinite(a.train_error) and math.isfinite(a.train_loss)
            assert math.isnan(b.train_error) and math.isnan(b.train_loss)
            assert b.gen_error == a.gen_error
            for key in ("class_errors", "M", "Q", "bias", "m", "q"):
                if getattr(a, key, None) is not None:
                    np.testing.assert_array_equal(getattr(b, key), getattr(a, key))


def test_a_tuned_k_class_optimum_carries_its_training_error():
    """The search's solves skip the training error (``train_error=False``); the optimum is
    solved again with it: finite, and its ``gen_error`` the search's best to 1e-9."""
    import math

    from kdlab.runs.tuning import optimal_lam

    calls = []

    def spy(problem, train_error=True, **kw):
        calls.append(train_error)
        return kdlab.theory.solve(problem, train_error=train_error, **kw)

    d3 = MulticlassMixture.from_geometry("equal", 3, 0.3, alpha=2.0, delta=0.5)
    o = optimal_lam(kdlab.Problem(d3, (LogisticTeacher(),)), bounds=(1e-2, 1e1), n_grid=3, xatol=0.2, solve=spy)
    assert calls[-1] is True and not any(calls[:-1]) and len(calls) == o.n_evals + 1
    st = o.result.stages[0]
    assert math.isfinite(st.train_error) and math.isfinite(st.train_loss) and 0 < st.train_error < 1
    assert o.gen_error == st.gen_error
    assert abs(o.gen_error - min(e for _, e in o.history)) <= 1e-9
    assert "train_error=False" not in o.result.status.message


@pytest.mark.parametrize("r", [2, 3, 5, 6])
def test_the_newton_solves_in_column_form_equal_numpy(r):
    """The Newton systems of the K-class prox and responses, (I + V H)^-1 B and H (I + V H)^-1,
    solved column by column (explicit for r <= 3, by V^-1 + H in LDL^T form beyond), equal
    numpy's dense solve on random positive definite V and H at every grid point."""
    from kdlab.theory.multiclass import _h_newton, _newton_solve

    rng = np.random.default_rng(r)
    n = 7
    A = rng.normal(size=(r, r))
    V = A @ A.T + 0.1 * np.eye(r)
    G = rng.normal(size=(n, r, r))
    Hs = np.einsum("nij,nkj->nik", G, G)
    Bs = rng.normal(size=(n, r, 2))
    H = [[Hs[:, i, j] for j in range(r)] for i in range(r)]
    B = [[Bs[:, i, c] for c in range(2)] for i in range(r)]
    J = np.eye(r) + V @ Hs
    want_x = np.linalg.solve(J, Bs)
    want_h = Hs @ np.linalg.inv(J)
    X = _newton_solve(V, H, B)
    Hn = _h_newton(V, H)
    for i in range(r):
        for c in range(2):
            assert np.allclose(X[i][c], want_x[:, i, c], rtol=1e-10, atol=1e-12)
        for j in range(r):
            assert np.allclose(Hn[i][j], want_h[:, i, j], rtol=1e-10, atol=1e-12)
