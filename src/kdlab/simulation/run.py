"""The simulation backend: for every seed, sample, fit each stage of the chain once, measure.

For each seed: draw the training set(s) (:mod:`.sampling`), fit stage 0 on the labels and
every student on its parent's pre-activations (soft or hard labels) on its own training set
by exact ERM (:mod:`.erm`), and measure each stage on the exact formula of
``docs/model.md`` and on a fresh test set. Seeds run on threads with one BLAS thread each;
the result is the mean and standard error over seeds.

One per-seed loop over the stages (:func:`simulate_seed_chains`) and one aggregation over
seeds (:func:`simulate_many`) for every stage family (:mod:`.family`): the binary chain
(:class:`BinaryDraws`, here) and the K-class chain (:class:`.multinomial.MulticlassDraws`).
"""

from __future__ import annotations

import math
import os
from typing import Iterable, Optional

import numpy as np
import pandas as pd

from ..params import RUN_OPTIONS, SIMULATION_OPTIONS, check_int
from ..problem import GaussianMixture, Problem, Student, Teacher, as_problem
from ..results import Observables, Result, SolverStatus, _flat, gen_error
from .erm import fit_linear
from .family import ChainFits, Draws
from .sampling import Dataset, _streams, n_samples, sample_dataset, sample_fresh, sample_test, share, stage_subset

__all__ = ["FIT_TOL", "simulate", "simulate_many", "simulate_seed", "simulate_seed_chains", "fit_stage", "fit_teacher",
           "fit_student", "student_subset", "clear_fit_cache", "BinaryDraws", "FAMILIES",
           "sample_dataset", "Dataset", "_streams"]


#: The relative gradient norm at which a fit stops (declared in :data:`kdlab.params.SIMULATION_OPTIONS`):
#: well below what the standard errors over seeds resolve.
FIT_TOL = SIMULATION_OPTIONS["tol"].default


def student_subset(student: Student, n_features: int, seed: int, k: int = 1) -> np.ndarray:
    """Sorted indices of the ``round(eta N)`` coordinates student ``k`` trains."""
    s = stage_subset(student.eta, n_features, seed, k)
    return np.arange(n_features) if s is None else s


def fit_stage(spec, data: GaussianMixture, ds: Dataset, subset: Optional[np.ndarray],
              ut: Optional[np.ndarray], alpha: float, tol: float = FIT_TOL, parent_bias: Optional[float] = None):
    """Fit one stage on ``ds`` (coordinates ``subset``, all if ``None``; parent's total
    pre-activations ``ut`` for a student; ``parent_bias``: the parent's fitted bias, for a bias
    fixed at it). Returns ``(fit, w)`` with ``w`` of length N."""
    Xs = ds.Xs if subset is None else ds.Xs[:, subset]
    fixed = spec.fixed_bias(data, parent_bias)
    ridge = spec.ridge(data.replace(alpha=alpha)) if alpha != data.alpha else spec.ridge(data)
    if fixed is not None:
        fit = fit_linear(Xs, ds.y, spec.loss(), ridge, ut=ut, fit_bias=False, bias=fixed, tol=tol)
    else:
        fit = fit_linear(Xs, ds.y, spec.loss(), ridge, ut=ut, tol=tol)
    if subset is None:
        return fit, fit.w
    w = np.zeros(ds.n_features)
    w[subset] = fit.w
    return fit, w


def fit_teacher(teacher: Teacher, data: GaussianMixture, ds: Dataset, tol: float = FIT_TOL):
    """Stage 0 on all its coordinates (``teacher.eta = 1``): weights ``w~``, bias, iterations."""
    return fit_stage(teacher, data, ds, None, None, data.alpha, tol)[0]


def fit_student(student: Student, ds: Dataset, subset: np.ndarray, teacher_u: np.ndarray,
                tol: float = FIT_TOL):
    """Student weights (length N, zero outside ``subset``) and bias, trained on the KD loss."""
    fit = fit_linear(ds.Xs[:, subset], ds.y, student.loss(), student.lam, ut=teacher_u, tol=tol)
    w = np.zeros(ds.n_features)
    w[subset] = fit.w
    return fit, w


