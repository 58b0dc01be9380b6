"""Sweep points: the schema (from :mod:`kdlab.params`), normalization and grid expansion.

A *point* is one full problem description (data and a chain of stages) as a flat dict with
the fields of :data:`POINT_FIELDS`. Field names, defaults and ranges are those declared in
:mod:`kdlab.params` (``DATA``, ``LOGISTIC_TEACHER``, ``STUDENT``, ``FRESH``); only the
sweep-specific fields (``teacher``, ``student``, ``optimize``) are defined here.

Chains: ``teacher_eta`` is the teacher's fraction of coordinates; the unprefixed student
fields describe the first student, ``data_alpha`` gives it a fresh training set of that size
(``None``: the teacher's set); ``stage<k>.<field>`` (or ``stage<k>_<field>``, ``k >= 2``)
describes student ``k`` of a longer chain (its other fields take the declared defaults), e.g.
``-g stage2.temperature=0,1,2``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from ..params import DATA, FRESH, LOGISTIC_TEACHER, STUDENT, check_bool
from ..problem import TEACHER_KINDS, Fresh, GaussianMixture, Shared, Student, teacher_from_name, teacher_kind
from ..values import parse_values

__all__ = ["POINT_FIELDS", "DEFAULTS", "MAX_POINTS", "normalize_point", "expand_grid", "grid_size",
           "parse_grid_value", "make_problem"]

#: Most points one sweep may hold (checked from the product of the axis lengths, before expanding).
MAX_POINTS = 1_000_000


def _accepted(cls) -> set:
    return {f.name for f in dataclasses.fields(cls)}


# The declared parameters the problem classes of this version accept (a declaration that a
# class does not take yet is not a sweep field).
_DATA_PARAMS = {n: p for n, p in DATA.items() if n in _accepted(GaussianMixture)}
_STUDENT_PARAMS = {n: p for n, p in STUDENT.items() if n in _accepted(Student)}
_TEACHER_LAM = LOGISTIC_TEACHER["lam"]

_STUDENT_FIELDS = tuple(_STUDENT_PARAMS)
#: The point fields that describe the first student (points differing only in these share a teacher).
STUDENT_FIELD_NAMES = (*_STUDENT_FIELDS, "data_alpha")

#: Parameters of one point (``student=False``: teacher only; ``optimize``: None, ``"lam"`` or
#: ``"teacher_lam"``, the ridge chosen by the theory backend to minimize eps_g at the point).
POINT_FIELDS = (*_DATA_PARAMS, "teacher", "teacher_lam", "teacher_eta", "student", *_STUDENT_FIELDS,
                "data_alpha", "optimize")
_TEACHER_ETA = LOGISTIC_TEACHER["eta"]
_FRESH_ALPHA = FRESH["alpha"]
#: Most students of one chain in a sweep point.
MAX_STAGES = 6
_STAGE_FIELD = re.compile(r"stage(\d+)[._](\w+)")


def _stage_field(name: str):
    """``(k, field)`` of a ``stage<k>.<field>`` name, or ``None``."""
    m = _STAGE_FIELD.fullmatch(str(name))
    if not m:
        return None
    k, f = int(m.group(1)), m.group(2)
    if k < 2 or k > MAX_STAGES or f not in (*_STUDENT_FIELDS, "data_alpha"):
        raise ValueError(f"unknown sweep parameter {name!r}: stage fields are stage<k>.<field> with k in "
                         f"2..{MAX_STAGES} (the first student's fields are unprefixed) and field one of "
                         f"{', '.join((*_STUDENT_FIELDS, 'data_alpha'))}")
    return k, f

#: Values used for the fields a grid does not mention (the declared defaults; ``alpha`` has
#: none: every point must give it).
DEFAULTS: dict[str, Any] = {
    **{n: p.default for n, p in _DATA_PARAMS.items() if n != "alpha"},
    "teacher": "logistic", "teacher_lam": _TEACHER_LAM.default, "teacher_eta": _TEACHER_ETA.default,
    "student": True, **{n: p.default for n, p in _STUDENT_PARAMS.items()}, "data_alpha": None,
    "optimize": None,
}


def _num(x):
    if isinstance(x, np.generic):
        return x.item()
    return x


def _check(param, value, label):
    """Validate one field through its declaration; bool fields also take 0 / 1 (and 0.0 / 1.0
    as parsed from ``-g student=0``)."""
    value = _num(value)
    if param.type is bool:
        if isinstance(value, float) and value in (0.0, 1.0):
            value = int(value)
        return check_bool(label, value, lenient=True)
    return param.check(value, label)


def normalize_point(point: Mapping[str, Any], base: Optional[Mapping[str, Any]] = None) -> dict:
    """Complete ``point`` with ``base`` then :data:`DEFAULTS`, validate it and canonicalize it.

    Fields that do not matter are set to ``None`` (so that they do not split the cache): the
    Bayes-optimal teacher's ``teacher_lam``, the student's fields when ``student=False``, and the
    optimized ridge when ``optimize`` is set. Raises ``ValueError`` naming the field on unknown
    or invalid fields.
    """
    merged = dict(DEFAULTS)
    extra: dict[int, dict] = {}
    for src in (base or {}), point:
        src = dict(src)
        for name in [n for n in src if _stage_field(n)]:
            k, f = _stage_field(name)
            extra.setdefault(k, {})[f] = src.pop(name)
        unknown = set(src) - set(POINT_FIELDS)
        if unknown:
            raise ValueError(f"unknown sweep parameter(s) {sorted(unknown)}; "
                             f"known: {', '.join(POINT_FIELDS)}")
        merged.update(src)
    if "alpha" not in merged or merged["alpha"] is None:
        raise ValueError("every sweep point needs 'alpha'")
    p: dict[str, Any] = {}
    dvals = {n: _check(prm, merged[n], n) for n, prm in _DATA_PARAMS.items()}
    data = GaussianMixture(**dvals)
    p.update({n: getattr(data, n) for n in _DATA_PARAMS})
    if not isinstance(merged["teacher"], str):
        raise ValueError(f"teacher must be one of {', '.join(TEACHER_KINDS)}, got {merged['teacher']!r}")
    tcls = teacher_kind(merged["teacher"])
    p["teacher"] = tcls.kind
    # a teacher without a ridge of its own (the Bayes-optimal one) has no teacher_lam
    p["teacher_lam"] = (_check(_TEACHER_LAM, merged["teacher_lam"], "teacher_lam") if "lam" in tcls.PARAMS
                        else None)
    p["teacher_eta"] = _check(_TEACHER_ETA, merged["teacher_eta"], "teacher_eta")
    p["student"] = _bool_field(merged["student"], "student")
    if p["student"]:
        svals = {n: _check(prm, merged[n], n) for n, prm in _STUDENT_PARAMS.items()}
        st = Student(**svals)
        p.update({n: getattr(st, n) for n in _STUDENT_FIELDS})
        p["data_alpha"] = (None if merged["data_alpha"] is None
                           else _check(_FRESH_ALPHA, merged["data_alpha"], "data_alpha"))
    else:
        p.update({k: None for k in _STUDENT_FIELDS})
        p["data_alpha"] = None
        if extra:
            raise ValueError("stage<k> fields need a student (student=true)")
    chain = {}
    if extra:
        last = max(extra)
        for k in range(2, last + 1):
            given = extra.get(k, {})
            vals = {n: _check(prm, given.get(n, prm.default), f"stage{k}.{n}") for n, prm in _STUDENT_PARAMS.items()}
            st = Student(**vals)
            d_alpha = given.get("data_alpha")
            chain.update({f"stage{k}_{n}": getattr(st, n) for n in _STUDENT_FIELDS})
            chain[f"stage{k}_data_alpha"] = (None if d_alpha is None
                                             else _check(_FRESH_ALPHA, d_alpha, f"stage{k}.data_alpha"))
    opt = merged["optimize"]
    if opt in ("", "none", "None"):
        opt = None
    if opt is not None:
        if opt not in ("lam", "teacher_lam"):
            raise ValueError(f"optimize must be None, 'lam' or 'teacher_lam', got {opt!r}")
        if opt == "lam" and not p["student"]:
            opt = "teacher_lam"  # teacher-only point: its ridge is the teacher's
        if opt == "teacher_lam" and "lam" not in tcls.PARAMS:
            raise ValueError(f"optimize='teacher_lam' needs a teacher with a ridge, e.g. the logistic one "
                             f"(the {tcls.kind} teacher has none)")
        if opt == "teacher_lam" and p["student"]:
            raise ValueError("optimize='teacher_lam' is for teacher-only points (student=False)")
        if chain:
            raise ValueError("optimize is for the talk's teacher-student pair, not for chains (stage<k> fields)")
        p[opt] = None
    p["optimize"] = opt
    return {**{k: p[k] for k in POINT_FIELDS}, **chain}


def _bool_field(value, name):
    value = _num(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        value = int(value)
    return check_bool(name, value, lenient=True)


def _as_list(v, name="") -> list:
    if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
        return [v]
    v = list(v)
    if not v:
        raise ValueError(f"the grid axis {name!r} has no values" if name else "a grid axis has no values")
    return v


def _grids(grid) -> list:
    return [grid] if isinstance(grid, Mapping) else list(grid)


def _axis_len(v) -> int:
    if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
        return 1
    try:
        return len(v)
    except TypeError:
        return len(list(v))


def grid_size(grid: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]) -> int:
    """Number of points of a grid before deduplication: the product of its axis lengths
    (summed over a list of grids); computed without expanding anything."""
    return sum(math.prod(_axis_len(v) for v in g.values()) for g in _grids(grid))


def expand_grid(grid: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]],
                base: Optional[Mapping[str, Any]] = None, *, max_points: int = MAX_POINTS) -> list[dict]:
    """Cartesian product of a grid ``{field: value or list of values}`` (or the concatenation
    of a list of such grids), normalized; duplicate points are kept once, in first order.

    ``ValueError`` if the grid has more than ``max_points`` points (checked before expanding).
    """
    grids = _grids(grid)
    n = grid_size(grids)
    if n > max_points:
        shape = " + ".join(" x ".join(f"{k}[{_axis_len(v)}]" for k, v in g.items()) for g in grids)
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


def parse_grid_value(spec: str) -> list:
    """Parse one CLI axis (:func:`kdlab.values.parse_values`): ``"0.5:5:10"``, ``"1e-3:10:5:log"``,
    ``"log:1e-3:10:5"`` or a list ``"0,0.5,1"`` / ``"logistic,bayes-optimal"``."""
    return parse_values(spec, numeric=False)


def make_problem(point: Mapping[str, Any]):
    """``(data, teacher, student)`` of a normalized point (student ``None`` if teacher only);
    for a longer chain ``(data, [teacher, student1, student2, ...], None)``."""
    data = GaussianMixture(**{n: point[n] for n in _DATA_PARAMS})
    tlam = point["teacher_lam"]
    teacher = teacher_from_name(point["teacher"], _TEACHER_LAM.default if tlam is None else tlam,
                                eta=point.get("teacher_eta", _TEACHER_ETA.default))
    student = None
    if point["student"]:
        svals = {n: point[n] for n in _STUDENT_FIELDS}
        if svals.get("lam") is None:
            svals["lam"] = STUDENT["lam"].default
        d_alpha = point.get("data_alpha")
        student = Student(**svals, data=Shared() if d_alpha is None else Fresh(alpha=d_alpha))
    ks = sorted({int(m.group(1)) for n in point if (m := _STAGE_FIELD.fullmatch(n))})
    if not ks:
        return data, teacher, student
    chain = [teacher, student]
    for k in ks:
        vals = {n: point[f"stage{k}_{n}"] for n in _STUDENT_FIELDS}
        d_alpha = point.get(f"stage{k}_data_alpha")
        chain.append(Student(**vals, data=Shared() if d_alpha is None else Fresh(alpha=d_alpha)))
    return data, chain, None
