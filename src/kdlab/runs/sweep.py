"""Sweeps: a grid over the problem's parameters -> one tidy table, cached and resumable.

A *point* is one full problem description (data, teacher, student) as a flat dict with the
fields of :data:`POINT_FIELDS` (:mod:`kdlab.runs.grid`); a *sweep* evaluates every point of a
grid with the theory backend, the simulation backend or both, and returns one
:class:`pandas.DataFrame` row per point and backend (every parameter, every observable, the
solver status), in grid order.

>>> from kdlab.runs.sweep import run_sweep
>>> df = run_sweep({"alpha": [0.5, 1, 2], "teacher_lam": [0.01, 0.1], "chi": [0, 0.5]},
...                backend="theory", store="my-sweep")            # doctest: +SKIP
>>> k3 = run_sweep({"classes": 3, "similarity": [0, 0.3, 0.6], "alpha": 2, "student": False},
...                backend="theory")                              # doctest: +SKIP

K classes: the K-class mixture's fields (``classes``, ``geometry``, ``similarity``, ``norm``,
``prior``, ``gram``; :data:`kdlab.runs.grid.MULTICLASS_FIELDS`) select it; its array
observables are one column per entry (``stage<k>_class_errors_<c>``, ``stage<k>_M_<i>_<j>``,
:meth:`kdlab.results.Result.to_record`). A TOML sweep file (a problem file with a ``[grid]``
table) is read by :func:`kdlab.runs.sweepfile.read_sweep_file`.

Store (``store=DIR``, :mod:`kdlab.runs.store`): every finished point is written at once to
``DIR/points/<key>.json`` (atomically), where ``key`` hashes the point, the backend, its
settings, the package version and the solvers' default settings. A rerun loads the valid
finished points instead of computing them; an invalid file is recomputed and replaced, with a
warning. A kill loses only the points in flight. Concurrent sweeps on one store claim a point
before computing it, so each point is computed once; a sweep waiting for another's points says
so on stderr and takes them over when their claim expires (a lease, see
:mod:`kdlab.runs.store`). ``save_table`` writes the consolidated
CSV / Parquet of one sweep (through :func:`kdlab.io.write_table`).

Parallelism (:mod:`kdlab.runs.executor`): joblib processes (``n_jobs``, all cores by
default), or a Dask cluster given ``scheduler="tcp://host:port"`` (or a ``distributed.Client``;
connecting to a scheduler means trusting it: it exchanges pickles). Theory points are
warm-started from their neighbour along the swept axis (``alpha`` by default, else ``lam`` /
``teacher_lam``): points that differ only along that axis form a chain solved in order, chains
run in parallel. A dead worker's points are retried once.

Before any simulation starts, the memory it needs (:mod:`kdlab.simulation.memory`, from the
largest point) is checked against what the machine has.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import OutputError, ResourceError, StoreError, SweepError
from ..io import TABLE_FORMATS, ensure_dir, write_table
from ..params import THEORY_OPTIONS, check_int, check_options
from .cached import run_cached
from .evaluate import BACKENDS, backend_settings, batch_key, evaluate_point, is_custom
from .executor import n_workers
from .grid import (
    DATA_FIELDS,
    MAX_POINTS,
    MULTICLASS_FIELDS,
    POINT_FIELDS,
    expand_grid,
    grid_size,
    make_problem,
    normalize_point,
    parse_grid_value,
)
from .store import (
    Task,
    code_fingerprint,
    load_store,
    point_key,
)

__all__ = [
    "POINT_FIELDS",
    "MAX_POINTS",
    "SweepError",
    "Sweep",
    "Task",
    "expand_grid",
    "grid_size",
    "normalize_point",
    "point_key",
    "run_sweep",
    "make_problem",
    "evaluate_point",
    "load_store",
    "save_table",
    "check_table_target",
    "save_table_or_fallback",
    "table_warnings",
    "parse_grid_value",
]

def _warm_axes(points) -> list:
    """Candidate warm-start axes: ``alpha``, then every ridge ``stage<k>_lam`` (last stage first)."""
    lams = sorted({k for p in points for k in p if k.startswith("stage") and k.endswith("_lam")}, reverse=True)
    return ["alpha", *lams]


def _alpha_max(point: Mapping[str, Any]) -> float:
    """Largest samples-per-dimension of a point (its own alpha, and any stage's alpha)."""
    vals = [v for k, v in point.items() if (k == "alpha" or k.endswith("_alpha"))
            and isinstance(v, (int, float)) and not isinstance(v, bool)]
    stages = point.get("stages")
    if isinstance(stages, (list, tuple)):
        vals += [s.get("alpha") for s in stages if isinstance(s, Mapping)
                 and isinstance(s.get("alpha"), (int, float))]
    return max(vals) if vals else 0.0


@dataclass
class Sweep:
    """A grid of points and how to evaluate them.

    ``grid``: ``{field: values}`` (cartesian product) or a list of such grids (concatenated),
    or ``points=[{...}, ...]`` explicitly; ``base`` fills fields the grid does not set.
    ``backend``: ``"theory"``, ``"simulate"``, ``"both"`` or ``"module:function"`` (a function
    with the signature of :func:`kdlab.theory.solve`). Simulation settings: ``n_features``,
    ``seeds`` (an int n means ``range(n)``), ``n_test``. ``theory_options`` go to
    :func:`kdlab.theory.solve`, ``optimize_options`` to :func:`kdlab.runs.tuning.optimal_lam`.
    ``warm_start``: ``"auto"`` (first of alpha, lam, teacher_lam that varies), a field name, or
    ``None``. Everything is validated here, before anything runs.
    """

    grid: Any = None
    base: Optional[Mapping[str, Any]] = None
    backend: str = "theory"
    n_features: int = 1000
    seeds: Any = 10
    n_test: Optional[int] = None
    theory_options: Optional[Mapping[str, Any]] = None
    optimize_options: Optional[Mapping[str, Any]] = None
    warm_start: Optional[str] = "auto"
    points: Optional[Sequence[Mapping[str, Any]]] = None
    tasks: list = field(init=False, repr=False)

    def __post_init__(self):
        if (self.grid is None) == (self.points is None):
            raise ValueError("give exactly one of grid or points")
        if self.points is not None and len(self.points) > MAX_POINTS:
            raise ValueError(f"the sweep has {len(self.points)} points, more than the limit of {MAX_POINTS}")
        pts = (expand_grid(self.grid, self.base) if self.grid is not None
               else expand_grid([{k: [v] for k, v in p.items()} for p in self.points], self.base))
        if not pts:
            raise ValueError("the sweep has no points")
        if not isinstance(self.backend, str):
            raise ValueError(f"backend must be a string, got {self.backend!r}")
        backends = {"both": ("theory", "simulate")}.get(self.backend, (self.backend,))
        for b in backends:
            if b not in BACKENDS and not is_custom(b):
                raise ValueError(f"backend must be 'theory', 'simulate', 'both' or 'module:function', "
                                 f"got {self.backend!r}")
        self.n_features = check_int("n_features", self.n_features, low=2)
        if isinstance(self.seeds, (int, np.integer, float)) and not isinstance(self.seeds, bool):
            seeds = list(range(check_int("seeds", self.seeds, low=1)))
        else:
            try:
                seeds = [check_int("seed", s, low=0) for s in self.seeds]
            except TypeError:
                raise ValueError(f"seeds must be a count or a list of integers, got {self.seeds!r}") from None
        if not seeds:
            raise ValueError("seeds must not be empty")
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        self.seeds = seeds
        if self.n_test is not None:
            self.n_test = check_int("n_test", self.n_test, low=0)
        for name in ("theory_options", "optimize_options"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, Mapping):
                raise ValueError(f"{name} must be a mapping, got {v!r}")
        if self.warm_start not in (None, "auto") and self.warm_start not in _warm_axes(pts):
            raise ValueError(f"warm_start must be None, 'auto' or one of {_warm_axes(pts)}")
        if self.backend in ("theory", "both"):
            check_options(THEORY_OPTIONS, dict(self.theory_options or {}), "theory")
        tasks, i = [], 0
        fps: dict = {}
        for b in backends:
            settings = backend_settings(b, self.n_features, self.seeds, self.n_test,
                                        self.theory_options, self.optimize_options)
            json.dumps(settings, default=_settings_default)  # settings must be JSON (the key)
            for p in pts:
                opt = p.get("optimize") is not None
                if (b, opt) not in fps:
                    fps[(b, opt)] = code_fingerprint(b, opt)
                fp = fps[(b, opt)]
                tasks.append(Task(p, b, settings, point_key(p, b, settings, fp), i, fp))
                i += 1
        self.tasks = tasks

    # -- warm-start chains
    def warm_axis(self) -> Optional[str]:
        if self.warm_start != "auto":
            return self.warm_start
        for ax in _warm_axes(t.point for t in self.tasks):
            if len({t.point.get(ax) for t in self.tasks}) > 1:
                return ax
        return None

    def chains(self, tasks: Sequence[Task]) -> list[list[Task]]:
        """Theory tasks grouped by everything but the warm-start axis, sorted along it;
        simulation tasks on the same data grouped together (they share each seed's draws and
        their common teacher fits, see :func:`kdlab.runs.evaluate.batch_key`; the executor
        splits a group that would hold up the others)."""
        ax = self.warm_axis()
        groups: dict[str, list[Task]] = {}
        out: list[list[Task]] = []
        batches: dict[str, list[Task]] = {}
        for t in tasks:
            if t.backend == "simulate":
                bk = batch_key(t.describe())
                if bk is None:
                    out.append([t])
                else:  # simulation points on the same data: one chain, each seed drawn once
                    batches.setdefault(bk, []).append(t)
                continue
            if ax is None or t.point.get(ax) is None:
                out.append([t])
                continue
            rest = {k: v for k, v in t.point.items() if k != ax}
            gk = json.dumps([rest, t.settings], sort_keys=True, default=_settings_default)
            groups.setdefault(gk, []).append(t)
        for g in groups.values():
            out.append(sorted(g, key=lambda t: t.point[ax]))
        out.extend(batches.values())
        return out

    # -- resources
    def memory_estimate(self, tasks: Optional[Sequence[Task]] = None, n_jobs: Optional[int] = None) -> int:
        """Bytes the simulation tasks need at once: the largest point (its alpha, or a stage's)
        times the worker processes that run simulations (0 without simulation tasks)."""
        from ..simulation.memory import estimate_bytes

        sims = [t for t in (self.tasks if tasks is None else tasks) if t.backend == "simulate"]
        if not sims:
            return 0
        n = self.n_features
        m = max(math.ceil(_alpha_max(t.point) * n) for t in sims)
        samples = max(m, self.n_test or 0)
        workers = 1 if n_jobs == 1 or len(sims) <= 2 else min(n_workers(n_jobs), len(sims))
        return estimate_bytes(samples, n, workers)

    def check_resources(self, tasks: Optional[Sequence[Task]] = None, n_jobs: Optional[int] = None) -> None:
        """:class:`~kdlab.errors.ResourceError` if the simulations would need more memory than
        the machine has available."""
        from ..simulation.memory import check_memory

        est = self.memory_estimate(tasks, n_jobs)
        if est:
            sims = [t for t in (self.tasks if tasks is None else tasks) if t.backend == "simulate"]
            amax = max(_alpha_max(t.point) for t in sims)
            check_memory(est, f"the simulation of this sweep (N = {self.n_features}, alpha up to {amax:g}, "
                              f"{min(len(sims), 1 if n_jobs == 1 else n_workers(n_jobs))} worker(s))")

    # -- run
    def run(self, store=None, *, n_jobs: Optional[int] = None, scheduler=None, progress: bool = True,
            errors: str = "raise") -> pd.DataFrame:
        """Evaluate every point not already in ``store``; return the sweep's table (grid order).

        ``n_jobs``: joblib processes (``None`` or -1: all cores; 1: in this process).
        ``scheduler``: a Dask scheduler address or ``distributed.Client`` (overrides n_jobs).
        ``errors``: ``"raise"`` (SweepError after storing the successes), ``"warn"``, ``"ignore"``.
        Raises :class:`~kdlab.errors.StoreError` if the store cannot be written and
        :class:`~kdlab.errors.ResourceError` if the simulations would not fit in memory, both
        before anything is computed.
        """
        return run_sweeps([self], store, n_jobs=n_jobs, scheduler=scheduler, progress=progress, errors=errors)[0]

    def _table(self, records: Mapping[str, dict]) -> pd.DataFrame:
        rows = [records[t.key] for t in self.tasks if t.key in records]
        df = pd.DataFrame.from_records(rows)
        if not df.empty:
            front = [c for c in ("backend", *dict.fromkeys((*DATA_FIELDS, *MULTICLASS_FIELDS)), *POINT_FIELDS,
                                 "n_features", "n_seeds") if c in df.columns]
            front = list(dict.fromkeys(front))
            df = df[front + [c for c in df.columns if c not in front]]
        return df


def run_sweeps(sweeps: Sequence[Sweep], store=None, *, n_jobs: Optional[int] = None, scheduler=None,
               progress: bool = True, errors: str = "raise") -> list[pd.DataFrame]:
    """Evaluate several sweeps as one (one progress bar, one pool of workers; simulation points
    of different sweeps on the same data share each seed's draws and their common teacher fits,
    see :func:`kdlab.runs.evaluate.batch_key`) and return each sweep's table, as
    :meth:`Sweep.run` of it alone would. The sweeps must agree on their backend and
    simulation settings; ``errors`` as in :meth:`Sweep.run` (a failure names its sweep's points)."""
    if errors not in ("raise", "warn", "ignore"):
        raise ValueError("errors must be 'raise', 'warn' or 'ignore'")
    if not sweeps:
        return []
    first = sweeps[0]
    for sw in sweeps[1:]:
        if (sw.backend, sw.n_features, sw.seeds, sw.n_test) != (first.backend, first.n_features, first.seeds,
                                                                 first.n_test):
            raise ValueError("run_sweeps: the sweeps must have the same backend and simulation settings")
    if scheduler is None:
        n_workers(n_jobs)  # validates
    tasks, seen = [], set()
    for sw in sweeps:
        for t in sw.tasks:
            if t.key not in seen:
                seen.add(t.key)
                tasks.append(t)

    def before(todo):
        if scheduler is None:
            first.check_resources(todo, n_jobs)

    def chains(todo):
        return [c for sw in _split_by_warm_axis(sweeps, todo) for c in sw]

    b = first.backend
    desc = f"sweep[{b}]" + (f" N={first.n_features} x {len(first.seeds)} seeds" if b in ("simulate", "both") else "")
    out = run_cached(tasks, store=store, chains=chains if len(sweeps) > 1 else first.chains, n_jobs=n_jobs,
                     scheduler=scheduler, progress=progress, desc=desc, before_compute=before, unit="pt")
    if out.store_error:
        warnings.warn(f"{out.store_error}; {out.unstored} computed point(s) are in the "
                      "returned table only", RuntimeWarning, stacklevel=3)
    tables = []
    failed = dict(out.failures)
    for sw in sweeps:
        table = sw._table(out.values)
        fl = [(t.point, t.backend, failed[t.key]) for t in sw.tasks if t.key in failed]
        if fl:
            msg = (f"{len(fl)} of {len(sw.tasks)} sweep points failed; first: "
                   f"{fl[0][1]} {fl[0][0]}: {fl[0][2]}")
            if errors == "raise":
                raise SweepError(msg, fl, table)
            if errors == "warn":
                warnings.warn(msg, RuntimeWarning, stacklevel=3)
        tables.append(table)
    return tables


def _split_by_warm_axis(sweeps: Sequence[Sweep], todo: Sequence[Task]) -> list[list[list[Task]]]:
    """The chains of several sweeps run as one: each sweep's theory chains along its own warm
    axis; the simulation points of all of them grouped by :func:`batch_key` across sweeps."""
    owner: dict = {}
    for i, sw in enumerate(sweeps):
        for t in sw.tasks:
            owner.setdefault(t.key, i)
    theory = [[t for t in todo if owner[t.key] == i and t.backend != "simulate"] for i in range(len(sweeps))]
    sims = [t for t in todo if t.backend == "simulate"]
    out = [sw.chains(ts) for sw, ts in zip(sweeps, theory) if ts]
    if sims:
        out.append(sweeps[0].chains(sims))
    return out


def _settings_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (range, tuple, set)):
        return list(o)
    raise ValueError(f"sweep settings must be JSON values (numbers, strings, lists), got {o!r}")