def _measure(w, b, u_train, loss, y_train, ds: Dataset, data: GaussianMixture, X_test, y_test, ut_train=None):
    """The observables of a fitted stage: overlaps with the centre ``ds.v``, the exact error,
    the test error, and the training error and mean loss on all its samples (labels
    ``y_train``, the sets' observed labels)."""
    N = ds.n_features
    m = float(w @ ds.v) / N
    q = float(w @ w) / N
    u_test = X_test @ w / math.sqrt(N) + b
    return {
        "gen_error": gen_error(m, q, b, data.delta, data.rho),
        "gen_error_test": share(np.where(u_test > 0, 1.0, -1.0) != y_test),
        "train_error": float(np.mean(np.where(u_train > 0, 1.0, -1.0) != y_train)),
        "train_loss": float(np.mean(loss.value(u_train, y_train, ut_train))),
        "m": m,
        "q": q,
        "bias": float(b),
    }


def simulate_seed(problem: Problem, n_features: int = 1000, seed: int = 0, n_test: Optional[int] = None,
                  tol: float = FIT_TOL) -> dict:
    """Observables of one seed as a flat dict (``stage<k>_<obs>``, ``overlap_j_k``, ``seed``)."""
    return simulate_seed_chains(problem.data, [problem.stages], n_features, seed, n_test, tol)[0]


class _FitCache:
    """The last stage-0 fits of this process, by (data, stage, N, seed, tol): every input of the
    fit, so a hit is bit-for-bit the fit it replaces (thread-safe, bounded)."""

    def __init__(self, size: int = 512):
        import collections
        import threading

        self.size, self.items, self.lock = size, collections.OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value):
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_TEACHER_FITS = _FitCache()


def clear_fit_cache() -> None:
    """Forget the stage-0 fits remembered by this process."""
    with _TEACHER_FITS.lock:
        _TEACHER_FITS.items.clear()


def simulate_seed_chains(data, chains, n_features: int, seed: int, n_test: Optional[int] = None,
                         tol: float = FIT_TOL) -> list[dict]:
    """One row per chain for one seed (``seed``, ``teacher_fits``, ``stage<k>_<obs>`` with
    array observables flattened, ``stage<k>_iterations``, the family's overlap columns);
    :func:`_seed_records` says how the chains share the seed's draws."""
    return [_row(rec, _family(data)) for rec in _seed_records(data, chains, n_features, seed, n_test, tol)]


def _seed_records(data, chains, n_features: int, seed: int, n_test: Optional[int], tol: float):
    """The one loop over the stages, for every stage family (:mod:`.family`): one record per
    chain for one seed (``stages``: the observables of each stage, ``iterations``, ``overlaps``).
    The chains share the seed's draws (its training and test sets, drawn ONCE), and chains with
    the same stage 0 share its fit.

    Every draw depends only on the seed, the set and the stage (:mod:`.sampling`), so each record
    is bit-for-bit the record of that chain simulated alone; the first record of each distinct
    stage 0 records ``teacher_fits = 1``, the others 0 (the count of stage-0 fits actually made).
    Stage-0 fits are also remembered across calls in this process (the last 512), so that the
    series of a run that share a teacher fit it once.
    """
    problems = [Problem(data, tuple(c)) for c in chains]
    draws = _family(data)(data, n_features, seed, n_test)
    firsts: dict = {}  # stage 0 -> (fit, observables) of this seed
    records = []
    for problem in problems:
        chain = draws.chain(problem)
        rec: dict = {"seed": int(seed), "teacher_fits": 0, "stages": [], "iterations": []}
        for k, spec in enumerate(problem.stages):
            first = None
            key = (data, spec, n_features, seed, draws.n_test, tol)
            if k == 0:  # fitted for an earlier chain of this seed, or in an earlier call of this process?
                first = firsts.get(spec) or _TEACHER_FITS.get(key)
            if first is not None:  # stage 0 is shared: fitted once per seed
                fit, obs = first
            else:
                fit, obs = draws.fit(chain, k, tol)
                if k == 0:
                    _TEACHER_FITS.put(key, (fit, obs))
                    rec["teacher_fits"] = 1
            if k == 0:
                firsts[spec] = (fit, obs)
            chain.fits.append(fit)
            rec["stages"].append(obs)
            rec["iterations"].append(fit.iterations)
        rec["overlaps"] = draws.overlaps(chain)
        records.append(rec)
    return records


