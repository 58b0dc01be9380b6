"""Memory needed by a simulation, checked before anything is allocated."""

from __future__ import annotations

import os

from ..errors import ResourceError

__all__ = ["available_bytes", "check_memory"]


def available_bytes() -> int | None:
    """Memory available to new allocations (``MemAvailable`` of /proc/meminfo, else the
    physical memory), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(estimate: int, what: str) -> None:
    """:class:`ResourceError` if ``estimate`` bytes exceed the available memory."""
    avail = available_bytes()
    if avail is not None and estimate > avail:
        raise ResourceError(f"{what} needs about {estimate / 2**30:.1f} GiB of memory, more than the "
                            f"{avail / 2**30:.1f} GiB available: lower n_features, alpha or n_jobs")
