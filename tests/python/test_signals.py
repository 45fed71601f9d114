"""Ctrl-C while run() waits, and signal watchers."""

from __future__ import annotations

import os
import signal
import threading
import time

import phaseloop
import pytest


def send_later(signum: int, delay: float = 0.1) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: (time.sleep(delay), os.kill(os.getpid(), signum))
    )
    thread.start()
    return thread


def test_ctrl_c_stops_a_blocking_run_promptly_and_the_loop_stays_usable(
    real_loop: phaseloop.Loop,
) -> None:
    assert threading.current_thread() is threading.main_thread()
    previous_wakeup_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous_wakeup_fd)
    timer = real_loop.set_timeout(lambda: None, 10_000)
    sender = send_later(signal.SIGINT)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        real_loop.run()
    sender.join()
    assert time.perf_counter() - start < 2.0  # not the 10 s timer
    # run() put back whatever wake-up fd was set before it.
    assert signal.set_wakeup_fd(previous_wakeup_fd) == previous_wakeup_fd
    # Nothing was lost and the loop still works.
    assert timer.active
    log: list[str] = []
    real_loop.set_immediate(log.append, "after")
    real_loop.clear_timeout(timer)
    assert real_loop.run() is False
    assert log == ["after"]


def test_a_signal_watcher_gets_the_signal_on_the_loop_thread(
    real_loop: phaseloop.Loop,
) -> None:
    got: list[tuple[int, object]] = []

    def on_usr1(signum: int) -> None:
        got.append((signum, real_loop.phase))
        watcher.close()

    watcher = real_loop.on_signal(signal.SIGUSR1, on_usr1)
    assert watcher.active and watcher.has_ref()
    sender = send_later(signal.SIGUSR1, 0.05)
    assert real_loop.run() is False
    sender.join()
    assert got == [(signal.SIGUSR1, "poll")]
    assert not watcher.active


def test_a_signal_watcher_can_stop_start_and_be_unrefd(
    real_loop: phaseloop.Loop,
) -> None:
    watcher = real_loop.on_signal(signal.SIGUSR2, lambda s: None)
    watcher.stop()
    assert not watcher.active
    assert real_loop.run() is False
    watcher.start()
    assert watcher.active
    assert watcher.unref() is watcher
    assert real_loop.run() is False
    watcher.close()


def test_watching_sigint_turns_ctrl_c_into_a_callback(
    real_loop: phaseloop.Loop,
) -> None:
    got: list[int] = []
    watcher = real_loop.on_signal(
        signal.SIGINT, lambda s: (got.append(s), watcher.close())
    )
    sender = send_later(signal.SIGINT)
    real_loop.run()  # no KeyboardInterrupt
    sender.join()
    assert got == [signal.SIGINT]
    # Unwatched again, Ctrl-C raises as usual.
    real_loop.set_timeout(lambda: None, 10_000)
    sender = send_later(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        real_loop.run()
    sender.join()
