"""The Loop itself: options, running, time, introspection, closing."""

from __future__ import annotations

import os
import select

import phaseloop
import pytest


def test_options_are_kept_and_default_like_node() -> None:
    with phaseloop.Loop() as lp:
        assert lp.clock == "real"
        assert lp.drain == "callback"
        assert lp.threadpool_size == int(
            os.environ.get("PHASELOOP_THREADPOOL_SIZE", "4")
        )
    with phaseloop.Loop(threadpool_size=3, clock="virtual", drain="phase") as lp:
        assert (lp.threadpool_size, lp.clock, lp.drain) == (3, "virtual", "phase")


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"threadpool_size": 0}, ValueError, "threadpool_size"),
        ({"threadpool_size": 1025}, ValueError, "threadpool_size"),
        ({"threadpool_size": -1}, ValueError, "threadpool_size"),
        ({"threadpool_size": "4"}, TypeError, "threadpool_size"),
        ({"threadpool_size": 2.0}, TypeError, "threadpool_size"),
        ({"clock": "wall"}, ValueError, "clock"),
        ({"drain": "never"}, ValueError, "drain"),
        ({"clock": 1}, TypeError, "clock"),
    ],
)
def test_bad_options_name_the_argument(kwargs: dict, error: type, names: str) -> None:
    with pytest.raises(error, match=names):
        phaseloop.Loop(**kwargs)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        phaseloop.Loop(4)  # type: ignore[misc]


def test_run_returns_whether_refd_work_remains(loop: phaseloop.Loop) -> None:
    assert loop.run() is False
    loop.set_timeout(lambda: None, 10)
    assert loop.alive
    assert loop.run("nowait") is True
    assert loop.run("once") is False  # the virtual clock jumped to the timer
    assert not loop.alive


def test_run_mode_must_be_known(loop: phaseloop.Loop) -> None:
    with pytest.raises(ValueError, match="mode"):
        loop.run("bogus")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mode"):
        loop.run(1)  # type: ignore[arg-type]


def test_run_once_runs_one_round_and_nowait_never_blocks(
    real_loop: phaseloop.Loop,
) -> None:
    log: list[str] = []
    real_loop.set_timeout(lambda: log.append("late"), 10_000).unref()
    interval = real_loop.set_interval(lambda: log.append("tick"), 1)
    real_loop.set_immediate(lambda: log.append("immediate"))
    assert real_loop.run("nowait") is True
    assert log == ["immediate"]
    real_loop.run("once")
    assert log[1:] == ["tick"]
    real_loop.clear_interval(interval)
    assert real_loop.run() is False


def test_stop_returns_at_the_end_of_the_iteration(loop: phaseloop.Loop) -> None:
    log: list[int] = []

    def tick() -> None:
        log.append(loop.iteration)
        if len(log) == 3:
            loop.stop()

    interval = loop.set_interval(tick, 5)
    assert loop.run() is True
    assert len(log) == 3
    loop.run("nowait")  # stop() was honoured once; the loop goes on
    loop.clear_interval(interval)
    assert loop.run() is False


def test_run_inside_a_callback_is_a_runtime_error(loop: phaseloop.Loop) -> None:
    errors: list[BaseException] = []

    def nested() -> None:
        for call in (loop.run, loop.close):
            try:
                call()
            except RuntimeError as err:
                errors.append(err)

    loop.set_immediate(nested)
    loop.run()
    assert len(errors) == 2


def test_virtual_time_moves_only_by_rule_5_4_and_advance(loop: phaseloop.Loop) -> None:
    assert loop.now() == 0
    assert loop.hrtime() == 0
    seen: list[int] = []
    loop.set_timeout(lambda: seen.append(loop.now()), 250)
    loop.run()
    assert seen == [250]
    loop.advance(2)
    loop.update_time()
    assert loop.now() == 252
    assert loop.hrtime() == 252_000_000
    with pytest.raises(ValueError, match="ms"):
        loop.advance(-1)
    with pytest.raises(TypeError, match="ms"):
        loop.advance("1")  # type: ignore[arg-type]


def test_advance_replays_node_luck_timer_before_immediate(loop: phaseloop.Loop) -> None:
    log: list[str] = []
    loop.set_timeout(log.append, 0, "timeout")
    loop.set_immediate(log.append, "immediate")
    loop.advance(2)
    loop.run()
    assert log == ["timeout", "immediate"]


def test_advance_needs_the_virtual_clock(real_loop: phaseloop.Loop) -> None:
    with pytest.raises(RuntimeError, match="virtual"):
        real_loop.advance(1)


def test_real_clock_counts_ms_from_creation(real_loop: phaseloop.Loop) -> None:
    start = real_loop.hrtime()
    real_loop.set_timeout(lambda: None, 30)
    real_loop.run()
    assert real_loop.now() >= 30
    assert real_loop.hrtime() - start >= 30_000_000


def test_phase_and_iteration_as_callbacks_see_them(loop: phaseloop.Loop) -> None:
    seen: list[tuple[str, object, int]] = []

    def note(what: str) -> None:
        seen.append((what, loop.phase, loop.iteration))

    loop.next_tick(note, "tick")
    loop.set_timeout(note, 5, "timeout")
    loop.set_immediate(note, "immediate")
    loop.queue_pending(note, "pending")
    check = loop.add_check(lambda: note("check"))
    loop.set_immediate(check.close, lambda: note("close"))
    assert loop.phase is None
    assert loop.iteration == 0
    loop.run()
    assert seen == [
        ("tick", None, 0),
        ("pending", "pending", 1),
        ("check", "check", 1),
        ("immediate", "check", 1),
        ("close", "close", 1),
        ("timeout", "timers", 3),
    ]


