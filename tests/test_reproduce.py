"""``kdlab reproduce --quick`` end to end: files, tables, robust inequalities of the claims."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdlab.talk import FIGURES, kd_bayes, kd_logistic, regularization
from kdlab.talk._core import curve, key, series_of
from kdlab.talk.kd_bayes import LAB_OPT
from kdlab.talk.kd_logistic import OPT_T
from kdlab.talk.report import SUPPORTED, evaluate_claims

KDLAB = [sys.executable, "-c", "from kdlab.cli import main; main()"]
PARAMS = ["alpha", "delta", "rho", "stage0_kind", "stage1_eta", "stage1_chi", "stage1_temperature", "stage1_lam",
          "backend", "series", "kind"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    t0 = time.perf_counter()
    proc = subprocess.run([*KDLAB, "reproduce", "--quick", "--out", str(out),
                           "--n-jobs", "1", "--quiet"], capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    tables = {n: pd.read_parquet(out / "tables" / f"{n}.parquet") for n in FIGURES}
    return out, proc, tables, elapsed


def test_quick_run_writes_every_output(quick):
    out, proc, tables, elapsed = quick
    for name in FIGURES:
        for ext in ("png", "pdf"):
            f = out / f"{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 5000, f
        assert (out / "tables" / f"{name}.csv").is_file()
    assert (out / "report.md").is_file() and (out / "parameters.json").is_file()
    assert str(out.resolve()) in proc.stdout and "report.md" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("kdlab reproduce (quick) finished in ")
    assert "sweep[" not in proc.stderr and "[regularization]" not in proc.stderr  # --quiet
    assert elapsed < 120  # the issue asks < 1 min on 2 cores; leave room for a loaded CI machine


def test_tables_have_the_expected_columns_and_no_nan(quick):
    _, _, tables, _ = quick
    for name, t in tables.items():
        assert not t.empty
        assert set(PARAMS) - {"stage1_eta", "stage1_chi", "stage1_temperature", "stage1_lam"} <= set(t.columns), name
        assert set(t["kind"]) == {"theory", "simulate"}, name
        assert t["status_converged"].astype(bool).all(), name
        main = "stage0_gen_error" if name == "regularization" else "stage1_gen_error"
        needed = [c for c in PARAMS if c in t.columns and not (name == "regularization" and c.startswith("stage1_"))]
        needed += ["stage0_gen_error", "stage0_m", "stage0_q", "stage0_bias", main]
        assert not t[needed].isna().any().any(), (name, t[needed].isna().sum()[lambda s: s > 0])
        sim = t[t["kind"] == "simulate"]
        for col in (main, f"{main}_stderr", "n_features", "n_seeds"):
            assert sim[col].notna().all() and np.isfinite(sim[col].astype(float)).all(), (name, col)
        assert (sim["n_features"] == 200).all()
        # CSV and Parquet hold the same table
        csv = pd.read_csv(Path(quick[0]) / "tables" / f"{name}.csv")
        assert csv.shape == t.shape


def _th(t, col, **series):
    """A theory series, selected by its typed series columns."""
    return curve(t, col, **series)


def test_claim1_inequalities(quick):
    t = quick[2]["regularization"]
    opt = _th(t, "stage0_gen_error", **regularization.OPTIMAL)
    bayes = _th(t, "stage0_gen_error", **regularization.BAYES)
    a = opt.index
    # Bayes-optimal <= optimal logistic <= any fixed lam, strictly above Bayes at rho = 0.3
    assert (bayes[a] < opt - 1e-4).all()
    fixed = series_of(t, teacher="logistic", optimal_teacher_lam=False)
    assert sorted(s["teacher_lam"] for s in fixed) == [0.01, 1.0]
    for s in fixed:
        f = _th(t, "stage0_gen_error", **regularization.FIXED, teacher_lam=s["teacher_lam"])
        assert (opt <= f[a] + 1e-7).all(), s
    assert (opt < 0.3).all()  # better than the constant classifier


def test_claim2_and_3_inequalities(quick):
    t = quick[2]["kd-logistic-teacher"]
    lab_opt = _th(t, "stage1_gen_error", **kd_logistic.LABELS_OPT)
    kd = series_of(t, chi=1.0)
    assert OPT_T in [s["label"] for s in kd] and len(kd) == 3
    assert set(t.loc[t["series_optimal_teacher_lam"].astype(bool), "series"]) == {OPT_T}
    for s in kd:  # no KD student beats the explicitly, optimally regularized student
        st = curve(t, "stage1_gen_error", **key(s))
        assert (st[lab_opt.index] >= lab_opt - 1e-6).all(), s
    t = quick[2]["kd-bayes-teacher"]
    lab = _th(t, "stage1_gen_error", **kd_bayes.LABELS)
    floor = _th(t, "bayes_floor_sparse", **kd_bayes.LABELS)
    assert set(t.loc[t["series_chi"] == 0, "series"]) == {LAB_OPT}
    assert (lab >= floor - 1e-7).all()
    kds = series_of(t, teacher="bayes-optimal")
    assert [(s["chi"], s["temperature"]) for s in kds] == [(1.0, 3.0)]
    for s in kds:
        kd = _th(t, "stage1_gen_error", **key(s))
        assert (kd >= floor[kd.index] - 1e-7).all()
        big = kd.index[kd.index >= 1.5]  # KD from the Bayes teacher beats the best logistic student
        assert len(big) and (kd[big] < lab[big] - 1e-4).all()


def test_report_states_each_claim_with_computed_numbers(quick):
    out, proc, tables, _ = quick
    text = (out / "report.md").read_text()
    for k in range(1, 5):
        assert f"## Claim {k}:" in text
    assert text.count("**Verdict:") == 4 and "## Theory vs simulation" in text
    params = {n: {**FIGURES[n].params, **FIGURES[n].quick} for n in FIGURES}
    claims = evaluate_claims(tables, params)
    assert [c.number for c in claims] == [1, 2, 3, 4]
    c1 = claims[0]
    assert c1.verdict == SUPPORTED and c1.numbers["min_gap_opt_bayes"] > 0
    assert f"{c1.numbers['opt_error_ref']:.4f}" in text  # the report's numbers are the tables'
    assert claims[2].numbers["below_floor"] == 0
    # the repository's docs, not files outside it
    assert "docs/model.md" in text and "docs/theory.md" in text
    assert "MODEL.md" not in text and "THEORY.md" not in text and "shared/" not in text
    # the quick grid lacks series of the default one: the verdicts depending on them say so
    assert "undecided in --quick" in text
    beats = [f for f in claims[2].findings if f.name.startswith("KD beats")][0]
    assert beats.undecided and "kd = [(1, 3)]" in beats.undecided


def test_figure_command_reuses_the_cache(quick, tmp_path):
    out = quick[0]
    t0 = time.perf_counter()
    proc = subprocess.run([*KDLAB, "figure", "regularization", "--quick", "--out",
                           str(out), "--n-jobs", "1", "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "claim 1:" in proc.stdout and time.perf_counter() - t0 < 30
    # the folder stays consistent: the report is rebuilt with every figure in it
    assert (out / "report.md").read_text().count("**Verdict:") == 4
    # a default-size figure would replace the quick one: refused without --force
    other = subprocess.run([*KDLAB, "figure", "regularization", "--out", str(out), "--quiet"],
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 2 and "--force" in other.stderr and "Traceback" not in other.stderr
    bad = subprocess.run([*KDLAB, "figure", "no-such-figure", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown figure" in bad.stderr


def test_sweep_command(tmp_path):
    from typer.testing import CliRunner

    from kdlab.cli import app

    out = tmp_path / "s.parquet"
    r = CliRunner().invoke(app, ["sweep", "-g", "alpha=0.5:2:3", "-g", "chi=0,0.5", "-g", "rho=0.3",
                                 "--backend", "theory", "-o", str(out), "--store", str(tmp_path / "st"),
                                 "--n-jobs", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    assert len(df) == 6 and df["status_converged"].all() and (df["rho"] == 0.3).all()
    r = CliRunner().invoke(app, ["sweep", "-g", "alpha=1", "-g", "colour=1", "-o", str(out)])
    assert r.exit_code != 0 and "unknown sweep parameter" in r.output


FROZEN = Path(__file__).parent / "data" / "reproduce-quick"
#: Columns that describe how a number was computed, not the number (timings, cache keys,
#: iteration counts, solver messages and residuals, quadrature levels and error estimates:
#: these depend on the warm-start order, which depends on the number of workers; ``teacher_fits``:
#: which point of a group simulated on shared draws made the group's teacher fits).
_NOT_RESULTS = ("elapsed_s", "key", "status_iterations", "status_residual", "status_message", "teacher_fits")


@pytest.mark.parametrize("name", sorted(p.stem for p in FROZEN.glob("*.parquet")))
def test_quick_tables_equal_the_frozen_copy(quick, name):
    """The tables of ``reproduce --quick`` frozen in ``tests/data/reproduce-quick`` (made with
    ``--n-jobs 1`` when the one-engine refactor landed; the copy before it, with the old column
    names, agreed with this code to 1e-7 relative on every theory number, see the commit that
    replaced it): every number to 1e-8 relative (the library builds installed on different days
    change the last bits: a ridge optimized on a flat minimum moves by ~5e-9 relative, and the
    simulations run at it by ~3e-9); a simulated observable and its standard error to 1 % of that
    standard error (issue 20: the fits stop at the declared FIT_TOL = 1e-7, tied to the statistics'
    precision, not 1e-10 as when the copy was made)."""
    _, _, tables, _ = quick
    frozen = pd.read_parquet(FROZEN / f"{name}.parquet")
    new = tables[name]
    keys = ["series", "kind", "alpha"]
    frozen = frozen.sort_values(keys, kind="stable").reset_index(drop=True)
    new = new.sort_values(keys, kind="stable").reset_index(drop=True)
    assert len(new) == len(frozen)
    missing = {c for c in set(frozen.columns) - set(new.columns) - set(_NOT_RESULTS)
               if not c.startswith("quad_")}
    assert not missing, missing
    for col in frozen.columns:
        if col in _NOT_RESULTS or col.startswith("quad_") or col.endswith("_iterations"):
            continue
        if "gen_error_test" in col:  # the figures draw no test set now (n_test = 0, issue 20)
            assert new.loc[new["kind"] == "simulate", col].isna().all(), col
            continue
        a, b = frozen[col], new[col]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            a, b = a.astype(float).to_numpy(), b.astype(float).to_numpy()
            theory = (frozen["kind"] == "theory").to_numpy()
            np.testing.assert_allclose(b[theory], a[theory], rtol=1e-8, atol=1e-12,
                                       equal_nan=True, err_msg=f"{name}: {col} (theory)")
            se_col = col if col.endswith("_stderr") else f"{col}_stderr"
            if se_col in frozen.columns:  # a simulated observable (or its s.e.): within 1 % of its s.e.
                se = frozen[se_col].astype(float).to_numpy()[~theory]
                np.testing.assert_array_less(np.abs(b[~theory] - a[~theory]), 0.01 * se + 1e-12,
                                             err_msg=f"{name}: {col} (simulate, in 1 % of its s.e.)")
            else:
                np.testing.assert_allclose(b[~theory], a[~theory], rtol=1e-8, atol=1e-12,
                                           equal_nan=True, err_msg=f"{name}: {col} (simulate)")
        else:
            assert list(a.astype(object).where(a.notna(), None)) == \
                list(b.astype(object).where(b.notna(), None)), f"{name}: {col}"


def test_talk_figures_label_log_axes_and_worst_point_is_max_z(quick):
    """Issue 21, item 14: the alpha axes of the talk figures (0.1 or 0.3 to 10) are labelled at 0.3,
    0.5, 2, 5 too, not only at 10^0 and 10^1; the report's worst point is the point of its
    max abs z (before, in a quick run: for kd-logistic-teacher a worst point with z = -1.28 beside a max abs z
    of 3.44; for kd-bayes-teacher 0.0098 beside 0.196)."""
    import matplotlib.pyplot as plt
    from test_figures import tick_labels

    from kdlab.talk._run import plot_figure
    from kdlab.talk.report import simulation_summary

    out, _, tables, _ = quick
    params = json.loads((out / "parameters.json").read_text())
    n_log = 0
    for name in FIGURES:
        fig = plot_figure(name, tables[name], params[name])
        for ax in fig.axes:
            if ax.get_xscale() == "log":
                n_log += 1
                labs = set(tick_labels(ax.xaxis))
                assert {"0.5", "2", "5"} <= labs and labs & {"0.2", "0.3"}, (name, ax.get_title(), labs)
        plt.close(fig)
        s = simulation_summary(name, tables[name])
        if s is not None:
            assert abs(abs(s["worst"]["z"]) - s["max_abs_z"]) <= 1e-12 * s["max_abs_z"], (name, s["worst"])
    assert n_log >= 4


def test_figures_computed_at_once_equal_one_after_the_other(tmp_path):
    """Issue 20: with 2 workers the figures, and the independent sweeps of each figure
    (:meth:`RunContext.together`), are computed at once on the run's workers
    (:func:`kdlab.runs.context.as_done`), each figure drawn as soon as its table is ready; every
    number is bit for bit the one the figures give one after the other on the same workers,
    theory and simulation alike (not the timing, nor ``teacher_fits``: how many teacher fits
    this point made rather than found in its worker's memory of fits)."""
    from kdlab.reporting.output import OutputFolder
    from kdlab.runs.context import RunContext
    from kdlab.runs.executor import one_blas_thread
    from kdlab.talk._run import OWNER, _run, compute_figure, figure_params

    tiny = dict(seeds=[0, 1], n_features=100)
    jobs = {"regularization": figure_params("regularization", True, n_alpha=5, n_alpha_opt=2, lams=[0.1], **tiny),
            "kd-logistic-teacher": figure_params("kd-logistic-teacher", True, n_alpha=3, n_alpha_opt=2, **tiny),
            "kd-bayes-teacher": figure_params("kd-bayes-teacher", True, n_alpha=2, **tiny),
            "double-descent": figure_params("double-descent", True, n_alpha=5, **tiny)}
    folder = OutputFolder(tmp_path / "out", OWNER).open()
    at_once = _run(jobs, folder, 2, None, False, ("parquet",), False)
    assert list(at_once) == list(jobs)
    ctx = RunContext(n_jobs=2, progress=False, overlap=False)  # each figure's sweeps one after the other
    skip = ["elapsed_s", "teacher_fits"]
    for name, params in jobs.items():
        with one_blas_thread():  # as _run computes with workers: one BLAS thread in this process too
            one = compute_figure(name, params, ctx).drop(columns=skip)
        both = at_once[name].table.drop(columns=skip)
        assert set(both["kind"]) == {"theory", "simulate"}
        pd.testing.assert_frame_equal(both, one, check_exact=True)
        assert (tmp_path / "out" / f"{name}.png").is_file()
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "tables" / f"{name}.parquet")
                                      .drop(columns=skip), one, check_exact=True, check_dtype=False)


def test_the_first_figure_that_fails_ends_the_run_at_once():
    """:func:`kdlab.runs.context.as_done` raises the first error of a call once the others have
    stopped at their next output (:func:`kdlab.runs.executor.check_cancelled`, which the
    executor calls between outputs: no retry, its workers stopped), and yields the others as
    they finish."""
    from kdlab.errors import CancelledError
    from kdlab.runs.context import as_done
    from kdlab.runs.executor import check_cancelled

    seen = []

    def slow():  # a sweep's outputs, one every 10 ms, for up to 30 s
        for _ in range(3000):
            try:
                check_cancelled()
            except CancelledError:
                seen.append("cancelled")
                raise
            time.sleep(0.01)
        return 1

    def fails():
        time.sleep(0.2)
        raise ValueError("boom")

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="boom"):
        list(as_done({"slow": slow, "fails": fails}))
    assert time.perf_counter() - t0 < 5 and seen == ["cancelled"]
    check_cancelled()  # this thread was not cancelled
    assert [(n, v) for n, v, _ in as_done({"a": lambda: 2, "b": lambda: 3})] in ([("a", 2), ("b", 3)],
                                                                                   [("b", 3), ("a", 2)])
