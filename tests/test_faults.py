"""Fault injection for the sweep machinery (issue 10): every fault is provoked for real and the
outcome asserted -- bad cache files, code upgrades, non-convergence, file-system errors, a
killed worker, too little memory, planted symbolic links, oversized inputs, claims."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import kdlab
from kdlab.errors import OutputError, ResourceError, StoreError, SweepError
from kdlab.runs.store import points_dir, read_point
from kdlab.runs.sweep import Sweep, expand_grid, load_store, normalize_point, run_sweep, save_table
from kdlab.simulation.memory import check_memory, estimate_bytes
from kdlab.values import parse_values

TOY = "toy_backends:toy_backend"
TESTS = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys([TESTS, *(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]))
ALPHAS = [0.5, 1.0, 2.0]
VOLATILE = ["elapsed_s", "toy_warm_started"]  # timing and warm-start order, not results


def _run(store, **kw):
    return run_sweep({"alpha": ALPHAS}, backend=TOY, store=store, n_jobs=1, progress=False, **kw)


def _file_of(store, alpha) -> Path:
    sw = Sweep({"alpha": ALPHAS}, backend=TOY)
    key = next(t.key for t in sw.tasks if t.point["alpha"] == alpha)
    return points_dir(store) / f"{key}.json"


def _cli(*args):
    from kdlab.cli import app

    return CliRunner().invoke(app, list(args))


def _one_line_error(r, code=2):
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, r.output
    return errors[0]


def _no_tmp_left(*folders):
    for f in folders:
        if Path(f).is_dir():
            assert not list(Path(f).glob(".*.tmp")), list(Path(f).iterdir())


# ----------------------------------------------------------------------------- the cache


def test_copied_point_file_is_detected_recomputed_and_replaced(tmp_path):
    fresh = _run(tmp_path)
    src, dst = _file_of(tmp_path, 0.5), _file_of(tmp_path, 1.0)
    shutil.copyfile(src, dst)  # alpha=0.5's result under alpha=1's name
    with pytest.warns(RuntimeWarning, match=rf"invalid point file .*{dst.name}.*match"):
        df = _run(tmp_path)
    assert df["alpha"].tolist() == ALPHAS and df["alpha"].is_unique
    pd.testing.assert_frame_equal(df.drop(columns=VOLATILE), fresh.drop(columns=VOLATILE))
    assert read_point(dst, dst.stem)[0] is not None  # replaced by a valid file
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(load_store(tmp_path)["alpha"].tolist()) == sorted(ALPHAS)


def test_edited_point_file_is_detected(tmp_path):
    fresh = _run(tmp_path)
    path = _file_of(tmp_path, 2.0)
    payload = json.loads(path.read_text())
    payload["record"]["stage0_gen_error"] = 0.0  # a "better" number typed in by hand
    path.write_text(json.dumps(payload))
    with pytest.warns(RuntimeWarning, match="checksum"):
        df = _run(tmp_path)
    assert df["stage0_gen_error"].tolist() == fresh["stage0_gen_error"].tolist()
    payload = json.loads(path.read_text())
    payload["point"]["alpha"] = 5.0  # edited point
    path.write_text(json.dumps(payload))
    with pytest.warns(RuntimeWarning, match="edited"):
        assert _run(tmp_path)["alpha"].tolist() == ALPHAS


@pytest.mark.parametrize("content", ["null", "[]", "[1, 2]", '{"record": "x"}', '"text"', "",
                                     '{"version": 3, "key": 1}', "[" * 200_000 + "]" * 200_000,
                                     '{"a": ' * 100_000 + "1" + "}" * 100_000, "{not json"])
def test_wrong_shape_point_file_is_recomputed_and_replaced(tmp_path, content):
    _run(tmp_path)
    path = _file_of(tmp_path, 1.0)
    path.write_text(content)
    with pytest.warns(RuntimeWarning, match=rf"invalid point file .*{path.name}"):
        df = _run(tmp_path)
    assert df["alpha"].tolist() == ALPHAS and df["status_converged"].all()
    assert read_point(path, path.stem)[0] is not None
    # load_store skips such a file with a warning instead of crashing
    path.write_text(content)
    with pytest.warns(RuntimeWarning, match="skipping"):
        assert len(load_store(tmp_path)) == 2


def test_upgrade_of_version_or_default_invalidates_the_cache(tmp_path, monkeypatch):
    _run(tmp_path)
    n = len(list(points_dir(tmp_path).glob("*.json")))
    assert n == 3
    keys = lambda **kw: {t.key for t in Sweep({"alpha": ALPHAS}, **kw).tasks}  # noqa: E731
    theory0, sim0, toy0 = keys(), keys(backend="simulate"), keys(backend=TOY)
    monkeypatch.setattr(kdlab, "__version__", kdlab.__version__ + ".post1")
    assert keys().isdisjoint(theory0) and keys(backend="simulate").isdisjoint(sim0)
    _run(tmp_path)  # recomputed under the new version: new files
    assert len(list(points_dir(tmp_path).glob("*.json"))) == 6
    monkeypatch.undo()
    assert keys() == theory0
    # a changed default tolerance of the theory / the simulation (their one declaration)
    import dataclasses

    from kdlab.params import SIMULATION_OPTIONS, THEORY_OPTIONS

    monkeypatch.setitem(THEORY_OPTIONS, "tol", dataclasses.replace(THEORY_OPTIONS["tol"], default=1e-7))
    assert keys().isdisjoint(theory0) and keys(backend="simulate") == sim0
    monkeypatch.undo()
    monkeypatch.setitem(SIMULATION_OPTIONS, "tol", dataclasses.replace(SIMULATION_OPTIONS["tol"], default=1e-6))
    assert keys(backend="simulate").isdisjoint(sim0) and keys() == theory0
    import toy_backends

    monkeypatch.setitem(toy_backends.toy_backend.__kwdefaults__, "sleep", 0.001)
    assert keys(backend=TOY).isdisjoint(toy0)


# ----------------------------------------------------------------------------- convergence


def test_sweep_counts_nonconverged_points_and_strict_fails(tmp_path):
    args = ["sweep", "-g", "alpha=0.5,1.5,2", "-b", "toy_backends:nonconverged_above_one",
            "-o", str(tmp_path / "t.csv"), "-j", "1", "-q"]
    r = _cli(*args)
    assert r.exit_code == 0, r.output
    assert "2 of 3 theory points did not converge" in r.output
    assert len(pd.read_csv(tmp_path / "t.csv")) == 3
    r = _cli(*args, "--strict")
    assert r.exit_code == 1 and "2 of 3 theory points did not converge" in r.output


def test_sweep_warns_about_optima_at_the_edge(tmp_path):
    r = _cli("sweep", "-g", "alpha=1,2", "-g", "student=false", "-g", "optimize=lam", "-b", TOY,
             "-o", str(tmp_path / "t.csv"), "-j", "1", "-q")
    assert r.exit_code == 0, r.output
    assert "2 of 2 optimized points ended at the edge of their search interval" in r.output


# ----------------------------------------------------------------------------- file system


def test_store_that_is_a_file_or_has_a_file_for_points(tmp_path):
    f = tmp_path / "store"
    f.write_text("x")
    line = _one_line_error(_cli("sweep", "-g", "alpha=1", "-b", TOY, "--store", str(f),
                                "-o", str(tmp_path / "t.csv")))
    assert str(f) in line and "not a folder" in line
    st = tmp_path / "st"
    st.mkdir()
    (st / "points").write_text("x")
    line = _one_line_error(_cli("sweep", "-g", "alpha=1", "-b", TOY, "--store", str(st),
                                "-o", str(tmp_path / "t.csv")))
    assert "points" in line
    with pytest.raises(StoreError):
        _run(st)
    under_file = tmp_path / "store" / "sub"  # a store below a plain file cannot be created
    _one_line_error(_cli("sweep", "-g", "alpha=1", "-b", TOY, "--store", str(under_file),
                         "-o", str(tmp_path / "t.csv")))
    assert not (tmp_path / "t.csv").exists()  # checked before computing anything


def test_output_that_is_a_folder_or_below_a_file(tmp_path):
    d = tmp_path / "t.csv"
    d.mkdir()
    line = _one_line_error(_cli("sweep", "-g", "alpha=1", "-b", TOY, "-o", str(d)))
    assert "is a folder" in line
    f = tmp_path / "file"
    f.write_text("x")
    line = _one_line_error(_cli("sweep", "-g", "alpha=1", "-b", TOY, "-o", str(f / "sub" / "t.csv")))
    assert str(f) in line
    with pytest.raises(OutputError):
        save_table(pd.DataFrame({"a": [1]}), d)
    _no_tmp_left(tmp_path, d)


@pytest.mark.parametrize("with_store", [True, False])
def test_table_write_failing_at_the_end_keeps_the_points(tmp_path, monkeypatch, with_store):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # the backend replaces the output folder by a plain file while the sweep runs
    monkeypatch.setenv("TOY_REPLACE_DIR", str(out_dir))
    store = tmp_path / "store"
    args = ["sweep", "-g", "alpha=1,2,3", "-b", "toy_backends:chmod_on_call", "-o", str(out_dir / "t.csv"),
            "-j", "1", "-q"] + (["--store", str(store)] if with_store else [])
    line = _one_line_error(_cli(*args))
    assert str(out_dir / "t.csv") in line and "was written to" in line
    where = Path(line.split("was written to ")[1].split(" instead")[0])
    assert len(pd.read_csv(where)) == 3
    if with_store:
        assert where.parent == store and len(list(points_dir(store).glob("*.json"))) == 3
    _no_tmp_left(tmp_path, where.parent)


def test_store_write_failing_mid_run_keeps_the_table(tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("TOY_REPLACE_DIR", str(points_dir(store)))
    with pytest.warns(RuntimeWarning, match="cannot write to the store"):
        df = run_sweep({"alpha": ALPHAS}, backend="toy_backends:chmod_on_call", store=store, n_jobs=1,
                       progress=False)
    assert df["alpha"].tolist() == ALPHAS


# ----------------------------------------------------------------------------- killed worker


def _kill_sweep(tmp_path, always, store=None):
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    opts = {"marker_dir": str(markers), "parent": os.getpid(), "kill_alpha": 1.0, "always": always}
    return Sweep({"alpha": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]}, backend="toy_backends:kill_worker",
                 theory_options=opts), markers


def test_killed_worker_points_are_retried_once(tmp_path):
    sw, markers = _kill_sweep(tmp_path, always=False)
    with pytest.warns(RuntimeWarning, match="worker process died"):
        df = sw.run(tmp_path / "store", n_jobs=2, progress=False)
    assert df["alpha"].tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert len(list(markers.glob("killed-1.0-*"))) == 1  # killed once, then computed
    assert len(list(points_dir(tmp_path / "store").glob("*.json"))) == 6


def test_point_killing_its_worker_twice_is_reported_failed(tmp_path):
    sw, markers = _kill_sweep(tmp_path, always=True)
    with pytest.warns(RuntimeWarning, match="worker process died"):
        with pytest.raises(SweepError) as info:
            sw.run(tmp_path / "store", n_jobs=2, progress=False)
    failed = [p["alpha"] for p, _, _ in info.value.failures]
    assert 1.0 in failed and "died twice" in info.value.failures[0][2]
    assert len(list(markers.glob("killed-1.0-*"))) == 2  # first attempt and one retry
    table = info.value.table
    assert 1.0 not in table["alpha"].tolist() and len(table) + len(failed) == 6
    # what was computed is in the store too
    assert len(list(points_dir(tmp_path / "store").glob("*.json"))) == len(table)


# ----------------------------------------------------------------------------- memory


def test_run_exceeding_memory_is_refused_before_it_starts(tmp_path):
    assert estimate_bytes(2000, 1000, n_jobs=2) == 5 * 8 * 2000 * 1000 * 2  # sets, test set, a fit's copies
    sw = Sweep({"alpha": [0.5, 20.0]}, backend="simulate", n_features=1_000_000, seeds=1)
    t0 = time.perf_counter()
    with pytest.raises(ResourceError, match=r"needs about .*TiB.*available"):
        sw.run(tmp_path / "store", n_jobs=1, progress=False)
    assert time.perf_counter() - t0 < 5 and not list(points_dir(tmp_path / "store").glob("*.json"))
    line = _one_line_error(_cli("sweep", "-g", "alpha=20", "-b", "simulate", "--n-features", "1000000",
                                "-o", str(tmp_path / "t.csv")))
    assert "needs about" in line and "available" in line
    with pytest.raises(ResourceError, match="the test"):
        check_memory(2**70, "the test")
    check_memory(1, "the test")


# ----------------------------------------------------------------------------- symlinks


def test_planted_symlinks_are_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    df = pd.DataFrame({"a": [1, 2]})
    # at the target
    out = tmp_path / "t.csv"
    out.symlink_to(victim)
    save_table(df, out)
    assert victim.read_text() == "precious" and not out.is_symlink() and len(pd.read_csv(out)) == 2
    # at the old predictable temporary names
    for name in (f".t.csv.{os.getpid()}.tmp", f".t.parquet.{os.getpid()}.tmp"):
        (tmp_path / name).symlink_to(victim)
    save_table(df, tmp_path / "t")
    assert victim.read_text() == "precious"
    # at a point file of the store
    _run(tmp_path / "store")
    pf = _file_of(tmp_path / "store", 1.0)
    pf.unlink()
    pf.symlink_to(victim)
    with pytest.warns(RuntimeWarning, match="symbolic link"):
        assert _run(tmp_path / "store")["alpha"].tolist() == ALPHAS
    assert victim.read_text() == "precious" and not pf.is_symlink()


# ----------------------------------------------------------------------------- sizes, validation


def test_size_limits():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"0\.5:5:100000000.*limit"):
        parse_values("0.5:5:100000000")
    with pytest.raises(ValueError, match="limit"):
        parse_values(",".join(["1"] * 100_001))
    with pytest.raises(ValueError, match=r"9000000 points.*limit"):
        expand_grid({"alpha": parse_values("0.5:5:3000"), "chi": parse_values("0:1:3000")})
    assert time.perf_counter() - t0 < 5
    _one_line_error(_cli("sweep", "-g", "alpha=0.5:5:100000000", "-o", "x.csv"))
    line = _one_line_error(_cli("sweep", "-g", "alpha=0.5:5:3000", "-g", "chi=0:1:3000", "-o", "x.csv"))
    assert "9000000" in line
    assert "grid" in _one_line_error(_cli("optimize", "kd", "--grid", "1000"))


def test_small_validation():
    assert "stage1_chi" not in normalize_point({"alpha": 1, "student": 0})
    assert normalize_point({"alpha": 1, "t2_scaling": 1.0})["stage1_t2_scaling"] is True
    assert "stage1_chi" not in normalize_point({"alpha": 1, "student": "false"})
    assert normalize_point({"alpha": 1})["rho"] == 0.3  # the declared default
    with pytest.raises(ValueError, match="alpha"):
        normalize_point({"alpha": "a"})
    line = _one_line_error(_cli("sweep", "-g", "alpha=a,b", "-o", "x.csv"))
    assert "alpha" in line
    for bad in (dict(n_features=2.7), dict(n_features=1), dict(seeds=0), dict(seeds=[1, 1]),
                dict(seeds=[-1]), dict(seeds=[0.5]), dict(n_test=-1)):
        with pytest.raises(ValueError):
            Sweep({"alpha": [1]}, backend="simulate", **bad)
    assert Sweep({"alpha": [1]}, n_features=200.0).n_features == 200


# ----------------------------------------------------------------------------- claims


def test_claims_of_dead_processes_are_ignored_and_live_ones_waited_for(tmp_path):
    store = tmp_path / "store"
    sw = Sweep({"alpha": ALPHAS}, backend=TOY)
    points_dir(store).mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    k0, k1 = sw.tasks[0].key, sw.tasks[1].key
    (points_dir(store) / f"{k0}.claim").write_text(json.dumps(
        {"pid": dead.pid, "host": __import__("socket").gethostname(), "time": time.time()}))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (points_dir(store) / f"{k1}.claim").write_text(json.dumps(
            {"pid": live.pid, "host": __import__("socket").gethostname(), "time": time.time()}))
        def die():  # the other sweep dies without finishing
            live.kill()
            live.wait()

        threading.Timer(1.5, die).start()
        t0 = time.perf_counter()
        df = sw.run(store, n_jobs=1, progress=False)
        assert time.perf_counter() - t0 >= 1.2  # it waited for the live claim
    finally:
        live.kill()
        live.wait()
    assert df["alpha"].tolist() == ALPHAS
    assert not list(points_dir(store).glob("*.claim"))  # claims released
    assert len(list(points_dir(store).glob("*.json"))) == 3
