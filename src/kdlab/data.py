"""The data models (``docs/model.md``).

* :class:`GaussianMixture`, the two-cluster Gaussian mixture ``x = y v / sqrt(N) + sqrt(delta) z``
  with ``P(y = +1) = rho`` and training labels flipped with probability ``label_noise``
  (the *binary* family of stages);
* :class:`MulticlassMixture`, K classes ``x = mu_c / sqrt(N) + sqrt(delta) z`` with prior
  ``prior`` and class means of Gram matrix ``gram[c][c'] = mu_c . mu_c' / N``; a training label
  is replaced with probability ``label_noise`` by one of the other ``K - 1`` classes, drawn
  uniformly (the *multiclass* family: every stage has K outputs).

``family`` names the stage family a data model selects in both backends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .errors import ParameterError
from .params import DATA, GEOMETRY, MULTICLASS_DATA, Declared, show
from .params import declared_default as _default

__all__ = ["GaussianMixture", "MulticlassMixture", "named_gram", "DATA_KINDS", "data_kind_of"]


@dataclass(frozen=True)
class GaussianMixture(Declared):
    """Two-cluster Gaussian mixture ``x = y v / sqrt(N) + sqrt(delta) z``.

    ``alpha = M / N`` samples per dimension, ``delta`` the noise variance, ``rho = P(y = +1)``
    and ``label_noise`` the probability that a training label is flipped (the input is always
    drawn from the true class).
    """

    PARAMS: ClassVar = DATA
    family: ClassVar[str] = "binary"
    kind: ClassVar[str] = "gaussian-mixture"

    alpha: float = _default(DATA, "alpha")
    delta: float = _default(DATA, "delta")
    rho: float = _default(DATA, "rho")
    label_noise: float = _default(DATA, "label_noise")

    n_classes: ClassVar[int] = 2

    @property
    def prior_bias(self) -> float:
        """``log(rho / (1 - rho))``, the Bayes-optimal bias."""
        return math.log(self.rho) - math.log1p(-self.rho)


def named_gram(geometry: str = "equal", classes: int = 3, similarity: float = 0.0, norm: float = 1.0) -> list:
    """The Gram matrix of a named geometry of ``classes`` means of squared norm ``norm``:
    ``"equal"``, every pair overlaps by ``similarity`` (``gram = norm ((1 - s) I + s 11^T)``,
    positive semi-definite for ``s >= -1 / (K - 1)``); ``"pair"``, classes 0 and 1 overlap by
    ``s``, the others are orthogonal to every other mean."""
    g = GEOMETRY["geometry"].check(geometry)
    K = GEOMETRY["classes"].check(classes)
    s = GEOMETRY["similarity"].check(similarity)
    r = GEOMETRY["norm"].check(norm)
    G = np.eye(K)
    if g == "equal":
        if s < -1.0 / (K - 1) - 1e-12:
            raise ParameterError(f"similarity must be >= -1/(K - 1) = {-1.0 / (K - 1):.4g} for the equal geometry "
                                 f"of K = {K} classes, got {s!r}")
        G = (1 - s) * np.eye(K) + s * np.ones((K, K))
    else:
        G[0, 1] = G[1, 0] = s
    return (r * G).tolist()


def _as_prior(prior) -> tuple:
    try:
        p = np.asarray(prior, float)
    except (TypeError, ValueError):
        raise ParameterError(f"prior must be a list of K >= 2 positive numbers summing to 1, "
                             f"got {show(prior)}") from None
    if p.ndim != 1 or p.size < 2 or p.size > 50 or not np.all(np.isfinite(p)):
        raise ParameterError(f"prior must be a list of K >= 2 (at most 50) finite numbers, got {show(prior)}")
    if np.any(p < 1e-6):
        raise ParameterError(f"prior must be positive (each at least 1e-06), got {show(prior)}")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ParameterError(f"prior must sum to 1, got {show(prior)} (sum {p.sum()!r})")
    return tuple(float(v) for v in p / p.sum())


def _as_gram(gram, K: int) -> tuple:
    try:
        G = np.asarray(gram, float)
    except (TypeError, ValueError):
        raise ParameterError(f"gram must be a K x K matrix of numbers, got {show(gram)}") from None
    if G.shape != (K, K) or not np.all(np.isfinite(G)):
        raise ParameterError(f"gram must be a finite {K} x {K} matrix (K = len(prior)), got shape {G.shape}")
    if np.max(np.abs(G - G.T)) > 1e-9 * max(1.0, np.max(np.abs(G))):
        raise ParameterError("gram must be symmetric (gram[c][c'] = mu_c . mu_c' / N)")
    if np.max(np.abs(G)) > 1e6:
        raise ParameterError("gram entries must be at most 1e6 in absolute value")
    ev = np.linalg.eigvalsh(G)
    if ev[0] < -1e-9 * max(1.0, ev[-1]):
        raise ParameterError(f"gram must be positive semi-definite (smallest eigenvalue {ev[0]:.3g})")
    if ev[-1] <= 0:
        raise ParameterError("gram must not be zero (the classes would have the same mean)")
    G = 0.5 * (G + G.T)
    return tuple(tuple(float(v) for v in row) for row in G)


@dataclass(frozen=True)
class MulticlassMixture(Declared):
    """K-class Gaussian mixture ``x = mu_c / sqrt(N) + sqrt(delta) z``, ``P(c) = prior[c]``.

    ``gram[c][c'] = mu_c . mu_c' / N`` (symmetric positive semi-definite, the only property
    of the means the N -> infinity theory needs); a training label is replaced, with
    probability ``label_noise``, by one of the other ``K - 1`` classes drawn uniformly (the
    input stays from the true class). ``K = 2`` with ``gram = [[1, -1], [-1, 1]]`` and
    ``prior = (rho, 1 - rho)`` is :class:`GaussianMixture`.
    """

    PARAMS: ClassVar = MULTICLASS_DATA
    family: ClassVar[str] = "multiclass"
    kind: ClassVar[str] = "multiclass-mixture"

    alpha: float = _default(MULTICLASS_DATA, "alpha")
    delta: float = _default(MULTICLASS_DATA, "delta")
    prior: tuple = (0.5, 0.3, 0.2)
    gram: tuple = field(default=((1.0, 0.6, 0.0), (0.6, 1.0, 0.0), (0.0, 0.0, 1.0)))
    label_noise: float = _default(MULTICLASS_DATA, "label_noise")

    def __post_init__(self):
        super().__post_init__()
        prior = _as_prior(self.prior)
        object.__setattr__(self, "prior", prior)
        object.__setattr__(self, "gram", _as_gram(self.gram, len(prior)))
        K = len(prior)
        if self.label_noise >= (K - 1) / K:
            raise ParameterError(f"label_noise must be below (K - 1) / K = {(K - 1) / K:.4g} (above it the "
                                 f"labels carry no information), got {self.label_noise!r}")

    @classmethod
    def from_geometry(cls, geometry: str = "equal", classes: int = 3, similarity: float = 0.0, norm: float = 1.0,
                      prior=None, **params) -> "MulticlassMixture":
        """The mixture whose means have the named geometry (:func:`named_gram`), with a balanced
        prior unless ``prior`` is given."""
        K = GEOMETRY["classes"].check(classes)
        prior = [1.0 / K] * K if prior is None else prior
        return cls(prior=prior, gram=named_gram(geometry, K, similarity, norm), **params)

    @property
    def n_classes(self) -> int:
        return len(self.prior)

    @property
    def prior_array(self) -> np.ndarray:
        return np.array(self.prior)

    @property
    def gram_array(self) -> np.ndarray:
        return np.array(self.gram)

    @property
    def noise_matrix(self) -> np.ndarray:
        """``P(observed = c' | true = c)``: ``1 - theta`` on the diagonal, ``theta / (K - 1)`` elsewhere."""
        K = self.n_classes
        off = self.label_noise / (K - 1)
        return np.full((K, K), off) + (1.0 - self.label_noise - off) * np.eye(K)

    def replace(self, **changes):
        d = {"alpha": self.alpha, "delta": self.delta, "prior": self.prior, "gram": self.gram,
             "label_noise": self.label_noise}
        unknown = set(changes) - set(d)
        if unknown:
            raise ParameterError(f"unknown parameter(s) for MulticlassMixture: {sorted(unknown)}")
        d.update(changes)
        return type(self)(**d)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "alpha": self.alpha, "delta": self.delta, "label_noise": self.label_noise,
                "prior": list(self.prior), "gram": [list(r) for r in self.gram]}

    @classmethod
    def from_dict(cls, d) -> "MulticlassMixture":
        """From a ``[data]`` table: ``prior`` and ``gram``, or a named geometry (``geometry``,
        ``classes``, ``similarity``, ``norm``; ``prior`` optional)."""
        d = dict(d)
        d.pop("kind", None)
        geo = {k: d.pop(k) for k in list(d) if k in GEOMETRY}
        known = set(MULTICLASS_DATA) | {"prior", "gram"}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"unknown data parameter(s) {sorted(unknown)}; known: {', '.join(sorted(known))}, "
                                 f"or a named geometry: {', '.join(GEOMETRY)}")
        if geo:
            if "gram" in d:
                raise ParameterError("give either gram or a named geometry (geometry, classes, similarity), not both")
            return cls.from_geometry(**geo, **d)
        return cls(**d)


#: Data models by name (problem files: ``[data] kind = ...``).
DATA_KINDS: dict[str, type] = {GaussianMixture.kind: GaussianMixture, MulticlassMixture.kind: MulticlassMixture}


def data_kind_of(d) -> type:
    """The data class of a ``[data]`` table (``kind``, default the Gaussian mixture; ``prior``,
    ``gram`` or ``geometry`` alone also select the K-class model)."""
    kind = d.get("kind")
    if kind is None:
        multi = any(k in d for k in ("prior", "gram", "geometry", "classes", "similarity"))
        return MulticlassMixture if multi else GaussianMixture
    if kind not in DATA_KINDS:
        raise ParameterError(f"data kind must be one of {', '.join(DATA_KINDS)}, got {show(kind)}")
    return DATA_KINDS[kind]
