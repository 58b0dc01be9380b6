"""A problem is data plus an ordered chain of stages (see ``docs/model.md``).

* :class:`GaussianMixture` -- the data model ``x = y v / sqrt(N) + sqrt(Delta) z`` with
  ``P(y = +1) = rho`` and training labels flipped with probability ``label_noise``.
* Stage 0 is a teacher that learns from labels: :class:`LogisticTeacher` or
  :class:`BayesOptimalTeacher`. Stage ``k >= 1`` is a :class:`Student` that distils stage
  ``k - 1`` with the KD loss, on the same training set (:class:`Shared`, the default) or on
  a fresh one (:class:`Fresh`).
* :class:`Problem` holds ``data`` and the chain and checks that the chain is well formed.

Every parameter is declared once in :mod:`kdlab.params` (type, range, default, help): the
dataclasses validate through those declarations on construction, so nothing is computed
from an invalid value, and the error names the stage, the parameter and its range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping, Optional, Sequence, Union

from .errors import ParameterError
from .params import (
    BAYES_TEACHER,
    DATA,
    FRESH,
    LOGISTIC_TEACHER,
    STUDENT,
    TEMPERATURE_MIN,
    Param,
    check_int,
    check_real,
    show,
)

__all__ = [
    "GaussianMixture", "LogisticTeacher", "BayesOptimalTeacher", "Student", "Shared", "Fresh",
    "Teacher", "Stage", "Problem", "as_problem", "teacher_from_name", "stages_from_records",
    "teacher_loss", "TEACHER_KINDS", "STAGE_KINDS", "check_real", "check_int", "load_problem",
    "read_problem_file", "ProblemFile",
]


class _Declared:
    """Frozen dataclass whose fields are validated by their :class:`~kdlab.params.Param`."""

    PARAMS: ClassVar[Mapping[str, Param]] = {}
    #: Prefix of the parameter names in error messages (``"teacher "`` gives "teacher lam ...").
    LABEL: ClassVar[str] = ""

    def __post_init__(self):
        for name, p in self.PARAMS.items():
            object.__setattr__(self, name, p.check(getattr(self, name), f"{self.LABEL}{name}"))

    def replace(self, **changes):
        """A copy with some parameters changed (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(d)
        if unknown:
            raise ParameterError(f"unknown parameter(s) for {type(self).__name__}: {sorted(unknown)}")
        d.update(changes)
        return type(self)(**d)

    def to_dict(self) -> dict:
        """The declared parameters as ``{name: value}``."""
        return {name: getattr(self, name) for name in self.PARAMS}


def _default(params, name):
    return field(default=params[name].default)


@dataclass(frozen=True)
class GaussianMixture(_Declared):
    """Two-cluster Gaussian mixture ``x = y v / sqrt(N) + sqrt(delta) z``.

    ``alpha = M / N`` samples per dimension, ``delta`` the noise variance, ``rho = P(y = +1)``
    and ``label_noise`` the probability that a training label is flipped (the input is always
    drawn from the true class).
    """

    PARAMS: ClassVar = DATA

    alpha: float = _default(DATA, "alpha")
    delta: float = _default(DATA, "delta")
    rho: float = _default(DATA, "rho")
    label_noise: float = _default(DATA, "label_noise")

    @property
    def prior_bias(self) -> float:
        """``log(rho / (1 - rho))``, the Bayes-optimal bias."""
        return math.log(self.rho) - math.log1p(-self.rho)


@dataclass(frozen=True)
class Shared:
    """The stage trains on its parent's training set (inputs and observed labels)."""

    kind: ClassVar[str] = "shared"

    def to_dict(self) -> dict:
        return {}


@dataclass(frozen=True)
class Fresh(_Declared):
    """The stage trains on a new independent training set of ``M = alpha N`` samples from the
    same mixture (same centre, new inputs, new noisy labels)."""

    PARAMS: ClassVar = FRESH
    LABEL: ClassVar[str] = "Fresh "
    kind: ClassVar[str] = "fresh"

    alpha: float = _default(FRESH, "alpha")


class _Teacher(_Declared):
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
class Student(_Declared):
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
        if self.t2_scaling and self.temperature == 0:
            raise ParameterError("t2_scaling needs temperature > 0 (the T^2 factor of hard labels is 0)")
        if not isinstance(self.data, (Shared, Fresh)):
            raise ParameterError(f"student data must be Shared() or Fresh(alpha), got {self.data!r}")

    @property
    def hard_labels(self) -> bool:
        """``temperature = 0``: the KD term uses the sign of the parent's pre-activation."""
        return self.temperature == 0.0

    @property
    def kd_weight(self) -> float:
        """Weight of the KD cross-entropy term: ``chi`` (or ``chi T^2`` with t2_scaling)."""
        return self.chi * (self.temperature ** 2 if self.t2_scaling else 1.0)

    def loss(self):
        """The student's per-sample loss object (see :mod:`kdlab.losses`)."""
        from .losses import KDLoss

        return KDLoss(label_weight=1.0 - self.chi, kd_weight=self.kd_weight,
                      temperature=self.temperature, pos_weight=self.class_weight)

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

#: Every stage kind by name (problem files, records): the teachers and ``student``.
STAGE_KINDS: dict[str, type] = {**TEACHER_KINDS, Student.kind: Student}


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


@dataclass(frozen=True)
class Problem:
    """``data`` plus the chain ``stages`` (stage 0 a teacher, stages ``k >= 1`` students)."""

    data: GaussianMixture
    stages: tuple

    def __post_init__(self):
        if not isinstance(self.data, GaussianMixture):
            raise TypeError(f"data must be a GaussianMixture, got {type(self.data).__name__}")
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages:
            raise ParameterError("a problem needs at least one stage (a teacher)")
        for k, s in enumerate(stages):
            if k == 0 and not isinstance(s, _Teacher):
                raise TypeError(f"stage 0 must be a teacher (LogisticTeacher or BayesOptimalTeacher), "
                                f"got {_describe_stage(s)}")
            if k > 0 and not isinstance(s, Student):
                raise TypeError(f"stage {k} must be a Student (a teacher can only be stage 0), "
                                f"got {_describe_stage(s)}")
        stages[0].check_data(self.data)

    @property
    def teacher(self) -> Teacher:
        return self.stages[0]

    @property
    def students(self) -> tuple:
        return self.stages[1:]

    @property
    def n_stages(self) -> int:
        return len(self.stages)

    def replace(self, data: Optional[GaussianMixture] = None, **stage_changes) -> "Problem":
        """A copy with new ``data`` and/or changed stages: ``stage<k>={param: value}``
        (validated again)."""
        stages = list(self.stages)
        for key, changes in stage_changes.items():
            k = _stage_index(key, len(stages))
            stages[k] = stages[k].replace(**changes)
        return Problem(self.data if data is None else data, tuple(stages))

    def to_record(self) -> dict:
        """Flat parameter columns: the data's parameters, then ``stage<k>_kind`` and
        ``stage<k>_<param>`` for every declared parameter of every stage; a stage without a
        declared ridge (the Bayes-optimal teacher) records the ridge the data fix as
        ``stage<k>_lam``; the bias rule is ``stage<k>_bias_rule`` (``free``, ``prior``,
        ``parent`` or the number: ``stage<k>_bias`` is the fitted bias); a student records
        ``stage<k>_data`` (``shared`` / ``fresh``) and ``stage<k>_data_alpha`` (NaN on a shared
        set)."""
        rec = {n: getattr(self.data, n) for n in self.data.PARAMS}
        for k, st in enumerate(self.stages):
            rec[f"stage{k}_kind"] = st.kind
            for name in st.PARAMS:
                if name == "bias":  # a rule (free, prior, parent, a number); the column bias is the fitted value
                    rec[f"stage{k}_bias_rule"] = bias_rule_text(st.bias)
                else:
                    rec[f"stage{k}_{name}"] = getattr(st, name)
            if "lam" not in st.PARAMS:
                rec[f"stage{k}_lam"] = float(st.ridge(self.data))
            if isinstance(st, Student):
                rec[f"stage{k}_data"] = st.data.kind
                rec[f"stage{k}_data_alpha"] = st.data.alpha if isinstance(st.data, Fresh) else math.nan
        return rec

    def to_dict(self) -> dict:
        """``{"data": {...}, "stages": [{"kind": ..., ...}, ...]}``: the layout of a TOML problem
        file (:func:`load_problem`, :meth:`from_dict`, :meth:`to_toml`)."""
        stages = []
        for st in self.stages:
            d = {"kind": st.kind, **{n: getattr(st, n) for n in st.PARAMS}}
            if isinstance(st, Student):
                d["data"] = st.data.kind
                if isinstance(st.data, Fresh):
                    d["data_alpha"] = st.data.alpha
            stages.append(d)
        return {"data": self.data.to_dict(), "stages": stages}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Problem":
        """The problem of :meth:`to_dict` (errors name the stage and the parameter)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("data"), Mapping) \
                or not isinstance(d.get("stages"), (list, tuple)) or not d["stages"]:
            raise ParameterError("a problem needs a 'data' table and a non-empty list of 'stages'")
        unknown = set(d["data"]) - set(GaussianMixture.PARAMS)
        if unknown:
            raise ParameterError(f"unknown data parameter(s) {sorted(unknown)}; "
                                 f"known: {', '.join(GaussianMixture.PARAMS)}")
        return cls(GaussianMixture(**d["data"]), tuple(stages_from_records(d["stages"])))

    def to_toml(self) -> str:
        """The problem as a TOML problem file (read back by :func:`load_problem`)."""
        d = self.to_dict()
        lines = ["[data]"] + [f"{k} = {_toml_value(v)}" for k, v in d["data"].items()]
        for st in d["stages"]:
            lines += ["", "[[stages]]"] + [f"{k} = {_toml_value(v)}" for k, v in st.items()]
        return "\n".join(lines) + "\n"

    def training_sets(self) -> list[int]:
        """Index of the training set of every stage (0: the data's; each Fresh stage opens one)."""
        out, cur = [], 0
        for k, s in enumerate(self.stages):
            if k > 0 and isinstance(s.data, Fresh):
                cur += 1
            out.append(cur)
        return out

    def alpha_of(self, k: int) -> float:
        """Samples per dimension of stage ``k``'s training set."""
        for s in reversed(self.stages[1:k + 1]):
            if isinstance(s.data, Fresh):
                return s.data.alpha
        return self.data.alpha


def as_problem(*args) -> Problem:
    """A :class:`Problem` from ``(problem,)``, ``(data, [stage0, stage1, ...])`` or
    ``(data, teacher[, student])`` (the conveniences of the backends)."""
    if len(args) == 1 and isinstance(args[0], Problem):
        return args[0]
    if not 2 <= len(args) <= 3:
        raise TypeError("give a Problem, (data, stages) or (data, teacher, student)")
    data, first = args[0], args[1]
    student = args[2] if len(args) == 3 else None
    if isinstance(data, Problem):
        raise TypeError("give either a Problem or (data, stages), not both")
    if isinstance(first, (list, tuple)):
        if student is not None:
            raise TypeError("give either a list of stages or (teacher, student), not both")
        return Problem(data, tuple(first))
    return Problem(data, (first,) if student is None else (first, student))


def _stage_index(key, n: int) -> int:
    """``k`` of ``stage<k>`` / ``teacher`` (0) / ``student`` (the last stage)."""
    if key == "teacher":
        return 0
    if key == "student":
        if n < 2:
            raise ParameterError("the problem has no student")
        return n - 1
    if isinstance(key, str) and key.startswith("stage") and key[5:].isdigit():
        k = int(key[5:])
        if k < n:
            return k
    raise ParameterError(f"unknown stage {key!r}: stage0..stage{n - 1} (teacher, student: the first and last)")


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(float(v))


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


def _names(keys) -> str:
    """Parameter names for an error message (at most 8 of them, each shortened)."""
    keys = sorted(str(k) for k in keys)
    text = ", ".join(show(k, 40).strip("'") for k in keys[:8])
    return text + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")


def stages_from_records(records: Sequence[Mapping[str, Any]]) -> list:
    """A chain from plain dicts (problem files): ``{"kind": "logistic", "lam": 0.1}``,
    ``{"kind": "student", "chi": 1, "data": "fresh", "data_alpha": 3}``, ... A parameter the
    stage's kind does not have (``lam`` of the Bayes-optimal teacher) is an error naming it."""
    out = []
    for k, rec in enumerate(records):
        try:
            if not isinstance(rec, Mapping):
                raise ParameterError(f"must be a table of parameters, got {show(rec)}")
            rec = dict(rec)
            kind = rec.pop("kind", "student" if k > 0 else "logistic")
            if not isinstance(kind, str):
                raise ParameterError(f"kind must be a string, got {show(kind)}")
            if kind == "student":
                d = rec.pop("data", "shared")
                d_alpha = rec.pop("data_alpha", None)
                if isinstance(d, Mapping):
                    d_alpha = d.get("alpha", d_alpha)
                    d = d.get("kind", "fresh")
                if d == "shared":
                    if d_alpha is not None:
                        raise ParameterError("data_alpha is only for data = 'fresh'")
                    data = Shared()
                elif d == "fresh":
                    data = Fresh() if d_alpha is None else Fresh(alpha=d_alpha)
                else:
                    raise ParameterError(f"data must be 'shared' or 'fresh', got {show(d)}")
                unknown = set(rec) - set(Student.PARAMS)
                if unknown:
                    raise ParameterError(f"unknown parameter(s) {_names(unknown)}; "
                                         f"a student has {', '.join(Student.PARAMS)}, data, data_alpha")
                out.append(Student(**rec, data=data))
            else:
                cls = teacher_kind(kind)
                unknown = set(rec) - set(cls.PARAMS)
                if unknown:
                    raise ParameterError(f"the {cls.kind} teacher has no parameter {_names(unknown)} "
                                         f"(its parameters: {', '.join(cls.PARAMS) or 'none'})")
                out.append(cls(**rec))
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"stage {k}: {exc}") from None
    return out


#: Problem files larger than this are refused before they are parsed.
MAX_PROBLEM_FILE_BYTES = 2**20

#: Longest error message about a problem file (values in it are shortened first).
_MAX_MESSAGE = 300


def _problem_error(path, text: str) -> ParameterError:
    msg = f"problem file {path}: {text}".replace("\n", " ")
    return ParameterError(msg if len(msg) <= _MAX_MESSAGE else msg[:_MAX_MESSAGE - 3] + "...")


@dataclass(frozen=True)
class ProblemFile:
    """What a TOML problem file holds: the :class:`Problem` and the solver options of its
    optional ``[theory]`` and ``[simulate]`` tables (validated against
    :data:`kdlab.params.THEORY_OPTIONS` / :data:`kdlab.params.SIMULATION_OPTIONS`; only the
    options the file gives)."""

    problem: Problem
    theory: dict = field(default_factory=dict)
    simulate: dict = field(default_factory=dict)


def load_problem(path) -> Problem:
    """The :class:`Problem` of a TOML problem file (:func:`read_problem_file`, which also returns
    the file's solver options)."""
    return read_problem_file(path).problem


def read_problem_file(path) -> ProblemFile:
    """A :class:`ProblemFile` from a TOML file::

        [data]                      # required: GaussianMixture parameters (defaults for the rest)
        alpha = 2.0
        label_noise = 0.2

        [[stages]]                  # stage 0: kind = "logistic" or "bayes-optimal"
        kind = "logistic"
        lam = 0.1

        [[stages]]                  # stages 1, 2, ...: students
        chi = 1.0
        temperature = 2.0

        [[stages]]
        temperature = 0.0
        data = "fresh"              # or "shared" (default)
        data_alpha = 3.0

        [theory]                    # optional: options of the theory (kdlab theory, theory-curve)
        tol = 1e-9

        [simulate]                  # optional: options of the simulation (kdlab simulate)
        n_features = 2000
        seeds = 16

    The file must be a regular file of at most :data:`MAX_PROBLEM_FILE_BYTES` (a FIFO or a
    device is refused, never read: :func:`kdlab.io.read_regular_file`), UTF-8 TOML, with a
    ``[data]`` table and at least one ``[[stages]]`` entry; a parameter a stage does not have is
    an error, and so is an option the backends do not declare. Errors are one line of at most
    300 characters naming the file, the stage and the parameter
    (:class:`kdlab.errors.ParameterError`).
    """
    import tomllib
    from pathlib import Path

    from .errors import InputError
    from .io import read_regular_file
    from .params import SIMULATION_OPTIONS, THEORY_OPTIONS, check_options

    path = Path(path)
    try:
        raw = read_regular_file(path, MAX_PROBLEM_FILE_BYTES, what="problem file", follow_symlinks=True)
    except InputError as exc:
        raise _problem_error(path, getattr(exc, "reason", str(exc))) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _problem_error(path, f"not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _problem_error(path, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise _problem_error(path, "not usable: arrays or tables nested too deeply") from None
    unknown = set(doc) - {"data", "stages", "theory", "simulate"}
    if unknown:
        raise _problem_error(path, f"unknown table(s) {_names(unknown)}; expected [data], [[stages]] and "
                                   "optionally [theory], [simulate]")
    data_rec, stages = doc.get("data"), doc.get("stages")
    if not isinstance(data_rec, dict) or not isinstance(stages, list) or not stages:
        raise _problem_error(path, "needs a [data] table and at least one [[stages]] entry")
    opts = {}
    for table, decl in (("theory", THEORY_OPTIONS), ("simulate", SIMULATION_OPTIONS)):
        given = doc.get(table, {})
        if not isinstance(given, dict):
            raise _problem_error(path, f"[{table}] must be a table of options")
        try:
            opts[table] = {k: v for k, v in check_options(decl, given, table).items() if k in given}
        except (ValueError, TypeError) as exc:
            raise _problem_error(path, f"[{table}] {exc}") from None
    try:
        bad = set(data_rec) - set(GaussianMixture.PARAMS)
        if bad:
            raise ParameterError(f"unknown data parameter(s) {_names(bad)}; known: {', '.join(GaussianMixture.PARAMS)}")
        data = GaussianMixture(**data_rec)
        return ProblemFile(Problem(data, tuple(stages_from_records(stages))), opts["theory"], opts["simulate"])
    except (ValueError, TypeError) as exc:
        raise _problem_error(path, str(exc)) from None
    except RecursionError:
        raise _problem_error(path, "not usable: values nested too deeply") from None
