"""The vocabulary of every computed verdict (the talk's claims, the studies' findings):
:class:`Claim`, :class:`Finding`, and the small rules they use (fraction verdicts, combination,
ties, peaks, formatting)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

__all__ = ["SUPPORTED", "PARTLY", "CONTRADICTED", "MISSING", "TOL", "Claim", "Finding", "combine",
           "frac_verdict", "alpha_ranges", "md_table", "fmt", "fmt_g", "peaks", "Peak", "grid_gaps"]

SUPPORTED, PARTLY, CONTRADICTED, MISSING = "supported", "partly supported", "contradicted", "not computed"
#: Two theory errors closer than this are equal (ties): the solvers' tolerances are ~1e-10,
#: the optimized ridges' ~1e-7 in eps_g.
TOL = 1e-6


@dataclass
class Finding:
    """One sub-claim: its ``verdict`` on this grid, the ``text`` with the numbers and rule,
    ``over``: the parameters whose values the verdict quantifies over (``"alpha"`` stands for
    the alpha range ``alpha_min``..``alpha_max``, other names are series lists such as
    ``"lams"`` or ``"kd"``), ``more``: how more series can change the verdict (``"helps"``:
    only towards supported, e.g. "some curve has a peak" or "the best of the series beats X";
    ``"hurts"``: only towards contradicted, e.g. "every series stays above X"; ``""``: either
    way), and ``undecided``: why a smaller grid than the default cannot decide it (empty:
    decided)."""

    name: str
    verdict: str
    text: str
    over: tuple = ("alpha",)
    more: str = ""
    undecided: str = ""

    def decide(self, params: dict, defaults: Optional[dict]) -> str:
        """Set and return :attr:`undecided` for a run on ``params`` (default grid: ``defaults``):
        a narrower alpha range leaves the verdict undecided; missing series do too, unless
        they can only push the verdict where it already is."""
        alpha, series = grid_gaps(self.over, params, defaults)
        settled = (self.more == "helps" and self.verdict == SUPPORTED) or \
            (self.more == "hurts" and self.verdict == CONTRADICTED)
        self.undecided = "; ".join(alpha + ([] if settled else series))
        return self.undecided


@dataclass
class Claim:
    """A claim of the talk: ``title``, the talk's ``statement``, its ``figure``, the combined
    ``verdict``, the :class:`Finding` s, key ``numbers`` and a Markdown ``table``; ``number``
    is its place in the registry (set by :func:`kdlab.talk.report.evaluate_claims`)."""

    title: str
    statement: str
    figure: str
    number: int = 0
    verdict: str = MISSING
    findings: list = field(default_factory=list)   # Finding
    numbers: dict = field(default_factory=dict)    # machine-readable key numbers
    table: str = ""                                # Markdown table

    def add(self, name: str, verdict: str, text: str, over: Sequence[str] = ("alpha",), more: str = "") -> str:
        if more not in ("", "helps", "hurts"):
            raise ValueError(f"more must be '', 'helps' or 'hurts', got {more!r}")
        self.findings.append(Finding(name, verdict, text, tuple(over), more))
        return verdict

    @property
    def undecided(self) -> list:
        return [f for f in self.findings if f.undecided]


def combine(verdicts) -> str:
    v = [x for x in verdicts if x != MISSING]
    if not v:
        return MISSING
    if all(x == SUPPORTED for x in v):
        return SUPPORTED
    if all(x == CONTRADICTED for x in v):
        return CONTRADICTED
    return PARTLY


def frac_verdict(k: int, n: int) -> str:
    if n == 0:
        return MISSING
    return SUPPORTED if k == n else (CONTRADICTED if k == 0 else PARTLY)


# ----------------------------------------------------------------------------- peaks


@dataclass(frozen=True)
class Peak:
    alpha: float
    value: float
    prominence: float  # the smaller of the drops on its two sides


def peaks(alphas, err, min_prominence: float = 1e-3, window: float = 2.0) -> list[Peak]:
    """Interior peaks of ``err(alpha)``: strict local maxima that stand out on *both* sides.

    A candidate is a strict local maximum (:func:`scipy.signal.find_peaks`); its prominence is
    the smaller of the two drops from it to the lowest value within a factor ``window`` in
    alpha on each side (so a plateau that ends in a kink, flat on one side, is not a peak
    however far the curve falls on the other). Peaks with a prominence >= ``min_prominence``,
    highest first.
    """
    from scipy.signal import find_peaks

    a, e = np.asarray(alphas, float), np.asarray(err, float)
    idx, _ = find_peaks(e)
    out = []
    for i in idx:
        left = e[(a >= a[i] / window) & (a < a[i])]
        right = e[(a > a[i]) & (a <= a[i] * window)]
        if not left.size or not right.size:
            continue
        prom = float(min(e[i] - left.min(), e[i] - right.min()))
        if prom >= min_prominence:
            out.append(Peak(float(a[i]), float(e[i]), prom))
    return sorted(out, key=lambda p: -p.value)


# ----------------------------------------------------------------------------- formatting


def fmt(x, nd=4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    x = float(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        return f"{x:.3g}"
    return f"{x:.{nd}f}"


def fmt_g(x) -> str:
    return "n/a" if x is None else f"{float(x):.3g}"


def md_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def alpha_ranges(alphas, mask) -> str:
    """'0.3-1.2, 4-10' style description of where ``mask`` holds."""
    alphas, mask = list(alphas), list(mask)
    runs, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if (not m or i == len(alphas) - 1) and start is not None:
            end = i if m else i - 1
            runs.append(fmt_g(alphas[start]) if start == end else f"{fmt_g(alphas[start])}-{fmt_g(alphas[end])}")
            start = None
    return ", ".join(runs) if runs else "none"


def grid_gaps(over: Sequence[str], params: dict, defaults: Optional[dict]) -> tuple[list, list]:
    """What the grid ``params`` lacks of the default grid ``defaults`` among the parameters
    ``over``: ``(alpha, series)`` lists of one-line reasons (a narrower alpha range; series
    of the default grid left out). Both empty when the grid covers the default one."""
    alpha, series = [], []
    if not defaults:
        return alpha, series
    for k in over:
        if k == "alpha":
            lo, hi = params.get("alpha_min"), params.get("alpha_max")
            dlo, dhi = defaults.get("alpha_min"), defaults.get("alpha_max")
            if None not in (lo, hi, dlo, dhi) and (lo > dlo or hi < dhi):
                alpha.append(f"alpha in [{lo:g}, {hi:g}] instead of [{dlo:g}, {dhi:g}]")
            continue
        if k not in defaults or k not in params:
            continue
        have = [_hashable(v) for v in params[k]]
        missing = [v for v in (_hashable(v) for v in defaults[k]) if v not in have]
        if missing:
            series.append(f"{k} = {_show(params[k])} without {_show(missing)} of the default grid")
    return alpha, series


def _hashable(v):
    return tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else float(v)


def _show(vals) -> str:
    return "[" + ", ".join("(" + ", ".join(f"{x:g}" for x in v) + ")" if isinstance(v, (list, tuple))
                           else f"{v:g}" for v in vals) + "]"
