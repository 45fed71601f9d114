"""The classic puzzles of the Node.js event-loop guides, run on phaseloop and explained.

``python -m phaseloop demo`` runs each puzzle as an experiment (`phaseloop.experiment`) and
prints its program, its timeline and a one-line why that names the rule of docs/ordering.md
that decides the order. Each puzzle logs exactly what Node prints for the same JavaScript program
(``tests/node/demo/NAME.js``, checked by ``tests/python/test_demo.py``). The puzzles
whose point is the order run on the virtual clock, so their output is the same on every run;
the two about time (blocking the loop, offloading a hash) need the real clock.
"""

from __future__ import annotations

import argparse
import ast
import errno
import inspect
import json
import sys
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

from . import Loop, jobs
from .experiment import Clock, Experiment, Log, Recording, run
from .net import Server, Stream
from .svg import render


def script_start_end(loop: Loop, log: Log) -> None:
    """The main script, then microtasks in FIFO order, then the timer."""
    log("script start")
    loop.set_timeout(log, 0, "setTimeout")
    loop.resolve().then(lambda _: log("promise 1")).then(lambda _: log("promise 2"))
    loop.queue_microtask(lambda: log("queueMicrotask"))
    log("script end")


def tick_promise_immediate_timeout(loop: Loop, log: Log) -> None:
    """nextTick, then the promise, then the phases: timers before check."""
    loop.set_immediate(log, "setImmediate")
    loop.set_timeout(log, 0, "setTimeout")
    loop.resolve().then(lambda _: log("promise"))
    loop.next_tick(log, "nextTick")
    # The script takes 2 ms (virtual ones), as the JS twin's busy wait does.
    loop.advance(2)
    log("script end (took 2 ms)")


def read_file_callback(loop: Loop, log: Log) -> None:
    """A readFile callback schedules a timeout, an immediate and a tick."""

    def on_read(error: BaseException | None, data: bytes) -> None:
        log("readFile callback")
        loop.set_timeout(log, 0, "setTimeout")
        loop.set_immediate(log, "setImmediate")
        loop.next_tick(log, "nextTick")

    loop.queue_work(jobs.read_file, __file__, callback=on_read)
    log("script end")


def microtask_starvation(loop: Loop, log: Log) -> None:
    """A chain of 1000 microtasks holds up a tick and an immediate."""
    length = 1000
    turns = 0

    def spin() -> None:
        nonlocal turns
        turns += 1
        if turns == 1:
            log("microtask 1 queues a tick")
            loop.next_tick(lambda: log(f"nextTick, after {turns} microtasks"))
        if turns < length:
            loop.queue_microtask(spin)
        else:
            log(f"microtask {turns} ends the chain")

    loop.set_immediate(lambda: log(f"setImmediate, after {turns} microtasks"))
    loop.queue_microtask(spin)
    log("script end")


def blocking_the_loop(loop: Loop, log: Log) -> None:
    """A 200 ms callback delays a timer; the delay monitor sees the stall."""
    monitor = loop.monitor_delay()
    monitor.enable()
    start = loop.now()

    def block() -> None:
        log("blocking the loop for 200 ms")
        time.sleep(0.2)  # holds the loop thread as a busy loop would

    def late() -> None:
        log(f"setTimeout 30 ms ran after the block: {_js(loop.now() - start >= 200)}")

        def read_monitor() -> None:
            monitor.disable()
            log(f"delay monitor max >= 100 ms: {_js(monitor.max >= 100e6)}")

        loop.set_immediate(read_monitor)

    loop.set_timeout(block, 20)
    loop.set_timeout(late, 30)


def offload_hash(loop: Loop, log: Log) -> None:
    """A slow hash runs on the pool while an interval keeps running."""
    ticks = 0

    def count() -> None:
        nonlocal ticks
        ticks += 1

    interval = loop.set_interval(count, 10)

    def hashed(error: BaseException | None, key: bytes) -> None:
        log(f"hash done: {len(key)} bytes")
        log(f"the interval ran while the pool hashed: {_js(ticks >= 3)}")
        loop.clear_interval(interval)

    log("hashing on the pool")
    loop.queue_work(
        jobs.pbkdf2, b"password", b"salt", 300_000, 32, "sha512", callback=hashed
    )


