"""Command-line interface ``kdlab``: one module per command group.

* :mod:`.problem_cmds` -- ``simulate``, ``theory``, ``theory-curve``
* :mod:`.runs_cmds` -- ``sweep``, ``optimize lam | kd``
* :mod:`.talk_cmds` -- ``reproduce``, ``figure``
* :mod:`.study_cmd` -- ``study``
* :mod:`.experiment_cmd` -- ``experiment digits``
"""

import contextlib
import errno
import os
import sys

from . import experiment_cmd, problem_cmds, runs_cmds, study_cmd, talk_cmds  # noqa: F401  (register the commands)
from ._app import app


def _output_failed(exc: OSError) -> int:
    """An OSError no command turned into a message, typically standard output that cannot be
    written (``> /dev/full``, a full disk): one line on stderr and exit status 2, never a
    traceback (a closed pipe, ``| head``: status 1, no message). Standard output is then
    pointed at /dev/null, so the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    if exc.errno == errno.EPIPE:
        return 1
    why = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename:
        msg = f"{exc.filename}: {why}"
    elif exc.errno in (errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EBADF):
        msg = f"cannot write the standard output: {why}"
    else:
        msg = why
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"Error: {msg}\n")
        sys.stderr.flush()
    return 2


def main() -> None:
    """The ``kdlab`` command; an output error (e.g. standard output on a full disk) is one line
    and exit status 2."""
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    except OSError as exc:
        code = _output_failed(exc)
    try:
        sys.stdout.flush()
    except OSError as exc:
        code = _output_failed(exc)
    sys.exit(code)


__all__ = ["app", "main"]
