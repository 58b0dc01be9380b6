"""``solve``: the stages of a problem in order, one generic loop, packaged as a
:class:`kdlab.results.Result` (``docs/theory.md``, "Chains of stages").

The chain is split into *groups* of stages trained on one set (:mod:`.group`); a Fresh stage
opens a group whose first member is its frozen parent. Every stage goes through the same
per-stage interface (:mod:`.stage`): its member record (loss, ridge, bias rule, closed form),
its state-evolution map and :func:`.stage.solve_stage`. A closed form (the Bayes-optimal
teacher) is an override of its own stage (:meth:`.stage.Member.closed_form`), not a second path.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..errors import ConvergenceError, ParameterError
from ..params import THEORY_OPTIONS, check_options
from ..problem import Fresh, GaussianMixture, Problem, as_problem, check_real
from ..results import Observables, Result, SolverStatus, Status, gen_error
from .group import Group
from .quadrature import n_nodes
from .stage import Member, make_member, solve_stage

__all__ = ["solve", "StageState", "check_chain", "bayes_optimal_error", "WarmStart", "QUAD_ACCEPT",
           "MAX_SHARED_STAGES"]

#: A stage whose half-rule quadrature estimate stays above this at the finest rule is reported
#: as not converged.
QUAD_ACCEPT = 1e-5
#: Most quadrature dimensions of one training set's grid: the stages on it, plus the fixed
#: parent of a Fresh set. Five would need a 5-D tensor grid (minutes per solve).
MAX_SHARED_STAGES = 4

#: Observables and extras of a stage of the binary chain.
OBS_KEYS = ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p")
EXTRA_KEYS = ("V", "Vx", "mhat", "qhat", "qhat12", "Vhat", "Vhat21")


@dataclass(frozen=True)
class StageState:
    """Solved state of one stage: its position ``pos`` in its training set's group, the state
    vector ``x`` (layout of :class:`kdlab.theory.stage.StageMap`, bias excluded) and the bias."""

    pos: int
    x: tuple
    bias: float


@dataclass(frozen=True)
class WarmStart:
    """Starting point of :func:`solve`: ``stages``, one :class:`StageState` per stage (``None``
    where unknown)."""

    stages: Optional[tuple] = None

    @classmethod
    def from_result(cls, res: Result) -> "WarmStart":
        """A theory result's own ``state`` (any other result gives no warm start)."""
        return res.state if isinstance(res.state, WarmStart) else cls()


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


def _stage_status(who: str, info, quad_error: float, nodes: Optional[list], quad_bad: bool,
                  has_fields: bool = True) -> SolverStatus:
    """One stage's status: diverged, converged (fixed point reached, quadrature estimate below
    ``QUAD_ACCEPT``, fields at the returned state) or not converged."""
    code = (Status.DIVERGED if info.diverged else Status.CONVERGED if info.converged and not quad_bad
            and has_fields else Status.NOT_CONVERGED)
    text = _status_text(who, info, quad_error, nodes)
    if quad_bad and info.converged:
        text += f"; quadrature error estimate above {QUAD_ACCEPT:g} at the finest rule"
    return SolverStatus(code is Status.CONVERGED, int(info.iterations), float(info.residual), text, code)


def _combine(statuses) -> SolverStatus:
    """One status for the whole chain: converged if every stage is; the first failure's code."""
    bad = [st for st in statuses if not st.converged]
    parts = [st.message for st in statuses]
    return SolverStatus(not bad, int(sum(st.iterations for st in statuses)),
                        float(max((st.residual for st in statuses if math.isfinite(st.residual)), default=0.0)),
                        "; ".join(parts), bad[0].code if bad else Status.CONVERGED)


@contextmanager
def _one_blas_thread():
    """The state evolution's sums are small: extra BLAS threads only cost (and oversubscribe
    the worker processes of a sweep)."""
    if os.environ.get("OMP_NUM_THREADS") == "1":
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
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