def run_sweep(grid=None, *, store=None, n_jobs=None, scheduler=None, progress: bool = True,
              errors: str = "raise", **kwargs) -> pd.DataFrame:
    """Build a :class:`Sweep` from ``grid`` (or ``points=...``) and ``kwargs`` and run it."""
    return Sweep(grid, **kwargs).run(store, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
                                     errors=errors)


# ----------------------------------------------------------------------------- tables


def _table_targets(path, formats) -> list[Path]:
    path = Path(path)
    if path.is_dir():  # not DIR.csv beside it: say so
        raise OutputError(f"{path} is a folder; give the table's file name, e.g. {path / 'sweep.csv'}")
    if path.suffix in (".csv", ".parquet", ".json"):
        formats, path = (path.suffix[1:],), path.with_suffix("")
    return [path.with_name(path.name + "." + f) for f in formats]


def save_table(df: pd.DataFrame, path, formats: Sequence[str] = TABLE_FORMATS) -> list[Path]:
    """Write ``df`` as ``path.csv`` / ``path.parquet`` (:func:`kdlab.io.write_table`: atomic,
    symlink-safe); returns the paths. :class:`~kdlab.errors.OutputError` on failure."""
    return write_table(df, path, formats)


def check_table_target(path, formats: Sequence[str] = TABLE_FORMATS) -> list[Path]:
    """Check, before computing, that the table files can be written (their folder exists or
    can be created, is writable, and no target is a folder); :class:`OutputError` otherwise."""
    targets = _table_targets(path, formats)
    for t in targets:
        if t.is_dir():
            raise OutputError(f"{t} is a folder, not a file")
    folder = ensure_dir(targets[0].parent if str(targets[0].parent) else Path("."))
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write in the folder {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)
    return targets


