"""Sweep points: the schema (from :mod:`kdlab.params`), normalization and grid expansion.

A *point* is one full problem (data and a chain of stages) as a flat dict whose names are the
columns of :meth:`kdlab.problem.Problem.to_record`: the data's parameters (the Gaussian
mixture's ``alpha``, ``delta``, ``rho``, ``label_noise``; or the K-class mixture's
:data:`MULTICLASS_FIELDS`, the keys of a TOML problem file's ``[data]`` table: ``alpha``,
``delta``, ``label_noise``, a named geometry ``geometry``, ``classes``, ``similarity``,
``norm`` and ``prior``, or ``prior`` and an explicit ``gram``; any of ``classes``,
``geometry``, ``similarity``, ``prior``, ``gram`` selects the K-class model), then
``stage<k>_<param>`` for every stage (``stage0_kind`` is the teacher's kind,
``stage<k>_data_alpha`` gives student ``k`` a fresh training set of that size, ``None``: its
parent's set), and ``optimize`` (``None``, or the ridge chosen by the theory
to minimize the generalization error: ``"stage0_lam"`` for a teacher alone, the last stage's
``"stage<k>_lam"`` for a teacher and one student).

Grid fields are these names, ``stage<k>.<param>`` (the same as ``stage<k>_<param>``), and the
documented aliases: ``teacher`` (``stage0_kind``) and ``teacher_<param>`` for stage 0;
``student_<param>`` and the bare student parameters (``eta``, ``chi``, ``temperature``,
``lam``, ``t2_scaling``, ``data_alpha``) for the **last** stage; ``student`` (``false``: the
teacher alone); ``optimize = "lam"`` / ``"teacher_lam"`` for the last stage's / the teacher's
ridge. The chain has ``1 + max k`` stages of the fields given (at least a teacher and one
student unless ``student = false``); fields it does not give take the declared defaults.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from ..data import MulticlassMixture, data_kind_of
from ..errors import ParameterError
from ..params import DATA, FRESH, GEOMETRY, MULTICLASS_DATA, WORKFLOW, check_bool
from ..problem import (
    TEACHER_KINDS,
    Fresh,
    GaussianMixture,
    Problem,
    Shared,
    Student,
    bias_rule_from_text,
    bias_rule_text,
    data_from_dict,
    teacher_kind,
)
from ..values import parse_values

__all__ = ["DATA_FIELDS", "MULTICLASS_FIELDS", "ARRAY_FIELDS", "POINT_FIELDS", "ALIASES", "MAX_POINTS", "MAX_STAGES",
           "normalize_point", "expand_grid", "grid_size", "is_multiclass", "data_of",
           "parse_grid_value", "make_problem", "point_stages", "student_fields"]

#: Most points one sweep may hold (checked from the product of the axis lengths, before expanding).
MAX_POINTS = 1_000_000
#: Most stages of one chain in a sweep point.
MAX_STAGES = 12

#: The data's fields (unprefixed): the Gaussian mixture's.
DATA_FIELDS = tuple(DATA)
#: The K-class mixture's fields (:class:`kdlab.data.MulticlassMixture`, the ``[data]`` keys of a
#: problem file): ``alpha``, ``delta``, ``label_noise``, the named geometry (``geometry``,
#: ``classes``, ``similarity``, ``norm``; ``None`` with an explicit ``gram``), ``prior`` (K
#: numbers) and ``gram`` (K x K; ``None`` with a named geometry).
MULTICLASS_FIELDS = (*MULTICLASS_DATA, *GEOMETRY, "prior", "gram")
#: The array-valued data fields and their depth (a grid axis of them is a list of such arrays).
ARRAY_FIELDS = {"prior": 1, "gram": 2}
#: Significant digits of a canonical ``prior`` / ``gram`` entry (so that normalizing is idempotent).
_ARRAY_DIGITS = 12
_STUDENT_PARAMS = Student.PARAMS
_STAGE_FIELD = re.compile(r"stage(\d+)[._](\w+)")
_BARE_STUDENT = (*_STUDENT_PARAMS, "data_alpha", "bias_rule")


def _teacher_params() -> dict:
    out: dict = {}
    for cls in TEACHER_KINDS.values():
        for n, prm in cls.PARAMS.items():
            out.setdefault(n, prm)
    return out


def _field(name: str) -> str:
    """The point field of a declared parameter: its name (``bias``: ``bias_rule``, its text form;
    the column ``stage<k>_bias`` is the fitted bias)."""
    return "bias_rule" if name == "bias" else name


def _value(prm, value, label):
    v = _check(prm, value, label)
    return bias_rule_text(v) if prm.name == "bias" else v

#: Field names a grid may use besides the canonical ones, with their meaning.
ALIASES = {
    "teacher": "stage0_kind",
    **{f"teacher_{n}": f"stage0_{n}" for cls in TEACHER_KINDS.values() for n in cls.PARAMS},
    **{n: "the last stage's " + n for n in _BARE_STUDENT},
    **{f"student_{n}": "the last stage's " + n for n in _BARE_STUDENT},
    "student": "false: the teacher alone",
}

#: The fields of a point of a teacher and one student (the talk's pair), in table order.
POINT_FIELDS = (*DATA_FIELDS, "stage0_kind", *(f"stage0_{_field(n)}" for n in _teacher_params()),
                *(f"stage1_{_field(n)}" for n in _STUDENT_PARAMS), "stage1_data_alpha", "optimize")


def student_fields(k: int) -> tuple:
    """The point fields of student ``k``."""
    return (*(f"stage{k}_{_field(n)}" for n in _STUDENT_PARAMS), f"stage{k}_data_alpha")


def _num(x):
    if isinstance(x, np.generic):
        return x.item()
    return x


def _check(param, value, label):
    """Validate one field through its declaration; bool fields also take 0 / 1 (and 0.0 / 1.0
    as parsed from ``-g t2_scaling=0``)."""
    value = _num(value)
    if param.type is bool:
        if isinstance(value, float) and value in (0.0, 1.0):
            value = int(value)
        return check_bool(label, value, lenient=True)
    return param.check(value, label)


def _split(name: str):
    """``("data", field)``, ``(k, field)`` with ``k`` an int or ``"last"``, ``("student", None)``,
    ``("optimize", None)`` or ``("workflow", param)`` for one grid field name; ``ValueError`` for
    an unknown name."""
    if name in DATA_FIELDS or name in MULTICLASS_FIELDS:
        return "data", name
    if name in ("student", "optimize"):
        return name, None
    if name == "workflow":
        return "workflow", None
    if isinstance(name, str) and name.startswith(("workflow_", "workflow.")) and name[9:] in WORKFLOW:
        return "workflow", name[9:]
    if name == "teacher":
        return 0, "kind"
    m = _STAGE_FIELD.fullmatch(str(name))
    if m:
        k, f = int(m.group(1)), m.group(2)
        if k > MAX_STAGES - 1:
            raise ValueError(f"unknown sweep parameter {name!r}: a chain has at most {MAX_STAGES} stages")
        return k, f
    if name.startswith("teacher_"):
        return 0, name[len("teacher_"):]
    if name.startswith("student_") and name[len("student_"):] in _BARE_STUDENT:
        return "last", name[len("student_"):]
    if name in _BARE_STUDENT:
        return "last", name
    raise ValueError(f"unknown sweep parameter {name!r}; known: {', '.join(DATA_FIELDS)}, "
                     f"{', '.join(f for f in MULTICLASS_FIELDS if f not in DATA_FIELDS)}, stage<k>.<param>, "
                     f"{', '.join(ALIASES)}, optimize, workflow, workflow_<param>")


def normalize_point(point: Mapping[str, Any], base: Optional[Mapping[str, Any]] = None) -> dict:
    """Complete ``point`` with ``base`` then the declared defaults, validate it and canonicalize
    it (the names of :meth:`kdlab.problem.Problem.to_record`).

    Fields that do not matter are set to ``None`` (so that they do not split the cache): the
    Bayes-optimal teacher's ``stage0_lam``, and the optimized ridge when ``optimize`` is set.
    Raises ``ValueError`` naming the field on unknown or invalid fields.
    """
    data_vals: dict = {}
    stage_vals: dict = {}
    last_vals: dict = {}
    wf_vals: dict = {}
    from_point: set = set()  # the student fields the point itself gives (not its base)
    student = None
    optimize = None
    for src in (base or {}), point:
        for name, value in dict(src).items():
            if src is point:
                from_point.add(name)
            where, f = _split(name)
            if where == "data":
                data_vals[f] = value
            elif where == "student":
                student = value
            elif where == "optimize":
                optimize = value
            elif where == "workflow":
                wf_vals[f] = value
            elif where == "last":
                last_vals[f] = value
            else:
                stage_vals.setdefault(where, {})[f] = value
    if data_vals.get("alpha") is None:
        raise ValueError("every sweep point needs 'alpha'")
    data_fields = _data_point(data_vals)
    has_student = True if student is None else _bool_field(student, "student")
    n = 1 + max([k for k in stage_vals if k > 0], default=1 if has_student else 0)
    workflow = _workflow_fields(wf_vals, from_point, optimize)
    if workflow is not None:
        has_student, stage_vals, last_vals, n = True, {0: stage_vals.get(0, {})}, {}, 1
    if not has_student:
        # a base shared by several sweeps may hold student fields: a teacher alone ignores them
        extra = sorted(n_ for n_ in from_point if _split(n_)[0] == "last" or isinstance(_split(n_)[0], int)
                       and _split(n_)[0] > 0)
        if extra:
            raise ValueError(f"student=false (the teacher alone) excludes the student fields {extra}")
        stage_vals = {k: v for k, v in stage_vals.items() if k == 0}
        last_vals = {}
        n = 1
    elif last_vals:
        for f, v in last_vals.items():
            stage_vals.setdefault(n - 1, {}).setdefault(f, v)
    p: dict[str, Any] = dict(data_fields)
    # stage 0
    s0 = dict(stage_vals.get(0, {}))
    kind = s0.pop("kind", "logistic")
    if not isinstance(kind, str):
        raise ValueError(f"teacher must be one of {', '.join(TEACHER_KINDS)}, got {kind!r}")
    tcls = teacher_kind(kind)
    if "bias_rule" in s0:
        s0["bias"] = s0.pop("bias_rule")
    tparams = _teacher_params()
    unknown = set(s0) - set(tparams)
    if unknown:
        raise ValueError(f"unknown stage-0 field(s) {sorted(unknown)}: a teacher has {', '.join(tparams)}")
    p["stage0_kind"] = tcls.kind
    # a parameter the teacher kind does not have (the Bayes-optimal teacher's ridge) is None
    for n_ in tparams:
        own = tcls.PARAMS.get(n_)
        p[f"stage0_{_field(n_)}"] = None if own is None else _value(own, s0.get(n_, own.default), f"stage0_{n_}")
    for k in range(1, n):
        given = dict(stage_vals.get(k, {}))
        kind = given.pop("kind", "student")
        if kind != "student":
            raise ValueError(f"stage{k}_kind must be 'student' (a teacher can only be stage 0), got {kind!r}")
        if "bias_rule" in given:
            given["bias"] = given.pop("bias_rule")
        unknown = set(given) - set(_BARE_STUDENT)
        if unknown:
            raise ValueError(f"unknown stage-{k} field(s) {sorted(unknown)}; a student has {', '.join(_BARE_STUDENT)}")
        vals = {f: _check(prm, given.get(f, prm.default), f"stage{k}.{f}") for f, prm in _STUDENT_PARAMS.items()}
        st = Student(**vals)
        p[f"stage{k}_kind"] = "student"
        p.update({f"stage{k}_{_field(f)}": _value(prm, getattr(st, f), f"stage{k}.{f}")
                  for f, prm in _STUDENT_PARAMS.items()})
        d_alpha = given.get("data_alpha")
        p[f"stage{k}_data_alpha"] = None if d_alpha is None else _check(FRESH["alpha"], d_alpha, f"stage{k}.data_alpha")
    if workflow is not None:
        p.update(workflow)
        p["optimize"] = None
    else:
        p["optimize"] = _optimize(optimize, n, tcls, p)
    if is_multiclass(p):  # what the K-class family lacks (a Bayes teacher, a fixed bias, ...): by the Problem
        try:
            make_problem(p)
        except (ValueError, TypeError) as exc:
            raise ParameterError(str(exc)) from None
    return p


def is_multiclass(point: Mapping[str, Any]) -> bool:
    """Whether a normalized point is on the K-class mixture."""
    return "classes" in point


def _data_point(vals: Mapping[str, Any]) -> dict:
    """The canonical data fields of a point from the given ones: the Gaussian mixture's
    (validated by :data:`kdlab.params.DATA`), or the K-class mixture's, read by the rule of a
    problem file's ``[data]`` table (:func:`kdlab.problem.data_from_dict`)."""
    vals = {k: v for k, v in vals.items() if not (v is None and k in MULTICLASS_FIELDS and k not in DATA)}
    if data_kind_of(vals) is not MulticlassMixture:
        extra = sorted(set(vals) - set(DATA_FIELDS))
        if extra:
            raise ParameterError(f"{extra[0]} is a parameter of the K-class data (give classes, geometry, "
                                 "similarity, prior or gram)")
        data = GaussianMixture(**{n: _check(DATA[n], v, n) for n, v in vals.items()})
        return {n: getattr(data, n) for n in DATA_FIELDS}
    extra = sorted(set(vals) - set(MULTICLASS_FIELDS))
    if extra:
        raise ParameterError(f"{extra[0]} is not a parameter of the K-class data (its parameters: "
                             f"{', '.join(MULTICLASS_FIELDS)})")
    rec = {n: _check(MULTICLASS_DATA[n], v, n) for n, v in vals.items() if n in MULTICLASS_DATA}
    rec.update({n: _check(GEOMETRY[n], v, n) for n, v in vals.items() if n in GEOMETRY})
    for n in ARRAY_FIELDS:
        if n in vals:
            rec[n] = _array(vals[n], n)
    named = "gram" not in rec
    classes = rec.get("classes") if named else rec.pop("classes", None)
    if named and "prior" in rec:
        if "classes" in rec and rec["classes"] != len(rec["prior"]):
            raise ParameterError(f"classes = {rec['classes']} but the prior has {len(rec['prior'])} entries")
        rec["classes"] = len(rec["prior"])  # the prior gives K
    elif "prior" not in rec and not named:
        rec["prior"] = [1.0 / len(rec["gram"])] * len(rec["gram"])  # balanced, as for a named geometry
    data = data_from_dict(rec)
    K = data.n_classes
    if classes is not None and classes != K:
        raise ParameterError(f"classes = {classes} but the prior / gram have K = {K} classes")
    out = {n: getattr(data, n) for n in MULTICLASS_DATA}
    if named:
        out.update({n: rec.get(n, prm.default) for n, prm in GEOMETRY.items()})
        out["classes"] = K
        out["gram"] = None
    else:
        out.update({n: None for n in GEOMETRY})
        out["classes"] = K
        out["gram"] = [[_digits(v) for v in row] for row in data.gram]
    out["prior"] = [_digits(v) for v in data.prior]
    return {n: out[n] for n in MULTICLASS_FIELDS}


