"""K classes (issue 17): the theory's speed on the issue's chains, and the simulation's K = 3 KD
fit against one scikit-learn multinomial fit of the same size.

Run: ``python benchmarks/bench_multiclass.py [--quick] [--repeat R]``.

Targets (cold, one process): K = 3 teacher + student on one set < 2 s; K = 3 teacher + 3 Fresh
students < 3 s; K = 4 teacher + student < 30 s; K = 3, 3 stages on one set < 60 s (and, without
a target, K = 6 teacher + student); the simulation's K = 3 KD fit at N = 2000 within 2x of one
scikit-learn multinomial fit
(``LogisticRegression(C = 1 / lam)``, lbfgs, its default tolerance) of the same size. Each
line states the wall time (the target's measure) and the process CPU time (less sensitive to
a shared machine's load), whether the target is met, the solver's status, its largest
integration error estimate and each stage's gen_error (to compare two versions' values). One
BLAS thread for the theory; the load average is printed.
"""

from __future__ import annotations

import argparse
import math
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from kdlab import Fresh, LogisticTeacher, MulticlassMixture, Problem, Student  # noqa: E402
from kdlab.theory import solve  # noqa: E402

D3 = MulticlassMixture.from_geometry("pair", 3, 0.6, alpha=2.0, delta=0.5, prior=[0.5, 0.3, 0.2])
D4 = MulticlassMixture.from_geometry("equal", 4, 0.3, alpha=2.0, delta=0.5)
D6 = MulticlassMixture.from_geometry("equal", 6, 0.6, norm=4.0, alpha=2.0, delta=1.0)
T = LogisticTeacher(lam=0.05)
S = Student(eta=0.6, chi=1.0, temperature=3.0, lam=0.05)
CASES = {
    "K = 3 teacher alone": (Problem(D3, (T,)), None),
    "K = 3 teacher + student on one set": (Problem(D3, (T, S)), 2.0),
    "K = 3 teacher + 3 Fresh students": (Problem(D3, (T,) + tuple(S.replace(data=Fresh(alpha=2.0))
                                                                for _ in range(3))), 3.0),
    "K = 4 teacher + student": (Problem(D4, (T, S)), 30.0),
    "K = 3, 3 stages on one set": (Problem(D3, (T, S, S)), 60.0),
    # no target: 10 integration dimensions (RQMC), the dark-knowledge study's K = 6 point
    "K = 6 teacher + student": (Problem(D6, (LogisticTeacher(lam=0.3), Student(eta=0.5, chi=1.0, temperature=2.0,
                                                                                lam=0.3))), None),
}
QUICK = ("K = 3 teacher alone",)


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the teacher alone and N = 500 (a smoke run)")
    ap.add_argument("--repeat", type=int, default=1)
    return ap


def theory_cases(quick: bool, repeat: int):
    for name, (p, target) in CASES.items():
        if quick and name not in QUICK:
            continue
        best, cpu, res = math.inf, math.inf, None
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            res = solve(p)
            best = min(best, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
        err = max((v for k, v in res.extra.items() if k.startswith("quad_error")), default=0.0)
        verdict = "" if target is None else (f" (target < {target:g} s: {'met' if best < target else 'NOT met'})")
        eps = ", ".join(f"{st.gen_error:.8f}" for st in res.stages)
        print(f"theory  {name:40s} {best:8.2f} s (CPU {cpu:.2f} s){verdict}; converged {res.status.converged}, "
              f"largest error estimate {err:.1e}; gen_error per stage {eps}", flush=True)


def simulation_case(n: int, repeat: int):
    """One K = 3 KD fit (the student on its teacher's soft targets, T = 3) against one
    scikit-learn multinomial fit, same inputs."""
    from sklearn.linear_model import LogisticRegression

    from kdlab.simulation.multinomial import draw_set, fit_multinomial, sample_means

    rng = np.random.default_rng(0)
    mu = sample_means(D3.gram, n, rng)
    ds = draw_set(D3, mu, D3.alpha, 0, 0)
    X = ds.Xs
    teacher = fit_multinomial(X, ds.y, T_LOSS, 0.05)
    loss = STUDENT_LOSS
    t_kd = t_sk = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fit = fit_multinomial(X, ds.y, loss, 0.05, targets=loss.targets(ds.y, teacher.U))
        t_kd = min(t_kd, time.perf_counter() - t0)
        t0 = time.perf_counter()
        LogisticRegression(C=1 / 0.05).fit(X, ds.y)
        t_sk = min(t_sk, time.perf_counter() - t0)
    print(f"simulate K = 3 KD fit, N = {n}, M = {X.shape[0]}: {t_kd:.2f} s ({fit.iterations} Newton steps, "
          f"relative gradient {fit.grad_norm:.1e}); scikit-learn multinomial fit: {t_sk:.2f} s; ratio "
          f"{t_kd / t_sk:.2f} (target <= 2: {'met' if t_kd <= 2 * t_sk else 'NOT met'})", flush=True)


from kdlab.losses import SoftmaxKDLoss  # noqa: E402

T_LOSS = SoftmaxKDLoss()
STUDENT_LOSS = SoftmaxKDLoss(label_weight=0.0, kd_weight=1.0, temperature=3.0)


def main(argv=None):
    args = build_parser().parse_args(argv)
    print("load average %.2f %.2f %.2f, %d cores" % (*os.getloadavg(), os.cpu_count()), flush=True)
    simulation_case(500 if args.quick else 2000, args.repeat)
    theory_cases(args.quick, args.repeat)


if __name__ == "__main__":
    main()
