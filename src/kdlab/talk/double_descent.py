"""Claim 4, figure ``double-descent``: eps_g(alpha) of the sparse student at a tiny ridge, for
several KD mixings chi and temperatures T: the interpolation peak and how KD changes it."""

from __future__ import annotations

import pandas as pd

from ..reporting import plotting
from ..reporting.findings import CONTRADICTED, SUPPORTED, Claim, combine, fmt, fmt_g, md_table, peaks
from ..runs.sweep import Sweep
from ._core import Figure, RunContext, alphas, concat, curve, select, series_of, sim_settings, tag, with_union

PARAMS = dict(rho=0.3, delta=1.0, eta=0.5, lam=1e-4, teacher_lam=0.1,
              curves=[(0.0, 1.0), (0.2, 1.0), (0.5, 1.0), (1.0, 1.0), (0.5, 3.0)],
              alpha_min=0.1, alpha_max=10.0, n_alpha=40, alpha_sim=[0.25, 0.5, 1.0, 3.0],
              n_features=1000, seeds=list(range(20)), simulate=True)
QUICK = dict(n_alpha=12, curves=[(0.0, 1.0), (0.5, 1.0)], alpha_sim=[0.5], n_features=200, seeds=[0, 1])

#: A peak must stand this much above the lowest error within a factor WINDOW in alpha on both sides.
MIN_PROMINENCE, WINDOW = 1e-3, 2.0


def _series(p, chi, T) -> dict:
    return dict(teacher="logistic", teacher_lam=float(p["teacher_lam"]), chi=float(chi), temperature=float(T),
                lam=float(p["lam"]))


def compute(p, ctx: RunContext) -> pd.DataFrame:
    base = {"rho": p["rho"], "delta": p["delta"], "eta": p["eta"], "lam": p["lam"], "teacher": "logistic",
            "teacher_lam": p["teacher_lam"]}
    grid = with_union(alphas(p["alpha_min"], p["alpha_max"], p["n_alpha"]), p["alpha_sim"] if p["simulate"] else [])
    sgrids = [{"alpha": p["alpha_sim"], "chi": c, "temperature": T} for c, T in p["curves"]]
    th, sim = ctx.together(  # independent: at once when the run has workers
        lambda: ctx.run(Sweep([{"alpha": grid, "chi": c, "temperature": T} for c, T in p["curves"]], base=base),
                        "students at small lam"),
        lambda: ctx.run(Sweep(sgrids, base=base, backend="simulate", **sim_settings(p)), "simulation")
        if p["simulate"] else None)
    parts = [tag(d, f"chi={c:g}, T={T:g}", "theory", **_series(p, c, T))
             for (c, T), d in th.groupby(["stage1_chi", "stage1_temperature"], sort=False)]
    if sim is not None:
        parts += [tag(d, f"chi={c:g}, T={T:g}", "simulate", **_series(p, c, T))
                  for (c, T), d in sim.groupby(["stage1_chi", "stage1_temperature"], sort=False)]
    return concat(parts)


def _curves(t, p):
    return [(s["chi"], s["temperature"]) for s in series_of(t, teacher="logistic", lam=float(p["lam"]))]