def solve(*problem, init: Union[Result, WarmStart, None] = None, strict: bool = False, **options) -> Result:
    """Asymptotic (N -> infinity) observables of every stage of a problem (``docs/theory.md``).

    ``solve(problem)``, or the conveniences ``solve(data, [stage0, stage1, ...])`` and
    ``solve(data, teacher, student)``. The stages are solved in order (a stage depends only on
    the stages before it), each by its own state-evolution fixed point. Any chain is solved
    (teachers on a subset, label noise, Fresh stages, hard labels, chi > 1 at T = 1), except more
    than 4 stages on one training set (:class:`kdlab.errors.ParameterError`).

    Parameters
    ----------
    init : Result or WarmStart, optional
        Warm start: a previous result (e.g. a neighbouring point) or its state.
    strict : bool
        Raise :class:`kdlab.errors.ConvergenceError` instead of returning a non-converged result.
    **options
        The theory options declared in :data:`kdlab.params.THEORY_OPTIONS`: ``tol`` (relative
        fixed-point residual, default 1e-10), ``maxiter`` (map evaluations per stage, 1000),
        ``method`` (``"anderson"`` or ``"damped"``), ``quad_tol`` (half-rule quadrature target,
        1e-6).

    Returns
    -------
    Result
        ``backend="theory"``: asymptotic observables per stage (susceptibilities and
        conjugates in their ``extra``), ``status`` and ``stage_status`` (converged, iterations,
        residual, message and the typed ``code``), ``state`` (the warm start of a neighbouring
        point), and in ``extra`` the Bayes-optimal errors ``bayes_error`` (model at ``data``) and
        ``bayes_error_sparse`` (the last stage's floor, at ``(alpha / eta, Delta / eta, rho)``)
        plus quadrature diagnostics. Every observable of a stage that did not converge (or whose
        quadrature is not accurate to ``QUAD_ACCEPT``), and of every stage after it, is NaN.
    """
    problem = as_problem(*problem)
    opts = check_options(THEORY_OPTIONS, options, "theory")
    if isinstance(init, Result):
        init = WarmStart.from_result(init)
    elif init is not None and not isinstance(init, WarmStart):
        raise TypeError("init must be a Result, a WarmStart or None")
    check_chain(problem)
    with _one_blas_thread():
        res = _solve_chain(problem, init=init, **opts)
    if strict and not res.status.converged:
        raise ConvergenceError(f"theory did not converge: {res.status.message}")
    return res


def _solve_chain(problem: Problem, *, tol: float, maxiter: int, method: str, quad_tol: float,
                 init: Optional[WarmStart]) -> Result:
    """The loop over the stages: a Fresh stage opens a group whose first member is its frozen
    parent; each stage is solved with its parents frozen (or taken from its closed form); a
    stage that fails makes every later one ``NOT_SOLVED`` (NaN observables)."""
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
    biases: list = []  # the solved bias of every stage so far
    for k, st in enumerate(stages):
        if k > 0 and isinstance(st.data, Fresh):
            prev = group.members[-1]
            ext = Member(kind="ext", index=k - 1, m=prev.m, b=prev.b, eta=prev.eta)
            q = Qall[k - 1, k - 1]
            ext.Q, ext.V = np.array([q]), np.zeros(1)
            ext.L = np.array([math.sqrt(data.delta * q) if failed is None else nan])
            ext.Qhat, ext.Vhat = np.zeros(1), np.zeros(1)
            group = Group(data, st.data.alpha, ext, ext_chain_m=mall[:k].copy(), ext_chain_Q=Qall[k - 1, :k].copy())
        mem = make_member(st, k, data, parent_bias=biases[-1] if biases else None)
        group.members.append(mem)
        pos = len(group.members) - 1
        if failed is not None:
            biases.append(nan)
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
        nodes = None if sol.closed_form else [n_nodes(lv, len(sol.levels)) for lv in sol.levels]
        status = _stage_status(f"stage {k}", sol.info, sol.quad_error, nodes, sol.quad_error > QUAD_ACCEPT,
                               sol.map.root is not None)
        statuses.append(status)
        extra[f"quad_error_stage{k}"] = sol.quad_error
        if not status.converged:
            failed = k
            biases.append(nan)
            obs.append(_nan_obs(k))
            states.append(None)
            continue
        G, x = sol.map, sol.x
        m, Q, V = G.unpack(x)
        if G.free_bias:
            G.b = float(x[-1])
        mhat, Qhat, Vhat = G.hats()
        mem.m, mem.b, mem.Q, mem.V, mem.L = float(m), float(G.b), Q, V, G.cholesky_row(Q)
        biases.append(float(G.b))
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
    return Result("theory", problem, tuple(obs), status=status, extra=extra, overlaps=Qall,
                  state=WarmStart(stages=tuple(states)), stage_status=tuple(statuses))
