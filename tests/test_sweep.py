"""Sweeps: grid expansion, cached store, kill/resume (real subprocess + signal), joblib, Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from kdlab import simulate
from kdlab.runs.sweep import (
    Sweep,
    SweepError,
    expand_grid,
    load_store,
    make_problem,
    normalize_point,
    parse_grid_value,
    run_sweep,
    save_table,
)

TOY = "toy_backends:toy_backend"  # tests/toy_backends.py
# child processes (scripts, loky and Dask workers) import the toy backends from this folder
TESTS = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys([TESTS, *(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]))
VOLATILE = ["elapsed_s", "toy_warm_started", "teacher_fits"]  # timing / order dependent bookkeeping, not results
GRID = {"alpha": [0.5, 1.0, 2.0, 4.0], "teacher_lam": [0.01, 0.1], "chi": [0.0, 0.5]}


def _stable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in VOLATILE if c in df.columns]).reset_index(drop=True)


# ----------------------------------------------------------------------------- grid


def test_expand_grid_is_cartesian_normalized_and_deduplicated():
    pts = expand_grid({"alpha": [1, 2, 3], "chi": [0, 1]}, base={"rho": 0.3})
    assert len(pts) == 6
    assert all(p["rho"] == 0.3 and p["stage1_eta"] == 0.5 for p in pts)
    # one naming rule: the point's fields are the record's columns
    assert set(pts[0]) == {"alpha", "delta", "rho", "label_noise", "stage0_kind", "stage0_lam", "stage0_eta",
                           "stage0_bias_rule", "stage0_class_weight", "stage1_kind", "stage1_eta", "stage1_chi",
                           "stage1_temperature", "stage1_lam", "stage1_t2_scaling", "stage1_bias_rule",
                           "stage1_class_weight", "stage1_data_alpha", "stage1_target", "stage1_smoothing",
                           "optimize"}
    # aliases and canonical names are the same point
    assert expand_grid({"alpha": [1], "chi": [0.3], "teacher_lam": [0.2]}) == \
        expand_grid({"alpha": [1], "stage1.chi": [0.3], "stage0_lam": [0.2]})
    # the Bayes teacher has no ridge: teacher_lam values do not split the points
    pts = expand_grid({"alpha": [1], "teacher": ["bayes-optimal"], "teacher_lam": [0.1, 1.0]})
    assert len(pts) == 1 and pts[0]["stage0_lam"] is None
    # teacher only: no student fields
    pts = expand_grid({"alpha": [1], "student": [False]})
    assert len(pts) == 1 and "stage1_chi" not in pts[0]
    with pytest.raises(ValueError, match="student"):
        expand_grid({"alpha": [1], "student": [False], "chi": [0, 1]})
    # a list of grids is concatenated
    assert len(expand_grid([{"alpha": [1, 2]}, {"alpha": [3], "chi": [0, 1]}])) == 4


@pytest.mark.parametrize("bad, msg", [({"alpha": [-1]}, "alpha"),
                                      ({"alpha": [1], "chi": [2], "temperature": [2]}, "chi"),
                                      ({"alpha": [1], "colour": [1]}, "unknown"),
                                      ({"chi": [0]}, "alpha"),
                                      ({"alpha": [1], "teacher": ["oracle"]}, "teacher")])
def test_invalid_points_are_rejected(bad, msg):
    with pytest.raises(ValueError, match=msg):
        expand_grid(bad)


def test_optimize_field_is_normalized():
    p = normalize_point({"alpha": 1, "student": False, "optimize": "lam", "teacher_lam": 3.0})
    assert p["optimize"] == "stage0_lam" and p["stage0_lam"] is None
    p = normalize_point({"alpha": 1, "optimize": "lam", "lam": 3.0})
    assert p["optimize"] == "stage1_lam" and p["stage1_lam"] is None and p["stage0_lam"] == 0.1
    with pytest.raises(ValueError, match="logistic"):
        normalize_point({"alpha": 1, "student": False, "teacher": "bayes-optimal", "optimize": "lam"})


def test_parse_grid_value():
    assert parse_grid_value("0.5:5:10") == pytest.approx(list(np.linspace(0.5, 5, 10)))
    assert parse_grid_value("1e-3:10:5:log") == pytest.approx([1e-3, 1e-2, 1e-1, 1, 10])
    assert parse_grid_value("0,0.5,1") == [0.0, 0.5, 1.0]
    assert parse_grid_value("logistic,bayes-optimal") == ["logistic", "bayes-optimal"]
    with pytest.raises(ValueError):
        parse_grid_value("1:2")


# ----------------------------------------------------------------------------- store


def test_sweep_table_columns_order_and_cache(tmp_path):
    df = run_sweep(GRID, backend=TOY, store=tmp_path, n_jobs=1, progress=False)
    assert len(df) == 16
    for col in ("alpha", "stage0_lam", "stage1_chi", "stage1_eta", "stage1_temperature", "stage1_lam", "rho",
                "delta", "stage0_gen_error", "stage1_gen_error", "stage1_p", "status_converged", "key"):
        assert col in df.columns
    assert not any(c.startswith(("teacher_", "student_")) for c in df.columns)
    # grid order, one row per point, one file per point
    assert list(df["alpha"]) == [a for a in GRID["alpha"] for _ in range(4)]
    assert df["key"].is_unique
    assert len(list((tmp_path / "points").glob("*.json"))) == 16
    # rerun: everything from the store, nothing recomputed (mtimes unchanged)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "points").glob("*.json")}
    df2 = run_sweep(GRID, backend=TOY, store=tmp_path, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(df.drop(columns="elapsed_s"), df2.drop(columns="elapsed_s"))
    assert mtimes == {p: p.stat().st_mtime_ns for p in (tmp_path / "points").glob("*.json")}
    # a bigger grid reuses the finished points
    big = dict(GRID, alpha=GRID["alpha"] + [8.0])
    df3 = run_sweep(big, backend=TOY, store=tmp_path, n_jobs=1, progress=False)
    assert len(df3) == 20 and len(load_store(tmp_path)) == 20
    # changing a backend setting changes the key
    s1, s2 = Sweep(GRID, backend="simulate", n_features=100), Sweep(GRID, backend="simulate", n_features=200)
    assert {t.key for t in s1.tasks}.isdisjoint({t.key for t in s2.tasks})
    paths = save_table(df3, tmp_path / "table")
    assert pd.read_parquet(paths[1]).shape == df3.shape
    assert pd.read_csv(paths[0]).shape == df3.shape


def test_warm_start_chains_along_alpha():
    sw = Sweep(GRID, backend=TOY)
    chains = sw.chains(sw.tasks)
    assert sw.warm_axis() == "alpha"
    assert len(chains) == 4 and all(len(c) == 4 for c in chains)
    for c in chains:
        assert [t.point["alpha"] for t in c] == sorted(GRID["alpha"])
    df = sw.run(n_jobs=1, progress=False)
    # first point of each chain cold, the others warm-started from their neighbour
    assert sorted(df["toy_warm_started"]) == [0.0] * 4 + [1.0] * 12
    # simulation points are grouped by their data (they share each seed's draws, and the fits
    # of the teachers they have in common): one group per alpha, holding its 2 x 2 teachers x chi
    simsw = Sweep(GRID, backend="simulate")
    groups = simsw.chains(simsw.tasks)
    assert len(groups) == 4 and all(len(c) == 4 for c in groups)
    for c in groups:
        assert len({t.point["alpha"] for t in c}) == 1
        assert sorted((t.point["stage0_lam"], t.point["stage1_chi"]) for t in c) == [
            (0.01, 0.0), (0.01, 0.5), (0.1, 0.0), (0.1, 0.5)]
    teacher_only = Sweep({"alpha": [1.0, 2.0], "teacher_lam": [0.1, 1.0], "student": False}, backend="simulate")
    assert sorted(len(c) for c in teacher_only.chains(teacher_only.tasks)) == [2, 2]
    # the executor splits a group that would hold up the other workers, heaviest first
    from kdlab.runs.executor import balance_chains

    heavy = Sweep({"alpha": [0.5, 8.0], "teacher_lam": [0.01, 0.1, 1.0, 10.0], "student": False},
                  backend="simulate")
    balanced = balance_chains(heavy.chains(heavy.tasks), 2)
    assert [[t.point["alpha"] for t in c] for c in balanced] == [[8.0] * 2, [8.0] * 2, [0.5] * 4]


def test_sweeps_run_as_one_give_the_tables_of_each_alone(tmp_path):
    """Issue 20: simulation sweeps run together (RunContext.run_many) share each seed's draws
    across sweeps, and give each sweep the table it gives alone."""
    from kdlab.runs.sweep import run_sweeps

    a = Sweep({"alpha": [0.8, 1.6], "teacher_lam": [0.1, 1.0], "student": False}, backend="simulate",
              n_features=60, seeds=2)
    b = Sweep(points=[{"alpha": 1.6, "teacher_lam": 0.3, "student": False}, {"alpha": 0.8, "chi": 0.5}],
              backend="simulate", n_features=60, seeds=2)
    together = run_sweeps([a, b], n_jobs=1, progress=False)
    for sw, t in zip((a, b), together):
        alone = sw.run(n_jobs=1, progress=False)
        pd.testing.assert_frame_equal(_stable(t), _stable(alone))
    with pytest.raises(ValueError, match="same backend"):
        run_sweeps([a, Sweep({"alpha": [1.0]}, backend="simulate", n_features=80, seeds=2)])


def test_joblib_parallel_matches_serial(tmp_path):
    serial = run_sweep(GRID, backend=TOY, n_jobs=1, progress=False)
    par = run_sweep(GRID, backend=TOY, n_jobs=2, store=tmp_path, progress=False)
    pd.testing.assert_frame_equal(_stable(serial), _stable(par))
    assert len(list((tmp_path / "points").glob("*.json"))) == 16


def test_failures_are_reported_and_successes_kept(tmp_path):
    # alpha huge -> fine; the toy never fails, so use an unimportable backend for one sweep
    with pytest.raises(SweepError) as info:
        run_sweep({"alpha": [1.0, 2.0]}, backend="kdlab.runs.sweep:no_such_backend", store=tmp_path,
                  n_jobs=1, progress=False)
    assert len(info.value.failures) == 2 and "cannot import" in info.value.failures[0][2]
    with pytest.warns(RuntimeWarning):
        df = run_sweep({"alpha": [1.0]}, backend="kdlab.runs.sweep:no_such_backend", n_jobs=1,
                       progress=False, errors="warn")
    assert df.empty


# ----------------------------------------------------------------------------- kill / resume

SCRIPT = textwrap.dedent("""
    import sys
    from kdlab.runs.sweep import run_sweep
    grid = {"alpha": [0.25 * k for k in range(1, 13)], "chi": [0.0, 0.5]}
    run_sweep(grid, backend=%r, theory_options={"sleep": 0.25}, store=sys.argv[1],
              n_jobs=int(sys.argv[2]), progress=False)
