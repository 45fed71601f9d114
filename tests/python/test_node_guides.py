"""The classic orderings of the Node.js event-loop guides, replayed on phaseloop.

Each program in `tests/node/` is a Node script; `tests/node/NAME.expected` is what Node printed
for it (regenerate with `tests/node/check.sh --write`). The Python function of the same name
below is the same program on phaseloop, and must print the same lines.
`test_node_still_prints_the_expected_orders` reruns Node (when it is on PATH) to keep the
`.expected` files honest. The Node programs are fair (their order does not depend on luck, see
shared/conformance/FORMAT.md); phaseloop runs them on the virtual clock, so no luck is needed.
`fs.stat` (one thread-pool request) becomes `queue_work` of a no-op.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import phaseloop
import pytest

NODE_DIR = Path(__file__).resolve().parents[2] / "tests" / "node"
Log = Callable[[str], None]


def script_ticks_microtasks_timeout(lp: phaseloop.Loop, log: Log) -> None:
    log("script start")
    lp.set_timeout(log, 0, "timeout")
    lp.queue_microtask(lambda: log("microtask 1"))
    lp.next_tick(log, "tick 1")
    lp.queue_microtask(lambda: log("microtask 2"))
    lp.next_tick(log, "tick 2")
    log("script end")


def next_tick_vs_set_immediate(lp: phaseloop.Loop, log: Log) -> None:
    lp.set_immediate(log, "immediate")
    lp.next_tick(log, "tick")
    log("main")


def io_immediate_before_timeout(lp: phaseloop.Loop, log: Log) -> None:
    def io(error: object, result: object) -> None:
        log("io")
        lp.set_timeout(log, 0, "timeout")
        lp.set_immediate(log, "immediate")

    lp.queue_work(lambda: None, callback=io)


def io_callback_drains(lp: phaseloop.Loop, log: Log) -> None:
    def immediate() -> None:
        log("immediate")
        lp.next_tick(log, "tick in immediate")

    def io(error: object, result: object) -> None:
        log("io")
        lp.set_timeout(log, 0, "timeout")
        lp.set_immediate(immediate)
        lp.next_tick(log, "tick")
        lp.queue_microtask(lambda: log("microtask"))

    lp.queue_work(lambda: None, callback=io)


def drain_after_each_timer(lp: phaseloop.Loop, log: Log) -> None:
    def timeout(n: int) -> None:
        log(f"timeout {n}")
        lp.next_tick(log, f"tick {n}")
        lp.queue_microtask(lambda: log(f"microtask {n}"))

    for n in (1, 2):
        lp.set_timeout(timeout, 0, n)


def drain_after_each_immediate(lp: phaseloop.Loop, log: Log) -> None:
    def immediate(n: int) -> None:
        log(f"immediate {n}")
        lp.next_tick(log, f"tick {n}")
        lp.queue_microtask(lambda: log(f"microtask {n}"))

    for n in (1, 2):
        lp.set_immediate(immediate, n)


def nested_ticks_and_microtasks(lp: phaseloop.Loop, log: Log) -> None:
    def tick1() -> None:
        log("tick 1")
        lp.next_tick(log, "tick from tick")
        lp.queue_microtask(lambda: log("microtask from tick"))

    def microtask1() -> None:
        log("microtask 1")
        lp.next_tick(log, "tick from microtask")
        lp.queue_microtask(lambda: log("microtask from microtask"))

    lp.next_tick(tick1)
    lp.queue_microtask(microtask1)
    lp.next_tick(log, "tick 2")
    lp.queue_microtask(lambda: log("microtask 2"))


def immediate_queued_in_check_waits(lp: phaseloop.Loop, log: Log) -> None:
    def immediate1() -> None:
        log("immediate 1")
        lp.set_immediate(log, "immediate 3")
        lp.next_tick(log, "tick in immediate 1")

    lp.set_immediate(immediate1)
    lp.set_immediate(log, "immediate 2")


def timer_lists_by_expiry(lp: phaseloop.Loop, log: Log) -> None:
    lp.set_timeout(log, 100, "100 a")
    lp.set_timeout(log, 100, "100 b")
    lp.set_timeout(log, 50, "50")


def clear_due_timer_in_callback(lp: phaseloop.Loop, log: Log) -> None:
    def a() -> None:
        log("a")
        lp.clear_timeout(b)

    lp.set_timeout(a, 10)
    b = lp.set_timeout(log, 10, "b")
    lp.set_timeout(log, 10, "c")


def interval_and_timeout(lp: phaseloop.Loop, log: Log) -> None:
    runs = 0

    def tick() -> None:
        nonlocal runs
        runs += 1
        log(f"interval {runs}")
        if runs == 3:
            lp.clear_interval(interval)

    interval = lp.set_interval(tick, 100)
    lp.set_timeout(log, 250, "timeout 250")


PROGRAMS = {
    fn.__name__: fn
    for fn in (
        script_ticks_microtasks_timeout,
        next_tick_vs_set_immediate,
        io_immediate_before_timeout,
        io_callback_drains,
        drain_after_each_timer,
        drain_after_each_immediate,
        nested_ticks_and_microtasks,
        immediate_queued_in_check_waits,
        timer_lists_by_expiry,
        clear_due_timer_in_callback,
        interval_and_timeout,
    )
}


def expected(name: str) -> list[str]:
    return (NODE_DIR / f"{name}.expected").read_text().splitlines()


def test_every_python_port_has_its_node_program() -> None:
    # The corpus is shared with the Rust and C tests: not every program in it is ported here
    # (test_repository.py checks that each is replayed somewhere).
    assert [name for name in PROGRAMS if not (NODE_DIR / f"{name}.js").is_file()] == []


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_phaseloop_prints_what_node_printed(name: str) -> None:
    printed: list[str] = []
    with phaseloop.Loop(clock="virtual", threadpool_size=1) as lp:
        PROGRAMS[name](lp, printed.append)
        assert lp.run() is False
    assert printed == expected(name)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_phaseloop_prints_it_on_the_real_clock_too(name: str) -> None:
    printed: list[str] = []
    with phaseloop.Loop(threadpool_size=1) as lp:
        PROGRAMS[name](lp, printed.append)
        lp.run()
    assert printed == expected(name)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_node_still_prints_the_expected_orders(name: str) -> None:
    done = subprocess.run(
        ["node", str(NODE_DIR / f"{name}.js")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == expected(name)
