"""Debug mode on phaseloop.asyncio, against asyncio's own loop as the oracle: a slow callback
is logged with asyncio's message wherever it ran (an immediate, a timer, an fd watcher, a task
step), a fast one is not, and the handle running is the loop's current one."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterator

import phaseloop.asyncio as pla
import pytest

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "phaseloop": pla.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    lp = LOOPS[request.param]()
    lp.set_debug(True)
    lp.slow_callback_duration = 0.05
    yield lp
    lp.close()


def slow_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "asyncio" and r.getMessage().startswith("Executing ")
    ]


def nap() -> None:
    time.sleep(0.07)


def test_a_slow_call_soon_is_logged_with_its_handle_and_a_fast_one_is_not(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.call_soon(lambda: None)
    loop.call_soon(nap)
    loop.call_soon(loop.stop)
    loop.run_forever()
    [message] = slow_warnings(caplog)
    assert message.startswith("Executing <Handle nap() at ")
    took = float(message.rsplit(" took ", 1)[1].split()[0])
    assert 0.07 <= took < 1.0


def test_slow_timers_readers_and_task_steps_are_logged_too(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncio")
    a, b = socket.socketpair()
    a.setblocking(False)

    def on_readable() -> None:
        loop.remove_reader(a)
        a.recv(1)
        nap()

    async def sleepy_task() -> None:
        await asyncio.sleep(0)
        nap()

    async def main() -> None:
        loop.call_later(0.001, nap)
        loop.add_reader(a, on_readable)
        b.send(b"x")
        await loop.create_task(sleepy_task(), name="sleepy")
        await asyncio.sleep(0.01)

    try:
        loop.run_until_complete(main())
    finally:
        a.close()
        b.close()
    messages = slow_warnings(caplog)
    assert len(messages) == 3, messages
    assert any(
        m.startswith("Executing <TimerHandle ") and "nap()" in m for m in messages
    )
    assert any(
        m.startswith("Executing <Handle ") and "on_readable()" in m for m in messages
    )
    assert any(
        m.startswith("Executing <Task ") and "name='sleepy'" in m for m in messages
    )


def test_the_running_handle_is_the_loops_current_one_in_debug_mode(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[object] = []

    def look() -> None:
        seen.append(loop._current_handle)  # type: ignore[attr-defined]

    handle = loop.call_soon(look)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [handle]
    assert loop._current_handle is None  # type: ignore[attr-defined]