def _digits(v: float) -> float:
    return float(f"{float(v):.{_ARRAY_DIGITS}g}")


def _array(value, name: str) -> list:
    """``prior`` (K numbers) or ``gram`` (K x K) as nested lists of floats; also their text form
    in a result table (``"0.5 0.3 0.2"``, rows of ``gram`` separated by ``;``). ``ParameterError``
    naming the field otherwise (the data model checks the values)."""
    depth = ARRAY_FIELDS[name]
    shape = "K numbers" if depth == 1 else "K rows of K numbers"
    error = ParameterError(f"{name} must be {shape} (e.g. {_EXAMPLE[name]!r}), got {_show(value)}")
    v = value
    try:
        if isinstance(v, str):
            rows = [r.replace(",", " ").split() for r in v.split(";")]
            v = rows[0] if depth == 1 and len(rows) == 1 else rows
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise error from None
    if arr.ndim != depth:
        raise error
    return arr.tolist()


_EXAMPLE = {"prior": "0.5 0.3 0.2", "gram": "1 0.6; 0.6 1"}


def _show(value) -> str:
    from ..params import show

    return show(value)


def _workflow_fields(wf_vals: dict, from_point: set, optimize) -> Optional[dict]:
    """The canonical workflow fields of a point (``None``: not a workflow point): ``workflow``
    and ``workflow_<param>`` for every parameter of that workflow (declared defaults for the
    rest); the point's own stage fields other than the teacher's are an error."""
    from ..workflows import WORKFLOW_PARAMS

    name = wf_vals.get(None)
    if name in (None, "", "none", "None"):
        given = sorted(k for k in wf_vals if k is not None)
        if given:
            raise ValueError(f"workflow_{given[0]} needs workflow = replace, accumulate or mix")
        return None
    if name not in WORKFLOW_PARAMS:
        raise ValueError(f"workflow must be one of {', '.join(WORKFLOW_PARAMS)}, got {name!r}")
    clash = sorted(n for n in from_point if _split(n)[0] == "last" or isinstance(_split(n)[0], int)
                   and _split(n)[0] > 0 or _split(n)[0] == "student")
    if clash:
        raise ValueError(f"a workflow point builds its own generations: {', '.join(clash)} is not allowed with it")
    if optimize not in (None, "", "none", "None"):
        raise ValueError("optimize is not available for workflow points")
    allowed = ("generations", *WORKFLOW_PARAMS[name])
    bad = sorted(k for k in wf_vals if k is not None and k not in allowed)
    if bad:
        raise ValueError(f"the {name} workflow has no parameter {bad[0]} (its parameters: {', '.join(allowed)})")
    out = {"workflow": name}
    for f in allowed:
        prm = WORKFLOW[f]
        v = wf_vals.get(f, prm.default)
        out[f"workflow_{f}"] = None if v is None else _check(prm, v, f"workflow_{f}")
    return out


