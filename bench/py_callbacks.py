"""Per-callback cost of phaseloop from Python, against asyncio's call_soon, in the same run.

    .venv/bin/python bench/py_callbacks.py [N]      (N defaults to 1,000,000)

Each figure is the best of 5 runs, in ns per callback, including the Python code that schedules
it (a `for` loop or the previous callback, the same on both sides):

- floor: a bare Python loop calling a no-op closure (what any callback costs at least);
- batch: N callbacks scheduled by a loop, then run (phaseloop set_immediate / asyncio call_soon);
- chain: each callback schedules the next (phaseloop next_tick / set_immediate, asyncio
  call_soon), so each one also pays for a scheduling from inside a callback.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import phaseloop

RUNS = 5


def best(fn: Callable[[int], None], n: int) -> float:
    """Best wall time of `fn(n)` over RUNS runs, in ns per callback."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter_ns()
        fn(n)
        times.append(time.perf_counter_ns() - start)
    return min(times) / n


def floor(n: int) -> None:
    def noop() -> None:
        pass

    for _ in range(n):
        noop()


def phaseloop_batch(n: int) -> None:
    with phaseloop.Loop() as loop:
        count = 0

        def cb() -> None:
            nonlocal count
            count += 1

        set_immediate = loop.set_immediate
        for _ in range(n):
            set_immediate(cb)
        loop.run()
        assert count == n


def phaseloop_split(n: int) -> tuple[float, float]:
    """(scheduling, running) ns per callback of a set_immediate batch (best of RUNS)."""
    best_schedule = best_run = float("inf")
    for _ in range(RUNS):
        with phaseloop.Loop() as loop:
            set_immediate = loop.set_immediate

            def cb() -> None:
                pass

            start = time.perf_counter_ns()
            for _ in range(n):
                set_immediate(cb)
            scheduled = time.perf_counter_ns()
            loop.run()
            ran = time.perf_counter_ns()
        best_schedule = min(best_schedule, (scheduled - start) / n)
        best_run = min(best_run, (ran - scheduled) / n)
    return best_schedule, best_run


def asyncio_batch(n: int) -> None:
    loop = asyncio.new_event_loop()
    count = 0

    def cb() -> None:
        nonlocal count
        count += 1

    call_soon = loop.call_soon
    for _ in range(n):
        call_soon(cb)
    call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    assert count == n


def phaseloop_tick_chain(n: int) -> None:
    with phaseloop.Loop() as loop:
        left = n
        next_tick = loop.next_tick

        def cb() -> None:
            nonlocal left
            left -= 1
            if left:
                next_tick(cb)

        next_tick(cb)
        loop.run()
        assert left == 0


def phaseloop_immediate_chain(n: int) -> None:
    with phaseloop.Loop() as loop:
        left = n
        set_immediate = loop.set_immediate

        def cb() -> None:
            nonlocal left
            left -= 1
            if left:
                set_immediate(cb)

        set_immediate(cb)
        loop.run()
        assert left == 0


def asyncio_chain(n: int) -> None:
    loop = asyncio.new_event_loop()
    left = n
    call_soon = loop.call_soon

    def cb() -> None:
        nonlocal left
        left -= 1
        if left:
            call_soon(cb)
        else:
            loop.stop()

    call_soon(cb)
    loop.run_forever()
    loop.close()
    assert left == 0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(
        f"python {sys.version.split()[0]}, phaseloop {phaseloop.__version__}, N = {n:,}"
    )
    floor_ns = best(floor, n)
    rows = [
        ("floor: bare loop calling a no-op closure", floor_ns, None),
    ]
    batch = best(phaseloop_batch, n)
    asyncio_b = best(asyncio_batch, n)
    rows += [
        ("phaseloop set_immediate x N, then run", batch, asyncio_b),
        ("asyncio call_soon x N, then run", asyncio_b, None),
    ]
    schedule, run = phaseloop_split(n)
    rows += [
        ("  of which set_immediate() from Python", schedule, None),
        ("  of which run() calling the callbacks", run, None),
    ]
    tick = best(phaseloop_tick_chain, n)
    immediate = best(phaseloop_immediate_chain, n)
    asyncio_c = best(asyncio_chain, n)
    rows += [
        ("phaseloop next_tick chain", tick, asyncio_c),
        ("phaseloop set_immediate chain", immediate, asyncio_c),
        ("asyncio call_soon chain", asyncio_c, None),
    ]
    print(f"{'':44} {'ns/cb':>8} {'x floor':>8} {'x asyncio':>10}")
    for name, ns, against in rows:
        vs_asyncio = f"{ns / against:10.2f}" if against else f"{'':10}"
        print(f"{name:44} {ns:8.1f} {ns / floor_ns:8.2f} {vs_asyncio}")


if __name__ == "__main__":
    main()
