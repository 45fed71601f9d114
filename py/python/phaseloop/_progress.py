"""Feedback while a long experiment runs: iterations and callbacks so far, on stderr.

A thread wakes up a few times a second and, once the run has lasted longer than a second,
shows the `CallbackCounter`'s figures: on a terminal as one status line rewritten in place, in
a file or a pipe as a line per second. It reads two ints and never calls the loop, so it cannot
change what the loop does; it keeps working while a callback blocks the loop.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO, final

from .experiment import CallbackCounter


@final
class Progress:
    """A context manager that shows how far a run has got while its block runs.

    ``echo(text)`` prints a line of the experiment's log on ``out`` without garbling the status
    line. ``after``: seconds before the first report; ``enabled=False`` shows nothing.
    """

    def __init__(
        self,
        counter: CallbackCounter,
        *,
        stream: TextIO | None = None,
        out: TextIO | None = None,
        after: float = 1.0,
        enabled: bool = True,
    ) -> None:
        self._counter = counter
        self._stream = sys.stderr if stream is None else stream
        self._out = sys.stdout if out is None else out
        self._after = after
        self._enabled = enabled
        self._tty = _isatty(self._stream)
        # A terminal gets a fresh status line often; a log file one line a second.
        self._every = 0.2 if self._tty else 1.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status_shown = False
        self._started = 0.0

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        if self._enabled:
            self._thread = threading.Thread(
                target=self._report, name="phaseloop-progress", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._clear_status()

    def echo(self, text: str) -> None:
        """Prints one log line on ``out`` (the status line, if shown, is redrawn later)."""
        with self._lock:
            self._clear_status()
            self._out.write(text + "\n")
            self._out.flush()

    def _report(self) -> None:
        delay = self._after
        while not self._stop.wait(delay):
            delay = self._every
            elapsed = time.monotonic() - self._started
            status = (
                f"phaseloop: {elapsed:.1f} s, iteration {self._counter.iteration}, "
                f"{self._counter.started} callbacks so far (Ctrl-C: timeline so far)"
            )
            with self._lock:
                if self._tty:
                    self._stream.write("\r\x1b[K" + status)
                    self._status_shown = True
                else:
                    self._stream.write(status + "\n")
                self._stream.flush()

    def _clear_status(self) -> None:
        if self._status_shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._status_shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (
        AttributeError,
        ValueError,
    ):  # a closed or file-like stream without a terminal
        return False
