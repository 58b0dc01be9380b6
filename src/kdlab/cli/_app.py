"""The ``kdlab`` Typer application; command modules register on it."""

import typer

app = typer.Typer(
    help="kdlab: knowledge distillation in a solvable model (theory and simulation).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


@app.callback()
def _root() -> None:
    """kdlab: knowledge distillation in a solvable model (theory and simulation)."""