def _row(rec: dict, family) -> dict:
    """A record of :func:`_seed_records` as one flat row of the per-seed table."""
    row = {"seed": rec["seed"], "teacher_fits": rec["teacher_fits"]}
    for k, (obs, its) in enumerate(zip(rec["stages"], rec["iterations"])):
        for name, v in obs.items():
            row.update(_flat(f"stage{k}_{name}", v))
        row[f"stage{k}_iterations"] = its
    row.update(family.overlap_columns(rec["overlaps"]))
    return row


class BinaryDraws(Draws):
    """The binary stage family (:mod:`.family`): one seed's centre, first training set and test
    set (:mod:`.sampling`); a chain's sets are :class:`_Sets`, its stages fitted by
    :func:`_fit_and_measure` (the constant classifier is an override there)."""

    def __init__(self, data, n_features, seed, n_test):
        super().__init__(data, n_features, seed, n_test)
        self.ds0 = sample_dataset(data, n_features, seed)
        self.n_test = self.ds0.X.shape[0] if n_test is None else n_test
        self.X_test, self.y_test = sample_test(data, self.ds0.v, self.n_test, seed)
        self.fresh: dict = {}  # the seed's fresh sets, shared by the chains

    def chain(self, problem):
        return ChainFits(problem, _Sets(problem, self.data, self.ds0, self.seed, self.fresh))

    def fit(self, chain, k, tol):
        """Stage ``k``'s :class:`StageFit` and observables (``p``: the overlap with stage ``k - 1``)."""
        N = self.n_features
        W = [f.w for f in chain.fits]
        fs, w, obs = _fit_and_measure(chain.problem, k, chain.problem.stages[k], chain.sets, W, chain.fits,
                                      self.data, N, self.seed, self.X_test, self.y_test, tol)
        if k > 0:
            obs = dict(obs, p=float(W[-1] @ w) / N)
        return fs, obs

    def overlaps(self, chain):
        """``W W^T / N`` between the stages' weights (``None`` for one stage)."""
        if len(chain.fits) < 2:
            return None
        Wm = np.array([f.w for f in chain.fits])
        return Wm @ Wm.T / self.n_features

    @staticmethod
    def overlap_columns(G):
        if G is None:
            return {}
        S = G.shape[0]
        return {f"overlap_{j}_{k}": float(G[j, k]) for j in range(S) for k in range(j, S)}


def _multiclass_draws():
    from .multinomial import MulticlassDraws  # loaded on first use

    return MulticlassDraws


#: The stage family of each data family (``data.family``): a class, or a function returning it.
FAMILIES = {"binary": BinaryDraws, "multiclass": _multiclass_draws}


def _family(data):
    fam = FAMILIES[data.family]
    return fam if isinstance(fam, type) else fam()


class _Sets:
    """The training sets of one chain for one seed, drawn when first used: ``"train"`` is the
    seed's first set, every other set (in the order :meth:`Problem.sets` creates them, the
    ``i``-th one) the fresh set ``i`` of the seed (:func:`.sampling.sample_fresh`). ``fresh``: the
    fresh sets already drawn for this seed, by ``(i, alpha)`` (shared by the chains of a seed)."""

    def __init__(self, problem: Problem, data: GaussianMixture, ds0: Dataset, seed: int,
                 fresh: Optional[dict] = None):
        self.order = {name: i for i, name in enumerate(problem.sets())}
        self.alpha = problem.sets()
        self.data, self.seed, self.ds0 = data, seed, ds0
        self.fresh = {} if fresh is None else fresh

    def __getitem__(self, name: str) -> Dataset:
        if name == "train":
            return self.ds0
        key = (self.order[name], self.alpha[name])
        if key not in self.fresh:
            self.fresh[key] = sample_fresh(self.data, self.ds0.v, self.alpha[name], self.seed, self.order[name])
        return self.fresh[key]


class StageFit:
    """A fitted stage: its bias, iterations, pre-activations ``u`` on each of its sets and its
    weights ``w`` (length N)."""

    def __init__(self, bias: float, iterations: int, u: dict, constant: Optional[float] = None,
                 w: Optional[np.ndarray] = None):
        self.bias, self.iterations, self.u, self.constant, self.w = bias, iterations, u, constant, w


