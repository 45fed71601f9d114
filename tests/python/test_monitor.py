"""The trace hook, the timeline recorder, the delay monitor, utilization and metrics."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import phaseloop
import pytest


def named_callback() -> None:
    pass


def test_trace_is_called_before_every_callback_with_iteration_phase_kind_and_callback(
    loop: phaseloop.Loop,
) -> None:
    calls: list[tuple[int, object, str, object]] = []
    order: list[str] = []
    loop.trace = lambda *args: (calls.append(args), order.append("trace"))
    assert loop.trace is not None

    def cb() -> None:
        order.append("callback")

    loop.next_tick(cb)
    loop.set_timeout(cb, 1)
    loop.set_immediate(cb)
    loop.queue_microtask(cb)
    loop.run()
    assert order == ["trace", "callback"] * 4
    assert [(c[1], c[2]) for c in calls] == [
        (None, "tick"),
        (None, "microtask"),
        ("check", "immediate"),
        ("timers", "timeout"),
    ]
    assert all(c[3] is cb for c in calls)
    assert calls[0][0] == 0
    loop.trace = None
    loop.set_immediate(cb)
    loop.run()
    assert len(calls) == 4


def test_trace_sees_every_kind(real_loop: phaseloop.Loop) -> None:
    kinds: list[str] = []
    real_loop.trace = lambda iteration, phase, kind, callback: kinds.append(kind)
    interval = real_loop.set_interval(lambda: real_loop.clear_interval(interval), 1)
    real_loop.queue_pending(named_callback)
    idle = real_loop.add_idle(lambda: idle.close(named_callback))
    prepare = real_loop.add_prepare(lambda: prepare.stop())
    check = real_loop.add_check(lambda: check.stop())
    real_loop.queue_work(lambda: None, callback=lambda e, r: None)
    real_loop.call_threadsafe(named_callback)
    real_loop.run()
    assert sorted(set(kinds)) == sorted(
        [
            "interval",
            "pending",
            "idle",
            "prepare",
            "check",
            "work",
            "threadsafe",
            "close",
        ]
    )


def test_trace_names_each_kind_of_callback_and_the_callable_it_runs(
    real_loop: phaseloop.Loop,
) -> None:
    # One callback at a time, each scheduling the next, so the order is exact.
    lp = real_loop
    traced: list[tuple[str | None, str, object]] = []
    lp.trace = lambda iteration, phase, kind, callback: traced.append(
        (phase, kind, callback)
    )
    steps: list[Callable[[], object]] = []
    handles: dict[str, Any] = {}

    def next_step(*args: object) -> None:
        if steps:
            steps.pop(0)()

    def done() -> None:
        pass

    def on_interval() -> None:
        lp.clear_interval(handles["interval"])
        next_step()

    def on_idle() -> None:
        handles["idle"].stop()
        next_step()

    def on_prepare() -> None:
        handles["prepare"].close(next_step)

    def on_check() -> None:
        handles["check"].close()
        next_step()

    read_fd, write_fd = os.pipe()

    def on_io(readable: bool, writable: bool) -> None:
        handles["watcher"].close()
        next_step()

    def on_usr1(signum: int) -> None:
        handles["usr1"].close()
        next_step()

    def start_check() -> None:
        handles["check"] = lp.add_check(on_check)
        lp.set_immediate(done)  # a check handle alone would let poll block

    def start_io() -> None:
        os.write(write_fd, b"x")
        handles["watcher"] = lp.watch_fd(read_fd, on_io)

    def start_signal() -> None:
        handles["usr1"] = lp.on_signal(signal.SIGUSR1, on_usr1)
        os.kill(os.getpid(), signal.SIGUSR1)

    def start_interval() -> None:
        handles["interval"] = lp.set_interval(on_interval, 1)

    def start_idle() -> None:
        handles["idle"] = lp.add_idle(on_idle)

    def start_prepare() -> None:
        handles["prepare"] = lp.add_prepare(on_prepare)

    steps.extend(
        [
            lambda: lp.next_tick(next_step),
            lambda: lp.queue_microtask(next_step),
            lambda: lp.resolve(1).then(next_step),
            lambda: lp.set_timeout(next_step, 1),
            start_interval,
            lambda: lp.set_immediate(next_step),
            lambda: lp.queue_pending(next_step),
            start_idle,
            start_prepare,
            start_check,
            lambda: lp.queue_work(lambda: 1, callback=next_step),
            lambda: lp.call_threadsafe(next_step),
            start_io,
            start_signal,
        ]
    )
    lp.set_immediate(next_step)
    try:
        lp.run()
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert traced == [
        ("check", "immediate", next_step),
        ("check", "tick", next_step),
        ("check", "microtask", next_step),
        ("check", "microtask", next_step),
        ("timers", "timeout", next_step),
        ("timers", "interval", on_interval),
        ("check", "immediate", next_step),
        ("pending", "pending", next_step),
        ("idle", "idle", on_idle),
        ("prepare", "prepare", on_prepare),
        ("close", "close", next_step),
        ("check", "check", on_check),
        ("check", "immediate", done),
        ("poll", "work", next_step),
        ("poll", "threadsafe", next_step),
        ("poll", "io", on_io),
        ("poll", "signal", on_usr1),
    ]


def test_trace_sees_the_network_and_process_kinds(real_loop: phaseloop.Loop) -> None:
    lp = real_loop
    kinds: set[str] = set()
    lp.trace = lambda iteration, phase, kind, callback: kinds.add(kind)

    def on_connection(stream: phaseloop.net.Stream) -> None:
        stream.on("data", lambda data: (stream.end(), server.close()))

    server = lp.listen(on_connection)
    client = lp.connect(
        server.port, on_connect=lambda: client.write(b"hi", lambda err: None)
    )
    client.on("end", lambda: client.end())
    client.resume()
    udp = lp.udp(lambda data, sender: udp.close())
    udp.bind(0, "127.0.0.1", lambda: udp.send(b"x", udp.address[1], "127.0.0.1"))
    lp.spawn(
        [sys.executable, "-c", "pass"],
        stdin="ignore",
        stdout="ignore",
        stderr="ignore",
        on_exit=lambda code, signum: None,
    )
    lp.run()
    assert kinds == {"tick", "connection", "connect", "read", "udp", "close", "exit"}


@pytest.mark.parametrize("with_on_error", [False, True])
def test_an_exception_raised_by_trace_stands_for_the_callback_it_preceded(
    loop: phaseloop.Loop, with_on_error: bool
) -> None:
    ran: list[str] = []
    errors: list[BaseException] = []
    hook_error = ValueError("from the hook")

    def hook(iteration: int, phase: object, kind: str, callback: object) -> None:
        if kind == "timeout" and not ran.count("raised"):
            ran.append("raised")
            raise hook_error

    loop.trace = hook
    if with_on_error:
        loop.on_error = errors.append
    loop.set_timeout(lambda: ran.append("first timeout"), 1)
    loop.set_immediate(lambda: ran.append("immediate"))
    loop.set_timeout(lambda: ran.append("second timeout"), 2)
    if with_on_error:
        loop.run()
        assert errors == [hook_error]
    else:
        with pytest.raises(ValueError, match="from the hook"):
            loop.run()
        loop.run()
    # The callback the hook raised before did not run; the hook stays set.
    assert ran == ["immediate", "raised", "second timeout"]
    assert loop.trace is hook


def test_record_and_timeline_without_calling_python(loop: phaseloop.Loop) -> None:
    loop.record()
    loop.set_timeout(named_callback, 5, label="five ms")
    loop.set_immediate(named_callback)
    loop.next_tick(lambda: None)
    loop.run()
    loop.record(False)
    loop.set_immediate(named_callback)
    loop.run()
    timeline = loop.timeline()
    assert [(e.phase, e.kind, e.label) for e in timeline] == [
        (
            None,
            "tick",
            "test_record_and_timeline_without_calling_python.<locals>.<lambda>",
        ),
        ("check", "immediate", "named_callback"),
        ("timers", "timeout", "five ms"),
    ]
    event = timeline[-1]
    assert isinstance(event, phaseloop.TraceEvent)
    assert event.start_ns == 5_000_000  # virtual clock
    assert event.duration_ns == 0
    assert event._fields == (
        "iteration",
        "phase",
        "kind",
        "label",
        "start_ns",
        "duration_ns",
    )
    _iteration, phase, kind, _label, _start_ns, _duration_ns = event
    assert (phase, kind) == ("timers", "timeout")


def test_delay_monitor_samples_each_iteration_in_ns(real_loop: phaseloop.Loop) -> None:
    monitor = real_loop.monitor_delay()
    assert monitor.count == 0
    assert monitor.enable() is True
    assert monitor.enable() is False

    def busy() -> None:
        time.sleep(0.02)  # the loop is away from poll for 20 ms

    for delay in (1, 30, 60):
        real_loop.set_timeout(busy, delay)
    real_loop.run()
    assert monitor.count >= 2  # one sample per return to poll after the first
    assert monitor.max >= 15_000_000
    assert monitor.min <= monitor.mean <= monitor.max
    assert monitor.stddev >= 0
    assert monitor.percentile(100) >= monitor.percentile(50) > 0
    assert 100.0 in monitor.percentiles
    assert monitor.disable() is True
    monitor.reset()
    assert monitor.count == 0
    with pytest.raises(ValueError):
        monitor.percentile(101)


def test_utilization_has_nodes_one_and_two_argument_forms(
    real_loop: phaseloop.Loop,
) -> None:
    u1 = real_loop.utilization()
    assert set(u1) == {"idle", "active", "utilization"}
    real_loop.set_timeout(lambda: None, 50)  # idle in poll for ~50 ms
    real_loop.run()
    u2 = real_loop.utilization()
    delta = real_loop.utilization(u1)
    assert delta["idle"] >= 40
    assert 0 <= delta["utilization"] < 0.5
    between = real_loop.utilization(u2, u1)
    assert between["idle"] == pytest.approx(u2["idle"] - u1["idle"])
    assert between["active"] == pytest.approx(u2["active"] - u1["active"])


def test_metrics_count_iterations_events_and_the_pool(
    real_loop: phaseloop.Loop,
) -> None:
    m = real_loop.metrics()
    assert set(m) == {
        "iterations",
        "events",
        "events_waiting",
        "pool_queued",
        "pool_running",
    }
    real_loop.queue_work(lambda: None, callback=lambda e, r: None)
    real_loop.call_threadsafe(lambda: None)
    real_loop.run()
    m = real_loop.metrics()
    assert m["iterations"] >= 1
    assert m["events"] >= 2
    assert m["pool_queued"] == 0 and m["pool_running"] == 0
