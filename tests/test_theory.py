"""Asymptotic theory (issue 3): reference values, exact limits, quadrature, solver, API."""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student, gen_error
from kdlab.errors import ConvergenceError
from kdlab.losses import LogisticLoss, Loss
from kdlab.results import Result
from kdlab.theory import WarmStart, bayes_optimal_error, curve, parse_values, solve
from kdlab.theory.chain import StageState

DATA = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
TEACHER = LogisticTeacher(lam=0.1)


# --------------------------------------------------------------------------- reference values
# THEORY.md, rho = 0.3, Delta = 1 (printed to 6 decimals: compare to 2e-6).
TEACHER_REFERENCE = [
    (0.5, 1.0, 0.298037, 0.150947, 0.077973, -0.836888),
    (2.0, 0.1, 0.202766, 1.297240, 3.303312, -0.985341),
    (5.0, 0.1, 0.177443, 1.767958, 4.610763, -0.950424),
]
STUDENT_REFERENCE = [  # eta = 0.5, logistic teacher lam_t = 0.1, alpha = 2
    (0.0, 1.0, 0.1, 0.250286, 0.757786, 2.118389, 1.758597, -0.930826),
    (0.5, 1.0, 0.1, 0.247373, 0.657316, 1.556216, 1.482311, -0.891852),
]


@pytest.mark.parametrize("alpha, lam_t, eps, mt, qt, bt", TEACHER_REFERENCE)
def test_teacher_reference_values(alpha, lam_t, eps, mt, qt, bt):
    res = solve(GaussianMixture(alpha=alpha, delta=1.0, rho=0.3), LogisticTeacher(lam=lam_t))
    assert res.status.converged, res.status.message
    t = res.teacher
    assert (t.gen_error, t.m, t.q, t.bias) == pytest.approx((eps, mt, qt, bt), abs=2e-6)
    assert res.student is None and res.backend == "theory" and res.n_features is None


@pytest.mark.parametrize("chi, T, lam, eps, m, q, p, b", STUDENT_REFERENCE)
def test_student_reference_values(chi, T, lam, eps, m, q, p, b):
    res = solve(DATA, TEACHER, Student(eta=0.5, chi=chi, temperature=T, lam=lam))
    assert res.status.converged, res.status.message
    s = res.student
    assert (s.gen_error, s.m, s.q, s.p, s.bias) == pytest.approx((eps, m, q, p, b), abs=2e-6)


# --------------------------------------------------------------------------- exact limits
def test_bayes_optimal_teacher_closed_form():
    for alpha, delta, rho in [(2.0, 1.0, 0.3), (0.7, 2.5, 0.5), (10.0, 0.3, 0.9)]:
        data = GaussianMixture(alpha, delta, rho)
        t = solve(data, BayesOptimalTeacher()).teacher
        assert t.m == pytest.approx(2 * alpha / (delta * (delta + alpha)), rel=1e-14)
        assert t.q == pytest.approx(4 * alpha / (delta ** 2 * (delta + alpha)), rel=1e-14)
        assert t.V == pytest.approx(2 / (delta + alpha), rel=1e-14)
        assert t.bias == pytest.approx(math.log(rho / (1 - rho)), rel=1e-14)
        assert t.gen_error == pytest.approx(bayes_optimal_error(data), rel=1e-14)
        # training loss is the linear loss E[-y u~] with u~ = y mt + sqrt(Delta qt) xi + Vt y + bt
        assert t.train_loss == pytest.approx(-(t.m + t.V + t.bias * (2 * rho - 1)), rel=1e-14)
        s = math.sqrt(delta * t.q)
        err = rho * ndtr(-(t.m + t.V + t.bias) / s) + (1 - rho) * ndtr(-(t.m + t.V - t.bias) / s)
        assert t.train_error == pytest.approx(err, rel=1e-12)


def test_bayes_optimal_error_is_a_floor_for_logistic_teachers():
    best = min(solve(DATA, LogisticTeacher(lam=lam)).teacher.gen_error for lam in np.geomspace(1e-3, 10, 9))
    assert bayes_optimal_error(DATA) < best
    # and at rho = 1/2, alpha -> infinity it tends to the oracle Phi(-1 / sqrt(Delta))
    assert bayes_optimal_error(GaussianMixture(1e8, 1.0, 0.5)) == pytest.approx(ndtr(-1.0), rel=1e-6)


