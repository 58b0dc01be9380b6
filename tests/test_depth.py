"""The theory at depth against simulation (issue 19): deep chains on one training set and the
model-collapse workflows.

The simulations at N = 2000, 16 seeds are stored in ``tests/data/depth-reference.json`` (made
by ``tests/data/make_depth_reference.py``, which records its commit); the slow suite recomputes
the theory of every chain and checks every observable of every stage within
``3 s.e. + 1 %`` of the theoretical value (plus ``ABS`` for values near 0), and runs a small
live simulation of each chain (N = 300, 4 seeds) against the same theory with a finite-size
allowance. The bias of a classifier that is constant (or nearly: the theory's bias beyond
``BIG_BIAS``) is not compared: a finite-N run reaches the constant classifier a generation
earlier or later, seed by seed, and the mean of ``-inf`` and finite biases is not an estimate
of anything; its error, overlaps and training error are compared.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kdlab import simulate, theory
from kdlab.problem import Problem

REF = Path(__file__).resolve().parent / "data" / "depth-reference.json"
ABS = 1e-3
BIG_BIAS = 8.0
KEYS = ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p")


def _reference():
    return json.loads(REF.read_text())


def _failures(name, th, stages_sim, rel, abs_, k_se=3.0):
    out = []
    for k, (to, so) in enumerate(zip(th.stages, stages_sim)):
        for key in KEYS:
            t = getattr(to, key)
            if t is None or key not in so:
                continue
            s, se = so[key]
            if key == "bias" and (not math.isfinite(t) or abs(t) > BIG_BIAS or not math.isfinite(s)):
                continue
            se = 0.0 if se is None or not math.isfinite(se) else se
            bound = k_se * se + rel * abs(t) + abs_
            if not abs(s - t) <= bound:
                out.append(f"{name} stage {k} {key}: theory {t:.5f}, simulation {s:.5f} +- {se:.5f} "
                           f"(|diff| {abs(s - t):.5f} > {bound:.5f})")
    return out


def _chains():
    if not REF.exists():  # the file is part of the repository: its absence is a failure, not a skip
        return ["missing"]
    return list(_reference()["chains"])


def test_the_reference_file_covers_the_issue_s_chains():
    ref = _reference()
    assert ref["n_features"] == 2000 and ref["seeds"] == 16
    assert set(ref["chains"]) == {"replace-hard-8", "replace-soft-8", "accumulate-hard-3", "accumulate-soft-5",
                                  "mix-6", "soft-students-6", "hard-students-4"}
    for c in ref["chains"].values():
        p = Problem.from_dict(c["problem"])
        assert len(c["stages"]) == len(p.stages)


@pytest.mark.slow
@pytest.mark.parametrize("name", _chains())
def test_theory_against_the_stored_simulation_N2000(name):
    chain = _reference()["chains"][name]
    problem = Problem.from_dict(chain["problem"])
    th = theory.solve(problem)
    assert th.status.converged, th.status.message
    failures = _failures(name, th, chain["stages"], rel=0.01, abs_=ABS)
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("name", _chains())
def test_theory_against_a_live_small_simulation(name):
    problem = Problem.from_dict(_reference()["chains"][name]["problem"])
    th = theory.solve(problem)
    sim = simulate(problem, n_features=300, seeds=4, n_jobs=2)
    stages = [{k: [getattr(o, k), o.stderr.get(k)] for k in KEYS if getattr(o, k, None) is not None}
              for o in sim.stages]
    # N = 300: a finite-size allowance of 5 % + 0.01 beside 3 standard errors
    failures = _failures(name, th, stages, rel=0.05, abs_=0.01)
    assert not failures, "\n".join(failures)
