"""The K-class model (``docs/model.md``, "K classes"): data validation, problem files, the
multinomial fits against scikit-learn and against the binary fits (K = 2), exact errors, and a
small simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import kdlab
from kdlab.data import MulticlassMixture, named_gram
from kdlab.errors import ParameterError
from kdlab.losses import KDLoss, LogisticLoss, SoftmaxKDLoss
from kdlab.problem import BayesOptimalTeacher, Fresh, LogisticTeacher, Problem, Student, load_problem
from kdlab.results import class_errors, orthant_probability
from kdlab.simulation.erm import fit_linear
from kdlab.simulation.multinomial import fit_multinomial, sample_means


def test_data_validation_names_the_parameter():
    with pytest.raises(ParameterError, match="prior must sum to 1"):
        MulticlassMixture(prior=[0.5, 0.3, 0.3])
    with pytest.raises(ParameterError, match="prior must be positive"):
        MulticlassMixture(prior=[1.0, 0.0, 0.0])
    with pytest.raises(ParameterError, match="symmetric"):
        MulticlassMixture(gram=[[1, 0.5, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(ParameterError, match="positive semi-definite"):
        MulticlassMixture(gram=[[1, 2, 0], [2, 1, 0], [0, 0, 1]])
    with pytest.raises(ParameterError, match="3 x 3"):
        MulticlassMixture(gram=[[1, 0], [0, 1]])
    with pytest.raises(ParameterError, match="label_noise"):
        MulticlassMixture(prior=[0.5, 0.5], gram=[[1, -1], [-1, 1]], label_noise=0.6)
    with pytest.raises(ParameterError, match="alpha"):
        MulticlassMixture(alpha=-1)


def test_named_geometries():
    assert np.allclose(named_gram("equal", 3, 0.5), [[1, .5, .5], [.5, 1, .5], [.5, .5, 1]])
    assert np.allclose(named_gram("pair", 4, 0.3), [[1, .3, 0, 0], [.3, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    d = MulticlassMixture.from_geometry("equal", classes=4, similarity=0.2, alpha=3.0)
    assert d.n_classes == 4 and d.prior == (0.25,) * 4 and d.alpha == 3.0
    with pytest.raises(ParameterError, match="similarity"):
        named_gram("equal", 3, -0.9)


def test_problem_file_round_trip(tmp_path):
    p = Problem(MulticlassMixture(label_noise=0.1), (LogisticTeacher(lam=0.01),
                Student(eta=0.5, chi=1.0, temperature=4.0, lam=0.01, target="top", data=Fresh(alpha=3.0))))
    f = tmp_path / "p.toml"
    f.write_text(p.to_toml())
    assert load_problem(f) == p
    f.write_text('[data]\ngeometry = "pair"\nclasses = 3\nsimilarity = 0.5\n\n[[stages]]\nlam = 0.1\n')
    q = load_problem(f)
    assert isinstance(q.data, MulticlassMixture) and q.data.gram[0][1] == 0.5
    rec = p.to_record()
    assert rec["classes"] == 3 and rec["stage1_target"] == "top"


def test_stages_the_k_class_family_lacks_are_refused():
    d = MulticlassMixture()
    with pytest.raises(ParameterError, match="bayes-optimal"):
        Problem(d, (BayesOptimalTeacher(),))
    with pytest.raises(ParameterError, match="class_weight"):
        Problem(d, (LogisticTeacher(class_weight=2.0),))


def _data(K=3, M=240, d=40, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((K, d))
    c = rng.integers(0, K, M)
    return mu[c] / math.sqrt(d) + rng.standard_normal((M, d)), c


def test_teacher_fit_equals_scikit_learn():
    """The teacher's fit is scikit-learn's multinomial LogisticRegression(C = 1 / lam) (1e-6)."""
    from sklearn.linear_model import LogisticRegression

    X, c = _data()
    lam = 0.5
    fit = fit_multinomial(X, c, SoftmaxKDLoss(), lam, tol=1e-12)
    sk = LogisticRegression(C=1 / lam, tol=1e-14, max_iter=100000).fit(X, c)
    assert fit.grad_norm <= 1e-12
    np.testing.assert_allclose(fit.W, sk.coef_ - sk.coef_.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(fit.b, sk.intercept_ - sk.intercept_.mean(), atol=1e-6)
    assert np.allclose(fit.W.sum(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("chi, T", [(0.0, 1.0), (1.0, 3.0), (0.5, 2.0), (1.5, 1.0)])
def test_two_classes_equal_the_binary_fit(chi, T):
    """K = 2: the K-class fit on the same inputs and labels is the binary fit, ``w = w_0 - w_1``,
    at the binary ridge ``lam / 2`` (1e-8), for the teacher's loss and the KD loss."""
    X, c = _data(K=2)
    y = np.where(c == 0, 1.0, -1.0)
    lam = 0.3
    ut = 0.8 * X[:, 0] - 0.5 * X[:, 1] + 0.2
    up = np.stack([ut / 2, -ut / 2], axis=1)
    loss = SoftmaxKDLoss(label_weight=1 - chi, kd_weight=chi, temperature=T)
    fit = fit_multinomial(X, c, loss, lam, targets=loss.targets(c, up) if chi else None, tol=1e-13)
    bl = KDLoss(label_weight=1 - chi, kd_weight=chi, temperature=T) if chi else LogisticLoss()
    bfit = fit_linear(X, y, bl, lam / 2, ut=ut if chi else None, tol=1e-13)
    np.testing.assert_allclose(fit.W[0] - fit.W[1], bfit.w, atol=1e-8)
    assert abs((fit.b[0] - fit.b[1]) - bfit.bias) < 1e-8


