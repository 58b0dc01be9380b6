"""Cheap stand-in backends for the tests of the sweep machinery (not physics).

Each has the signature of :func:`kdlab.theory.solve` (``solve(problem, **options)``) and is used as
``backend="toy_backends:NAME"``; this folder must be on ``sys.path`` (pytest puts it there;
subprocesses get it through ``PYTHONPATH``).
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

from kdlab.problem import as_problem
from kdlab.results import Observables, Result, SolverStatus, gen_error


def toy_backend(*problem, init=None, sleep: float = 0.0, converged: bool = True, **_):
    """A smooth made-up function of the parameters; ``sleep`` seconds per call."""
    if sleep:
        time.sleep(float(sleep))
    problem = as_problem(*problem)
    data, teacher = problem.data, problem.stages[0]
    tl = teacher.ridge(data)

    def obs(lam, scale):
        m = scale * data.alpha / (data.alpha + data.delta + lam)
        q = m * m + scale * data.delta * data.alpha / (data.alpha + lam + 1.0) ** 2 + 1e-3
        b = 0.5 * math.log(data.rho / (1 - data.rho))
        return Observables(gen_error=gen_error(m, q, b, data.delta, data.rho), train_error=0.0,
                           train_loss=1.0 / (1.0 + data.alpha), m=m, q=q, bias=b,
                           p=(m * m if scale < 1 else None))

    stages = [obs(tl, 1.0)] + [obs(st.lam + st.chi * tl, st.eta) for st in problem.stages[1:]]
    status = SolverStatus(bool(converged), 1, 0.0, "toy" if converged else "toy: not converged")
    return Result("toy", problem, tuple(stages), status=status, extra={"toy_warm_started": float(init is not None)})


def nonconverged_above_one(*problem, **kw):
    """The toy, reporting non-convergence at every alpha > 1."""
    kw.pop("converged", None)
    return toy_backend(*problem, converged=as_problem(*problem).data.alpha <= 1.0, **kw)


def kill_worker(*problem, marker_dir: str = "", parent: int = 0, kill_alpha: float = 1.0, always: bool = False,
                **kw):
    """The toy, but the worker process computing ``alpha == kill_alpha`` SIGKILLs itself: on the
    first attempt only (a marker file in ``marker_dir`` remembers it), or every time
    (``always``). Never kills the process ``parent`` (the sweep itself)."""
    data = as_problem(*problem).data
    if data.alpha == kill_alpha and os.getpid() != parent:
        marker = Path(marker_dir) / f"killed-{data.alpha}-{os.getpid()}"
        tried = list(Path(marker_dir).glob(f"killed-{data.alpha}-*"))
        if always or not tried:
            marker.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)
    return toy_backend(*problem, **kw)


def chmod_on_call(*problem, replace_with_file: str = "", **kw):
    """The toy, but the first call replaces the folder ``replace_with_file`` (default: the
    environment variable ``TOY_REPLACE_DIR``) by a plain file: a file-system fault in the
    middle of a sweep (nothing can be written in that folder any more)."""
    replace_with_file = replace_with_file or os.environ.get("TOY_REPLACE_DIR", "")
    p = Path(replace_with_file)
    if replace_with_file and p.is_dir():
        for child in p.iterdir():
            child.unlink()
        p.rmdir()
        p.write_text("not a folder any more")
    return toy_backend(*problem, **kw)


def counting_backend(*problem, calls_dir: str = "", **kw):
    """The toy, leaving one file per call in ``calls_dir`` (how often each point was computed)."""
    if calls_dir:
        Path(calls_dir, f"{as_problem(*problem).data.alpha}-{os.getpid()}-{time.time_ns()}").write_text("called")
    return toy_backend(*problem, **kw)
