"""``kdlab sweep`` and ``kdlab optimize lam | kd``: argument parsing only; the work is done by
:mod:`kdlab.runs`.

Exit status: 0 on success, 1 for ``--strict`` problems (non-converged points, failed points),
2 for invalid arguments and file-system or resource errors (a one-line message, never a
traceback; points already computed are kept in the store, or the table is written elsewhere
and the message says where).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from ..params import SIMULATION_OPTIONS, THEORY_OPTIONS
from ._app import app, flag
from .options import AsJson, NJobs, Progress, Scheduler, check_jobs, declared_options, fail, problem_command


def _defaults(fn) -> dict:
    """The keyword defaults of a library function (the CLI shows and uses the same)."""
    import inspect

    return {n: p.default for n, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _lazy_defaults():
    from ..runs.tuning import optimal_kd, optimal_lam

    return _defaults(optimal_lam), _defaults(optimal_kd)


_OPT_LAM, _OPT_KD = _lazy_defaults()


def _data_fields():
    from ..runs.grid import DATA_FIELDS

    return DATA_FIELDS


_DATA_FIELDS = _data_fields()


def _multiclass_fields():
    from ..runs.grid import DATA_FIELDS, MULTICLASS_FIELDS

    return tuple(f for f in MULTICLASS_FIELDS if f not in DATA_FIELDS and f not in ("prior", "gram"))


_MULTICLASS_FIELDS = _multiclass_fields()


#: Most coarse-grid points per axis of ``kdlab optimize kd`` (the grid costs its square in solves).
MAX_KD_GRID = 50


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


def _warn(message) -> None:
    typer.echo(f"Warning: {str(message).splitlines()[0] if str(message) else message}", err=True)


def _parse_grid(grid: List[str]) -> dict:
    from ..runs.sweep import parse_grid_value

    spec = {}
    for g in grid or ():
        if "=" not in g:
            fail(f"--grid must be FIELD=VALUES, got {g!r}")
        k, v = g.split("=", 1)
        k = k.strip().replace("-", "_")
        if k in spec:
            fail(f"--grid {k} given twice")
        try:
            spec[k] = parse_grid_value(v, k)
        except ValueError as exc:
            fail(f"--grid {k}: {exc}")
    return spec


@app.command("sweep")
@declared_options(SIMULATION_OPTIONS, "sim_options", exclude=("tol",))
@declared_options(THEORY_OPTIONS, "theory_options")
def sweep_command(
    sim_options,
    theory_options,
    grid: Annotated[Optional[List[str]], typer.Option(
        "--grid", "-g", help="FIELD=VALUES, repeatable. VALUES: 'a,b,c', 'START:STOP:NUM' or "
                             "'START:STOP:NUM:log'. Fields: the data's (" + ", ".join(_DATA_FIELDS) + "; K classes: "
                             + ", ".join(_MULTICLASS_FIELDS) + ", prior and gram as '0.5 0.3 0.2' and "
                             "'1 0.2; 0.2 1'), "
                             "stage<k>.<param> for stage k, and the aliases teacher, teacher_<param> (stage 0), "
                             "student (false: the teacher alone), the student parameters (eta, chi, temperature, "
                             "lam, t2_scaling, data_alpha: the last stage), optimize=lam|teacher_lam; or "
                             "workflow=replace|accumulate|mix with workflow_<param> (generations, syn_alpha, "
                             "real_alpha, temperature, lam, eta, real_weight, syn_weight). With --file: more "
                             "axes, overriding the file's.")] = None,
    sweep_file: Annotated[Optional[Path], typer.Option(
        "--file", "-f", help="A TOML sweep file: a problem file ([data], [[stages]]: the base point) with a "
                             "[grid] table of axes and optional [sweep] backend, [theory], [simulate] tables "
                             "(docs/chains.md); the options given here override it.", show_default=False)] = None,
    backend: Annotated[Optional[str], typer.Option(
        "--backend", "-b", help="theory, simulate, both, or module:function (a function with the "
                                "signature of kdlab.theory.solve). Default: the file's, else theory.",
        show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Table path (.csv or .parquet; both if no suffix).")]
    = Path("sweep.csv"),
    store: Annotated[Optional[Path], typer.Option("--store", help="Cache folder (resumable); default: none.")]
    = None,
    n_jobs: NJobs = -1,
    scheduler: Scheduler = None,
    strict: Annotated[bool, flag(
        "--strict", help="Exit with status 1 if a point did not converge or failed.")] = False,
    progress: Progress = True,
) -> None:
    """Evaluate a grid of problems with the theory and/or simulation backend into one tidy table.

    Example: kdlab sweep -g alpha=0.5:5:10 -g chi=0,0.5,1 -g rho=0.3 --backend theory -o chi.csv;
    K classes: kdlab sweep -g classes=3 -g similarity=0,0.3,0.6 -g alpha=1,2 -g student=false;
    from a file: kdlab sweep --file sweep.toml -o out.csv
    """
    from ..errors import OutputError, ResourceError, StoreError, SweepError
    from ..runs.store import check_store
    from ..runs.sweep import Sweep, check_table_target, save_table_or_fallback, table_warnings
    from ..runs.sweepfile import read_sweep_file

    check_jobs(n_jobs)
    spec = _parse_grid(grid)
    if backend is not None and backend not in ("theory", "simulate", "both") and ":" not in backend:
        fail(f"--backend must be theory, simulate, both or module:function, got {backend!r}")
    if sweep_file is None and not spec:
        fail("give the axes: --grid FIELD=VALUES (repeatable) or --file SWEEP.toml")
    try:
        if sweep_file is not None:
            sf = read_sweep_file(sweep_file)
            sf = dataclasses.replace(sf, grid={**sf.grid, **spec})
            sw = sf.sweep(backend=backend, theory_options=theory_options, **sim_options)
        else:
            sw = Sweep(spec, backend=backend or "theory", theory_options=theory_options, **sim_options)
    except ValueError as exc:
        fail(str(exc))
    formats = (out.suffix[1:],) if out.suffix in (".csv", ".parquet") else ("csv", "parquet")
    # every file-system problem before anything is computed
    try:
        check_table_target(out, formats)
        if store is not None:
            check_store(store)
        if scheduler is None:
            sw.check_resources(n_jobs=n_jobs)
    except (OutputError, StoreError, ResourceError) as exc:
        fail(str(exc))
    t0 = time.perf_counter()
    failed = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _scheduler(scheduler) as client:
            try:
                df = sw.run(store, n_jobs=n_jobs, scheduler=client, progress=progress)
            except SweepError as exc:
                df = exc.table
                failed = len(exc.failures)
                caught.append(warnings.WarningMessage(str(exc), RuntimeWarning, __file__, 0))
            except (OutputError, StoreError, ResourceError) as exc:
                fail(str(exc))
    for w in caught:
        _warn(w.message)
    if df is None or df.empty:
        fail("no point could be computed")
    try:
        paths, error = save_table_or_fallback(df, out, formats, fallback=store)
    except OutputError as exc:
        fail(str(exc))
    if error is not None:
        fail(f"{error}; the table ({len(df)} rows) was written to {', '.join(str(p) for p in paths)} instead")
    typer.echo(f"{len(df)} rows x {df.shape[1]} columns in {time.perf_counter() - t0:.1f} s -> "
               + ", ".join(str(p) for p in paths))
    problems = table_warnings(df)
    for _, message in problems:
        _warn(message)
    if strict and (failed or any(kind == "nonconverged" for kind, _ in problems)):
        raise typer.Exit(1)


optimize_app = typer.Typer(help="Optimal hyper-parameters over the theory backend.", no_args_is_help=True)
app.add_typer(optimize_app, name="optimize")


def _bounds(spec: str, name: str):
    try:
        lo, hi = (float(x) for x in spec.split(","))
    except ValueError:
        fail(f"{name} must be LOW,HIGH, got {spec!r}")
    return lo, hi


def _emit_optimum(opt, as_json: bool, what: str):
    st = opt.result.student if opt.result.student is not None and what != "teacher" else opt.result.teacher
    if as_json:
        json.dump({"optimum": opt.params, "stage": opt.stage, "gen_error": opt.gen_error, "n_evals": opt.n_evals,
                   "at_bound": opt.at_bound, "result": opt.result.to_json_dict()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    typer.echo(", ".join(f"{k} = {v:.6g}" for k, v in opt.params.items())
               + f"  ->  {what} eps_g = {opt.gen_error:.6f}   ({opt.n_evals} solves"
               + (", optimum on a bound of the search: widen it" if opt.at_bound else "") + ")")
    if st.m is not None:
        typer.echo(f"  m = {st.m:.6g}, q = {st.q:.6g}, bias = {st.bias:.6g}")
    else:  # K classes: the per-class errors (the arrays M, Q, P are in --json)
        typer.echo("  class_errors = " + ", ".join(f"{v:.6g}" for v in st.class_errors))


def _warn_at_bound(opt) -> None:
    if opt.at_bound:
        _warn(f"the optimum ({', '.join(f'{k} = {v:.4g}' for k, v in opt.params.items())}) is on the edge of "
              "the search interval: widen it (--bounds / --chi-bounds / --temperature-bounds)")


def _pair(spec: Optional[str], name: str, default):
    return tuple(default) if spec is None else _bounds(spec, name)


@optimize_app.command("lam")
@problem_command
def optimize_lam_command(
    problem,
    given_options,
    which: Annotated[str, typer.Option("--which", help="'student' (its lam) or 'teacher' (lam_t).")] = "student",
    bounds: Annotated[Optional[str], typer.Option(
        "--bounds", help=f"Search interval LOW,HIGH for the ridge (default {_OPT_LAM['bounds']}).")] = None,
    as_json: AsJson = False,
) -> None:
    """The ridge minimizing the student's (or the logistic teacher's) generalization error."""
    from ..params import STUDENT
    from ..runs.tuning import OptimizationError, optimal_lam

    if which not in ("student", "teacher"):
        fail(f"--which must be 'student' or 'teacher', got {which!r}")
    ignored = sorted(given_options & set(STUDENT))
    if which == "teacher" and ignored:
        flags = ", ".join("--" + n.replace("_", "-") for n in ignored)
        fail(f"--which teacher ignores the student's options: remove {flags}")
    if which == "student" and len(problem.stages) < 2:
        fail("--which student needs a student (remove --no-student)")
    try:
        opt = optimal_lam(problem, which=which, bounds=_pair(bounds, "--bounds", _OPT_LAM["bounds"]))
    except (ValueError, OptimizationError) as exc:
        fail(str(exc))
    _emit_optimum(opt, as_json, which)
    _warn_at_bound(opt)


@optimize_app.command("kd")
@problem_command
def optimize_kd_command(
    problem,
    given_options,
    chi_bounds: Annotated[Optional[str], typer.Option(
        "--chi-bounds", help=f"LOW,HIGH within [0, 1] (default {_OPT_KD['chi_bounds']}).")] = None,
    temperature_bounds: Annotated[Optional[str], typer.Option(
        "--temperature-bounds", help=f"LOW,HIGH (> 0; default {_OPT_KD['temperature_bounds']}).")] = None,
    grid: Annotated[int, typer.Option(
        "--grid", help=f"Coarse grid points per axis before the polish (2 to {MAX_KD_GRID}).")] = _OPT_KD["n_chi"],
    as_json: AsJson = False,
) -> None:
    """The (chi, temperature) minimizing the KD student's generalization error at its fixed lam."""
    from ..runs.tuning import OptimizationError, optimal_kd

    if not 2 <= grid <= MAX_KD_GRID:
        fail(f"--grid must be an integer in [2, {MAX_KD_GRID}] (it costs grid^2 solves), got {grid}")
    ignored = sorted(given_options & {"chi", "temperature"})
    if ignored:
        fail(f"optimize kd searches {' and '.join(ignored)}: remove {', '.join('--' + n for n in ignored)}")
    if len(problem.stages) != 2:
        fail("optimize kd needs a teacher and one student (remove --no-student)")
    try:
        opt = optimal_kd(problem, chi_bounds=_pair(chi_bounds, "--chi-bounds", _OPT_KD["chi_bounds"]),
                         temperature_bounds=_pair(temperature_bounds, "--temperature-bounds",
                                                  _OPT_KD["temperature_bounds"]),
                         n_chi=grid, n_temperature=grid)
    except (ValueError, OptimizationError) as exc:
        fail(str(exc))
    _emit_optimum(opt, as_json, "student")
    _warn_at_bound(opt)
