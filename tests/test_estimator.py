import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import check_estimator

from kdlab.estimator import KDClassifier


def _data(seed=0, n=300, d=20):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0, "cat", "dog")
    return X, y


def test_sklearn_estimator_checks():
    failed = [r for r in check_estimator(KDClassifier(chi=0.0), on_fail=None) if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:200]) for r in failed]


def test_chi0_is_logistic_regression():
    X, y = _data()
    est = KDClassifier(chi=0.0, lam=0.5).fit(X, y)
    clf = LogisticRegression(C=2.0, solver="newton-cg", tol=1e-12, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(est.coef_, clf.coef_, rtol=1e-6)
    np.testing.assert_allclose(est.intercept_, clf.intercept_, rtol=1e-6)
    np.testing.assert_allclose(est.predict_proba(X), clf.predict_proba(X), atol=1e-8)
    assert (est.predict(X) == clf.predict(X)).all()
    assert est.get_params()["lam"] == 0.5


def test_chi1_high_capacity_copies_teacher_logits():
    """With chi = 1, T = 1 and lam -> 0, the student fits the teacher's logits when it can."""
    X, y = _data(1)
    w_t = np.random.default_rng(2).normal(size=X.shape[1])
    logits = X @ w_t + 0.3
    est = KDClassifier(chi=1.0, temperature=1.0, lam=1e-8).fit(X, y, teacher_logits=logits)
    np.testing.assert_allclose(est.decision_function(X), logits, rtol=1e-4, atol=1e-4)


def test_kd_requires_teacher_logits_and_validates():
    X, y = _data()
    with pytest.raises(ValueError, match="teacher_logits"):
        KDClassifier(chi=0.5).fit(X, y)
    with pytest.raises(ValueError, match="teacher_logits"):
        KDClassifier(chi=0.5).fit(X, y, teacher_logits=np.zeros(3))
    with pytest.raises(ValueError, match="chi"):
        KDClassifier(chi=1.5, temperature=2.0).fit(X, y, teacher_logits=np.zeros(len(y)))
    with pytest.raises(ValueError, match="temperature"):
        KDClassifier(temperature=-1.0).fit(X, y, teacher_logits=np.zeros(len(y)))


def _chain(exc) -> str:
    out = []
    while exc is not None:
        out.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(out)


def test_check_estimator_at_the_default_fails_only_for_the_missing_teacher_logits():
    """What the docs say: at chi > 0 (the default) sklearn's generic checks, which call
    fit(X, y) without teacher logits, fail, and only for that reason."""
    assert KDClassifier().chi > 0
    results = check_estimator(KDClassifier(), on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert failed  # the statement "fails at chi > 0" is not vacuous
    other = [(r["check_name"], _chain(r["exception"])[:200]) for r in failed
             if "teacher_logits are required when chi > 0" not in _chain(r["exception"])]
    assert not other, other


def test_hostile_inputs_are_clear_errors():
    """Before: (20, 2) logits for 40 samples were flattened and used; a weight of 1e308 or inf
    gave an all-zero "fitted" model; max_iter=-1 raised UnboundLocalError."""
    X, y = _data(n=40, d=5)
    with pytest.raises(ValueError, match=r"teacher_logits must have shape \(40,\).*\(20, 2\)"):
        KDClassifier(chi=0.5).fit(X, y, teacher_logits=np.zeros((20, 2)))
    KDClassifier(chi=0.5).fit(X, y, teacher_logits=np.zeros((40, 1)))  # a column is one per sample
    w = np.ones(len(y))
    for bad in (np.inf, np.nan, -1.0):
        w2 = w.copy()
        w2[3] = bad
        with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
            KDClassifier(chi=0.0).fit(X, y, sample_weight=w2)
    for bad in (-1, 0, 2.5):
        with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
            KDClassifier(chi=0.0, max_iter=bad).fit(X, y)


def test_huge_sample_weights_give_the_same_minimizer():
    """Weights c s with lam: the minimizer of weights s with lam / c (exact); 1e308 no longer
    overflows into an all-zero model."""
    X, y = _data(n=200, d=5)
    s = np.random.default_rng(3).uniform(0.5, 2.0, size=len(y))
    big = KDClassifier(chi=0.0, lam=2.0).fit(X, y, sample_weight=s * 1e6 * 1.5)
    ref = KDClassifier(chi=0.0, lam=2.0 / 1.5e6).fit(X, y, sample_weight=s)
    np.testing.assert_allclose(big.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(big.intercept_, ref.intercept_, rtol=1e-6)
    huge = KDClassifier(chi=0.0, lam=1.0).fit(X, y, sample_weight=np.full(len(y), 1e308))
    free = KDClassifier(chi=0.0, lam=1e-308).fit(X, y)  # the same objective up to a factor
    assert np.abs(huge.coef_).max() > 0.1
    np.testing.assert_allclose(huge.coef_, free.coef_, rtol=1e-6)
