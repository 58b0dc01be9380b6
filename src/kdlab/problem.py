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
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from .data import DATA_KINDS, GaussianMixture, MulticlassMixture, data_kind_of
from .errors import ParameterError
from .params import check_int, check_real, show
from .stages import (
    STAGE_KINDS,
    TEACHER_KINDS,
    BayesOptimalTeacher,
    Fresh,
    FromStage,
    Group,
    Learner,
    LogisticTeacher,
    Shared,
    Stage,
    Student,
    Teacher,
    _describe_stage,
    _Teacher,
    bias_rule_from_text,
    bias_rule_text,
    from_stage,
    teacher_from_name,
    teacher_kind,
    teacher_loss,
)

__all__ = [
    "GaussianMixture", "MulticlassMixture", "LogisticTeacher", "BayesOptimalTeacher",
    "Student", "Learner", "Group", "FromStage",
    "from_stage", "Shared", "Fresh", "Teacher", "Stage", "Problem", "as_problem", "teacher_from_name",
    "stages_from_records", "teacher_loss", "TEACHER_KINDS", "STAGE_KINDS", "DATA_KINDS", "check_real", "check_int",
    "load_problem", "read_problem_file", "ProblemFile", "bias_rule_text", "bias_rule_from_text", "teacher_kind",
    "Source", "SetUse", "StagePlan",
]


