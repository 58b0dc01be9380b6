"""``kdlab theory`` (one point) and ``kdlab theory-curve`` (a learning curve), N -> infinity."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app
from ._common import (Alpha, AsJson, Chi, Delta, Eta, Lam, NoStudent, Rho, T2Scaling, TeacherLam,
                      TeacherName, Temperature, build_problem, emit, fail)

Tol = Annotated[float, typer.Option("--tol", help="Relative fixed-point residual to reach (> 0).")]
MaxIter = Annotated[int, typer.Option("--maxiter", help="Map evaluations allowed per model (>= 1).")]
Method = Annotated[str, typer.Option("--method", help="Fixed-point solver: 'anderson' or 'damped'.")]
Strict = Annotated[bool, typer.Option("--strict", help="Exit with status 1 if a point did not converge.")]


def _check_solver_options(tol: float, maxiter: int, method: str) -> None:
    if not (tol > 0 and math.isfinite(tol)):
        fail(f"tol must be a finite number > 0, got {tol}")
    if maxiter < 1:
        fail(f"maxiter must be an integer >= 1, got {maxiter}")
    if method not in ("anderson", "damped"):
        fail(f"method must be 'anderson' or 'damped', got {method!r}")


@app.command("theory")
def theory_command(
    alpha: Alpha = 2.0,
    delta: Delta = 1.0,
    rho: Rho = 0.3,
    teacher: TeacherName = "logistic",
    teacher_lam: TeacherLam = 0.1,
    eta: Eta = 0.5,
    chi: Chi = 0.5,
    temperature: Temperature = 1.0,
    lam: Lam = 0.1,
    t2_scaling: T2Scaling = False,
    no_student: NoStudent = False,
    tol: Tol = 1e-10,
    maxiter: MaxIter = 1000,
    method: Method = "anderson",
    strict: Strict = False,
    as_json: AsJson = False,
) -> None:
    """Asymptotic (N -> infinity) teacher and KD student at one point (milliseconds).

    Same options and JSON layout as ``kdlab simulate`` (no sizes, no standard errors); the
    ``status`` block says whether the state evolution converged.
    """
    from ..theory import solve

    data, tch, student = build_problem(alpha, delta, rho, teacher, teacher_lam, eta, chi, temperature,
                                       lam, t2_scaling, no_student)
    _check_solver_options(tol, maxiter, method)
    try:
        result = solve(data, tch, student, tol=tol, maxiter=maxiter, method=method)
    except ValueError as exc:
        fail(str(exc))
    emit(result, as_json)
    if not result.status.converged:
        typer.echo(f"Warning: not converged: {result.status.message}", err=True)
        if strict:
            raise typer.Exit(1)


@app.command("theory-curve")
def theory_curve_command(
    along: Annotated[str, typer.Option("--along", help="Parameter to vary: alpha, delta, rho, teacher_lam, "
                                                       "eta, chi, temperature or lam.")] = "alpha",
    values: Annotated[str, typer.Option("--values", help="'start:stop:n' (linear), 'log:start:stop:n' "
                                                         "(geometric) or 'v1,v2,...'.")] = "0.5:5:50",
    alpha: Alpha = 2.0,
    delta: Delta = 1.0,
    rho: Rho = 0.3,
    teacher: TeacherName = "logistic",
    teacher_lam: TeacherLam = 0.1,
    eta: Eta = 0.5,
    chi: Chi = 0.5,
    temperature: Temperature = 1.0,
    lam: Lam = 0.1,
    t2_scaling: T2Scaling = False,
    no_student: NoStudent = False,
    tol: Tol = 1e-10,
    maxiter: MaxIter = 1000,
    method: Method = "anderson",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the table to this file "
                                                   "(.csv, .parquet or .json).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    strict: Strict = False,
    as_json: AsJson = False,
) -> None:
    """Learning curve of the theory along one parameter, each point warm-started from its neighbours.

    Prints the table (or JSON records with --json) and optionally writes it with --output.
    """
    from ..theory import CURVE_PARAMETERS, curve, parse_values

    key = along.strip().lower().replace("-", "_")
    if key not in CURVE_PARAMETERS:
        fail(f"along must be one of {', '.join(CURVE_PARAMETERS)}, got {along!r}")
    data, tch, student = build_problem(alpha, delta, rho, teacher, teacher_lam, eta, chi, temperature,
                                       lam, t2_scaling, no_student)
    _check_solver_options(tol, maxiter, method)
    if output is not None and output.suffix.lower() not in (".csv", ".parquet", ".json"):
        fail(f"output must end in .csv, .parquet or .json, got {str(output)!r}")
    try:
        vals = parse_values(values)
        df = curve(data, tch, student, along=key, values=vals, progress=progress, tol=tol,
                   maxiter=maxiter, method=method)
    except ValueError as exc:
        fail(str(exc))
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            suffix = output.suffix.lower()
            if suffix == ".csv":
                df.to_csv(output, index=False)
            elif suffix == ".parquet":
                df.to_parquet(output, index=False)
            else:
                df.to_json(output, orient="records", indent=2)
        except OSError as exc:
            fail(f"cannot write {output}: {exc}")
    if as_json:
        json.dump(json.loads(df.to_json(orient="records")), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        cols = [key] + [c for c in ("teacher_gen_error", "student_gen_error", "student_m", "student_q",
                                    "student_p", "student_bias", "status_converged") if c in df]
        typer.echo(df[cols].to_string(index=False))
    bad = int((~df["status_converged"].astype(bool)).sum())
    if bad:
        typer.echo(f"Warning: {bad} of {len(df)} points did not converge (see status_message)", err=True)
        if strict:
            raise typer.Exit(1)