def _optimize(opt, n: int, tcls, p: dict) -> Optional[str]:
    if opt in (None, "", "none", "None"):
        return None
    if not isinstance(opt, str):
        raise ValueError(f"optimize must be None, 'lam', 'teacher_lam' or stage<k>.lam, got {opt!r}")
    where, f = _split(opt) if opt != "lam" else ("last", "lam")
    if f != "lam" or where in ("data", "student", "optimize"):
        raise ValueError(f"optimize must be None, 'lam', 'teacher_lam' or stage<k>.lam, got {opt!r}")
    k = (n - 1) if where == "last" else where
    if n > 2:
        raise ValueError("optimize is for a teacher alone or a teacher and one student, not for longer chains")
    if k >= n:
        raise ValueError(f"optimize={opt!r}: the chain has stages 0..{n - 1}")
    if n == 2 and k == 0:
        raise ValueError("optimize='teacher_lam' is for teacher-only points (student=false)")
    if k == 0 and "lam" not in tcls.PARAMS:
        raise ValueError(f"optimize='teacher_lam' needs a teacher with a ridge, e.g. the logistic one "
                         f"(the {tcls.kind} teacher has none)")
    name = f"stage{k}_lam"
    p[name] = None
    return name


def _bool_field(value, name):
    value = _num(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        value = int(value)
    return check_bool(name, value, lenient=True)


def point_stages(point: Mapping[str, Any]) -> int:
    """The number of stages of a normalized point."""
    if point.get("workflow"):
        return 1 + int(point["workflow_generations"])
    return 1 + max((int(m.group(1)) for k in point if (m := _STAGE_FIELD.fullmatch(k))), default=0)


def _is_one_value(v, name) -> bool:
    """Whether a grid entry is one value (not an axis): a scalar, a string, or one array of an
    array field (``prior = [0.5, 0.3, 0.2]`` is one prior; a list of them is an axis)."""
    if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
        return True
    depth = ARRAY_FIELDS.get(name)
    if depth is None:
        return False
    x = v
    for _ in range(depth):  # descend into the first element: a number at depth ``depth`` is one value
        if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
            return False
        x = list(x)
        if not x:
            return False
        x = x[0]
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def _as_list(v, name="") -> list:
    if _is_one_value(v, name):
        return [v]
    v = list(v)
    if not v:
        raise ValueError(f"the grid axis {name!r} has no values" if name else "a grid axis has no values")
    return v


def _grids(grid) -> list:
    return [grid] if isinstance(grid, Mapping) else list(grid)


def _axis_len(v, name="") -> int:
    if _is_one_value(v, name):
        return 1
    try:
        return len(v)
    except TypeError:
        return len(list(v))


def grid_size(grid: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]) -> int:
    """Number of points of a grid before deduplication: the product of its axis lengths
    (summed over a list of grids); computed without expanding anything."""
    return sum(math.prod(_axis_len(v, k) for k, v in g.items()) for g in _grids(grid))


