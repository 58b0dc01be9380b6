"""The result type shared by both backends.

:func:`kdlab.simulate` and :func:`kdlab.theory.solve` both return a :class:`Result`: the
:class:`~kdlab.problem.Problem` it answers, one :class:`Observables` block per stage of the
chain (``Result.stages``), the matrix of overlaps ``w_j . w_k / N`` between stages
(``Result.overlaps``) and a :class:`SolverStatus`. Simulation fills the standard errors and a
per-seed table; theory fills the status of every stage and a typed warm-start ``state``.

One naming rule for every chain length: stage ``k``'s observable ``name`` is the column
``stage<k>_<name>`` in records, tables and sweeps (:func:`stage_column`), and its parameters
are ``stage<k>_<param>``. ``Result.teacher`` and ``Result.student`` are documented aliases of
stage 0 and of the last stage (``None`` for a teacher alone); they never mean anything else.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
from scipy.special import ndtr

from .io import strict_json
from .problem import Problem

__all__ = ["Observables", "SolverStatus", "Status", "Result", "gen_error", "class_errors",
           "orthant_probability", "OBSERVABLES", "MULTICLASS_OBSERVABLES", "stage_column",
           "problem_record"]

#: The observables of a binary stage, in table order (``p``: overlap with the parent, stages
#: ``k >= 1``; ``gen_error_test``: on a fresh test set, simulation only).
OBSERVABLES = ("gen_error", "gen_error_test", "train_error", "train_loss", "m", "q", "bias", "p")
#: The observables of a K-class stage (``class_errors``: K; ``M``, ``Q``, ``P``: K x K; ``bias``:
#: K, centred).
MULTICLASS_OBSERVABLES = ("gen_error", "gen_error_test", "train_error", "train_loss", "class_errors", "M", "Q",
                          "bias", "P")


def stage_column(k: int, name: str) -> str:
    """The column of stage ``k``'s ``name`` (an observable or a parameter): ``stage<k>_<name>``."""
    return f"stage{int(k)}_{name}"


