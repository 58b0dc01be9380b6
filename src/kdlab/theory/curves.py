"""Learning curves: :func:`solve` along one parameter with informed warm starts.

Each point starts from its neighbour's solution, linearly extrapolated from the two previous
converged points (a secant predictor), which typically halves the number of map evaluations.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import pandas as pd

from ..params import DATA
from ..problem import STAGE_KINDS, Problem, as_problem
from ..results import Result
from ..values import parse_values as _parse_values
from .chain import StageState, WarmStart, solve

__all__ = ["curve", "parse_values", "CURVE_PARAMETERS", "axis"]


def _curve_parameters() -> dict:
    out = {n: "data" for n, p in DATA.items() if p.type is float}
    for cls in STAGE_KINDS.values():
        role = "teacher" if cls.role == "teacher" else "student"
        out.update({f"{role}_{n}": role for n, p in cls.PARAMS.items() if p.type is float})
    out.update({n: "student" for n, p in STAGE_KINDS["student"].PARAMS.items() if p.type is float})
    return out


#: Parameters a curve can run along besides ``stage<k>.<param>`` (generated from the
#: declarations of :mod:`kdlab.params`): the data's parameters, ``teacher_<param>`` (stage 0) and
#: ``student_<param>`` or the bare student parameter (the last stage).
CURVE_PARAMETERS = _curve_parameters()


def parse_values(spec: str) -> np.ndarray:
    """Numbers described by ``spec`` (see :func:`kdlab.values.parse_values`) as an array."""
    return np.asarray(_parse_values(spec), float)


def axis(problem: Problem, along: str) -> tuple[Optional[int], str]:
    """``(k, name)`` of a curve axis: ``k`` is the stage it varies (``None``: the data).

    ``stage<k>.<param>`` / ``stage<k>_<param>`` name stage ``k``; ``teacher_<param>`` stage 0;
    ``student_<param>`` and a bare student parameter the last stage. ``ValueError`` otherwise.
    """
    import re

    key = str(along).strip()
    n = len(problem.stages)
    m = re.fullmatch(r"stage(\d+)[._](\w+)", key)
    if m:
        k, name = int(m.group(1)), m.group(2)
        if k >= n:
            raise ValueError(f"{along}: the chain has stages 0..{n - 1}")
    elif key in CURVE_PARAMETERS:
        owner = CURVE_PARAMETERS[key]
        if owner == "data":
            return None, key
        k = 0 if owner == "teacher" else n - 1
        name = key.split("_", 1)[1] if key.startswith(owner + "_") else key
        if owner == "student" and n < 2:
            raise ValueError(f"a curve along {along!r} needs a student")
    else:
        data = ", ".join(n for n, o in CURVE_PARAMETERS.items() if o == "data")
        raise ValueError(f"along must be a data parameter ({data}), stage<k>.<param>, teacher_<param> or a "
                         f"student parameter, got {along!r}")
    p = problem.stages[k].PARAMS.get(name)
    if p is None or p.type is not float:
        raise ValueError(f"{along}: stage {k} ({problem.stages[k].kind}) has no numeric parameter {name!r}")
    return k, name


def _point(problem: Problem, along: str, value: float) -> Problem:
    k, name = axis(problem, along)
    if k is None:
        return problem.replace(data=problem.data.replace(**{name: value}))
    return problem.replace(**{f"stage{k}": {name: value}})


def _extrapolate(history, value) -> Optional[WarmStart]:
    """Secant predictor from the last two converged points (plain copy with one)."""
    if not history:
        return None
    v1, w1 = history[-1]
    if len(history) < 2:
        return w1
    v0, w0 = history[-2]
    if v1 == v0 or w1.stages is None or w0.stages is None or len(w0.stages) != len(w1.stages):
        return w1
    f = (value - v1) / (v1 - v0)
    out = []
    for a, b in zip(w0.stages, w1.stages):
        if not isinstance(b, StageState) or a is None or len(a.x) != len(b.x) or a.layout != b.layout:
            out.append(b)
            continue
        x = tuple(float(bb + f * (bb - aa)) for aa, bb in zip(a.x, b.x))
        ok = all(x[i] > 0 for i in b.positive)  # q and V_kk stay positive
        out.append(StageState(b.layout, x, float(b.bias + f * (b.bias - a.bias))) if ok else b)
    return WarmStart(stages=tuple(out))


def curve(*problem, along: str, values: Iterable[float] | str, progress: bool = False, extrapolate: bool = True,
          return_results: bool = False, **solve_kwargs):
    """Solve the theory at ``values`` of one parameter, in the given order.

    ``curve(problem, along=..., values=...)`` (or ``curve(data, stages, ...)``,
    ``curve(data, teacher, student, ...)``). ``along``: a data parameter (``alpha``, ``delta``,
    ``rho``, ``label_noise``), ``stage<k>.<param>``, ``teacher_<param>`` (stage 0) or a student
    parameter (``eta``, ``chi``, ``temperature``, ``lam``: the last stage); ``values``: numbers
    or a string for :func:`parse_values`. Each point is warm-started from the previous
    converged ones (``extrapolate``: secant predictor). Returns a ``pandas.DataFrame`` with one
    ``Result.to_record()`` row per value (``status_converged`` says whether each point
    converged), or ``(DataFrame, [Result, ...])`` with ``return_results``. ``progress`` shows a
    tqdm bar on stderr. Other keywords go to :func:`solve`.
    """
    base = as_problem(*problem)
    axis(base, along)
    vals = parse_values(values) if isinstance(values, str) else np.asarray(list(values), float)
    if vals.size == 0:
        raise ValueError("values must not be empty")
    # validate every point before computing anything
    points = [_point(base, along, float(v)) for v in vals]
    results: list[Result] = []
    history: list = []
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(len(points), 0, True, f"theory along {along}", "pt")
    try:
        for v, pr in zip(vals, points):
            init = _extrapolate(history if extrapolate else history[-1:], float(v))
            res = solve(pr, init=init, **solve_kwargs)
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