def test_handles_lists_what_keeps_the_loop_alive(loop: phaseloop.Loop) -> None:
    loop.set_timeout(lambda: None, 10)
    loop.set_interval(lambda: None, 20).unref()
    loop.set_immediate(lambda: None)
    loop.add_idle(lambda: None).stop()
    loop.add_check(lambda: None)
    kinds = sorted((kind, refed) for kind, refed, _ in loop.handles())
    assert kinds == [
        ("check", True),
        ("immediate", True),
        ("interval", False),
        ("timeout", True),
    ]
    details = {kind: detail for kind, _, detail in loop.handles()}
    assert details["timeout"] == "10 ms"


def test_embedding_with_fileno_and_backend_timeout(real_loop: phaseloop.Loop) -> None:
    assert (
        real_loop.backend_timeout() == 0
    )  # nothing alive: poll would not wait (libuv)
    check = real_loop.add_check(lambda: None)
    assert (
        real_loop.backend_timeout() == -1
    )  # alive, no timer: poll would wait for ever
    check.close()
    assert real_loop.backend_timeout() == 0  # a close callback is waiting
    real_loop.run("nowait")
    real_loop.set_timeout(lambda: None, 50)
    timeout = real_loop.backend_timeout()
    assert 0 < timeout <= 50
    real_loop.set_immediate(lambda: None)
    assert real_loop.backend_timeout() == 0
    real_loop.run("nowait")
    fd = real_loop.fileno()
    assert fd >= 0
    done: list[int] = []
    real_loop.call_threadsafe(done.append, 1)
    readable, _, _ = select.select([fd], [], [], 1.0)
    assert readable == [fd]
    real_loop.run("nowait")
    assert done == [1]


def test_close_releases_everything_and_later_calls_raise_loop_closed() -> None:
    lp = phaseloop.Loop(clock="virtual")
    timer = lp.set_timeout(lambda: None, 10)
    lp.close()
    lp.close()  # a second close does nothing
    assert lp.closed
    assert not lp.alive
    assert not timer.active
    calls = [
        lambda: lp.run(),
        lambda: lp.set_timeout(lambda: None, 1),
        lambda: lp.set_interval(lambda: None, 1),
        lambda: lp.set_immediate(lambda: None),
        lambda: lp.next_tick(lambda: None),
        lambda: lp.queue_microtask(lambda: None),
        lambda: lp.queue_pending(lambda: None),
        lambda: lp.add_idle(lambda: None),
        lambda: lp.add_prepare(lambda: None),
        lambda: lp.add_check(lambda: None),
        lambda: lp.watch_fd(0, lambda r, w: None),
        lambda: lp.on_signal(10, lambda s: None),
        lambda: lp.queue_work(lambda: None),
        lambda: lp.call_threadsafe(lambda: None),
        lambda: lp.clear_timeout(timer),
        lambda: lp.clear_timeout(None),
        lambda: lp.stop(),
        lambda: lp.now(),
        lambda: lp.update_time(),
        lambda: lp.hrtime(),
        lambda: lp.advance(1),
        lambda: lp.handles(),
        lambda: lp.fileno(),
        lambda: lp.backend_timeout(),
        lambda: lp.monitor_delay(),
        lambda: lp.utilization(),
        lambda: lp.metrics(),
        lambda: lp.record(),
        lambda: lp.timeline(),
        lambda: timer.refresh(),
        lambda: timer.ref(),
        lambda: lp.__enter__(),
    ]
    for call in calls:
        with pytest.raises(phaseloop.LoopClosed):
            call()
    assert issubclass(phaseloop.LoopClosed, phaseloop.Error)


def test_context_manager_closes_and_close_inside_the_block_is_fine() -> None:
    with phaseloop.Loop() as lp:
        lp.close()
    assert lp.closed
    with phaseloop.Loop() as lp2:
        pass
    assert lp2.closed


def test_repr_says_what_it_is(loop: phaseloop.Loop) -> None:
    assert repr(loop).startswith("<phaseloop.Loop clock=virtual")
    assert repr(loop.set_timeout(lambda: None, 5)) == "<phaseloop.Timer timeout 5 ms>"
    assert repr(loop.add_idle(lambda: None)) == "<phaseloop.Handle idle>"


def test_loop_can_be_subclassed() -> None:
    class MyLoop(phaseloop.Loop):
        def hello(self) -> str:
            return "hi"

    with MyLoop(clock="virtual") as lp:
        log: list[int] = []
        lp.set_immediate(log.append, 1)
        lp.run()
        assert (lp.hello(), log) == ("hi", [1])


def test_drain_phase_mode_drains_once_per_phase_like_node_10(
    loop: phaseloop.Loop,
) -> None:
    # Node <= 10 ran both timers, then both microtasks (the order this mode exists to replay).
    log: list[str] = []
    with phaseloop.Loop(clock="virtual", drain="phase") as lp:
        for n in (1, 2):
            lp.set_timeout(
                lambda n=n: (
                    log.append(f"timeout{n}"),
                    lp.queue_microtask(lambda: log.append(f"micro{n}")),
                ),
                0,
            )
        lp.run()
    assert log == ["timeout1", "timeout2", "micro1", "micro2"]
