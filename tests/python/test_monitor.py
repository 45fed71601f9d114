"""The trace hook, the timeline recorder, the delay monitor, utilization and metrics."""

from __future__ import annotations

import time

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
