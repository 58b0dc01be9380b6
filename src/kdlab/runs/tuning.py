"""Optimal hyper-parameters over the theory backend.

* :func:`optimal_lam`: the ridge minimizing the teacher's (logistic teacher, ``lam_t``) or the
  student's (``lam``) generalization error: a coarse log-spaced scan, then a bounded scalar
  search (:func:`scipy.optimize.minimize_scalar`, ``method="bounded"``) on ``log10 lam`` in the
  bracket around the best scan point. Consecutive solves are warm-started.
* :func:`optimal_kd`: the ``(chi, temperature)`` minimizing the student's error at fixed ``lam``:
  a coarse grid in ``chi x log T``, then a bounded Nelder-Mead polish from the best grid point.
* :func:`optimal_stage`: any of ``lam``, ``chi``, ``temperature`` of the last stage of a chain
  (the earlier stages fixed), by coordinate descent with bounded scalar searches.
* :func:`optimal_chain`: the same for several stages **jointly** (the last stage's error; the
  greedy alternative tunes :func:`optimal_stage` stage after stage).

Both return an :class:`Optimum` (the optimal values, the error, the
:class:`~kdlab.results.Result` there, the number of solves, whether the optimum sits on a
bound, how many solves failed and how many retries were spent). ``solve=`` replaces
:func:`kdlab.theory.solve` (any callable with its signature).

The searches read only ``gen_error``: their solves skip the training error and loss
(``train_error=False``, a large share of a K-class solve) where the solver is
:func:`kdlab.theory.solve` (or names ``train_error`` in its signature) and the caller did not
set ``train_error``; the optimum is then solved once more with it (warm-started from itself),
so that ``Optimum.result`` carries every observable.

Retries: a solve that does not converge is retried cold, then with the damped iteration
(:func:`solve_robust`); a search spends at most :data:`RETRY_BUDGET` retried solves (then a
failed solve is +inf for it at once), and a problem whose retries all failed is remembered
(:data:`KNOWN_FAILURES`, this process), so that no later search retries it again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from ..errors import OptimizationError
from ..problem import Problem, Student, as_problem

__all__ = ["Optimum", "ChainOptimum", "OptimizationError", "optimal_lam", "optimal_kd", "optimal_stage",
           "optimal_chain", "solve_robust", "STAGE_SPACE", "RETRY_BUDGET", "KNOWN_FAILURES"]

#: Most coarse-grid points of a search (per axis for :func:`optimal_kd`, which costs their product).
MAX_LAM_GRID = 1000
MAX_KD_GRID = 100

#: Most retried solves (cold restarts and damped iterations, :func:`solve_robust`) one search
#: spends; after that a solve that does not converge counts as +inf at once (``Optimum.n_retries``).
RETRY_BUDGET = 24


@dataclass(frozen=True)
class Optimum:
    """Result of a hyper-parameter search.

    ``params``: the optimal values of the tuned stage ``stage`` (``{"lam": ...}`` or
    ``{"chi": ..., "temperature": ...}``; :attr:`record` names them ``stage<k>_<param>``);
    ``value``: the single optimal value for a scalar
    search; ``gen_error``: the minimal error; ``result``: the theory :class:`Result` there;
    ``n_evals``: solves done; ``at_bound``: the optimum is on (within tolerance of) a bound, so
    the true optimum may lie beyond it; ``history``: ``(params, gen_error)`` of every solve;
    ``bound_params``: which parameters sit on a bound (:func:`optimal_stage`); ``n_failed``: the
    points of the search whose solve failed or did not converge (+inf for it); ``n_retries``: the
    retried solves spent on them (at most :data:`RETRY_BUDGET`).
    """

    params: dict
    gen_error: float
    result: Any
    n_evals: int
    at_bound: bool
    history: list = field(default_factory=list, repr=False)
    bound_params: tuple = ()
    stage: int = -1
    n_failed: int = 0
    n_retries: int = 0

    @property
    def record(self) -> dict:
        """The optimal values as ``{stage<k>_<param>: value}``."""
        k = self.stage if self.stage >= 0 else len(self.result.stages) - 1
        return {f"stage{k}_{n}": v for n, v in self.params.items()}

    @property
    def value(self) -> float:
        if len(self.params) != 1:
            raise AttributeError("value is only defined for a scalar search; use params")
        return next(iter(self.params.values()))


def _default_solve():
    from .. import theory

    return theory.solve


class _KnownFailures:
    """Problems (with their solver and options, without the warm start) whose cold and damped
    retries did not converge, in this process: a later :func:`solve_robust` of one still tries its
    own (warm-started) solve but not the retries, which are known to fail (bounded, oldest out)."""

    def __init__(self, size: int = 4096):
        import collections

        self.size, self.items = size, collections.OrderedDict()

    @staticmethod
    def key(solve, problem, kwargs):
        try:
            k = (solve, problem, tuple(sorted((n, repr(v)) for n, v in kwargs.items() if n != "init")))
            hash(k)
        except TypeError:  # an unhashable problem or option: not remembered
            return None
        return k

    def __contains__(self, key) -> bool:
        return key is not None and key in self.items

    def add(self, key) -> None:
        if key is not None:
            self.items[key] = True
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        self.items.clear()


#: The problems whose retries are known to fail, in this process (:class:`_KnownFailures`).
KNOWN_FAILURES = _KnownFailures()


def _converged(res) -> bool:
    return bool(getattr(res.status, "converged", True))


def _iterations_converged(res, kwargs) -> bool:
    """Whether every failed stage of ``res`` reached its fixed point (``code`` not converged, yet
    ``residual <= tol``): the failure is then the accuracy of its integrals at the finest rule,
    and a retry (a cold start, the damped iteration: other paths to the same unique fixed point)
    fails alike, so it is not made. A stage that diverged or ran out of iterations is retried."""
    from ..params import THEORY_OPTIONS
    from ..results import Status

    tol = float(kwargs.get("tol", THEORY_OPTIONS["tol"].default))
    bad = [st for st in (getattr(res, "stage_status", None) or ())
           if not st.converged and st.code is not Status.NOT_SOLVED]
    return bool(bad) and all(st.code is Status.NOT_CONVERGED and math.isfinite(st.residual) and st.residual <= tol
                             for st in bad)


def solve_robust(solve, problem: Problem, **kwargs):
    """``solve(problem, ...)``, retried when it does not converge: first without the warm start,
    then with ``method="damped"`` (the plain damped iteration THEORY.md found to converge at every
    point checked). The first converged result wins; otherwise the first result is returned
    (its ``status`` says it did not converge). A problem whose retries failed before in this
    process (:data:`KNOWN_FAILURES`) is not retried again."""
    return _solve_counted(solve, problem, {}, math.inf, **kwargs)


def _solve_counted(solve, problem: Problem, stats: dict, budget: float, **kwargs):
    """:func:`solve_robust` spending at most ``budget`` retried solves; ``stats["retries"]``
    counts the retries made, ``stats["skipped"]`` those left out (known failures, no budget)."""
    first = solve(problem, **kwargs)
    if _converged(first):
        return first
    retries = []
    if "init" in kwargs:
        retries.append({k: v for k, v in kwargs.items() if k != "init"})
    if kwargs.get("method", "anderson") != "damped":
        retries.append({**{k: v for k, v in kwargs.items() if k != "init"}, "method": "damped"})
    key = KNOWN_FAILURES.key(solve, problem, kwargs)
    if key in KNOWN_FAILURES or not retries or _iterations_converged(first, kwargs):
        stats["skipped"] = stats.get("skipped", 0) + len(retries)
        if retries and key not in KNOWN_FAILURES:
            KNOWN_FAILURES.add(key)
        return first
    complete = True
    for i, kw in enumerate(retries):
        if stats.get("retries", 0) >= budget:
            stats["skipped"] = stats.get("skipped", 0) + len(retries) - i
            complete = False
            break
        try:
            res = solve(problem, **kw)
        except TypeError:  # a solver without ``method``
            continue
        finally:
            stats["retries"] = stats.get("retries", 0) + 1
        if _converged(res):
            return res
    if complete:
        KNOWN_FAILURES.add(key)
    return first


class _Objective:
    """Wraps the solver: caches, warm-starts from the nearest previous point, maps failures
    and non-converged solves to +inf, records the history."""

    def __init__(self, build, solve, init, solve_kwargs, distance):
        self.build, self.solve = build, solve
        self.solve_kwargs = dict(solve_kwargs)
        # the search reads gen_error only: skip the training error, then complete the optimum (:meth:`final`)
        self.complete = "train_error" not in self.solve_kwargs and _takes_train_error(solve)
        if self.complete:
            self.solve_kwargs["train_error"] = False
        self.distance = distance
        self.init = init
        self.history: list = []
        self.results: list = []  # (x, error, result)
        self.errors: list = []
        self.stats: dict = {}  # retries spent / skipped (_solve_counted)
        self.n_failed = 0

    def __call__(self, x) -> float:
        x = tuple(float(v) for v in np.atleast_1d(x))
        for xx, err, _ in self.results:
            if xx == x:
                return err
        problem = self.build(x)
        init = self.init
        ok = [r for r in self.results if r[2] is not None]
        if ok:
            init = min(ok, key=lambda r: self.distance(r[0], x))[2]
        kw = dict(self.solve_kwargs)
        if init is not None:
            kw["init"] = init
        try:
            res = _solve_counted(self.solve, problem, self.stats, RETRY_BUDGET, **kw)
        except Exception as exc:  # noqa: BLE001 - a failed solve is +inf for the search
            if "init" in kw:  # a bad warm start must not poison the search: retry cold
                kw.pop("init")
                try:
                    res = _solve_counted(self.solve, problem, self.stats, RETRY_BUDGET, **kw)
                except Exception as exc2:  # noqa: BLE001
                    self.errors.append(f"{x}: {type(exc2).__name__}: {exc2}")
                    res = None
            else:
                self.errors.append(f"{x}: {type(exc).__name__}: {exc}")
                res = None
        err = math.inf
        if res is not None:
            obs = res.stages[-1]
            conv = getattr(res.status, "converged", True)
            if obs is not None and conv and math.isfinite(obs.gen_error):
                err = float(obs.gen_error)
            elif not conv:
                self.errors.append(f"{x}: not converged ({res.status.message})")
        self.n_failed += int(not math.isfinite(err))
        self.results.append((x, err, res if math.isfinite(err) else None))
        self.history.append((x, err))
        return err

    def counts(self) -> dict:
        """``n_failed`` and ``n_retries`` of an :class:`Optimum`."""
        return {"n_failed": self.n_failed, "n_retries": int(self.stats.get("retries", 0))}

    def best(self):
        ok = [r for r in self.results if math.isfinite(r[1])]
        if not ok:
            raise OptimizationError("every solve failed or did not converge: "
                                    + "; ".join(self.errors[:3]))
        return min(ok, key=lambda r: r[1])

    def final(self):
        """:meth:`best` with its result solved again with the training error (warm-started from
        itself) where the search skipped it; its ``gen_error`` (the same fixed point, to the
        solver's tolerance) is the optimum's. Should that solve fail, the search's result stays
        (training error NaN, as its status says)."""
        x, err, res = self.best()
        if not self.complete:
            return x, err, res
        kw = {**self.solve_kwargs, "train_error": True, "init": res}
        try:
            full = _solve_counted(self.solve, self.build(x), self.stats, RETRY_BUDGET, **kw)
        except Exception:  # noqa: BLE001 - keep the search's own result
            return x, err, res
        g = float(full.stages[-1].gen_error) if _converged(full) else math.nan
        return (x, g, full) if math.isfinite(g) else (x, err, res)


def _takes_train_error(solve) -> bool:
    """Whether ``solve`` takes the ``train_error`` option: :func:`kdlab.theory.solve`, or a callable
    naming it in its signature."""
    import inspect

    from .. import theory

    if solve is theory.solve:
        return True
    try:
        return "train_error" in inspect.signature(solve).parameters
    except (TypeError, ValueError):
        return False


def _check_bounds(name, bounds, positive=True, within=None):
    """``(low, high)`` of a search interval; ``within``: the declared :class:`~kdlab.params.Param`
    of the searched parameter, whose range the interval must lie in (checked here, before any
    solve, so that no error names a trial value)."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi or (positive and lo <= 0):
        raise ValueError(f"{name} must satisfy {'0 < ' if positive else ''}low < high (finite), got {bounds!r}")
    if within is not None and ((within.low is not None and lo < within.low)
                               or (within.high is not None and hi > within.high)):
        raise ValueError(f"{name} must lie within {within.range_text} (the range of {within.name}), "
                         f"got ({lo:g}, {hi:g})")
    return lo, hi


def _tuned_problem(problem: Problem, stage: Optional[int], which: Optional[str]) -> tuple[Problem, int]:
    """The problem truncated to the tuned stage (later stages do not change its error) and the
    stage's index; ``which`` is the alias ``"teacher"`` (stage 0) / ``"student"`` (the last)."""
    n = len(problem.stages)
    if which is not None:
        if which not in ("teacher", "student"):
            raise ValueError(f"which must be 'teacher' or 'student', got {which!r}")
        if stage is not None:
            raise ValueError("give stage or which, not both")
        if which == "student" and n < 2:
            raise ValueError("which='student' needs a student")
        stage = 0 if which == "teacher" else n - 1
    k = n - 1 if stage is None else int(stage)
    if not 0 <= k < n:
        raise ValueError(f"stage must be in 0..{n - 1}, got {stage!r}")
    return Problem(problem.data, problem.stages[:k + 1]), k


def optimal_lam(*problem, stage: Optional[int] = None, which: Optional[str] = None, bounds=(1e-4, 1e2),
                n_grid: int = 7, xatol: float = 0.01, maxiter: int = 40, init=None,
                solve: Optional[Callable] = None, **solve_kwargs) -> Optimum:
    """The ridge of one stage minimizing its eps_g, by bounded search on ``log10 lam`` within ``bounds``.

    ``optimal_lam(problem)`` (or ``(data, stages)``, ``(data, teacher, student)``) tunes the last
    stage's ``lam``, the earlier stages fixed (later stages are ignored); ``stage=k`` another one
    (``which="teacher"`` / ``"student"``: stage 0 / the last). ``n_grid`` log-spaced solves
    first locate the basin; then ``minimize_scalar(method="bounded")`` refines it to ``xatol``
    in ``log10 lam``. Extra keyword arguments go to the solver.
    """
    p, k = _tuned_problem(as_problem(*problem), stage, which)
    if "lam" not in type(p.stages[k]).PARAMS:
        raise ValueError(f"stage {k} ({p.stages[k].kind}) has no ridge to optimize")
    lo, hi = _check_bounds("bounds", bounds, within=type(p.stages[k]).PARAMS["lam"])
    from ..params import check_int

    n_grid = check_int("n_grid", n_grid, low=3, high=MAX_LAM_GRID)
    if not xatol > 0:
        raise ValueError(f"xatol must be > 0, got {xatol}")
    solve = solve or _default_solve()

    def build(x):
        return p.replace(**{f"stage{k}": {"lam": 10.0 ** x[0]}})

    obj = _Objective(build, solve, init, solve_kwargs, lambda a, b: abs(a[0] - b[0]))
    llo, lhi = math.log10(lo), math.log10(hi)
    grid = np.linspace(llo, lhi, n_grid)
    errs = [obj(g) for g in grid]
    if not any(math.isfinite(e) for e in errs):
        obj.best()  # raises
    i = int(np.nanargmin(np.where(np.isfinite(errs), errs, np.inf)))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, n_grid - 1)]
    minimize_scalar(lambda x: obj(x), bounds=(a, b), method="bounded",
                    options={"xatol": xatol, "maxiter": int(maxiter)})
    x, err, res = obj.final()
    at_bound = bool(x[0] - llo <= 2 * xatol or lhi - x[0] <= 2 * xatol)
    return Optimum({"lam": 10.0 ** x[0]}, err, res, len(obj.history), at_bound,
                   [({"lam": 10.0 ** h[0]}, e) for h, e in obj.history], stage=k, **obj.counts())


