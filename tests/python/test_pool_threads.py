"""What a Python job sees of the pool thread it runs on: as on a ``concurrent.futures``
thread, one Python thread for the pool thread's whole life, so ``threading.local()`` data
lasts from one job to the next, and the thread's name is its OS name, ``phaseloop-pool-N``."""

from __future__ import annotations

import gc
import threading
import weakref

import phaseloop


def test_a_pool_thread_keeps_its_thread_locals_and_name_from_job_to_job() -> None:
    local = threading.local()
    seen: list[tuple[int, str, int]] = []

    def job() -> None:
        local.count = getattr(local, "count", 0) + 1
        thread = threading.current_thread()
        seen.append((local.count, thread.name, threading.get_ident()))

    with phaseloop.Loop(threadpool_size=1) as lp:

        def again(error: BaseException | None, _result: object) -> None:
            assert error is None
            if len(seen) < 3:
                lp.queue_work(job, callback=again)

        lp.queue_work(job, callback=again)
        lp.run()
    assert [count for count, _, _ in seen] == [1, 2, 3]
    assert {name for _, name, _ in seen} == {"phaseloop-pool-0"}
    assert len({ident for _, _, ident in seen}) == 1


def test_each_pool_thread_is_named_after_its_os_thread() -> None:
    names: set[str] = set()
    barrier = threading.Barrier(2, timeout=10)

    def job() -> None:
        barrier.wait()  # both threads run at once: neither takes both jobs
        names.add(threading.current_thread().name)

    with phaseloop.Loop(threadpool_size=2) as lp:
        lp.queue_work(job)
        lp.queue_work(job)
        lp.run()
    assert names == {"phaseloop-pool-0", "phaseloop-pool-1"}


def test_a_prefix_names_the_threads_as_an_executor_does() -> None:
    with phaseloop.Loop(threadpool_size=1) as lp:
        lp._name_pool_threads("worker")
        names: list[str] = []
        lp.queue_work(lambda: names.append(threading.current_thread().name))
        lp.run()
    assert names == ["worker_0"]


def test_a_closed_loops_pool_threads_free_their_thread_locals() -> None:
    local = threading.local()
    tokens: list[weakref.ref[Token]] = []

    def job() -> None:
        local.token = Token()
        tokens.append(weakref.ref(local.token))

    for _ in range(10):
        with phaseloop.Loop(threadpool_size=2) as lp:
            for _ in range(4):
                lp.queue_work(job)
            lp.run()
    gc.collect()
    assert len(tokens) == 40
    # Each pool thread's Python thread state, with its thread-local data, ended with it.
    assert [token for token in tokens if token() is not None] == []


class Token:
    """Something a job leaves in a ``threading.local()``."""
