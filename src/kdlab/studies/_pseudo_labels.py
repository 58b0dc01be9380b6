"""Pure pseudo-label chains of the self-distillation study (Takanami, Takahashi & Sakata's setting).

Round 0 is a logistic model on the labels; round r >= 1 a student (eta = 1) trained **only** on
round r - 1's labels (chi = 1: hard, T = 0, or soft at a tuned T), every model on one training
set, the bias either fixed at the prior log-odds (``"prior"``: 0 at rho = 0.5) or free. The
ridges of all rounds are tuned **jointly** for the last round's error
(:func:`~kdlab.runs.tuning.optimal_chain`): round 1 by a full joint search from round 0's
optimum; round r >= 2 from round r - 1's joint optimum plus its own stage tuned greedily,
then polished jointly (every ridge; soft labels: each round's T stays at its greedy value).

The baseline with the same information, tuned alike, is round 0 (labels of the same set,
optimal ridge) with the bias fixed and free; the best of the two is the one to beat.

Simulation: every chain at its tuned values (N = ``ref_n``; ``ref_seeds`` seeds, paired with
round 0 on the same seeds), and **validation tuning** (:mod:`kdlab.simulation.validation`):
every ridge (and T) chosen round after round on ``alpha_val N`` held-out samples, no oracle.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd

from ..problem import GaussianMixture, LogisticTeacher, Problem, Student
from ._core import optimum_row

BIASES = {"prior": "bias fixed (prior log-odds)", "free": "bias free"}
LABELS = ("hard", "soft")


def _student(labels, bias, lam=1.0, temperature=1.0):
    return Student(eta=1.0, lam=lam, chi=1.0, temperature=0.0 if labels == "hard" else temperature, bias=bias)


def _stage_params(chain) -> str:
    return json.dumps([{"lam": float(s.lam), **({"temperature": float(s.temperature)} if k else {})}
                       for k, s in enumerate(chain)])


def _chain(gm, labels, bias, params):
    out = []
    for k, d in enumerate(params):
        out.append(LogisticTeacher(lam=d["lam"], eta=1.0, bias=bias) if k == 0
                   else _student(labels, bias, d["lam"], d.get("temperature", 1.0)))
    return out


def pure_chain_task(rho, delta, label_noise, alpha, labels, bias, n_rounds, lam_bounds, temperature_bounds,
                    sweeps) -> list:
    """Theory rows of rounds 0..n_rounds of one pure pseudo-label chain, ridges tuned jointly."""
    from ..errors import OptimizationError
    from ..runs.tuning import optimal_chain, optimal_stage

    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    base = dict(kind="theory", rho=rho, delta=delta, label_noise=label_noise, alpha=alpha,
                labels=labels, bias=bias, series=f"{labels} pseudo-labels, {BIASES[bias]}")
    lb = {"lam": tuple(lam_bounds)}
    t0 = time.process_time()
    o0 = optimal_stage(Problem(gm, [LogisticTeacher(lam=1.0, eta=1.0, bias=bias)]), lb, sweeps=int(sweeps))
    rows = [{**base, "round": 0, **optimum_row(o0, 0), "temperature": math.nan,
             "stage_params": json.dumps([{"lam": o0.params["lam"]}]), "cpu_s": time.process_time() - t0}]
    chain = [LogisticTeacher(lam=o0.params["lam"], eta=1.0, bias=bias)]
    space = {"lam": tuple(lam_bounds), **({"temperature": tuple(temperature_bounds)} if labels == "soft" else {})}
    for r in range(1, int(n_rounds) + 1):
        t0 = time.process_time()
        prev = chain[-1]
        new = _student(labels, bias, prev.lam, 1.0)
        try:
            if r == 1:
                spaces = {0: dict(lb), 1: dict(space)}
                opt = optimal_chain(Problem(gm, chain + [new]), spaces, sweeps=int(sweeps))
            else:
                g = optimal_stage(Problem(gm, chain + [new]), space, sweeps=1)
                new = new.replace(**g.params)
                spaces = {k: dict(lb) for k in range(r + 1)}
                opt = optimal_chain(Problem(gm, chain + [new]), spaces, sweeps=1, scan=False)
        except OptimizationError:
            rows.append({**base, "round": r, "gen_error": math.nan, "converged": False, "lam": math.nan,
                         "temperature": math.nan, "at_bound": False, "bound_params": "", "n_evals": 0,
                         "stage_params": "", "cpu_s": time.process_time() - t0})
            break
        stages = list(chain) + [new]
        for k, d in opt.per_stage.items():
            stages[k] = stages[k].replace(**d)
        chain = stages
        res = opt.result
        rows.append({**base, "round": r, "gen_error": float(opt.gen_error), "lam": float(chain[-1].lam),
                     "temperature": float(chain[-1].temperature), "at_bound": bool(opt.at_bound),
                     "bound_params": ",".join(opt.bound_params),
                     "converged": bool(getattr(res.status, "converged", True)), "n_evals": int(opt.n_evals),
                     "stage_params": _stage_params(chain), "cpu_s": time.process_time() - t0})
    return rows


def pure_sim_task(rho, delta, label_noise, alpha, labels, bias, round, stage_params, n_features, seeds) -> list:
    """The chain of ``stage_params`` simulated: its last stage's error, mean and per seed."""
    from ..simulation import simulate

    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    res = simulate(gm, _chain(gm, labels, bias, json.loads(stage_params)), n_features=int(n_features),
                   seeds=int(seeds))
    col = f"stage{len(res.stages) - 1}_gen_error"
    b = res.per_seed[f"stage{len(res.stages) - 1}_bias"]
    return [dict(kind="simulate", tuning="oracle", rho=rho, delta=delta, label_noise=label_noise,
                 alpha=alpha, labels=labels, bias=bias, round=round, n_features=int(n_features),
                 n_seeds=int(seeds), gen_error=float(res.stages[-1].gen_error),
                 gen_error_stderr=float(res.stages[-1].gen_error_stderr), bias_sd=float(b.std(ddof=1)),
                 per_seed=json.dumps([float(x) for x in res.per_seed[col]]),
                 series=f"{labels} pseudo-labels, {BIASES[bias]}")]


