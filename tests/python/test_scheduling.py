"""Every scheduling method, its args, label and handle."""

from __future__ import annotations

import contextvars
import functools

import phaseloop
import pytest


def test_callbacks_take_extra_positional_args_like_node(loop: phaseloop.Loop) -> None:
    log: list[tuple] = []

    def note(*args: object) -> None:
        log.append(args)

    loop.set_timeout(note, 5, "timeout", 1)

    def interval_cb(*args: object) -> None:
        note(*args)
        loop.clear_interval(interval)

    interval = loop.set_interval(interval_cb, 7, "interval", 2)
    loop.set_immediate(note, "immediate", 4)
    loop.next_tick(note, "tick", 5)
    loop.queue_pending(note, "pending", 6)
    loop.call_threadsafe(note, "threadsafe", 7)
    loop.run()
    assert sorted(log) == sorted(
        [
            ("timeout", 1),
            ("interval", 2),
            ("immediate", 4),
            ("tick", 5),
            ("pending", 6),
            ("threadsafe", 7),
        ]
    )


def test_set_timeout_coerces_delays_like_node(loop: phaseloop.Loop) -> None:
    due: list[tuple[object, int]] = []
    for delay in (0, -5, float("nan"), 2**31, 1.7, 2.9, None, True, 10**30):
        loop.set_timeout(lambda d=delay: due.append((d, loop.now())), delay)
    loop.set_timeout(lambda: due.append(("default", loop.now())))
    loop.run()
    when = {repr(d): t for d, t in due}
    assert when == {
        "0": 1,
        "-5": 1,
        "nan": 1,
        repr(2**31): 1,
        "1.7": 1,
        "2.9": 2,
        "None": 1,
        "True": 1,
        repr(10**30): 1,
        "'default'": 1,
    }


@pytest.mark.parametrize("delay", ["100", b"1", [], object()])
def test_a_delay_that_is_no_number_is_a_type_error(
    loop: phaseloop.Loop, delay: object
) -> None:
    with pytest.raises(TypeError, match="delay"):
        loop.set_timeout(lambda: None, delay)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="delay"):
        loop.set_interval(lambda: None, delay)  # type: ignore[arg-type]


def test_a_callback_that_is_not_callable_is_a_type_error(loop: phaseloop.Loop) -> None:
    methods = [
        lambda cb: loop.set_timeout(cb, 1),
        lambda cb: loop.set_interval(cb, 1),
        loop.set_immediate,
        loop.next_tick,
        loop.queue_microtask,
        loop.queue_pending,
        loop.add_idle,
        loop.add_prepare,
        loop.add_check,
        loop.call_threadsafe,
        lambda cb: loop.watch_fd(0, cb),
        lambda cb: loop.on_signal(10, cb),
        lambda cb: loop.queue_work(lambda: None, callback=cb),
        lambda cb: loop.set_timeout(lambda: None, 1).close(cb),
    ]
    for method in methods:
        with pytest.raises(TypeError, match="callback must be callable, not int"):
            method(42)
    with pytest.raises(TypeError, match="work must be callable"):
        loop.queue_work(42)  # type: ignore[arg-type]
    assert loop.handles()  # the timers above were scheduled; nothing else was


def test_label_must_be_a_string(loop: phaseloop.Loop) -> None:
    with pytest.raises(TypeError, match="label"):
        loop.set_immediate(lambda: None, label=3)  # type: ignore[arg-type]