def every_phase(loop: Loop, log: Log) -> None:
    """A refused connect, then a server and its client: a callback in every phase."""

    def on_refused(error: OSError) -> None:
        log(f"poll: the connect to port 1 fails with {errno.errorcode[error.errno]}")
        server = loop.listen(
            lambda socket: on_connection(server, socket), 0, label="the server"
        )
        server.on("listening", lambda: connect_client(server.port))

    def on_connection(server: Server, socket: Stream) -> None:
        log("poll: the server accepts a connection")
        socket.end("hello")
        server.close()

    def connect_client(port: int) -> None:
        client = loop.connect(port, "127.0.0.1", label="the client")
        client.on("data", lambda data: on_data(client, data))
        client.on("close", lambda _had_error: log("close: the client's 'close'"))

    def on_data(client: Stream, data: bytes) -> None:
        log(f"poll: the client reads '{data.decode()}'")
        loop.set_timeout(log, 0, "timers: the 0 ms timeout")
        loop.set_immediate(log, "check: the immediate")
        client.destroy()

    loop.connect(1, "127.0.0.1", label="port 1").on("error", on_refused)
    # Node gives JavaScript no pending, idle or prepare callback; these run once, log nothing
    # (so the log stays Node's), and the timeline shows each in its phase.
    loop.queue_pending(lambda: None, label="a pending callback")
    idle = loop.add_idle(lambda: idle.close(), label="an idle handle")
    prepare = loop.add_prepare(lambda: prepare.close(), label="a prepare handle")
    log("script end")


def _js(value: bool) -> str:
    """A boolean as JavaScript's template strings print it, so the logs match Node's."""
    return "true" if value else "false"


class Puzzle(NamedTuple):
    """One puzzle: its name (that of its Node twin), title, experiment, clock and why."""

    name: str
    title: str
    experiment: Experiment
    why: str
    clock: Clock = "virtual"


PUZZLES: tuple[Puzzle, ...] = (
    Puzzle(
        "script_start_end",
        "script start/end with setTimeout, promises and queueMicrotask",
        script_start_end,
        "the script runs to its end first (rule 1.1); then the microtask queue drains in "
        "FIFO order, so 'promise 2', queued when 'promise 1' settled, runs after "
        "queueMicrotask (rules 2.3, 7.1); the timer waits for the timers phase (rule 3)",
    ),
    Puzzle(
        "tick_promise_immediate_timeout",
        "nextTick vs promise vs setImmediate vs setTimeout",
        tick_promise_immediate_timeout,
        "ticks drain before microtasks, both before the first phase (rules 2.3, 1.2); the "
        "script took 2 ms, so the timer is due in the first timers phase, which runs "
        "before check (rules 3, 4.8: without those 2 ms the order of the two is luck)",
    ),
    Puzzle(
        "read_file_callback",
        "a readFile callback schedules a timeout, an immediate and a tick",
        read_file_callback,
        "the callback runs in poll (rule 5.2) and its tick drains right after it (rule "
        "2.2); check follows poll, so the immediate beats the 0 ms timer (rule 4.9)",
    ),
    Puzzle(
        "microtask_starvation",
        "microtask starvation, bounded",
        microtask_starvation,
        "a drain runs until both queues are empty, including microtasks queued meanwhile; "
        "a tick queued by a microtask waits for the microtask queue to empty (rule 2.3), "
        "and no phase runs until the drain ends (rule 2.4)",
    ),
    Puzzle(
        "blocking_the_loop",
        "blocking the loop, and the delay monitor catching it",
        blocking_the_loop,
        "one callback runs at a time: the 200 ms block holds up the timers phase, so the "
        "30 ms timer runs late (rules 3, 4.3), and the delay monitor records how long the "
        "loop stayed away from poll (Loop.monitor_delay)",
        clock="real",
    ),
    Puzzle(
        "offload_hash",
        "offloading a hash to the pool, the loop staying responsive",
        offload_hash,
        "the hash runs on a pool thread, so the loop keeps running its timers phases "
        "meanwhile (rule 5.1: poll waits only until the next timer); the hash's callback "
        "comes back in the poll phase (rule 5.2)",
        clock="real",
    ),
    Puzzle(
        "every_phase",
        "a refused connect, then a server and its client: a callback in every phase",
        every_phase,
        "an iteration runs timers, pending, idle, prepare, poll, check, close (rule 3), so "
        "the pending callback and the idle and prepare handles run before the first poll; "
        "I/O callbacks run in poll (rule 5.2), each step in a later poll than the one it "
        "started from; the data callback's immediate runs in the check phase of the same "
        "iteration and the destroyed client's 'close' in its close phase, while the 0 ms "
        "timeout waits for the next timers phase (rule 4.9)",
    ),
)


