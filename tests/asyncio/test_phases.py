"""Where phaseloop.asyncio runs each kind of asyncio callback (docs/asyncio.md), read from
the phaseloop timeline underneath, and the errors asyncio raises, raised the same way."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import phaseloop.asyncio as pla
import pytest


@pytest.fixture
def loop() -> Iterator[pla.EventLoop]:
    lp = pla.new_event_loop()
    yield lp
    lp.close()


def test_call_soon_is_the_check_phase_and_call_later_the_timers(
    loop: pla.EventLoop,
) -> None:
    seen: list[tuple[str, Any]] = []
    pl = loop.phaseloop
    loop.call_later(0.001, lambda: seen.append(("later", pl.phase)))
    loop.call_soon(lambda: seen.append(("soon", pl.phase)))
    loop.call_soon(
        lambda: (
            seen.append(("soon2", pl.phase)),
            loop.call_soon(lambda: seen.append(("nested", pl.phase))),
        )
    )
    loop.call_later(0.02, loop.stop)
    loop.run_forever()
    assert seen[:3] == [("soon", "check"), ("soon2", "check"), ("nested", "check")]
    assert ("later", "timers") in seen


def test_a_socket_read_wakes_its_task_in_the_check_phase_of_the_same_iteration(
    loop: pla.EventLoop,
) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    pl = loop.phaseloop
    pl.record()
    resumed: list[tuple[Any, int]] = []

    async def reader() -> bytes:
        data = await loop.sock_recv(a, 10)
        resumed.append((pl.phase, pl.iteration))
        return data

    loop.call_later(0.005, b.sendall, b"x")
    task = loop.create_task(reader(), name="the reader")
    assert loop.run_until_complete(task) == b"x"
    [(phase, iteration)] = resumed
    assert phase == "check"
    # The fd watcher that saw the byte ran in the poll phase of that same iteration.
    polled = [e for e in pl.timeline() if e.kind == "io" and e.iteration == iteration]
    assert [e.phase for e in polled] == ["poll"]
    assert "the reader" in {e.label for e in pl.timeline()}
    a.close()
    b.close()


def test_run_in_executor_uses_the_pool_and_resolves_in_poll(
    loop: pla.EventLoop,
) -> None:
    threads: list[str] = []

    def job() -> int:
        threads.append(threading.current_thread().name)
        return 42

    assert loop.run_until_complete(loop.run_in_executor(None, job)) == 42
    assert threads and threads[0] != threading.current_thread().name


def test_errors_are_asyncios(loop: pla.EventLoop) -> None:
    with pytest.raises(TypeError):
        loop.run_until_complete(42)  # type: ignore[arg-type]
    errors: list[Any] = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx["exception"]))
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert [type(e) for e in errors] == [ZeroDivisionError]
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)


def test_keyboard_interrupt_leaves_the_loop_usable(loop: pla.EventLoop) -> None:
    async def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(interrupted())

    async def fine() -> str:
        await asyncio.sleep(0)
        return "again"

    assert loop.run_until_complete(fine()) == "again"


def test_run_and_the_virtual_clock() -> None:
    async def main() -> float:
        lp = asyncio.get_running_loop()
        assert isinstance(lp, pla.EventLoop)
        start = lp.time()
        await asyncio.sleep(30)
        return lp.time() - start

    assert pla.run(main(), clock="virtual") == pytest.approx(30, abs=0.01)
