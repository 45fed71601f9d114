"""The Python workloads, for phaseloop and its anchors (asyncio, uvloop, rloop).

    python bench/python/workloads.py IMPL WORKLOAD N

runs one workload once on one implementation and prints one line per figure,
``<metric> <ns per operation>``, for bench/report.py, which runs every implementation in turn
(in fresh processes, so that no loop library's import affects another's figures) and takes the
medians. A workload that lost or repeated a callback exits with an error instead of a figure.
``IMPL`` is ``phaseloop``, ``asyncio``, ``uvloop``, ``rloop``, ``phaseloop-asyncio`` (the same
asyncio program on ``phaseloop.asyncio``) or ``floor`` (the bare-call floor, no loop at all);
``WORKLOAD`` one of the names in ``WORKLOADS`` below.

The callbacks are the same on every side: a closure that counts (``nonlocal count;
count += 1``), so the floor is what the same closure costs without any loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import phaseloop

#: Pool threads on both sides of the offloaded-work workload (phaseloop's default).
POOL_SIZE = 4

Figures = dict[str, float]


def new_asyncio_style_loop(impl: str) -> asyncio.AbstractEventLoop:
    """A fresh loop of the asyncio-compatible implementation `impl`."""
    if impl == "asyncio":
        return asyncio.new_event_loop()
    if impl == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if impl == "rloop":
        import rloop  # type: ignore[import-untyped]

        loop: asyncio.AbstractEventLoop = rloop.new_event_loop()
        return loop
    if impl == "phaseloop-asyncio":
        import phaseloop.asyncio

        return phaseloop.asyncio.new_event_loop()
    raise SystemExit(f"unknown implementation {impl}")


def per_op(total_ns: int, n: int) -> float:
    """ns per operation."""
    return total_ns / n


def expect(what: str, got: int, want: int) -> None:
    """Exits with a message unless exactly `want` callbacks ran."""
    if got != want:
        raise SystemExit(f"{what}: {got} callbacks ran, expected {want}")


# ----- the floor ------------------------------------------------------------------------------


def floor_call(n: int) -> Figures:
    """A bare Python loop calling the counting closure: what any callback costs at least."""
    count = 0

    def cb() -> None:
        nonlocal count
        count += 1

    start = time.perf_counter_ns()
    for _ in range(n):
        cb()
    elapsed = time.perf_counter_ns() - start
    expect("floor", count, n)
    return {"call": per_op(elapsed, n)}


def floor_context(n: int) -> Figures:
    """The floor with contextvars: each call copies the current context (as scheduling does in
    asyncio and phaseloop) and runs the closure in it."""
    count = 0

    def cb() -> None:
        nonlocal count
        count += 1

    copy_context = contextvars.copy_context
    start = time.perf_counter_ns()
    for _ in range(n):
        copy_context().run(cb)
    elapsed = time.perf_counter_ns() - start
    expect("floor with context", count, n)
    return {"call": per_op(elapsed, n)}


# ----- a million callbacks, flat and chained -----------------------------------------------------


def asyncio_flat(impl: str, n: int) -> Figures:
    """`call_soon` n times, then run them."""
    loop = new_asyncio_style_loop(impl)
    count = 0

    def cb() -> None:
        nonlocal count
        count += 1

    call_soon = loop.call_soon
    start = time.perf_counter_ns()
    for _ in range(n):
        call_soon(cb)
    scheduled = time.perf_counter_ns()
    call_soon(loop.stop)
    loop.run_forever()
    ran = time.perf_counter_ns()
    loop.close()
    expect("flat", count, n)
    return {
        "total": per_op(ran - start, n),
        "schedule": per_op(scheduled - start, n),
        "run": per_op(ran - scheduled, n),
    }


def asyncio_chain(impl: str, n: int) -> Figures:
    """Each callback `call_soon`s the next."""
    loop = new_asyncio_style_loop(impl)
    left = n
    call_soon = loop.call_soon

    def cb() -> None:
        nonlocal left
        left -= 1
        if left:
            call_soon(cb)
        else:
            loop.stop()

    start = time.perf_counter_ns()
    call_soon(cb)
    loop.run_forever()
    elapsed = time.perf_counter_ns() - start
    loop.close()
    expect("chain", n - left, n)
    return {"callback": per_op(elapsed, n)}


def phaseloop_flat(schedule_name: str, n: int) -> Figures:
    """`set_immediate` (or `next_tick`) n times, then run them."""
    with phaseloop.Loop() as loop:
        count = 0

        def cb() -> None:
            nonlocal count
            count += 1

        schedule: Callable[[Callable[[], None]], object] = getattr(loop, schedule_name)
        start = time.perf_counter_ns()
        for _ in range(n):
            schedule(cb)
        scheduled = time.perf_counter_ns()
        loop.run()
        ran = time.perf_counter_ns()
    expect("flat", count, n)
    return {
        "total": per_op(ran - start, n),
        "schedule": per_op(scheduled - start, n),
        "run": per_op(ran - scheduled, n),
    }


def phaseloop_chain(schedule_name: str, n: int) -> Figures:
    """Each callback schedules the next with `set_immediate` (or `next_tick`)."""
    with phaseloop.Loop() as loop:
        left = n
        schedule: Callable[[Callable[[], None]], object] = getattr(loop, schedule_name)

        def cb() -> None:
            nonlocal left
            left -= 1
            if left:
                schedule(cb)

        start = time.perf_counter_ns()
        schedule(cb)
        loop.run()
        elapsed = time.perf_counter_ns() - start
    expect("chain", n - left, n)
    return {"callback": per_op(elapsed, n)}


def phaseloop_promise_chain(n: int) -> Figures:
    """Each reaction subscribes the next to a resolved promise (`Promise.resolve().then(f)`)."""
    with phaseloop.Loop() as loop:
        if not hasattr(loop, "resolve"):
            raise SystemExit("this phaseloop build has no promises (Loop.resolve)")
        left = n
        resolve: Callable[[], Any] = loop.resolve

        def step(_value: object = None) -> None:
            nonlocal left
            left -= 1
            if left:
                resolve().then(step)

        start = time.perf_counter_ns()
        resolve().then(step)
        loop.run()
        elapsed = time.perf_counter_ns() - start
    expect("promise chain", n - left, n)
    return {"reaction": per_op(elapsed, n)}


# ----- timers with delays spread over 0..999 ms ------------------------------------------------


def asyncio_timers(impl: str, n: int) -> Figures:
    """`call_later(i % 1000 ms)` n times, then run until all fired."""
    loop = new_asyncio_style_loop(impl)
    count = 0

    def cb() -> None:
        nonlocal count
        count += 1
        if count == n:
            loop.stop()

    call_later = loop.call_later
    start = time.perf_counter_ns()
    for i in range(n):
        call_later((i % 1000) / 1000, cb)
    scheduled = time.perf_counter_ns()
    cpu = time.thread_time_ns()
    loop.run_forever()
    ran_cpu = time.thread_time_ns() - cpu
    ran = time.perf_counter_ns()
    loop.close()
    expect("timers", count, n)
    return {
        "start": per_op(scheduled - start, n),
        "run_cpu": per_op(ran_cpu, n),
        "run_wall": per_op(ran - scheduled, n),
    }


def phaseloop_timers(n: int) -> Figures:
    """`set_timeout(i % 1000)` n times, then run until all fired."""
    with phaseloop.Loop() as loop:
        count = 0

        def cb() -> None:
            nonlocal count
            count += 1

        set_timeout = loop.set_timeout
        start = time.perf_counter_ns()
        for i in range(n):
            set_timeout(cb, i % 1000)
        scheduled = time.perf_counter_ns()
        cpu = time.thread_time_ns()
        loop.run()
        ran_cpu = time.thread_time_ns() - cpu
        ran = time.perf_counter_ns()
    expect("timers", count, n)
    return {
        "start": per_op(scheduled - start, n),
        "run_cpu": per_op(ran_cpu, n),
        "run_wall": per_op(ran - scheduled, n),
    }


# ----- offloaded no-op jobs -----------------------------------------------------------------------


def noop() -> None:
    """The job: nothing, so that only the round trip is measured."""


def asyncio_work(impl: str, n: int) -> Figures:
    """`run_in_executor(pool, noop)` n times (a pool of POOL_SIZE threads), until all are done."""
    loop = new_asyncio_style_loop(impl)
    pool = ThreadPoolExecutor(POOL_SIZE)
    count = 0

    def done(_future: object) -> None:
        nonlocal count
        count += 1
        if count == n:
            loop.stop()

    run_in_executor = loop.run_in_executor
    start = time.perf_counter_ns()
    for _ in range(n):
        run_in_executor(pool, noop).add_done_callback(done)
    loop.run_forever()
    elapsed = time.perf_counter_ns() - start
    loop.close()
    pool.shutdown()
    expect("work", count, n)
    return {"job": per_op(elapsed, n)}


def phaseloop_work(native: bool, n: int) -> Figures:
    """`queue_work(noop)` (or the native no-op job, `jobs.sleep(0)`) n times, until all are
    done."""
    with phaseloop.Loop(threadpool_size=POOL_SIZE) as loop:
        count = 0

        def done(error: BaseException | None, _result: object) -> None:
            nonlocal count
            if error is None:
                count += 1

        queue_work = loop.queue_work
        sleep = phaseloop.jobs.sleep
        start = time.perf_counter_ns()
        if native:
            for _ in range(n):
                queue_work(sleep, 0, callback=done)
        else:
            for _ in range(n):
                queue_work(noop, callback=done)
        loop.run()
        elapsed = time.perf_counter_ns() - start
    expect("work", count, n)
    return {"job": per_op(elapsed, n)}


# ----- threadsafe calls from another thread -------------------------------------------------------


def asyncio_threadsafe(impl: str, n: int) -> Figures:
    """Another thread `call_soon_threadsafe`s n callbacks; until the last one ran."""
    loop = new_asyncio_style_loop(impl)
    count = 0

    def cb() -> None:
        nonlocal count
        count += 1
        if count == n:
            loop.stop()

    def send() -> None:
        call = loop.call_soon_threadsafe
        for _ in range(n):
            call(cb)

    sender = threading.Thread(target=send)
    start = time.perf_counter_ns()
    sender.start()
    loop.run_forever()
    elapsed = time.perf_counter_ns() - start
    sender.join()
    loop.close()
    expect("threadsafe", count, n)
    return {"call": per_op(elapsed, n)}


def phaseloop_threadsafe(n: int) -> Figures:
    """Another thread `call_threadsafe`s n callbacks; until the last one ran."""
    with phaseloop.Loop() as loop:
        count = 0
        # The loop waits for the other thread: a ref'd timer says so (rule 6.1), and the last
        # call clears it.
        keepalive = loop.set_timeout(noop, 2**31 - 1)

        def cb() -> None:
            nonlocal count
            count += 1
            if count == n:
                loop.clear_timeout(keepalive)

        def send() -> None:
            call = loop.call_threadsafe
            for _ in range(n):
                call(cb)

        sender = threading.Thread(target=send)
        start = time.perf_counter_ns()
        sender.start()
        loop.run()
        elapsed = time.perf_counter_ns() - start
        sender.join()
    expect("threadsafe", count, n)
    return {"call": per_op(elapsed, n)}


# ----- asyncio programs: coroutines, tasks, the default executor ----------------------------------


def asyncio_sleep0(impl: str, n: int) -> Figures:
    """One task awaiting `asyncio.sleep(0)` n times: a task step per iteration."""
    loop = new_asyncio_style_loop(impl)
    count = 0

    async def main() -> None:
        nonlocal count
        sleep = asyncio.sleep
        for _ in range(n):
            await sleep(0)
            count += 1

    start = time.perf_counter_ns()
    loop.run_until_complete(main())
    elapsed = time.perf_counter_ns() - start
    loop.close()
    expect("sleep(0)", count, n)
    return {"step": per_op(elapsed, n)}


def asyncio_gather(impl: str, n: int) -> Figures:
    """n tasks, each awaiting `asyncio.sleep(0)` once, gathered: created, run and collected."""
    loop = new_asyncio_style_loop(impl)

    async def one(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def main() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(n)))

    start = time.perf_counter_ns()
    results = loop.run_until_complete(main())
    elapsed = time.perf_counter_ns() - start
    loop.close()
    expect("gather", sum(1 for i, r in enumerate(results) if i == r), n)
    return {"task": per_op(elapsed, n)}


def asyncio_executor(impl: str, n: int) -> Figures:
    """n `await loop.run_in_executor(None, noop)` round trips, one in flight: the default
    executor (phaseloop's pool on phaseloop.asyncio, a ThreadPoolExecutor elsewhere)."""
    loop = new_asyncio_style_loop(impl)
    count = 0

    async def main() -> None:
        nonlocal count
        run_in_executor = loop.run_in_executor
        for _ in range(n):
            await run_in_executor(None, noop)
            count += 1

    start = time.perf_counter_ns()
    loop.run_until_complete(main())
    elapsed = time.perf_counter_ns() - start
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    expect("executor", count, n)
    return {"round_trip": per_op(elapsed, n)}


# ----- the table of workloads ---------------------------------------------------------------------

Runner = Callable[[int], Figures]


def asyncio_style(fn: Callable[[str, int], Figures]) -> dict[str, Runner]:
    """The same workload on the asyncio-compatible loops: asyncio's own, uvloop, rloop and
    phaseloop.asyncio."""
    return {
        impl: (lambda n, impl=impl: fn(impl, n))  # type: ignore[misc]
        for impl in ("asyncio", "uvloop", "rloop", "phaseloop-asyncio")
    }


#: workload -> implementation -> runner. phaseloop's variants are named `phaseloop` or
#: `phaseloop-<how>` (set_immediate, next_tick, native job, ...).
WORKLOADS: dict[str, dict[str, Runner]] = {
    "floor": {"floor": floor_call, "floor-context": floor_context},
    "callbacks_flat": {
        "phaseloop-immediate": lambda n: phaseloop_flat("set_immediate", n),
        "phaseloop-tick": lambda n: phaseloop_flat("next_tick", n),
        **asyncio_style(asyncio_flat),
    },
    "callbacks_chain": {
        "phaseloop-immediate": lambda n: phaseloop_chain("set_immediate", n),
        "phaseloop-tick": lambda n: phaseloop_chain("next_tick", n),
        **asyncio_style(asyncio_chain),
    },
    "promise_chain": {"phaseloop": phaseloop_promise_chain},
    "timers": {"phaseloop": phaseloop_timers, **asyncio_style(asyncio_timers)},
    "work": {
        "phaseloop-python": lambda n: phaseloop_work(False, n),
        "phaseloop-native": lambda n: phaseloop_work(True, n),
        **asyncio_style(asyncio_work),
    },
    "threadsafe": {
        "phaseloop": phaseloop_threadsafe,
        **asyncio_style(asyncio_threadsafe),
    },
    "sleep0": asyncio_style(asyncio_sleep0),
    "gather": asyncio_style(asyncio_gather),
    "executor": asyncio_style(asyncio_executor),
}


def main(argv: list[str]) -> None:
    """`workloads.py IMPL WORKLOAD N`, or `workloads.py --list`."""
    if argv[1:] == ["--list"]:
        for workload, impls in WORKLOADS.items():
            print(workload, " ".join(impls))
        return
    if len(argv) != 4:
        raise SystemExit(__doc__)
    impl, workload, n = argv[1], argv[2], int(argv[3])
    try:
        runner = WORKLOADS[workload][impl]
    except KeyError:
        raise SystemExit(f"no workload {workload} for {impl} (see --list)") from None
    for metric, value in runner(n).items():
        print(f"{metric} {value:.3f}")


if __name__ == "__main__":
    main(sys.argv)