def test_targets():
    up = np.array([[2.0, 0.0, -1.0]])
    soft = SoftmaxKDLoss(kd_weight=1, temperature=2.0).targets([0], up)
    top = SoftmaxKDLoss(kd_weight=1, temperature=2.0, target="top").targets([0], up)
    hard = SoftmaxKDLoss(kd_weight=1, temperature=2.0, target="hard").targets([0], up)
    smooth = SoftmaxKDLoss(kd_weight=1, target="smooth", smoothing=0.2, _K=3).targets(np.array([1]))
    assert np.allclose(soft.sum(), 1) and top[0, 0] == soft[0, 0] and np.allclose(top[0, 1:], (1 - soft[0, 0]) / 2)
    assert np.array_equal(hard, [[1.0, 0, 0]])
    assert np.allclose(smooth, [[0.1, 0.8, 0.1]])
    two = np.array([[0.7, -0.7]])
    assert np.allclose(SoftmaxKDLoss(kd_weight=1, target="top", temperature=3).targets([0], two),
                       SoftmaxKDLoss(kd_weight=1, temperature=3).targets([0], two))


def test_means_have_the_gram_exactly_and_errors_are_exact():
    G = np.array(named_gram("pair", 4, 0.6))
    mu = sample_means(G, 300, np.random.default_rng(1))
    np.testing.assert_allclose(mu @ mu.T / 300, G, atol=1e-12)
    # the orthant probabilities against a large Monte Carlo sample
    rng = np.random.default_rng(2)
    for n in (1, 2, 3):
        A = rng.standard_normal((n, n))
        C = A @ A.T + 0.3 * np.eye(n)
        m = rng.standard_normal(n) * 0.5
        z = rng.multivariate_normal(m, C, size=400000)
        mc = np.mean(np.all(z > 0, axis=1))
        assert abs(orthant_probability(m, C) - mc) < 4 * math.sqrt(mc * (1 - mc) / 4e5) + 1e-6
    # K = 2: the binary formula
    Mo = np.array([[0.6, -0.6], [-0.6, 0.6]]) / 2
    Q = np.array([[1.0, -1.0], [-1.0, 1.0]]) / 4
    e = class_errors(Mo, Q, np.array([0.1, -0.1]), 1.0)
    assert np.allclose(e, [kdlab.gen_error(0.6, 1.0, 0.2, 1.0, 1.0), kdlab.gen_error(0.6, 1.0, 0.2, 1.0, 0.0)])


