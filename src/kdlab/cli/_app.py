"""The ``kdlab`` Typer application; command modules register on it."""

import typer

app = typer.Typer(
    help="kdlab: knowledge distillation in a solvable model (theory and simulation).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def flag(*param_decls, **kwargs):
    """``typer.Option`` for a boolean flag (no type shown after it in ``--help``)."""
    return typer.Option(*param_decls, metavar="", **kwargs)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"kdlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version (kdlab X.Y.Z) and exit.")) -> None:
    """kdlab: knowledge distillation in a solvable model (theory and simulation)."""
    import warnings

    warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning of a command as one line on stderr, ``Warning: <message>`` (no source line)."""
    return f"Warning: {message}\n"
