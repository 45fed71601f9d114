"""Exceptions in callbacks (ordering rule 8, docs/ordering.md), on_error, and using a loop from
another thread."""

from __future__ import annotations

import threading
import traceback

import phaseloop
import pytest


class Boom(Exception):
    pass


def fail(message: str) -> None:
    raise Boom(message)


def test_run_raises_the_callback_exception_with_its_traceback(
    loop: phaseloop.Loop,
) -> None:
    loop.set_immediate(fail, "first")
    with pytest.raises(Boom, match="first") as info:
        loop.run()
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "fail"  # the raising frame is still there


def test_a_later_run_resumes_where_the_failed_one_stopped(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    loop.set_immediate(log.append, "a")
    loop.set_immediate(fail, "b")
    loop.set_immediate(log.append, "c")
    loop.set_timeout(log.append, 1, "timeout")
    with pytest.raises(Boom):
        loop.run()
    assert log == ["a"]
    assert loop.run() is False
    assert log == ["a", "c", "timeout"]


def test_an_interval_that_raised_is_still_armed(loop: phaseloop.Loop) -> None:
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        if count == 3:
            loop.clear_interval(interval)
        raise Boom(str(count))

    interval = loop.set_interval(tick, 5)
    for expected in ("1", "2", "3"):
        with pytest.raises(Boom, match=expected):
            loop.run()
    assert loop.run() is False


def test_a_failing_tick_keeps_the_rest_of_the_queue(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    loop.next_tick(fail, "tick")
    loop.next_tick(log.append, "next")
    loop.queue_microtask(lambda: log.append("micro"))
    with pytest.raises(Boom):
        loop.run()
    loop.run()
    assert log == ["next", "micro"]


def test_on_error_gets_the_exception_and_the_loop_goes_on(loop: phaseloop.Loop) -> None:
    errors: list[BaseException] = []
    log: list[str] = []
    assert loop.on_error is None
    loop.on_error = errors.append
    assert loop.on_error == errors.append
    loop.set_immediate(fail, "x")
    loop.set_immediate(log.append, "after")
    loop.next_tick(fail, "tick")
    loop.queue_work(lambda: 1 / 0)  # a failing job without a callback is uncaught too
    loop.run()
    assert log == ["after"]
    # The job's error comes in whichever poll phase its completion reaches.
    assert sorted(type(e).__name__ for e in errors) == [
        "Boom",
        "Boom",
        "ZeroDivisionError",
    ]
    assert errors[0].__traceback__ is not None
    loop.on_error = None
    loop.set_immediate(fail, "y")
    with pytest.raises(Boom):
        loop.run()


def test_an_error_raised_by_on_error_stops_run(loop: phaseloop.Loop) -> None:
    def handler(err: BaseException) -> None:
        raise RuntimeError("handler failed") from err

    loop.on_error = handler
    loop.set_immediate(fail, "x")
    with pytest.raises(RuntimeError, match="handler failed") as info:
        loop.run()
    assert isinstance(info.value.__cause__, Boom)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_never_go_to_on_error(
    loop: phaseloop.Loop, exc: type[BaseException]
) -> None:
    errors: list[BaseException] = []
    loop.on_error = errors.append
    log: list[str] = []

    def raise_it() -> None:
        raise exc()

    loop.set_immediate(raise_it)
    loop.set_immediate(log.append, "still queued")
    with pytest.raises(exc):
        loop.run()
    assert errors == []
    loop.run()
    assert log == ["still queued"]


def test_on_error_and_trace_must_be_callable(loop: phaseloop.Loop) -> None:
    with pytest.raises(TypeError, match="on_error"):
        loop.on_error = 3  # type: ignore[assignment]
    with pytest.raises(TypeError, match="trace"):
        loop.trace = "x"  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        (lambda lp: lp.set_timeout(lambda: None, "x"), TypeError, "delay"),
        (lambda lp: lp.set_immediate(None), TypeError, "callback"),
        (lambda lp: lp.run(mode="bogus"), ValueError, "mode"),
        (lambda lp: lp.watch_fd(-1, lambda r, w: None), ValueError, "fd"),
        (lambda lp: lp.watch_fd("0", lambda r, w: None), TypeError, "fd"),
        (
            lambda lp: lp.watch_fd(0, lambda r, w: None, readable=False),
            ValueError,
            "readable",
        ),
        (lambda lp: lp.on_signal(-1, lambda s: None), ValueError, "signum"),
        (lambda lp: lp.on_signal(9, lambda s: None), ValueError, "signum"),
        (lambda lp: lp.on_signal("SIGINT", lambda s: None), TypeError, "signum"),
        (lambda lp: lp.advance("1"), TypeError, "ms"),
        (lambda lp: lp.utilization({"idle": 1}), TypeError, "u1"),
        (lambda lp: lp.monitor_delay().percentile(0), ValueError, "p"),
        (lambda lp: lp.queue_work(phaseloop.jobs.sha256), TypeError, "sha256"),
        (lambda lp: lp.queue_work(phaseloop.jobs.sha256, 3), TypeError, "data"),
        (lambda lp: lp.queue_work(phaseloop.jobs.read_file, 3), TypeError, "path"),
        (
            lambda lp: lp.queue_work(phaseloop.jobs.deflate, b"", 10),
            ValueError,
            "level",
        ),
        (
            lambda lp: lp.queue_work(phaseloop.jobs.pbkdf2, b"", b"", 0, 8),
            ValueError,
            "iterations",
        ),
        (
            lambda lp: lp.queue_work(phaseloop.jobs.pbkdf2, b"", b"", 1, 0),
            ValueError,
            "keylen",
        ),
        (
            lambda lp: lp.queue_work(phaseloop.jobs.pbkdf2, b"", b"", 1, 8, "md5"),
            ValueError,
            "digest",
        ),
        (lambda lp: lp.queue_work(phaseloop.jobs.sleep, -1), ValueError, "ms"),
    ],
)
def test_bad_input_names_the_argument(
    loop: phaseloop.Loop, call, error: type, names: str
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=names):
        call(loop)


