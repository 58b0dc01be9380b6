"""Study ``model-collapse``: generations of logistic models trained on the outputs of earlier
generations (:mod:`kdlab.workflows`), the classification counterpart of the regression results
of Shumailov et al. (2024), Gerstgrasser et al. (2024) and Dohmatob, Feng & Kempe (2024).

Generation 0 is a logistic model (ridge ``lam``) on the real set of ``alpha N`` samples; every
generation ``t >= 1`` uses the same recipe (ridge ``lam``, all coordinates, free bias) on
synthetic sets of ``alpha N`` new inputs labelled by an earlier generation, with soft labels
``sigmoid(h)`` (T = 1) or hard labels ``sign(h)`` (T = 0): **replace** (only the newest synthetic
set), **accumulate** (the real set and every synthetic set so far) and **mix** (a new real set of
``f alpha N`` samples and a new synthetic set each generation, for several real fractions ``f``).
Nothing is tuned: every generation runs the teacher's recipe, and so does the same-information
baseline (a logistic model with ridge ``lam`` on all the real samples that generation has seen);
the baseline with its ridge tuned to the theory's optimum is reported beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..problem import GaussianMixture, LogisticTeacher, Problem
from ..reporting import plotting
from ..reporting.compare import within_tolerance
from ..reporting.findings import Claim, combine, fmt, fmt_g, frac_verdict, md_table
from ..runs.context import RunContext
from ._core import Study, simulate_at

PARAMS = dict(rho=0.3, delta=1.0, lam=0.1, alphas=[0.5, 2.0, 8.0], noises=[0.0, 0.2], temperatures=[1.0, 0.0],
              generations=10, acc_generations=5, mix_fractions=[0.1, 0.25, 0.5, 1.0], lam_bounds=[1e-4, 1e2],
              alpha_sim=[2.0], sim_fraction=0.5, n_features=1000, seeds=6, trend_n=[250, 500], simulate=True)
QUICK = dict(alphas=[2.0], acc_generations=2, mix_fractions=[0.25, 1.0], sim_fraction=1.0, n_features=200,
             seeds=6, trend_n=[100])

#: A chain has collapsed when its error is within this of the trivial classifier's min(rho, 1 - rho).
COLLAPSED = 5e-3
#: Accumulate stays bounded when its largest rise over generation 0 is below this share of the gap
#: from generation 0 to the trivial classifier.
BOUNDED = 0.1
#: A chain has settled when its last generation moved its error by less than this.
SETTLED = 1e-3


def _labels(T: float) -> str:
    return "hard (T = 0)" if T == 0 else f"soft (T = {T:g})"


def _series(workflow: str, T: float, f=None) -> str:
    w = f"mix (real {f:g} alpha N)" if workflow == "mix" else workflow
    return f"{w}, {_labels(T)}"


def _chain(workflow, data, G, T, lam, f):
    from .. import workflows

    kw = dict(temperature=T, lam=lam, teacher=LogisticTeacher(lam=lam))
    if workflow == "mix":
        kw["real_alpha"] = f * data.alpha
    return workflows.workflow(workflow, data, G, **kw)


def chain_task(workflow, alpha, label_noise, temperature, generations, real_fraction, rho, delta, lam) -> list:
    """Theory rows of one chain: one per generation, with its status (``constant``: the constant
    classifier), ``alpha_total`` and the RQMC error estimate where the theory used it."""
    from .. import theory

    data = GaussianMixture(alpha=alpha, delta=delta, rho=rho, label_noise=label_noise)
    f = real_fraction if workflow == "mix" else None
    res = theory.solve(_chain(workflow, data, generations, temperature, lam, f))
    rec = res.to_record()
    rows = []
    for t, (obs, st) in enumerate(zip(res.stages, res.stage_status)):
        ok = st.code.value in ("converged", "constant")
        rows.append(dict(series=_series(workflow, temperature, f), kind="theory", workflow=workflow,
                         labels="hard" if temperature == 0 else "soft", temperature=temperature,
                         real_fraction=f, alpha=alpha, label_noise=label_noise, generation=t,
                         gen_error=float(obs.gen_error) if ok else math.nan, status=st.code.value, converged=ok,
                         m=float(obs.m), q=float(obs.q), alpha_total=float(rec.get(f"stage{t}_alpha_total", alpha)),
                         qmc_error=float(res.extra.get(f"qmc_error_stage{t}", math.nan))))
    return rows


def baseline_task(alpha, label_noise, real_alphas, rho, delta, lam, lam_bounds) -> list:
    """The same-information baselines at one (alpha, noise): a logistic model on ``a N`` real
    samples for each ``a`` of ``real_alphas``, with the generations' ridge ``lam`` and with its
    ridge tuned to the theory's optimum in ``lam_bounds``."""
    from .. import theory
    from ..runs.tuning import optimal_lam

    rows = []
    for a in real_alphas:
        data = GaussianMixture(alpha=a, delta=delta, rho=rho, label_noise=label_noise)
        r = theory.solve(data, LogisticTeacher(lam=lam))
        o = optimal_lam(Problem(data, [LogisticTeacher(lam=lam)]), bounds=tuple(lam_bounds))
        base = dict(kind="theory", alpha=alpha, label_noise=label_noise, real_alpha=a)
        rows.append({**base, "series": f"labels only, lam = {lam:g}", "tuned": False, "lam": lam,
                     "gen_error": float(r.teacher.gen_error), "converged": bool(r.status.converged)})
        rows.append({**base, "series": "labels only, optimal lam", "tuned": True, "lam": float(o.params["lam"]),
                     "gen_error": float(o.result.stages[0].gen_error), "at_bound": bool(o.at_bound),
                     "bound_params": ",".join(o.bound_params), "converged": bool(o.result.status.converged)})
    return rows


