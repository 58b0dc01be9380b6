"""Sweeps: a grid over the problem's parameters -> one tidy table, cached and resumable.

A *point* is one full problem description (data, teacher, student) as a flat dict with the
fields of :data:`POINT_FIELDS`; a *sweep* evaluates every point of a grid with the theory
backend, the simulation backend or both, and returns one :class:`pandas.DataFrame` row per
point and backend (every parameter, every observable, the solver status), in grid order.

>>> from kdlab.runs.sweep import run_sweep
>>> df = run_sweep({"alpha": [0.5, 1, 2], "teacher_lam": [0.01, 0.1], "chi": [0, 0.5]},
...                backend="theory", store="my-sweep")            # doctest: +SKIP

Store (``store=DIR``): every finished point is written at once to ``DIR/points/<key>.json``
by write-to-temporary-then-``os.replace`` (atomic on POSIX), where ``key`` hashes the
point's full parameter set, the backend and its settings (``n_features``, ``seeds``,
``n_test``, theory options). A rerun loads finished points instead of computing them; a kill
at any moment loses only the points in flight and never leaves a partial file behind (a
stray ``*.tmp`` is ignored). One store can be shared by many sweeps; ``save_table`` writes
the consolidated CSV / Parquet of one sweep.

Parallelism: joblib processes (``n_jobs``, all cores by default), or a Dask cluster given
``scheduler="tcp://host:port"`` (or a ``distributed.Client``), through ``client.submit`` and
``as_completed``. Theory points are warm-started from their neighbour along the swept axis
(``alpha`` by default, else ``lam`` / ``teacher_lam``): points that differ only along that axis
form a chain solved in order, chains run in parallel.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import SweepError
from ..values import parse_values
from ..problem import GaussianMixture, Student, teacher_from_name

__all__ = [
    "POINT_FIELDS",
    "DEFAULTS",
    "SweepError",
    "Sweep",
    "Task",
    "expand_grid",
    "normalize_point",
    "point_key",
    "run_sweep",
    "make_problem",
    "evaluate_point",
    "load_store",
    "save_table",
    "parse_grid_value",
]

#: Parameters of one point (``student=False``: teacher only; ``optimize``: None, ``"lam"`` or
#: ``"teacher_lam"``, the ridge chosen by the theory backend to minimize eps_g at the point).
POINT_FIELDS = ("alpha", "delta", "rho", "teacher", "teacher_lam", "student", "eta", "chi",
                "temperature", "lam", "t2_scaling", "optimize")

#: Values used for the fields a grid does not mention.
DEFAULTS: dict[str, Any] = {
    "delta": 1.0, "rho": 0.5, "teacher": "logistic", "teacher_lam": 0.1, "student": True,
    "eta": 0.5, "chi": 0.5, "temperature": 1.0, "lam": 0.1, "t2_scaling": False,
    "optimize": None,
}

BACKENDS = ("theory", "simulate")
_STUDENT_FIELDS = ("eta", "chi", "temperature", "lam", "t2_scaling")
_WARM_AXES = ("alpha", "lam", "teacher_lam")
_STORE_VERSION = 2


# ----------------------------------------------------------------------------- points


def _canon_teacher(name: str) -> str:
    return teacher_from_name(str(name), 0.1).kind


def normalize_point(point: Mapping[str, Any], base: Optional[Mapping[str, Any]] = None) -> dict:
    """Complete ``point`` with ``base`` then :data:`DEFAULTS`, validate it and canonicalize it.

    Fields that do not matter are set to ``None`` (so that they do not split the cache): the
    Bayes-optimal teacher's ``teacher_lam``, the student's fields when ``student=False``, and the
    optimized ridge when ``optimize`` is set. Raises ``ValueError`` on unknown or invalid fields.
    """
    merged = dict(DEFAULTS)
    for src in (base or {}), point:
        unknown = set(src) - set(POINT_FIELDS)
        if unknown:
            raise ValueError(f"unknown sweep parameter(s) {sorted(unknown)}; "
                             f"known: {', '.join(POINT_FIELDS)}")
        merged.update(src)
    if "alpha" not in merged or merged["alpha"] is None:
        raise ValueError("every sweep point needs 'alpha'")
    p: dict[str, Any] = {}
    data = GaussianMixture(alpha=_num(merged["alpha"]), delta=_num(merged["delta"]), rho=_num(merged["rho"]))
    p.update(alpha=data.alpha, delta=data.delta, rho=data.rho)
    p["teacher"] = _canon_teacher(merged["teacher"])
    p["teacher_lam"] = None if p["teacher"] == "bayes-optimal" else float(_num(merged["teacher_lam"]))
    p["student"] = _bool(merged["student"], "student")
    if p["student"]:
        st = Student(eta=_num(merged["eta"]), chi=_num(merged["chi"]),
                     temperature=_num(merged["temperature"]), lam=_num(merged["lam"]),
                     t2_scaling=_bool(merged["t2_scaling"], "t2_scaling"))
        p.update(eta=st.eta, chi=st.chi, temperature=st.temperature, lam=st.lam, t2_scaling=st.t2_scaling)
    else:
        p.update({k: None for k in _STUDENT_FIELDS})
    opt = merged["optimize"]
    if opt in ("", "none", "None"):
        opt = None
    if opt is not None:
        if opt not in ("lam", "teacher_lam"):
            raise ValueError(f"optimize must be None, 'lam' or 'teacher_lam', got {opt!r}")
        if opt == "lam" and not p["student"]:
            opt = "teacher_lam"  # teacher-only point: its ridge is the teacher's
        if opt == "teacher_lam" and p["teacher"] != "logistic":
            raise ValueError("optimize='teacher_lam' needs the logistic teacher")
        if opt == "teacher_lam" and p["student"]:
            raise ValueError("optimize='teacher_lam' is for teacher-only points (student=False)")
        p[opt] = None
    p["optimize"] = opt
    return {k: p[k] for k in POINT_FIELDS}


def _num(x):
    if isinstance(x, str):
        return float(x)
    if isinstance(x, np.generic):
        return x.item()
    return x


def _bool(x, name):
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, str) and x.lower() in ("true", "1", "yes", "false", "0", "no"):
        return x.lower() in ("true", "1", "yes")
    if isinstance(x, (int, np.integer)) and x in (0, 1):
        return bool(x)
    raise ValueError(f"{name} must be true or false, got {x!r}")


def expand_grid(grid: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]],
                base: Optional[Mapping[str, Any]] = None) -> list[dict]:
    """Cartesian product of a grid ``{field: value or list of values}`` (or the concatenation
    of a list of such grids), normalized; duplicate points are kept once, in first order."""
    grids = [grid] if isinstance(grid, Mapping) else list(grid)
    out, seen = [], set()
    for g in grids:
        names = list(g)
        lists = [_as_list(g[n]) for n in names]
        for combo in itertools.product(*lists):
            p = normalize_point(dict(zip(names, combo)), base)
            k = json.dumps(p, sort_keys=True)
            if k not in seen:
                seen.add(k)
                out.append(p)
    return out


def _as_list(v) -> list:
    if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
        return [v]
    v = list(v)
    if not v:
        raise ValueError("a grid axis has no values")
    return v


def parse_grid_value(spec: str) -> list:
    """Parse one CLI axis (:func:`kdlab.values.parse_values`): ``"0.5:5:10"``, ``"1e-3:10:5:log"``,
    ``"log:1e-3:10:5"`` or a list ``"0,0.5,1"`` / ``"logistic,bayes-optimal"``."""
    return parse_values(spec, numeric=False)


def make_problem(point: Mapping[str, Any]):
    """``(data, teacher, student)`` of a normalized point (student ``None`` if teacher only)."""
    data = GaussianMixture(alpha=point["alpha"], delta=point["delta"], rho=point["rho"])
    tlam = point["teacher_lam"]
    teacher = teacher_from_name(point["teacher"], 0.1 if tlam is None else tlam)
    student = None
    if point["student"]:
        lam = point["lam"]
        student = Student(eta=point["eta"], chi=point["chi"], temperature=point["temperature"],
                          lam=0.1 if lam is None else lam, t2_scaling=point["t2_scaling"])
    return data, teacher, student


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """One point evaluated by one backend with its settings; ``key`` names it in the store."""

    point: dict
    backend: str
    settings: dict
    key: str
    index: int = 0  # position in the sweep's table

    def describe(self) -> dict:
        return {"point": self.point, "backend": self.backend, "settings": self.settings}


def point_key(point: Mapping[str, Any], backend: str, settings: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of (point, backend, settings, store version)."""
    blob = json.dumps({"v": _STORE_VERSION, "point": dict(point), "backend": backend,
                       "settings": dict(settings)}, sort_keys=True, default=_json_default)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (range, tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {o!r}")


def _backend_settings(backend: str, n_features, seeds, n_test, theory_options, optimize_options) -> dict:
    if backend == "simulate":
        s = {"n_features": int(n_features), "seeds": [int(x) for x in seeds],
             "n_test": None if n_test is None else int(n_test)}
    elif backend == "theory" or _is_custom(backend):
        s = {"options": dict(theory_options or {})}
    else:
        raise ValueError(f"backend must be 'theory', 'simulate', 'both' or 'module:function', got {backend!r}")
    if optimize_options:
        s["optimize_options"] = dict(optimize_options)
    return s


# ----------------------------------------------------------------------------- evaluation


def _clean(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return v  # json writes NaN / Infinity, Python reads them back
    return v


def evaluate_point(point: Mapping[str, Any], backend: str, settings: Mapping[str, Any],
                   init=None, *, key: str = ""):
    """Evaluate one point; returns ``(record, result)``: the flat table row and the
    :class:`~kdlab.results.Result` (used to warm-start the next theory point)."""
    data, teacher, student = make_problem(point)
    opt = point.get("optimize")
    extra: dict[str, Any] = {}
    t0 = time.perf_counter()
    if opt is not None:
        from .tuning import optimal_lam

        oo = dict(settings.get("optimize_options") or {})
        which = "teacher" if opt == "teacher_lam" else "student"
        theory_opts = dict(settings.get("options") or {}) if backend != "simulate" else {}
        if _is_custom(backend):
            oo["solve"] = _load_custom(backend)
        best = optimal_lam(data, teacher, student, which=which,
                           init=init if backend != "simulate" else None, **oo, **theory_opts)
        extra.update(optimize=opt, optimize_evals=best.n_evals, optimize_at_bound=best.at_bound)
        if which == "teacher":
            teacher = teacher.replace(lam=best.value)
        else:
            student = student.replace(lam=best.value)
        if backend != "simulate":
            result = best.result
        else:
            result = _run_backend(backend, settings, data, teacher, student, None)
    else:
        result = _run_backend(backend, settings, data, teacher, student, init)
    rec = {k: _clean(v) for k, v in result.to_record().items()}
    rec["student_present"] = bool(point["student"])
    # the same columns for every row (no NaN from optimized / plain points mixing)
    rec["optimize"] = "none" if opt is None else opt
    rec["optimize_evals"] = int(extra.get("optimize_evals", 0))
    rec["optimize_at_bound"] = bool(extra.get("optimize_at_bound", False))
    rec["elapsed_s"] = time.perf_counter() - t0
    rec["key"] = key
    return rec, result


def _is_custom(backend) -> bool:
    return isinstance(backend, str) and ":" in backend


def _load_custom(backend: str) -> Callable:
    import importlib

    mod, _, name = backend.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import the backend {backend!r}: {exc}") from exc
    return fn


def _run_backend(backend, settings, data, teacher, student, init):
    if backend == "theory" or _is_custom(backend):
        if backend == "theory":
            from .. import theory

            fn = theory.solve
        else:
            fn = _load_custom(backend)
        from .tuning import solve_robust

        opts = dict(settings.get("options") or {})
        if init is not None:
            opts["init"] = init
        return solve_robust(fn, data, teacher, student, **opts)
    if backend == "simulate":
        from ..simulation import simulate

        kw = {}
        if settings.get("n_test") is not None:
            kw["n_test"] = settings["n_test"]
        return simulate(data, teacher, student, n_features=settings["n_features"],
                        seeds=list(settings["seeds"]), n_jobs=1, progress=False, **kw)
    raise ValueError(f"unknown backend {backend!r}")


# ----------------------------------------------------------------------------- store


def _points_dir(store) -> Path:
    return Path(store) / "points"


def _write_point(store, task_desc: dict, record: dict) -> None:
    """Atomically write one finished point: temporary file in the same folder, fsync, rename."""
    d = _points_dir(store)
    d.mkdir(parents=True, exist_ok=True)
    key = record["key"]
    payload = {"version": _STORE_VERSION, "key": key, **task_desc, "record": record}
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, default=_json_default)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, d / f"{key}.json")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_point(path: Path) -> Optional[dict]:
    try:
        with open(path) as fh:
            payload = json.load(fh)
        return payload["record"]
    except (OSError, ValueError, KeyError):
        return None  # unreadable: recompute (cannot happen with atomic writes, but be safe)


