"""``kdlab reproduce`` (or ``kdlab study all``) end to end, and against an older commit.

Run: ``python benchmarks/bench_reproduce.py [--quick] [--study] [--n-jobs N] [--compare REF]``.

Times the default run (or ``--quick``; ``--study``: ``kdlab study all``) in a fresh temporary
folder without cache, with the default number of workers (or ``--n-jobs``), and prints the
verdicts. ``--compare REF`` first runs the code of commit ``REF`` (a ``git worktree`` of it in a
temporary folder, removed at the end), then this checkout's, one after the other on the same
machine, and reports both times with the load average before and after each, whether every
verdict line is the same, the largest move of a simulated value in standard errors of its
point (``|new - old| / s.e.``, over every table column that has a ``<column>_stderr``) and the
largest relative change of every other number.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Columns that say how a number was computed (timings, keys, iteration counts, solver messages).
NOT_RESULTS = re.compile(r"^(elapsed_s|key|teacher_fits|status_(iterations|residual|message)|quad_.*|.*_iterations"
                         r"|optimize_evals)$")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the --quick variant")
    ap.add_argument("--study", action="store_true", help="kdlab study all instead of kdlab reproduce")
    ap.add_argument("--n-jobs", type=int, default=None, help="workers (default: the command's default)")
    ap.add_argument("--compare", metavar="REF", default=None,
                    help="also run the code of commit REF first and compare times, verdicts and tables")
    return ap


def _command(args, out: str) -> list:
    cmd = ["study", "all"] if args.study else ["reproduce"]
    cmd += ["--out", out, "--quiet", "--no-cache"] + (["--quick"] if args.quick else [])
    return cmd + ([] if args.n_jobs is None else ["--n-jobs", str(args.n_jobs)])


def run(src: Path, args, out: str) -> dict:
    """One run of the command with the package at ``src``: wall clock, loads, verdict lines."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kdlab", *_command(args, out)], capture_output=True, text=True,
                          env=env, cwd=out)
    wall = time.perf_counter() - t0
    lines = [ln.replace(out, "OUT") for ln in proc.stdout.splitlines()
             if ln.strip() and "finished in" not in ln and not ln.lstrip().startswith(("Outputs in", "report:"))
             and ":" in ln and not re.search(r"\.(png|pdf|csv|parquet)\b", ln)]
    return {"wall": wall, "load_before": load0, "load_after": os.getloadavg(), "rc": proc.returncode,
            "verdicts": lines, "stderr": proc.stderr[-2000:], "stdout": proc.stdout}


def _tables(out: Path) -> dict:
    return {str(p.relative_to(out)): p for p in sorted(out.rglob("*.parquet")) if "cache" not in p.parts}


def compare_tables(old: Path, new: Path) -> dict:
    """Largest move of a simulated value in s.e. of its point, largest relative change of the
    other numbers, and the tables whose shape or labels differ."""
    import numpy as np
    import pandas as pd

    a_t, b_t = _tables(old), _tables(new)
    worst_z = (0.0, "")
    worst_rel = (0.0, "")
    problems = [f"only in the old run: {n}" for n in sorted(set(a_t) - set(b_t))]
    problems += [f"only in the new run: {n}" for n in sorted(set(b_t) - set(a_t))]
    n_sim = 0
    for name in sorted(set(a_t) & set(b_t)):
        a, b = pd.read_parquet(a_t[name]), pd.read_parquet(b_t[name])
        if len(a) != len(b):
            problems.append(f"{name}: {len(a)} rows before, {len(b)} now")
            continue
        for col in a.columns:
            if col not in b.columns or NOT_RESULTS.match(col):
                continue
            x, y = a[col], b[col]
            if not (pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)):
                if list(x.astype(str)) != list(y.astype(str)):
                    problems.append(f"{name}: column {col} differs")
                continue
            x, y = x.astype(float).to_numpy(), pd.to_numeric(y, errors="coerce").astype(float).to_numpy()
            se_col = f"{col}_stderr"
            if se_col in a.columns:
                se = a[se_col].astype(float).to_numpy()
                ok = np.isfinite(se) & (se > 0) & np.isfinite(x) & np.isfinite(y)
                n_sim += int(ok.sum())
                if ok.any():
                    z = np.abs(y - x)[ok] / se[ok]
                    i = int(np.argmax(z))
                    if z[i] > worst_z[0]:
                        worst_z = (float(z[i]), f"{name}: {col}, row {int(np.flatnonzero(ok)[i])}")
                same_nan = np.isnan(x) == np.isnan(y)
                if not same_nan.all():
                    problems.append(f"{name}: {col} is NaN in one run only")
                continue
            both = np.isfinite(x) & np.isfinite(y)
            if (np.isfinite(x) != np.isfinite(y)).any():
                problems.append(f"{name}: {col} is finite in one run only")
            if both.any():
                rel = np.abs(y - x)[both] / np.maximum(np.abs(x[both]), 1e-12)
                i = int(np.argmax(rel))
                if rel[i] > worst_rel[0]:
                    worst_rel = (float(rel[i]), f"{name}: {col}, row {int(np.flatnonzero(both)[i])}")
    return {"z": worst_z, "rel": worst_rel, "problems": problems, "n_sim": n_sim}


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _load(x) -> str:
    return " ".join(f"{v:.2f}" for v in x)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    what = ("kdlab study all" if args.study else "kdlab reproduce") + (" --quick" if args.quick else "")
    what += "" if args.n_jobs is None else f" --n-jobs {args.n_jobs}"
    with tempfile.TemporaryDirectory(prefix="kdlab-bench-") as tmp:
        tmp = Path(tmp)
        runs = {}
        if args.compare:
            old_src = tmp / "old"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_src), args.compare],
                           check=True, capture_output=True, text=True)
            try:
                (tmp / "out-old").mkdir()
                runs["old"] = run(old_src / "src", args, str(tmp / "out-old"))
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_src)],
                               capture_output=True, text=True)
        (tmp / "out-new").mkdir()
        runs["new"] = run(ROOT / "src", args, str(tmp / "out-new"))
        cmp_ = compare_tables(tmp / "out-old", tmp / "out-new") if "old" in runs else None
    print(f"{what}, no cache; machine: {_machine()}")
    for label, r in runs.items():
        code = f"commit {args.compare}" if label == "old" else "this checkout"
        print(f"  {label} ({code}): {r['wall']:.1f} s wall clock, exit status {r['rc']}; load average "
              f"{_load(r['load_before'])} before, {_load(r['load_after'])} after")
    if "old" in runs:
        print(f"  speed-up old / new: {runs['old']['wall'] / runs['new']['wall']:.2f}x")
        same = runs["old"]["verdicts"] == runs["new"]["verdicts"]
        print(f"  verdict lines: {'all the same' if same else 'DIFFERENT'} ({len(runs['new']['verdicts'])} lines)")
        if not same:
            import difflib

            for ln in difflib.unified_diff(runs["old"]["verdicts"], runs["new"]["verdicts"], "old", "new", lineterm=""):
                print("    " + ln)
        z, where = cmp_["z"]
        print(f"  largest move of a simulated value: {z:.3g} s.e. ({where or 'none'}; {cmp_['n_sim']} values compared)")
        rel, where = cmp_["rel"]
        print(f"  largest relative change of any other number: {rel:.3g} ({where or 'none'})")
        for p in cmp_["problems"][:20]:
            print(f"  table difference: {p}")
    else:
        print("\n".join("  " + v for v in runs["new"]["verdicts"]))
    bad = [r for r in runs.values() if r["rc"]]
    for r in bad:
        print(r["stderr"], file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
