"""The result store: one validated JSON file per finished point, keyed by what computed it.

``DIR/points/<key>.json`` holds ``{"version", "key", "point", "backend", "settings",
"fingerprint", "checksum", "record"}``. ``key`` hashes the point, the backend, its settings and
the *fingerprint*: the store schema version, ``kdlab.__version__`` and the effective default
settings of the code that computes the point (the keyword defaults of
:func:`kdlab.theory.solve`, :func:`kdlab.simulate`, :func:`kdlab.runs.tuning.optimal_lam`), so
an upgrade or a changed default computes the point again instead of reusing it.

A file is used only if it *belongs to the task*: it parses as JSON of the expected shape, its
name, stored key and the key recomputed from its content all equal the task's key, its record
has the expected columns with scalar values, and the record's SHA-256 matches the stored
checksum. Anything else (a copy of another point file, an edited file, ``null``, a list,
deeply nested arrays, a truncated file) is reported with a warning naming the file and
recomputed; the new result replaces the file.

Files are written with :func:`kdlab.io.write_text` (atomic, symlink-safe) and read with
:func:`kdlab.io.read_regular_file` (a FIFO, a device or a symbolic link at a point's name is
an invalid file, never read; a symbolic link at ``points/`` is refused).

A ``<key>.claim`` file (created with ``O_CREAT | O_EXCL``, holding pid, host, boot id and the
process's start time) marks a point being computed, so that concurrent sweeps on one store do
not compute it twice. It is a *lease*: the holder refreshes the file's mtime every quarter of
:data:`CLAIM_LEASE_S` from a daemon thread; a claim not refreshed for a lease is stale whatever
its host, and on this host a claim whose process is gone, a zombie, or a pid now reused by
another process (its start time differs) is stale at once. A stale claim is taken over.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import socket
import stat
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import pandas as pd

from ..errors import InputError, OutputError, StoreError
from ..io import ensure_dir, read_regular_file, write_text

__all__ = ["STORE_VERSION", "Task", "CallTask", "point_key", "call_key", "call_fingerprint", "calls_dir",
           "write_call", "read_call", "write_entry", "read_entry", "entry_path", "code_fingerprint", "points_dir",
           "write_point", "read_point", "load_store", "check_store", "claim", "release", "claim_is_live",
           "claim_holder", "CLAIM_LEASE_S"]

#: Schema version of the point files (part of every key).
STORE_VERSION = 4

#: Columns every stored record must have.
REQUIRED_COLUMNS = ("backend", "alpha", "key", "status_converged", "n_stages", "optimize",
                    "optimize_evals", "optimize_at_bound", "elapsed_s")

#: Point files larger than this are not read (they are not ours).
MAX_POINT_FILE_BYTES = 16 * 2**20


# ----------------------------------------------------------------------------- keys


def json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (range, tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {o!r}")


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=json_default)


_SKIP_DEFAULTS = {"init", "n_jobs", "progress", "solve", "n_features", "seeds", "n_test"}


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def function_defaults(fn) -> dict:
    """The JSON-able keyword defaults of ``fn`` (tolerances, iteration limits, methods)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, prm in sig.parameters.items():
        if name in _SKIP_DEFAULTS or prm.default is inspect.Parameter.empty:
            continue
        d = prm.default
        if isinstance(d, (tuple, list)) and all(_scalar(x) for x in d):
            d = list(d)
        elif not _scalar(d):
            d = f"<{type(d).__name__}>"
        if isinstance(d, float) and not math.isfinite(d):
            d = repr(d)
        out[name] = d
    return out


def code_fingerprint(backend: str, optimize: bool = False) -> dict:
    """What, besides the point and the explicit settings, decides a stored result: the store
    version, the package version and the default settings of the functions that compute it."""
    import kdlab

    from ..params import SIMULATION_OPTIONS, THEORY_OPTIONS

    fp: dict[str, Any] = {"store": STORE_VERSION, "kdlab": str(getattr(kdlab, "__version__", "?"))}
    uses_theory = backend == "theory" or (optimize and backend == "simulate")
    if uses_theory:  # the declared defaults complete the explicit settings: the effective settings
        fp["theory"] = {n: p.default for n, p in THEORY_OPTIONS.items()}
    if backend == "simulate":
        fp["simulate"] = {n: p.default for n, p in SIMULATION_OPTIONS.items() if n not in _SKIP_DEFAULTS}
    elif backend != "theory":
        from .backends import load_custom

        try:
            fp[backend] = function_defaults(load_custom(backend))
        except ValueError:
            fp[backend] = {}  # unimportable: the point fails when it is evaluated
    if optimize:
        from .tuning import optimal_lam

        fp["optimal_lam"] = function_defaults(optimal_lam)
    return fp


