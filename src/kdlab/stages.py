"""The stages of a chain (``docs/model.md``): the teachers of stage 0
(:class:`LogisticTeacher`, :class:`BayesOptimalTeacher`), the KD :class:`Student` on its
parent's training set (:class:`Shared`) or a fresh one (:class:`Fresh`), and the
:class:`Learner`, which trains on a list of sample groups (:class:`Group`), each a training set
with a source of labels: the set's own labels or an earlier stage's outputs
(:func:`from_stage`).

Every parameter is declared once in :mod:`kdlab.params`; the dataclasses validate through the
declarations on construction, and the error names the stage, the parameter and its range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional, Union

from .data import GaussianMixture
from .errors import ParameterError
from .params import (
    BAYES_TEACHER,
    FRESH,
    FROM_STAGE,
    GROUP,
    LEARNER,
    LOGISTIC_TEACHER,
    STUDENT,
    TEMPERATURE_MIN,
    Declared,
    show,
)
from .params import declared_default as _default

__all__ = ["Shared", "Fresh", "LogisticTeacher", "BayesOptimalTeacher", "Student", "Learner", "Group",
           "FromStage", "from_stage", "Teacher", "Stage", "TEACHER_KINDS", "STAGE_KINDS", "teacher_kind",
           "teacher_from_name", "teacher_loss", "bias_rule_text", "bias_rule_from_text"]


@dataclass(frozen=True)
class Shared:
    """The stage trains on its parent's training set (inputs and observed labels)."""

    kind: ClassVar[str] = "shared"

    def to_dict(self) -> dict:
        return {}


@dataclass(frozen=True)
class Fresh(Declared):
    """The stage trains on a new independent training set of ``M = alpha N`` samples from the
    same mixture (same centre, new inputs, new noisy labels)."""

    PARAMS: ClassVar = FRESH
    LABEL: ClassVar[str] = "Fresh "
    kind: ClassVar[str] = "fresh"

    alpha: float = _default(FRESH, "alpha")