def gen_error(m, q, bias, delta, rho):
    """``rho Phi(-(m + b) / sqrt(delta q)) + (1 - rho) Phi(-(m - b) / sqrt(delta q))``.

    For ``q = 0`` the classifier is the constant ``sign(b)``.
    """
    m, q, bias = np.broadcast_arrays(np.asarray(m, float), np.asarray(q, float), np.asarray(bias, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(delta * q)
        plus = np.where(s > 0, ndtr(-(m + bias) / np.where(s > 0, s, 1.0)),
                        np.where(bias > 0, 0.0, np.where(bias < 0, 1.0, 0.5)))
        minus = np.where(s > 0, ndtr(-(m - bias) / np.where(s > 0, s, 1.0)),
                         np.where(bias < 0, 0.0, np.where(bias > 0, 1.0, 0.5)))
    out = rho * plus + (1.0 - rho) * minus
    return float(out) if out.ndim == 0 else out


def orthant_probability(mean, cov) -> float:
    """``P(D > 0)`` for ``D ~ N(mean, cov)`` (every component): exact in 1 dimension, an adaptive
    1-D integral in 2, Genz's algorithm (``scipy.stats.multivariate_normal``, absolute error
    1e-8) above."""
    mean = np.asarray(mean, float)
    cov = np.asarray(cov, float)
    n = mean.size
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if n == 1:
        return float(ndtr(mean[0] / sd[0])) if sd[0] > 0 else float(mean[0] > 0)
    if np.any(sd <= 1e-300):
        det = sd <= 1e-300
        if np.any(mean[det] <= 0):
            return 0.0
        keep = ~det
        return orthant_probability(mean[keep], cov[np.ix_(keep, keep)])
    if n == 2:
        from scipy.integrate import quad

        r = float(np.clip(cov[0, 1] / (sd[0] * sd[1]), -1.0, 1.0))
        a0, a1 = mean[0] / sd[0], mean[1] / sd[1]
        if 1.0 - abs(r) < 1e-14:
            return float(ndtr(min(a0, a1))) if r > 0 else float(max(ndtr(a0) + ndtr(a1) - 1.0, 0.0))
        s = math.sqrt(1.0 - r * r)
        f = lambda z: math.exp(-0.5 * z * z) * ndtr((a0 + r * z) / s)  # noqa: E731
        val, _ = quad(f, -a1, np.inf, epsabs=1e-14, epsrel=1e-12, limit=200)
        return float(val / math.sqrt(2 * math.pi))
    from scipy.stats import multivariate_normal

    z = mean / sd
    C = cov / np.outer(sd, sd)
    dist = multivariate_normal(mean=np.zeros(n), cov=C, allow_singular=True, abseps=1e-8, releps=1e-8,
                               maxpts=200000 * n)
    return float(dist.cdf(z))


def class_errors(Mo, Q, b, delta: float) -> np.ndarray:
    """``P(argmax h != c | c)`` for every class ``c``, ``h ~ N(Mo[:, c] + b, delta Q)``: one minus
    the orthant probability of ``(h_c - h_j)_{j != c}``."""
    Mo, Q, b = np.asarray(Mo, float), np.asarray(Q, float), np.asarray(b, float)
    K = Mo.shape[0]
    out = np.empty(K)
    for c in range(K):
        A = np.delete(np.eye(K), c, axis=0)
        A = np.eye(K)[c][None, :] - A
        mean = A @ (Mo[:, c] + b)
        out[c] = 1.0 - orthant_probability(mean, delta * A @ Q @ A.T)
    return out


def _flat(name: str, value) -> dict:
    """``{name: float}``, or one entry per element of an array (``name_i``, ``name_i_j``)."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return {f"{name}_{'_'.join(str(i) for i in idx)}": float(v) for idx, v in np.ndenumerate(value)}
    return {name: float(value)}


class Observables:
    """Observables of one stage: ``name -> value`` (a float, or a numpy array for block-valued
    observables), their standard errors over seeds (simulation) and backend extras (theory:
    susceptibilities and conjugates; simulation: iteration counts).

    Attribute access: ``obs.gen_error``, ``obs.m_stderr``, ``obs.V`` (an extra); a known
    observable the stage does not have (``p`` of stage 0, ``gen_error_test`` in theory) is
    ``None``.
    """

    __slots__ = ("_values", "stderr", "extra")

    def __init__(self, *, stderr: Optional[Mapping[str, Any]] = None, extra: Optional[Mapping[str, Any]] = None,
                 **values):
        object.__setattr__(self, "_values", {k: v for k, v in values.items() if v is not None})
        object.__setattr__(self, "stderr", dict(stderr or {}))
        object.__setattr__(self, "extra", dict(extra or {}))

    def __setattr__(self, name, value):
        raise AttributeError("Observables are read-only")

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        if name.endswith("_stderr"):
            stderr = object.__getattribute__(self, "stderr")
            base = name[: -len("_stderr")]
            if base in stderr:
                return stderr[base]
        extra = object.__getattribute__(self, "extra")
        if name in extra:
            return extra[name]
        if name in OBSERVABLES or name in MULTICLASS_OBSERVABLES:
            return None
        raise AttributeError(name)

    def __getstate__(self):
        return (self._values, self.stderr, self.extra)

    def __setstate__(self, state):
        for k, v in zip(("_values", "stderr", "extra"), state):
            object.__setattr__(self, k, v)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Observables):
            return NotImplemented
        return all(_same(getattr(self, a), getattr(other, a)) for a in ("_values", "stderr", "extra"))

    def __repr__(self) -> str:
        return f"Observables({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def values(self) -> dict:
        """The observables that are set, as ``{name: value}``, in table order."""
        order = [k for k in OBSERVABLES if k in self._values] + [k for k in self._values if k not in OBSERVABLES]
        return {k: self._values[k] for k in order}

    def to_dict(self, *, with_stderr: bool = True, with_extra: bool = True) -> dict:
        """Flat ``{name: float, name_stderr: float}`` (arrays flattened to ``name_i_j``); an
        undefined standard error (one seed) is ``None``."""
        out: dict = {}
        for k, v in self.values().items():
            out.update(_flat(k, v))
        if with_stderr:
            for k, v in self.stderr.items():
                for kk, vv in _flat(f"{k}_stderr", v).items():
                    out[kk] = vv if math.isfinite(vv) else None
        if with_extra:
            for k, v in self.extra.items():
                out.update(_flat(k, v))
        return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True))
    except (TypeError, ValueError):
        return a == b


class Status(str, enum.Enum):
    """How a computation ended."""

    CONVERGED = "converged"
    NOT_CONVERGED = "not-converged"  # iteration or work budget spent, or quadrature not accurate
    DIVERGED = "diverged"  # overlaps grow without bound: no finite minimizer
    FAILED = "failed"  # the computation raised (the message says why)
    NOT_SOLVED = "not-solved"  # an earlier stage did not converge
    CONSTANT = "constant"  # every target names one class: the exact limit is the constant classifier


@dataclass(frozen=True)
class SolverStatus:
    """How a computation ended: ``converged``, ``iterations``, final ``residual``, ``message``
    and the typed outcome ``code`` (a :class:`Status`)."""

    converged: bool
    iterations: int = 0
    residual: float = 0.0
    message: str = ""
    code: Optional[Status] = None

    def __post_init__(self):
        if self.code is None:
            object.__setattr__(self, "code", Status.CONVERGED if self.converged else Status.NOT_CONVERGED)

    @property
    def diverged(self) -> bool:
        return self.code is Status.DIVERGED

    def to_dict(self) -> dict:
        return {"converged": bool(self.converged), "iterations": int(self.iterations),
                "residual": float(self.residual), "message": self.message, "code": self.code.value}


def problem_record(problem: Problem) -> dict:
    """Flat ``{parameter: value}`` of a problem (one row's parameter columns): the data's
    parameters unprefixed, then ``stage<k>_<param>`` for every stage (:meth:`Problem.to_record`)."""
    return problem.to_record()


@dataclass(frozen=True)
class Result:
    """What a backend computed for one :class:`~kdlab.problem.Problem`.

    ``stages`` holds one :class:`Observables` per stage (means over seeds in simulations,
    asymptotic values in theory); ``overlaps`` is the ``(K+1) x (K+1)`` matrix of
    ``w_j . w_k / N`` (``None`` if the backend does not give it); ``status`` the status of the
    whole computation and ``stage_status`` one per stage (theory); ``per_seed`` (simulation) a
    ``pandas.DataFrame`` with one row per seed; ``state`` (theory) the solver state used to
    warm-start a neighbouring point. ``teacher`` / ``student`` are aliases of the first and the
    last stage.
    """

    backend: str
    problem: Problem
    stages: tuple
    status: SolverStatus = field(default_factory=lambda: SolverStatus(True))
    overlaps: Any = None
    overlaps_stderr: Any = None
    n_features: Optional[int] = None
    n_seeds: Optional[int] = None
    per_seed: Any = None
    extra: Mapping[str, float] = field(default_factory=dict)
    state: Any = field(default=None, repr=False, compare=False)
    stage_status: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.problem, Problem):
            raise TypeError(f"problem must be a Problem, got {type(self.problem).__name__}")
        object.__setattr__(self, "stages", tuple(self.stages))
        if len(self.stages) != len(self.problem.stages):
            raise ValueError(f"a result needs one block per stage: {len(self.stages)} for "
                             f"{len(self.problem.stages)} stages")

    @property
    def data(self):
        return self.problem.data

    @property
    def chain(self) -> tuple:
        """The stage specifications (``problem.stages``)."""
        return self.problem.stages

    @property
    def teacher(self) -> Observables:
        """Alias of stage 0."""
        return self.stages[0]

    @property
    def student(self) -> Optional[Observables]:
        """Alias of the last stage (``None`` for a teacher alone)."""
        return self.stages[-1] if len(self.stages) > 1 else None

    @property
    def teacher_spec(self):
        return self.problem.stages[0]

    @property
    def student_spec(self):
        return self.problem.stages[-1] if len(self.problem.stages) > 1 else None

    def to_json_dict(self) -> dict:
        """``{"backend", "problem", "stages": [...], "overlaps": [[...]], "status", ...}``: the
        CLI's JSON layout (strict JSON: a non-finite value, e.g. of a diverged model, is ``null``)."""
        out = {"backend": self.backend, "problem": self.problem.to_dict(),
               "stages": [o.to_dict() for o in self.stages],
               "overlaps": None if self.overlaps is None else np.asarray(self.overlaps, float).tolist(),
               "status": self.status.to_dict()}
        if self.stage_status:
            out["stage_status"] = [s.to_dict() for s in self.stage_status]
        if self.overlaps_stderr is not None:
            out["overlaps_stderr"] = np.asarray(self.overlaps_stderr, float).tolist()
        if self.n_features is not None:
            out["n_features"] = self.n_features
            out["n_seeds"] = self.n_seeds
        if self.extra:
            out["extra"] = {k: float(v) for k, v in self.extra.items()}
        return strict_json(out)

    def to_record(self) -> dict:
        """One flat row: ``backend``, the problem's parameters, ``stage<k>_<observable>`` for every
        stage, the extras and the status columns."""
        rec: dict[str, Any] = {"backend": self.backend}
        rec.update(self.problem.to_record())
        if self.n_features is not None:
            rec["n_features"] = self.n_features
            rec["n_seeds"] = self.n_seeds
        for k, obs in enumerate(self.stages):
            for name, v in obs.to_dict().items():
                rec[stage_column(k, name)] = v
        for k, v in self.extra.items():
            rec[k] = float(v)
        rec.update({f"status_{k}": v for k, v in self.status.to_dict().items() if k != "code"})
        return rec

    def __repr__(self) -> str:
        def fmt(o):
            parts = []
            for k, v in o.values().items():
                if isinstance(v, np.ndarray):
                    parts.append(f"{k}={np.array2string(v, precision=4)}")
                    continue
                se = o.stderr.get(k)
                parts.append(f"{k}={v:.6g}" + (f"±{se:.2g}" if se is not None and math.isfinite(se) else ""))
            return ", ".join(parts)

        lines = [f"Result(backend={self.backend!r}, {self.data},"]
        for k, (spec, o) in enumerate(zip(self.chain, self.stages)):
            lines.append(f"  stage {k}: {spec}\n    {fmt(o)}")
        lines.append(f"  status: {self.status})")
        return "\n".join(lines)
