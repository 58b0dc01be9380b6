"""The contract suite (scikit-learn's ``check_estimator`` style): one parametrized set of checks
run over every stage type, every data model and every study (:mod:`kdlab.checks`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from kdlab.checks import check_data, check_stage
from kdlab.errors import ParameterError
from kdlab.problem import BayesOptimalTeacher, Fresh, GaussianMixture, LogisticTeacher, Student
from kdlab.reporting.findings import MISSING, Claim

#: One example of every stage type (and every training-set and label variant of the student).
STAGES = {
    "logistic-teacher": LogisticTeacher(lam=0.1),
    "logistic-teacher-subset": LogisticTeacher(lam=0.1, eta=0.6),
    "bayes-optimal-teacher": BayesOptimalTeacher(),
    "student-shared-soft": Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1),
    "student-fresh": Student(eta=0.7, chi=1.0, temperature=1.0, lam=0.1, data=Fresh(alpha=1.5)),
    "student-hard-labels": Student(eta=1.0, chi=1.0, temperature=0.0, lam=0.1),
    "student-chi-above-one": Student(eta=0.5, chi=1.5, temperature=1.0, lam=0.1),
}
DATA = {"gaussian-mixture": GaussianMixture(alpha=2.0, rho=0.3),
        "gaussian-mixture-noisy": GaussianMixture(alpha=1.5, rho=0.5, label_noise=0.2)}
STAGE_CHECKS = [name for name, _ in check_stage(LogisticTeacher())]
DATA_CHECKS = [name for name, _ in check_data(GaussianMixture())]


@pytest.mark.parametrize("check", STAGE_CHECKS)
@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_contract(stage, check, tmp_path):
    dict(check_stage(STAGES[stage], tmp_path))[check]()


@pytest.mark.parametrize("check", DATA_CHECKS)
@pytest.mark.parametrize("data", list(DATA))
def test_data_contract(data, check):
    dict(check_data(DATA[data]))[check]()


def test_the_contract_catches_a_broken_stage():
    """The checks can fail: a stage whose errors do not name the parameter, or whose default is
    not the declared one, is caught."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Sloppy(LogisticTeacher):
        def __post_init__(self):  # no validation at all
            pass

    with pytest.raises(AssertionError, match="accepted"):
        dict(check_stage(Sloppy()))["validates"]()


# ----------------------------------------------------------------------------- studies


def _studies():
    from kdlab.studies import STUDIES

    return STUDIES


@pytest.mark.parametrize("name", list(_studies()))
def test_study_contract(name):
    """Every study: a complete record, JSON parameters whose quick variant only overrides
    declared ones, errors naming the study, and findings that say 'not computed' (not a
    traceback) when a table is missing."""
    from kdlab.studies import study_params

    spec = _studies()[name]
    assert spec.name == name and spec.title and spec.summary and spec.question
    assert "\n" not in spec.summary
    json.dumps(spec.params)
    assert set(spec.quick) <= set(spec.params), set(spec.quick) - set(spec.params)
    p = study_params(name, quick=True)
    assert p == json.loads(json.dumps(p))
    with pytest.raises(ParameterError, match=name):
        study_params(name, no_such_parameter=1)
    c = spec.evaluate({}, p)
    assert isinstance(c, Claim) and c.findings
    assert all(f.verdict == MISSING for f in c.findings), [(f.name, f.verdict) for f in c.findings]
    assert set(spec.compare) and all(isinstance(v, (tuple, list)) for v in spec.compare.values())
    empty = {t: pd.DataFrame() for t in spec.compare}
    assert all(f.verdict == MISSING for f in spec.evaluate(empty, p).findings)