def _chains(p: dict) -> list:
    out = []
    for a in p["alphas"]:
        for th in p["noises"]:
            for T in p["temperatures"]:
                for wf, G, fs in (("replace", p["generations"], [None]), ("accumulate", p["acc_generations"], [None]),
                                  ("mix", p["generations"], p["mix_fractions"])):
                    for f in fs:
                        out.append(dict(workflow=wf, alpha=a, label_noise=th, temperature=T, generations=G,
                                        real_fraction=f, rho=p["rho"], delta=p["delta"], lam=p["lam"]))
    return out


def _sim_point(c: dict) -> dict:
    pt = dict(alpha=c["alpha"], label_noise=c["label_noise"], workflow=c["workflow"],
              workflow_generations=c["generations"], workflow_temperature=c["temperature"], workflow_lam=c["lam"])
    if c["workflow"] == "mix":
        pt["workflow_real_alpha"] = c["real_fraction"] * c["alpha"]
    return pt


def _sim_rows(c: dict, rec: dict, n_features: int) -> list:
    f = c["real_fraction"] if c["workflow"] == "mix" else None
    return [dict(series=_series(c["workflow"], c["temperature"], f), kind="simulate", workflow=c["workflow"],
                 labels="hard" if c["temperature"] == 0 else "soft", temperature=c["temperature"], real_fraction=f,
                 alpha=c["alpha"], label_noise=c["label_noise"], generation=t,
                 gen_error=rec[f"stage{t}_gen_error"], gen_error_stderr=rec[f"stage{t}_gen_error_stderr"],
                 m=rec[f"stage{t}_m"], q=rec[f"stage{t}_q"], alpha_total=rec.get(f"stage{t}_alpha_total", c["alpha"]),
                 n_features=n_features, n_seeds=rec["n_seeds"], converged=True)
            for t in range(c["generations"] + 1)]


def compute(p: dict, ctx: RunContext) -> dict:
    chains = _chains(p)
    th = ctx.map(chain_task, chains, "theory: every chain, every generation")
    bl_items = [dict(alpha=a, label_noise=n, real_alphas=_real_alphas(a, p), rho=p["rho"], delta=p["delta"],
                     lam=p["lam"], lam_bounds=p["lam_bounds"]) for a in p["alphas"] for n in p["noises"]]
    bl = ctx.map(baseline_task, bl_items, "theory: same-information baselines")
    parts, bparts, trend = [th], [bl], []
    if p["simulate"]:
        base = {"rho": p["rho"], "delta": p["delta"], "teacher": "logistic", "teacher_lam": p["lam"]}
        sims = [c for c in chains if c["alpha"] in p["alpha_sim"]
                and (c["workflow"] != "mix" or math.isclose(c["real_fraction"], p["sim_fraction"]))]
        recs = simulate_at(ctx, [_sim_point(c) for c in sims], base, n_features=p["n_features"], seeds=p["seeds"],
                           label=f"simulation of the chains at alpha in {p['alpha_sim']}")
        rows = [r for c, rec in zip(sims, recs) for r in _sim_rows(c, rec, p["n_features"])]
        parts.append(pd.DataFrame(rows))
        bparts.append(_sim_baselines(ctx, p, base, sims, th, bl))
        trend = _trend(ctx, p, base, sims, th, parts[-1])
    out = {"generations": pd.concat(parts, ignore_index=True, sort=False),
           "baselines": pd.concat(bparts, ignore_index=True, sort=False)}
    out["n_trend"] = pd.DataFrame(trend, columns=["series", "alpha", "label_noise", "generation", "n_features",
                                                  "n_seeds", "theory", "simulation", "stderr", "diff", "ok"])
    return out


