"""Command-line interface: ``kdlab simulate | theory | reproduce | figure | experiment``."""

from ._app import app
from . import problem_cmds  # noqa: F401  (registers commands)
from . import reproduce_cmd  # noqa: F401
from . import talk_cmds  # noqa: F401
from . import experiment_cmd  # noqa: F401


def main() -> None:
    app()


__all__ = ["app", "main"]
