"""How a pipeline (the talk, a study) runs its computations: one store, one executor.

:class:`RunContext` holds the cache ``store`` (``None``: no cache), ``n_jobs``, a Dask
``scheduler`` and whether to show progress; :meth:`RunContext.run` evaluates a sweep
(:meth:`RunContext.run_many` several as one) and
:meth:`RunContext.map` a list of calls ``fn(**args)`` (each returning table rows), both cached
and resumable through :func:`kdlab.runs.cached.run_cached` with the same key rule and the same
worker, retry and progress policy. :func:`as_done` computes independent parts of a pipeline (the
talk's figures) at once, so that the workers are not idle while one part waits for its own
previous sweep.
"""

from __future__ import annotations

import contextvars
import json
import math
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import pandas as pd

from ..errors import SweepError
from ..io import dumps_json
from .cached import run_cached
from .store import CallTask, call_fingerprint, call_key
from .sweep import Sweep, run_sweeps

__all__ = ["RunContext", "fn_name", "as_done"]


def fn_name(fn: Callable) -> str:
    """``module:name`` of a module-level function (how a call task names it: its key, the worker
    that imports it)."""
    name = f"{fn.__module__}:{fn.__qualname__}"
    if "<" in fn.__qualname__ or "." in fn.__qualname__:
        raise ValueError(f"a call task needs a module-level function, got {name}")
    return name


@dataclass
class RunContext:
    """Cache ``store`` (None: no cache), ``n_jobs``, Dask ``scheduler``, ``progress``;
    ``overlap``: with workers, compute independent parts at once (:meth:`together`)."""

    store: Optional[Path] = None
    n_jobs: Optional[int] = None
    scheduler: Any = None
    progress: bool = True
    overlap: bool = True

    @property
    def parallel(self) -> bool:
        """Whether its sweeps run in worker processes or on a Dask cluster (not in this process)."""
        from .executor import n_workers

        return self.scheduler is not None or n_workers(self.n_jobs) > 1

    def together(self, *calls: Callable[[], Any]) -> list:
        """``[call() for call in calls]``: computed at once when the run has workers (their sweeps
        share them, :func:`as_done`; the same values), one after the other otherwise. For the
        independent sweeps of one pipeline, so that the workers are not idle at each barrier."""
        if not (self.overlap and self.parallel) or len(calls) < 2:
            return [call() for call in calls]
        out = {name: value for name, value, _ in as_done({str(i): call for i, call in enumerate(calls)})}
        return [out[str(i)] for i in range(len(calls))]

    def _say(self, label: str, n: int, what: str) -> None:
        if self.progress is True and label:  # not inside a shared display (parts computed at once)
            print(f"  - {label}: {n} {what}", file=sys.stderr, flush=True)

    def run(self, sweep: Sweep, label: str = "") -> pd.DataFrame:
        """The sweep's table (points cached in the store)."""
        self._say(label, len(sweep.tasks), f"point(s) [{sweep.backend}]")
        return sweep.run(self.store, n_jobs=self.n_jobs, scheduler=self.scheduler, progress=self.progress)

    def run_many(self, sweeps: Sequence[Sweep], label: str = "") -> list[pd.DataFrame]:
        """The tables of several sweeps run as one (:func:`kdlab.runs.sweep.run_sweeps`: their
        simulation points on the same data share each seed's draws), each as :meth:`run` of it."""
        self._say(label, len({t.key for s in sweeps for t in s.tasks}), f"point(s) [{sweeps[0].backend}]")
        return run_sweeps(sweeps, self.store, n_jobs=self.n_jobs, scheduler=self.scheduler, progress=self.progress)

    def map(self, fn: Callable, items: Sequence[Mapping[str, Any]], label: str = "") -> pd.DataFrame:
        """``fn(**args)`` for every ``args`` of ``items`` (``fn`` a module-level function returning
        a list of row dicts; ``args`` JSON values), each call cached as one task; all rows, in
        the order of ``items``, as one table. A call that fails raises
        :class:`~kdlab.errors.SweepError` (the others are kept in the store)."""
        name = fn_name(fn)
        fp = call_fingerprint()
        tasks = []
        for i, a in enumerate(items):
            args = json.loads(dumps_json(dict(a), indent=None))
            tasks.append(CallTask(name, args, call_key(name, args, fp), i, fp))
        self._say(label, len(tasks), "task(s)")
        out = run_cached(tasks, store=self.store, n_jobs=self.n_jobs, scheduler=self.scheduler,
                         progress=self.progress, desc=label or name)
        if out.failures:
            key, msg = out.failures[0]
            raise SweepError(f"{len(out.failures)} of {len(tasks)} tasks of {name} failed; first: {msg}",
                             out.failures)
        # the rows as they read back from the store (JSON values, None as NaN), computed or cached
        rows = json.loads(json.dumps([r for t in tasks for r in out.values[t.key]], default=_json_default))
        return pd.DataFrame([{k: (math.nan if v is None else v) for k, v in r.items()} for r in rows])


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"a task's rows must hold JSON values, got {o!r}")


#: How long a failed :func:`as_done` waits for its other calls to stop.
CANCEL_WAIT_S = 10.0


def as_done(calls: Mapping[str, Callable[[], Any]]) -> Iterator[tuple[str, Any, float]]:
    """Run every ``calls[name]()`` at once, each in its own thread of this process, and yield
    ``(name, value, seconds)`` as each finishes (in the calling thread: e.g. to draw a figure,
    which matplotlib allows in one thread only, while the others compute). Their sweeps share
    the run's workers (the one executor: :func:`kdlab.runs.executor.execute`), so a worker is
    not idle while one call waits for its own previous sweep; each sweep's points, chains and
    draws are the same as when the calls run one after the other (the results are bit for bit
    the same; this process computes with one BLAS thread meanwhile, as the workers do:
    :func:`kdlab.runs.executor.one_blas_thread`). The first call that raises: its exception is
    raised here, after the others stopped at their next output
    (:func:`kdlab.runs.executor.check_cancelled`: their workers are stopped, nothing is
    retried) or :data:`CANCEL_WAIT_S` passed (the threads are daemons: a Ctrl-C ends the command)."""
    from .executor import CANCEL, one_blas_thread

    done: queue.Queue = queue.Queue()
    cancel = threading.Event()
    scope = (*CANCEL.get(), cancel)
    t0 = time.perf_counter()

    def work(name, fn):
        CANCEL.set(scope)
        try:
            done.put((name, True, fn()))
        except BaseException as exc:  # noqa: BLE001  (handed to the calling thread)
            done.put((name, False, exc))

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(work, name, fn), name=f"kdlab-{name}",
                                daemon=True) for name, fn in calls.items()]
    finished = False
    with one_blas_thread():
        try:
            for t in threads:
                t.start()
            for _ in range(len(calls)):
                name, ok, value = done.get()
                if not ok:
                    raise value
                yield name, value, time.perf_counter() - t0
            finished = True
        finally:
            if not finished:  # an error, a Ctrl-C: the others stop at their next output, without retrying
                cancel.set()
                deadline = time.monotonic() + CANCEL_WAIT_S
                for t in threads:
                    t.join(max(0.0, deadline - time.monotonic()))
