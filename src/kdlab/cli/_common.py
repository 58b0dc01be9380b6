"""Options and helpers shared by the CLI commands (one definition for every command)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..problem import GaussianMixture, Student, teacher_from_name

Alpha = Annotated[float, typer.Option("--alpha", help="Samples per dimension M/N (> 0).")]
Delta = Annotated[float, typer.Option("--delta", help="Noise variance Delta (> 0).")]
Rho = Annotated[float, typer.Option("--rho", help="P(y = +1), in (0, 1).")]
TeacherName = Annotated[str, typer.Option("--teacher", help="Teacher: 'logistic' or 'bayes-optimal'.")]
TeacherLam = Annotated[float, typer.Option("--teacher-lam", help="Logistic teacher's ridge lam_t (>= 0).")]
Eta = Annotated[float, typer.Option("--eta", help="Fraction of trained student coordinates, in (0, 1].")]
Chi = Annotated[float, typer.Option("--chi", help="KD mixing parameter chi, in [0, 1].")]
Temperature = Annotated[float, typer.Option("--temperature", "-T", help="KD temperature T (> 0).")]
Lam = Annotated[float, typer.Option("--lam", help="Student's ridge lam (>= 0).")]
T2Scaling = Annotated[bool, typer.Option("--t2-scaling/--no-t2-scaling",
                                         help="Multiply the KD term by T^2 (Hinton's convention).")]
NoStudent = Annotated[bool, typer.Option("--no-student", help="Teacher only.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


def fail(message: str, code: int = 2) -> None:
    """Print ``Error: message`` to stderr and exit non-zero."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def build_problem(alpha, delta, rho, teacher, teacher_lam, eta, chi, temperature, lam,
                  t2_scaling=False, no_student=False):
    """Validated ``(data, teacher, student)``; exits with the validation message on bad input."""
    try:
        data = GaussianMixture(alpha=alpha, delta=delta, rho=rho)
        tch = teacher_from_name(teacher)
        if "lam" in type(tch).PARAMS:
            tch = tch.replace(lam=teacher_lam)
        student = None if no_student else Student(eta=eta, chi=chi, temperature=temperature,
                                                  lam=lam, t2_scaling=t2_scaling)
    except ValueError as exc:
        fail(str(exc))
    return data, tch, student


def emit(result, as_json: bool) -> None:
    """Print a :class:`~kdlab.results.Result` as JSON or as a readable summary."""
    if as_json:
        json.dump(result.to_json_dict(), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        typer.echo(repr(result))


__all__ = ["Alpha", "Delta", "Rho", "TeacherName", "TeacherLam", "Eta", "Chi", "Temperature",
           "Lam", "T2Scaling", "NoStudent", "AsJson", "fail", "build_problem", "emit"]
