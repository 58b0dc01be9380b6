"""The real-data experiment ``kdlab experiment digits`` (quick variant).

PyTorch is required (the test command installs ``kdlab[dev,torch]``): a missing torch fails
loudly instead of skipping.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch  # noqa: F401  (required: fail loudly if missing)
from typer.testing import CliRunner

from kdlab.cli import app
from kdlab.experiments.digits import LABELS_TUNED, QUICK, DigitsConfig, _pct, run_digits

EXPECTED_FILES = {"grid_csv", "grid_parquet", "results_csv", "results_parquet", "summary_csv",
                  "summary_parquet", "figure_png", "figure_pdf", "report"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    return run_digits(out, quick=True), out


def test_quick_run_writes_everything(quick):
    res, out = quick
    assert set(res.files) == EXPECTED_FILES
    for path in res.files.values():
        assert path.parent == out and path.stat().st_size > 0
    assert res.files["figure_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.files["figure_pdf"].read_bytes()[:5] == b"%PDF-"
    for name, df in (("grid", res.grid), ("results", res.results), ("summary", res.summary)):
        back_csv = pd.read_csv(res.files[f"{name}_csv"])
        back_pq = pd.read_parquet(res.files[f"{name}_parquet"])
        assert len(back_csv) == len(back_pq) == len(df) > 0
        pd.testing.assert_frame_equal(back_pq, df.reset_index(drop=True))


def test_quick_run_tables_are_complete_and_finite(quick):
    res, _ = quick
    cfg = res.config
    assert cfg == QUICK and cfg.n_seeds >= 2
    g = res.grid
    n_student = (1 + len(cfg.kd_settings)) * len(cfg.student_weight_decays)
    assert len(g) == cfg.n_seeds * (len(cfg.teacher_weight_decays) + n_student)
    cols = ["train_error", "val_error", "val_nll", "test_error", "test_nll"]
    assert np.isfinite(g[cols].to_numpy()).all()
    assert ((g[["train_error", "val_error", "test_error"]] >= 0)
            & (g[["train_error", "val_error", "test_error"]] <= 1)).all().all()
    assert g.groupby("seed")["teacher_selected"].sum().eq(1).all()
    s = res.summary
    num = ["test_error_mean", "test_error_se", "diff_vs_labels_tuned_mean", "diff_vs_labels_tuned_se"]
    assert np.isfinite(s[num].to_numpy()).all()
    assert (s["n_seeds"] == cfg.n_seeds).all()
    base = s.set_index("method").loc[LABELS_TUNED]
    assert base["diff_vs_labels_tuned_mean"] == 0 and base["ties"] == cfg.n_seeds
    # the digits are easy for the teacher; a linear student on half the pixels is weaker
    teacher = s[s["method"].str.startswith("teacher")].iloc[0]
    assert teacher["test_error_mean"] < 0.12
    assert base["test_error_mean"] > teacher["test_error_mean"]
    # the tuned labels-only student is the best labels-only fit on validation
    lab = g[(g["model"] == "student") & (g["chi"] == 0)]
    chosen = res.results[res.results["method"] == LABELS_TUNED].set_index("seed")
    for seed, gs in lab.groupby("seed"):
        assert chosen.loc[seed, "val_error"] == gs["val_error"].min()


def test_summary_markdown_numbers_come_from_the_table(quick):
    res, _ = quick
    md = res.files["report"].read_text(encoding="utf-8")
    assert "nan" not in md.lower()
    for _, r in res.summary.iterrows():
        assert f"| {r['method']} | {_pct(r['test_error_mean'], r['test_error_se'])} |" in md
    assert re.search(r"\*\*Verdict: (KD helped|KD hurt|no significant difference)\*\*", md)
    assert f"{res.config.n_seeds} seeds" in md


def test_deterministic():
    cfg = replace(QUICK, n_seeds=1)
    a = run_digits(None, config=cfg)
    b = run_digits(None, config=cfg)
    pd.testing.assert_frame_equal(a.grid, b.grid)
    assert a.files == {}


def test_threads_restored():
    before = torch.get_num_threads()
    run_digits(None, config=replace(QUICK, n_seeds=1, kd_settings=()), threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kwargs", [dict(n_seeds=0), dict(n_train=1600), dict(pixel_fraction=0),
                                    dict(student_weight_decays=(1e-3,)), dict(kd_settings=((0.0, 1.0),)),
                                    dict(kd_settings=((0.5, -1.0),)), dict(teacher_weight_decays=())])
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        DigitsConfig(**kwargs)


def test_cli_quick(tmp_path):
    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["experiment", "digits", "--quick", "--seeds", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for name in ("digits_summary.md", "digits.png", "digits.pdf", "digits_summary.csv",
                 "digits_summary.parquet", "digits_results.csv", "digits_grid.parquet"):
        assert (out / name).is_file()
        assert str(out / name) in r.output
    s = pd.read_csv(out / "digits_summary.csv")
    assert (s["n_seeds"] == 2).all() and s["test_error_mean"].notna().all()


def test_cli_rejects_bad_seeds(tmp_path):
    r = CliRunner().invoke(app, ["experiment", "digits", "--quick", "--seeds", "0", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "--seeds must be >= 1" in r.output


def test_cli_without_torch_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from typer.testing import CliRunner\n"
            "from kdlab.cli import app\n"
            f"r = CliRunner().invoke(app, ['experiment', 'digits', '--quick', '--out', {str(tmp_path)!r}])\n"
            "print('EXIT', r.exit_code); print(r.output)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "EXIT 2" in p.stdout
    assert "pip install 'kdlab[torch]'" in p.stdout
    assert not any(tmp_path.iterdir())
