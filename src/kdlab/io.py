"""File output, in one place: atomic, symlink-safe writes of text, JSON and tables.

Every file kdlab writes goes through :func:`atomic_write`: the content is written to a new
temporary file created with ``O_CREAT | O_EXCL`` (:func:`tempfile.mkstemp`) in the target's
folder, flushed and fsynced, then renamed over the target with :func:`os.replace`. So a
reader never sees a partial file, a kill leaves at most a stray ``.*.tmp`` (ignored by every
reader), and a symbolic link planted at a predictable temporary name, or at the target, is
never followed (``os.replace`` replaces the link itself). File-system errors become
:class:`kdlab.errors.OutputError` with a one-line message naming the path.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import OutputError

__all__ = ["strict_json", "dumps_json", "ensure_dir", "atomic_write", "write_text", "write_json",
           "write_table", "TABLE_FORMATS"]

TABLE_FORMATS = ("csv", "parquet")


def strict_json(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` and numpy scalars / arrays as Python values
    (strict JSON: ``NaN`` and ``Infinity`` are not JSON)."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` (see :func:`strict_json`)."""
    return json.dumps(strict_json(obj), indent=indent, allow_nan=False)


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def ensure_dir(path) -> Path:
    """Create the folder ``path`` (and its parents) and check, by writing a probe file, that
    files can be created in it; :class:`OutputError` if not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path}: {_why(exc)}") from None
    try:  # a real probe: os.access says yes to root and on read-only mounts
        fd, probe = tempfile.mkstemp(prefix=".kdlab-probe.", suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write in the folder {path}: {_why(exc)}") from None
    return path


def atomic_write(path, write: Callable[[str], None]) -> Path:
    """Write ``path`` atomically: ``write(tmp_name)`` fills a fresh temporary file in the same
    folder, which then replaces ``path``. Returns ``path``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder, not a file")
    ensure_dir(path.parent if str(path.parent) else Path("."))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_why(exc)}") from None
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {_why(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_text(path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    def w(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return atomic_write(path, w)


def write_json(path, obj: Any) -> Path:
    """Atomically write ``obj`` as strict, indented JSON."""
    return write_text(path, dumps_json(obj) + "\n")


def write_table(df, path, formats: Sequence[str] = TABLE_FORMATS) -> list[Path]:
    """Write a DataFrame as ``path.csv`` / ``path.parquet`` / ``path.json`` (each atomically).

    A ``path`` ending in one of these suffixes writes that format only. Returns the paths.
    """
    path = Path(path)
    if path.suffix in (".csv", ".parquet", ".json"):
        formats, path = (path.suffix[1:],), path.with_suffix("")
    out = []
    for fmt in formats:
        target = path.with_name(path.name + "." + fmt)
        if fmt == "csv":
            out.append(atomic_write(target, lambda t: df.to_csv(t, index=False)))
        elif fmt == "parquet":
            out.append(atomic_write(target, lambda t: df.to_parquet(t, index=False)))
        elif fmt == "json":
            out.append(atomic_write(target, lambda t: df.to_json(t, orient="records", indent=2)))
        else:
            raise ValueError(f"table format must be csv, parquet or json, got {fmt!r}")
    return out
