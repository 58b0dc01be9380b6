"""Study ``dark-knowledge``: what the teacher's probabilities of the *wrong* classes (Hinton et
al.'s "dark knowledge") add to a K-class student, measured in the K-class Gaussian mixture
(:class:`kdlab.MulticlassMixture`).

Setting: a logistic teacher on all the features (its ridge tuned on the theory error), a student
on a fraction ``eta`` of the coordinates trained on the **teacher's own samples** (``Shared``:
the same information as every label-only baseline). Two geometries: ``pair`` (K = 3, classes 0
and 1 overlap by ``s``, class 2 apart) and ``equal`` (K classes, every pair overlaps by ``s``).

Five students, each tuned on the theory error with the same effort: one coordinate search over
**two** knobs (the same scan, refinement and passes), except the plain label-only student, which
has one (``lam``; its two-knob version is ``smooth``, which contains it at ``eps = 0``):

* ``labels``: cross-entropy on the labels (``lam``);
* ``smooth``: label smoothing, the target ``1 - eps`` on the label and ``eps / (K - 1)`` elsewhere,
  ``eps = chi (K - 1) / K`` (``lam``, ``chi``; ``chi = 0``: ``labels``, ``chi = 1``: the uniform target);
* ``hard``: KD on the teacher's top class (``lam``, ``chi``: the weight of the KD term, the labels
  having ``1 - chi``);
* ``top``: KD on the teacher's top-class probability at T = 1, the rest spread uniformly over the
  other classes (``lam``, ``chi``): its uncertainty without its ranking of the wrong classes;
* ``soft``: KD on the teacher's full probabilities at T = 1 (``lam``, ``chi``).

The temperature is not tuned (T = 1, the teacher's own probabilities): a third knob would give
``top`` and ``soft`` more tuning than ``hard`` (where T has no effect) and ``smooth``. Every KD
student can fall back on the labels (``chi = 0``), so none is forced below the label-only student.

The KD gain over labels splits exactly, ``eps(labels) - eps(soft) = S + D + U + R``:
``S = eps(labels) - eps(smooth)`` (smoothing, no teacher), ``D = eps(smooth) - eps(hard)`` (the
teacher's decisions), ``U = eps(hard) - eps(top)`` (its uncertainty), ``R = eps(top) - eps(soft)``
(its relational, "dark" knowledge). Each part is also simulated at the tuned values at N
(``n_features``) on the same draws for every student (paired seeds: the s.e. of a part is the
s.e. of the per-seed differences). The theory is the N -> infinity limit; the first point and the
first point of the largest K are also simulated at the sizes ``trend_features``, and the ``trend``
table, a panel and a finding per point show whether the simulated errors and parts approach the
theory as N grows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..reporting import plotting
from ..reporting.findings import (
    CONTRADICTED,
    MISSING,
    PARTLY,
    SUPPORTED,
    Claim,
    combine,
    fmt,
    fmt_g,
    frac_verdict,
    md_table,
)
from ..runs.context import RunContext
from ._core import Study, optimum_row

PARAMS = dict(alpha=2.0, delta=1.0, norm=4.0, label_noises=[0.0, 0.2], eta=0.5, pair_classes=3,
              pair_similarities=[0.0, 0.3, 0.6, 0.9], equal_classes=[3, 4, 6], equal_similarity=0.6,
              lam_bounds=[0.1, 1.0], temperature_bounds=[0.1, 10.0], tune_temperature=False, sweeps=1, n_scan=3,
              xatol=0.1, quad_tol=1e-5, qmc_tol=3e-4, n_features=1000, seeds=10, trend_features=[300, 3000],
              simulate=True)
# The search (ridge in [0.1, 1], one pass of a 3-point scan per knob): a wider one, ridge in [1e-3, 1] and two
# passes of a 5-point scan to xatol 0.02 (2026-12-07, K = 3 `pair` and K = 3, 4 `equal`, both noises), ended every
# ridge at 1 as well and gave the same parts D, U, R, G to 1e-4 at the K = 3, 4 `equal` and the clean `pair`
# points; at the noisy `pair` points its KD students were 3-4e-4 worse (D, G smaller, U, R the same). It costs hours
# at K = 6 (10 integration dimensions; a hard target's solve 18 s at lam = 1e-3 against 0.9 s at lam = 1 for K = 3).
QUICK = dict(label_noises=[0.2], pair_similarities=[0.6, 0.0], equal_classes=[], n_features=300, seeds=4,
             trend_features=[1000])

# lam_bounds stops at 1: beyond it the theory's error keeps falling slowly (labels, theta = 0.2, s = 0.6:
# 0.4267 at lam = 1, 0.4108 at 10, 0.4088 at 100) while the fitted weights shrink as 1/lam and a finite-N fit
# is ruled by the noise of its bias. Simulated, 6 seeds (python, kdlab.simulate, 2026-12-07): the soft student
# (chi = 0.96) of a lam = 10 teacher at lam = 10: 0.593 +- 0.035, 0.563 +- 0.039, 0.484 +- 0.015 at
# N = 300, 1000, 3000 against the theory's 0.3986 (slowly approaching it); at lam = 1 for both:
# 0.4145 +- 0.0053 and 0.4081 +- 0.0029 at N = 300, 1000 against 0.4066. The tuned values must be simulable.

#: The students, in the order of the decomposition: key -> (label, tuned knobs, Student fields).
METHODS = {
    "labels": ("labels only (lam)", ("lam",), None),
    "smooth": ("label smoothing (lam, eps)", ("lam", "chi"), dict(target="smooth", temperature=1.0)),
    "hard": ("KD, hard targets: top class (lam, chi)", ("lam", "chi"), dict(target="hard", temperature=1.0)),
    "top": ("KD, top targets: top probability, rest uniform (lam, chi)", ("lam", "chi"),
            dict(target="top", temperature=1.0)),
    "soft": ("KD, soft targets: full probabilities (lam, chi)", ("lam", "chi"), dict(target="soft", temperature=1.0)),
}
def _knobs(method: str, tune_temperature: bool = False) -> tuple:
    """The knobs a student tunes: those of :data:`METHODS`, and T for ``top`` and ``soft`` when
    ``tune_temperature`` (a third knob the others do not have: more tuning effort, said so)."""
    extra = ("temperature",) if tune_temperature and method in ("top", "soft") else ()
    return METHODS[method][1] + extra


#: The starting values of the search (every knob the same for every student).
START = dict(lam=0.1, chi=0.5, temperature=1.0)
#: The parts of the gain: (key, name, worse end, better end).
PARTS = (("S", "label smoothing (no teacher)", "labels", "smooth"),
         ("D", "the teacher's decisions (hard over smoothing)", "smooth", "hard"),
         ("U", "the teacher's uncertainty (top over hard)", "hard", "top"),
         ("R", "relational / dark knowledge (soft over top)", "top", "soft"),
         ("G", "total KD gain over labels (soft over labels)", "labels", "soft"),
         ("Gs", "KD gain over the same-effort label-only student (soft over smoothing)", "smooth", "soft"))
#: The parts whose simulated values the N-trend finding follows (the relational part and the gains).
TREND_PARTS = ("R", "G", "Gs")
#: A simulated part counts as shown when it exceeds this many standard errors.
SE_MARGIN = 3.0
#: A theory part below this is "no effect" (the tuned optima are resolved to ~1e-5 in eps_g).
RESOLVED = 2e-4
KEYS = ("label_noise", "geometry", "classes", "similarity")


def mixture(geometry: str, classes: int, similarity: float, alpha: float, delta: float, norm: float,
            label_noise: float = 0.0):
    from ..data import MulticlassMixture

    return MulticlassMixture.from_geometry(geometry, int(classes), float(similarity), norm=norm, alpha=alpha,
                                           delta=delta, label_noise=label_noise)


def _stages(method: str, K: int, eta: float, teacher_lam: float, **knobs) -> list:
    """The chain of one student with its ``knobs`` (``lam``, ``chi``, ``temperature``; the rest
    from :data:`START` and :data:`METHODS`): ``labels`` is a lone learner on the student's
    coordinates; the others follow the teacher on its samples (``smooth`` does not read it)."""
    from ..problem import LogisticTeacher, Student

    if method == "labels":
        return [LogisticTeacher(lam=knobs.get("lam", START["lam"]), eta=eta)]
    f = {**START, **METHODS[method][2], **{k: v for k, v in knobs.items() if k in _knobs(method, True)}}
    if method == "smooth":
        f["smoothing"] = (K - 1) / K
    return [LogisticTeacher(lam=teacher_lam, eta=1.0), Student(eta=eta, **f)]


def teacher_task(geometry, classes, similarity, alpha, delta, norm, lam_bounds, sweeps, n_scan, xatol, quad_tol,
                 qmc_tol, label_noise=0.0) -> list:
    """The logistic teacher on all the features, its ridge tuned on the theory error."""
    from ..problem import LogisticTeacher, Problem
    from ..runs.tuning import optimal_stage

    gm = mixture(geometry, classes, similarity, alpha, delta, norm, label_noise)
    o = optimal_stage(Problem(gm, [LogisticTeacher(lam=0.1, eta=1.0)]), {"lam": tuple(lam_bounds)}, sweeps=sweeps,
                      n_scan=n_scan, xatol=xatol, quad_tol=quad_tol, qmc_tol=qmc_tol)
    row = optimum_row(o, 0)
    return [{"kind": "theory", "label_noise": float(label_noise), "geometry": geometry, "classes": int(classes),
             "similarity": float(similarity), "method": "teacher", "series": "teacher (all features, lam tuned)", **row,
             "teacher_lam": float(o.params["lam"])}]


def method_task(geometry, classes, similarity, method, knobs, fixed, teacher_lam, alpha, delta, norm, eta,
                lam_bounds, temperature_bounds, sweeps, n_scan, xatol, quad_tol, qmc_tol, label_noise=0.0,
                start=None) -> list:
    """One student tuned on the theory error (its ``knobs`` and ``fixed`` fields, those of
    :data:`METHODS`, passed as arguments so that a task's cache key names them; the same search
    for all). ``start``: the search's first point (the label-only optimum at ``chi = 0``, which
    every other student contains: its tuned error is then never above the label-only one)."""
    from ..problem import Problem
    from ..runs.tuning import optimal_stage

    gm = mixture(geometry, classes, similarity, alpha, delta, norm, label_noise)
    bounds = {"lam": tuple(lam_bounds), "chi": (0.0, 1.0), "temperature": tuple(temperature_bounds)}
    space = {n: bounds[n] for n in knobs}
    prob = Problem(gm, _stages(method, classes, eta, teacher_lam))
    o = optimal_stage(prob, space, x0=start, sweeps=sweeps, n_scan=n_scan, xatol=xatol, quad_tol=quad_tol,
                      qmc_tol=qmc_tol)
    row = optimum_row(o)
    st = o.result.problem.stages[-1]
    row.setdefault("chi", getattr(st, "chi", math.nan))
    row.setdefault("temperature", getattr(st, "temperature", math.nan))
    status = "" if row["converged"] else str(o.result.status.message)[:300]
    if not row["converged"]:
        row["gen_error"] = math.nan
    return [{"kind": "theory", "label_noise": float(label_noise), "geometry": geometry, "classes": int(classes),
             "similarity": float(similarity), "method": method, "series": METHODS[method][0], **row,
             "teacher_lam": float(teacher_lam),
             "eps": row["chi"] * (classes - 1) / classes if method == "smooth" else math.nan, "status": status}]


def sim_task(geometry, classes, similarity, teacher_lam, tuned, alpha, delta, norm, eta, n_features, seed,
             label_noise=0.0) -> list:
    """Every tuned student of one point simulated on the draws of one seed (paired: the same
    means, training set and teacher fit; :func:`kdlab.simulation.run.simulate_seed_chains`): one
    row each. ``labels`` is simulated as the student of weight ``chi = 0`` (the lone learner of the
    theory, on a student's coordinates). No test set: the error is the exact one of the fitted weights."""
    from ..params import SIMULATION_OPTIONS
    from ..simulation.run import simulate_seed_chains

    gm = mixture(geometry, classes, similarity, alpha, delta, norm, label_noise)
    names, chains = [], []
    for m in (m for m in METHODS if m in tuned):
        knobs = {k: _num(tuned[m].get(k), START[k]) for k in START}
        if m == "labels":  # the student of weight 0 on the teacher's samples: the labels only
            knobs["chi"] = 0.0
        names.append(m)
        chains.append(_stages("hard" if m == "labels" else m, classes, eta, teacher_lam, **knobs))
    rows = simulate_seed_chains(gm, chains, n_features, seed, n_test=0, tol=SIMULATION_OPTIONS["tol"].default)
    return [{"label_noise": float(label_noise), "geometry": geometry, "classes": int(classes),
             "similarity": float(similarity), "method": m, "seed": int(seed), "n_features": int(n_features),
             "gen_error": float(r[f"stage{len(ch) - 1}_gen_error"])} for m, ch, r in zip(names, chains, rows)]


def _num(x, default: float = 0.0) -> float:
    """A tuned value read back from a cached task (NaN is stored as None): ``default`` if absent."""
    return default if x is None or not np.isfinite(float(x)) else float(x)


def _trend_points(pts: list) -> set:
    """The indices of the points simulated at every size of the trend: the first point, and the
    first point of the largest K of the ``equal`` geometry (where the finite-size gap is largest)."""
    eq = [i for i, pt in enumerate(pts) if pt[1] == "equal"]
    return {0} | ({max(eq, key=lambda i: (pts[i][2], -i))} if eq else set())


def _points(p: dict) -> list:
    """The grid's points ``(label_noise, geometry, K, s)`` in the order given (the first is computed first)."""
    pts = [(float(n), "pair", int(p["pair_classes"]), float(s)) for n in p["label_noises"]
           for s in p["pair_similarities"]]
    pts += [(float(n), "equal", int(K), float(p["equal_similarity"])) for n in p["label_noises"]
            for K in p["equal_classes"]]
    return list(dict.fromkeys(pts))


def _sel(d: pd.DataFrame, pt) -> pd.DataFrame:
    """The rows of ``d`` at the point ``pt`` (values of :data:`KEYS`; numbers to 1e-9)."""
    m = np.ones(len(d), bool)
    for c, v in zip(KEYS, pt):
        m &= (d[c] == v).to_numpy(bool) if isinstance(v, str) else np.isclose(d[c].astype(float), float(v))
    return d[m]


def _noise_column(d: pd.DataFrame) -> pd.DataFrame:
    """Rows of clean tasks cached before ``label_noise`` was a column get 0 (their keys say so)."""
    if d is None or d.empty:
        return d
    return d.assign(label_noise=d["label_noise"].fillna(0.0) if "label_noise" in d else 0.0)


def _args(p: dict, noise: float) -> dict:
    """The data arguments of a task; ``label_noise`` only when not 0 (a task's cache key is its
    arguments: the clean tasks keep the keys they had before the parameter existed)."""
    return dict(alpha=p["alpha"], delta=p["delta"], norm=p["norm"], **({"label_noise": noise} if noise else {}))


def compute(p: dict, ctx: RunContext) -> dict:
    tune = dict(lam_bounds=p["lam_bounds"], sweeps=p["sweeps"], n_scan=p["n_scan"], xatol=p["xatol"],
                quad_tol=p["quad_tol"], qmc_tol=p["qmc_tol"])
    pts = _points(p)
    te = ctx.map(teacher_task, [dict(geometry=g, classes=K, similarity=s, **_args(p, n), **tune)
                                for n, g, K, s in pts], "theory: the teacher's ridge at each point")
    te = _noise_column(te)
    lt = [float(_sel(te, pt)["teacher_lam"].iloc[0]) for pt in pts]
    kd = dict(eta=p["eta"], temperature_bounds=p["temperature_bounds"], **tune)
    def items(methods, starts=None):
        return [dict(geometry=g, classes=K, similarity=s, method=m, knobs=list(_knobs(m, p["tune_temperature"])),
                     fixed=METHODS[m][2] or {}, teacher_lam=t, **_args(p, n), **kd,
                     **({"start": starts[i]} if starts else {}))
                for i, ((n, g, K, s), t) in enumerate(zip(pts, lt)) for m in methods]

    lab = _noise_column(ctx.map(method_task, items(["labels"]), "theory: the label-only student at each point"))
    # every other student contains the label-only one (chi = 0): its search starts there
    starts = [{"lam": float(_sel(lab, pt)["lam"].iloc[0]), "chi": 0.0} for pt in pts]
    st = _noise_column(ctx.map(method_task, items([m for m in METHODS if m != "labels"], starts),
                               "theory: the other four students, tuned alike, at each point"))
    st = pd.concat([lab, st], ignore_index=True, sort=False)
    th = pd.concat([te, st], ignore_index=True, sort=False)
    th["kind"] = "theory"
    out = {"errors": th}
    main = int(p["n_features"])
    if p["simulate"]:
        items = []
        trend_at = _trend_points(pts)
        for i, ((n, g, K, s), t) in enumerate(zip(pts, lt)):
            d = _sel(st, (n, g, K, s))
            d = d[d["converged"].fillna(False).astype(bool)]
            tuned = {r["method"]: {k: float(r[k]) for k in START} for _, r in d.iterrows()}
            if tuned:  # the trend's points also at the trend's sizes
                sizes = [main] + ([int(N) for N in p["trend_features"] if int(N) != main] if i in trend_at else [])
                items += [dict(geometry=g, classes=K, similarity=s, teacher_lam=t, tuned=tuned, eta=p["eta"],
                               n_features=N, seed=sd, **_args(p, n)) for N in sizes for sd in p["seeds"]]
        if items:
            raw = _noise_column(ctx.map(sim_task, items, f"simulation at the tuned values, N = {main} "
                                        f"(first point and largest K also N = {p['trend_features']}), paired seeds"))
            out["seeds"] = raw[raw["n_features"] == main].reset_index(drop=True)
            out["errors"] = pd.concat([th, _sim_means(out["seeds"], th)], ignore_index=True, sort=False)
            out["trend"] = n_trend(raw, th)
    out["gains"] = pd.concat([decomposition(out["errors"], "theory"),
                              decomposition(out["errors"], "simulate", out.get("seeds"))],
                             ignore_index=True, sort=False)
    return out


def n_trend(raw: pd.DataFrame, th: pd.DataFrame) -> pd.DataFrame:
    """Simulation minus theory at every simulated size N of the points simulated at more than
    one N: one row per (point, N, quantity), the quantity a student's error (``gap = simulated -
    theory``, ``z = gap / s.e.``) or a part of :data:`PARTS` (paired s.e.). The theory is the
    N -> infinity limit: the gaps should shrink as N grows."""
    rows = []
    for pt, d in raw.groupby(list(KEYS), sort=False):
        if d["n_features"].nunique() < 2:
            continue
        t = decomposition(th, "theory")
        t = _sel(t, pt).iloc[0] if not t.empty and not _sel(t, pt).empty else None
        for N, dn in d.groupby("n_features"):
            sm = _sim_means(dn, th)
            dec = decomposition(pd.concat([th, sm], ignore_index=True, sort=False), "simulate", dn)
            dec = _sel(dec, pt).iloc[0] if not dec.empty else None
            base = dict(zip(KEYS, pt), n_features=int(N), n_seeds=int(dn["seed"].nunique()))
            for _, r in sm.iterrows():
                x = _sel(th, pt)
                x = x[x["method"] == r["method"]]
                theory = float(x["gen_error"].iloc[0]) if not x.empty else math.nan
                gap, se = r["gen_error"] - theory, r["gen_error_stderr"]
                rows.append({**base, "quantity": r["method"], "simulated": r["gen_error"], "stderr": se,
                             "theory": theory, "gap": gap, "z": gap / se if se > 0 else math.nan})
            for key, *_ in PARTS:
                if dec is None or t is None:
                    continue
                se = dec.get(f"{key}_se", math.nan)
                gap = dec[key] - t[key]
                rows.append({**base, "quantity": key, "simulated": dec[key], "stderr": se, "theory": t[key],
                             "gap": gap, "z": gap / se if np.isfinite(se) and se > 0 else math.nan})
    return pd.DataFrame(rows)


def _sim_means(raw: pd.DataFrame, th: pd.DataFrame) -> pd.DataFrame:
    """The simulated rows: the mean error over seeds and its s.e., beside the tuned values."""
    rows = []
    for (*pt, m), d in raw.groupby([*KEYS, "method"], sort=False):
        x = _sel(th, pt)
        x = x[x["method"] == m]
        base = x.iloc[0].to_dict() if not x.empty else {"series": METHODS[m][0]}
        n = len(d)
        base.update(kind="simulate", gen_error=float(d["gen_error"].mean()),
                    gen_error_stderr=float(d["gen_error"].std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                    n_features=int(d["n_features"].iloc[0]), n_seeds=n, method=m, **dict(zip(KEYS, pt)))
        rows.append(base)
    return pd.DataFrame(rows)


def decomposition(t: pd.DataFrame, kind: str = "theory", raw: pd.DataFrame = None) -> pd.DataFrame:
    """One row per point: the error of each student and each part of :data:`PARTS`; simulated
    parts (``kind = "simulate"``) are means of per-seed differences (``raw``) with their s.e. and
    ``z`` (the part in s.e.). A part whose ends are missing (not converged) is NaN."""
    rows = []
    d = t[t["kind"] == kind] if t is not None and not t.empty else pd.DataFrame()
    if d.empty:
        return pd.DataFrame()
    for pt, x in d.groupby(list(KEYS), sort=False):
        e = {r["method"]: float(r["gen_error"]) for _, r in x.iterrows() if r["method"] in METHODS}
        r = {"kind": kind, **dict(zip(KEYS, pt)), **{m: e.get(m, math.nan) for m in METHODS}}
        per = None
        if kind == "simulate" and raw is not None and not raw.empty:
            per = _sel(raw, pt).pivot_table(index="seed", columns="method", values="gen_error")
        for key, _, lo, hi in PARTS:
            r[key] = r[lo] - r[hi]
            if per is not None:
                if lo in per and hi in per:
                    diff = (per[lo] - per[hi]).dropna()
                    n = len(diff)
                    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
                else:
                    se = math.nan
                r[f"{key}_se"] = se
                # identical students on every seed (e.g. smoothing tuned to eps = 0): a part of exactly 0
                r[f"{key}_z"] = (r[key] / se if np.isfinite(se) and se > 0
                                 else 0.0 if se == 0 and r[key] == 0 else math.nan)
        rows.append(r)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- findings


def _where(r) -> str:
    noise = f", noise {fmt_g(r['label_noise'])}" if r["label_noise"] else ""
    return f"{r['geometry']}, K = {int(r['classes'])}, s = {fmt_g(r['similarity'])}{noise}"


def _sim_part(sim: pd.DataFrame, key: str, r) -> str:
    m = _sel(sim, [r[c] for c in KEYS]) if not sim.empty else sim
    if m.empty or not np.isfinite(m.iloc[0].get(f"{key}_se", math.nan)):
        return "not simulated"
    m = m.iloc[0]
    return f"{fmt(m[key])} +- {fmt(m[f'{key}_se'])} ({m[f'{key}_z']:+.1f} s.e.)"


def _trend(th: pd.DataFrame, key: str, x: str) -> tuple[str, str]:
    """Does the theory part ``key`` grow with ``x`` (a verdict and the rule's numbers):
    supported if it is non-decreasing (to :data:`RESOLVED`) and its last value exceeds its first
    by more than :data:`RESOLVED`, contradicted if it falls by more than that, else partly."""
    d = th.sort_values(x)
    v = d[key].to_numpy(float)
    if len(v) < 2 or not np.all(np.isfinite(v)):
        return MISSING, "fewer than two computed points"
    rising = v[-1] - v[0] > RESOLVED
    mono = bool(np.all(np.diff(v) > -RESOLVED))
    verdict = SUPPORTED if rising and mono else CONTRADICTED if v[-1] - v[0] < -RESOLVED else PARTLY
    return verdict, ", ".join(f"{fmt(a)} ({x} = {fmt_g(b)})" for a, b in zip(v, d[x]))


def findings(tables: dict, p: dict) -> Claim:
    g = tables.get("gains")
    c = Claim("Dark knowledge: how much of KD's gain is relational, how much is uncertainty",
              "With K classes the teacher's soft targets carry, beyond its decision and its confidence, a ranking "
              "of the wrong classes (dark knowledge). The relational part of the KD gain (soft over top targets) "
              "grows with the overlap of the classes and with K; label smoothing, which erases that ranking, "
              "does not explain it.", "dark-knowledge")
    if g is None or g.empty:
        c.add("tables", MISSING, "not computed: no converged theory rows", ())
        return c
    th = g[g["kind"] == "theory"].reset_index(drop=True)
    sim = g[g["kind"] == "simulate"].reset_index(drop=True)
    n = p["n_features"]
    c.table = md_table(["point", "labels", "smoothing", "hard", "top", "soft", "S", "D", "U", "R (relational)",
                        "G = S+D+U+R"],
                       [[_where(r)] + [fmt(r[m]) for m in METHODS] + [fmt(r[k]) for k in ("S", "D", "U", "R", "G")]
                        for _, r in th.iterrows()])
    vs = []

    def shown(key, rows):
        """Points where the simulated part exceeds SE_MARGIN s.e. (of the rows simulated)."""
        if sim.empty:
            return None
        m = sim.merge(rows[list(KEYS)], on=list(KEYS))
        m = m[np.isfinite(m[f"{key}_z"])]
        return int((m[f"{key}_z"] > SE_MARGIN).sum()), len(m)

    for key, name, lo, hi in PARTS:
        k = shown(key, th)
        v = MISSING if k is None else frac_verdict(*k)
        txt = (f"{key} = eps({lo}) - eps({hi}); theory: " + "; ".join(
            f"{fmt(r[key])} ({_where(r)})" for _, r in th.iterrows())
            + f". Simulation at the tuned values (N = {n}, paired seeds): " + "; ".join(
                f"{_sim_part(sim, key, r)} ({_where(r)})" for _, r in th.iterrows())
            + f". Rule: supported if the simulated part exceeds {SE_MARGIN:g} s.e. at every simulated point, "
              "contradicted if at none.")
        c.add(f"{key}: {name} lowers the error", v, txt, ("pair_similarities", "equal_classes"))
        if key in ("R", "Gs"):
            vs.append(v)
    # shares of the KD gain over the same-effort baseline
    shares = []
    for _, r in th.iterrows():
        tot = r["D"] + r["U"] + r["R"]
        shares.append(f"{_where(r)}: " + (f"R {100 * r['R'] / tot:.0f}%, U {100 * r['U'] / tot:.0f}%, "
                                         f"D {100 * r['D'] / tot:.0f}%" if np.isfinite(tot) and tot > RESOLVED
                                         else "gain below resolution, no split"))
    c.add("the shares of the KD gain over label smoothing (D + U + R): decisions, uncertainty, relational",
          SUPPORTED if th[["D", "U", "R"]].notna().all(axis=None) else MISSING,
          "theory: " + "; ".join(shares) + ". Rule: computed where every part converged (a share, not a claim).",
          ("pair_similarities", "equal_classes"))
    for noise in sorted(set(th["label_noise"])):
        at = f" (label noise {fmt_g(noise)})"
        pair = th[(th["geometry"] == "pair") & np.isclose(th["label_noise"], noise)]
        if len(pair) >= 2:
            v, nums = _trend(pair, "R", "similarity")
            vs.append(c.add(f"the relational part R grows with the overlap s of the two similar classes{at}", v,
                            f"R (theory) vs s: {nums}. Rule: supported if R never falls by more than {RESOLVED:g} and "
                            f"rises by more than {RESOLVED:g} from the smallest to the largest s, contradicted if it "
                            "falls overall, else partly.", ("pair_similarities",)))
            v2, nums2 = _trend(pair, "U", "similarity")
            c.add(f"the uncertainty part U grows with s{at}", v2, f"U (theory) vs s: {nums2}. Same rule as R.",
                  ("pair_similarities",))
        else:
            c.add(f"the relational part R grows with the overlap s{at}", MISSING,
                  "fewer than two similarities in this run", ("pair_similarities",))
        eq = th[(th["geometry"] == "equal") & np.isclose(th["label_noise"], noise)]
        if len(eq) >= 2:
            v, nums = _trend(eq, "R", "classes")
            vs.append(c.add(f"the relational part R grows with the number of classes K (equal overlaps){at}", v,
                            f"R (theory) vs K at s = {fmt_g(p['equal_similarity'])}: {nums}. Same rule as for s.",
                            ("equal_classes",)))
        else:
            c.add(f"the relational part R grows with K (equal overlaps){at}", MISSING,
                  "fewer than two values of K in this run", ("equal_classes",))
    # does smoothing explain any of the gain?
    ok = th[np.isfinite(th["G"]) & (th["G"] > RESOLVED)]
    if not ok.empty:
        frac = [(r["S"] / r["G"], r) for _, r in ok.iterrows()]
        beaten = [(_sim_part(sim, "Gs", r), r) for _, r in ok.iterrows()]
        k = shown("Gs", ok)
        v = MISSING if k is None else frac_verdict(*k)
        c.add("label smoothing does not explain the KD gain (soft KD beats the tuned smoothing student)", v,
              "the share of the total gain over labels that smoothing already gets, S / G (theory): " + "; ".join(
                  f"{100 * f:.0f}% ({_where(r)})" for f, r in frac)
              + "; soft KD minus smoothing, simulated: " + "; ".join(f"{b} ({_where(r)})" for b, r in beaten)
              + f". Rule: supported if soft KD beats smoothing by more than {SE_MARGIN:g} s.e. at every simulated "
                "point (then smoothing explains at most S / G of the gain).", ("pair_similarities", "equal_classes"))
    _trend_finding(c, tables.get("trend"))
    c.numbers.update({k: {_where(r): float(r[k]) for _, r in th.iterrows()} for k in ("S", "D", "U", "R", "G")})
    c.verdict = combine(vs)
    return c


def _end_verdict(gaps, z_last: float) -> str:
    """The N-trend rule for |simulated - theory| ``gaps`` in increasing N: contradicted if the gap
    is larger at the largest N than at the smallest, else supported if within :data:`SE_MARGIN`
    s.e. there (``z_last``), partly if not."""
    return CONTRADICTED if gaps[-1] > gaps[0] else SUPPORTED if z_last <= SE_MARGIN else PARTLY


def _trend_finding(c: Claim, tr) -> None:
    """Does the simulation approach the theory (its N -> infinity limit) as N grows? Per point
    simulated at several N: the mean |simulated - theory| error of the students at each N."""
    if tr is None or tr.empty:
        c.add("the simulated errors approach the theory as N grows", MISSING, "no point simulated at two or more N",
              ("trend_features",))
        return
    for pt, d in tr[tr["quantity"].isin(list(METHODS))].groupby(list(KEYS), sort=False):
        per = d.groupby("n_features").agg(gap=("gap", lambda x: float(np.mean(np.abs(x)))),
                                          z=("z", lambda x: float(np.nanmax(np.abs(x)))),
                                          n_seeds=("n_seeds", "max")).sort_index()
        v = _end_verdict(per["gap"].to_numpy(float), float(per["z"].iloc[-1]))
        r = dict(zip(KEYS, pt))
        nums = "; ".join(f"N = {int(N)}: {fmt(x['gap'])} (largest |z| {x['z']:.1f}, {int(x['n_seeds'])} seeds)"
                         for N, x in per.iterrows())
        c.add(f"the simulated errors approach the theory as N grows ({_where(r)})", v,
              f"mean over the five students of |simulated - theory| error: {nums}. Rule: contradicted if it is larger "
              f"at the largest N than at the smallest; else supported if, at the largest N, every student is within "
              f"{SE_MARGIN:g} s.e. of the theory, partly if not (the theory is the N -> infinity limit: a gap that "
              "shrinks is finite size; one already within the noise need not shrink at every step).",
              ("trend_features",))
    for pt, d in tr[tr["quantity"].isin(TREND_PARTS)].groupby(list(KEYS), sort=False):
        vs, nums = [], []
        for key in TREND_PARTS:
            x = d[d["quantity"] == key].sort_values("n_features")
            if len(x) < 2:
                continue
            vs.append(_end_verdict(np.abs(x["gap"].to_numpy(float)), abs(float(x["z"].iloc[-1]))))
            nums.append(f"{key} (theory {fmt(x['theory'].iloc[0])}): " + ", ".join(
                f"N = {int(N)}: {fmt(sm)} +- {fmt(se)} (z {zz:+.1f})"
                for N, sm, se, zz in zip(x["n_features"], x["simulated"], x["stderr"], x["z"])))
        if vs:
            r = dict(zip(KEYS, pt))
            c.add(f"the simulated parts approach the theory as N grows ({_where(r)})", combine(vs),
                  "simulated (paired seeds) against the theory: " + "; ".join(nums) + ". Rule, per part: "
                  "contradicted if its |simulated - theory| is larger at the largest N than at the smallest; else "
                  f"supported if within {SE_MARGIN:g} s.e. at the largest N, partly if not; the finding combines "
                  "the parts (a part's gap that shrinks with N is finite size, not a failure of the theory).",
                  ("trend_features",))


# ----------------------------------------------------------------------------- figures

_PART_COL = {"S": plotting.PALETTE[2], "D": plotting.PALETTE[1], "U": plotting.PALETTE[4], "R": plotting.PALETTE[0],
             "G": plotting.BLACK}
_PART_NAME = {"S": "S: smoothing", "D": "D: decisions", "U": "U: uncertainty", "R": "R: relational",
              "G": "G: total over labels"}


def _gain_panel(ax, g: pd.DataFrame, geometry: str, x: str):
    """The parts vs ``x``: theory lines (one line style per label noise), simulated paired parts +- 1 s.e."""
    for j, noise in enumerate(sorted(set(g["label_noise"]))):
        gg = g[(g["geometry"] == geometry) & np.isclose(g["label_noise"], noise)]
        th = gg[gg["kind"] == "theory"].sort_values(x)
        sim = gg[gg["kind"] == "simulate"].sort_values(x)
        for i, key in enumerate(("S", "D", "U", "R", "G")):
            ax.plot(th[x], th[key], color=_PART_COL[key], marker=".", ls=("-", "--", ":")[j % 3],
                    label=f"{_PART_NAME[key]} (noise {noise:g})")
            if not sim.empty and f"{key}_se" in sim:
                off = (i - 2 + 0.5 * j) * 0.006 * (float(th[x].max() - th[x].min()) or 1.0)
                ax.errorbar(sim[x] + off, sim[key], yerr=sim[f"{key}_se"], fmt="o", ms=4, mfc="white",
                            mec=_PART_COL[key], ecolor=_PART_COL[key], capsize=2, ls="none")
    ax.axhline(0, color=plotting.GREY, lw=1, ls=":")


def _trend_panel(ax, tr: pd.DataFrame):
    """Simulated minus theory error of each student vs N (+- 1 s.e.) at each point simulated at
    several N (one marker and line style per point)."""
    pts = list(dict.fromkeys(tuple(r) for r in tr[list(KEYS)].itertuples(index=False)))
    for j, pt in enumerate(pts):
        d = _sel(tr, pt)
        for i, m in enumerate(METHODS):
            x = d[d["quantity"] == m].sort_values("n_features")
            ax.errorbar(x["n_features"] * (1 + 0.03 * (i - 2)), x["gap"], yerr=x["stderr"], marker="os^D"[j % 4],
                        ms=4, capsize=2, ls=("-", "--", ":")[j % 3], color=plotting.PALETTE[i % len(plotting.PALETTE)],
                        label=m if j == 0 else None)
    ax.axhline(0, color=plotting.GREY, lw=1, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("N (features)")
    ax.set_ylabel("simulated $-$ theory $\\varepsilon_g$")
    ax.set_title("(c) finite size: " + "; ".join(f"{('-', '--', ':')[j % 3]} {_where(dict(zip(KEYS, pt)))}"
                                                  for j, pt in enumerate(pts)), fontsize=9)
    plotting.legend(ax, loc="upper right")


def figures(tables: dict, p: dict) -> dict:
    plt = plotting.setup()
    g = tables.get("gains")
    if g is None or g.empty:
        return {}
    tr = tables.get("trend")
    has_trend = tr is not None and not tr.empty
    fig, axes = plt.subplots(1, 3 if has_trend else 2, figsize=(18.0 if has_trend else 12.5, 5.0))
    a0, a1 = axes[0], axes[1]
    if has_trend:
        _trend_panel(axes[2], tr)
    _gain_panel(a0, g, "pair", "similarity")
    a0.set_xlabel("overlap $s$ of classes 0 and 1 (K = 3, class 2 apart)")
    a0.set_ylabel("part of the gain in $\\varepsilon_g$")
    a0.set_title("(a) vs the overlap $s$")
    plotting.legend(a0, loc="upper left")
    _gain_panel(a1, g, "equal", "classes")
    a1.set_xlabel(f"number of classes K (equal overlaps s = {p['equal_similarity']:g})")
    a1.set_title("(b) vs K")
    if g[g["geometry"] == "equal"].empty:
        a1.text(0.5, 0.5, "not in this run", transform=a1.transAxes, ha="center", color=plotting.GREY)
    fig.suptitle(f"Dark knowledge: logistic teacher (all features), student on $\\eta$ = {p['eta']:g} of them, "
                 f"$\\alpha$ = {p['alpha']:g}, $|\\mu|^2$ = {p['norm']:g}, $\\Delta$ = {p['delta']:g}", fontsize=10.5)
    plotting.footer(fig, p, "Every student tuned on the theory error (two knobs each, labels only: "
                    "lam); markers: per-seed paired differences. S + D + U + R = G.")
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return {"dark-knowledge": fig}


STUDY = Study(
    name="dark-knowledge",
    title="Study: dark knowledge, the relational and uncertainty parts of the KD gain with K classes",
    summary="K-class KD gain split into smoothing, decisions, uncertainty (top - hard) and relational "
            "(soft - top) parts vs the overlap s and K, checked in paired simulations",
    question="With K classes, how much of KD's gain is relational (soft minus top targets), how much is the "
             "teacher's uncertainty (top minus hard), how do they grow with the overlap s of two classes and with "
             "K, and does label smoothing explain any of it?",
    params=PARAMS, quick=QUICK, compute=compute, figures=figures, findings=findings,
    compare={"errors": ("series", *KEYS)},
    method="Every student is tuned on the theory error by the same coordinate search over two knobs (lam and the "
           "weight chi of its target, T = 1; labels only: lam), then simulated at the tuned values on paired seeds "
           "(the same draws for every student).",
)