def _sim_baselines(ctx, p, base, sims, th, bl) -> pd.DataFrame:
    """Both same-information baselines simulated where the simulated chains are compared with them:
    at the real samples seen by each chain's best generation (lowest theory error) and its last."""
    need = set()
    for c in sims:
        cur = _curve(th, c["workflow"], c["temperature"], c["alpha"], c["label_noise"],
                     c["real_fraction"] if c["workflow"] == "mix" else None)
        for t in {int(cur.idxmin()), c["generations"]} if len(cur) else ():
            f = c["real_fraction"] if c["workflow"] == "mix" else 0.0
            need.add((c["alpha"], c["label_noise"], round(c["alpha"] * (1 + t * f), 12)))
    pts, meta = [], []
    for a, n, ra in sorted(need):
        for tuned in (False, True):
            lam = _base(bl, a, n, ra, tuned, col="lam")
            if np.isfinite(lam):
                pts.append(dict(alpha=ra, label_noise=n, teacher_lam=lam, student=False))
                meta.append((a, n, ra, tuned, lam))
    recs = simulate_at(ctx, pts, base, n_features=p["n_features"], seeds=p["seeds"],
                       label="simulation of the same-information baselines")
    return pd.DataFrame([dict(kind="simulate", series="labels only, optimal lam" if tuned else
                              f"labels only, lam = {p['lam']:g}", tuned=tuned, lam=lam, alpha=a, label_noise=n,
                              real_alpha=ra, gen_error=r["stage0_gen_error"],
                              gen_error_stderr=r["stage0_gen_error_stderr"], n_features=p["n_features"],
                              n_seeds=r["n_seeds"], converged=True)
                         for (a, n, ra, tuned, lam), r in zip(meta, recs)])


def _real_alphas(a: float, p: dict) -> list:
    """The real samples / N that a generation of a chain at ``alpha = a`` has seen: ``a`` (replace,
    accumulate, mix at generation 0) and ``a (1 + t f)`` (mix at generation t, real fraction f)."""
    return sorted({round(a * (1 + t * f), 12) for f in p["mix_fractions"] for t in range(p["generations"] + 1)})


def _trend(ctx, p, base, sims, th, sim) -> list:
    """Every simulated generation outside the agreement rule, simulated again at the sizes
    ``trend_n`` (the same seeds): the difference to the theory against N."""
    key = ["series", "alpha", "label_noise", "generation"]
    m = sim.merge(th[th["converged"].astype(bool)][key + ["gen_error"]], on=key, suffixes=("", "_theory"))
    bad = m[[not within_tolerance(r.gen_error - r.gen_error_theory, r.gen_error_stderr, r.gen_error_theory)
             for r in m.itertuples()]]
    if bad.empty:
        return []
    chains = [c for c in sims if ((bad["series"] == _series(c["workflow"], c["temperature"], c["real_fraction"]
                                                            if c["workflow"] == "mix" else None))
                                  & np.isclose(bad["alpha"], c["alpha"])
                                  & np.isclose(bad["label_noise"], c["label_noise"])).any()]
    rows = []
    for n in sorted(p["trend_n"]) + [p["n_features"]]:
        recs = simulate_at(ctx, [_sim_point(c) for c in chains], base, n_features=n, seeds=p["seeds"],
                           label=f"N-trend of the disagreeing chains, N = {n}") if n != p["n_features"] else None
        for i, c in enumerate(chains):
            s = pd.DataFrame(_sim_rows(c, recs[i], n)) if recs is not None else \
                sim[(sim["series"] == _series(c["workflow"], c["temperature"], c["real_fraction"] if c["workflow"] ==
                                              "mix" else None)) & np.isclose(sim["alpha"], c["alpha"])
                    & np.isclose(sim["label_noise"], c["label_noise"])]
            for r in s.itertuples():
                b = bad[(bad["series"] == r.series) & np.isclose(bad["alpha"], r.alpha)
                        & np.isclose(bad["label_noise"], r.label_noise) & (bad["generation"] == r.generation)]
                if b.empty:
                    continue
                t = float(b["gen_error_theory"].iloc[0])
                rows.append([r.series, r.alpha, r.label_noise, r.generation, n, int(r.n_seeds), t, r.gen_error,
                             r.gen_error_stderr, r.gen_error - t,
                             within_tolerance(r.gen_error - t, r.gen_error_stderr, t)])
    return rows


# ----------------------------------------------------------------------------- reading the tables


