"""Command-line interface ``kdlab``: one module per command group.

* :mod:`.problem_cmds` -- ``simulate``, ``theory``, ``theory-curve``
* :mod:`.runs_cmds` -- ``sweep``, ``optimize lam | kd``
* :mod:`.talk_cmds` -- ``reproduce``, ``figure``
* :mod:`.study_cmd` -- ``study``
* :mod:`.experiment_cmd` -- ``experiment digits``
"""

from . import experiment_cmd, problem_cmds, runs_cmds, study_cmd, talk_cmds  # noqa: F401  (register the commands)
from ._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