def optimal_kd(*problem, chi_bounds=(0.0, 1.0), temperature_bounds=(0.1, 10.0), n_chi: int = 5,
               n_temperature: int = 5, polish: bool = True, maxfev: int = 40, init=None,
               solve: Optional[Callable] = None, **solve_kwargs) -> Optimum:
    """The ``(chi, temperature)`` of the last stage (a student) minimizing its eps_g at its fixed ``lam``.

    ``optimal_kd(problem)`` (or ``(data, stages)``, ``(data, teacher, student)``). A
    ``n_chi x n_temperature`` grid (``chi`` linear, ``T`` log-spaced within the bounds), then
    (``polish=True``) a bounded Nelder-Mead on ``(chi, log10 T)`` from the best grid point, at
    most ``maxfev`` more solves.
    """
    p = as_problem(*problem)
    student = p.stages[-1] if len(p.stages) > 1 else None
    if student is None:
        raise ValueError("optimal_kd needs a student")
    clo, chi_hi = _check_bounds("chi_bounds", chi_bounds, positive=False)
    if clo < 0 or chi_hi > 1:
        raise ValueError(f"chi_bounds must lie within [0, 1], got {chi_bounds!r}")
    tlo, thi = _check_bounds("temperature_bounds", temperature_bounds, within=Student.PARAMS["temperature"])
    from ..params import TEMPERATURE_MIN

    if tlo < TEMPERATURE_MIN:
        raise ValueError(f"temperature_bounds must lie within [{TEMPERATURE_MIN:g}, "
                         f"{Student.PARAMS['temperature'].high:g}] (positive temperatures), got ({tlo:g}, {thi:g})")
    from ..params import check_int

    n_chi = check_int("n_chi", n_chi, low=2, high=MAX_KD_GRID)
    n_temperature = check_int("n_temperature", n_temperature, low=1, high=MAX_KD_GRID)
    solve = solve or _default_solve()

    k = len(p.stages) - 1

    def build(x):
        return p.replace(**{f"stage{k}": {"chi": min(max(x[0], 0.0), 1.0), "temperature": 10.0 ** x[1]}})

    scale = np.array([chi_hi - clo, max(math.log10(thi / tlo), 1e-12)])
    obj = _Objective(build, solve, init, solve_kwargs,
                     lambda a, b: float(np.sum(((np.array(a) - np.array(b)) / scale) ** 2)))
    chis = np.linspace(clo, chi_hi, int(n_chi))
    lts = (np.linspace(math.log10(tlo), math.log10(thi), int(n_temperature)) if int(n_temperature) > 1
           else np.array([0.5 * (math.log10(tlo) + math.log10(thi))]))
    for lt in lts:  # sweep chi at fixed T: neighbours warm-start each other
        for c in chis:
            obj((c, lt))
    x0 = np.array(obj.best()[0])
    if polish:
        bounds = [(clo, chi_hi), (math.log10(tlo), math.log10(thi))]
        minimize(lambda x: obj(np.clip(x, [b[0] for b in bounds], [b[1] for b in bounds])), x0,
                 method="Nelder-Mead", bounds=bounds,
                 options={"maxfev": int(maxfev), "xatol": 1e-3, "fatol": 1e-7,
                          "initial_simplex": [x0, x0 + [0.1 * scale[0] * (1 if x0[0] < chi_hi else -1), 0],
                                              x0 + [0, 0.1 * scale[1] * (1 if x0[1] < bounds[1][1] else -1)]]})
    x, err, res = obj.final()
    tol = 1e-3
    at_bound = bool((x[0] - clo <= tol and clo > 0) or chi_hi - x[0] <= tol and chi_hi < 1
                    or x[1] - math.log10(tlo) <= tol or math.log10(thi) - x[1] <= tol)
    params = {"chi": float(x[0]), "temperature": 10.0 ** x[1]}
    return Optimum(params, err, res, len(obj.history), at_bound,
                   [({"chi": h[0], "temperature": 10.0 ** h[1]}, e) for h, e in obj.history], stage=k,
                   **obj.counts())


