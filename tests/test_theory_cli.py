"""``kdlab theory`` and ``kdlab theory-curve``."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kdlab import GaussianMixture, LogisticTeacher, Student
from kdlab.cli import app
from kdlab.theory import solve

runner = CliRunner()
POINT = ["--alpha", "2", "--rho", "0.3", "--teacher", "logistic", "--teacher-lam", "0.1", "--eta", "0.5",
         "--chi", "0.5", "--temperature", "2", "--lam", "0.1"]


def test_theory_json_layout_matches_simulate_without_stderr():
    res = runner.invoke(app, ["theory", *POINT, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["backend"] == "theory" and "n_features" not in out and "n_seeds" not in out
    for block, keys in ((out["stages"][0], ["gen_error", "train_error", "train_loss", "m", "q", "bias"]),
                        (out["stages"][1], ["gen_error", "train_error", "train_loss", "m", "q", "bias", "p"])):
        for k in keys:
            assert isinstance(block[k], float)
        assert not any(k.endswith("_stderr") for k in block)
    assert out["problem"] == {"data": {"alpha": 2.0, "delta": 1.0, "rho": 0.3, "label_noise": 0.0},
                              "stages": [{"kind": "logistic", "lam": 0.1, "eta": 1.0, "bias": "free",
                                          "class_weight": 1.0},
                                         {"kind": "student", "eta": 0.5, "chi": 0.5, "temperature": 2.0,
                                          "lam": 0.1, "t2_scaling": False, "target": "soft", "smoothing": 0.1,
                                          "bias": "free", "class_weight": 1.0, "data": "shared"}]}
    assert out["status"]["converged"] is True
    ref = solve(GaussianMixture(2.0, 1.0, 0.3), LogisticTeacher(0.1), Student(0.5, 0.5, 2.0, 0.1))
    assert out["stages"][1]["gen_error"] == ref.student.gen_error
    assert out["extra"]["bayes_error_sparse"] == ref.extra["bayes_error_sparse"]


def test_theory_bayes_teacher_only_and_t2():
    res = runner.invoke(app, ["theory", "--teacher", "bayes-optimal", "--no-student", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["stages"]) == 1 and out["problem"]["stages"][0]["kind"] == "bayes-optimal"
    res = runner.invoke(app, ["theory", *POINT, "--t2-scaling", "--json"])
    assert json.loads(res.stdout)["problem"]["stages"][1]["t2_scaling"] is True


def test_theory_text_output():
    res = runner.invoke(app, ["theory", *POINT])
    assert res.exit_code == 0 and "gen_error=" in res.stdout and "converged=True" in res.stdout


@pytest.mark.parametrize("args, message", [
    (["--rho", "1.2"], "rho"), (["--alpha", "-1"], "alpha"), (["--eta", "0"], "eta"),
    (["--chi", "2", "--temperature", "2"], "chi"), (["--temperature", "-1"], "temperature"), (["--lam", "-1"], "lam"),
    (["--teacher", "svm"], "teacher"), (["--tol", "0"], "tol"), (["--maxiter", "0"], "maxiter"),
    (["--method", "newton"], "method"),
])
def test_theory_invalid_input_exits_nonzero(args, message):
    res = subprocess.run([sys.executable, "-m", "kdlab", "theory", *args], capture_output=True, text=True)
    assert res.returncode != 0
    assert message in res.stderr and "Error" in res.stderr


def test_theory_not_converged_warns_and_strict_fails():
    res = runner.invoke(app, ["theory", "--alpha", "0.5", "--teacher-lam", "0", "--json"])
    assert res.exit_code == 0
    assert "not converged" in res.stderr
    res = runner.invoke(app, ["theory", "--alpha", "0.5", "--teacher-lam", "0", "--strict"])
    assert res.exit_code == 1


def test_theory_curve(tmp_path):
    out = tmp_path / "curve.csv"
    res = runner.invoke(app, ["theory-curve", "--along", "alpha", "--values", "0.5:3:6", *POINT[2:],
                              "--no-progress", "--output", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["alpha"] for r in rows] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    assert all(r["status_converged"] for r in rows)
    import pandas as pd

    df = pd.read_csv(out)
    assert len(df) == 6 and "stage1_gen_error" in df


def test_theory_curve_progress_and_errors():
    res = runner.invoke(app, ["theory-curve", "--along", "lam", "--values", "log:0.01:1:3"])
    assert res.exit_code == 0, res.output
    assert "stage1_gen_error" in res.stdout
    for args, msg in ((["--along", "beta"], "along"), (["--values", "1:2"], "values"),
                      (["--along", "alpha", "--values", "-1,1"], "alpha"),
                      (["--output", "x.txt"], "output")):
        r = subprocess.run([sys.executable, "-m", "kdlab", "theory-curve", "--no-progress", *args],
                           capture_output=True, text=True)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)


def test_problem_file_solver_options_are_declared_and_overridable(tmp_path):
    """A problem file's [theory] / [simulate] tables hold solver options, validated against their
    one declaration; an option given on the command line wins over the file's."""
    from kdlab.problem import read_problem_file

    f = tmp_path / "p.toml"
    f.write_text('[data]\nalpha = 2.0\n\n[[stages]]\nkind = "logistic"\n\n[theory]\nmaxiter = 2\n\n'
                 '[simulate]\nn_features = 60\nseeds = 2\n')
    pf = read_problem_file(f)
    assert pf.theory == {"maxiter": 2} and pf.simulate == {"n_features": 60, "seeds": 2}
    r = runner.invoke(app, ["theory", "--problem", str(f), "--json"])
    assert json.loads(r.stdout)["status"]["converged"] is False  # maxiter = 2 from the file
    r = runner.invoke(app, ["theory", "--problem", str(f), "--maxiter", "500", "--json"])
    assert json.loads(r.stdout)["status"]["converged"] is True  # the command line wins
    r = runner.invoke(app, ["simulate", "--problem", str(f), "--json", "--quiet"])
    assert r.exit_code == 0 and json.loads(r.stdout)["n_features"] == 60 and json.loads(r.stdout)["n_seeds"] == 2
    for table, bad, name in (("theory", "tol = 0", "tol"), ("theory", 'method = "newton"', "method"),
                             ("simulate", "n_features = 1", "n_features"), ("theory", "colour = 1", "colour")):
        f.write_text(f'[data]\nalpha = 2.0\n\n[[stages]]\nkind = "logistic"\n\n[{table}]\n{bad}\n')
        r = subprocess.run([sys.executable, "-m", "kdlab", "theory", "--problem", str(f)], capture_output=True,
                           text=True)
        assert r.returncode == 2 and name in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
