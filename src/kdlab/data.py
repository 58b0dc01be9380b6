"""The data models (``docs/model.md``): :class:`GaussianMixture`, the two-cluster Gaussian
mixture ``x = y v / sqrt(N) + sqrt(Delta) z`` with ``P(y = +1) = rho`` and training labels
flipped with probability ``label_noise``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .params import DATA, Declared
from .params import declared_default as _default

__all__ = ["GaussianMixture", "DATA_KINDS"]


@dataclass(frozen=True)
class GaussianMixture(Declared):
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


#: Data models by name (problem files).
DATA_KINDS: dict[str, type] = {"gaussian-mixture": GaussianMixture}