#: Search intervals of :func:`optimal_stage` for the student parameters it can tune, as
#: ``(low, high, log)``; ``chi`` may exceed 1 only at ``temperature = 1`` (give the interval).
STAGE_SPACE = {"lam": (1e-4, 1e2, True), "chi": (0.0, 1.0, False), "temperature": (0.1, 10.0, True),
               "class_weight": (0.1, 10.0, True), "bias": (-5.0, 5.0, False)}


def _coordinate_search(obj, x, best, bounds, n_scan, sweeps, xatol, scan=True):
    """Coordinate descent on ``obj`` from ``x`` (the one search of :func:`optimal_stage` and
    :func:`optimal_chain`): on the first sweep each coordinate is scanned on ``n_scan`` points of
    its interval (unless ``scan=False``), then refined by a bounded scalar minimization around the
    best point; later sweeps refine within one scan step. ``obj`` records every evaluation and
    ``obj.best()`` gives the optimum; stops when a sweep gains less than 1e-9."""
    steps = [(hi - lo) / (n_scan - 1) for lo, hi in bounds]
    for sweep in range(sweeps):
        before = best
        for i, (lo, hi) in enumerate(bounds):
            def f(v, i=i):
                xx = list(x)
                xx[i] = float(v)
                return obj(xx)

            if sweep == 0 and scan:
                grid = np.linspace(lo, hi, n_scan)
                errs = [f(g) for g in grid]
                j = int(np.argmin(np.where(np.isfinite(errs), errs, np.inf)))
                a, b = grid[max(j - 1, 0)], grid[min(j + 1, n_scan - 1)]
            else:
                a, b = max(lo, x[i] - steps[i]), min(hi, x[i] + steps[i])
            if b > a:
                minimize_scalar(f, bounds=(a, b), method="bounded", options={"xatol": xatol, "maxiter": 30})
            xb, best, _ = obj.best()
            x = list(xb)
        if before - best < 1e-9 and (sweep > 0 or not scan):
            break


