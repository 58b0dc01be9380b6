"""``kdlab study``: the registry and CLI, the cached tasks (resume after kill, invalid files), the
theory-vs-simulation rule, folder protection, and the label-noise study (quick run and its
verdict logic on hand-made tables)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from kdlab.errors import OutputError, ParameterError
from kdlab.reporting.compare import compare_tables as compare
from kdlab.reporting.compare import within_tolerance
from kdlab.reporting.findings import CONTRADICTED, MISSING, PARTLY, SUPPORTED
from kdlab.runs.context import RunContext, fn_name
from kdlab.runs.store import call_key
from kdlab.studies import STUDIES, label_noise, study, study_params

KDLAB = [sys.executable, "-c", "from kdlab.cli import main; main()"]


def _cli(*args, timeout=300):
    return subprocess.run([*KDLAB, *args], capture_output=True, text=True, timeout=timeout)


def test_list_names_every_study_with_one_line():
    proc = _cli("study", "--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(STUDIES)
    assert all(len(ln.split(None, 1)[1]) > 20 for ln in lines)


@pytest.mark.parametrize("args, needle", [
    (["study", "no-such-study"], "unknown study 'no-such-study'"),
    (["study"], "give a study NAME"),
    (["study", "label-noise", "--n-jobs", "0"], "--n-jobs must be"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    proc = _cli(*args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "report.md").exists()


def test_unknown_override_is_refused():
    with pytest.raises(ParameterError, match="unknown parameter"):
        study_params("label-noise", no_such=1)


# ----------------------------------------------------------------------------- tasks


def square_rows(x, fail=False):
    if fail:
        raise RuntimeError("boom")
    return [{"x": x, "y": x * x, "nan": float("nan")}]


def _map(store, items):
    return RunContext(store=store, n_jobs=1, progress=False).map(square_rows, items)


def test_tasks_are_cached_and_invalid_files_recomputed(tmp_path):
    items = [{"x": 1.0}, {"x": 2.0}, {"x": 1.0}]
    df = _map(tmp_path, items)
    assert df["y"].tolist() == [1.0, 4.0, 1.0]
    assert df["nan"].isna().all()
    files = sorted((tmp_path / "calls").glob("*.json"))
    assert len(files) == 2
    # cached: the stored rows are read back, identical
    again = _map(tmp_path, [{"x": 1.0}, {"x": 2.0}])
    assert again["y"].tolist() == [1.0, 4.0]
    mtimes = [f.stat().st_mtime_ns for f in files]
    _map(tmp_path, [{"x": 1.0}, {"x": 2.0}])
    assert mtimes == [f.stat().st_mtime_ns for f in files]  # nothing recomputed
    # an edited file (checksum mismatch) is recomputed with a warning
    f = tmp_path / "calls" / f"{call_key(fn_name(square_rows), {'x': 2.0})}.json"
    d = json.loads(f.read_text())
    d["rows"][0]["y"] = 5.0
    f.write_text(json.dumps(d))
    with pytest.warns(RuntimeWarning, match="invalid call file"):
        fixed = _map(tmp_path, [{"x": 2.0}])
    assert fixed["y"].tolist() == [4.0]
    assert json.loads(f.read_text())["rows"][0]["y"] == 4.0


def test_task_key_depends_on_function_arguments_and_solver_defaults(monkeypatch):
    """One key rule for points and calls: the function, its arguments, the store format, the
    version and the effective (declared default) solver options."""
    import dataclasses

    from kdlab.params import THEORY_OPTIONS

    name = fn_name(square_rows)
    assert call_key(name, {"x": 1.0}) != call_key(name, {"x": 2.0})
    assert call_key(name, {"x": 1.0}) != call_key(fn_name(_map), {"x": 1.0})
    k = call_key(name, {"x": 1.0})
    assert k == call_key(name, {"x": 1.0})
    monkeypatch.setitem(THEORY_OPTIONS, "quad_tol", dataclasses.replace(THEORY_OPTIONS["quad_tol"], default=1e-9))
    assert call_key(name, {"x": 1.0}) != k
    with pytest.raises(ValueError, match="module-level"):
        fn_name(lambda x: x)


def test_a_failing_task_is_reported_and_the_others_kept(tmp_path):
    from kdlab.errors import SweepError

    with pytest.raises(SweepError, match="1 of 2 tasks"):
        _map(tmp_path, [{"x": 1.0}, {"x": 2.0, "fail": True}])
    assert len(list((tmp_path / "calls").glob("*.json"))) == 1


# ----------------------------------------------------------------------------- theory vs simulation


def test_tolerance_is_three_standard_errors_plus_one_percent():
    assert within_tolerance(0.03 + 0.002 - 1e-9, 0.01, 0.2)      # 3 s.e. + 1% of 0.2
    assert not within_tolerance(0.03 + 0.002 + 1e-6, 0.01, 0.2)
    assert not within_tolerance(-0.0021, 0.0, 0.2)                 # no s.e.: 1% only
    t = pd.DataFrame([{"series": "a", "kind": "theory", "alpha": 1.0, "gen_error": 0.2, "converged": True},
                      {"series": "a", "kind": "simulate", "alpha": 1.0, "gen_error": 0.25, "gen_error_stderr": 0.01,
                       "n_features": 100, "n_seeds": 3},
                      {"series": "b", "kind": "simulate", "alpha": 1.0, "gen_error": 0.2, "gen_error_stderr": 0.01}])
    c = compare({"t": t}, {"t": ("series", "alpha")})
    assert len(c) == 1 and not bool(c["ok"].iloc[0]) and c["z"].iloc[0] == pytest.approx(5.0)
    t.loc[1, "gen_error"] = 0.22
    assert bool(compare({"t": t}, {"t": ("series", "alpha")})["ok"].iloc[0])


# ----------------------------------------------------------------------------- label-noise verdicts


def _ln_table(lab, soft, hard, chi, fixed_shift, noises=(0.0, 0.2, 0.4), alpha=2.0):
    rows = []
    for i, th in enumerate(noises):
        base = {"kind": "theory", "alpha": alpha, "label_noise": th, "converged": True}
        rows.append({**base, "series": "t", "student": "teacher", "teacher_ridge": "optimal", "gen_error": 0.2})
        rows.append({**base, "series": "l", "student": "labels", "teacher_ridge": None, "gen_error": lab[i]})
        for ridge, shift in (("optimal", 0.0), ("fixed", fixed_shift)):
            rows.append({**base, "series": f"s{ridge}", "student": "soft", "teacher_ridge": ridge,
                         "gen_error": soft[i] + shift, "chi": chi[i], "temperature": 1.0})
            rows.append({**base, "series": f"h{ridge}", "student": "hard", "teacher_ridge": ridge,
                         "gen_error": hard[i] + shift, "chi": 0.5, "temperature": 0.0})
    return {"errors": pd.DataFrame(rows)}


def _verdicts(claim):
    return {f.name.split()[1]: f.verdict for f in claim.findings}


def test_label_noise_verdicts_flip_with_the_numbers():
    p = study_params("label-noise", quick=True)
    # KD degrades less than labels, gains grow, soft < hard, chi rises, the tuned teacher is better
    c = label_noise.findings(_ln_table([0.20, 0.25, 0.29], [0.19, 0.21, 0.24], [0.195, 0.22, 0.25],
                                       [0.3, 0.5, 0.7], 0.001), p)
    f = {x.name: x.verdict for x in c.findings if "finite size" not in x.name}
    assert set(f.values()) == {SUPPORTED} and c.verdict == SUPPORTED
    assert [x.verdict for x in c.findings if "finite size" in x.name] == [MISSING]  # no simulation
    # KD inherits all the noise (degrades as much as labels), gains shrink, hard < soft, chi falls,
    # the fixed-ridge teacher is better
    c = label_noise.findings(_ln_table([0.20, 0.25, 0.29], [0.19, 0.25, 0.30], [0.185, 0.245, 0.289],
                                       [0.7, 0.5, 0.3], -0.001), p)
    f = {x.name: x.verdict for x in c.findings if "finite size" not in x.name and "same noisy" not in x.name}
    assert set(f.values()) == {CONTRADICTED} and c.verdict == PARTLY  # KD still beats the plain labels
    assert "R = " in c.findings[0].text and "0 of 2" in c.findings[0].text
    # the constant classifier (label-only error at min(rho, 1 - rho)) is left out of R
    c = label_noise.findings(_ln_table([0.20, 0.25, 0.30], [0.19, 0.21, 0.30], [0.195, 0.22, 0.30],
                                       [0.3, 0.5, 0.7], 0.001), p)
    assert "1 noisy point(s)" in c.findings[0].text and c.findings[0].verdict == SUPPORTED


def test_label_noise_gain_over_the_same_information_baseline_needs_three_standard_errors():
    p = study_params("label-noise", quick=True)
    t = _ln_table([0.20, 0.25, 0.29], [0.19, 0.21, 0.24], [0.195, 0.22, 0.25], [0.3, 0.5, 0.7], 0.001)["errors"]
    smooth = t[t["student"] == "labels"].assign(student="smoothing", series="sm", baseline="smoothing",
                                                gen_error=[0.20, 0.215, 0.245])
    t = pd.concat([t, smooth], ignore_index=True)

    def sim(kd, base):
        rows = []
        for st, ridge, m in (("soft", "optimal", kd), ("smoothing", None, base), ("labels", None, 0.26)):
            r = t[(t["student"] == st) & np.isclose(t["label_noise"], 0.2)
                  & ((t["teacher_ridge"] == ridge) if ridge else t["teacher_ridge"].isna())].iloc[0].to_dict()
            r.update(kind="simulate", gen_error=m, gen_error_stderr=0.001, n_features=1000)
            rows.append(r)
        return {"errors": pd.concat([t, pd.DataFrame(rows)], ignore_index=True)}

    name = "same noisy samples"
    c = label_noise.findings(sim(0.210, 0.215), p)
    f = [x for x in c.findings if name in x.name][0]
    assert f.verdict == SUPPORTED and "3.5 s.e. (soft KD vs smoothing" in f.text
    assert "(vs smoothing; alpha = 2, theta = 0.2)" in f.text  # the theory margin names its baseline
    f = [x for x in label_noise.findings(sim(0.213, 0.215), p).findings if name in x.name][0]
    assert f.verdict == CONTRADICTED and "1.4 s.e." in f.text


# ----------------------------------------------------------------------------- quick run, resume, folders


@pytest.fixture(scope="module")
def ln_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("label-noise")
    t0 = time.perf_counter()
    r = study("label-noise", out, quick=True, progress=False)
    return out, r, time.perf_counter() - t0


def test_label_noise_quick_writes_every_output(ln_quick):
    out, r, _ = ln_quick
    for ext in ("png", "pdf"):
        assert (out / f"label-noise.{ext}").stat().st_size > 1000
    for ext in ("csv", "parquet"):
        assert (out / "tables" / f"label-noise-errors.{ext}").is_file()
        assert (out / "tables" / f"label-noise-theory-vs-simulation.{ext}").is_file()
    text = (out / "report.md").read_text()
    from kdlab.reporting.report import headline

    assert f"## Verdict: {headline(r.claim, {'mode': 'quick'})}" in text and "## Theory vs simulation" in text
    for f in r.claim.findings:
        assert f.name in text and f.undecided  # a quick grid decides nothing over the missing noises
    t = pd.read_parquet(out / "tables" / "label-noise-errors.parquet")
    th = t[t["kind"] == "theory"]
    assert th["converged"].all()
    # the tuned soft/hard students are never worse than the label-only student (chi = 0 is in their space)
    for _, g in th.groupby("label_noise"):
        lab = g.loc[g["student"] == "labels", "gen_error"].iloc[0]
        assert (g.loc[g["student"].isin(["soft", "hard"]), "gen_error"] <= lab + 1e-6).all()
    assert json.loads((out / "parameters.json").read_text())["study"] == "label-noise"
    # every simulated row carries its own point (the finite-size rerun simulates exactly that point)
    sim = t[t["kind"] == "simulate"]
    for _, r in sim.iterrows():
        pt = json.loads(r["sim_point"])
        assert pt["label_noise"] == r["label_noise"] and pt["alpha"] == r["alpha"]
        if r["student"] == "teacher":
            assert pt["student"] is False and pt["teacher_lam"] == r["teacher_lam"] and int(r["sim_stage"]) == 0


def test_rerun_resumes_from_the_cache_and_refuses_other_parameters(ln_quick):
    out, r, first = ln_quick
    files = {f: f.stat().st_mtime_ns for f in (out / "cache").rglob("*.json")}
    r2 = study("label-noise", out, quick=True, progress=False)
    assert {f: f.stat().st_mtime_ns for f in (out / "cache").rglob("*.json")} == files  # nothing recomputed
    pd.testing.assert_frame_equal(r.tables["errors"].reset_index(drop=True),
                                  r2.tables["errors"].reset_index(drop=True), check_dtype=False)
    before = (out / "report.md").read_text()
    with pytest.raises(OutputError, match="other parameters"):
        study("label-noise", out, quick=False, progress=False)
    assert (out / "report.md").read_text() == before


def test_label_noise_figure_has_one_quantity_per_axis_and_labelled_log_axes(ln_quick, monkeypatch):
    """Issue 21, item 14: panel (c)'s twin axes (chi* and T* on one panel, coloured alike) are
    two panels, each axis naming its quantity; the study runner labels log axes between the
    powers of ten (a spy on kdlab.reporting.plotting.label_log_axes sees the saved figure)."""
    from test_figures import tick_labels

    import kdlab.reporting.plotting as plotting

    out, _, _ = ln_quick
    seen = []
    real = plotting.label_log_axes

    def spy(fig):
        real(fig)
        seen.append(fig)

    monkeypatch.setattr(plotting, "label_log_axes", spy)
    study("label-noise", out, quick=True, progress=False)  # cached: only the figures are redrawn
    (fig,) = seen
    axes = fig.axes
    assert len(axes) == 4
    boxes = [tuple(np.round(ax.get_position().bounds, 6)) for ax in axes]
    assert len(set(boxes)) == 4  # no twin axes
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    chi_ax, t_ax = axes[2], axes[3]
    assert "chi" in chi_ax.get_ylabel() and "temperature" not in chi_ax.get_ylabel()
    assert "temperature" in t_ax.get_ylabel() and t_ax.get_yscale() == "log"
    labs = tick_labels(t_ax.yaxis)  # the search interval [0.1, 10]: 0.2, 0.3, 0.5, 2, 3, 5 labelled too
    assert {"0.2", "0.5", "1", "2", "5"} <= set(labs), labs


def test_folder_of_another_study_is_not_overwritten(tmp_path):
    from kdlab.reporting.output import OutputFolder

    OutputFolder(tmp_path, "study:weak-to-strong").open().record([], params={})
    with pytest.raises(OutputError, match="weak-to-strong"):
        study("label-noise", tmp_path, quick=True, progress=False)
    assert not (tmp_path / "report.md").exists()


@pytest.mark.slow
def test_resume_after_kill(tmp_path):
    """SIGKILL a quick run once some tasks are stored; the rerun keeps them and finishes."""
    out = tmp_path / "o"
    proc = subprocess.Popen([*KDLAB, "study", "label-noise", "--quick", "--out", str(out), "--n-jobs", "1",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    tasks = out / "cache" / "calls"
    while time.time() < deadline and len(list(tasks.glob("*.json"))) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {f: f.stat().st_mtime_ns for f in tasks.glob("*.json")}
    assert len(kept) >= 1, "the run must be killed after its first task"
    assert not (out / "report.md").exists()
    done = _cli("study", "label-noise", "--quick", "--out", str(out), "--n-jobs", "1", "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(f.stat().st_mtime_ns == m for f, m in kept.items())
    n_tasks = len(list(tasks.glob("*.json")))   # label-noise --quick: 12 tasks (KD and the corrected baselines)
    assert len(kept) < n_tasks, "the run must be killed before its last task"
    assert "## Verdict" in (out / "report.md").read_text()
