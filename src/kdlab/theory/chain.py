"""``solve``: the stages of a problem in order, packaged as a :class:`kdlab.results.Result`."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..errors import ConvergenceError, ParameterError
from ..problem import Fresh, GaussianMixture, Problem, Student, as_problem, check_problem, check_real
from ..results import Observables, Result, SolverStatus, Status, gen_error
from .group import Group
from .quadrature import n_nodes
from .stage import Member, make_member, solve_stage
from .student import StudentSolution, solve_student
from .teacher import TeacherSolution, solve_teacher

__all__ = ["solve", "solve_chain", "StageState", "check_chain", "bayes_optimal_error", "WarmStart", "QUAD_ACCEPT",
           "MAX_SHARED_STAGES"]

#: A point whose half-rule quadrature estimate stays above this at the finest rule is
#: reported as not converged.
QUAD_ACCEPT = 1e-5
#: Most quadrature dimensions of one training set's grid: the stages on it, plus the fixed
#: parent of a Fresh set. Five would need a 5-D tensor grid (minutes per solve).
MAX_SHARED_STAGES = 4


@dataclass(frozen=True)
class StageState:
    """Solved state of one stage of a generic chain: its position ``pos`` in its training set's
    group, the state vector ``x`` (layout of :class:`kdlab.theory.stage.StageMap`, bias
    excluded) and the bias."""

    pos: int
    x: tuple
    bias: float


@dataclass(frozen=True)
class WarmStart:
    """Starting point of :func:`solve`.

    The talk's pair (:func:`kdlab.problem.Problem.is_pair`): teacher ``(mt, qt, Vt)`` and bias,
    student ``(m, q, p, V, Vx)`` and bias (any may be ``None``). Any other chain: ``stages``,
    one ``(state, bias)`` per stage (``None`` where unknown), the state in the layout of
    :class:`kdlab.theory.stage.StageMap`.
    """

    teacher: Optional[tuple] = None
    teacher_bias: Optional[float] = None
    student: Optional[tuple] = None
    student_bias: Optional[float] = None
    teacher_level: Optional[int] = None
    stages: Optional[tuple] = None

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


def _status_text(who: str, info, quad_error: float, nodes: Optional[list]) -> str:
    if not nodes:
        return f"{who}: {info.message}"
    return (f"{who}: {info.message}, {info.iterations} evaluations, residual {info.residual:.2e}, "
            f"quadrature {'x'.join(str(n) for n in nodes)} nodes (half-rule estimate {quad_error:.1e})")


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


def _stage_status(who: str, info, quad_error: float, nodes: Optional[list], quad_bad: bool,
                  has_fields: bool = True) -> SolverStatus:
    """One stage's status, for the pair's maps and the generic per-stage map alike: diverged,
    converged (fixed point reached, quadrature estimate below ``QUAD_ACCEPT``, fields at the
    returned state) or not converged."""
    code = (Status.DIVERGED if info.diverged else Status.CONVERGED if info.converged and not quad_bad
            and has_fields else Status.NOT_CONVERGED)
    text = _status_text(who, info, quad_error, nodes)
    if quad_bad and info.converged:
        text += f"; quadrature error estimate above {QUAD_ACCEPT:g} at the finest rule"
    return SolverStatus(code is Status.CONVERGED, int(info.iterations), float(info.residual), text, code)


def solve(data: GaussianMixture, teacher, student: Optional[Student] = None, *, tol: float = 1e-10,
          maxiter: int = 1000, init: Union[Result, WarmStart, None] = None, method: str = "anderson",
          quad_tol: float = 1e-6, strict: bool = False, student_loss=None) -> Result:
    """Asymptotic (N -> infinity) observables of every stage of a problem (``docs/theory.md``).

    ``solve(data, teacher, student)`` or ``solve(data, [stage0, stage1, ...])``. The stages
    are solved in order (a stage depends only on the stages before it), each by its own
    state-evolution fixed point. Any chain is solved (teachers on a subset, label noise, Fresh
    stages, hard labels, chi > 1 at T = 1), except more than 4 stages on one training set
    (:class:`kdlab.errors.ParameterError`). The talk's pair (``Problem.is_pair``) goes through
    the pair's own maps (:mod:`.teacher`, :mod:`.student`), every other chain through the
    generic per-stage map (:mod:`.stage`).

    Parameters
    ----------
    tol : float
        Relative fixed-point residual ``max |G(x) - x| / (1 + |x|)`` to reach.
    maxiter : int
        Map evaluations allowed per stage.
    init : Result or WarmStart, optional
        Warm start: a previous result (e.g. a neighbouring point) or its state.
    method : {"anderson", "damped"}
        Anderson acceleration (default; damped iteration as fallback) or damped iteration.
    quad_tol : float
        Refine each quadrature rule until its half-rule difference is below this, in ``(0, 0.1]``.
    strict : bool
        Raise :class:`kdlab.errors.ConvergenceError` instead of returning a non-converged result.
    student_loss : kdlab.losses.Loss, optional
        Replace the student's KD loss by another loss (the talk's pair only).

    Returns
    -------
    Result
        ``backend="theory"``: asymptotic observables per stage (susceptibilities and
        conjugates in their ``extra``), ``status`` (converged, iterations, residual, message
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
    if isinstance(init, Result):
        init = WarmStart.from_result(init)
    elif init is not None and not isinstance(init, WarmStart):
        raise TypeError("init must be a Result, a WarmStart or None")
    init = init or WarmStart()
    if not problem.is_pair:
        if student_loss is not None:
            raise ParameterError("student_loss replaces the loss of the talk's pair only (one teacher on all "
                                 "coordinates, one Shared soft-label student, no label noise)")
        check_chain(problem)
        with _one_blas_thread():
            res = solve_chain(problem, tol=tol, maxiter=maxiter, method=method, quad_tol=quad_tol, init=init)
        if strict and not res.status.converged:
            raise ConvergenceError(f"theory did not converge: {res.status.message}")
        return res
    teacher, student = problem.stages[0], (problem.stages[1] if len(problem.stages) > 1 else None)

    t = solve_teacher(data, teacher, tol=tol, maxiter=maxiter, method=method, init=init.teacher,
                      init_bias=init.teacher_bias, level=init.teacher_level, quad_tol=quad_tol)
    t_status = _stage_status("teacher", t.info, t.quad_error, None if t.closed_form else [2 ** t.level + 1],
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
            statuses.append(_stage_status("student", s.info, s.quad_error, [2 ** lv + 1 for lv in s.levels],
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
                             state=state, stage_status=tuple(statuses))
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



# --------------------------------------------------------------------------- generic chains
OBS_KEYS = ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p")
EXTRA_KEYS = ("V", "Vx", "mhat", "qhat", "qhat12", "Vhat", "Vhat21")


@contextmanager
def _one_blas_thread():
    """The quadrature sums are 1-D dot products, which multi-threaded BLAS makes ~300x slower
    on a busy machine. Nothing to do (and ~10 ms saved on a cold solve) where the environment
    already asks for one thread."""
    if any(os.environ.get(v) == "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a declared dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def check_chain(problem: Problem) -> None:
    """:class:`ParameterError` for a chain the theory cannot solve (too many stages on one set)."""
    sets = problem.training_sets()
    for k in range(len(problem.stages)):
        n = sets[:k + 1].count(sets[k]) + (1 if sets[k] > 0 else 0)
        if n > MAX_SHARED_STAGES:
            raise ParameterError(
                f"stage {k}: the theory backend solves at most {MAX_SHARED_STAGES} stages on one training set "
                f"(the fixed parent of a Fresh set counts as one); stage {k} would be the {n}th, a {n}-D "
                "quadrature grid (minutes per solve). Put it on Fresh data, or use kdlab.simulate")


def _nan_obs(k: int) -> Observables:
    return Observables(**{key: math.nan for key in OBS_KEYS[:6]}, p=math.nan if k > 0 else None,
                       extra={key: math.nan for key in (EXTRA_KEYS if k > 0 else ("V", "mhat", "qhat", "Vhat"))})


def solve_chain(problem: Problem, *, tol: float = 1e-10, maxiter: int = 1000, method: str = "anderson",
                quad_tol: float = 1e-6, init: Optional[WarmStart] = None) -> Result:
    """Any chain by the generic per-stage map (``docs/theory.md``, "Chains of stages").

    The chain is split into groups of stages on one training set; a Fresh stage opens a group
    whose first member is its frozen parent. Stages are solved in order, each with its parents
    frozen; a stage that fails makes every later one ``NOT_SOLVED`` (NaN observables).
    ``solve`` calls this for every chain but the talk's pair (which it also solves, to the
    fixed-point tolerance of either solver).
    """
    data = problem.data
    stages = problem.stages
    K1 = len(stages)
    inits = (init.stages if init is not None and init.stages is not None and len(init.stages) == K1
             else (None,) * K1)
    nan = math.nan
    Qall = np.full((K1, K1), nan)
    mall = np.full(K1, nan)
    obs, statuses, states = [], [], []
    extra = {"bayes_error": bayes_optimal_error(data)}
    if K1 > 1:
        extra["bayes_error_sparse"] = bayes_optimal_error(data, stages[-1].eta)
    group = Group(data, data.alpha)
    failed = None
    for k, st in enumerate(stages):
        if k > 0 and isinstance(st.data, Fresh):
            prev = group.members[-1]
            ext = Member(kind="ext", index=k - 1, m=prev.m, b=prev.b, eta=prev.eta)
            q = Qall[k - 1, k - 1]
            ext.Q, ext.V = np.array([q]), np.zeros(1)
            ext.L = np.array([math.sqrt(data.delta * q) if failed is None else nan])
            ext.Qhat, ext.Vhat = np.zeros(1), np.zeros(1)
            group = Group(data, st.data.alpha, ext, ext_chain_m=mall[:k].copy(), ext_chain_Q=Qall[k - 1, :k].copy())
        mem = make_member(st, k, data)
        group.members.append(mem)
        pos = len(group.members) - 1
        if failed is not None:
            statuses.append(SolverStatus(False, 0, nan, f"stage {k}: not solved (stage {failed} did not converge)",
                                         Status.NOT_SOLVED))
            obs.append(_nan_obs(k))
            states.append(None)
            continue
        x0 = b0 = None
        if isinstance(inits[k], StageState) and inits[k].pos == pos:
            x0, b0 = inits[k].x, inits[k].bias
        sol = solve_stage(group, pos, tol=tol, quad_tol=quad_tol, maxiter=maxiter, method=method,
                          init=x0, init_bias=b0)
        status = _stage_status(f"stage {k}", sol.info, sol.quad_error,
                               [n_nodes(lv, len(sol.levels)) for lv in sol.levels], sol.quad_error > QUAD_ACCEPT,
                               sol.map.root is not None)
        statuses.append(status)
        extra[f"quad_error_stage{k}"] = sol.quad_error
        if not status.converged:
            failed = k
            obs.append(_nan_obs(k))
            states.append(None)
            continue
        G, x = sol.map, sol.x
        m, Q, V = G.unpack(x)
        if G.free_bias:
            G.b = float(x[-1])
        mhat, Qhat, Vhat = G.hats()
        mem.m, mem.b, mem.Q, mem.V, mem.L = float(m), float(G.b), Q, V, G.cholesky_row(Q)
        mem.mhat, mem.Qhat, mem.Vhat = mhat, Qhat, Vhat
        if group.ext is not None:
            _, _, _, Qc = group.input_side(pos, mhat, Qhat, Vhat, chain_m=group.ext_chain_m,
                                           chain_Q_ext=group.ext_chain_Q)
            Qall[k, :len(Qc)] = Qc
        for j in range(pos + 1):
            Qall[k, group.members[j].index] = Q[j]
        Qall[:k + 1, k] = Qall[k, :k + 1]
        mall[k] = m
        te, _ = G.train_error()
        ex = dict(V=float(V[pos]), mhat=float(mhat), qhat=float(Qhat[pos]), Vhat=float(Vhat[pos]))
        if k > 0:
            ex.update(Vx=float(V[pos - 1]), qhat12=float(Qhat[pos - 1]), Vhat21=float(Vhat[pos - 1]))
        obs.append(Observables(gen_error=float(gen_error(m, Q[pos], G.b, data.delta, data.rho)),
                               train_error=float(te), train_loss=float(G.train_loss()), m=float(m),
                               q=float(Q[pos]), bias=float(G.b), p=float(Qall[k, k - 1]) if k > 0 else None,
                               extra=ex))
        states.append(StageState(pos, tuple(float(v) for v in (x[:-1] if G.free_bias else x)), float(G.b)))
    status = _combine(statuses)
    return Result.from_stages("theory", problem, obs, status=status, extra=extra, overlaps=Qall,
                              state=WarmStart(stages=tuple(states)), stage_status=tuple(statuses))
