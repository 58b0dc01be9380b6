"""Knowledge distillation on real data: scikit-learn's bundled digits (8x8 images, 10 classes).

The analogue of the model of ``docs/model.md`` on a real data set:

* **teacher**: a wide one-hidden-layer MLP (ReLU) on all 64 pixels, trained on the training
  split with the hard-label cross-entropy plus weight decay ``(wd / 2) ||W||^2`` (weights
  only, biases free); ``wd`` is chosen on a validation split;
* **student**: a linear (multinomial logistic) model on a fixed random half of the pixels
  (the sparse student, ``eta = 1/2``), trained on the SAME training split with
  :class:`kdlab.torch.KDLoss` ``(chi, T)`` (mean over samples) plus ``(wd / 2) ||W||^2``;
  the teacher's logits on the training inputs give the soft labels;
* baseline: the student trained on the labels only (``chi = 0``) with its weight decay chosen
  on the validation split; compared with KD students for a few ``(chi, T)``, both without any
  weight decay (``wd = 0``: does the student inherit the teacher's regularization?) and with
  their own weight decay chosen on the validation split.

Every seed draws its own stratified train/validation/test split, its own pixel subset and
its own teacher initialization; all fits are full-batch L-BFGS (strong Wolfe line search) in
float64 from a seeded (teacher) or zero (student, a convex problem) initialization, so a run
is deterministic. Errors are test-set misclassification rates; a method's result is the mean
over seeds with its standard error, and its difference to the tuned labels-only student is
computed seed by seed (paired).

:func:`run_digits` returns the tables and, given ``out``, writes them (CSV + Parquet), a
figure (PNG + PDF) and a Markdown summary whose every number is computed from the tables.
Requires PyTorch (``pip install 'kdlab[torch]'``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DigitsConfig", "DigitsResult", "QUICK", "FULL", "run_digits", "summarize",
           "write_outputs"]

#: The owner named in the manifest of the experiment's output folder.
OWNER = "experiment:digits"

LABELS_TUNED = "labels only, wd tuned"


@dataclass(frozen=True)
class DigitsConfig:
    """Settings of the digits experiment (defaults = the full run)."""

    n_seeds: int = 10
    n_train: int = 300
    n_val: int = 300
    pixel_fraction: float = 0.5
    teacher_width: int = 512
    teacher_weight_decays: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    student_weight_decays: tuple[float, ...] = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    kd_settings: tuple[tuple[float, float], ...] = ((0.5, 4.0), (1.0, 1.0), (1.0, 4.0), (1.0, 10.0))
    t2_scaling: bool = False
    teacher_max_iter: int = 300
    student_max_iter: int = 300
    first_seed: int = 0

    def __post_init__(self):
        if self.n_seeds < 1:
            raise ValueError(f"n_seeds must be >= 1, got {self.n_seeds}")
        if self.n_train < 20 or self.n_val < 20:
            raise ValueError("n_train and n_val must be >= 20")
        if self.n_train + self.n_val > 1797 - 100:
            raise ValueError("n_train + n_val must leave at least 100 test images (1797 in all)")
        if not 0 < self.pixel_fraction <= 1:
            raise ValueError(f"pixel_fraction must be in (0, 1], got {self.pixel_fraction}")
        if self.teacher_width < 1:
            raise ValueError("teacher_width must be >= 1")
        if not self.teacher_weight_decays or min(self.teacher_weight_decays) < 0:
            raise ValueError("teacher_weight_decays must be a non-empty list of numbers >= 0")
        if not self.student_weight_decays or min(self.student_weight_decays) < 0:
            raise ValueError("student_weight_decays must be a non-empty list of numbers >= 0")
        if 0.0 not in self.student_weight_decays:
            raise ValueError("student_weight_decays must contain 0 (the unregularized students)")
        for chi, T in self.kd_settings:
            if not (0 < chi <= 1) or not T > 0:
                raise ValueError(f"kd setting (chi={chi}, T={T}): need 0 < chi <= 1 and T > 0")


FULL = DigitsConfig()
QUICK = DigitsConfig(n_seeds=2, teacher_width=128, teacher_weight_decays=(1e-3, 1e-2),
                     student_weight_decays=(0.0, 1e-3, 1e-2), kd_settings=((1.0, 4.0),),
                     teacher_max_iter=80, student_max_iter=80)


@dataclass
class DigitsResult:
    """Output of :func:`run_digits`.

    * ``grid``: one row per (seed, student setting, weight decay): validation and test
      errors of every student fit, plus the teacher's rows (``model == "teacher"``);
    * ``results``: one row per (seed, method): the compared methods with their selected
      weight decay and test error;
    * ``summary``: one row per method: mean test error, standard error, paired difference
      to the tuned labels-only student (mean, standard error), wins/ties/losses;
    * ``files``: paths written (empty without ``out``); ``seconds``: wall time of the fits.
    """

    config: DigitsConfig
    grid: pd.DataFrame
    results: pd.DataFrame
    summary: pd.DataFrame
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# fitting


def _lbfgs(params, objective, max_iter):
    import torch

    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, max_eval=int(1.25 * max_iter),
                            history_size=20, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)


def _errors(logits, y):
    import torch.nn.functional as F

    err = float((logits.argmax(1) != y).double().mean())
    nll = float(F.cross_entropy(logits, y))
    return err, nll


def _fit_teacher(X, y, width, wd, seed, max_iter):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(X.shape[1], width), nn.ReLU(), nn.Linear(width, 10)).double()
    weights = [net[0].weight, net[2].weight]

    def objective():
        loss = nn.functional.cross_entropy(net(X), y)
        if wd:
            loss = loss + 0.5 * wd * sum((w ** 2).sum() for w in weights)
        return loss

    _lbfgs(list(net.parameters()), objective, max_iter)
    net.requires_grad_(False)
    return net


def _fit_student(X, y, teacher_logits, chi, T, t2, wd, max_iter):
    import torch

    from ..torch import KDLoss

    W = torch.zeros(X.shape[1], 10, dtype=X.dtype, requires_grad=True)
    b = torch.zeros(10, dtype=X.dtype, requires_grad=True)
    loss_fn = KDLoss(chi, T, t2_scaling=t2)

    def objective():
        loss = loss_fn(X @ W + b, teacher_logits, y)
        if wd:
            loss = loss + 0.5 * wd * (W ** 2).sum()
        return loss

    _lbfgs([W, b], objective, max_iter)
    return W.detach(), b.detach()


def _split(seed, n_train, n_val, y):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, rest = train_test_split(idx, train_size=n_train, stratify=y, random_state=seed)
    va, te = train_test_split(rest, train_size=n_val, stratify=y[rest], random_state=seed + 10_000)
    return tr, va, te


def _run_seed(seed, cfg, X_all, y_all):
    import torch

    tr, va, te = _split(seed, cfg.n_train, cfg.n_val, y_all)
    rng = np.random.default_rng(seed)
    n_pix = X_all.shape[1]
    pixels = np.sort(rng.choice(n_pix, size=max(1, round(cfg.pixel_fraction * n_pix)), replace=False))
    X = torch.as_tensor(X_all, dtype=torch.float64)
    y = torch.as_tensor(y_all, dtype=torch.long)
    Xtr, Xva, Xte = X[tr], X[va], X[te]
    ytr, yva, yte = y[tr], y[va], y[te]
    rows = []

    # teacher: weight decay chosen on validation (error, then cross-entropy)
    best = None
    for wd in cfg.teacher_weight_decays:
        net = _fit_teacher(Xtr, ytr, cfg.teacher_width, wd, seed, cfg.teacher_max_iter)
        with torch.no_grad():
            tr_err, tr_nll = _errors(net(Xtr), ytr)
            va_err, va_nll = _errors(net(Xva), yva)
            te_err, te_nll = _errors(net(Xte), yte)
        rows.append(dict(seed=seed, model="teacher", chi=np.nan, temperature=np.nan,
                         weight_decay=wd, train_error=tr_err, val_error=va_err, val_nll=va_nll,
                         test_error=te_err, test_nll=te_nll, weight_norm2=np.nan))
        key = (va_err, va_nll)
        if best is None or key < best[0]:
            best = (key, wd, net)
    net = best[2]
    with torch.no_grad():
        t_logits = net(Xtr)

    # students on a fixed random half of the pixels
    S = torch.as_tensor(pixels)
    Str, Sva, Ste = Xtr[:, S], Xva[:, S], Xte[:, S]
    settings = [(0.0, 1.0)] + [tuple(map(float, s)) for s in cfg.kd_settings]
    for chi, T in settings:
        for wd in cfg.student_weight_decays:
            W, b = _fit_student(Str, ytr, t_logits, chi, T, cfg.t2_scaling, wd, cfg.student_max_iter)
            tr_err, _ = _errors(Str @ W + b, ytr)
            va_err, va_nll = _errors(Sva @ W + b, yva)
            te_err, te_nll = _errors(Ste @ W + b, yte)
            rows.append(dict(seed=seed, model="student", chi=chi,
                             temperature=T if chi > 0 else np.nan, weight_decay=float(wd),
                             train_error=tr_err, val_error=va_err, val_nll=va_nll,
                             test_error=te_err, test_nll=te_nll,
                             weight_norm2=float((W ** 2).sum())))
    grid = pd.DataFrame(rows)
    grid["teacher_selected"] = (grid["model"] == "teacher") & (grid["weight_decay"] == best[1])
    return grid


# --------------------------------------------------------------------------------------
# tables


def _pick(df):
    """Row with the lowest validation error (ties: lowest validation cross-entropy)."""
    return df.sort_values(["val_error", "val_nll", "weight_decay"], kind="mergesort").iloc[0]


def _kd_name(chi, T):
    return f"KD chi={chi:g}, T={T:g}"


def _results_from_grid(grid):
    out = []
    for seed, g in grid.groupby("seed", sort=True):
        def add(method, row, selection):
            out.append(dict(seed=seed, method=method, model=row["model"],
                            chi=row["chi"], temperature=row["temperature"],
                            weight_decay=row["weight_decay"], selection=selection,
                            val_error=row["val_error"], test_error=row["test_error"],
                            test_nll=row["test_nll"], train_error=row["train_error"]))

        add("teacher (MLP, all pixels), wd tuned", g[g["teacher_selected"]].iloc[0], "validation")
        st = g[g["model"] == "student"]
        lab = st[st["chi"] == 0]
        add("labels only, wd=0", lab[lab["weight_decay"] == 0].iloc[0], "fixed")
        add(LABELS_TUNED, _pick(lab), "validation")
        kd = st[st["chi"] > 0]
        for (chi, T), k in kd.groupby(["chi", "temperature"], sort=True):
            add(_kd_name(chi, T) + ", wd=0", k[k["weight_decay"] == 0].iloc[0], "fixed")
        for (chi, T), k in kd.groupby(["chi", "temperature"], sort=True):
            add(_kd_name(chi, T) + ", wd tuned", _pick(k), "validation")
        if kd[["chi", "temperature"]].drop_duplicates().shape[0] > 1:
            add("KD, (chi, T, wd) tuned", _pick(kd), "validation")
    return pd.DataFrame(out)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean test error, standard error, paired difference to the tuned labels-only
    student (mean and standard error over seeds), and wins/ties/losses against it."""
    base = results[results["method"] == LABELS_TUNED].set_index("seed")["test_error"]
    rows = []
    for method, g in results.groupby("method", sort=False):
        e = g.set_index("seed")["test_error"]
        n = len(e)
        d = (e - base.reindex(e.index)).to_numpy()
        se = lambda a: float(np.std(a, ddof=1) / math.sqrt(len(a))) if len(a) > 1 else float("nan")
        rows.append(dict(
            method=method, n_seeds=n,
            chi=float(g["chi"].iloc[0]) if g["chi"].nunique() == 1 else float("nan"),
            temperature=float(g["temperature"].iloc[0]) if g["temperature"].nunique() == 1 else float("nan"),
            weight_decay_median=float(g["weight_decay"].median()),
            val_error_mean=float(g["val_error"].mean()),
            test_error_mean=float(e.mean()), test_error_se=se(e.to_numpy()),
            diff_vs_labels_tuned_mean=float(d.mean()), diff_vs_labels_tuned_se=se(d),
            wins=int((d < 0).sum()), ties=int((d == 0).sum()), losses=int((d > 0).sum()),
            test_nll_mean=float(g["test_nll"].mean()),
            train_error_mean=float(g["train_error"].mean()),
        ))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# entry point


