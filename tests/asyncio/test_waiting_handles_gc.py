"""Handles waiting in phaseloop.asyncio's queues and the garbage collector: a waiting
`call_soon` or `call_later` handle is kept out of the collector's walks (so a million of
them cost no full collections), yet every cycle through one is collected as on asyncio's own
loop (the oracle, where both loops are run): a dropped, unclosed loop with callbacks waiting,
a handle the program keeps after it ran, and one kept when the loop closed."""

from __future__ import annotations

import asyncio
import gc
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import phaseloop.asyncio as pla
import pytest

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "phaseloop": pla.new_event_loop,
}

#: How a test schedules a callback: soon, or as a timer due in a millisecond.
SCHEDULE: dict[str, Callable[..., Any]] = {
    "call_soon": lambda loop, *args: loop.call_soon(*args),
    "call_later": lambda loop, *args: loop.call_later(0.001, *args),
}


class Holder:
    """An object whose own method is the callback, so the handle and it hold each other."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handle: Any = None
        self.ran = 0

    def method(self) -> None:
        self.ran += 1


@pytest.fixture(params=sorted(LOOPS))
def factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[], asyncio.AbstractEventLoop]]:
    yield LOOPS[request.param]


@pytest.mark.parametrize("how", sorted(SCHEDULE))
def test_a_dropped_unclosed_loop_and_its_waiting_callbacks_are_collected(
    factory: Callable[[], asyncio.AbstractEventLoop], how: str
) -> None:
    loop = factory()
    holder = Holder(loop)
    SCHEDULE[how](loop, holder.method)
    gone = weakref.ref(holder)
    del holder, loop
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # "unclosed event loop"
        gc.collect()
        gc.collect()
    assert gone() is None


@pytest.mark.parametrize("how", sorted(SCHEDULE))
def test_a_kept_handle_in_a_cycle_is_collected_once_it_ran(
    factory: Callable[[], asyncio.AbstractEventLoop], how: str
) -> None:
    loop = factory()
    try:
        holder = Holder(loop)
        holder.handle = SCHEDULE[how](loop, holder.method)
        gone = weakref.ref(holder)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert holder.ran == 1
        del holder
        gc.collect()
        assert gone() is None
    finally:
        loop.close()


@pytest.mark.parametrize("how", sorted(SCHEDULE))
def test_a_handle_kept_when_the_loop_closed_is_collected_with_its_cycle(
    factory: Callable[[], asyncio.AbstractEventLoop], how: str
) -> None:
    loop = factory()
    holder = Holder(loop)
    holder.handle = SCHEDULE[how](loop, holder.method)
    gone = weakref.ref(holder)
    loop.close()
    assert holder.ran == 0
    del holder
    gc.collect()
    assert gone() is None


def test_a_waiting_callback_is_not_collected_before_it_runs() -> None:
    loop = pla.new_event_loop()
    try:
        log: list[str] = []

        class Logger:
            def method(self) -> None:
                log.append("ran")

        logger = Logger()
        loop.call_soon(logger.method)
        loop.call_later(0.001, logger.method)
        gone = weakref.ref(logger)
        del logger
        gc.collect()
        assert gone() is not None  # only the queues hold it
        loop.run_until_complete(asyncio.sleep(0.01))
        assert log == ["ran", "ran"]
        assert gone() is None
    finally:
        loop.close()


def test_a_hundred_thousand_waiting_handles_cost_no_full_collection() -> None:
    loop = pla.new_event_loop()
    try:
        count = 0

        def cb() -> None:
            nonlocal count
            count += 1

        gc.collect()
        before = gc.get_stats()[2]["collections"]
        for _ in range(100_000):
            loop.call_soon(cb)
            loop.call_later(0, cb)
        during = gc.get_stats()[2]["collections"] - before
        loop.run_until_complete(asyncio.sleep(0.01))
        assert count == 200_000
        # asyncio's loop makes about ten here (CPython 3.11): 400,000 live tracked objects.
        assert during <= 1
    finally:
        loop.close()
