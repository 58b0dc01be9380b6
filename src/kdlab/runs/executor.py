"""One executor loop for the three ways of running chains of tasks: in this process, in
joblib (loky) worker processes, or on a Dask cluster.

Each *runner* turns a list of chains into a stream of per-point outputs
(``{"key", "record", "stored"}`` or ``{"key", "error"}``); :func:`execute` consumes the
stream, and when a worker process dies (killed by a signal, e.g. the out-of-memory killer:
joblib's ``TerminatedWorkerError``) it recovers what the store already holds, retries the
unfinished points once (each on its own), and reports them as failed if a worker dies again.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading
import time
import warnings
from typing import Callable, Iterator, Optional, Sequence

from ..errors import CancelledError
from .evaluate import dask_eval, iter_chain, run_chain
from .store import Task

__all__ = ["execute", "n_workers", "one_blas_thread", "CANCEL", "check_cancelled", "split_chains",
           "balance_chains", "task_cost", "WORKER_IDLE_TIMEOUT_S", "in_worker", "watch_parent", "PARENT_POLL_S"]

#: Idle loky workers exit after this many seconds (joblib's default is 300): workers do not
#: linger long after a sweep, or after its parent was killed.
WORKER_IDLE_TIMEOUT_S = 10

#: How often a worker process checks that the process that started it is still there.
PARENT_POLL_S = 0.5

_watched: dict = {}


def watch_parent() -> None:
    """In a worker process: start (once) a daemon thread that ends this process as soon as
    its parent is gone (``os.getppid()`` changes when the parent dies and the worker is
    re-parented). A SIGKILLed sweep's workers stop within about :data:`PARENT_POLL_S`
    instead of finishing points whose results nobody will read."""
    pid, ppid = os.getpid(), os.getppid()
    if _watched.get(pid) == ppid:
        return
    _watched[pid] = ppid

    def watch():
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != ppid:
                os._exit(1)

    threading.Thread(target=watch, name="kdlab-parent-watchdog", daemon=True).start()


def in_worker(fn: Callable, *args):
    """``fn(*args)`` in a joblib worker process that exits when its parent dies
    (:func:`watch_parent`)."""
    watch_parent()
    return fn(*args)


#: The cancel events of the parts of a run computed at once that this thread belongs to
#: (:func:`kdlab.runs.context.as_done`, nested: one event per level).
CANCEL: contextvars.ContextVar = contextvars.ContextVar("kdlab_cancel", default=())


def check_cancelled() -> None:
    """:class:`~kdlab.errors.CancelledError` if a part of the run this thread belongs to failed."""
    if any(ev.is_set() for ev in CANCEL.get()):
        raise CancelledError("stopped: another part of the run failed or was interrupted")


@contextlib.contextmanager
def one_blas_thread():
    """This process computes with one BLAS thread, as every worker does (:func:`run_chain`):
    a run with worker processes keeps its cores busy with them, and a point then gives the
    same bits wherever it runs (a sum split over several BLAS threads rounds differently).
    Entered once around work that runs in several threads of this process, the limits those
    threads set and restore (:func:`threadpoolctl.threadpool_limits`) all restore one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def n_workers(n_jobs) -> int:
    if n_jobs is None or n_jobs == -1:
        return max(1, os.cpu_count() or 1)
    n = int(n_jobs)
    if n < -1 or n == 0:
        raise ValueError(f"n_jobs must be >= 1 or -1 (all cores), got {n_jobs}")
    return n


def split_chains(chains, target: int, min_len: int = 3):
    """Split long chains until there are ``target`` of them (each piece starts cold)."""
    chains = [list(c) for c in chains]
    while len(chains) < target:
        chains.sort(key=len, reverse=True)
        if len(chains[0]) < 2 * min_len:
            break
        c = chains.pop(0)
        h = len(c) // 2
        chains += [c[:h], c[h:]]
    return chains


def task_cost(task) -> Optional[float]:
    """Relative cost of a simulation point: its samples per dimension (the data's and its fresh
    sets') x N x seeds x stages; ``None`` for anything else (not split, not reordered)."""
    if getattr(task, "backend", None) != "simulate":
        return None
    p, s = task.point, task.settings
    alphas = [v for k, v in p.items() if (k == "alpha" or k.endswith("_alpha"))
              and isinstance(v, (int, float)) and not isinstance(v, bool)]
    stages = 1 + max((int(m.group(1)) for k in p if (m := re.match(r"stage(\d+)_", k))), default=0)
    return float(sum(alphas)) * float(s.get("n_features", 1)) * len(s.get("seeds", (0,))) * stages


