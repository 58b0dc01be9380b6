import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kdlab.cli import app

runner = CliRunner()


def test_simulate_json_layout():
    res = runner.invoke(app, ["simulate", "--alpha", "2", "--rho", "0.3", "--teacher", "logistic",
                              "--teacher-lam", "0.1", "--eta", "0.5", "--chi", "0.5", "--temperature", "2",
                              "--lam", "0.1", "--n-features", "100", "--seeds", "3", "--json",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) >= {"backend", "problem", "stages", "overlaps", "status", "n_features", "n_seeds"}
    assert "teacher" not in out and "student" not in out  # one block per stage, named by its index
    for block, keys in ((out["stages"][0], ["gen_error", "m", "q", "bias"]),
                        (out["stages"][1], ["gen_error", "m", "q", "bias", "p"])):
        for k in keys:
            assert isinstance(block[k], float)
            assert isinstance(block[f"{k}_stderr"], float)
    assert out["problem"]["stages"][1]["temperature"] == 2.0 and out["n_seeds"] == 3


def test_simulate_bayes_teacher_only():
    res = runner.invoke(app, ["simulate", "--teacher", "bayes-optimal", "--no-student", "--n-features", "100",
                              "--seeds", "2", "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["stages"]) == 1 and out["problem"]["stages"][0]["kind"] == "bayes-optimal"


@pytest.mark.parametrize("args, message", [
    (["--rho", "1.2"], "rho"), (["--alpha", "-1"], "alpha"), (["--eta", "0"], "eta"),
    (["--chi", "2", "--temperature", "2"], "chi"), (["--temperature", "-1"], "temperature"), (["--lam", "-1"], "lam"),
    (["--teacher", "svm"], "teacher"), (["--n-features", "1"], "n-features"), (["--seeds", "0"], "seeds"),
])
def test_simulate_invalid_input_exits_nonzero(args, message):
    res = subprocess.run([sys.executable, "-m", "kdlab", "simulate", "--no-progress", *args],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert message in res.stderr and "Error" in res.stderr
