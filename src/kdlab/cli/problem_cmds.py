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
from ._app import app
from .options import AsJson, NJobs, Progress, check_jobs, fail, problem_command

Tol = Annotated[float, typer.Option("--tol", help="Relative fixed-point residual to reach (> 0).")]
MaxIter = Annotated[int, typer.Option("--maxiter", help="Map evaluations allowed per stage (>= 1).")]
Method = Annotated[str, typer.Option("--method", help="Fixed-point solver: anderson or damped.")]
Strict = Annotated[bool, typer.Option("--strict", help="Exit with status 1 if a point did not converge.")]


def emit(result, as_json: bool) -> None:
    """Print a :class:`~kdlab.results.Result` as strict JSON or as a readable summary."""
    if as_json:
        sys.stdout.write(dumps_json(result.to_json_dict()) + "\n")
    else:
        typer.echo(repr(result))


def _check_solver_options(tol: float, maxiter: int, method: str) -> None:
    if not (tol > 0 and tol < 1):
        fail(f"tol must be a number in (0, 1), got {tol}")
    if maxiter < 1:
        fail(f"maxiter must be an integer >= 1, got {maxiter}")
    if method not in ("anderson", "damped"):
        fail(f"method must be 'anderson' or 'damped', got {method!r}")


def _warn_not_converged(status, strict: bool) -> None:
    if not status.converged:
        typer.echo(f"Warning: not converged ({status.code.value}): {status.message}", err=True)
        if strict:
            raise typer.Exit(1)


@app.command("simulate")
@problem_command
def simulate_command(
    problem,
    n_features: Annotated[int, typer.Option("--n-features", "-N", help="Dimension N (>= 2).")] = 1000,
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds (>= 1).")] = 10,
    first_seed: Annotated[int, typer.Option("--first-seed", help="First seed (>= 0).")] = 0,
    n_test: Annotated[Optional[int], typer.Option("--n-test", help="Test samples per seed (default M).")] = None,
    n_jobs: NJobs = -1,
    progress: Progress = True,
    as_json: AsJson = False,
) -> None:
    """Simulate every stage at finite N: mean and standard error over seeds."""
    from ..simulation import simulate

    if first_seed < 0:
        fail(f"first-seed must be an integer >= 0, got {first_seed}")
    if seeds < 1:
        fail(f"seeds must be an integer >= 1, got {seeds}")
    check_jobs(n_jobs)
    try:
        result = simulate(problem.data, list(problem.stages), n_features=n_features,
                          seeds=range(first_seed, first_seed + seeds), n_test=n_test,
                          n_jobs=n_jobs, progress=progress)
    except (ValueError, KdlabError) as exc:
        fail(str(exc))
    emit(result, as_json)


@app.command("theory")
@problem_command
def theory_command(
    problem,
    tol: Tol = 1e-10,
    maxiter: MaxIter = 1000,
    method: Method = "anderson",
    strict: Strict = False,
    as_json: AsJson = False,
) -> None:
    """Asymptotic (N -> infinity) values of every stage at one point (milliseconds).

    Same options and JSON layout as `kdlab simulate` (no sizes, no standard errors); the
    status block says whether the state evolution converged (non-converged values are null).
    """
    from ..theory import solve

    _check_solver_options(tol, maxiter, method)
    try:
        result = solve(problem.data, list(problem.stages), tol=tol, maxiter=maxiter, method=method)
    except (ValueError, KdlabError) as exc:
        fail(str(exc))
    emit(result, as_json)
    _warn_not_converged(result.status, strict)


@app.command("theory-curve")
@problem_command
def theory_curve_command(
    problem,
    along: Annotated[str, typer.Option("--along", help="Parameter to vary: a data parameter (alpha, delta, "
                                                       "rho, label_noise), teacher_lam, teacher_eta, or a "
                                                       "student parameter (eta, chi, temperature, lam).")] = "alpha",
    values: Annotated[str, typer.Option("--values", help="START:STOP:NUM (linear), START:STOP:NUM:log "
                                                         "(geometric) or v1,v2,...")] = "0.5:5:50",
    tol: Tol = 1e-10,
    maxiter: MaxIter = 1000,
    method: Method = "anderson",
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
    from ..theory import CURVE_PARAMETERS, curve, parse_values

    key = along.strip().lower().replace("-", "_")
    if key not in CURVE_PARAMETERS:
        fail(f"along must be one of {', '.join(CURVE_PARAMETERS)}, got {along!r}")
    _check_solver_options(tol, maxiter, method)
    try:
        if output is not None:
            if output.suffix.lower() not in (".csv", ".parquet", ".json"):
                fail(f"output must end in .csv, .parquet or .json, got {str(output)!r}")
            if output.is_dir():
                fail(f"output {output} is a folder, not a file")
            ensure_dir(output.parent)
        vals = parse_values(values)
        df = curve(problem.data, list(problem.stages), along=key, values=vals, progress=progress,
                   tol=tol, maxiter=maxiter, method=method)
        if output is not None:
            write_table(df, output)
    except (ValueError, KdlabError) as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(dumps_json(json.loads(df.to_json(orient="records", double_precision=15))) + "\n")
    else:
        cols = [key] + [c for c in ("teacher_gen_error", "student_gen_error", "student_m", "student_q",
                                    "student_p", "student_bias", "status_converged") if c in df]
        typer.echo(df[cols].to_string(index=False))
    bad = int((~df["status_converged"].astype(bool)).sum())
    if bad:
        typer.echo(f"Warning: {bad} of {len(df)} points did not converge (see status_message)", err=True)
        if strict:
            raise typer.Exit(1)