def expand_grid(grid: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]],
                base: Optional[Mapping[str, Any]] = None, *, max_points: int = MAX_POINTS) -> list[dict]:
    """Cartesian product of a grid ``{field: value or list of values}`` (or the concatenation
    of a list of such grids), normalized; duplicate points are kept once, in first order.

    ``ValueError`` if the grid has more than ``max_points`` points (checked before expanding).
    """
    grids = _grids(grid)
    n = grid_size(grids)
    if n > max_points:
        shape = " + ".join(" x ".join(f"{k}[{_axis_len(v, k)}]" for k, v in g.items()) for g in grids)
        raise ValueError(f"the grid has {n} points ({shape}), more than the limit of {max_points}")
    out, seen = [], set()
    for g in grids:
        names = list(g)
        lists = [_as_list(g[n], n) for n in names]
        for combo in itertools.product(*lists):
            p = normalize_point(dict(zip(names, combo)), base)
            k = json.dumps(p, sort_keys=True)
            if k not in seen:
                seen.add(k)
                out.append(p)
    return out


def parse_grid_value(spec: str, name: str = "") -> list:
    """Parse one CLI axis (:func:`kdlab.values.parse_values`): ``"0.5:5:10"``, ``"1e-3:10:5:log"``,
    ``"log:1e-3:10:5"`` or a list ``"0,0.5,1"`` / ``"logistic,bayes-optimal"``. An array field
    (``prior``, ``gram``) takes a comma-separated list of arrays in their table text form:
    ``"0.5 0.3 0.2,0.4 0.4 0.2"``, ``"1 0.6; 0.6 1"``."""
    if name in ARRAY_FIELDS:
        items = [x.strip() for x in str(spec).split(",")]
        if not all(items):
            raise ValueError(f"invalid values {spec!r}: an empty {name} between commas")
        return items
    return parse_values(spec, numeric=False)


