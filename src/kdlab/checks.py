"""The contract every stage type and every data model of kdlab keeps, as checks (in the spirit of
scikit-learn's ``check_estimator``). A new stage type defined outside the library can run them:

>>> from kdlab.checks import check_stage   # doctest: +SKIP
>>> for name, check in check_stage(MyTeacher(lam=1.0)): check()   # doctest: +SKIP

Each check raises ``AssertionError`` with a message when the contract is broken:

* ``declared``: every parameter is declared (type, range, default, help) and the defaults are
  the declared ones;
* ``validates``: a value outside its declared range, or not a number, raises
  :class:`kdlab.errors.ParameterError` whose message names the parameter;
* ``round_trip``: a problem with the stage survives ``Problem.to_dict`` / ``from_dict``, a TOML
  problem file and the JSON of a :class:`~kdlab.results.Result`; its record columns follow the
  one naming rule ``stage<k>_<name>``;
* ``both_backends``: ``theory.solve`` converges and ``simulate`` runs on it, both return one
  block per stage with the same observables;
* ``agrees``: at a small point, theory and simulation agree within 4 standard errors + 3 % +
  0.01 (N = 400, 8 seeds: a smoke test of the conventions, not a precision test).
"""

from __future__ import annotations

import math
import re
from typing import Callable, Iterator, Optional

from .errors import ParameterError
from .problem import GaussianMixture, LogisticTeacher, Problem, Student, read_problem_file

__all__ = ["check_stage", "check_data", "problem_with"]


def problem_with(stage, data: Optional[GaussianMixture] = None) -> Problem:
    """A small problem using ``stage``: a teacher alone, or a student after a logistic teacher."""
    data = data or GaussianMixture(alpha=2.0, rho=0.3)
    if isinstance(stage, Student):
        return Problem(data, (LogisticTeacher(lam=0.1), stage))
    return Problem(data, (stage,))


def _declared(obj) -> None:
    cls = type(obj)
    assert cls.PARAMS, f"{cls.__name__} declares no parameter"
    for name, p in cls.PARAMS.items():
        assert p.name == name and p.help and p.type in (float, int, bool, str), f"{cls.__name__}.{name}"
        assert getattr(cls(), name) == p.default, f"{cls.__name__}().{name} is not its declared default"


def _validates(obj) -> None:
    cls = type(obj)
    for name, p in cls.PARAMS.items():
        if p.type is bool:
            bad = ["yes"]
        elif p.type is str and not p.numeric:
            bad = [3.0, "no-such-choice"]
        else:
            bad = (["x"] + ([p.low - 1.0] if p.low is not None else [])
                   + ([p.high * 2 + 1.0] if p.high is not None else []))
        for v in bad:
            try:
                obj.replace(**{name: v})
            except ParameterError as exc:
                assert re.search(rf"\b{name}\b", str(exc)), \
                    f"{cls.__name__}: the error for {name}={v!r} does not name it: {exc}"
                assert "\n" not in str(exc), f"{cls.__name__}: a multi-line error for {name}"
            else:
                raise AssertionError(f"{cls.__name__}.{name} = {v!r} was accepted")


def _round_trip(obj, tmp_dir) -> None:
    import json
    import tomllib
    from pathlib import Path

    from .theory import solve

    pr = problem_with(obj)
    assert Problem.from_dict(pr.to_dict()) == pr, "Problem.to_dict / from_dict"
    assert Problem.from_dict(tomllib.loads(pr.to_toml())) == pr, "Problem.to_toml"
    if tmp_dir is not None:
        f = Path(tmp_dir) / "problem.toml"
        f.write_text(pr.to_toml())
        assert read_problem_file(f).problem == pr, "a TOML problem file"
    res = solve(pr)
    js = json.loads(json.dumps(res.to_json_dict()))
    assert Problem.from_dict(js["problem"]) == pr, "the problem in a Result's JSON"
    assert len(js["stages"]) == len(pr.stages)
    rec = res.to_record()
    k = len(pr.stages) - 1
    assert f"stage{k}_kind" in rec and rec[f"stage{k}_kind"] == obj.kind
    assert f"stage{k}_gen_error" in rec
    assert not [c for c in rec if c.startswith(("teacher_", "student_"))], "the one naming rule"


def _both_backends(obj):
    from .simulation import simulate
    from .theory import solve

    pr = problem_with(obj)
    th = solve(pr)
    assert th.status.converged, f"theory did not converge: {th.status.message}"
    sim = simulate(pr, n_features=400, seeds=8, n_jobs=1)
    assert len(th.stages) == len(sim.stages) == len(pr.stages)
    for a, b in zip(th.stages, sim.stages):
        assert set(a.values()) - {"gen_error_test"} <= set(b.values()), (set(a.values()), set(b.values()))
        assert all(math.isfinite(v) for v in a.values().values())
    return th, sim


def _agrees(obj) -> None:
    th, sim = _both_backends(obj)
    for k, (a, b) in enumerate(zip(th.stages, sim.stages)):
        for o in ("gen_error", "m", "q"):
            t, s, se = getattr(a, o), getattr(b, o), b.stderr.get(o, 0.0)
            assert abs(t - s) <= 4 * se + 0.03 * abs(t) + 0.01, (k, o, t, s, se)


def check_stage(obj, tmp_dir=None) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(name, check)`` pairs of the stage contract for the stage instance ``obj``."""
    yield "declared", lambda: _declared(obj)
    yield "validates", lambda: _validates(obj)
    yield "round_trip", lambda: _round_trip(obj, tmp_dir)
    yield "both_backends", lambda: _both_backends(obj) and None
    yield "agrees", lambda: _agrees(obj)


def check_data(data) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(name, check)`` pairs of the data-model contract for the data instance ``data``."""

    def round_trip():
        pr = Problem(data, (LogisticTeacher(),))
        assert Problem.from_dict(pr.to_dict()) == pr
        rec = pr.to_record()
        for n in type(data).PARAMS:
            assert rec[n] == getattr(data, n), f"the record names the data's {n} unprefixed"

    yield "declared", lambda: _declared(data)
    yield "validates", lambda: _validates(data)
    yield "round_trip", round_trip
