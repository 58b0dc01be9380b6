"""Run every benchmark once and write ``benchmarks/RESULTS.md`` (the README's performance table).

Run: ``python benchmarks/run_all.py [--quick]``. Each benchmark runs in its own process, one
after the other; the file states the machine (CPU, cores, memory, load), the date and the
versions, and holds each benchmark's full output.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [("Simulation", "bench_simulate.py", []), ("Theory: teacher and student", "bench_theory.py", []),
           ("Theory: chains of stages", "bench_chain.py", []),
           ("kdlab reproduce", "bench_reproduce.py", [])]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
        mem = f", {kb / 2**20:.0f} GiB memory"
    except (OSError, StopIteration, ValueError):
        pass
    load = ", load average %.2f %.2f %.2f at the start" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    import numpy
    import scipy

    return (f"{cpu}, {os.cpu_count()} cores{mem}{load}; Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, scipy {scipy.__version__}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="pass --quick to the benchmarks that have it")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    lines = ["# Benchmark results", "",
             f"Made by `python benchmarks/run_all.py{' --quick' if args.quick else ''}` on "
             f"{datetime.date.today().isoformat()}.", "", f"Machine: {_machine()}.", ""]
    for title, script, extra in BENCHES:
        path = HERE / script
        if not path.exists():
            continue
        quick = ["--quick"] if args.quick and script != "bench_simulate.py" else []
        cmd = [sys.executable, str(path), *extra, *quick]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        print(f"{script}: exit {proc.returncode}, {dt:.0f} s", file=sys.stderr)
        lines += [f"## {title}", "", f"`python benchmarks/{script}{' ' + ' '.join(cmd[2:]) if cmd[2:] else ''}` "
                  f"(exit status {proc.returncode}, {dt:.0f} s):", "", "```", proc.stdout.rstrip(), "```", ""]
        if proc.returncode != 0:
            lines += ["stderr:", "", "```", proc.stderr[-3000:].rstrip(), "```", ""]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
