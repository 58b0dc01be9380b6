"""``solve``: the stages of a problem in order, one generic loop, packaged as a
:class:`kdlab.results.Result` (``docs/theory.md``, "Chains of stages").

Every stage goes through the same per-stage interface: its plan (``Problem.plan(k)``: the
training sets it uses and its loss on each), the view of each of its sets (:mod:`.sets`), its
state-evolution map and :func:`.stage.solve_stage`; the solved rows go to the chain's input
side (:class:`.inputs.ChainInputs`). A closed form (the Bayes-optimal teacher) is an override
of its own stage (:data:`.stage.CLOSED_FORMS`), not a second path; a stage whose targets all
name one class is the constant classifier (:func:`constant_side`, status ``CONSTANT``).
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..errors import ConvergenceError
from ..params import THEORY_OPTIONS, check_options
from ..problem import GaussianMixture, Problem, as_problem, check_real
from ..results import Observables, Result, SolverStatus, Status, gen_error
from .inputs import ChainInputs
from .quadrature import n_nodes
from .sets import Solved, set_view
from .stage import layout_of, solve_stage

__all__ = ["solve", "StageState", "bayes_optimal_error", "WarmStart", "QUAD_ACCEPT", "QMC_ACCEPT",
           "CONSTANT_MASS", "constant_side"]

#: A stage whose half-rule quadrature estimate stays above this at the finest rule is reported
#: as not converged.
QUAD_ACCEPT = 1e-5
#: A stage whose RQMC standard error (relative) stays above this at the most points is
#: reported as not converged.
QMC_ACCEPT = 1e-3
#: A label source whose minority class has less mass than this names one class
#: (:func:`constant_side`).
CONSTANT_MASS = 1e-12

#: Observables and extras of a stage of the binary chain.
OBS_KEYS = ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p")
EXTRA_KEYS = ("V", "Vx", "mhat", "qhat", "qhat12", "Vhat", "Vhat21")


@dataclass(frozen=True)
class StageState:
    """Solved state of one stage: its ``layout`` (the chain indices ``(J, T)`` of the overlaps
    and responses in the state, :class:`kdlab.theory.stage.Layout`), the state vector ``x``
    (bias excluded) and the bias."""

    layout: tuple
    x: tuple
    bias: float

    @property
    def positive(self) -> tuple:
        """Indices of ``q`` and ``V_kk`` in ``x``."""
        return (1, 2 + len(self.layout[0]))


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


def _status_text(who: str, info, quad_error: float, nodes: Optional[list], qmc_error: float = math.nan,
                 qmc_response_error: float = math.nan) -> str:
    if not nodes:
        return f"{who}: {info.message}"
    text = (f"{who}: {info.message}, {info.iterations} evaluations, residual {info.residual:.2e}, "
            f"quadrature {' + '.join(nodes)} nodes (half-rule estimate {quad_error:.1e})")
    if math.isfinite(qmc_error):
        text += f", RQMC standard error {qmc_error:.1e}"
        if math.isfinite(qmc_response_error):
            text += f" (responses to earlier stages: {qmc_response_error:.1e})"
    return text


def _stage_status(who: str, info, quad_error: float, nodes: Optional[list], quad_bad: bool,
                  has_fields: bool = True, qmc_error: float = math.nan,
                  qmc_response_error: float = math.nan) -> SolverStatus:
    """One stage's status: diverged, converged (fixed point reached, quadrature estimate below
    ``QUAD_ACCEPT`` and RQMC standard error below ``QMC_ACCEPT``, fields at the returned state)
    or not converged."""
    code = (Status.DIVERGED if info.diverged else Status.CONVERGED if info.converged and not quad_bad
            and has_fields else Status.NOT_CONVERGED)
    text = _status_text(who, info, quad_error, nodes, qmc_error, qmc_response_error)
    if quad_bad and info.converged:
        text += (f"; quadrature error estimate above {QUAD_ACCEPT:g} (RQMC: {QMC_ACCEPT:g}) at the finest rule")
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


def _nan_obs(k: int) -> Observables:
    return Observables(**{key: math.nan for key in OBS_KEYS[:6]}, p=math.nan if k > 0 else None,
                       extra={key: math.nan for key in (EXTRA_KEYS if k > 0 else ("V", "mhat", "qhat", "Vhat"))})


def solve(*problem, init: Union[Result, WarmStart, None] = None, strict: bool = False, **options) -> Result:
    """Asymptotic (N -> infinity) observables of every stage of a problem (``docs/theory.md``).

    ``solve(problem)``, or the conveniences ``solve(data, [stage0, stage1, ...])`` and
    ``solve(data, teacher, student)``. The stages are solved in order (a stage depends only on
    the stages before it), each by its own state-evolution fixed point. Any chain is solved, at
    any depth (teachers on a subset, label noise, Fresh stages, learners on several sets and
    label sources, hard labels, chi > 1 at T = 1): a training set of more than 4 members is
    integrated by randomized quasi-Monte Carlo, whose standard error is reported
    (``extra["qmc_error_stage<k>"]``).

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
        1e-6), ``qmc_tol`` (RQMC standard-error target, 1e-4).

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
    with _one_blas_thread():
        if problem.data.family == "multiclass":  # the K-class stage family
            from .multiclass import solve_multiclass

            res = solve_multiclass(problem, init=init, **opts)
        else:
            res = _solve_chain(problem, init=init, **opts)
    if strict and not res.status.converged:
        raise ConvergenceError(f"theory did not converge: {res.status.message}")
    return res


