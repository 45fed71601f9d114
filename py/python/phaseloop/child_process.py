"""Node's ``child_process.spawn`` on phaseloop: ``Process``, made by ``Loop.spawn``.

- ``loop.spawn(args, *, cwd=None, env=None, stdin="pipe", stdout="pipe", stderr="pipe",
  on_exit=None)`` starts ``args[0]`` with ``args[1:]``; each stdio is ``"pipe"`` (a
  ``phaseloop.net.Stream`` on ``process.stdin`` / ``stdout`` / ``stderr``), ``"inherit"``,
  ``"ignore"`` or an fd. A program that cannot start raises ``OSError`` at once
  (``FileNotFoundError``, ``PermissionError``), as libuv returns it (Node emits it as
  ``"error"`` instead).
- ``"exit"(exit_code, signal)`` runs in the poll phase when the child has exited (``signal`` is
  the number of the signal that killed it, or ``None``); ``"close"(exit_code, signal)`` once it
  has exited and its stdout and stderr pipes have closed, so every byte it wrote came first.
"""

from __future__ import annotations

import os
import signal as _signal
from collections.abc import Callable
from typing import Any

from .net import Stream, _check_callable, _check_label, _Emitter

_PROCESS_EVENTS = frozenset({"exit", "close", "error"})


class Process(_Emitter):
    """A child process: Node's ``ChildProcess``."""

    _EVENTS = _PROCESS_EVENTS

    def __init__(self, loop: Any, *, label: str | None) -> None:
        super().__init__()
        self.loop = loop
        self.label = label
        self.pid = 0
        self.exit_code: int | None = None
        self.signal_code: int | None = None
        self.stdin: Stream | None = None
        self.stdout: Stream | None = None
        self.stderr: Stream | None = None
        self._id: int | None = None
        self._exited = False
        self._closes_needed = 1
        self._closes_got = 0
        self._refed = True

    def _attach(self, index: int, stream_id: int | None) -> None:
        if stream_id is None:
            return
        stream = Stream(self.loop, label=self.label, allow_half_open=False)
        stream._id = stream_id
        if index == 0:
            stream.readable = False
            self.stdin = stream
        else:
            stream.writable = False
            self._closes_needed += 1
            # Registered before any of the user's: Node's child "close" comes from inside
            # the last stdio stream's "close".
            stream.on("close", self._maybe_close)
            if index == 1:
                self.stdout = stream
            else:
                self.stderr = stream

    def _on_exit(self, exit_code: int | None, signal: int | None) -> None:
        self._exited = True
        self.exit_code = exit_code
        self.signal_code = signal
        if self._id is not None:
            self.loop._close_stream(self._id, None, self.label)
        self.emit("exit", exit_code, signal)
        self.loop.next_tick(self._flush_stdio, label=self.label)
        self._maybe_close()

    def _flush_stdio(self) -> None:
        # As Node's flushStdio: output nobody reads is drained, so the pipes end and close.
        for stream in (self.stdout, self.stderr):
            if stream is not None and stream._flowing is None and not stream.destroyed:
                stream.resume()

    def _maybe_close(self, *_args: Any) -> None:
        self._closes_got += 1
        if self._closes_got == self._closes_needed:
            self.emit("close", self.exit_code, self.signal_code)

    def kill(self, signal: int = _signal.SIGTERM) -> bool:
        """Sends ``signal``; ``False`` if the child has exited already."""
        if isinstance(signal, bool) or not isinstance(signal, int):
            raise TypeError(f"signal must be an int, not {type(signal).__name__}")
        if self._exited or self._id is None:
            return False
        try:
            self.loop._process_kill(self._id, int(signal))
        except ProcessLookupError:
            return False
        return True

    def ref(self) -> Process:
        """Keeps the loop alive until the child exits (the default)."""
        self._refed = True
        if not self._exited and self._id is not None:
            self.loop._set_stream_ref(self._id, True)
        return self

    def unref(self) -> Process:
        """Lets the loop end while the child runs."""
        self._refed = False
        if not self._exited and self._id is not None:
            self.loop._set_stream_ref(self._id, False)
        return self

    def has_ref(self) -> bool:
        """Whether ``unref()`` has not been called (since the last ``ref()``)."""
        return self._refed

    @property
    def id(self) -> int | None:
        """The core's id of the process handle."""
        return self._id

    def __repr__(self) -> str:
        state = (
            "running"
            if not self._exited
            else f"exited {self.exit_code} {self.signal_code}"
        )
        return f"<phaseloop.child_process.Process pid={self.pid} {state}>"


def _spawn(
    loop: Any,
    args: Any,
    *,
    cwd: Any = None,
    env: dict[str, str] | None = None,
    stdin: Any = "pipe",
    stdout: Any = "pipe",
    stderr: Any = "pipe",
    on_exit: Callable[[int | None, int | None], Any] | None = None,
    label: str | None = None,
) -> Process:
    if isinstance(args, (str, bytes)) or not hasattr(args, "__iter__"):
        raise TypeError(f"args must be a list of str, not {type(args).__name__}")
    argv = [os.fspath(a) for a in args]
    if not argv:
        raise ValueError("args must name a program")
    if on_exit is not None:
        _check_callable(on_exit, "on_exit")
    label = _check_label(label)
    pairs = None
    if env is not None:
        if not hasattr(env, "items"):
            raise TypeError(
                f"env must be a mapping of str to str, not {type(env).__name__}"
            )
        pairs = [(str(k), str(v)) for k, v in env.items()]
    if cwd is not None:
        cwd = os.fspath(cwd)
    process = Process(loop, label=label or f"process {os.path.basename(str(argv[0]))}")
    if on_exit is not None:
        process.on("exit", on_exit)
    pid_id, pid, stdio = loop._spawn(
        argv[0],
        argv[1:],
        pairs,
        cwd,
        stdin,
        stdout,
        stderr,
        process._on_exit,
        process.label,
    )
    process._id = pid_id
    process.pid = pid
    for index, stream_id in enumerate(stdio):
        process._attach(index, stream_id)
    return process


__all__ = ["Process"]
