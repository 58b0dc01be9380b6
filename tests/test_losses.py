import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import expit

from kdlab.losses import KDLoss, LinearLoss, LogisticLoss, SoftCrossEntropy
from kdlab.problem import Student

finite = st.floats(-30, 30, allow_nan=False)
temps = st.sampled_from([0.05, 0.3, 1.0, 3.0, 100.0])
chis = st.sampled_from([0.0, 0.25, 0.5, 1.0])


def cross_entropy(t, p):
    """H(t, p) = -(t log p + (1 - t) log(1 - p)), the slides' form (labels in {0, 1})."""
    return -(t * np.log(p) + (1 - t) * np.log1p(-p))


@given(u=st.floats(-12, 12), ut=st.floats(-12, 12), y=st.sampled_from([-1.0, 1.0]), chi=chis,
       T=st.sampled_from([0.5, 1.0, 3.0]))
def test_kd_value_matches_slides_cross_entropy(u, ut, y, chi, T):
    loss = Student(chi=chi, temperature=T).loss()
    sig = lambda z: 1 / (1 + np.exp(-z))
    direct = (1 - chi) * cross_entropy((y + 1) / 2, sig(u)) + chi * cross_entropy(sig(ut / T), sig(u / T))
    assert loss.value(u, y, ut) == pytest.approx(direct, rel=1e-7, abs=1e-10)
    # the MODEL.md form: (1 - chi) log(1 + exp(-y u)) + chi [softplus(u/T) - sigmoid(ut/T) u/T]
    form = (1 - chi) * np.log1p(np.exp(-y * u)) + chi * (np.log1p(np.exp(u / T)) - sig(ut / T) * u / T)
    assert loss.value(u, y, ut) == pytest.approx(form, rel=1e-9, abs=1e-9)


@settings(max_examples=200)
@given(u=finite, ut=finite, y=st.sampled_from([-1.0, 1.0]), chi=chis, T=temps)
def test_derivatives_by_finite_differences(u, ut, y, chi, T):
    loss = KDLoss(1 - chi, chi, T)
    eps = 1e-6 * max(1.0, T)
    num_grad = (loss.value(u + eps, y, ut) - loss.value(u - eps, y, ut)) / (2 * eps)
    num_hess = (loss.grad(u + eps, y, ut) - loss.grad(u - eps, y, ut)) / (2 * eps)
    num_cross = (loss.grad(u, y, ut + eps) - loss.grad(u, y, ut - eps)) / (2 * eps)
    scale = 1 + 1 / T
    assert loss.grad(u, y, ut) == pytest.approx(num_grad, abs=1e-6 * scale)
    assert loss.hess(u, y, ut) == pytest.approx(num_hess, abs=1e-5 * scale ** 2)
    assert loss.cross(u, y, ut) == pytest.approx(num_cross, abs=1e-5 * scale ** 2)


@settings(max_examples=200)
@given(u=st.floats(-1e3, 1e3), ut=st.floats(-1e3, 1e3), y=st.sampled_from([-1.0, 1.0]), chi=chis, T=temps)
def test_fused_grad_hess_equals_separate(u, ut, y, chi, T):
    loss = KDLoss(1 - chi, chi, T)
    g, h = loss.grad_hess(u, y, ut)
    # both are exact to a few ulps of the terms they sum
    small = lambda x: min(expit(x), expit(-x))
    ulp = 1e-300 + 1e-15 * ((1 - chi) * expit(-y * u) + chi / T * (small(u / T) + small(ut / T)))
    assert g == pytest.approx(loss.grad(u, y, ut), rel=1e-12, abs=ulp)
    assert h == pytest.approx(loss.hess(u, y, ut), rel=1e-12, abs=1e-300)


@settings(max_examples=200)
@given(omega=st.floats(-1e3, 1e3), V=st.sampled_from([1e-3, 0.1, 1.0, 30.0, 1e4]),
       y=st.sampled_from([-1.0, 1.0]), ut=st.floats(-1e3, 1e3), chi=chis, T=temps)
def test_prox_solves_its_stationarity_condition(omega, V, y, ut, chi, T):
    loss = KDLoss(1 - chi, chi, T)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        u, resid = loss.prox(omega, V, y, ut, return_residual=True)
    assert np.isfinite(u)
    G = loss.grad_bound()
    assert abs(u - omega + V * loss.grad(u, y, ut)) <= 1e-12 * (1 + abs(omega) + V * G)
    assert resid <= 1e-13


def test_prox_is_the_minimizer_against_scipy():
    loss = KDLoss(0.5, 0.5, 2.0)
    rng = np.random.default_rng(1)
    omegas, ys, uts = rng.normal(0, 5, 20), np.sign(rng.normal(size=20)), rng.normal(0, 5, 20)
    for V in (0.01, 1.0, 100.0):
        u = loss.prox(omegas, V, ys, uts)
        for o, yy, t, uu in zip(omegas, ys, uts, u):
            f = lambda z: (z - o) ** 2 / (2 * V) + float(loss.value(z, yy, t))
            ref = minimize_scalar(f, bracket=(o - 50, o + 50), tol=1e-12).x
            assert f(uu) <= f(ref) + 1e-12
            assert uu == pytest.approx(ref, abs=1e-5 * (1 + V))


def test_extreme_logits_and_temperatures_are_finite():
    u = np.array([-1e3, -50.0, 0.0, 50.0, 1e3])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for T in (0.05, 1.0, 100.0):
            for chi in (0.0, 0.5, 1.0):
                loss = KDLoss(1 - chi, chi, T)
                for y in (-1.0, 1.0):
                    for ut in (-1e3, 0.0, 1e3):
                        for f in (loss.value, loss.grad, loss.hess, loss.cross):
                            assert np.all(np.isfinite(f(u, y, ut)))
    # a confident correct prediction costs ~0, a confident wrong one ~|u|
    assert LogisticLoss().value(1e3, 1.0) == 0.0
    assert LogisticLoss().value(-1e3, 1.0) == pytest.approx(1e3)
    assert SoftCrossEntropy(0.05).value(1e3, 1.0, 1e3) == 0.0


def test_prox_large_V_does_not_cycle():
    """THEORY.md pitfall 1: large V (small lam) where plain Newton cycles."""
    loss = LogisticLoss()
    omega = np.linspace(-40, 40, 2001)
    for V in (50.0, 1e3, 1e6):
        u = loss.prox(omega, V, 1.0)
        assert np.all(np.diff(u) >= 0)  # prox is monotone
        assert np.max(np.abs(u - omega + V * loss.grad(u, 1.0))) <= 1e-12 * (1 + 40 + V)


def test_linear_loss():
    L = LinearLoss()
    assert L.prox(0.3, 2.0, -1.0) == pytest.approx(-1.7)
    assert L.value(2.0, -1.0) == 2.0 and L.grad(5.0, 1.0) == -1.0 and L.hess(1.0, 1.0) == 0.0


def test_kd_loss_needs_teacher_logits():
    with pytest.raises(ValueError, match="ut"):
        KDLoss(0.5, 0.5, 1.0).value(0.0, 1.0)
    with pytest.raises(ValueError, match="V"):
        LogisticLoss().prox(0.0, 0.0, 1.0)
