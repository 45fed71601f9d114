"""The GIL while the loop waits and on pool threads, call_threadsafe from many threads, fork()."""

from __future__ import annotations

import os
import socket
import threading
import time

import phaseloop
import pytest


def count_while(run: callable[[], object]) -> tuple[int, int, float]:  # type: ignore[valid-type]
    """Runs `run()` here while another Python thread counts in pure Python; returns the count
    reached before, during, and how long `run()` took."""
    stop = threading.Event()
    counter = [0]

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.02)
    before = counter[0]
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    during = counter[0] - before
    stop.set()
    thread.join()
    return before, during, elapsed


def test_another_python_thread_progresses_while_run_waits_on_a_timer(
    real_loop: phaseloop.Loop,
) -> None:
    _, during, elapsed = count_while(
        lambda: (real_loop.set_timeout(lambda: None, 200), real_loop.run())
    )
    assert elapsed >= 0.19
    # Holding the GIL in epoll_wait would freeze the counter for the whole 200 ms.
    assert during > 10_000


def test_native_jobs_run_without_the_gil(real_loop: phaseloop.Loop) -> None:
    results: list[object] = []
    _, during, elapsed = count_while(
        lambda: (
            real_loop.queue_work(
                phaseloop.jobs.sleep, 150, callback=lambda e, r: results.append((e, r))
            ),
            real_loop.run(),
        )
    )
    assert results == [(None, None)]
    assert elapsed >= 0.14
    assert during > 10_000


def test_calling_a_native_job_directly_releases_the_gil() -> None:
    _, during, _ = count_while(lambda: phaseloop.jobs.sleep(100))
    assert during > 10_000


def test_call_threadsafe_from_8_threads_delivers_every_call_in_order_per_thread(
    real_loop: phaseloop.Loop,
) -> None:
    threads, per_thread = 8, 2_000
    received: list[tuple[int, int]] = []
    loop_thread = threading.get_ident()
    on_loop_thread: list[bool] = []
    keepalive = real_loop.set_interval(lambda: None, 1_000)
    start = threading.Barrier(threads)

    def deliver(n: int, i: int) -> None:
        received.append((n, i))
        if i == per_thread - 1:
            on_loop_thread.append(threading.get_ident() == loop_thread)
            if len(on_loop_thread) == threads:
                real_loop.clear_interval(keepalive)

    def sender(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            real_loop.call_threadsafe(deliver, n, i, label="deliver")

    workers = [threading.Thread(target=sender, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    real_loop.run()
    for worker in workers:
        worker.join()
    assert len(received) == threads * per_thread
    for n in range(threads):
        assert [i for m, i in received if m == n] == list(range(per_thread))
    assert on_loop_thread == [True] * threads


def test_a_threadsafe_call_keeps_the_loop_alive_until_it_runs(
    real_loop: phaseloop.Loop,
) -> None:
    log: list[str] = []
    real_loop.call_threadsafe(log.append, "ran")
    assert real_loop.alive
    assert real_loop.run() is False
    assert log == ["ran"]


def test_a_native_job_after_python_jobs_of_one_batch_runs_without_the_gil() -> None:
    # A pool thread keeps the GIL from one Python job to the next of the jobs it finds queued;
    # the native job that follows them on the same thread gives it back before it runs.
    done: list[str] = []
    with phaseloop.Loop(threadpool_size=1) as lp:
        for _ in range(3):
            lp.queue_work(lambda: None, callback=lambda e, r: done.append("python"))
        lp.queue_work(
            phaseloop.jobs.sleep, 200, callback=lambda e, r: done.append("native")
        )
        _, during, elapsed = count_while(lp.run)
    assert done == ["python", "python", "python", "native"]
    assert elapsed >= 0.15, "the sleep started when it was queued, 20 ms before run()"
    # With the GIL kept through the native sleep, the counter would stand still for 200 ms.
    assert during > 100_000, during


# The pool's threads are the point: forking with them running is what is tested (the child only
# closes the loop and leaves with os._exit).
@pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)
def test_closing_a_loop_in_a_forked_child_leaves_the_parents_loop_working() -> None:
    with phaseloop.Loop(threadpool_size=2) as lp:
        lp.queue_work(phaseloop.jobs.sleep, 0)  # the pool's threads exist now
        lp.run()
        a, b = socket.socketpair()
        got: list[bytes] = []

        def on_readable(readable: bool, writable: bool) -> None:
            got.append(b.recv(64))
            lp.stop()

        watcher = lp.watch_fd(b.fileno(), on_readable)
        pid = os.fork()
        if pid == 0:  # the child: close the inherited loop, leave at once
            try:
                lp.close()
            finally:
                os._exit(0)
        deadline = time.monotonic() + 10
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, "the child's close() hung"
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(done[1]) == 0
        # The child shares the parent's epoll instance: had its close() deregistered the
        # watcher, this would never arrive.
        give_up = lp.set_timeout(lambda: lp.stop(), 5000)
        a.send(b"after fork")
        lp.run()
        assert got == [b"after fork"]
        lp.clear_timeout(give_up)
        watcher.close()
        a.close()
        b.close()
