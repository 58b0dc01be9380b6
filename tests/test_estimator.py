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
