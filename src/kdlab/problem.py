"""One description of a problem: data model, teacher and student (see shared/MODEL.md).

These small frozen dataclasses are the inputs of both backends, :func:`kdlab.simulate`
(finite N) and :func:`kdlab.theory.solve` (N -> infinity). They validate on construction:
an invalid value raises ``ValueError`` naming the parameter and its allowed range, so that
nothing is ever computed from invalid parameters.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, asdict
from typing import Any, Union

__all__ = [
    "GaussianMixture",
    "LogisticTeacher",
    "BayesOptimalTeacher",
    "Teacher",
    "Student",
    "check_real",
    "check_int",
    "check_problem",
]


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = True, high_open: bool = True) -> float:
    """Return ``float(value)`` or raise ``ValueError`` naming ``name`` and the allowed range."""
    lo_s = "-inf" if low is None else repr(low)
    hi_s = "inf" if high is None else repr(high)
    rng = f"{'(' if low_open else '['}{lo_s}, {hi_s}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number in {rng}, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number in {rng}, got {value!r}")
    if low is not None and (x <= low if low_open else x < low):
        raise ValueError(f"{name} must be in {rng}, got {value!r}")
    if high is not None and (x >= high if high_open else x > high):
        raise ValueError(f"{name} must be in {rng}, got {value!r}")
    return x


def check_int(name: str, value: Any, *, low: int) -> int:
    """Return ``int(value)`` or raise ``ValueError`` unless it is an integer ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if int(value) < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class _Validated:
    """Mixin: ``replace`` and ``to_dict`` for the frozen parameter dataclasses."""

    def replace(self, **changes):
        """A copy with some parameters changed (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(d)
        if unknown:
            raise ValueError(f"unknown parameter(s) for {type(self).__name__}: {sorted(unknown)}")
        d.update(changes)
        return type(self)(**d)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GaussianMixture(_Validated):
    """Two-cluster Gaussian mixture ``x = y v / sqrt(N) + sqrt(delta) z``.

    ``alpha = M / N`` samples per dimension, ``delta`` the noise variance and
    ``rho = P(y = +1)``.
    """

    alpha: float
    delta: float = 1.0
    rho: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_real("alpha", self.alpha, low=0.0))
        object.__setattr__(self, "delta", check_real("delta", self.delta, low=0.0))
        object.__setattr__(self, "rho", check_real("rho", self.rho, low=0.0, high=1.0))

    @property
    def prior_bias(self) -> float:
        """``log(rho / (1 - rho))``, the Bayes-optimal bias."""
        return math.log(self.rho) - math.log1p(-self.rho)


@dataclass(frozen=True)
class LogisticTeacher(_Validated):
    """L2-regularized logistic regression teacher, ridge ``lam`` on ``w`` (bias free).

    Minimizes ``sum_mu log(1 + exp(-y_mu h_mu)) + (lam / 2) ||w||^2``.
    """

    lam: float = 0.1
    kind = "logistic"

    def __post_init__(self):
        object.__setattr__(self, "lam", check_real("teacher lam", self.lam, low=0.0, low_open=False))

    def ridge(self, data: GaussianMixture) -> float:
        return self.lam


@dataclass(frozen=True)
class BayesOptimalTeacher(_Validated):
    """Posterior-predictive teacher: ``w = 2 vhat / delta``, ``b = log(rho / (1 - rho))``.

    Equivalent to the linear loss ``-y h`` with ridge ``delta (delta + alpha) / 2`` and the
    bias fixed at its prior value.
    """

    kind = "bayes-optimal"

    def ridge(self, data: GaussianMixture) -> float:
        return data.delta * (data.delta + data.alpha) / 2.0


Teacher = Union[LogisticTeacher, BayesOptimalTeacher]


@dataclass(frozen=True)
class Student(_Validated):
    """Sparse KD student.

    Only a fixed random fraction ``eta`` of the coordinates of ``w`` is trained. Per-sample
    loss in the total pre-activation ``u = h + b`` (teacher's ``ut``):
    ``(1 - chi) log(1 + exp(-y u)) + chi [softplus(u / T) - sigmoid(ut / T) u / T]``,
    times ``T^2`` on the KD term when ``t2_scaling`` (Hinton's convention), plus
    ``(lam / 2) ||w||^2``.
    """

    eta: float = 0.5
    chi: float = 0.5
    temperature: float = 1.0
    lam: float = 0.1
    t2_scaling: bool = False

    def __post_init__(self):
        object.__setattr__(self, "eta", check_real("eta", self.eta, low=0.0, high=1.0, high_open=False))
        object.__setattr__(self, "chi", check_real("chi", self.chi, low=0.0, high=1.0,
                                                   low_open=False, high_open=False))
        object.__setattr__(self, "temperature", check_real("temperature", self.temperature, low=0.0))
        object.__setattr__(self, "lam", check_real("lam", self.lam, low=0.0, low_open=False))
        if not isinstance(self.t2_scaling, bool):
            raise ValueError(f"t2_scaling must be a bool, got {self.t2_scaling!r}")

    @property
    def kd_weight(self) -> float:
        """Weight of the KD cross-entropy term: ``chi`` (or ``chi T^2`` with t2_scaling)."""
        return self.chi * (self.temperature ** 2 if self.t2_scaling else 1.0)

    def loss(self):
        """The student's per-sample loss object (see :mod:`kdlab.losses`)."""
        from .losses import KDLoss

        return KDLoss(label_weight=1.0 - self.chi, kd_weight=self.kd_weight,
                      temperature=self.temperature)


def check_problem(data, teacher, student) -> None:
    """``TypeError`` unless ``(data, teacher, student)`` is a problem description (student may be None)."""
    if not isinstance(data, GaussianMixture):
        raise TypeError(f"data must be a GaussianMixture, got {type(data).__name__}")
    if not isinstance(teacher, (LogisticTeacher, BayesOptimalTeacher)):
        raise TypeError(f"teacher must be LogisticTeacher or BayesOptimalTeacher, got {type(teacher).__name__}")
    if student is not None and not isinstance(student, Student):
        raise TypeError(f"student must be a Student or None, got {type(student).__name__}")


def teacher_from_name(name: str, lam: float | None = None) -> Teacher:
    """``'logistic'`` (with ``lam``) or ``'bayes-optimal'``; used by the CLIs and sweeps."""
    key = name.strip().lower().replace("_", "-")
    if key == "logistic":
        return LogisticTeacher(lam=0.1 if lam is None else lam)
    if key in ("bayes-optimal", "bayes", "bo"):
        return BayesOptimalTeacher()
    raise ValueError(f"teacher must be 'logistic' or 'bayes-optimal', got {name!r}")


def teacher_loss(teacher: Teacher):
    """The teacher's per-sample loss object (see :mod:`kdlab.losses`)."""
    from .losses import LinearLoss, LogisticLoss

    if isinstance(teacher, LogisticTeacher):
        return LogisticLoss()
    if isinstance(teacher, BayesOptimalTeacher):
        return LinearLoss()
    raise TypeError(f"teacher must be LogisticTeacher or BayesOptimalTeacher, got {type(teacher).__name__}")
