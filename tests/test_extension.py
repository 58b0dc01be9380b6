"""A new teacher type needs only its spec and its loss: both backends, the CLI option tables
and the records pick it up from the declaration (the architecture's claim, checked)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pytest

from kdlab import GaussianMixture, Student, simulate, theory
from kdlab.losses import Loss
from kdlab.params import Param
from kdlab.problem import TEACHER_KINDS, _Teacher


class SquareLoss(Loss):
    """``(u - y)^2 / 2``: least squares on the labels (proximal operator in closed form)."""

    def value(self, u, y, ut=None):
        return 0.5 * (np.asarray(u, float) - np.asarray(y, float)) ** 2

    def grad(self, u, y, ut=None):
        return np.asarray(u, float) - np.asarray(y, float)

    def hess(self, u, y, ut=None):
        return np.ones(np.broadcast(np.asarray(u, float), np.asarray(y, float)).shape)

    def grad_bound(self) -> float:
        return math.inf

    def prox(self, omega, V, y, ut=None, *, tol=1e-13, maxiter=200, return_residual=False):
        u = (np.asarray(omega, float) + np.asarray(V, float) * np.asarray(y, float)) / (1.0 + np.asarray(V, float))
        return (u, 0.0) if return_residual else u


_RIDGE_PARAMS = {"lam": Param("lam", float, 1.0, "Ridge of the least-squares teacher.", low=0.0, high=1e8,
                              low_open=False, high_open=False),
                 "eta": Param("eta", float, 1.0, "Fraction of the coordinates.", low=1e-6, high=1.0,
                              low_open=False, high_open=False)}


@dataclass(frozen=True)
class LeastSquaresTeacher(_Teacher):
    """Ridge regression on the labels: a teacher type defined outside the library."""

    PARAMS: ClassVar = _RIDGE_PARAMS
    kind: ClassVar[str] = "least-squares"
    lam: float = field(default=1.0)
    eta: float = field(default=1.0)

    def loss(self):
        return SquareLoss()

    def ridge(self, data):
        return self.lam


@pytest.fixture
def registered():
    TEACHER_KINDS[LeastSquaresTeacher.kind] = LeastSquaresTeacher
    yield
    TEACHER_KINDS.pop(LeastSquaresTeacher.kind)


def test_a_new_teacher_type_runs_in_both_backends(registered):
    data = GaussianMixture(alpha=2.0, rho=0.3)
    chain = [LeastSquaresTeacher(lam=1.0), Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1)]
    th = theory.solve(data, chain)
    assert th.status.converged, th.status.message
    sim = simulate(data, chain, n_features=1000, seeds=range(8), n_jobs=1)
    for k, (a, b) in enumerate(zip(th.stages, sim.stages)):
        for obs in ("gen_error", "m", "q"):
            t, s, se = getattr(a, obs), getattr(b, obs), b.stderr[obs]
            # 3 standard errors + 1 % + a finite-size allowance of 0.01 at N = 1000
            assert abs(t - s) <= 3 * se + 0.01 * abs(t) + 0.01, (k, obs, t, s, se)
    rec = th.to_record()
    assert rec["stage0_kind"] == "least-squares" and rec["stage0_lam"] == 1.0
    # the simulation's generic ERM finds the ridge regression's closed-form solution
    from kdlab.simulation.run import fit_stage, sample_dataset

    ds = sample_dataset(data, 200, seed=0)
    fit, w = fit_stage(chain[0], data, ds, None, None, data.alpha, 1e-11)   # tight: compared to 1e-7
    X = np.hstack([ds.Xs, np.ones((ds.Xs.shape[0], 1))])
    A = X.T @ X + np.diag([1.0] * ds.Xs.shape[1] + [0.0])
    sol = np.linalg.solve(A, X.T @ ds.y)
    np.testing.assert_allclose(np.r_[w, fit.bias], sol, rtol=1e-7, atol=1e-9)


def test_a_new_teacher_type_keeps_the_stage_contract(registered, tmp_path):
    """The contract suite of kdlab.checks runs on a stage type defined outside the library."""
    from kdlab.checks import check_stage

    for _name, check in check_stage(LeastSquaresTeacher(lam=1.0), tmp_path):
        check()