class _Stacked:
    """The per-sample loss of a stage that trains on several sets: each set's loss on its
    segment of the stacked samples (``ut``: one entry per set, that set's sources)."""

    def __init__(self, losses, sizes):
        self.losses = losses
        self.bounds = np.cumsum([0, *sizes])

    def _map(self, fn, u, y, ut):
        out = np.empty_like(np.asarray(u, float))
        for i, loss in enumerate(self.losses):
            a, b = self.bounds[i], self.bounds[i + 1]
            out[a:b] = getattr(loss, fn)(u[a:b], y[a:b], ut[i])
        return out

    def value(self, u, y, ut=None):
        return self._map("value", u, y, ut)

    def grad(self, u, y, ut=None):
        return self._map("grad", u, y, ut)

    def hess(self, u, y, ut=None):
        return self._map("hess", u, y, ut)


def source_targets(problem: Problem, k: int, name: str, datasets, W, fitted):
    """The pre-activations of stage ``k``'s label sources on set ``name`` (``None``, one array
    or a tuple, in the order of its :class:`~kdlab.problem.SetUse`): a source's own training
    pre-activations where it trained on the set, else ``X w + b`` (``+-inf`` for the constant
    classifier)."""
    use = problem.plan(k).use(name)
    out = []
    for src in use.sources:
        f = fitted[src.stage]
        if f.constant is not None:
            out.append(np.full(datasets[name].y.shape, f.constant))
        elif name in f.u:
            out.append(f.u[name])
        else:
            out.append(datasets[name].Xs @ W[src.stage] + f.bias)
    if not out:
        return None
    return out[0] if len(out) == 1 else tuple(out)


def _constant_side(plan, fixed, uts) -> Optional[float]:
    """``+-1`` when every target of a stage with a free bias and no true labels names one class
    (hard labels of one sign, or sources that are the constant classifier): it has no minimizer,
    its limit is the constant classifier."""
    if fixed is not None or plan.has_labels:
        return None
    sides = set()
    for use, ut in zip(plan.uses, uts):
        vals = ut if isinstance(ut, tuple) else (ut,)
        for src, v in zip(use.sources, vals):
            if src.weight <= 0:
                continue
            if src.hard or np.all(np.isinf(v)):
                pos, neg = bool(np.any(v > 0)), bool(np.any(v <= 0))
                if pos and neg:
                    return None
                sides.add(1.0 if pos else -1.0)
            else:
                return None
    return sides.pop() if len(sides) == 1 else None


def _newton_dtype(tol: float):
    """float32 Hessian-vector products for fits stopped at ``tol >= 1e-8`` (the Newton direction
    needs a few digits; the gradient and the stopping rule stay in float64), float64 below."""
    return np.float32 if tol >= 1e-8 else np.float64


def _fit_and_measure(problem: Problem, k: int, spec, datasets, W, fitted, data, N, seed, X_test, y_test, tol):
    """Fit stage ``k`` on its sets (stacked) and measure it: ``(StageFit, w, observables)``."""
    plan = problem.plan(k)
    subset = stage_subset(spec.eta, N, seed, k)
    if k > 0 and subset is None:
        subset = np.arange(N)
    parent_bias = fitted[plan.parent].bias if plan.parent is not None else None
    fixed = spec.fixed_bias(data, parent_bias)
    sets = [datasets[u.set] for u in plan.uses]
    uts = [source_targets(problem, k, u.set, datasets, W, fitted) for u in plan.uses]
    y = sets[0].y if len(sets) == 1 else np.concatenate([d.y for d in sets])
    side = _constant_side(plan, fixed, uts)
    if side is not None:
        b = math.copysign(math.inf, side)
        w = np.zeros(N)
        u = {use.set: np.full(d.y.shape, b) for use, d in zip(plan.uses, sets)}
        obs = {"gen_error": gen_error(0.0, 0.0, b, data.delta, data.rho),
               "gen_error_test": share(y_test != side), "train_error": float(np.mean(y != side)),
               "train_loss": 0.0, "m": 0.0, "q": 0.0, "bias": b}
        return StageFit(b, 0, u, constant=b, w=w), w, obs
    if len(sets) == 1:
        Xs = sets[0].Xs if subset is None else sets[0].Xs[:, subset]
        loss, ut = plan.uses[0].loss, uts[0]
    else:
        Xs = np.concatenate([d.Xs if subset is None else d.Xs[:, subset] for d in sets])
        loss, ut = _Stacked([u.loss for u in plan.uses], [d.y.size for d in sets]), tuple(uts)
    if fixed is not None:
        fit = fit_linear(Xs, y, loss, plan.lam, ut=ut, fit_bias=False, bias=fixed, tol=tol,
                         newton_dtype=_newton_dtype(tol))
    else:
        fit = fit_linear(Xs, y, loss, plan.lam, ut=ut, tol=tol, newton_dtype=_newton_dtype(tol))
    if subset is None:
        w = fit.w
    else:
        w = np.zeros(N)
        w[subset] = fit.w
    sizes = np.cumsum([0, *[d.y.size for d in sets]])
    u = {use.set: fit.u[sizes[i]:sizes[i + 1]] for i, use in enumerate(plan.uses)}
    obs = _measure(w, fit.bias, fit.u, loss, y, sets[0], data, X_test, y_test, ut)
    return StageFit(fit.bias, fit.iterations, u, w=w), w, obs


