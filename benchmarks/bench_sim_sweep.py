"""Simulation sweeps as the talk runs them, in CPU seconds, against an older commit.

Run: ``python benchmarks/bench_sim_sweep.py [--quick] [--compare REF] [--reps K]``.

Two workloads, each one sweep evaluated in one process (``n_jobs=1``), timed in process CPU
seconds (less sensitive than the wall clock to other work on the machine) and wall seconds:

* ``regularization``: the teacher alone at alpha = 10 for the five ridges of the figure;
* ``double-descent``: the five (chi, T) students of the figure at alpha = 0.5, lam = 1e-4.

``--compare REF`` runs the same workloads with the code of commit ``REF`` (a ``git worktree`` in
a temporary folder), alternating old and new ``--reps`` times; the best of each is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKLOADS = {
    "regularization": ({"alpha": [10.0], "teacher_lam": [1e-3, 1e-2, 1e-1, 1.0, 10.0], "student": False},
                       {"rho": 0.3, "delta": 1.0, "teacher": "logistic"}),
    "double-descent": ([{"alpha": [0.5], "chi": [c], "temperature": [T]}
                        for c, T in [(0.0, 1.0), (0.2, 1.0), (0.5, 1.0), (1.0, 1.0), (0.5, 3.0)]],
                       {"rho": 0.3, "delta": 1.0, "eta": 0.5, "lam": 1e-4, "teacher": "logistic", "teacher_lam": 0.1}),
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 300, 2 seeds (default: N = 1000, 4 seeds)")
    ap.add_argument("--compare", metavar="REF", default=None, help="also time the code of commit REF")
    ap.add_argument("--reps", type=int, default=2, help="alternations of old and new (best of them)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return ap


def child(spec: str) -> None:
    """In a subprocess with the code to time first on the path: one JSON line of timings."""
    from threadpoolctl import threadpool_limits

    from kdlab.runs.sweep import Sweep

    n, seeds = (int(x) for x in spec.split(","))
    out = {}
    with threadpool_limits(1):
        for name, (grid, base) in WORKLOADS.items():
            sw = Sweep(grid, base=base, backend="simulate", n_features=n, seeds=seeds)
            c0, t0 = time.process_time(), time.perf_counter()
            sw.run(n_jobs=1, progress=False)
            out[name] = (time.process_time() - c0, time.perf_counter() - t0)
    print(json.dumps(out))


def measure(src: Path, spec: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", spec], capture_output=True,
                       text=True, env=env, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    spec = "300,2" if args.quick else "1000,4"
    best: dict = {}
    with tempfile.TemporaryDirectory(prefix="kdlab-bench-") as tmp:
        codes = {"new": ROOT / "src"}
        if args.compare:
            old = Path(tmp) / "old"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.compare],
                           check=True, capture_output=True, text=True)
            codes = {"old": old / "src", **codes}
        try:
            loads = [os.getloadavg()]
            for _ in range(max(1, args.reps)):
                for label, src in codes.items():
                    for name, (cpu, wall) in measure(src, spec).items():
                        b = best.setdefault((label, name), [cpu, wall])
                        b[0], b[1] = min(b[0], cpu), min(b[1], wall)
            loads.append(os.getloadavg())
        finally:
            if args.compare:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(Path(tmp) / "old")],
                               capture_output=True, text=True)
    n, seeds = spec.split(",")
    print(f"simulation sweeps, N = {n}, {seeds} seeds, 1 process, best of {args.reps}; load average "
          f"{' '.join(f'{x:.2f}' for x in loads[0])} before, {' '.join(f'{x:.2f}' for x in loads[1])} after")
    for name in WORKLOADS:
        row = [f"  {name}:"]
        for label in codes:
            cpu, wall = best[(label, name)]
            row.append(f"{label}{f' ({args.compare})' if label == 'old' else ''} {cpu:.2f} s CPU ({wall:.2f} s wall)")
        if "old" in codes:
            row.append(f"CPU ratio old / new {best[('old', name)][0] / best[('new', name)][0]:.2f}x")
        print("  ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