def optimal_stage(problem: Problem, space, *, x0: Optional[dict] = None, sweeps: int = 3, n_scan: int = 5,
                  xatol: float = 0.01, init=None, solve: Optional[Callable] = None, **solve_kwargs) -> Optimum:
    r"""The parameters of the **last** stage of ``problem`` minimizing its eps_g, the earlier stages fixed.

    ``space``: the names to tune (``lam``, ``chi``, ``temperature``, ``class_weight``, ``bias``:
    a fixed bias, a recalibrated one; a lone teacher has no ``chi``, ``temperature``), as a list
    (intervals of :data:`STAGE_SPACE`) or a mapping
    ``{name: (low, high)}``; ``lam`` and ``temperature`` are searched on a log scale. Coordinate
    descent: each pass minimizes one coordinate at a time; the first pass scans ``n_scan``
    points of the whole interval and refines the best bracket with a bounded Brent search
    (:func:`scipy.optimize.minimize_scalar`), later passes refine within one scan step of the
    current point; stops after ``sweeps`` passes or when a pass improves eps_g by < 1e-9.
    ``x0``: starting values (default: the stage's own). ``Optimum.at_bound`` is true when any
    coordinate ends within ``2 xatol`` (transformed units) of its interval's edge;
    ``Optimum.bound_params`` names them.
    """
    from ..params import check_int

    if not isinstance(problem, Problem):
        raise TypeError(f"optimal_stage needs a Problem, got {type(problem).__name__}")
    chain = list(problem.stages)
    if isinstance(space, (list, tuple)):
        space = {n: STAGE_SPACE[n][:2] if n in STAGE_SPACE else None for n in space}
    dims = []
    for name, bounds in dict(space).items():
        if name not in STAGE_SPACE:
            raise ValueError(f"optimal_stage tunes {', '.join(STAGE_SPACE)}; got {name!r}")
        log = STAGE_SPACE[name][2]
        lo, hi = _check_bounds(f"space[{name!r}]", bounds, positive=log)
        dims.append((name, (math.log10(lo), math.log10(hi)) if log else (lo, hi), log))
    if not dims:
        raise ValueError("optimal_stage needs at least one parameter to tune")
    sweeps = check_int("sweeps", sweeps, low=1, high=20)
    n_scan = check_int("n_scan", n_scan, low=3, high=MAX_LAM_GRID)
    last = chain[-1]
    missing = [d[0] for d in dims if d[0] not in type(last).PARAMS]
    if missing:
        raise ValueError(f"the last stage ({last.kind}) has no parameter {', '.join(missing)} to tune "
                         f"(its parameters: {', '.join(type(last).PARAMS)})")
    solve = solve or _default_solve()
    names = [d[0] for d in dims]
    start = dict(x0 or {})
    x = []
    for name, (lo, hi), log in dims:
        v = start.get(name, getattr(last, name))
        v = 0.0 if isinstance(v, str) else float(v)  # a bias rule ("free", ...) starts the search at 0
        t = math.log10(v) if log and v > 0 else (lo if log else v)
        x.append(min(max(t, lo), hi))

    def build(xx):
        vals = {n: (10.0 ** v if log else float(v)) for v, (n, _, log) in zip(xx, dims)}
        return Problem(problem.data, tuple(chain[:-1]) + (last.replace(**vals),))

    obj = _Objective(build, solve, init, solve_kwargs,
                     lambda a, b: float(sum((p - q) ** 2 for p, q in zip(a, b))))
    best = obj(x)
    _coordinate_search(obj, x, best, [b for _, b, _ in dims], n_scan, sweeps, xatol)
    xb, err, res = obj.final()
    edge = tuple(n for n, v, (_, (lo, hi), _) in zip(names, xb, dims) if v - lo <= 2 * xatol or hi - v <= 2 * xatol)
    params = {n: (10.0 ** v if log else float(v)) for v, (n, _, log) in zip(xb, dims)}
    return Optimum(params, err, res, len(obj.history), bool(edge),
                   [({n: (10.0 ** v if log else float(v)) for v, (n, _, log) in zip(h, dims)}, e)
                    for h, e in obj.history], edge, stage=len(chain) - 1, **obj.counts())


