"""A recorded timeline grouped the way the loop ran it, as text and as JSON.

``Loop.timeline()`` is a flat list of callbacks. A `Timeline` groups it into turns: each macrotask
(a timer, an I/O or work callback, an immediate, ...) followed by the ticks and microtasks that
drained after it (ordering rule 2.2, docs/ordering.md), the first turn being the main script, whose
ticks and microtasks drain before the first iteration (rule 1.2). Lines that an experiment logged
are attached to the callback that logged them::

    loop.record()
    ...
    loop.run()
    print(phaseloop.timeline.Timeline(loop.timeline(), clock=loop.clock).text())
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from . import TraceEvent
from ._phaseloop import PHASES as _CORE_PHASES

#: The phases of one iteration, in the order they run (ordering rule 3, docs/ordering.md),
#: as the core names them (one list for every binding).
PHASES: tuple[str, ...] = _CORE_PHASES

#: The kinds that are not phases' callbacks but drain after them (ordering rule 2,
#: docs/ordering.md).
DRAINED_KINDS = frozenset({"tick", "microtask"})

#: JSON documents written by `Timeline.to_json` say this in their ``"format"`` field.
JSON_FORMAT = "phaseloop-timeline/1"

# A run of more identical drained callbacks than this, none of which logged anything, is shown
# as one row: a microtask chain of 1000 turns should not print 1000 rows.
_RUN_SHOWN_WHOLE = 3

# Labels longer than this are cut in the text table (the JSON keeps them whole).
_LABEL_WIDTH = 32


class LogLine(NamedTuple):
    """One line an experiment logged: its text and the index, in the timeline, of the callback
    that was running (``None``: the main script)."""

    text: str
    callback: int | None


class Step(NamedTuple):
    """One callback of the timeline: its position in ``Loop.timeline()``, its event, what it
    logged."""

    position: int
    event: TraceEvent
    log: tuple[str, ...]

    @property
    def drained(self) -> bool:
        """Whether it is a tick or a microtask (drained after a macrotask, not run by a phase)."""
        return self.event.kind in DRAINED_KINDS


class Turn(NamedTuple):
    """A macrotask, or the main script (``callback`` is ``None``), and the ticks and microtasks
    drained after it, in the order they ran."""

    callback: Step | None
    log: tuple[str, ...]
    drained: tuple[Step, ...]

    @property
    def iteration(self) -> int:
        """The iteration the macrotask ran in (0 for the main script)."""
        return 0 if self.callback is None else self.callback.event.iteration

    @property
    def phase(self) -> str | None:
        """The phase the macrotask ran in (``None`` for the main script)."""
        return None if self.callback is None else self.callback.event.phase

    def drained_runs(self) -> list[tuple[Step, int]]:
        """The drained callbacks as ``(step, count)``: a run of more than three consecutive
        callbacks of the same kind and label that logged nothing is one ``(first, count)``."""
        runs: list[tuple[Step, int]] = []
        i = 0
        steps = self.drained
        while i < len(steps):
            j = i
            while j + 1 < len(steps) and _same_silent(steps[i], steps[j + 1]):
                j += 1
            count = j - i + 1
            if count > _RUN_SHOWN_WHOLE:
                runs.append((steps[i], count))
            else:
                runs.extend((step, 1) for step in steps[i : j + 1])
            i = j + 1
        return runs


def _same_silent(a: Step, b: Step) -> bool:
    return (
        not a.log
        and not b.log
        and a.event.kind == b.event.kind
        and a.event.label == b.event.label
    )


def _group(events: Sequence[TraceEvent], log: Sequence[LogLine]) -> tuple[Turn, ...]:
    by_callback: dict[int | None, list[str]] = {}
    for line in log:
        index = line.callback
        if index is not None and not 0 <= index < len(events):
            index = None  # a callback the timeline does not have: keep the line visible
        by_callback.setdefault(index, []).append(line.text)

    turns: list[Turn] = []
    callback: Step | None = None
    drained: list[Step] = []
    for index, event in enumerate(events):
        step = Step(index, event, tuple(by_callback.get(index, ())))
        if step.drained:
            drained.append(step)
            continue
        turns.append(_turn(callback, drained, by_callback))
        callback, drained = step, []
    turns.append(_turn(callback, drained, by_callback))
    return tuple(turns)


def _turn(
    callback: Step | None,
    drained: list[Step],
    by_callback: dict[int | None, list[str]],
) -> Turn:
    log = callback.log if callback is not None else tuple(by_callback.get(None, ()))
    return Turn(callback, log, tuple(drained))


class Timeline:
    """A recorded timeline (``Loop.timeline()``) grouped into turns, with what each callback logged.

    ``log`` holds `LogLine` values, or plain strings (lines of the main script). ``origin_ns``
    is the ``hrtime()`` the times are counted from (default: the first callback's start, or 0
    when there is none); ``clock`` and ``drain`` are the loop's, shown in the header.
    """

    def __init__(
        self,
        events: Iterable[TraceEvent],
        log: Iterable[LogLine | str] = (),
        *,
        clock: str = "real",
        drain: str = "callback",
        origin_ns: int | None = None,
    ) -> None:
        self.events: tuple[TraceEvent, ...] = tuple(events)
        self.log: tuple[LogLine, ...] = tuple(
            LogLine(line, None) if isinstance(line, str) else line for line in log
        )
        self.clock = clock
        self.drain = drain
        if origin_ns is None:
            origin_ns = self.events[0].start_ns if self.events else 0
        self.origin_ns: int = origin_ns
        self.turns: tuple[Turn, ...] = _group(self.events, self.log)

    @property
    def iterations(self) -> int:
        """The last iteration any callback ran in (0 if only the main script's drain ran)."""
        return max((event.iteration for event in self.events), default=0)

    def ms(self, event: TraceEvent) -> float:
        """When ``event`` began, in ms since ``origin_ns``."""
        return (event.start_ns - self.origin_ns) / 1e6

    def text(self, limit: int | None = None) -> str:
        """The timeline as a table: one row per callback, ticks and microtasks indented under
        the macrotask they drained after, each callback's log beside it. ``limit``: at most
        that many turns (rows of macrotasks), then a line saying how many were left out."""
        shown = self.turns if limit is None else self.turns[:limit]
        rows: list[_Row] = []
        for turn in shown:
            rows.extend(self._turn_rows(turn))
        # The "took" column only when a callback took measurable time: on the virtual clock
        # nothing does, and the table stays narrow and the same on every run.
        took = any(_took_text(row) for row in rows)
        label_width = min(
            _LABEL_WIDTH, max([len(row.label) for row in rows] + [len("label")])
        )
        kind_width = max([len(row.kind) for row in rows] + [len("kind")])

        header = (
            f"timeline: {_count(len(self.events), 'callback')} in "
            f"{_count(self.iterations, 'iteration')} "
            f"(clock: {self.clock}, drain: {self.drain})"
        )
        lines = [header, _format_row(_HEADER, took, kind_width, label_width)]
        lines += [_format_row(row, took, kind_width, label_width) for row in rows]
        left_out = len(self.turns) - len(shown)
        if left_out:
            lines.append(f"... and {left_out} more turns not shown")
        if any(turn.drained for turn in shown):
            after = "the phase of " if self.drain == "phase" else ""
            lines.append(
                f"├ └  ticks and microtasks, drained after {after}the callback above them"
            )
        return "\n".join(line.rstrip() for line in lines) + "\n"

    def _turn_rows(self, turn: Turn) -> list[_Row]:
        if turn.callback is None:
            rows = _log_rows(
                _Row("0", "script", 0.0, None, "main script", "", ""), turn.log
            )
        else:
            event = turn.callback.event
            rows = _log_rows(
                _Row(
                    str(event.iteration),
                    event.phase or "script",
                    self.ms(event),
                    event.duration_ns / 1e6,
                    event.kind,
                    _cut(event.label),
                    "",
                ),
                turn.log,
            )
        runs = turn.drained_runs()
        for n, (step, count) in enumerate(runs):
            branch = "└ " if n == len(runs) - 1 else "├ "
            event = step.event
            text = f"×{count} in a row" if count > 1 else ""
            row = _Row(
                "",
                "",
                None,
                event.duration_ns / 1e6,
                branch + event.kind,
                _cut(event.label),
                text,
            )
            rows += _log_rows(row, step.log, indent="│ " if branch == "├ " else "  ")
        return rows

    def to_json(self) -> dict[str, Any]:
        """The timeline as a JSON-ready dict (``json.dump`` it): see docs/experiments.md."""
        after: dict[int, int | None] = {}
        for turn in self.turns:
            for step in turn.drained:
                after[step.position] = (
                    None if turn.callback is None else turn.callback.position
                )
        log_of: dict[int, tuple[str, ...]] = {}
        for turn in self.turns:
            if turn.callback is not None:
                log_of[turn.callback.position] = turn.callback.log
            for step in turn.drained:
                log_of[step.position] = step.log
        callbacks = [
            {
                "index": index,
                "iteration": event.iteration,
                "phase": event.phase,
                "kind": event.kind,
                "label": event.label,
                "start_ms": round(self.ms(event), 6),
                "duration_ms": round(event.duration_ns / 1e6, 6),
                "drained": event.kind in DRAINED_KINDS,
                "drained_after": after.get(index),
                "log": list(log_of.get(index, ())),
            }
            for index, event in enumerate(self.events)
        ]
        return {
            "format": JSON_FORMAT,
            "clock": self.clock,
            "drain": self.drain,
            "iterations": self.iterations,
            "script_log": list(self.turns[0].log),
            "callbacks": callbacks,
        }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class _Row(NamedTuple):
    iteration: str
    phase: str
    at_ms: float | None
    took_ms: float | None
    kind: str
    label: str
    log: str


_HEADER = _Row("iter", "phase", None, None, "kind", "label", "log")


def _log_rows(first: _Row, log: tuple[str, ...], indent: str = "") -> list[_Row]:
    """The row of a callback, its first log line beside it and one row per further line."""
    if not log:
        return [first]
    rows = [first._replace(log=log[0])]
    for text in log[1:]:
        rows.append(_Row("", "", None, None, indent, "", text))
    return rows


def short_label(label: str | None) -> str:
    """A label as tables and pictures show it: a nested function's ``__qualname__``
    (``main.<locals>.on_read``) without its enclosing functions (``on_read``); ``?`` for none."""
    if label is None:
        return "?"
    return label.rpartition(".<locals>.")[2] or label


def _cut(label: str | None) -> str:
    label = short_label(label)
    if len(label) > _LABEL_WIDTH:
        return label[: _LABEL_WIDTH - 1] + "…"
    return label


def _took_text(row: _Row) -> str:
    if row.took_ms is None or row.took_ms < 0.05:
        return ""
    return f"{row.took_ms:.1f}"


def _format_row(row: _Row, took: bool, kind_width: int, label_width: int) -> str:
    if row is _HEADER:
        at, took_text = "t ms", "took ms"
    else:
        at = "" if row.at_ms is None else f"{row.at_ms:.1f}"
        took_text = _took_text(row)
    cells = [f"{row.iteration:>4}", f"{row.phase:<7}", f"{at:>7}"]
    if took:
        cells.append(f"{took_text:>7}")
    cells += [f"{row.kind:<{kind_width}}", f"{row.label:<{label_width}}", row.log]
    return "  ".join(cells)


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
