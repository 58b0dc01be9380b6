"""Simulation benchmarks. Run: ``python benchmarks/bench_simulate.py [--quick]``.

1. KD student fit at N = 2000, alpha = 2 against scikit-learn's solvers on the teacher problem
   of the same size and tolerance (side by side, same data, one BLAS thread each).
2. 20 seeds at N = 1000 for one point: one worker vs two (after a first parallel call that
   starts the workers), ``--repeat`` times alternating; prints each ratio and their median
   (target >= 1.6 on an idle 2-core machine: one run lasts about 2 s, so single runs scatter).

``--quick``: N = 1000 in part 1, best of 1, 10 seeds in part 2 (a smoke run, not the reference).
"""

from __future__ import annotations

import argparse
import time

from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from kdlab import GaussianMixture, LogisticTeacher, Student, simulate
from kdlab.simulation.run import clear_fit_cache, fit_student, fit_teacher, sample_dataset, student_subset


def best_of(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-features", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--quick", action="store_true", help="N = 1000, best of 1, 10 seeds (a smoke run)")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.n_features, args.repeat = min(args.n_features, 1000), 1
    N = args.n_features
    data = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
    teacher = LogisticTeacher(lam=0.1)
    student = Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1)
    ds = sample_dataset(data, N, seed=0)
    Xs = ds.Xs
    with threadpool_limits(limits=1):
        tfit = fit_teacher(teacher, data, ds, tol=args.tol)
        S = student_subset(student, N, 0)
        t_student = best_of(lambda: fit_student(student, ds, S, tfit.u, tol=args.tol), args.repeat)
        t_teacher = best_of(lambda: fit_teacher(teacher, data, ds, tol=args.tol), args.repeat)
        sk = {}
        for solver in ("newton-cg", "lbfgs"):
            clf = LogisticRegression(C=1 / teacher.lam, solver=solver, tol=args.tol, max_iter=10000)
            sk[solver] = best_of(lambda: clf.fit(Xs, ds.y), args.repeat)
    print(f"N={N}, alpha=2, tol={args.tol:g}, 1 BLAS thread, best of {args.repeat}:")
    print(f"  kdlab KD student fit (eta=0.5, chi=0.5, T=2): {t_student * 1e3:8.1f} ms")
    print(f"  kdlab logistic teacher fit:                   {t_teacher * 1e3:8.1f} ms")
    for solver, t in sk.items():
        print(f"  sklearn {solver:9s} teacher fit:              {t * 1e3:8.1f} ms")
    fastest = min(sk, key=sk.get)
    print(f"  ratio student / sklearn {fastest}: {t_student / sk[fastest]:.3f}; "
          f"teacher / sklearn {fastest}: {t_teacher / sk[fastest]:.3f}")

    n_seeds = 10 if args.quick else 20
    kw = dict(n_features=1000, seeds=range(n_seeds))
    # every timed call fits its teachers itself (no fit remembered from an earlier call)
    clear_fit_cache()
    t0 = time.perf_counter()
    simulate(data, teacher, student, n_jobs=2, **kw)  # the first parallel call of the process
    t_first = time.perf_counter() - t0
    ratios = []
    for _ in range(args.repeat):  # alternating, so that a slow spell of the machine hits both
        clear_fit_cache()
        t0 = time.perf_counter()
        simulate(data, teacher, student, n_jobs=1, **kw)
        t_serial = time.perf_counter() - t0
        clear_fit_cache()
        t0 = time.perf_counter()
        simulate(data, teacher, student, n_jobs=2, **kw)
        t_par = time.perf_counter() - t0
        ratios.append(t_serial / t_par)
        print(f"{n_seeds} seeds at N=1000: 1 worker {t_serial:.2f} s; 2 workers {t_par:.2f} s: {ratios[-1]:.2f}x")
    print(f"  first parallel call of the process (worker start): {t_first:.2f} s")
    print(f"  ratio 1 worker / 2 workers over {len(ratios)} alternating runs: median "
          f"{sorted(ratios)[len(ratios) // 2]:.2f}x (each: {', '.join(f'{r:.2f}x' for r in ratios)})")


if __name__ == "__main__":
    main()