@dataclass(frozen=True)
class ChainOptimum(Optimum):
    """An :class:`Optimum` over several stages (:func:`optimal_chain`): ``params`` is
    ``{stage<k>_<name>: value}`` (also :attr:`record`); :attr:`per_stage` is ``{k: {name: value}}``."""

    @property
    def record(self) -> dict:
        return dict(self.params)

    @property
    def per_stage(self) -> dict:
        out: dict = {}
        for key, v in self.params.items():
            k, name = key[len("stage"):].split("_", 1)
            out.setdefault(int(k), {})[name] = v
        return out


def optimal_chain(problem: Problem, spaces, *, x0: Optional[dict] = None, sweeps: int = 2, n_scan: int = 5,
                  scan: bool = True, xatol: float = 0.01, init=None, solve: Optional[Callable] = None,
                  **solve_kwargs) -> ChainOptimum:
    r"""**Joint** tuning: the parameters of several stages minimizing the **last** stage's eps_g.

    ``spaces``: ``{k: space}`` for the stages tuned together (each ``space`` as in
    :func:`optimal_stage`: a list of names or ``{name: (low, high)}``); ``x0``: ``{k: {name:
    value}}`` starting values (default: the stages' own; e.g. a greedy optimum, stage after stage,
    so that the joint optimum is never worse). Coordinate descent over every coordinate of every
    stage, as in :func:`optimal_stage` (a scan of ``n_scan`` points and a bounded Brent search in
    the first pass, refinements within one scan step after), each solve the whole chain: unlike
    greedy tuning, an earlier stage may trade its own error for a better last stage.
    ``scan=False``: no scan, every pass refines within one scan step of ``x0`` (a local polish
    of a good start, e.g. the greedy optimum). Returns a :class:`ChainOptimum` (``params``:
    ``{stage<k>_<name>: value}``).
    """
    from ..params import check_int

    if not isinstance(problem, Problem):
        raise TypeError(f"optimal_chain needs a Problem, got {type(problem).__name__}")
    chain = list(problem.stages)
    n = len(chain)
    dims = []  # (stage, name, (lo, hi) transformed, log)
    for k, space in dict(spaces).items():
        if not (isinstance(k, int) and 0 <= k < n):
            raise ValueError(f"optimal_chain: stage index must be in 0..{n - 1}, got {k!r}")
        if isinstance(space, (list, tuple)):
            space = {nm: STAGE_SPACE[nm][:2] if nm in STAGE_SPACE else None for nm in space}
        for name, bounds in dict(space).items():
            if name not in STAGE_SPACE:
                raise ValueError(f"optimal_chain tunes {', '.join(STAGE_SPACE)}; got {name!r}")
            if name not in type(chain[k]).PARAMS:
                raise ValueError(f"stage {k} ({chain[k].kind}) has no parameter {name} to tune")
            log = STAGE_SPACE[name][2]
            lo, hi = _check_bounds(f"spaces[{k}][{name!r}]", bounds, positive=log)
            dims.append((k, name, (math.log10(lo), math.log10(hi)) if log else (lo, hi), log))
    if not dims:
        raise ValueError("optimal_chain needs at least one parameter to tune")
    sweeps = check_int("sweeps", sweeps, low=1, high=20)
    n_scan = check_int("n_scan", n_scan, low=3, high=MAX_LAM_GRID)
    solve = solve or _default_solve()
    start = {int(k): dict(v) for k, v in (x0 or {}).items()}
    x = []
    for k, name, (lo, hi), log in dims:
        v = start.get(k, {}).get(name, getattr(chain[k], name))
        v = 0.0 if isinstance(v, str) else float(v)
        t = math.log10(v) if log and v > 0 else (lo if log else v)
        x.append(min(max(t, lo), hi))

    def values(xx):
        return [(k, name, 10.0 ** v if log else float(v)) for v, (k, name, _, log) in zip(xx, dims)]

    def build(xx):
        stages = list(chain)
        for k, name, v in values(xx):
            stages[k] = stages[k].replace(**{name: v})
        return Problem(problem.data, tuple(stages))

    obj = _Objective(build, solve, init, solve_kwargs, lambda a, b: float(sum((p - q) ** 2 for p, q in zip(a, b))))
    best = obj(x)
    _coordinate_search(obj, x, best, [b for _, _, b, _ in dims], n_scan, sweeps, xatol, scan=scan)
    xb, err, res = obj.final()
    edge = tuple(f"stage{k}_{name}" for v, (k, name, (lo, hi), _) in zip(xb, dims)
                 if v - lo <= 2 * xatol or hi - v <= 2 * xatol)
    params = {f"stage{k}_{name}": v for k, name, v in values(xb)}
    return ChainOptimum(params, err, res, len(obj.history), bool(edge),
                        [({f"stage{k}_{nm}": v for k, nm, v in values(h)}, e) for h, e in obj.history], edge,
                        stage=n - 1, **obj.counts())