def test_bayes_errors_in_result_extra():
    st = Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.05)
    res = solve(DATA, BayesOptimalTeacher(), st)
    assert res.extra["bayes_error"] == pytest.approx(bayes_optimal_error(DATA))
    sparse = GaussianMixture(DATA.alpha / st.eta, DATA.delta / st.eta, DATA.rho)
    assert res.extra["bayes_error_sparse"] == pytest.approx(bayes_optimal_error(sparse))
    assert res.extra["bayes_error_sparse"] > res.extra["bayes_error"]
    assert res.student.gen_error > res.extra["bayes_error_sparse"]
    assert "bayes_error_sparse" not in solve(DATA, BayesOptimalTeacher()).extra


@pytest.mark.parametrize("teacher", [LogisticTeacher(lam=0.1), LogisticTeacher(lam=0.02)])
def test_chi0_eta1_same_lambda_reproduces_teacher(teacher):
    res = solve(DATA, teacher, Student(eta=1.0, chi=0.0, temperature=1.0, lam=teacher.lam))
    t, s = res.teacher, res.student
    for k in ("gen_error", "train_error", "train_loss", "m", "q", "bias"):
        assert getattr(s, k) == pytest.approx(getattr(t, k), rel=1e-8, abs=1e-10), k
    assert s.p == pytest.approx(t.q, rel=1e-8)
    assert s.Vx == 0.0
    assert s.V == pytest.approx(t.V, rel=1e-8)


@pytest.mark.parametrize("teacher", [LogisticTeacher(lam=0.1), BayesOptimalTeacher()])
@pytest.mark.parametrize("T", [1.0, 3.0])
def test_copy_limit(teacher, T):
    """eta = 1, chi = 1, lam = 0, alpha > 1: the student copies the teacher; Vx = Vt."""
    res = solve(DATA, teacher, Student(eta=1.0, chi=1.0, temperature=T, lam=0.0))
    assert res.status.converged, res.status.message
    t, s = res.teacher, res.student
    assert (s.m, s.q, s.p, s.bias) == pytest.approx((t.m, t.q, t.q, t.bias), rel=1e-8)
    assert s.Vx == pytest.approx(t.V, rel=1e-8)
    assert s.gen_error == pytest.approx(t.gen_error, rel=1e-8)
    assert s.train_error == pytest.approx(t.train_error, rel=1e-7)


@pytest.mark.parametrize("chi", [0.3, 0.8])
def test_T1_student_with_lam_equal_1_minus_chi_lam_t_is_the_teacher(chi):
    """At T = 1 the KD gradient is sigmoid(u) - (1 - chi)[y = 1] - chi sigmoid(ut): with
    eta = 1 and lam = (1 - chi) lam_t the teacher's weights are stationary for the student.
    Exercises the cross terms (Vx, Vhat21, qhat12) at chi strictly between 0 and 1."""
    res = solve(DATA, TEACHER, Student(eta=1.0, chi=chi, temperature=1.0, lam=(1 - chi) * TEACHER.lam))
    t, s = res.teacher, res.student
    assert (s.m, s.q, s.p, s.bias) == pytest.approx((t.m, t.q, t.q, t.bias), rel=1e-8)
    assert s.train_error == pytest.approx(t.train_error, rel=1e-7)


@dataclass(frozen=True)
class LogitMatching(Loss):
    """Square loss on the teacher's logits, ``(u - ut)^2 / 2`` (closed-form prox)."""

    def value(self, u, y, ut=None):
        return 0.5 * (np.asarray(u, float) - ut) ** 2 + 0.0 * np.asarray(y, float)

    def grad(self, u, y, ut=None):
        return np.asarray(u, float) - ut + 0.0 * np.asarray(y, float)

    def hess(self, u, y, ut=None):
        return np.ones(np.broadcast(np.asarray(u, float), np.asarray(y, float), np.asarray(ut)).shape)

    def cross(self, u, y, ut=None):
        return -self.hess(u, y, ut)

    def grad_bound(self):
        return math.inf

    def prox(self, omega, V, y, ut=None, **kw):
        return (np.asarray(omega, float) + V * ut) / (1.0 + V) + 0.0 * np.asarray(y, float)