class _Teacher(Declared):
    """A stage that learns from labels (stage 0). Subclasses give the loss, ridge and bias."""

    LABEL: ClassVar[str] = "teacher "
    role: ClassVar[str] = "teacher"
    kind: ClassVar[str] = ""

    def loss(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def ridge(self, data: GaussianMixture) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def fixed_bias(self, data: GaussianMixture, parent_bias: Optional[float] = None) -> Optional[float]:
        """The bias if it is not trained (``None``: trained, never regularized)."""
        return _bias_value(getattr(self, "bias", "free"), data, parent_bias)

    def check_data(self, data: GaussianMixture) -> None:
        """``ParameterError`` if this teacher is not defined on ``data``."""


@dataclass(frozen=True)
class LogisticTeacher(_Teacher):
    """L2-regularized logistic regression on a fraction ``eta`` of the coordinates.

    Minimizes ``sum_mu w(y_mu) log(1 + exp(-y_mu h_mu)) + (lam / 2) ||w||^2``; the bias is free
    (trained, not regularized) or fixed (``bias``: ``"prior"``, the prior log-odds, or a number);
    ``w(+1) = class_weight``, ``w(-1) = 1``.
    """

    PARAMS: ClassVar = LOGISTIC_TEACHER
    kind: ClassVar[str] = "logistic"

    lam: float = _default(LOGISTIC_TEACHER, "lam")
    eta: float = _default(LOGISTIC_TEACHER, "eta")
    bias: Union[str, float] = _default(LOGISTIC_TEACHER, "bias")
    class_weight: float = _default(LOGISTIC_TEACHER, "class_weight")

    def loss(self):
        from .losses import LogisticLoss

        return LogisticLoss(pos_weight=self.class_weight)

    def ridge(self, data: GaussianMixture) -> float:
        return self.lam


@dataclass(frozen=True)
class BayesOptimalTeacher(_Teacher):
    """Posterior-predictive teacher on a fraction ``eta`` of the coordinates.

    ``w = 2 vhat / delta`` on its coordinates, ``b = log(rho / (1 - rho))``: the linear loss
    ``-y h`` with ridge ``delta (delta + alpha) / 2`` and the bias fixed at its prior value.
    Defined only without label noise.
    """

    PARAMS: ClassVar = BAYES_TEACHER
    kind: ClassVar[str] = "bayes-optimal"

    eta: float = _default(BAYES_TEACHER, "eta")

    def loss(self):
        from .losses import LinearLoss

        return LinearLoss()

    def ridge(self, data: GaussianMixture) -> float:
        return data.delta * (data.delta + data.alpha) / 2.0

    def fixed_bias(self, data: GaussianMixture, parent_bias: Optional[float] = None) -> Optional[float]:
        return data.prior_bias

    def check_data(self, data: GaussianMixture) -> None:
        if data.label_noise > 0:
            raise ParameterError("stage 0 (bayes-optimal teacher): defined only for label_noise = 0, "
                                 f"got label_noise={data.label_noise!r}")


Teacher = Union[LogisticTeacher, BayesOptimalTeacher]

#: Teacher kinds by name (the CLI's ``--teacher``, the sweep's ``teacher`` field, problem files).
TEACHER_KINDS: dict[str, type] = {c.kind: c for c in (LogisticTeacher, BayesOptimalTeacher)}
_TEACHER_ALIASES = {"bayes": "bayes-optimal", "bo": "bayes-optimal"}


@dataclass(frozen=True)
class Student(Declared):
    """Sparse KD student: distils its parent stage.

    Only a random fraction ``eta`` of the coordinates of ``w`` is trained. Per-sample loss in
    the total pre-activation ``u = h + b`` (the parent's ``ut``):
    ``(1 - chi) log(1 + exp(-y u)) + chi [softplus(u / T) - sigmoid(ut / T) u / T]``
    (times ``T^2`` on the KD term when ``t2_scaling``), plus ``(lam / 2) ||w||^2``.
    ``temperature = 0`` means hard labels: the KD term is ``log(1 + exp(-sign(ut) u))``.
    ``chi > 1`` is allowed at ``temperature = 1`` only (the loss is then the cross-entropy with
    the target ``(1 - chi) y01 + chi sigmoid(ut)``, still convex). ``data``: :class:`Shared`
    (the parent's training set) or :class:`Fresh`.
    """

    PARAMS: ClassVar = STUDENT
    role: ClassVar[str] = "student"
    kind: ClassVar[str] = "student"

    eta: float = _default(STUDENT, "eta")
    chi: float = _default(STUDENT, "chi")
    temperature: float = _default(STUDENT, "temperature")
    lam: float = _default(STUDENT, "lam")
    t2_scaling: bool = _default(STUDENT, "t2_scaling")
    target: str = _default(STUDENT, "target")
    smoothing: float = _default(STUDENT, "smoothing")
    bias: Union[str, float] = _default(STUDENT, "bias")
    class_weight: float = _default(STUDENT, "class_weight")
    data: Union[Shared, Fresh] = field(default_factory=Shared)

    def __post_init__(self):
        super().__post_init__()
        if 0 < self.temperature < TEMPERATURE_MIN:
            raise ParameterError(f"temperature must be 0 (hard labels) or in [{TEMPERATURE_MIN!r}, 10000.0], "
                                 f"got {self.temperature!r}")
        if self.chi > 1 and self.temperature != 1.0:
            raise ParameterError(f"chi must be in [0, 1] unless temperature = 1 (chi > 1 is allowed at "
                                 f"T = 1 only), got chi={self.chi!r}, temperature={self.temperature!r}")
        if self.t2_scaling and self.kd_temperature == 0:
            raise ParameterError("t2_scaling needs temperature > 0 and target != 'hard' (the T^2 factor of hard "
                                 "labels is 0)")
        if not isinstance(self.data, (Shared, Fresh)):
            raise ParameterError(f"student data must be Shared() or Fresh(alpha), got {self.data!r}")

    @property
    def kd_temperature(self) -> float:
        """The temperature of the KD term: 0 (hard labels) for ``target = "hard"``, else ``temperature``."""
        return 0.0 if self.target == "hard" else self.temperature

    @property
    def hard_labels(self) -> bool:
        """``temperature = 0`` or ``target = "hard"``: the KD term uses the parent's top class
        (binary: the sign of its pre-activation)."""
        return self.kd_temperature == 0.0 and self.target != "smooth"

    @property
    def uses_parent(self) -> bool:
        """The KD term's target is built from the parent's output (every target but ``smooth``)."""
        return self.target != "smooth"

    @property
    def kd_weight(self) -> float:
        """Weight of the KD cross-entropy term: ``chi`` (or ``chi T^2`` with t2_scaling)."""
        return self.chi * (self.temperature ** 2 if self.t2_scaling else 1.0)

    def loss(self):
        """The student's per-sample loss object of the binary family (see :mod:`kdlab.losses`)."""
        from .losses import KDLoss, SmoothLabelLoss

        if self.target == "smooth":
            return SmoothLabelLoss(label_weight=1.0 - self.chi, kd_weight=self.kd_weight,
                                   temperature=self.temperature, pos_weight=self.class_weight,
                                   smoothing=self.smoothing)
        return KDLoss(label_weight=1.0 - self.chi, kd_weight=self.kd_weight,
                      temperature=self.kd_temperature, pos_weight=self.class_weight)

    def ridge(self, data: GaussianMixture) -> float:
        return self.lam

    def fixed_bias(self, data: GaussianMixture, parent_bias: Optional[float] = None) -> Optional[float]:
        """``None`` for a free bias; else its value (``"parent"``: ``parent_bias``, the parent's
        fitted bias, which the backends pass)."""
        return _bias_value(self.bias, data, parent_bias)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["data"] = self.data.kind
        if isinstance(self.data, Fresh):
            d["data_alpha"] = self.data.alpha
        return d


Stage = Union[LogisticTeacher, BayesOptimalTeacher, Student]


def _bias_value(rule, data: GaussianMixture, parent_bias: Optional[float]) -> Optional[float]:
    """The fixed bias of a ``bias`` rule (``None``: free)."""
    if rule == "free":
        return None
    if rule == "prior":
        return data.prior_bias
    if rule == "parent":
        if parent_bias is None or not math.isfinite(parent_bias):
            raise ParameterError("bias = 'parent' needs the parent's fitted bias (a stage k >= 1)")
        return float(parent_bias)
    return float(rule)


def bias_rule_text(rule) -> str:
    """A ``bias`` rule as one string (record columns): ``free``, ``prior``, ``parent`` or the number."""
    return rule if isinstance(rule, str) else repr(float(rule))


def bias_rule_from_text(text):
    """The inverse of :func:`bias_rule_text`."""
    if text in ("free", "prior", "parent"):
        return text
    return float(text)





@dataclass(frozen=True)
class FromStage(Declared):
    """Labels from an earlier stage ``stage`` of the chain: its soft outputs
    ``sigmoid(h_j / temperature)`` (``temperature = 0``: hard labels ``sign(h_j)``), the loss of a
    sample the cross-entropy ``CE(sigmoid(h_j / T), sigmoid(h / T))`` (times ``T^2`` with
    ``t2_scaling``). Stage ``stage``'s weights are fixed once it is fitted."""

    PARAMS: ClassVar = FROM_STAGE
    LABEL: ClassVar[str] = "from_stage "

    stage: int = 0
    temperature: float = _default(FROM_STAGE, "temperature")
    t2_scaling: bool = _default(FROM_STAGE, "t2_scaling")

    def __post_init__(self):
        super().__post_init__()
        from .params import check_int

        object.__setattr__(self, "stage", check_int("from_stage stage", self.stage, low=0))
        if 0 < self.temperature < TEMPERATURE_MIN:
            raise ParameterError(f"from_stage temperature must be 0 (hard labels) or in [{TEMPERATURE_MIN!r}, "
                                 f"10000.0], got {self.temperature!r}")
        if self.t2_scaling and self.temperature == 0:
            raise ParameterError("from_stage t2_scaling needs temperature > 0")

    @property
    def weight_factor(self) -> float:
        """``T^2`` with ``t2_scaling``, else 1."""
        return self.temperature ** 2 if self.t2_scaling else 1.0


def from_stage(stage: int, temperature: float = 1.0, t2_scaling: bool = False) -> FromStage:
    """Labels from stage ``stage`` at ``temperature`` (0: hard labels), see :class:`FromStage`."""
    return FromStage(stage=stage, temperature=temperature, t2_scaling=t2_scaling)


@dataclass(frozen=True)
class Group(Declared):
    """One sample group of a :class:`Learner`: the training set ``set`` (``"train"``: stage 0's
    set; another name: a set of ``alpha N`` new samples from the same mixture, created where it
    is first named, with its own observed labels; every later group naming it reuses exactly the
    same inputs), the source of ``labels`` (``"true"``: the set's observed labels, per-sample loss
    ``log(1 + exp(-y h))``, the positive ones weighted by the learner's ``class_weight``; or
    :func:`from_stage`) and the ``weight`` of the group's per-sample losses."""

    PARAMS: ClassVar = GROUP
    LABEL: ClassVar[str] = "group "

    set: str = "train"
    alpha: Optional[float] = None
    labels: Union[str, FromStage] = "true"
    weight: float = _default(GROUP, "weight")

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.set, str) or not self.set.strip() or len(self.set) > 100:
            raise ParameterError(f"group set must be a name (a non-empty string of at most 100 characters), "
                                 f"got {self.set!r}")
        if not (self.labels == "true" or isinstance(self.labels, FromStage)):
            raise ParameterError(f"group labels must be 'true' or from_stage(j, temperature), got {self.labels!r}")

    def to_dict(self) -> dict:
        d = {"set": self.set, "weight": self.weight}
        if self.alpha is not None:
            d["alpha"] = self.alpha
        if isinstance(self.labels, FromStage):
            d.update(labels="stage", source=self.labels.stage, temperature=self.labels.temperature,
                     t2_scaling=self.labels.t2_scaling)
        else:
            d["labels"] = "true"
        return d

    def to_text(self) -> str:
        """One line: ``set[alpha]:labels*weight`` (``labels``: ``true`` or ``stage<j>@T<T>``, with
        ``^2`` for ``t2_scaling``), the record column ``stage<k>_groups`` joins them with `` + ``."""
        name = self.set if self.alpha is None else f"{self.set}[{self.alpha:g}]"
        if isinstance(self.labels, FromStage):
            lab = f"stage{self.labels.stage}@T{self.labels.temperature:g}" + ("^2" if self.labels.t2_scaling else "")
        else:
            lab = "true"
        return f"{name}:{lab}*{self.weight:g}"

    @classmethod
    def from_dict(cls, d) -> "Group":
        d = dict(d)
        labels = d.pop("labels", "true")
        src = {k: d.pop(k) for k in ("source", "temperature", "t2_scaling") if k in d}
        if labels == "stage":
            if "source" not in src:
                raise ParameterError("a group with labels = 'stage' needs its source stage (source = j)")
            labels = from_stage(src.pop("source"), **src)
        elif src:
            raise ParameterError(f"{', '.join(sorted(src))} only for labels = 'stage'")
        unknown = set(d) - {"set", "alpha", "weight"}
        if unknown:
            raise ParameterError(f"unknown group field(s) {sorted(unknown)}; a group has set, alpha, labels, "
                                 "weight (and source, temperature, t2_scaling for labels = 'stage')")
        return cls(labels=labels, **d)


