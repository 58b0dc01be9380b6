"""Readable figures (issue 21, item 14): log axes labelled between the powers of ten, and the
theory-vs-simulation tables' "worst point" is the point of the "max abs z" column."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from kdlab.reporting.plotting import label_log_axes  # noqa: E402


def tick_labels(axis) -> list[str]:
    """The visible tick labels of ``axis`` (major and minor) inside its view, drawn."""
    axis.figure.canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for t in axis.get_major_ticks() + axis.get_minor_ticks():
        if not lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9):
            continue
        out += [lab.get_text() for lab in (t.label1, t.label2) if lab.get_visible() and lab.get_text()]
    return out


def test_log_axes_are_labelled_between_the_powers_of_ten():
    """Before: an alpha axis from 0.1 to 10 had two labels, 10^0 and 10^1."""
    fig, axes = plt.subplots(1, 4)
    for ax, (lo, hi) in zip(axes, [(0.1, 10.0), (0.3, 5.0), (0.1, 100.0), (1e-4, 1e2)]):
        ax.plot([lo, hi], [1, 2])
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
    axes[3].set_yscale("log")
    fixed = axes[2].twiny()  # ticks set by hand stay as they are
    fixed.set_xscale("log")
    fixed.set_xlim(0.1, 100.0)
    fixed.set_xticks([0.7, 7.0])
    fixed.set_xticklabels(["a", "b"])
    before = tick_labels(axes[0].xaxis)
    assert not {"0.2", "0.5", "2", "5"} & set(before), before  # matplotlib's default
    label_log_axes(fig)
    assert {"0.1", "0.2", "0.3", "0.5", "1", "2", "3", "5", "10"} <= set(tick_labels(axes[0].xaxis))
    assert {"0.3", "0.5", "1", "2", "3", "5"} <= set(tick_labels(axes[1].xaxis))
    labs = set(tick_labels(axes[2].xaxis))
    assert {"0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "50", "100"} <= labs and "0.3" not in labs
    wide = tick_labels(axes[3].xaxis)  # six decades: powers of ten only
    assert "$10^{-4}$" in wide and "0.01" in wide and "100" in wide and "0.2" not in wide and "2" not in wide
    assert [t for t in tick_labels(fixed.xaxis)] == ["a", "b"]
    plt.close(fig)


def test_study_report_worst_point_is_the_point_of_max_abs_z():
    """The worst point named in a study's theory-vs-simulation table is the one whose |z| is the
    max abs z column (and shows that z), not the one with the largest difference."""
    from kdlab.reporting.report import simulation_section

    cmp_ = pd.DataFrame([
        {"table": "errors", "series": "big diff", "alpha": 1.0, "observable": "gen_error", "theory": 0.30,
         "simulation": 0.33, "stderr": 0.02, "diff": 0.03, "z": 1.5, "ok": True, "n_features": 200, "n_seeds": 4},
        {"table": "errors", "series": "big z", "alpha": 2.0, "observable": "gen_error", "theory": 0.25,
         "simulation": 0.251, "stderr": 0.0002, "diff": 0.001, "z": -5.0, "ok": False, "n_features": 200,
         "n_seeds": 4},
    ])
    text = "\n".join(simulation_section(cmp_, "table"))
    header = [ln for ln in text.splitlines() if ln.startswith("| table")][0]
    cols = [c.strip() for c in header.strip("|").split("|")]
    row = [ln for ln in text.splitlines() if ln.startswith("| `errors`")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    z, worst = cols.index("max abs z"), cols.index("worst point (max abs z)")
    assert cells[z] == "5.00" and cells[worst].startswith("big z, alpha = 2") and "(z = -5.00)" in cells[worst], cells