def run_puzzle(puzzle: Puzzle) -> Recording:
    """Runs one puzzle on its clock and returns its recording."""
    return run(puzzle.experiment, clock=puzzle.clock, name=puzzle.name)


def program(puzzle: Puzzle) -> str:
    """The puzzle's Python source, without its docstring."""
    source = textwrap.dedent(inspect.getsource(puzzle.experiment))
    tree = ast.parse(source)
    function = tree.body[0]
    lines = source.splitlines()
    if (
        isinstance(function, ast.FunctionDef)
        and function.body
        and isinstance(function.body[0], ast.Expr)
        and isinstance(function.body[0].value, ast.Constant)
        and isinstance(function.body[0].value.value, str)
    ):
        doc = function.body[0]
        end = doc.end_lineno if doc.end_lineno is not None else doc.lineno
        del lines[doc.lineno - 1 : end]
        while doc.lineno - 1 < len(lines) and not lines[doc.lineno - 1].strip():
            del lines[doc.lineno - 1]
    return "\n".join(lines) + "\n"


def explain(
    number: int, puzzle: Puzzle, recording: Recording, *, source: bool = True
) -> str:
    """What the demo prints for one puzzle: title, program, timeline, why."""
    heading = f"== {number}/{len(PUZZLES)} {puzzle.title} [{puzzle.name}, clock: {puzzle.clock}]"
    parts = [heading + "\n"]
    if source:
        parts.append(textwrap.indent(program(puzzle), "    "))
    parts.append(recording.timeline.text())
    if recording.error is not None:
        parts.append(f"error: {recording.error!r}\n")
    parts.append(f"why: {puzzle.why}\n")
    return "\n".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``demo`` command's options to ``parser``."""
    parser.add_argument(
        "names",
        nargs="*",
        metavar="PUZZLE",
        help="run only these puzzles (default: all; --list names them)",
    )
    parser.add_argument("--list", action="store_true", help="list the puzzles and exit")
    parser.add_argument(
        "--brief", action="store_true", help="leave out each puzzle's program"
    )
    parser.add_argument(
        "--svg",
        type=Path,
        metavar="DIR",
        help="also draw each timeline as DIR/NAME.svg",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="DIR",
        help="also write each timeline as DIR/NAME.json",
    )


def main(args: argparse.Namespace) -> int:
    """Runs the puzzles ``args`` asks for and prints them; returns the exit status."""
    if args.list:
        for puzzle in PUZZLES:
            print(f"{puzzle.name:<32} {puzzle.title} (clock: {puzzle.clock})")
        return 0
    unknown = sorted(set(args.names) - {p.name for p in PUZZLES})
    if unknown:
        print(
            f"python -m phaseloop demo: no puzzle named {', '.join(unknown)} "
            "(--list names them)",
            file=sys.stderr,
        )
        return 2
    chosen = [p for p in PUZZLES if not args.names or p.name in args.names]
    print(
        "The puzzles of the Node.js event-loop guides, run on phaseloop. Each logs what Node "
        "prints\nfor the same JavaScript; rule numbers are those of "
        "docs/ordering.md, which explains each.\n"
    )
    failed = False
    for puzzle in chosen:
        number = PUZZLES.index(puzzle) + 1
        recording = run_puzzle(puzzle)
        failed |= recording.status != "finished"
        print(explain(number, puzzle, recording, source=not args.brief))
        if args.svg is not None:
            args.svg.mkdir(parents=True, exist_ok=True)
            path = args.svg / f"{puzzle.name}.svg"
            path.write_text(render(recording.timeline, title=puzzle.title), "utf-8")
        if args.json is not None:
            args.json.mkdir(parents=True, exist_ok=True)
            path = args.json / f"{puzzle.name}.json"
            document = {"experiment": puzzle.name, **recording.timeline.to_json()}
            path.write_text(json.dumps(document, indent=1) + "\n", "utf-8")
        if recording.status == "interrupted":
            return 130
    return 1 if failed else 0


__all__ = [
    "PUZZLES",
    "Puzzle",
    "add_arguments",
    "blocking_the_loop",
    "every_phase",
    "explain",
    "main",
    "microtask_starvation",
    "offload_hash",
    "program",
    "read_file_callback",
    "run_puzzle",
    "script_start_end",
    "tick_promise_immediate_timeout",
]
