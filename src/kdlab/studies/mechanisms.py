"""Study ``mechanisms``: the talk's three reasons why distillation helps (the uncertainty in the
teacher's outputs, relational information between classes, a reweighting of the samples),
measured in the talk's setting (logistic teacher on all the features with its optimal ridge,
sparse student eta = 0.5, rho = 0.3, Delta = 1).

At each alpha the theory tunes alike (lam and the loss's own knobs, on the theory error):

* ``labels``: the label-only student, cross-entropy with a free bias;
* the corrected label-only students (:mod:`kdlab.studies._baselines`): class-reweighted,
  recalibrated bias, label smoothing; the best of them is ``corrected``;
* ``hard``: the KD student on the teacher's signs (T = 0; lam, chi);
* ``soft``: the KD student on the teacher's soft outputs (lam, chi, T; the search starts at the
  T = T_max optimum, ``large-T``).

The KD gain ``G = eps(labels) - eps(soft)`` splits into ``R = eps(labels) - eps(corrected)``
(what reweighting the samples / correcting the bias already gets without a teacher),
``H = eps(corrected) - eps(hard)`` (what the teacher's decisions add) and
``U = eps(hard) - eps(soft)`` (what the teacher's uncertainty adds over its decisions);
``G = R + H + U``. Each part is checked in simulation at ``alpha_sim`` (the difference of two
simulated means, in standard errors). The relational part needs K > 2 classes
(:class:`kdlab.MulticlassMixture`, targets ``soft`` / ``top``): not measured here yet.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..problem import GaussianMixture, LogisticTeacher, Problem, Student
from ..reporting import plotting
from ..reporting.findings import MISSING, Claim, combine, fmt, fmt_g, frac_verdict, md_table
from ..runs.context import RunContext
from . import _baselines as bl
from ._core import Study, optimum_row

PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, alphas=[0.5, 1.0, 2.0, 4.0, 8.0], lam_bounds=[1e-4, 1e4],
              temperature_bounds=[0.1, 100.0], sweeps=3, alpha_sim=[1.0, 4.0], n_features=1000, seeds=10,
              simulate=True, finite_size_points=4)
QUICK = dict(alphas=[2.0], sweeps=2, alpha_sim=[2.0], n_features=200, seeds=4)

#: A theory gain below this is too small to split into parts (percentages of it).
RESOLVED = 1e-4
TEACHER = "logistic teacher (all features, optimal lam_t)"
KD_LABELS = {"hard": "hard KD (T = 0), optimal (lam, chi)", "large-T": "soft KD at T = T_max, optimal (lam, chi)",
             "soft": "soft KD, optimal (lam, chi, T)"}
CORRECTED = ("weighted", "bias", "smoothing")
#: The parts of the gain: (key, name, worse end, better end).
PARTS = (("R", "reweighting / bias correction (no teacher)", "labels", "corrected"),
         ("H", "the teacher's decisions (hard targets) over corrected labels", "corrected", "hard"),
         ("U", "the teacher's uncertainty (soft over hard targets)", "hard", "soft"))
RELATIONAL = ("relational information (K classes: the teacher's full soft targets over its `top` targets, the top "
              "class's probability with the rest spread uniformly) is not measured by this study yet: the K-class "
              "data model (kdlab.MulticlassMixture, targets soft / top) now exists, but a tuned K-class comparison "
              "(lam, chi, T per target) costs minutes per theory solve and is left to the dark-knowledge study")


def teacher_task(alpha, rho, delta, sweeps) -> list:
    """The logistic teacher on all the features with its optimal ridge at one alpha."""
    from ..runs.tuning import optimal_stage

    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho)
    o = optimal_stage(Problem(gm, [LogisticTeacher(lam=0.1, eta=1.0)]), {"lam": (1e-4, 1e2)}, sweeps=sweeps)
    lt = float(o.params["lam"])
    row = {"kind": "theory", "alpha": alpha, "rho": rho, "variant": "teacher", "series": TEACHER,
           **optimum_row(o, 0), "teacher_lam": lt, "sim_stage": 0,
           "sim_point": json.dumps({"alpha": alpha, "rho": rho, "delta": delta, "teacher": "logistic",
                                    "teacher_lam": lt, "teacher_eta": 1.0, "student": False})}
    row.pop("lam")
    return [row]


def kd_task(alpha, rho, delta, eta, teacher_lam, lam_bounds, temperature_bounds, sweeps) -> list:
    """The hard, T = T_max and soft KD students of the teacher of ridge ``teacher_lam`` at one alpha."""
    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho)
    tpt = {"teacher": "logistic", "teacher_lam": teacher_lam, "teacher_eta": 1.0}
    kd = bl.tuned_kd_rows(gm, LogisticTeacher(lam=teacher_lam, eta=1.0), tpt,
                          Student(eta=eta, chi=0.5, temperature=1.0, lam=0.1), lam_bounds=lam_bounds,
                          temperature_bounds=temperature_bounds, sweeps=sweeps)
    return [{**r, "alpha": alpha, "rho": rho, "series": KD_LABELS[r["variant"]], "teacher_lam": teacher_lam}
            for r in kd]


def compute(p: dict, ctx: RunContext) -> dict:
    c = dict(rho=p["rho"], delta=p["delta"])
    te = ctx.map(teacher_task, [dict(alpha=a, sweeps=p["sweeps"], **c) for a in p["alphas"]],
                 "theory: the optimal logistic teacher at each alpha")
    lts = dict(zip(te["alpha"], te["teacher_lam"]))
    items = [dict(fn="base", alpha=a, key=k) for a in p["alphas"] for k in bl.BASELINES]
    items += [dict(fn="kd", alpha=a) for a in p["alphas"]]
    base = ctx.map(bl.baseline_task, [dict(alpha=i["alpha"], key=i["key"], label_noise=0.0, eta=p["eta"],
                                           lam_bounds=p["lam_bounds"], sweeps=p["sweeps"], **c)
                                      for i in items if i["fn"] == "base"],
                   "theory: the label-only baselines at each alpha")
    base = bl.flag_below_floor(base.assign(rho=p["rho"]), p["delta"])
    kd = ctx.map(kd_task, [dict(alpha=a, eta=p["eta"], teacher_lam=float(lts[a]), lam_bounds=p["lam_bounds"],
                                temperature_bounds=p["temperature_bounds"], sweeps=p["sweeps"], **c)
                           for a in p["alphas"]], "theory: the tuned KD students at each alpha")
    th = pd.concat([te, base, kd], ignore_index=True, sort=False)
    parts, out = [th], {}
    if p["simulate"]:
        rows = th[th["alpha"].isin(p["alpha_sim"]) & th["converged"].fillna(False).astype(bool)]
        b = {"delta": p["delta"]}
        parts.append(bl.simulate_rows(ctx, rows, b, n_features=p["n_features"], seeds=p["seeds"]))
        t = pd.concat(parts, ignore_index=True, sort=False)
        fs = bl.finite_size(ctx, t, ("series", "alpha"), b, n_features=p["n_features"], seeds=p["seeds"],
                            extra=_part_disagreements(t), max_points=p["finite_size_points"])
        if not fs.empty:
            out["finite-size"] = fs
    return {"errors": pd.concat(parts, ignore_index=True, sort=False), **out}


# ----------------------------------------------------------------------------- reading the table


def _ends(g: pd.DataFrame, kind: str = "theory") -> dict:
    """{labels, corrected, hard, soft}: the row of each end at one alpha (``corrected``: the best
    corrected label-only student; ``soft``: the better of soft and large-T)."""
    out = {}
    for key, variants in (("labels", ("labels",)), ("corrected", CORRECTED), ("hard", ("hard",)),
                          ("soft", ("soft", "large-T"))):
        d = g[(g["kind"] == kind) & g["variant"].isin(variants)]
        if kind == "theory":
            d = d[d["converged"].fillna(False).astype(bool)]
        d = d[d["gen_error"].notna()]
        if not d.empty:
            out[key] = d.loc[d["gen_error"].idxmin()]
    return out


def decomposition(t: pd.DataFrame, kind: str = "theory") -> pd.DataFrame:
    """Per alpha: the errors of the four ends, ``G``, ``R``, ``H``, ``U`` and (simulation) the
    standard error and margin in s.e. of each."""
    rows = []
    for a, g in t[t["kind"] == kind].groupby("alpha"):
        if kind == "simulate" and "n_features" in g:
            g = g[g["n_features"] == g["n_features"].min()]
        e = _ends(g, kind)
        if len(e) < 4:
            continue
        r = {"alpha": float(a), **{k: float(v["gen_error"]) for k, v in e.items()},
             "corrected_by": str(e["corrected"]["variant"]), "soft_T": float(e["soft"]["temperature"])}
        for key, _, lo, hi in PARTS + (("G", "", "labels", "soft"),):
            if kind == "simulate":
                d, se, z = bl.margin(e[lo]["gen_error"], e[lo]["gen_error_stderr"], e[hi]["gen_error"],
                                     e[hi]["gen_error_stderr"])
                r.update({key: d, f"{key}_se": se, f"{key}_z": z})
            else:
                r[key] = r[lo] - r[hi]
        rows.append(r)
    return pd.DataFrame(rows)


def _part_disagreements(t: pd.DataFrame) -> pd.DataFrame:
    """Simulated rows at both ends of every part whose simulated value disagrees with the theory's
    by more than 3 s.e."""
    th, sim = decomposition(t), decomposition(t, "simulate")
    idx = []
    for _, s in sim.iterrows():
        x = th[np.isclose(th["alpha"], s["alpha"])]
        if x.empty:
            continue
        g = t[(t["kind"] == "simulate") & np.isclose(t["alpha"], s["alpha"])]
        e = _ends(g, "simulate")
        for key, _, lo, hi in PARTS:
            if np.isfinite(s[f"{key}_se"]) and abs(s[key] - x[key].iloc[0]) > bl.SE_MARGIN * s[f"{key}_se"]:
                idx += [e[lo].name, e[hi].name]
    return t.loc[list(dict.fromkeys(idx))] if idx else pd.DataFrame()


def findings(tables: dict, p: dict) -> Claim:
    t = tables["errors"]
    fs = tables.get("finite-size")
    c = Claim("Mechanisms: what the KD gain of the talk's setting is made of",
              "Distillation helps through the teacher's information: beyond what a label-only student with a "
              "reweighted loss or a corrected bias already gets, the teacher's decisions and its uncertainty (soft "
              "over hard targets) each lower the student's error.", "mechanisms")
    th, sim = decomposition(t), decomposition(t, "simulate")
    if th.empty:
        return c
    c.table = md_table(["alpha", "labels only", "best corrected label-only", "hard KD", "soft KD (T*)",
                        "gain G", "R: reweighting", "H: decisions", "U: uncertainty"],
                       [[fmt_g(r["alpha"]), fmt(r["labels"]), f"{fmt(r['corrected'])} ({r['corrected_by']})",
                         fmt(r["hard"]), f"{fmt(r['soft'])} ({fmt(r['soft_T'], 3)})", fmt(r["G"]), fmt(r["R"]),
                         fmt(r["H"]), fmt(r["U"])] for _, r in th.iterrows()])
    n = p["n_features"]

    def sim_text(key):
        if sim.empty:
            return "no simulation"
        return ", ".join(f"{fmt(r[key])} +- {fmt(r[f'{key}_se'])} = {r[f'{key}_z']:.1f} s.e. (alpha = "
                         f"{fmt_g(r['alpha'])}, N = {n})" for _, r in sim.iterrows())

    def verdict(key):
        if sim.empty:
            return MISSING
        return frac_verdict(int((sim[f"{key}_z"] > bl.SE_MARGIN).sum()), len(sim))

    c.add("KD beats the plain label-only student (cross-entropy, free bias)", verdict("G"),
          "gain G = eps(labels) - eps(soft KD), theory: " + ", ".join(
              f"{fmt(r['G'])} (alpha = {fmt_g(r['alpha'])})" for _, r in th.iterrows())
          + f"; simulation: {sim_text('G')}. Rule: supported if > {bl.SE_MARGIN:g} s.e. at every simulated alpha. "
          "This baseline is not the strongest one with the same information (see the next findings).",
          ("alphas", "alpha_sim"))
    vs = []
    for key, name, lo, hi in PARTS:
        frac = ", ".join(f"{100 * r[key] / r['G']:.0f}% of G (alpha = {fmt_g(r['alpha'])})" if r["G"] > RESOLVED
                         else f"G < {RESOLVED:g}, no split (alpha = {fmt_g(r['alpha'])})" for _, r in th.iterrows())
        base = {"R": "the plain label-only student", "H": "the best corrected label-only student (tuned alike)",
                "U": "the hard-label KD student (tuned alike)"}[key]
        v = verdict(key)
        c.add(f"{key}: {name} lowers the error", v,
              f"{key} = eps({lo}) - eps({hi}), the baseline being {base}; theory: " + ", ".join(
                  f"{fmt(r[key])} (alpha = {fmt_g(r['alpha'])})" for _, r in th.iterrows())
              + f" ({frac}); simulation: {sim_text(key)}. Rule: supported if > {bl.SE_MARGIN:g} s.e. at every "
              "simulated alpha, contradicted if nowhere.", ("alphas", "alpha_sim"))
        if key != "R":
            vs.append(v)
    # the gain over the best same-information baseline: H + U
    if not sim.empty:
        kd_vs = []
        for _, r in sim.iterrows():
            g = t[(t["kind"] == "simulate") & np.isclose(t["alpha"], r["alpha"])]
            g = g[g["n_features"] == g["n_features"].min()]
            e = _ends(g, "simulate")
            kd_vs.append((r["alpha"], *bl.margin(e["corrected"]["gen_error"], e["corrected"]["gen_error_stderr"],
                                                 e["soft"]["gen_error"], e["soft"]["gen_error_stderr"])))
        k = sum(np.isfinite(z) and z > bl.SE_MARGIN for *_, z in kd_vs)
        vs.append(c.add("soft KD beats the best same-information label-only student, tuned alike (H + U)",
                        frac_verdict(k, len(kd_vs)),
                        "eps(best corrected label-only) - eps(soft KD), simulation: " + ", ".join(
                            f"{fmt(d)} +- {fmt(se)} = {z:.1f} s.e. (alpha = {fmt_g(a)}, N = {n})"
                            for a, d, se, z in kd_vs)
                        + "; theory: " + ", ".join(f"{fmt(r['H'] + r['U'])} (alpha = {fmt_g(r['alpha'])})"
                                                   for _, r in th.iterrows())
                        + f". Rule: supported if > {bl.SE_MARGIN:g} s.e. at every simulated alpha.",
                        ("alphas", "alpha_sim")))
    c.add("relational information between classes", MISSING, RELATIONAL + ".", ())
    c.add(*bl.finite_finding(t, fs, p, ("series", "alpha")))
    c.numbers.update({k: {f"{r['alpha']:g}": r[k] for _, r in th.iterrows()} for k in ("G", "R", "H", "U")})
    c.verdict = combine(vs)
    return c


# ----------------------------------------------------------------------------- figures

_COL = {"labels": plotting.BLACK, "corrected": plotting.PALETTE[2], "hard": plotting.PALETTE[1],
        "soft": plotting.PALETTE[0]}


def figures(tables: dict, p: dict) -> dict:
    plt = plotting.setup()
    t = tables["errors"]
    th = decomposition(t)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12.5, 5.2))
    names = {"labels": "labels only (CE, free bias)", "corrected": "best corrected label-only",
             "hard": "hard KD", "soft": "soft KD (T tuned)"}
    for i, (key, lab) in enumerate(names.items()):
        ax0.plot(th["alpha"], th[key], color=_COL[key], marker=".", label=lab)
        pts = []
        for a, g in t[t["kind"] == "simulate"].groupby("alpha"):
            g = g[g["n_features"] == g["n_features"].min()]
            e = _ends(g, "simulate")
            if key in e:
                pts.append({"alpha": a, "gen_error": e[key]["gen_error"],
                            "gen_error_stderr": e[key]["gen_error_stderr"]})
        if pts:
            plotting.sim_points(ax0, pd.DataFrame(pts), "gen_error", _COL[key], jitter=plotting.jit(i, 4, 0.06))
    for key, lab, col in (("G", "G: total KD gain", plotting.BLACK), ("R", "R: reweighting (no teacher)",
                                                                        plotting.PALETTE[2]),
                          ("H", "H: teacher's decisions", plotting.PALETTE[1]),
                          ("U", "U: teacher's uncertainty", plotting.PALETTE[0])):
        ax1.plot(th["alpha"], th[key], color=col, marker="o", label=lab)
    ax1.axhline(0, color=plotting.GREY, lw=1, ls=":")
    for ax in (ax0, ax1):
        ax.set_xscale("log")
        ax.set_xlabel("$\\alpha = M / N$")
        plotting.legend(ax, loc="upper right")
    ax0.set_ylabel("generalization error $\\varepsilon_g$")
    ax0.set_title("(a) the four students")
    ax1.set_ylabel("part of the gain (theory)")
    ax1.set_title("(b) G = R + H + U")
    fig.suptitle(f"Mechanisms of KD in the talk's setting: logistic teacher (optimal ridge), sparse student "
                 f"($\\eta$ = {p['eta']:g}), $\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g}", fontsize=10.5)
    plotting.footer(fig, p,
                    "Every student tuned alike on the theory error; corrected = the best of class-reweighted, "
                    "recalibrated bias and label smoothing. The K-class relational part is not measured here.")
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return {"mechanisms": fig}


STUDY = Study(
    name="mechanisms",
    title="Study: the mechanisms of the KD gain (reweighting, the teacher's decisions, its uncertainty)",
    summary="the KD gain of the talk's setting split into reweighting (no teacher), the teacher's decisions and "
            "its uncertainty, each checked in s.e.",
    question="The talk gives three reasons why distillation helps: the uncertainty in the teacher's outputs, "
             "relational information between classes, and a reweighting of the samples. In the talk's setting, "
             "how much of the KD gain does a label-only student with a reweighted loss or a corrected bias already "
             "get, what do the teacher's hard decisions add, and what do its soft outputs add over them?",
    params=PARAMS, quick=QUICK, compute=compute, figures=figures, findings=findings,
    compare={"errors": ("series", "alpha")},
)
