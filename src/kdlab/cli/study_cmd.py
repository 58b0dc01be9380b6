"""``kdlab study NAME``: a study beyond the talk (figures, tables, computed report.md), or
``--list`` / ``all``. Parses arguments and calls :func:`kdlab.studies.study` / :func:`kdlab.studies.study_all`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app, flag
from .options import NJobs, Progress, Scheduler, check_jobs, fail
from .talk_cmds import Formats, NoCache, NoSim, _call, _formats, headline


@app.command("study")
def study_command(
    name: Annotated[Optional[str], typer.Argument(help="a study (kdlab study --list) or all "
                                                       "(each into OUT/<name>/)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (figures, tables/, report.md, "
                                                          "parameters.json, cache/).")] = Path("kdlab-study"),
    quick: Annotated[bool, flag("--quick", help="The small grid: fewer points and seeds, smaller N.")] = False,
    list_: Annotated[bool, flag("--list", help="List the studies, one line each, and exit.")] = False,
    n_jobs: NJobs = -1,
    scheduler: Scheduler = None,
    no_cache: NoCache = False,
    no_simulation: NoSim = False,
    formats: Formats = "csv,parquet",
    progress: Progress = True,
    force: Annotated[bool, flag("--force", help="Replace OUT's results even if they are of another "
                                                        "pipeline or of this study with other parameters: the "
                                                        "files listed in OUT/manifest.json are removed first.")]
    = False,
) -> None:
    """Run a study beyond the talk: exact theory with tuned hyper-parameters, simulation at the
    tuned values, figures (PNG + PDF), tidy tables and a report.md with computed verdicts.

    Finished points and tuned theory tasks are cached in OUT/cache, so a rerun or an
    interrupted run resumes where it stopped.
    """
    from ..studies import STUDIES, study, study_all

    if list_:
        w = max(len(n) for n in STUDIES)
        for n, s in STUDIES.items():
            typer.echo(f"{n:<{w}}  {s.summary}")
        return
    if name is None:
        fail("give a study NAME (or --list): " + ", ".join(STUDIES) + ", all")
    if name != "all" and name not in STUDIES:
        fail(f"unknown study {name!r}; choose from: {', '.join(STUDIES)}, all (see kdlab study --list)")
    check_jobs(n_jobs)
    t0 = time.perf_counter()
    kw = dict(quick=quick, n_jobs=n_jobs, scheduler=scheduler, cache=not no_cache, simulation=not no_simulation,
              formats=_formats(formats), progress=progress, force=force)
    results = (_call(study_all, out=out, cache_dir=out / "<study>" / "cache", **kw) if name == "all"
               else {name: _call(study, name=name, out=out, **kw)})
    for n, r in results.items():
        typer.echo(f"{n}: {headline(r.claim, quick)} — report {r.report}")
        for f in r.claim.findings:
            tail = f" (undecided {'in --quick' if quick else 'on this grid'})" if f.undecided else ""
            typer.echo(f"  - {f.name}: {f.verdict}{tail}")
        if r.comparison is not None and not r.comparison.empty:
            typer.echo(f"  theory vs simulation: {int(r.comparison['ok'].sum())} of {len(r.comparison)} points "
                       "within 3 s.e. + 1%")
    typer.echo(f"kdlab study {name}" + (" --quick" if quick else "")
               + f" finished in {time.perf_counter() - t0:.1f} s.")
