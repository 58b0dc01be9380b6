"""Study ``label-noise``: the talk's pair (logistic teacher, sparse KD student, eta = 0.5) when
a fraction theta of the training labels is flipped.

Does distillation from a logistic teacher (its ridge fixed at the talk's 0.1, or optimal)
inherit the noise or remove part of it? For each (alpha, theta) the theory tunes the student:
the label-only student (chi = 0) its ridge; the soft KD student (lam, chi, T); the hard KD
student (temperature 0: the teacher's signs) (lam, chi). Simulation at the tuned values.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..problem import GaussianMixture, LogisticTeacher, Problem, Student
from ..reporting import plotting
from ..reporting.findings import TOL, Claim, combine, fmt, fmt_g, frac_verdict, md_table
from ..runs.context import RunContext
from . import _baselines as bl
from ._core import Study, optimum_row, simulate_at

PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, teacher_lam=0.1,
              alphas=[1.0, 2.0, 4.0], noises=[0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4],
              lam_bounds=[1e-4, 1e2], temperature_bounds=[0.1, 10.0],
              alpha_sim=[2.0], n_features=1000, seeds=10, simulate=True,
              finite_size_points=4)
QUICK = dict(alphas=[2.0], noises=[0.0, 0.1, 0.3], n_features=200, seeds=4)

#: The students of the study: (key, display label, tuned parameters, fixed values).
STUDENTS = (("labels", "labels only (chi = 0), optimal lam", ("lam",), {"chi": 0.0, "temperature": 1.0}),
            ("soft", "soft KD, optimal (lam, chi, T)", ("lam", "chi", "temperature"), {}),
            ("hard", "hard KD (T = 0), optimal (lam, chi)", ("lam", "chi"), {"temperature": 0.0}))
#: The corrected label-only students (same samples, tuned alike), besides the plain one (``labels``).
CORRECTED = ("weighted", "bias", "smoothing")
TEACHERS = (("fixed", "teacher lam_t = {lt:g}"), ("optimal", "teacher with optimal lam_t"))


def _space(names, p):
    b = {"lam": tuple(p["lam_bounds"]), "chi": (0.0, 1.0), "temperature": tuple(p["temperature_bounds"])}
    return {n: b[n] for n in names}


def point_task(alpha, label_noise, rho, delta, eta, teacher_lam, lam_bounds, temperature_bounds) -> list:
    """Theory rows at one (alpha, theta): both teachers, and every student of each tuned."""
    from ..runs.tuning import optimal_stage

    p = dict(lam_bounds=lam_bounds, temperature_bounds=temperature_bounds)
    data = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    base = dict(alpha=alpha, label_noise=label_noise, kind="theory")
    rows, x0 = [], None
    topt = optimal_stage(Problem(data, [LogisticTeacher(lam=teacher_lam)]), _space(["lam"], p))
    for tkey, tlabel in TEACHERS:
        lt = teacher_lam if tkey == "fixed" else topt.params["lam"]
        teacher = LogisticTeacher(lam=lt)
        if tkey == "fixed":
            from .. import theory

            r = theory.solve(data, teacher)
            trow = {"gen_error": float(r.teacher.gen_error), "converged": bool(r.status.converged),
                    "at_bound": False, "bound_params": ""}
        else:
            trow = optimum_row(topt, 0)
            trow.pop("lam")
        rows.append({**base, "series": tlabel.format(lt=lt), "teacher_ridge": tkey, "student": "teacher",
                     "teacher_lam": lt, **trow})
        for skey, slabel, tuned, fixed in STUDENTS:
            if skey == "labels" and tkey == "optimal":
                continue  # the label-only student ignores its teacher
            st = Student(eta=eta, lam=0.1, chi=0.5, temperature=1.0).replace(**fixed)
            # start from the label-only optimum (chi = 0): a tuned KD student is never worse than it
            o = optimal_stage(Problem(data, [teacher, st]), _space(tuned, p), x0=x0)
            row = {**base, "series": slabel if skey == "labels" else f"{slabel}, {tlabel.format(lt=lt)}",
                   "teacher_ridge": None if skey == "labels" else tkey, "student": skey, "teacher_lam": lt,
                   **fixed, **optimum_row(o)}
            rows.append(row)
            if skey == "labels":
                x0 = {"lam": o.params["lam"], "chi": 0.0}
    return rows


def compute(p: dict, ctx: RunContext) -> dict:
    items = [dict(alpha=a, label_noise=th, rho=p["rho"], delta=p["delta"], eta=p["eta"],
                  teacher_lam=p["teacher_lam"], lam_bounds=p["lam_bounds"],
                  temperature_bounds=p["temperature_bounds"])
             for a in p["alphas"] for th in p["noises"]]
    th = ctx.map(point_task, items, "theory: teachers and tuned students at each (alpha, noise)")
    bitems = [dict(alpha=a, rho=p["rho"], delta=p["delta"], label_noise=x, eta=p["eta"], key=k,
                   lam_bounds=p["lam_bounds"], sweeps=3) for a in p["alphas"] for x in p["noises"] for k in CORRECTED]
    base = ctx.map(bl.baseline_task, bitems, "theory: corrected label-only students at each (alpha, noise)")
    # one row per item (no Bayes baseline here): the coordinates from the items, whatever the cache holds
    base = base.assign(student=base["baseline"], teacher_ridge=None, teacher_lam=math.nan,
                       label_noise=[i["label_noise"] for i in bitems], alpha=[i["alpha"] for i in bitems])
    th = pd.concat([th, base], ignore_index=True, sort=False)
    parts, extra = [th], {}
    if p["simulate"]:
        base_ = {"rho": p["rho"], "delta": p["delta"], "teacher": "logistic"}
        rows = th[th["alpha"].isin(p["alpha_sim"]) & th["converged"].astype(bool)]
        pts, meta = [], []
        for _, r in rows[~rows["student"].isin(CORRECTED)].iterrows():
            pt = {"alpha": r["alpha"], "label_noise": r["label_noise"], "teacher_lam": r["teacher_lam"]}
            if r["student"] == "teacher":
                pt["student"] = False
            else:
                pt.update(eta=p["eta"], lam=r["lam"], chi=r["chi"], temperature=r["temperature"])
            pts.append(pt)
            meta.append(r)
        recs = simulate_at(ctx, pts, base_, n_features=p["n_features"], seeds=p["seeds"],
                           label="simulation at the tuned parameters")
        out = []
        for r, s, pt in zip(meta, recs, pts):
            who = "stage0" if r["student"] == "teacher" else "stage1"
            d = r.to_dict()
            d.update(kind="simulate", gen_error=s[f"{who}_gen_error"], gen_error_stderr=s[f"{who}_gen_error_stderr"],
                     n_features=s["n_features"], n_seeds=s["n_seeds"], at_bound=False, bound_params="",
                     sim_point=json.dumps(pt), sim_stage=int(who[-1]))
            out.append(d)
        parts.append(pd.DataFrame(out))
        parts.append(bl.simulate_rows(ctx, rows[rows["student"].isin(CORRECTED)], base_, n_features=p["n_features"],
                                      seeds=p["seeds"], label="simulation of the corrected label-only students"))
        t = pd.concat(parts, ignore_index=True, sort=False)
        fs = bl.finite_size(ctx, t, ("series", "alpha", "label_noise"), base_, n_features=p["n_features"],
                            seeds=p["seeds"], max_points=p["finite_size_points"])
        if not fs.empty:
            extra["finite-size"] = fs
    return {"errors": pd.concat(parts, ignore_index=True, sort=False), **extra}


# ----------------------------------------------------------------------------- reading the table


def _curve(t, alpha, student, teacher_ridge=None, col="gen_error", kind="theory") -> pd.Series:
    d = t[(t["kind"] == kind) & np.isclose(t["alpha"], alpha) & (t["student"] == student)]
    if teacher_ridge is not None:
        d = d[d["teacher_ridge"] == teacher_ridge]
    if kind == "theory":
        d = d[d["converged"].fillna(False).astype(bool)]
    return d.groupby("label_noise")[col].first().sort_index()


def _best_kd(t, alpha, ridge):
    s, h = _curve(t, alpha, "soft", ridge), _curve(t, alpha, "hard", ridge)
    idx = s.index.intersection(h.index)
    return np.minimum(s[idx], h[idx]), s[idx], h[idx]


#: KD "helps" at a point when it beats the label-only student by more than this.
HELPS = 1e-4
#: A label-only error within this of min(rho, 1 - rho) is the constant classifier's: nothing to denoise.
TRIVIAL = 1e-3


def findings(tables: dict, p: dict) -> Claim:
    t = tables["errors"]
    c = Claim("Label noise: does distillation inherit or remove it?",
              "Distillation from a logistic teacher trained on the same noisy labels removes part of the "
              "noise: the KD student's error grows less with the noise than the label-only student's, and "
              "distillation helps more with noise than without.", "label-noise")
    trivial_err = min(p["rho"], 1 - p["rho"]) - TRIVIAL
    alphas_ = sorted(set(t.loc[t["kind"] == "theory", "alpha"]))
    rows, ratios, peaks, soft_wins, chi_up, ridge_cmp, n_trivial = [], [], [], [], [], [], 0
    for a in alphas_:
        lab = _curve(t, a, "labels")
        best_by_ridge = {}
        for ridge in ("optimal", "fixed"):
            best, soft, hard = _best_kd(t, a, ridge)
            teach = _curve(t, a, "teacher", ridge)
            chi = _curve(t, a, "soft", ridge, "chi")
            T = _curve(t, a, "soft", ridge, "temperature")
            chih = _curve(t, a, "hard", ridge, "chi")
            th = [x for x in best.index if x in lab.index]
            best_by_ridge[ridge] = best
            if 0.0 not in th or len(th) < 2:
                continue
            g = lab[th] - best[th]
            for x in th:
                rows.append([fmt_g(a), ridge, fmt_g(x), fmt(teach.get(x)), fmt(lab[x]), fmt(soft[x]), fmt(hard[x]),
                             fmt(g[x]), fmt(chi.get(x), 3), fmt(T.get(x), 3) if chi.get(x, 0) > 0.01 else "-",
                             fmt(chih.get(x), 3)])
            if ridge != "optimal":
                continue
            noisy = [x for x in th if x > 0 and lab[x] < trivial_err]
            n_trivial += sum(1 for x in th if x > 0 and lab[x] >= trivial_err)
            d_lab, d_kd = lab[th] - lab[0.0], best[th] - best[0.0]
            ratios += [(a, x, d_kd[x] / d_lab[x]) for x in noisy if d_lab[x] > TOL]
            gn = g[[x for x in th if x > 0]]
            if len(gn):
                peaks.append((a, float(gn.max()), float(gn.idxmax()), float(g[0.0])))
            soft_wins += [(a, x, bool(soft[x] < hard[x] - TOL), bool(hard[x] < soft[x] - TOL)) for x in th]
            helped = [x for x in th if g[x] > HELPS and x in chi.index]
            if len(helped) >= 2:
                chi_up.append((a, float(chi[helped[-1]] - chi[helped[0]]), float(chi[helped[0]]),
                               float(chi[helped[-1]]), helped[0], helped[-1]))
        if {"optimal", "fixed"} <= set(best_by_ridge):
            o, f = best_by_ridge["optimal"], best_by_ridge["fixed"]
            ridge_cmp += [(a, x, float(f[x] - o[x])) for x in o.index.intersection(f.index) if x > 0]
    c.table = md_table(["alpha", "teacher ridge", "noise theta", "teacher eps_g", "labels only", "soft KD",
                        "hard KD", "gain of the best KD over labels", "soft: chi*", "soft: T* (where chi* > 0.01)",
                        "hard: chi*"], rows)
    if not ratios and not peaks:
        return c
    fin = [v for _, _, v in ratios if np.isfinite(v)]
    k = sum(v < 1 - 1e-3 for v in fin)
    v1 = frac_verdict(k, len(fin))
    lo = min(ratios, key=lambda z: z[2]) if ratios else (math.nan,) * 3
    hi = max(ratios, key=lambda z: z[2]) if ratios else (math.nan,) * 3
    c.add("the KD student's error grows less with the noise than the label-only student's", v1,
          f"with the optimally regularized teacher, R = [eps_KD(theta) - eps_KD(0)] / [eps_labels(theta) - "
          f"eps_labels(0)] (eps_KD: the better of the tuned soft and hard KD students) is < 0.999 at {k} of "
          f"{len(fin)} noisy points, from {fmt(lo[2], 3)} (alpha = {fmt_g(lo[0])}, theta = {fmt_g(lo[1])}) to "
          f"{fmt(hi[2], 3)} (alpha = {fmt_g(hi[0])}, theta = {fmt_g(hi[1])}); {n_trivial} noisy point(s) where "
          f"even the label-only student is the constant classifier (eps_g >= min(rho, 1 - rho) - {TRIVIAL:g}) "
          "are left out. Rule: supported if R < 0.999 at every point (KD removes part of the noise), "
          "contradicted if at none (KD inherits all of it).", ("alphas", "noises"))
    kp = sum(m > g0 + TOL for _, m, _, g0 in peaks)
    v2 = frac_verdict(kp, len(peaks))
    c.add("distillation helps more with label noise than without", v2,
          "gain = eps_labels - eps_KD (optimal teacher ridge): without noise, and its maximum over the noisy "
          "levels: " + "; ".join(f"alpha = {fmt_g(a)}: {fmt(g0)} -> {fmt(m)} at theta = {fmt_g(x)}"
                                  for a, m, x, g0 in peaks)
          + ". Rule: supported if the maximum exceeds the noiseless gain at every alpha.", ("alphas", "noises"))
    ks = sum(s for _, _, s, _ in soft_wins)
    kh = sum(h for _, _, _, h in soft_wins)
    v3 = frac_verdict(ks, len(soft_wins))
    c.add("soft labels (optimal T) beat hard labels", v3,
          f"the tuned soft KD student is better than the tuned hard KD student (by more than {TOL:g}) at {ks} "
          f"of {len(soft_wins)} (alpha, theta) points, worse at {kh}, tied elsewhere. Rule: supported if "
          "better everywhere.", ("alphas", "noises"))
    kc = sum(d > 0.01 for _, d, *_ in chi_up)
    v4 = frac_verdict(kc, len(chi_up))
    c.add("the optimal weight chi on the teacher grows with the noise", v4,
          f"soft KD, optimal teacher, over the noise levels where KD helps (gain > {HELPS:g}): "
          + ("; ".join(f"chi* {fmt(c0, 3)} at theta = {fmt_g(x0)} -> {fmt(c1, 3)} at theta = {fmt_g(x1)} "
                       f"(alpha = {fmt_g(a)})" for a, _, c0, c1, x0, x1 in chi_up) or "no alpha with two such levels")
          + ". Rule: supported if chi* rises by > 0.01 at every alpha.", ("alphas", "noises"))
    kr = sum(d > TOL for *_, d in ridge_cmp)
    kw = sum(d < -TOL for *_, d in ridge_cmp)
    v5 = frac_verdict(kr, len(ridge_cmp))
    worst = min(ridge_cmp, key=lambda z: z[2]) if ridge_cmp else (math.nan,) * 3
    c.add("the teacher's own optimal ridge gives the better student", v5,
          f"under noise, the best KD student of the optimally regularized teacher beats that of the teacher with "
          f"lam_t = {p['teacher_lam']:g} at {kr} of {len(ridge_cmp)} points and loses at {kw} (by up to "
          f"{fmt(-worst[2])} at alpha = {fmt_g(worst[0])}, theta = {fmt_g(worst[1])}), although that teacher "
          "is itself much worse. Rule: supported if better at every noisy point.", ("alphas", "noises"))
    c.numbers.update(ratio_min=lo[2], ratio_max=hi[2], peaks=peaks, chi=chi_up, ridge=ridge_cmp)
    v6 = _same_information(c, t, p)
    c.add(*bl.finite_finding(t, tables.get("finite-size"), p, ("series", "alpha", "label_noise"),
                             ("alpha", "label_noise"), ("alphas", "noises", "alpha_sim")))
    c.verdict = combine([v1, v2, v6])
    return c


def _best_sim(t, a, x, students, ridge=None):
    d = t[(t["kind"] == "simulate") & np.isclose(t["alpha"], a) & np.isclose(t["label_noise"], x)
          & t["student"].isin(list(students))]
    if ridge is not None:
        d = d[d["teacher_ridge"] == ridge]
    d = d[d["gen_error"].notna()]
    return None if d.empty else d.loc[d["gen_error"].idxmin()]


def _same_information(c: Claim, t: pd.DataFrame, p: dict) -> str:
    """The KD gain against the best label-only student with the same noisy samples (cross-entropy,
    class-reweighted, recalibrated bias, label smoothing; tuned alike), in s.e. of the simulation."""
    sim = t[t["kind"] == "simulate"]
    name = ("the best KD student beats the best label-only student with the same noisy samples (tuned alike: "
            "cross-entropy, class-reweighted, recalibrated bias, label smoothing)")
    th_m = []
    for a in sorted(set(t.loc[t["kind"] == "theory", "alpha"])):
        b = None
        for x in sorted(set(t.loc[t["kind"] == "theory", "label_noise"])):
            lab = [_curve(t, a, s).get(x, math.nan) for s in ("labels", *CORRECTED)]
            best, _, _ = _best_kd(t, a, "optimal")
            if x in best.index and np.isfinite(lab).any():
                b = int(np.nanargmin(lab))
                th_m.append((a, x, float(np.nanmin(lab)) - float(best[x]), ("labels", *CORRECTED)[b]))
    ms = []
    for a in sorted(set(sim["alpha"])):
        for x in sorted(set(sim.loc[np.isclose(sim["alpha"], a), "label_noise"])):
            kd = _best_sim(t, a, x, ("soft", "hard"), "optimal")
            lb = _best_sim(t, a, x, ("labels", *CORRECTED))
            if kd is not None and lb is not None:
                ms.append((a, x, *bl.margin(lb["gen_error"], lb["gen_error_stderr"], kd["gen_error"],
                                            kd["gen_error_stderr"]), str(lb["student"]), str(kd["student"])))
    k = sum(np.isfinite(z) and z > bl.SE_MARGIN for _, _, _, _, z, _, _ in ms)
    v = frac_verdict(k, len(ms)) if ms else frac_verdict(sum(d > TOL for _, _, d, _ in th_m), len(th_m))
    return c.add(name, v,
                 "theory, best baseline - best KD (optimal teacher ridge): " + ", ".join(
                     f"{fmt(d)} (vs {b}; alpha = {fmt_g(a)}, theta = {fmt_g(x)})" for a, x, d, b in th_m)
                 + ". Simulation (best of each side in the simulation): " + (", ".join(
                     f"{fmt(d)} +- {fmt(se)} = {z:.1f} s.e. ({kk} KD vs {lb}; alpha = {fmt_g(a)}, theta = {fmt_g(x)}, "
                     f"N = {p['n_features']})" for a, x, d, se, z, lb, kk in ms) or "none")
                 + f". Rule: supported if > {bl.SE_MARGIN:g} s.e. at every simulated point ({k} of {len(ms)}; "
                 "without simulation: a theory margin > 1e-6 everywhere), contradicted if nowhere. The tuning is on "
                 "the theory error (an oracle for every student alike).", ("alphas", "noises", "alpha_sim"))


# ----------------------------------------------------------------------------- figures


def figures(t: dict, p: dict) -> dict:
    plt = plotting.setup()
    t = t["errors"]
    alphas_ = sorted(set(t.loc[t["kind"] == "theory", "alpha"]))
    # (c) and (d) are two panels, not twin axes of one: each axis shows one quantity
    fig, axes = plt.subplots(2, 2, figsize=(12.5, 9.4))
    ax0, ax1, ax2, ax3 = axes.flat
    a0 = p["alpha_sim"][0] if p["alpha_sim"] and p["alpha_sim"][0] in alphas_ else alphas_[len(alphas_) // 2]
    styles = [("teacher", "optimal", plotting.GREY, ":", "teacher (optimal lam_t)"),
              ("labels", None, plotting.BLACK, "--", "labels only ($\\chi$ = 0), optimal $\\lambda$"),
              ("soft", "optimal", plotting.PALETTE[0], "-", "soft KD, optimal ($\\lambda, \\chi, T$)"),
              ("hard", "optimal", plotting.PALETTE[1], "-", "hard KD (T = 0), optimal ($\\lambda, \\chi$)"),
              ("soft", "fixed", plotting.PALETTE[2], "-.", f"soft KD, teacher lam_t = {p['teacher_lam']:g}")]
    for i, (st, ridge, col, ls, lab) in enumerate(styles):
        def sel(kind):
            d = t[(t["kind"] == kind) & np.isclose(t["alpha"], a0) & (t["student"] == st)]
            return d if ridge is None else d[d["teacher_ridge"] == ridge]
        plotting.theory_line(ax0, sel("theory").rename(columns={"converged": "status_converged"}), "gen_error", col,
                          lab, ls=ls, x="label_noise")
        s = sel("simulate")
        if not s.empty:
            s = s.assign(label_noise=s["label_noise"] + 0.004 * (i - 2))
            plotting.sim_points(ax0, s, "gen_error", col, x="label_noise")
    ax0.set_xlabel("label noise $\\theta$ (fraction of flipped training labels)")
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax0.set_title(f"(a) errors at $\\alpha$ = {a0:g}")
    plotting.legend(ax0, loc="upper left")
    for i, a in enumerate(alphas_):
        lab = _curve(t, a, "labels")
        best, _, _ = _best_kd(t, a, "optimal")
        idx = best.index.intersection(lab.index)
        ax1.plot(idx, (lab[idx] - best[idx]), color=plotting.PALETTE[i % len(plotting.PALETTE)], marker=".",
                 label=f"$\\alpha$ = {a:g}")
        chi = _curve(t, a, "soft", "optimal", "chi")
        T = _curve(t, a, "soft", "optimal", "temperature")
        T = T[chi.reindex(T.index).fillna(0) > 0.01]
        col = plotting.PALETTE[i % len(plotting.PALETTE)]
        ax2.plot(chi.index, chi.values, color=col, marker="o", label=f"$\\alpha$ = {a:g}")
        ax3.plot(T.index, T.values, color=col, marker="s", label=f"$\\alpha$ = {a:g}")
    ax1.axhline(0, color=plotting.GREY, lw=1, ls=":")
    ax1.set_xlabel("label noise $\\theta$")
    ax1.set_ylabel("$\\varepsilon_g$(labels only) $-$ $\\varepsilon_g$(best KD)")
    ax1.set_title("(b) benefit of distillation (theory, optimal teacher)")
    plotting.legend(ax1, loc="upper left")
    for ax in (ax2, ax3):
        ax.set_xlabel("label noise $\\theta$")
    ax2.set_ylabel("optimal weight on the teacher $\\chi^*$")
    ax2.set_ylim(-0.03, 1.03)
    ax2.set_title("(c) tuned soft KD student: optimal weight $\\chi^*$ (optimal teacher)")
    ax3.set_ylabel("optimal temperature $T^*$ (log scale)")
    ax3.set_yscale("log")
    ax3.set_ylim(*p["temperature_bounds"])  # the search interval
    ax3.set_title("(d) tuned soft KD student: optimal temperature $T^*$\n"
                  "(drawn where $\\chi^*$ > 0.01; the axis spans the search interval)")
    ax3.set_xlim(ax2.get_xlim())  # the same noise axis as (c)
    plotting.legend(ax2, loc="upper left")
    plotting.legend(ax3, loc="upper left")
    fig.suptitle(f"Label noise: sparse KD student ($\\eta$ = {p['eta']:g}) of a logistic teacher "
                 f"($\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}); tuned parameters minimize the theory error",
                 fontsize=10.5)
    plotting.footer(fig, p,
                 "Markers are offset slightly in theta for readability.")
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    return {"label-noise": fig}


STUDY = Study(
    name="label-noise",
    title="Study: does distillation inherit or remove label noise?",
    summary="the talk's pair under label noise 0-0.4: does KD from a logistic teacher inherit or remove the noise?",
    question="When a fraction theta of the training labels is flipped, does the sparse KD student of a logistic "
             "teacher (trained on the same noisy labels) inherit the noise or remove part of it? How do the "
             "optimal chi and temperature move with the noise, and are soft labels better than hard ones?",
    params=PARAMS, quick=QUICK, compute=compute, figures=figures, findings=findings,
    compare={"errors": ("series", "alpha", "label_noise")},
)
