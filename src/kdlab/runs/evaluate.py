"""Evaluating one point with one backend (theory, simulation or a ``module:function``)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, Iterator, Mapping

from ..params import GEOMETRY
from .backends import BACKENDS, backend_settings, is_custom, load_custom
from .grid import is_multiclass, make_problem
from .store import write_entry

__all__ = ["BACKENDS", "evaluate_point", "backend_settings", "is_custom", "load_custom",
           "run_chain", "iter_chain"]  # the first four re-exported from .backends

def _clean(v):
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (TypeError, ValueError):
            pass
    return v


def evaluate_point(point: Mapping[str, Any], backend: str, settings: Mapping[str, Any],
                   init=None, *, key: str = ""):
    """Evaluate one point; returns ``(record, result)``: the flat table row and the
    :class:`~kdlab.results.Result` (used to warm-start the next theory point)."""
    problem = make_problem(point)
    opt = point.get("optimize")
    extra: dict[str, Any] = {}
    t0 = time.perf_counter()
    if opt is not None:
        from .tuning import optimal_lam

        oo = dict(settings.get("optimize_options") or {})
        k = int(opt[len("stage"):].split("_", 1)[0])
        theory_opts = dict(settings.get("options") or {}) if backend != "simulate" else {}
        if is_custom(backend):
            oo["solve"] = load_custom(backend)
        best = optimal_lam(problem, stage=k, init=init if backend != "simulate" else None, **oo, **theory_opts)
        extra.update(optimize_evals=best.n_evals, optimize_at_bound=best.at_bound)
        problem = problem.replace(**{f"stage{k}": {"lam": best.value}})
        if backend != "simulate":
            result = best.result
        else:
            result = run_backend(backend, settings, problem, None)
    else:
        result = run_backend(backend, settings, problem, init)
    return record_of(point, result, extra, time.perf_counter() - t0, key), result


def record_of(point: Mapping[str, Any], result, extra: Mapping[str, Any], elapsed: float, key: str) -> dict:
    """The table row of one evaluated point."""
    opt = point.get("optimize")
    rec = {k: _clean(v) for k, v in result.to_record().items()}
    rec["n_stages"] = len(result.stages)
    if is_multiclass(point):  # the named geometry (the data's record has classes, prior and gram)
        rec.update({k: point[k] for k in GEOMETRY})
    if point.get("workflow"):  # the workflow's own parameters (its stages' columns are in the record)
        rec.update({k: v for k, v in point.items() if k == "workflow" or k.startswith("workflow_")})
    # the same columns for every row (no NaN from optimized / plain points mixing)
    rec["optimize"] = "none" if opt is None else opt
    rec["optimize_evals"] = int(extra.get("optimize_evals", 0))
    rec["optimize_at_bound"] = bool(extra.get("optimize_at_bound", False))
    rec["elapsed_s"] = elapsed
    rec["key"] = key
    return rec


def batch_key(task: Mapping[str, Any]):
    """Simulation points on the same data with the same settings share each seed's draws (and
    their teacher fits where their teachers are equal): the key of that group (``None``: the
    point is evaluated alone). Everything but the chain's stages (and its workflow) is in it."""
    if task.get("kind") == "call":
        return None
    point = task["point"]
    if task["backend"] != "simulate" or point.get("optimize") is not None:
        return None
    rest = {k: v for k, v in point.items() if not (k.startswith("stage") or k.startswith("workflow"))}
    return json.dumps([rest, task["settings"]], sort_keys=True, default=str)


def _simulate_batch(tasks: list[dict]) -> list[dict]:
    """Records of simulation points on the same data (:func:`batch_key`): each seed's sets drawn
    once, each distinct teacher fitted once per seed (:func:`kdlab.simulation.run.simulate_many`)."""
    from ..simulation.run import simulate_many

    t0 = time.perf_counter()
    problems = [make_problem(t["point"]) for t in tasks]
    settings = tasks[0]["settings"]
    kw = {} if settings.get("n_test") is None else {"n_test": settings["n_test"]}
    results = simulate_many(problems[0].data, [p.stages for p in problems], n_features=settings["n_features"],
                            seeds=list(settings["seeds"]), n_jobs=1, progress=False, **kw)
    elapsed = (time.perf_counter() - t0) / len(tasks)
    return [record_of(t["point"], r, {}, elapsed, t["key"]) for t, r in zip(tasks, results)]