def run_digits(out: str | Path | None = None, *, quick: bool = False, seeds: int | None = None,
               config: DigitsConfig | None = None, threads: int | None = 1,
               progress: bool = False, force: bool = False) -> DigitsResult:
    """Run the digits experiment; write table, figure and summary under ``out`` if given (an
    output folder owned by ``experiment:digits``, checked before anything is computed; another
    pipeline's folder only with ``force``: :class:`kdlab.reporting.output.OutputFolder`).

    ``quick`` uses :data:`QUICK` (a few seconds) instead of :data:`FULL`; ``config``
    overrides both; ``seeds`` overrides the number of seeds. ``threads`` sets PyTorch's
    intra-op threads for the run (restored afterwards; ``None`` leaves it unchanged).
    """
    import torch
    from sklearn.datasets import load_digits

    from ..reporting.output import OutputFolder

    cfg = config if config is not None else (QUICK if quick else FULL)
    if seeds is not None:
        cfg = replace(cfg, n_seeds=int(seeds))
    folder = None if out is None else OutputFolder(Path(out), OWNER, force).open()
    data = load_digits()
    X_all = data.data / 16.0
    y_all = data.target.astype(np.int64)

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    try:
        grids = []
        from ..progress import progress_bar

        bar = progress_bar(cfg.n_seeds, 0, progress, "digits", "seed")
        for seed in range(cfg.first_seed, cfg.first_seed + cfg.n_seeds):
            grids.append(_run_seed(seed, cfg, X_all, y_all))
            bar.update(1)
        bar.close()
    finally:
        torch.set_num_threads(old_threads)
    seconds = time.perf_counter() - t0
    grid = pd.concat(grids, ignore_index=True)
    results = _results_from_grid(grid)
    res = DigitsResult(cfg, grid, results, summarize(results), seconds)
    if folder is not None:
        res.files = write_outputs(res, out)
        folder.record(res.files.values())
    return res


