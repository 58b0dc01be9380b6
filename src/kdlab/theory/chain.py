"""``solve``: the stages of a problem in order, one generic loop, packaged as a
:class:`kdlab.results.Result` (``docs/theory.md``, "Chains of stages").

Every stage goes through the same per-stage interface, its stage family (:mod:`.family`): the
binary chain (:class:`.binary.BinaryFamily`: its plan's sets, :mod:`.sets`, its state-evolution
map and :func:`.stage.solve_stage`, closed forms and the constant classifier as overrides of
their own stage) or the K-class chain (:class:`.multiclass.MulticlassFamily`). The loop
(:func:`solve_chain`) does the ordering, the warm start, the status and NaN rules and the
``Result``, for every family.
"""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Optional, Union

from ..errors import ConvergenceError
from ..params import THEORY_OPTIONS, check_options
from ..problem import Problem, as_problem
from ..results import Result, SolverStatus, Status
from .binary import (
    CONSTANT_MASS,
    QMC_ACCEPT,
    QUAD_ACCEPT,
    BinaryFamily,
    StageState,
    bayes_optimal_error,
    constant_side,
)
from .family import NO_TRAIN_ERROR

__all__ = ["solve", "solve_chain", "StageState", "bayes_optimal_error", "WarmStart", "QUAD_ACCEPT", "QMC_ACCEPT",
           "CONSTANT_MASS", "constant_side", "FAMILIES"]


def _multiclass_family():
    from .multiclass import MulticlassFamily  # loaded on first use

    return MulticlassFamily


#: The stage family of each data family (``data.family``): a class, or a function returning it.
FAMILIES = {"binary": BinaryFamily, "multiclass": _multiclass_family}


def _family(problem: Problem):
    fam = FAMILIES[problem.data.family]
    return fam if isinstance(fam, type) else fam()


@dataclass(frozen=True)
class WarmStart:
    """Starting point of :func:`solve`: ``stages``, one state per stage, of its family
    (:class:`StageState` for the binary chain, :class:`.multiclass.MultiStageState` for K
    classes; ``None`` where unknown)."""

    stages: Optional[tuple] = None

    @classmethod
    def from_result(cls, res: Result) -> "WarmStart":
        """A theory result's own ``state`` (any other result gives no warm start)."""
        return res.state if isinstance(res.state, WarmStart) else cls()


def _combine(statuses) -> SolverStatus:
    """One status for the whole chain: converged if every stage is; the first failure's code."""
    bad = [st for st in statuses if not st.converged]
    parts = [st.message for st in statuses]
    return SolverStatus(not bad, int(sum(st.iterations for st in statuses)),
                        float(max((st.residual for st in statuses if math.isfinite(st.residual)), default=0.0)),
                        "; ".join(parts), bad[0].code if bad else Status.CONVERGED)


_controller: list = [None, -1]  # the threadpoolctl controller, and len(sys.modules) when it was made


def _blas_controller():
    """A :class:`threadpoolctl.ThreadpoolController` of this process, made again only when
    modules were imported since (they may have loaded another BLAS): finding the libraries is
    what costs (about 1.7 ms a solve), limiting them does not (0.02 ms)."""
    if _controller[1] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _controller[:] = [ThreadpoolController(), len(sys.modules)]
    return _controller[0]


@contextmanager
def _one_blas_thread():
    """The state evolution's sums are small: extra BLAS threads only cost (and oversubscribe
    the worker processes of a sweep)."""
    if os.environ.get("OMP_NUM_THREADS") == "1":
        yield
        return
    with _blas_controller().limit(limits=1):
        yield


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
        1e-6), ``qmc_tol`` (RQMC standard-error target, 1e-4), ``train_error`` (``False``: the
        training error and loss are not computed but NaN, and the status says so; default ``True``).

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
        res = solve_chain(problem, _family(problem), init=init, **opts)
    if strict and not res.status.converged:
        raise ConvergenceError(f"theory did not converge: {res.status.message}")
    return res


def solve_chain(problem: Problem, family, *, tol: float, maxiter: int, method: str, quad_tol: float,
                qmc_tol: float, train_error: bool = True, init: Optional[WarmStart] = None) -> Result:
    """The loop over the stages of ``problem`` through its stage ``family`` (:mod:`.family`):
    each stage is taken from its override or solved (from the warm state ``init`` where it has
    one for the stage) with the earlier ones frozen; a stage that fails makes every later one
    ``NOT_SOLVED`` (NaN observables). ``train_error=False``: the family leaves the training
    error and loss NaN, and the chain's status message says so."""
    fam = family(problem, train_error=train_error)
    S = problem.n_stages
    inits = (init.stages if init is not None and init.stages is not None and len(init.stages) == S
             else (None,) * S)
    obs, statuses, states = [], [], []
    extra = fam.chain_extra()
    failed = None
    for k in range(S):
        t0 = time.perf_counter()
        if failed is not None:
            statuses.append(SolverStatus(False, 0, math.nan, f"stage {k}: not solved (stage {failed} did not "
                                         "converge)", Status.NOT_SOLVED))
            obs.append(fam.nan_observables(k))
            states.append(None)
            continue
        over = fam.override(k)
        if over is not None:
            status, o = over
            statuses.append(status)
            obs.append(o)
            states.append(None)
            if not status.converged:
                failed = k
            continue
        sol = fam.solve(k, fam.start(k, inits[k]), tol=tol, maxiter=maxiter, method=method, quad_tol=quad_tol,
                        qmc_tol=qmc_tol)
        status, ex = fam.status(k, sol, time.perf_counter() - t0)
        statuses.append(status)
        extra.update(ex)
        if not status.converged:
            failed = k
            obs.append(fam.nan_observables(k))
            states.append(None)
            continue
        fam.freeze(k, sol)
        obs.append(fam.observables(k, sol))
        states.append(fam.state(k, sol))
    status = _combine(statuses)
    if not train_error:
        status = replace(status, message=status.message + f"; {NO_TRAIN_ERROR}")
    return Result("theory", problem, tuple(obs), status=status, extra=extra, overlaps=fam.overlaps(),
                  state=WarmStart(stages=tuple(states)), stage_status=tuple(statuses))