def _theory(g: pd.DataFrame) -> pd.DataFrame:
    return g[(g["kind"] == "theory") & g["converged"].fillna(False).astype(bool)]


def _curve(g, workflow, T, alpha, noise, f=None, kind="theory", col="gen_error") -> pd.Series:
    d = _theory(g) if kind == "theory" else g[g["kind"] == kind]
    d = d[(d["workflow"] == workflow) & np.isclose(d["temperature"], T) & np.isclose(d["alpha"], alpha)
          & np.isclose(d["label_noise"], noise)]
    if f is not None:
        d = d[np.isclose(d["real_fraction"], f)]
    return d.groupby("generation")[col].first().sort_index()


def _status(g, workflow, T, alpha, noise) -> pd.Series:
    return _curve(g, workflow, T, alpha, noise, col="status")


def _base(b, alpha, noise, real_alpha, tuned, kind="theory", col="gen_error"):
    d = b[(b["kind"] == kind) & (b["tuned"].astype(bool) == tuned) & np.isclose(b["alpha"], alpha)
          & np.isclose(b["label_noise"], noise) & np.isclose(b["real_alpha"], real_alpha)]
    return float(d[col].iloc[0]) if len(d) else math.nan


def _grid(g):
    th = g[g["kind"] == "theory"]
    return (sorted(set(th["alpha"])), sorted(set(th["label_noise"])), sorted(set(th["temperature"]), reverse=True),
            sorted(set(th.loc[th["workflow"] == "mix", "real_fraction"].dropna())))


def _where(a, n, T) -> str:
    return f"alpha = {fmt_g(a)}, theta = {fmt_g(n)}, {_labels(T)}"


def _margin(a_mean, a_se, b_mean, b_se) -> float:
    """(a - b) in standard errors of the difference (seeds treated as independent: conservative)."""
    se = math.hypot(a_se, b_se)
    return (a_mean - b_mean) / se if se > 0 else math.nan


