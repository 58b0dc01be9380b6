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

Files are written with :func:`kdlab.io.write_text` (atomic, symlink-safe). A ``<key>.claim``
file (created with ``O_CREAT | O_EXCL``, holding pid and host) marks a point being computed
by a live process, so that concurrent sweeps on one store do not compute it twice; claims of
dead processes are ignored.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import pandas as pd

from ..errors import OutputError, StoreError
from ..io import ensure_dir, write_text

__all__ = ["STORE_VERSION", "Task", "point_key", "code_fingerprint", "points_dir", "write_point",
           "read_point", "load_store", "check_store", "claim", "release", "claim_is_live"]

#: Schema version of the point files (part of every key).
STORE_VERSION = 4

#: Columns every stored record must have.
REQUIRED_COLUMNS = ("backend", "alpha", "key", "status_converged", "n_stages", "optimize",
                    "optimize_evals", "optimize_at_bound", "elapsed_s")

#: Point files larger than this are not read (they are not ours).
MAX_POINT_FILE_BYTES = 16 * 2**20

#: Claims by another host are honoured for this long (its pid cannot be checked from here).
CLAIM_TTL_S = 6 * 3600.0


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
        from .evaluate import load_custom

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
        return {**self.describe(), "key": self.key}


# ----------------------------------------------------------------------------- files


def points_dir(store) -> Path:
    return Path(store) / "points"


def check_store(store) -> Path:
    """Make sure ``store/points`` exists and can be written (before anything is computed);
    :class:`~kdlab.errors.StoreError` with a one-line message otherwise."""
    try:
        ensure_dir(store)
        d = ensure_dir(points_dir(store))
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
    ``(None, reason)``; never raises on bad content."""
    path = Path(path)
    try:
        if path.is_symlink():
            return None, "it is a symbolic link"
        if path.stat().st_size > MAX_POINT_FILE_BYTES:
            return None, f"larger than {MAX_POINT_FILE_BYTES} bytes"
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None, "missing"
    except (OSError, UnicodeDecodeError) as exc:
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


def _claim_path(store, key) -> Path:
    return points_dir(store) / f"{key}.claim"


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
    try:  # a zombie (exited, not yet reaped by its parent) is dead
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _read_claim(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.loads(fh.read(4096) or "null")
        return info if isinstance(info, dict) else None
    except (OSError, ValueError, RecursionError):
        return None


def claim_is_live(store, key) -> bool:
    """Whether ``key`` is claimed by another live process."""
    path = _claim_path(store, key)
    info = _read_claim(path)
    if info is None:
        if not path.exists() and not path.is_symlink():
            return False
        try:  # being written right now, or garbage: honour it briefly
            return time.time() - path.lstat().st_mtime < 10.0
        except OSError:
            return False
    pid, host = info.get("pid"), info.get("host")
    if not isinstance(pid, int):
        return False
    if host == socket.gethostname():
        return pid != os.getpid() and _pid_alive(pid)
    return time.time() - float(info.get("time", 0) or 0) < CLAIM_TTL_S


def claim(store, key) -> bool:
    """Claim ``key`` for this process: ``True`` if now ours (a stale claim of a dead process
    is taken over), ``False`` if another live process holds it."""
    path = _claim_path(store, key)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            info = _read_claim(path)
            if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
                return True
            if claim_is_live(store, key):
                return False
            try:
                os.unlink(path)  # stale: its process is gone
            except FileNotFoundError:
                pass
            except OSError:
                return True  # cannot claim: compute anyway (a duplicate computation, no harm)
            continue
        except OSError:
            return True  # claims are an optimization: never fail a sweep for one
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}))
        return True
    return True


def release(store, key) -> None:
    """Remove this process's claim of ``key`` (no-op if not ours)."""
    path = _claim_path(store, key)
    info = _read_claim(path)
    if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
        try:
            os.unlink(path)
        except OSError:
            pass
