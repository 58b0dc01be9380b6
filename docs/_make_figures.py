"""Copy the figures and the report of a full ``kdlab reproduce`` run into the docs.

    PYTHONPATH=src python -m kdlab reproduce --out /tmp/full-run --n-jobs 2 --quiet   # minutes
    PYTHONPATH=src python docs/_make_figures.py /tmp/full-run

Writes docs/figures/<figure>.png (re-encoded with a 256-colour palette, lossless for these
line plots to the eye and a third of the size) and docs/talk-report.md (the run's report.md,
with its image links pointing at docs/figures/).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
FIGURES = ["regularization", "kd-logistic-teacher", "kd-bayes-teacher", "double-descent"]
MAX_BYTES = 250_000

HEADER = """# Report of a full run

!!! note "A snapshot"
    This page is the `report.md` that `kdlab reproduce --out /tmp/full-run --n-jobs 2 --quiet`
    wrote (the default, full run; see [Reproducing the talk](reproducing.md) for what it
    computes, and [Figures of a full run](figures.md) for the figures alone). Every number and
    verdict below is computed from that run's tables; rerun the command to regenerate it. The
    model is described on [The model](model.md) and the theory on [The theory](theory.md).

"""


def main(argv: list[str]) -> int:
    from PIL import Image

    run = Path(argv[0] if argv else "/tmp/full-run")
    (DOCS / "figures").mkdir(exist_ok=True)
    for name in FIGURES:
        im = Image.open(run / f"{name}.png").convert("RGB")
        out = DOCS / "figures" / f"{name}.png"
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, optimize=True)
        size = out.stat().st_size
        print(f"{out.relative_to(DOCS)}: {size // 1000} kB", file=sys.stderr)
        if size > MAX_BYTES:
            print(f"  over {MAX_BYTES // 1000} kB", file=sys.stderr)
    report = (run / "report.md").read_text()
    # the report's own title becomes the first section; images point at docs/figures/
    report = re.sub(r"\A# (.*)\n", r"## \1\n", report)
    report = re.sub(r"^## (?!Reproducing)", "### ", report, flags=re.M)
    report = re.sub(r"!\[([^\]]*)\]\(([\w-]+)\.png\)", r"![\1](figures/\2.png)", report)
    (DOCS / "talk-report.md").write_text(HEADER + report)
    print("wrote talk-report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