# --------------------------------------------------------------------------------------
# outputs


def _fmt(x, digits=4):
    return "nan" if not np.isfinite(x) else f"{x:.{digits}f}"


def _pct(mean, se):
    return f"{100 * mean:.2f} ± {100 * se:.2f} %"


def _figure(res: DigitsResult, png: Path, pdf: Path):
    from matplotlib.figure import Figure

    from ..io import atomic_write
    from ..reporting.plotting import PALETTE, setup

    setup()
    cfg = res.config
    st = res.grid[res.grid["model"] == "student"].copy()
    wds = sorted(st["weight_decay"].unique())
    pos = [w for w in wds if w > 0]
    zero_x = (min(pos) / 10) if pos else 1e-4
    st["x"] = st["weight_decay"].where(st["weight_decay"] > 0, zero_x)
    st["setting"] = [
        "labels only" if c == 0 else _kd_name(c, T) for c, T in zip(st["chi"], st["temperature"])]
    fig = Figure(figsize=(12, 4.6), constrained_layout=True)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1, 1.15]))
    for i, (name, g) in enumerate(st.groupby("setting", sort=False)):
        agg = g.groupby("x")["test_error"].agg(["mean", "std", "count"]).sort_index()
        err = agg["std"] / np.sqrt(agg["count"])
        style = dict(lw=2.2, color="k") if name == "labels only" else dict(lw=1.4, color=PALETTE[i % 6])
        ax1.errorbar(agg.index, 100 * agg["mean"], yerr=100 * err.fillna(0), marker="o", ms=3.5,
                     capsize=2.5, label=name, **style)
    teacher = res.summary[res.summary["method"].str.startswith("teacher")].iloc[0]
    ax1.axhline(100 * teacher["test_error_mean"], color="grey", ls="--", lw=1,
                label="teacher (all pixels)")
    lab = st[st["chi"] == 0].groupby("x")["test_error"].mean()
    top = 100 * 1.6 * float(lab.max())
    ax1.set_ylim(0, top)  # large-wd, high-T students leave the axes: say so on the figure
    clipped = st.groupby(["setting", "x"])["test_error"].mean()
    if (100 * clipped > top).any():
        ax1.text(0.01, 0.99, f"points above {top:.0f} % are off the axes (see the table)",
                 transform=ax1.transAxes, va="top", fontsize=8, color="#555555")
    ax1.set_xscale("log")
    ticks = [zero_x] + pos
    ax1.set_xticks(ticks)
    ax1.set_xticklabels(["0"] + [f"{w:g}" for w in pos], rotation=45)
    ax1.minorticks_off()
    ax1.set_xlabel("student weight decay wd")
    ax1.set_ylabel(f"test error (%), mean ± s.e. over {cfg.n_seeds} seeds")
    ax1.set_title("(a) linear student on half of the pixels")
    ax1.legend(fontsize=8)

    sm = res.summary[~res.summary["method"].str.startswith("teacher")].reset_index(drop=True)
    ypos = np.arange(len(sm))[::-1]
    ax2.errorbar(100 * sm["diff_vs_labels_tuned_mean"], ypos,
                 xerr=100 * sm["diff_vs_labels_tuned_se"].fillna(0), fmt="o", capsize=3, color="C0")
    ax2.axvline(0, color="k", lw=1)
    ax2.set_yticks(ypos)
    ax2.set_yticklabels(sm["method"], fontsize=8)
    ax2.set_xlabel("test error − tuned labels-only student (percentage points),\n"
                   "paired mean ± s.e. over seeds (< 0: better)")
    ax2.set_title("(b) each student vs the tuned labels-only student")
    fig.suptitle("Knowledge distillation on sklearn digits: MLP teacher → sparse linear student"
                 + (" (T² scaling)" if cfg.t2_scaling else ""), fontsize=11)
    atomic_write(png, lambda t: fig.savefig(t, dpi=150, format="png"))
    atomic_write(pdf, lambda t: fig.savefig(t, format="pdf"))