def point_key(point: Mapping[str, Any], backend: str, settings: Mapping[str, Any],
              fingerprint: Optional[Mapping[str, Any]] = None) -> str:
    """Hex SHA-256 (32 digits) of the canonical JSON of (point, backend, settings, fingerprint);
    the fingerprint defaults to :func:`code_fingerprint` of the backend."""
    if fingerprint is None:
        fingerprint = code_fingerprint(backend, point.get("optimize") is not None)
    blob = _canon({"v": STORE_VERSION, "point": dict(point), "backend": backend,
                   "settings": dict(settings), "fingerprint": dict(fingerprint)})
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Task:
    """One point evaluated by one backend with its settings; ``key`` names it in the store."""

    point: dict
    backend: str
    settings: dict
    key: str
    index: int = 0  # position in the sweep's table
    fingerprint: Optional[dict] = None

    def describe(self) -> dict:
        return {"point": self.point, "backend": self.backend, "settings": self.settings,
                "fingerprint": self.fingerprint}

    def as_dict(self) -> dict:
        return {**self.describe(), "key": self.key, "kind": "point"}


def call_fingerprint() -> dict:
    """What, besides a call's function and arguments, decides its rows: the store version, the
    package version and the declared default options of both backends (a study task tunes with
    the theory and may simulate)."""
    import kdlab

    from ..params import SIMULATION_OPTIONS, THEORY_OPTIONS

    return {"store": STORE_VERSION, "kdlab": str(getattr(kdlab, "__version__", "?")),
            "theory": {n: p.default for n, p in THEORY_OPTIONS.items()},
            "simulate": {n: p.default for n, p in SIMULATION_OPTIONS.items() if n not in _SKIP_DEFAULTS}}


def call_key(fn: str, args: Mapping[str, Any], fingerprint: Optional[Mapping[str, Any]] = None) -> str:
    """The same key rule as :func:`point_key` for a function call ``fn(**args)`` returning rows
    (``fn``: ``"module:name"``; ``args``: JSON values)."""
    if fingerprint is None:
        fingerprint = call_fingerprint()
    blob = _canon({"v": STORE_VERSION, "fn": fn, "args": dict(args), "fingerprint": dict(fingerprint)})
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CallTask:
    """One call ``fn(**args)`` (a module-level function returning a list of row dicts, e.g. a
    study's tuned chain); ``key`` (:func:`call_key`) names it in the store."""

    fn: str
    args: dict
    key: str
    index: int = 0
    fingerprint: Optional[dict] = None

    def as_dict(self) -> dict:
        return {"kind": "call", "fn": self.fn, "args": self.args, "key": self.key, "fingerprint": self.fingerprint}


# ----------------------------------------------------------------------------- files


def points_dir(store) -> Path:
    return Path(store) / "points"


def check_store(store) -> Path:
    """Make sure ``store/points`` and ``store/calls`` exist, are real folders (a symbolic link
    planted there is not followed), can be written and have free space (before anything is
    computed); :class:`~kdlab.errors.StoreError` with a one-line message otherwise."""
    try:
        ensure_dir(store)
        d = ensure_dir(points_dir(store), allow_symlink=False)
        ensure_dir(calls_dir(store), allow_symlink=False)
    except OutputError as exc:
        raise StoreError(f"the store {store}: {exc}") from None
    return d


def _checksum(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=json_default).encode()).hexdigest()


def write_point(store, task: Mapping[str, Any], record: Mapping[str, Any]) -> Path:
    """Atomically write one finished point (``task``: point, backend, settings, fingerprint, key)."""
    key = task["key"]
    payload = {"version": STORE_VERSION, "key": key, "point": task["point"], "backend": task["backend"],
               "settings": task["settings"], "fingerprint": task.get("fingerprint"),
               "checksum": _checksum(record), "record": dict(record)}
    text = json.dumps(payload, default=json_default)  # NaN kept: the table reads back identical
    return write_text(points_dir(store) / f"{key}.json", text)


def calls_dir(store) -> Path:
    return Path(store) / "calls"


#: Call files larger than this are not read (they are not ours).
MAX_CALL_FILE_BYTES = 64 * 2**20


def write_call(store, task: Mapping[str, Any], rows: list) -> Path:
    """Atomically write the rows of one finished call (``task``: fn, args, fingerprint, key)."""
    rows = json.loads(json.dumps([dict(r) for r in rows], default=json_default))
    payload = {"version": STORE_VERSION, "key": task["key"], "fn": task["fn"], "args": task["args"],
               "fingerprint": task.get("fingerprint"), "checksum": _checksum(rows), "rows": rows}
    d = calls_dir(store)
    ensure_dir(d, allow_symlink=False)
    return write_text(d / f"{task['key']}.json", json.dumps(payload, default=json_default))


