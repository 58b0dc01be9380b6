"""Theory at depth: deep chains on one training set and the model-collapse workflows (issue 19).

Run: ``python benchmarks/bench_depth.py [--repeat R] [--accuracy]``.

Each case is solved cold (a fresh process is not needed: the solver keeps no state between
calls), best of ``--repeat``. Targets on the 2-core reference machine: 8 soft stages on one set
< 30 s; accumulate with 5 generations < 30 s; replace with 20 generations < 2 s.

Accuracy of the integration, stated beside each time: the largest error estimate the solver
reports over the stages (tensor rules: half-rule difference; RQMC sets: the replicates'
standard error of the fixed point, relative to 1 + |x|), and with ``--accuracy`` the largest
change of any stage's eps_g and relative change of q when the case is solved again with
``quad_tol = 1e-8`` and ``qmc_tol = 1e-5`` (a reference at about 16 times the RQMC points).
``--rqmc-check`` compares RQMC with the tensor rule where both apply. One BLAS thread.
"""

from __future__ import annotations

import argparse
import math
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

from kdlab import GaussianMixture, LogisticTeacher, Problem, Student  # noqa: E402
from kdlab.theory import solve  # noqa: E402
from kdlab.workflows import accumulate, replace  # noqa: E402

DATA = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3, label_noise=0.2)
T = LogisticTeacher(lam=0.1)
CASES = {
    "8 soft stages on one set": (Problem(DATA, (T,) + tuple(Student(eta=1.0, chi=0.7, temperature=2.0, lam=0.05)
                                                           for _ in range(7))), 30.0),
    "accumulate, 5 generations (soft, T = 2)": (accumulate(DATA, 5, syn_alpha=1.0, temperature=2.0, lam=0.05,
                                                           teacher=T), 30.0),
    "accumulate, 5 generations (hard)": (accumulate(DATA, 5, syn_alpha=1.0, lam=0.05, teacher=T), None),
    "replace, 20 generations (hard)": (replace(DATA, 20), 2.0),
    "replace, 20 generations (soft, T = 2)": (replace(DATA, 20, temperature=2.0), 2.0),
}


def errors(res) -> str:
    quad = max((v for k, v in res.extra.items() if k.startswith("quad_error_stage") and math.isfinite(v)), default=0)
    qmc = [v for k, v in res.extra.items() if k.startswith("qmc_error_stage")]
    text = f"half-rule <= {quad:.1e}"
    if qmc:
        text += f", RQMC s.e. <= {max(qmc):.1e} ({len(qmc)} stages)"
    return text


def rqmc_check():
    """A 4-stage soft chain on one set, where the tensor rule is accurate to 1e-8, solved again
    with RQMC forced: the reported standard error beside the actual error, at two tolerances."""
    from kdlab.theory import stage

    p = Problem(GaussianMixture(alpha=2.0, delta=1.0, label_noise=0.2),
                (T,) + tuple(Student(eta=1.0, chi=0.5, temperature=2.0, lam=0.1) for _ in range(3)))
    ref = solve(p)
    print("| qmc_tol | RQMC points | reported s.e. (stage 3) | actual rel. error of q | of m | abs. error of eps_g |")
    print("|---|---|---|---|---|---|")
    saved = stage.TENSOR_MAX_DIM
    try:
        stage.TENSOR_MAX_DIM = 3
        for tol in (1e-4, 1e-5):
            r = solve(p, qmc_tol=tol)
            msg = r.stage_status[3].message
            pts = msg[msg.index("RQMC ") + 5:].split(" ")[0]
            a, b = r.stages[3], ref.stages[3]
            print(f"| {tol:g} | {pts} | {r.extra['qmc_error_stage3']:.1e} | {abs(a.q / b.q - 1):.1e} | "
                  f"{abs(a.m / b.m - 1):.1e} | {abs(a.gen_error - b.gen_error):.1e} |")
    finally:
        stage.TENSOR_MAX_DIM = saved


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--accuracy", action="store_true", help="also solve each case with tighter tolerances")
    ap.add_argument("--only", default=None, help="run the cases whose name contains this text")
    ap.add_argument("--quick", action="store_true", help="the replace cases only (seconds)")
    ap.add_argument("--rqmc-check", action="store_true", help="RQMC against the tensor rule on a 4-stage chain")
    return ap


def main():
    args = build_parser().parse_args()
    if args.rqmc_check:
        rqmc_check()
        return
    if args.quick and args.only is None:
        args.only = "replace"
    print(f"| case | stages | cold solve (s) | target | status | integration error (reported) |"
          f"{' eps_g / q vs tighter |' if args.accuracy else ''}")
    print(f"|---|---|---|---|---|---|{'---|' if args.accuracy else ''}")
    for name, (problem, target) in CASES.items():
        if args.only and args.only not in name:
            continue
        best, res = math.inf, None
        for _ in range(args.repeat):
            t = time.perf_counter()
            res = solve(problem)
            best = min(best, time.perf_counter() - t)
        n_const = sum(s.code.value == "constant" for s in res.stage_status)
        status = res.status.code.value + (f" ({n_const} constant)" if n_const else "")
        row = (f"| {name} | {len(problem.stages)} | {best:.2f} | {'< %g' % target if target else '-'} | {status} "
               f"| {errors(res)} |")
        if args.accuracy:
            ref = solve(problem, quad_tol=1e-8, qmc_tol=1e-5)
            de = max(abs(a.gen_error - b.gen_error) for a, b in zip(res.stages, ref.stages))
            dq = max(abs(a.q - b.q) / abs(b.q) if b.q else abs(a.q) for a, b in zip(res.stages, ref.stages))
            row += f" {de:.1e} / {dq:.1e} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