def findings(tables: dict, p: dict) -> Claim:
    g, b = tables["generations"], tables["baselines"]
    trivial = min(p["rho"], 1 - p["rho"])
    c = Claim("Model collapse: replace, accumulate, mix",
              "When each generation is trained only on data labelled by the previous one (replace) its error rises "
              "to the trivial classifier's; when the synthetic data accumulate beside the real data it stays "
              "bounded; a fraction of new real data per generation (mix) stops the drift.", "model-collapse")
    alphas, noises, temps, fracs = _grid(g)
    G, Ga = int(p["generations"]), int(p["acc_generations"])
    rows, rep, acc, mixr, soft_hard, fixed, gains, trivial_pts = [], [], [], [], [], [], [], []
    for a in alphas:
        for n in noises:
            for T in temps:
                r = _curve(g, "replace", T, a, n)
                if len(r) and r[0] >= trivial - COLLAPSED:  # generation 0 learned nothing: nothing to collapse
                    trivial_pts.append((a, n, T, float(r[0])))
                elif len(r) and G in r.index:
                    st = _status(g, "replace", T, a, n)
                    # the first generation t >= 1 from which every later one is within COLLAPSED of trivial
                    coll = [t for t in r.index if t >= 1 and (r[r.index >= t] >= trivial - COLLAPSED).all()]
                    const = [t for t in st.index if st[t] == "constant"]
                    rep.append((a, n, T, r[0], r[G], coll[0] if coll else None, const[0] if const else None,
                                int(r.idxmin()), float(r.min())))
                ac = _curve(g, "accumulate", T, a, n)
                if len(ac) and Ga in ac.index:
                    if T != 0:
                        fixed.append((a, n, T, float((ac - ac[0]).abs().max())))
                    rise = float(ac.max() - ac[0])
                    if ac[0] < trivial - COLLAPSED:
                        acc.append((a, n, T, ac[0], ac[Ga], rise, rise / (trivial - ac[0]), float(ac[Ga] - ac[Ga - 1]),
                                    r.get(Ga, math.nan)))
                stops = []
                for f in fracs:
                    m = _curve(g, "mix", T, a, n, f)
                    if len(m) and G in m.index and m[0] < trivial - COLLAPSED:
                        ok = m[G] <= m[0] + 1e-6 and m[G] - m[G - 1] < SETTLED
                        stops.append((f, float(m[G]), bool(ok)))
                if stops:
                    mixr.append((a, n, T, r.get(0, math.nan), stops))
                # same-information baselines, every generation of every chain
                for wf, f in [("replace", None), ("accumulate", None)] + [("mix", f) for f in fracs]:
                    cur = _curve(g, wf, T, a, n, f)
                    for t, e in cur.items():
                        if t == 0:
                            continue
                        ra = a * (1 + t * f) if wf == "mix" else a
                        same, tuned = _base(b, a, n, ra, False), _base(b, a, n, ra, True)
                        gains.append((wf, f, a, n, T, int(t), float(e), same, tuned))
            # soft against hard at (alpha, noise): mean excess over generation 0, generations 1..G
            if len(temps) == 2:
                for wf, fs in (("replace", [None]), ("accumulate", [None]), ("mix", fracs)):
                    for f in fs:
                        s, h = _curve(g, wf, temps[0], a, n, f), _curve(g, wf, 0.0, a, n, f)
                        idx = [t for t in s.index.intersection(h.index) if t > 0]
                        if idx:
                            soft_hard.append((wf, f, a, n, float((s[idx] - s[0]).mean()),
                                              float((h[idx] - h[0]).mean())))
    for a, n, T, e0, eG, tc, tk, tmin, emin in rep:
        rows.append(["replace", _labels(T), fmt_g(a), fmt_g(n), fmt(e0), fmt(eG), f"{tmin}: {fmt(emin)}",
                     "-" if tc is None else str(tc), "-" if tk is None else str(tk)])
    c.table = md_table(["workflow", "labels", "alpha", "noise theta", "eps_0", f"eps_G (G = {G})",
                        "best generation: eps", f"collapsed (within {COLLAPSED:g} of {trivial:g}) from generation",
                        "first constant generation"], rows)

    # 1. replace collapses
    v1 = frac_verdict(sum(x[5] is not None for x in rep), len(rep))
    c.add("replace: the error ends at the trivial classifier's (collapse)", v1,
          f"generation G = {G} of the replace chain is within {COLLAPSED:g} of the trivial error min(rho, 1 - rho) = "
          f"{trivial:g} at {sum(x[5] is not None for x in rep)} of {len(rep)} chains; "
          f"{sum(x[6] is not None for x in rep)} of them end as the constant classifier (status constant: every "
          "target names the majority class, the minority class has vanished). "
          + "; ".join(f"{_where(a, n, T)}: {fmt(e0)} -> {fmt(eG)}"
                      + (f", collapsed from generation {tc} on" if tc is not None else ", not collapsed")
                      + (f" (constant from {tk})" if tk is not None else "")
                      for a, n, T, e0, eG, tc, tk, _, _ in rep)
          + f". {_trivial_note(trivial_pts, trivial)}Rule: supported if every replace chain has collapsed by "
          f"generation {G}.",
          ("alphas", "noises", "temperatures"))

    # 2. accumulate stays bounded
    kb = sum(sh < BOUNDED and step < SETTLED for _, _, _, _, _, _, sh, step, _ in acc)
    v2 = frac_verdict(kb, len(acc))
    c.add("accumulate: the error stays bounded", v2,
          f"largest rise of the error over generation 0 within G = {Ga} accumulated generations, as a share of the "
          f"gap to the trivial error, and the last generation's step: "
          + "; ".join(f"{_where(a, n, T)}: {fmt(e0)} -> {fmt(eG)} (rise {fmt(rise)} = {100 * sh:.1f} % of the gap, "
                      f"last step {fmt(step)}; replace at generation {Ga}: {fmt(rG)})"
                      for a, n, T, e0, eG, rise, sh, step, rG in acc)
          + f". {_trivial_note(trivial_pts, trivial)}Rule: supported if at every chain the rise is below "
          f"{100 * BOUNDED:g} % of the gap and the last step rises by less than {SETTLED:g} (theory to {Ga} "
          "generations: every accumulated set is shared by all later "
          "generations, and the theory's cost grows with their number).", ("alphas", "noises", "temperatures"))

    # 3. mix: how much real data stops the drift
    ks = 0
    parts = []
    for a, n, T, e0, stops in mixr:
        good = [f for f, _, ok in stops if ok]
        ks += bool(good)
        parts.append(f"{_where(a, n, T)}: eps_0 = {fmt(e0)}; "
                     + ", ".join(f"f = {fmt_g(f)}: {fmt(e)}{'' if ok else ' (drifts)'}" for f, e, ok in stops)
                     + (f"; smallest f that stops it: {fmt_g(min(good))}" if good else "; no f of the grid stops it"))
    v3 = frac_verdict(ks, len(mixr))
    c.add("mix: new real data of a fraction f of the synthetic data per generation stops the drift", v3,
          f"eps at generation G = {G} of mix with f alpha N new real samples and alpha N synthetic ones per "
          f"generation; the drift is stopped when eps_G <= eps_0 and the last step rises by less than {SETTLED:g}. "
          + "; ".join(parts) + f". {_trivial_note(trivial_pts, trivial)}Rule: supported if at every chain some f of "
          f"{fracs} stops the drift.",
          ("alphas", "noises", "temperatures", "mix_fractions"), more="helps")
    c.numbers["mix"] = mixr

    # 4. same-information baselines
    g_same = [x for x in gains if np.isfinite(x[7]) and x[6] < x[7] - 1e-6]
    g_tuned = sorted([x for x in gains if np.isfinite(x[8]) and x[6] < x[8] - 1e-6], key=lambda x: x[6] - x[8])
    sim_lines = _sim_margins(g, b, p)
    v4 = frac_verdict(len(gains) - len(g_tuned), len(gains))
    best_same = sorted(g_same, key=lambda x: x[6] - x[7])[:4]
    c.add("no generation beats label-only training on the real data it has seen, ridge tuned", v4,
          f"baselines: a logistic model on all the real samples the generation has seen (replace, accumulate: alpha N; "
          f"mix at generation t: (1 + t f) alpha N), with the generations' ridge lam = {p['lam']:g} (same recipe, no "
          f"tuning) and with its ridge tuned to the theory's optimum. Over {len(gains)} (chain, generation) pairs, "
          f"the generation beats the same-recipe baseline at {len(g_same)}"
          + (" (largest gains: " + "; ".join(f"{_series(wf, T, f)}, {_where(a, n, T).rsplit(',', 1)[0]}, generation "
                                              f"{t}: {fmt(e)} vs {fmt(s)}" for wf, f, a, n, T, t, e, s, _ in best_same)
             + ")" if best_same else "")
          + f" and the tuned baseline at {len(g_tuned)}"
          + (" (" + "; ".join(f"{_series(wf, T, f)}, {_where(a, n, T).rsplit(',', 1)[0]}, generation {t}: {fmt(e)} vs "
                              f"{fmt(tb)}, gain {fmt(tb - e)}" for wf, f, a, n, T, t, e, _, tb in g_tuned[:5])
             + (f" ... ({len(g_tuned) - 5} more)" if len(g_tuned) > 5 else "") + ")" if g_tuned else "")
          + ". At N = " + str(p["n_features"]) + " (simulation; each simulated chain's best generation in the theory "
          "and its last, against both baselines simulated on the real samples that generation has seen; margin = "
          "(generation - baseline) in s.e. of the difference, negative: the generation is better): "
          + ("; ".join(sim_lines) if sim_lines else "no simulation")
          + ". Rule: supported if no generation beats the tuned baseline (by more than 1e-6).",
          ("alphas", "noises", "temperatures", "mix_fractions"), more="hurts")

    # 5. soft labels drift less than hard ones
    kd = sum(s < h - 1e-6 for *_, s, h in soft_hard)
    v5 = frac_verdict(kd, len(soft_hard))
    lose = [x for x in soft_hard if not x[4] < x[5] - 1e-6]
    c.add("soft labels drift less than hard labels", v5,
          f"mean over generations 1..G of eps_t - eps_0: soft below hard at {kd} of {len(soft_hard)} "
          "(workflow, alpha, noise) chains"
          + ("; not at " + "; ".join(f"{_series(wf, 1.0, f).split(',')[0]}, alpha = {fmt_g(a)}, theta = {fmt_g(n)}: "
                                     f"soft {fmt(s)}, hard {fmt(h)}" for wf, f, a, n, s, h in lose[:6])
             + (f" ... ({len(lose) - 6} more)" if len(lose) > 6 else "") if lose else "")
          + ". Rule: supported if soft is below hard at every chain.", ("alphas", "noises", "mix_fractions"))

    # 6. soft accumulate reproduces generation 0
    kf = sum(d <= 5e-4 for *_, d in fixed)
    v6 = frac_verdict(kf, len(fixed))
    c.add("accumulate with soft labels reproduces generation 0", v6,
          "the teacher's weights are a stationary point of every later objective (the soft cross-entropy's gradient "
          "sigmoid(h) - sigmoid(h_0) vanishes at h = h_0 on every synthetic set, and the real set's term with the "
          "same ridge is the teacher's own), so every generation equals generation 0; largest |eps_t - eps_0|: "
          + "; ".join(f"{_where(a, n, T)}: {fmt(d)}" for a, n, T, d in fixed)
          + " (the theory's RQMC error is about 1e-5 to 1e-4). Rule: supported if it is at most 5e-4 at every chain.",
          ("alphas", "noises"))

    # 7. theory against simulation and the trend in N
    v7, text7 = _trend_finding(tables.get("n_trend"), p)
    c.add("where the simulation disagrees with the theory, the gap shrinks as N grows", v7, text7, ("alphas",))
    c.numbers.update(replace=rep, accumulate=acc, gains=len(g_same), gains_tuned=len(g_tuned))
    c.verdict = combine([v1, v2, v3])
    return c


