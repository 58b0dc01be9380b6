"""Command-line options generated from the parameter declarations (:mod:`kdlab.params`).

:func:`problem_command` turns ``fn(problem, ...)`` into a Typer command that takes every
problem parameter as an option (``--alpha``, ``--teacher``, ``--teacher-lam``, ``--eta``, ...,
or ``--problem FILE.toml``) with the declared help, range and default, builds and validates
the :class:`~kdlab.problem.Problem` and calls ``fn``. An option given for a parameter that
the problem ignores (``--teacher-lam`` with the Bayes-optimal teacher, a student option with
``--no-student``, any option with ``--problem``) is an error, not silence.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, Optional

import typer

from ..params import DATA, STUDENT, Param
from ..problem import TEACHER_KINDS, GaussianMixture, Problem, ProblemFile, Student, read_problem_file, teacher_kind
from ._app import flag

__all__ = ["problem_command", "declared_options", "fail", "TEACHER_PARAMS", "AsJson", "Progress", "NJobs",
           "Scheduler", "check_jobs"]

# Options every command that has them spells the same way.
AsJson = Annotated[bool, flag("--json", help="Print the result as one JSON object.")]
Progress = Annotated[bool, flag("--progress/--quiet", " /--no-progress", " /-q",
                                        help="Progress on stderr (--quiet: none).")]
NJobs = Annotated[int, typer.Option("--n-jobs", "-j", help="Worker processes or threads (-1: all cores; 1: serial).")]
Scheduler = Annotated[Optional[str], typer.Option(
    "--scheduler", help="Dask scheduler address (tcp://host:port): run on that cluster. Connecting means "
                        "trusting it: it exchanges pickles.")]


def fail(message: str, code: int = 2) -> None:
    """Print ``Error: message`` (one line) to stderr and exit with ``code``."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def check_jobs(n_jobs: int) -> None:
    """Exit 2 unless ``n_jobs`` is valid (:data:`kdlab.params.RUN_OPTIONS`: >= 1 or -1, all cores)."""
    from ..params import RUN_OPTIONS

    try:
        RUN_OPTIONS["n_jobs"].check(n_jobs, "--n-jobs")
    except ValueError as exc:
        fail(str(exc))


def _union_teacher_params() -> dict[str, Param]:
    out: dict[str, Param] = {}
    for cls in TEACHER_KINDS.values():
        for name, p in cls.PARAMS.items():
            out.setdefault(name, p)
    return out


#: Every parameter of every teacher kind (``--teacher-NAME``).
TEACHER_PARAMS = _union_teacher_params()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_METAVAR = {float: "FLOAT", int: "INT"}


def _option(p: Param, name: str, help_prefix: str = "", default_text: Optional[str] = None):
    opt = _flag(name)
    shown = p.default if default_text is None else default_text
    text = f"{help_prefix}{p.help} Range {p.range_text}; default {shown}."
    if p.type is bool:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=Annotated[Optional[bool], flag(
                                     f"{opt}/--no-{opt[2:]}", help=text, show_default=False)])
    typ = p.type if p.type in (int, float) else str
    metavar = _METAVAR.get(p.type) or "|".join(p.choices).upper() or "TEXT"
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[typ], typer.Option(
                                 opt, help=text, show_default=False, metavar=metavar)])


def declared_options(decl: Mapping[str, Param], dest: str, exclude: tuple = ()) -> Callable:
    """Decorator: ``fn(..., <dest>: dict)`` becomes a command taking the declared options of
    ``decl`` (``--tol``, ``--maxiter``, ...: the help, range and default of their declaration),
    validated here (one line and exit status 2 on a bad value); ``<dest>`` receives the options
    given, by name (the library fills in the declared defaults)."""
    names = [n for n in decl if n not in exclude]

    def deco(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for n, p in sig.parameters.items() if n != dest]

        @functools.wraps(fn)
        def command(**kw):
            given = {n: kw.pop(n) for n in names}
            opts = {}
            for n, v in given.items():
                if v is None:
                    continue
                try:
                    opts[n] = decl[n].check(v, _flag(n))
                except ValueError as exc:
                    fail(str(exc))
            kw[dest] = opts
            return fn(**kw)

        del command.__wrapped__
        command.__annotations__ = {}
        command.__signature__ = sig.replace(parameters=own + [_option(decl[n], n) for n in names])
        return command

    return deco