def read_call(path, key: Optional[str] = None) -> tuple[Optional[list], str]:
    """``(rows, "")`` if ``path`` is a valid call file (of ``key``, if given), else ``(None, reason)``:
    the same rules as :func:`read_point` (a regular file, its name, stored key and recomputed key
    agree, its rows match their checksum)."""
    path = Path(path)
    try:
        payload = json.loads(read_regular_file(path, MAX_CALL_FILE_BYTES, what="call file").decode("utf-8"))
    except InputError as exc:
        reason = getattr(exc, "reason", str(exc))
        return None, ("missing" if reason == "does not exist" else f"it {reason}")
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        return None, f"not valid JSON ({str(exc)[:80]})"
    if not isinstance(payload, dict) or any(k not in payload for k in ("version", "key", "fn", "args",
                                                                        "fingerprint", "checksum", "rows")):
        return None, "not a call record"
    if payload["version"] != STORE_VERSION:
        return None, f"store version {payload['version']!r}, expected {STORE_VERSION}"
    stored = payload["key"]
    if stored != path.stem or (key is not None and stored != key):
        return None, "its key does not match its name or its call (a copied file?)"
    if not (isinstance(payload["fn"], str) and isinstance(payload["args"], dict)
            and isinstance(payload["fingerprint"], dict)):
        return None, "fn, args or fingerprint of the wrong type"
    try:
        again = call_key(payload["fn"], payload["args"], payload["fingerprint"])
    except (TypeError, ValueError):
        again = None
    rows = payload["rows"]
    if again != stored:
        return None, "its function or arguments do not give its key (an edited file?)"
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return None, "its rows are not a list of objects"
    if payload["checksum"] != _checksum(rows):
        return None, "its rows do not match their checksum (an edited file?)"
    import math

    return [{k: (math.nan if v is None else v) for k, v in r.items()} for r in rows], ""


def write_entry(store, task: Mapping[str, Any], value) -> Path:
    """Write a finished point (``value``: its record) or call (``value``: its rows)."""
    if task.get("kind") == "call":
        return write_call(store, task, value)
    return write_point(store, task, value)


def read_entry(store, task) -> tuple:
    """``(value, reason)`` of a task (a :class:`Task` or :class:`CallTask`) from ``store``."""
    if isinstance(task, CallTask):
        return read_call(calls_dir(store) / f"{task.key}.json", task.key)
    return read_point(points_dir(store) / f"{task.key}.json", task.key)


def entry_path(store, task) -> Path:
    return (calls_dir(store) if isinstance(task, CallTask) else points_dir(store)) / f"{task.key}.json"


def _validate(payload, path: Path, key: Optional[str]) -> tuple[Optional[dict], str]:
    if not isinstance(payload, dict):
        return None, f"not a point record (a JSON {type(payload).__name__})"
    missing = [k for k in ("version", "key", "point", "backend", "settings", "fingerprint",
                           "checksum", "record") if k not in payload]
    if missing:
        return None, f"missing field(s) {missing}"
    if payload["version"] != STORE_VERSION:
        return None, f"store version {payload['version']!r}, expected {STORE_VERSION}"
    stored = payload["key"]
    if not isinstance(stored, str) or stored != path.stem:
        return None, f"its key {str(stored)[:40]!r} does not match its name (a copied file?)"
    if key is not None and stored != key:
        return None, "it belongs to another point"
    if not (isinstance(payload["point"], dict) and isinstance(payload["settings"], dict)
            and isinstance(payload["backend"], str) and isinstance(payload["fingerprint"], dict)):
        return None, "point, backend, settings or fingerprint of the wrong type"
    try:
        again = point_key(payload["point"], payload["backend"], payload["settings"], payload["fingerprint"])
    except (TypeError, ValueError):
        again = None
    if again != stored:
        return None, "its point, backend or settings do not give its key (an edited file?)"
    rec = payload["record"]
    if not isinstance(rec, dict):
        return None, f"its record is a JSON {type(rec).__name__}, not an object"
    missing = [c for c in REQUIRED_COLUMNS if c not in rec]
    if missing:
        return None, f"its record lacks the column(s) {missing}"
    if not all(_scalar(v) for v in rec.values()):
        return None, "its record holds nested values"
    if rec["key"] != stored:
        return None, "its record's key does not match (a copied or edited file?)"
    if rec["alpha"] != payload["point"].get("alpha"):
        return None, "its record's alpha does not match its point (an edited file?)"
    if payload["checksum"] != _checksum(rec):
        return None, "its record does not match its checksum (an edited file?)"
    return rec, ""


