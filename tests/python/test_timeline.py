"""`phaseloop.timeline` and `phaseloop.experiment`: callbacks grouped into turns (each
macrotask with the ticks and microtasks drained after it), log lines attached to the callback
that wrote them, and the text and JSON forms of both."""

from __future__ import annotations

import json

import phaseloop
import pytest
from phaseloop.experiment import Log, run
from phaseloop.timeline import LogLine, Timeline, short_label


def event(
    iteration: int,
    phase: str | None,
    kind: str,
    label: str | None,
    start_ms: float = 0.0,
    took_ms: float = 0.0,
) -> phaseloop.TraceEvent:
    return phaseloop.TraceEvent(
        iteration, phase, kind, label, int(start_ms * 1e6), int(took_ms * 1e6)
    )


def shape(timeline: Timeline) -> list[tuple[str, list[str]]]:
    """Each turn as (macrotask kind, [drained kinds]), "script" for the main script."""
    return [
        (
            "script" if t.callback is None else t.callback.event.kind,
            [s.event.kind for s in t.drained],
        )
        for t in timeline.turns
    ]


def io_program(loop: phaseloop.Loop, log: Log) -> None:
    """Node's guide: an I/O callback's tick and microtask drain before its immediate."""

    def io(error: BaseException | None, result: object) -> None:
        log("io")
        loop.set_timeout(log, 0, "timeout")
        loop.set_immediate(log, "immediate")
        loop.next_tick(log, "tick")
        loop.queue_microtask(lambda: log("microtask"))

    log("script start")
    loop.queue_work(lambda: None, callback=io)
    loop.next_tick(log, "script tick")
    log("script end")


def test_ticks_and_microtasks_belong_to_the_callback_they_drained_after() -> None:
    recording = run(io_program)
    assert recording.status == "finished"
    assert shape(recording.timeline) == [
        ("script", ["tick"]),
        ("work", ["tick", "microtask"]),
        ("immediate", []),
        ("timeout", []),
    ]
    work = recording.timeline.turns[1]
    assert work.callback is not None
    assert (work.iteration, work.phase) == (work.callback.event.iteration, "poll")
    assert recording.timeline.turns[0].iteration == 0
    assert recording.timeline.turns[0].phase is None


def test_log_lines_are_attached_to_the_callback_that_wrote_them() -> None:
    recording = run(io_program)
    assert recording.log == [
        "script start",
        "script end",
        "script tick",
        "io",
        "tick",
        "microtask",
        "immediate",
        "timeout",
    ]
    turns = recording.timeline.turns
    assert turns[0].log == ("script start", "script end")
    assert [s.log for s in turns[0].drained] == [("script tick",)]
    assert turns[1].log == ("io",)
    assert [s.log for s in turns[1].drained] == [("tick",), ("microtask",)]
    assert [t.log for t in turns[2:]] == [("immediate",), ("timeout",)]


def test_promise_reactions_are_microtasks_with_their_log() -> None:
    def program(loop: phaseloop.Loop, log: Log) -> None:
        loop.resolve(1).then(lambda v: log(f"then {v}"))
        loop.next_tick(log, "tick")

    recording = run(program)
    assert shape(recording.timeline) == [("script", ["tick", "microtask"])]
    assert [s.log for s in recording.timeline.turns[0].drained] == [
        ("tick",),
        ("then 1",),
    ]


def test_drain_per_phase_puts_both_ticks_after_the_phase() -> None:
    def two_timers(loop: phaseloop.Loop, log: Log) -> None:
        def timer(n: int) -> None:
            log(f"timer {n}")
            loop.next_tick(log, f"tick {n}")

        loop.set_timeout(timer, 0, 1)
        loop.set_timeout(timer, 0, 2)

    per_callback = run(two_timers, drain="callback")
    per_phase = run(two_timers, drain="phase")
    assert per_callback.log == ["timer 1", "tick 1", "timer 2", "tick 2"]
    assert per_phase.log == ["timer 1", "timer 2", "tick 1", "tick 2"]
    assert shape(per_phase.timeline) == [
        ("script", []),
        ("timeout", []),
        ("timeout", ["tick", "tick"]),
    ]
    assert "drained after the phase of the callback above" in per_phase.timeline.text()


def test_the_text_table_shows_iteration_phase_kind_label_and_log() -> None:
    events = [
        event(0, None, "tick", "log"),
        event(1, "poll", "work", "main.<locals>.on_read", 0.5),
        event(1, "poll", "tick", "log", 0.5),
        event(1, "poll", "microtask", "<lambda>", 0.5),
        event(3, "timers", "timeout", "log", 1.0),
    ]
    log = [
        LogLine("script end", None),
        LogLine("nextTick", 0),
        LogLine("read", 1),
        LogLine("second line", 1),
        LogLine("tick", 2),
        LogLine("timeout", 4),
    ]
    text = Timeline(events, log, clock="virtual", origin_ns=0).text()
    assert text == (
        "timeline: 5 callbacks in 3 iterations (clock: virtual, drain: callback)\n"
        "iter  phase       t ms  kind         label     log\n"
        "   0  script       0.0  main script            script end\n"
        "                        └ tick       log       nextTick\n"
        "   1  poll         0.5  work         on_read   read\n"
        "                                               second line\n"
        "                        ├ tick       log       tick\n"
        "                        └ microtask  <lambda>\n"
        "   3  timers       1.0  timeout      log       timeout\n"
        "├ └  ticks and microtasks, drained after the callback above them\n"
    )


