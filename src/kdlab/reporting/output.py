"""Output folders of the pipelines (``kdlab reproduce``, ``kdlab figure``, ``kdlab study``): one
ownership rule, one manifest, parameters, run modes.

Every folder a pipeline writes holds ``manifest.json``: its *owner* (``talk``, ``study:<name>``
or ``studies``), the kdlab version, and the SHA-256 of every file the owner wrote. The rule,
checked by every command before anything is computed (:meth:`OutputFolder.open`):

* a folder that does not exist or is empty is taken (and created);
* a folder whose manifest names the same owner is reused (a rerun, another figure of the talk);
* a folder owned by another pipeline is refused, unless ``force``: then the files its manifest
  lists are removed first (the point cache is kept: it only holds verified, content-addressed
  results);
* any other non-empty folder (no manifest: not a kdlab output folder, e.g. ``/`` or a home
  folder) is refused, with or without ``force``.

A file read back to build a report is used only if its checksum matches the manifest
(:meth:`OutputFolder.verified`); otherwise it is recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from ..errors import InputError, OutputError, ParameterError, ResourceError
from ..io import RUN_FREE_BYTES, dumps_json, ensure_dir, read_regular_file, write_json

__all__ = ["MANIFEST", "OutputFolder", "resolve_params", "canonical", "dask_client", "check_formats"]

#: The manifest of an output folder.
MANIFEST = "manifest.json"
#: Files larger than this are not manifests.
MAX_MANIFEST_BYTES = 4 * 2**20


def canonical(p: Mapping[str, Any]) -> dict:
    """``p`` as it reads back from JSON (tuples as lists, numpy scalars as numbers)."""
    return json.loads(dumps_json(dict(p)))


def resolve_params(defaults: dict, quick: dict, overrides: dict, what: str) -> dict:
    """``defaults`` updated by ``quick`` then ``overrides`` (names must be known: otherwise
    :class:`ParameterError` naming ``what``); an integer ``seeds`` becomes ``range(seeds)``."""
    p = {**defaults, **quick}
    unknown = set(overrides) - set(p)
    if unknown:
        raise ParameterError(f"unknown parameter(s) for {what}: {sorted(unknown)}; known: {', '.join(p)}")
    p.update(overrides)
    if "seeds" in p:
        p["seeds"] = list(range(p["seeds"])) if isinstance(p["seeds"], int) else list(p["seeds"])
    return p


def check_formats(n_jobs, formats, table_formats) -> tuple:
    """Validated ``n_jobs`` and table ``formats`` of a pipeline (one-line :class:`ParameterError`)."""
    if n_jobs is not None and (n_jobs == 0 or n_jobs < -1):
        raise ParameterError(f"n_jobs must be >= 1 (or -1 for all cores), got {n_jobs}")
    fm = tuple(str(f).strip().lower() for f in formats if str(f).strip())
    if not fm or any(f not in table_formats for f in fm):
        raise ParameterError(f"table formats must be among {', '.join(table_formats)}; got {list(formats)}")
    return fm


@contextlib.contextmanager
def dask_client(scheduler):
    """A Dask client for a whole run: ``scheduler`` is None, a ``distributed.Client`` or an address."""
    if scheduler is None or not isinstance(scheduler, str):
        yield scheduler
        return
    try:
        from distributed import Client
    except ImportError:
        raise ResourceError("a Dask scheduler needs dask[distributed] (pip install 'kdlab[dask]')") from None
    try:
        client = Client(scheduler, timeout="20s")
    except Exception as exc:  # noqa: BLE001  (distributed raises OSError, TimeoutError...)
        raise ResourceError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


def _sha256(path: Path) -> Optional[str]:
    try:
        return hashlib.sha256(read_regular_file(path, 2**31, what="output file")).hexdigest()
    except InputError:
        return None


@dataclass
class OutputFolder:
    """An output folder owned by one pipeline (``owner``), see the module doc."""

    path: Path
    owner: str
    force: bool = False
    files: dict = field(default_factory=dict)   # relative path -> sha256 (this owner's files)
    data: dict = field(default_factory=dict)    # the owner's own entries of the manifest

    def __post_init__(self):
        self.path = Path(self.path)

    # --- reading
    def manifest(self) -> Optional[dict]:
        """The folder's manifest (``None``: none, or not a valid one)."""
        try:
            m = json.loads(read_regular_file(self.path / MANIFEST, MAX_MANIFEST_BYTES, what="manifest"))
        except (InputError, ValueError, RecursionError):
            return None
        if not isinstance(m, dict) or not isinstance(m.get("owner"), str) or not isinstance(m.get("files"), dict):
            return None
        return m

    def _listing(self) -> list:
        try:
            return [p for p in self.path.iterdir() if not p.name.startswith(".kdlab-probe.")]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OutputError(f"cannot read the folder {self.path}: {exc.strerror or exc}") from None

    # --- the rule
    def open(self, need_bytes: int = RUN_FREE_BYTES) -> "OutputFolder":
        """Check the ownership rule and prepare the folder (before anything is computed);
        :class:`~kdlab.errors.OutputError` with a one-line message otherwise."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path} exists and is not a folder")
        if self.path.is_dir() and self._listing():
            m = self.manifest()
            if m is None:
                raise OutputError(f"{self.path} is not empty and is not a kdlab output folder (it has no valid "
                                  f"{MANIFEST}): choose a new or empty folder")
            if m["owner"] != self.owner:
                if not self.force:
                    raise OutputError(f"{self.path} holds the output of {_describe(m['owner'])}; use --force to "
                                      "replace it, or choose another folder")
                self._remove(m)
            else:
                self.files = {k: v for k, v in m["files"].items() if isinstance(k, str) and isinstance(v, str)}
                self.data = {k: v for k, v in m.items() if k not in ("owner", "files", "version")}
        ensure_dir(self.path, need_bytes)
        self.record([])  # the folder is this owner's from now on: an interrupted run resumes in it
        return self

    def _unlink(self, rel: str, whose: str) -> None:
        """Remove the regular file ``rel`` inside the folder (never a link, never outside)."""
        p = self.path / str(rel)
        try:
            if p.is_symlink() or not p.is_file() or self.path.resolve() not in p.resolve().parents:
                return
            p.unlink()
        except OSError as exc:
            raise OutputError(f"cannot remove {p} of {whose}: {exc.strerror or exc}") from None

    def _remove(self, m: dict) -> None:
        """Remove the files of the previous owner's manifest (regular files inside the folder only)."""
        for rel in m["files"]:
            self._unlink(rel, "the previous owner")
        with contextlib.suppress(OSError):
            (self.path / MANIFEST).unlink()
        self.files, self.data = {}, {}

    def clear(self) -> None:
        """Remove every file this owner recorded and its manifest entries (``--force`` with
        other parameters: nothing of the previous run is left beside the new one; the point
        cache is kept)."""
        self.forget(list(self.files))
        self.data = {}
        self.record([])

    def forget(self, rels: Iterable[str]) -> None:
        """Remove the files ``rels`` (relative paths) this owner recorded, and their entries
        (e.g. a table in a format this run does not write: never left stale beside the new one)."""
        for rel in rels:
            if rel in self.files:
                self._unlink(rel, "an earlier run")
                del self.files[rel]

    # --- writing
    def record(self, paths: Iterable, **data) -> Path:
        """Add ``paths`` (files this owner wrote) with their checksums, and ``data`` entries, to the
        manifest, and write it (atomically)."""
        from .. import __version__

        for p in paths:
            p = Path(p)
            try:
                rel = p.resolve().relative_to(self.path.resolve()).as_posix()
            except ValueError:
                continue
            digest = _sha256(p)
            if digest is not None:
                self.files[rel] = digest
        self.data.update(data)
        return write_json(self.path / MANIFEST, {"owner": self.owner, "version": __version__, **self.data,
                                                  "files": dict(sorted(self.files.items()))})

    def verified(self, rel: str) -> bool:
        """Is ``rel`` (a path relative to the folder) the file this owner wrote (checksum)?"""
        want = self.files.get(rel)
        return want is not None and _sha256(self.path / rel) == want


def _describe(owner: str) -> str:
    if owner.startswith("study:"):
        return f"the study {owner[len('study:'):]!r}"
    return {"talk": "kdlab reproduce / kdlab figure", "studies": "kdlab study all",
            "experiment:digits": "kdlab experiment digits"}.get(owner, repr(owner))
