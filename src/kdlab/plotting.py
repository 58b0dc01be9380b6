"""kdlab's plotting style, shared by every figure it draws (the talk, the studies, the
digits experiment): a colour-blind safe palette (Okabe-Ito) and one set of rcParams."""

from __future__ import annotations

__all__ = ["PALETTE", "BLACK", "GREY", "setup"]

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
