"""The result type shared by both backends.

:func:`kdlab.simulate` and :func:`kdlab.theory.solve` both return a :class:`Result`, holding
one :class:`Observables` block for the teacher and one for the student (or ``None``).
Simulation fills the ``*_stderr`` entries and a per-seed table; theory fills ``status``.
``Result.to_record()`` flattens everything into one row for sweep tables, and
``Result.to_json_dict()`` gives the CLI's ``{"teacher": {...}, "student": {...}}`` layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional

import numpy as np
from scipy.special import ndtr

from .problem import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student, Teacher

__all__ = ["Observables", "SolverStatus", "Result", "gen_error", "OBSERVABLES"]

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

    ``gen_error`` is the exact formula of MODEL.md from ``(m, q, bias)``; ``train_loss`` is
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


@dataclass(frozen=True)
class SolverStatus:
    """How a computation ended: ``converged``, ``iterations``, final ``residual``, ``message``."""

    converged: bool
    iterations: int = 0
    residual: float = 0.0
    message: str = ""

    def to_dict(self) -> dict:
        return {"converged": bool(self.converged), "iterations": int(self.iterations),
                "residual": float(self.residual), "message": self.message}


def problem_record(data: GaussianMixture, teacher: Teacher, student: Optional[Student]) -> dict:
    """Flat ``{parameter: value}`` description of a problem (one row's parameter columns)."""
    rec = {"alpha": data.alpha, "delta": data.delta, "rho": data.rho,
           "teacher": teacher.kind,
           "teacher_lam": teacher.lam if isinstance(teacher, LogisticTeacher) else teacher.ridge(data)}
    if student is not None:
        rec.update({"eta": student.eta, "chi": student.chi, "temperature": student.temperature,
                    "lam": student.lam, "t2_scaling": student.t2_scaling})
    return rec


def _strict_json(obj):
    if isinstance(obj, dict):
        return {k: _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass(frozen=True)
class Result:
    """What a backend computed for one problem.

    ``teacher`` / ``student`` hold means (simulation) or asymptotic values (theory).
    ``per_seed`` (simulation) is a ``pandas.DataFrame`` with one row per seed.
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

    def to_json_dict(self) -> dict:
        """``{"teacher": {...}, "student": {...}, ...}``: the CLI's JSON layout (strict JSON:
        a non-finite value, e.g. of a diverged model, becomes ``null``)."""
        return _strict_json(self._json_dict())

    def _json_dict(self) -> dict:
        out = {"backend": self.backend,
               "problem": problem_record(self.data, self.teacher_spec, self.student_spec),
               "teacher": self.teacher.to_dict(),
               "student": None if self.student is None else self.student.to_dict(),
               "status": self.status.to_dict()}
        if self.n_features is not None:
            out["n_features"] = self.n_features
            out["n_seeds"] = self.n_seeds
        if self.extra:
            out["extra"] = {k: float(v) for k, v in self.extra.items()}
        return out

    def to_record(self) -> dict:
        """One flat row: parameters, ``teacher_<obs>``, ``student_<obs>`` and status columns."""
        rec: dict[str, Any] = {"backend": self.backend}
        rec.update(problem_record(self.data, self.teacher_spec, self.student_spec))
        if self.n_features is not None:
            rec["n_features"] = self.n_features
            rec["n_seeds"] = self.n_seeds
        for who, obs in (("teacher", self.teacher), ("student", self.student)):
            if obs is None:
                continue
            for k, v in obs.to_dict().items():
                rec[f"{who}_{k}"] = v
        for k, v in self.extra.items():
            rec[k] = float(v)
        rec.update({f"status_{k}": v for k, v in self.status.to_dict().items()})
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

        return (f"Result(backend={self.backend!r}, {self.data}, {self.teacher_spec}, {self.student_spec},\n"
                f"  teacher: {fmt(self.teacher)}\n  student: {fmt(self.student)}\n  status: {self.status})")
