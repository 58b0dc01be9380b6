"""Parsing of value lists given as text (the CLIs' ``--values`` and ``--grid`` axes).

One syntax everywhere: ``"start:stop:n"`` (n values, linearly spaced), ``"start:stop:n:log"``
or ``"log:start:stop:n"`` (geometrically spaced), or a list ``"v1,v2,..."`` (commas or spaces;
an empty item, ``"1,,2"`` or ``"1,2,"``, is an error).
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["parse_values", "MAX_VALUES"]

#: Most values one list may hold (a typo such as ``0.5:5:100000000`` must not allocate gigabytes).
MAX_VALUES = 100_000

_HELP = "use 'start:stop:n', 'start:stop:n:log' (or 'log:start:stop:n') or 'v1,v2,...'"


def parse_values(spec: str, *, numeric: bool = True) -> list:
    """The values described by ``spec``; with ``numeric=False`` list items that are not numbers
    (e.g. ``"logistic,bayes-optimal"``) are kept as strings. ``ValueError`` on a bad spec."""
    s = str(spec).strip()
    parts = s.split(":")
    if len(parts) > 1:
        log = False
        if parts[0].strip().lower() == "log":
            log, parts = True, parts[1:]
        elif len(parts) == 4 and parts[3].strip().lower() in ("log", "lin"):
            log, parts = parts[3].strip().lower() == "log", parts[:3]
        if len(parts) != 3:
            raise ValueError(f"invalid values {spec!r}: {_HELP}")
        try:
            a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"invalid values {spec!r}: {_HELP}") from None
        if n < 1 or not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"invalid values {spec!r}: need finite bounds and n >= 1")
        if n > MAX_VALUES:
            raise ValueError(f"invalid values {spec!r}: {n} values, more than the limit of "
                             f"{MAX_VALUES} values in one list")
        if log and (a <= 0 or b <= 0):
            raise ValueError(f"invalid values {spec!r}: log spacing needs positive bounds")
        return [float(x) for x in (np.geomspace(a, b, n) if log else np.linspace(a, b, n))]
    out: list = []
    if len(s) > 64 * MAX_VALUES:
        raise ValueError(f"invalid values {s[:40]!r}...: a list longer than {64 * MAX_VALUES} "
                         "characters")
    if "," in s and any(not part.strip() for part in s.split(",")):
        raise ValueError(f"invalid values {s[:40]!r}: an empty item between commas ({_HELP})")
    for item in (v for v in re.split(r"[,\s]+", s) if v):
        if len(out) >= MAX_VALUES:
            raise ValueError(f"invalid values {s[:40]!r}...: more than the limit of {MAX_VALUES} "
                             "values in one list")
        try:
            x = float(item)
        except ValueError:
            if numeric:
                raise ValueError(f"invalid values {spec!r}: {item!r} is not a number ({_HELP})") from None
            out.append(item)
            continue
        if numeric and not math.isfinite(x):
            raise ValueError(f"invalid values {spec!r}: {item!r} is not finite")
        out.append(x)
    if not out:
        raise ValueError(f"invalid values {spec!r}: no values ({_HELP})")
    return out