def balance_chains(chains, workers: int, cost: Callable = task_cost):
    """Split every chain of simulation points that costs more than an equal share of the
    workers' time (a group of points sharing their draws, :func:`kdlab.runs.evaluate.batch_key`)
    in two of about equal cost, until none does; then order the simulation chains heaviest
    first (the longest-processing-time rule), the other chains after them in their order."""
    def total(ch):
        cs = [cost(t) for t in ch]
        return None if not cs or any(c is None for c in cs) else float(sum(cs))

    out = [list(c) for c in chains]
    share = sum(total(c) or 0.0 for c in out) / max(1, workers)
    while share > 0:
        big = [(total(c), i) for i, c in enumerate(out) if len(c) > 1 and (total(c) or 0.0) > share]
        if not big:
            break
        c = out.pop(max(big)[1])
        acc, half, j = 0.0, total(c) / 2, 1
        for j in range(1, len(c)):
            acc += cost(c[j - 1])
            if acc + cost(c[j]) / 2 >= half:
                break
        out += [c[:j], c[j:]]
    sims = sorted((c for c in out if total(c)), key=total, reverse=True)
    return sims + [c for c in out if not total(c)]


def _death_errors() -> tuple:
    errs: list = []
    try:
        from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

        errs += [TerminatedWorkerError, BrokenProcessPool]
    except ImportError:  # pragma: no cover
        pass
    from concurrent.futures.process import BrokenProcessPool as CfBroken

    errs.append(CfBroken)
    return tuple(errs)


# ----------------------------------------------------------------------------- runners


def _serial(chains: Sequence[Sequence[Task]], store) -> Iterator[dict]:
    for chain in chains:
        # the caller writes the store (it may fail there: the caller keeps the records)
        yield from iter_chain([t.as_dict() for t in chain], None)


def _joblib(chains, store, workers: int) -> Iterator[dict]:
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=workers, return_as="generator_unordered", backend="loky",
                   idle_worker_timeout=WORKER_IDLE_TIMEOUT_S)
    sdir = None if store is None else str(store)
    jobs = (delayed(in_worker)(run_chain, [t.as_dict() for t in c], sdir, True) for c in chains)
    for outs in par(jobs):
        yield from outs


def _dask(chains, store, scheduler) -> Iterator[dict]:
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        futures, keys = [], {}
        sdir = None if store is None else str(os.path.abspath(store))
        for chain in chains:
            prev = None
            for t in chain:
                prev = client.submit(dask_eval, t.as_dict(), prev, sdir, pure=False,
                                     key=f"kdlab-{t.key}-{os.getpid()}-{time.time_ns()}")
                keys[prev.key] = t.key
                futures.append(prev)
        for fut in as_completed(futures):
            try:
                out = fut.result()
            except Exception as exc:  # noqa: BLE001 - worker died, cancelled, ...
                out = {"key": keys[fut.key], "error": f"{type(exc).__name__}: {exc}"}
            fut.release()
            yield out
    finally:
        if own:
            client.close()


# ----------------------------------------------------------------------------- the loop


def execute(chains: Sequence[Sequence[Task]], on_output: Callable[[dict], None], *, store=None,
            n_jobs: Optional[int] = None, scheduler=None, retries: int = 1,
            recover: Optional[Callable[[Task], Optional[dict]]] = None) -> None:
    """Run ``chains`` and call ``on_output`` once per task (a record or an error).

    ``scheduler`` (a Dask address or client) wins over ``n_jobs``; ``n_jobs=1`` (or at most two
    tasks) runs in this process. A part of a run computed at once with others stops at its next
    output once another part failed (:func:`check_cancelled`), and does not retry.
    ``recover(task)`` returns a record the store already holds
    (written by a worker whose output was lost when another worker died), or ``None``.
    """
    chains = [list(c) for c in chains if c]
    n_tasks = sum(len(c) for c in chains)
    if not n_tasks:
        return
    if scheduler is not None:
        mode, workers = "dask", 0
    else:
        workers = n_workers(n_jobs)
        if n_tasks <= 2:
            workers = 1  # not worth starting worker processes
        mode = "joblib" if workers > 1 else "serial"
        if mode == "joblib":
            chains = balance_chains(split_chains(chains, 2 * workers), workers)
    deaths = _death_errors()
    pending = chains
    for attempt in range(retries + 1):
        done: set = set()
        if mode == "serial":
            stream = _serial(pending, store)
        elif mode == "joblib":
            stream = _joblib(pending, store, workers)
        else:
            stream = _dask(pending, store, scheduler)
        try:
            for out in stream:
                try:
                    check_cancelled()
                except CancelledError:
                    stream.close()  # stops its workers
                    raise
                done.add(out["key"])
                on_output(out)
            return
        except deaths as exc:
            check_cancelled()  # the run is ending: no retry
            left = [t for c in pending for t in c if t.key not in done]
            lost = []
            for t in left:
                rec = recover(t) if recover is not None else None
                if rec is not None:
                    on_output({"key": t.key, "record": rec, "stored": True})
                else:
                    lost.append(t)
            if not lost:
                return
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if attempt == retries:
                for t in lost:
                    on_output({"key": t.key, "error": f"a worker process died twice while computing "
                                                      f"this point or its neighbours ({why})"})
                return
            warnings.warn(f"a worker process died (killed by a signal, e.g. out of memory): "
                          f"retrying its {len(lost)} unfinished point(s) once", RuntimeWarning,
                          stacklevel=3)
            pending = [[t] for t in lost]  # one at a time: a dying point takes no chain with it