def pure_validation_task(rho, delta, label_noise, alpha, labels, bias, n_rounds, lam_grid, temperature_grid,
                         alpha_val, n_features, seeds) -> list:
    """Every round's ridge (and T) chosen on a validation set, round after round."""
    from ..simulation.validation import validation_tuned

    gm = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    chain = [LogisticTeacher(lam=1.0, eta=1.0, bias=bias)] + [_student(labels, bias) for _ in range(int(n_rounds))]
    grids = {0: {"lam": list(lam_grid)}}
    for k in range(1, int(n_rounds) + 1):
        grids[k] = {"lam": list(lam_grid), **({"temperature": list(temperature_grid)} if labels == "soft" else {})}
    ps = validation_tuned(Problem(gm, chain), grids, alpha_val=float(alpha_val), n_features=int(n_features),
                          seeds=int(seeds))
    n = len(ps)
    rows = []
    for k in range(int(n_rounds) + 1):
        e = ps[f"stage{k}_gen_error"]
        d = ps["stage0_gen_error"] - e
        rows.append(dict(kind="simulate", tuning="validation", rho=rho, delta=delta,
                         label_noise=label_noise, alpha=alpha, labels=labels, bias=bias, round=k,
                         n_features=int(n_features), n_seeds=n, gen_error=float(e.mean()),
                         gen_error_stderr=float(e.std(ddof=1) / math.sqrt(n)), gain=float(d.mean()),
                         gain_stderr=float(d.std(ddof=1) / math.sqrt(n)) if k else math.nan,
                         lam=float(ps[f"stage{k}_lam"].median()),
                         temperature=float(ps[f"stage{k}_temperature"].median())
                         if f"stage{k}_temperature" in ps else math.nan,
                         series=f"{labels} pseudo-labels, {BIASES[bias]}"))
    return rows


def paired_gains(sim: pd.DataFrame) -> pd.DataFrame:
    """Oracle-tuned simulations: each round's gain over round 0 of the same (labels, bias, N) on
    the same seeds (paired), with its standard error."""
    sim = sim.copy()
    sim["gain"], sim["gain_stderr"] = math.nan, math.nan
    keys = ["rho", "delta", "label_noise", "alpha", "labels", "bias", "n_features"]
    for _, g in sim.groupby(keys, sort=False):
        r0 = g[g["round"] == 0]
        if r0.empty:
            continue
        e0 = np.array(json.loads(r0["per_seed"].iloc[0]))
        for i, r in g.iterrows():
            e = np.array(json.loads(r["per_seed"]))
            if len(e) != len(e0):
                continue
            d = e0 - e
            sim.loc[i, "gain"] = float(d.mean())
            sim.loc[i, "gain_stderr"] = float(d.std(ddof=1) / math.sqrt(len(d))) if r["round"] else math.nan
    return sim