def _markdown(res: DigitsResult) -> str:
    cfg = res.config
    sm = res.summary.set_index("method")
    n = cfg.n_seeds
    base = sm.loc[LABELS_TUNED]
    teacher = sm[sm.index.str.startswith("teacher")].iloc[0]
    lab0 = sm.loc["labels only, wd=0"]
    kd_rows = sm[sm.index.str.startswith("KD")]

    def verdict(r):
        d, s = r["diff_vs_labels_tuned_mean"], r["diff_vs_labels_tuned_se"]
        if not np.isfinite(s):
            return "lower" if d < 0 else ("higher" if d > 0 else "equal"), False
        if s == 0:
            sig = d != 0
        else:
            sig = abs(d) > 2 * s
        return ("lower" if d < 0 else "higher" if d > 0 else "equal"), bool(sig)

    lines = [
        "# Knowledge distillation on real data: sklearn digits",
        "",
        f"{n} seeds (each: its own stratified split of {cfg.n_train} training / {cfg.n_val} "
        f"validation / {1797 - cfg.n_train - cfg.n_val} test images, its own random "
        f"{round(cfg.pixel_fraction * 64)} of the 64 pixels for the student, its own teacher "
        f"initialization); wall time of the fits {res.seconds:.1f} s.",
        "",
        f"- Teacher: MLP 64 → {cfg.teacher_width} (ReLU) → 10 on all pixels, weight decay chosen "
        f"on validation from {list(cfg.teacher_weight_decays)}.",
        f"- Student: linear on {round(cfg.pixel_fraction * 64)} pixels, "
        f"loss `kdlab.torch.KDLoss(chi, T{', t2_scaling=True' if cfg.t2_scaling else ''})` "
        f"+ (wd/2)·‖W‖², wd from {list(cfg.student_weight_decays)}; "
        f"(chi, T) in {[tuple(s) for s in cfg.kd_settings]}.",
        f"- All fits: full-batch L-BFGS in float64, at most {cfg.teacher_max_iter} (teacher) / "
        f"{cfg.student_max_iter} (student) iterations; without weight decay the labels-only "
        f"student interpolates its training set (train error "
        f"{100 * lab0['train_error_mean']:.2f} %), so its weights are limited only by that cap.",
        "- The KD term is not multiplied by T² (unless stated above): its gradients shrink like "
        "1/T², so at high T a given weight decay weighs relatively more.",
        "- Errors are test misclassification rates, mean ± standard error over seeds; "
        "differences are paired (same seed) against the labels-only student whose weight "
        "decay is chosen on the validation split.",
        "",
        "| method | test error | Δ vs labels-only tuned (pp) | wins / ties / losses | median wd |",
        "|---|---|---|---|---|",
    ]
    for method, r in sm.iterrows():
        lines.append(
            f"| {method} | {_pct(r['test_error_mean'], r['test_error_se'])} | "
            f"{100 * r['diff_vs_labels_tuned_mean']:+.2f} ± {100 * r['diff_vs_labels_tuned_se']:.2f} | "
            f"{int(r['wins'])} / {int(r['ties'])} / {int(r['losses'])} | {r['weight_decay_median']:g} |")
    lines += ["", "## What the numbers say", ""]
    lines.append(
        f"- The teacher reaches {_pct(teacher['test_error_mean'], teacher['test_error_se'])}; "
        f"the labels-only student {_pct(base['test_error_mean'], base['test_error_se'])} with "
        f"its tuned weight decay and {_pct(lab0['test_error_mean'], lab0['test_error_se'])} "
        f"without weight decay.")
    wd0 = kd_rows[kd_rows.index.str.endswith("wd=0")]
    if len(wd0):
        b = wd0["val_error_mean"].idxmin()  # chosen on validation, not on test
        r = wd0.loc[b]
        direction, sig = verdict(r)
        d_lab0 = r["test_error_mean"] - lab0["test_error_mean"]
        lines.append(
            f"- Without any weight decay, the KD student with the lowest mean validation error "
            f"({b}) has "
            f"{_pct(r['test_error_mean'], r['test_error_se'])}: {abs(100 * d_lab0):.2f} points "
            f"{'below' if d_lab0 < 0 else 'above'} the unregularized labels-only student, and "
            f"{abs(100 * r['diff_vs_labels_tuned_mean']):.2f} ± {100 * r['diff_vs_labels_tuned_se']:.2f} "
            f"points {direction} than the tuned labels-only student "
            f"({'more' if sig else 'not more'} than two standard errors).")
        gap = lab0["test_error_mean"] - base["test_error_mean"]
        if gap > 0:
            lines.append(
                f"- Regularization inherited: of the {100 * gap:.2f}-point gap between the "
                f"unregularized and the tuned labels-only student, this KD student (no weight "
                f"decay of its own) closes {100 * d_lab0 / -gap:.0f} %.")
    key = "KD, (chi, T, wd) tuned" if "KD, (chi, T, wd) tuned" in sm.index else None
    if key is None and len(kd_rows):
        key = kd_rows[kd_rows.index.str.endswith("wd tuned")].index[0]
    if key is not None:
        r = sm.loc[key]
        direction, sig = verdict(r)
        helped = direction == "lower" and sig
        hurt = direction == "higher" and sig
        lines.append(
            f"- With everything chosen on the validation split ({key}), the KD student has "
            f"{_pct(r['test_error_mean'], r['test_error_se'])}, a paired difference of "
            f"{100 * r['diff_vs_labels_tuned_mean']:+.2f} ± {100 * r['diff_vs_labels_tuned_se']:.2f} "
            f"points ({int(r['wins'])} seeds better, {int(r['ties'])} equal, {int(r['losses'])} worse).")
        lines.append("")
        if helped:
            lines.append("**Verdict: KD helped** — on this data the distilled student beats the "
                         "best labels-only student by more than two standard errors.")
        elif hurt:
            lines.append("**Verdict: KD hurt** — the distilled student is worse than the best "
                         "labels-only student by more than two standard errors.")
        else:
            lines.append("**Verdict: no significant difference** — the distilled student is "
                         "within two standard errors of the best labels-only student.")
    lines += ["", "Files: `digits_grid.*` (every fit), `digits_results.*` (per seed and method), "
              "`digits_summary.*` (this table), `digits.png` / `digits.pdf` (figure).", ""]
    return "\n".join(lines)


def write_outputs(res: DigitsResult, out: str | Path) -> dict[str, Path]:
    """Write the tables (CSV + Parquet), the figure (PNG + PDF) and the Markdown summary."""
    from ..io import ensure_dir, write_table, write_text

    out = ensure_dir(out)
    files: dict[str, Path] = {}
    for name, df in (("grid", res.grid), ("results", res.results), ("summary", res.summary)):
        files[f"{name}_csv"] = out / f"digits_{name}.csv"
        files[f"{name}_parquet"] = out / f"digits_{name}.parquet"
        write_table(df, files[f"{name}_csv"])
        write_table(df, files[f"{name}_parquet"])
    files["figure_png"] = out / "digits.png"
    files["figure_pdf"] = out / "digits.pdf"
    _figure(res, files["figure_png"], files["figure_pdf"])
    files["report"] = out / "digits_summary.md"
    write_text(files["report"], _markdown(res))
    return files


