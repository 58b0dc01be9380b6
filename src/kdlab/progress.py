"""Progress of a long run on stderr, readable wherever stderr goes.

On a terminal with a width: a tqdm bar (rate, time remaining), kept on screen when it finishes.
Anywhere else -- a pipe, a log file, a CI job, a terminal whose width is 0 or unknown, where a
bar is either invisible (tqdm draws nothing at width 0) or one endless line of carriage
returns -- :class:`PlainProgress`: one plain line when the step starts, one at most every
:data:`PLAIN_EVERY_S` seconds, and one when it ends, each ``desc: k/n unit(s), E s elapsed,
about R s left``. In Jupyter, tqdm's widget.
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["progress_bar", "plain_wanted", "PlainProgress", "SharedProgress", "PLAIN_EVERY_S", "MIN_BAR_COLUMNS"]

#: Seconds between two plain progress lines (at most).
PLAIN_EVERY_S = 15.0
#: A terminal narrower than this (0: unknown) gets plain lines.
MIN_BAR_COLUMNS = 20


def plain_wanted(stream) -> bool:
    """Should progress on ``stream`` be plain lines (not a terminal, or a terminal without a
    usable width)? Never in Jupyter (its widget is used)."""
    if "ipykernel" in sys.modules:
        return False
    try:
        if not stream.isatty():
            return True
        cols = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return True
    return cols < MIN_BAR_COLUMNS


class PlainProgress:
    """tqdm's ``update`` / ``set_postfix_str`` / ``close`` / ``n`` as plain lines (see the module doc)."""

    def __init__(self, total: int, initial: int = 0, desc: str = "", unit: str = "task", file=None):
        self.total, self.n, self._n0 = int(total), int(initial), int(initial)
        self.desc, self.unit, self.file = desc or "progress", unit, file
        self._t0 = self._last = time.monotonic()
        self._t1 = None  # when the first task finished: the rate is measured from there
        self._closed = False
        self.postfix = ""
        self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self._last = now
        el = now - self._t0
        msg = f"{self.desc}: {self.n}/{self.total} {self.unit}(s), {el:.0f} s elapsed"
        done = self.n - self._n0
        if done >= 2 and self._t1 is not None and self.n < self.total and now > self._t1:
            # from the first finished task on: the start (worker processes, imports) is not a task
            msg += f", about {(now - self._t1) / (done - 1) * (self.total - self.n):.0f} s left"
        if self.postfix:
            msg += f" ({self.postfix})"
        try:
            print(msg, file=self.file or sys.stderr, flush=True)
        except (OSError, ValueError):
            pass

    def update(self, k: int = 1) -> None:
        if self._t1 is None and k > 0:
            self._t1 = time.monotonic()
        self.n += k
        if time.monotonic() - self._last >= PLAIN_EVERY_S:
            self._line()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text added to the next line (as tqdm's postfix)."""
        self.postfix = str(s)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._line()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress_bar(total: int, done: int, enabled: bool, desc: str, unit: str = "task"):
    """The progress display of a run on stderr: a tqdm bar with the rate and the time remaining,
    kept on screen when it finishes, refreshed at least every second; plain lines where a bar
    cannot be seen (:func:`plain_wanted`); nothing if not ``enabled``."""
    from tqdm.auto import tqdm

    if enabled and plain_wanted(sys.stderr):
        return PlainProgress(total, done, desc, unit, sys.stderr)
    return tqdm(total=total, initial=done, disable=not enabled, unit=unit, desc=desc, leave=True,
                dynamic_ncols=True, mininterval=1.0, file=sys.stderr)


class SharedProgress:
    """One progress display for the parts of a run computed at once (the talk's figures): each
    sweep a part starts adds its tasks (:meth:`part`), so the total grows as the parts reach
    their next sweep, and the time remaining counts the tasks known so far (said in ``desc``).
    Thread-safe: the parts run in threads of this process. Truthy where a ``progress`` flag is
    expected; :func:`kdlab.runs.cached.run_cached` takes it in place of ``progress``."""

    def __init__(self, enabled: bool, desc: str, unit: str = "task"):
        self._lock = threading.Lock()
        self._bar = progress_bar(0, 0, enabled, desc, unit)

    def part(self, total: int, done: int = 0) -> "_Part":
        """Add a sweep of ``total`` tasks, ``done`` of them already (cached); returns its counter."""
        with self._lock:
            self._bar.total += int(total)
            if done:
                self._bar.update(int(done))
            elif hasattr(self._bar, "refresh"):
                self._bar.refresh()
        return _Part(self)

    def update(self, k: int = 1) -> None:
        with self._lock:
            self._bar.update(k)

    def close(self) -> None:
        with self._lock:
            self._bar.close()

    def __bool__(self) -> bool:
        return True


class _Part:
    """A sweep's view of a :class:`SharedProgress` (``update``; ``close`` and the postfix do nothing)."""

    def __init__(self, shared: SharedProgress):
        self._shared = shared

    def update(self, k: int = 1) -> None:
        self._shared.update(k)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass
