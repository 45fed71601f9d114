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


def rule_1_main_script_first(lp: phaseloop.Loop, log: Log) -> None:
    def timeout() -> None:
        log("timeout")
        lp.set_immediate(log, "immediate")

    log("script start")
    lp.set_timeout(timeout, 0)
    lp.queue_microtask(lambda: log("microtask"))
    lp.next_tick(log, "tick")
    log("script end")


def next_tick_before_immediate(lp: phaseloop.Loop, log: Log) -> None:
    def immediate() -> None:
        log("immediate")
        lp.next_tick(log, "tick-from-immediate")

    lp.set_immediate(immediate)
    lp.next_tick(log, "tick")
    log("main")


def rule_4_9_immediate_before_timeout_in_io(lp: phaseloop.Loop, log: Log) -> None:
    def io(error: object, result: object) -> None:
        log("io")
        lp.set_timeout(log, 0, "timeout")
        lp.set_immediate(log, "immediate")
        lp.next_tick(log, "tick")

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


def rule_2_2_drain_after_each_timer(lp: phaseloop.Loop, log: Log) -> None:
    def timeout1() -> None:
        log("timeout1")
        lp.next_tick(log, "tick1")
        lp.queue_microtask(lambda: log("micro1"))

    def timeout2() -> None:
        log("timeout2")
        lp.queue_microtask(lambda: log("micro2"))

    lp.set_timeout(timeout1, 5)
    lp.set_timeout(timeout2, 5)


def rule_2_2_drain_after_each_immediate(lp: phaseloop.Loop, log: Log) -> None:
    def immediate1() -> None:
        log("immediate1")
        lp.queue_microtask(lambda: log("micro1"))
        lp.next_tick(log, "tick1")

    lp.set_immediate(immediate1)
    lp.set_immediate(log, "immediate2")


def rule_2_3_ticks_before_microtasks(lp: phaseloop.Loop, log: Log) -> None:
    def micro1() -> None:
        log("micro1")
        lp.next_tick(log, "tick-from-micro")
        lp.queue_microtask(lambda: log("micro-from-micro"))

    def tick1() -> None:
        log("tick1")
        lp.next_tick(log, "tick-from-tick")
        lp.queue_microtask(lambda: log("micro-from-tick"))

    lp.queue_microtask(micro1)
    lp.next_tick(tick1)
    lp.queue_microtask(lambda: log("micro2"))
    lp.next_tick(log, "tick2")


def rule_3_immediates_queued_in_check_wait(lp: phaseloop.Loop, log: Log) -> None:
    def a() -> None:
        log("A")
        lp.set_immediate(log, "C")

    lp.set_immediate(a)
    lp.set_immediate(log, "B")


def rule_4_4_lists_by_expiry(lp: phaseloop.Loop, log: Log) -> None:
    lp.set_timeout(log, 100, "t100")
    lp.set_timeout(log, 50, "t50")
    lp.set_timeout(log, 150, "t150")
    lp.set_timeout(log, 50, "t50b")
    for name in "abc":
        lp.set_timeout(log, 20, f"t20{name}")


def rule_4_6_clear_due_timer(lp: phaseloop.Loop, log: Log) -> None:
    def a() -> None:
        log("a")
        lp.clear_timeout(b)

    lp.set_timeout(a, 10)
    b = lp.set_timeout(log, 10, "b")
    lp.set_timeout(log, 10, "c")


def interval_and_timeout_interleave(lp: phaseloop.Loop, log: Log) -> None:
    n = 0

    def tick() -> None:
        nonlocal n
        n += 1
        log(f"interval{n}")
        if n == 3:
            lp.clear_interval(interval)

    interval = lp.set_interval(tick, 100)
    lp.set_timeout(log, 250, "timeout250")


PROGRAMS = {
    fn.__name__: fn
    for fn in (
        rule_1_main_script_first,
        next_tick_before_immediate,
        rule_4_9_immediate_before_timeout_in_io,
        io_callback_drains,
        rule_2_2_drain_after_each_timer,
        rule_2_2_drain_after_each_immediate,
        rule_2_3_ticks_before_microtasks,
        rule_3_immediates_queued_in_check_wait,
        rule_4_4_lists_by_expiry,
        rule_4_6_clear_due_timer,
        interval_and_timeout_interleave,
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