def _fixed_bias(plan, data, solved):
    """The fixed bias of a stage's rule (``None``: free); ``"parent"`` takes the solved bias of
    ``plan.parent``."""
    from ..stages import _bias_value

    parent = solved[plan.parent].b if plan.parent is not None else None
    if plan.bias == "parent" and parent is not None and not math.isfinite(parent):
        raise ArithmeticError(f"bias = 'parent' but stage {plan.parent} is the constant classifier")
    return _bias_value(plan.bias, data, parent)


def source_class_mass(data, inputs, solved, j: int) -> float:
    """``P(h_j > 0)`` on a sample stage ``j`` never trained on:
    ``rho Phi((m + b) / s) + (1 - rho) Phi((b - m) / s)``, ``s = sqrt(Delta q)``."""
    from scipy.special import ndtr

    c = solved[j].constant
    if c is not None:
        return 1.0 if c > 0 else 0.0
    m, b, q = inputs.m[j], solved[j].b, inputs.Q[j, j]
    s = math.sqrt(max(data.delta * q, 0.0))
    if s == 0.0:
        return float(data.rho * (m + b > 0) + (1 - data.rho) * (b - m > 0))
    return float(data.rho * ndtr((m + b) / s) + (1 - data.rho) * ndtr((b - m) / s))


def constant_side(problem, k, plan, fixed_bias, inputs, solved) -> Optional[float]:
    """``+-1`` when every target of stage ``k`` names one class (its free bias then runs off to
    ``+-inf`` and its weights to 0: the exact limit is the constant classifier), else ``None``.

    Only a stage without true labels and with a free bias: its sources are constant, or hard
    labels from stages that never trained on the set whose minority class has mass below
    :data:`CONSTANT_MASS` (the constant classifier's error is then exact to that order)."""
    if fixed_bias is not None or plan.has_labels:
        return None
    sides = set()
    for use in plan.uses:
        for src in use.sources:
            if src.weight <= 0:
                continue
            j = src.stage
            if solved[j].constant is not None:
                sides.add(math.copysign(1.0, solved[j].constant))
                continue
            if not src.hard or use.set in problem.plan(j).set_names:
                return None
            p = source_class_mass(problem.data, inputs, solved, j)
            if p < CONSTANT_MASS:
                sides.add(-1.0)
            elif p > 1.0 - CONSTANT_MASS:
                sides.add(1.0)
            else:
                return None
    return sides.pop() if len(sides) == 1 else None


def _constant_obs(problem, k, side) -> Observables:
    """The constant classifier ``sign = side``: error ``P(y != side)``; its training error is
    the share of its samples whose set label is not ``side``."""
    d = problem.data
    p_plus_obs = d.rho * (1 - d.label_noise) + (1 - d.rho) * d.label_noise
    te = (1 - p_plus_obs) if side > 0 else p_plus_obs
    ex = dict(V=0.0, mhat=0.0, qhat=0.0, Vhat=0.0)
    if k > 0:
        ex.update(Vx=0.0, qhat12=0.0, Vhat21=0.0)
    return Observables(gen_error=(1 - d.rho) if side > 0 else d.rho, train_error=te, train_loss=0.0, m=0.0, q=0.0,
                       bias=math.copysign(math.inf, side), p=0.0 if k > 0 else None, extra=ex)