@dataclass(frozen=True)
class Learner(Declared):
    """A stage trained on a list of sample groups (:class:`Group`): it minimizes
    ``sum_groups weight * sum_(samples of the group) loss + (lam / 2) ||w||^2`` on a random
    fraction ``eta`` of the coordinates, its bias free or fixed (``bias``; ``"parent"``: the
    fitted bias of its first label source). A :class:`Student` is the learner of two groups on
    one set: the true labels with weight ``1 - chi`` and its parent at ``T`` with weight ``chi``."""

    PARAMS: ClassVar = LEARNER
    LABEL: ClassVar[str] = "learner "
    role: ClassVar[str] = "learner"
    kind: ClassVar[str] = "learner"

    eta: float = _default(LEARNER, "eta")
    lam: float = _default(LEARNER, "lam")
    bias: Union[str, float] = _default(LEARNER, "bias")
    class_weight: float = _default(LEARNER, "class_weight")
    groups: tuple = (Group("train"),)

    def __post_init__(self):
        super().__post_init__()
        groups = tuple(self.groups)
        object.__setattr__(self, "groups", groups)
        if not groups or not all(isinstance(g, Group) for g in groups):
            raise ParameterError("learner groups must be a non-empty list of Group(...)")
        if not any(g.weight > 0 for g in groups):
            raise ParameterError("learner groups: at least one group needs a weight > 0")
        if self.bias == "parent" and not self.sources:
            raise ParameterError("learner bias = 'parent' needs a group with labels from_stage(j)")

    @property
    def sources(self) -> tuple:
        """The stages whose outputs label some of its groups, in order of first use."""
        return tuple(dict.fromkeys(g.labels.stage for g in self.groups if isinstance(g.labels, FromStage)))

    def loss(self):  # pragma: no cover - a learner's loss depends on the set (kdlab.problem.plan)
        raise NotImplementedError("a Learner's per-sample loss is per training set: see kdlab.problem.plan")

    def ridge(self, data: GaussianMixture) -> float:
        return self.lam

    def fixed_bias(self, data: GaussianMixture, parent_bias: Optional[float] = None) -> Optional[float]:
        return _bias_value(self.bias, data, parent_bias)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["groups"] = [g.to_dict() for g in self.groups]
        return d