class LogitMatchingStudent(Student):
    """A student whose loss is the square loss on its parent's logits (a stage type defined
    outside the library: the engine asks the stage for its loss)."""

    def loss(self):
        return LogitMatching()


def test_large_temperature_chi1_approaches_logit_matching():
    """chi = 1: the KD loss is softplus(u / T) - sigmoid(ut / T) u / T
    = const + (1 / (4 T^2)) (u - ut)^2 / 2 + O(T^-4): the student at lam = lam_sq / (4 T^2)
    tends to ridge regression of the teacher's logits at lam_sq (V -> 4 T^2 V_sq, Vx -> Vx_sq)."""
    lam_sq, eta = 0.5, 0.5
    ref = solve(DATA, TEACHER, LogitMatchingStudent(eta=eta, chi=1.0, temperature=1.0, lam=lam_sq))
    assert ref.status.converged, ref.status.message
    r = ref.student
    diffs = []
    for T in (10.0, 20.0, 40.0):
        res = solve(DATA, TEACHER, Student(eta=eta, chi=1.0, temperature=T, lam=lam_sq / (4 * T ** 2)))
        assert res.status.converged
        s = res.student
        diffs.append(max(abs(s.m - r.m) / r.m, abs(s.q - r.q) / r.q, abs(s.p - r.p) / r.p,
                         abs(s.bias - r.bias), abs(s.V / (4 * T ** 2) - r.V) / r.V, abs(s.Vx - r.Vx) / r.Vx))
    assert diffs[-1] < 1.5e-3
    assert diffs[1] < 0.35 * diffs[0] and diffs[2] < 0.35 * diffs[1]  # O(1 / T^2)


# --------------------------------------------------------------------------- quadrature
POINTS = [
    (DATA, TEACHER, Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1)),
    (DATA, LogisticTeacher(lam=1e-3), Student(eta=0.5, chi=0.7, temperature=3.0, lam=0.01)),
    (GaussianMixture(0.8, 0.5, 0.8), BayesOptimalTeacher(), Student(eta=1.0, chi=0.5, temperature=2.0, lam=1e-3)),
]


@pytest.mark.parametrize("data, teacher, student", POINTS)
def test_converged_point_does_not_depend_on_quadrature_order(data, teacher, student):
    """The default quadrature target (half-rule estimate below 1e-6) and a 1e-10 one give the
    same converged point: the refinement is honest."""
    res = solve(data, teacher, student)
    fine = solve(data, teacher, student, quad_tol=1e-10)
    assert res.status.converged and fine.status.converged
    for a, b in zip(res.stages, fine.stages):
        assert a.gen_error == pytest.approx(b.gen_error, abs=1e-8)
        for k in ("m", "q", "bias") + (("p",) if a.p is not None else ()):
            assert getattr(a, k) == pytest.approx(getattr(b, k), rel=1e-7, abs=1e-9), k
        assert a.train_error == pytest.approx(b.train_error, abs=1e-8)
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-8)


def test_trapezoid_beats_fixed_gauss_hermite_on_hard_teacher():
    """THEORY.md pitfall 2: at alpha = 2, lam_t = 1e-3 (qt ~ 73) the adaptive rule is exact to
    ~1e-10 where 80-node Gauss-Hermite is off by ~1e-4 (relative)."""
    data, teacher = DATA, LogisticTeacher(lam=1e-3)
    t = solve(data, teacher).teacher
    assert t.q == pytest.approx(73.0134, rel=1e-5)
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    loss = LogisticLoss()

    def Eg_gh():
        y = np.array([1.0, -1.0])[:, None]
        c = y * t.m + math.sqrt(data.delta * t.q) * x[None, :] + t.bias
        u = loss.prox(c, t.V, np.broadcast_to(y, c.shape))
        g = loss.grad(u, y)
        return -data.alpha * float(np.array([data.rho, 1 - data.rho]) @ (y * g) @ w)

    assert abs(Eg_gh() - t.mhat) / t.mhat > 1e-6  # Gauss-Hermite visibly off
    fine = solve(data, teacher, quad_tol=1e-12).teacher
    assert fine.mhat == pytest.approx(t.mhat, rel=1e-9)


# --------------------------------------------------------------------------- scipy oracle
def _prox_scalar(loss, c, V, y, ut=None):
    from scipy.optimize import minimize_scalar

    G = loss.grad_bound()
    r = minimize_scalar(lambda u: (u - c) ** 2 / (2 * V) + float(loss.value(u, y, ut)),
                        bracket=(c - V * G, c + V * G), method="brent", tol=1e-12)
    return r.x


