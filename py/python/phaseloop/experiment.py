"""Experiments: a script that schedules callbacks on a loop it is given, run and recorded.

An experiment is a plain Python file that defines one function::

    import phaseloop
    from phaseloop.experiment import Log

    def experiment(loop: phaseloop.Loop, log: Log) -> None:
        log("script start")
        loop.set_timeout(log, 0, "timeout")
        loop.next_tick(log, "tick")
        log("script end")

`run` creates the loop, records its timeline, calls ``experiment(loop, log)`` (the body is the
main script: nothing it schedules runs before it returns), then runs the loop until nothing is
left. ``log(...)`` prints like ``print`` and remembers which callback printed, so the timeline
shows each line beside its callback. ``python -m phaseloop run FILE.py`` does all that and
prints the result (see `phaseloop.cli`); the file may set ``CLOCK = "real"`` or
``DRAIN = "phase"`` at module level as its defaults, which the command line overrides.
"""

from __future__ import annotations

import os
import runpy
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple, cast

from . import Loop
from ._phaseloop import CLOCKS as _CORE_CLOCKS
from ._phaseloop import DRAIN_MODES as _CORE_DRAIN_MODES
from .timeline import LogLine, Timeline

#: The loop's clock: ``"virtual"`` (the same order on every run) or ``"real"``.
Clock = Literal["virtual", "real"]

#: When ticks and microtasks drain: after every ``"callback"`` (Node >= 11) or ``"phase"``.
Drain = Literal["callback", "phase"]

#: How an experiment ended: it ran out of work, Ctrl-C stopped it, or something raised.
Status = Literal["finished", "interrupted", "failed"]

#: The clocks and drain modes as the core names them (the ``Literal`` types above spell them
#: for type checkers; a test keeps the two the same).
CLOCKS: tuple[Clock, ...] = _CORE_CLOCKS
DRAINS: tuple[Drain, ...] = _CORE_DRAIN_MODES


class CallbackCounter:
    """The loop's trace hook during an experiment: counts the callbacks that have started.

    The count tells `Log` which callback is running (the timeline records callbacks in the
    order they start), and tells a progress display how far a long run has got; it is read
    from another thread for that, which is safe for two ints.
    """

    def __init__(self) -> None:
        self.started = 0
        self.iteration = 0

    def __call__(
        self, iteration: int, phase: str | None, kind: str, callback: object
    ) -> None:
        """Called by the loop before every callback (``Loop.trace``)."""
        self.started += 1
        self.iteration = iteration

    @property
    def current(self) -> int | None:
        """The timeline index of the callback running now, ``None`` before the first one."""
        return self.started - 1 if self.started else None


class Log:
    """``log(*values, sep=" ")``: the experiment's output, like ``print``, remembered with the
    callback that printed it.

    Passing ``log`` itself as a callback works (``loop.set_timeout(log, 0, "timeout")`` logs
    ``timeout``); the timeline labels such a callback ``log``.
    """

    def __init__(
        self,
        counter: CallbackCounter | None = None,
        echo: Callable[[str], object] | None = None,
    ) -> None:
        # The timeline labels a callback by its __qualname__; an instance has none of its own,
        # so without this `set_timeout(log, ...)` would show as "Log".
        self.__qualname__ = "log"
        self._counter = counter
        self._echo = echo
        self._lines: list[LogLine] = []

    def __call__(self, *values: object, sep: str = " ") -> None:
        """Logs one line made of ``values`` (``str`` of each, joined by ``sep``)."""
        text = sep.join(str(value) for value in values)
        current = self._counter.current if self._counter is not None else None
        self._lines.append(LogLine(text, current))
        if self._echo is not None:
            self._echo(text)

    @property
    def lines(self) -> list[LogLine]:
        """Every line logged so far, in order."""
        return list(self._lines)


#: What an experiment file defines: ``experiment(loop, log)``; its return value is ignored.
Experiment = typing.Callable[[Loop, Log], object]


