"""Type stubs for phaseloop.experiment: run a script's ``experiment(loop, log)``, recorded."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

from typing_extensions import TypeAlias  # noqa: UP035 (typing has it from 3.10 only)

from . import Loop
from .timeline import LogLine, Timeline

Clock: TypeAlias = Literal["virtual", "real"]
Drain: TypeAlias = Literal["callback", "phase"]
Status: TypeAlias = Literal["finished", "interrupted", "failed"]

CLOCKS: tuple[Clock, ...]
DRAINS: tuple[Drain, ...]

class CallbackCounter:
    """The loop's trace hook during an experiment: counts the callbacks that started."""

    started: int
    iteration: int
    def __init__(self) -> None: ...
    def __call__(
        self, iteration: int, phase: str | None, kind: str, callback: object
    ) -> None: ...
    @property
    def current(self) -> int | None:
        """The timeline index of the callback running now, ``None`` before the first one."""

class Log:
    """``log(*values, sep=" ")``: the experiment's output, remembered with its callback."""

    def __init__(
        self,
        counter: CallbackCounter | None = None,
        echo: Callable[[str], object] | None = None,
    ) -> None: ...
    def __call__(self, *values: object, sep: str = " ") -> None: ...
    @property
    def lines(self) -> list[LogLine]: ...

Experiment: TypeAlias = Callable[[Loop, Log], object]

class Recording(NamedTuple):
    """What `run` returns: the timeline (with the log), how the run ended, what raised."""

    name: str
    timeline: Timeline
    status: Status
    error: BaseException | None
    @property
    def log(self) -> list[str]: ...

def run(
    experiment: Experiment,
    *,
    clock: Clock = "virtual",
    drain: Drain = "callback",
    threadpool_size: int | None = None,
    name: str | None = None,
    echo: Callable[[str], object] | None = None,
    counter: CallbackCounter | None = None,
) -> Recording:
    """Runs ``experiment(loop, log)`` on a new recording loop, then the loop to its end."""

class ExperimentFile(NamedTuple):
    """An experiment loaded from a file: its function and the defaults the file declares."""

    path: Path
    experiment: Experiment
    clock: Clock | None
    drain: Drain | None

def load(path: str | os.PathLike[str]) -> ExperimentFile:
    """Loads ``experiment`` and the ``CLOCK`` / ``DRAIN`` defaults from a file."""

__all__ = [
    "CLOCKS",
    "DRAINS",
    "CallbackCounter",
    "Clock",
    "Drain",
    "Experiment",
    "ExperimentFile",
    "Log",
    "Recording",
    "Status",
    "load",
    "run",
]