def data_of(point: Mapping[str, Any]):
    """The data model of a normalized point."""
    if not is_multiclass(point):
        return GaussianMixture(**{n: point[n] for n in DATA_FIELDS})
    base = {n: point[n] for n in MULTICLASS_DATA}
    if point.get("gram") is not None:
        return MulticlassMixture(prior=point["prior"], gram=point["gram"], **base)
    return MulticlassMixture.from_geometry(**{n: point[n] for n in GEOMETRY}, prior=point["prior"], **base)


def make_problem(point: Mapping[str, Any]) -> Problem:
    """The :class:`~kdlab.problem.Problem` of a normalized point (an optimized ridge, ``None``
    in the point, takes its declared default: the caller replaces it)."""
    data = data_of(point)
    tcls = teacher_kind(point["stage0_kind"])
    tpar = {}
    for n_, prm in tcls.PARAMS.items():
        v = point.get(f"stage0_{_field(n_)}")
        tpar[n_] = prm.default if v is None else (bias_rule_from_text(v) if n_ == "bias" else v)
    stages = [tcls(**tpar)]
    if point.get("workflow"):
        from ..workflows import WORKFLOW_PARAMS, workflow

        name = point["workflow"]
        params = {f: point[f"workflow_{f}"] for f in WORKFLOW_PARAMS[name]}
        return workflow(name, data, point["workflow_generations"], teacher=stages[0], **params)
    for k in range(1, point_stages(point)):
        vals = {f: point[f"stage{k}_{_field(f)}"] for f in _STUDENT_PARAMS}
        vals["bias"] = bias_rule_from_text(vals["bias"])
        if vals["lam"] is None:
            vals["lam"] = _STUDENT_PARAMS["lam"].default
        d_alpha = point.get(f"stage{k}_data_alpha")
        stages.append(Student(**vals, data=Shared() if d_alpha is None else Fresh(alpha=d_alpha)))
    return Problem(data, tuple(stages))
