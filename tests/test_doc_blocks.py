"""Every code block of the README and of docs/ runs as written (issue 21, item 11).

* ``python`` blocks run in order, one namespace per page, in a scratch folder;
* ``bash`` blocks run line by line (``kdlab`` is this checkout's, ``python`` this interpreter)
  in one scratch folder shared by all pages (a command shown twice reuses its cache);
* ``toml`` blocks with a file name (`` ```toml title="chain.toml" ``) are written there before
  the blocks of their page run, so the commands that read them find them; every ``toml`` block
  must load as a problem file (a sweep file, if it has a ``[grid]`` table);
* a block whose info string carries the class ``.minutes`` (`` ```bash { .minutes } ``) is not
  run: that marker is allowed only on commands that take minutes or install packages (a
  default-size ``kdlab reproduce`` / ``study`` / ``experiment digits``, ``pip install``,
  ``pytest``, ``mkdocs``, the benchmarks without ``--quick``), which the test checks;
* a block without a language is a synopsis or text and must not hold a runnable command line.

The blocks that run are slow on the whole (minutes): ``--runslow``. The rules on markers and
file names are checked always.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<ind>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=ind)```[ \t]*$", re.M | re.S)
#: Commands a ``.minutes`` block may hold (each line, each part of ``a && b``).
LONG = [r"python3? -m venv \S+", r"(\.venv/bin/)?pip install .*", r"(\.venv/bin/)?(python -m )?pytest.*",
        r"(\.venv/bin/)?mkdocs (build|serve).*", r"(\.venv/bin/)?kdlab reproduce(?!.*--quick).*",
        r"(\.venv/bin/)?kdlab study (?!--list)(?!.*--quick).*", r"(\.venv/bin/)?kdlab experiment digits(?!.*--quick).*",
        r"python3? benchmarks/run_all\.py(?!.*--quick).*"]


def _blocks():
    out = []
    for page in PAGES:
        for m in FENCE.finditer(page.read_text(encoding="utf-8")):
            info = m["info"].strip()
            lang = info.split()[0].strip("{}.") if info and not info.startswith("{") else \
                (re.findall(r"\.(\w+)", info)[:1] or [""])[0]
            body = "\n".join(ln[len(m["ind"]):] for ln in m["body"].splitlines())
            line = page.read_text(encoding="utf-8")[:m.start()].count("\n") + 1
            title = re.search(r'title="([^"]+)"', info)
            out.append(dict(page=page.relative_to(ROOT).as_posix(), line=line, lang=lang, info=info, body=body,
                            minutes=".minutes" in info, title=title.group(1) if title else None))
    return out


BLOCKS = _blocks()


def _commands(body: str) -> list[str]:
    """The command lines of a shell block: continuations joined, comments and blank lines dropped."""
    text = re.sub(r"\\\n\s*", " ", body)
    cmds = []
    for ln in text.splitlines():
        ln = re.sub(r"\s+#.*$", "", ln).strip()
        if ln and not ln.startswith("#"):
            cmds.append(ln)
    return cmds


def test_the_blocks_are_found():
    langs = {b["lang"] for b in BLOCKS}
    assert {"python", "bash", "toml"} <= langs
    assert sum(b["lang"] == "python" for b in BLOCKS) >= 15 and sum(b["lang"] == "bash" for b in BLOCKS) >= 15


def test_minutes_marks_only_commands_that_take_minutes():
    marked = [b for b in BLOCKS if b["minutes"]]
    assert marked, "no block carries the .minutes marker"
    for b in marked:
        assert b["lang"] == "bash", (b["page"], b["line"])
        for cmd in _commands(b["body"]):
            for part in cmd.split("&&"):
                part = part.strip()
                assert any(re.fullmatch(p, part) for p in LONG), \
                    f"{b['page']}:{b['line']}: '{part}' is marked .minutes but is not a long command: run it"


def test_unlabelled_blocks_hold_no_command_to_run():
    for b in BLOCKS:
        if b["lang"] == "":
            for ln in b["body"].splitlines():
                assert not (ln.startswith("kdlab ") and "[" not in ln and "NAME" not in ln), \
                    f"{b['page']}:{b['line']}: an unlabelled block holds the command '{ln}': label it bash"


def test_toml_blocks_are_problem_or_sweep_files(tmp_path):
    """A block with a ``[grid]`` table is a sweep file (its sweep must build), any other a problem file."""
    from kdlab.problem import load_problem
    from kdlab.runs.sweepfile import read_sweep_file

    tomls = [b for b in BLOCKS if b["lang"] == "toml"]
    assert any(b["page"] == "README.md" and b["title"] == "chain.toml" for b in tomls)
    assert any(b["page"] == "docs/model.md" for b in tomls)
    assert any(b["page"] == "docs/commands/sweep.md" and "[grid]" in b["body"] for b in tomls)
    for i, b in enumerate(tomls):
        f = tmp_path / (b["title"] or f"block{i}.toml")
        f.write_text(b["body"])
        if re.search(r"^\[grid\]", b["body"], re.M):
            assert read_sweep_file(f).sweep().tasks, (b["page"], b["line"])
        else:
            assert load_problem(f).stages, (b["page"], b["line"])


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
                MPLBACKEND="Agg")


def _shell(cmd: str) -> str:
    """``cmd`` with this checkout's kdlab and this interpreter."""
    py = shlex.quote(sys.executable)
    cmd = re.sub(r"(^|&&\s*|\|\s*)(\.venv/bin/)?kdlab\b", lambda m: f"{m.group(1)}{py} -m kdlab", cmd)
    return re.sub(r"(^|&&\s*)python3?\b", lambda m: f"{m.group(1)}{py}", cmd)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One scratch folder holding every named TOML block (a page that uses ``chain.toml``
    without showing it finds the one of docs/chains.md); a page's own blocks win while it runs."""
    d = tmp_path_factory.mktemp("blocks")
    for page in sorted({b["page"] for b in BLOCKS}, key=lambda p: p == "docs/chains.md"):
        _files_of(page, d)
    return d


