"""The pipeline: compute, draw and write the talk's figures, their tables and the report.

:func:`reproduce` is what ``kdlab reproduce`` does, :func:`figure` what ``kdlab figure`` does;
both check the output folder before computing anything and write every file atomically
(:mod:`kdlab.io`).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from ..errors import OutputError, ParameterError, ResourceError
from ..io import RUN_FREE_BYTES, TABLE_FORMATS, atomic_write, dumps_json, ensure_dir, write_json, write_table
from . import FIGURES
from ._core import Figure, FigureOutput, RunContext

__all__ = ["ReproduceResult", "figure_params", "resolve_params", "compute_figure", "plot_figure", "make_figure",
           "reproduce",
           "figure", "check_output", "run_mode"]


def _spec(name: str) -> Figure:
    try:
        return FIGURES[name]
    except KeyError:
        raise ParameterError(f"unknown figure {name!r}; choose from: {', '.join(FIGURES)}") from None


def figure_params(name: str, quick: bool = False, **overrides) -> dict:
    """The parameters a figure is computed with (``quick``: the fast variant), with overrides."""
    spec = _spec(name)
    return resolve_params(spec.params, spec.quick if quick else {}, overrides, f"figure {name!r}")


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


def _canon(p: dict) -> dict:
    """``p`` as it reads back from ``parameters.json`` (tuples as lists)."""
    return json.loads(dumps_json(p))


def run_mode(name: str, params: dict) -> str:
    """``"default"``, ``"quick"`` or ``"custom"``: which variant of the figure ``params`` are."""
    c = _canon(params)
    for mode, quick in (("default", False), ("quick", True)):
        if c == _canon(figure_params(name, quick)):
            return mode
    return "custom"


def compute_figure(name: str, params: dict, ctx: Optional[RunContext] = None) -> pd.DataFrame:
    """Run the sweeps of one figure; one tidy table (``figure``, ``series``, ``kind``, typed
    ``series_*`` columns + the sweep's columns)."""
    table = _spec(name).compute(params, ctx or RunContext())
    table.insert(0, "figure", name)
    return table


def plot_figure(name: str, table: pd.DataFrame, params: dict):
    """The matplotlib Figure of ``name`` from its table (log axes labelled between the powers
    of ten: :func:`kdlab.plotting.label_log_axes`)."""
    from ..plotting import label_log_axes

    fig = _spec(name).plot(table, params)
    label_log_axes(fig)
    return fig


def check_output(out, cache: bool = True) -> Path:
    """Make sure files can be written in the folder ``out`` (creating it) and that it has
    :data:`kdlab.io.RUN_FREE_BYTES` free, before computing: :class:`OutputError` with a
    one-line message otherwise."""
    out = Path(out)
    ensure_dir(out, RUN_FREE_BYTES)
    for d in [out / "tables"] + ([out / "cache"] if cache else []):
        ensure_dir(d)
    return out


def make_figure(name: str, out_dir, *, quick: bool = False, n_jobs: Optional[int] = None,
                scheduler=None, store="default", progress: bool = True,
                table_formats: Sequence[str] = TABLE_FORMATS, **overrides) -> FigureOutput:
    """Compute and draw one figure into ``out_dir``: ``<name>.png``, ``<name>.pdf`` and
    ``tables/<name>.csv|parquet``. ``store="default"`` caches points in ``out_dir/cache``
    (resumable); ``None`` disables the cache."""
    out = Path(out_dir)
    params = figure_params(name, quick, **overrides)
    if isinstance(store, str) and store == "default":
        store = out / "cache"
    check_output(out, cache=store is not None)
    ctx = RunContext(store=None if store is None else Path(store), n_jobs=n_jobs, scheduler=scheduler,
                     progress=progress)
    table = compute_figure(name, params, ctx)
    files = write_table(table, out / "tables" / name, table_formats)
    fig = plot_figure(name, table, params)
    import matplotlib.pyplot as plt

    try:
        for ext in ("png", "pdf"):
            files.append(atomic_write(out / f"{name}.{ext}",
                                      lambda tmp, ext=ext: fig.savefig(tmp, format=ext, bbox_inches="tight")))
    finally:
        plt.close(fig)
    return FigureOutput(name, files, table, params)


@contextlib.contextmanager
def _client(scheduler):
    """A Dask client for the whole run: ``scheduler`` is None, a ``distributed.Client`` or an address."""
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


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def _run(names, out, quick, n_jobs, scheduler, cache, simulation, formats, progress) -> dict:
    outputs = {}
    with _client(scheduler) as client:
        for name in names:
            _say(progress, f"[{name}]")
            t0 = time.perf_counter()
            kw = {} if simulation else {"simulate": False}
            outputs[name] = make_figure(name, out, quick=quick, n_jobs=n_jobs, scheduler=client,
                                        store="default" if cache else None, progress=progress,
                                        table_formats=formats, **kw)
            _say(progress, f"  done in {time.perf_counter() - t0:.1f} s")
    return outputs


def _check_args(n_jobs, formats) -> tuple:
    if n_jobs is not None and (n_jobs == 0 or n_jobs < -1):
        raise ParameterError(f"n_jobs must be >= 1 (or -1 for all cores), got {n_jobs}")
    fm = tuple(str(f).strip().lower() for f in formats if str(f).strip())
    if not fm or any(f not in TABLE_FORMATS for f in fm):
        raise ParameterError(f"table formats must be among {', '.join(TABLE_FORMATS)}; got {list(formats)}")
    return fm


@dataclass
class ReproduceResult:
    """What :func:`reproduce` / :func:`figure` wrote: ``outputs`` (per figure), the ``claims``
    of the report, the ``report`` and ``parameters`` paths, the run time."""

    out: Path
    outputs: dict = field(default_factory=dict)
    claims: list = field(default_factory=list)
    report: Optional[Path] = None
    parameters: Optional[Path] = None
    elapsed_s: float = 0.0
    mode: str = "default"


def reproduce(out, quick: bool = False, n_jobs: Optional[int] = None, scheduler=None, cache: bool = True,
              simulation: bool = True, formats: Sequence[str] = TABLE_FORMATS,
              progress: bool = True) -> ReproduceResult:
    """Reproduce the talk into the folder ``out``: every figure (PNG + PDF), its table
    (``tables/``), ``report.md`` (the claims and their verdicts, computed from the tables) and
    ``parameters.json``. ``quick``: fewer points and seeds, smaller N; ``cache``: keep finished
    points in ``out/cache`` (an interrupted run resumes); ``scheduler``: a Dask address or client."""
    from .. import __version__
    from .report import evaluate_claims, write_report

    out = Path(out)
    fm = _check_args(n_jobs, formats)
    check_output(out, cache)
    t0 = time.perf_counter()
    outputs = _run(list(FIGURES), out, quick, n_jobs, scheduler, cache, simulation, fm, progress)
    tables = {k: v.table for k, v in outputs.items()}
    params = {k: v.params for k, v in outputs.items()}
    elapsed = time.perf_counter() - t0
    mode = "quick" if quick else "default"
    meta = {"command": "kdlab reproduce" + (" --quick" if quick else ""), "mode": mode, "version": __version__,
            "elapsed_s": elapsed}
    report = write_report(out / "report.md", tables, params, meta=meta)
    pj = write_json(out / "parameters.json", params)
    return ReproduceResult(out, outputs, evaluate_claims(tables, params), report, pj, elapsed, mode)


def _read_table(out: Path, name: str) -> Optional[pd.DataFrame]:
    for fmt, read in (("parquet", pd.read_parquet), ("csv", pd.read_csv)):
        f = out / "tables" / f"{name}.{fmt}"
        if f.is_file():
            try:
                return read(f)
            except Exception:  # noqa: BLE001  (an unreadable table is left out of the report)
                return None
    return None


def _recorded(out: Path) -> dict:
    f = out / "parameters.json"
    if not f.is_file():
        return {}
    try:
        d = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in d.items() if k in FIGURES and isinstance(v, dict)} if isinstance(d, dict) else {}