def test_scipy_quad_oracle_teacher():
    """Teacher hats by scipy.integrate.quad + scalar minimization at the converged point."""
    from scipy.integrate import quad

    t = solve(DATA, TEACHER).teacher
    d, loss = DATA, LogisticLoss()
    s = math.sqrt(d.delta * t.q)

    def expect(f):
        tot = 0.0
        for y, py in ((1.0, d.rho), (-1.0, 1 - d.rho)):
            def integrand(xi):
                u = _prox_scalar(loss, y * t.m + s * xi + t.bias, t.V, y)
                return f(u, y) * math.exp(-xi * xi / 2) / math.sqrt(2 * math.pi)
            tot += py * quad(integrand, -10, 10, epsabs=1e-11, epsrel=1e-10, limit=200)[0]
        return tot

    a = d.alpha
    Eg = expect(lambda u, y: float(loss.grad(u, y)))
    mhat = -a * expect(lambda u, y: y * float(loss.grad(u, y)))
    qhat = a * expect(lambda u, y: float(loss.grad(u, y)) ** 2)
    Vhat = a * expect(lambda u, y: float(loss.hess(u, y)) / (1 + t.V * float(loss.hess(u, y))))
    assert abs(Eg) < 1e-9
    assert (mhat, qhat, Vhat) == pytest.approx((t.mhat, t.qhat, t.Vhat), rel=1e-8)
    A = TEACHER.lam + d.delta * Vhat
    assert (mhat / A, (mhat ** 2 + d.delta * qhat) / A ** 2, d.delta / A) == pytest.approx(
        (t.m, t.q, t.V), rel=1e-8)


def _prox_root(loss, c, V, y, ut=None):
    from scipy.optimize import brentq

    G = loss.grad_bound()
    return brentq(lambda u: u - c + V * float(loss.grad(u, y, ut)), c - V * G - 1e-9, c + V * G + 1e-9,
                  xtol=1e-14, rtol=4 * np.finfo(float).eps)


def test_scipy_quad_oracle_student():
    """Student conjugates by nested adaptive scipy.integrate.quad_vec over (xi1, xi2), with the
    proximal operators by scipy.optimize.brentq, at the converged point."""
    from scipy.integrate import quad_vec

    st = Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1)
    res = solve(DATA, TEACHER, st)
    t, s = res.teacher, res.student
    d, loss, tl = DATA, st.loss(), LogisticLoss()
    st_t = math.sqrt(d.delta * t.q)
    a1 = math.sqrt(d.delta) * s.p / math.sqrt(t.q)
    a2 = math.sqrt(d.delta * (s.q - s.p ** 2 / t.q))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    out = np.zeros(4)  # E[g], E[-y g], E[gt g], E[dg/domega~]
    for y, py in ((1.0, d.rho), (-1.0, 1 - d.rho)):
        def outer(xi1):
            ut = _prox_root(tl, y * t.m + st_t * xi1 + t.bias, t.V, y)
            gt = float(tl.grad(ut, y))
            ltpp = float(tl.hess(ut, y))
            dht, dgt = 1 / (1 + t.V * ltpp), ltpp / (1 + t.V * ltpp)

            def inner(xi2):
                c = y * s.m + a1 * xi1 + a2 * xi2 + s.bias - s.Vx * gt
                u = _prox_root(loss, c, s.V, y, ut)
                g = float(loss.grad(u, y, ut))
                Lpp, Lx = float(loss.hess(u, y, ut)), float(loss.cross(u, y, ut))
                return np.array([g, -y * g, gt * g, (Lx * dht - Lpp * s.Vx * dgt) / (1 + s.V * Lpp)]) * phi(xi2)

            return quad_vec(inner, -9, 9, epsabs=1e-11, epsrel=1e-10)[0] * phi(xi1)

        out += py * quad_vec(outer, -9, 9, epsabs=1e-10, epsrel=1e-10)[0]
    Eg, mhat2, qhat12, Vhat21 = out[0], d.alpha * out[1], d.alpha * out[2], d.alpha * out[3]
    assert abs(Eg) < 1e-8
    assert (mhat2, qhat12, Vhat21) == pytest.approx((s.mhat, s.qhat12, s.Vhat21), rel=1e-7)


