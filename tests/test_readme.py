"""The README's test command is what CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash[^\n]*\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) >= 2
    main_cmd, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert "kdlab reproduce" in main_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()
