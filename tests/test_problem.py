import math

import pytest

from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student
from kdlab.problem import teacher_from_name


@pytest.mark.parametrize("kwargs, name", [
    (dict(alpha=0.0), "alpha"), (dict(alpha=-1.0), "alpha"), (dict(alpha=math.inf), "alpha"),
    (dict(alpha=1.0, delta=0.0), "delta"), (dict(alpha=1.0, delta=math.nan), "delta"),
    (dict(alpha=1.0, rho=0.0), "rho"), (dict(alpha=1.0, rho=1.0), "rho"),
    (dict(alpha="2"), "alpha"), (dict(alpha=True), "alpha"),
])
def test_data_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        GaussianMixture(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(eta=0.0), "eta"), (dict(eta=1.01), "eta"), (dict(chi=-0.1), "chi"),
    (dict(chi=1.5, temperature=2.0), "chi"), (dict(chi=1.5, temperature=0.0), "chi"),
    (dict(temperature=-1e-9), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(lam=-1e-3), "lam"), (dict(t2_scaling="yes"), "t2_scaling"),
])
def test_student_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Student(**kwargs)


def test_error_message_names_range():
    with pytest.raises(ValueError, match=r"rho must be in \[1e-06, 0.999999\], got 1.5"):
        GaussianMixture(alpha=1.0, rho=1.5)
    with pytest.raises(ValueError, match=r"teacher lam must be in \[0.0, 100000000.0\]"):
        LogisticTeacher(lam=-1)


def test_valid_edges_and_replace():
    s = Student(eta=1.0, chi=0.0, temperature=0.05, lam=0.0)
    assert s.replace(chi=1.0).chi == 1.0
    with pytest.raises(ValueError, match="chi"):
        s.replace(chi=2.0)  # temperature 0.05: chi > 1 only at T = 1
    assert s.replace(chi=2.0, temperature=1.0).chi == 2.0
    with pytest.raises(ValueError, match="unknown"):
        s.replace(beta=1.0)
    assert Student(chi=0.5, temperature=2.0, t2_scaling=True).kd_weight == pytest.approx(2.0)
    d = GaussianMixture(alpha=2, delta=1, rho=0.3)
    assert isinstance(d.alpha, float) and d.prior_bias == pytest.approx(math.log(0.3 / 0.7))
    assert BayesOptimalTeacher().ridge(d) == pytest.approx(1.5)


def test_teacher_from_name():
    assert teacher_from_name("logistic", 0.3) == LogisticTeacher(lam=0.3)
    assert teacher_from_name("bayes-optimal") == BayesOptimalTeacher()
    with pytest.raises(ValueError, match="teacher"):
        teacher_from_name("svm")
