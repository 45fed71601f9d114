"""The handles phaseloop.asyncio's call_soon and call_later return behave as asyncio's
(asyncio's loop is the oracle): cancel, the context they run in, the exception handler's
context and message, and SystemExit / KeyboardInterrupt propagating; for timers also when()
and repr, order and equality by `when`, cancel letting go of the callback and cancelled
handles leaving the heap, the argument errors, debug mode's source traceback, and a
subclass's own call_at."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import phaseloop.asyncio as pla
import pytest

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "phaseloop": pla.new_event_loop,
}

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


#: 3.9 and 3.10, whose asyncio words some errors differently.
OLD_ASYNCIO = sys.version_info < (3, 11)


def shown(args: str) -> str:
    """A callback's arguments as asyncio's repr and messages show them outside debug mode:
    written out before 3.13, left out (``()``) from 3.13 on."""
    return args if sys.version_info < (3, 13) else "()"


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


#: How a test schedules a callback: soon, or as a timer due in a millisecond.
SCHEDULE: dict[str, Callable[..., Any]] = {
    "call_soon": lambda loop, *args, **kwargs: loop.call_soon(*args, **kwargs),
    "call_later": lambda loop, *args, **kwargs: loop.call_later(0.001, *args, **kwargs),
}


@pytest.mark.parametrize("how", sorted(SCHEDULE))
def test_a_handle_runs_in_the_context_it_was_given_or_a_copy_of_the_current(
    loop: asyncio.AbstractEventLoop, how: str
) -> None:
    schedule = SCHEDULE[how]
    seen: list[str] = []
    given = contextvars.copy_context()
    given.run(var.set, "given")
    var.set("current")
    handle = schedule(loop, lambda: seen.append(var.get()), context=given)
    assert handle._context is given
    schedule(loop, lambda: seen.append(var.get()))
    var.set("changed after scheduling")
    loop.run_until_complete(asyncio.sleep(0.01))
    assert seen == ["given", "current"]


def context_of(handle: Any) -> contextvars.Context:
    """`handle.get_context()` (asyncio's handles have it from 3.12; `_context` before)."""
    context: contextvars.Context = (
        handle.get_context() if hasattr(handle, "get_context") else handle._context
    )
    return context


@pytest.mark.parametrize("how", sorted(SCHEDULE))
def test_each_handle_has_a_context_of_its_own_which_keeps_what_its_run_set(
    loop: asyncio.AbstractEventLoop, how: str
) -> None:
    schedule = SCHEDULE[how]
    seen: list[str] = []

    def first() -> None:
        seen.append(var.get())
        var.set("set by first")

    def second() -> None:
        seen.append(var.get())

    var.set("before")
    ran_first = schedule(loop, first)
    asked_before = schedule(loop, second)
    never_asked = schedule(loop, second)
    context = context_of(asked_before)
    assert context is context_of(asked_before)
    assert context[var] == "before"
    loop.run_until_complete(asyncio.sleep(0.01))
    assert seen == ["before", "before", "before"]
    assert var.get() == "before"
    assert context_of(ran_first)[var] == "set by first"
    assert context_of(asked_before) is context
    assert len({id(context_of(h)) for h in (ran_first, asked_before, never_asked)}) == 3
    ran_first._run()  # type: ignore[attr-defined]
    assert seen[-1] == "set by first"


@pytest.mark.parametrize("how", sorted(SCHEDULE))
def test_an_exception_goes_to_the_handler_and_the_loop_goes_on(
    loop: asyncio.AbstractEventLoop, how: str
) -> None:
    schedule = SCHEDULE[how]
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    log: list[str] = []

    def boom(a: int, b: int) -> None:
        raise ValueError(a + b)

    handle = schedule(loop, boom, 1, 2)
    schedule(loop, log.append, "after")
    loop.run_until_complete(asyncio.sleep(0.01))
    assert log == ["after"]
    [context] = contexts
    assert context["handle"] is handle
    assert isinstance(context["exception"], ValueError)
    assert context["exception"].args == (3,)
    assert context["message"].startswith("Exception in callback ")
    assert "boom" + shown("(1, 2)") in context["message"]


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
        assert repr(handle).startswith("<Handle print" + shown("('x')"))
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
    lp.call_soon_threadsafe(named_callback)  # made while recording: asyncio's handle
    lp.call_soon_threadsafe(lp.stop)
    lp.run_forever()
    labels = [e.label for e in pl.timeline() if e.kind == "threadsafe"]
    lp.close()
    assert phases == ["poll", "poll"]
    # Both are labelled with the callback's name, whichever way they were made.
    assert labels[:2] == [named_callback.__qualname__] * 2


# ----- call_later / call_at: asyncio's TimerHandle -------------------------------------------


def noop(*_args: object) -> None:
    pass


def test_when_is_the_loop_time_plus_the_delay_or_the_time_given(
    loop: asyncio.AbstractEventLoop,
) -> None:
    before = loop.time()
    later = loop.call_later(5, noop)
    after = loop.time()
    assert before + 5 <= later.when() <= after + 5
    assert loop.call_at(123, noop).when() == 123
    assert type(loop.call_at(123, noop).when()) is int  # as given, not a float


def test_repr_is_asyncios(loop: asyncio.AbstractEventLoop) -> None:
    handle = loop.call_at(123, noop, 1, "x")
    assert repr(handle).startswith(
        "<TimerHandle when=123 noop" + shown("(1, 'x')") + " at "
    )
    assert repr(handle).endswith(">")
    handle.cancel()
    assert repr(handle) == "<TimerHandle cancelled when=123>"


def test_handles_order_by_when_and_are_equal_when_everything_is(
    loop: asyncio.AbstractEventLoop,
) -> None:
    early, late = loop.call_at(10, noop), loop.call_at(20, noop)
    assert early < late and early <= late and late > early and late >= early
    assert not early > late and early != late
    twin = loop.call_at(10, noop)
    assert early == twin and early <= twin and early >= twin and not early < twin
    assert hash(early) == hash(10)
    assert loop.call_at(10, print) != early
    twin.cancel()
    assert early != twin
    assert sorted([late, early]) == [early, late]
    with pytest.raises(TypeError):
        early < 10  # noqa: B015 - the comparison is what is tested


def test_a_cancelled_timer_does_not_run_and_lets_go_of_its_callback(
    loop: asyncio.AbstractEventLoop,
) -> None:
    class Callback:
        def __call__(self) -> None:
            log.append("cancelled ran")

    log: list[str] = []
    callback = Callback()
    gone = weakref.ref(callback)
    handle = loop.call_later(0.001, callback)
    loop.call_later(0.002, log.append, "ran")
    del callback
    assert not handle.cancelled()
    handle.cancel()
    handle.cancel()
    gc.collect()
    assert handle.cancelled()
    assert gone() is None
    assert handle._callback is None  # type: ignore[attr-defined]
    loop.run_until_complete(asyncio.sleep(0.01))
    assert log == ["ran"]


def test_scheduled_until_it_fires_or_is_swept_out(
    loop: asyncio.AbstractEventLoop,
) -> None:
    fired = loop.call_later(0.001, noop)
    assert fired._scheduled  # type: ignore[attr-defined]
    loop.run_until_complete(asyncio.sleep(0.01))
    assert not fired._scheduled  # type: ignore[attr-defined]
    # Cancelling a handle that already ran counts nothing: 60 live timers and 60 cancelled
    # ones (plus the fired one, cancelled late) are not a majority to sweep out.
    fired.cancel()
    live = [loop.call_later(10, noop) for _ in range(60)]
    cancelled = [loop.call_later(10, noop) for _ in range(60)]
    for handle in cancelled:
        handle.cancel()
    assert all(h._scheduled for h in live + cancelled)  # type: ignore[attr-defined]
    # One more cancelled makes them more than half of the heap: swept, as asyncio's
    # _run_once sweeps them.
    live[0].cancel()
    loop.run_until_complete(asyncio.sleep(0))
    assert not any(h._scheduled for h in cancelled + live[:1])  # type: ignore[attr-defined]
    assert all(h._scheduled for h in live[1:])  # type: ignore[attr-defined]


def test_a_timer_weeks_away_does_not_wake_the_loop_meanwhile() -> None:
    import threading

    lp = pla.new_event_loop()
    try:
        lp.call_later(
            30 * 86400, noop
        )  # beyond phaseloop's longest timer, 2**31 - 1 ms
        stopper = threading.Timer(0.05, lp.call_soon_threadsafe, (lp.stop,))
        stopper.start()
        before = lp.phaseloop.metrics()["iterations"]
        lp.run_forever()
        stopper.join()
        # A wake-up every millisecond would be some 50 iterations.
        assert lp.phaseloop.metrics()["iterations"] - before < 10
    finally:
        lp.close()


def test_bad_arguments_raise_as_asyncio_does(loop: asyncio.AbstractEventLoop) -> None:
    # 3.11 added the message; before, the addition of None failed with its own TypeError.
    with pytest.raises(
        TypeError, match=None if OLD_ASYNCIO else "delay must not be None"
    ):
        loop.call_later(None, noop)  # type: ignore[arg-type]
    # Before 3.11 asyncio's TimerHandle asserted `when` (an AssertionError); phaseloop's
    # says what 3.11 says.
    refused = (TypeError, AssertionError) if OLD_ASYNCIO else TypeError
    with pytest.raises(refused, match=None if OLD_ASYNCIO else "when cannot be None"):
        loop.call_at(None, noop)  # type: ignore[arg-type]
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_later(1, noop)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_at(1, noop)


def test_phaseloops_timer_handle_is_native_outside_debug_mode() -> None:
    lp = pla.new_event_loop()
    try:
        handle = lp.call_later(1, print, "x")
        assert isinstance(handle, pla.TimerHandle)
        assert handle._callback is print  # type: ignore[attr-defined]
        assert handle._args == ("x",)  # type: ignore[attr-defined]
        assert handle._loop is lp  # type: ignore[attr-defined]
        assert handle.get_context() is handle._context  # type: ignore[attr-defined]
        assert weakref.ref(handle)() is handle  # asyncio's handles take weak references
        lp.set_debug(True)
        assert isinstance(lp.call_later(1, print), asyncio.TimerHandle)
    finally:
        lp.close()


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_debug_modes_source_traceback_ends_where_the_timer_was_made(name: str) -> None:
    lp = LOOPS[name]()
    lp.set_debug(True)
    try:
        later = lp.call_later(0, noop)
        at = lp.call_at(lp.time(), noop)
        for handle in (later, at):
            last = handle._source_traceback[-1]  # type: ignore[attr-defined]
            assert (
                last.name
                == "test_debug_modes_source_traceback_ends_where_the_timer_was_made"
            )
        # Cancelled debug-mode handles leave the heap as native ones do.
        handles = [lp.call_later(10, noop) for _ in range(200)]
        for handle in handles:
            handle.cancel()
        lp.run_until_complete(asyncio.sleep(0.01))
        assert not any(h._scheduled for h in handles)  # type: ignore[attr-defined]
    finally:
        lp.close()


def test_a_subclasss_own_call_at_sees_call_later() -> None:
    calls: list[float] = []

    class Logged(pla.EventLoop):
        def call_at(self, when: float, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            calls.append(when)
            return super().call_at(when, *args, **kwargs)

    lp = Logged()
    try:
        handle = lp.call_later(5, noop)
        assert calls == [handle.when()]
        lp.run_until_complete(asyncio.sleep(0))
        assert len(calls) == 1  # sleep(0) schedules no timer
    finally:
        lp.close()


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


def test_create_future_and_get_debug_answer_as_asyncios(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # phaseloop's loop answers both without a Python frame: the answers must stay asyncio's.
    fut = loop.create_future()
    assert isinstance(fut, asyncio.Future) and fut.get_loop() is loop
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True
    # A task made in debug mode keeps its source traceback, which it asks get_debug for.
    task = loop.create_task(asyncio.sleep(0))
    assert task._source_traceback  # type: ignore[attr-defined]
    loop.run_until_complete(task)
    loop.set_debug(False)
    assert loop.get_debug() is False
    assert not loop.create_task(asyncio.sleep(0))._source_traceback  # type: ignore[attr-defined]
    loop.run_until_complete(asyncio.sleep(0))


def test_a_subclass_keeps_its_own_create_future_and_get_debug() -> None:
    made: list[str] = []

    class Mine(pla.EventLoop):
        def create_future(self) -> asyncio.Future[Any]:
            made.append("future")
            return super().create_future()

        def get_debug(self) -> bool:
            made.append("debug")
            return super().get_debug()

    loop = Mine()
    try:
        loop.run_until_complete(asyncio.sleep(0.001))
        assert "future" in made and "debug" in made
    finally:
        loop.close()


@pytest.mark.parametrize("recorded", [False, True], ids=["unrecorded", "recorded"])
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize(
    "task_type", [asyncio.Task, asyncio.tasks._PyTask], ids=["c_task", "py_task"]
)
@pytest.mark.parametrize("name", sorted(LOOPS))
def test_a_dropped_task_reports_its_exception_before_the_next_handle_runs(
    name: str, task_type: type, debug: bool, recorded: bool
) -> None:
    # asyncio lets go of a handle once it has run, so a task that failed and that nobody
    # holds is dropped, and its unretrieved exception reported, before the next handle of
    # the batch (here the step after sleep(0)) runs. CPython's test_futures2 relies on it.
    reported: list[str] = []

    def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        reported.append(context["message"])

    async def fails() -> None:
        raise ZeroDivisionError

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        if recorded and name == "phaseloop":
            loop.phaseloop.record()  # type: ignore[attr-defined]
        loop.set_exception_handler(handler)
        task_type(fails())
        await asyncio.sleep(0)
        return list(reported)

    loop = LOOPS[name]()
    loop.set_debug(debug)
    try:
        assert loop.run_until_complete(main()) == ["Task exception was never retrieved"]
    finally:
        loop.close()


def run_from_another_thread(
    loop: asyncio.AbstractEventLoop, calls: Callable[[], object]
) -> object:
    """``calls()`` on another thread while ``loop`` runs; the loop keeps waking (every 10 ms,
    as asyncio's own loop needs: its call_soon from another thread does not wake it) until
    the thread is done and 50 ms more have passed. What ``calls`` returned or raised."""
    outcome: list[object] = []

    def thread_main() -> None:
        try:
            outcome.append(calls())
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            outcome.append(exc)

    async def main() -> None:
        thread = threading.Thread(target=thread_main)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)

    loop.run_until_complete(main())
    return outcome[0]


def test_call_soon_and_call_later_from_another_thread_run_outside_debug_mode(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # Not thread-safe in asyncio, which refuses only in debug mode (below); outside it the
    # callbacks run, on the loop's thread. uvloop's test_check_thread relies on it.
    ran: list[tuple[str, int]] = []

    def note(what: str) -> None:
        ran.append((what, threading.get_ident()))

    async def coroutine() -> None:
        note("task")

    def calls() -> bool:
        loop.call_soon(note, "call_soon")
        loop.call_later(0.001, note, "call_later")
        loop.call_at(loop.time() + 0.002, note, "call_at")
        loop.call_later(0.003, note, "cancelled").cancel()
        task = loop.create_task(coroutine())
        return isinstance(task, asyncio.Task)

    assert run_from_another_thread(loop, calls) is True
    assert sorted(what for what, _ in ran) == [
        "call_at",
        "call_later",
        "call_soon",
        "task",
    ]
    assert {thread for _, thread in ran} == {threading.get_ident()}


def test_call_soon_and_call_later_from_another_thread_raise_in_debug_mode(
    loop: asyncio.AbstractEventLoop,
) -> None:
    loop.set_debug(True)
    message = (
        "Non-thread-safe operation invoked on an event loop other than the current one"
    )

    def calls() -> list[str]:
        raised = []
        for call in (
            lambda: loop.call_soon(print),
            lambda: loop.call_later(60, print),
            lambda: loop.call_at(loop.time() + 60, print),
        ):
            try:
                call()
            except RuntimeError as exc:
                raised.append(str(exc))
        return raised

    assert run_from_another_thread(loop, calls) == [message] * 3


def test_a_handle_can_be_weakly_referenced(loop: asyncio.AbstractEventLoop) -> None:
    soon = loop.call_soon(lambda: None)
    later = loop.call_later(0, lambda: None)
    refs = [weakref.ref(soon), weakref.ref(later)]
    del soon, later
    loop.run_until_complete(asyncio.sleep(0.01))
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
