"""Validation tuning in simulation (:mod:`kdlab.simulation.validation`): the chosen parameters
come from the grid, the chosen model is the one a plain simulation fits there, and the validation
error picks the candidate with the fewest validation errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kdlab import simulate
from kdlab.problem import GaussianMixture, LogisticTeacher, Problem, Student
from kdlab.simulation.validation import validation_summary, validation_tuned

DATA = GaussianMixture(alpha=1.0, delta=0.5, rho=0.5, label_noise=0.2)
PROBLEM = Problem(DATA, [LogisticTeacher(lam=1.0, bias=0.0), Student(eta=1.0, lam=1.0, chi=1.0, temperature=0.0,
                                                                     bias=0.0)])
LAMS = [0.01, 1.0, 100.0]


def test_chosen_models_are_the_plain_simulation_at_the_choice():
    ps = validation_tuned(PROBLEM, {0: {"lam": LAMS}, 1: {"lam": LAMS}}, alpha_val=0.5, n_features=120,
                          seeds=[0, 1, 2], n_jobs=1)
    assert list(ps["seed"]) == [0, 1, 2]
    for _, r in ps.iterrows():
        assert r["stage0_lam"] in LAMS and r["stage1_lam"] in LAMS
        p = PROBLEM.replace(stage0={"lam": r["stage0_lam"]}, stage1={"lam": r["stage1_lam"]})
        sim = simulate(p, n_features=120, seeds=[int(r["seed"])], n_jobs=1)
        assert sim.stages[0].gen_error == pytest.approx(r["stage0_gen_error"], abs=1e-12)
        assert sim.stages[1].gen_error == pytest.approx(r["stage1_gen_error"], abs=1e-12)
    s = validation_summary(ps, 1)
    assert s["n_seeds"] == 3 and s["gen_error"] == pytest.approx(ps["stage1_gen_error"].mean())
    assert s["gen_error_stderr"] == pytest.approx(ps["stage1_gen_error"].std(ddof=1) / math.sqrt(3))


def test_the_choice_minimizes_the_validation_error():
    """Stage 0 alone: the chosen ridge's validation error is the smallest over the grid (each
    candidate's validation error recomputed with a one-value grid)."""
    one = Problem(DATA, [LogisticTeacher(lam=1.0)])
    ps = validation_tuned(one, {0: {"lam": LAMS}}, alpha_val=1.0, n_features=100, seeds=[3], n_jobs=1)
    errs = [validation_tuned(one, {0: {"lam": [lam]}}, alpha_val=1.0, n_features=100, seeds=[3],
                             n_jobs=1)["stage0_val_error"].iloc[0] for lam in LAMS]
    assert ps["stage0_val_error"].iloc[0] == min(errs)
    assert ps["stage0_lam"].iloc[0] == LAMS[int(np.argmin(errs))]


@pytest.mark.parametrize("kw, msg", [({"alpha_val": 0.0}, "alpha_val"), ({"grids": {5: {"lam": [1.0]}}}, "stage index"),
                                     ({"grids": {0: {"chi": [1.0]}}}, "no parameter chi"),
                                     ({"grids": {0: {"lam": []}}}, "empty")])
def test_bad_arguments_are_one_clear_error(kw, msg):
    grids = kw.pop("grids", {0: {"lam": LAMS}})
    with pytest.raises(ValueError, match=msg):
        validation_tuned(Problem(DATA, [LogisticTeacher(lam=1.0)]), grids, n_features=50, seeds=1, **kw)