def _mean_se(values):
    """Mean over seeds (axis 0) and its standard error (``std / sqrt(n)``, NaN for one seed)."""
    a = np.array(values, float)
    n = a.shape[0]
    mean = a.mean(axis=0)
    with np.errstate(invalid="ignore"):  # the bias of a constant classifier is infinite: no standard error
        se = a.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(mean.shape, math.nan)
    if mean.ndim == 0:
        return float(mean), float(se)
    return mean, se


def _aggregate(problem: Problem, records: list, n_features: int, tol: float) -> Result:
    """The one aggregation over seeds: per stage and observable the mean and its standard error
    (arrays for block-valued observables), the mean iterations, the overlaps and the per-seed table."""
    records = sorted(records, key=lambda r: r["seed"])
    blocks = []
    for k in range(problem.n_stages):
        means, ses = {}, {}
        for name in records[0]["stages"][k]:
            means[name], ses[name] = _mean_se([r["stages"][k][name] for r in records])
        its = float(np.mean([r["iterations"][k] for r in records]))
        blocks.append(Observables(stderr=ses, extra={"iterations": its}, **means))
    overlaps = overlaps_se = None
    if records[0]["overlaps"] is not None:
        overlaps, overlaps_se = _mean_se([r["overlaps"] for r in records])
    per_seed = pd.DataFrame([_row(r, _family(problem.data)) for r in records])
    teacher_fits = int(per_seed.pop("teacher_fits").sum())
    return Result("simulate", problem, tuple(blocks),
                  status=SolverStatus(True, int(max(max(r["iterations"]) for r in records)), 0.0,
                                      f"{len(records)} seeds fitted to relative gradient <= {tol:g}"),
                  n_features=n_features, n_seeds=len(records), per_seed=per_seed, overlaps=overlaps,
                  overlaps_stderr=overlaps_se, extra={"teacher_fits": teacher_fits})