""") % TOY


@pytest.mark.parametrize("n_jobs, sig", [(1, signal.SIGKILL), (2, signal.SIGTERM)])
def test_kill_and_resume_gives_identical_table(tmp_path, n_jobs, sig):
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT)
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, str(script), str(store), str(n_jobs)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    points = store / "points"
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            n = len(list(points.glob("*.json"))) if points.exists() else 0
            if n >= 4 or proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        # the whole process group we started (the sweep and its joblib workers)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    assert proc.returncode != 0, "the sweep finished before it could be killed"
    done_before = len(list(points.glob("*.json")))
    assert 4 <= done_before < 24
    for p in points.glob("*.json"):  # never a partial file
        json.loads(p.read_text())
    # resume (a real second process) and a fresh uninterrupted run
    subprocess.run([sys.executable, str(script), str(store), str(n_jobs)], check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    grid = {"alpha": [0.25 * k for k in range(1, 13)], "chi": [0.0, 0.5]}
    resumed = run_sweep(grid, backend=TOY, theory_options={"sleep": 0.25}, store=store, n_jobs=1,
                        progress=False)
    fresh = run_sweep(grid, backend=TOY, theory_options={"sleep": 0.0}, n_jobs=1, progress=False)
    assert len(resumed) == 24 and resumed["key"].is_unique
    assert len(list(points.glob("*.json"))) == 24
    pd.testing.assert_frame_equal(_stable(resumed).drop(columns="key"), _stable(fresh).drop(columns="key"))


SIM_SCRIPT = textwrap.dedent("""
    import sys
    from kdlab.runs.sweep import run_sweep
    grid = {"alpha": [0.5, 1.0, 2.0, 3.0], "chi": [0.0, 0.5, 1.0], "teacher_lam": [0.01, 0.1, 1.0]}
    run_sweep(grid, backend="simulate", n_features=300, seeds=3, store=sys.argv[1], n_jobs=2,
              progress=False)
