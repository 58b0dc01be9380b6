"""Same-information baselines of every study, and the rules that compare a gain with them.

A KD student's gain is only a gain over a learner that had **the same information** (the same
training samples and labels, the same coordinates) and **the same tuning effort**. The
label-only baselines of a student on a fraction ``eta`` of the coordinates with ``alpha N``
labelled samples (keys of :data:`BASELINES`):

* ``labels``: cross-entropy with a free bias (``LogisticTeacher(eta)``), ``lam`` tuned;
* ``weighted``: the class-reweighted cross-entropy, ``lam`` and the weight of the +1 class tuned;
* ``bias``: the bias fixed and recalibrated, ``lam`` and the bias tuned;
* ``smoothing``: label smoothing, the target ``(1 - eps) y01 + eps / 2``, ``lam`` and ``eps``
  tuned (a student of a constant teacher: ``chi = eps`` at ``T = 1``, the teacher's weights 0,
  its bias fixed at 0);
* ``bayes``: the label-only Bayes-optimal estimator on the same coordinates
  (``BayesOptimalTeacher(eta)``, no tuning; defined without label noise): its error is the
  sparse Bayes floor.

A student that saw more samples than its teacher (a fresh set, pooled rounds) is compared with
the same baselines on the **pooled** data (``alpha`` the total).

Each row carries ``sim_point`` (the sweep point, JSON) and ``sim_stage`` (the stage whose error
it is), so that :func:`simulate_rows` simulates any row of any study and :func:`rerun_at`
reruns it at another N (the finite-size check). :func:`margin` is the rule of a claimed gain:
the difference of two simulated means in standard errors (:data:`SE_MARGIN`).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..problem import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Problem, Student
from ..runs.context import RunContext
from ._core import optimum_row, simulate_at

__all__ = ["BASELINES", "ERM", "SE_MARGIN", "SMOOTH_TEACHER_LAM", "baseline_row", "baseline_rows",
           "simulate_rows", "rerun_at", "margin", "best_of", "finite_size_table", "finite_size", "disagreeing",
           "trend_text", "KD_VARIANTS", "tuned_kd_rows", "baseline_task", "finite_finding",
           "flag_below_floor"]

#: key: (display label, tuned parameters).
BASELINES = {
    "labels": ("labels only, cross-entropy, free bias (lam tuned)", ("lam",)),
    "weighted": ("labels only, class-reweighted cross-entropy (lam, class weight tuned)", ("lam", "class_weight")),
    "bias": ("labels only, recalibrated fixed bias (lam, bias tuned)", ("lam", "bias")),
    "smoothing": ("labels only, label smoothing (lam, eps tuned)", ("lam", "chi")),
    "bayes": ("labels only, Bayes-optimal estimator on the student's coordinates", ()),
}
#: The baselines trained by empirical risk minimization (tuned alike with the KD students).
ERM = ("labels", "weighted", "bias", "smoothing")
#: A claimed gain must exceed this many standard errors of the difference (simulation).
SE_MARGIN = 3.0
#: The ridge of the constant teacher of label smoothing (its weights are ~1 / lam: zero).
SMOOTH_TEACHER_LAM = 1e8
_BOUNDS = {"class_weight": (0.05, 20.0), "bias": (-5.0, 5.0), "chi": (0.0, 1.0)}


def series_label(key: str, pooled: bool = False) -> str:
    lab = BASELINES[key][0]
    return lab + (", pooled data" if pooled else "")


def baseline_row(data: GaussianMixture, eta: float, key: str, lam_bounds=(1e-4, 1e4), *, sweeps: int = 2,
                 n_scan: int = 5, pooled: bool = False) -> dict:
    """One theory row: the baseline ``key`` on ``data`` (its ``alpha`` the samples it has: the
    total for a pooled one), on a fraction ``eta`` of the coordinates, tuned on the theory error."""
    from .. import theory
    from ..runs.tuning import optimal_stage

    dpt = {"alpha": data.alpha, "rho": data.rho, "delta": data.delta, "label_noise": data.label_noise}
    base = {"kind": "theory", "baseline": key, "series": series_label(key, pooled), "pooled": bool(pooled),
            "alpha_data": float(data.alpha), "eta": float(eta)}
    if key == "bayes":
        r = theory.solve(Problem(data, [BayesOptimalTeacher(eta=eta)]))
        pt = {**dpt, "teacher": "bayes-optimal", "teacher_eta": eta, "student": False}
        return {**base, "gen_error": float(r.stages[0].gen_error), "converged": bool(r.status.converged),
                "at_bound": False, "bound_params": "", "n_evals": 1, "sim_point": json.dumps(pt),
                "sim_stage": 0}
    space = {n: (tuple(lam_bounds) if n == "lam" else _BOUNDS[n]) for n in BASELINES[key][1]}
    if key == "smoothing":
        teacher = LogisticTeacher(lam=SMOOTH_TEACHER_LAM, eta=eta, bias=0.0)
        prob = Problem(data, [teacher, Student(eta=eta, chi=0.0, temperature=1.0, lam=1.0)])  # from eps = 0
    else:
        prob = Problem(data, [LogisticTeacher(lam=1.0, eta=eta, bias=0.0 if key == "bias" else "free")])
    # the bias search starts at the prior log-odds (from 0 it can fall into the constant classifier)
    x0 = {"bias": data.prior_bias} if key == "bias" else None
    o = optimal_stage(prob, space, x0=x0, sweeps=sweeps, n_scan=n_scan)
    row = {**base, **optimum_row(o)}
    if key == "smoothing":
        pt = {**dpt, "teacher": "logistic", "teacher_lam": SMOOTH_TEACHER_LAM, "teacher_eta": eta,
              "teacher_bias": 0.0, "eta": eta, "lam": row["lam"], "chi": row["chi"], "temperature": 1.0}
        row.update(temperature=1.0, sim_stage=1)
    else:
        pt = {**dpt, "teacher": "logistic", "teacher_eta": eta, "teacher_lam": row["lam"],
              "student": False}
        if key == "weighted":
            pt["teacher_class_weight"] = row["class_weight"]
        if key == "bias":
            pt["teacher_bias"] = row["bias"]
        row.update(sim_stage=0)
    row["sim_point"] = json.dumps(pt)
    return row


def baseline_rows(data: GaussianMixture, eta: float, keys: Sequence[str] = tuple(BASELINES), **kw) -> list:
    """:func:`baseline_row` for every key that applies (``bayes`` only without label noise)."""
    return [baseline_row(data, eta, k, **kw) for k in keys if not (k == "bayes" and data.label_noise > 0)]


def simulate_rows(ctx: RunContext, rows: pd.DataFrame, base: Mapping[str, Any], *, n_features: int, seeds,
                  label: str = "simulation at the tuned parameters") -> pd.DataFrame:
    """The simulated copies (``kind = "simulate"``) of the theory ``rows`` that carry ``sim_point``
    and ``sim_stage``: ``gen_error`` and ``gen_error_stderr`` of that stage, ``n_features``, ``n_seeds``."""
    rows = rows[rows["sim_point"].notna()] if "sim_point" in rows else rows.iloc[:0]
    if rows.empty:
        return pd.DataFrame()
    pts = [json.loads(s) for s in rows["sim_point"]]
    recs = simulate_at(ctx, pts, base, n_features=n_features, seeds=seeds, label=label)
    out = []
    for (_, r), s in zip(rows.iterrows(), recs):
        k = int(r["sim_stage"])
        d = r.to_dict()
        d.update(kind="simulate", gen_error=s[f"stage{k}_gen_error"], gen_error_stderr=s[f"stage{k}_gen_error_stderr"],
                 n_features=s["n_features"], n_seeds=s["n_seeds"], at_bound=False, bound_params="")
        out.append(d)
    return pd.DataFrame(out)


def rerun_at(ctx: RunContext, sim: pd.DataFrame, base: Mapping[str, Any], *, n_features: int, seeds,
             label: str = "") -> pd.DataFrame:
    """The simulated rows ``sim`` again at ``n_features`` (same points, same seeds)."""
    if sim is None or sim.empty:
        return pd.DataFrame()
    th = sim.assign(kind="theory")
    return simulate_rows(ctx, th, base, n_features=n_features, seeds=seeds,
                         label=label or f"the same points at N = {n_features}")


def margin(worse: float, se_worse: float, better: float, se_better: float) -> tuple[float, float, float]:
    """``(d, se, z)``: the gain ``d = worse - better`` of two independent simulated means, its
    standard error ``sqrt(se_w^2 + se_b^2)`` and ``z = d / se`` (NaN when undefined)."""
    d = float(worse) - float(better)
    se = math.sqrt(float(se_worse) ** 2 + float(se_better) ** 2) if np.isfinite([se_worse, se_better]).all() \
        else math.nan
    return d, se, (d / se if se > 0 else math.nan)


def best_of(t: pd.DataFrame, keys: Sequence[str], where: Optional[Mapping[str, Any]] = None,
            kind: str = "theory") -> Optional[pd.Series]:
    """The row of least ``gen_error`` among the baselines ``keys`` of ``t`` (``kind`` rows,
    restricted by ``where``: column -> value, numbers compared with isclose); ``None`` if none."""
    d = t[(t["kind"] == kind) & t["baseline"].isin(list(keys))] if "baseline" in t else t.iloc[:0]
    for c, v in (where or {}).items():
        d = d[np.isclose(d[c].astype(float), float(v))] if isinstance(v, (int, float)) and not isinstance(v, bool) \
            else d[d[c] == v]
    if kind == "theory" and "converged" in d:
        d = d[d["converged"].fillna(False).astype(bool)]
    d = d[d["gen_error"].notna()]
    return None if d.empty else d.loc[d["gen_error"].idxmin()]


def disagreeing(cmp_: pd.DataFrame) -> pd.DataFrame:
    """The rows of a theory-vs-simulation comparison (:func:`kdlab.reporting.compare.match`) that
    disagree (``ok`` false)."""
    if cmp_ is None or cmp_.empty or "ok" not in cmp_:
        return pd.DataFrame()
    return cmp_[~cmp_["ok"].astype(bool)]


def _mask(d: pd.DataFrame, keys: Sequence[str], row) -> np.ndarray:
    """Rows of ``d`` whose ``keys`` equal those of ``row`` (numbers to 1e-9 relative)."""
    m = np.ones(len(d), bool)
    for c in keys:
        v = row[c]
        if isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)):
            m &= np.isclose(pd.to_numeric(d[c], errors="coerce").to_numpy(float), float(v), rtol=1e-9, atol=1e-12)
        else:
            m &= (d[c] == v).to_numpy(bool)
    return m


def finite_size_table(t: pd.DataFrame, keys: Sequence[str], n_small: int, n_large: int) -> pd.DataFrame:
    """One row per simulated point of ``t`` present at both ``n_small`` and ``n_large``
    (``n_features``): the theory value, the simulation at each N (mean, s.e.), the distance to the
    theory in s.e. at each, and the trend (``closer`` when the distance to the theory shrinks)."""
    th = t[t["kind"] == "theory"]
    sim = t[t["kind"] == "simulate"]
    out = []
    small = sim[sim["n_features"] == n_small]
    large = sim[sim["n_features"] == n_large]
    for _, r in large.iterrows():
        s, x = small[_mask(small, keys, r)], th[_mask(th, keys, r)]
        if s.empty or x.empty:
            continue
        s, x = s.iloc[0], x.iloc[0]
        g = float(x["gen_error"])
        d1, d2 = float(s["gen_error"]) - g, float(r["gen_error"]) - g
        out.append({**{c: r[c] for c in keys}, "theory": g, "sim_N": float(s["gen_error"]),
                    "stderr_N": float(s["gen_error_stderr"]), "N": n_small, "sim_4N": float(r["gen_error"]),
                    "stderr_4N": float(r["gen_error_stderr"]), "N_large": n_large,
                    "z_N": d1 / max(float(s["gen_error_stderr"]), 1e-12),
                    "z_4N": d2 / max(float(r["gen_error_stderr"]), 1e-12),
                    "trend": "closer" if abs(d2) < abs(d1) else "not closer"})
    return pd.DataFrame(out)


def _sim_text(m: float, se: float, z: float) -> str:
    if not np.isfinite(se) or se < 1e-9:
        return f"{m:.4f} (s.e. 0: every seed the same)"
    return f"{m:.4f} +- {se:.4f} ({z:+.1f} s.e.)"


def trend_text(r) -> str:
    """One row of :func:`finite_size_table` as text: the theory, the simulation at N and 4 N, the trend."""
    return (f"theory {r['theory']:.4f}, N = {int(r['N'])}: {_sim_text(r['sim_N'], r['stderr_N'], r['z_N'])}, "
            f"N = {int(r['N_large'])}: {_sim_text(r['sim_4N'], r['stderr_4N'], r['z_4N'])}, {r['trend']}")


def finite_size(ctx: RunContext, t: pd.DataFrame, keys: Sequence[str], base: Mapping[str, Any], *, n_features: int,
                seeds, factor: int = 4, extra: Optional[pd.DataFrame] = None, max_points: int = 4) -> pd.DataFrame:
    """The finite-size check: every simulated row of ``t`` at ``n_features`` that disagrees with
    its theory row (matched on ``keys``, :func:`kdlab.reporting.compare.match`), and the simulated
    rows ``extra`` (e.g. both ends of a gain whose simulated value disagrees with the theory's),
    simulated again at ``factor * n_features``: the table of :func:`finite_size_table` (at most
    ``max_points`` points, the worst first, ``0``: none; empty when every point agrees). A point
    whose seeds all give the same value (s.e. 0: the constant classifier) is not rerun: the
    finding names it."""
    from ..reporting.compare import match

    if max_points <= 0:
        return pd.DataFrame()
    cmp_ = match(t, keys)
    bad = disagreeing(cmp_)
    sim = t[(t["kind"] == "simulate") & (t["n_features"] == n_features)]
    sim = sim[sim["gen_error_stderr"].fillna(0.0) > 1e-9]  # every seed the same (a constant classifier): not rerun
    pick = []
    if not bad.empty:
        bad = bad[bad["stderr"].fillna(0.0) > 1e-9]
        bad = bad.reindex(bad["z"].abs().sort_values(ascending=False).index)
        for _, b in bad.iterrows():
            pick += list(sim.index[_mask(sim, keys, b)][:1])
    if extra is not None and not extra.empty:
        pick += [i for i in extra.index if i in sim.index]
    pick = list(dict.fromkeys(pick))[:max_points]
    if not pick:
        return pd.DataFrame()
    big = rerun_at(ctx, sim.loc[pick], base, n_features=factor * n_features, seeds=seeds,
                   label=f"finite size: {len(pick)} point(s) at {factor} N = {factor * n_features}")
    both = pd.concat([t[t["kind"] == "theory"], sim.loc[pick], big], ignore_index=True, sort=False)
    return finite_size_table(both, keys, n_features, factor * n_features)


#: The KD students every study tunes alike: (key, tuned parameters, fixed values; "T_max": the top of
#: the temperature interval). The soft search starts at the T = T_max optimum, so that its tuned T*
#: is at least as good as every temperature evaluated.
KD_VARIANTS = (("hard", ("lam", "chi"), {"temperature": 0.0}),
               ("large-T", ("lam", "chi"), {"temperature": "T_max", "t2_scaling": True}),
               ("soft", ("lam", "chi", "temperature"), {"t2_scaling": True}))


def tuned_kd_rows(data: GaussianMixture, teacher, teacher_point: Mapping[str, Any], student: Student, *,
                  lam_bounds=(1e-4, 1e4), temperature_bounds=(0.1, 100.0), sweeps: int = 2,
                  variants: Sequence[str] = ("hard", "large-T", "soft")) -> list:
    """The KD students of ``teacher`` (its sweep fields ``teacher_point``) of the form ``student``
    (its ``eta`` and data), each of :data:`KD_VARIANTS` tuned on the theory error; one row each
    (``variant``, the tuned values, ``sim_point``, ``sim_stage = 1``)."""
    from ..problem import Fresh
    from ..runs.tuning import optimal_stage

    T_max = float(temperature_bounds[1])
    bounds = {"lam": tuple(lam_bounds), "chi": (0.0, 1.0), "temperature": tuple(temperature_bounds)}
    out, found = [], {}
    for v, tuned, fixed in KD_VARIANTS:
        if v not in variants:
            continue
        s = student.replace(**{k: (T_max if x == "T_max" else x) for k, x in fixed.items()})
        start = {**found["large-T"].params, "temperature": T_max} if v == "soft" and "large-T" in found else None
        o = optimal_stage(Problem(data, [teacher, s]), {n: bounds[n] for n in tuned}, x0=start, sweeps=sweeps)
        found[v] = o
        row = {"kind": "theory", "variant": v, "temperature": s.temperature, "t2_scaling": s.t2_scaling,
               **optimum_row(o)}
        pt = {"alpha": data.alpha, "rho": data.rho, "delta": data.delta, "label_noise": data.label_noise,
              **dict(teacher_point), "eta": s.eta, "lam": row["lam"], "chi": row["chi"],
              "temperature": row["temperature"], "t2_scaling": bool(s.t2_scaling),
              "data_alpha": s.data.alpha if isinstance(s.data, Fresh) else None}
        row.update(sim_point=json.dumps(pt), sim_stage=1)
        out.append(row)
    return out


def baseline_task(alpha, rho, delta, label_noise, eta, key, lam_bounds, sweeps=2, alpha_data=None) -> list:
    """One baseline as a cached study task (:meth:`RunContext.map`): the row of :func:`baseline_row`
    at the point ``alpha`` (its ``alpha`` column), trained on ``alpha_data`` N samples (default
    ``alpha``; more: pooled)."""
    ad = alpha if alpha_data is None else alpha_data
    gm = GaussianMixture(alpha=ad, delta=delta, rho=rho, label_noise=label_noise)
    if key == "bayes" and label_noise > 0:
        return []
    r = baseline_row(gm, eta, key, lam_bounds, sweeps=sweeps, pooled=ad > alpha)
    return [{**r, "alpha": alpha, "variant": key}]


def finite_finding(t: pd.DataFrame, fs: Optional[pd.DataFrame], p: Mapping[str, Any], keys: Sequence[str],
                   coords: Sequence[str] = ("alpha",), over: Sequence[str] = ("alpha_sim",)) -> tuple:
    """The finite-size finding of a study, ``(name, verdict, text, over)`` for :meth:`Claim.add`:
    how many simulated points at N agree with the theory, and for the points rerun at 4 N
    (:func:`finite_size`) the trend."""
    from ..reporting.compare import match
    from ..reporting.findings import MISSING, SUPPORTED, fmt_g, frac_verdict

    name = "finite size: the simulation at N agrees with the theory, or approaches it at 4 N"
    sim = t[t["kind"] == "simulate"] if "kind" in t else t.iloc[:0]
    if not p.get("simulate", True) or sim.empty:
        return name, MISSING, "no simulation in this run.", tuple(over)
    cmp_ = match(t[(t["kind"] == "theory") | (t["n_features"] == p["n_features"])], keys)
    n_bad = int((~cmp_["ok"].astype(bool)).sum()) if not cmp_.empty else 0
    head = (f"{len(cmp_) - n_bad} of {len(cmp_)} simulated points at N = {p['n_features']} agree with the theory "
            "(3 s.e. + 1%)")
    if not cmp_.empty:
        deg = cmp_[(~cmp_["ok"].astype(bool)) & (cmp_["stderr"].fillna(0.0) <= 1e-9)]
        if len(deg):
            head += (f"; {len(deg)} of the disagreeing points give the same value at every seed (the constant "
                     "classifier of a finite-N fit with a free bias at a very large ridge, which the N -> infinity "
                     "theory does not have): " + "; ".join(
                         f"{r['series']} ({', '.join(f'{c} = {fmt_g(r[c])}' for c in coords if c in r)}): theory "
                         f"{r['theory']:.4f}, simulation {r['simulation']:.4f}" for _, r in deg.iterrows()))
    if fs is None or fs.empty:
        return (name, SUPPORTED if n_bad == 0 else MISSING,
                head + ("; nothing disagrees, nothing rerun at 4 N." if n_bad == 0 else
                        "; the disagreeing points were not rerun (no finite-size table)."), tuple(over))
    closer = int((fs["trend"] == "closer").sum())

    def where(r):
        return ", ".join(f"{c} = {fmt_g(r[c])}" for c in coords if c in r and pd.notna(r[c]))

    return (name, frac_verdict(closer, len(fs)),
            head + f"; rerun at 4 N ({len(fs)} point(s): the disagreeing ones and the ends of gains that disagree "
            "with the theory's): " + "; ".join(f"{r['series']} ({where(r)}): {trend_text(r)}" for _, r in fs.iterrows())
            + ". Rule: supported if every rerun point moves towards the theory (the N -> infinity line describes the "
              "trend), contradicted if none does.", tuple(over))


def flag_below_floor(rows: pd.DataFrame, delta: float, tol: float = 1e-6) -> pd.DataFrame:
    """``rows`` (baseline rows: ``alpha_data``, ``rho``, ``eta``, ``label_noise``) with every theory
    error below the sparse Bayes floor of its own samples by more than ``tol`` marked as not
    converged (``gen_error`` NaN, ``status`` says why): no learner beats that floor, so such a value
    is a solver artifact (seen for label smoothing at rho = 0.5 and a very large ridge)."""
    from .. import theory

    if rows is None or rows.empty or "alpha_data" not in rows:
        return rows
    rows = rows.copy()
    if "status" not in rows:
        rows["status"] = ""
    for i, r in rows.iterrows():
        noise = float(r.get("label_noise", 0.0) or 0.0) if pd.notna(r.get("label_noise", 0.0)) else 0.0
        if noise > 0 or not np.isfinite(r["gen_error"]):
            continue
        fl = theory.bayes_optimal_error(GaussianMixture(alpha=float(r["alpha_data"]), delta=delta,
                                                        rho=float(r["rho"])), float(r["eta"]))
        if r["gen_error"] < fl - tol:
            rows.loc[i, "status"] = f"below the Bayes floor {fl:.6f} ({r['gen_error']:.6f}): a solver artifact"
            rows.loc[i, ["gen_error", "converged"]] = [math.nan, False]
    return rows
