"""Claim 3, figure ``kd-bayes-teacher``: the KD student of the Bayes-optimal teacher against
the optimally regularized label-only student and the sparse student's Bayes-optimal floor."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..reporting import plotting
from ..reporting.findings import (
    CONTRADICTED,
    PARTLY,
    SUPPORTED,
    TOL,
    Claim,
    alpha_ranges,
    combine,
    fmt,
    fmt_g,
    frac_verdict,
    md_table,
)
from ..runs.sweep import Sweep
from ._core import (
    Figure,
    RunContext,
    alphas,
    bayes_error,
    concat,
    curve,
    select,
    series_of,
    sim_settings,
    tag,
    with_union,
)

PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, kd=[(1.0, 1.0), (1.0, 3.0), (0.5, 1.0)],
              alpha_min=0.3, alpha_max=10.0, n_alpha=16, alpha_sim=[0.5, 1.5, 4.0],
              n_features=1000, seeds=list(range(20)), simulate=True)
QUICK = dict(n_alpha=4, kd=[(1.0, 3.0)], alpha_sim=[1.5], n_features=200, seeds=[0, 1])

#: Display label of the label-only series; code selects it by :data:`LABELS`.
LAB_OPT = "labels only, optimal lam"
#: The label-only student (chi = 0, its own optimal lam; the teacher plays no role).
LABELS = dict(chi=0.0, temperature=1.0, optimal_lam=True)


def _kd(chi, T) -> dict:
    return dict(teacher="bayes-optimal", chi=float(chi), temperature=float(T), optimal_lam=True)


def _kd_name(chi, T):
    return f"KD chi={chi:g}, T={T:g}, optimal lam"


def compute(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "eta": p["eta"]}
    sim_alphas = p["alpha_sim"] if p["simulate"] else []
    grid = with_union(alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"]), sim_alphas)
    grids = [{"alpha": grid, "chi": c, "temperature": T, "optimize": "lam", "teacher": "bayes-optimal"}
             for c, T in p["kd"]]
    lab = {"chi": 0.0, "temperature": 1.0, "teacher": "logistic", "teacher_lam": 0.1}
    parts = []
    th, opt = ctx.together(  # two independent searches: at once when the run has workers
        lambda: ctx.run(Sweep(grids, base=base), "KD students of the Bayes-optimal teacher, optimal lam"),
        lambda: ctx.run(Sweep({"alpha": grid, "optimize": "lam", **lab}, base=base),
                        "label-only student, optimal lam"))

    def floors(d):
        return d.assign(bayes_floor_sparse=[bayes_error(a, p["delta"], p["rho"], p["eta"]) for a in d["alpha"]],
                        bayes_error_full=[bayes_error(a, p["delta"], p["rho"]) for a in d["alpha"]])

    for (c, T), d in th.groupby(["stage1_chi", "stage1_temperature"], sort=False):
        parts.append(tag(floors(d), _kd_name(c, T), "theory", **_kd(c, T)))
    parts.append(tag(floors(opt), LAB_OPT, "theory", **LABELS))
    if p["simulate"]:
        pts = [{"alpha": a, "lam": lm, "chi": c, "temperature": T, "teacher": "bayes-optimal"}
               for a, lm, c, T in zip(th["alpha"], th["stage1_lam"], th["stage1_chi"], th["stage1_temperature"])
               if a in sim_alphas]
        pts += [{"alpha": a, "lam": lm, **lab} for a, lm in zip(opt["alpha"], opt["stage1_lam"]) if a in sim_alphas]
        sim = ctx.run(Sweep(points=pts, base=base, backend="simulate", **sim_settings(p)),
                      "simulation at the optimal ridges")
        for (c, T), d in sim.groupby(["stage1_chi", "stage1_temperature"], sort=False):
            if c == 0:
                parts.append(tag(floors(d), LAB_OPT, "simulate", **LABELS))
            else:
                parts.append(tag(floors(d), _kd_name(c, T), "simulate", **_kd(c, T)))
    return concat(parts)


def _kd_series(t):
    return series_of(t, teacher="bayes-optimal", optimal_lam=True)


def _sel(s):
    return _kd(s["chi"], s["temperature"])


def plot(t: pd.DataFrame, p):
    plt = plotting.setup()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11.0, 5.4))
    series = _kd_series(t)
    n = len(series) + 1
    lab_th = select(t, "theory", **LABELS).sort_values("alpha")
    lab_sm = select(t, "simulate", **LABELS)
    sims = [lab_sm] + [select(t, "simulate", **_sel(s)) for s in series]
    # (b) on a log axis when every simulated excess and its error bar stay positive
    lower = [(d["stage1_gen_error"] - d["bayes_floor_sparse"] - d["stage1_gen_error_stderr"]).min()
             for d in sims if not d.empty]
    log = all(v > 0 for v in lower)

    def excess(d):
        return d.assign(_y=d["stage1_gen_error"] - d["bayes_floor_sparse"],
                        _y_stderr=d.get("stage1_gen_error_stderr"))

    for ax, ex in ((ax0, False), (ax1, True)):
        def y(d):
            return excess(d) if ex else d.assign(_y=d["stage1_gen_error"], _y_stderr=d.get("stage1_gen_error_stderr"))

        plotting.theory_line(ax, y(lab_th), "_y", plotting.BLACK, "labels only ($\\chi$ = 0)", ls="--", lw=2.0)
        plotting.sim_points(ax, y(lab_sm), "_y", plotting.BLACK, marker="s", jitter=plotting.jit(0, n))
        for i, s in enumerate(series):
            c = plotting.PALETTE[i % len(plotting.PALETTE)]
            plotting.theory_line(ax, y(select(t, "theory", **_sel(s))), "_y", c,
                              f"KD from the Bayes-optimal teacher: $\\chi$ = {s['chi']:g}, T = {s['temperature']:g}")
            plotting.sim_points(ax, y(select(t, "simulate", **_sel(s))), "_y", c, jitter=plotting.jit(i + 1, n))
        if not ex:
            plotting.theory_line(ax, lab_th.assign(_y=lab_th["bayes_floor_sparse"]), "_y", "#999999",
                              "$\\varepsilon_g^{*}$: best achievable by a sparse student "
                              "(Bayes-optimal at $\\alpha/\\eta$, $\\Delta/\\eta$)", ls=":", lw=2.4)
        ax.set_xscale("log")
        ax.set_xlabel("$\\alpha = M / N$")
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax1.set_ylabel("excess error $\\varepsilon_g - \\varepsilon_g^{*}$")
    if log:
        ax1.set_yscale("log")
        th = t[t["kind"] == "theory"]
        exs = (th["stage1_gen_error"] - th["bayes_floor_sparse"]).to_numpy()
        exs = exs[np.isfinite(exs) & (exs > 0)]
        if exs.size:
            ax1.set_ylim(exs.min() / 1.6, exs.max() * 2.2)
        plotting.ylim_with_errorbars(ax1, [excess(d) for d in sims if not d.empty], "_y", "_y_stderr", log=True)
    else:
        ax1.axhline(0.0, color="#999999", lw=1.0, ls=":", zorder=1)
    ax0.set_title(f"(a) sparse students ($\\eta$ = {p['eta']:g}) and their floor $\\varepsilon_g^{{*}}$")
    ax1.set_title("(b) distance to the best achievable error" + (" (log scale)" if log else ""))
    h, lab = ax0.get_legend_handles_labels()
    keep = [(a, b) for a, b in zip(h, lab) if b and not b.startswith("_")]
    fig.legend([a for a, _ in keep], [b for _, b in keep], loc="lower center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 0.05))
    fig.suptitle("KD from the Bayes-optimal teacher vs the optimally regularized logistic student"
                 f"\n($\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}; each student with the ridge $\\lambda$ "
                 "minimizing its own error)", fontsize=10.5)
    plotting.footer(fig, p, "Markers of different series at one alpha are slightly offset for readability.")
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    return fig


def claim(t: pd.DataFrame, p: dict) -> Claim:
    c = Claim("Bayes-optimal teacher: the KD student closes the gap to the best achievable error",
              "Bayes-optimal teacher: the KD student closes the gap to the best achievable error, although the "
              "teacher's regularization is not known explicitly.", "kd-bayes-teacher")
    series = _kd_series(t)
    lab = curve(t, "stage1_gen_error", **LABELS)
    floor = curve(t, "bayes_floor_sparse", **LABELS)
    kd = [curve(t, "stage1_gen_error", **_sel(s)) for s in series]
    kd_lam = [curve(t, "stage1_lam", **_sel(s)) for s in series]
    grid = [a for a in lab.index if a in floor.index and all(a in x.index for x in kd)]
    if not grid or not series:
        return c
    rows, best, closed, best_name = [], [], [], []
    for a in grid:
        vals = [x[a] for x in kd]
        ib = int(np.argmin(vals))
        gap = lab[a] - floor[a]
        cl = (lab[a] - vals[ib]) / gap if gap > TOL else float("nan")
        best.append(vals[ib])
        closed.append(cl)
        best_name.append(f"KD chi={series[ib]['chi']:g}, T={series[ib]['temperature']:g}")
        rows.append([fmt_g(a)] + [f"{fmt(v)} (lam={fmt_g(lm[a])})" for v, lm in zip(vals, kd_lam)]
                    + [fmt(lab[a]), fmt(floor[a]), "n/a" if math.isnan(cl) else f"{100 * cl:.0f}%"])
    header = (["alpha"] + [f"KD chi={s['chi']:g}, T={s['temperature']:g}" for s in series]
              + ["labels only, optimal lam", "best achievable (sparse Bayes)", "gap closed by the best KD"])
    c.table = md_table(header, rows)
    best, closed = np.array(best), np.array(closed, float)
    lab_v = np.array([lab[a] for a in grid])
    floor_v = np.array([floor[a] for a in grid])
    beats = best < lab_v - TOL
    kb = int(beats.sum())
    over = ("alpha", "kd")
    v1 = c.add("KD beats the optimally regularized logistic student", frac_verdict(kb, len(grid)),
               f"the best KD student (each with its optimal lam) is better than the label-only student with "
               f"its optimal lam at {kb} of {len(grid)} alphas (where: {alpha_ranges(grid, beats)}). "
               f"Rule: supported if better at every alpha.", over, more="helps")
    fin = np.isfinite(closed)
    iref = int(np.nanargmax(closed)) if fin.any() else 0
    a_ref = grid[iref]
    cmax = float(np.nanmax(closed)) if fin.any() else math.nan
    cmin = float(np.nanmin(closed)) if fin.any() else math.nan
    v2 = SUPPORTED if fin.any() and np.all(closed[fin] >= 0.9) else (
        CONTRADICTED if not fin.any() or np.all(closed[fin] <= 0) else PARTLY)
    c.add("KD closes the gap to the best achievable error", v2,
          f"at alpha = {fmt_g(a_ref)} the KD student of the Bayes-optimal teacher reaches eps_g = "
          f"{fmt(best[iref])} ({best_name[iref]}), the best logistic student {fmt(lab_v[iref])}, the bound "
          f"{fmt(floor_v[iref])}: {100 * closed[iref]:.0f}% of the gap closed. Over alpha in "
          f"[{fmt_g(grid[0])}, {fmt_g(grid[-1])}] the closed fraction ranges from {100 * cmin:.0f}% to "
          f"{100 * cmax:.0f}%. Rule: supported if >= 90% at every alpha, contradicted if <= 0 everywhere, "
          f"partly otherwise.", over, more="helps")
    below = int(np.sum(best < floor_v - 1e-5))
    c.add("consistency: no student below the bound", SUPPORTED if below == 0 else CONTRADICTED,
          f"{below} of {len(grid)} KD errors fall below the sparse Bayes-optimal bound.", over, more="hurts")
    c.numbers.update(alpha_ref=a_ref, kd_ref=float(best[iref]), labels_ref=float(lab_v[iref]),
                     floor_ref=float(floor_v[iref]), closed_max=cmax, closed_min=cmin, beats=kb,
                     n_alpha=len(grid), below_floor=below)
    c.verdict = combine([v1, v2])
    return c


FIGURE = Figure("kd-bayes-teacher", PARAMS, QUICK, compute, plot, claim)