def read_point(path, key: Optional[str] = None) -> tuple[Optional[dict], str]:
    """``(record, "")`` if ``path`` is a valid point file (of ``key``, if given), else
    ``(None, reason)``; never raises on bad content, never blocks on a FIFO, never reads a
    device or follows a symbolic link (:func:`kdlab.io.read_regular_file`)."""
    path = Path(path)
    try:
        text = read_regular_file(path, MAX_POINT_FILE_BYTES, what="point file").decode("utf-8")
    except InputError as exc:
        reason = getattr(exc, "reason", str(exc))
        return None, ("missing" if reason == "does not exist" else f"it {reason}")
    except UnicodeDecodeError as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    try:
        payload = json.loads(text)
    except RecursionError:
        return None, "nested too deeply"
    except (ValueError, MemoryError) as exc:
        return None, f"not valid JSON ({str(exc)[:80]})"
    try:
        return _validate(payload, path, key)
    except RecursionError:
        return None, "nested too deeply"


def warn_invalid(path, reason: str, action: str = "recomputing and replacing it") -> None:
    warnings.warn(f"invalid point file {path}: {reason}; {action}", RuntimeWarning, stacklevel=3)


def load_store(store) -> pd.DataFrame:
    """Every valid point in a store, one row each (any sweep that wrote there); invalid files
    are skipped with a warning."""
    d = points_dir(store)
    if d.is_symlink():
        raise StoreError(f"the store {store}: {d} is a symbolic link; it is not followed (remove it)")
    recs = []
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            rec, why = read_point(p)
            if rec is None:
                warn_invalid(p, why, "skipping it")
            else:
                recs.append(rec)
    return pd.DataFrame.from_records(recs)


# ----------------------------------------------------------------------------- claims

#: A claim whose file was not refreshed for this long is stale, whatever its host or pid:
#: another sweep takes the point over. A holder refreshes its claims' mtime every quarter of it.
CLAIM_LEASE_S = 60.0

#: A claim file that does not parse (being written right now, or garbage) is honoured this long.
CLAIM_UNREADABLE_S = 10.0

#: Claim files larger than this are not claims.
MAX_CLAIM_BYTES = 4096

_warned_stores: set = set()


def _claim_path(store, key) -> Path:
    return points_dir(store) / f"{key}.claim"


def _proc_stat(pid: int) -> Optional[list]:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3, the state, first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_start(pid: int) -> Optional[int]:
    """When process ``pid`` started (clock ticks after boot, field 22 of ``/proc/<pid>/stat``):
    with the pid it names one process, even after the pid is reused."""
    f = _proc_stat(pid)
    try:
        return int(f[19]) if f else None
    except (IndexError, ValueError):
        return None


_BOOT_ID: list = []


def _boot_id() -> Optional[str]:
    if not _BOOT_ID:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
                _BOOT_ID.append(fh.read().strip() or None)
        except OSError:
            _BOOT_ID.append(None)
    return _BOOT_ID[0]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    f = _proc_stat(pid)  # a zombie (exited, not yet reaped by its parent) is dead
    return not (f and f[0] == b"Z")


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": _proc_start(os.getpid()),
            "boot": _boot_id()}