def _sim_margins(g, b, p) -> list:
    out = []
    sim, th = g[g["kind"] == "simulate"], _theory(g)
    for (series, a, n), d in sim.groupby(["series", "alpha", "label_noise"], sort=False):
        d = d.set_index("generation").sort_index()
        t_th = th[(th["series"] == series) & np.isclose(th["alpha"], a) & np.isclose(th["label_noise"], n)]
        if t_th.empty:
            continue
        best = int(t_th.loc[t_th["gen_error"].idxmin(), "generation"])
        f = d["real_fraction"].iloc[0] if d["workflow"].iloc[0] == "mix" else 0.0
        parts = []
        for t in sorted({best, int(d.index.max())}):
            ra = a * (1 + t * f)
            zs = []
            for tuned in (False, True):
                bm, bs = (_base(b, a, n, ra, tuned, "simulate", col) for col in ("gen_error", "gen_error_stderr"))
                if np.isfinite(bm):
                    z = _margin(d.loc[t, "gen_error"], d.loc[t, "gen_error_stderr"], bm, bs)
                    zs.append(f"{'tuned' if tuned else 'same recipe'} {fmt(bm)} ({_signed(z)} s.e.)")
            if zs:
                parts.append(f"generation {t}{' (best)' if t == best else ''}: {fmt(d.loc[t, 'gen_error'])} vs "
                             + ", ".join(zs))
        if parts:
            out.append(f"{series}, theta = {fmt_g(n)}: " + "; ".join(parts))
    return out


