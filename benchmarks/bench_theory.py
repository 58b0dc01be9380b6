"""Theory benchmarks. Run: ``python benchmarks/bench_theory.py [--quick] [--compare REF]``.

``--compare REF`` times the talk's pair (teacher + student, cold and warm) with this checkout
and with the git commit ``REF`` (checked out in a temporary worktree), alternately in fresh
processes, and prints both: e.g. ``--compare cb8f9f7`` (kdlab 0.2, which had a dedicated pair
solver) against the one generic per-stage path.

Targets on the 2-core reference machine: teacher point < 5 ms; student point < 50 ms cold,
< 10 ms warm; 50-point student learning curve along alpha < 2 s. Also the ratio against a
straightforward implementation in the style of published code for this model: every
Gaussian expectation by ``scipy.integrate.quad``, the proximal operator by a scalar
minimization (``scipy.optimize.minimize_scalar``) inside every integrand evaluation, the bias
by ``scipy.optimize.brentq`` on ``E[gt]`` and the plain damped iteration (damping 0.5).
All timings are wall-clock, best of ``--repeat`` runs, one BLAS thread.
"""

from __future__ import annotations

import argparse
import math
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from scipy.integrate import quad  # noqa: E402
from scipy.optimize import brentq, minimize_scalar  # noqa: E402

from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student, gen_error  # noqa: E402
from kdlab.losses import LogisticLoss  # noqa: E402
from kdlab.theory import curve, solve  # noqa: E402

DATA = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
TEACHER = LogisticTeacher(lam=0.1)
STUDENTS = {"chi=0.5,T=1": Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1),
            "chi=0.5,T=2": Student(eta=0.5, chi=0.5, temperature=2.0, lam=0.1),
            "chi=1,T=3,lam=0.01": Student(eta=0.5, chi=1.0, temperature=3.0, lam=0.01)}


