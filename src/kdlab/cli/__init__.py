"""Command-line interface: ``kdlab simulate | theory | reproduce | figure | experiment``."""

from ._app import app
from . import simulate_cmd  # noqa: F401  (registers commands)
from . import theory_cmd  # noqa: F401
from . import reproduce_cmd  # noqa: F401
from . import runs_cmds  # noqa: F401
from . import experiment_cmd  # noqa: F401


def main() -> None:
    app()


__all__ = ["app", "main"]
