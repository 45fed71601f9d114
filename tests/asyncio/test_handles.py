"""The handle phaseloop.asyncio's call_soon returns behaves as asyncio's (asyncio's loop is
the oracle): cancel, the context it runs in, the exception handler's context and message,
and SystemExit / KeyboardInterrupt propagating."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import phaseloop.asyncio as pla
import pytest

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "phaseloop": pla.new_event_loop,
}

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


@pytest.fixture(params=sorted(LOOPS))
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    lp = LOOPS[request.param]()
    yield lp
    lp.close()


def test_a_cancelled_handle_does_not_run_and_says_so(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log: list[str] = []
    handle = loop.call_soon(log.append, "cancelled")
    loop.call_soon(log.append, "ran")
    assert not handle.cancelled()
    handle.cancel()
    handle.cancel()
    assert handle.cancelled()
    assert "cancelled" in repr(handle)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert log == ["ran"]


def test_a_handle_runs_in_the_context_it_was_given_or_a_copy_of_the_current(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []
    given = contextvars.copy_context()
    given.run(var.set, "given")
    var.set("current")
    handle = loop.call_soon(lambda: seen.append(var.get()), context=given)
    assert handle._context is given  # type: ignore[attr-defined]
    loop.call_soon(lambda: seen.append(var.get()))
    var.set("changed after scheduling")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["given", "current"]


def test_an_exception_goes_to_the_handler_and_the_loop_goes_on(
    loop: asyncio.AbstractEventLoop,
) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    log: list[str] = []

    def boom(a: int, b: int) -> None:
        raise ValueError(a + b)

    handle = loop.call_soon(boom, 1, 2)
    loop.call_soon(log.append, "after")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert log == ["after"]
    [context] = contexts
    assert context["handle"] is handle
    assert isinstance(context["exception"], ValueError)
    assert context["exception"].args == (3,)
    assert context["message"].startswith("Exception in callback ")
    assert "boom(1, 2)" in context["message"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_propagate(
    loop: asyncio.AbstractEventLoop, error: type[BaseException]
) -> None:
    def stop_everything() -> None:
        raise error

    loop.call_soon(stop_everything)
    with pytest.raises(error):
        loop.run_forever()
    assert loop.run_until_complete(asyncio.sleep(0, "still usable")) == "still usable"


def test_call_soon_on_a_closed_loop_raises_as_asyncio_does() -> None:
    for factory in LOOPS.values():
        lp = factory()
        lp.close()
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            lp.call_soon(print)


def test_phaseloops_handle_has_asyncios_interface_and_names_its_callback() -> None:
    lp = pla.new_event_loop()
    try:
        handle = lp.call_soon(print, "x")
        assert isinstance(handle, pla.Handle)
        assert handle._callback is print  # type: ignore[attr-defined]
        assert handle._args == ("x",)  # type: ignore[attr-defined]
        assert repr(handle).startswith("<Handle print('x')")
    finally:
        lp.close()


def test_call_soon_threadsafe_from_a_thread_runs_once_each_in_order_in_its_context(
    loop: asyncio.AbstractEventLoop,
) -> None:
    import threading

    seen: list[tuple[int, str]] = []
    given = contextvars.copy_context()
    given.run(var.set, "given")

    def send() -> None:
        var.set("sender")
        for i in range(100):
            loop.call_soon_threadsafe(lambda i=i: seen.append((i, var.get())))
        loop.call_soon_threadsafe(lambda: seen.append((100, var.get())), context=given)
        loop.call_soon_threadsafe(loop.stop)

    sender = threading.Thread(target=send)
    sender.start()
    loop.run_forever()
    sender.join()
    assert seen == [(i, "sender") for i in range(100)] + [(100, "given")]


def test_a_cancelled_threadsafe_handle_does_not_run(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log: list[str] = []
    handle = loop.call_soon_threadsafe(log.append, "cancelled")
    loop.call_soon_threadsafe(log.append, "ran")
    handle.cancel()
    assert handle.cancelled()
    loop.call_soon_threadsafe(loop.stop)
    loop.run_forever()
    assert log == ["ran"]


def test_call_soon_threadsafe_on_a_closed_loop_raises_as_asyncio_does(
    loop: asyncio.AbstractEventLoop,
) -> None:
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon_threadsafe(print)


def test_a_threadsafe_call_runs_in_the_poll_phase_labelled_when_recorded() -> None:
    lp = pla.new_event_loop()
    pl = lp.phaseloop
    phases: list[str | None] = []

    def named_callback() -> None:
        phases.append(pl.phase)

    lp.call_soon_threadsafe(named_callback)  # made unobserved: the native handle
    pl.record()
    lp.call_soon_threadsafe(named_callback)  # made while recording: labelled
    lp.call_soon_threadsafe(lp.stop)
    lp.run_forever()
    labels = [e.label for e in pl.timeline() if e.kind == "threadsafe"]
    lp.close()
    assert phases == ["poll", "poll"]
    assert labels[:2] == ["Handle._run_threadsafe", named_callback.__qualname__]


def test_while_traced_each_handle_runs_as_an_immediate_of_its_own() -> None:
    lp = pla.new_event_loop()
    pl = lp.phaseloop
    kinds: list[str] = []

    def first() -> None:
        pass

    def second() -> None:
        pass

    assert not pl.observed
    pl.trace = lambda iteration, phase, kind, callback: kinds.append(kind)
    assert pl.observed
    lp.call_soon(first)
    lp.call_soon(second)
    lp.call_soon(lp.stop)
    lp.run_forever()
    assert kinds == ["immediate", "immediate", "immediate"]
    pl.trace = None
    assert not pl.observed
    lp.call_soon(first)
    lp.call_soon(lp.stop)
    lp.run_forever()
    lp.close()
    assert kinds == ["immediate"] * 3