def test_small_simulation_runs_every_target():
    d = MulticlassMixture(alpha=2.0, delta=0.5, label_noise=0.1)
    stages = [LogisticTeacher(lam=0.1)] + [Student(eta=0.6, chi=1.0, temperature=2.0, lam=0.1, target=t)
                                           for t in ("soft",)]
    res = kdlab.simulate(d, stages, n_features=60, seeds=3, n_jobs=1)
    s0, s1 = res.stages
    assert s1.M.shape == (3, 3) and s1.P.shape == (3, 3) and s0.class_errors.shape == (3,)
    assert abs(s0.bias.sum()) < 1e-10 and np.all(s1.Q_stderr >= 0)
    assert abs(float(np.asarray(d.prior) @ s0.class_errors) - s0.gen_error) < 1e-12
    assert res.overlaps.shape == (2, 2, 3, 3)
    for t in ("hard", "top", "smooth"):
        r = kdlab.simulate(d, [LogisticTeacher(lam=0.1), Student(eta=0.6, chi=0.7, temperature=2.0, lam=0.1,
                                                                target=t)], n_features=40, seeds=2, n_jobs=1)
        assert 0 < r.stages[1].gen_error < 1


def test_simulate_many_of_k_class_chains_equals_simulate_of_each():
    """The one per-seed loop of every stage family: K-class chains simulated together share
    each seed's draws and their stage-0 fit (fitted once per seed), and each result equals
    (bit for bit) the chain simulated alone."""
    from kdlab.simulation.run import clear_fit_cache, simulate_many

    d = MulticlassMixture(alpha=1.5, delta=0.5)
    chains = [[LogisticTeacher(lam=0.1)], [LogisticTeacher(lam=0.1), Student(eta=0.6, chi=1.0, lam=0.1)]]
    clear_fit_cache()
    many = simulate_many(d, chains, n_features=40, seeds=2, n_jobs=1)
    assert [r.extra["teacher_fits"] for r in many] == [2, 0]
    clear_fit_cache()
    for chain, r in zip(chains, many):
        alone = kdlab.simulate(d, chain, n_features=40, seeds=2, n_jobs=2)
        assert r.stages[-1].gen_error == alone.stages[-1].gen_error
        assert np.array_equal(r.stages[-1].M, alone.stages[-1].M) and np.array_equal(r.overlaps, alone.overlaps)
        assert r.per_seed.equals(alone.per_seed)


def test_binary_targets():
    """The binary family: ``top`` is ``soft`` and ``hard`` is ``T = 0`` exactly; label smoothing
    (theory) agrees with a simulation at N = 1000 (8 seeds) within 4 s.e. + 2 %."""
    from kdlab.problem import GaussianMixture

    d = GaussianMixture(alpha=2.0, rho=0.3, label_noise=0.1)
    t = LogisticTeacher(lam=0.1)
    soft = kdlab.theory.solve(d, [t, Student(chi=1.0, temperature=2.0)]).stages[1]
    top = kdlab.theory.solve(d, [t, Student(chi=1.0, temperature=2.0, target="top")]).stages[1]
    assert soft == top
    hard = kdlab.theory.solve(d, [t, Student(chi=1.0, temperature=3.0, target="hard")]).stages[1]
    zero = kdlab.theory.solve(d, [t, Student(chi=1.0, temperature=0.0)]).stages[1]
    assert hard == zero
    p = Problem(d, (t, Student(eta=0.6, chi=0.5, target="smooth", smoothing=0.2)))
    th = kdlab.theory.solve(p)
    sim = kdlab.simulate(p, n_features=1000, seeds=8)
    for key in ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p"):
        a, b, se = getattr(th.stages[1], key), getattr(sim.stages[1], key), sim.stages[1].stderr[key]
        assert abs(a - b) <= 4 * se + 0.02 * abs(a) + 1e-3, (key, a, b, se)
