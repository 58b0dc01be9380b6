"""Sweeps, sweep files, tables and tuning for the K-class mixture (MulticlassMixture).

Kept fast: teacher-only K-class theory points (a few seconds each), K = 2 for the tuning
checks (K = 2 with ``gram = [[1, -1], [-1, 1]]`` is the binary model at half the ridge, so
the K-class tuning must find the binary optimum), tiny simulations (N = 100, 2 seeds).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import kdlab
from kdlab.cli import app
from kdlab.data import MulticlassMixture
from kdlab.errors import ParameterError
from kdlab.problem import Fresh, GaussianMixture, LogisticTeacher, Problem, Student
from kdlab.runs.grid import MULTICLASS_FIELDS, expand_grid, grid_size, make_problem, normalize_point
from kdlab.runs.store import point_key
from kdlab.runs.sweep import Sweep, run_sweep
from kdlab.runs.sweepfile import read_sweep_file
from kdlab.runs.tuning import optimal_kd, optimal_lam, optimal_stage

runner = CliRunner()
K3 = {"classes": 3, "geometry": "equal", "student": False}


# ----------------------------------------------------------------------------- points


def test_grid_over_alpha_similarity_and_stage_parameters():
    grid = {"classes": 3, "alpha": [1.0, 2.0], "similarity": [0.0, 0.3, 0.6], "stage1.target": ["soft", "top"],
            "smoothing": 0.2, "label_noise": 0.1}
    pts = expand_grid(grid)
    assert grid_size(grid) == len(pts) == 12
    p = pts[0]
    assert set(MULTICLASS_FIELDS) <= set(p) and "rho" not in p
    assert (p["geometry"], p["classes"], p["norm"], p["gram"]) == ("equal", 3, 1.0, None)
    assert p["prior"] == pytest.approx([1 / 3] * 3, rel=1e-11)
    assert {(q["similarity"], q["stage1_target"]) for q in pts} == {(s, t) for s in (0.0, 0.3, 0.6)
                                                                     for t in ("soft", "top")}
    assert all(q["stage1_smoothing"] == 0.2 and q["label_noise"] == 0.1 for q in pts)
    # canonical: normalizing a point again gives it back (the key does not drift)
    assert all(normalize_point(q) == q for q in pts)
    # the student's aliases are the same point
    assert expand_grid({"classes": 3, "alpha": 1, "student_target": "top"}) == \
        expand_grid({"classes": 3, "alpha": 1, "stage1.target": "top"})
    # the problem of a point: the named geometry, the stage parameters
    prob = make_problem(pts[-1])
    assert isinstance(prob.data, MulticlassMixture)
    assert np.allclose(prob.data.gram, [[1, 0.6, 0.6], [0.6, 1, 0.6], [0.6, 0.6, 1]])
    assert (prob.stages[1].target, prob.stages[1].smoothing, prob.data.label_noise) == ("top", 0.2, 0.1)
    # binary points are unchanged (no K-class field: their store keys stay)
    assert not set(MULTICLASS_FIELDS) - {"alpha", "delta", "label_noise"} & set(expand_grid({"alpha": 1})[0])


def test_prior_and_gram_are_one_value_or_an_axis():
    one = expand_grid({"alpha": 1, "prior": [0.5, 0.3, 0.2], "student": False})
    assert len(one) == 1 and one[0]["prior"] == [0.5, 0.3, 0.2] and one[0]["classes"] == 3
    axis = expand_grid({"alpha": 1, "prior": [[0.5, 0.3, 0.2], "0.4 0.4 0.2"], "student": False})
    assert [p["prior"] for p in axis] == [[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]]
    # an explicit gram (its text form in a table: rows separated by ';') and no geometry
    g = expand_grid({"alpha": 1, "gram": "1 0.6 0; 0.6 1 0; 0 0 1", "student": False})[0]
    assert g["gram"] == [[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert (g["geometry"], g["similarity"], g["norm"], g["classes"]) == (None, None, None, 3)
    assert make_problem(g).data == MulticlassMixture(prior=[1 / 3] * 3, gram=g["gram"], alpha=1.0)
    assert expand_grid({"alpha": 1, "gram": [[[1, 0.6], [0.6, 1]], [[1, 0], [0, 1]]], "student": False})[1][
        "gram"] == [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize("point, message", [
    ({"classes": 3, "rho": 0.3}, "rho is not a parameter of the K-class data"),
    ({"norm": 2.0}, "norm is a parameter of the K-class data"),
    ({"classes": 3, "similarity": 1.5}, "similarity must be in [-1.0, 0.99]"),
    ({"classes": 4, "similarity": -0.5}, "similarity must be >= -1/(K - 1)"),
    ({"classes": 1}, "classes must be an integer in [2, 50]"),
    ({"classes": 3, "label_noise": 0.7}, "label_noise must be below (K - 1) / K"),
    ({"classes": 4, "prior": [0.5, 0.5]}, "classes = 4 but the prior has 2 entries"),
    ({"prior": "a b c"}, "prior must be K numbers"),
    ({"gram": [[1, 0.6], [0.6, 1]], "similarity": 0.2}, "give either gram or a named geometry"),
    ({"gram": [[1, 2], [2, 1]]}, "gram must be positive semi-definite"),
    ({"classes": 3, "geometry": "ring"}, "geometry must be one of equal, pair"),
    ({"classes": 3, "teacher": "bayes-optimal"}, "not defined for the K-class model"),
    ({"classes": 3, "stage1.bias": "prior"}, "bias must be 'free' for the K-class model"),
    ({"classes": 3, "stage1.target": "fuzzy"}, "stage1.target must be one of soft, hard, top, smooth"),
    ({"classes": 3, "stage1.smoothing": 1.5}, "stage1.smoothing must be in [0.0, 0.99]"),
])
def test_bad_k_class_points_are_one_line_errors_naming_the_parameter(point, message):
    with pytest.raises(ParameterError) as exc:
        normalize_point({"alpha": 1.0, **point})
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_k_class_parameters_are_in_the_store_key():
    base = {"alpha": 1.0, **K3}
    keys = {point_key(normalize_point({**base, **d}), "theory", {"options": {}}, {}) for d in (
        {}, {"similarity": 0.2}, {"prior": [0.5, 0.3, 0.2]}, {"geometry": "pair"}, {"norm": 2.0},
        {"label_noise": 0.1}, {"classes": 4})}
    assert len(keys) == 7
    # a balanced prior given explicitly is the default one: the same key
    assert normalize_point({**base, "prior": [1 / 3] * 3}) == normalize_point(base)


def test_a_result_without_the_training_error_has_its_own_store_key():
    """``train_error=False`` (NaN training error) is never served for a point asked with it."""
    from kdlab.runs.backends import backend_settings

    pt = normalize_point({"alpha": 1.0, **K3})
    keys = {point_key(pt, "theory", backend_settings("theory", None, None, None, opts, None))
            for opts in ({}, {"train_error": False})}
    assert len(keys) == 2


# ----------------------------------------------------------------------------- tables and store


def test_theory_sweep_table_store_round_trip_and_cache_hit(tmp_path, monkeypatch):
    grid = {**K3, "alpha": 2.0, "similarity": [0.0, 0.5]}
    df = run_sweep(grid, backend="theory", store=tmp_path, n_jobs=1, progress=False)
    assert len(df) == 2 and df["status_converged"].all()
    # one flattening rule: scalars as stage<k>_<name>, arrays as stage<k>_<name>_<i>[_<j>]
    cols = set(df.columns)
    assert {"similarity", "geometry", "classes", "prior", "gram", "stage0_gen_error", "stage0_train_error"} <= cols
    assert {f"stage0_class_errors_{c}" for c in range(3)} | {f"stage0_bias_{c}" for c in range(3)} <= cols
    assert {f"stage0_{m}_{i}_{j}" for m in "MQ" for i in range(3) for j in range(3)} <= cols
    assert not any(c.startswith("stage1_") for c in cols)
    # eps_g is the prior-weighted mean of the class errors; more overlap, more error
    ce = df[[f"stage0_class_errors_{c}" for c in range(3)]].to_numpy()
    assert np.allclose(ce.mean(axis=1), df["stage0_gen_error"], rtol=1e-6)
    assert df["stage0_gen_error"].iloc[1] > df["stage0_gen_error"].iloc[0] + 0.01
    # the same numbers as the theory on the point's problem
    direct = kdlab.theory.solve(make_problem(normalize_point({**grid, "similarity": 0.5})))
    assert df["stage0_gen_error"].iloc[1] == pytest.approx(direct.teacher.gen_error, rel=1e-6)
    assert (df["prior"] == "0.333333 0.333333 0.333333").all()

    def boom(*a, **k):
        raise AssertionError("the cached sweep solved a point again")

    monkeypatch.setattr(kdlab.theory, "solve", boom)
    again = run_sweep(grid, backend="theory", store=tmp_path, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(again, df)


def test_simulation_sweep_with_students_targets_and_fresh_sets():
    grid = {"classes": 3, "alpha": 1.0, "similarity": 0.3, "stage1.target": ["soft", "smooth"],
            "stage1.data_alpha": 1.0, "stage1.temperature": 2.0}
    sw = Sweep(grid, backend="simulate", n_features=100, seeds=2)
    df = sw.run(n_jobs=1, progress=False)
    assert list(df["stage1_target"]) == ["soft", "smooth"] and df["status_converged"].all()
    assert {"stage1_class_errors_2", "stage1_class_errors_stderr_2", "stage1_P_2_2", "stage1_gen_error_stderr",
            "stage1_data_alpha"} <= set(df.columns)
    assert ((df["stage1_gen_error"] > 0) & (df["stage1_gen_error"] < 1)).all()
    # the batch (both chains on each seed's draws) equals each chain simulated alone
    alone = kdlab.simulate(make_problem(sw.tasks[1].point), n_features=100, seeds=[0, 1], n_jobs=1, progress=False)
    assert df["stage1_gen_error"].iloc[1] == pytest.approx(alone.student.gen_error, rel=1e-9)


# ----------------------------------------------------------------------------- sweep files and the CLI

SWEEP_FILE = """
[data]
classes = 3
geometry = "equal"
alpha = 2.0

