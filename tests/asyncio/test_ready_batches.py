"""phaseloop.asyncio runs the handles of an iteration as one batch while nothing observes the
loop, and one immediate each while it records: the order is asyncio's either way, and
switching between the two reorders nothing (docs/asyncio.md). asyncio's own loop is the
oracle."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable

import phaseloop.asyncio as pla
import pytest

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "phaseloop": pla.new_event_loop,
    "phaseloop recording": lambda: _recording(pla.new_event_loop()),
}


def _recording(loop: pla.EventLoop) -> pla.EventLoop:
    loop.phaseloop.record()
    return loop


def program(loop: asyncio.AbstractEventLoop, toggle: Callable[[], None]) -> list[str]:
    """Nested call_soon chains, tasks and a cancelled handle; `toggle` is called between
    steps (it switches recording on phaseloop's loop)."""
    log: list[str] = []

    def step(name: str, depth: int) -> None:
        log.append(f"{name}{depth}")
        toggle()
        if depth < 3:
            loop.call_soon(step, name, depth + 1)

    async def task(name: str) -> None:
        for i in range(3):
            log.append(f"{name}.{i}")
            toggle()
            await asyncio.sleep(0)

    loop.call_soon(step, "a", 0)
    loop.create_task(task("t"))
    loop.call_soon(step, "b", 0)
    loop.call_soon(log.append, "never").cancel()
    loop.create_task(task("u"))
    loop.run_until_complete(asyncio.sleep(0.01))
    return log


def test_the_order_is_asyncios_batched_recorded_or_switching_between_the_two() -> None:
    orders = {}
    for name, factory in LOOPS.items():
        loop = factory()
        try:
            orders[name] = program(loop, lambda: None)
        finally:
            loop.close()
    switching = pla.new_event_loop()
    flips = iter(range(1_000))

    def toggle() -> None:
        switching.phaseloop.record(next(flips) % 3 == 0)

    try:
        orders["switching"] = program(switching, toggle)
    finally:
        switching.close()
    assert "never" not in orders["asyncio"]
    assert len(orders["asyncio"]) == 14
    for name, order in orders.items():
        assert order == orders["asyncio"], name


def test_recording_gives_each_task_step_its_own_labelled_row() -> None:
    loop = pla.new_event_loop()
    loop.phaseloop.record()

    async def worker() -> None:
        await asyncio.sleep(0)

    try:
        loop.run_until_complete(loop.create_task(worker(), name="the worker"))
        rows = [e for e in loop.phaseloop.timeline() if e.label == "the worker"]
    finally:
        loop.close()
    assert [e.phase for e in rows] == ["check", "check"]


@pytest.mark.parametrize("name", ["asyncio", "phaseloop"])
def test_a_keyboard_interrupt_leaves_the_rest_of_the_batch_for_the_next_run(
    name: str,
) -> None:
    loop = LOOPS[name]()
    log: list[str] = []

    def interrupt() -> None:
        log.append("interrupt")
        raise KeyboardInterrupt

    try:
        loop.call_soon(log.append, "first")
        loop.call_soon(interrupt)
        loop.call_soon(log.append, "after")
        with pytest.raises(KeyboardInterrupt):
            loop.run_forever()
        assert log == ["first", "interrupt"]
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert log == ["first", "interrupt", "after"]
        assert loop.run_until_complete(asyncio.sleep(0, "reusable")) == "reusable"
    finally:
        loop.close()


def timer_program(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Timers out of insertion order, some within one millisecond of each other, 150 of
    them cancelled (enough for asyncio to rebuild its heap), and one scheduling another."""
    log: list[str] = []
    base = loop.time() + 0.005
    for name, offset in [("c", 0.040), ("a", 0.0100), ("b", 0.0102), ("d", 0.0101)]:
        loop.call_at(base + offset, log.append, name)
    cancelled = [loop.call_at(base, log.append, f"x{i}") for i in range(150)]
    for handle in cancelled:
        handle.cancel()

    def chain() -> None:
        log.append("chain")
        loop.call_later(0, log.append, "chained")

    loop.call_at(base + 0.020, chain)
    loop.run_until_complete(asyncio.sleep(0.06))
    return log


def test_timers_run_in_asyncios_order_batched_or_recorded() -> None:
    orders = {}
    for name, factory in LOOPS.items():
        loop = factory()
        try:
            orders[name] = timer_program(loop)
        finally:
            loop.close()
    assert orders["asyncio"] == ["a", "d", "b", "chain", "chained", "c"]
    assert orders["phaseloop"] == orders["asyncio"]
    # One phaseloop timer each rounds `when` to milliseconds: within one millisecond they
    # keep the order they were scheduled in.
    assert sorted(orders["phaseloop recording"]) == sorted(orders["asyncio"])


def test_cancelled_timers_leave_the_heap_and_a_batched_timer_runs_in_the_timers_phase() -> (
    None
):
    loop = pla.new_event_loop()
    phases: list[object] = []
    try:
        handles = [loop.call_later(10, phases.append, i) for i in range(300)]
        for handle in handles[:200]:
            handle.cancel()
        # Rebuilt once cancelled handles were half of it, as asyncio's own heap is.
        assert len(loop._timer_queue) <= 150  # type: ignore[attr-defined]
        for handle in handles[200:]:
            handle.cancel()
        loop.call_later(0.001, lambda: phases.append(loop.phaseloop.phase))
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    assert phases == ["timers"]


@pytest.mark.parametrize("name", ["asyncio", "phaseloop"])
def test_a_keyboard_interrupt_in_a_timer_leaves_the_other_due_timers_for_the_next_run(
    name: str,
) -> None:
    loop = LOOPS[name]()
    log: list[str] = []

    def interrupt() -> None:
        log.append("interrupt")
        raise KeyboardInterrupt

    try:
        # One pass: all three are due by the time the first runs (asyncio's heap does not
        # order equal `when`s, so they differ by a microsecond).
        when = loop.time() + 0.002
        loop.call_at(when, log.append, "first")
        loop.call_at(when + 1e-6, interrupt)
        loop.call_at(when + 2e-6, log.append, "after")
        loop.call_at(when + 0.01, loop.stop)
        with pytest.raises(KeyboardInterrupt):
            loop.run_forever()
        assert log == ["first", "interrupt"]
        loop.run_forever()
        assert log == ["first", "interrupt", "after"]
    finally:
        loop.close()


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("close", [True, False])
def test_a_loop_that_ran_batches_is_collected_closed_or_not(close: bool) -> None:
    # The ready queue keeps its bound `run` between batches: a cycle through the loop that
    # the collector must see (or close must break), or every loop would leak.
    def make() -> weakref.ref[pla.EventLoop]:
        loop = pla.new_event_loop()
        log: list[int] = []
        for i in range(3):
            loop.call_soon(log.append, i)
        loop.run_until_complete(asyncio.sleep(0))
        assert log == [0, 1, 2]
        if close:
            loop.close()
        # (An unclosed loop warns when collected, as asyncio's: the point is that it is.)
        return weakref.ref(loop)

    ref = make()
    gc.collect()
    assert ref() is None
