"""Every parameter of a problem, declared once: name, type, range, default and help.

The problem dataclasses (:mod:`kdlab.problem`) validate through these declarations, the
sweep schema and the flat result records take their names and defaults from them, and the
command line builds its options and help texts from them. A parameter therefore has the
same default, range and meaning everywhere.

>>> from kdlab.params import DATA
>>> DATA["rho"].default, DATA["rho"].range_text
(0.3, '(0.0, 1.0)')
"""

from __future__ import annotations

import math
import numbers
import reprlib
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping, Optional

from .errors import ParameterError

__all__ = ["Param", "Declared", "declared_default", "DATA", "MULTICLASS_DATA", "GEOMETRY", "TARGETS",
           "LOGISTIC_TEACHER", "BAYES_TEACHER", "STUDENT", "FRESH",
           "LEARNER", "GROUP", "FROM_STAGE", "WORKFLOW", "THEORY_OPTIONS",
           "SIMULATION_OPTIONS", "RUN_OPTIONS", "check_options", "check_real", "check_int", "check_bool", "show",
           "TEMPERATURE_MIN"]


def _fmt(x: float) -> str:
    return "inf" if x == math.inf else ("-inf" if x == -math.inf else repr(float(x)))


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 2, 6, 6, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


def show(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for an error message: at most ``limit`` characters, whatever its size
    (a 2-million-element list is shown as ``[1, 2, 3, 4, 5, 6, ...]``)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails is shown by its type
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = True, high_open: bool = True) -> float:
    """``float(value)`` or ``ValueError`` naming ``name`` and the allowed range.

    Rejects booleans, strings and other non-numbers, NaN and infinities; an integer too large
    for a float is rejected by name too.
    """
    lo_s = "-inf" if low is None else _fmt(low)
    hi_s = "inf" if high is None else _fmt(high)
    rng = f"{'(' if low_open else '['}{lo_s}, {hi_s}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a real number in {rng}, got {show(value)}")
    try:
        x = float(value)
    except OverflowError:
        raise ParameterError(f"{name} must be a finite number in {rng}, got a number too large") from None
    if not math.isfinite(x):
        raise ParameterError(f"{name} must be a finite number in {rng}, got {show(value)}")
    if low is not None and (x <= low if low_open else x < low):
        raise ParameterError(f"{name} must be in {rng}, got {show(value)}")
    if high is not None and (x >= high if high_open else x > high):
        raise ParameterError(f"{name} must be in {rng}, got {show(value)}")
    return x


