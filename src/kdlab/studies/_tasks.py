"""Cached, resumable, parallel evaluation of a study's *tasks*: calls ``fn(**args)`` that return
table rows (a list of flat dicts), e.g. one hyper-parameter optimization over the theory.

Each finished task is written at once to ``<store>/tasks/<key>.json`` (atomic), where ``key``
hashes the function's name, its arguments, ``kdlab.__version__`` and :data:`TASK_VERSION`; a
rerun reads the valid files instead of computing them (a kill loses only the tasks in flight).
A file is used only if it is a regular file (a FIFO, a device or a symbolic link at its name
is never read: :func:`kdlab.io.read_regular_file`), parses, names the task's key and its
rows' SHA-256 matches the stored checksum; anything else is recomputed with a warning.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from ..errors import InputError
from ..io import dumps_json, ensure_dir, read_regular_file, write_text

__all__ = ["TASK_VERSION", "task_key", "run_tasks"]

#: Schema version of the task files (part of every key).
TASK_VERSION = 1


def _name(fn: Callable) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def _canon(args: Mapping[str, Any]) -> str:
    return json.dumps(json.loads(dumps_json(dict(args), indent=None)), sort_keys=True)


def task_key(fn: Callable, args: Mapping[str, Any]) -> str:
    from .. import __version__

    raw = json.dumps({"fn": _name(fn), "args": json.loads(_canon(args)), "version": __version__,
                      "schema": TASK_VERSION}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _checksum(rows) -> str:
    return hashlib.sha256(dumps_json(rows, indent=None).encode()).hexdigest()


#: Task files larger than this are not read (they are not ours).
MAX_TASK_FILE_BYTES = 64 * 2**20


def _read(path: Path, key: str) -> Optional[list]:
    try:  # never blocks on a FIFO, reads a device or follows a link (kdlab.io.read_regular_file)
        d = json.loads(read_regular_file(path, MAX_TASK_FILE_BYTES, what="task file"))
    except (InputError, ValueError, RecursionError):
        return None
    if not isinstance(d, dict) or d.get("key") != key or not isinstance(d.get("rows"), list):
        return None
    rows = d["rows"]
    if not all(isinstance(r, dict) for r in rows) or d.get("checksum") != _checksum(rows):
        return None
    return [{k: (math.nan if v is None else v) for k, v in r.items()} for r in rows]


def _call(fn: Callable, args: dict) -> list:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        rows = fn(**args)
    return [dict(r) for r in rows]


def run_tasks(fn: Callable, items: Sequence[Mapping[str, Any]], store=None, *, n_jobs: Optional[int] = None,
              scheduler=None, progress: bool = True, label: str = "") -> list[list[dict]]:
    """``[fn(**args) for args in items]`` (each a list of row dicts), cached in ``store``
    (``None``: no cache), computed in ``n_jobs`` joblib processes or on a Dask ``scheduler``
    (a ``distributed.Client``). ``fn`` must be a module-level function (it is pickled and named
    in the key); its arguments JSON values."""
    from tqdm.auto import tqdm

    from ..runs.executor import WORKER_IDLE_TIMEOUT_S, in_worker, n_workers

    items = [dict(a) for a in items]
    keys = [task_key(fn, a) for a in items]
    out: dict[str, list] = {}
    folder = None
    if store is not None:
        folder = ensure_dir(Path(store) / "tasks", allow_symlink=False)
        for k in dict.fromkeys(keys):
            p = folder / f"{k}.json"
            if p.exists() or p.is_symlink():
                rows = _read(p, k)
                if rows is None:
                    warnings.warn(f"ignoring the invalid task file {p} (it is recomputed)", RuntimeWarning,
                                  stacklevel=2)
                else:
                    out[k] = rows
    todo = list({k: a for k, a in zip(keys, items) if k not in out}.items())
    if progress and label:
        print(f"  - {label}: {len(items)} task(s), {len(items) - len(todo)} cached", file=sys.stderr, flush=True)
    bar = tqdm(total=len(set(keys)), initial=len(set(keys)) - len(todo), disable=not progress, unit="task",
               desc=label or _name(fn), leave=False, dynamic_ncols=True)

    def done(k, a, rows):
        out[k] = rows
        if folder is not None:
            write_text(folder / f"{k}.json", dumps_json({"key": k, "fn": _name(fn), "args": a, "rows": rows,
                                                        "checksum": _checksum(json.loads(dumps_json(rows)))}))
        bar.update(1)

    try:
        if not todo:
            pass
        elif scheduler is not None:
            from distributed import as_completed

            futs = {scheduler.submit(_call, fn, a, pure=False): (k, a) for k, a in todo}
            for f in as_completed(futs):
                k, a = futs[f]
                done(k, a, f.result())
        elif len(todo) == 1 or n_workers(n_jobs) == 1:
            for k, a in todo:
                done(k, a, _call(fn, a))
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=min(n_workers(n_jobs), len(todo)), return_as="generator_unordered",
                           idle_worker_timeout=WORKER_IDLE_TIMEOUT_S)
            for k, a, rows in par(delayed(in_worker)(_keyed, k, fn, a) for k, a in todo):
                done(k, a, rows)
    finally:
        bar.close()
    return [out[k] for k in keys]


def _keyed(k, fn, a):
    return k, a, _call(fn, a)