[[stages]]
kind = "logistic"
lam = 0.1

[grid]
similarity = "0:0.4:2"
stage0.lam = [0.1, 1.0]

[sweep]
backend = "simulate"

[simulate]
n_features = 100
seeds = 2
"""


def test_read_sweep_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SWEEP_FILE)
    sf = read_sweep_file(path)
    assert sf.grid == {"similarity": [0.0, 0.4], "stage0.lam": [0.1, 1.0]}
    assert sf.base == {"classes": 3, "geometry": "equal", "alpha": 2.0, "stage0.kind": "logistic",
                       "stage0.lam": 0.1, "student": False}
    assert (sf.backend, sf.simulate) == ("simulate", {"n_features": 100, "seeds": 2})
    sw = sf.sweep()
    assert len(sw.tasks) == 4 and sw.n_features == 100 and sw.seeds == [0, 1]
    # a two-stage file: a teacher and a student on a fresh set
    path.write_text('[data]\nprior = [0.5, 0.3, 0.2]\nalpha = 1.0\n[[stages]]\n[[stages]]\ntarget = "top"\n'
                    'data = "fresh"\ndata_alpha = 3.0\n[grid]\nchi = [0.0, 1.0]\n')
    pts = read_sweep_file(path).sweep().tasks
    assert [(t.point["stage1_chi"], t.point["stage1_data_alpha"], t.point["stage1_target"]) for t in pts] == \
        [(0.0, 3.0, "top"), (1.0, 3.0, "top")]


def test_cli_sweep_file_end_to_end(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SWEEP_FILE)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["sweep", "--file", str(path), "-o", str(out), "--store", str(tmp_path / "st"),
                              "-j", "1", "-q"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert len(df) == 4 and set(df["backend"]) == {"simulate"} and set(df["n_features"]) == {100}
    assert sorted(set(df["similarity"])) == [0.0, 0.4] and "stage0_class_errors_2" in df.columns
    # -g adds / overrides axes, --backend the file's backend; theory on one teacher-only point
    res = runner.invoke(app, ["sweep", "-f", str(path), "-g", "similarity=0.2", "-g", "stage0.lam=0.1",
                              "-b", "theory", "-o", str(out), "-j", "1", "-q"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert len(df) == 1 and df["backend"].iloc[0] == "theory" and bool(df["status_converged"].iloc[0])
    # the grid alone on the command line, prior as its table text
    res = runner.invoke(app, ["sweep", "-g", "prior=0.5 0.3 0.2,0.4 0.4 0.2", "-g", "alpha=1", "-g", "student=false",
                              "-b", "simulate", "--n-features", "100", "--seeds", "2", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert list(pd.read_csv(out)["prior"]) == ["0.5 0.3 0.2", "0.4 0.4 0.2"]


@pytest.mark.parametrize("text, message", [
    ("[grid]\nsimilarity = [2.0]\nclasses = 3\nalpha = 1.0\n", "similarity must be in [-1.0, 0.99]"),
    ("[data]\nclasses = 3\nrho = 0.3\nalpha = 1.0\n[[stages]]\n", "rho is not a parameter of the K-class data"),
    ("[grid]\nbogus = [1]\n", "unknown sweep parameter 'bogus'"),
    ("[grid]\nalpha = 1\n[solver]\ntol = 1\n", "unknown table(s) solver"),
    ("[grid]\nalpha = 1\n[sweep]\nstore = 'x'\n", "[sweep] has no setting store"),
    ("[grid]\nalpha = 1\n[simulate]\ntol = 1e-3\n", "[simulate] tol is not a sweep setting"),
    ("[grid]\nalpha = 1\n[theory]\ntol = 5.0\n", "[theory] tol must be in (0.0, 1.0)"),
    ("[data]\nclasses = 3\nalpha = 1.0\n[[stages]]\n[[stages]]\ndata_alpha = 2.0\n", "data_alpha is only for"),
    ("[data]\nclasses = 3\nalpha = 1.0\n[[stages]]\nkind = 'bayes-optimal'\n", "not defined for the K-class"),
    ("alpha = [1, \n", "not valid TOML"),
])
def test_cli_bad_sweep_files_exit_2_with_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    res = runner.invoke(app, ["sweep", "--file", str(path), "-o", str(tmp_path / "o.csv"), "-q"])
    assert res.exit_code == 2
    assert message in res.stderr and f"sweep file {path}" in res.stderr and len(res.stderr.splitlines()) == 1


# ----------------------------------------------------------------------------- tuning

# K = 2, gram [[1, -1], [-1, 1]], prior (rho, 1 - rho): the binary model with the ridge halved
_MC2 = MulticlassMixture(alpha=2.0, prior=(0.3, 0.7), gram=((1, -1), (-1, 1)), label_noise=0.2)
_BIN = GaussianMixture(alpha=2.0, rho=0.3, label_noise=0.2)


def test_optimal_lam_through_a_k_class_sweep_finds_the_binary_optimum():
    ob = optimal_lam(Problem(_BIN, (LogisticTeacher(),)), bounds=(1e-3, 1e2), n_grid=5, xatol=0.02)
    assert not ob.at_bound
    point = {"alpha": 2.0, "prior": [0.3, 0.7], "gram": [[1, -1], [-1, 1]], "label_noise": 0.2,
             "student": False, "optimize": "teacher_lam"}
    df = run_sweep(point, backend="theory", optimize_options={"bounds": (2e-3, 2e2), "n_grid": 5, "xatol": 0.02},
                   n_jobs=1, progress=False)
    assert df["optimize"].iloc[0] == "stage0_lam" and df["optimize_evals"].iloc[0] == ob.n_evals
    assert df["stage0_lam"].iloc[0] == pytest.approx(2 * ob.value, rel=1e-4)
    assert df["stage0_gen_error"].iloc[0] == pytest.approx(ob.gen_error, abs=1e-8)


def test_optimal_stage_on_k_classes_finds_the_binary_optimum():
    def chain(lam):
        return (LogisticTeacher(lam=lam), Student(lam=lam, temperature=2.0, chi=0.3, data=Fresh(alpha=1.0)))

    kw = dict(sweeps=1, n_scan=3, xatol=0.05)
    ob = optimal_stage(Problem(_BIN, chain(0.1)), {"temperature": (0.5, 8.0)}, **kw)
    om = optimal_stage(Problem(_MC2, chain(0.2)), {"temperature": (0.5, 8.0)}, **kw)
    assert om.params["temperature"] == pytest.approx(ob.params["temperature"], rel=1e-3)
    assert om.gen_error == pytest.approx(ob.gen_error, abs=1e-8)
    assert om.result.data == _MC2 and om.n_evals == ob.n_evals


@pytest.mark.slow
def test_optimal_kd_on_k_classes_finds_the_binary_optimum():
    def chain(lam):
        return (LogisticTeacher(lam=lam), Student(lam=lam))

    kw = dict(n_chi=3, n_temperature=3, polish=False)
    ob = optimal_kd(Problem(_BIN, chain(0.1)), **kw)
    om = optimal_kd(Problem(_MC2, chain(0.2)), **kw)
    assert om.params == pytest.approx(ob.params, rel=1e-6)
    assert om.gen_error == pytest.approx(ob.gen_error, abs=1e-8)


def test_cli_optimize_lam_on_a_k_class_problem_file(tmp_path):
    path = tmp_path / "k2.toml"
    path.write_text('[data]\nprior = [0.3, 0.7]\ngram = [[1, -1], [-1, 1]]\nalpha = 2.0\nlabel_noise = 0.2\n'
                    '[[stages]]\nkind = "logistic"\n')
    res = runner.invoke(app, ["optimize", "lam", "--problem", str(path), "--which", "teacher",
                              "--bounds", "0.002,200", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ob = optimal_lam(Problem(_BIN, (LogisticTeacher(),)), bounds=(1e-3, 1e2))
    assert out["optimum"]["lam"] == pytest.approx(2 * ob.value, rel=1e-4)
    assert out["gen_error"] == pytest.approx(ob.gen_error, abs=1e-8)
    res = runner.invoke(app, ["optimize", "lam", "--problem", str(path), "--which", "teacher",
                              "--bounds", "0.002,200"])
    assert res.exit_code == 0 and "class_errors = " in res.stdout