def _generated() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    out = [_option(p, n) for n, p in DATA.items()]
    kinds = ", ".join(TEACHER_KINDS)
    out.append(inspect.Parameter("teacher", kw, default=None, annotation=Annotated[Optional[str], typer.Option(
        "--teacher", help=f"Stage 0: {kinds} (aliases bayes, bo). Default logistic.", show_default=False)]))
    for n, p in TEACHER_PARAMS.items():
        owners = [c.kind for c in TEACHER_KINDS.values() if n in c.PARAMS]
        out.append(_option(p, f"teacher_{n}", help_prefix=f"Teacher ({', '.join(owners)}): "))
    out += [_option(p, n, help_prefix="Student: ") for n, p in STUDENT.items()]
    out.append(inspect.Parameter("no_student", kw, default=False, annotation=Annotated[bool, flag(
        "--no-student", help="Stage 0 alone (no student).")]))
    out.append(inspect.Parameter("problem_file", kw, default=None, annotation=Annotated[Optional[Path], typer.Option(
        "--problem", help="A TOML problem file (data and a chain of stages, see docs/model.md); "
                          "excludes the other problem options.", show_default=False)]))
    return out


_GENERATED = _generated()
_NAMES = [p.name for p in _GENERATED]


def build_problem(values: dict[str, Any]) -> ProblemFile:
    """The problem (and, from ``--problem``, the file's solver options) described by the generated
    options (``ValueError`` if invalid)."""
    path = values.pop("problem_file")
    no_student = values.pop("no_student")
    given = sorted(_flag(k) for k, v in values.items() if v is not None)
    if path is not None:
        if given or no_student:
            also = ", ".join(given or ["--no-student"])
            raise ValueError(f"--problem excludes the problem options; also given: {also}")
        return read_problem_file(path)
    data = GaussianMixture(**{n: values[n] for n in DATA if values[n] is not None})
    cls = teacher_kind(values["teacher"] or "logistic")
    tparams = {n: values[f"teacher_{n}"] for n in TEACHER_PARAMS if values[f"teacher_{n}"] is not None}
    ignored = sorted(set(tparams) - set(cls.PARAMS))
    if ignored:
        raise ValueError(f"the {cls.kind} teacher has no parameter {', '.join(ignored)}: "
                         f"remove {', '.join(_flag('teacher_' + n) for n in ignored)}")
    teacher = cls(**tparams)
    sparams = {n: values[n] for n in STUDENT if values[n] is not None}
    if no_student:
        if sparams:
            raise ValueError(f"--no-student ignores {', '.join(_flag(n) for n in sorted(sparams))}: remove them")
        return ProblemFile(Problem(data, (teacher,)))
    return ProblemFile(Problem(data, (teacher, Student(**sparams))))


def problem_command(fn: Callable) -> Callable:
    """Wrap ``fn(problem, **options)`` as a command taking the generated problem options
    (``fn`` may also take ``given_options``: the names of the problem options given)."""
    sig = inspect.signature(fn, eval_str=True)
    own = [p for n, p in sig.parameters.items() if n not in ("problem", "given_options", "file_options")]
    wants_given = "given_options" in sig.parameters
    wants_file = "file_options" in sig.parameters

    @functools.wraps(fn)
    def command(**kw):
        values = {n: kw.pop(n) for n in _NAMES}
        given = {n for n, v in values.items() if v not in (None, False)}
        try:
            pf = build_problem(values)
        except (ValueError, TypeError) as exc:
            fail(str(exc))
        if wants_given:
            kw["given_options"] = given
        if wants_file:
            kw["file_options"] = pf
        return fn(problem=pf.problem, **kw)

    del command.__wrapped__
    command.__annotations__ = {}
    command.__signature__ = sig.replace(parameters=own + _GENERATED)
    return command
