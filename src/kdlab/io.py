"""File output, in one place: atomic, symlink-safe writes of text, JSON and tables.

Every file kdlab writes goes through :func:`atomic_write`: the content is written to a new
temporary file created with ``O_CREAT | O_EXCL`` (:func:`tempfile.mkstemp`) in the target's
folder, flushed and fsynced, then renamed over the target with :func:`os.replace`. So a
reader never sees a partial file, a kill leaves at most a stray ``.*.tmp`` (ignored by every
reader), and a symbolic link planted at a predictable temporary name, or at the target, is
never followed (``os.replace`` replaces the link itself). A new file gets the permissions
``0o666 & ~umask`` (as ``open`` would give it), not the ``0o600`` of a temporary file.
File-system errors become :class:`kdlab.errors.OutputError` with a one-line message naming
the path. :func:`ensure_dir` probes a folder before any work: it can be created, a file can be
created in it, and it has the free space the caller expects (``os.statvfs``).

Every input file kdlab reads from a place others can write (the store's point and claim
files, a study's task files, a problem file) goes through :func:`read_regular_file`: it never
blocks on a FIFO, never reads a device, never follows a symbolic link at the file's name, and
never reads more than its limit; anything else is :class:`kdlab.errors.InputError` with a
one-line reason.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .errors import InputError, OutputError

__all__ = ["strict_json", "dumps_json", "ensure_dir", "atomic_write", "write_text", "write_json",
           "write_table", "TABLE_FORMATS", "read_regular_file", "free_bytes", "MIN_FREE_BYTES", "RUN_FREE_BYTES"]

TABLE_FORMATS = ("csv", "parquet")

#: Free space :func:`ensure_dir` asks for when its caller gives no estimate of its own.
MIN_FREE_BYTES = 2**20
#: Free space a run of figures or a study asks for up front (a quick study writes about 0.8 MB:
#: figures, tables, report, cache; a full one a few MB).
RUN_FREE_BYTES = 8 * 2**20


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


def _size(n: int) -> str:
    """``n`` bytes, readable: ``"0 bytes"``, ``"512 KiB"``, ``"3.2 MiB"``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def free_bytes(path) -> Optional[int]:
    """Bytes this process can still write on the file system of ``path`` (``os.statvfs``:
    the blocks free to everyone, or to root, times the fragment size); ``None`` if unknown."""
    try:
        st = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    blocks = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
    return int(blocks) * int(st.f_frsize)


def ensure_dir(path, need_bytes: Optional[int] = None, *, allow_symlink: bool = True) -> Path:
    """Create the folder ``path`` (and its parents) and check, by writing a probe file, that
    files can be created in it, and that its file system has ``need_bytes`` free (the caller's
    estimate of what it will write; default :data:`MIN_FREE_BYTES`; 0: no check);
    :class:`OutputError` if not.
    ``allow_symlink=False`` refuses a symbolic link at ``path`` (a folder inside a store)."""
    path = Path(path)
    if not allow_symlink and path.is_symlink():
        raise OutputError(f"{path} is a symbolic link; it is not followed (remove it)")
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
    if need_bytes is None:
        need_bytes = MIN_FREE_BYTES
    if need_bytes > 0:
        free = free_bytes(path)
        if free is not None and free < need_bytes:
            raise OutputError(f"the folder {path} has only {_size(free)} of free space, less than the "
                              f"{_size(need_bytes)} this needs: free some space or choose another folder")
    return path


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """This process's umask (read from ``/proc/self/status`` where it is, else set and reset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def _refuse(path, what: str, reason: str):
    exc = InputError(f"the {what} {path} {reason}")
    exc.reason = reason
    return exc


def read_regular_file(path, max_bytes: int, *, what: str = "file", follow_symlinks: bool = False) -> bytes:
    """The content of the regular file ``path``, at most ``max_bytes`` of it.

    Safe on names others may have planted: the file is checked with ``lstat`` before it is
    opened (a FIFO, a device, a socket or a folder is never opened), opened with
    ``O_NONBLOCK | O_NOFOLLOW | O_NOCTTY`` (a symbolic link is refused unless
    ``follow_symlinks``), checked again with ``fstat`` (a file swapped in between), and read
    to ``max_bytes + 1`` bytes at most. :class:`~kdlab.errors.InputError` otherwise: its
    message names ``what`` and the path, its ``reason`` says why (``"does not exist"``,
    ``"is a FIFO (named pipe), not a regular file"``, ``"is larger than 16 MiB"``, ...).
    """
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        raise _refuse(path, what, "does not exist") from None
    except OSError as exc:
        raise _refuse(path, what, f"cannot be read ({_why(exc)})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, what, f"is {_kind(st.st_mode)}, not a regular file")
    too_large = f"is larger than {_size(max_bytes)}"
    if st.st_size > max_bytes:
        raise _refuse(path, what, too_large)
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_CLOEXEC", 0) | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0)))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _refuse(path, what, "does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(path, what, "is a symbolic link, not a regular file") from None
        raise _refuse(path, what, f"cannot be read ({_why(exc)})") from None
    chunks, n = [], 0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, what, f"is {_kind(st.st_mode)}, not a regular file")
        while True:
            b = os.read(fd, min(2**20, max_bytes + 1 - n))
            if not b:
                break
            chunks.append(b)
            n += len(b)
            if n > max_bytes:
                raise _refuse(path, what, too_large)
    except InputError:
        raise
    except OSError as exc:
        raise _refuse(path, what, f"cannot be read ({_why(exc)})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def atomic_write(path, write: Callable[[str], None]) -> Path:
    """Write ``path`` atomically: ``write(tmp_name)`` fills a fresh temporary file in the same
    folder, which then replaces ``path``. Returns ``path``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder, not a file")
    ensure_dir(path.parent if str(path.parent) else Path("."), need_bytes=0)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_why(exc)}") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0o600
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

    A ``path`` ending in one of these suffixes writes that format only; an existing folder is
    an :class:`OutputError` (not ``path.csv`` beside it). Returns the paths.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give the table's file name, e.g. {path / 'table.csv'}")
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