def load_store(store) -> pd.DataFrame:
    """Every point in a store, one row each (any sweep that wrote there)."""
    d = _points_dir(store)
    recs = [r for p in sorted(d.glob("*.json")) if (r := _read_point(p)) is not None] if d.exists() else []
    return pd.DataFrame.from_records(recs)


def save_table(df: pd.DataFrame, path, formats: Sequence[str] = ("csv", "parquet")) -> list[Path]:
    """Write ``df`` as ``path.csv`` / ``path.parquet`` (write-then-rename); returns the paths."""
    path = Path(path)
    if path.suffix in (".csv", ".parquet"):
        formats, path = (path.suffix[1:],), path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        target = path.with_name(path.name + "." + fmt)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            raise ValueError(f"unknown table format {fmt!r} (csv or parquet)")
        os.replace(tmp, target)
        out.append(target)
    return out


# ----------------------------------------------------------------------------- workers


def _run_chain(tasks: list[dict], store, limit_threads: bool) -> list[dict]:
    """Worker: evaluate a chain of tasks in order (warm starts), writing each to the store.

    Returns one ``{"key", "record"}`` or ``{"key", "error"}`` per task."""
    ctx = contextlib.nullcontext()
    if limit_threads:
        from threadpoolctl import threadpool_limits

        ctx = threadpool_limits(1)
    out, prev = [], None
    with ctx:
        for t in tasks:
            try:
                rec, res = evaluate_point(t["point"], t["backend"], t["settings"], init=prev, key=t["key"])
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                out.append({"key": t["key"], "error": f"{type(exc).__name__}: {exc}"})
                prev = None
                continue
            prev = res if t["backend"] != "simulate" else None
            if store is not None:
                with contextlib.suppress(OSError):  # remote worker without the store: client writes
                    _write_point(store, {k: t[k] for k in ("point", "backend", "settings")}, rec)
            out.append({"key": t["key"], "record": rec})
    return out


