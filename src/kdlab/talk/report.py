"""The computed report: each claim of the talk, with the numbers that support or contradict it.

Everything in the report is computed from the figures' tables (see :mod:`kdlab.talk.figures`);
the only fixed text is the statement of each claim (from ``shared/MODEL.md``) and the rule
used to reach a verdict, which is printed next to it. :func:`evaluate_claims` returns the
structured :class:`Claim` objects (tests and scripts use them), :func:`build_report` the
Markdown.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import pandas as pd

__all__ = ["Claim", "evaluate_claims", "build_report", "write_report", "theory_vs_simulation"]

SUPPORTED, PARTLY, CONTRADICTED, MISSING = "supported", "partly supported", "contradicted", "not computed"
TOL = 1e-6  # numerical tolerance on differences of theory errors (solver tolerances are ~1e-10)


@dataclass
class Claim:
    number: int
    title: str
    statement: str
    figure: str
    verdict: str = MISSING
    findings: list = field(default_factory=list)   # (sub-claim, verdict, text)
    numbers: dict = field(default_factory=dict)    # machine-readable key numbers
    table: str = ""                                # Markdown table


# ----------------------------------------------------------------------------- helpers


def _f(x, nd=4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    x = float(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        return f"{x:.3g}"
    return f"{x:.{nd}f}"


def _g(x) -> str:
    return "n/a" if x is None else f"{float(x):.3g}"


def _md_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _theory(t: pd.DataFrame, series: str, col: str) -> pd.Series:
    d = t[(t["series"] == series) & (t["kind"] == "theory")]
    d = d[d["status_converged"].astype(bool)] if "status_converged" in d else d
    return d.groupby("alpha")[col].first().sort_index()


def _combine(verdicts) -> str:
    v = [x for x in verdicts if x != MISSING]
    if not v:
        return MISSING
    if all(x == SUPPORTED for x in v):
        return SUPPORTED
    if all(x == CONTRADICTED for x in v):
        return CONTRADICTED
    return PARTLY


def _frac_verdict(k: int, n: int) -> str:
    if n == 0:
        return MISSING
    return SUPPORTED if k == n else (CONTRADICTED if k == 0 else PARTLY)


def _alpha_ranges(alphas, mask) -> str:
    """'0.3-1.2, 4-10' style description of where ``mask`` holds."""
    alphas, mask = list(alphas), list(mask)
    runs, start = [], None
    for i, (a, m) in enumerate(zip(alphas, mask)):
        if m and start is None:
            start = i
        if (not m or i == len(alphas) - 1) and start is not None:
            end = i if m else i - 1
            runs.append(_g(alphas[start]) if start == end else f"{_g(alphas[start])}-{_g(alphas[end])}")
            start = None
    return ", ".join(runs) if runs else "none"


# ----------------------------------------------------------------------------- claim 1


def _claim_regularization(t: pd.DataFrame, p: dict) -> Claim:
    c = Claim(1, "Logistic regression alone: tuning the regularization is key; with unbalanced clusters "
                 "even the optimal ridge stays above the Bayes-optimal error",
              "eps_g vs alpha for several lam; tuning lam is key; with rho != 1/2 even the optimal lam "
              "stays above the Bayes-optimal error.", "regularization")
    lam_series = sorted([s for s in t["series"].unique() if s.startswith("lam=")], key=lambda s: float(s[4:]))
    opt = _theory(t, "optimal lam", "teacher_gen_error")
    lam_opt = _theory(t, "optimal lam", "teacher_lam")
    bayes = _theory(t, "Bayes-optimal", "teacher_gen_error")
    fixed = {s: _theory(t, s, "teacher_gen_error") for s in lam_series}
    alphas = [a for a in opt.index if a in bayes.index and all(a in f.index for f in fixed.values())]
    if not alphas:
        return c
    rows, spreads, gaps = [], [], []
    for a in alphas:
        vals = {s: fixed[s][a] for s in lam_series}
        best_fixed, worst_fixed = min(vals.values()), max(vals.values())
        spreads.append(worst_fixed - opt[a])
        gaps.append(opt[a] - bayes[a])
        rows.append([_g(a)] + [_f(vals[s]) for s in lam_series] + [_f(opt[a]), _g(lam_opt[a]), _f(bayes[a]),
                                                                     _f(opt[a] - bayes[a])])
    header = ["alpha"] + [f"eps_g(lam={s[4:]})" for s in lam_series] + ["eps_g(optimal lam)", "optimal lam",
                                                                      "Bayes-optimal", "gap opt - Bayes"]
    c.table = _md_table(header, rows)
    # reference alpha: the grid point closest (in log) to p["alpha_report"] (default 2)
    i_max = int(np.argmin([abs(math.log(a / float(p.get("alpha_report", 2.0)))) for a in alphas]))
    a_ref = alphas[i_max]
    i_all = int(np.argmax(spreads))
    vals = {s: fixed[s][a_ref] for s in lam_series}
    s_best, s_worst = min(vals, key=vals.get), max(vals, key=vals.get)
    gaps = np.array(gaps)
    # sub-claim 1a: tuning lam is key -- the lam list spans a large range of errors
    rel = spreads[i_max] / opt[a_ref]
    v1 = SUPPORTED if rel > 0.05 else (PARTLY if rel > 0.01 else CONTRADICTED)
    c.findings.append(("tuning lam is key", v1,
                       f"at alpha = {_g(a_ref)} the error ranges from {_f(vals[s_best])} ({s_best}) to "
                       f"{_f(vals[s_worst])} ({s_worst}); the optimal lam = {_g(lam_opt[a_ref])} reaches "
                       f"{_f(opt[a_ref])}: a badly chosen lam costs {_f(spreads[i_max])} "
                       f"({100 * rel:.1f}% of the optimal error; over all alphas up to {_f(spreads[i_all])}, at "
                       f"alpha = {_g(alphas[i_all])}). Rule: supported if > 5% at alpha = {_g(a_ref)}."))
    # sub-claim 1b: optimal lam stays above Bayes at rho != 1/2
    k = int(np.sum(gaps > TOL))
    v2 = _frac_verdict(k, len(gaps))
    if p.get("rho") == 0.5:
        v2 = MISSING
    ia, ib = int(np.argmin(gaps)), int(np.argmax(gaps))
    c.findings.append(("optimal lam stays above Bayes-optimal", v2,
                       f"at rho = {p['rho']:g} the optimally regularized logistic error exceeds the "
                       f"Bayes-optimal error at {k} of {len(gaps)} alphas in [{_g(alphas[0])}, {_g(alphas[-1])}]; "
                       f"the gap is {_f(gaps[ia])} at alpha = {_g(alphas[ia])} (smallest) and "
                       f"{_f(gaps[ib])} at alpha = {_g(alphas[ib])} (largest). Rule: supported if the gap is > "
                       f"{TOL:g} at every alpha."))
    c.numbers.update(alpha_ref=a_ref, spread=spreads[i_max], spread_rel=rel, min_gap_opt_bayes=float(gaps.min()),
                     max_gap_opt_bayes=float(gaps.max()), n_alpha=len(alphas),
                     opt_error_ref=float(opt[a_ref]), lam_opt_ref=float(lam_opt[a_ref]))
    c.verdict = _combine([v1, v2])
    return c


# ----------------------------------------------------------------------------- claim 2


def _claim_kd_logistic(t: pd.DataFrame, p: dict) -> Claim:
    from scipy.stats import kendalltau

    c = Claim(2, "Logistic teacher: a better teacher gives a better student; the student inherits the "
                 "teacher's regularization; it stays sub-optimal",
              "the KD student's error vs alpha for several teacher lam_t: a better teacher gives a better "
              "student; the student inherits the teacher's regularization; it stays sub-optimal (cannot beat "
              "explicit regularization of the same type).", "kd-logistic-teacher")
    kd_series = sorted([s for s in t["series"].unique() if s.startswith("KD, lam_t=")],
                       key=lambda s: float(s.split("=")[1]))
    from .figures import OPT_T

    if (t["series"] == OPT_T).any():
        kd_series.append(OPT_T)
    st = {s: _theory(t, s, "student_gen_error") for s in kd_series}
    te = {s: _theory(t, s, "teacher_gen_error") for s in kd_series}
    lab_opt = _theory(t, "labels only, optimal lam", "student_gen_error")
    lab_opt_lam = _theory(t, "labels only, optimal lam", "lam")
    lab_same = _theory(t, "labels only, same lam", "student_gen_error")
    alphas = [a for a in lab_opt.index if a in lab_same.index and all(a in st[s].index for s in kd_series)]
    if not alphas or len(kd_series) < 2:
        return c
    rows, taus, best_student_is_best_teacher, inherit, margin = [], [], [], [], []
    for a in alphas:
        tv = np.array([te[s][a] for s in kd_series])
        sv = np.array([st[s][a] for s in kd_series])
        tau = kendalltau(tv, sv)[0] if np.ptp(tv) > TOL and np.ptp(sv) > TOL else float("nan")
        taus.append(tau)
        best_student_is_best_teacher.append(int(np.argmin(sv)) == int(np.argmin(tv)))
        inherit.append(lab_same[a] - sv.min())
        margin.append(sv.min() - lab_opt[a])
        name = lambda s: "opt" if s == OPT_T else s.split("=")[1]  # noqa: E731
        rows.append([_g(a)] + [f"{_f(te[s][a])} / {_f(st[s][a])}" for s in kd_series]
                    + [_f(lab_same[a]), f"{_f(lab_opt[a])} (lam={_g(lab_opt_lam[a])})",
                       "n/a" if math.isnan(tau) else f"{tau:.2f}"])
    header = (["alpha"] + [f"lam_t={'optimal' if s == OPT_T else s.split('=')[1]}: teacher / student"
                           for s in kd_series]
              + [f"labels only, lam={_g(p['lam'])}", "labels only, optimal lam", "Kendall tau"])
    c.table = _md_table(header, rows)
    taus = np.array(taus, float)
    ok = np.isfinite(taus)
    conc = ok & (taus > 0.999)
    n = int(ok.sum())
    # 2a better teacher -> better student
    k = int(conc.sum())
    kb = int(np.sum(best_student_is_best_teacher))
    pairs = float(np.nanmean((1 + taus) / 2))  # fraction of teacher pairs ranked alike (no ties)
    v1 = _frac_verdict(k, n)
    c.findings.append(("better teacher, better student", v1,
                       f"the students' errors are ranked exactly as their teachers' errors (Kendall tau = 1 over "
                       f"the {len(kd_series)} teachers) at {k} of {n} alphas (where: {_alpha_ranges(np.array(alphas)[ok], conc[ok])}); "
                       f"mean tau = {np.nanmean(taus):.2f}, i.e. {100 * pairs:.0f}% of the teacher pairs rank their "
                       f"students alike. The best teacher has the best student at {kb} of "
                       f"{len(alphas)} alphas. Rule: supported if the ranking agrees at every alpha."))
    # 2b inheritance: KD student at the same tiny lam beats the label-only student at that lam
    inherit = np.array(inherit)
    ki = int(np.sum(inherit > TOL))
    ii = int(np.argmax(inherit))
    v2 = _frac_verdict(ki, len(alphas))
    c.findings.append(("the student inherits the teacher's regularization", v2,
                       f"with the same explicit ridge lam = {_g(p['lam'])}, the best KD student beats the "
                       f"label-only student at {ki} of {len(alphas)} alphas (where: "
                       f"{_alpha_ranges(alphas, inherit > TOL)}); the largest gain is {_f(inherit[ii])} at "
                       f"alpha = {_g(alphas[ii])} ({_f(lab_same[alphas[ii]])} -> {_f(lab_same[alphas[ii]] - inherit[ii])}): "
                       f"the regularization comes from the teacher. Rule: supported if it helps at every alpha."))
    # 2c sub-optimal
    margin = np.array(margin)
    km = int(np.sum(margin >= -TOL))
    im = int(np.argmin(margin))
    v3 = _frac_verdict(km, len(alphas))
    c.findings.append(("stays sub-optimal", v3,
                       f"the best KD student (over all teachers shown, including the optimal teacher) is no better "
                       f"than the label-only student with its optimal lam at {km} of {len(alphas)} alphas; the "
                       f"smallest margin is {_f(margin[im])} at alpha = {_g(alphas[im])}. Rule: supported if "
                       f"eps_KD >= eps_labels,opt - {TOL:g} at every alpha."))
    c.numbers.update(concordant=k, n_tau=n, mean_tau=float(np.nanmean(taus)), pairs_concordant=pairs,
                     best_teacher_best_student=kb, inherit_count=ki,
                     max_inherit_gain=float(inherit.max()), min_margin_vs_optimal=float(margin.min()),
                     n_alpha=len(alphas))
    c.verdict = _combine([v1, v2, v3])
    return c


# ----------------------------------------------------------------------------- claim 3


def _claim_kd_bayes(t: pd.DataFrame, p: dict) -> Claim:
    from .figures import LAB_OPT

    c = Claim(3, "Bayes-optimal teacher: the KD student closes the gap to the best achievable error",
              "Bayes-optimal teacher: the KD student closes the gap to the best achievable error, although the "
              "teacher's regularization is not known explicitly.", "kd-bayes-teacher")
    kd_series = [s for s in dict.fromkeys(t.loc[t["kind"] == "theory", "series"]) if s != LAB_OPT]
    lab = _theory(t, LAB_OPT, "student_gen_error")
    floor = _theory(t, LAB_OPT, "bayes_floor_sparse")
    kd = {s: _theory(t, s, "student_gen_error") for s in kd_series}
    kd_lam = {s: _theory(t, s, "lam") for s in kd_series}
    alphas = [a for a in lab.index if a in floor.index and all(a in kd[s].index for s in kd_series)]
    if not alphas or not kd_series:
        return c
    rows, best, closed, best_name = [], [], [], []
    for a in alphas:
        vals = {s: kd[s][a] for s in kd_series}
        sb = min(vals, key=vals.get)
        gap = lab[a] - floor[a]
        cl = (lab[a] - vals[sb]) / gap if gap > TOL else float("nan")
        best.append(vals[sb])
        closed.append(cl)
        best_name.append(sb)
        rows.append([_g(a)] + [f"{_f(vals[s])} (lam={_g(kd_lam[s][a])})" for s in kd_series]
                    + [_f(lab[a]), _f(floor[a]), "n/a" if math.isnan(cl) else f"{100 * cl:.0f}%"])
    header = (["alpha"] + [s.replace(", optimal lam", "") for s in kd_series]
              + ["labels only, optimal lam", "best achievable (sparse Bayes)", "gap closed by the best KD"])
    c.table = _md_table(header, rows)
    best, closed = np.array(best), np.array(closed, float)
    lab_v = np.array([lab[a] for a in alphas])
    floor_v = np.array([floor[a] for a in alphas])
    beats = best < lab_v - TOL
    kb = int(beats.sum())
    v1 = _frac_verdict(kb, len(alphas))
    iref = int(np.nanargmax(closed)) if np.isfinite(closed).any() else 0
    a_ref = alphas[iref]
    c.findings.append(("KD beats the optimally regularized logistic student", v1,
                       f"the best KD student (each with its optimal lam) is better than the label-only student with "
                       f"its optimal lam at {kb} of {len(alphas)} alphas (where: {_alpha_ranges(alphas, beats)}). "
                       f"Rule: supported if better at every alpha."))
    fin = np.isfinite(closed)
    cmax, cmin = float(np.nanmax(closed)), float(np.nanmin(closed))
    v2 = SUPPORTED if fin.any() and np.all(closed[fin] >= 0.9) else (
        CONTRADICTED if not fin.any() or np.all(closed[fin] <= 0) else PARTLY)
    c.findings.append(("KD closes the gap to the best achievable error", v2,
                       f"at alpha = {_g(a_ref)} the KD student of the Bayes-optimal teacher reaches eps_g = "
                       f"{_f(best[iref])} ({best_name[iref].replace(', optimal lam', '')}), the best logistic "
                       f"student {_f(lab_v[iref])}, the bound {_f(floor_v[iref])}: {100 * closed[iref]:.0f}% of the "
                       f"gap closed. Over alpha in [{_g(alphas[0])}, {_g(alphas[-1])}] the closed fraction ranges "
                       f"from {100 * cmin:.0f}% to {100 * cmax:.0f}%. Rule: supported if >= 90% at every alpha, "
                       f"contradicted if <= 0 everywhere, partly otherwise."))
    below = int(np.sum(best < floor_v - 1e-5))
    c.findings.append(("consistency: no student below the bound", SUPPORTED if below == 0 else CONTRADICTED,
                       f"{below} of {len(alphas)} KD errors fall below the sparse Bayes-optimal bound."))
    c.numbers.update(alpha_ref=a_ref, kd_ref=float(best[iref]), labels_ref=float(lab_v[iref]),
                     floor_ref=float(floor_v[iref]), closed_max=cmax, closed_min=cmin, beats=kb,
                     n_alpha=len(alphas), below_floor=below)
    c.verdict = _combine([v1, v2])
    return c


# ----------------------------------------------------------------------------- claim 4


def _peak(alphas: np.ndarray, err: np.ndarray, min_prominence: float = 1e-3):
    """Highest interior local maximum of ``err`` with its prominence, or None."""
    from scipy.signal import find_peaks

    idx, props = find_peaks(err, prominence=min_prominence)
    if len(idx) == 0:
        return None
    j = int(np.argmax(err[idx]))
    return float(alphas[idx[j]]), float(err[idx[j]]), float(props["prominences"][j])


def _claim_double_descent(t: pd.DataFrame, p: dict) -> Claim:
    c = Claim(4, "Double descent: at small lam the error curves show an interpolation peak; KD (chi, T) changes it",
              "at small lam the error curves show an interpolation peak; how KD (chi, T) changes it.",
              "double-descent")
    series = list(dict.fromkeys(t.loc[t["kind"] == "theory", "series"]))
    rows, info = [], {}
    for s in series:
        e = _theory(t, s, "student_gen_error")
        if len(e) < 5:
            continue
        pk = _peak(e.index.to_numpy(), e.to_numpy())
        d = t[(t["series"] == s) & (t["kind"] == "theory")].iloc[0]
        info[s] = (float(d["chi"]), float(d["temperature"]), pk, float(e.max()), float(e.iloc[-1]))
        rows.append([f"{d['chi']:g}", f"{d['temperature']:g}",
                     "no" if pk is None else "yes", "-" if pk is None else _g(pk[0]),
                     "-" if pk is None else _f(pk[1]), "-" if pk is None else _f(pk[2]),
                     _f(float(e.max())), _g(float(e.idxmax()))])
    if not info:
        return c
    c.table = _md_table(["chi", "T", "interior peak", "alpha at peak", "eps_g at peak", "prominence",
                         "max eps_g", "alpha at max"], rows)
    with_peak = [s for s, v in info.items() if v[2] is not None]
    v1 = SUPPORTED if with_peak else CONTRADICTED
    lab = [s for s, v in info.items() if v[0] == 0.0]
    kds = [s for s, v in info.items() if v[0] > 0.0]

    def desc(s):
        chi, T, pk, mx, _ = info[s]
        who = "labels only (chi = 0)" if chi == 0 else f"KD chi = {chi:g}, T = {T:g}"
        if pk is None:
            return f"{who}: no interior peak (max eps_g = {_f(mx)})"
        return f"{who}: peak at alpha = {_g(pk[0])} (eps_g = {_f(pk[1])}, prominence {_f(pk[2])})"

    c.findings.append(("an interpolation peak at small lam", v1,
                       f"at lam = {_g(p['lam'])}, {len(with_peak)} of {len(info)} curves have an interior maximum "
                       f"(prominence > 1e-3): " + "; ".join(desc(s) for s in info) +
                       f". The student has eta N = {p['eta']:g} N trained weights, so alpha = eta = {p['eta']:g} is "
                       f"where M equals the number of weights. Rule: supported if at least one curve has a peak."))
    changes = []
    if lab and kds:
        l0 = info[lab[0]]
        base_h = l0[2][2] if l0[2] is not None else 0.0
        for s in kds:
            chi, T, pk, _, _ = info[s]
            h = pk[2] if pk is not None else 0.0
            changes.append((chi, T, h - base_h))
        txt = "; ".join(f"chi = {chi:g}, T = {T:g}: prominence {'+' if dh >= 0 else ''}{_f(dh)}"
                        for chi, T, dh in changes)
        v2 = SUPPORTED if any(abs(dh) > 1e-3 for _, _, dh in changes) else CONTRADICTED
        c.findings.append(("KD (chi, T) changes the peak", v2,
                           "change of the peak's prominence relative to the label-only student: " + txt +
                           ". Rule: supported if some (chi, T) changes it by more than 1e-3."))
        c.verdict = _combine([v1, v2])
    else:
        c.verdict = v1
    c.numbers.update(n_curves=len(info), n_with_peak=len(with_peak),
                     peaks={f"chi={v[0]:g},T={v[1]:g}": (None if v[2] is None else v[2][:2]) for v in info.values()})
    return c


# ----------------------------------------------------------------------------- theory vs simulation


def theory_vs_simulation(t: pd.DataFrame, cols=("teacher_gen_error", "student_gen_error")) -> pd.DataFrame:
    """Each simulated point next to the theory point of the same series and alpha:
    ``diff = sim - theory`` and ``z = diff / stderr``."""
    out = []
    sim = t[t["kind"] == "simulate"]
    th = t[t["kind"] == "theory"]
    for _, r in sim.iterrows():
        m = th[(th["series"] == r["series"]) & np.isclose(th["alpha"], r["alpha"])]
        if m.empty:
            continue
        m = m.iloc[0]
        for col in cols:
            se = r.get(f"{col}_stderr")
            if col not in r or pd.isna(r[col]) or col not in m or pd.isna(m[col]):
                continue
            out.append({"series": r["series"], "alpha": r["alpha"], "observable": col, "theory": m[col],
                        "simulation": r[col], "stderr": se, "diff": r[col] - m[col],
                        # a degenerate point (e.g. the constant classifier, eps_g = rho on every
                        # seed) has a zero s.e.: floor it at the 1e-9 precision of the solvers
                        "z": (r[col] - m[col]) / max(se, 1e-9) if se is not None and se >= 0 else float("nan"),
                        "n_features": r.get("n_features"), "n_seeds": r.get("n_seeds")})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- report

_CLAIMS = {"regularization": _claim_regularization, "kd-logistic-teacher": _claim_kd_logistic,
           "kd-bayes-teacher": _claim_kd_bayes, "double-descent": _claim_double_descent}
_MAIN_OBS = {"regularization": ("teacher_gen_error",), "kd-logistic-teacher": ("teacher_gen_error", "student_gen_error"),
             "kd-bayes-teacher": ("student_gen_error",), "double-descent": ("student_gen_error",)}


def evaluate_claims(tables: Mapping[str, pd.DataFrame], params: Mapping[str, dict]) -> list[Claim]:
    """One :class:`Claim` per figure table present (in the talk's order)."""
    out = []
    for name, fn in _CLAIMS.items():
        if name in tables and tables[name] is not None and not tables[name].empty:
            out.append(fn(tables[name], dict(params.get(name, {}))))
    return out


def _params_line(p: dict) -> str:
    skip = {"seeds"}
    items = [f"{k} = {v}" for k, v in p.items() if k not in skip]
    if "seeds" in p:
        items.append(f"seeds = {len(p['seeds'])} ({p['seeds'][0]}..{p['seeds'][-1]})")
    return "; ".join(items)


def build_report(tables: Mapping[str, pd.DataFrame], params: Mapping[str, dict], *,
                 meta: Optional[Mapping[str, object]] = None) -> str:
    """The Markdown report (claims, verdicts, numbers, tables, theory-vs-simulation check)."""
    meta = dict(meta or {})
    claims = evaluate_claims(tables, params)
    L = ["# Reproducing the talk: inheriting regularization through knowledge distillation", ""]
    L.append("Generated by `kdlab reproduce`"
             + (f" ({meta['mode']} run)" if "mode" in meta else "")
             + f" on {meta.get('date', _dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}"
             + (f", kdlab {meta['version']}" if "version" in meta else "")
             + (f", in {meta['elapsed_s']:.0f} s" if "elapsed_s" in meta else "") + ".")
    L += ["", "Every number below is computed from the tables in `tables/`; each verdict follows the rule "
          "stated next to it. Theory = the N -> infinity state evolution (`kdlab.theory`), simulation = "
          "finite-N empirical risk minimization (`kdlab.simulate`), see `shared/MODEL.md` for the model.", ""]
    L += ["## Summary", "", _md_table(["claim", "figure", "verdict"],
                                      [[f"{c.number}. {c.title}", f"`{c.figure}`", f"**{c.verdict}**"] for c in claims]), ""]
    for c in claims:
        L += [f"## Claim {c.number}: {c.title}", "", f"> The talk: {c.statement}", "",
              f"![{c.figure}]({c.figure}.png)", "", f"**Verdict: {c.verdict}.**", ""]
        for sub, v, text in c.findings:
            L.append(f"- *{sub}* — **{v}**: {text}")
        L.append("")
        if c.table:
            L += [f"Theory values (table `tables/{c.figure}.csv`):", "", c.table, ""]
        if c.figure in params:
            L += [f"Parameters: {_params_line(params[c.figure])}.", ""]
    # theory vs simulation
    L += ["## Theory vs simulation", "",
          "Each simulated point (mean over seeds, standard error s.e.) against the theory at the same "
          "parameters; z = (simulation - theory) / s.e. Finite N has an O(1/N) bias (THEORY.md), so z "
          "grows with the number of seeds; with few seeds the s.e. itself is noisy. All points of a run "
          "share the same seeds (the same cluster centres v), so their deviations are correlated: a "
          "deviation of one sign at most points is a common shift of those draws, not independent "
          "disagreements.", ""]
    rows = []
    for name in _CLAIMS:
        t = tables.get(name)
        if t is None or t.empty or not (t["kind"] == "simulate").any():
            continue
        cmp_ = theory_vs_simulation(t, _MAIN_OBS[name])
        if cmp_.empty:
            continue
        z = cmp_["z"].abs()
        worst = cmp_.loc[z.idxmax()] if z.notna().any() else cmp_.iloc[0]
        # paired check, immune to a shift common to all series: same ranking of the series?
        ranked, n_rank = 0, 0
        for (_, _), g in cmp_.groupby(["alpha", "observable"]):
            g = g.drop_duplicates("series")
            if len(g) >= 2:
                n_rank += 1
                ranked += int(list(g.sort_values("theory")["series"]) == list(g.sort_values("simulation")["series"]))
        rows.append([f"`{name}`", len(cmp_), f"{int((z < 2).sum())} / {int((z < 3).sum())}",
                     f"{int((cmp_['diff'] > 0).sum())} / {len(cmp_)}", _f(float(cmp_['diff'].mean())),
                     f"{ranked} / {n_rank}" if n_rank else "-",
                     _f(float(cmp_["diff"].abs().max())), _f(float(z.max()), 2),
                     f"{worst['series']}, alpha = {_g(worst['alpha'])}, {worst['observable']}: "
                     f"{_f(worst['simulation'])} +- {_f(worst['stderr'])} vs {_f(worst['theory'])}",
                     f"N = {int(cmp_['n_features'].iloc[0])}, {int(cmp_['n_seeds'].iloc[0])} seeds"])
    if rows:
        L += [_md_table(["figure", "points", "within 2 / 3 s.e.", "simulation above theory", "mean diff",
                         "alphas where simulation ranks the series as theory does",
                         "max abs diff", "max abs z", "worst point", "size"],
                        rows), ""]
    else:
        L += ["No simulation in this run.", ""]
    # solver health
    bad = []
    for name, t in tables.items():
        if t is not None and "status_converged" in t:
            nb = int((~t["status_converged"].astype(bool)).sum())
            if nb:
                bad.append(f"`{name}`: {nb} of {len(t)} rows did not converge (kept in the table, excluded "
                           f"from the numbers above)")
    for name, t in tables.items():
        if t is not None and "optimize_at_bound" in t:
            nb = int(t["optimize_at_bound"].astype(bool).sum())
            if nb:
                bad.append(f"`{name}`: {nb} optimized ridge(s) on the edge of the search interval (the true "
                           f"optimum may lie beyond)")
    n_opt = sum(int((t["optimize"] != "none").sum()) for t in tables.values()
                if t is not None and "optimize" in t)
    L += ["## Solver status", "", ("; ".join(bad) + ".") if bad else
          "Every theory point converged, every simulation fit reached its tolerance, and none of the "
          f"{n_opt} optimized ridges sits on the edge of its search interval.", ""]
    return "\n".join(L)


def write_report(path, tables, params, *, meta=None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = build_report(tables, params, meta=meta)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