def best_of(f, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


# --------------------------------------------------------------------------- naive reference
def naive_teacher(data: GaussianMixture, lam: float, *, tol: float = 1e-6, damping: float = 0.5,
                  maxiter: int = 1000, x0=(0.5, 1.0, 1.0), b0: float = 0.0, max_seconds: float = 600):
    """Published-style teacher solver: quad + minimize_scalar per integrand evaluation."""
    loss = LogisticLoss()
    a, d, rho = data.alpha, data.delta, data.rho

    def prox(c, V, y):
        return minimize_scalar(lambda u: (u - c) ** 2 / (2 * V) + float(loss.value(u, y)),
                               bracket=(c - V, c + V), method="brent", tol=1e-10).x

    def expect(f, mt, qt, Vt, bt):
        s = math.sqrt(d * qt)
        tot = 0.0
        for y, py in ((1.0, rho), (-1.0, 1 - rho)):
            def integrand(xi):
                u = prox(y * mt + s * xi + bt, Vt, y)
                return f(u, y) * math.exp(-xi * xi / 2) / math.sqrt(2 * math.pi)
            tot += py * quad(integrand, -10, 10, epsabs=1e-10, epsrel=1e-10, limit=200)[0]
        return tot

    mt, qt, Vt = x0
    bt = b0
    t0 = time.perf_counter()
    for it in range(1, maxiter + 1):
        Eg = lambda b: expect(lambda u, y: float(loss.grad(u, y)), mt, qt, Vt, b)  # noqa: E731
        lo, hi = bt - 1.0, bt + 1.0
        while Eg(lo) > 0:
            lo -= 2.0
        while Eg(hi) < 0:
            hi += 2.0
        bt = brentq(Eg, lo, hi, xtol=1e-12)
        mhat = -a * expect(lambda u, y: y * float(loss.grad(u, y)), mt, qt, Vt, bt)
        qhat = a * expect(lambda u, y: float(loss.grad(u, y)) ** 2, mt, qt, Vt, bt)
        Vhat = a * expect(lambda u, y: float(loss.hess(u, y)) / (1 + Vt * float(loss.hess(u, y))), mt, qt, Vt, bt)
        A = lam + d * Vhat
        new = np.array([mhat / A, (mhat ** 2 + d * qhat) / A ** 2, d / A])
        old = np.array([mt, qt, Vt])
        res = float(np.max(np.abs(new - old) / (1 + np.abs(old))))
        mt, qt, Vt = old + damping * (new - old)
        if res < tol:
            return dict(mt=mt, qt=qt, Vt=Vt, bt=bt, iterations=it, converged=True,
                        seconds=time.perf_counter() - t0)
        if time.perf_counter() - t0 > max_seconds:
            break
    return dict(mt=mt, qt=qt, Vt=Vt, bt=bt, iterations=it, converged=False, seconds=time.perf_counter() - t0)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the (slow, ~minutes) naive reference")
    ap.add_argument("--compare", metavar="REF", help="time the talk's pair here and at the git commit REF")
    ap.add_argument("--pair-json", action="store_true", help=argparse.SUPPRESS)
    return ap


def pair_timings(repeat: int) -> dict:
    """Cold and warm times (s, best of ``repeat``) of the talk's pair, with the API of kdlab 0.2
    and later (``solve(data, teacher, student[, init=])``)."""
    out = {}
    for name, st in STUDENTS.items():
        cold, res = best_of(lambda: solve(DATA, TEACHER, st), repeat)
        warm, _ = best_of(lambda: solve(DATA.replace(alpha=2.05), TEACHER, st, init=res), repeat)
        out[name] = {"cold": cold, "warm": warm, "gen_error": res.student.gen_error}
    return out


def compare(ref: str, repeat: int, rounds: int = 3) -> None:
    """This checkout against the commit ``ref``: each in fresh processes, alternately."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "ref"
        subprocess.run(["git", "-C", str(here), "worktree", "add", "--detach", str(wt), ref], check=True,
                       capture_output=True)
        try:
            best: dict = {}
            for _ in range(rounds):
                for label, src in (("this checkout", here / "src"), (ref, wt / "src")):
                    env = {**os.environ, "PYTHONPATH": str(src)}
                    r = subprocess.run([sys.executable, __file__, "--pair-json", "--repeat", str(repeat)],
                                       capture_output=True, text=True, env=env, check=True)
                    for name, t in json.loads(r.stdout.splitlines()[-1]).items():
                        b = best.setdefault(label, {}).setdefault(name, dict(t))
                        b["cold"], b["warm"] = min(b["cold"], t["cold"]), min(b["warm"], t["warm"])
        finally:
            subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(wt)], capture_output=True)
    print(f"the talk's pair (teacher + student, alpha = 2), best of {rounds} x {repeat} in fresh processes:")
    for name in STUDENTS:
        a, b = best["this checkout"][name], best[ref][name]
        print(f"  {name:20s} cold {a['cold'] * 1e3:6.1f} ms here vs {b['cold'] * 1e3:6.1f} ms at {ref}; "
              f"warm {a['warm'] * 1e3:6.1f} vs {b['warm'] * 1e3:6.1f} ms; "
              f"|eps_g difference| {abs(a['gen_error'] - b['gen_error']):.1e}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    R = args.repeat
    if args.pair_json:
        import json

        print(json.dumps(pair_timings(R)))
        return
    if args.compare:
        compare(args.compare, R)
        return
    print(f"kdlab theory benchmarks (best of {R}, 1 BLAS thread, {os.cpu_count()} cores)")

    # teacher point
    t_cold, res_t = best_of(lambda: solve(DATA, TEACHER), R)
    t_warm, _ = best_of(lambda: solve(DATA, TEACHER, init=res_t), R)
    t_bo, _ = best_of(lambda: solve(DATA, BayesOptimalTeacher()), R)
    print(f"teacher point (logistic, alpha=2, lam_t=0.1, rho=0.3): cold {t_cold * 1e3:6.2f} ms "
          f"[{res_t.status.iterations} map evaluations], warm {t_warm * 1e3:6.2f} ms; "
          f"Bayes-optimal (closed form) {t_bo * 1e3:.3f} ms   (target < 5 ms)")
    t_hard, res_h = best_of(lambda: solve(DATA, LogisticTeacher(lam=1e-3)), R)
    print(f"teacher point, hard (lam_t=1e-3, qt={res_h.teacher.q:.0f}): cold {t_hard * 1e3:6.2f} ms "
          f"[{res_h.status.iterations} evaluations]")

    # student point
    for name, st in STUDENTS.items():
        t_cold, res = best_of(lambda: solve(DATA, TEACHER, st), R)
        t_same, _ = best_of(lambda: solve(DATA, TEACHER, st, init=res), R)
        near = DATA.replace(alpha=2.05)
        t_near, rn = best_of(lambda: solve(near, TEACHER, st, init=res), R)
        print(f"student point ({name}, eta=0.5, teacher + student): cold {t_cold * 1e3:6.2f} ms "
              f"[{res.status.iterations} evals], warm same point {t_same * 1e3:5.2f} ms, "
              f"warm from alpha=2 to 2.05 {t_near * 1e3:5.2f} ms [{rn.status.iterations} evals]"
              f"   (targets < 50 ms cold, < 10 ms warm)")
    st = STUDENTS["chi=0.5,T=1"]
    t_bo_s, rb = best_of(lambda: solve(DATA, BayesOptimalTeacher(), st), R)
    print(f"student point (Bayes-optimal teacher, chi=0.5, T=1): cold {t_bo_s * 1e3:6.2f} ms")

    # curve
    for name, st in STUDENTS.items():
        t_curve, df = best_of(lambda: curve(DATA, TEACHER, st, along="alpha", values="0.5:5:50"), max(1, R // 2))
        print(f"50-point student curve along alpha in [0.5, 5] ({name}): {t_curve:.3f} s "
              f"({t_curve / 50 * 1e3:.1f} ms/point, all converged: {bool(df['status_converged'].all())})"
              f"   (target < 2 s)")
    t_curve, df = best_of(lambda: curve(DATA, TEACHER, STUDENTS["chi=0.5,T=1"], along="alpha",
                                        values="0.5:5:50", extrapolate=False), 1)
    print(f"  same curve without the secant predictor: {t_curve:.3f} s")

    if args.quick:
        return
    # naive reference
    print("naive reference (quad + minimize_scalar per integrand evaluation, brentq bias, damped 0.5) "
          "at the teacher point; this takes a few minutes ...", flush=True)
    nv = naive_teacher(DATA, TEACHER.lam, tol=1e-6)
    ours_t, ours = best_of(lambda: solve(DATA, TEACHER, tol=1e-6), R)
    ours_tight, _ = best_of(lambda: solve(DATA, TEACHER), R)
    eps_naive = gen_error(nv["mt"], nv["qt"], nv["bt"], DATA.delta, DATA.rho)
    print(f"  naive: {nv['seconds']:.1f} s, {nv['iterations']} iterations, converged={nv['converged']}, "
          f"eps_g={eps_naive:.7f} (kdlab {ours.teacher.gen_error:.7f}, |diff|="
          f"{abs(eps_naive - ours.teacher.gen_error):.1e})")
    print(f"  kdlab at the same tolerance (1e-6): {ours_t * 1e3:.2f} ms -> ratio {nv['seconds'] / ours_t:,.0f}x; "
          f"kdlab at tol 1e-10: {ours_tight * 1e3:.2f} ms -> ratio {nv['seconds'] / ours_tight:,.0f}x")


if __name__ == "__main__":
    main()
