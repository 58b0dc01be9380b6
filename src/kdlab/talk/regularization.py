"""Claim 1, figure ``regularization``: logistic regression alone, eps_g(alpha) for several
ridges lam, the optimal-lam curve and the Bayes-optimal error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..reporting import plotting
from ..reporting.findings import (
    CONTRADICTED,
    MISSING,
    PARTLY,
    SUPPORTED,
    TOL,
    Claim,
    combine,
    fmt,
    fmt_g,
    frac_verdict,
    md_table,
)
from ..runs.sweep import Sweep
from ._core import Figure, RunContext, alphas, concat, curve, select, series_of, sim_settings, tag, with_union

PARAMS = dict(rho=0.3, delta=1.0, alpha_min=0.1, alpha_max=10.0, n_alpha=36, n_alpha_opt=14,
              lams=[1e-3, 1e-2, 1e-1, 1.0, 10.0], alpha_sim=[0.3, 1.0, 3.0, 10.0],
              n_features=1000, seeds=list(range(20)), simulate=True)
QUICK = dict(n_alpha=10, n_alpha_opt=4, lams=[1e-2, 1.0], alpha_sim=[1.0, 3.0],
             n_features=200, seeds=[0, 1], alpha_max=10.0)

FIXED = dict(teacher="logistic")                             # + teacher_lam
OPTIMAL = dict(teacher="logistic", optimal_teacher_lam=True)
BAYES = dict(teacher="bayes-optimal")


def compute(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "student": False, "teacher": "logistic"}
    grid = alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"])
    opt_alphas = with_union(alphas(p["alpha_min"], p["alpha_max"], p["n_alpha_opt"]),
                            p["alpha_sim"] if p["simulate"] else [])
    grid = with_union(grid, opt_alphas)  # every theory series at the report / simulation alphas
    parts = []

    def curves():
        return (ctx.run(Sweep({"alpha": grid, "teacher_lam": p["lams"]}, base=base), "logistic, fixed lam"),
                ctx.run(Sweep({"alpha": grid, "teacher": "bayes-optimal"}, base=base), "Bayes-optimal"))

    def optimal_then_simulation():
        opt = ctx.run(Sweep({"alpha": opt_alphas, "optimize": "teacher_lam"}, base=base), "logistic, optimal lam")
        if not p["simulate"]:
            return opt, None
        o = opt[opt["alpha"].isin(p["alpha_sim"])]
        pts = [{"alpha": a, "teacher_lam": lt} for a, lt in zip(o["alpha"], o["stage0_lam"])]
        # one run: the series at one alpha share each seed's draws
        return opt, ctx.run_many(
            [Sweep({"alpha": p["alpha_sim"], "teacher_lam": p["lams"]}, base=base, backend="simulate",
                   **sim_settings(p)),
             Sweep(points=pts, base=base, backend="simulate", **sim_settings(p)),
             Sweep({"alpha": p["alpha_sim"], "teacher": "bayes-optimal"}, base=base, backend="simulate",
                   **sim_settings(p))], "simulation: fixed lam, optimal lam, Bayes-optimal")

    # the fixed-ridge and Bayes curves alongside the search and the simulation it feeds
    (th, bo), (opt, sims) = ctx.together(curves, optimal_then_simulation)
    for lam, d in th.groupby("stage0_lam", sort=True):
        parts.append(tag(d, f"lam={lam:g}", "theory", teacher_lam=float(lam), **FIXED))
    parts.append(tag(opt, "optimal lam", "theory", **OPTIMAL))
    parts.append(tag(bo, "Bayes-optimal", "theory", **BAYES))
    if sims is not None:
        sim, simopt, bos = sims
        for lam, d in sim.groupby("stage0_lam", sort=True):
            parts.append(tag(d, f"lam={lam:g}", "simulate", teacher_lam=float(lam), **FIXED))
        parts.append(tag(simopt, "optimal lam", "simulate", **OPTIMAL))
        parts.append(tag(bos, "Bayes-optimal", "simulate", **BAYES))
    return concat(parts)


def _fixed(t):
    return sorted(series_of(t, teacher="logistic", optimal_teacher_lam=False), key=lambda s: s["teacher_lam"])


def plot(t: pd.DataFrame, p):
    plt = plotting.setup()
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    y = "stage0_gen_error"
    for i, s in enumerate(_fixed(t)):
        c = plotting.PALETTE[i % len(plotting.PALETTE)]
        plotting.theory_line(ax, select(t, "theory", **FIXED, teacher_lam=s["teacher_lam"]), y, c,
                          f"$\\lambda$ = {plotting.tex(s['teacher_lam'])}")
        plotting.sim_points(ax, select(t, "simulate", **FIXED, teacher_lam=s["teacher_lam"]), y, c)
    plotting.theory_line(ax, select(t, "theory", **OPTIMAL), y, plotting.BLACK, "optimal $\\lambda$", ls="--", lw=2.0)
    plotting.sim_points(ax, select(t, "simulate", **OPTIMAL), y, plotting.BLACK, marker="s")
    plotting.theory_line(ax, select(t, "theory", **BAYES), y, plotting.GREY, "Bayes-optimal", ls=":", lw=2.2)
    plotting.sim_points(ax, select(t, "simulate", **BAYES), y, plotting.GREY, marker="D")
    ax.set_xscale("log")
    ax.set_xlabel("$\\alpha = M / N$ (samples per dimension)")
    ax.set_ylabel("generalization error $\\varepsilon_g$")
    ax.set_title("Logistic regression: tuning $\\lambda$ is key, yet the optimum stays above Bayes\n"
                 f"(unbalanced clusters $\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}; "
                 "teacher alone, L2 ridge $\\lambda$, bias free)")
    plotting.legend(ax, loc="lower left")
    plotting.footer(fig, p)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def claim(t: pd.DataFrame, p: dict) -> Claim:
    c = Claim("Logistic regression alone: tuning the regularization is key; with unbalanced clusters "
                 "even the optimal ridge stays above the Bayes-optimal error",
              "eps_g vs alpha for several lam; tuning lam is key; with rho != 1/2 even the optimal lam "
              "stays above the Bayes-optimal error.", "regularization")
    lams = [s["teacher_lam"] for s in _fixed(t)]
    y = "stage0_gen_error"
    opt = curve(t, y, **OPTIMAL)
    lam_opt = curve(t, "stage0_lam", **OPTIMAL)
    bayes = curve(t, y, **BAYES)
    fixed = {lam: curve(t, y, **FIXED, teacher_lam=lam) for lam in lams}
    grid = [a for a in opt.index if a in bayes.index and all(a in f.index for f in fixed.values())]
    if not grid or not lams:
        return c
    rows, spreads, gaps = [], [], []
    for a in grid:
        vals = {lam: fixed[lam][a] for lam in lams}
        spreads.append(max(vals.values()) - opt[a])
        gaps.append(opt[a] - bayes[a])
        rows.append([fmt_g(a)] + [fmt(vals[lam]) for lam in lams]
                    + [fmt(opt[a]), fmt_g(lam_opt[a]), fmt(bayes[a]), fmt(opt[a] - bayes[a])])
    c.table = md_table(["alpha"] + [f"eps_g(lam={lam:g})" for lam in lams]
                       + ["eps_g(optimal lam)", "optimal lam", "Bayes-optimal", "gap opt - Bayes"], rows)
    # reference alpha: the grid point closest (in log) to p["alpha_report"] (default 2)
    i_ref = int(np.argmin([abs(math.log(a / float(p.get("alpha_report", 2.0)))) for a in grid]))
    a_ref = grid[i_ref]
    i_all = int(np.argmax(spreads))
    vals = {lam: fixed[lam][a_ref] for lam in lams}
    l_best, l_worst = min(vals, key=vals.get), max(vals, key=vals.get)
    gaps = np.array(gaps)
    rel = spreads[i_ref] / opt[a_ref]
    v1 = c.add("tuning lam is key", SUPPORTED if rel > 0.05 else (PARTLY if rel > 0.01 else CONTRADICTED),
               f"at alpha = {fmt_g(a_ref)} the error ranges from {fmt(vals[l_best])} (lam={l_best:g}) to "
               f"{fmt(vals[l_worst])} (lam={l_worst:g}); the optimal lam = {fmt_g(lam_opt[a_ref])} reaches "
               f"{fmt(opt[a_ref])}: a badly chosen lam costs {fmt(spreads[i_ref])} "
               f"({100 * rel:.1f}% of the optimal error; over all alphas up to {fmt(spreads[i_all])}, at "
               f"alpha = {fmt_g(grid[i_all])}). Rule: supported if > 5% at alpha = {fmt_g(a_ref)}.",
               over=("alpha", "lams"), more="helps")
    k = int(np.sum(gaps > TOL))
    ia, ib = int(np.argmin(gaps)), int(np.argmax(gaps))
    v2 = c.add("optimal lam stays above Bayes-optimal", MISSING if p.get("rho") == 0.5 else frac_verdict(k, len(gaps)),
               f"at rho = {p['rho']:g} the optimally regularized logistic error exceeds the "
               f"Bayes-optimal error at {k} of {len(gaps)} alphas in [{fmt_g(grid[0])}, {fmt_g(grid[-1])}]; "
               f"the gap is {fmt(gaps[ia])} at alpha = {fmt_g(grid[ia])} (smallest) and "
               f"{fmt(gaps[ib])} at alpha = {fmt_g(grid[ib])} (largest). Rule: supported if the gap is > "
               f"{TOL:g} at every alpha.")
    c.numbers.update(alpha_ref=a_ref, spread=spreads[i_ref], spread_rel=rel, min_gap_opt_bayes=float(gaps.min()),
                     max_gap_opt_bayes=float(gaps.max()), n_alpha=len(grid),
                     opt_error_ref=float(opt[a_ref]), lam_opt_ref=float(lam_opt[a_ref]))
    c.verdict = combine([v1, v2])
    return c


FIGURE = Figure("regularization", PARAMS, QUICK, compute, plot, claim,
                observables=(("stage0_gen_error", False),), main="stage0_gen_error")