def _solve_chain(problem: Problem, *, tol: float, maxiter: int, method: str, quad_tol: float, qmc_tol: float,
                 init: Optional[WarmStart]) -> Result:
    """The loop over the stages: each stage is solved with the earlier ones frozen (or taken
    from its closed form, or recognized as the constant classifier); a stage that fails makes
    every later one ``NOT_SOLVED`` (NaN observables)."""
    data = problem.data
    stages = problem.stages
    K1 = len(stages)
    inits = (init.stages if init is not None and init.stages is not None and len(init.stages) == K1
             else (None,) * K1)
    nan = math.nan
    inputs = ChainInputs(data.delta, K1)
    obs, statuses, states = [], [], []
    extra = {"bayes_error": bayes_optimal_error(data)}
    if K1 > 1:
        extra["bayes_error_sparse"] = bayes_optimal_error(data, stages[-1].eta)
    failed = None
    solved: list = []
    for k, st in enumerate(stages):
        plan = problem.plan(k)
        rec = Solved(k, plan)
        solved.append(rec)
        if failed is not None:
            statuses.append(SolverStatus(False, 0, nan, f"stage {k}: not solved (stage {failed} did not converge)",
                                         Status.NOT_SOLVED))
            obs.append(_nan_obs(k))
            states.append(None)
            continue
        try:
            fixed_bias = _fixed_bias(plan, data, solved)
        except ArithmeticError as exc:
            failed = k
            statuses.append(SolverStatus(False, 0, nan, f"stage {k}: {exc}", Status.FAILED))
            obs.append(_nan_obs(k))
            states.append(None)
            continue
        side = constant_side(problem, k, plan, fixed_bias, inputs, solved)
        if side is not None:
            rec.constant = rec.b = math.copysign(math.inf, side)
            rec.m = 0.0
            inputs.freeze_constant(k, plan.eta)
            statuses.append(SolverStatus(True, 0, 0.0, f"stage {k}: every target names class {side:+.0f}: the "
                                         "constant classifier (weights 0, bias at infinity)", Status.CONSTANT))
            obs.append(_constant_obs(problem, k, side))
            states.append(None)
            continue
        views = [set_view(problem, solved, inputs, k, u.set, u.alpha) for u in plan.uses]
        x0 = b0 = None
        layout = layout_of(views, k)
        if isinstance(inits[k], StageState) and inits[k].layout == (layout.J, layout.T):
            x0, b0 = inits[k].x, inits[k].bias
        sol = solve_stage(k, st, plan, views, inputs, solved, data, fixed_bias, tol=tol, quad_tol=quad_tol,
                          qmc_tol=qmc_tol, maxiter=maxiter, method=method, init=x0, init_bias=b0)
        nodes = None if sol.closed_form else _nodes_text(sol)
        quad_bad = sol.quad_error > QUAD_ACCEPT or (math.isfinite(sol.qmc_error) and sol.qmc_error > QMC_ACCEPT)
        status = _stage_status(f"stage {k}", sol.info, sol.quad_error, nodes, quad_bad, sol.map.root is not None,
                               qmc_error=sol.qmc_error, qmc_response_error=sol.qmc_response_error)
        statuses.append(status)
        extra[f"quad_error_stage{k}"] = sol.quad_error
        if math.isfinite(sol.qmc_error):
            extra[f"qmc_error_stage{k}"] = sol.qmc_error
            extra[f"qmc_response_error_stage{k}"] = sol.qmc_response_error
        if not status.converged:
            failed = k
            obs.append(_nan_obs(k))
            states.append(None)
            continue
        G, x = sol.map, sol.x
        m, Qk, Vkk, Vk = G.unpack(x)
        if G.free_bias:
            G.b = float(x[-1])
        mhat, Qhat, Vhat = G.hats()
        inputs.freeze(k, plan.eta, plan.lam, mhat, Qhat, Vhat)
        # the state's own values where it has them (the frozen rows agree to the fixed-point tolerance)
        inputs.m[k] = m
        for j, q in Qk.items():
            inputs.Q[k, j] = inputs.Q[j, k] = q
        rec.m, rec.b = float(m), float(G.b)
        te, _ = G.train_error()
        Vrow = inputs.R[k] * data.delta
        ex = dict(V=float(Vkk), mhat=float(mhat), qhat=float(Qhat[k]), Vhat=float(Vhat[k]))
        if k > 0:
            ex.update(Vx=float(Vk.get(k - 1, 0.0)), qhat12=float(Qhat[k - 1]), Vhat21=float(Vhat[k - 1]))
        del Vrow
        obs.append(Observables(gen_error=float(gen_error(m, Qk[k], G.b, data.delta, data.rho)),
                               train_error=float(te), train_loss=float(G.train_loss()), m=float(m),
                               q=float(Qk[k]), bias=float(G.b), p=float(inputs.Q[k, k - 1]) if k > 0 else None,
                               extra=ex))
        states.append(StageState((layout.J, layout.T), tuple(float(v) for v in (x[:-1] if G.free_bias else x)),
                                 float(G.b)))
    status = _combine(statuses)
    Qall = np.where(np.isnan(inputs.m)[:, None] | np.isnan(inputs.m)[None, :], nan, inputs.Q)
    return Result("theory", problem, tuple(obs), status=status, extra=extra, overlaps=Qall,
                  state=WarmStart(stages=tuple(states)), stage_status=tuple(statuses))


def _nodes_text(sol) -> list:
    out = []
    i = 0
    for part in sol.map.parts:
        if part.qmc:
            out.append(f"RQMC {part.grid.n_rep}x2^{sol.levels[i]}")
            i += 1
        else:
            out.append("x".join(str(n_nodes(lv, part.ndim)) for lv in sol.levels[i:i + part.ndim]))
            i += part.ndim
    return out