# --------------------------------------------------------------------------- solver, numerics
def test_result_layout_and_json():
    res = solve(DATA, TEACHER, Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1))
    assert isinstance(res, Result) and res.backend == "theory"
    assert res.teacher.p is None and res.student.p is not None
    for k in ("V", "mhat", "qhat", "Vhat"):
        assert math.isfinite(res.teacher.extra[k])
    for k in ("V", "Vx", "mhat", "qhat", "qhat12", "Vhat", "Vhat21"):
        assert math.isfinite(res.student.extra[k])
    assert res.student.gen_error == pytest.approx(
        gen_error(res.student.m, res.student.q, res.student.bias, DATA.delta, DATA.rho))
    js = res.to_json_dict()
    assert js["backend"] == "theory" and "n_features" not in js
    assert len(js["stages"]) == 2 and not any(k.endswith("_stderr") for k in js["stages"][1])
    assert js["status"]["converged"] is True and js["status"]["iterations"] > 0
    assert [s["code"] for s in js["stage_status"]] == ["converged", "converged"]
    assert js["problem"]["stages"][1]["chi"] == 0.5
    rec = res.to_record()
    assert rec["status_converged"] and "stage1_Vx" in rec and "bayes_error_sparse" in rec
    assert not any(k.startswith(("teacher_", "student_")) for k in rec)  # one naming rule


def test_train_loss_and_error_are_consistent():
    res = solve(DATA, TEACHER, Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1))
    for o in (res.teacher, res.student):
        assert 0 < o.train_error < o.gen_error < 0.5
        assert o.train_loss > 0
    # training error decreases and loss ordering: weaker ridge fits the data better
    r2 = solve(DATA, TEACHER, Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.01))
    assert r2.student.train_loss < res.student.train_loss


def test_warm_start_from_result_and_same_answer():
    st = Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.05)
    cold = solve(DATA, TEACHER, st)
    warm = solve(DATA, TEACHER, st, init=cold)
    assert warm.status.iterations <= 4
    near = solve(DATA.replace(alpha=2.1), TEACHER, st, init=cold)
    near_cold = solve(DATA.replace(alpha=2.1), TEACHER, st)
    assert near.status.converged
    for k in ("gen_error", "m", "q", "p", "bias"):
        assert getattr(near.student, k) == pytest.approx(getattr(near_cold.student, k), rel=1e-8)
    ws = WarmStart.from_result(cold)
    assert len(ws.stages) == 2 and all(isinstance(x, StageState) for x in ws.stages)
    # a partial warm start (one stage unknown) is accepted
    assert solve(DATA, TEACHER, st, init=WarmStart(stages=(None, ws.stages[1]))).status.converged


def test_damped_fallback_method_agrees():
    st = Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1)
    a = solve(DATA, TEACHER, st)
    d = solve(DATA, TEACHER, st, method="damped")
    assert d.status.converged
    assert d.status.iterations > a.status.iterations
    assert d.student.gen_error == pytest.approx(a.student.gen_error, abs=1e-8)


def test_non_convergence_is_reported_and_strict_raises():
    st = Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1)
    res = solve(DATA, TEACHER, st, maxiter=3)
    assert not res.status.converged
    assert "not converged" in res.status.message or "budget" in res.status.message
    assert res.status.residual > 1e-10
    with pytest.raises(ConvergenceError, match="did not converge"):
        solve(DATA, TEACHER, st, maxiter=3, strict=True)


def test_separable_unregularized_teacher_diverges_honestly():
    res = solve(GaussianMixture(0.5, 1.0, 0.3), LogisticTeacher(lam=0.0), Student())
    assert not res.status.converged
    assert "diverged" in res.status.message
    assert math.isnan(res.teacher.gen_error) and math.isnan(res.student.gen_error)


def test_unregularized_teacher_above_separability_converges():
    res = solve(GaussianMixture(5.0, 1.0, 0.3), LogisticTeacher(lam=0.0))
    assert res.status.converged, res.status.message
    assert res.teacher.train_error > 0


