"""benchmarks/run_all.py as the README gives it (issue 21, item 9): its children use this
checkout's kdlab, every benchmark accepts the flags it passes, and a failing benchmark gives a
non-zero exit status and leaves RESULTS.md as it was. No real benchmark is run here (they take
minutes): fake benchmarks stand in for them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def run_all():
    return _load(BENCH / "run_all.py")


def test_every_benchmark_accepts_the_flags_run_all_passes(run_all):
    """Before: bench_chain.py rejected --quick."""
    assert run_all.BENCHES
    for _, script, extra in run_all.BENCHES:
        mod = _load(BENCH / script)
        for quick in (False, True):
            args = run_all.flags(extra, quick)
            assert ("--quick" in args) == quick
            ns = mod.build_parser().parse_args(args)  # SystemExit(2) on an unknown flag
            assert getattr(ns, "quick", False) == quick, script


OK = """import sys, kdlab
assert "--quick" in sys.argv[1:]
print("kdlab at", kdlab.__file__)
"""


def test_run_all_writes_results_only_when_every_benchmark_succeeds(run_all, tmp_path, monkeypatch, capsys):
    """Before: run_all exited 0 and overwrote RESULTS.md with the errors of failed benchmarks;
    its children could not import kdlab outside the virtual environment (they now get this
    checkout's src first on PYTHONPATH: the fake benchmark prints where kdlab came from)."""
    (tmp_path / "ok.py").write_text(OK)
    (tmp_path / "bad.py").write_text("import sys\nprint('partial output')\nsys.exit('bench failed: boom')\n")
    out = tmp_path / "RESULTS.md"
    out.write_text("precious\n")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    rc = run_all.run([("OK", "ok.py", []), ("Bad", "bad.py", [])], tmp_path, out, quick=True)
    err = capsys.readouterr().err
    assert rc == 1 and out.read_text() == "precious\n"
    assert "bad.py: exit status 1" in err and "boom" in err and "left as it was" in err, err
    rc = run_all.run([("OK", "ok.py", [])], tmp_path, out, quick=True)
    text = out.read_text()
    assert rc == 0 and "## OK" in text and "exit status 0" in text
    assert f"kdlab at {ROOT / 'src' / 'kdlab' / '__init__.py'}" in text, text
