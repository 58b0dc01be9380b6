"""kdlab's plotting, shared by every figure it draws (the talk, the studies, the digits
experiment): a colour-blind safe palette (Okabe-Ito), one set of rcParams, theory as lines,
simulation as markers with standard-error bars, readable log axes, a footer saying what is
drawn, and figure files written atomically."""

from __future__ import annotations

import math
import textwrap

import numpy as np

__all__ = ["PALETTE", "BLACK", "GREY", "setup", "label_log_axes", "tex", "theory_line", "sim_points", "jit",
           "footer", "legend", "ylim_with_errorbars", "save_figure"]

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


def _num(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    if x == 0:
        return "0"
    if 1e-2 <= abs(x) < 1e3:
        return f"{x:g}"
    e = int(math.floor(math.log10(abs(x))))
    m = x / 10 ** e
    return f"10^{{{e}}}" if abs(m - 1) < 1e-9 else f"{m:g}e{e}"


def tex(x) -> str:
    """``x`` for a label: powers of ten as mathtext."""
    s = _num(x)
    return f"${s}$" if "^" in s else s


def theory_line(ax, df, y, color, label=None, ls="-", lw=None, x="alpha", zorder=2):
    d = df.sort_values(x)
    if "status_converged" in d:  # never draw a point the solver did not converge at
        d = d[d["status_converged"].astype(bool)]
    ax.plot(d[x], d[y], ls=ls, color=color, label=label, lw=lw, zorder=zorder)


def sim_points(ax, df, y, color, marker="o", label=None, x="alpha", jitter=1.0, err=None):
    """Simulation means with standard-error bars (``err``: their column, default ``y_stderr``);
    ``jitter`` multiplies x (log axes) so that markers of several series at one alpha stay
    readable."""
    if df is None or df.empty:
        return
    d = df.sort_values(x)
    e = d.get(err or f"{y}_stderr")
    ax.errorbar(d[x] * jitter, d[y], yerr=None if e is None else e.to_numpy(), fmt=marker, ms=4.5,
                mfc="white", mec=color, ecolor=color, elinewidth=1.1, capsize=2.5, mew=1.3,
                color=color, ls="none", label=label, zorder=4)


def ylim_with_errorbars(ax, frames, y, err, pad=0.05, log=False):
    """Widen the y-limits of ``ax`` so that every error bar ``y +- err`` of ``frames`` fits
    (on a log axis: their positive part)."""
    lo, hi = ax.get_ylim()
    vals = []
    for d in frames:
        if d is None or d.empty:
            continue
        e = d[err].fillna(0).to_numpy(float) if err in d else np.zeros(len(d))
        vals += list(d[y].to_numpy(float) - e) + list(d[y].to_numpy(float) + e)
    vals = [v for v in vals if np.isfinite(v) and (v > 0 or not log)]
    if not vals:
        return
    vlo, vhi = min(vals), max(vals)
    if log:
        lo, hi = min(lo, vlo / (1 + pad)), max(hi, vhi * (1 + pad))
    else:
        span = max(hi, vhi) - min(lo, vlo)
        lo, hi = min(lo, vlo - pad * span), max(hi, vhi + pad * span)
    ax.set_ylim(lo, hi)


def jit(i: int, n: int, width: float = 0.05) -> float:
    """Multiplicative x offset of series ``i`` of ``n`` (total spread ``width`` in log10 units)."""
    if n <= 1:
        return 1.0
    return 10 ** (width * (i / (n - 1) - 0.5))


def footer(fig, p, extra=""):
    """The figure's footnote: what the lines and markers are (``p["seeds"]``: a count or a list)."""
    n_seeds = p["seeds"] if isinstance(p.get("seeds"), int) else len(p.get("seeds") or ())
    sim = (f"markers: simulation, N = {p['n_features']}, {n_seeds} seeds, mean $\\pm$ 1 s.e"
           if p.get("simulate", True) else "no simulation")
    text = f"lines: theory (N$\\to\\infty$); {sim}. {extra}".strip()
    width = int(fig.get_figwidth() * 17)  # characters per line at 7.5 pt
    fig.text(0.01, 0.005, "\n".join(textwrap.wrap(text, width)), fontsize=7.5, color="#444444", ha="left",
             va="bottom")


def legend(ax, loc="upper right", ncol=1, title=None):
    """A legend without duplicate or private labels."""
    h, lab = ax.get_legend_handles_labels()
    seen, hh, ll = set(), [], []
    for a, b in zip(h, lab):
        if b and not b.startswith("_") and b not in seen:
            seen.add(b)
            hh.append(a)
            ll.append(b)
    ax.legend(hh, ll, loc=loc, ncol=ncol, frameon=True, framealpha=0.9, title=title, title_fontsize=8.5)


def save_figure(fig, folder, name: str, formats=("png", "pdf")) -> list:
    """Label ``fig``'s log axes (:func:`label_log_axes`), write it as ``folder/name.png`` and
    ``.pdf`` (each atomically) and close it; returns the paths."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..io import atomic_write

    out = []
    try:
        label_log_axes(fig)
        for ext in formats:
            out.append(atomic_write(Path(folder) / f"{name}.{ext}",
                                    lambda tmp, ext=ext: fig.savefig(tmp, format=ext, bbox_inches="tight")))
    finally:
        plt.close(fig)
    return out