def _signed(z) -> str:
    return ("+" if z >= 0 else "") + fmt(z, 1)


def _trivial_note(pts, trivial) -> str:
    if not pts:
        return ""
    return (f"Left out: {len(pts)} chain(s) whose generation 0 is no better than the trivial classifier (eps_0 >= "
            f"{trivial:g} - {COLLAPSED:g}: " + "; ".join(f"{_where(a, n, T)}: {fmt(e)}" for a, n, T, e in pts)
            + "), where there is nothing to lose. ")


def _in_se(diff, se) -> str:
    return fmt(diff / se, 1) if se > 0 else "n/a"


def _trend_finding(tr, p):
    if tr is None or tr.empty:
        return frac_verdict(1, 1), (f"every simulated generation (N = {p['n_features']}) agrees with the theory within "
                                    "3 s.e. + 1 % (or there is no simulation): no trend in N to show. Rule: supported "
                                    "if every disagreement at the largest N is smaller than at the smallest N.")
    parts, k, n = [], 0, 0
    for (series, a, th, t), d in tr.groupby(["series", "alpha", "label_noise", "generation"], sort=False):
        d = d.sort_values("n_features")
        n += 1
        shrink = abs(d["diff"].iloc[-1]) < abs(d["diff"].iloc[0])
        k += bool(shrink)
        parts.append(f"{series}, alpha = {fmt_g(a)}, theta = {fmt_g(th)}, generation {t}: "
                     + ", ".join(f"N = {int(r.n_features)}: {fmt(r.diff)} ({_in_se(r.diff, r.stderr)} s.e.)"
                                 for r in d.itertuples()))
    shown = parts[:8] + ([f"... ({len(parts) - 8} more in the n_trend table)"] if len(parts) > 8 else [])
    return frac_verdict(k, n), (
        f"{n} simulated generation(s) at N = {p['n_features']} lie outside 3 s.e. + 1 % of the theory; simulation "
        "minus theory at each N (same seeds): " + "; ".join(shown)
        + ". Rule: supported if the gap at the largest N is smaller than at the smallest N at every one of them.")


# ----------------------------------------------------------------------------- figures


