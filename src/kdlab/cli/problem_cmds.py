"""``kdlab simulate`` (finite N), ``kdlab theory`` (N -> infinity) and ``kdlab theory-curve``.

The problem options are generated from the parameter declarations (:mod:`.options`); these
commands only parse their own options and call :func:`kdlab.simulate`,
:func:`kdlab.theory.solve` and :func:`kdlab.theory.curve`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import KdlabError
from ..io import dumps_json, write_table
from ..params import SIMULATION_OPTIONS, THEORY_OPTIONS
from ._app import app, flag
from .options import AsJson, NJobs, Progress, check_jobs, declared_options, fail, problem_command

Strict = Annotated[bool, flag("--strict", help="Exit with status 1 if a point did not converge.")]


def emit(result, as_json: bool) -> None:
    """Print a :class:`~kdlab.results.Result` as strict JSON or as a readable summary."""
    if as_json:
        sys.stdout.write(dumps_json(result.to_json_dict()) + "\n")
    else:
        typer.echo(repr(result))


def _warn_not_converged(status, strict: bool) -> None:
    if not status.converged:
        typer.echo(f"Warning: not converged ({status.code.value}): {status.message}", err=True)
        if strict:
            raise typer.Exit(1)


@app.command("simulate")
@problem_command
@declared_options(SIMULATION_OPTIONS, "sim_options")
def simulate_command(
    problem,
    file_options,
    sim_options,
    first_seed: Annotated[int, typer.Option("--first-seed", help="First seed (>= 0): seeds first-seed .. "
                                                                 "first-seed + seeds - 1.")] = 0,
    n_jobs: NJobs = -1,
    progress: Progress = True,
    as_json: AsJson = False,
) -> None:
    """Simulate every stage at finite N: mean and standard error over seeds."""
    from ..simulation import simulate

    if first_seed < 0:
        fail(f"--first-seed must be an integer >= 0, got {first_seed}")
    check_jobs(n_jobs)
    sim_options = {**file_options.simulate, **sim_options}  # an option given here wins over the file's
    n_seeds = sim_options.pop("seeds", SIMULATION_OPTIONS["seeds"].default)
    try:
        result = simulate(problem, seeds=range(first_seed, first_seed + n_seeds), n_jobs=n_jobs,
                          progress=progress, **sim_options)
    except (ValueError, KdlabError) as exc:
        fail(str(exc))
    emit(result, as_json)


@app.command("theory")
@problem_command
@declared_options(THEORY_OPTIONS, "theory_options")
def theory_command(
    problem,
    file_options,
    theory_options,
    strict: Strict = False,
    as_json: AsJson = False,
) -> None:
    """Asymptotic (N -> infinity) values of every stage at one point (milliseconds).

    Same options and JSON layout as `kdlab simulate` (no sizes, no standard errors); the
    status block says whether the state evolution converged (non-converged values are null).
    """
    from ..theory import solve

    try:
        result = solve(problem, **{**file_options.theory, **theory_options})
    except (ValueError, KdlabError) as exc:
        fail(str(exc))
    emit(result, as_json)
    _warn_not_converged(result.status, strict)


@app.command("theory-curve")
@problem_command
@declared_options(THEORY_OPTIONS, "theory_options")
def theory_curve_command(
    problem,
    file_options,
    theory_options,
    along: Annotated[str, typer.Option("--along", help="Parameter to vary: a data parameter (alpha, delta, "
                                                       "rho, label_noise), stage<k>.<param>, teacher_<param> "
                                                       "(stage 0), or a student parameter (eta, chi, "
                                                       "temperature, lam: the last stage).")] = "alpha",
    values: Annotated[str, typer.Option("--values", help="START:STOP:NUM (linear), START:STOP:NUM:log "
                                                         "(geometric) or v1,v2,...")] = "0.5:5:50",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the table to this file "
                                                   "(.csv, .parquet or .json).")] = None,
    progress: Progress = True,
    strict: Strict = False,
    as_json: AsJson = False,
) -> None:
    """Learning curve of the theory along one parameter, each point warm-started from its neighbours.

    Prints the table (or JSON records with --json) and optionally writes it with --output.
    """
    from ..io import ensure_dir
    from ..theory import curve, parse_values
    from ..theory.curves import axis

    key = along.strip().replace("-", "_")
    try:
        axis(problem, key)
    except ValueError as exc:
        fail(str(exc))
    try:
        if output is not None:
            if output.suffix.lower() not in (".csv", ".parquet", ".json"):
                fail(f"output must end in .csv, .parquet or .json, got {str(output)!r}")
            if output.is_dir():
                fail(f"output {output} is a folder, not a file")
            ensure_dir(output.parent)
        vals = parse_values(values)
        df = curve(problem, along=key, values=vals, progress=progress, **{**file_options.theory, **theory_options})
        if output is not None:
            write_table(df, output)
    except (ValueError, KdlabError) as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(dumps_json(json.loads(df.to_json(orient="records", double_precision=15))) + "\n")
    else:
        k, name = axis(problem, key)
        x = name if k is None else f"stage{k}_{name}"
        last = len(problem.stages) - 1
        cols = [x] + [c for c in (["stage0_gen_error"] + [f"stage{last}_{o}" for o in
                                                          ("gen_error", "m", "q", "p", "bias")] + ["status_converged"])
                      if c in df and c != x]
        typer.echo(df[list(dict.fromkeys(cols))].to_string(index=False))
    bad = int((~df["status_converged"].astype(bool)).sum())
    if bad:
        typer.echo(f"Warning: {bad} of {len(df)} points did not converge (see status_message)", err=True)
        if strict:
            raise typer.Exit(1)
