"""Repeated training over generations (``docs/model.md``, "Workflows"): the chains of the
model-collapse literature, built from :class:`~kdlab.stages.Learner` stages.

Generation 0 is a teacher trained on the real training set ``"train"`` (``alpha = data.alpha``,
observed labels). Generation ``t = 1..G``:

* :func:`replace` -- trains on a new synthetic set ``syn<t>`` of ``syn_alpha N`` inputs labelled
  by generation ``t - 1``;
* :func:`accumulate` -- trains on the real set with its labels plus every synthetic set made so
  far, ``syn<i>`` labelled once, by generation ``i - 1``, when it was made (``i <= t``);
* :func:`mix` -- trains on a new real set ``real<t>`` (``real_alpha N`` samples, own observed
  labels) plus a new synthetic set ``syn<t>`` labelled by generation ``t - 1``.

Synthetic labels are the source's soft outputs ``sigmoid(h / T)`` at ``temperature = T``, or its
hard labels ``sign(h)`` at ``T = 0``. Every function returns a :class:`~kdlab.problem.Problem`
(``G + 1`` stages) for either backend.
"""

from __future__ import annotations

from typing import Optional

from .data import GaussianMixture
from .errors import ParameterError
from .params import TEMPERATURE_MIN, WORKFLOW
from .problem import Problem
from .stages import Group, Learner, LogisticTeacher, from_stage

__all__ = ["replace", "accumulate", "mix", "WORKFLOWS", "WORKFLOW_PARAMS", "workflow"]

def _common(data, generations, syn_alpha, temperature, teacher, lam, **more):
    """Validated workflow parameters (:data:`kdlab.params.WORKFLOW`)."""
    if not isinstance(data, GaussianMixture):
        raise TypeError(f"data must be a GaussianMixture, got {type(data).__name__}")
    vals = {n: WORKFLOW[n].check(v, n) for n, v in dict(generations=generations, syn_alpha=syn_alpha,
                                                        temperature=temperature, lam=lam, **more).items()}
    if 0 < vals["temperature"] < TEMPERATURE_MIN:
        raise ParameterError(f"temperature must be 0 (hard labels) or in [{TEMPERATURE_MIN!r}, 10000.0], "
                             f"got {temperature!r}")
    vals["syn_alpha"] = data.alpha if vals["syn_alpha"] is None else vals["syn_alpha"]
    teacher = LogisticTeacher(lam=vals["lam"]) if teacher is None else teacher
    return vals, teacher


def _learner(groups, lam, eta):
    try:
        return Learner(lam=lam, eta=eta, groups=tuple(groups))
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def replace(data: GaussianMixture, generations: int, *, syn_alpha: Optional[float] = None,
            temperature: float = 0.0, lam: float = 0.1, eta: float = 1.0, teacher=None) -> Problem:
    """Generation ``t`` trains only on ``syn<t>`` (``syn_alpha N`` new inputs, default
    ``data.alpha``) labelled by generation ``t - 1`` at ``temperature`` (0: hard labels)."""
    v, teacher = _common(data, generations, syn_alpha, temperature, teacher, lam, eta=eta)
    stages = [teacher] + [_learner([Group(f"syn{t}", alpha=v["syn_alpha"], labels=from_stage(t - 1, v["temperature"]))],
                                   v["lam"], v["eta"]) for t in range(1, v["generations"] + 1)]
    return Problem(data, tuple(stages))


def accumulate(data: GaussianMixture, generations: int, *, syn_alpha: Optional[float] = None,
               temperature: float = 0.0, lam: float = 0.1, eta: float = 1.0, real_weight: float = 1.0,
               syn_weight: float = 1.0, teacher=None) -> Problem:
    """Generation ``t`` trains on the real set (its labels, weight ``real_weight``) and on
    ``syn1..syn<t>`` (weight ``syn_weight`` each), ``syn<i>`` labelled by generation ``i - 1``."""
    v, teacher = _common(data, generations, syn_alpha, temperature, teacher, lam, eta=eta, real_weight=real_weight,
                         syn_weight=syn_weight)
    stages = [teacher]
    for t in range(1, v["generations"] + 1):
        groups = [Group("train", weight=v["real_weight"])]
        groups += [Group(f"syn{i}", alpha=v["syn_alpha"], labels=from_stage(i - 1, v["temperature"]),
                         weight=v["syn_weight"]) for i in range(1, t + 1)]
        stages.append(_learner(groups, v["lam"], v["eta"]))
    return Problem(data, tuple(stages))


def mix(data: GaussianMixture, generations: int, *, syn_alpha: Optional[float] = None,
        real_alpha: Optional[float] = None, temperature: float = 0.0, lam: float = 0.1, eta: float = 1.0,
        real_weight: float = 1.0, syn_weight: float = 1.0, teacher=None) -> Problem:
    """Generation ``t`` trains on a new real set ``real<t>`` (``real_alpha N`` samples, default
    ``data.alpha``, own labels) and a new synthetic set ``syn<t>`` labelled by generation
    ``t - 1``."""
    v, teacher = _common(data, generations, syn_alpha, temperature, teacher, lam, eta=eta, real_alpha=real_alpha,
                         real_weight=real_weight, syn_weight=syn_weight)
    ra = data.alpha if v["real_alpha"] is None else v["real_alpha"]
    stages = [teacher]
    for t in range(1, v["generations"] + 1):
        groups = [Group(f"real{t}", alpha=ra, weight=v["real_weight"]),
                  Group(f"syn{t}", alpha=v["syn_alpha"], labels=from_stage(t - 1, v["temperature"]),
                        weight=v["syn_weight"])]
        stages.append(_learner(groups, v["lam"], v["eta"]))
    return Problem(data, tuple(stages))


#: The workflows by name (sweeps, problem files, the model-collapse study).
WORKFLOWS = {"replace": replace, "accumulate": accumulate, "mix": mix}


#: The parameters each workflow takes (besides ``generations`` and ``teacher``).
WORKFLOW_PARAMS = {"replace": ("syn_alpha", "temperature", "lam", "eta"),
                   "accumulate": ("syn_alpha", "temperature", "lam", "eta", "real_weight", "syn_weight"),
                   "mix": ("syn_alpha", "real_alpha", "temperature", "lam", "eta", "real_weight", "syn_weight")}


def workflow(name: str, data: GaussianMixture, generations: int, **params) -> Problem:
    """The workflow ``name`` (``replace``, ``accumulate``, ``mix``) with ``params``."""
    if name not in WORKFLOWS:
        raise ParameterError(f"workflow must be one of {', '.join(WORKFLOWS)}, got {name!r}")
    unknown = set(params) - set(WORKFLOW_PARAMS[name]) - {"teacher"}
    if unknown:
        raise ParameterError(f"the {name} workflow has no parameter {', '.join(sorted(unknown))} "
                             f"(its parameters: generations, {', '.join(WORKFLOW_PARAMS[name])}, teacher)")
    return WORKFLOWS[name](data, generations, **params)