def _describe_stage(s) -> str:
    """A short name of what was given as a stage, for error messages."""
    if isinstance(s, Student):
        return "a Student"
    if isinstance(s, _Teacher):
        return f"a teacher ({type(s).__name__})"
    text = repr(s)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} (a {type(s).__name__}, not a stage)"


def teacher_kind(name: str) -> type:
    """The teacher class named ``name`` (``logistic``, ``bayes-optimal``; aliases ``bayes``, ``bo``)."""
    key = str(name).strip().lower().replace("_", "-")
    key = _TEACHER_ALIASES.get(key, key)
    if key not in TEACHER_KINDS:
        raise ParameterError(f"teacher must be one of {', '.join(TEACHER_KINDS)}, got {show(name)}")
    return TEACHER_KINDS[key]


def teacher_from_name(name: str, lam: float | None = None, **params: Any) -> Teacher:
    """The teacher named ``name`` with the given parameters.

    ``lam`` (positional) is the ridge of a teacher that has one and is not used otherwise
    (the Bayes-optimal teacher's ridge is fixed by the data); any other parameter the teacher
    does not have is an error.
    """
    cls = teacher_kind(name)
    if lam is not None and "lam" in cls.PARAMS:
        params["lam"] = lam
    params = {k: v for k, v in params.items() if v is not None}
    unknown = set(params) - set(cls.PARAMS)
    if unknown:
        raise ParameterError(f"the {cls.kind} teacher has no parameter {', '.join(sorted(unknown))} "
                             f"(its parameters: {', '.join(cls.PARAMS) or 'none'})")
    return cls(**params)


def teacher_loss(teacher: Teacher):
    """The teacher's per-sample loss object (see :mod:`kdlab.losses`)."""
    return teacher.loss()


#: Every stage kind by name (problem files, records): the teachers, ``student`` and ``learner``.
STAGE_KINDS: dict[str, type] = {**TEACHER_KINDS, Student.kind: Student, Learner.kind: Learner}