""")


def test_kill_and_resume_a_real_simulation_sweep(tmp_path):
    """The same with the simulation backend: bit-for-bit identical rows after a SIGKILL."""
    script = tmp_path / "sim_script.py"
    script.write_text(SIM_SCRIPT)
    store = tmp_path / "store"
    points = store / "points"
    proc = subprocess.Popen([sys.executable, str(script), str(store)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if (len(list(points.glob("*.json"))) if points.exists() else 0) >= 3 or proc.poll() is not None:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done = len(list(points.glob("*.json")))
    assert proc.returncode != 0 and done < 36, "the sweep finished before the kill: nothing was tested"
    subprocess.run([sys.executable, str(script), str(store)], check=True, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    grid = {"alpha": [0.5, 1.0, 2.0, 3.0], "chi": [0.0, 0.5, 1.0], "teacher_lam": [0.01, 0.1, 1.0]}
    resumed = run_sweep(grid, backend="simulate", n_features=300, seeds=3, store=store, n_jobs=1,
                        progress=False)
    fresh = run_sweep(grid, backend="simulate", n_features=300, seeds=3, n_jobs=1, progress=False)
    assert len(resumed) == 36 and resumed["key"].is_unique and len(list(points.glob("*.json"))) == 36
    pd.testing.assert_frame_equal(_stable(resumed), _stable(fresh))


# ----------------------------------------------------------------------------- Dask


def test_dask_local_cluster_matches_serial(tmp_path):
    import distributed  # the test command installs the dask extra: a missing one must fail
    serial = run_sweep(GRID, backend=TOY, n_jobs=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        df = run_sweep(GRID, backend=TOY, scheduler=cluster.scheduler_address, store=tmp_path,
                       progress=False)
        # the chains were warm-started on the cluster too
        assert sorted(df["toy_warm_started"]) == [0.0] * 4 + [1.0] * 12
        # rerun against the cluster: all from the store
        df2 = run_sweep(GRID, backend=TOY, scheduler=cluster.scheduler_address, store=tmp_path,
                        progress=False)
    pd.testing.assert_frame_equal(_stable(serial), _stable(df))
    pd.testing.assert_frame_equal(_stable(df), _stable(df2))
    assert len(list((tmp_path / "points").glob("*.json"))) == 16


def test_chain_fields_in_a_grid():
    pts = expand_grid({"alpha": [1.0], "stage2.temperature": [0.0, 2.0], "stage3_chi": [1.0],
                       "teacher_eta": [0.5], "stage1.data_alpha": [3.0], "lam": [0.3]})
    assert len(pts) == 2 and {p["stage2_temperature"] for p in pts} == {0.0, 2.0}
    assert all(p["stage3_chi"] == 1.0 and p["stage3_temperature"] == 1.0 for p in pts)
    chain = make_problem(pts[0]).stages
    assert len(chain) == 4 and chain[0].eta == 0.5
    assert chain[1].data.alpha == 3.0 and chain[2].temperature == 0.0 and chain[3].chi == 1.0
    # a bare student field is the last stage's
    assert chain[3].lam == 0.3 and chain[1].lam == chain[2].lam == 0.1
    for bad, msg in (({"alpha": [1], "stage12.chi": [0]}, "stage"),
                     ({"alpha": [1], "stage1.kind": ["logistic"]}, "stage"),
                     ({"alpha": [1], "stage2.colour": [0]}, "stage"),
                     ({"alpha": [1], "stage2.chi": [2.0], "stage2.temperature": [3.0]}, "chi"),
                     ({"alpha": [1], "stage2.chi": [0.5], "student": [False]}, "student"),
                     ({"alpha": [1], "stage2.chi": [0.5], "optimize": ["lam"]}, "chain")):
        with pytest.raises(ValueError, match=msg):
            expand_grid(bad)


def test_chain_sweep_equals_direct_simulation():
    df = run_sweep({"alpha": [1.5], "stage2.temperature": [0.0]}, backend="simulate", n_features=80, seeds=2,
                   n_jobs=1, progress=False)
    problem = make_problem(expand_grid({"alpha": [1.5], "stage2.temperature": [0.0]})[0])
    direct = simulate(problem, n_features=80, seeds=2, n_jobs=1)
    assert df["stage2_gen_error"].iloc[0] == direct.stages[2].gen_error
    assert df["stage1_gen_error"].iloc[0] == direct.stages[1].gen_error
