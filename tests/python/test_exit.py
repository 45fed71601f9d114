"""A loop left open at interpreter exit (issue 15): whatever it still has pending, and wherever
it lives, the interpreter exits with the program's status, promptly, and prints nothing. Each
program runs in a fresh interpreter, as uvloop's dealloc tests run theirs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

# Preamble of every program: a loop in a global, with a 1-thread pool.
PREAMBLE = """
import os, signal, sys, threading, time
import phaseloop
from phaseloop import jobs

loop = phaseloop.Loop(threadpool_size=1)
"""

# name -> (program after the preamble, expected exit status)
PROGRAMS: dict[str, tuple[str, int]] = {
    "python_job_running": (
        """
        loop.queue_work(time.sleep, 0.3, callback=lambda e, r: None)
        loop.run(mode="nowait")
        time.sleep(0.05)
        """,
        0,
    ),
    "python_job_without_callback_running": (
        """
        loop.queue_work(time.sleep, 0.3)
        time.sleep(0.05)
        """,
        0,
    ),
    "python_job_queued": (
        """
        loop.set_timeout(lambda: None, 60_000)
        loop.queue_work(time.sleep, 0.3, callback=lambda e, r: None)
        loop.queue_work(time.sleep, 0.3, callback=lambda e, r: None)
        loop.call_threadsafe(lambda: None)
        loop.run(mode="nowait")
        time.sleep(0.05)
        """,
        0,
    ),
    "many_python_jobs_queued": (
        """
        for _ in range(200):
            loop.queue_work(time.sleep, 0.001, callback=lambda e, r: None)
        time.sleep(0.02)
        """,
        0,
    ),
    "native_job": (
        """
        loop.queue_work(jobs.sleep, 300, callback=lambda e, r: None)
        loop.queue_work(jobs.sha256, b"x", callback=lambda e, r: None)
        time.sleep(0.05)
        """,
        0,
    ),
    "native_job_then_python_job": (
        """
        loop.queue_work(jobs.sleep, 200, callback=lambda e, r: None)
        loop.queue_work(time.sleep, 0.01, callback=lambda e, r: None)
        time.sleep(0.05)
        """,
        0,
    ),
    "threadsafe_call_queued": (
        """
        def other():
            for _ in range(3):
                loop.call_threadsafe(print, "never")
        t = threading.Thread(target=other)
        t.start()
        t.join()
        """,
        0,
    ),
    "fd_watcher": (
        """
        r, w = os.pipe()
        watcher = loop.watch_fd(r, lambda readable, writable: None)
        loop.run(mode="nowait")
        """,
        0,
    ),
    "signal_watcher": (
        """
        handle = loop.on_signal(signal.SIGUSR1, lambda signum: None)
        sigint = loop.on_signal(signal.SIGINT, lambda signum: None)
        loop.run(mode="nowait")
        """,
        0,
    ),
    "timers": (
        """
        loop.set_timeout(lambda: None, 60_000)
        loop.set_interval(lambda: None, 10)
        loop.set_immediate(lambda: None)
        loop.next_tick(lambda: None)
        loop.add_idle(lambda: None)
        loop.add_check(lambda: None)
        loop.add_prepare(lambda: None)
        loop.queue_pending(lambda: None)
        loop.run(mode="once")
        """,
        0,
    ),
    "closing_handle": (
        """
        loop.set_timeout(lambda: None, 60_000).close(lambda: print("never"))
        """,
        0,
    ),
    "promise_pending": (
        """
        p = loop.promise(lambda resolve, reject: None)
        p.then(print).catch(print)
        w = loop.work(time.sleep, 0.2)
        loop.run(mode="nowait")
        # Rejected after the last drain: never reported.
        loop.reject(ValueError("unhandled")).then(print)
        """,
        0,
    ),
    "coroutine_suspended": (
        """
        seen = []
        async def main():
            try:
                await loop.sleep(60_000)
            finally:
                seen.append("closed")
        async def worker():
            await loop.work(time.sleep, 0.2)
        done = loop.start(main())
        loop.start(worker())
        loop.run(mode="nowait")
        """,
        0,
    ),
    "reference_cycle": (
        """
        class Holder:
            pass
        holder = Holder()
        holder.loop = loop
        loop.set_timeout(lambda: holder, 60_000)
        loop.queue_work(time.sleep, 0.2, callback=lambda e, r: holder)
        loop.queue_work(time.sleep, 0.2, callback=lambda e, r: holder)
        loop.run(mode="nowait")
        time.sleep(0.02)
        del loop, holder
        """,
        0,
    ),
    "local_loop_in_function": (
        """
        del loop
        def main():
            lp = phaseloop.Loop(threadpool_size=1)
            lp.queue_work(time.sleep, 0.2, callback=lambda e, r: lp)
            lp.queue_work(time.sleep, 0.2)
            lp.run(mode="nowait")
            return lp
        keep = [main()]
        time.sleep(0.05)
        """,
        0,
    ),
    "running_on_daemon_thread": (
        """
        del loop
        started = threading.Event()
        def serve():
            lp = phaseloop.Loop(threadpool_size=2)
            def tick():
                lp.queue_work(time.sleep, 0.001, callback=lambda e, r: None)
                lp.queue_work(jobs.sha256, b"x", callback=lambda e, r: None)
                started.set()
            lp.set_interval(tick, 1)
            lp.run()
        threading.Thread(target=serve, daemon=True).start()
        started.wait()
        time.sleep(0.1)
        """,
        0,
    ),
    "left_on_finished_thread": (
        """
        del loop
        loops = []
        def make():
            lp = phaseloop.Loop(threadpool_size=1)
            lp.queue_work(time.sleep, 0.2, callback=lambda e, r: None)
            lp.queue_work(time.sleep, 0.2, callback=lambda e, r: None)
            loops.append(lp)
        t = threading.Thread(target=make)
        t.start()
        t.join()
        time.sleep(0.02)
        """,
        0,
    ),
    "sys_exit_in_callback": (
        """
        loop.queue_work(time.sleep, 0.3, callback=lambda e, r: None)
        loop.queue_work(time.sleep, 0.3, callback=lambda e, r: None)
        loop.set_timeout(lambda: sys.exit(3), 10)
        loop.run()
        print("not reached")
        """,
        3,
    ),
    "sys_exit_in_work_callback": (
        """
        loop.set_timeout(lambda: None, 60_000)
        loop.queue_work(time.sleep, 0.01, callback=lambda e, r: sys.exit(4))
        loop.queue_work(time.sleep, 0.3, callback=lambda e, r: None)
        loop.run()
        """,
        4,
    ),
}

# Generous for a loaded machine; a hang (the pool joined forever) takes far longer.
PROMPT_S = 8.0


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_loop_left_open_exits_cleanly(name: str) -> None:
    body, status = PROGRAMS[name]
    program = PREAMBLE + textwrap.dedent(body)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", program],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert (proc.returncode, proc.stderr) == (status, ""), proc.stdout
    assert "never" not in proc.stdout and "not reached" not in proc.stdout
    assert elapsed < PROMPT_S


def test_a_python_job_running_at_exit_finishes() -> None:
    """The exit waits for a Python job that is running, as concurrent.futures waits for its
    workers; one still queued never starts."""
    program = PREAMBLE + textwrap.dedent(
        """
        def job(name):
            time.sleep(0.2)
            print(name, "done", flush=True)
        loop.queue_work(job, "first")
        loop.queue_work(job, "second")
        time.sleep(0.05)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", program],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "first done\n")