@dataclass(frozen=True)
class Source:
    """A source of labels in one training set's loss: stage ``stage``'s outputs at
    ``temperature`` (0: hard labels), the term's ``weight`` (the ``T^2`` factor included)."""

    stage: int
    temperature: float
    weight: float

    @property
    def hard(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class SetUse:
    """What a stage does on one training set: per-sample loss
    ``label_weight w(y) log(1 + exp(-y u)) + sum_i weight_i CE(s_i, sigmoid(u / T_i))`` with the
    set's observed labels ``y`` and the soft (or hard) labels ``s_i`` of its ``sources``
    (``loss`` is that function of ``u``, ``y`` and the sources' pre-activations; a teacher's own
    loss for stage 0)."""

    set: str
    alpha: float
    label_weight: float
    sources: tuple
    loss: Any

    @property
    def source_stages(self) -> tuple:
        return tuple(src.stage for src in self.sources)

    @property
    def hard(self) -> bool:
        """A hard-label source: the loss jumps in that source's pre-activation."""
        return any(src.hard for src in self.sources)

    @property
    def temperature(self) -> float:
        """The lowest temperature of a soft source (``inf`` without one): it sets the width of
        the strip where the loss is analytic in the sources' fields."""
        return min((src.temperature for src in self.sources if not src.hard), default=math.inf)


@dataclass(frozen=True)
class StagePlan:
    """What stage ``k`` trains on (``Problem.plan(k)``): its :class:`SetUse` per training set,
    its ridge ``lam``, its coordinate fraction ``eta``, its bias rule and the stage whose fitted
    bias ``bias = "parent"`` takes (``parent``)."""

    index: int
    uses: tuple
    eta: float
    lam: float
    bias: Any
    parent: Optional[int]

    @property
    def set_names(self) -> tuple:
        return tuple(u.set for u in self.uses)

    @property
    def sources(self) -> tuple:
        """Every stage whose outputs label some of its samples, in order of first use."""
        return tuple(dict.fromkeys(s for u in self.uses for s in u.source_stages))

    @property
    def alpha_total(self) -> float:
        """The stage's training samples per dimension (each set counted once)."""
        return float(sum(u.alpha for u in self.uses))

    @property
    def has_labels(self) -> bool:
        """Some of its samples carry their set's own labels (a true-label term of weight > 0)."""
        return any(u.label_weight > 0 for u in self.uses)

    def use(self, name: str) -> Optional[SetUse]:
        for u in self.uses:
            if u.set == name:
                return u
        return None


def _make_plans(data: GaussianMixture, stages: tuple) -> tuple:
    """The :class:`StagePlan` of every stage, and the checks of the sets and the sources: a set
    is named with its ``alpha`` the first time (``"train"`` is the data's, ``alpha = data.alpha``),
    a later use gives the same ``alpha`` or none; a source is an earlier stage."""
    from .losses import loss_of_terms

    sets = {"train": data.alpha}
    plans = []
    for k, st in enumerate(stages):
        if isinstance(st, Learner):
            by_set: dict = {}
            for g in st.groups:
                if g.set == "train":
                    if g.alpha is not None and g.alpha != data.alpha:
                        raise ParameterError(f"stage {k}: group set 'train' is the data's training set "
                                             f"(alpha = {data.alpha!r}), got alpha={g.alpha!r}")
                elif g.set in sets:
                    if g.alpha is not None and g.alpha != sets[g.set]:
                        raise ParameterError(f"stage {k}: set {g.set!r} was made with alpha = {sets[g.set]!r}, "
                                             f"got alpha={g.alpha!r}")
                else:
                    if g.alpha is None:
                        raise ParameterError(f"stage {k}: set {g.set!r} is named for the first time and needs "
                                             "its size alpha (Group(name, alpha=...))")
                    sets[g.set] = g.alpha
                entry = by_set.setdefault(g.set, [0.0, {}])
                if isinstance(g.labels, FromStage):
                    j = g.labels.stage
                    if j >= k:
                        raise ParameterError(f"stage {k}: from_stage({j}) must name an earlier stage "
                                             f"(0..{k - 1})" if k else "stage 0: from_stage needs an earlier stage")
                    if g.weight > 0:
                        key = (j, g.labels.temperature)
                        entry[1][key] = entry[1].get(key, 0.0) + g.weight * g.labels.weight_factor
                else:
                    entry[0] += g.weight
            uses = []
            for name, (lw, srcs) in by_set.items():
                sources = tuple(Source(j, t, w) for (j, t), w in srcs.items())
                uses.append(SetUse(name, sets[name], lw, sources,
                                   loss_of_terms(lw, [(s.weight, s.temperature) for s in sources], st.class_weight)))
            parent = st.sources[0] if st.sources else None
            plans.append(StagePlan(k, tuple(uses), float(st.eta), float(st.lam), st.bias, parent))
        elif isinstance(st, Student):
            if isinstance(st.data, Fresh):
                name = f"fresh{k}"
                if name in sets:
                    raise ParameterError(f"stage {k}: its Fresh set is named {name!r}, which an earlier "
                                         "stage already uses for another set")
                sets[name] = st.data.alpha
            else:
                name = plans[k - 1].uses[0].set
            sources = (Source(k - 1, st.kd_temperature, st.kd_weight),) if st.chi > 0 and st.uses_parent else ()
            label_weight = 1.0 - st.chi if st.uses_parent else 1.0
            loss = st.loss() if data.family == "binary" else _softmax_loss(st, data)
            plans.append(StagePlan(k, (SetUse(name, sets[name], label_weight, sources, loss),),
                                   float(st.eta), float(st.lam), st.bias, k - 1))
        elif data.family == "multiclass":
            from .losses import SoftmaxKDLoss

            plans.append(StagePlan(k, (SetUse("train", data.alpha, 1.0, (), SoftmaxKDLoss()),), float(st.eta),
                                   float(st.lam), "free", None))
        else:
            fixed = st.fixed_bias(data)
            plans.append(StagePlan(k, (SetUse("train", data.alpha, 1.0, (), st.loss()),), float(st.eta),
                                   float(st.ridge(data)), "free" if fixed is None else float(fixed), None))
    return tuple(plans)


def _softmax_loss(st: Student, data):
    """The K-class loss of a student (:class:`kdlab.losses.SoftmaxKDLoss`)."""
    from .losses import SoftmaxKDLoss

    return SoftmaxKDLoss(label_weight=1.0 - st.chi, kd_weight=st.kd_weight, temperature=st.kd_temperature,
                         target=st.target, smoothing=st.smoothing, _K=data.n_classes)


def _check_multiclass(stages: tuple) -> None:
    """The stages the K-class family has: a logistic teacher (free bias, unweighted) and
    students (free bias, unweighted); ``ParameterError`` naming what it lacks."""
    for k, st in enumerate(stages):
        if isinstance(st, (Learner, BayesOptimalTeacher)):
            raise ParameterError(f"stage {k}: a {st.kind} stage is not defined for the K-class model "
                                 "(MulticlassMixture): use LogisticTeacher and Student stages")
        if getattr(st, "bias", "free") != "free":
            raise ParameterError(f"stage {k}: bias must be 'free' for the K-class model, got {st.bias!r}")
        if getattr(st, "class_weight", 1.0) != 1.0:
            raise ParameterError(f"stage {k}: class_weight must be 1 for the K-class model, got {st.class_weight!r}")


@dataclass(frozen=True)
class Problem:
    """``data`` plus the chain ``stages`` (stage 0 a teacher, stages ``k >= 1`` students)."""

    data: GaussianMixture
    stages: tuple

    def __post_init__(self):
        if not isinstance(self.data, (GaussianMixture, MulticlassMixture)):
            raise TypeError(f"data must be a GaussianMixture or a MulticlassMixture, got {type(self.data).__name__}")
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages:
            raise ParameterError("a problem needs at least one stage (a teacher)")
        for k, s in enumerate(stages):
            if k == 0 and not isinstance(s, (_Teacher, Learner)):
                raise TypeError(f"stage 0 must be a teacher (LogisticTeacher or BayesOptimalTeacher) or a Learner, "
                                f"got {_describe_stage(s)}")
            if k > 0 and not isinstance(s, (Student, Learner)):
                raise TypeError(f"stage {k} must be a Student or a Learner (a teacher can only be stage 0), "
                                f"got {_describe_stage(s)}")
        if self.data.family == "multiclass":
            _check_multiclass(stages)
        elif isinstance(stages[0], _Teacher):
            stages[0].check_data(self.data)
        object.__setattr__(self, "_plans", _make_plans(self.data, stages))

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
        if self.data.family == "multiclass":
            rec["classes"] = self.data.n_classes
            rec["prior"] = " ".join(f"{v:.6g}" for v in self.data.prior)
            rec["gram"] = "; ".join(" ".join(f"{v:.6g}" for v in row) for row in self.data.gram)
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
            if isinstance(st, Learner):
                rec[f"stage{k}_groups"] = " + ".join(g.to_text() for g in st.groups)
            rec[f"stage{k}_alpha_total"] = self._plans[k].alpha_total
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
            if isinstance(st, Learner):
                d["groups"] = [g.to_dict() for g in st.groups]
            stages.append(d)
        return {"data": self.data.to_dict(), "stages": stages}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Problem":
        """The problem of :meth:`to_dict` (errors name the stage and the parameter)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("data"), Mapping) \
                or not isinstance(d.get("stages"), (list, tuple)) or not d["stages"]:
            raise ParameterError("a problem needs a 'data' table and a non-empty list of 'stages'")
        return cls(data_from_dict(d["data"]), tuple(stages_from_records(d["stages"])))

    def to_toml(self) -> str:
        """The problem as a TOML problem file (read back by :func:`load_problem`)."""
        d = self.to_dict()
        lines = ["[data]"] + [f"{k} = {_toml_value(v)}" for k, v in d["data"].items()]
        for st in d["stages"]:
            lines += ["", "[[stages]]"] + [f"{k} = {_toml_value(v)}" for k, v in st.items() if k != "groups"]
            for g in st.get("groups", ()):
                lines += ["[[stages.groups]]"] + [f"{k} = {_toml_value(v)}" for k, v in g.items()]
        return "\n".join(lines) + "\n"

    def plan(self, k: int) -> "StagePlan":
        """What stage ``k`` trains on: its :class:`StagePlan` (one :class:`SetUse` per training
        set, in order of first use). Both backends read the chain only through the plans."""
        return self._plans[k]

    @property
    def plans(self) -> tuple:
        """The :class:`StagePlan` of every stage."""
        return self._plans

    def sets(self) -> dict:
        """Every training set of the chain, ``{name: alpha}`` in order of creation (``"train"``
        first; a Fresh student's set is ``"fresh<k>"``)."""
        out = {}
        for pl in self._plans:
            for u in pl.uses:
                out.setdefault(u.set, u.alpha)
        return out

    def trainers(self, name: str) -> tuple:
        """The stages that train on set ``name``, in chain order."""
        return tuple(k for k, pl in enumerate(self._plans) if name in pl.set_names)


def data_from_dict(d: Mapping[str, Any]):
    """The data model of a ``[data]`` table (:func:`kdlab.data.data_kind_of` picks the kind)."""
    cls = data_kind_of(d)
    if cls is MulticlassMixture:
        return MulticlassMixture.from_dict(d)
    d = {k: v for k, v in d.items() if k != "kind"}
    bad = set(d) - set(GaussianMixture.PARAMS)
    if bad:
        raise ParameterError(f"unknown data parameter(s) {_names(bad)}; known: {', '.join(GaussianMixture.PARAMS)}")
    return GaussianMixture(**d)


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
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, int):
        return repr(v)
    return repr(float(v))


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
            if kind == "learner":
                groups = rec.pop("groups", None)
                if not isinstance(groups, (list, tuple)) or not groups:
                    raise ParameterError("a learner needs a non-empty list of groups ([[stages.groups]] tables)")
                gs = []
                for i, g in enumerate(groups):
                    if not isinstance(g, Mapping):
                        raise ParameterError(f"group {i} must be a table, got {show(g)}")
                    try:
                        gs.append(Group.from_dict(g))
                    except (ValueError, TypeError) as exc:
                        raise ParameterError(f"group {i}: {exc}") from None
                unknown = set(rec) - set(Learner.PARAMS)
                if unknown:
                    raise ParameterError(f"unknown parameter(s) {_names(unknown)}; "
                                         f"a learner has {', '.join(Learner.PARAMS)}, groups")
                out.append(Learner(**rec, groups=tuple(gs)))
            elif kind == "student":
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


def _problem_error(path, text: str, what: str = "problem file") -> ParameterError:
    msg = f"{what} {path}: {text}".replace("\n", " ")
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


def load_toml(path, what: str = "problem file") -> dict:
    """The TOML document of a regular file of at most :data:`MAX_PROBLEM_FILE_BYTES` (a FIFO or a
    device is refused, never read); errors are one line naming the file (:class:`ParameterError`)."""
    import tomllib

    from .errors import InputError
    from .io import read_regular_file

    try:
        raw = read_regular_file(path, MAX_PROBLEM_FILE_BYTES, what=what, follow_symlinks=True)
    except InputError as exc:
        raise _problem_error(path, getattr(exc, "reason", str(exc)), what) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _problem_error(path, f"not UTF-8 text (byte {exc.start}: {exc.reason})", what) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _problem_error(path, f"not valid TOML: {exc}", what) from None
    except RecursionError:
        raise _problem_error(path, "not usable: arrays or tables nested too deeply", what) from None


def solver_tables(path, doc: Mapping[str, Any], what: str = "problem file") -> dict:
    """``{"theory": {...}, "simulate": {...}}``: the options a file's optional ``[theory]`` and
    ``[simulate]`` tables give, validated against :data:`kdlab.params.THEORY_OPTIONS` /
    :data:`kdlab.params.SIMULATION_OPTIONS`."""
    from .params import SIMULATION_OPTIONS, THEORY_OPTIONS, check_options

    opts = {}
    for table, decl in (("theory", THEORY_OPTIONS), ("simulate", SIMULATION_OPTIONS)):
        given = doc.get(table, {})
        if not isinstance(given, dict):
            raise _problem_error(path, f"[{table}] must be a table of options", what)
        try:
            opts[table] = {k: v for k, v in check_options(decl, given, table).items() if k in given}
        except (ValueError, TypeError) as exc:
            raise _problem_error(path, f"[{table}] {exc}", what) from None
    return opts


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
    from pathlib import Path

    path = Path(path)
    doc = load_toml(path)
    unknown = set(doc) - {"data", "stages", "theory", "simulate"}
    if unknown:
        raise _problem_error(path, f"unknown table(s) {_names(unknown)}; expected [data], [[stages]] and "
                                   "optionally [theory], [simulate]")
    data_rec, stages = doc.get("data"), doc.get("stages")
    if not isinstance(data_rec, dict) or not isinstance(stages, list) or not stages:
        raise _problem_error(path, "needs a [data] table and at least one [[stages]] entry")
    opts = solver_tables(path, doc)
    try:
        data = data_from_dict(data_rec)
        return ProblemFile(Problem(data, tuple(stages_from_records(stages))), opts["theory"], opts["simulate"])
    except (ValueError, TypeError) as exc:
        raise _problem_error(path, str(exc)) from None
    except RecursionError:
        raise _problem_error(path, "not usable: values nested too deeply") from None
