"""The backends a point can be evaluated with: ``theory``, ``simulate``, or a custom
``module:function`` with the signature of :func:`kdlab.theory.solve`, and their explicit
settings (part of every store key)."""

from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["BACKENDS", "is_custom", "load_custom", "backend_settings"]

BACKENDS = ("theory", "simulate")


def is_custom(backend) -> bool:
    return isinstance(backend, str) and ":" in backend


def load_custom(backend: str) -> Callable:
    """The function named by ``"module:function"`` (``ValueError`` if it cannot be imported)."""
    mod, _, name = backend.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import the backend {backend!r}: {exc}") from exc
    return fn


def backend_settings(backend: str, n_features, seeds, n_test, theory_options, optimize_options) -> dict:
    """The explicit settings of one backend (part of the cache key)."""
    if backend == "simulate":
        s = {"n_features": int(n_features), "seeds": [int(x) for x in seeds],
             "n_test": None if n_test is None else int(n_test)}
    elif backend == "theory" or is_custom(backend):
        s = {"options": dict(theory_options or {})}
    else:
        raise ValueError(f"backend must be 'theory', 'simulate', 'both' or 'module:function', got {backend!r}")
    if optimize_options:
        s["optimize_options"] = dict(optimize_options)
    return s