def figures(tables: dict, p: dict) -> dict:
    plt = plotting.setup()
    g = tables["generations"]
    alphas, noises, temps, fracs = _grid(g)
    trivial = min(p["rho"], 1 - p["rho"])
    f_show = p["sim_fraction"] if p["sim_fraction"] in fracs else (fracs[-1] if fracs else None)
    cols = [("replace", None), ("accumulate", None), ("mix", f_show)]
    fig, axes = plt.subplots(len(noises), 3, figsize=(14, 4.2 * len(noises)), squeeze=False, sharey="row")
    for i, n in enumerate(noises):
        for j, (wf, f) in enumerate(cols):
            ax = axes[i][j]
            for ia, a in enumerate(alphas):
                col = plotting.PALETTE[ia % len(plotting.PALETTE)]
                for T in temps:
                    ls = "--" if T == 0 else "-"
                    cur = _curve(g, wf, T, a, n, f)
                    ax.plot(cur.index, cur.values, color=col, ls=ls, marker="." if T == 0 else None,
                            label=f"$\\alpha$ = {a:g}, {_labels(T)}")
                    s = g[(g["kind"] == "simulate") & (g["workflow"] == wf) & np.isclose(g["temperature"], T)
                          & np.isclose(g["alpha"], a) & np.isclose(g["label_noise"], n)]
                    if f is not None and not s.empty:
                        s = s[np.isclose(s["real_fraction"], f)]
                    if not s.empty:
                        s = s.assign(generation=s["generation"] + (0.12 if T == 0 else -0.12))
                        plotting.sim_points(ax, s, "gen_error", col, marker="s" if T == 0 else "o", x="generation")
            ax.axhline(trivial, color=plotting.GREY, ls=":", lw=1, label="trivial classifier min($\\rho$, 1-$\\rho$)")
            name = f"mix, real {f:g} $\\alpha N$ per generation" if wf == "mix" else wf
            ax.set_title(f"({chr(97 + 3 * i + j)}) {name}, label noise $\\theta$ = {n:g}")
            ax.set_xlabel("generation t")
            if j == 0:
                ax.set_ylabel("generalization error $\\varepsilon_g$")
    plotting.legend(axes[0][0], loc="lower right")
    fig.suptitle(f"Model collapse: generations of logistic models ($\\lambda$ = {p['lam']:g}, $\\rho$ = {p['rho']:g}, "
                 f"$\\Delta$ = {p['delta']:g}); solid: soft labels (T = 1), dashed: hard labels", fontsize=10.5)
    plotting.footer(fig, p,
                    f"Simulated at alpha in {p['alpha_sim']}; markers offset in t for readability.")
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    out = {"model-collapse": fig}
    if fracs:
        G = int(p["generations"])
        fig2, axes2 = plt.subplots(1, len(noises), figsize=(6.2 * len(noises), 4.6), squeeze=False)
        for i, n in enumerate(noises):
            ax = axes2[0][i]
            for ia, a in enumerate(alphas):
                col = plotting.PALETTE[ia % len(plotting.PALETTE)]
                for T in temps:
                    eg = [_curve(g, "mix", T, a, n, f).get(G, math.nan) for f in fracs]
                    ax.plot(fracs, eg, color=col, ls="--" if T == 0 else "-", marker="s" if T == 0 else "o",
                            label=f"$\\alpha$ = {a:g}, {_labels(T)}")
                e0 = _curve(g, "replace", temps[0], a, n).get(0, math.nan)
                ax.axhline(e0, color=col, ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_xlabel("real fraction f (new real samples per generation / synthetic samples)")
            ax.set_ylabel(f"$\\varepsilon_g$ at generation {G}")
            ax.axhline(trivial, color=plotting.GREY, ls="-.", lw=1)
            ax.set_title(f"({chr(97 + i)}) label noise $\\theta$ = {n:g}")
        h, lab = axes2[0][0].get_legend_handles_labels()
        fig2.legend(h, lab, loc="lower center", ncol=min(len(lab), 6), frameon=False)
        fig2.suptitle(f"mix: error of generation {G} against the real fraction f (dotted: generation 0, same colour; "
                      "dash-dotted: the trivial classifier)", fontsize=10.5)
        fig2.tight_layout(rect=(0, 0.1, 1, 0.95))
        out["mix-fraction"] = fig2
    return out


STUDY = Study(
    name="model-collapse",
    title="Study: model collapse in classification (replace, accumulate, mix)",
    summary="generations trained on earlier generations' labels: does the error collapse (replace), stay bounded "
            "(accumulate), and how much real data stops the drift (mix)?",
    question="When each generation of logistic models is trained on data labelled by earlier generations, does "
             "the error rise to the trivial classifier's when the data are replaced, stay bounded when they "
             "accumulate beside the real data (as in regression), and how much new real data per generation stops "
             "the drift? Does any generation beat a model trained on the real data it has seen?",
    params=PARAMS, quick=QUICK, compute=compute, figures=figures, findings=findings,
    compare={"generations": ("series", "alpha", "label_noise", "generation")},
    method="Theory = the N -> infinity state evolution (`kdlab.theory`) of every chain, generation by generation "
           "(status `constant`: the constant classifier); nothing is tuned: every generation uses the teacher's "
           "ridge lam (the same recipe), and only the second same-information baseline has its ridge tuned to the "
           "theory's optimum. Simulation = finite-N empirical risk minimization (`kdlab.simulate`) of the same "
           "chains, all generations of one chain on the same seeds.",
)
