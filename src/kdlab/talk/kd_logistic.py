"""Claim 2, figure ``kd-logistic-teacher``: the sparse KD student of logistic teachers of
several lam_t (and of the optimal teacher) against the label-only student, at the same small
ridge and with its own optimal ridge."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..reporting import plotting
from ..reporting.findings import TOL, Claim, alpha_ranges, combine, fmt, fmt_g, frac_verdict, md_table
from ..runs.sweep import Sweep
from ._core import Figure, RunContext, alphas, concat, curve, key, select, series_of, sim_settings, tag, with_union

PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, chi=1.0, temperature=1.0, lam=1e-3,
              teacher_lams=[1e-3, 1e-2, 1e-1, 1.0], optimal_teacher=True,
              alpha_min=0.3, alpha_max=10.0, n_alpha=30, n_alpha_opt=14,
              alpha_sim=[0.5, 1.5, 4.0], n_features=1000, seeds=list(range(20)), simulate=True)
QUICK = dict(n_alpha=6, n_alpha_opt=4, teacher_lams=[1e-3, 1e-1], alpha_sim=[1.5],
             n_features=200, seeds=[0, 1])

#: Display labels of the series (legends, tables); code selects series by their typed columns.
OPT_T = "KD, optimal lam_t"
LAB_OPT = "labels only, optimal lam"
LAB_SAME = "labels only, same lam"

#: The label-only student (chi = 0): the teacher plays no role (its columns are the first lam_t's).
LABELS_OPT = dict(chi=0.0, temperature=1.0, optimal_lam=True)


def _kd(p):
    return dict(teacher="logistic", chi=float(p["chi"]), temperature=float(p["temperature"]), lam=float(p["lam"]))


def _labels_same(p):
    return dict(chi=0.0, temperature=1.0, lam=float(p["lam"]))


def compute(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "eta": p["eta"], "teacher": "logistic"}
    kd = {"chi": p["chi"], "temperature": p["temperature"], "lam": p["lam"]}
    grid = alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"])
    sim_alphas = p["alpha_sim"] if p["simulate"] else []
    opt_alphas = with_union(alphas(p["alpha_min"], p["alpha_max"], p["n_alpha_opt"]), sim_alphas)
    grid = with_union(grid, opt_alphas)
    parts = []
    # label-only student (chi = 0) with its own optimal lam; the teacher is irrelevant at chi = 0
    lab = {"chi": 0.0, "temperature": 1.0, "teacher_lam": p["teacher_lams"][0]}

    def optimal_teachers():
        """The best logistic teacher at each alpha, then its KD student."""
        if not p["optimal_teacher"]:
            return [], None
        topt = ctx.run(Sweep({"alpha": opt_alphas, "optimize": "teacher_lam", "student": False}, base=base),
                       "optimal logistic teachers")
        pts = [{"alpha": a, "teacher_lam": lt, **kd} for a, lt in zip(topt["alpha"], topt["stage0_lam"])]
        return pts, ctx.run(Sweep(points=pts, base=base), "KD students of the optimal teachers")

    # the four theory series are independent: computed at once when the run has workers
    th, (kd_opt_pts, th2), opt, raw = ctx.together(
        lambda: ctx.run(Sweep({"alpha": grid, "teacher_lam": p["teacher_lams"], **kd}, base=base),
                        "KD students of logistic teachers"),
        optimal_teachers,
        lambda: ctx.run(Sweep({"alpha": opt_alphas, "optimize": "lam", **lab}, base=base),
                        "label-only student, optimal lam"),
        lambda: ctx.run(Sweep({"alpha": grid, "lam": p["lam"], **lab}, base=base), "label-only student, same lam"))
    for lt, d in th.groupby("stage0_lam", sort=True):
        parts.append(tag(d, f"KD, lam_t={lt:g}", "theory", teacher_lam=float(lt), **_kd(p)))
    if th2 is not None:
        parts.append(tag(th2, OPT_T, "theory", optimal_teacher_lam=True, **_kd(p)))
    parts.append(tag(opt, LAB_OPT, "theory", **LABELS_OPT))
    parts.append(tag(raw, LAB_SAME, "theory", **_labels_same(p)))
    if p["simulate"]:
        o = opt[opt["alpha"].isin(sim_alphas)]
        pts = [{"alpha": a, "lam": lm, **lab} for a, lm in zip(o["alpha"], o["stage1_lam"])]
        pts += [q for q in kd_opt_pts if q["alpha"] in sim_alphas]
        # one run: the series at one alpha share each seed's draws (and the teachers they have in common)
        sim, simopt = ctx.run_many(
            [Sweep({"alpha": sim_alphas, "teacher_lam": p["teacher_lams"], **kd}, base=base, backend="simulate",
                   **sim_settings(p)),
             Sweep(points=pts, base=base, backend="simulate", **sim_settings(p))],
            "simulation: KD students, optimal ridges")
        for lt, d in sim.groupby("stage0_lam", sort=True):
            parts.append(tag(d, f"KD, lam_t={lt:g}", "simulate", teacher_lam=float(lt), **_kd(p)))
        parts.append(tag(simopt[simopt["stage1_chi"] == 0], LAB_OPT, "simulate", **LABELS_OPT))
        parts.append(tag(simopt[simopt["stage1_chi"] != 0], OPT_T, "simulate", optimal_teacher_lam=True, **_kd(p)))
    return concat(parts)


def _kd_series(t, p):
    """The KD students' series: fixed teachers by lam_t, then the optimal teacher (if any)."""
    fixed = sorted(series_of(t, **_kd(p), optimal_teacher_lam=False), key=lambda s: s["teacher_lam"])
    return fixed + series_of(t, **_kd(p), optimal_teacher_lam=True)