def _check_seeds(seeds) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = range(SIMULATION_OPTIONS["seeds"].check(seeds))
    seeds = [check_int("seed", s, low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct")
    return seeds


def memory_estimate(problem, n_features: int, n_jobs: int, n_test: Optional[int] = None) -> int:
    """Bytes the float64 arrays of one seed take (every training set twice: raw and scaled; the
    test set; the fitted stage's copy of its columns and their squares), times the workers that
    hold one at the same time. ``problem``: one problem, or
    the chains simulated together on one seed's draws (the union of their sets is held)."""
    problems = list(problem) if isinstance(problem, (list, tuple)) else [problem]
    sets = {(i, a): a for p in problems for i, a in enumerate(p.sets().values())}
    m = sum(n_samples(a, n_features) for a in sets.values())
    # a stage fits on a copy of its columns (of its sets, stacked) and their squares
    m_fit = max((sum(n_samples(u.alpha, n_features) for u in pl.uses) for p in problems for pl in p.plans),
                default=0)
    m_test = n_samples(problems[0].data.alpha, n_features) if n_test is None else n_test
    return int(8 * n_features * (2 * m + m_test + 2 * m_fit) * max(1, n_jobs))


def simulate(*problem, n_features: Optional[int] = None, seeds: Iterable[int] | int | None = None,
             n_test: Optional[int] = None, n_jobs: Optional[int] = None, progress: bool = False,
             tol: Optional[float] = None) -> Result:
    """Simulate a problem at ``N = n_features`` over ``seeds``.

    ``simulate(problem)``, or the conveniences ``simulate(data, [stage0, stage1, ...])`` and
    ``simulate(data, teacher, student)``. Returns a :class:`~kdlab.results.Result` with means
    over seeds in ``.stages``, their standard errors (``.stages[k].m_stderr``), the mean overlap
    matrix in ``.overlaps`` and the per-seed table in ``.per_seed``. The options are declared in
    :data:`kdlab.params.SIMULATION_OPTIONS` (``None``: the declared default): ``n_features`` the
    dimension N (1000); ``seeds`` an iterable of integers or a count ``K`` (seeds ``0..K-1``; 10);
    ``n_test`` fresh test samples per seed (default ``M``); ``tol`` the optimizers' relative
    gradient tolerance (:data:`FIT_TOL`, 1e-7); ``n_jobs`` worker threads (default or -1: all cores; one BLAS
    thread each). A run whose arrays would not fit in the available memory is refused
    before it starts (:class:`kdlab.errors.ResourceError`).
    """
    p = as_problem(*problem)
    return simulate_many(p.data, [p.stages], n_features=n_features, seeds=seeds, n_test=n_test,
                         n_jobs=n_jobs, progress=progress, tol=tol)[0]


def simulate_many(data: GaussianMixture, chains, *, n_features: Optional[int] = None,
                  seeds: Iterable[int] | int | None = None, n_test: Optional[int] = None,
                  n_jobs: Optional[int] = None, progress: bool = False, tol: Optional[float] = None) -> list[Result]:
    """Simulate several chains on the same data (e.g. teachers of several ridges, one teacher
    and many students): each seed's sets are drawn once for all of them and each distinct stage
    0 is fitted once per seed; returns one :class:`~kdlab.results.Result` per chain, each equal
    (bit for bit) to :func:`simulate` of that chain alone. ``Result.extra["teacher_fits"]``
    counts the stage-0 fits each result actually made (0 when they were shared)."""
    problems = [as_problem(data, list(c)) for c in chains]
    if not problems:
        raise ValueError("simulate_many needs at least one chain")
    decl = SIMULATION_OPTIONS
    n_features = decl["n_features"].check(decl["n_features"].default if n_features is None else n_features)
    seeds = _check_seeds(decl["seeds"].default if seeds is None else seeds)
    n_test = decl["n_test"].check(n_test)
    tol = decl["tol"].check(decl["tol"].default if tol is None else tol)
    n_cpu = os.cpu_count() or 1
    n_jobs = -1 if n_jobs is None else RUN_OPTIONS["n_jobs"].check(n_jobs)
    n_jobs = min(len(seeds), n_cpu if n_jobs == -1 else n_jobs)
    from .memory import check_memory

    check_memory(memory_estimate(problems, n_features, n_jobs, n_test),
                 f"simulating N = {n_features} on {n_jobs} worker(s)")

    chains_ = [list(p.stages) for p in problems]
    tasks = [(data, chains_, n_features, s, n_test, tol) for s in seeds]
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(len(tasks), 0, True, f"simulate N={n_features}", "seed")
    per_chain: list[list[dict]] = [[] for _ in problems]
    from threadpoolctl import threadpool_limits

    # Seeds run on threads with one BLAS thread each: the fits spend their time in BLAS calls,
    # which release the GIL, so threads scale like processes without the start-up cost of a
    # process pool (the first call of a run is as fast as the next).
    with threadpool_limits(limits=1):
        if n_jobs == 1:
            it = (_seed_records(*t) for t in tasks)
        else:
            from joblib import Parallel, delayed

            it = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator_unordered")(
                delayed(_seed_records)(*t) for t in tasks)
        for records in it:
            for acc, rec in zip(per_chain, records):
                acc.append(rec)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return [_aggregate(problem, recs, n_features, tol) for problem, recs in zip(problems, per_chain)]
