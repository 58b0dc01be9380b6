"""Cached, resumable, parallel evaluation of tasks: one policy for sweep points and for calls.

:func:`run_cached` loads what the store already holds (each file validated,
:func:`kdlab.runs.store.read_entry`), claims the rest (a lease another live run honours),
computes what it claimed through the one executor (:func:`kdlab.runs.executor.execute`: in this
process, in joblib workers or on Dask; a dead worker's tasks retried once), writes every result
at once, and then waits for the tasks another live run claimed, taking them over when that
run's lease expires (saying on stderr what it waits for). A kill loses only the tasks in flight.
One progress bar (with the time remaining) counts every task, cached or computed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from ..errors import OutputError
from .executor import execute
from .store import CallTask, check_store, claim, claim_holder, entry_path, read_entry, release, write_entry

__all__ = ["run_cached", "Outcome", "CLAIM_POLL_S", "CLAIM_MESSAGE_S", "progress_bar"]

#: How often a run looks whether a task claimed by another run has been finished.
CLAIM_POLL_S = 0.2
#: How often, at most, a waiting run says what it waits for.
CLAIM_MESSAGE_S = 5.0


@dataclass
class Outcome:
    """What :func:`run_cached` got: ``values`` by key (a point's record, a call's rows), the
    ``failures`` ``[(key, message)]``, and whether the store could not be written."""

    values: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    store_error: Optional[str] = None
    unstored: int = 0
    computed: int = 0


def progress_bar(total: int, done: int, enabled: bool, desc: str, unit: str = "task"):
    """The progress display of a run (:func:`kdlab.progress.progress_bar`: a tqdm bar on a
    terminal, plain lines elsewhere)."""
    from ..progress import progress_bar as _bar

    return _bar(total, done, enabled, desc, unit)


def _say_waiting(n: int, holders: Sequence[Mapping[str, Any]], unit: str = "task") -> None:
    """One line on stderr: what this run waits for, and when it takes over."""
    import sys

    from tqdm.auto import tqdm

    from . import store as _store

    who = "another run"
    if holders:
        h = max(holders, key=lambda h: h["age"])
        who = (f"pid {h['pid']} on {h['host']}" if h.get("pid") is not None else "another run") \
            + f" (claim refreshed {h['age']:.0f} s ago)"
        others = len({(x.get("pid"), x.get("host")) for x in holders}) - 1
        if others > 0:
            who += f" and {others} other process(es)"
    tqdm.write(f"kdlab: waiting for {n} {unit}(s) claimed by {who}; a claim not refreshed for "
               f"{_store.CLAIM_LEASE_S:g} s is taken over", file=sys.stderr)


def run_cached(tasks: Sequence, *, store=None, chains: Optional[Callable[[list], list]] = None,
               n_jobs: Optional[int] = None, scheduler=None, progress: bool = True, desc: str = "",
               before_compute: Optional[Callable[[list], None]] = None, unit: str = "task") -> Outcome:
    """Evaluate ``tasks`` (:class:`~kdlab.runs.store.Task` or :class:`~kdlab.runs.store.CallTask`),
    reading and writing ``store`` (``None``: no cache). ``chains(todo)`` groups the tasks to
    compute into chains run in order (warm starts; default: one chain per task);
    ``before_compute(todo)`` runs once before anything is computed (e.g. a memory check).
    ``progress``: a flag, or a :class:`~kdlab.progress.SharedProgress` the tasks are added to."""
    out = Outcome()
    if store is not None:
        check_store(store)
        for t in tasks:
            if t.key in out.values:
                continue
            path = entry_path(store, t)
            if not (path.exists() or path.is_symlink()):
                continue
            value, why = read_entry(store, t)
            if value is None:
                _warn_invalid(path, why)
            else:
                out.values[t.key] = value
    todo, seen = [], set()
    for t in tasks:
        if t.key not in out.values and t.key not in seen:
            seen.add(t.key)
            todo.append(t)
    if before_compute is not None:
        before_compute(todo)
    by_key = {t.key: t for t in tasks}
    total = len({t.key for t in tasks})
    from ..progress import SharedProgress

    bar = (progress.part(total, total - len(todo)) if isinstance(progress, SharedProgress)
           else progress_bar(total, total - len(todo), progress, desc, unit))
    claimed: list = []

    def accept(o: dict) -> None:
        key = o["key"]
        if "error" in o:
            out.failures.append((key, o["error"]))
        else:
            value = o["record"]
            if store is not None and not o.get("stored"):
                if out.store_error is None:
                    try:
                        write_entry(store, by_key[key].as_dict(), value)
                    except OutputError as exc:
                        out.store_error = f"cannot write to the store {store}: {exc}"
                if out.store_error is not None:
                    out.unstored += 1
            out.values[key] = value
            out.computed += 1
        if store is not None and key in claimed:
            release(store, key)
        bar.update(1)

    def recover(t):
        if store is None:
            return None
        return read_entry(store, t)[0]

    def compute(ts, jobs, sched):
        if ts:
            groups = chains(ts) if chains is not None else [[t] for t in ts]
            execute(groups, accept, store=store, n_jobs=jobs, scheduler=sched, recover=recover)

    try:
        mine, others = todo, []
        if store is not None:
            mine, others = [], []
            for t in todo:
                if claim(store, t.key):
                    mine.append(t)
                    claimed.append(t.key)
                else:
                    others.append(t)
        compute(mine, n_jobs, scheduler)
        said = -math.inf
        while others:  # tasks another live run is computing: wait for them, or take them over
            still, holders = [], []
            for t in others:
                value, _ = read_entry(store, t)
                if value is not None:
                    accept({"key": t.key, "record": value, "stored": True})
                    continue
                holder = claim_holder(store, t.key)
                if holder is None and claim(store, t.key):
                    claimed.append(t.key)
                    compute([t], 1, None)
                    continue
                still.append(t)
                holders.append(holder or claim_holder(store, t.key))
            others = still
            if others:
                if time.monotonic() - said >= CLAIM_MESSAGE_S:
                    said = time.monotonic()
                    _say_waiting(len(others), [h for h in holders if h], "point" if unit == "pt" else unit)
                time.sleep(CLAIM_POLL_S)
    finally:
        bar.close()
        if store is not None:
            for k in claimed:
                release(store, k)
    return out


def _warn_invalid(path, reason: str) -> None:
    import warnings

    kind = "call" if path.parent.name == "calls" else "point"
    warnings.warn(f"invalid {kind} file {path}: {reason}; recomputing and replacing it", RuntimeWarning,
                  stacklevel=3)


# re-exported: a CallTask is what RunContext.map builds
__all__ += ["CallTask"]