def run_in_thread(fn):  # type: ignore[no-untyped-def]
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(_capture(fn)))
    thread.start()
    thread.join()
    return result[0]


def _capture(fn):  # type: ignore[no-untyped-def]
    try:
        return fn()
    except BaseException as err:  # noqa: BLE001 - handed back to the test
        return err


def test_only_the_loops_thread_may_use_it_except_call_threadsafe(
    loop: phaseloop.Loop,
) -> None:
    timer = loop.set_timeout(lambda: None, 5)
    immediate = loop.set_immediate(lambda: None)
    handle = loop.add_check(lambda: None)
    work = loop.queue_work(lambda: None)
    monitor = loop.monitor_delay()
    calls = [
        loop.run,
        loop.stop,
        loop.now,
        loop.close,
        loop.handles,
        lambda: loop.phase,
        lambda: loop.alive,
        lambda: loop.set_immediate(print),
        lambda: loop.next_tick(print),
        lambda: loop.clear_timeout(timer),
        lambda: setattr(loop, "on_error", None),
        timer.refresh,
        timer.unref,
        lambda: timer.active,
        immediate.unref,
        handle.stop,
        work.cancel,
        monitor.enable,
        loop.metrics,
    ]
    for call in calls:
        err = run_in_thread(call)
        assert isinstance(err, RuntimeError), call
        assert "thread" in str(err)
    log: list[str] = []
    assert (
        run_in_thread(lambda: loop.call_threadsafe(log.append, "from a thread")) is None
    )
    handle.stop()
    loop.run()
    assert log == ["from a thread"]
    assert "another thread" in run_in_thread(lambda: repr(loop))  # type: ignore[operator]


def test_a_loop_may_be_handed_to_another_thread_that_then_cannot_use_it() -> None:
    made: list[phaseloop.Loop] = []
    created, go = threading.Event(), threading.Event()
    log: list[object] = []

    def owner() -> None:
        lp = phaseloop.Loop(clock="virtual")
        made.append(lp)
        created.set()
        go.wait()
        lp.run()
        lp.close()

    thread = threading.Thread(target=owner)
    thread.start()
    created.wait()
    lp = made[0]
    with pytest.raises(RuntimeError, match="thread"):
        lp.set_immediate(print)
    lp.call_threadsafe(
        log.append, threading.current_thread().name
    )  # any thread may do this
    go.set()
    thread.join()
    assert log == [threading.current_thread().name]
    with pytest.raises(phaseloop.LoopClosed):
        lp.call_threadsafe(print)