def plot(t: pd.DataFrame, p):
    plt = plotting.setup()
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    curves = _curves(t, p)
    for i, (chi, T) in enumerate(curves):
        c = plotting.PALETTE[i % len(plotting.PALETTE)]
        lab = "labels only ($\\chi$ = 0)" if chi == 0 else f"KD $\\chi$ = {chi:g}, T = {T:g}"
        plotting.theory_line(ax, select(t, "theory", **_series(p, chi, T)), "stage1_gen_error", c, lab)
        plotting.sim_points(ax, select(t, "simulate", **_series(p, chi, T)), "stage1_gen_error", c,
                         jitter=plotting.jit(i, len(curves)))
    ax.set_xscale("log")
    ax.set_xlabel("$\\alpha = M / N$")
    ax.set_ylabel("generalization error $\\varepsilon_g$")
    ax.axvline(p["eta"], color="#999999", lw=1.0, ls=":", zorder=1)
    # at the foot of the line: the peak sits at alpha = eta, at the top
    ax.text(p["eta"] * 1.04, 0.03, "$\\alpha = \\eta$", transform=ax.get_xaxis_transform(), fontsize=8.5,
            color="#555555", va="bottom", ha="left")
    ax.set_title(f"Error vs $\\alpha$ at a small ridge $\\lambda$ = {plotting.tex(p['lam'])}: interpolation peak "
                 "and its dependence on $\\chi$ and T\n"
                 f"(sparse student $\\eta$ = {p['eta']:g}, logistic teacher $\\lambda_t$ = "
                 f"{plotting.tex(p['teacher_lam'])}; $\\rho$ = {p['rho']:g}, $\\Delta$ = {p['delta']:g})")
    plotting.legend(ax, loc="upper right")
    plotting.footer(fig, p, "Markers of different series at one alpha are slightly offset for readability.")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def claim(t: pd.DataFrame, p: dict) -> Claim:
    c = Claim("Double descent: at small lam the error curves show an interpolation peak; KD (chi, T) changes it",
              "at small lam the error curves show an interpolation peak; how KD (chi, T) changes it.",
              "double-descent")
    rows, info = [], {}
    for chi, T in _curves(t, p):
        e = curve(t, "stage1_gen_error", **_series(p, chi, T))
        if len(e) < 5:
            continue
        pk = peaks(e.index.to_numpy(), e.to_numpy(), MIN_PROMINENCE, WINDOW)
        pk = pk[0] if pk else None
        info[(chi, T)] = (pk, float(e.max()))
        rows.append([f"{chi:g}", f"{T:g}", "no" if pk is None else "yes",
                     "-" if pk is None else fmt_g(pk.alpha), "-" if pk is None else fmt(pk.value),
                     "-" if pk is None else fmt(pk.prominence), fmt(float(e.max())), fmt_g(float(e.idxmax()))])
    if not info:
        return c
    c.table = md_table(["chi", "T", "interior peak", "alpha at peak", "eps_g at peak", "prominence",
                        "max eps_g", "alpha at max"], rows)
    with_peak = [k for k, v in info.items() if v[0] is not None]

    def desc(k):
        (chi, T), (pk, mx) = k, info[k]
        who = "labels only (chi = 0)" if chi == 0 else f"KD chi = {chi:g}, T = {T:g}"
        if pk is None:
            return f"{who}: no interior peak (max eps_g = {fmt(mx)})"
        return f"{who}: peak at alpha = {fmt_g(pk.alpha)} (eps_g = {fmt(pk.value)}, prominence {fmt(pk.prominence)})"

    over = ("alpha", "curves")
    v1 = c.add("an interpolation peak at small lam", SUPPORTED if with_peak else CONTRADICTED,
               f"at lam = {fmt_g(p['lam'])}, {len(with_peak)} of {len(info)} curves have an interior peak "
               f"(a strict local maximum standing > {MIN_PROMINENCE:g} above the lowest error within a factor "
               f"{WINDOW:g} in alpha on both sides; a plateau ending in a kink is not a peak): "
               + "; ".join(desc(k) for k in info)
               + f". The student has eta N = {p['eta']:g} N trained weights, so alpha = eta = {p['eta']:g} is "
               f"where M equals the number of weights. Rule: supported if at least one curve has a peak.", over,
               more="helps")
    labels = [k for k in info if k[0] == 0.0]
    kds = [k for k in info if k[0] > 0.0]
    if labels and kds:
        pk0 = info[labels[0]][0]
        base_h = pk0.prominence if pk0 is not None else 0.0
        changes = [(chi, T, (info[(chi, T)][0].prominence if info[(chi, T)][0] is not None else 0.0) - base_h)
                   for chi, T in kds]
        txt = "; ".join(f"chi = {chi:g}, T = {T:g}: prominence {'+' if dh >= 0 else ''}{fmt(dh)}"
                        for chi, T, dh in changes)
        v2 = c.add("KD (chi, T) changes the peak",
                   SUPPORTED if any(abs(dh) > MIN_PROMINENCE for _, _, dh in changes) else CONTRADICTED,
                   "change of the peak's prominence relative to the label-only student (0 where a curve has no "
                   f"peak): {txt}. Rule: supported if some (chi, T) changes it by more than {MIN_PROMINENCE:g}.",
                   over, more="helps")
        c.verdict = combine([v1, v2])
    else:
        c.verdict = v1
    c.numbers.update(n_curves=len(info), n_with_peak=len(with_peak),
                     peaks={f"chi={k[0]:g},T={k[1]:g}": (None if v[0] is None else (v[0].alpha, v[0].value))
                            for k, v in info.items()})
    return c


FIGURE = Figure("double-descent", PARAMS, QUICK, compute, plot, claim)
