"""Study ``self-distillation``: rounds of a student (eta = 1) distilling the previous round.

Round 0 is a logistic model (eta = 1) trained on the labels with its optimal ridge: the
optimally regularized single model. Round r >= 1 is a student (eta = 1) that distils round
r - 1, tuned greedily (the earlier rounds fixed at their tuned values): its ridge lam, its
weight chi in [0, 1] on the previous round and either soft labels at the optimal temperature
T (tune lam, chi, T) or hard pseudo-labels (T = 0; tune lam, chi). Two data settings: every
round on ONE training set (``Shared``) or every round on its own fresh training set of the
same size (``Fresh(alpha)``); label noise theta (a fraction of flipped training labels).

Greedy tuning on one shared set is affordable up to round 2 with soft labels and round 1 with
hard ones (each solve of a deeper chain costs seconds); the later shared rounds repeat the last
tuned round's values, and the theory solves them at those values too (one solve of the whole
chain, any depth: no simulated-only round). On fresh sets every round is tuned. The label-only
model on all the sets a fresh chain has seen, pooled, is the fresh rounds' baseline.

Pure pseudo-label chains (chi = 1, Takanami, Takahashi & Sakata's setting: ridges tuned jointly,
bias fixed or free, a regime map over (rho, Delta, noise, alpha) and a reference point with
several rounds, simulated at N and 4N and validation-tuned) are in :mod:`._pseudo_labels`.
A gain is "supported" when it beats the best same-information baseline, tuned alike, by more
than 3 s.e. in simulation at N = 1000.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..problem import Fresh, GaussianMixture, LogisticTeacher, Problem, Shared, Student
from ..reporting import plotting
from ..reporting.findings import PARTLY, TOL, Claim, combine, fmt, fmt_g, frac_verdict, md_table
from ..results import stage_column
from ..runs.context import RunContext
from ._core import Study, optimum_row, simulate_at
from ._pseudo_labels import compute_pseudo, findings_into, reference, reference_figure, table_rows

PARAMS = dict(rho=0.3, delta=1.0, alphas=[0.5, 1.0, 4.0], noises=[0.0, 0.1, 0.3],
              rounds=[0, 1, 2, 3, 4, 5], shared_soft_rounds=[0, 1, 2], shared_hard_rounds=[0, 1],
              lam_bounds=[1e-4, 1e2], student_lam_bounds=[1e-3, 1e2], temperature_bounds=[0.1, 10.0], sweeps=2,
              shared_late_sweeps=1, worth_tol=1e-4,
              alpha_sim=[1.0], n_features=1000, seeds=10, simulate=True,
              # pure pseudo-label chains (chi = 1): the regime map (one round) and the reference point
              pl_rhos=[0.3, 0.5], pl_deltas=[0.5, 1.0], pl_noises=[0.0, 0.3], pl_alphas=[0.5, 1.0, 4.0],
              ref_rho=0.5, ref_delta=0.5, ref_noise=0.3, ref_alpha=1.0, ref_rounds=2, pl_lam_bounds=[1e-3, 1e2],
              pl_sweeps=1, ref_n=[1000, 4000], ref_seeds=10, ref_max_round_4n=2,
              alpha_val=0.5, val_lams=[0.01, 0.1, 1.0, 10.0, 100.0], val_temperatures=[0.5, 2.0])
QUICK = dict(alphas=[1.0], noises=[0.0, 0.3], rounds=[0, 1, 2], shared_soft_rounds=[0, 1], sweeps=1,
             shared_late_sweeps=1,
             n_features=200, seeds=4,
             pl_rhos=[0.5], pl_deltas=[0.5], pl_noises=[0.3], pl_alphas=[1.0], ref_rounds=1, ref_n=[200],
             ref_seeds=4, val_lams=[0.1, 10.0, 100.0])

#: The chains of the study: (data setting, label type) -> display label.
SETTINGS = {("shared", "soft"): "one shared set, soft labels (lam, chi, T tuned)",
            ("shared", "hard"): "one shared set, hard labels (T = 0; lam, chi tuned)",
            ("fresh", "soft"): "fresh set per round, soft labels (lam, chi, T tuned)",
            ("fresh", "hard"): "fresh set per round, hard labels (T = 0; lam, chi tuned)"}
DATA_LABEL = {"shared": "one shared training set", "fresh": "a fresh training set per round"}
POOLED = "label-only on the pooled sets (baseline of the fresh rounds)"


def _space(labels, lam_bounds, temperature_bounds):
    s = {"lam": tuple(lam_bounds), "chi": (0.0, 1.0)}
    if labels == "soft":
        s["temperature"] = tuple(temperature_bounds)
    return s


def chain_task(alpha, label_noise, data, labels, n_rounds, rho, delta, lam_bounds, student_lam_bounds,
               temperature_bounds, sweeps) -> list:
    """Theory rows of one chain, rounds 0..n_rounds, each round tuned given the earlier ones.

    ``lam_bounds``: round 0's ridge interval, ``student_lam_bounds`` the students' (a student with
    (near-)hard labels and a ridge ~1e-4 on a separable set makes the theory take minutes per solve
    and fail). ``sweeps``: the coordinate-descent passes of :func:`~kdlab.runs.tuning.optimal_stage`, one
    number or one per round. Round r starts its search from round r - 1's tuned values; if it
    ends above round 0's error (which chi = 0 at round 0's ridge reproduces, so the search missed
    the basin) it is searched again from (chi = 0, lam = round 0's) and the better optimum kept
    (``start`` says which)."""
    from ..errors import OptimizationError
    from ..runs.tuning import optimal_stage

    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    base = dict(kind="theory", series=SETTINGS[(data, labels)], alpha=alpha, label_noise=label_noise, data=data,
                labels=labels)
    t0 = time.process_time()
    sw = [int(sweeps)] * (int(n_rounds) + 1) if isinstance(sweeps, (int, float)) else [int(x) for x in sweeps]
    o0 = optimal_stage(Problem(gm, [LogisticTeacher(lam=0.1, eta=1.0)]), {"lam": tuple(lam_bounds)}, sweeps=sw[0])
    rows = [{**base, "round": 0, **optimum_row(o0, 0), "chi": math.nan, "temperature": math.nan,
             "start": "", "cpu_s": time.process_time() - t0}]
    lam0, e0 = o0.params["lam"], o0.gen_error
    chain = [LogisticTeacher(lam=lam0, eta=1.0)]
    space = _space(labels, student_lam_bounds, temperature_bounds)
    lo, hi = student_lam_bounds
    lam0s = min(max(lam0, lo), hi)  # round 0's ridge, within the students' interval
    prev = {"lam": lam0s, "chi": 0.5, "temperature": 1.0}
    for r in range(1, int(n_rounds) + 1):
        t0 = time.process_time()
        st = Student(eta=1.0, lam=0.1, chi=0.5, temperature=1.0 if labels == "soft" else 0.0,
                     data=Shared() if data == "shared" else Fresh(alpha=alpha))
        best, start, n_evals = None, "previous round", 0
        for s, x0 in (("previous round", {k: prev[k] for k in space}),
                      ("chi = 0", {"lam": lam0s, "chi": 0.0, **({"temperature": prev["temperature"]}
                                                                 if "temperature" in space else {})})):
            if best is not None and best.gen_error <= e0 + TOL:
                break
            try:
                o = optimal_stage(Problem(gm, chain + [st]), space, x0=x0, sweeps=sw[r])
            except OptimizationError:
                continue
            n_evals += o.n_evals
            if best is None or o.gen_error < best.gen_error:
                best, start = o, s
        if best is None:  # every solve failed: the chain stops here
            rows.append({**base, "round": r, "gen_error": math.nan, "lam": math.nan, "chi": math.nan,
                         "temperature": math.nan, "at_bound": False, "bound_params": "", "converged": False,
                         "n_evals": n_evals, "start": "", "cpu_s": time.process_time() - t0})
            break
        row = {**base, "round": r, "temperature": 0.0, **optimum_row(best), "n_evals": n_evals, "start": start,
               "cpu_s": time.process_time() - t0}
        rows.append(row)
        chain.append(st.replace(**best.params))
        prev.update(best.params)
    return rows


def repeat_task(alpha, label_noise, data, labels, rho, delta, stages, first) -> list:
    """Theory of the rounds ``first..`` of a chain whose later rounds repeat the last tuned round's
    values (``stages``: every round's ``lam, chi, temperature``, round 0 the teacher): one solve of
    the whole chain gives every round (rows ``extrapolated``: parameters repeated, not tuned)."""
    from .. import theory

    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    chain = [LogisticTeacher(lam=stages[0]["lam"], eta=1.0)]
    for d in stages[1:]:
        chain.append(Student(eta=1.0, lam=d["lam"], chi=d["chi"], temperature=d["temperature"],
                             data=Shared() if data == "shared" else Fresh(alpha=alpha)))
    t0 = time.process_time()
    res = theory.solve(gm, chain)
    rows = []
    for k in range(int(first), len(chain)):
        obs, st = res.stages[k], res.stage_status[k] if getattr(res, "stage_status", None) else res.status
        d = stages[k]
        rows.append(dict(kind="theory", series=SETTINGS[(data, labels)], alpha=alpha, label_noise=label_noise,
                         data=data, labels=labels, round=k, gen_error=float(obs.gen_error) if obs else math.nan,
                         lam=d["lam"], chi=d["chi"], temperature=d["temperature"], at_bound=False, bound_params="",
                         converged=bool(getattr(st, "converged", True)) and obs is not None, n_evals=1, start="",
                         qmc_error=float(res.extra.get(f"qmc_error_stage{k}", math.nan)),
                         cpu_s=time.process_time() - t0))
    return rows


def pooled_task(alpha, label_noise, rho, delta, n_rounds, lam_bounds, sim_features, seeds) -> list:
    """The label-only baseline of fresh round r: a logistic model (optimal ridge) on the labels of
    all r + 1 sets pooled (alpha_total = (r + 1) alpha); simulated too where ``sim_features``."""
    from ..runs.tuning import optimal_stage
    from ..simulation import simulate

    rows = []
    for r in range(1, int(n_rounds) + 1):
        gm = GaussianMixture(alpha=(r + 1) * alpha, delta=delta, rho=rho, label_noise=label_noise)
        o = optimal_stage(Problem(gm, [LogisticTeacher(lam=0.1, eta=1.0)]), {"lam": tuple(lam_bounds)}, sweeps=1)
        base = dict(series=POOLED, alpha=alpha, label_noise=label_noise, data="fresh", labels="pooled", round=r,
                    chi=math.nan, temperature=math.nan)
        rows.append({**base, "kind": "theory", **optimum_row(o, 0), "start": ""})
        if sim_features:
            s = simulate(gm, [LogisticTeacher(lam=o.params["lam"], eta=1.0)], n_features=int(sim_features),
                         seeds=seeds, n_test=0)
            rows.append({**base, "kind": "simulate", "lam": o.params["lam"], "gen_error": s.stages[0].gen_error,
                         "gen_error_stderr": s.stages[0].gen_error_stderr, "n_features": int(sim_features),
                         "n_seeds": s.n_seeds, "converged": True, "at_bound": False, "bound_params": ""})
    return rows


def _repeats(p, th, ctx) -> pd.DataFrame:
    """Theory rows of the shared rounds beyond the last tuned one, at the simulated alphas, with the
    last tuned round's values repeated (what the simulation runs)."""
    R = int(max(p["rounds"]))
    items = []
    for (a, noise, data, lab), g in th[th["alpha"].isin(p["alpha_sim"]) & (th["data"] == "shared")].groupby(
            ["alpha", "label_noise", "data", "labels"], sort=True):
        ok = g[g["converged"].fillna(False).astype(bool)].sort_values("round")
        ok = ok[ok["round"] == np.arange(len(ok))]
        if len(ok) < 2 or int(ok["round"].max()) >= R:
            continue
        tuned = [{"lam": float(r["lam"]), "chi": float(r["chi"]) if k else math.nan,
                  "temperature": float(r["temperature"]) if k else math.nan} for k, (_, r) in enumerate(ok.iterrows())]
        stages = tuned + [tuned[-1]] * (R + 1 - len(tuned))
        items.append(dict(alpha=a, label_noise=noise, data=data, labels=lab, rho=p["rho"], delta=p["delta"],
                          stages=stages, first=len(tuned)))
    if not items:
        return pd.DataFrame()
    t = ctx.map(repeat_task, items, "theory: later shared rounds at the last tuned round's values")
    t["extrapolated"] = True
    t["tuned_round"] = [min(int(r), int(it["first"]) - 1) for r, it in
                        zip(t["round"], [it for it in items for _ in range(R + 1 - it["first"])])]
    return t


def _n_rounds(p, data, labels):
    if data == "shared":
        return int(max(p["shared_soft_rounds"] if labels == "soft" else p["shared_hard_rounds"]))
    return int(max(p["rounds"]))


def _simulate(p, th, ctx, n_features=None, only=None) -> pd.DataFrame:
    """Every chain at the alphas of ``alpha_sim`` simulated to the last round of ``rounds``: one
    chain per (alpha, noise, setting), its rounds read from the stage columns. ``n_features``:
    another N (default ``p["n_features"]``); ``only``: the (data, labels, alpha, noise) to run."""
    R = int(max(p["rounds"]))
    N = int(n_features or p["n_features"])
    base = {"rho": p["rho"], "delta": p["delta"], "teacher": "logistic"}
    pts, meta = [], []
    for (a, noise, data, _lab), g in th[th["alpha"].isin(p["alpha_sim"])].groupby(
            ["alpha", "label_noise", "data", "labels"], sort=True):
        if only is not None and (data, _lab, float(a), float(noise)) not in only:
            continue
        g = g.sort_values("round")
        ok = g[g["converged"].fillna(False).astype(bool)]
        ok = ok[ok["round"] == np.arange(len(ok))]  # the converged rounds before any failure
        if len(ok) < 2:
            continue
        tuned = {int(r["round"]): r for _, r in ok.iterrows()}
        last = max(tuned)
        pt = {"alpha": a, "label_noise": noise, "teacher_lam": tuned[0]["lam"], "teacher_eta": 1.0}
        src = []
        for k in range(1, R + 1):
            r = tuned[min(k, last)]
            pre = f"stage{k}."
            pt.update({f"{pre}eta": 1.0, f"{pre}lam": r["lam"], f"{pre}chi": r["chi"],
                       f"{pre}temperature": r["temperature"], f"{pre}data_alpha": a if data == "fresh" else None})
            src.append(r)
        pts.append(pt)
        meta.append((tuned[0], src, last))
    recs = simulate_at(ctx, pts, base, n_features=N, seeds=p["seeds"],
                       label=("simulation of every chain (rounds 0..%d)" % R) + (
                           "" if only is None else f", N = {N}: finite-size rerun of the disagreeing gains"))
    out = []
    for (r0, src, last), s in zip(meta, recs):
        for k in range(R + 1):
            r = r0 if k == 0 else src[k - 1]
            col = stage_column(k, "gen_error")
            d = {c: r[c] for c in ("series", "alpha", "label_noise", "data", "labels", "lam", "chi", "temperature")}
            d.update(kind="simulate", round=k, gen_error=s[col], gen_error_stderr=s[f"{col}_stderr"],
                     n_features=s["n_features"], n_seeds=s["n_seeds"], at_bound=False, bound_params="",
                     converged=True, tuned_round=min(k, last), extrapolated=bool(k > last))
            out.append(d)
    return pd.DataFrame(out)


def _sweeps(p, data, n):
    """Coordinate-descent passes per round: ``shared_late_sweeps`` for the rounds >= 2 on one shared set
    (3-stage shared chains, ~0.3-0.7 s a solve), ``sweeps`` otherwise (one number when all agree)."""
    if data != "shared" or n < 2 or int(p["shared_late_sweeps"]) == int(p["sweeps"]):
        return int(p["sweeps"])
    return [int(p["sweeps"])] * 2 + [int(p["shared_late_sweeps"])] * (n - 1)


def compute(p: dict, ctx: RunContext) -> dict:
    items = [dict(alpha=a, label_noise=th, data=d, labels=lab, n_rounds=_n_rounds(p, d, lab), rho=p["rho"],
                  delta=p["delta"], lam_bounds=p["lam_bounds"], student_lam_bounds=p["student_lam_bounds"],
                  temperature_bounds=p["temperature_bounds"], sweeps=_sweeps(p, d, _n_rounds(p, d, lab)))
             for (d, lab) in SETTINGS for a in p["alphas"] for th in p["noises"]]
    # the expensive chains first (shared soft, then fresh soft), so that the workers stay busy
    items.sort(key=lambda it: -(it["n_rounds"] ** 2 * (8 if it["data"] == "shared" else 1)
                                * (2 if it["labels"] == "soft" else 1) * (1 + it["alpha"])))
    th = ctx.map(chain_task, items, "theory: greedy tuning of every chain of rounds")
    th["tuned_round"] = th["round"]
    th["extrapolated"] = False
    parts = [th, _repeats(p, th, ctx)]
    sim_n = int(p["n_features"]) if p["simulate"] else 0
    pooled = [dict(alpha=a, label_noise=n, rho=p["rho"], delta=p["delta"], n_rounds=int(max(p["rounds"])),
                   lam_bounds=p["lam_bounds"], sim_features=sim_n if a in p["alpha_sim"] else 0, seeds=p["seeds"])
              for a in p["alphas"] for n in p["noises"]]
    pl = ctx.map(pooled_task, pooled, "label-only baseline on the pooled sets of the fresh rounds")
    pl["extrapolated"] = False
    parts.append(pl)
    if p["simulate"]:
        parts.append(_simulate(p, th, ctx))
        flagged = {(x["data"], x["labels"], x["alpha"], x["label_noise"])
                   for x in _sim_gains(pd.concat(parts, ignore_index=True, sort=False), int(p["n_features"]))
                   if not x["agree"]}
        if flagged:  # item 5: a gain that disagrees with the theory at N is simulated at 4N as well
            parts.append(_simulate(p, th, ctx, 4 * int(p["n_features"]), flagged))
    t = pd.concat(parts, ignore_index=True, sort=False)
    order = {k: i for i, k in enumerate(SETTINGS)}
    t["_o"] = [order.get((d, lab), len(order)) for d, lab in zip(t["data"], t["labels"])]
    t = t.sort_values(["kind", "_o", "alpha", "label_noise", "round"]).drop(columns="_o").reset_index(drop=True)
    return {"rounds": t, "pseudo": compute_pseudo(p, ctx)}


# ----------------------------------------------------------------------------- reading the table


def _theory(t) -> pd.DataFrame:
    """The converged theory rows of the tuned rounds (not the repeated-value rounds, not the baseline)."""
    d = t[(t["kind"] == "theory") & t["labels"].isin(["soft", "hard"])]
    if "extrapolated" in d:
        d = d[~d["extrapolated"].fillna(False).astype(bool)]
    return d[d["converged"].fillna(False).astype(bool)]


def _chains(t):
    """``{(data, labels, alpha, noise): Series round -> gen_error}`` of the converged theory rows."""
    out = {}
    for (d, lab, a, th), g in _theory(t).groupby(["data", "labels", "alpha", "label_noise"], sort=True):
        out[(d, lab, float(a), float(th))] = g.groupby("round")["gen_error"].first().sort_index()
    return out


def _gain(e: pd.Series) -> float:
    """Round 0's error minus the best later round's (NaN without a later round)."""
    later = e[e.index >= 1]
    return float(e.get(0, math.nan) - later.min()) if len(later) and 0 in e.index else math.nan


def worth_rounds(e: pd.Series, tol: float) -> int:
    """The round after which the next round improves the error by less than ``tol`` (the number
    of rounds worth running); ``len(e) - 1`` (the last round) when every round improves."""
    rs = sorted(int(r) for r in e.index)
    for r in rs[:-1]:
        if e[r] - e[r + 1] < tol:
            return r
    return rs[-1]


def gain_map(t) -> pd.DataFrame:
    """Per (data, alpha, noise): the gain eps_0 - min over rounds >= 1 and both label types, the
    label type and round of that best."""
    rows = []
    ch = _chains(t)
    for (d, a, th) in sorted({(k[0], k[2], k[3]) for k in ch}):
        best = (math.inf, None, None)
        e0 = math.nan
        for lab in ("soft", "hard"):
            e = ch.get((d, lab, a, th))
            if e is None or 0 not in e.index:
                continue
            e0 = float(e[0])
            later = e[e.index >= 1]
            if len(later) and later.min() < best[0]:
                best = (float(later.min()), lab, int(later.idxmin()))
        rows.append({"data": d, "alpha": a, "label_noise": th, "eps0": e0, "best": best[0],
                     "gain": e0 - best[0] if best[1] else math.nan, "labels": best[1], "round": best[2]})
    return pd.DataFrame(rows)


def _rounds_over(data, labels=None) -> tuple:
    """The round lists a finding on ``data`` (and ``labels``; None: both) quantifies over."""
    if data == "fresh":
        return ("rounds",)
    return tuple(f"shared_{lab}_rounds" for lab in ("soft", "hard") if labels in (None, lab))



def findings(tables: dict, p: dict) -> Claim:
    t = tables["rounds"]
    c = Claim("Self-distillation: does distilling yourself, round after round, beat the best single model?",
              "Rounds of self-distillation on one training set beat the best label-only model on the same samples, "
              "tuned alike, by more than 3 s.e. in simulation at N = 1000: KD rounds tuned greedily (soft and hard "
              "labels), and pure pseudo-label rounds with their ridges tuned jointly (the reference point), also "
              "when every parameter is chosen on a validation set.", "self-distillation-rounds")
    ch = _chains(t)
    if not ch:
        return c
    wt = float(p.get("worth_tol", 1e-4))
    rows = []
    for (d, lab, a, th), e in ch.items():
        rows.append([DATA_LABEL[d], lab, fmt_g(a), fmt_g(th)] + [fmt(e.get(r)) for r in range(0, 6)]
                    + [fmt(_gain(e)), str(worth_rounds(e, wt)) if len(e) > 1 else "n/a"])
    c.table = md_table(["data", "labels", "alpha", "noise theta"] + [f"round {r}" for r in range(6)]
                       + ["gain eps_0 - min_{r>=1} eps_r", "rounds worth it"], rows)
    verdicts = {}
    sim = _sim_gains(t)
    # (1) does a round ever help, per setting: theory, and the simulation's margin (item 7 rule)
    for (d, lab) in SETTINGS:
        gs = [(a, th, _gain(e)) for (dd, ll, a, th), e in ch.items() if (dd, ll) == (d, lab)]
        gs = [g for g in gs if np.isfinite(g[2])]
        if not gs:
            continue
        k = sum(g > TOL for _, _, g in gs)
        best = max(gs, key=lambda z: z[2])
        sg = [x for x in sim if (x["data"], x["labels"]) == (d, lab)]
        last_round = max(int(r) for (dd, ll, _, _), e in ch.items() if (dd, ll) == (d, lab) for r in e.index)
        ksim = sum(x["gain"] > 3 * x["se"] for x in sg)
        v = frac_verdict(ksim, len(sg)) if sg else frac_verdict(k, len(gs))
        verdicts[("helps", d, lab)] = v
        c.numbers[f"gain_max_{d}_{lab}"] = best[2]
        simtxt = "; ".join(f"alpha = {fmt_g(x['alpha'])}, theta = {fmt_g(x['label_noise'])}: round {x['round']} "
                           f"{fmt(x['gain'])} +- {fmt(x['se'])} ({fmt(x['gain'] / x['se'], 1)} s.e.)"
                           + ("" if x["agree"] else f", disagrees with the theory's {fmt(x['theory'])}"
                              + (f"; at 4N = {4 * x['n']}: {fmt(x['gain_4n'])} +- {fmt(x['se_4n'])}"
                                 if np.isfinite(x["gain_4n"]) else ""))
                           for x in sg if x["se"] > 0)
        c.add(f"{DATA_LABEL[d]}, {lab} labels: some round beats round 0 (the optimally regularized model)", v,
              f"theory: a round r >= 1 is below round 0 by more than {TOL:g} at {k} of {len(gs)} (alpha, theta) "
              "points; "
              f"the largest gain eps_0 - min_r eps_r is {fmt(best[2])} at alpha = {fmt_g(best[0])}, theta = "
              f"{fmt_g(best[1])}; the gains range from {fmt(min(g for _, _, g in gs))} to {fmt(best[2])}. "
              + (f"Simulation (N = {sg[0]['n']}, the theory's best round against round 0 on the same seeds, s.e. of "
                 f"the difference without pairing, an upper bound): {simtxt}. " if sg else "")
              + ("Rounds on fresh sets also see new samples, so their gain is not self-distillation alone (see the "
                 "pooled baseline). " if d == "fresh" else "")
              + "Rule: supported if the best round beats round 0 (same samples and labels, tuned alike) by > 3 s.e. "
              "in simulation at every simulated point, contradicted if at none (without simulation: the theory "
              f"gain > {TOL:g}; rounds 1..{last_round} of the theory).", ("alphas", "noises", *_rounds_over(d, lab)))
    # (1b) fresh rounds against the label-only model on the pooled sets (the same labels)
    pooled = t[(t["labels"] == "pooled")] if "labels" in t else t.iloc[:0]
    if not pooled.empty:
        pt = pooled[pooled["kind"] == "theory"].set_index(["alpha", "label_noise", "round"])["gen_error"]
        pts = []
        for (dd, lab, a, th), e in ch.items():
            if dd != "fresh":
                continue
            for r in e.index:
                if r >= 1 and (a, th, r) in pt.index:
                    pts.append((lab, a, th, int(r), float(pt[(a, th, r)] - e[r])))
        if pts:
            k = sum(g > TOL for *_, g in pts)
            best = max(pts, key=lambda z: z[-1])
            worst = min(pts, key=lambda z: z[-1])
            v = frac_verdict(k, len(pts))
            verdicts["pooled"] = v
            c.numbers["fresh_vs_pooled"] = {"n_win": k, "n": len(pts), "best": best[-1], "worst": worst[-1]}
            c.add("a fresh training set per round: the rounds beat label-only on all their sets pooled", v,
                  f"round r on fresh sets has seen the labels of r + 1 sets; against a logistic model (optimal ridge) "
                  f"on those labels pooled (theory) it is better at {k} of {len(pts)} (labels, alpha, theta, round) "
                  f"points: best {fmt(best[-1])} ({best[0]}, alpha = {fmt_g(best[1])}, theta = {fmt_g(best[2])}, round "
                  f"{best[3]}), worst {fmt(worst[-1])} ({worst[0]}, alpha = {fmt_g(worst[1])}, theta = "
                  f"{fmt_g(worst[2])}, round {worst[3]}) (positive: the rounds win). Rule: supported if at every "
                  "point, contradicted if at none.", ("alphas", "noises", "rounds"))
    # (2) how many rounds are worth it, per data setting (chains with at least 2 theory rounds)
    for d in ("shared", "fresh"):
        ws = [(lab, a, th, worth_rounds(e, wt), int(max(e.index))) for (dd, lab, a, th), e in ch.items()
              if dd == d and len(e) >= 3]
        if not ws:
            continue
        k1 = sum(w <= 1 for *_, w, _ in ws)
        still = [(lab, a, th) for lab, a, th, w, n in ws if w == n]
        v = frac_verdict(k1, len(ws))
        counts = ", ".join(f"{sum(w == r for *_, w, _ in ws)} chain(s) at {r}" for r in
                           sorted({w for *_, w, _ in ws}))
        c.numbers[f"worth_{d}"] = [w for *_, w, _ in ws]
        c.add(f"{DATA_LABEL[d]}: one round captures the benefit (later rounds improve by < {wt:g})", v,
              f"rounds worth running (the round after which the next improves eps_g by less than {wt:g}): "
              f"{counts}; {k1} of {len(ws)} chains stop at round <= 1; {len(still)} still improve at their last "
              f"theory round ({', '.join(f'{lab} alpha = {fmt_g(a)} theta = {fmt_g(th)}' for lab, a, th in still[:6])}"
              f"{', ...' if len(still) > 6 else ''}). "
              + ("On the shared set the theory reaches round 2 with soft labels only (hard-label chains, one round, "
                 "are left out). " if d == "shared" else "")
              + "Rule: supported if every chain stops at round <= 1, contradicted if none does.",
              ("alphas", "noises", *_rounds_over(d)))
    # (3) hard pseudo-labels denoise
    for d in ("shared", "fresh"):
        pts = []
        for (dd, lab, a, th), e in ch.items():
            if dd != d or lab != "hard" or th <= 0:
                continue
            clean = ch.get((d, "hard", a, 0.0))
            g, g0 = _gain(e), (_gain(clean) if clean is not None else math.nan)
            if np.isfinite(g) and np.isfinite(g0):
                pts.append((a, th, g, g0))
        if not pts:
            continue
        k = sum(g > TOL and g > g0 + TOL for _, _, g, g0 in pts)
        v = frac_verdict(k, len(pts))
        verdicts[("denoise", d)] = v
        c.add(f"{DATA_LABEL[d]}: hard pseudo-labels denoise (their gain is positive under noise and larger "
              "than without noise)", v,
              "gain of the hard-label rounds over round 0, noisy vs clean: "
              + "; ".join(f"alpha = {fmt_g(a)}, theta = {fmt_g(th)}: {fmt(g)} vs {fmt(g0)}" for a, th, g, g0 in pts)
              + f". Rule: supported if at every noisy (alpha, theta) the gain exceeds {TOL:g} and the clean gain "
              f"by {TOL:g}; contradicted if nowhere.", ("alphas", "noises", *_rounds_over(d, "hard")))
    # (4) where self-distillation beats the single model (the gain map), per data setting
    gm = gain_map(t)
    for d in ("shared", "fresh"):
        g = gm[(gm["data"] == d) & gm["gain"].notna()]
        if g.empty:
            continue
        win = g[g["gain"] > TOL]
        ups = []
        for a, ga in g.groupby("alpha"):
            ga = ga.sort_values("label_noise")
            if len(ga) >= 2:
                ups.append((a, float(ga["gain"].iloc[-1] - ga["gain"].iloc[0])))
        ku = sum(x > TOL for _, x in ups)
        v = frac_verdict(ku, len(ups)) if ups else PARTLY
        bm = g.loc[g["gain"].idxmax()]
        c.numbers[f"map_{d}"] = {"n_win": len(win), "n": len(g), "max_gain": float(bm["gain"])}
        c.add(f"{DATA_LABEL[d]}: the gain over the single model grows with the label noise", v,
              f"self-distillation (best of soft and hard labels, best round) beats round 0 by > {TOL:g} at "
              f"{len(win)} of {len(g)} (alpha, theta) points ("
              + ", ".join(f"({fmt_g(r['alpha'])}, {fmt_g(r['label_noise'])})" for _, r in win.iterrows())
              + f"); the largest gain {fmt(bm['gain'])} at alpha = {fmt_g(bm['alpha'])}, theta = "
              f"{fmt_g(bm['label_noise'])} ({bm['labels']} labels, round {bm['round']}). Gain at the largest noise "
              "minus gain without noise: " + ", ".join(f"{fmt(x)} at alpha = {fmt_g(a)}" for a, x in ups)
              + ". Rule: supported if positive (> 1e-6) at every alpha, contradicted if at none.",
              ("alphas", "noises", *_rounds_over(d)))
    pv = findings_into(c, tables.get("pseudo"), p, fmt, fmt_g, frac_verdict, TOL)
    pt = tables.get("pseudo")
    if pt is not None and not pt.empty:
        head, prow = table_rows(reference(pt, p), fmt, fmt_g)
        if prow:
            c.table += ("\n\n**Reference point** (rho = %s, Delta = %s, theta = %s, alpha = %s; pure pseudo-label "
                        "rounds, chi = 1):\n\n" % tuple(fmt_g(p[k]) for k in ("ref_rho", "ref_delta", "ref_noise",
                                                                              "ref_alpha"))) + md_table(head, prow)
    c.verdict = combine([verdicts[k] for k in (("helps", "shared", "soft"), ("helps", "shared", "hard"))
                         if k in verdicts] + [pv[k] for k in ("ref_prior", "validation") if k in pv])
    return c


def _sim_gains(t, n=None) -> list:
    """Per simulated (data, labels, alpha, noise): the theory's best tuned round's simulated gain over
    round 0 at N = ``n`` (default: the smallest N simulated) with the s.e. of the difference
    (unpaired: an upper bound), whether it agrees with the theory's gain within 3 s.e., and the same
    gain at 4N where it was rerun (``gain_4n``, ``se_4n``)."""
    if "kind" not in t or not (t["kind"] == "simulate").any():
        return []
    s_all = t[(t["kind"] == "simulate") & t["labels"].isin(["soft", "hard"])]
    if "n_features" in s_all and s_all["n_features"].notna().any():
        n = int(n or s_all["n_features"].min())
        s = s_all[np.isclose(s_all["n_features"], n)]
        s4 = s_all[np.isclose(s_all["n_features"], 4 * n)]
    else:
        s, s4 = s_all, s_all.iloc[:0]
    out = []
    for (d, lab, a, th), e in _chains(t).items():
        g = s[(s["data"] == d) & (s["labels"] == lab) & np.isclose(s["alpha"], a) & np.isclose(s["label_noise"], th)]
        if g.empty or 0 not in e.index or len(e) < 2:
            continue
        r = int(e[e.index >= 1].idxmin())
        g0, gr = g[g["round"] == 0], g[g["round"] == r]
        if g0.empty or gr.empty:
            continue
        x0, xr = g0.iloc[0], gr.iloc[0]
        gain = float(x0["gen_error"] - xr["gen_error"])
        se = math.hypot(float(x0["gen_error_stderr"]), float(xr["gen_error_stderr"]))
        row = dict(data=d, labels=lab, alpha=a, label_noise=th, round=r, gain=gain, se=se,
                   n=int(xr.get("n_features", 0)), agree=abs(gain - (e[0] - e[r])) <= 3 * se, theory=e[0] - e[r],
                   gain_4n=math.nan, se_4n=math.nan)
        h = s4[(s4["data"] == d) & (s4["labels"] == lab) & np.isclose(s4["alpha"], a)
               & np.isclose(s4["label_noise"], th)]
        h0, hr = h[h["round"] == 0], h[h["round"] == r]
        if len(h0) and len(hr):
            row["gain_4n"] = float(h0["gen_error"].iloc[0] - hr["gen_error"].iloc[0])
            row["se_4n"] = math.hypot(float(h0["gen_error_stderr"].iloc[0]), float(hr["gen_error_stderr"].iloc[0]))
        out.append(row)
    return out


# ----------------------------------------------------------------------------- figures

_LAB_STYLE = {"soft": (plotting.PALETTE[0], "-", "o"), "hard": (plotting.PALETTE[1], "--", "s")}


def _rounds_figure(plt, t, p):
    noises = sorted(set(_theory(t)["label_noise"]))
    a_sims = [a for a in p["alpha_sim"] if np.isclose(_theory(t)["alpha"], a).any()] or \
        [sorted(set(_theory(t)["alpha"]))[0]]
    ls_alpha = ["-", ":"]
    fig, axes = plt.subplots(len(noises), 2, figsize=(11.5, 3.0 * len(noises) + 1.8), squeeze=False)
    R = int(max(p["rounds"]))
    for i, th in enumerate(noises):
        for j, d in enumerate(("shared", "fresh")):
            ax = axes[i][j]
            for ia, a in enumerate(a_sims[:2]):
                for lab in ("soft", "hard"):
                    col, _, mk = _LAB_STYLE[lab]
                    sel = (np.isclose(t["alpha"], a) & np.isclose(t["label_noise"], th) & (t["data"] == d)
                           & (t["labels"] == lab))
                    th_rows = t[sel & (t["kind"] == "theory")].rename(columns={"converged": "status_converged"})
                    suffix = f", $\\alpha$ = {a:g}" if len(a_sims) > 1 else ""
                    plotting.theory_line(ax, th_rows, "gen_error", col, f"theory, {lab} labels{suffix}",
                                      ls=ls_alpha[ia] if len(a_sims) > 1 else _LAB_STYLE[lab][1], x="round")
                    if not th_rows.empty:
                        ax.plot(th_rows["round"], th_rows["gen_error"], ".", color=col, ms=5)
                    s = t[sel & (t["kind"] == "simulate")]
                    if "n_features" in s:  # the N of the study (4N reruns are in the report)
                        s = s[np.isclose(s["n_features"].astype(float), float(p["n_features"]))]
                    off = 0.07 * (-1 if lab == "soft" else 1)
                    ex = (s["extrapolated"] if "extrapolated" in s else pd.Series(False, index=s.index)).astype(bool)
                    tuned = s[~ex].assign(round=lambda x: x["round"] + off)
                    extra = s[ex].assign(round=lambda x: x["round"] + off)
                    plotting.sim_points(ax, tuned, "gen_error", col, marker=mk, x="round",
                                     label=f"simulation, {lab} labels{suffix}")
                    if not extra.empty:
                        ax.errorbar(extra["round"], extra["gen_error"], yerr=extra["gen_error_stderr"], fmt=mk,
                                    ms=4.5, mfc=col, mec=col, ecolor=col, alpha=0.45, capsize=2.5, ls="none",
                                    label=f"simulation, {lab}: last tuned round's values repeated")
                e0 = t[(t["kind"] == "theory") & np.isclose(t["alpha"], a) & np.isclose(t["label_noise"], th)
                       & (t["round"] == 0)]["gen_error"]
                if len(e0):
                    ax.axhline(float(e0.iloc[0]), color=plotting.GREY, lw=1, ls=":",
                               label="round 0: optimally regularized logistic model")
            ax.set_xticks(range(R + 1))
            ax.set_xlabel("round r")
            ax.set_ylabel("generalization error $\\varepsilon_g$")
            a_txt = ", ".join(f"{a:g}" for a in a_sims[:2])
            ax.set_title(f"{DATA_LABEL[d]}, label noise $\\theta$ = {th:g}, $\\alpha$ = {a_txt}", fontsize=9.5)
    seen, hh, ll = set(), [], []
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab and not lab.startswith("_") and lab not in seen:
                seen.add(lab)
                hh.append(h)
                ll.append(lab)
    fig.legend(hh, ll, loc="lower center", ncol=2, fontsize=8, frameon=True, bbox_to_anchor=(0.5, 0.045))
    fig.suptitle("Self-distillation: error vs round r (r = 0: logistic model on the labels, optimal ridge; r >= 1: "
                 "a student distilling round r-1,\ntuned greedily; every model on all the features, $\\eta$ = 1; "
                 f"$\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g})", fontsize=10.5)
    plotting.footer(fig, p,
                 f"Theory on one shared set: rounds 0-{max(p['shared_soft_rounds'])} (soft), "
                 f"0-{max(p['shared_hard_rounds'])} "
                 "(hard) tuned; the later shared rounds repeat the last tuned round's (lam, chi, T), theory and "
                 "simulation alike (faded markers). Soft markers shifted left, hard right, for readability.")
    fig.tight_layout(rect=(0, 1.5 / (3.0 * len(noises) + 1.8), 1, 0.95))
    return fig


def _map_figure(plt, t, p):
    from matplotlib.colors import TwoSlopeNorm

    gm = gain_map(t)
    alphas_ = sorted(set(gm["alpha"]))
    noises = sorted(set(gm["label_noise"]))
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.6), squeeze=False)
    for j, d in enumerate(("shared", "fresh")):
        ax = axes[0][j]
        g = gm[gm["data"] == d]
        Z = np.full((len(noises), len(alphas_)), np.nan)
        for _, r in g.iterrows():
            Z[noises.index(r["label_noise"]), alphas_.index(r["alpha"])] = r["gain"]
        fin = Z[np.isfinite(Z)]
        vmax = max(float(fin.max()) if fin.size else 0.0, 1e-6)
        vmin = min(float(fin.min()) if fin.size else 0.0, -0.05 * vmax)
        mesh = ax.pcolormesh(np.arange(len(alphas_) + 1) - 0.5, np.arange(len(noises) + 1) - 0.5, Z,
                             cmap="RdBu", norm=TwoSlopeNorm(vcenter=0.0, vmin=vmin, vmax=vmax), shading="flat")
        for _, r in g.iterrows():
            x, y = alphas_.index(r["alpha"]), noises.index(r["label_noise"])
            ok = np.isfinite(r["gain"])
            txt = "n/a" if not ok else f"{r['gain']:.2g}\n{r['labels']}, r = {r['round']}"
            ax.text(x, y, txt, ha="center", va="center", fontsize=8,
                    color="white" if ok and r["gain"] > 0.6 * vmax else "black")
        ax.set_xticks(range(len(alphas_)), [f"{a:g}" for a in alphas_])
        ax.set_yticks(range(len(noises)), [f"{x:g}" for x in noises])
        ax.set_xlabel("$\\alpha$ = M / N (samples per dimension, each training set)")
        ax.set_ylabel("label noise $\\theta$ (flipped fraction)")
        ax.set_title(DATA_LABEL[d], fontsize=9.5)
        ax.grid(False)
        cb = fig.colorbar(mesh, ax=ax, shrink=0.95)
        cb.set_label("gain $\\varepsilon_0 - \\min_{r \\geq 1} \\varepsilon_r$ (> 0: self-distillation wins)",
                     fontsize=8.5)
    fig.suptitle("Where self-distillation beats the optimally regularized single model (theory; best of soft and "
                 "hard labels and of the rounds)", fontsize=10.5)
    fig.text(0.01, 0.005, "Theory (N$\\to\\infty$) only; cell text: gain, label type, round of the best. "
             f"Rounds of the theory: 0-{max(p['shared_soft_rounds'])} (soft) and 0-{max(p['shared_hard_rounds'])} "
             f"(hard) on one shared set, 0-{max(p['rounds'])} on fresh sets (which also see new samples). "
             "Each panel has its own colour scale.", fontsize=7.5, color="#444444", ha="left", va="bottom",
             wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return fig


def figures(tables: dict, p: dict) -> dict:
    plt = plotting.setup()
    t = tables["rounds"]
    if _theory(t).empty:
        return {}
    figs = {"self-distillation-rounds": _rounds_figure(plt, t, p), "self-distillation-gain-map": _map_figure(plt, t, p)}
    pt = tables.get("pseudo")
    if pt is not None and not reference(pt, p).empty:
        figs["self-distillation-pseudo-labels"] = reference_figure(plt, pt, p)
    return figs


STUDY = Study(
    name="self-distillation",
    title="Study: self-distillation, round after round",
    summary="rounds of a student (eta = 1) distilling the previous round (KD rounds tuned greedily, pure "
            "pseudo-label rounds tuned jointly): better than the best label-only model?",
    question="A student (eta = 1) distils the previous round, round after round: KD rounds (ridge, weight chi and "
             "temperature, or hard pseudo-labels, tuned greedily) and pure pseudo-label rounds (chi = 1, hard or soft, "
             "ridges tuned jointly, bias fixed or free). Does any round beat the best label-only model with the same "
             "samples and labels, tuned alike, in simulation at N = 1000 and not only in the N -> infinity theory? On "
             "one shared training set, and with a fresh set per round against label-only on the pooled sets? Where "
             "in (rho, Delta, noise, alpha) do pseudo-labels win? Which gains survive validation tuning (no oracle)?",
    params=PARAMS, quick=QUICK, compute=compute, figures=figures, findings=findings,
    compare={"rounds": ("series", "alpha", "label_noise", "round"),
             "pseudo": ("series", "rho", "delta", "label_noise", "alpha", "round")},
)
