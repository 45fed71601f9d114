"""`phaseloop.svg`: the timeline as a picture. Its structure is tested here (well-formed XML,
a lane per phase, an element per callback with its label, drained callbacks pointing at the
macrotask they follow); how it looks was checked by rendering it (docs/experiments.md)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import phaseloop
from phaseloop.experiment import Log, run
from phaseloop.svg import render
from phaseloop.timeline import PHASES, Timeline

SVG = "{http://www.w3.org/2000/svg}"


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in g.get("class", "").split()]


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def program(loop: phaseloop.Loop, log: Log) -> None:
    def io(error: BaseException | None, result: object) -> None:
        log('io <done> & "quoted"')
        loop.set_timeout(log, 0, "timeout")
        loop.set_immediate(log, "immediate")
        loop.next_tick(log, "tick")
        loop.queue_microtask(lambda: log("microtask"), label="a <label> & more")

    log("script start")
    loop.queue_work(lambda: None, callback=io)
    loop.next_tick(log, "script tick")


def drawn() -> tuple[ET.Element, Timeline]:
    timeline = run(program).timeline
    return ET.fromstring(render(timeline, title="test & <title>")), timeline


def test_it_is_well_formed_svg_with_a_lane_per_phase() -> None:
    root, _ = drawn()
    assert root.tag == f"{SVG}svg"
    lanes = [g.get("data-phase") for g in groups(root, "lane")]
    assert lanes == ["script", *PHASES]
    names = [texts(g)[0] for g in groups(root, "lane")]
    assert names == [
        "main script",
        "1 timers",
        "2 pending",
        "3 idle",
        "4 prepare",
        "5 poll",
        "6 check",
        "7 close",
    ]
    assert texts(root)[0] == "test & <title>"


def test_every_callback_is_an_element_with_its_kind_and_label() -> None:
    root, timeline = drawn()
    callbacks = groups(root, "callback")
    assert sorted(int(g.get("data-index", "-1")) for g in callbacks) == list(
        range(len(timeline.events))
    )
    for g in callbacks:
        recorded = timeline.events[int(g.get("data-index", "-1"))]
        assert g.get("data-kind") == recorded.kind
        assert g.get("data-label") == recorded.label
        title = g.find(f"{SVG}title")
        assert title is not None and recorded.kind in (title.text or "")
    labelled = [g for g in callbacks if g.get("data-label") == "a <label> & more"]
    assert [g.get("data-kind") for g in labelled] == ["microtask"]


def test_macrotasks_sit_in_the_lane_of_their_phase_and_show_their_log() -> None:
    root, _ = drawn()
    macrotasks = [
        g for g in groups(root, "callback") if "drained" not in g.get("class", "")
    ]
    assert [(g.get("data-kind"), g.get("data-phase")) for g in macrotasks] == [
        ("work", "poll"),
        ("immediate", "check"),
        ("timeout", "timers"),
    ]
    work = macrotasks[0]
    assert any('io <done> & "quoted"' in t for t in texts(work))
    script = groups(root, "script")
    assert len(script) == 1 and any("script start" in t for t in texts(script[0]))


def test_ticks_and_microtasks_point_at_the_callback_they_drained_after() -> None:
    root, timeline = drawn()
    drained = [
        (g.get("data-kind"), g.get("data-after")) for g in groups(root, "drained")
    ]
    work = next(i for i, e in enumerate(timeline.events) if e.kind == "work")
    assert drained == [
        ("tick", "script"),
        ("tick", str(work)),
        ("microtask", str(work)),
    ]
    # Each hangs on a line drawn from its macrotask, placed after the macrotask's box.
    assert (
        len([line for line in root.iter(f"{SVG}line") if line.get("class") == "drain"])
        == 2
    )


def test_iterations_are_numbered_left_to_right() -> None:
    root, timeline = drawn()
    numbers = [g.get("data-iteration") for g in groups(root, "iteration")]
    macrotask_iterations = [str(t.iteration) for t in timeline.turns[1:]]
    assert numbers == ["script", *dict.fromkeys(macrotask_iterations)]
    assert [int(n) for n in numbers[1:]] == sorted(int(n) for n in numbers[1:])
    x = [
        float(rect.get("x", "nan"))
        for g in groups(root, "iteration")
        for rect in g.iter(f"{SVG}rect")
    ]
    assert x == sorted(x)


def test_a_legend_explains_colours_and_marks() -> None:
    root, _ = drawn()
    (legend,) = groups(root, "legend")
    words = " ".join(texts(legend))
    for kind in ("timeout", "work", "immediate", "close", "tick", "microtask"):
        assert kind in words


def test_a_run_of_identical_microtasks_is_one_element_with_a_count() -> None:
    def chain(loop: phaseloop.Loop, log: Log) -> None:
        left = 20

        def spin() -> None:
            nonlocal left
            left -= 1
            if left:
                loop.queue_microtask(spin)

        loop.queue_microtask(spin)

    root = ET.fromstring(render(run(chain).timeline))
    assert [g.get("data-count") for g in groups(root, "drained")] == ["20"]


def test_the_limit_says_how_many_turns_were_not_drawn() -> None:
    events = [
        phaseloop.TraceEvent(i, "check", "immediate", "step", 0, 0)
        for i in range(1, 31)
    ]
    root = ET.fromstring(render(Timeline(events), limit=10))
    assert len(groups(root, "callback")) == 9
    assert any("21 more turns not drawn" in t for t in texts(root))
