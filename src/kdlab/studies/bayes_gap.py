"""Study ``bayes-gap``: why does distillation from the Bayes-optimal teacher close only part of
the gap between the best label-only sparse student and the sparse Bayes floor?

At each alpha (rho = 0.3, Delta = 1, student eta = 0.5, no label noise) the theory tunes:

* the label-only student (chi = 0) its ridge lam (it ignores its teacher: checked against the
  same student of a logistic teacher);
* the KD student of the Bayes-optimal teacher on the teacher's own training set (``shared``)
  and on a fresh training set of the same size (``fresh``, ``Fresh(alpha)``), each with soft
  labels (lam, chi, T tuned), hard labels (T = 0; lam, chi tuned) and the large-temperature
  limit (T at the top of its interval; lam, chi tuned): regression onto the teacher's logits
  mixed with the labels.

The soft students use the T^2 scaling of the KD term (``t2_scaling``). At a fixed T this is the
same family of students as without it (only the ratio of the two loss terms and the ridge
matter), but it keeps the KD term finite as T grows, so that a coordinate descent over
(lam, chi, T) can reach the large-T regime; without it that regime needs chi -> 1 and
lam ~ 1 / T^2, below any fixed lower bound of lam, and the search stops near T = 1.

The floor is the sparse Bayes error ``bayes_optimal_error(GaussianMixture(alpha), eta)``; a
fresh student sees two training sets of alpha N samples (the teacher's, through its outputs,
and its own), so its information floor is the same at 2 alpha. Simulation at the tuned values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..problem import BayesOptimalTeacher, Fresh, GaussianMixture, LogisticTeacher, Problem, Shared, Student
from ..reporting import plotting
from ..reporting.findings import (
    CONTRADICTED,
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
from ..results import stage_column
from ..runs.context import RunContext
from ._core import Study, optimum_row, simulate_at

PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, alphas=[0.5, 1.0, 2.0, 4.0, 8.0],
              lam_bounds=[1e-4, 1e2], temperature_bounds=[0.5, 100.0],
              sweeps=3, alpha_sim=[1.0, 4.0], n_features=1000, seeds=10, simulate=True)
QUICK = dict(alphas=[1.0, 4.0], sweeps=2, alpha_sim=[1.0], n_features=200, seeds=4)

#: Closed-gap fractions differing by less than this are "no clear difference" (finding 2).
CLEAR = 0.10
#: The T = T_max student is "as good as" the tuned-T one within this fraction of the gap (finding 4).
LARGE_T_TOL = 0.01
#: An error below its floor by more than this is inconsistent.
FLOOR_TOL = 1e-5
#: The ridge of the logistic teacher of the check that the label-only student ignores its teacher.
CHECK_TEACHER_LAM = 0.1

#: The KD variants: (key, display label, tuned parameters, fixed values of the student).
KD = (("soft", "soft KD, optimal (lam, chi, T)", ("lam", "chi", "temperature"), {"t2_scaling": True}),
      ("hard", "hard KD (T = 0), optimal (lam, chi)", ("lam", "chi"), {"temperature": 0.0}),
      ("large-T", "soft KD at T = {T:g}, optimal (lam, chi)", ("lam", "chi"),
       {"temperature": "T_max", "t2_scaling": True}))
DATA = (("shared", "teacher's training set"), ("fresh", "fresh set of the same size"))
LABELS = "labels only (chi = 0), optimal lam"
FLOORS = {"shared": "sparse Bayes floor eps*(alpha)",
          "fresh": "sparse Bayes floor at 2 alpha (both training sets)"}


def kd_series(variant: str, data: str, T_max: float) -> str:
    lab = next(lab for k, lab, _, _ in KD if k == variant).format(T=T_max)
    return f"{lab}, {dict(DATA)[data]}"


def _fixed(variant: str, T_max: float) -> dict:
    fx = dict(next(f for k, _, _, f in KD if k == variant))
    if fx.get("temperature") == "T_max":
        fx["temperature"] = float(T_max)
    return fx


def _space(names, lam_bounds, temperature_bounds):
    b = {"lam": tuple(lam_bounds), "chi": (0.0, 1.0), "temperature": tuple(temperature_bounds)}
    return {n: b[n] for n in names}


def variant_task(alpha, variant, data, rho, delta, eta, lam_bounds, temperature_bounds, sweeps=3) -> list:
    """One theory row at ``alpha``: the ``variant`` student (``labels`` or a key of :data:`KD`)
    of the Bayes-optimal teacher on the ``data`` ('shared'/'fresh') training set, tuned
    (``sweeps`` passes of the coordinate descent of :func:`~kdlab.runs.tuning.optimal_stage`)."""
    from ..runs.tuning import optimal_stage

    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho)
    teacher = BayesOptimalTeacher()
    T_max = float(temperature_bounds[1])
    base = dict(kind="theory", alpha=alpha, variant=variant, data=data)
    if variant == "labels":
        space = _space(["lam"], lam_bounds, temperature_bounds)
        st = Student(eta=eta, chi=0.0, temperature=1.0, lam=0.1)
        o = optimal_stage(Problem(gm, [teacher, st]), space, sweeps=sweeps)
        chk = optimal_stage(Problem(gm, [LogisticTeacher(lam=CHECK_TEACHER_LAM), st]), space, sweeps=sweeps)
        return [{**base, "series": LABELS, "chi": 0.0, "temperature": 1.0, "t2_scaling": False, **optimum_row(o),
                 "check_gen_error": float(chk.gen_error), "check_lam": float(chk.params["lam"])}]
    _, _, tuned, _ = next(v for v in KD if v[0] == variant)
    fixed = _fixed(variant, T_max)
    st = Student(eta=eta, chi=0.6, temperature=1.0, lam=0.15,
                 data=Fresh(alpha=alpha) if data == "fresh" else Shared()).replace(**fixed)
    o = optimal_stage(Problem(gm, [teacher, st]), _space(tuned, lam_bounds, temperature_bounds), sweeps=sweeps)
    return [{**base, "series": kd_series(variant, data, T_max), "temperature": st.temperature,
             "t2_scaling": st.t2_scaling, **optimum_row(o)}]


def compute(p: dict, ctx: RunContext) -> dict:
    from .. import theory

    common = dict(rho=p["rho"], delta=p["delta"], eta=p["eta"], lam_bounds=p["lam_bounds"],
                  temperature_bounds=p["temperature_bounds"], sweeps=p["sweeps"])
    items = [dict(alpha=a, variant="labels", data="shared", **common) for a in p["alphas"]]
    items += [dict(alpha=a, variant=v, data=d, **common) for a in p["alphas"] for v, _, _, _ in KD for d, _ in DATA]
    th = ctx.map(variant_task, items, "theory: tuned students of the Bayes-optimal teacher at each alpha")
    floor = {a: theory.bayes_optimal_error(GaussianMixture(alpha=a, delta=p["delta"], rho=p["rho"]), p["eta"])
             for a in p["alphas"]}
    floor2 = {a: theory.bayes_optimal_error(GaussianMixture(alpha=2 * a, delta=p["delta"], rho=p["rho"]), p["eta"])
              for a in p["alphas"]}
    fl = pd.DataFrame([{"kind": "theory", "alpha": a, "variant": "floor", "data": d, "series": FLOORS[d],
                        "gen_error": (floor if d == "shared" else floor2)[a], "converged": True, "at_bound": False,
                        "bound_params": ""} for a in p["alphas"] for d, _ in DATA])
    th = pd.concat([th, fl], ignore_index=True, sort=False)
    parts = [th]
    if p["simulate"]:
        base = {"rho": p["rho"], "delta": p["delta"], "teacher": "bayes-optimal"}
        rows = th[th["alpha"].isin(p["alpha_sim"]) & (th["variant"] != "floor") & th["converged"].astype(bool)]
        pts, meta = [], []
        for _, r in rows.iterrows():
            pts.append({"alpha": r["alpha"], "eta": p["eta"], "lam": r["lam"], "chi": r["chi"],
                        "temperature": r["temperature"], "t2_scaling": bool(r["t2_scaling"]),
                        "data_alpha": r["alpha"] if r["data"] == "fresh" else None})
            meta.append(r)
        recs = simulate_at(ctx, pts, base, n_features=p["n_features"], seeds=p["seeds"],
                           label="simulation at the tuned parameters")
        col = stage_column(1, "gen_error")
        out = []
        for r, s in zip(meta, recs):
            d = r.to_dict()
            d.update(kind="simulate", gen_error=s[col], gen_error_stderr=s[f"{col}_stderr"],
                     n_features=s["n_features"], n_seeds=s["n_seeds"], at_bound=False, bound_params="")
            out.append(d)
        parts.append(pd.DataFrame(out))
    t = pd.concat(parts, ignore_index=True, sort=False)
    t["floor"] = t["alpha"].map(floor)
    t["floor_2alpha"] = t["alpha"].map(floor2)
    return {"errors": t}


# ----------------------------------------------------------------------------- reading the table


def _theory(t: pd.DataFrame) -> pd.DataFrame:
    d = t[t["kind"] == "theory"]
    return d[d["converged"].fillna(False).astype(bool)]


def _curve(t, variant, data="shared", col="gen_error") -> pd.Series:
    d = _theory(t)
    d = d[(d["variant"] == variant) & ((d["data"] == data) | (variant == "labels"))]
    return d.groupby("alpha")[col].first().sort_index()


def _variants(t) -> list:
    """The (variant, data) pairs of KD students present in the table, in the order of KD x DATA."""
    have = set(zip(_theory(t)["variant"], _theory(t)["data"]))
    return [(v, d) for v, _, _, _ in KD for d, _ in DATA if (v, d) in have]


def closed_fractions(t) -> pd.DataFrame:
    """Per (alpha, variant, data): the KD error, the label-only error, the floor and the fraction
    of the gap (labels only - floor) the variant closes (NaN where the gap is < TOL)."""
    lab, floor = _curve(t, "labels"), _curve(t, "floor", "shared")
    rows = []
    for v, d in _variants(t):
        kd = _curve(t, v, d)
        for a in kd.index:
            if a not in lab.index or a not in floor.index:
                continue
            gap = lab[a] - floor[a]
            rows.append({"alpha": a, "variant": v, "data": d, "gen_error": kd[a], "labels": lab[a],
                         "floor": floor[a], "closed": (lab[a] - kd[a]) / gap if gap > TOL else math.nan})
    return pd.DataFrame(rows, columns=["alpha", "variant", "data", "gen_error", "labels", "floor", "closed"])


def findings(tables: dict, p: dict) -> Claim:
    t = tables["errors"]
    T_max = float(p["temperature_bounds"][1])
    c = Claim("Bayes-optimal teacher: why KD closes only part of the gap to the sparse Bayes floor",
              "Distillation from the Bayes-optimal teacher on the teacher's own training set closes only part of "
              "the gap between the best label-only sparse student and the sparse Bayes floor, and the shared "
              "training set is what holds the student back: on a fresh training set of the same size the KD "
              "student closes clearly more of it.", "bayes-gap")
    cf = closed_fractions(t)
    if cf.empty:
        return c
    alphas_ = sorted(set(cf["alpha"]))
    th = _theory(t)

    def get(a, v, d, col="gen_error"):
        x = cf if col in ("gen_error", "closed") else None
        if x is not None:
            m = x[np.isclose(x["alpha"], a) & (x["variant"] == v) & (x["data"] == d)]
            return float(m[col].iloc[0]) if len(m) else math.nan
        m = th[np.isclose(th["alpha"], a) & (th["variant"] == v) & (th["data"] == d)]
        return m[col].iloc[0] if len(m) else math.nan

    def best(a, d):
        sub = cf[np.isclose(cf["alpha"], a) & (cf["data"] == d)]
        if sub.empty or sub["gen_error"].isna().all():
            return math.nan, math.nan, ""
        r = sub.loc[sub["gen_error"].idxmin()]
        return float(r["gen_error"]), float(r["closed"]), str(r["variant"])

    lab, floor, floor2 = _curve(t, "labels"), _curve(t, "floor", "shared"), _curve(t, "floor", "fresh")
    rows = []
    for a in alphas_:
        row = [fmt_g(a), fmt(lab.get(a)), fmt(floor.get(a))]
        for v, d in _variants(t):
            e, f = get(a, v, d), get(a, v, d, "closed")
            row.append(f"{fmt(e)} ({'n/a' if not np.isfinite(f) else f'{100 * f:.0f}%'})")
        row += [fmt(floor2.get(a)), fmt(get(a, "soft", "shared", "temperature"), 3),
                fmt(get(a, "soft", "fresh", "temperature"), 3)]
        rows.append(row)
    c.table = md_table(["alpha", "labels only", "floor eps*(alpha)"]
                       + [f"{v} KD, {d} (gap closed)" for v, d in _variants(t)]
                       + ["floor at 2 alpha", "soft shared: T*", "soft fresh: T*"], rows)

    # 1. shared-set KD closes only part of the gap
    sh = [(a, *best(a, "shared")) for a in alphas_]
    fsh = np.array([f for _, _, f, _ in sh], float)
    fin = np.isfinite(fsh)
    part = fin & (fsh < 0.9)
    k1 = int(part.sum())
    v1 = frac_verdict(k1, int(fin.sum()))
    c.add("on the teacher's training set, KD closes only part of the gap", v1,
          "fraction of the gap (labels only - floor) closed by the best shared-set KD student (best of soft, hard, "
          "large T, each tuned): " + ", ".join(f"{100 * f:.0f}% ({w}) at alpha = {fmt_g(a)}" for a, _, f, w in sh)
          + f". Rule: supported if below 90% at every alpha ({k1} of {int(fin.sum())}), contradicted if >= 90% at "
          "every alpha.", ("alphas",))

    # 2. is the shared training set what holds the student back?
    diffs = []
    for a, _, fs, _ in sh:
        _, ff, wf = best(a, "fresh")
        diffs.append((a, fs, ff, wf, ff - fs))
    k2 = sum(np.isfinite(x) and x > CLEAR for *_, x in diffs)
    n2 = sum(np.isfinite(x) for *_, x in diffs)
    v2 = frac_verdict(k2, n2)
    c.add("the shared training set is what holds the student back", v2,
          "best fresh-set KD student (teacher on one set, student on a fresh set of the same size) vs the best "
          "shared-set one, fraction of the same gap closed: "
          + ", ".join(f"{100 * ff:.0f}% vs {100 * fs:.0f}% at alpha = {fmt_g(a)}" for a, fs, ff, _, _ in diffs)
          + f". Rule: supported if fresh closes more than {100 * CLEAR:.0f} points more of the gap at every alpha "
          f"({k2} of {n2}), contradicted if nowhere. A fresh student has the information of both sets, 2 alpha N "
          "samples, so it may pass eps*(alpha) (a fraction above 100%); its own floor is eps* at 2 alpha.",
          ("alphas",))

    # 3. soft beats hard
    sw = [(a, d, get(a, "soft", d), get(a, "hard", d)) for a in alphas_ for d, _ in DATA]
    sw = [x for x in sw if np.isfinite(x[2]) and np.isfinite(x[3])]
    ks = sum(s < h - TOL for _, _, s, h in sw)
    kh = sum(h < s - TOL for _, _, s, h in sw)
    v3 = frac_verdict(ks, len(sw))
    c.add("soft labels (tuned T) beat hard labels", v3,
          f"the tuned soft KD student is better than the tuned hard-label one (by > {TOL:g}) at {ks} of {len(sw)} "
          f"(alpha, training set) points, worse at {kh}; soft - hard: "
          + ", ".join(f"{fmt(s - h)} ({d}, alpha = {fmt_g(a)})" for a, d, s, h in sw)
          + ". Rule: supported if better everywhere, contradicted if nowhere.", ("alphas",))

    # 4. the large-temperature limit
    tt = []
    for a in alphas_:
        gap = lab.get(a, math.nan) - floor.get(a, math.nan)
        for d, _ in DATA:
            T = get(a, "soft", d, "temperature")
            eL = get(a, "large-T", d)
            if not isinstance(T, float) or not np.isfinite(T) or not np.isfinite(eL):
                continue
            bp = str(get(a, "soft", d, "bound_params") or "")
            tt.append((a, d, T, "temperature" in bp, get(a, "soft", d), eL, gap))
    if tt:
        k4 = sum(eL - e <= LARGE_T_TOL * gap for a, d, T, edge, e, eL, gap in tt)
        n_edge = sum(x[3] for x in tt)
        v4 = frac_verdict(k4, len(tt))
        c.add("the optimal temperature is large: the T -> infinity limit matches the tuned T", v4,
              f"soft KD (T^2-scaled KD term): tuned T* from {fmt(min(x[2] for x in tt), 3)} to "
              f"{fmt(max(x[2] for x in tt), 3)} over the (alpha, training set) points, on the edge of "
              f"[{fmt_g(p['temperature_bounds'][0])}, {fmt_g(T_max)}] at {n_edge} of {len(tt)}; error at T = "
              f"{fmt_g(T_max)} (lam, chi tuned) minus at T*, in % of the gap labels only - floor (negative: "
              f"T = {fmt_g(T_max)} is better, the error being flat in T beyond T*, where the search stopped): "
              + ", ".join(f"{100 * (eL - e) / gap:+.2f}% ({d}, alpha = {fmt_g(a)})" for a, d, _, _, e, eL, gap in tt)
              + f". Rule: supported if the T = {fmt_g(T_max)} student is no worse than the tuned-T one by more "
              f"than {100 * LARGE_T_TOL:g}% of the gap at every point ({k4} of {len(tt)}), contradicted if nowhere "
              "(a finite T is then clearly better).", ("alphas",))

    # 5. consistency with the floors
    below, below_naive, n5 = [], 0, 0
    for _, r in cf.iterrows():
        fl = floor.get(r["alpha"]) if r["data"] == "shared" else floor2.get(r["alpha"])
        if fl is None or not np.isfinite(r["gen_error"]):
            continue
        n5 += 1
        if r["gen_error"] < fl - FLOOR_TOL:
            below.append(f"{r['variant']} {r['data']} at alpha = {fmt_g(r['alpha'])}")
        if r["data"] == "fresh" and r["gen_error"] < r["floor"] - FLOOR_TOL:
            below_naive += 1
    n_lab = sum(np.isfinite(lab.get(a, math.nan)) and lab[a] < floor.get(a, math.nan) - FLOOR_TOL for a in alphas_)
    c.add("consistency: no error below its floor", SUPPORTED if not below and not n_lab else CONTRADICTED,
          f"{len(below)} of {n5} KD errors fall below their floor by more than {FLOOR_TOL:g} (eps*(alpha) for the "
          f"shared set, eps* at 2 alpha for a fresh set){': ' + '; '.join(below) if below else ''}; {n_lab} "
          f"label-only errors below eps*(alpha). {below_naive} fresh-set errors are below eps*(alpha), which "
          "their extra training set allows. Rule: supported if none.", ("alphas",), more="hurts")

    # 6. consistency: the label-only student ignores its teacher
    d6 = th[th["variant"] == "labels"]
    dev = (d6["gen_error"] - d6["check_gen_error"]).abs() if "check_gen_error" in d6 else pd.Series(dtype=float)
    dmax = float(dev.max()) if len(dev) and dev.notna().any() else math.nan
    v6 = SUPPORTED if np.isfinite(dmax) and dmax <= TOL else (CONTRADICTED if np.isfinite(dmax) else PARTLY)
    c.add("consistency: the label-only student does not depend on its teacher", v6,
          f"chi = 0 student, optimal lam, of the Bayes-optimal teacher vs of a logistic teacher (lam_t = "
          f"{CHECK_TEACHER_LAM:g}): largest |difference| of eps_g over {len(d6)} alphas = {fmt(dmax, 2)}"
          + (f"; optimal lam {fmt(float(d6['lam'].iloc[0]))} vs {fmt(float(d6['check_lam'].iloc[0]))} at "
             f"alpha = {fmt_g(float(d6['alpha'].iloc[0]))}" if len(d6) and "check_lam" in d6 else "")
          + f". Rule: supported if <= {TOL:g}.", ("alphas",), more="hurts")
    c.numbers.update(closed_shared={a: f for a, _, f, _ in sh}, closed_fresh={a: ff for a, _, ff, _, _ in diffs},
                     soft_wins=ks, n_soft=len(sw), below_floor=len(below), labels_teacher_dev=dmax)
    c.verdict = combine([v1, v2])
    return c


# ----------------------------------------------------------------------------- figures

#: One colour per variant, far apart: the T = T_max line (reddish purple) is drawn thin on top of
#: the tuned-T one (blue), which it nearly covers; a green there blended into the blue.
_COLORS = {"labels": plotting.BLACK, "soft": plotting.PALETTE[0], "hard": plotting.PALETTE[1],
           "large-T": plotting.PALETTE[3]}
_LS = {"shared": "-", "fresh": "--"}
_MK = {"shared": "o", "fresh": "s"}
#: Line widths: the large-T line is drawn thin on top of the tuned-T one (they nearly coincide).
_LW = {"labels": 2.0, "soft": 3.0, "large-T": 1.1}


def figures(tables: dict, p: dict) -> dict:
    plt = plotting.setup()
    t = tables["errors"]
    T_max = float(p["temperature_bounds"][1])
    th, sim = _theory(t), t[t["kind"] == "simulate"]
    series = [("labels", "shared", LABELS)] + [(v, d, kd_series(v, d, T_max)) for v, d in _variants(t)]
    n = len(series)
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(16.0, 5.6))

    def sel(df, v, d):
        return df[(df["variant"] == v) & ((df["data"] == d) | (v == "labels"))]

    for i, (v, d, lab) in enumerate(series):
        col, ls = _COLORS[v], ("--" if v == "labels" else _LS[d])
        mk = "D" if v == "labels" else _MK[d]
        lw = _LW.get(v)
        for ax, ex in ((ax0, False), (ax2, True)):
            def y(df):
                return df.assign(_y=df["gen_error"] - (df["floor"] if ex else 0.0),
                                 _y_stderr=df.get("gen_error_stderr"))
            plotting.theory_line(ax, y(sel(th, v, d)), "_y", col, lab, ls=ls, lw=lw, zorder=3 if v == "large-T" else 2)
            s = sel(sim, v, d)
            if not s.empty:
                plotting.sim_points(ax, y(s), "_y", col, marker=mk, jitter=plotting.jit(i, n, 0.08))
    for d, ls in (("shared", ":"), ("fresh", "-.")):
        f = th[(th["variant"] == "floor") & (th["data"] == d)]
        f = f.assign(_y=f["gen_error"])
        plotting.theory_line(ax0, f, "_y", plotting.GREY, FLOORS[d], ls=ls, lw=2.2)
        plotting.theory_line(ax2, f.assign(_y=f["gen_error"] - f["floor"]), "_y", plotting.GREY, FLOORS[d], ls=ls,
                             lw=2.2)
    cf = closed_fractions(t)
    for v, d in _variants(t):
        g = cf[(cf["variant"] == v) & (cf["data"] == d)].sort_values("alpha")
        ax1.plot(g["alpha"], 100 * g["closed"], color=_COLORS[v], ls=_LS[d], marker=_MK[d], ms=4,
                 lw=_LW.get(v), zorder=3 if v == "large-T" else 2, label=kd_series(v, d, T_max))
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    grid = sorted(set(th["alpha"]))
    for ax in (ax0, ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks(grid)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("$\\alpha = M / N$ (training samples per dimension)")
    ax1.axhline(0, color=plotting.GREY, lw=1, ls=":")
    ax1.axhline(100, color=plotting.GREY, lw=1, ls=":")
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax1.set_ylabel("gap closed (%) = 100 ($\\varepsilon_{labels} - \\varepsilon_{KD}$) / "
                   "($\\varepsilon_{labels} - \\varepsilon^*(\\alpha)$)")
    ax2.set_ylabel("excess error $\\varepsilon_g - \\varepsilon^*(\\alpha)$")
    ax2.axhline(0, color=plotting.GREY, lw=1, ls=":")
    ax0.set_title("(a) errors and the sparse Bayes floors")
    ax1.set_title("(b) fraction of the gap closed (theory)")
    ax2.set_title("(c) distance to the floor $\\varepsilon^*(\\alpha)$")
    h, lab = ax0.get_legend_handles_labels()
    keep = {}
    for a, b in zip(h, lab):
        if b and not b.startswith("_"):
            keep.setdefault(b, a)
    fig.legend(list(keep.values()), list(keep), loc="lower center", ncol=3, frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, 0.05))
    fig.suptitle(f"KD from the Bayes-optimal teacher: sparse student ($\\eta$ = {p['eta']:g}) on the teacher's "
                 f"training set (solid) or a fresh one of the same size (dashed); $\\rho$ = {p['rho']:g}, "
                 f"$\\Delta$ = {p['delta']:g}; every tuned parameter minimizes the theory error", fontsize=10.5)
    plotting.footer(fig, {**p, "seeds": list(range(p["seeds"])) if isinstance(p["seeds"], int) else p["seeds"]},
                 "Markers (circles: shared set, squares: fresh set, diamonds: labels only) are offset slightly in "
                 "alpha. eps*(alpha): Bayes-optimal error of a student on eta N coordinates with alpha N samples; a "
                 "fresh-set student has 2 alpha N samples in all, floor eps*(2 alpha).")
    fig.tight_layout(rect=(0, 0.2, 1, 0.95))
    return {"bayes-gap": fig}


STUDY = Study(
    name="bayes-gap",
    title="Study: why does KD from the Bayes-optimal teacher close only part of the gap to the floor?",
    summary="KD from the Bayes-optimal teacher, shared vs fresh training set, soft vs hard labels: how much of "
            "the gap to the sparse Bayes floor does it close?",
    question="The KD student of the Bayes-optimal teacher closes only part of the gap between the best "
             "label-only sparse student and the sparse Bayes floor. Does it close more when (lam, chi, T) are all "
             "tuned, with hard labels, at large T, or when the student trains on a fresh set of the same size "
             "instead of the teacher's own training set? Is the shared training set what holds it back?",
    params=PARAMS, quick=QUICK, compute=compute, figures=figures, findings=findings,
    compare={"errors": ("series", "alpha")},
)
