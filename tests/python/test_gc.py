"""Garbage collection: what the loop holds takes part in Python's collector, and nothing leaks."""

from __future__ import annotations

import gc
import sys
import weakref

import phaseloop


class Payload:
    """Something a callback captures, to watch with a weakref."""


def test_a_callback_capturing_its_own_handle_is_collected_after_close() -> None:
    lp = phaseloop.Loop()

    def schedule() -> weakref.ref[Payload]:
        payload = Payload()
        timer = lp.set_timeout(lambda: (payload, timer.refresh()), 10_000)
        immediate = lp.set_immediate(lambda: (payload, immediate))
        check = lp.add_check(lambda: (payload, check))
        return weakref.ref(payload)

    ref = schedule()
    gc.collect()
    assert ref() is not None  # scheduled: the loop keeps it
    lp.close()
    gc.collect()
    assert ref() is None


def test_a_fired_timeout_keeps_its_callback_only_while_its_timer_object_lives() -> None:
    lp = phaseloop.Loop(clock="virtual")
    payload = Payload()
    ref = weakref.ref(payload)
    timer = lp.set_timeout(lambda p: None, 10, payload)
    del payload
    lp.run()
    gc.collect()
    assert ref() is not None  # fired, but timer.refresh() may still run it again
    del timer  # the Timer object lets go: the loop forgets the callback at once
    assert ref() is None
    lp.close()


def test_a_callback_capturing_the_loop_lets_the_loop_be_collected_without_close() -> (
    None
):
    def make() -> tuple[weakref.ref[phaseloop.Loop], weakref.ref[Payload]]:
        lp = phaseloop.Loop()
        payload = Payload()
        lp.set_interval(lambda: (payload, lp.stop()), 10_000)
        lp.next_tick(lambda: lp)
        lp.on_error = lambda err: lp
        lp.trace = lambda *args: lp
        lp.call_threadsafe(lambda: lp)
        return weakref.ref(lp), weakref.ref(payload)

    loop_ref, payload_ref = make()
    gc.collect()
    assert loop_ref() is None
    assert payload_ref() is None


def test_a_cycle_through_a_handle_and_the_loop_is_collected() -> None:
    def make() -> weakref.ref[phaseloop.Loop]:
        lp = phaseloop.Loop()
        holder: dict[str, object] = {}
        holder["timer"] = lp.set_timeout(lambda: holder, 10_000)
        holder["monitor"] = lp.monitor_delay()
        holder["work"] = lp.queue_work(lambda: None, callback=lambda e, r: holder)
        return weakref.ref(lp)

    ref = make()
    gc.collect()
    assert ref() is None


def test_close_releases_callbacks_args_and_contexts_at_once() -> None:
    lp = phaseloop.Loop()
    arg = Payload()
    ref = weakref.ref(arg)
    lp.set_timeout(print, 10_000, arg)
    lp.set_immediate(print, arg)
    lp.next_tick(print, arg)
    del arg
    assert ref() is not None
    lp.close()
    assert ref() is None  # no collection needed


def test_no_reference_leaks_over_a_million_schedule_clear_pairs() -> None:
    lp = phaseloop.Loop()

    def callback(*args: object) -> None:
        pass

    arg = Payload()
    set_timeout, clear_timeout = lp.set_timeout, lp.clear_timeout
    set_immediate, clear_immediate = lp.set_immediate, lp.clear_immediate
    next_tick = lp.next_tick
    # The loop keeps the last `Immediate` it handed out, to reuse (one reference to the loop,
    # until run() returns): counted from here on, a leak per pair would still show.
    clear_immediate(set_immediate(callback))
    before = (sys.getrefcount(callback), sys.getrefcount(arg), sys.getrefcount(lp))
    gc.collect()
    objects_before = len(gc.get_objects())
    for _ in range(250_000):
        clear_timeout(set_timeout(callback, 100, arg))
        clear_immediate(set_immediate(callback, arg))
    for _ in range(250_000):
        clear_timeout(set_timeout(callback, 5))
        clear_immediate(set_immediate(callback, label="x"))
    gc.collect()
    after = (sys.getrefcount(callback), sys.getrefcount(arg), sys.getrefcount(lp))
    assert after == before
    assert len(gc.get_objects()) - objects_before < 100
    assert lp.handles() == []
    # Run ones too: each callback and its handle are released once they ran.
    for _ in range(100_000):
        set_immediate(callback, arg)
        next_tick(callback, arg)
    lp.run()
    gc.collect()
    # run() let go of the spare `Immediate` as it returned.
    assert (
        sys.getrefcount(callback),
        sys.getrefcount(arg),
        sys.getrefcount(lp) + 1,
    ) == before
    lp.close()
