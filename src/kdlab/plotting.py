"""kdlab's plotting style, shared by every figure it draws (the talk, the studies, the
digits experiment): a colour-blind safe palette (Okabe-Ito) and one set of rcParams."""

from __future__ import annotations

import math

__all__ = ["PALETTE", "BLACK", "GREY", "setup", "label_log_axes"]

# Okabe-Ito
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
BLACK, GREY = "#000000", "#777777"


def setup():
    """pyplot with kdlab's style (non-interactive backend)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 11, "legend.fontsize": 8.5,
        "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.grid": True, "grid.alpha": 0.3,
        "grid.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
        "savefig.dpi": 200, "figure.dpi": 100, "lines.linewidth": 1.8, "pdf.fonttype": 42,
        "mathtext.default": "regular",
    })
    return plt


def _plain(x: float, _pos=None) -> str:
    """A tick label: ``0.3``, ``2``, ``100``; powers of ten outside [1e-3, 1e4) as mathtext."""
    if x <= 0 or not math.isfinite(x):
        return ""
    if 1e-3 <= x < 1e4:
        return f"{x:g}"
    e = math.floor(math.log10(x) + 1e-9)
    m = x / 10 ** e
    return f"$10^{{{e}}}$" if abs(m - 1) < 1e-6 else f"${m:g}\\times10^{{{e}}}$"


def label_log_axes(fig) -> None:
    """Readable log axes: on every log-scaled axis of ``fig`` that still has matplotlib's
    default locator, label the powers of ten as plain numbers (``0.1``, ``1``, ``10``) and,
    when the axis spans few decades, the minor ticks between them too: ``2, 3, 5`` times a
    power of ten up to 2 decades, ``2, 5`` up to 3 decades (so an alpha axis from 0.1 to 10
    reads 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, not only 10^0 and 10^1). Axes with ticks set by
    hand are left alone."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax in fig.axes:
        for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()),
                                 (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
            if scale != "log" or not isinstance(axis.get_major_locator(), LogLocator):
                continue
            lo, hi = sorted(lim)
            if not (lo > 0 and math.isfinite(hi)):
                continue
            decades = math.log10(hi / lo)
            axis.set_major_locator(LogLocator(base=10.0, numticks=30))
            axis.set_major_formatter(FuncFormatter(_plain))
            subs = (2.0, 3.0, 5.0) if decades <= 2.05 else (2.0, 5.0) if decades <= 3.05 else None
            if subs is None:
                axis.set_minor_locator(LogLocator(base=10.0, subs=tuple(range(2, 10)), numticks=30))
                axis.set_minor_formatter(NullFormatter())
            else:
                axis.set_minor_locator(LogLocator(base=10.0, subs=subs, numticks=30))
                axis.set_minor_formatter(FuncFormatter(_plain))
