"""The result type shared by both backends.

:func:`kdlab.simulate` and :func:`kdlab.theory.solve` both return a :class:`Result`, holding
one :class:`Observables` block per stage of the chain (``Result.stages``; ``.teacher`` and
``.student`` are the first and the last), the matrix of overlaps ``w_j . w_k / N`` between
stages (``Result.overlaps``) and a :class:`SolverStatus`. Simulation fills the ``*_stderr``
entries and a per-seed table; theory fills ``status`` and a typed warm-start ``state``.
``Result.to_record()`` flattens everything into one row for sweep tables, and
``Result.to_json_dict()`` gives the CLI's JSON layout.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
from scipy.special import ndtr

from .io import strict_json
from .problem import GaussianMixture, Problem, Student, Teacher

__all__ = ["Observables", "SolverStatus", "Status", "Result", "gen_error", "OBSERVABLES"]

#: Observables every block has (``p`` for the student only, ``gen_error_test`` simulation only).
OBSERVABLES = ("gen_error", "gen_error_test", "train_error", "train_loss", "m", "q", "bias", "p")


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


@dataclass(frozen=True)
class Observables:
    """Observables of one linear model (teacher or student).

    ``gen_error`` is the exact formula of ``docs/model.md`` from ``(m, q, bias)``; ``train_loss`` is
    the per-sample data term of the model's own loss at its minimizer (ridge excluded).
    ``stderr`` holds standard errors over seeds (simulation); ``extra`` holds anything a
    backend adds (theory: susceptibilities and conjugates; simulation: sizes).
    """

    gen_error: float
    train_error: float
    train_loss: float
    m: float
    q: float
    bias: float
    p: Optional[float] = None
    gen_error_test: Optional[float] = None
    stderr: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # ``obs.m_stderr`` etc.
        if name.endswith("_stderr"):
            base = name[: -len("_stderr")]
            stderr = object.__getattribute__(self, "stderr")
            if base in stderr:
                return stderr[base]
        extra = object.__getattribute__(self, "extra")
        if name in extra:
            return extra[name]
        raise AttributeError(name)

    def values(self) -> dict:
        """The observables that are set, as ``{name: value}``."""
        return {k: getattr(self, k) for k in OBSERVABLES if getattr(self, k) is not None}

    def to_dict(self, *, with_stderr: bool = True, with_extra: bool = True) -> dict:
        """Flat ``{name: value, name_stderr: ...}``; an undefined stderr (one seed) is None."""
        out = {k: float(v) for k, v in self.values().items()}
        if with_stderr:
            out.update({f"{k}_stderr": (float(v) if math.isfinite(v) else None)
                        for k, v in self.stderr.items()})
        if with_extra:
            out.update({k: float(v) for k, v in self.extra.items()})
        return out


class Status(str, enum.Enum):
    """How a computation ended."""

    CONVERGED = "converged"
    NOT_CONVERGED = "not-converged"  # iteration or work budget spent, or quadrature not accurate
    DIVERGED = "diverged"  # overlaps grow without bound: no finite minimizer
    FAILED = "failed"  # the computation raised (the message says why)
    NOT_SOLVED = "not-solved"  # an earlier stage did not converge


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


def stage_record(stage, data: GaussianMixture, prefix: str) -> dict:
    """Flat parameter columns of one stage.

    A teacher gives ``teacher`` (its kind), ``teacher_lam`` (its ridge: the declared ``lam``,
    or the ridge the data fix, e.g. the Bayes-optimal teacher's) and its other declared
    parameters that differ from their defaults; a student gives its declared parameters (and
    ``data_alpha`` when it trains on a fresh set).
    """
    if stage.role == "teacher":
        rec = {prefix.rstrip("_"): stage.kind, f"{prefix}lam": stage.ridge(data)}
        for name, p in stage.PARAMS.items():
            if name != "lam" and getattr(stage, name) != p.default:
                rec[f"{prefix}{name}"] = getattr(stage, name)
        return rec
    rec = {f"{prefix}{k}": v for k, v in stage.to_dict().items() if k not in ("data", "data_alpha")}
    if stage.data.kind != "shared":
        rec[f"{prefix}data_alpha"] = stage.data.alpha
    return rec


def problem_record(data: GaussianMixture, teacher: Teacher, student: Optional[Student] = None,
                   stages: Optional[tuple] = None) -> dict:
    """Flat ``{parameter: value}`` description of a problem (one row's parameter columns).

    The teacher has ``teacher_*`` columns, the first student unprefixed ones, and in a longer
    chain student ``k >= 2`` the columns ``stage{k}_*`` (the names of the sweep grid's fields).
    """
    rec = {"alpha": data.alpha, "delta": data.delta, "rho": data.rho}
    if data.label_noise:
        rec["label_noise"] = data.label_noise
    stages = stages if stages is not None else ((teacher,) if student is None else (teacher, student))
    rec.update(stage_record(stages[0], data, "teacher_"))
    for k, st in enumerate(stages[1:], start=1):
        rec.update(stage_record(st, data, "" if k == 1 else f"stage{k}_"))
    return rec


def _stage_names(n: int) -> list[str]:
    """Column prefixes of the stages: ``teacher``, ``student`` for a pair, else ``teacher``,
    ``stage1``, ``stage2``, ..."""
    if n <= 2:
        return ["teacher", "student"][:n]
    return ["teacher"] + [f"stage{k}" for k in range(1, n)]


@dataclass(frozen=True)
class Result:
    """What a backend computed for one problem.

    ``stages`` holds one :class:`Observables` per stage (means over seeds in simulations,
    asymptotic values in theory); ``teacher`` / ``student`` are the first and the last stage
    (``student`` is ``None`` for a teacher alone). ``overlaps`` is the ``(K+1) x (K+1)``
    matrix of ``w_j . w_k / N`` (``None`` if the backend does not give it). ``per_seed``
    (simulation) is a ``pandas.DataFrame`` with one row per seed; ``state`` (theory) the
    solver state used to warm-start a neighbouring point.
    """

    backend: str
    data: GaussianMixture
    teacher_spec: Teacher
    student_spec: Optional[Student]
    teacher: Observables
    student: Optional[Observables] = None
    status: SolverStatus = field(default_factory=lambda: SolverStatus(True))
    n_features: Optional[int] = None
    n_seeds: Optional[int] = None
    per_seed: Any = None
    extra: Mapping[str, float] = field(default_factory=dict)
    stages: tuple = ()
    chain: tuple = ()
    overlaps: Any = None
    overlaps_stderr: Any = None
    state: Any = field(default=None, repr=False, compare=False)
    #: one :class:`SolverStatus` per stage (theory chains; empty where the backend has none)
    stage_status: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self):
        if not self.chain:
            chain = (self.teacher_spec,) if self.student_spec is None else (self.teacher_spec, self.student_spec)
            object.__setattr__(self, "chain", chain)
        if not self.stages:
            obs = (self.teacher,) if self.student is None else (self.teacher, self.student)
            object.__setattr__(self, "stages", obs)

    @classmethod
    def from_stages(cls, backend: str, problem: Problem, stages, **kw) -> "Result":
        """A result for a whole chain (``stages`` in chain order)."""
        stages = tuple(stages)
        return cls(backend=backend, data=problem.data, teacher_spec=problem.stages[0],
                   student_spec=problem.stages[-1] if len(stages) > 1 else None,
                   teacher=stages[0], student=stages[-1] if len(stages) > 1 else None,
                   stages=stages, chain=tuple(problem.stages), **kw)

    @property
    def problem(self) -> Problem:
        return Problem(self.data, self.chain)

    def to_json_dict(self) -> dict:
        """``{"teacher": {...}, "student": {...}, "stages": [...], "overlaps": [[...]], ...}``: the
        CLI's JSON layout (strict JSON: a non-finite value, e.g. of a diverged model, is ``null``)."""
        return strict_json(self._json_dict())

    def _json_dict(self) -> dict:
        out = {"backend": self.backend,
               "problem": problem_record(self.data, self.teacher_spec, self.student_spec, self.chain),
               "teacher": self.teacher.to_dict(),
               "student": None if self.student is None else self.student.to_dict(),
               "stages": [o.to_dict() for o in self.stages],
               "overlaps": None if self.overlaps is None else np.asarray(self.overlaps, float).tolist(),
               "status": self.status.to_dict()}
        if self.overlaps_stderr is not None:
            out["overlaps_stderr"] = np.asarray(self.overlaps_stderr, float).tolist()
        if self.n_features is not None:
            out["n_features"] = self.n_features
            out["n_seeds"] = self.n_seeds
        if self.extra:
            out["extra"] = {k: float(v) for k, v in self.extra.items()}
        return out

    def to_record(self) -> dict:
        """One flat row: parameters, ``<stage>_<obs>`` per stage and status columns."""
        rec: dict[str, Any] = {"backend": self.backend}
        rec.update(problem_record(self.data, self.teacher_spec, self.student_spec, self.chain))
        if self.n_features is not None:
            rec["n_features"] = self.n_features
            rec["n_seeds"] = self.n_seeds
        for who, obs in zip(_stage_names(len(self.stages)), self.stages):
            for k, v in obs.to_dict().items():
                rec[f"{who}_{k}"] = v
        if len(self.stages) > 2:  # the last stage also under "student"
            for k, v in self.stages[-1].to_dict().items():
                rec[f"student_{k}"] = v
        for k, v in self.extra.items():
            rec[k] = float(v)
        rec.update({f"status_{k}": v for k, v in self.status.to_dict().items() if k != "code"})
        return rec

    def __repr__(self) -> str:
        def fmt(o):
            if o is None:
                return "None"
            parts = []
            for k, v in o.values().items():
                se = o.stderr.get(k)
                parts.append(f"{k}={v:.6g}" + (f"±{se:.2g}" if se is not None and math.isfinite(se) else ""))
            return ", ".join(parts)

        lines = [f"Result(backend={self.backend!r}, {self.data},"]
        for k, (spec, o) in enumerate(zip(self.chain, self.stages)):
            lines.append(f"  stage {k}: {spec}\n    {fmt(o)}")
        lines.append(f"  status: {self.status})")
        return "\n".join(lines)
