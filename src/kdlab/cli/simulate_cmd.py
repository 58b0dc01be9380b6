"""``kdlab simulate``: finite-size simulation of one point."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._app import app
from ._common import (Alpha, AsJson, Chi, Delta, Eta, Lam, NoStudent, Rho, T2Scaling, TeacherLam,
                      TeacherName, Temperature, build_problem, emit, fail)


@app.command("simulate")
def simulate_command(
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
    n_features: Annotated[int, typer.Option("--n-features", "-N", help="Dimension N (>= 2).")] = 1000,
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds 0..K-1 (>= 1).")] = 10,
    first_seed: Annotated[int, typer.Option("--first-seed", help="First seed (>= 0).")] = 0,
    n_test: Annotated[Optional[int], typer.Option("--n-test", help="Test samples per seed (default M).")] = None,
    n_jobs: Annotated[Optional[int], typer.Option("--n-jobs", "-j", help="Processes (default: all cores).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    as_json: AsJson = False,
) -> None:
    """Simulate teacher and KD student at finite N; mean and standard error over seeds."""
    from ..simulation import simulate
    from ..errors import ConvergenceError

    data, tch, student = build_problem(alpha, delta, rho, teacher, teacher_lam, eta, chi, temperature,
                                       lam, t2_scaling, no_student)
    if first_seed < 0:
        fail(f"first-seed must be an integer >= 0, got {first_seed}")
    if seeds < 1:
        fail(f"seeds must be an integer >= 1, got {seeds}")
    try:
        result = simulate(data, tch, student, n_features=n_features,
                          seeds=range(first_seed, first_seed + seeds), n_test=n_test,
                          n_jobs=n_jobs, progress=progress)
    except (ValueError, ConvergenceError) as exc:
        fail(str(exc))
    emit(result, as_json)