def _dask_eval(task: dict, prev, store):
    """Dask task: one point, warm-started from the previous point's output ``prev``."""
    init = None
    if isinstance(prev, dict) and "result" in prev:
        init = prev["result"]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        try:
            rec, res = evaluate_point(task["point"], task["backend"], task["settings"], init=init,
                                      key=task["key"])
        except Exception as exc:  # noqa: BLE001
            return {"key": task["key"], "error": f"{type(exc).__name__}: {exc}"}
    if store is not None:
        with contextlib.suppress(OSError):
            _write_point(store, {k: task[k] for k in ("point", "backend", "settings")}, rec)
    return {"key": task["key"], "record": rec,
            "result": res if task["backend"] != "simulate" else None}


# ----------------------------------------------------------------------------- sweep


@dataclass
class Sweep:
    """A grid of points and how to evaluate them.

    ``grid``: ``{field: values}`` (cartesian product) or a list of such grids (concatenated),
    or ``points=[{...}, ...]`` explicitly; ``base`` fills fields the grid does not set.
    ``backend``: ``"theory"``, ``"simulate"`` or ``"both"``. Simulation settings: ``n_features``,
    ``seeds`` (an int n means ``range(n)``), ``n_test``. ``theory_options`` go to
    :func:`kdlab.theory.solve`, ``optimize_options`` to :func:`kdlab.runs.tuning.optimal_lam`.
    ``warm_start``: ``"auto"`` (first of alpha, lam, teacher_lam that varies), a field name, or
    ``None``.
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
        pts = (expand_grid(self.grid, self.base) if self.grid is not None
               else expand_grid([{k: [v] for k, v in p.items()} for p in self.points], self.base))
        if not pts:
            raise ValueError("the sweep has no points")
        backends = {"both": ("theory", "simulate")}.get(self.backend, (self.backend,))
        for b in backends:
            if b not in BACKENDS and not _is_custom(b):
                raise ValueError(f"backend must be 'theory', 'simulate', 'both' or 'module:function', "
                                 f"got {self.backend!r}")
        seeds = range(int(self.seeds)) if isinstance(self.seeds, (int, np.integer)) else list(self.seeds)
        if len(seeds) < 1:
            raise ValueError("seeds must not be empty")
        if int(self.n_features) < 2:
            raise ValueError(f"n_features must be >= 2, got {self.n_features}")
        self.seeds = [int(s) for s in seeds]
        if self.warm_start not in (None, "auto") and self.warm_start not in _WARM_AXES:
            raise ValueError(f"warm_start must be None, 'auto' or one of {_WARM_AXES}")
        tasks, i = [], 0
        for b in backends:
            settings = _backend_settings(b, self.n_features, self.seeds, self.n_test,
                                         self.theory_options, self.optimize_options)
            for p in pts:
                tasks.append(Task(p, b, settings, point_key(p, b, settings), i))
                i += 1
        self.tasks = tasks

    # -- warm-start chains
    def warm_axis(self) -> Optional[str]:
        if self.warm_start != "auto":
            return self.warm_start
        for ax in _WARM_AXES:
            if len({t.point[ax] for t in self.tasks}) > 1:
                return ax
        return None

    def chains(self, tasks: Sequence[Task]) -> list[list[Task]]:
        """Theory tasks grouped by everything but the warm-start axis, sorted along it;
        every simulation task is its own chain."""
        ax = self.warm_axis()
        groups: dict[str, list[Task]] = {}
        out: list[list[Task]] = []
        for t in tasks:
            if t.backend == "simulate" or ax is None or t.point[ax] is None:
                out.append([t])
                continue
            rest = {k: v for k, v in t.point.items() if k != ax}
            gk = json.dumps([rest, t.settings], sort_keys=True, default=_json_default)
            groups.setdefault(gk, []).append(t)
        for g in groups.values():
            out.append(sorted(g, key=lambda t: t.point[ax]))
        return out

    # -- run
    def run(self, store=None, *, n_jobs: Optional[int] = None, scheduler=None, progress: bool = True,
            errors: str = "raise") -> pd.DataFrame:
        """Evaluate every point not already in ``store``; return the sweep's table (grid order).

        ``n_jobs``: joblib processes (``None`` or -1: all cores; 1: in this process).
        ``scheduler``: a Dask scheduler address or ``distributed.Client`` (overrides n_jobs).
        ``errors``: ``"raise"`` (SweepError after storing the successes), ``"warn"``, ``"ignore"``.
        """
        if errors not in ("raise", "warn", "ignore"):
            raise ValueError("errors must be 'raise', 'warn' or 'ignore'")
        records: dict[str, dict] = {}
        if store is not None:
            d = _points_dir(store)
            d.mkdir(parents=True, exist_ok=True)
            have = {p.stem for p in d.glob("*.json")}
            for t in self.tasks:
                if t.key in have and t.key not in records:
                    r = _read_point(d / f"{t.key}.json")
                    if r is not None:
                        records[t.key] = r
        todo, seen = [], set()
        for t in self.tasks:
            if t.key not in records and t.key not in seen:
                seen.add(t.key)
                todo.append(t)
        failures: list = []
        bar = _progress_bar(len(self.tasks), len(self.tasks) - len(todo), progress, self)
        try:
            if todo:
                chains = self.chains(todo)
                if scheduler is not None:
                    self._run_dask(chains, store, scheduler, records, failures, bar)
                else:
                    self._run_joblib(chains, store, n_jobs, records, failures, bar)
        finally:
            bar.close()
        table = self._table(records)
        if failures:
            by_key = {t.key: t for t in self.tasks}
            fl = [(by_key[k].point, by_key[k].backend, msg) for k, msg in failures]
            msg = (f"{len(fl)} of {len(self.tasks)} sweep points failed; first: "
                   f"{fl[0][1]} {fl[0][0]}: {fl[0][2]}")
            if errors == "raise":
                raise SweepError(msg, fl, table)
            if errors == "warn":
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return table

    def _table(self, records: Mapping[str, dict]) -> pd.DataFrame:
        rows = [records[t.key] for t in self.tasks if t.key in records]
        df = pd.DataFrame.from_records(rows)
        if not df.empty:
            front = [c for c in ("backend", "alpha", "delta", "rho", "teacher", "teacher_lam", "eta",
                                 "chi", "temperature", "lam", "t2_scaling", "optimize",
                                 "n_features", "n_seeds") if c in df.columns]
            df = df[front + [c for c in df.columns if c not in front]]
        return df

    def _accept(self, out: dict, store, records, failures, bar):
        if "error" in out:
            failures.append((out["key"], out["error"]))
        else:
            rec = out["record"]
            if store is not None and not (_points_dir(store) / f"{rec['key']}.json").exists():
                t = next(t for t in self.tasks if t.key == rec["key"])
                _write_point(store, t.describe(), rec)
            records[rec["key"]] = rec
        bar.update(1)

    def _run_joblib(self, chains, store, n_jobs, records, failures, bar):
        n_workers = _n_workers(n_jobs)
        if sum(len(c) for c in chains) <= 2:
            n_workers = 1  # not worth starting worker processes
        if n_workers == 1:
            for chain in chains:
                for out in _run_chain_iter([_task_dict(t) for t in chain], store):
                    self._accept(out, store, records, failures, bar)
            return
        from joblib import Parallel, delayed

        # Enough chains to keep every worker busy: split long chains (each piece starts cold).
        chains = _split_chains(chains, 2 * n_workers)
        par = Parallel(n_jobs=n_workers, return_as="generator_unordered", backend="loky")
        jobs = (delayed(_run_chain)([_task_dict(t) for t in c], None if store is None else str(store), True)
                for c in chains)
        for outs in par(jobs):
            for out in outs:
                self._accept(out, store, records, failures, bar)

    def _run_dask(self, chains, store, scheduler, records, failures, bar):
        from distributed import Client, as_completed

        own = not isinstance(scheduler, Client)
        client = Client(scheduler) if own else scheduler
        try:
            futures = []
            sdir = None if store is None else str(Path(store).resolve())
            for chain in chains:
                prev = None
                for t in chain:
                    prev = client.submit(_dask_eval, _task_dict(t), prev, sdir, pure=False,
                                         key=f"kdlab-{t.key}-{os.getpid()}-{time.time_ns()}")
                    futures.append(prev)
            for fut in as_completed(futures):
                try:
                    out = fut.result()
                except Exception as exc:  # noqa: BLE001 - worker died etc.
                    out = {"key": fut.key.split("-")[1], "error": f"{type(exc).__name__}: {exc}"}
                self._accept(out, store, records, failures, bar)
                fut.release()
        finally:
            if own:
                client.close()


def _task_dict(t: Task) -> dict:
    return {"point": t.point, "backend": t.backend, "settings": t.settings, "key": t.key}


def _run_chain_iter(tasks, store):
    """In-process version of :func:`_run_chain`, yielding per point (progress, store)."""
    prev = None
    for t in tasks:
        try:
            rec, res = evaluate_point(t["point"], t["backend"], t["settings"], init=prev, key=t["key"])
        except Exception as exc:  # noqa: BLE001
            prev = None
            yield {"key": t["key"], "error": f"{type(exc).__name__}: {exc}"}
            continue
        prev = res if t["backend"] != "simulate" else None
        yield {"key": t["key"], "record": rec}


def _n_workers(n_jobs) -> int:
    if n_jobs is None or n_jobs == -1:
        return max(1, os.cpu_count() or 1)
    n = int(n_jobs)
    if n < -1 or n == 0:
        raise ValueError(f"n_jobs must be >= 1 or -1 (all cores), got {n_jobs}")
    return n


def _split_chains(chains, target: int, min_len: int = 3):
    chains = [list(c) for c in chains]
    while len(chains) < target:
        chains.sort(key=len, reverse=True)
        if len(chains[0]) < 2 * min_len:
            break
        c = chains.pop(0)
        h = len(c) // 2
        chains += [c[:h], c[h:]]
    return chains


def _progress_bar(total, done, enabled, sweep):
    from tqdm.auto import tqdm

    b = sweep.backend
    desc = f"sweep[{b}]"
    if b in ("simulate", "both"):
        desc += f" N={sweep.n_features} x {len(sweep.seeds)} seeds"
    return tqdm(total=total, initial=done, disable=not enabled, unit="pt", desc=desc, leave=False,
                dynamic_ncols=True)


def run_sweep(grid=None, *, store=None, n_jobs=None, scheduler=None, progress: bool = True,
              errors: str = "raise", **kwargs) -> pd.DataFrame:
    """Build a :class:`Sweep` from ``grid`` (or ``points=...``) and ``kwargs`` and run it."""
    return Sweep(grid, **kwargs).run(store, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
                                     errors=errors)


def toy_backend(data, teacher, student=None, *, init=None, sleep: float = 0.0, **_):
    """A cheap deterministic stand-in with the backends' signature (``backend="kdlab.runs.sweep:toy_backend"``).

    Used by the tests of the sweep machinery (store, kill/resume, Dask) and handy for trying
    a grid spec; the numbers are a smooth made-up function of the parameters, not physics.
    """
    from ..results import Observables, Result, SolverStatus, gen_error

    if sleep:
        time.sleep(float(sleep))
    tl = teacher.ridge(data)

    def obs(lam, scale):
        m = scale * data.alpha / (data.alpha + data.delta + lam)
        q = m * m + scale * data.delta * data.alpha / (data.alpha + lam + 1.0) ** 2 + 1e-3
        b = 0.5 * math.log(data.rho / (1 - data.rho))
        return Observables(gen_error=gen_error(m, q, b, data.delta, data.rho), train_error=0.0,
                           train_loss=1.0 / (1.0 + data.alpha), m=m, q=q, bias=b,
                           p=(m * m if scale < 1 else None))

    t_obs = obs(tl, 1.0)
    s_obs = None if student is None else obs(student.lam + student.chi * tl, student.eta)
    status = SolverStatus(True, 1, 0.0, "toy")
    return Result("toy", data, teacher, student, t_obs, s_obs, status=status,
                  extra={"toy_warm_started": float(init is not None)})
