"""Memory needed by a simulation, and a check against what the machine has, before it starts.

One seed holds ``copies`` arrays of ``n_samples x n_features`` float64 (the training set, its
scaled copy and the test set, and while a stage is fitted the copy of the columns it trains on
and their squares, for the Newton solver's preconditioner); every worker process holds one seed
at a time.

>>> estimate_bytes(2000, 1000, n_jobs=2)
160000000
"""

from __future__ import annotations

import os
from typing import Optional

from ..errors import ResourceError

__all__ = ["estimate_bytes", "available_bytes", "check_memory", "format_bytes"]


def estimate_bytes(n_samples: int, n_features: int, n_jobs: int = 1, copies: int = 5) -> int:
    """Bytes of the ``copies`` float64 ``n_samples x n_features`` arrays one seed holds, times
    ``n_jobs`` worker processes."""
    return 8 * int(copies) * int(n_samples) * int(n_features) * max(1, int(n_jobs))


def available_bytes() -> Optional[int]:
    """Memory available to a new computation: psutil if installed, else ``MemAvailable`` of
    ``/proc/meminfo``, else ``os.sysconf`` (free physical pages); ``None`` if unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - not installed or not supported here
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(estimate: int, what: str = "the simulation") -> None:
    """:class:`~kdlab.errors.ResourceError` if ``estimate`` bytes exceed the available memory
    (the message names both); nothing if the available memory cannot be determined."""
    avail = available_bytes()
    if avail is not None and estimate > avail:
        raise ResourceError(f"{what} needs about {format_bytes(estimate)} of memory, more than the "
                            f"{format_bytes(avail)} available on this machine; use a smaller "
                            "n_features or alpha, or fewer worker processes (n_jobs)")
