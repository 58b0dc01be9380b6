"""Study ``weak-to-strong``: a weak teacher (a logistic teacher on a fraction eta_t of the
features, its ridge optimal for itself) distilled into a strong student that sees all the features
(eta = 1), trained on the teacher's own training set (shared) or on a fresh set of the same size.

Where (in eta_t and alpha) does the strong student beat its weak teacher, by how much, and with
which weight chi on the teacher? The students, each tuned on the theory at every (alpha, eta_t,
data): the *pure* weak-to-strong student (chi = 1: the teacher's soft labels only, no ground truth,
the setting of Burns et al. 2023; lam and T tuned), the soft KD student (lam, chi in [0, 1], T), the
KD student at T = 1 with chi up to ``chi_max`` (chi > 1 extrapolates beyond the teacher: the model
allows it at T = 1 only), the best of the last two, and the strong ceiling (chi = 0: labels only,
all features, its own optimal ridge). The performance gap recovered
PGR = (eps_teacher - eps_student) / (eps_teacher - eps_ceiling). Simulation at the tuned values.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..problem import Fresh, GaussianMixture, LogisticTeacher, Problem, Shared, Student
from ..reporting import plotting
from ..reporting.findings import CONTRADICTED, SUPPORTED, TOL, Claim, combine, fmt, fmt_g, frac_verdict, md_table
from ..runs.context import RunContext
from . import _baselines as bl
from ._core import Study, optimum_row, simulate_at

PARAMS = dict(rho=0.3, delta=1.0, label_noise=0.0,
              alphas=[0.5, 1.0, 2.0, 4.0, 8.0], teacher_etas=[0.1, 0.2, 0.3, 0.5, 0.7, 1.0],
              lam_bounds=[1e-4, 1e2], temperature_bounds=[0.1, 10.0], chi_max=3.0, sweeps=3, n_scan=5,
              alpha_sim=[2.0], n_features=1000, seeds=10, simulate=True,
              finite_size_points=4)
QUICK = dict(alphas=[1.0, 2.0], teacher_etas=[0.2, 0.5], sweeps=2, n_scan=4, n_features=200, seeds=4)

DATAS = ("shared", "fresh")
DATA_LABEL = {"shared": "shared data", "fresh": "fresh data"}
#: The tuned students: (key, display label).
VARIANTS = (("pure", "pure W2S student (chi = 1; lam, T tuned)"),
            ("soft", "soft KD student (lam, chi in [0, 1], T tuned)"),
            ("chi>1", "KD student at T = 1 (lam, chi in [0, {cm:g}] tuned)"),
            ("best", "best student (best of soft KD and T = 1)"))
TEACHER_SERIES = "weak teacher (eta_t, optimal lam_t)"
CEILING_SERIES = "strong ceiling (chi = 0: labels only, eta = 1, optimal lam)"


def _label(variant: str, data: str, chi_max: float = 3.0) -> str:
    lab = dict(VARIANTS)[variant].format(cm=chi_max)
    return f"{lab}, {DATA_LABEL[data]}"


def lone_task(alpha, eta, rho, delta, label_noise, lam_bounds, n_scan) -> list:
    """The logistic classifier on a fraction ``eta`` of the features with its optimal ridge (the
    weak teacher; at ``eta = 1`` also the strong ceiling: the chi = 0 student is the same estimator)."""
    from ..runs.tuning import optimal_stage

    data = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    o = optimal_stage(Problem(data, [LogisticTeacher(lam=0.1, eta=eta)]), {"lam": tuple(lam_bounds)}, n_scan=n_scan)
    row = optimum_row(o, 0)
    return [{"alpha": alpha, "eta": eta, **row}]


def student_task(alpha, teacher_eta, teacher_lam, data_kind, ceiling_lam, ceiling_error, rho, delta, label_noise,
                 lam_bounds, temperature_bounds, chi_max, sweeps, n_scan) -> list:
    """Theory rows of the strong students (eta = 1) of one weak teacher at one (alpha, eta_t, data)."""
    from ..runs.tuning import optimal_stage

    data = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    teacher = LogisticTeacher(lam=teacher_lam, eta=teacher_eta)
    dset = Shared() if data_kind == "shared" else Fresh(alpha=alpha)
    st = Student(eta=1.0, chi=1.0, temperature=1.0, lam=0.1, data=dset)
    lam_b, t_b = tuple(lam_bounds), tuple(temperature_bounds)
    kw = dict(sweeps=sweeps, n_scan=n_scan)
    base = dict(kind="theory", alpha=alpha, teacher_eta=teacher_eta, data=data_kind, eta=1.0, teacher_lam=teacher_lam)
    rows = []

    def add(variant, o, **fixed):
        rows.append({**base, "series": _label(variant, data_kind, chi_max), "student": variant, **fixed,
                     **optimum_row(o)})

    pure = optimal_stage(Problem(data, [teacher, st]), {"lam": lam_b, "temperature": t_b}, **kw)
    add("pure", pure, chi=1.0)
    # start the soft search at the better of its two corners (pure: chi = 1; ceiling: chi = 0)
    x0 = ({"lam": pure.params["lam"], "chi": 1.0, "temperature": pure.params["temperature"]}
          if pure.gen_error <= ceiling_error else {"lam": ceiling_lam, "chi": 0.0, "temperature": 1.0})
    soft = optimal_stage(Problem(data, [teacher, st]), {"lam": lam_b, "chi": (0.0, 1.0), "temperature": t_b},
                         x0=x0, **kw)
    add("soft", soft)
    x1 = {"lam": soft.params["lam"], "chi": soft.params["chi"]}
    big = optimal_stage(Problem(data, [teacher, st.replace(temperature=1.0)]),
                        {"lam": lam_b, "chi": (0.0, float(chi_max))}, x0=x1, **kw)
    add("chi>1", big, temperature=1.0)
    best = dict(rows[-1] if big.gen_error < soft.gen_error else rows[-2])
    best.update(series=_label("best", data_kind, chi_max), student="best",
                best_of=best["student"])
    rows.append(best)
    return rows


def compute(p: dict, ctx: RunContext) -> dict:
    common = dict(rho=p["rho"], delta=p["delta"], label_noise=p["label_noise"])
    etas = sorted(set(p["teacher_etas"]) | {1.0})
    lone = ctx.map(lone_task, [dict(alpha=a, eta=e, lam_bounds=p["lam_bounds"], n_scan=p["n_scan"], **common)
                               for a in p["alphas"] for e in etas], "theory: weak teachers and strong ceilings")
    lone = lone.assign(lam=lone["lam"].astype(float))

    def lone_row(a, e):
        d = lone[np.isclose(lone["alpha"], a) & np.isclose(lone["eta"], e)]
        return d.iloc[0]

    parts, items = [], []
    for a in p["alphas"]:
        c = lone_row(a, 1.0)
        parts.append({"series": CEILING_SERIES, "kind": "theory", "alpha": a, "teacher_eta": math.nan, "data": "",
                      "student": "ceiling", "eta": 1.0, "lam": c["lam"], "chi": 0.0, "temperature": 1.0,
                      "teacher_lam": math.nan, **{k: c[k] for k in ("gen_error", "at_bound", "bound_params",
                                                                       "converged", "n_evals")}})
        for e in p["teacher_etas"]:
            r = lone_row(a, e)
            parts.append({"series": TEACHER_SERIES, "kind": "theory", "alpha": a, "teacher_eta": e, "data": "",
                          "student": "teacher", "eta": e, "lam": math.nan, "chi": math.nan, "temperature": math.nan,
                          "teacher_lam": r["lam"], **{k: r[k] for k in ("gen_error", "at_bound", "bound_params",
                                                                           "converged", "n_evals")}})
            for dk in DATAS:
                items.append(dict(alpha=a, teacher_eta=e, teacher_lam=float(r["lam"]), data_kind=dk,
                                  ceiling_lam=float(c["lam"]), ceiling_error=float(c["gen_error"]),
                                  lam_bounds=p["lam_bounds"], temperature_bounds=p["temperature_bounds"],
                                  chi_max=p["chi_max"], sweeps=p["sweeps"], n_scan=p["n_scan"], **common))
    st = ctx.map(student_task, items, "theory: tuned strong students at each (alpha, eta_t, data)")
    bitems = [dict(alpha=a, eta=1.0, key=k, lam_bounds=p["lam_bounds"], sweeps=p["sweeps"], alpha_data=ad, **common)
              for a in p["alphas"] for ad in (a, 2 * a) for k in (bl.ERM if ad > a else bl.BASELINES)]
    base = ctx.map(bl.baseline_task, bitems, "theory: label-only strong baselines (own and pooled data) at each alpha")
    base = bl.flag_below_floor(base.assign(rho=p["rho"]), p["delta"]) if p["label_noise"] == 0 else base
    base = base.assign(student="label-only", teacher_eta=math.nan, teacher_lam=math.nan,
                       data=np.where(base["pooled"].astype(bool), "pooled", "own"))
    th = pd.concat([pd.DataFrame(parts), st, base], ignore_index=True, sort=False)
    out, extra = [th], {}
    if p["simulate"]:
        out.append(_simulate(th, p, ctx))
        b = {"rho": p["rho"], "delta": p["delta"], "label_noise": p["label_noise"]}
        out.append(bl.simulate_rows(ctx, base[base["alpha"].isin(p["alpha_sim"])], b, n_features=p["n_features"],
                                    seeds=p["seeds"], label="simulation of the label-only baselines"))
        t = pd.concat(out, ignore_index=True, sort=False)
        fs = bl.finite_size(ctx, t, ("series", "alpha", "teacher_eta"), {**b, "teacher": "logistic"},
                            n_features=p["n_features"], seeds=p["seeds"], max_points=p["finite_size_points"])
        if not fs.empty:
            extra["finite-size"] = fs
    return {"errors": pd.concat(out, ignore_index=True, sort=False), **extra}


def _simulate(th: pd.DataFrame, p: dict, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "label_noise": p["label_noise"], "teacher": "logistic"}
    ok = th["converged"].fillna(False).astype(bool) & th["alpha"].isin(p["alpha_sim"])
    pts, meta, who = [], [], []
    for _, r in th[ok].iterrows():
        if r["student"] == "ceiling":  # the labels-only classifier on all the features: a lone teacher
            pts.append({"alpha": r["alpha"], "teacher_eta": 1.0, "teacher_lam": r["lam"], "student": False})
            who.append("stage0")
        elif r["student"] in ("pure", "best"):
            pts.append({"alpha": r["alpha"], "teacher_eta": r["teacher_eta"], "teacher_lam": r["teacher_lam"],
                        "eta": 1.0, "lam": r["lam"], "chi": r["chi"], "temperature": r["temperature"],
                        "data_alpha": None if r["data"] == "shared" else r["alpha"]})
            who.append("stage1")
        else:
            continue
        meta.append(r)
    recs = simulate_at(ctx, pts, base, n_features=p["n_features"], seeds=p["seeds"],
                       label="simulation at the tuned parameters")
    rows = []
    for r, w, s, pt in zip(meta, who, recs, pts):
        d = r.to_dict()
        d.update(sim_point=json.dumps(pt), sim_stage=int(w[-1]))
        d.update(kind="simulate", gen_error=s[f"{w}_gen_error"], gen_error_stderr=s[f"{w}_gen_error_stderr"],
                 n_features=s["n_features"], n_seeds=s["n_seeds"], at_bound=False, bound_params="")
        rows.append(d)
        if r["student"] == "pure" and r["data"] == "shared":  # the teacher of this point, same seeds
            t = th[(th["student"] == "teacher") & np.isclose(th["alpha"], r["alpha"])
                   & np.isclose(th["teacher_eta"], r["teacher_eta"])].iloc[0].to_dict()
            t.update(kind="simulate", gen_error=s["stage0_gen_error"], gen_error_stderr=s["stage0_gen_error_stderr"],
                     n_features=s["n_features"], n_seeds=s["n_seeds"], at_bound=False, bound_params="", sim_stage=0,
                     sim_point=json.dumps({"alpha": r["alpha"], "teacher_eta": r["teacher_eta"],
                                           "teacher_lam": r["teacher_lam"], "student": False}))
            rows.append(t)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- reading the table


def _theory(t: pd.DataFrame) -> pd.DataFrame:
    d = t[t["kind"] == "theory"]
    return d[d["converged"].fillna(False).astype(bool)]


def _grid(t: pd.DataFrame, student: str, data: str = "", col: str = "gen_error") -> pd.Series:
    """``col`` of the theory rows of ``student`` (and ``data``), indexed by (alpha, teacher_eta)."""
    d = _theory(t)
    d = d[d["student"] == student]
    if data:
        d = d[d["data"] == data]
    return d.groupby(["alpha", "teacher_eta"])[col].first().sort_index()


def _ceiling(t: pd.DataFrame) -> pd.Series:
    d = _theory(t)
    return d[d["student"] == "ceiling"].groupby("alpha")["gen_error"].first().sort_index()


def gains(t: pd.DataFrame, data: str, student: str = "pure") -> pd.DataFrame:
    """Per (alpha, eta_t): the teacher's, the student's and the ceiling's errors, the gain
    ``teacher - student`` and the PGR ``gain / (teacher - ceiling)`` (NaN where the gap < TOL)."""
    te, se = _grid(t, "teacher"), _grid(t, student, data)
    idx = te.index.intersection(se.index)
    out = pd.DataFrame({"teacher": te[idx], "student": se[idx]}, index=idx)
    ceil = _ceiling(t)
    out["ceiling"] = [ceil.get(a, math.nan) for a, _ in idx]
    out["gain"] = out["teacher"] - out["student"]
    gap = out["teacher"] - out["ceiling"]
    out["pgr"] = np.where(gap > TOL, out["gain"] / gap.where(gap > TOL, 1.0), math.nan)
    return out


def _where(pts) -> str:
    if not pts:
        return "nowhere"
    by_eta = {}
    for a, e in pts:
        by_eta.setdefault(e, []).append(a)
    return "; ".join(f"eta_t = {fmt_g(e)}: alpha = {', '.join(fmt_g(a) for a in sorted(al))}"
                     for e, al in sorted(by_eta.items()))


def _sim_row(t, student, data, a, e):
    d = t[(t["kind"] == "simulate") & (t["student"] == student) & np.isclose(t["alpha"], a)]
    if data:
        d = d[d["data"] == data]
    d = d[np.isclose(d["teacher_eta"].astype(float), e)] if e is not None else d
    return None if d.empty else d.iloc[0]


def _label_only(t, a, pooled: bool, kind="theory"):
    """The best label-only strong student (ERM baselines, eta = 1) at ``alpha`` on its own alpha N
    samples or on the pooled 2 alpha N."""
    return bl.best_of(t, bl.ERM, {"alpha": a, "data": "pooled" if pooled else "own"}, kind=kind)


def _margins(t, pairs) -> list:
    """``(alpha, eta_t, d, se, z)`` for each (worse row, better row) pair of simulated rows."""
    out = []
    for a, e, w, b in pairs:
        if w is not None and b is not None:
            out.append((a, e, *bl.margin(w["gen_error"], w["gen_error_stderr"], b["gen_error"], b["gen_error_stderr"])))
    return out


def _margin_text(ms, n) -> str:
    return ", ".join(f"{fmt(d)} +- {fmt(se)} = {z:.1f} s.e. (alpha = {fmt_g(a)}, eta_t = {fmt_g(e)})"
                     for a, e, d, se, z in ms) + f" (N = {n})" if ms else "no simulated point"


def findings(tables: dict, p: dict) -> Claim:
    t = tables["errors"]
    if "student" in t and "data" in t:
        t = t.assign(data=t["data"].fillna(""))
    c = Claim("Weak-to-strong: does a strong student beat its weak teacher?",
              "A strong student (all the features) trained on the soft labels of a weak teacher (a fraction eta_t of "
              "the features) alone (chi = 1, the setting of Burns et al.) beats its teacher, recovering part of the "
              "gap to the strong ceiling; the teacher's labels also help a student that has the ground truth.",
              "weak-to-strong")
    verdicts = []
    g = {dk: gains(t, dk) for dk in DATAS}
    gb = {dk: gains(t, dk, "best") for dk in DATAS}
    chi = {dk: _grid(t, "best", dk, "chi") for dk in DATAS}
    temp = {dk: _grid(t, "best", dk, "temperature") for dk in DATAS}
    rows = []
    for dk in DATAS:
        for (a, e), r in g[dk].iterrows():
            b = gb[dk].loc[(a, e)] if (a, e) in gb[dk].index else None
            rows.append([dk, fmt_g(a), fmt_g(e), fmt(r["teacher"]), fmt(r["ceiling"]), fmt(r["student"]),
                         fmt(r["gain"]), fmt(r["pgr"], 3), fmt(None if b is None else b["student"]),
                         fmt(chi[dk].get((a, e)), 3), fmt(temp[dk].get((a, e)), 3)])
    c.table = md_table(["data", "alpha", "eta_t", "teacher eps_g", "ceiling eps_g", "pure W2S eps_g",
                        "gain = teacher - pure", "PGR (pure)", "best student eps_g", "best: chi*", "best: T*"], rows)
    weak = {dk: g[dk][[e < 1.0 - 1e-12 for _, e in g[dk].index]] for dk in DATAS}
    # 1-2. the pure student beats its weak teacher (fresh: Burns et al.'s setting; shared)
    for dk, what in (("fresh", "on fresh data (Burns et al.'s setting: the teacher labels new inputs)"),
                     ("shared", "on the teacher's own training set")):
        w = weak[dk]
        if w.empty:
            continue
        win = [ix for ix, v in w["gain"].items() if v > TOL]
        lose = [ix for ix, v in w["gain"].items() if v < -TOL]
        v = frac_verdict(len(win), len(w))
        imax = w["gain"].idxmax()
        ms = _margins(t, [(a, e, _sim_row(t, "teacher", "", a, e), _sim_row(t, "pure", dk, a, e))
                          for a, e in w.index])
        ks = sum(np.isfinite(z) and z > bl.SE_MARGIN for *_, z in ms)
        if ms:  # a claimed gain needs > 3 s.e. in simulation; the theory map is the context
            v = frac_verdict(ks, len(ms))
        verdicts.append(c.add(f"the pure weak-to-strong student (chi = 1) beats its weak teacher {what}", v,
                              f"baseline: the weak teacher. Simulation, teacher - pure student: "
                              f"{_margin_text(ms, p['n_features'])}: > {bl.SE_MARGIN:g} s.e. at {ks} of {len(ms)}. "
                              "Theory: "
                              + f"gain = eps_teacher - eps_pure > {TOL:g} at {len(win)} of {len(w)} (alpha, eta_t < 1) "
                              f"points ({_where(win)}); worse than the teacher at {len(lose)}. Largest gain "
                              f"{fmt(w['gain'].max())} at alpha = {fmt_g(imax[0])}, eta_t = {fmt_g(imax[1])} "
                              f"(teacher {fmt(w.loc[imax, 'teacher'])} -> student {fmt(w.loc[imax, 'student'])}); "
                              f"smallest {fmt(w['gain'].min())}. Rule: supported if the simulated gain exceeds "
                              f"{bl.SE_MARGIN:g} s.e. at every simulated point (without simulation: if the theory gain "
                              f"is > {TOL:g} at every weak-teacher point), contradicted if nowhere.",
                              ("alphas", "teacher_etas")))
        c.numbers[f"max_gain_{dk}"] = float(w["gain"].max())
        c.numbers[f"max_gain_at_{dk}"] = [float(imax[0]), float(imax[1])]
    # 3. performance gap recovered by the pure student (fresh data): does it grow with alpha?
    for dk in ("fresh",):
        w = weak[dk]
        pg = w["pgr"].dropna()
        if pg.empty:
            continue
        rising, n = [], 0
        for e in sorted({e for _, e in pg.index}):
            s = pg[[ee == e for _, ee in pg.index]]
            if len(s) < 2:
                continue
            n += 1
            s = s.sort_index()
            rising.append((e, float(s.iloc[0]), float(s.iloc[-1]), bool(s.iloc[-1] > s.iloc[0] + 0.01)))
        k = sum(r[3] for r in rising)
        imin, imaxp = pg.idxmin(), pg.idxmax()
        c.add("the performance gap recovered (PGR) by the pure student grows with the amount of data alpha",
              frac_verdict(k, n),
              f"PGR = (eps_teacher - eps_pure) / (eps_teacher - eps_ceiling), fresh data, ranges from "
              f"{fmt(pg.min(), 3)} (alpha = {fmt_g(imin[0])}, eta_t = {fmt_g(imin[1])}) to {fmt(pg.max(), 3)} "
              f"(alpha = {fmt_g(imaxp[0])}, eta_t = {fmt_g(imaxp[1])}), median {fmt(pg.median(), 3)}; from the "
              "smallest to the largest alpha: " + ", ".join(f"{fmt(a0, 3)} -> {fmt(a1, 3)} at eta_t = {fmt_g(e)}"
                                                          for e, a0, a1, _ in rising)
              + ". Rule: supported if the PGR at the largest alpha exceeds the PGR at the smallest by > 0.01 at "
              "every eta_t < 1.", ("alphas", "teacher_etas"))
        c.numbers.update(pgr_min=float(pg.min()), pgr_max=float(pg.max()), pgr_median=float(pg.median()))
    # 4. same information: the pure student against the strong label-only student trained on the same labels
    pts = [(dk, a, e) for dk in DATAS for a, e in weak[dk].index]
    if pts:
        th_d = []
        for dk, a, e in pts:
            b = _label_only(t, a, False)
            if b is not None:
                th_d.append((dk, a, e, float(b["gen_error"]) - float(g[dk].loc[(a, e), "student"])))
        msd = {dk: _margins(t, [(a, e, _label_only(t, a, False, "simulate"), _sim_row(t, "pure", dk, a, e))
                                for d_, a, e in pts if d_ == dk]) for dk in DATAS}
        ms = [m for dk in DATAS for m in msd[dk]]
        k4 = sum(np.isfinite(z) and z > bl.SE_MARGIN for *_, z in ms)
        c.add("same information: the pure W2S student beats a strong label-only student trained on the labels its "
              "teacher saw", frac_verdict(k4, len(ms)) if ms else frac_verdict(sum(d > TOL for *_, d in th_d),
                                                                             len(th_d)),
              "baseline: the best strong label-only student (eta = 1; cross-entropy, class-reweighted, recalibrated "
              "bias, label smoothing, each tuned alike) on the teacher's alpha N labelled samples. Theory, baseline - "
              f"pure: from {fmt(min((d for *_, d in th_d), default=math.nan))} to "
              f"{fmt(max((d for *_, d in th_d), default=math.nan))} ({sum(d > TOL for *_, d in th_d)} of {len(th_d)} "
              "points positive). Simulation: " + "; ".join(f"{dk}: {_margin_text(msd[dk], p['n_features'])}"
                                                            for dk in DATAS) + f". Rule: supported if > "
              f"{bl.SE_MARGIN:g} s.e. at every simulated point (a weak-to-strong gain that a learner with the labels "
              "gets without the teacher is not a gain of distillation).", ("alphas", "teacher_etas"))
    # 5. the teacher's labels help a student that has the ground truth: best < best same-information baseline
    pts, k, n, big = [], 0, 0, []
    for dk in DATAS:
        w = gb[dk][[e < 1.0 - 1e-12 for _, e in gb[dk].index]]
        for (a, e), r in w.iterrows():
            b = _label_only(t, a, dk == "fresh")
            if b is None:
                continue
            n += 1
            d = float(b["gen_error"]) - r["student"]
            if d > TOL:
                k += 1
                pts.append((dk, a, e))
            big.append((d, dk, a, e, chi[dk].get((a, e), math.nan), str(b["variant"])))
    ms = {dk: _margins(t, [(a, e, _label_only(t, a, dk == "fresh", "simulate"), _sim_row(t, "best", dk, a, e))
                           for a, e in weak[dk].index]) for dk in DATAS}
    n_sim = sum(len(x) for x in ms.values())
    k_sim = sum(np.isfinite(z) and z > bl.SE_MARGIN for x in ms.values() for *_, z in x)
    if n:
        bmax = max(big)
        verdicts.append(c.add("the weak teacher's soft labels help a strong student that also has the labels, beyond "
                              "the best label-only student with the same samples",
                              frac_verdict(k_sim, n_sim) if n_sim else frac_verdict(k, n),
                              "baseline: the best strong label-only student tuned alike (cross-entropy, "
                              "class-reweighted, recalibrated bias, label smoothing) on the same samples: alpha N on "
                              "the teacher's set, the pooled 2 alpha N on a fresh set. Theory: the best tuned student "
                              f"(lam, chi, T) beats it by > {TOL:g} at {k} of {n} (data, alpha, eta_t < 1) points "
                              f"(shared: {_where([(a, e) for d, a, e in pts if d == 'shared'])}; fresh: "
                              f"{_where([(a, e) for d, a, e in pts if d == 'fresh'])}); largest margin {fmt(bmax[0])} "
                              f"({bmax[1]}, alpha = {fmt_g(bmax[2])}, eta_t = {fmt_g(bmax[3])}, chi* = "
                              f"{fmt(bmax[4], 3)}, vs {bmax[5]}), smallest {fmt(min(big)[0])}. Simulation: "
                              + "; ".join(f"{dk}: {_margin_text(ms[dk], p['n_features'])}" for dk in DATAS)
                              + f". Rule: supported if > {bl.SE_MARGIN:g} s.e. at every simulated point ({k_sim} of "
                              f"{n_sim}), contradicted if nowhere.", ("alphas", "teacher_etas")))
    # 6. chi > 1 (T = 1) helps somewhere with a weak teacher
    d = _theory(t)
    big_ = d[d["student"] == "chi>1"].set_index(["data", "alpha", "teacher_eta"])
    soft_ = d[d["student"] == "soft"].set_index(["data", "alpha", "teacher_eta"])
    idx = big_.index.intersection(soft_.index)
    if len(idx):
        dd = soft_.loc[idx, "gen_error"] - big_.loc[idx, "gen_error"]

        def _helps(ix):
            return bool(big_.loc[ix, "chi"] > 1.0 + 1e-3 and dd[ix] > TOL)

        weak_ix = [ix for ix in idx if ix[2] < 1.0 - 1e-12]
        strong_ix = [ix for ix in idx if ix[2] >= 1.0 - 1e-12]
        helps = [ix for ix in weak_ix if _helps(ix)]
        above = [ix for ix in weak_ix if big_.loc[ix, "chi"] > 1.0 + 1e-3]
        helps1 = [ix for ix in strong_ix if _helps(ix)]

        def _list(ixs):
            return ", ".join(f"{dk} alpha = {fmt_g(a)} eta_t = {fmt_g(e)}: chi* = {fmt(big_.loc[(dk, a, e), 'chi'], 3)}"
                             f", gain {fmt(dd[(dk, a, e)])}" for dk, a, e in ixs) or "none"

        if weak_ix:
            c.add("chi > 1 (extrapolating beyond the weak teacher, T = 1) helps somewhere",
                  SUPPORTED if helps else CONTRADICTED,
                  f"with a weak teacher (eta_t < 1), the T = 1 student tuned over chi in "
                  f"[0, {fmt_g(p.get('chi_max', 3.0))}] picks chi* > 1 at {len(above)} of {len(weak_ix)} (data, "
                  f"alpha, eta_t) points and beats the soft KD student (chi <= 1, T tuned) by > {TOL:g} with chi* > 1 "
                  f"at {len(helps)} ({_list(helps)}). For comparison, with a teacher as strong as the student "
                  f"(eta_t = 1, self-distillation) chi* > 1 beats it at {len(helps1)} of {len(strong_ix)} points "
                  f"({_list(helps1)}). Rule: supported if chi* > 1 beats the soft student by > {TOL:g} at some "
                  "eta_t < 1 point, contradicted if nowhere.", ("alphas", "teacher_etas"), more="helps")
        c.numbers["chi_above_1_helps"] = len(helps)
        c.numbers["chi_above_1_helps_eta1"] = len(helps1)
    # 7. shared vs fresh
    for student, name in (("pure", "pure W2S"), ("best", "best")):
        a_, b_ = gains(t, "shared", student), gains(t, "fresh", student)
        ix = a_.index.intersection(b_.index)
        ix = [i for i in ix if i[1] < 1.0 - 1e-12]
        if not ix:
            continue
        diff = a_.loc[ix, "student"] - b_.loc[ix, "student"]
        kf = int((diff > TOL).sum())
        ks = int((diff < -TOL).sum())
        c.add(f"fresh data beat the teacher's own training set for the {name} student", frac_verdict(kf, len(ix)),
              f"eps(shared) - eps(fresh) > {TOL:g} at {kf} of {len(ix)} (alpha, eta_t < 1) points, < -{TOL:g} at {ks}, "
              f"equal within {TOL:g} at {len(ix) - kf - ks}; "
              f"the difference ranges from {fmt(diff.min())} to {fmt(diff.max())}. Rule: supported if fresh is "
              "better at every point, contradicted if nowhere.", ("alphas", "teacher_etas"))
    c.add(*bl.finite_finding(t, tables.get("finite-size"), p, ("series", "alpha", "teacher_eta"),
                             ("alpha", "teacher_eta")))
    c.verdict = combine(verdicts)
    return c


# ----------------------------------------------------------------------------- figures


def _mesh(ax, s: pd.Series, cmap, norm, cells=None):
    """``s`` (indexed by (alpha, eta_t)) as a colour map over the (eta_t, alpha) plane, ``cells``
    ({(alpha, eta_t): text}) written in the cells."""
    alphas_ = sorted({a for a, _ in s.index})
    etas = sorted({e for _, e in s.index})
    Z = np.array([[s.get((a, e), math.nan) for e in etas] for a in alphas_], float)
    X, Y = np.meshgrid(etas, alphas_)
    m = ax.pcolormesh(X, Y, Z, cmap=cmap, norm=norm, shading="nearest")
    for (a, e), txt in (cells or {}).items():
        v = s.get((a, e), math.nan)
        if txt and np.isfinite(v):
            r, g, b, _ = m.cmap(norm(v))
            ax.text(e, a, txt, ha="center", va="center", fontsize=7,
                    color="white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black")
    ax.set_yscale("log")
    ax.set_yticks(alphas_)
    ax.set_yticklabels([f"{a:g}" for a in alphas_])
    ax.minorticks_off()
    ax.set_xticks(etas)
    ax.set_xticklabels([f"{e:g}" for e in etas])
    ax.set_xlabel("teacher's fraction of features $\\eta_t$")
    ax.set_ylabel("samples per feature $\\alpha$")
    return m, X, Y, Z


def figures(tables: dict, p: dict) -> dict:
    from matplotlib.colors import Normalize

    plt = plotting.setup()
    t = tables["errors"]
    figs = {}
    # -- phase diagram: gain of the pure student; optimal chi of the best student
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 8.8))
    g = {dk: gains(t, dk) for dk in DATAS}
    vmax = max([float(np.nanmax(np.abs(x["gain"].to_numpy()))) for x in g.values() if len(x)] + [1e-6])
    norm = Normalize(-vmax, vmax)
    for j, dk in enumerate(DATAS):
        ax = axes[0, j]
        s = g[dk]["gain"]
        if s.empty:
            continue
        cells = {ix: (f"PGR\n{r:.2f}" if np.isfinite(r) else "") for ix, r in g[dk]["pgr"].items()}
        m, X, Y, Z = _mesh(ax, s, "RdBu", norm, cells=cells)
        if Z.shape[0] >= 2 and Z.shape[1] >= 2 and np.nanmin(Z) < 0 < np.nanmax(Z):
            ax.contour(X, Y, Z, levels=[0.0], colors="k", linewidths=1.5)
        fig.colorbar(m, ax=ax, label="$\\varepsilon_g$(teacher) $-$ $\\varepsilon_g$(pure student)")
        ax.set_title(f"({'ab'[j]}) pure W2S student ($\\chi$ = 1), {DATA_LABEL[dk]}: gain over its teacher\n"
                     "blue: student better; black line: gain = 0; text: PGR", fontsize=9.5)
        ax = axes[1, j]
        ch = _grid(t, "best", dk, "chi")
        if ch.empty:
            continue
        cm = max(1.0, float(np.nanmax(ch.to_numpy())))
        m, *_ = _mesh(ax, ch, "viridis", Normalize(0.0, cm),
                      cells={ix: f"{v:.2f}" for ix, v in ch.items()})
        fig.colorbar(m, ax=ax, label="optimal weight on the teacher $\\chi^*$")
        ax.set_title(f"({'cd'[j]}) best student (lam, $\\chi$, T tuned; $\\chi$ > 1 at T = 1), {DATA_LABEL[dk]}: "
                     "$\\chi^*$", fontsize=9.5)
    fig.suptitle(f"Weak-to-strong: strong student ($\\eta$ = 1) of a weak logistic teacher on a fraction $\\eta_t$ "
                 f"of the features ($\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}); theory, tuned parameters",
                 fontsize=10.5)
    plotting.footer(fig, {**p, "simulate": False},
                 "PGR = [eps(teacher) - eps(student)] / [eps(teacher) - eps(ceiling)], ceiling = labels only "
                 "(chi = 0) on all features; shared: the teacher's training set; fresh: a new set of the same size.")
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    figs["weak-to-strong-phase"] = fig

    # -- errors vs eta_t at one alpha, with simulation; PGR vs eta_t
    th = _theory(t)
    alphas_ = sorted(set(th["alpha"]))
    if not alphas_:
        return figs
    a0 = next((a for a in p["alpha_sim"] if any(np.isclose(a, alphas_))), alphas_[len(alphas_) // 2])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 5.0))
    styles = [("teacher", "", plotting.GREY, ":", "o", TEACHER_SERIES),
              ("pure", "shared", plotting.PALETTE[0], "-", "s", "pure W2S ($\\chi$ = 1), shared data"),
              ("pure", "fresh", plotting.PALETTE[0], "--", "D", "pure W2S ($\\chi$ = 1), fresh data"),
              ("best", "shared", plotting.PALETTE[1], "-", "^", "best student (lam, $\\chi$, T), shared data"),
              ("best", "fresh", plotting.PALETTE[1], "--", "v", "best student (lam, $\\chi$, T), fresh data")]
    for i, (st, dk, col, ls, mk, lab) in enumerate(styles):
        def sel(kind, st=st, dk=dk):
            d = t[(t["kind"] == kind) & np.isclose(t["alpha"], a0) & (t["student"] == st)]
            return d[d["data"] == dk] if dk else d
        plotting.theory_line(ax0, sel("theory").rename(columns={"converged": "status_converged"}), "gen_error", col,
                          lab, ls=ls, x="teacher_eta")
        s = sel("simulate")
        if not s.empty:
            plotting.sim_points(ax0, s.assign(teacher_eta=s["teacher_eta"] + 0.006 * (i - 2)), "gen_error", col,
                             marker=mk, x="teacher_eta")
    ce = _ceiling(t)
    if a0 in ce.index:
        ax0.axhline(ce[a0], color=plotting.BLACK, ls="-.", lw=1.2, label=CEILING_SERIES)
        cs = t[(t["kind"] == "simulate") & (t["student"] == "ceiling") & np.isclose(t["alpha"], a0)]
        if not cs.empty:
            etas = sorted(set(th["teacher_eta"].dropna()))
            plotting.sim_points(ax0, cs.assign(teacher_eta=etas[-1] + 0.02), "gen_error", plotting.BLACK, marker="*",
                             x="teacher_eta")
    ax0.set_xlabel("teacher's fraction of features $\\eta_t$ (student: $\\eta$ = 1)")
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax0.set_title(f"(a) errors at $\\alpha$ = {a0:g}")
    lo, hi = ax0.get_ylim()
    ax0.set_ylim(lo, hi + 0.5 * (hi - lo))  # room for the legend
    plotting.legend(ax0, loc="upper right")
    for i, a in enumerate(alphas_):
        col = plotting.PALETTE[i % len(plotting.PALETTE)]
        for dk, ls, mk in (("fresh", "-", "o"), ("shared", ":", "s")):
            gg = gains(t, dk)
            gg = gg[[np.isclose(aa, a) for aa, _ in gg.index]]
            if gg.empty:
                continue
            x = [e for _, e in gg.index]
            ax1.plot(x, gg["pgr"].to_numpy(), color=col, ls=ls, marker=mk, ms=4,
                     label=f"$\\alpha$ = {a:g}, {DATA_LABEL[dk]}")
    ax1.axhline(0, color=plotting.GREY, lw=1, ls=":")
    ax1.set_xlabel("teacher's fraction of features $\\eta_t$")
    ax1.set_ylabel("PGR of the pure student")
    ax1.set_title("(b) performance gap recovered (theory)\nPGR = [eps(teacher) - eps(pure)] / [eps(teacher) - "
                  "eps(ceiling)]", fontsize=9.5)
    plotting.legend(ax1, loc="best", ncol=2)
    fig.suptitle(f"Weak-to-strong: weak teacher ($\\eta_t$) vs strong students ($\\eta$ = 1), $\\rho$ = {p['rho']:g}, "
                 f"$\\Delta$ = {p['delta']:g}; tuned parameters minimize the theory error", fontsize=10.5)
    plotting.footer(fig, p,
                 "Markers are offset slightly in eta_t for readability; the ceiling's marker (star) sits right of the "
                 "last eta_t. The PGR is undefined at eta_t = 1 (no gap).")
    fig.tight_layout(rect=(0, 0.06, 1, 0.93))
    figs["weak-to-strong-errors"] = fig
    return figs


STUDY = Study(
    name="weak-to-strong",
    title="Study: weak-to-strong distillation (a strong student of a weak teacher)",
    summary="a weak teacher (fraction eta_t of the features) and a strong student (all of them): where does the "
            "student beat its teacher, and with which chi?",
    question="A logistic teacher sees only a fraction eta_t of the features; a student sees all of them and learns "
             "from the teacher's soft labels (on the teacher's training set or on fresh data). Where in (eta_t, alpha) "
             "does the student trained on the teacher alone (chi = 1, no ground truth: Burns et al.'s weak-to-strong "
             "setting) beat its teacher, by how much, and what fraction of the gap to the strong ceiling does it "
             "recover? Which weight chi on the teacher is optimal when the labels are available too, and does "
             "chi > 1 help?",
    params=PARAMS, quick=QUICK, compute=compute, figures=figures, findings=findings,
    compare={"errors": ("series", "alpha", "teacher_eta")},
)