class Recording(NamedTuple):
    """What `run` returns: the timeline (with the log in it), how the run ended, what raised."""

    name: str
    timeline: Timeline
    status: Status
    error: BaseException | None

    @property
    def log(self) -> list[str]:
        """The lines the experiment logged, in order (what Node's ``console.log`` would print)."""
        return [line.text for line in self.timeline.log]


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
    """Runs ``experiment(loop, log)`` on a new recording loop, then the loop to its end.

    ``echo`` is called with each logged line as it is logged (``print`` to see them live).
    ``counter`` lets the caller watch the run from another thread (see `CallbackCounter`).
    An exception from the experiment or a callback ends the run with status ``"failed"``
    (``error`` holds it), Ctrl-C with ``"interrupted"``; either way the timeline so far is kept.
    """
    counter = CallbackCounter() if counter is None else counter
    log = Log(counter, echo)
    status: Status = "finished"
    error: BaseException | None = None
    with Loop(clock=clock, drain=drain, threadpool_size=threadpool_size) as loop:
        loop.record()
        loop.trace = counter
        origin_ns = loop.hrtime()
        try:
            experiment(loop, log)
            loop.run()
        except KeyboardInterrupt:
            status = "interrupted"
        except Exception as exc:  # noqa: BLE001 (whatever the experiment raises is reported)
            status, error = "failed", exc
        # An experiment that closed the loop (so `run` raised LoopClosed) took the timeline
        # with it.
        events = [] if loop.closed else loop.timeline()
    timeline = Timeline(
        events, log.lines, clock=clock, drain=drain, origin_ns=origin_ns
    )
    return Recording(name or _name_of(experiment), timeline, status, error)


def _name_of(experiment: Experiment) -> str:
    return str(getattr(experiment, "__qualname__", None) or type(experiment).__name__)


class ExperimentFile(NamedTuple):
    """An experiment loaded from a file: its function and the defaults the file declares."""

    path: Path
    experiment: Experiment
    clock: Clock | None
    drain: Drain | None


def load(path: str | os.PathLike[str]) -> ExperimentFile:
    """Runs the file at ``path`` as a module (not as ``__main__``, so its
    ``if __name__ == "__main__":`` block does not run) and takes its ``experiment`` function
    and its ``CLOCK`` / ``DRAIN`` defaults. Its folder comes first on ``sys.path`` meanwhile,
    as for ``python FILE.py``, so it can import its neighbours.

    Raises ``FileNotFoundError``; ``ValueError`` if the file defines no ``experiment`` or an
    unknown ``CLOCK`` / ``DRAIN``; ``TypeError`` if ``experiment`` is not callable; and
    whatever the file itself raises.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such experiment file: {path}")
    sys.path.insert(0, str(path.resolve().parent))
    try:
        namespace = runpy.run_path(str(path), run_name="__phaseloop_experiment__")
    finally:
        sys.path.pop(0)
    experiment = namespace.get("experiment")
    if experiment is None:
        raise ValueError(
            f"{path} defines no experiment function: "
            "add `def experiment(loop: phaseloop.Loop, log: Log) -> None:`"
        )
    if not callable(experiment):
        raise TypeError(f"{path}: experiment must be a function, not {experiment!r}")
    clock = _check_choice(namespace, "CLOCK", CLOCKS, path)
    drain = _check_choice(namespace, "DRAIN", DRAINS, path)
    return ExperimentFile(
        path, experiment, cast("Clock | None", clock), cast("Drain | None", drain)
    )


def _check_choice(
    namespace: dict[str, object], name: str, allowed: tuple[str, ...], path: Path
) -> object:
    """The module-level ``name`` of the file, which must be one of ``allowed`` or absent."""
    value = namespace.get(name)
    if value is not None and value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise ValueError(f"{path}: {name} must be {choices}, not {value!r}")
    return value


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
