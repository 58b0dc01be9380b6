"""Where ``kdlab reproduce`` and ``kdlab study all`` spend their time, by phase.

Run: ``python benchmarks/profile_phases.py [reproduce|study] [--quick] [--only NAME ...]``.

Runs the command in this process with one worker (``--n-jobs 1``: every phase runs here, so it
can be timed) and no cache, with timing wrappers around the functions of each phase:

* ``theory solves``: :func:`kdlab.theory.solve` outside a search; ``tuning solves``: inside
  one; ``tuning``: the searches' own work (:mod:`kdlab.runs.tuning`);
* ``sim fit teacher``: fits on labels alone (:func:`kdlab.simulation.erm.fit_linear` without
  label sources), ``sim fit student``: fits with sources; ``sim sampling``: drawing the sets;
  ``sim measure``: the observables of a fitted stage;
* ``I/O``: tables, JSON, store entries; ``plotting``: drawing and saving figures;
* ``other``: the rest of the wall clock (claims, reports, bookkeeping).

Each phase's time is *exclusive* (a search's solves are not in its own row). It also
counts the fits, the solves, the solves that did not converge or raised (``failed``) and the
solves that :func:`kdlab.runs.tuning.solve_robust` retried. The serial total is the CPU work a
2-worker run shares between its workers. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections import defaultdict

PHASES = ("theory solves", "tuning solves", "tuning", "sim fit teacher", "sim fit student", "sim sampling",
          "sim measure", "I/O", "plotting")

T = defaultdict(float)      # exclusive seconds per phase
N = defaultdict(int)        # calls per phase
C = defaultdict(int)        # counters: failed / retried solves
_stack: list = []           # [phase, child_seconds]


def _timed(phase_of, fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        phase = phase_of(a, k)
        if phase is None:
            return fn(*a, **k)
        frame = [phase, 0.0]
        _stack.append(frame)
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            dt = time.perf_counter() - t0
            _stack.pop()
            T[phase] += dt - frame[1]
            N[phase] += 1
            if _stack:
                _stack[-1][1] += dt
    wrapper.__kdlab_profiled__ = True
    return wrapper


def _in(phase) -> bool:
    return any(f[0] == phase for f in _stack)


def _solve_phase(a, k):
    if _in("theory solves") or _in("tuning solves"):
        return None  # a solver calling itself (a warm start, a refinement): counted once
    return "tuning solves" if _in("tuning") else "theory solves"


def _counted_solve(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            res = fn(*a, **k)
        except Exception:
            C["failed solves"] += 1
            raise
        if not getattr(getattr(res, "status", None), "converged", True):
            C["failed solves"] += 1
        return res
    return wrapper


def _counted_robust(fn):
    @functools.wraps(fn)
    def wrapper(solve, problem, **kw):
        calls = [0]

        def counting(*a, **k):
            calls[0] += 1
            return solve(*a, **k)
        try:
            return fn(counting, problem, **kw)
        finally:
            C["retried solves"] += max(0, calls[0] - 1)
    return wrapper


def _replace_everywhere(original, replacement) -> None:
    """Rebind ``original`` in every loaded kdlab module (``from x import f`` copies included)."""
    for name, mod in list(sys.modules.items()):
        if not (name == "kdlab" or name.startswith("kdlab.")) or mod is None:
            continue
        for attr, val in list(vars(mod).items()):
            if val is original:
                setattr(mod, attr, replacement)


def install() -> None:
    import importlib

    for m in ("kdlab.cli", "kdlab.talk._run", "kdlab.studies._run", "kdlab.runs.evaluate", "kdlab.runs.tuning",
              "kdlab.simulation.run", "kdlab.simulation.erm", "kdlab.io", "kdlab.reporting.plotting",
              "kdlab.runs.store", "kdlab.theory"):
        importlib.import_module(m)
    import kdlab.io as io
    import kdlab.reporting.plotting as plotting
    import kdlab.runs.store as store
    import kdlab.runs.tuning as tuning
    import kdlab.simulation.run as run
    import kdlab.theory as theory

    def const(p):
        return lambda a, k: p

    def fit_phase(a, k):
        return "sim fit teacher" if k.get("ut") is None else "sim fit student"

    solve = theory.solve
    _replace_everywhere(solve, _timed(_solve_phase, _counted_solve(solve)))
    _replace_everywhere(tuning.solve_robust, _counted_robust(tuning.solve_robust))
    for f in (tuning.optimal_lam, tuning.optimal_kd, tuning.optimal_stage):
        _replace_everywhere(f, _timed(const("tuning"), f))
    _replace_everywhere(run.fit_linear, _timed(fit_phase, run.fit_linear))
    for f in (run.sample_dataset, run.sample_fresh, run.sample_test):
        _replace_everywhere(f, _timed(const("sim sampling"), f))
    _replace_everywhere(run._measure, _timed(const("sim measure"), run._measure))
    for f in (io.write_table, io.write_json, store.write_entry):
        _replace_everywhere(f, _timed(const("I/O"), f))
    _replace_everywhere(plotting.save_figure, _timed(const("plotting"), plotting.save_figure))
    for modname in ("kdlab.talk._run", "kdlab.studies._run"):
        mod = sys.modules[modname]
        for attr in ("plot_figure", "_plot", "draw"):
            f = getattr(mod, attr, None)
            if callable(f):
                _replace_everywhere(f, _timed(const("plotting"), f))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("reproduce", "study"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    install()
    from typer.testing import CliRunner

    from kdlab.cli import app

    with tempfile.TemporaryDirectory() as out:
        cmd = (["reproduce"] if args.what == "reproduce" else ["study", "all"])
        cmd += ["--out", out, "--no-cache", "--n-jobs", "1", "--quiet"] + (["--quick"] if args.quick else [])
        t0 = time.perf_counter()
        r = CliRunner().invoke(app, cmd)
        wall = time.perf_counter() - t0
    if r.exit_code:
        print(r.output[-3000:], file=sys.stderr)
        if r.exception is not None:
            raise r.exception
        return r.exit_code
    import os

    print(f"`kdlab {' '.join(cmd[:2] if args.what == 'study' else cmd[:1])}"
          f"{' --quick' if args.quick else ''} --no-cache --n-jobs 1`: {wall:.1f} s wall clock "
          f"(load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())})\n")
    print("| phase | seconds | share | calls |")
    print("|---|---:|---:|---:|")
    other = wall - sum(T.values())
    for p in (*PHASES, "other"):
        s = other if p == "other" else T[p]
        print(f"| {p} | {s:.1f} | {100 * s / wall:.0f}% | {'' if p == 'other' else N[p]} |")
    print(f"\nsimulation fits: {N['sim fit teacher']} teacher, {N['sim fit student']} student; theory solves: "
          f"{N['theory solves']} outside searches, {N['tuning solves']} in {N['tuning']} searches; failed: "
          f"{C['failed solves']}; solves retried by solve_robust: {C['retried solves']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
