"""Every command's ``--help`` works, and the problem options state the declared defaults.

A problem parameter is declared once (:mod:`kdlab.params`); the command line's options and the
Python dataclasses both take their defaults from that declaration. These tests read the help
text a user sees and check that it states, for every declared parameter, the same default as
the declaration and as the dataclass (``GaussianMixture()``, ``LogisticTeacher()``,
``BayesOptimalTeacher()``, ``Student()``); and that ``kdlab theory --json`` without options is
``theory.solve`` at the dataclass defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
from typer.testing import CliRunner

from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student, theory
from kdlab.cli import app
from kdlab.params import BAYES_TEACHER, DATA, LOGISTIC_TEACHER, STUDENT

runner = CliRunner()
# A wide terminal: fewer wrapped lines (the parser below also copes with wrapping).
ENV = {"COLUMNS": "240", "TERMINAL_WIDTH": "240", "NO_COLOR": "1"}

#: Every command and sub-command (the ones the docs have a page for).
COMMANDS = [["simulate"], ["theory"], ["theory-curve"], ["sweep"], ["optimize"], ["optimize", "lam"],
            ["optimize", "kd"], ["reproduce"], ["figure"], ["experiment"], ["experiment", "digits"], []]
#: Commands whose problem options are generated from the declarations.
PROBLEM_COMMANDS = [["simulate"], ["theory"], ["theory-curve"], ["optimize", "lam"], ["optimize", "kd"]]

#: (declarations, dataclass, option prefix): each declared parameter NAME is the option
#: --PREFIX-NAME (``_`` as ``-``).
DECLARED = [(DATA, GaussianMixture, ""), (LOGISTIC_TEACHER, LogisticTeacher, "teacher-"),
            (BAYES_TEACHER, BayesOptimalTeacher, "teacher-"), (STUDENT, Student, "")]
CASES = [(decl, cls, prefix, name) for decl, cls, prefix in DECLARED for name in decl]


def _help(args: list[str]) -> str:
    res = runner.invoke(app, args + ["--help"], env=ENV)
    assert res.exit_code == 0, f"kdlab {' '.join(args)} --help exited {res.exit_code}:\n{res.output}"
    return res.output


def _flat(text: str) -> str:
    """The help text without the boxes and line breaks, single-spaced."""
    return " ".join(re.sub(r"[│╭╮╰╯─┃━┏┓┗┛]", " ", text).split())


@pytest.fixture(scope="module")
def problem_help() -> dict:
    return {" ".join(c): _flat(_help(c)) for c in PROBLEM_COMMANDS}


@pytest.mark.parametrize("args", COMMANDS, ids=lambda c: " ".join(c) or "kdlab")
def test_every_help_exits_0(args):
    out = _help(args)
    assert "Usage:" in out


def _stated_default(flat: str, option: str) -> str:
    m = re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])(.*?)\bdefault (\S+?)\.(?:\s|$)", flat)
    assert m, f"{option}: no 'default ...' in the help text"
    assert " --" not in m.group(1).replace(f"--no-{option[2:]}", ""), \
        f"{option}: its help has no default (the match ran into the next option)"
    return m.group(2)


@pytest.mark.parametrize("command", [" ".join(c) for c in PROBLEM_COMMANDS])
@pytest.mark.parametrize("decl, cls, prefix, name", CASES,
                         ids=[f"{cls.__name__}.{name}" for _, cls, _, name in CASES])
def test_help_states_the_declared_default(problem_help, command, decl, cls, prefix, name):
    p = decl[name]
    option = "--" + prefix + name.replace("_", "-")
    stated = _stated_default(problem_help[command], option)
    # the declaration, the help and the dataclass agree
    assert stated == str(p.default), f"kdlab {command} {option}: help says {stated}, declared {p.default!r}"
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    assert field.default == p.default, f"{cls.__name__}.{name} defaults to {field.default!r}, declared {p.default!r}"
    assert getattr(cls(), name) == p.default
    assert type(getattr(cls(), name)) is p.type


def test_every_declared_parameter_has_an_option(problem_help):
    for command, flat in problem_help.items():
        for decl, _, prefix in DECLARED:
            for name in decl:
                assert "--" + prefix + name.replace("_", "-") in flat, (command, name)


def _same_numbers(a, b, path="$"):
    """Recursive equality: same keys and lengths, equal strings / bools / None, equal numbers."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same_numbers(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            _same_numbers(x, y, f"{path}[{i}]")
    elif isinstance(a, bool) or a is None or isinstance(a, str):
        assert a == b, f"{path}: {a!r} != {b!r}"
    else:
        assert isinstance(b, (int, float)) and not isinstance(b, bool), f"{path}: {a!r} vs {b!r}"
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300), f"{path}: CLI {a!r} != API {b!r}"


def test_theory_json_without_options_is_the_api_at_its_defaults():
    res = runner.invoke(app, ["theory", "--json"], env=ENV)
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    api = theory.solve(GaussianMixture(), LogisticTeacher(), Student()).to_json_dict()
    api = json.loads(json.dumps(api))  # the same JSON types (tuples as lists, ...)
    _same_numbers(cli, api)
    assert cli["status"]["converged"] is True
    assert cli["problem"]["data"]["alpha"] == DATA["alpha"].default
