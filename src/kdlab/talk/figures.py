"""The four figures of the talk, computed by sweeps and drawn with matplotlib.

Each figure is a :class:`FigureSpec` (name, parameters for the default and the ``quick``
run, a ``compute`` step that runs the sweeps into one tidy table with a ``series`` column, and
a ``plot`` step). :func:`make_figure` runs one figure end to end and writes
``DIR/<name>.png``, ``DIR/<name>.pdf`` and ``DIR/tables/<name>.csv`` / ``.parquet``.

* ``regularization``: logistic regression eps_g(alpha) for several lam, the optimal-lam
  curve and the Bayes-optimal error (claim 1);
* ``kd-logistic-teacher``: the sparse KD student of logistic teachers of several lam_t
  against the label-only student with its optimal lam (claim 2);
* ``kd-bayes-teacher``: the KD student of the Bayes-optimal teacher against the optimally
  regularized label-only student and the sparse student's Bayes-optimal floor (claim 3);
* ``double-descent``: eps_g(alpha) at a tiny lam, for several chi and temperatures (claim 4).

Theory (N -> infinity) is drawn as lines, simulation as markers with standard-error bars.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from ..runs.sweep import Sweep, save_table

__all__ = ["FIGURES", "FigureSpec", "FigureOutput", "RunContext", "make_figure", "figure_params",
           "compute_figure", "plot_figure"]

# One palette for every figure (colour-blind safe, Okabe-Ito).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
BLACK, GREY = "#000000", "#777777"


@dataclass
class RunContext:
    """How to run the sweeps: cache ``store`` (None: no cache), ``n_jobs``, Dask ``scheduler``."""

    store: Optional[Path] = None
    n_jobs: Optional[int] = None
    scheduler: Any = None
    progress: bool = True

    def run(self, sweep: Sweep, label: str = "") -> pd.DataFrame:
        if self.progress and label:
            print(f"  - {label}: {len(sweep.tasks)} point(s) [{sweep.backend}]", file=sys.stderr, flush=True)
        return sweep.run(self.store, n_jobs=self.n_jobs, scheduler=self.scheduler,
                         progress=self.progress)


@dataclass(frozen=True)
class FigureSpec:
    name: str
    claim: int
    description: str
    params: dict          # default parameters
    quick: dict           # overrides for --quick
    compute: Callable     # (params, ctx) -> tidy DataFrame
    plot: Callable        # (table, params) -> matplotlib Figure


@dataclass
class FigureOutput:
    name: str
    files: list = field(default_factory=list)
    table: Optional[pd.DataFrame] = None
    params: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- helpers


def _alphas(lo, hi, n):
    return [float(round(a, 6)) for a in np.geomspace(lo, hi, int(n))]


def _with_union(alphas, extra):
    return sorted(set(alphas) | set(extra))


def _tag(df: pd.DataFrame, series: str, kind: str) -> pd.DataFrame:
    df = df.copy()
    df.insert(0, "series", series)
    df.insert(1, "kind", kind)  # "theory" line or "simulate" markers
    return df


def _concat(parts) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    return pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame()


def _sim_settings(p):
    return {"n_features": p["n_features"], "seeds": p["seeds"]}


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e-2 and abs(x) < 1e3:
        return f"{x:g}"
    e = int(math.floor(math.log10(abs(x))))
    m = x / 10 ** e
    return f"10^{{{e}}}" if abs(m - 1) < 1e-9 else f"{m:g}e{e}"


def _tex(x) -> str:
    s = _fmt(x)
    return f"${s}$" if "^" in s else s


def _bayes_error(alpha, delta, rho, eta=1.0):
    """Bayes-optimal error of the model (``eta = 1``) or of a sparse student (THEORY.md)."""
    from .. import theory
    from ..problem import GaussianMixture

    return float(theory.bayes_optimal_error(GaussianMixture(alpha, delta, rho), eta))


def _setup_mpl():
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


def _theory_line(ax, df, y, color, label=None, ls="-", lw=None, x="alpha", zorder=2):
    d = df.sort_values(x)
    if "status_converged" in d:  # never draw a point the solver did not converge at
        d = d[d["status_converged"].astype(bool)]
    ax.plot(d[x], d[y], ls=ls, color=color, label=label, lw=lw, zorder=zorder)


def _sim_points(ax, df, y, color, marker="o", label=None, x="alpha", jitter=1.0):
    """Simulation means with standard-error bars; ``jitter`` multiplies x (log axes) so that
    markers of several series at the same alpha stay readable."""
    if df is None or df.empty:
        return
    d = df.sort_values(x)
    err = d.get(f"{y}_stderr")
    ax.errorbar(d[x] * jitter, d[y], yerr=None if err is None else err.to_numpy(), fmt=marker, ms=4.5,
                mfc="white", mec=color, ecolor=color, elinewidth=1.1, capsize=2.5, mew=1.3,
                color=color, ls="none", label=label, zorder=4)


def _jit(i: int, n: int, width: float = 0.05) -> float:
    """Multiplicative x offset of series ``i`` of ``n`` (total spread ``width`` in log10 units)."""
    if n <= 1:
        return 1.0
    return 10 ** (width * (i / (n - 1) - 0.5))


def _footer(fig, p, extra=""):
    sim = (f"markers: simulation, N = {p['n_features']}, {len(p['seeds'])} seeds, mean $\\pm$ 1 s.e"
           if p.get("simulate", True) else "no simulation")
    text = f"lines: theory (N$\\to\\infty$); {sim}. {extra}".strip()
    width = int(fig.get_figwidth() * 17)  # characters per line at 7.5 pt
    import textwrap

    fig.text(0.01, 0.005, "\n".join(textwrap.wrap(text, width)), fontsize=7.5, color="#444444", ha="left",
             va="bottom")


def _legend_kinds(ax, handles_labels=None, loc="upper right", ncol=1, title=None):
    h, lab = ax.get_legend_handles_labels() if handles_labels is None else handles_labels
    # drop duplicate labels (keep the first), and unlabeled
    seen, hh, ll = set(), [], []
    for a, b in zip(h, lab):
        if b and not b.startswith("_") and b not in seen:
            seen.add(b)
            hh.append(a)
            ll.append(b)
    ax.legend(hh, ll, loc=loc, ncol=ncol, frameon=True, framealpha=0.9, title=title,
              title_fontsize=8.5)


# ----------------------------------------------------------------------------- 1. regularization

REG_PARAMS = dict(rho=0.3, delta=1.0, alpha_min=0.1, alpha_max=10.0, n_alpha=36, n_alpha_opt=14,
                  lams=[1e-3, 1e-2, 1e-1, 1.0, 10.0], alpha_sim=[0.3, 1.0, 3.0, 10.0],
                  n_features=1000, seeds=list(range(20)), simulate=True)
REG_QUICK = dict(n_alpha=10, n_alpha_opt=4, lams=[1e-2, 1.0], alpha_sim=[1.0, 3.0],
                 n_features=200, seeds=[0, 1], alpha_max=10.0)


def compute_regularization(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "student": False, "teacher": "logistic"}
    alphas = _alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"])
    opt_alphas = _with_union(_alphas(p["alpha_min"], p["alpha_max"], p["n_alpha_opt"]),
                             p["alpha_sim"] if p["simulate"] else [])
    alphas = _with_union(alphas, opt_alphas)  # every theory series at the report / simulation alphas
    parts = []
    th = ctx.run(Sweep({"alpha": alphas, "teacher_lam": p["lams"]}, base=base), "logistic, fixed lam")
    for lam, d in th.groupby("teacher_lam", sort=True):
        parts.append(_tag(d, f"lam={lam:g}", "theory"))
    opt = ctx.run(Sweep({"alpha": opt_alphas, "optimize": "teacher_lam"}, base=base), "logistic, optimal lam")
    parts.append(_tag(opt, "optimal lam", "theory"))
    bo = ctx.run(Sweep({"alpha": alphas, "teacher": "bayes-optimal"}, base=base),
                 "Bayes-optimal")
    parts.append(_tag(bo, "Bayes-optimal", "theory"))
    if p["simulate"]:
        sim = ctx.run(Sweep({"alpha": p["alpha_sim"], "teacher_lam": p["lams"]}, base=base,
                            backend="simulate", **_sim_settings(p)), "simulation, fixed lam")
        for lam, d in sim.groupby("teacher_lam", sort=True):
            parts.append(_tag(d, f"lam={lam:g}", "simulate"))
        o = opt[opt["alpha"].isin(p["alpha_sim"])]
        pts = [{"alpha": a, "teacher_lam": l} for a, l in zip(o["alpha"], o["teacher_lam"])]
        simopt = ctx.run(Sweep(points=pts, base=base, backend="simulate", **_sim_settings(p)),
                         "simulation, optimal lam")
        parts.append(_tag(simopt, "optimal lam", "simulate"))
        bos = ctx.run(Sweep({"alpha": p["alpha_sim"], "teacher": "bayes-optimal"}, base=base,
                            backend="simulate", **_sim_settings(p)), "simulation, Bayes-optimal")
        parts.append(_tag(bos, "Bayes-optimal", "simulate"))
    return _concat(parts)


def plot_regularization(t: pd.DataFrame, p):
    plt = _setup_mpl()
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    lam_series = [s for s in t["series"].unique() if s.startswith("lam=")]
    lam_series.sort(key=lambda s: float(s[4:]))
    for i, s in enumerate(lam_series):
        c = PALETTE[i % len(PALETTE)]
        lab = f"$\\lambda$ = {_tex(float(s[4:]))}"
        _theory_line(ax, t[(t.series == s) & (t.kind == "theory")], "teacher_gen_error", c, lab)
        _sim_points(ax, t[(t.series == s) & (t.kind == "simulate")], "teacher_gen_error", c)
    _theory_line(ax, t[(t.series == "optimal lam") & (t.kind == "theory")], "teacher_gen_error", BLACK,
                 "optimal $\\lambda$", ls="--", lw=2.0)
    _sim_points(ax, t[(t.series == "optimal lam") & (t.kind == "simulate")], "teacher_gen_error", BLACK,
                marker="s")
    _theory_line(ax, t[(t.series == "Bayes-optimal") & (t.kind == "theory")], "teacher_gen_error", GREY,
                 "Bayes-optimal", ls=":", lw=2.2)
    _sim_points(ax, t[(t.series == "Bayes-optimal") & (t.kind == "simulate")], "teacher_gen_error", GREY,
                marker="D")
    ax.set_xscale("log")
    ax.set_xlabel("$\\alpha = M / N$ (samples per dimension)")
    ax.set_ylabel("generalization error $\\varepsilon_g$")
    ax.set_title("Logistic regression: tuning $\\lambda$ is key, yet the optimum stays above Bayes\n"
                 f"(unbalanced clusters $\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}; "
                 "teacher alone, L2 ridge $\\lambda$, bias free)")
    _legend_kinds(ax, loc="lower left")
    _footer(fig, p)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


# ----------------------------------------------------------------------------- 2. KD, logistic teacher

KDL_PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, chi=1.0, temperature=1.0, lam=1e-3,
                  teacher_lams=[1e-3, 1e-2, 1e-1, 1.0], optimal_teacher=True,
                  alpha_min=0.3, alpha_max=10.0, n_alpha=30, n_alpha_opt=14,
                  alpha_sim=[0.5, 1.5, 4.0], n_features=1000, seeds=list(range(20)), simulate=True)
KDL_QUICK = dict(n_alpha=6, n_alpha_opt=4, teacher_lams=[1e-3, 1e-1], alpha_sim=[1.5],
                 n_features=200, seeds=[0, 1])

OPT_T = "KD, optimal lam_t"


def compute_kd_logistic(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "eta": p["eta"], "teacher": "logistic"}
    kd = {"chi": p["chi"], "temperature": p["temperature"], "lam": p["lam"]}
    alphas = _alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"])
    sim_alphas = p["alpha_sim"] if p["simulate"] else []
    opt_alphas = _with_union(_alphas(p["alpha_min"], p["alpha_max"], p["n_alpha_opt"]), sim_alphas)
    alphas = _with_union(alphas, opt_alphas)
    parts = []
    th = ctx.run(Sweep({"alpha": alphas, "teacher_lam": p["teacher_lams"], **kd}, base=base),
                 "KD students of logistic teachers")
    for lt, d in th.groupby("teacher_lam", sort=True):
        parts.append(_tag(d, f"KD, lam_t={lt:g}", "theory"))
    kd_opt_pts = []
    if p["optimal_teacher"]:
        # the best logistic teacher at each alpha, then its KD student
        topt = ctx.run(Sweep({"alpha": opt_alphas, "optimize": "teacher_lam", "student": False}, base=base),
                       "optimal logistic teachers")
        kd_opt_pts = [{"alpha": a, "teacher_lam": lt, **kd} for a, lt in zip(topt["alpha"], topt["teacher_lam"])]
        th2 = ctx.run(Sweep(points=kd_opt_pts, base=base), "KD students of the optimal teachers")
        parts.append(_tag(th2, OPT_T, "theory"))
    # label-only student (chi = 0) with its own optimal lam; the teacher is irrelevant at chi = 0
    lab = {"chi": 0.0, "temperature": 1.0, "teacher_lam": p["teacher_lams"][0]}
    opt = ctx.run(Sweep({"alpha": opt_alphas, "optimize": "lam", **lab}, base=base),
                  "label-only student, optimal lam")
    parts.append(_tag(opt, "labels only, optimal lam", "theory"))
    raw = ctx.run(Sweep({"alpha": alphas, "lam": p["lam"], **lab}, base=base),
                  "label-only student, same lam")
    parts.append(_tag(raw, "labels only, same lam", "theory"))
    if p["simulate"]:
        sim = ctx.run(Sweep({"alpha": sim_alphas, "teacher_lam": p["teacher_lams"], **kd}, base=base,
                            backend="simulate", **_sim_settings(p)), "simulation, KD students")
        for lt, d in sim.groupby("teacher_lam", sort=True):
            parts.append(_tag(d, f"KD, lam_t={lt:g}", "simulate"))
        o = opt[opt["alpha"].isin(sim_alphas)]
        pts = [{"alpha": a, "lam": l, **lab} for a, l in zip(o["alpha"], o["lam"])]
        pts += [q for q in kd_opt_pts if q["alpha"] in sim_alphas]
        simopt = ctx.run(Sweep(points=pts, base=base, backend="simulate", **_sim_settings(p)),
                         "simulation, optimal ridges")
        parts.append(_tag(simopt[simopt["chi"] == 0], "labels only, optimal lam", "simulate"))
        parts.append(_tag(simopt[simopt["chi"] != 0], OPT_T, "simulate"))
    return _concat(parts)


def plot_kd_logistic(t: pd.DataFrame, p):
    plt = _setup_mpl()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11.0, 4.7), sharey=True)
    kd_series = sorted([s for s in t["series"].unique() if s.startswith("KD, lam_t=")],
                       key=lambda s: float(s.split("=")[1]))
    for i, s in enumerate(kd_series):
        c = PALETTE[i % len(PALETTE)]
        lt = float(s.split("=")[1])
        th = t[(t.series == s) & (t.kind == "theory")]
        sm = t[(t.series == s) & (t.kind == "simulate")]
        _theory_line(ax0, th, "teacher_gen_error", c, f"$\\lambda_t$ = {_tex(lt)}")
        _sim_points(ax0, sm, "teacher_gen_error", c)
        _theory_line(ax1, th, "student_gen_error", c, f"KD from teacher $\\lambda_t$ = {_tex(lt)}")
        _sim_points(ax1, sm, "student_gen_error", c, jitter=_jit(i, len(kd_series) + 2))
    if (t.series == OPT_T).any():
        th = t[(t.series == OPT_T) & (t.kind == "theory")]
        sm = t[(t.series == OPT_T) & (t.kind == "simulate")]
        _theory_line(ax0, th, "teacher_gen_error", BLACK, "optimal $\\lambda_t$", ls="-.", lw=1.6)
        _sim_points(ax0, sm, "teacher_gen_error", BLACK, marker="^")
        _theory_line(ax1, th, "student_gen_error", BLACK, "KD from the optimal teacher", ls="-.", lw=1.6)
        _sim_points(ax1, sm, "student_gen_error", BLACK, marker="^", jitter=_jit(len(kd_series), len(kd_series) + 2))
    _theory_line(ax1, t[(t.series == "labels only, optimal lam") & (t.kind == "theory")], "student_gen_error",
                 BLACK, "labels only ($\\chi$ = 0), optimal $\\lambda$", ls="--", lw=2.0)
    _sim_points(ax1, t[(t.series == "labels only, optimal lam") & (t.kind == "simulate")], "student_gen_error",
                BLACK, marker="s", jitter=_jit(len(kd_series) + 1, len(kd_series) + 2))
    _theory_line(ax1, t[(t.series == "labels only, same lam") & (t.kind == "theory")], "student_gen_error",
                 GREY, f"labels only ($\\chi$ = 0), $\\lambda$ = {_tex(p['lam'])}", ls=":", lw=2.0)
    for ax in (ax0, ax1):
        ax.set_xscale("log")
        ax.set_xlabel("$\\alpha = M / N$")
        ax.tick_params(labelleft=True)
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax0.set_title("(a) the logistic teachers (all N weights, ridge $\\lambda_t$)")
    ax1.set_title(f"(b) their sparse KD students ($\\eta$ = {p['eta']:g}): $\\chi$ = {p['chi']:g}, "
                  f"T = {p['temperature']:g}, $\\lambda$ = {_tex(p['lam'])}")
    _legend_kinds(ax0, loc="upper right")
    _legend_kinds(ax1, loc="lower left")
    fig.suptitle("KD from L2-regularized logistic teachers: the student inherits the teacher's regularization"
                 f"\n($\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}; same training set for teacher and student)",
                 fontsize=10.5)
    _footer(fig, p, "Markers of different series at one alpha are slightly offset for readability.")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


# ----------------------------------------------------------------------------- 3. KD, Bayes teacher

KDB_PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, kd=[(1.0, 1.0), (1.0, 3.0), (0.5, 1.0)],
                  alpha_min=0.3, alpha_max=10.0, n_alpha=16, alpha_sim=[0.5, 1.5, 4.0],
                  n_features=1000, seeds=list(range(20)), simulate=True)
KDB_QUICK = dict(n_alpha=4, kd=[(1.0, 3.0)], alpha_sim=[1.5], n_features=200, seeds=[0, 1])

LAB_OPT = "labels only, optimal lam"


def _kd_name(chi, T):
    return f"KD chi={chi:g}, T={T:g}, optimal lam"


def compute_kd_bayes(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "eta": p["eta"]}
    sim_alphas = p["alpha_sim"] if p["simulate"] else []
    alphas = _with_union(_alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"]), sim_alphas)
    grids = [{"alpha": alphas, "chi": c, "temperature": T, "optimize": "lam", "teacher": "bayes-optimal"}
             for c, T in p["kd"]]
    lab = {"chi": 0.0, "temperature": 1.0, "teacher": "logistic", "teacher_lam": 0.1}
    parts = []
    th = ctx.run(Sweep(grids, base=base), "KD students of the Bayes-optimal teacher, optimal lam")
    opt = ctx.run(Sweep({"alpha": alphas, "optimize": "lam", **lab}, base=base),
                  "label-only student, optimal lam")

    def floors(d):
        return d.assign(bayes_floor_sparse=[_bayes_error(a, p["delta"], p["rho"], p["eta"])
                                            for a in d["alpha"]],
                        bayes_error_full=[_bayes_error(a, p["delta"], p["rho"]) for a in d["alpha"]])

    for (c, T), d in th.groupby(["chi", "temperature"], sort=False):
        parts.append(_tag(floors(d), _kd_name(c, T), "theory"))
    parts.append(_tag(floors(opt), LAB_OPT, "theory"))
    if p["simulate"]:
        pts = [{"alpha": a, "lam": l, "chi": c, "temperature": T, "teacher": "bayes-optimal"}
               for a, l, c, T in zip(th["alpha"], th["lam"], th["chi"], th["temperature"]) if a in sim_alphas]
        pts += [{"alpha": a, "lam": l, **lab} for a, l in zip(opt["alpha"], opt["lam"]) if a in sim_alphas]
        sim = ctx.run(Sweep(points=pts, base=base, backend="simulate", **_sim_settings(p)),
                      "simulation at the optimal ridges")
        for (c, T), d in sim.groupby(["chi", "temperature"], sort=False):
            parts.append(_tag(floors(d), LAB_OPT if c == 0 else _kd_name(c, T), "simulate"))
    return _concat(parts)


def plot_kd_bayes(t: pd.DataFrame, p):
    plt = _setup_mpl()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11.0, 5.4))
    lab_th = t[(t.series == LAB_OPT) & (t.kind == "theory")].sort_values("alpha")
    lab_sm = t[(t.series == LAB_OPT) & (t.kind == "simulate")]
    kd_names = [s for s in dict.fromkeys(t.loc[t.kind == "theory", "series"]) if s != LAB_OPT]
    for ax, excess in ((ax0, False), (ax1, True)):
        def y(d, col="student_gen_error"):
            if not excess:
                return d.assign(_y=d[col])
            d = d.assign(_y=d[col] - d["bayes_floor_sparse"])
            if (d["kind"] == "simulate").any():  # a log axis shows positive excess only
                d = d[d["_y"] > 0]
            return d

        _theory_line(ax, y(lab_th), "_y", BLACK, "labels only ($\\chi$ = 0)", ls="--", lw=2.0)
        if not lab_sm.empty:
            _sim_points(ax, y(lab_sm).assign(_y_stderr=lab_sm["student_gen_error_stderr"]), "_y", BLACK, marker="s",
                        jitter=_jit(0, len(kd_names) + 1))
        for i, s in enumerate(kd_names):
            c = PALETTE[i % len(PALETTE)]
            d = t[(t.series == s) & (t.kind == "theory")]
            chi, T = d["chi"].iloc[0], d["temperature"].iloc[0]
            _theory_line(ax, y(d), "_y", c, f"KD from the Bayes-optimal teacher: $\\chi$ = {chi:g}, T = {T:g}")
            sm = t[(t.series == s) & (t.kind == "simulate")]
            if not sm.empty:
                _sim_points(ax, y(sm).assign(_y_stderr=sm["student_gen_error_stderr"]), "_y", c,
                            jitter=_jit(i + 1, len(kd_names) + 1))
        if not excess:
            _theory_line(ax, lab_th.assign(_y=lab_th["bayes_floor_sparse"]), "_y", "#999999",
                         f"best achievable by a sparse student (Bayes-optimal at $\\alpha/\\eta$, $\\Delta/\\eta$)",
                         ls=":", lw=2.4)
        ax.set_xscale("log")
        ax.set_xlabel("$\\alpha = M / N$")
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax1.set_yscale("log")
    th = t[t.kind == "theory"]
    ex = (th["student_gen_error"] - th["bayes_floor_sparse"]).to_numpy()
    ex = ex[np.isfinite(ex) & (ex > 0)]
    if ex.size:  # the range of the theory curves (simulation points outside it are clipped)
        ax1.set_ylim(ex.min() / 1.6, ex.max() * 2.2)
    ax1.set_ylabel("excess error $\\varepsilon_g - \\varepsilon_g^{\\rm Bayes, sparse}$")
    ax0.set_title(f"(a) sparse students ($\\eta$ = {p['eta']:g}) and their floor")
    ax1.set_title("(b) distance to the best achievable error (log scale)")
    h, lab = ax0.get_legend_handles_labels()
    keep = [(a, b) for a, b in zip(h, lab) if b and not b.startswith("_")]
    fig.legend([a for a, _ in keep], [b for _, b in keep], loc="lower center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 0.05))
    fig.suptitle("KD from the Bayes-optimal teacher vs the optimally regularized logistic student"
                 f"\n($\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}; each student with the ridge $\\lambda$ minimizing its own error)",
                 fontsize=10.5)
    _footer(fig, p, "Markers of different series at one alpha are slightly offset for readability; "
                    "(b) shows simulated points with a positive excess only.")
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    return fig


# ----------------------------------------------------------------------------- 4. double descent

DD_PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, lam=1e-4, teacher_lam=0.1,
                 curves=[(0.0, 1.0), (0.2, 1.0), (0.5, 1.0), (1.0, 1.0), (0.5, 3.0)],
                 alpha_min=0.1, alpha_max=10.0, n_alpha=40, alpha_sim=[0.25, 0.5, 1.0, 3.0],
                 n_features=1000, seeds=list(range(20)), simulate=True)
DD_QUICK = dict(n_alpha=12, curves=[(0.0, 1.0), (0.5, 1.0)], alpha_sim=[0.5], n_features=200, seeds=[0, 1])


def compute_double_descent(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "eta": p["eta"], "lam": p["lam"], "teacher": "logistic",
            "teacher_lam": p["teacher_lam"]}
    alphas = _with_union(_alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"]),
                         p["alpha_sim"] if p["simulate"] else [])
    grids = [{"alpha": alphas, "chi": c, "temperature": T} for c, T in p["curves"]]
    th = ctx.run(Sweep(grids, base=base), "students at small lam")
    parts = []
    for (c, T), d in th.groupby(["chi", "temperature"], sort=False):
        parts.append(_tag(d, f"chi={c:g}, T={T:g}", "theory"))
    if p["simulate"]:
        sgrids = [{"alpha": p["alpha_sim"], "chi": c, "temperature": T} for c, T in p["curves"]]
        sim = ctx.run(Sweep(sgrids, base=base, backend="simulate", **_sim_settings(p)), "simulation")
        for (c, T), d in sim.groupby(["chi", "temperature"], sort=False):
            parts.append(_tag(d, f"chi={c:g}, T={T:g}", "simulate"))
    return _concat(parts)


def plot_double_descent(t: pd.DataFrame, p):
    plt = _setup_mpl()
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    series = list(dict.fromkeys(t.loc[t.kind == "theory", "series"]))
    for i, s in enumerate(series):
        c = PALETTE[i % len(PALETTE)]
        chi, T = (float(x.split("=")[1]) for x in s.split(", "))
        lab = "labels only ($\\chi$ = 0)" if chi == 0 else f"KD $\\chi$ = {chi:g}, T = {T:g}"
        _theory_line(ax, t[(t.series == s) & (t.kind == "theory")], "student_gen_error", c, lab)
        _sim_points(ax, t[(t.series == s) & (t.kind == "simulate")], "student_gen_error", c,
                    jitter=_jit(i, len(series)))
    ax.set_xscale("log")
    ax.set_xlabel("$\\alpha = M / N$")
    ax.set_ylabel("generalization error $\\varepsilon_g$")
    ax.axvline(p["eta"], color="#999999", lw=1.0, ls=":", zorder=1)
    ax.text(p["eta"] * 1.04, 0.98, "$\\alpha = \\eta$", transform=ax.get_xaxis_transform(), fontsize=8.5,
            color="#555555", va="top")
    ax.set_title(f"Error vs $\\alpha$ at a small ridge $\\lambda$ = {_tex(p['lam'])}: interpolation peak "
                 "and its dependence on $\\chi$ and T\n"
                 f"(sparse student $\\eta$ = {p['eta']:g}, logistic teacher $\\lambda_t$ = {_tex(p['teacher_lam'])}; "
                 f"$\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g})")
    _legend_kinds(ax, loc="upper right")
    _footer(fig, p, "Markers of different series at one alpha are slightly offset for readability.")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


# ----------------------------------------------------------------------------- registry

FIGURES: dict[str, FigureSpec] = {
    "regularization": FigureSpec("regularization", 1, "logistic regression vs lam, optimal lam, Bayes",
                                 REG_PARAMS, REG_QUICK, compute_regularization, plot_regularization),
    "kd-logistic-teacher": FigureSpec("kd-logistic-teacher", 2, "KD students of logistic teachers",
                                      KDL_PARAMS, KDL_QUICK, compute_kd_logistic, plot_kd_logistic),
    "kd-bayes-teacher": FigureSpec("kd-bayes-teacher", 3, "KD student of the Bayes-optimal teacher",
                                   KDB_PARAMS, KDB_QUICK, compute_kd_bayes, plot_kd_bayes),
    "double-descent": FigureSpec("double-descent", 4, "interpolation peak at small lam vs chi, T",
                                 DD_PARAMS, DD_QUICK, compute_double_descent, plot_double_descent),
}


def _spec(name: str) -> FigureSpec:
    try:
        return FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}") from None


def figure_params(name: str, quick: bool = False, **overrides) -> dict:
    """The parameters a figure is computed with (``quick``: the fast variant), with overrides."""
    spec = _spec(name)
    p = dict(spec.params)
    if quick:
        p.update(spec.quick)
    unknown = set(overrides) - set(p)
    if unknown:
        raise ValueError(f"unknown parameter(s) for figure {name!r}: {sorted(unknown)}")
    p.update(overrides)
    p["seeds"] = list(range(p["seeds"])) if isinstance(p["seeds"], int) else list(p["seeds"])
    return p


def compute_figure(name: str, params: dict, ctx: Optional[RunContext] = None) -> pd.DataFrame:
    """Run the sweeps of one figure; one tidy table (``series``, ``kind`` + sweep columns)."""
    table = _spec(name).compute(params, ctx or RunContext())
    table.insert(0, "figure", name)
    return table


def plot_figure(name: str, table: pd.DataFrame, params: dict):
    """The matplotlib Figure of ``name`` from its table."""
    return _spec(name).plot(table, params)


def make_figure(name: str, out_dir, *, quick: bool = False, n_jobs: Optional[int] = None,
                scheduler=None, store="default", progress: bool = True,
                table_formats=("csv", "parquet"), **overrides) -> FigureOutput:
    """Compute and draw one figure into ``out_dir``: ``<name>.png``, ``<name>.pdf`` and
    ``tables/<name>.csv|parquet``. ``store="default"`` caches points in ``out_dir/cache``
    (resumable); ``None`` disables the cache."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(store, str) and store == "default":
        store = out / "cache"
    params = figure_params(name, quick, **overrides)
    ctx = RunContext(store=None if store is None else Path(store), n_jobs=n_jobs, scheduler=scheduler,
                     progress=progress)
    table = compute_figure(name, params, ctx)
    files = save_table(table, out / "tables" / name, table_formats)
    fig = plot_figure(name, table, params)
    import matplotlib.pyplot as plt

    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        fig.savefig(path, bbox_inches="tight")
        files.append(path)
    plt.close(fig)
    return FigureOutput(name, files, table, params)
