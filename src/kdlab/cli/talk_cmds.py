"""``kdlab reproduce`` (the talk: every figure, its table and the computed report) and
``kdlab figure NAME`` (one figure). They parse arguments and call :func:`kdlab.talk.reproduce`
and :func:`kdlab.talk.figure`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import KdlabError
from ._app import app, flag
from .options import NJobs, Progress, Scheduler, check_jobs, fail

Quick = Annotated[bool, flag("--quick", help="Fewer points and seeds, smaller N (a small grid).")]
NoCache = Annotated[bool, flag("--no-cache", help="Do not read or write the point cache (OUT/cache).")]
NoSim = Annotated[bool, flag("--no-simulation", help="Theory only (no simulation markers).")]
Formats = Annotated[str, typer.Option("--formats", help="Table formats, comma separated: csv, parquet.")]


def _formats(spec: str) -> tuple:
    return tuple(f.strip().lower() for f in spec.split(",") if f.strip())


Force = Annotated[bool, flag("--force", help="Replace OUT even if another pipeline owns it (a study's folder): its "
                                             "files listed in OUT/manifest.json are removed first.")]


def _call(fn, *, cache_dir=None, **kw):
    """Run a library call; kdlab's errors (a bad option, an unwritable --out) become one line
    on stderr and exit status 2; Ctrl-C says where the finished work is kept and that the same
    command resumes (exit status 130). ``cache_dir``: where the cache is (default OUT/cache)."""
    try:
        return fn(**kw)
    except (KdlabError, ImportError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        out, cached = kw.get("out"), kw.get("cache", True)
        if out is not None and cached:
            typer.echo(f"\nInterrupted. Every finished point and task is kept in {cache_dir or Path(out) / 'cache'}: "
                       "run the same command again to resume where it stopped.", err=True)
        else:
            typer.echo("\nInterrupted (--no-cache: nothing was kept; a rerun starts over).", err=True)
        raise typer.Exit(130) from None


def headline(claim, quick: bool) -> str:
    """A claim's verdict as a headline (says when every finding is undecided on this grid)."""
    from ..reporting.report import headline as _headline

    return _headline(claim, {"mode": "quick" if quick else "default"})


@app.command("reproduce")
def reproduce_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (figures, tables/, report.md, "
                                                          "parameters.json, cache/).")] = Path("kdlab-output"),
    quick: Quick = False,
    n_jobs: NJobs = -1,
    scheduler: Scheduler = None,
    no_cache: NoCache = False,
    no_simulation: NoSim = False,
    formats: Formats = "csv,parquet",
    progress: Progress = True,
    force: Force = False,
) -> None:
    """Reproduce the talk: the four figures (PNG + PDF), their tables and a computed report.md.

    Finished points are cached in OUT/cache, so an interrupted run resumes where it stopped.
    Defaults take minutes (timings: benchmarks/RESULTS.md); --quick is a small grid.
    """
    from ..talk import reproduce

    check_jobs(n_jobs)
    t0 = time.perf_counter()
    r = _call(reproduce, out=out, quick=quick, n_jobs=n_jobs, scheduler=scheduler, cache=not no_cache,
              simulation=not no_simulation, formats=_formats(formats), progress=progress, force=force)
    typer.echo(f"Outputs in {out.resolve()}:")
    for name, o in r.outputs.items():
        typer.echo(f"  {name}: " + ", ".join(str(p.relative_to(out)) for p in o.files))
    typer.echo(f"  report: {r.report.relative_to(out)}   parameters: {r.parameters.relative_to(out)}"
               + ("" if no_cache else "   cache: cache/"))
    for c in r.claims:
        typer.echo(f"  claim {c.number} ({c.figure}): {headline(c, quick)}")
    typer.echo(f"kdlab reproduce ({r.mode}) finished in {time.perf_counter() - t0:.1f} s.")


@app.command("figure")
def figure_command(
    name: Annotated[str, typer.Argument(help="regularization | kd-logistic-teacher | kd-bayes-teacher | "
                                             "double-descent")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (the figure, its table, report.md and "
                                                          "parameters.json for the figures in it, cache/).")]
    = Path("kdlab-figure"),
    quick: Quick = False,
    n_jobs: NJobs = -1,
    scheduler: Scheduler = None,
    no_cache: NoCache = False,
    no_simulation: NoSim = False,
    formats: Formats = "csv,parquet",
    progress: Progress = True,
    force: Annotated[bool, flag("--force", help="Replace this figure in OUT even if OUT holds it from "
                                                        "a run with other parameters (e.g. a full reproduce), "
                                                        "or OUT belongs to another pipeline (a study's folder: "
                                                        "its files listed in OUT/manifest.json are removed "
                                                        "first).")]
    = False,
) -> None:
    """Make one figure of the talk (PNG + PDF + its table) and print its claim's verdict.

    OUT/report.md is rebuilt from the tables in OUT (this figure's claim, plus any other figure
    already there), so figures, tables and report always agree. A figure in OUT computed with
    other parameters (a full run, when --quick) is kept unless --force.
    """
    from ..talk import FIGURES, figure

    if name not in FIGURES:
        fail(f"unknown figure {name!r}; choose from: {', '.join(FIGURES)}")
    r = _call(figure, name=name, out=out, quick=quick, n_jobs=n_jobs, scheduler=scheduler, cache=not no_cache,
              simulation=not no_simulation, formats=_formats(formats), progress=progress, force=force)
    typer.echo(f"{name}: " + ", ".join(str(p) for p in r.outputs[name].files) + f", {r.report}")
    for c in r.claims:
        typer.echo(f"claim {c.number}: {headline(c, quick)}")
        for f in c.findings:
            tail = f" (undecided {'in --quick' if quick else 'on this grid'}: {f.undecided})" if f.undecided else ""
            typer.echo(f"  - {f.name} [{f.verdict}]{tail}: {f.text}")
