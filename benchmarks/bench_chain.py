"""Theory benchmarks for chains of stages. Run: ``python benchmarks/bench_chain.py [--repeat R] [--quick]``.

Targets on the 2-core reference machine, cold solves (each configuration in a fresh process:
no cached rules, no warm start): a Fresh stage adds < 20 ms; 3 stages on one training set
< 0.5 s; 4 stages on one set < 5 s. Prints a table: configuration, seconds (best of
``--repeat`` fresh processes), whether it converged, and the target. ``--quick``: one process
per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

S = "Student"
CONFIGS = {
    # the generic per-stage path for the teacher and the pair (references for "a Fresh stage adds")
    "T (generic map)": ("DATA", "[T]", True),
    "T + S (generic map)": ("DATA", f"[T, {S}(eta=0.5, chi=0.5, lam=0.1)]", True),
    "T + S + Fresh": ("DATA", f"[T, {S}(eta=0.5, chi=0.5, lam=0.1), "
                              f"{S}(eta=0.7, chi=0.5, temperature=2.0, lam=0.1, data=Fresh(alpha=3.0))]", False),
    "T + 3 Fresh": ("DATA", f"[T] + [{S}(eta=0.7, chi=0.5, lam=0.1, data=Fresh(alpha=2.0))] * 3", False),
    "3 on one set": ("DATA", f"[T, {S}(eta=0.7, chi=0.5, lam=0.1), "
                             f"{S}(eta=0.7, chi=0.8, temperature=2.0, lam=0.05)]", False),
    "4 on one set": ("DATA", f"[T] + [{S}(eta=0.7, chi=0.5, lam=0.1)] * 3", False),
    "3 on one set, theta = 0.2": ("DATA.replace(label_noise=0.2)",
                                  f"[T, {S}(eta=0.5, chi=0.5, lam=0.1), {S}(eta=0.7, chi=0.5, lam=0.1)]", False),
    "3 on one set, hard middle": ("DATA", f"[T, {S}(eta=0.7, chi=1.0, temperature=0.0, lam=0.1), "
                                          f"{S}(eta=0.7, chi=0.5, lam=0.1)]", False),
    "T, F, S, F(hard), S, theta = 0.1": (
        "DATA.replace(label_noise=0.1)",
        f"[T, {S}(eta=0.7, chi=0.5, lam=0.1, data=Fresh(alpha=3.0)), {S}(eta=0.7, chi=0.5, temperature=2.0, lam=0.1), "
        f"{S}(eta=0.8, chi=1.0, temperature=0.0, lam=0.1, data=Fresh(alpha=2.0)), {S}(eta=0.8, chi=0.5, lam=0.1)]",
        False),
}
TARGETS = {"3 on one set": 0.5, "4 on one set": 5.0}

CODE = """
import time, json
from kdlab import GaussianMixture, LogisticTeacher, Student
from kdlab.problem import Fresh, Problem
from kdlab.theory import solve
from kdlab.theory.chain import solve_chain
DATA = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
T = LogisticTeacher(lam=0.1)
data, chain = {data}, {chain}
t = time.perf_counter()
r = solve_chain(Problem(data, tuple(chain))) if {generic} else solve(data, chain)
print(json.dumps(dict(seconds=time.perf_counter() - t, converged=bool(r.status.converged))))
"""


def cold(data: str, chain: str, generic: bool, repeat: int):
    best, ok = float("inf"), True
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CODE.format(data=data, chain=chain, generic=generic)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        best, ok = min(best, r["seconds"]), ok and r["converged"]
    return best, ok


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per configuration (best is kept)")
    ap.add_argument("--quick", action="store_true", help="one fresh process per configuration (--repeat 1)")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.repeat = 1
    rows = {name: cold(*cfg, args.repeat) for name, cfg in CONFIGS.items()}
    print("| configuration | cold s | converged | target |")
    print("|---|---|---|---|")
    for name, (sec, ok) in rows.items():
        tgt = TARGETS.get(name)
        mark = "" if tgt is None else f"< {tgt:g} s: {'met' if sec < tgt else 'MISSED'}"
        print(f"| {name} | {sec:.3f} | {ok} | {mark} |")
    base = rows["T + S (generic map)"][0]
    add = rows["T + S + Fresh"][0] - base
    add3 = (rows["T + 3 Fresh"][0] - rows["T (generic map)"][0]) / 3
    print(f"\nA Fresh stage adds {1e3 * add:.1f} ms (T + S + Fresh vs T + S); "
          f"{1e3 * add3:.1f} ms per Fresh stage in T + 3 Fresh (vs T alone, averaged); "
          f"target < 20 ms: {'met' if max(add, add3) < 0.02 else 'MISSED'}")


if __name__ == "__main__":
    main()
