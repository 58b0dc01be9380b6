"""The binary stage family of the theory (``docs/theory.md``): a stage's state is
``(m, q, Q_kj, V_kk, V_kj[, b])``, its map :class:`.stage.StageMap` with the chain's input side
:class:`.inputs.ChainInputs`; the Bayes-optimal teacher is a closed form (an override inside
:func:`.stage.solve_stage`) and a stage whose targets all name one class the constant classifier
(:func:`constant_side`, an override of the whole stage, status ``CONSTANT``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..problem import GaussianMixture, check_real
from ..results import Observables, SolverStatus, Status, gen_error
from .family import StageFamily
from .inputs import ChainInputs
from .quadrature import n_nodes
from .sets import Solved, set_view
from .stage import layout_of, solve_stage

__all__ = ["BinaryFamily", "StageState", "bayes_optimal_error", "QUAD_ACCEPT", "QMC_ACCEPT", "CONSTANT_MASS",
           "constant_side", "source_class_mass"]

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


def _nan_obs(k: int) -> Observables:
    return Observables(**{key: math.nan for key in OBS_KEYS[:6]}, p=math.nan if k > 0 else None,
                       extra={key: math.nan for key in (EXTRA_KEYS if k > 0 else ("V", "mhat", "qhat", "Vhat"))})


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




class BinaryFamily(StageFamily):
    """The binary chain's stages (:mod:`.family`): the input side :class:`.inputs.ChainInputs`
    and one :class:`.sets.Solved` record per stage."""

    def __init__(self, problem, train_error: bool = True):
        super().__init__(problem, train_error)
        self.data = problem.data
        self.inputs = ChainInputs(self.data.delta, problem.n_stages)
        self.solved: list = []
        self._fixed = None
        self._layout: dict = {}  # stage -> its Layout
        self._hats: dict = {}  # stage -> its conjugates (mhat, Qhat, Vhat) at the fixed point

    def chain_extra(self) -> dict:
        extra = {"bayes_error": bayes_optimal_error(self.data)}
        if self.problem.n_stages > 1:
            extra["bayes_error_sparse"] = bayes_optimal_error(self.data, self.problem.stages[-1].eta)
        return extra

    def override(self, k):
        """A bias fixed at a constant classifier's (``FAILED``), or the constant classifier."""
        plan = self.problem.plan(k)
        rec = Solved(k, plan)
        self.solved.append(rec)
        try:
            self._fixed = _fixed_bias(plan, self.data, self.solved)
        except ArithmeticError as exc:
            return SolverStatus(False, 0, math.nan, f"stage {k}: {exc}", Status.FAILED), self.nan_observables(k)
        side = constant_side(self.problem, k, plan, self._fixed, self.inputs, self.solved)
        if side is None:
            return None
        rec.constant = rec.b = math.copysign(math.inf, side)
        rec.m = 0.0
        self.inputs.freeze_constant(k, plan.eta)
        return (SolverStatus(True, 0, 0.0, f"stage {k}: every target names class {side:+.0f}: the constant "
                             "classifier (weights 0, bias at infinity)", Status.CONSTANT),
                _constant_obs(self.problem, k, side))

    def start(self, k, warm):
        """``(views, x0, b0)``: the stage's sets and the warm state where its layout is the stage's
        (``None``: :func:`.stage.solve_stage` starts from its own initial point)."""
        plan = self.problem.plan(k)
        views = [set_view(self.problem, self.solved, self.inputs, k, u.set, u.alpha) for u in plan.uses]
        layout = layout_of(views, k)
        if isinstance(warm, StageState) and warm.layout == (layout.J, layout.T):
            return views, layout, warm.x, warm.bias
        return views, layout, None, None

    def solve(self, k, start, *, tol, maxiter, method, quad_tol, qmc_tol):
        views, layout, x0, b0 = start
        plan = self.problem.plan(k)
        sol = solve_stage(k, self.problem.stages[k], plan, views, self.inputs, self.solved, self.data, self._fixed,
                          tol=tol, quad_tol=quad_tol, qmc_tol=qmc_tol, maxiter=maxiter, method=method, init=x0,
                          init_bias=b0)
        self._layout[k] = layout
        return sol

    def status(self, k, sol, seconds):
        nodes = None if sol.closed_form else _nodes_text(sol)
        quad_bad = sol.quad_error > QUAD_ACCEPT or (math.isfinite(sol.qmc_error) and sol.qmc_error > QMC_ACCEPT)
        status = _stage_status(f"stage {k}", sol.info, sol.quad_error, nodes, quad_bad, sol.map.root is not None,
                               qmc_error=sol.qmc_error, qmc_response_error=sol.qmc_response_error)
        extra = {f"quad_error_stage{k}": sol.quad_error}
        if math.isfinite(sol.qmc_error):
            extra[f"qmc_error_stage{k}"] = sol.qmc_error
            extra[f"qmc_response_error_stage{k}"] = sol.qmc_response_error
        return status, extra

    def freeze(self, k, sol):
        plan = self.problem.plan(k)
        G, x = sol.map, sol.x
        m, Qk, Vkk, Vk = G.unpack(x)
        if G.free_bias:
            G.b = float(x[-1])
        mhat, Qhat, Vhat = G.hats()
        self.inputs.freeze(k, plan.eta, plan.lam, mhat, Qhat, Vhat)
        # the state's own values where it has them (the frozen rows agree to the fixed-point tolerance)
        self.inputs.m[k] = m
        for j, q in Qk.items():
            self.inputs.Q[k, j] = self.inputs.Q[j, k] = q
        self.solved[k].m, self.solved[k].b = float(m), float(G.b)
        self._hats[k] = (mhat, Qhat, Vhat)

    def observables(self, k, sol):
        data, G = self.data, sol.map
        m, Qk, Vkk, Vk = G.unpack(sol.x)
        mhat, Qhat, Vhat = self._hats[k]
        te, tl = (G.train_error()[0], G.train_loss()) if self.train_error else (math.nan, math.nan)
        ex = dict(V=float(Vkk), mhat=float(mhat), qhat=float(Qhat[k]), Vhat=float(Vhat[k]))
        if k > 0:
            ex.update(Vx=float(Vk.get(k - 1, 0.0)), qhat12=float(Qhat[k - 1]), Vhat21=float(Vhat[k - 1]))
        return Observables(gen_error=float(gen_error(m, Qk[k], G.b, data.delta, data.rho)),
                           train_error=float(te), train_loss=float(tl), m=float(m), q=float(Qk[k]),
                           bias=float(G.b), p=float(self.inputs.Q[k, k - 1]) if k > 0 else None, extra=ex)

    def state(self, k, sol):
        G, x, layout = sol.map, sol.x, self._layout[k]
        return StageState((layout.J, layout.T), tuple(float(v) for v in (x[:-1] if G.free_bias else x)), float(G.b))

    def nan_observables(self, k):
        return _nan_obs(k)

    def overlaps(self):
        m = self.inputs.m
        return np.where(np.isnan(m)[:, None] | np.isnan(m)[None, :], math.nan, self.inputs.Q)


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