def save_table_or_fallback(df: pd.DataFrame, path, formats: Sequence[str] = TABLE_FORMATS,
                           fallback=None) -> tuple[list[Path], Optional[str]]:
    """:func:`save_table`, and if that fails, the same table in ``fallback`` (a folder, e.g. the
    store) or a new temporary folder. Returns ``(paths, error)``: ``error`` is ``None`` on
    success, else the one-line reason the table is not at ``path``."""
    try:
        return save_table(df, path, formats), None
    except OutputError as exc:
        error = f"cannot write the table {path}: {exc}"
    name = Path(path).name
    for folder in ([fallback] if fallback is not None else []) + [None]:
        try:
            where = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="kdlab-table-"))
            return save_table(df, where / name, formats), error
        except (OutputError, OSError):
            continue
    raise OutputError(f"{error}; the table could not be written anywhere else either")


def table_warnings(df: pd.DataFrame) -> list[tuple[str, str]]:
    """Problems a sweep's table shows: ``[(kind, message)]`` with kind ``"nonconverged"`` (rows
    with ``status_converged`` False, theory and simulation counted apart) or ``"at_bound"``
    (optimized points whose ridge ended at the edge of its search interval)."""
    out: list[tuple[str, str]] = []
    if df is None or df.empty:
        return out
    if "status_converged" in df.columns:
        conv = df["status_converged"].astype("boolean").fillna(False)
        sim = df["backend"].astype(str).eq("simulate") if "backend" in df.columns else pd.Series(False, index=df.index)
        for label, mask in (("theory", ~sim), ("simulation", sim)):
            n, bad = int(mask.sum()), int((mask & ~conv).sum())
            if bad:
                out.append(("nonconverged", f"{bad} of {n} {label} points did not converge "
                                            "(status_converged is false in their rows)"))
    if "optimize_at_bound" in df.columns:
        opt = df["optimize"].astype(str).ne("none") if "optimize" in df.columns else pd.Series(True, index=df.index)
        n, bad = int(opt.sum()), int((opt & df["optimize_at_bound"].astype("boolean").fillna(False)).sum())
        if bad:
            out.append(("at_bound", f"{bad} of {n} optimized points ended at the edge of their search "
                                    "interval (optimize_at_bound): the optimal ridge may lie beyond it; "
                                    "widen the search bounds (optimize_options={'bounds': ...})"))
    return out


# re-exported for callers of the former single module
__all__ += ["ResourceError", "StoreError"]