def _is_ref(p, rho, delta, noise, alpha) -> bool:
    return all(np.isclose(a, b) for a, b in ((rho, p["ref_rho"]), (delta, p["ref_delta"]), (noise, p["ref_noise"]),
                                            (alpha, p["ref_alpha"])))


def compute_pseudo(p: dict, ctx) -> pd.DataFrame:
    """The ``pseudo`` table: theory of one pure round on the (rho, Delta, noise, alpha) map and of
    ``ref_rounds`` rounds at the reference point; simulations of the reference point at the tuned
    values (N in ``ref_n``: the first always; 4N for a round whose gain disagrees with the theory
    at the first N, and for round 1 with a free bias) and validation-tuned."""
    cells = [(r, d, th, a) for r in p["pl_rhos"] for d in p["pl_deltas"] for th in p["pl_noises"]
             for a in p["pl_alphas"]]
    ref = (p["ref_rho"], p["ref_delta"], p["ref_noise"], p["ref_alpha"])
    if not any(_is_ref(p, *c) for c in cells):
        cells.append(ref)
    items = [dict(rho=r, delta=d, label_noise=th, alpha=a, labels=lab, bias=b,
                  n_rounds=int(p["ref_rounds"]) if _is_ref(p, r, d, th, a) else 1, lam_bounds=p["pl_lam_bounds"],
                  temperature_bounds=p["temperature_bounds"], sweeps=int(p["pl_sweeps"]))
             for (r, d, th, a) in cells for lab in LABELS for b in BIASES]
    items.sort(key=lambda it: -it["n_rounds"])
    th = ctx.map(pure_chain_task, items, "theory: pure pseudo-label chains, ridges tuned jointly")
    th["tuning"] = "oracle"
    if not p["simulate"]:
        return th
    rt = th[[_is_ref(p, r["rho"], r["delta"], r["label_noise"], r["alpha"]) for _, r in th.iterrows()]]
    rt = rt[rt["converged"].fillna(False).astype(bool)]
    keys = ["rho", "delta", "label_noise", "alpha", "labels", "bias", "round", "stage_params"]

    def sims(rows, n):
        return [dict(**{k: r[k] for k in keys}, n_features=int(n), seeds=int(p["ref_seeds"]))
                for _, r in rows.iterrows()]

    n0 = int(p["ref_n"][0])
    sim = paired_gains(ctx.map(pure_sim_task, sims(rt, n0), f"simulation of the reference point (N = {n0})"))
    parts = [th, sim]
    more = [int(n) for n in p["ref_n"][1:]]
    if more:
        g = rt.set_index(["labels", "bias", "round"])["gen_error"]
        redo = set()
        for _, r in sim.iterrows():
            if r["round"] == 0 or r["round"] > int(p["ref_max_round_4n"]):
                continue
            tg = g[(r["labels"], r["bias"], 0)] - g[(r["labels"], r["bias"], r["round"])]
            if (abs(r["gain"] - tg) > 3 * r["gain_stderr"]) or (r["bias"] == "free" and r["round"] == 1):
                redo |= {(r["labels"], r["bias"], 0), (r["labels"], r["bias"], int(r["round"]))}
        sel = rt[[(r["labels"], r["bias"], int(r["round"])) in redo for _, r in rt.iterrows()]]
        for n in more:
            parts.append(paired_gains(ctx.map(pure_sim_task, sims(sel, n),
                                              f"simulation of the reference point (N = {n}: finite-size rerun)")))
    val = [dict(rho=ref[0], delta=ref[1], label_noise=ref[2], alpha=ref[3], labels=lab, bias=b,
                n_rounds=int(p["ref_rounds"]), lam_grid=p["val_lams"], temperature_grid=p["val_temperatures"],
                alpha_val=p["alpha_val"], n_features=n0, seeds=int(p["ref_seeds"]))
           for lab in LABELS for b in BIASES]
    v = ctx.map(pure_validation_task, val, f"validation tuning at the reference point (N = {n0})")
    v["series"] = v["series"] + " (validation-tuned)"
    parts.append(v)
    return pd.concat(parts, ignore_index=True, sort=False)
