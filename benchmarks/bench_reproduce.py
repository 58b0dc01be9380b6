"""``kdlab reproduce`` end to end. Run: ``python benchmarks/bench_reproduce.py [--quick]``.

Times the default run (or ``--quick``) in a fresh temporary folder without cache, with the
default number of workers, and prints the verdicts' summary lines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "kdlab", "reproduce", "--out", out, "--quiet", "--no-cache"]
        if args.quick:
            cmd.append("--quick")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
    print(proc.stdout.strip())
    print(f"kdlab reproduce{' --quick' if args.quick else ''}: {dt:.1f} s wall clock (exit status {proc.returncode})")
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
        sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