def _files_of(page: str, folder: Path) -> None:
    """Write the page's named TOML blocks into ``folder`` (the files its commands read)."""
    for b in BLOCKS:
        if b["page"] == page and b["lang"] == "toml" and b["title"]:
            (folder / b["title"]).write_text(b["body"])


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted({b["page"] for b in BLOCKS if b["lang"] == "python"}))
def test_python_blocks_run(page, scratch, monkeypatch):
    monkeypatch.chdir(scratch)
    _files_of(page, scratch)
    ns: dict = {"__name__": "__docs__"}
    for b in (b for b in BLOCKS if b["page"] == page and b["lang"] == "python"):
        try:
            exec(compile(b["body"], f"{page}:{b['line']}", "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - report which block failed
            pytest.fail(f"{page}:{b['line']}: {type(exc).__name__}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if b["lang"] == "bash" and not b["minutes"]],
                         ids=lambda b: f"{b['page']}:{b['line']}")
def test_bash_blocks_run(block, scratch):
    _files_of(block["page"], scratch)
    for cmd in _commands(block["body"]):
        p = subprocess.run(_shell(cmd), shell=True, cwd=scratch, env=_env(), capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, f"{block['page']}:{block['line']}: {cmd}\n{p.stderr[-2000:]}"


def test_every_kdlab_name_in_the_docs_exists():
    """Every dotted name ``kdlab.x.y`` quoted in the README and docs resolves (before: the
    README's ``kdlab.talk.reproduce`` raised AttributeError after ``import kdlab``; the reliability
    page named ``kdlab.plotting.label_log_axes``), and the README's ``import kdlab;
    kdlab.talk.reproduce`` works in a fresh interpreter."""
    import importlib

    bad = []
    for page in PAGES:
        for name in sorted(set(re.findall(r"`(kdlab(?:\.[A-Za-z_]\w*)+)", page.read_text(encoding="utf-8")))):
            parts = name.split(".")
            for i in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                    break
                except ImportError:
                    continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            if obj is None:
                bad.append(f"{page.relative_to(ROOT)}: {name}")
    assert not bad, bad
    code = "import kdlab; print(kdlab.talk.reproduce.__name__, kdlab.studies.study.__name__, kdlab.__version__)"
    p = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("reproduce study "), p.stderr