def _lam_t(s) -> str:
    return "optimal" if s["optimal_teacher_lam"] else f"{s['teacher_lam']:g}"


def plot(t: pd.DataFrame, p):
    plt = plotting.setup()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11.0, 4.9), sharey=True)
    series = _kd_series(t, p)
    n = len(series) + 1
    i_col = 0
    for i, s in enumerate(series):
        th, sm = select(t, "theory", **key(s)), select(t, "simulate", **key(s))
        if s["optimal_teacher_lam"]:
            c, ls, lw, mk = plotting.BLACK, "-.", 1.6, "^"
            la, lb = "optimal $\\lambda_t$", "KD from the optimal teacher"
        else:
            c, ls, lw, mk = plotting.PALETTE[i_col % len(plotting.PALETTE)], "-", None, "o"
            i_col += 1
            la = f"$\\lambda_t$ = {plotting.tex(s['teacher_lam'])}"
            lb = f"KD from teacher $\\lambda_t$ = {plotting.tex(s['teacher_lam'])}"
        plotting.theory_line(ax0, th, "stage0_gen_error", c, la, ls=ls, lw=lw)
        plotting.sim_points(ax0, sm, "stage0_gen_error", c, marker=mk)
        plotting.theory_line(ax1, th, "stage1_gen_error", c, lb, ls=ls, lw=lw)
        plotting.sim_points(ax1, sm, "stage1_gen_error", c, marker=mk, jitter=plotting.jit(i, n))
    plotting.theory_line(ax1, select(t, "theory", **LABELS_OPT), "stage1_gen_error", plotting.BLACK,
                      "labels only ($\\chi$ = 0), optimal $\\lambda$", ls="--", lw=2.0)
    plotting.sim_points(ax1, select(t, "simulate", **LABELS_OPT), "stage1_gen_error", plotting.BLACK, marker="s",
                     jitter=plotting.jit(n - 1, n))
    plotting.theory_line(ax1, select(t, "theory", **_labels_same(p)), "stage1_gen_error", plotting.GREY,
                      f"labels only ($\\chi$ = 0), $\\lambda$ = {plotting.tex(p['lam'])}", ls=":", lw=2.0)
    for ax in (ax0, ax1):
        ax.set_xscale("log")
        ax.set_xlabel("$\\alpha = M / N$")
        ax.tick_params(labelleft=True)
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax0.set_title("(a) the logistic teachers\n(all N weights, ridge $\\lambda_t$)")
    ax1.set_title(f"(b) their sparse KD students ($\\eta$ = {p['eta']:g})\n"
                  f"$\\chi$ = {p['chi']:g}, T = {p['temperature']:g}, ridge $\\lambda$ = {plotting.tex(p['lam'])}")
    plotting.legend(ax0, loc="upper right")
    plotting.legend(ax1, loc="lower left")
    fig.suptitle("KD from L2-regularized logistic teachers: the student inherits the teacher's regularization"
                 f"\n($\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}; same training set for teacher and student)",
                 fontsize=10.5)
    plotting.footer(fig, p, "Markers of different series at one alpha are slightly offset for readability.")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def claim(t: pd.DataFrame, p: dict) -> Claim:
    from scipy.stats import kendalltau

    c = Claim("Logistic teacher: a better teacher gives a better student; the student inherits the "
                 "teacher's regularization; it stays sub-optimal",
              "the KD student's error vs alpha for several teacher lam_t: a better teacher gives a better "
              "student; the student inherits the teacher's regularization; it stays sub-optimal (cannot beat "
              "explicit regularization of the same type).", "kd-logistic-teacher")
    series = _kd_series(t, p)
    st = [curve(t, "stage1_gen_error", **key(s)) for s in series]
    te = [curve(t, "stage0_gen_error", **key(s)) for s in series]
    lab_opt = curve(t, "stage1_gen_error", **LABELS_OPT)
    lab_opt_lam = curve(t, "stage1_lam", **LABELS_OPT)
    lab_same = curve(t, "stage1_gen_error", **_labels_same(p))
    grid = [a for a in lab_opt.index if a in lab_same.index and all(a in x.index for x in st)]
    if not grid or len(series) < 2:
        return c
    rows, taus, best_is_best, inherit, margin = [], [], [], [], []
    for a in grid:
        tv = np.array([x[a] for x in te])
        sv = np.array([x[a] for x in st])
        tau = kendalltau(tv, sv)[0] if np.ptp(tv) > TOL and np.ptp(sv) > TOL else float("nan")
        taus.append(tau)
        best_is_best.append(int(np.argmin(sv)) == int(np.argmin(tv)))
        inherit.append(lab_same[a] - sv.min())
        margin.append(sv.min() - lab_opt[a])
        rows.append([fmt_g(a)] + [f"{fmt(x)} / {fmt(y)}" for x, y in zip(tv, sv)]
                    + [fmt(lab_same[a]), f"{fmt(lab_opt[a])} (lam={fmt_g(lab_opt_lam[a])})",
                       "n/a" if math.isnan(tau) else f"{tau:.2f}"])
    header = (["alpha"] + [f"lam_t={_lam_t(s)}: teacher / student" for s in series]
              + [f"labels only, lam={fmt_g(p['lam'])}", "labels only, optimal lam", "Kendall tau"])
    c.table = md_table(header, rows)
    taus = np.array(taus, float)
    ok = np.isfinite(taus)
    conc = ok & (taus > 0.999)
    n = int(ok.sum())
    k = int(conc.sum())
    kb = int(np.sum(best_is_best))
    pairs = float(np.nanmean((1 + taus) / 2)) if n else float("nan")  # teacher pairs ranked alike
    over = ("alpha", "teacher_lams")
    v1 = c.add("better teacher, better student", frac_verdict(k, n),
               f"the students' errors are ranked exactly as their teachers' errors (Kendall tau = 1 over "
               f"the {len(series)} teachers) at {k} of {n} alphas (where: "
               f"{alpha_ranges(np.array(grid)[ok], conc[ok])}); mean tau = {np.nanmean(taus) if n else math.nan:.2f}, "
               f"i.e. {100 * pairs:.0f}% of the teacher pairs rank their students alike. The best teacher has the "
               f"best student at {kb} of {len(grid)} alphas. Rule: supported if the ranking agrees at every alpha.",
               over)
    inherit = np.array(inherit)
    ki = int(np.sum(inherit > TOL))
    ii = int(np.argmax(inherit))
    v2 = c.add("the student inherits the teacher's regularization", frac_verdict(ki, len(grid)),
               f"with the same explicit ridge lam = {fmt_g(p['lam'])}, the best KD student beats the "
               f"label-only student at {ki} of {len(grid)} alphas (where: "
               f"{alpha_ranges(grid, inherit > TOL)}); the largest gain is {fmt(inherit[ii])} at "
               f"alpha = {fmt_g(grid[ii])} ({fmt(lab_same[grid[ii]])} -> {fmt(lab_same[grid[ii]] - inherit[ii])}): "
               f"the regularization comes from the teacher. Rule: supported if it helps at every alpha.", over,
               more="helps")
    margin = np.array(margin)
    km = int(np.sum(margin >= -TOL))
    im = int(np.argmin(margin))
    v3 = c.add("stays sub-optimal", frac_verdict(km, len(grid)),
               f"the best KD student (over all teachers shown, including the optimal teacher) is no better "
               f"than the label-only student with its optimal lam at {km} of {len(grid)} alphas; the "
               f"smallest margin is {fmt(margin[im])} at alpha = {fmt_g(grid[im])}. Rule: supported if "
               f"eps_KD >= eps_labels,opt - {TOL:g} at every alpha.", over, more="hurts")
    c.numbers.update(concordant=k, n_tau=n, mean_tau=float(np.nanmean(taus)) if n else math.nan,
                     pairs_concordant=pairs, best_teacher_best_student=kb, inherit_count=ki,
                     max_inherit_gain=float(inherit.max()), min_margin_vs_optimal=float(margin.min()),
                     n_alpha=len(grid))
    c.verdict = combine([v1, v2, v3])
    return c


FIGURE = Figure("kd-logistic-teacher", PARAMS, QUICK, compute, plot, claim,
                observables=(("stage0_gen_error", True), ("stage1_gen_error", False)))
