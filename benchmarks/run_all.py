"""Run every benchmark once and write ``benchmarks/RESULTS.md`` (the README's performance table).

Run: ``python benchmarks/run_all.py [--quick]``. Each benchmark runs in its own process, one
after the other, with the interpreter running this script (``sys.executable``) and this
checkout's ``src`` first on its ``PYTHONPATH`` (so it measures this checkout, installed or
not); every benchmark takes ``--quick``. The file states the machine (CPU, cores, memory,
load), the date and the versions, and holds each benchmark's full output. If a benchmark
fails, ``RESULTS.md`` is left as it was, its error is printed, and the exit status is 1.
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
SRC = HERE.parent / "src"
BENCHES = [("Simulation", "bench_simulate.py", []), ("Theory: teacher and student", "bench_theory.py", []),
           ("Theory at depth", "bench_depth.py", []),
           ("Theory: chains of stages", "bench_chain.py", []),
           ("K classes", "bench_multiclass.py", []),
           ("kdlab reproduce", "bench_reproduce.py", [])]


def flags(extra, quick: bool) -> list:
    """The arguments run_all passes to a benchmark (each accepts them: tests/test_benchmarks.py)."""
    return [*extra, *(["--quick"] if quick else [])]


def child_env() -> dict:
    """The benchmarks' environment: this checkout's ``src`` first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


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
    versions = []
    for mod in ("numpy", "scipy"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            versions.append(f"{mod} not importable")
    return f"{cpu}, {os.cpu_count()} cores{mem}{load}; Python {platform.python_version()}, " + ", ".join(versions)


def run(benches, here: Path, out: Path, quick: bool) -> int:
    """Run ``benches`` (title, script in ``here``, extra arguments); write ``out`` only if every
    one succeeded. Returns the exit status (0, or 1 if any failed)."""
    lines = ["# Benchmark results", "",
             f"Made by `python benchmarks/run_all.py{' --quick' if quick else ''}` on "
             f"{datetime.date.today().isoformat()}.", "", f"Machine: {_machine()}.", ""]
    failed = []
    for title, script, extra in benches:
        path = here / script
        if not path.exists():
            failed.append(f"{script}: missing")
            continue
        cmd = [sys.executable, str(path), *flags(extra, quick)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
        dt = time.perf_counter() - t0
        print(f"{script}: exit {proc.returncode}, {dt:.0f} s", file=sys.stderr)
        if proc.returncode != 0:
            failed.append(f"{script}: exit status {proc.returncode}\n{proc.stderr[-3000:].rstrip()}")
        lines += [f"## {title}", "", f"`python benchmarks/{script}{' ' + ' '.join(cmd[2:]) if cmd[2:] else ''}` "
                  f"(exit status {proc.returncode}, {dt:.0f} s):", "", "```", proc.stdout.rstrip(), "```", ""]
    if failed:
        print(f"{len(failed)} benchmark(s) failed; {out} is left as it was:", file=sys.stderr)
        for f in failed:
            print(f, file=sys.stderr)
        return 1
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="pass --quick to every benchmark (a smoke run)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args(argv)
    return run(BENCHES, HERE, args.out, args.quick)


if __name__ == "__main__":
    sys.exit(main())