def test_the_text_shows_how_long_a_slow_callback_took() -> None:
    events = [
        event(1, "timers", "timeout", "block", 20.0, 200.4),
        event(2, "timers", "timeout", "late", 230.0),
    ]
    lines = Timeline(events, origin_ns=0).text().splitlines()
    assert lines[1].split() == [
        "iter",
        "phase",
        "t",
        "ms",
        "took",
        "ms",
        "kind",
        "label",
        "log",
    ]
    assert lines[3].split() == ["1", "timers", "20.0", "200.4", "timeout", "block"]
    assert lines[4].split() == ["2", "timers", "230.0", "timeout", "late"]


def test_a_long_silent_run_of_drained_callbacks_is_one_row() -> None:
    def chain(loop: phaseloop.Loop, log: Log) -> None:
        left = 50

        def spin() -> None:
            nonlocal left
            left -= 1
            if left == 49:
                log("first")
            if left:
                loop.queue_microtask(spin)
            else:
                log("last")

        loop.queue_microtask(spin)

    timeline = run(chain).timeline
    runs = timeline.turns[0].drained_runs()
    assert [(step.position, count) for step, count in runs] == [
        (0, 1),
        (1, 48),
        (49, 1),
    ]
    text = timeline.text()
    assert "×48 in a row" in text
    assert (
        len(text.splitlines()) == 2 + 1 + 3 + 1
    )  # header, columns, script, 3 rows, legend


def test_three_in_a_row_are_shown_whole() -> None:
    events = [event(0, None, "microtask", "m") for _ in range(3)]
    assert [count for _, count in Timeline(events).turns[0].drained_runs()] == [1, 1, 1]


def test_the_limit_leaves_out_turns_and_says_how_many() -> None:
    events = [event(i, "check", "immediate", "step") for i in range(1, 11)]
    text = Timeline(events).text(limit=4)
    assert text.count("immediate") == 3  # the main script is the first turn
    assert "... and 7 more turns not shown" in text


def test_json_has_every_callback_with_what_it_drained_after() -> None:
    document = run(io_program).timeline.to_json()
    json.dumps(document)  # serialisable as is
    assert document["format"] == "phaseloop-timeline/1"
    assert (document["clock"], document["drain"]) == ("virtual", "callback")
    assert document["script_log"] == ["script start", "script end"]
    rows = [
        (c["index"], c["kind"], c["phase"], c["drained"], c["drained_after"], c["log"])
        for c in document["callbacks"]
    ]
    assert rows == [
        (0, "tick", None, True, None, ["script tick"]),
        (1, "work", "poll", False, None, ["io"]),
        (2, "tick", "poll", True, 1, ["tick"]),
        (3, "microtask", "poll", True, 1, ["microtask"]),
        (4, "immediate", "check", False, None, ["immediate"]),
        (5, "timeout", "timers", False, None, ["timeout"]),
    ]
    assert [c["label"] for c in document["callbacks"]][:2] == [
        "log",
        "io_program.<locals>.io",
    ]
    assert document["callbacks"][5]["start_ms"] == 1.0
    assert document["iterations"] == document["callbacks"][5]["iteration"]


def test_a_timeline_of_a_plain_loop_needs_no_experiment() -> None:
    with phaseloop.Loop(clock="virtual") as loop:
        loop.record()
        loop.set_immediate(lambda: loop.next_tick(lambda: None), label="start")
        loop.run()
        timeline = Timeline(loop.timeline(), ["before run"], clock=loop.clock)
    assert shape(timeline) == [("script", []), ("immediate", ["tick"])]
    assert timeline.turns[0].log == ("before run",)
    assert timeline.turns[1].callback is not None
    assert timeline.turns[1].callback.event.label == "start"


def test_an_experiment_that_raises_keeps_the_timeline_so_far() -> None:
    def failing(loop: phaseloop.Loop, log: Log) -> None:
        def boom() -> None:
            log("about to fail")
            raise ValueError("boom")

        loop.set_immediate(boom)
        loop.set_timeout(log, 5, "never")

    recording = run(failing)
    assert recording.status == "failed"
    assert isinstance(recording.error, ValueError)
    assert recording.log == ["about to fail"]
    assert shape(recording.timeline) == [("script", []), ("immediate", [])]


def test_log_joins_values_like_print_and_echoes_them() -> None:
    echoed: list[str] = []
    log = Log(echo=echoed.append)
    log("a", 1, None)
    log("b", "c", sep="-")
    assert echoed == ["a 1 None", "b-c"]
    assert log.lines == [LogLine("a 1 None", None), LogLine("b-c", None)]


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("main.<locals>.on_read", "on_read"),
        ("a.<locals>.b.<locals>.<lambda>", "<lambda>"),
        ("Sensor.read", "Sensor.read"),
        (None, "?"),
    ],
)
def test_short_labels_drop_the_enclosing_functions(
    label: str | None, shown: str
) -> None:
    assert short_label(label) == shown


def test_an_experiment_that_closes_the_loop_fails_clearly() -> None:
    def closing(loop: phaseloop.Loop, log: Log) -> None:
        log("closing")
        loop.close()

    recording = run(closing)
    assert recording.status == "failed"
    assert isinstance(recording.error, phaseloop.LoopClosed)
    assert recording.log == ["closing"]
    assert recording.timeline.events == ()
