"""The README's chain example runs, converges, and agrees with a small simulation."""

import math

from kdlab import Fresh, GaussianMixture, LogisticTeacher, Student, simulate, theory


def test_readme_chain_example():
    data = GaussianMixture(alpha=2.0, rho=0.3, label_noise=0.2)
    chain = [LogisticTeacher(lam=0.1, eta=1.0),
             Student(eta=1.0, chi=1.0, temperature=2.0, lam=0.01),
             Student(eta=1.0, chi=1.0, temperature=0.0, lam=0.01, data=Fresh(alpha=3.0))]
    res = theory.solve(data, chain)
    assert res.status.converged, res.status.message
    assert len(res.stages) == 3 and res.overlaps.shape == (3, 3)
    assert all(math.isfinite(s.gen_error) for s in res.stages)
    sim = simulate(data, chain, n_features=400, seeds=range(6), n_jobs=1)
    for th, si in zip(res.stages, sim.stages):
        # 4 standard errors + 3 %: a small N, so a loose finite-size allowance
        assert abs(th.gen_error - si.gen_error) <= 4 * si.gen_error_stderr + 0.03 * th.gen_error
