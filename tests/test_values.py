import numpy as np
import pytest

from kdlab import BayesOptimalTeacher, GaussianMixture, Student, theory
from kdlab.runs.sweep import parse_grid_value
from kdlab.values import parse_values


def test_one_syntax_for_every_cli():
    assert parse_values("0.5:2:4") == [0.5, 1.0, 1.5, 2.0]
    np.testing.assert_allclose(parse_values("1e-2:1:3:log"), [0.01, 0.1, 1.0])
    assert parse_values("log:1e-2:1:3") == parse_values("1e-2:1:3:log")
    assert parse_values("0, 0.5 1") == [0.0, 0.5, 1.0]
    # the sweep axis and the theory curve read the same text the same way
    assert parse_grid_value("log:1e-2:1:3") == parse_values("1e-2:1:3:log")
    np.testing.assert_array_equal(theory.parse_values("1e-2:1:3:log"), parse_values("log:1e-2:1:3"))
    assert parse_grid_value("logistic,bayes-optimal") == ["logistic", "bayes-optimal"]


@pytest.mark.parametrize("spec", ["", "1:2", "1:2:x", "0:1:3:log", "1:2:0", "a,b", "1:2:3:4:5", "nan"])
def test_bad_specs_are_errors(spec):
    with pytest.raises(ValueError, match="invalid values"):
        parse_values(spec)


def test_sparse_bayes_floor():
    d = GaussianMixture(2.0, 1.0, 0.3)
    floor = theory.bayes_optimal_error(d, 0.5)
    assert floor == theory.bayes_optimal_error(GaussianMixture(4.0, 2.0, 0.3))
    assert theory.bayes_optimal_error(d) < floor  # fewer coordinates can only hurt
    assert theory.solve(d, BayesOptimalTeacher(), Student(eta=0.5)).extra["bayes_error_sparse"] == floor
    with pytest.raises(ValueError, match="eta"):
        theory.bayes_optimal_error(d, 0.0)

