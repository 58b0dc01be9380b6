"""``solve``: the stages of a problem in order, packaged as a :class:`kdlab.results.Result`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..errors import ConvergenceError, ParameterError
from ..problem import GaussianMixture, Problem, Shared, Student, as_problem, check_problem, check_real
from ..results import Observables, Result, SolverStatus, Status, gen_error
from .student import StudentSolution, solve_student
from .teacher import TeacherSolution, solve_teacher

__all__ = ["solve", "bayes_optimal_error", "WarmStart", "QUAD_ACCEPT"]

#: A point whose half-rule quadrature estimate stays above this at the finest rule is
#: reported as not converged.
QUAD_ACCEPT = 1e-5


@dataclass(frozen=True)
class WarmStart:
    """Starting point of :func:`solve`: teacher ``(mt, qt, Vt)`` and bias, student
    ``(m, q, p, V, Vx)`` and bias (any may be ``None``)."""

    teacher: Optional[tuple] = None
    teacher_bias: Optional[float] = None
    student: Optional[tuple] = None
    student_bias: Optional[float] = None
    teacher_level: Optional[int] = None

    @classmethod
    def from_result(cls, res: Result) -> "WarmStart":
        """From any :class:`Result`: a theory result's own ``state``; a simulation's overlaps
        (missing susceptibilities are guessed)."""
        if isinstance(res.state, WarmStart):
            return res.state
        t, s = res.teacher, res.student
        tstate = sb = sstate = None
        tb = None
        if t is not None and all(np.isfinite([t.m, t.q, t.bias])):
            V = t.extra.get("V") if t.extra else None
            if V is not None and np.isfinite(V):
                tstate = (t.m, t.q, V)
            tb = t.bias
        if s is not None and all(np.isfinite([s.m, s.q, s.bias])) and s.p is not None:
            ex = s.extra or {}
            V, Vx = ex.get("V"), ex.get("Vx")
            if V is not None and Vx is not None and np.isfinite(V) and np.isfinite(Vx):
                sstate = (s.m, s.q, s.p, V, Vx)
            sb = s.bias
        lvl = (res.extra or {}).get("quad_level_teacher")
        return cls(tstate, tb, sstate, sb, None if lvl is None else int(lvl))


def bayes_optimal_error(data: GaussianMixture, eta: float = 1.0) -> float:
    """Bayes-optimal generalization error (N -> infinity) of a model on ``eta N`` coordinates.

    The posterior predictive's log-odds is linear with the closed-form overlaps
    ``mt = 2 alpha / (Delta (Delta + alpha))``, ``qt = 4 alpha / (Delta^2 (Delta + alpha))`` and
    bias ``log(rho / (1 - rho))``; its error is ``eps_g(mt, qt, bt)``. With ``eta < 1`` (the
    sparse student's floor) it is the same at ``(alpha / eta, Delta / eta, rho)``
    (``docs/theory.md``).
    """
    eta = check_real("eta", eta, low=0.0, high=1.0, high_open=False)
    a, d = data.alpha / eta, data.delta / eta
    mt, qt = 2 * a / (d * (d + a)), 4 * a / (d * d * (d + a))
    return float(gen_error(mt, qt, data.prior_bias, d, data.rho))


def _status_text(who: str, info, quad_error: float, levels) -> str:
    if not levels:
        return f"{who}: {info.message}"
    nodes = "x".join(str(2 ** lv + 1) for lv in levels) if levels else "closed form"
    return (f"{who}: {info.message}, {info.iterations} evaluations, residual {info.residual:.2e}, "
            f"quadrature {nodes} nodes (half-rule estimate {quad_error:.1e})")


def _teacher_obs(t: TeacherSolution, nan: bool) -> Observables:
    d = t.data
    vals = dict(gen_error=float(gen_error(t.mt, t.qt, t.bt, d.delta, d.rho)), train_error=t.train_error,
                train_loss=t.train_loss, m=t.mt, q=t.qt, bias=t.bt)
    extra = dict(V=t.Vt, mhat=t.mhat, qhat=t.qhat, Vhat=t.Vhat)
    if nan:
        vals = {k: math.nan for k in vals}
        extra = {k: math.nan for k in extra}
    return Observables(**vals, extra=extra)


def _student_obs(s: Optional[StudentSolution], data: GaussianMixture, nan: bool) -> Observables:
    keys = ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p")
    ekeys = ("V", "Vx", "mhat", "qhat", "qhat12", "Vhat", "Vhat21")
    if s is None or nan:
        return Observables(**{k: math.nan for k in keys}, extra={k: math.nan for k in ekeys})
    return Observables(gen_error=float(gen_error(s.m, s.q, s.b, data.delta, data.rho)),
                       train_error=s.train_error, train_loss=s.train_loss, m=s.m, q=s.q, bias=s.b, p=s.p,
                       extra=dict(V=s.V, Vx=s.Vx, mhat=s.mhat, qhat=s.qhat, qhat12=s.qhat12,
                                  Vhat=s.Vhat, Vhat21=s.Vhat21))


def _unsupported(problem: Problem) -> Optional[str]:
    """Why the theory cannot solve ``problem`` yet (``None``: it can)."""
    d, stages = problem.data, problem.stages
    if d.label_noise:
        return "label noise (label_noise > 0)"
    if len(stages) > 2:
        return f"chains of more than one student ({len(stages) - 1} students)"
    if stages[0].eta != 1.0:
        return "a teacher on a subset of the coordinates (teacher eta < 1)"
    for k, st in enumerate(stages[1:], start=1):
        if not isinstance(st.data, Shared):
            return f"stage {k} on fresh data"
        if st.hard_labels:
            return f"stage {k} with hard labels (temperature = 0)"
        if st.chi > 1:
            return f"stage {k} with chi > 1"
    return None


def _stage_status(who: str, info, quad_error: float, levels, quad_bad: bool) -> SolverStatus:
    code = (Status.DIVERGED if info.diverged else Status.CONVERGED if info.converged and not quad_bad
            else Status.NOT_CONVERGED)
    text = _status_text(who, info, quad_error, levels)
    if quad_bad and info.converged:
        text += f"; quadrature error estimate above {QUAD_ACCEPT:g} at the finest rule"
    return SolverStatus(code is Status.CONVERGED, int(info.iterations), float(info.residual), text, code)


def solve(data: GaussianMixture, teacher, student: Optional[Student] = None, *, tol: float = 1e-10,
          maxiter: int = 1000, init: Union[Result, WarmStart, None] = None, method: str = "anderson",
          quad_tol: float = 1e-6, strict: bool = False, student_loss=None) -> Result:
    """Asymptotic (N -> infinity) observables of every stage of a problem (``docs/theory.md``).

    ``solve(data, teacher, student)`` or ``solve(data, [stage0, stage1, ...])``. The stages
    are solved in order (a stage depends only on the stages before it), each by its own
    state-evolution fixed point.

    Parameters
    ----------
    tol : relative fixed-point residual ``max |G(x) - x| / (1 + |x|)`` to reach.
    maxiter : map evaluations allowed per stage.
    init : warm start, a previous :class:`Result` (e.g. a neighbouring point) or :class:`WarmStart`.
    method : ``"anderson"`` (default; damped iteration as fallback) or ``"damped"``.
    quad_tol : refine each quadrature rule until its half-rule difference is below this, in ``(0, 0.1]``.
    strict : raise :class:`kdlab.errors.ConvergenceError` instead of returning a non-converged result.
    student_loss : replace the student's KD loss by another :class:`kdlab.losses.Loss`.

    Returns ``Result(backend="theory")``: asymptotic observables per stage (susceptibilities
    and conjugates in their ``extra``), ``status`` (converged, iterations, residual, message
    and the typed ``code``), ``state`` (the warm start of a neighbouring point), and in
    ``extra`` the Bayes-optimal errors ``bayes_error`` (model at ``data``) and
    ``bayes_error_sparse`` (the sparse student's floor, at ``(alpha / eta, Delta / eta, rho)``)
    plus quadrature diagnostics. Every observable of a stage that did not converge (or
    whose quadrature is not accurate to ``QUAD_ACCEPT``), and of every stage after it, is NaN.
    """
    if isinstance(teacher, (list, tuple)) and student is None:
        problem = as_problem(data, teacher)
    else:
        check_problem(data, teacher, student)
        problem = as_problem(data, teacher, student)
    if not (tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    if not (isinstance(quad_tol, (int, float)) and not isinstance(quad_tol, bool)
            and 0 < quad_tol <= 0.1 and math.isfinite(quad_tol)):
        raise ValueError(f"quad_tol must be a number in (0, 0.1], got {quad_tol!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be an integer >= 1, got {maxiter!r}")
    why = _unsupported(problem)
    if why is not None:
        raise ParameterError(f"the theory backend does not solve {why} yet; kdlab.simulate does")
    if isinstance(init, Result):
        init = WarmStart.from_result(init)
    elif init is not None and not isinstance(init, WarmStart):
        raise TypeError("init must be a Result, a WarmStart or None")
    init = init or WarmStart()
    teacher, student = problem.stages[0], (problem.stages[1] if len(problem.stages) > 1 else None)

    t = solve_teacher(data, teacher, tol=tol, maxiter=maxiter, method=method, init=init.teacher,
                      init_bias=init.teacher_bias, level=init.teacher_level, quad_tol=quad_tol)
    t_status = _stage_status("teacher", t.info, t.quad_error, None if t.closed_form else (t.level,),
                             t.quad_error > QUAD_ACCEPT)
    statuses = [t_status]
    extra = {"bayes_error": bayes_optimal_error(data)}
    if not t.closed_form:
        extra.update(quad_level_teacher=t.level, quad_error_teacher=t.quad_error)
    s = None
    if student is not None:
        extra["bayes_error_sparse"] = bayes_optimal_error(data, student.eta)
        if t_status.converged:
            s = solve_student(t, student, loss=student_loss, tol=tol, maxiter=maxiter, method=method,
                              init=init.student, init_bias=init.student_bias, quad_tol=quad_tol)
            statuses.append(_stage_status("student", s.info, s.quad_error, s.levels,
                                          s.quad_error > QUAD_ACCEPT))
            extra.update(quad_level_student_1=s.levels[0], quad_level_student_2=s.levels[1],
                         quad_error_student=s.quad_error)
        else:
            statuses.append(SolverStatus(False, 0, math.nan, "student: not solved (teacher not converged)",
                                         Status.NOT_SOLVED))
    status = _combine(statuses)
    stages = [_teacher_obs(t, not t_status.converged)]
    if student is not None:
        stages.append(_student_obs(s, data, s is None or not statuses[1].converged))
    state = WarmStart(
        teacher=tuple(float(v) for v in t.state) if t_status.converged else None,
        teacher_bias=t.bt if t_status.converged else None,
        student=tuple(float(v) for v in s.state) if s is not None and statuses[1].converged else None,
        student_bias=s.b if s is not None and statuses[1].converged else None,
        teacher_level=None if t.closed_form else int(t.level))
    overlaps = None
    if student is not None:
        so = stages[1]
        overlaps = np.array([[stages[0].q, so.p], [so.p, so.q]])
    res = Result.from_stages("theory", problem, stages, status=status, extra=extra, overlaps=overlaps,
                             state=state)
    if strict and not status.converged:
        raise ConvergenceError(f"theory did not converge: {status.message}")
    return res


def _combine(statuses) -> SolverStatus:
    """One status for the whole chain: converged if every stage is; the first failure's code."""
    bad = [st for st in statuses if not st.converged]
    parts = [st.message for st in statuses]
    return SolverStatus(not bad, int(sum(st.iterations for st in statuses)),
                        float(max((st.residual for st in statuses if math.isfinite(st.residual)), default=0.0)),
                        "; ".join(parts), bad[0].code if bad else Status.CONVERGED)