def _read_claim(path: Path) -> Optional[dict]:
    try:
        info = json.loads(read_regular_file(path, MAX_CLAIM_BYTES, what="claim") or b"null")
    except (InputError, ValueError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


def _is_mine(info: Optional[dict], me: dict) -> bool:
    return bool(info) and info.get("pid") == me["pid"] and info.get("host") == me["host"] \
        and info.get("start") in (None, me["start"])


def _holder_of(path: Path) -> Optional[dict]:
    """The live holder of the claim file ``path`` (``{"pid", "host", "age"}``, ``age``: seconds
    since the claim was last refreshed), or ``None`` if there is no live claim there.

    A claim is live while it is refreshed (mtime younger than :data:`CLAIM_LEASE_S`) and, on
    this host and boot, while its process exists, is not a zombie and has the recorded start
    time (a pid reused by another process does not hold the claim). This process's own claim
    is not another's: ``None``."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None  # a link, FIFO, device or folder at a claim's name is not a claim
    age = max(0.0, time.time() - st.st_mtime)
    info = _read_claim(path)
    if info is None:  # being written right now, or garbage: honoured briefly
        return {"pid": None, "host": None, "age": age} if age < CLAIM_UNREADABLE_S else None
    if age >= CLAIM_LEASE_S:
        return None
    pid, host = info.get("pid"), info.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    me = _me()
    if host == me["host"] and info.get("boot") in (None, me["boot"]):
        if _is_mine(info, me) or not _pid_alive(pid):
            return None
        start = info.get("start")
        if start is not None and _proc_start(pid) not in (None, start):
            return None  # the pid now names another process
    return {"pid": pid, "host": host, "age": age}


def claim_holder(store, key) -> Optional[dict]:
    """Who holds ``key``: ``{"pid", "host", "age"}`` of another live process's claim (see
    :func:`_holder_of`), or ``None``."""
    return _holder_of(_claim_path(store, key))


def claim_is_live(store, key) -> bool:
    """Whether ``key`` is claimed by another live process."""
    return claim_holder(store, key) is not None


class _Heartbeat:
    """Refreshes the mtime of this process's claims every quarter lease, from a daemon thread
    (a process that stops, hangs or dies stops refreshing, and its claims expire)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[str, float] = {}  # path -> time of the last refresh
        self._thread: Optional[threading.Thread] = None
        self._pid = 0

    def add(self, path: Path) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child holds none of its parent's claims
                self._held, self._thread, self._pid = {}, None, os.getpid()
            self._held[str(path)] = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kdlab-claim-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, path: Path) -> None:
        with self._lock:
            self._held.pop(str(path), None)

    def _run(self) -> None:
        me = _me()
        while True:
            time.sleep(min(1.0, CLAIM_LEASE_S / 8))
            with self._lock:
                if not self._held or self._pid != os.getpid():
                    self._thread = None
                    return
                due = [p for p, t in self._held.items() if time.monotonic() - t >= CLAIM_LEASE_S / 4]
            for p in due:
                ok = _is_mine(_read_claim(Path(p)), me)
                if ok:
                    try:
                        os.utime(p, follow_symlinks=False)
                    except OSError:
                        ok = False
                with self._lock:
                    if not ok:
                        self._held.pop(p, None)  # taken over or removed: no longer ours
                    elif p in self._held:
                        self._held[p] = time.monotonic()


_HEARTBEAT = _Heartbeat()


def _cannot_claim(store, exc: OSError) -> None:
    if str(store) not in _warned_stores:
        _warned_stores.add(str(store))
        warnings.warn(f"cannot make claims in the store {store} ({exc.strerror or exc}): computing anyway "
                      "(a sweep running beside this one may compute the same points)", RuntimeWarning,
                      stacklevel=3)


def _take_over(path: Path) -> bool:
    """Remove the stale claim ``path`` (renamed away first: of two sweeps taking over at once,
    one succeeds); ``False`` if it cannot be removed."""
    tomb = path.with_name(f".{path.name}.stale-{os.getpid()}-{threading.get_ident()}")
    try:
        os.rename(path, tomb)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if _holder_of(tomb) is not None:  # a fresh claim replaced the stale one in between: put it back
        with contextlib.suppress(OSError):
            os.link(tomb, path, follow_symlinks=False)
    with contextlib.suppress(OSError):
        if tomb.is_dir() and not tomb.is_symlink():
            tomb.rmdir()
        else:
            tomb.unlink()
    return True


def claim(store, key) -> bool:
    """Claim ``key`` for this process: ``True`` if now ours (a stale claim, see
    :func:`claim_holder`, is taken over) and refreshed from now on until :func:`release`;
    ``False`` if another live process holds it. Claims are an optimization: when none can be
    made (a full disk, a read-only store) this warns once per store and returns ``True`` (the
    point is computed anyway), leaving no empty claim behind."""
    path = _claim_path(store, key)
    me = _me()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError:
            if _is_mine(_read_claim(path), me):
                _HEARTBEAT.add(path)
                return True
            if claim_holder(store, key) is not None:
                return False
            if not _take_over(path):
                return True  # cannot remove it: compute anyway (a duplicate computation, no harm)
            continue
        except OSError as exc:
            _cannot_claim(store, exc)
            return True
        data = json.dumps({**me, "time": time.time(), "lease_s": CLAIM_LEASE_S}).encode()
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:  # e.g. ENOSPC: no half-written claim is left behind
            with contextlib.suppress(OSError):
                os.unlink(path)
            _cannot_claim(store, exc)
            return True
        _HEARTBEAT.add(path)
        return True
    return True


def release(store, key) -> None:
    """Remove this process's claim of ``key`` (no-op if not ours)."""
    path = _claim_path(store, key)
    _HEARTBEAT.discard(path)
    if _is_mine(_read_claim(path), _me()):
        with contextlib.suppress(OSError):
            os.unlink(path)
