"""Node's ``child_process.spawn`` on phaseloop: ``Process``, made by ``Loop.spawn``."""

from typing import Self

from . import Loop
from .net import Stream, _Emitter

class Process(_Emitter):
    """A child process: Node's ``ChildProcess``."""

    loop: Loop
    label: str | None
    pid: int
    exit_code: int | None
    signal_code: int | None
    stdin: Stream | None
    stdout: Stream | None
    stderr: Stream | None
    def __init__(self, loop: Loop, *, label: str | None) -> None: ...
    def kill(self, signal: int = ...) -> bool: ...
    def ref(self) -> Self: ...
    def unref(self) -> Self: ...
    def has_ref(self) -> bool: ...
    @property
    def id(self) -> int | None: ...

__all__ = ["Process"]
