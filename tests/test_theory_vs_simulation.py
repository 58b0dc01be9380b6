"""Asymptotic theory against the finite-size simulation backend.

Criterion, for every observable of teacher and student:
``|sim - theory| <= 3 * stderr + allowance``, with the standard error of the mean over seeds
and a stated finite-size allowance (THEORY.md: an O(1/N) bias, simulated m, q slightly below
theory, eps_g slightly above): relative ``REL`` of the theoretical value plus absolute ``ABS``.

Seeds: the default seeds 0, 1, ... of the simulation backend (their centres ``v`` are
checked to be typical in ``tests/test_simulate.py``).
"""


import pytest

from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student, simulate
from kdlab.theory import solve

KEYS = ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p")
SEEDS0 = 0


def check_agreement(data, teacher, student, n_features, n_seeds, rel, abs_):
    sim = simulate(data, teacher, student, n_features=n_features, seeds=range(SEEDS0, SEEDS0 + n_seeds),
                   n_jobs=2)
    th = solve(data, teacher, student)
    assert th.status.converged, th.status.message
    failures = []
    for who in ("teacher", "student"):
        so, to = getattr(sim, who), getattr(th, who)
        if so is None:
            continue
        for k in KEYS:
            s, t = getattr(so, k), getattr(to, k)
            if s is None or t is None:
                continue
            se = so.stderr.get(k, 0.0)
            bound = 3 * se + rel * abs(t) + abs_
            if not abs(s - t) <= bound:
                failures.append(f"{who}.{k}: theory {t:.5f}, simulation {s:.5f} +- {se:.5f} "
                                f"(|diff| {abs(s - t):.5f} > {bound:.5f})")
    assert not failures, "\n".join(failures)


def test_theory_vs_simulation_fast():
    """Default suite: one point at N = 1000, 8 seeds; allowance 2 % + 0.003 (O(1/N) bias)."""
    check_agreement(GaussianMixture(2.0, 1.0, 0.3), LogisticTeacher(0.1),
                    Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1),
                    n_features=1000, n_seeds=8, rel=0.02, abs_=0.003)


SLOW_POINTS = [
    # both teachers, rho != 1/2, eta in {0.5, 1}, chi in (0, 1], T in {1, > 1}, small and moderate lam
    (GaussianMixture(2.0, 1.0, 0.3), LogisticTeacher(0.1), Student(0.5, 0.5, 1.0, 0.1)),
    (GaussianMixture(3.0, 1.0, 0.3), LogisticTeacher(0.01), Student(1.0, 0.7, 3.0, 0.01)),
    (GaussianMixture(1.0, 1.0, 0.7), LogisticTeacher(1.0), Student(0.5, 1.0, 2.0, 1e-3)),
    (GaussianMixture(2.0, 1.0, 0.3), BayesOptimalTeacher(), Student(0.5, 0.5, 1.0, 0.01)),
    (GaussianMixture(1.5, 1.0, 0.25), BayesOptimalTeacher(), Student(1.0, 1.0, 4.0, 0.1)),
    (GaussianMixture(0.8, 1.0, 0.4), LogisticTeacher(0.1), Student(0.5, 0.3, 1.0, 0.05)),
    (GaussianMixture(4.0, 1.0, 0.35), BayesOptimalTeacher(), Student(0.5, 0.8, 2.0, 1e-3, t2_scaling=True)),
    (GaussianMixture(2.0, 0.5, 0.3), LogisticTeacher(0.05), Student(1.0, 0.5, 1.0, 0.1)),
]


@pytest.mark.slow
@pytest.mark.parametrize("data, teacher, student", SLOW_POINTS)
def test_theory_vs_simulation_N2000(data, teacher, student):
    """N = 2000, 10 seeds: 3 standard errors plus a 1 % + 0.002 finite-size allowance."""
    check_agreement(data, teacher, student, n_features=2000, n_seeds=10, rel=0.01, abs_=0.002)