@pytest.mark.parametrize("data, teacher, student", [
    (GaussianMixture(2.0, 1.0, 0.02), TEACHER, Student(0.5, 0.5, 1.0, 0.1)),
    (GaussianMixture(2.0, 1.0, 0.98), BayesOptimalTeacher(), Student(0.5, 0.5, 3.0, 0.1)),
    (GaussianMixture(2.0, 1.0, 0.3), TEACHER, Student(0.5, 0.5, 1.0, 1e-8)),
    (GaussianMixture(50.0, 1.0, 0.3), TEACHER, Student(1.0, 0.5, 2.0, 0.01)),
    (GaussianMixture(0.05, 1.0, 0.3), TEACHER, Student(0.5, 0.5, 1.0, 0.1)),
    (GaussianMixture(2.0, 1.0, 0.3), TEACHER, Student(0.5, 1.0, 100.0, 1e-6, t2_scaling=True)),
])
def test_extreme_parameters_converge(data, teacher, student):
    res = solve(data, teacher, student)
    assert res.status.converged, res.status.message
    vals = list(res.teacher.values().values()) + list(res.student.values().values())
    assert all(math.isfinite(v) for v in vals)
    assert 0 <= res.student.gen_error <= 1


def test_tiny_temperature():
    res = solve(DATA, TEACHER, Student(eta=0.5, chi=0.5, temperature=0.05, lam=0.1))
    assert res.status.converged, res.status.message
    assert 0 < res.student.gen_error < 0.5


def test_invalid_input():
    with pytest.raises(TypeError):
        solve({"alpha": 2}, TEACHER)
    with pytest.raises(TypeError):
        solve(DATA, "logistic")
    with pytest.raises(TypeError):
        solve(DATA, TEACHER, "x")
    with pytest.raises(ValueError, match="unknown theory option"):
        solve(DATA, TEACHER, student=Student())
    with pytest.raises(ValueError, match="tol"):
        solve(DATA, TEACHER, tol=0.0)
    with pytest.raises(ValueError, match="maxiter"):
        solve(DATA, TEACHER, maxiter=0)
    with pytest.raises(ValueError, match="method"):
        solve(DATA, TEACHER, method="newton")
    with pytest.raises(TypeError, match="init"):
        solve(DATA, TEACHER, init=[1, 2, 3])
    with pytest.raises(ValueError, match="rho"):
        GaussianMixture(2.0, 1.0, 1.0)


# --------------------------------------------------------------------------- curves
def test_curve_along_alpha_matches_cold_solves():
    st = Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1)
    df = curve(DATA, TEACHER, st, along="alpha", values="0.5:4:8")
    assert isinstance(df, pd.DataFrame) and len(df) == 8
    assert df["status_converged"].all()
    assert np.allclose(df["alpha"], np.linspace(0.5, 4, 8))
    assert (np.diff(df["stage1_gen_error"]) < 0).all()
    for i in (0, 5):
        cold = solve(DATA.replace(alpha=float(df["alpha"][i])), TEACHER, st)
        assert df["stage1_gen_error"][i] == pytest.approx(cold.student.gen_error, abs=1e-9)


def test_curve_along_lam_and_errors():
    st = Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1)
    df, results = curve(DATA, BayesOptimalTeacher(), st, along="lam", values=[1e-3, 1e-2, 0.1, 1.0],
                        return_results=True)
    assert len(results) == 4 and all(r.status.converged for r in results)
    assert list(df["stage1_lam"]) == [1e-3, 1e-2, 0.1, 1.0]
    with pytest.raises(ValueError, match="along"):
        curve(DATA, TEACHER, st, along="beta", values=[1.0])
    with pytest.raises(ValueError, match="student"):
        curve(DATA, TEACHER, None, along="lam", values=[1.0])
    with pytest.raises(ValueError, match="teacher_lam"):
        curve(DATA, BayesOptimalTeacher(), st, along="teacher_lam", values=[1.0])
    with pytest.raises(ValueError, match="alpha"):
        curve(DATA, TEACHER, st, along="alpha", values=[1.0, -1.0])


def test_parse_values():
    assert np.allclose(parse_values("1:2:3"), [1, 1.5, 2])
    assert np.allclose(parse_values("log:1e-2:1:3"), [1e-2, 1e-1, 1])
    assert np.allclose(parse_values("0.5, 1,2"), [0.5, 1, 2])
    for bad in ("", "a:b:c", "1:2", "log:0:1:3", "nan"):
        with pytest.raises(ValueError):
            parse_values(bad)
