"""The talk's pipeline: compute, draw and write its figures, their tables and the report, on the
shared output pipeline (:mod:`kdlab.reporting`) and run context (:mod:`kdlab.runs.context`).

:func:`reproduce` is what ``kdlab reproduce`` does, :func:`figure` what ``kdlab figure`` does.
Both check the output folder's ownership before computing anything (:class:`OutputFolder`:
owner ``talk``), write every file atomically and record it with its checksum in the folder's
manifest; a table read back to rebuild ``report.md`` is used only if it matches its checksum.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from ..errors import OutputError, ParameterError
from ..io import TABLE_FORMATS, ensure_dir, write_json, write_table
from ..progress import SharedProgress
from ..reporting.output import OutputFolder, canonical, check_formats, dask_client, resolve_params
from ..reporting.plotting import label_log_axes, save_figure
from ..runs.context import RunContext, as_done
from ..runs.executor import one_blas_thread
from . import FIGURES
from ._core import Figure, FigureOutput

__all__ = ["ReproduceResult", "figure_params", "compute_figure", "plot_figure", "make_figure", "draw_figure",
           "reproduce", "figure", "run_mode", "OWNER"]

#: The owner named in the manifest of a talk folder.
OWNER = "talk"


def _spec(name: str) -> Figure:
    try:
        return FIGURES[name]
    except KeyError:
        raise ParameterError(f"unknown figure {name!r}; choose from: {', '.join(FIGURES)}") from None


def figure_params(name: str, quick: bool = False, **overrides) -> dict:
    """The parameters a figure is computed with (``quick``: the fast variant), with overrides."""
    spec = _spec(name)
    return resolve_params(spec.params, spec.quick if quick else {}, overrides, f"figure {name!r}")


def run_mode(name: str, params: dict) -> str:
    """``"default"``, ``"quick"`` or ``"custom"``: which variant of the figure ``params`` are."""
    c = canonical(params)
    for mode, quick in (("default", False), ("quick", True)):
        if c == canonical(figure_params(name, quick)):
            return mode
    return "custom"


def compute_figure(name: str, params: dict, ctx: Optional[RunContext] = None) -> pd.DataFrame:
    """Run the sweeps of one figure; one tidy table (``figure``, ``series``, ``kind``, typed
    ``series_*`` columns + the sweep's columns)."""
    table = _spec(name).compute(params, ctx or RunContext())
    table.insert(0, "figure", name)
    return table


def plot_figure(name: str, table: pd.DataFrame, params: dict):
    """The matplotlib Figure of ``name`` from its table (log axes labelled between the powers of
    ten: :func:`kdlab.reporting.plotting.label_log_axes`)."""
    fig = _spec(name).plot(table, params)
    label_log_axes(fig)
    return fig


def make_figure(name: str, folder: OutputFolder, params: dict, ctx: RunContext,
                table_formats: Sequence[str] = TABLE_FORMATS) -> FigureOutput:
    """Compute and draw one figure into ``folder``: ``<name>.png``, ``<name>.pdf`` and
    ``tables/<name>.csv|parquet`` (recorded in the folder's manifest)."""
    return draw_figure(name, folder, compute_figure(name, params, ctx), params, table_formats)


def draw_figure(name: str, folder: OutputFolder, table: pd.DataFrame, params: dict,
                table_formats: Sequence[str] = TABLE_FORMATS) -> FigureOutput:
    """Write a computed figure's table and draw it into ``folder`` (recorded in its manifest)."""
    out = folder.path
    folder.forget(f"tables/{name}.{fmt}" for fmt in TABLE_FORMATS if fmt not in table_formats)
    files = write_table(table, out / "tables" / name, table_formats)
    files += save_figure(plot_figure(name, table, params), out, name)
    folder.record(files)
    return FigureOutput(name, files, table, params)


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def _open(out, cache: bool, force: bool = False) -> OutputFolder:
    folder = OutputFolder(Path(out), OWNER, force).open()
    for d in [folder.path / "tables"] + ([folder.path / "cache"] if cache else []):
        ensure_dir(d)
    return folder


def _run(jobs: dict, folder: OutputFolder, n_jobs, scheduler, cache, formats, progress, overlap: bool = True) -> dict:
    """``{name: params}`` -> ``{name: FigureOutput}``, each figure computed, drawn and recorded.
    With worker processes (or Dask) the figures are computed at once on the run's workers
    (:func:`kdlab.runs.context.as_done`; the same numbers as one after the other), each drawn
    here as soon as its table is ready; one progress display then counts the tasks of all the
    figures' sweeps as they start (:class:`~kdlab.progress.SharedProgress`). With
    workers this process computes with one BLAS thread, as they do (either way: the same bits
    for a point computed here or in a worker)."""
    outputs = {}
    with dask_client(scheduler) as client:
        ctx = RunContext(store=folder.path / "cache" if cache else None, n_jobs=n_jobs, scheduler=client,
                         progress=progress, overlap=overlap)
        if len(jobs) > 1 and ctx.parallel and ctx.overlap:
            _say(progress, f"[{', '.join(jobs)}]: computing the {len(jobs)} figures at once")
            shared = SharedProgress(progress, f"{len(jobs)} figures (tasks known so far)")
            calls = {name: partial(compute_figure, name, params, replace(ctx, progress=shared))
                     for name, params in jobs.items()}
            try:
                for name, table, elapsed in as_done(calls):
                    outputs[name] = draw_figure(name, folder, table, jobs[name], formats)
                    _say(progress, f"[{name}] computed after {elapsed:.1f} s, drawn")
            finally:
                shared.close()
            return {name: outputs[name] for name in jobs}
        with one_blas_thread() if ctx.parallel else contextlib.nullcontext():
            for name, params in jobs.items():
                _say(progress, f"[{name}]")
                t0 = time.perf_counter()
                outputs[name] = make_figure(name, folder, params, ctx, formats)
                _say(progress, f"  done in {time.perf_counter() - t0:.1f} s")
    return outputs


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


def _finish(folder: OutputFolder, tables: dict, params: dict, meta: dict) -> tuple:
    """Write ``report.md`` and ``parameters.json`` and record them in the manifest."""
    from .report import write_report

    report = write_report(folder.path / "report.md", tables, params, meta=meta)
    pj = write_json(folder.path / "parameters.json", {n: canonical(params[n]) for n in FIGURES if n in params})
    folder.record([report, pj], figures={n: canonical(params[n]) for n in FIGURES if n in params})
    return report, pj


def reproduce(out, quick: bool = False, n_jobs: Optional[int] = None, scheduler=None, cache: bool = True,
              simulation: bool = True, formats: Sequence[str] = TABLE_FORMATS,
              progress: bool = True, force: bool = False) -> ReproduceResult:
    """Reproduce the talk into the folder ``out``: every figure (PNG + PDF), its table
    (``tables/``), ``report.md`` (the claims and their verdicts, computed from the tables) and
    ``parameters.json``. ``quick``: fewer points and seeds, smaller N; ``cache``: keep finished
    points in ``out/cache`` (an interrupted run resumes); ``scheduler``: a Dask address or client;
    ``force``: replace a folder another pipeline owns (see :mod:`kdlab.reporting.output`)."""
    from .. import __version__
    from .report import evaluate_claims

    fm = check_formats(n_jobs, formats, TABLE_FORMATS)
    jobs = {n: figure_params(n, quick, **({} if simulation else {"simulate": False})) for n in FIGURES}
    folder = _open(out, cache, force)
    t0 = time.perf_counter()
    outputs = _run(jobs, folder, n_jobs, scheduler, cache, fm, progress)
    tables = {k: v.table for k, v in outputs.items()}
    params = {k: v.params for k, v in outputs.items()}
    elapsed = time.perf_counter() - t0
    mode = "quick" if quick else "default"
    meta = {"command": "kdlab reproduce" + (" --quick" if quick else ""), "mode": mode, "version": __version__,
            "elapsed_s": elapsed}
    report, pj = _finish(folder, tables, params, meta)
    return ReproduceResult(folder.path, outputs, evaluate_claims(tables, params), report, pj, elapsed, mode)


def _read_table(folder: OutputFolder, name: str) -> Optional[pd.DataFrame]:
    """A figure's table from the folder, if every copy of it (Parquet, CSV) is the one this
    pipeline wrote (checksums of the manifest); ``None`` (with a warning naming the files) if
    one was edited or replaced: the figure is then recomputed."""
    readers = {f"tables/{name}.parquet": pd.read_parquet, f"tables/{name}.csv": pd.read_csv}
    present = [(rel, read) for rel, read in readers.items()
               if (folder.path / rel).exists() or (folder.path / rel).is_symlink()]
    bad = [rel for rel, _ in present if not folder.verified(rel)]
    if bad:
        warnings.warn(f"{', '.join(str(folder.path / rel) for rel in bad)}: not the table kdlab wrote (its checksum "
                      f"differs from the one in {folder.path / 'manifest.json'}): recomputing {name}",
                      RuntimeWarning, stacklevel=3)
        return None
    for rel, read in present:
        try:
            return read(folder.path / rel)
        except Exception:  # noqa: BLE001  (an unreadable table is recomputed)
            return None
    return None


def figure(name: str, out, quick: bool = False, n_jobs: Optional[int] = None, scheduler=None, cache: bool = True,
           simulation: bool = True, formats: Sequence[str] = TABLE_FORMATS, progress: bool = True,
           force: bool = False) -> ReproduceResult:
    """Make one figure into ``out`` (PNG + PDF + its table) and keep the folder consistent:
    ``parameters.json`` records the parameters of every figure in it and ``report.md`` is rebuilt
    from their tables (each used only if it matches its recorded checksum; otherwise recomputed
    at its recorded parameters). A folder holding this figure from a run with other parameters
    (e.g. the full ``kdlab reproduce`` when ``quick``) is not overwritten unless ``force``."""
    from .. import __version__
    from .report import evaluate_claims

    _spec(name)
    fm = check_formats(n_jobs, formats, TABLE_FORMATS)
    params = figure_params(name, quick, **({} if simulation else {"simulate": False}))
    probe = OutputFolder(Path(out), OWNER)
    m = probe.manifest()
    recorded = {k: v for k, v in ((m or {}).get("figures") or {}).items() if k in FIGURES and isinstance(v, dict)} \
        if m is not None and m.get("owner") == OWNER else {}
    if name in recorded and recorded[name] != canonical(params) and not force:
        raise OutputError(f"{out} holds {name} of a {run_mode(name, recorded[name])} run with other parameters; "
                          f"use --force to replace it (report.md is then rebuilt) or choose another --out")
    folder = _open(out, cache, force)
    t0 = time.perf_counter()
    outputs = _run({name: params}, folder, n_jobs, scheduler, cache, fm, progress)
    recorded[name] = canonical(params)
    tables, params_all, redo = {}, {}, {}
    for n in FIGURES:
        if n in outputs:
            tables[n], params_all[n] = outputs[n].table, outputs[n].params
        elif n in recorded:
            t = _read_table(folder, n)
            if t is None:
                redo[n] = recorded[n]
            else:
                tables[n], params_all[n] = t, recorded[n]
    if redo:
        for n, o in _run(redo, folder, n_jobs, scheduler, cache, fm, progress).items():
            tables[n], params_all[n] = o.table, o.params
    modes = {run_mode(n, p) for n, p in params_all.items()}
    mode = modes.pop() if len(modes) == 1 else "mixed"
    elapsed = time.perf_counter() - t0
    meta = {"command": f"kdlab figure {name}" + (" --quick" if quick else ""), "mode": mode,
            "version": __version__, "elapsed_s": elapsed}
    if len(tables) > 1:
        meta["note"] = (f"It made `{name}` and rebuilt this report from every table in this folder "
                        f"({', '.join(f'`{n}`: {run_mode(n, p)}' for n, p in params_all.items())}).")
    report, pj = _finish(folder, tables, params_all, meta)
    claims = [c for c in evaluate_claims(tables, params_all) if c.figure == name]
    return ReproduceResult(folder.path, outputs, claims, report, pj, elapsed, mode)