def run_backend(backend, settings, problem, init):
    """One backend at one problem (theory: :func:`~kdlab.runs.tuning.solve_robust`)."""
    if backend == "theory" or is_custom(backend):
        if backend == "theory":
            from .. import theory

            fn = theory.solve
        else:
            fn = load_custom(backend)
        from .tuning import solve_robust

        opts = dict(settings.get("options") or {})
        if init is not None:
            opts["init"] = init
        return solve_robust(fn, problem, **opts)
    if backend == "simulate":
        from ..simulation import simulate

        kw = {}
        if settings.get("n_test") is not None:
            kw["n_test"] = settings["n_test"]
        return simulate(problem, n_features=settings["n_features"], seeds=list(settings["seeds"]), n_jobs=1,
                        progress=False, **kw)
    raise ValueError(f"unknown backend {backend!r}")


def iter_chain(tasks: list[dict], store=None) -> Iterator[dict]:
    """Evaluate a chain of tasks in order (each warm-started from the previous theory result),
    yielding ``{"key", "record", "stored"}`` or ``{"key", "error"}`` per task. With ``store``
    each finished point is written at once (a worker without access to it leaves it to the
    caller: ``stored`` False)."""
    if len(tasks) > 1 and batch_key(tasks[0]) is not None and all(
            batch_key(t) == batch_key(tasks[0]) for t in tasks):
        try:
            recs = _simulate_batch(tasks)
        except Exception:  # noqa: BLE001 - evaluate the points one by one, to report each failure
            recs = None
        if recs is not None:
            for t, rec in zip(tasks, recs):
                yield _finished(store, t, rec)
            return
    prev = None
    for t in tasks:
        if t.get("kind") == "call":
            try:
                rows = call_task(t)
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                yield {"key": t["key"], "error": f"{type(exc).__name__}: {exc}"}
                continue
            yield _finished(store, t, rows)
            continue
        try:
            rec, res = evaluate_point(t["point"], t["backend"], t["settings"], init=prev, key=t["key"])
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            prev = None
            yield {"key": t["key"], "error": f"{type(exc).__name__}: {exc}"}
            continue
        prev = res if t["backend"] != "simulate" else None
        yield _finished(store, t, rec)


def call_task(task: Mapping[str, Any]) -> list[dict]:
    """The rows of a call task: ``fn(**args)`` with ``fn`` imported from its ``module:name``."""
    rows = load_custom(task["fn"])(**task["args"])
    return [dict(r) for r in rows]


def _finished(store, task: dict, value) -> dict:
    """The output of a finished task (a point's record, a call's rows), written to ``store`` at
    once if there is one (a worker that cannot write it leaves it to the caller: ``stored``
    False)."""
    stored = False
    if store is not None:
        with contextlib.suppress(OSError):  # OutputError is an OSError
            write_entry(store, task, value)
            stored = True
    return {"key": task["key"], "record": value, "stored": stored}


def run_chain(tasks: list[dict], store=None, limit_threads: bool = True) -> list[dict]:
    """Worker process: :func:`iter_chain` with one BLAS thread, as a list."""
    ctx = contextlib.nullcontext()
    if limit_threads:
        from threadpoolctl import threadpool_limits

        ctx = threadpool_limits(1)
    with ctx:
        return list(iter_chain(tasks, store))


def dask_eval(task: dict, prev, store):
    """Dask task: one point, warm-started from the previous point's output ``prev``."""
    init = prev.get("result") if isinstance(prev, dict) else None
    from threadpoolctl import threadpool_limits

    if task.get("kind") == "call":
        with threadpool_limits(1):
            try:
                rows = call_task(task)
            except Exception as exc:  # noqa: BLE001
                return {"key": task["key"], "error": f"{type(exc).__name__}: {exc}"}
        return {**_finished(store, task, rows), "result": None}
    with threadpool_limits(1):
        try:
            rec, res = evaluate_point(task["point"], task["backend"], task["settings"], init=init,
                                      key=task["key"])
        except Exception as exc:  # noqa: BLE001
            return {"key": task["key"], "error": f"{type(exc).__name__}: {exc}"}
    return {**_finished(store, task, rec), "result": res if task["backend"] != "simulate" else None}
