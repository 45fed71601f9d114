"""Type stubs for phaseloop.timeline: a recorded timeline grouped into turns, as text and JSON."""

from collections.abc import Iterable
from typing import Any, NamedTuple

from . import TraceEvent

PHASES: tuple[str, ...]
DRAINED_KINDS: frozenset[str]
JSON_FORMAT: str

class LogLine(NamedTuple):
    """One logged line and the timeline index of the callback that logged it (``None``: the
    main script)."""

    text: str
    callback: int | None

class Step(NamedTuple):
    """One callback: its position in ``Loop.timeline()``, its event, what it logged."""

    position: int
    event: TraceEvent
    log: tuple[str, ...]
    @property
    def drained(self) -> bool:
        """Whether it is a tick or a microtask."""

class Turn(NamedTuple):
    """A macrotask (or the main script, ``callback`` ``None``) and the ticks and microtasks
    drained after it."""

    callback: Step | None
    log: tuple[str, ...]
    drained: tuple[Step, ...]
    @property
    def iteration(self) -> int: ...
    @property
    def phase(self) -> str | None: ...
    def drained_runs(self) -> list[tuple[Step, int]]:
        """The drained callbacks as ``(step, count)``, long silent runs folded into one."""

def short_label(label: str | None) -> str:
    """A label without its enclosing functions' names (``main.<locals>.f`` is ``f``)."""

class Timeline:
    """A recorded timeline grouped into turns, with what each callback logged."""

    events: tuple[TraceEvent, ...]
    log: tuple[LogLine, ...]
    clock: str
    drain: str
    origin_ns: int
    turns: tuple[Turn, ...]
    def __init__(
        self,
        events: Iterable[TraceEvent],
        log: Iterable[LogLine | str] = (),
        *,
        clock: str = "real",
        drain: str = "callback",
        origin_ns: int | None = None,
    ) -> None: ...
    @property
    def iterations(self) -> int: ...
    def ms(self, event: TraceEvent) -> float:
        """When ``event`` began, in ms since ``origin_ns``."""
    def text(self, limit: int | None = None) -> str:
        """The timeline as a table, at most ``limit`` turns."""
    def to_json(self) -> dict[str, Any]:
        """The timeline as a JSON-ready dict."""

__all__ = [
    "DRAINED_KINDS",
    "JSON_FORMAT",
    "PHASES",
    "LogLine",
    "Step",
    "Timeline",
    "Turn",
    "short_label",
]
