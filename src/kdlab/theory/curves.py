"""Learning curves: :func:`solve` along one parameter with informed warm starts.

Each point starts from its neighbour's solution, linearly extrapolated from the two previous
converged points (a secant predictor), which typically halves the number of map evaluations.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

import numpy as np
import pandas as pd

from ..params import DATA, STUDENT
from ..problem import TEACHER_KINDS, GaussianMixture, Student
from ..results import Result
from ..values import parse_values as _parse_values
from .chain import StageState, WarmStart, solve

__all__ = ["curve", "parse_values", "CURVE_PARAMETERS"]

def _curve_parameters() -> dict:
    out = {n: "data" for n, p in DATA.items() if p.type is float}
    for cls in TEACHER_KINDS.values():
        out.update({f"teacher_{n}": "teacher" for n, p in cls.PARAMS.items() if p.type is float})
    out.update({n: "student" for n, p in STUDENT.items() if p.type is float})
    return out


#: Parameters a curve can run along, and the object each belongs to (generated from the
#: declarations of :mod:`kdlab.params`); in a chain, ``stage{k}_{name}`` varies stage ``k``
#: and the unprefixed student names the last stage.
CURVE_PARAMETERS = _curve_parameters()


def parse_values(spec: str) -> np.ndarray:
    """Numbers described by ``spec`` (see :func:`kdlab.values.parse_values`) as an array."""
    return np.asarray(_parse_values(spec), float)


def _owner(along: str):
    """``(owner, stage index or None, parameter name)`` of a curve axis."""
    m = re.fullmatch(r"stage(\d+)[._](\w+)", along)
    if m and m.group(2) in STUDENT:
        return "stage", int(m.group(1)), m.group(2)
    if along not in CURVE_PARAMETERS:
        raise ValueError(f"along must be one of {', '.join(CURVE_PARAMETERS)} or stage<k>.<student "
                         f"parameter>, got {along!r}")
    owner = CURVE_PARAMETERS[along]
    return owner, None, along[len("teacher_"):] if owner == "teacher" else along


def _point(data, stages, along, value):
    owner, k, name = _owner(along)
    stages = list(stages)
    if owner == "data":
        return data.replace(**{name: value}), stages
    if owner == "teacher":
        if name not in stages[0].PARAMS:
            raise ValueError(f"{along} can only vary for a teacher that has it (the {stages[0].kind} "
                             "teacher does not)")
        stages[0] = stages[0].replace(**{name: value})
        return data, stages
    if len(stages) < 2:
        raise ValueError(f"a curve along {along!r} needs a student")
    k = len(stages) - 1 if k is None else k
    if not 1 <= k < len(stages):
        raise ValueError(f"{along}: the chain has students 1..{len(stages) - 1}")
    stages[k] = stages[k].replace(**{name: value})
    return data, stages


def _extrapolate(history, value) -> Optional[WarmStart]:
    """Secant predictor from the last two converged points (plain copy with one)."""
    if not history:
        return None
    v1, w1 = history[-1]
    if len(history) < 2:
        return w1
    v0, w0 = history[-2]
    if v1 == v0:
        return w1
    f = (value - v1) / (v1 - v0)

    def lin(a, b):
        if a is None or b is None:
            return b
        return tuple(float(bb + f * (bb - aa)) for aa, bb in zip(a, b))

    def lin1(a, b):
        return b if a is None or b is None else float(b + f * (b - a))

    if w1.stages is not None:
        if w0.stages is None or len(w0.stages) != len(w1.stages):
            return w1
        out = []
        for a, b in zip(w0.stages, w1.stages):
            if a is None or b is None or len(a.x) != len(b.x) or a.pos != b.pos:
                out.append(b)
                continue
            x = lin(a.x, b.x)
            ok = x[1] > 0 and x[2 + b.pos] > 0  # q and V_kk stay positive
            out.append(StageState(b.pos, x, lin1(a.bias, b.bias)) if ok else b)
        return WarmStart(stages=tuple(out))
    t = lin(w0.teacher, w1.teacher)
    s = lin(w0.student, w1.student)
    if t is not None and not (t[1] > 0 and t[2] > 0):
        t = w1.teacher
    if s is not None and not (s[1] > 0 and s[3] > 0):
        s = w1.student
    return WarmStart(t, lin1(w0.teacher_bias, w1.teacher_bias), s, lin1(w0.student_bias, w1.student_bias))


def curve(data: GaussianMixture, teacher, student: Optional[Student] = None, *, along: str,
          values: Iterable[float] | str, progress: bool = False, extrapolate: bool = True,
          return_results: bool = False, **solve_kwargs):
    """Solve the theory at ``values`` of one parameter, in the given order.

    ``along``: ``alpha``, ``delta``, ``rho``, ``teacher_lam``, ``eta``, ``chi``, ``temperature``
    or ``lam``; ``values``: numbers or a string for :func:`parse_values`. The other parameters
    are those of ``data``, ``teacher``, ``student``. Each point is warm-started from the
    previous converged ones (``extrapolate``: secant predictor). Returns a ``pandas.DataFrame``
    with one ``Result.to_record()`` row per value (``status_converged`` says whether each point
    converged), or ``(DataFrame, [Result, ...])`` with ``return_results``. ``progress`` shows a
    tqdm bar on stderr. Other keywords go to :func:`solve`.
    """
    _owner(along)
    stages = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher] + ([student] if student else [])
    vals = parse_values(values) if isinstance(values, str) else np.asarray(list(values), float)
    if vals.size == 0:
        raise ValueError("values must not be empty")
    # validate every point before computing anything
    points = [_point(data, stages, along, float(v)) for v in vals]
    results: list[Result] = []
    history: list = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points), desc=f"theory along {along}", unit="pt")
    try:
        for v, (d, chain) in zip(vals, points):
            init = _extrapolate(history if extrapolate else history[-1:], float(v))
            res = solve(d, chain, init=init, **solve_kwargs)
            if res.status.converged:
                history.append((float(v), WarmStart.from_result(res)))
                history = history[-2:]
            results.append(res)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{along}={v:.4g}" + ("" if res.status.converged else " NOT CONVERGED"))
    finally:
        if bar is not None:
            bar.close()
    df = pd.DataFrame([r.to_record() for r in results])
    return (df, results) if return_results else df
