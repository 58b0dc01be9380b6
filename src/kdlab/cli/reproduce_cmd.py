"""``kdlab reproduce`` (the main job) and ``kdlab figure NAME`` (``sweep`` / ``optimize``: :mod:`.runs_cmds`)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app
from ._common import fail

Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder (figures, tables/, report.md, cache/).")]
Quick = Annotated[bool, typer.Option("--quick", help="Fewer points and seeds, smaller N (< 1 minute).")]
NJobs = Annotated[Optional[int], typer.Option("--n-jobs", "-j",
                                              help="Local worker processes (default: all cores; 1: serial).")]
Scheduler = Annotated[Optional[str], typer.Option(
    "--scheduler", help="Dask scheduler address (tcp://host:port): run the sweeps on that cluster.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the point cache (OUT/cache).")]
NoSim = Annotated[bool, typer.Option("--no-simulation", help="Theory only (no simulation markers).")]
Formats = Annotated[str, typer.Option("--formats", help="Table formats, comma separated: csv, parquet.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def _formats(spec: str):
    fm = tuple(f.strip().lower() for f in spec.split(",") if f.strip())
    bad = [f for f in fm if f not in ("csv", "parquet")]
    if not fm or bad:
        fail(f"--formats must be a comma list of csv, parquet; got {spec!r}")
    return fm


def _check_jobs(n_jobs):
    if n_jobs is not None and (n_jobs == 0 or n_jobs < -1):
        fail(f"--n-jobs must be >= 1 (or -1 for all cores), got {n_jobs}")


@contextlib.contextmanager
def _scheduler(address: Optional[str]):
    """One Dask client for the whole command (or None)."""
    if not address:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        fail("--scheduler needs dask[distributed] (pip install 'kdlab[dask]')")
    try:
        client = Client(address, timeout="20s")
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot connect to the Dask scheduler {address!r}: {exc}")
    try:
        yield client
    finally:
        client.close()


def _run_figures(names, out: Path, quick, n_jobs, scheduler, no_cache, no_sim, formats, quiet):
    from ..talk.figures import make_figure

    outputs = {}
    with _scheduler(scheduler) as client:
        for name in names:
            if not quiet:
                typer.echo(f"[{name}]", err=True)
            t0 = time.perf_counter()
            kw = {"simulate": False} if no_sim else {}
            outputs[name] = make_figure(name, out, quick=quick, n_jobs=n_jobs, scheduler=client,
                                        store=None if no_cache else "default", progress=not quiet,
                                        table_formats=formats, **kw)
            if not quiet:
                typer.echo(f"  done in {time.perf_counter() - t0:.1f} s", err=True)
    return outputs


@app.command("reproduce")
def reproduce_command(
    out: Out = Path("kdlab-output"),
    quick: Quick = False,
    n_jobs: NJobs = None,
    scheduler: Scheduler = None,
    no_cache: NoCache = False,
    no_simulation: NoSim = False,
    formats: Formats = "csv,parquet",
    quiet: Quiet = False,
) -> None:
    """Reproduce the talk: the four figures (PNG + PDF), their tables and a computed report.md.

    Finished points are cached in OUT/cache, so an interrupted run resumes where it stopped.
    Defaults take a few minutes on 2 cores; --quick under a minute.
    """
    from .. import __version__
    from ..talk.figures import FIGURES
    from ..talk.report import evaluate_claims, write_report

    _check_jobs(n_jobs)
    fm = _formats(formats)
    t0 = time.perf_counter()
    outputs = _run_figures(list(FIGURES), out, quick, n_jobs, scheduler, no_cache, no_simulation, fm, quiet)
    tables = {k: v.table for k, v in outputs.items()}
    params = {k: v.params for k, v in outputs.items()}
    elapsed = time.perf_counter() - t0
    meta = {"mode": "quick" if quick else "default", "version": __version__, "elapsed_s": elapsed}
    report = write_report(out / "report.md", tables, params, meta=meta)
    (out / "parameters.json").write_text(json.dumps(params, indent=2, default=str))
    typer.echo(f"kdlab reproduce ({meta['mode']}) finished in {elapsed:.1f} s; outputs in {out.resolve()}:")
    for name, o in outputs.items():
        typer.echo(f"  {name}: " + ", ".join(str(p.relative_to(out)) for p in o.files))
    typer.echo(f"  report: {report.relative_to(out)}   parameters: parameters.json"
               + ("" if no_cache else "   cache: cache/"))
    for c in evaluate_claims(tables, params):
        typer.echo(f"  claim {c.number} ({c.figure}): {c.verdict}")


@app.command("figure")
def figure_command(
    name: Annotated[str, typer.Argument(help="regularization | kd-logistic-teacher | kd-bayes-teacher | "
                                             "double-descent")],
    out: Out = Path("kdlab-output"),
    quick: Quick = False,
    n_jobs: NJobs = None,
    scheduler: Scheduler = None,
    no_cache: NoCache = False,
    no_simulation: NoSim = False,
    formats: Formats = "csv,parquet",
    quiet: Quiet = False,
) -> None:
    """Make one figure of the talk (PNG + PDF + its table) and print its claim's verdict."""
    from ..talk.figures import FIGURES
    from ..talk.report import evaluate_claims

    if name not in FIGURES:
        fail(f"unknown figure {name!r}; choose from: {', '.join(FIGURES)}")
    _check_jobs(n_jobs)
    fm = _formats(formats)
    o = _run_figures([name], out, quick, n_jobs, scheduler, no_cache, no_simulation, fm, quiet)[name]
    typer.echo(f"{name}: " + ", ".join(str(p) for p in o.files))
    for c in evaluate_claims({name: o.table}, {name: o.params}):
        typer.echo(f"claim {c.number}: {c.verdict}")
        for sub, v, text in c.findings:
            typer.echo(f"  - {sub} [{v}]: {text}")
