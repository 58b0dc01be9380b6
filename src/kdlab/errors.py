"""Every exception kdlab raises, in one place.

All derive from :class:`KdlabError`, so ``except kdlab.errors.KdlabError`` catches any of
them; each also derives from the built-in exception a caller would expect (an invalid
parameter is a ``ValueError``, a solver that stopped early a ``RuntimeError``).
"""

from __future__ import annotations

__all__ = ["KdlabError", "ParameterError", "NoMinimizerError", "ConvergenceError", "ProxError",
           "OptimizationError", "SweepError", "StoreError", "OutputError", "InputError", "ResourceError",
           "CancelledError"]


class KdlabError(Exception):
    """Base class of kdlab's exceptions."""


class ParameterError(KdlabError, ValueError):
    """An invalid parameter (the message names it and its allowed range)."""


class NoMinimizerError(KdlabError, ValueError):
    """The objective has no minimizer (e.g. ``lam = 0`` on linearly separable data)."""


class ConvergenceError(KdlabError, RuntimeError):
    """A solver stopped before reaching its tolerance (the message says where and why)."""


class ProxError(ConvergenceError):
    """A proximal operator did not reach its tolerance (reports the residual)."""


class OptimizationError(KdlabError, RuntimeError):
    """No evaluation of a hyper-parameter objective succeeded."""


class SweepError(KdlabError, RuntimeError):
    """Some points of a sweep failed; ``.failures`` lists ``(point, backend, message)`` and
    ``.table`` holds the rows that were computed (they are also in the store)."""

    def __init__(self, message: str, failures: list, table=None):
        super().__init__(message)
        self.failures = failures
        self.table = table


class CancelledError(KdlabError, RuntimeError):
    """A part of a run computed at once with others stopped because another part failed or
    was interrupted (:func:`kdlab.runs.context.as_done`); the other part's error is reported."""


class StoreError(KdlabError, OSError):
    """A result store cannot be read or written."""


class OutputError(KdlabError, OSError):
    """An output file or folder cannot be written (the message names the path)."""


class InputError(KdlabError, OSError):
    """An input file cannot be read safely: missing, not a regular file (a FIFO, a device, a
    folder, a symbolic link) or larger than its limit (the message names the path and why)."""


class ResourceError(KdlabError, RuntimeError):
    """A run would need more memory (or other resources) than the machine has."""