def check_int(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    """``int(value)`` or ``ValueError`` unless an integer in ``[low, high]`` (2.0 is 2; 2.7 is an error)."""
    rng = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{name} must be an integer {rng}, got {show(value)}")
    if int(value) < low or (high is not None and int(value) > high):
        raise ParameterError(f"{name} must be an integer {rng}, got {show(value)}")
    return int(value)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def check_bool(name: str, value: Any, *, lenient: bool = False) -> bool:
    """``True`` / ``False``; with ``lenient`` (grids, files, the command line) also 0 / 1 and
    the strings true, false, yes, no, on, off, 1, 0."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":  # numpy.bool_
        return bool(value)
    if not lenient:
        raise ParameterError(f"{name} must be a bool, got {show(value)}")
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ParameterError(f"{name} must be true or false, got {show(value)}")


@dataclass(frozen=True)
class Param:
    """One declared parameter or solver option.

    ``type`` is ``float``, ``int``, ``bool`` or ``str``. A number has a range ``low .. high``
    with open or closed ends (``also``: values allowed outside it, e.g. ``n_jobs = -1``); a
    string has its ``choices``; ``optional``: ``None`` is allowed (it means "the default
    behaviour", e.g. ``n_test = None``: as many test samples as training samples). ``symbol``
    is the name used in the equations (docs, figure labels).
    """

    name: str
    type: type
    default: Any
    help: str
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = True
    high_open: bool = True
    symbol: str = ""
    choices: tuple = ()
    optional: bool = False
    also: tuple = ()
    numeric: bool = False  # a ``str`` parameter that also takes a number in [low, high]

    @property
    def range_text(self) -> str:
        if self.type is bool:
            return "true or false"
        if self.type is str:
            text = "one of " + ", ".join(self.choices)
            if self.numeric:
                text += f" or a number in [{_fmt(self.low)}, {_fmt(self.high)}]"
            return text
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        if self.type is int:
            lo = lo if self.low is None else str(int(self.low))
            hi = hi if self.high is None else str(int(self.high))
            text = f"an integer in [{lo}, {hi}]" if self.high is not None else f"an integer >= {lo}"
        else:
            text = f"{'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
        if self.also:
            text += " or " + ", ".join(str(a) for a in self.also)
        return text

    def check(self, value: Any, label: str | None = None) -> Any:
        """The validated value; ``ValueError`` naming ``label`` (default: the name) and the range."""
        label = label or self.name
        if value is None and self.optional:
            return None
        if self.type is bool:
            return check_bool(label, value)
        if self.type is str:
            if self.numeric and isinstance(value, str) and value not in self.choices:
                try:  # a number given as text (the command line)
                    value = float(value)
                except ValueError:
                    pass
            if self.numeric and isinstance(value, numbers.Real) and not isinstance(value, bool):
                try:
                    return check_real(label, value, low=self.low, high=self.high, low_open=False, high_open=False)
                except ParameterError:
                    raise ParameterError(f"{label} must be {self.range_text}, got {value!r}") from None
            if not isinstance(value, str) or value not in self.choices:
                shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
                raise ParameterError(f"{label} must be {self.range_text}, got {shown}")
            return value
        if self.type is int:
            if value in self.also and not isinstance(value, bool):
                return int(value)
            try:
                return check_int(label, value, low=int(self.low), high=None if self.high is None else int(self.high))
            except ParameterError:
                if self.also:
                    raise ParameterError(f"{label} must be {self.range_text}, got {value!r}") from None
                raise
        return check_real(label, value, low=self.low, high=self.high, low_open=self.low_open,
                          high_open=self.high_open)

    @property
    def help_text(self) -> str:
        """Help with the range and default, for the command line."""
        return f"{self.help} Range {self.range_text}; default {self.default}."


def _params(*ps: Param) -> Mapping[str, Param]:
    return {p.name: p for p in ps}


# Ranges: wide enough for any study, narrow enough that no formula overflows or underflows
# (a subnormal alpha or eta, a temperature of 1e-300, a ridge of 1e300 are rejected by name).
_TINY = 1e-6
_POSITIVE = dict(low=_TINY, high=1e6, low_open=False, high_open=False)
_ALPHA = dict(low=_TINY, high=1e9, low_open=False, high_open=False)
_FRACTION = dict(low=_TINY, high=1.0, low_open=False, high_open=False)
_RIDGE = dict(low=0.0, high=1e8, low_open=False, high_open=False)
#: Smallest positive KD temperature (``temperature = 0`` means hard labels).
TEMPERATURE_MIN = 1e-3

#: The data model (:class:`kdlab.problem.GaussianMixture`).
DATA = _params(
    Param("alpha", float, 2.0, "Samples per dimension M / N.", **_ALPHA, symbol="alpha"),
    Param("delta", float, 1.0, "Noise variance Delta of the inputs.", **_POSITIVE, symbol="Delta"),
    Param("rho", float, 0.3, "Class balance P(y = +1).", low=_TINY, high=1.0 - _TINY, low_open=False,
          high_open=False, symbol="rho"),
    Param("label_noise", float, 0.0, "Probability that a training label is flipped.",
          low=0.0, high=0.5, low_open=False, symbol="theta"),
)

#: The K-class data model (:class:`kdlab.data.MulticlassMixture`); its ``prior`` (K numbers) and
#: ``gram`` (K x K) are arrays, validated by the class itself.
MULTICLASS_DATA = _params(
    DATA["alpha"],
    DATA["delta"],
    Param("label_noise", float, 0.0, "Probability that a training label is replaced by one of the other "
          "K - 1 classes, drawn uniformly (K = 2: a flip).", low=0.0, high=0.9, low_open=False,
          high_open=False, symbol="theta"),
)

#: A named geometry of K class means (:func:`kdlab.data.named_gram`).
GEOMETRY = _params(
    Param("geometry", str, "equal", "Named geometry of the class means: equal (every pair overlaps by s), "
          "pair (classes 0 and 1 overlap by s, the others are orthogonal).", choices=("equal", "pair")),
    Param("classes", int, 3, "Number of classes K.", low=2, high=50, symbol="K"),
    Param("similarity", float, 0.0, "Overlap s = mu_c . mu_c' / |mu|^2 of the named pairs of class means.",
          low=-1.0, high=0.99, low_open=False, high_open=False, symbol="s"),
    Param("norm", float, 1.0, "Squared norm |mu_c|^2 / N of every class mean.", **dict(low=1e-6, high=1e6,
          low_open=False, high_open=False)),
)

_ETA_HELP = "Fraction of the coordinates this model trains (the others stay 0)."

_CLASS_WEIGHT = Param("class_weight", float, 1.0, "Weight of the samples labelled +1 relative to those "
                      "labelled -1 in the label term of the loss (1: unweighted).", low=1e-6, high=1e6,
                      low_open=False, high_open=False, symbol="w_+")
_BIAS_HELP = ("The bias: free (trained, not regularized), prior (fixed at the prior log-odds "
              "log(rho / (1 - rho))), a number (fixed there)")

#: The logistic teacher (:class:`kdlab.problem.LogisticTeacher`).
LOGISTIC_TEACHER = _params(
    Param("lam", float, 0.1, "Teacher's ridge lam_t.", **_RIDGE, symbol="lambda_t"),
    Param("eta", float, 1.0, _ETA_HELP, **_FRACTION, symbol="eta_t"),
    Param("bias", str, "free", _BIAS_HELP + ".", choices=("free", "prior"), numeric=True, low=-100.0,
          high=100.0, symbol="b"),
    _CLASS_WEIGHT,
)

#: The Bayes-optimal teacher (:class:`kdlab.problem.BayesOptimalTeacher`).
BAYES_TEACHER = _params(
    Param("eta", float, 1.0, _ETA_HELP, **_FRACTION, symbol="eta_t"),
)

#: A knowledge-distillation student (:class:`kdlab.problem.Student`). ``chi`` above 1 is
#: allowed at ``temperature = 1`` only (checked by the student itself).
STUDENT = _params(
    Param("eta", float, 0.5, _ETA_HELP, **_FRACTION, symbol="eta"),
    Param("chi", float, 0.5, "KD mixing parameter: weight of the teacher's soft labels "
          "(above 1 only at temperature 1).", low=0.0, high=10.0, low_open=False, high_open=False,
          symbol="chi"),
    Param("temperature", float, 1.0, "KD temperature T (0: hard labels, the sign of the teacher; "
          f"else at least {TEMPERATURE_MIN:g}).", low=0.0, high=1e4, low_open=False, high_open=False,
          symbol="T"),
    Param("lam", float, 0.1, "Student's ridge lam.", **_RIDGE, symbol="lambda"),
    Param("t2_scaling", bool, False, "Multiply the KD term by T^2 (Hinton's convention)."),
    Param("target", str, "soft", "The KD term's target, built from the parent's output: soft (its "
          "probabilities at T), hard (its top class: T = 0), top (its top class's probability at T, the rest "
          "spread uniformly over the other K - 1 classes; K = 2: soft), smooth (label smoothing: 1 - eps on "
          "the observed label, eps / (K - 1) elsewhere; no parent).", choices=("soft", "hard", "top", "smooth")),
    Param("smoothing", float, 0.1, "Label smoothing eps of target = smooth.", low=0.0, high=0.99,
          low_open=False, high_open=False, symbol="epsilon"),
    Param("bias", str, "free", _BIAS_HELP + ", or parent (fixed at its parent's fitted bias).",
          choices=("free", "prior", "parent"), numeric=True, low=-100.0, high=100.0, symbol="b"),
    _CLASS_WEIGHT,
)

#: The student's targets (:data:`STUDENT` ``target``).
TARGETS = STUDENT["target"].choices

#: A learner trained on a list of sample groups (:class:`kdlab.stages.Learner`).
LEARNER = _params(
    Param("eta", float, 1.0, _ETA_HELP, **_FRACTION, symbol="eta"),
    Param("lam", float, 0.1, "The learner's ridge lam.", **_RIDGE, symbol="lambda"),
    Param("bias", str, "free", _BIAS_HELP + ", or parent (fixed at the fitted bias of its first label "
          "source).", choices=("free", "prior", "parent"), numeric=True, low=-100.0, high=100.0, symbol="b"),
    _CLASS_WEIGHT,
)

#: One sample group of a learner (:class:`kdlab.stages.Group`).
GROUP = _params(
    Param("weight", float, 1.0, "Weight of the group's per-sample losses in the learner's objective.",
          low=0.0, high=1e6, low_open=False, high_open=False, symbol="w"),
    Param("alpha", float, None, "Samples per dimension of a new named set (given where the set is first "
          "named; 'train' is the data's set).", **_ALPHA, optional=True, symbol="alpha"),
)

#: Labels taken from an earlier stage (:func:`kdlab.stages.from_stage`).
FROM_STAGE = _params(
    Param("temperature", float, 1.0, "Temperature T of the source's soft labels sigmoid(h_j / T) "
          f"(0: hard labels sign(h_j); else at least {TEMPERATURE_MIN:g}).", low=0.0, high=1e4,
          low_open=False, high_open=False, symbol="T"),
    Param("t2_scaling", bool, False, "Multiply the group's term by T^2 (Hinton's convention)."),
)

#: The parameters of a workflow over generations (:mod:`kdlab.workflows`).
WORKFLOW = _params(
    Param("generations", int, 5, "Generations G after the teacher (generation 0).", low=1, high=200),
    Param("syn_alpha", float, None, "Size alpha of each synthetic set (default: the data's alpha).", **_ALPHA,
          optional=True, symbol="alpha_syn"),
    Param("real_alpha", float, None, "mix: size alpha of each generation's new real set (default: the data's "
          "alpha).", **_ALPHA, optional=True, symbol="alpha_real"),
    Param("temperature", float, 0.0, "Temperature T of the synthetic labels sigmoid(h / T) (0: hard labels "
          f"sign(h); else at least {TEMPERATURE_MIN:g}).", low=0.0, high=1e4, low_open=False, high_open=False,
          symbol="T"),
    Param("lam", float, 0.1, "Ridge of every generation t >= 1.", **_RIDGE, symbol="lambda"),
    Param("eta", float, 1.0, _ETA_HELP, **_FRACTION, symbol="eta"),
    Param("real_weight", float, 1.0, "accumulate, mix: weight of the real samples' losses.", low=0.0, high=1e6,
          low_open=False, high_open=False),
    Param("syn_weight", float, 1.0, "accumulate, mix: weight of the synthetic samples' losses.", low=0.0,
          high=1e6, low_open=False, high_open=False),
)

#: A fresh training set for one stage (:class:`kdlab.problem.Fresh`).
FRESH = _params(
    Param("alpha", float, 2.0, "Samples per dimension of the stage's own training set.", **_ALPHA,
          symbol="alpha"),
)


#: Options of the theory backend (:func:`kdlab.theory.solve`, ``kdlab theory``, the ``[theory]``
#: table of a problem file, a sweep's ``theory_options``).
THEORY_OPTIONS = _params(
    Param("tol", float, 1e-10, "Relative fixed-point residual max |G(x) - x| / (1 + |x|) to reach.",
          low=0.0, high=1.0),
    Param("maxiter", int, 1000, "Map evaluations allowed per stage.", low=1, high=10**6),
    Param("method", str, "anderson", "Fixed-point solver: Anderson acceleration with a damped fallback, "
          "or plain damped iteration.", choices=("anderson", "damped")),
    Param("quad_tol", float, 1e-6, "Refine each quadrature rule until its half-rule difference is below this.",
          low=0.0, high=0.1, high_open=False),
    Param("qmc_tol", float, 1e-4, "Sets of more than 4 members (RQMC): double the points until the "
          "replicates' relative standard error is below this.", low=0.0, high=0.1, high_open=False),
    Param("train_error", bool, True, "Compute the training error and loss (K classes: an RQMC integral at "
          "the fixed point, a large share of a solve); false: both NaN, and the status says so (the "
          "searches' intermediate solves, which read only gen_error)."),
)

#: Options of the simulation backend (:func:`kdlab.simulate`, ``kdlab simulate``, the
#: ``[simulate]`` table of a problem file, a sweep's simulation settings).
SIMULATION_OPTIONS = _params(
    Param("n_features", int, 1000, "Dimension N of the simulated problem.", low=2, high=10**7),
    Param("seeds", int, 10, "Number of seeds 0..K-1 (a list of distinct seeds in Python and files).",
          low=1, high=10**6),
    Param("n_test", int, None, "Fresh test samples per seed (default: as many as training samples; "
          "0: none, gen_error_test is NaN and gen_error stays exact).",
          low=0, high=10**9, optional=True),
    # 1e-7: the fits' error is far below the statistics' precision (the largest move of an
    # observable against fits to 1e-12, over the talk's hardest points, is 7.2e-4 of its standard
    # error; tests/test_simulate.py::test_fit_tolerance_moves_observables_far_below_their_stderr)
    Param("tol", float, 1e-7, "Relative gradient norm at which each fit stops.", low=0.0, high=1.0),
)

#: Options of how a computation runs (every command that computes several points).
RUN_OPTIONS = _params(
    Param("n_jobs", int, -1, "Worker processes or threads (-1: all cores; 1: in this process).", low=1, also=(-1,)),
)


def check_options(decl: Mapping[str, Param], options: Mapping[str, Any], what: str) -> dict:
    """``options`` validated against the declarations ``decl`` (unknown names are an error naming
    ``what`` and the known options); the declared defaults fill what is not given."""
    unknown = sorted(set(options) - set(decl))
    if unknown:
        raise ParameterError(f"unknown {what} option(s) {unknown}; known: {', '.join(decl)}")
    out = {n: p.default for n, p in decl.items()}
    out.update({n: decl[n].check(v) for n, v in options.items()})
    return out


class Declared:
    """Base of the frozen dataclasses whose fields are declared parameters: each field is
    validated by its :class:`Param` on construction (the error names ``LABEL`` + the name)."""

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


def declared_default(params, name):
    return field(default=params[name].default)