def test_clear_accepts_none_finished_and_cleared_handles(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    timer = loop.set_timeout(log.append, 1, "timer")
    immediate = loop.set_immediate(log.append, "immediate")
    loop.run()
    for _ in range(2):
        loop.clear_timeout(timer)
        loop.clear_interval(timer)
        loop.clear_immediate(immediate)
    loop.clear_timeout(None)
    loop.clear_interval(None)
    loop.clear_immediate(None)
    assert log == ["immediate", "timer"]
    with pytest.raises(TypeError):
        loop.clear_timeout(immediate)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.clear_immediate(timer)  # type: ignore[arg-type]


def test_clearing_an_immediate_again_leaves_the_next_one_queued(
    loop: phaseloop.Loop,
) -> None:
    log: list[str] = []
    loop.set_immediate(log.append, "first")
    newest = loop.set_immediate(log.append, "cleared")
    loop.clear_immediate(newest)
    loop.set_immediate(log.append, "next")
    # The cleared immediate's number was not given to "next": clearing it again does nothing.
    loop.clear_immediate(newest)
    loop.run()
    assert log == ["first", "next"]


def test_clear_prevents_the_callback(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    loop.clear_timeout(loop.set_timeout(log.append, 1, "timeout"))
    loop.clear_immediate(loop.set_immediate(log.append, "immediate"))
    interval = loop.set_interval(log.append, 1, "interval")
    loop.set_timeout(loop.clear_interval, 3, interval)
    loop.run()
    assert log == ["interval", "interval"]


def test_a_handle_of_another_loop_is_refused(loop: phaseloop.Loop) -> None:
    with phaseloop.Loop() as other:
        timer = other.set_timeout(lambda: None, 1)
        immediate = other.set_immediate(lambda: None)
        with pytest.raises(ValueError, match="another loop"):
            loop.clear_timeout(timer)
        with pytest.raises(ValueError, match="another loop"):
            loop.clear_immediate(immediate)


def test_ticks_and_microtasks_drain_after_each_macrotask(loop: phaseloop.Loop) -> None:
    log: list[str] = []

    def macrotask(name: str) -> None:
        log.append(name)
        loop.queue_microtask(lambda: log.append(f"{name}.micro"))
        loop.next_tick(log.append, f"{name}.tick")

    loop.set_immediate(macrotask, "a")
    loop.set_immediate(macrotask, "b")
    loop.run()
    assert log == ["a", "a.tick", "a.micro", "b", "b.tick", "b.micro"]


def test_timer_ref_unref_has_ref(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    timer = loop.set_timeout(log.append, 10, "t")
    assert timer.has_ref()
    assert timer.unref() is timer
    assert not timer.has_ref()
    assert loop.run() is False  # an unref'd timer keeps nothing alive
    assert log == []
    assert timer.ref() is timer
    assert timer.has_ref()
    loop.run()
    assert log == ["t"]
    # ref()/unref() of a finished timer are fine and remembered for refresh().
    timer.unref()
    assert not timer.has_ref()


def test_refresh_moves_the_timer_and_rearms_a_fired_one_shot_timer(
    loop: phaseloop.Loop,
) -> None:
    log: list[int] = []
    timer = loop.set_timeout(lambda: log.append(loop.now()), 10)
    loop.set_timeout(timer.refresh, 5)  # re-armed at 5: due at 15
    loop.run()
    assert log == [15]
    assert not timer.active
    assert timer.refresh() is timer  # fired: refresh arms it again (as Node)
    assert timer.active
    loop.run()
    assert log == [15, 25]
    loop.clear_timeout(timer)
    timer.refresh()  # cleared: stays cleared
    assert not timer.active
    assert loop.run() is False
    assert log == [15, 25]


def test_refresh_of_a_fired_unrefd_timer_keeps_it_unrefd(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    timer = loop.set_timeout(log.append, 1, "t")
    loop.run()
    timer.unref().refresh()
    assert timer.active
    assert loop.run() is False
    assert log == ["t"]


def test_refresh_inside_its_own_callback_runs_it_again(loop: phaseloop.Loop) -> None:
    log: list[int] = []

    def again() -> None:
        log.append(loop.now())
        if len(log) < 3:
            timer.refresh()

    timer = loop.set_timeout(again, 4)
    loop.run()
    assert log == [4, 8, 12]


def test_timer_close_runs_its_callback_in_the_close_phase(loop: phaseloop.Loop) -> None:
    log: list[tuple[str, object]] = []
    fired = loop.set_timeout(lambda: log.append(("fired", loop.phase)), 1)
    loop.run()
    armed = loop.set_timeout(log.append, 50, ("never", None))
    loop.set_immediate(armed.close, lambda: log.append(("closed armed", loop.phase)))
    loop.set_immediate(fired.close, lambda: log.append(("closed fired", loop.phase)))
    loop.run()
    assert log == [
        ("fired", "timers"),
        ("closed armed", "close"),
        ("closed fired", "close"),
    ]
    assert not armed.active
    armed.close(lambda: log.append(("twice", None)))  # a second close does nothing
    armed.refresh()
    loop.run()
    assert len(log) == 3


def test_interval_runs_until_cleared_and_is_active_meanwhile(
    loop: phaseloop.Loop,
) -> None:
    times: list[int] = []

    def tick() -> None:
        times.append(loop.now())
        assert interval.active
        if len(times) == 3:
            loop.clear_interval(interval)

    interval = loop.set_interval(tick, 10)
    loop.run()
    assert times == [10, 20, 30]
    assert not interval.active


def test_immediate_ref_unref_active(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    immediate = loop.set_immediate(log.append, "i")
    assert immediate.active
    assert immediate.unref() is immediate
    assert not immediate.has_ref()
    assert not loop.alive
    assert immediate.ref().has_ref()
    loop.run()
    assert not immediate.active
    assert log == ["i"]
    assert repr(immediate) == "<phaseloop.Immediate>"


def test_each_immediate_object_stays_its_own_whatever_was_dropped_before(
    loop: phaseloop.Loop,
) -> None:
    log: list[str] = []
    # Dropped at once, unref'd first: the next immediate is ref'd and active all the same.
    loop.set_immediate(log.append, "dropped").unref()
    kept = loop.set_immediate(log.append, "kept")
    assert kept.has_ref()
    assert kept.active
    other = loop.set_immediate(log.append, "cleared")
    assert other is not kept
    loop.clear_immediate(other)
    assert kept.active
    assert not other.active
    loop.clear_immediate(loop.set_immediate(log.append, "cleared at once"))
    loop.run()
    assert log == ["dropped", "kept"]
    assert not kept.active


def test_immediates_queued_in_the_check_phase_wait_for_the_next_iteration(
    loop: phaseloop.Loop,
) -> None:
    log: list[tuple[str, int]] = []

    def first() -> None:
        log.append(("first", loop.iteration))
        loop.set_immediate(lambda: log.append(("queued in check", loop.iteration)))

    loop.set_immediate(first)
    loop.set_immediate(lambda: log.append(("second", loop.iteration)))
    loop.run()
    assert log == [("first", 1), ("second", 1), ("queued in check", 2)]


def test_queue_microtask_takes_no_args_but_next_tick_does(loop: phaseloop.Loop) -> None:
    with pytest.raises(TypeError):
        loop.queue_microtask(print, "x")  # type: ignore[call-arg]
    log: list[int] = []
    loop.queue_microtask(functools.partial(log.append, 2))
    loop.next_tick(log.append, 1)
    loop.run()
    assert log == [1, 2]


def test_idle_prepare_check_handles_run_every_iteration_until_stopped(
    loop: phaseloop.Loop,
) -> None:
    log: list[str] = []
    # Started first, so it runs last of the check handles (most recently started first).
    stopper = loop.add_check(
        lambda: [h.stop() for h in (idle, prepare, check, stopper)]
    )
    idle = loop.add_idle(lambda: log.append("idle"))
    prepare = loop.add_prepare(lambda: log.append("prepare"))
    check = loop.add_check(lambda: log.append("check"))
    loop.set_immediate(log.append, "immediate")
    assert all(h.active for h in (idle, prepare, check))
    loop.run()
    # Most recently started first within a phase; check handles before immediates.
    assert log == ["idle", "prepare", "check", "immediate"]
    assert not any(h.active for h in (idle, prepare, check))
    idle.start()
    assert idle.active
    idle.stop()
    assert loop.run() is False


def test_handle_ref_unref_close(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    check = loop.add_check(lambda: log.append("check"))
    assert check.unref() is check
    assert not check.has_ref()
    assert loop.run() is False  # an unref'd handle keeps nothing alive
    check.ref()
    assert check.has_ref()
    loop.set_timeout(check.close, 3, lambda: log.append(("closed", loop.phase)))  # type: ignore[arg-type]
    loop.run()
    assert log[-1] == ("closed", "close")
    assert not check.active
    check.stop()  # harmless once closed
    check.close()  # a second close does nothing
    with pytest.raises(RuntimeError, match="closed"):
        check.start()


def test_an_idle_handle_makes_poll_non_blocking(real_loop: phaseloop.Loop) -> None:
    count = 0

    def idle_cb() -> None:
        nonlocal count
        count += 1

    idle = real_loop.add_idle(idle_cb)
    real_loop.set_timeout(idle.stop, 30)
    real_loop.run()
    assert count > 3  # it spun while the timer was pending instead of sleeping


def test_queue_pending_runs_in_the_next_pending_phase(loop: phaseloop.Loop) -> None:
    log: list[tuple[str, object]] = []
    loop.set_immediate(
        lambda: loop.queue_pending(lambda: log.append(("pending", loop.phase)))
    )
    loop.set_timeout(lambda: log.append(("timeout", loop.phase)), 1)
    loop.run()
    # The immediate runs in iteration 1's check phase; its pending callback waits for the
    # next pending phase, in iteration 2, before the virtual clock reaches the 1 ms timer.
    assert log == [("pending", "pending"), ("timeout", "timers")]


def test_callbacks_run_in_the_context_of_their_scheduling(loop: phaseloop.Loop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[tuple[str, str]] = []

    def look(where: str) -> None:
        seen.append((where, var.get()))
        var.set("changed by " + where)  # never leaks into another callback

    token = var.set("a")
    loop.set_timeout(look, 1, "timeout")
    loop.set_immediate(look, "immediate")
    var.set("b")
    loop.next_tick(look, "tick")
    loop.queue_microtask(lambda: look("micro"))
    loop.queue_work(lambda: var.get(), callback=lambda e, r: seen.append(("work", r)))
    var.reset(token)
    loop.call_threadsafe(look, "threadsafe")
    loop.run()
    assert sorted(seen) == sorted(
        [
            ("timeout", "a"),
            ("immediate", "a"),
            ("tick", "b"),
            ("micro", "b"),
            ("work", "b"),
            ("threadsafe", "unset"),
        ]
    )
    assert var.get() == "unset"


def test_callbacks_scheduled_in_one_context_each_run_in_their_own_copy(
    loop: phaseloop.Loop,
) -> None:
    # Callbacks that run once, scheduled while the context stays the same, each see the
    # context as it was when they were scheduled, whatever the callbacks before them set.
    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)
    seen: list[tuple[str, int]] = []

    def look(where: str) -> None:
        seen.append((where, var.get()))
        var.set(var.get() + 100)

    var.set(1)
    for _ in range(2):
        loop.set_immediate(look, "immediate")
        loop.next_tick(look, "tick")
        loop.queue_microtask(lambda: look("micro"))
        loop.queue_pending(look, "pending")
        loop.call_threadsafe(look, "threadsafe")
        loop.resolve().then(lambda _: look("then"))
    var.set(2)
    loop.set_immediate(look, "immediate after set")
    loop.run()
    assert sorted(seen) == sorted(
        [
            (where, 1)
            for where in ("immediate", "tick", "micro", "pending", "threadsafe", "then")
        ]
        * 2
        + [("immediate after set", 2)]
    )
    assert var.get() == 2


def test_a_callback_schedules_in_the_context_it_changed(loop: phaseloop.Loop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[tuple[str, str]] = []

    def first() -> None:
        loop.set_immediate(lambda: seen.append(("before set", var.get())))
        var.set("set by first")
        loop.set_immediate(lambda: seen.append(("after set", var.get())))
        loop.next_tick(lambda: seen.append(("tick", var.get())))

    loop.set_immediate(first)
    loop.run()
    assert seen == [
        ("tick", "set by first"),
        ("before set", "unset"),
        ("after set", "set by first"),
    ]


def test_an_interval_sees_what_its_previous_run_set(loop: phaseloop.Loop) -> None:
    # A callback that runs again keeps one context of its own, as an asyncio handle does.
    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)
    seen: list[int] = []

    def tick() -> None:
        seen.append(var.get())
        var.set(var.get() + 1)
        if len(seen) == 3:
            loop.clear_interval(interval)

    interval = loop.set_interval(tick, 1)
    loop.set_immediate(lambda: var.set(50))
    loop.run()
    assert seen == [0, 1, 2]


def test_a_context_entered_by_the_caller_of_run_does_not_clash(
    loop: phaseloop.Loop,
) -> None:
    ctx = contextvars.copy_context()
    log: list[int] = []
    loop.set_immediate(log.append, 1)
    ctx.run(loop.run)
    assert log == [1]