def figure(name: str, out, quick: bool = False, n_jobs: Optional[int] = None, scheduler=None, cache: bool = True,
           simulation: bool = True, formats: Sequence[str] = TABLE_FORMATS, progress: bool = True,
           force: bool = False) -> ReproduceResult:
    """Make one figure into ``out`` (PNG + PDF + its table) and keep the folder consistent:
    ``parameters.json`` records this figure's parameters and ``report.md`` is rebuilt from the
    tables of the folder (so it is that figure's report in a new folder). A folder holding this
    figure from a run with other parameters (e.g. the full ``kdlab reproduce`` when ``quick``)
    is not overwritten unless ``force``: :class:`OutputError`."""
    from .. import __version__
    from .report import evaluate_claims, write_report

    _spec(name)
    out = Path(out)
    fm = _check_args(n_jobs, formats)
    params = figure_params(name, quick, **({} if simulation else {"simulate": False}))
    recorded = _recorded(out)
    if name in recorded and recorded[name] != _canon(params) and not force:
        raise OutputError(f"{out} holds {name} of a {run_mode(name, recorded[name])} run with other parameters; "
                          f"use --force to replace it (report.md is then rebuilt) or choose another --out")
    check_output(out, cache)
    t0 = time.perf_counter()
    outputs = _run([name], out, quick, n_jobs, scheduler, cache, simulation, fm, progress)
    recorded[name] = _canon(params)
    tables, params_all = {}, {}
    for n in FIGURES:
        t = outputs[n].table if n in outputs else (_read_table(out, n) if n in recorded else None)
        if t is not None:
            tables[n], params_all[n] = t, (outputs[n].params if n in outputs else recorded[n])
    modes = {run_mode(n, p) for n, p in params_all.items()}
    mode = modes.pop() if len(modes) == 1 else "mixed"
    elapsed = time.perf_counter() - t0
    meta = {"command": f"kdlab figure {name}" + (" --quick" if quick else ""), "mode": mode,
            "version": __version__, "elapsed_s": elapsed}
    if len(tables) > 1:
        meta["note"] = (f"It made `{name}` and rebuilt this report from every table in this folder "
                        f"({', '.join(f'`{n}`: {run_mode(n, p)}' for n, p in params_all.items())}).")
    report = write_report(out / "report.md", tables, params_all, meta=meta)
    pj = write_json(out / "parameters.json", {n: recorded[n] for n in FIGURES if n in recorded})
    claims = [c for c in evaluate_claims(tables, params_all) if c.figure == name]
    return ReproduceResult(out, outputs, claims, report, pj, elapsed, mode)
