"""``kdlab experiment ...``: real-data experiments (need the extra ``kdlab[torch]``).

PyTorch is imported inside the commands only, so the rest of the CLI works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import KdlabError
from ._app import app, flag
from .options import fail

experiment_app = typer.Typer(
    help="Real-data knowledge-distillation experiments (need PyTorch: pip install 'kdlab\\[torch]').",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("digits")
def digits_command(
    quick: Annotated[bool, flag("--quick", help="Small, fast variant (seconds; for tests).")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("results/digits"),
    seeds: Annotated[Optional[int], typer.Option("--seeds",
                                                 help="Number of seeds (>= 1; default 10, quick 2).")] = None,
    t2_scaling: Annotated[bool, flag("--t2-scaling/--no-t2-scaling",
                                             help="Multiply the KD term by T^2 (Hinton's convention).")] = False,
    threads: Annotated[int, typer.Option("--threads", help="PyTorch threads (>= 1).")] = 1,
    progress: Annotated[bool, flag("--progress/--quiet",
                                           help="Progress bar on stderr (--quiet: none).")] = True,
    force: Annotated[bool, flag("--force", help="Write into OUT even if another pipeline owns it (its files "
                                                "listed in OUT/manifest.json are removed first).")] = False,
) -> None:
    """MLP teacher -> sparse linear student on sklearn's digits: KD vs labels only.

    Writes tables (CSV + Parquet), a figure (PNG + PDF) and a Markdown summary to --out.
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        fail("this command needs PyTorch: pip install 'kdlab[torch]'")
    from dataclasses import replace

    from ..experiments.digits import FULL, QUICK, run_digits

    if seeds is not None and seeds < 1:
        fail(f"--seeds must be >= 1, got {seeds}")
    if threads < 1:
        fail(f"--threads must be >= 1, got {threads}")
    cfg = QUICK if quick else FULL
    try:
        cfg = replace(cfg, t2_scaling=t2_scaling, n_seeds=seeds if seeds is not None else cfg.n_seeds)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"digits experiment: {cfg.n_seeds} seeds{' (quick)' if quick else ''} -> {out}", err=True)
    try:
        res = run_digits(out, config=cfg, threads=threads, progress=progress, force=force)
    except (OSError, KdlabError) as exc:
        fail(f"cannot write to {out}: {exc}")
    typer.echo(f"done in {res.seconds:.1f} s; outputs:")
    for path in res.files.values():
        typer.echo(f"  {path}")
