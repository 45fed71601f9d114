"""Run ordering scenarios on phaseloop from Python and compare each log with its `expect`.

    python run_phaseloop.py                       # scenarios/ and found/, real clock
    python run_phaseloop.py --clock virtual       # the virtual clock ("both": one, then other)
    python run_phaseloop.py scenarios/io-*.json   # some of them
    python run_phaseloop.py --print FILE.json     # just print phaseloop's log
    python run_phaseloop.py --jobs 4              # parallel workers (default 4)

Each scenario runs on a fresh `phaseloop.Loop` with the scenario's `threadpool_size`, its
ops mapped as FORMAT.md's phaseloop column says (and README.md for the extension ops).
The real clock is the default because that is how Node ran the program that printed
`expect`; a fair scenario has one order on both clocks.

Use the Python in which phaseloop is installed. The last line is
"run_phaseloop (clock C): N passed, N failed" (one line per clock).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

from ops import COMBINATORS, NET_OPS, Body, Op
from scenarios import Result, judge_all, load, scenario_files
from shards import run_sharded

HERE = Path(__file__).resolve().parent
CLOCKS = ("real", "virtual")
# A port nothing listens on, for a refused connect (node_runner.js has the same).
REFUSED_PORT = 1
# Deliberately wrong mappings, for the self-check that the suite notices a misordering loop
# (selftest.py): "tick-as-microtask" queues a tick as a microtask.
MUTANTS = ("tick-as-microtask",)


class Reason(Exception):
    """A rejection reason carrying the scenario's label (Node rejects with the string)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


class Thenable:
    """An object with a callable `then` that fulfils with `value` when asked: JavaScript's
    `{then(resolve) { resolve(value) }}`."""

    def __init__(self, value: object) -> None:
        self.value = value

    def then(self, resolve: Any, reject: Any = None) -> None:
        """Called by the promise machinery in a resolve-thenable job."""
        resolve(self.value)


def no_work() -> None:
    """The pool job of an `io` op: Node's fs.stat does no work we could observe either."""


def render(value: object) -> str:
    """A settled combinator's value or reason as text, the way node_runner.js writes it."""
    import phaseloop

    if isinstance(value, str):
        return value
    if isinstance(value, Reason):
        return value.label
    if isinstance(value, phaseloop.AggregateError):
        errors = value.errors
        return "AggregateError[" + ",".join(render(e) for e in errors) + "]"
    if isinstance(value, dict) and value.get("status") == "fulfilled":
        return "fulfilled " + render(value["value"])
    if isinstance(value, dict) and value.get("status") == "rejected":
        return "rejected " + render(value["reason"])
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(render(item) for item in value) + "]"
    raise TypeError(f"cannot render {value!r}")


class Interpreter:
    """Runs a scenario's ops on one loop, appending labels to `log`."""

    def __init__(self, loop: Any, log: list[str], mutant: str | None = None) -> None:
        self.loop = loop
        self.log = log
        if mutant not in (None, *MUTANTS):
            raise ValueError(f"unknown mutant {mutant!r}")
        self.mutant = mutant
        # `as` name -> (kind, handle); a later op with the same name wins, as in Node.
        self.handles: dict[str, tuple[str, Any]] = {}

    def run_body(self, body: Body) -> None:
        """Run the ops of `body` in order."""
        for op in body:
            self.run_op(op)

    def callback(self, body: Body) -> Any:
        """A callback that runs `body`, whatever arguments the loop passes it."""
        return lambda *_args: self.run_body(body)

    def remember(self, op: Op, kind: str, handle: object) -> None:
        if "as" in op:
            self.handles[op["as"]] = (kind, handle)

    def run_op(self, op: Op) -> None:
        """Run one op, as node_runner.js does in Node."""
        loop = self.loop
        name = op["op"]
        if name == "log":
            self.log.append(op["msg"])
        elif name == "timeout":
            timer = loop.set_timeout(self.callback(op["body"]), op["delay"])
            self.remember(op, "timeout", timer)
        elif name == "interval":
            self.remember(op, "interval", self.start_interval(op))
        elif name == "immediate":
            immediate = loop.set_immediate(self.callback(op["body"]))
            self.remember(op, "immediate", immediate)
        elif name == "tick":
            if self.mutant == "tick-as-microtask":
                loop.queue_microtask(self.callback(op["body"]))
            else:
                loop.next_tick(self.callback(op["body"]))
        elif name == "microtask":
            loop.queue_microtask(self.callback(op["body"]))
        elif name == "io":
            loop.queue_work(no_work, callback=self.io_callback(op["body"]))
        elif name == "clear":
            self.clear(op["target"])
        elif name == "block":
            self.block(op["ms"])
        elif name in ("ref", "unref", "refresh"):
            self.handle_method(name, op["target"])
        elif name == "then":
            promise = loop.resolve()
            for link in op["chain"]:
                promise = promise.then(self.callback(link))
        elif name == "reject_catch":
            loop.reject(Reason("rejected")).catch(self.callback(op["body"]))
        elif name == "adopt":
            adopting = loop.promise(lambda resolve, reject: resolve(loop.resolve()))
            adopting.then(self.callback(op["body"]))
        elif name == "async":
            loop.start(self.async_body(op["body"]))
        elif name == "async_return_promise":
            loop.start(self.returns_promise()).then(self.callback(op["body"]))
        elif name == "chain":
            self.run_chain(op)
        elif name in COMBINATORS:
            self.run_combinator(op)
        elif name in NET_OPS:
            self.run_net(name, op["body"])
        else:
            raise ValueError(f"unknown op {name!r}")

    def run_udp(self, kind: str, run: Any) -> None:
        """A UDP op, as node_runner.js's runUdp."""
        loop = self.loop
        receiver = loop.udp()

        def on_message(_data: bytes, _sender: object) -> None:
            if kind == "udp_message":
                run()
            receiver.close()

        receiver.on("message", on_message)

        def bound() -> None:
            sender = loop.udp()

            def sent(_error: object) -> None:
                if kind == "udp_send":
                    run()
                sender.close()

            sender.send("ping", receiver.address[1], "127.0.0.1", sent)

        receiver.bind(0, "127.0.0.1", bound)

    def run_net(self, kind: str, body: Body) -> None:
        """A network op, as node_runner.js's runNet: a loopback server and a client whose one
        event runs `body`; the client starts where Node's `listen` callback runs (a tick)."""
        loop = self.loop
        run = self.callback(body)
        if kind == "lookup":
            loop.lookup("localhost", run)
            return
        if kind in ("spawn_exit", "spawn_close"):
            child = loop.spawn(["sh", "-c", "printf x"])
            assert child.stdout is not None
            child.stdout.on("data", lambda _data: None)
            child.on("exit" if kind == "spawn_exit" else "close", run)
            return
        if kind in ("udp_message", "udp_send"):
            self.run_udp(kind, run)
            return

        def quiet(*_args: object) -> None:
            pass

        if kind == "net_refused":
            loop.connect(REFUSED_PORT, "127.0.0.1").on("error", run)
            return

        def on_connection(socket: Any) -> None:
            socket.on("error", quiet)
            if kind == "net_connection":
                run()
            if kind == "net_end":
                socket.end("bye")
            else:
                socket.on("data", socket.write)
            server.close(run if kind == "net_server_close" else None)

        server = loop.listen(on_connection, 0, "127.0.0.1")

        def start_client() -> None:
            client = loop.connect(server.address[1], "127.0.0.1")
            client.on("error", quiet)

            def on_connect() -> None:
                if kind == "net_connect":
                    run()
                if kind == "net_close":
                    client.on("close", run)
                    client.destroy()
                elif kind == "net_write":
                    client.write("ping", run)
                elif kind == "net_data":

                    def on_data(_data: bytes) -> None:
                        run()
                        client.destroy()

                    client.on("data", on_data)
                    client.write("ping")
                elif kind == "net_end":
                    client.on("end", run)
                    client.resume()
                else:
                    client.destroy()

            client.on("connect", on_connect)
            if kind == "net_write":
                client.on("data", lambda _data: client.destroy())

        loop.next_tick(start_client)

    def start_interval(self, op: Op) -> Any:
        """An interval that clears itself after its `times`-th run."""
        runs = 0
        body, times = op["body"], op["times"]

        def fire() -> None:
            nonlocal runs
            runs += 1
            self.run_body(body)
            if runs >= times:
                self.loop.clear_interval(timer)

        timer = self.loop.set_interval(fire, op["delay"])
        return timer

    def io_callback(self, body: Body) -> Any:
        def done(error: object, result: object) -> None:
            if error is not None:
                raise RuntimeError(f"the io job failed: {error!r}")
            self.run_body(body)

        return done

    def clear(self, target: str) -> None:
        if target not in self.handles:
            raise ValueError(f"clear: no handle named {target!r}")
        kind, handle = self.handles[target]
        if kind == "immediate":
            self.loop.clear_immediate(handle)
        elif kind == "interval":
            self.loop.clear_interval(handle)
        else:
            self.loop.clear_timeout(handle)

    def block(self, ms: float) -> None:
        """Keep the thread busy for `ms`, as a slow callback does; on the virtual clock,
        `advance(ms)`, which moves the virtual clock as if a callback had blocked that long."""
        if self.loop.clock == "virtual":
            self.loop.advance(ms)
            return
        end = time.monotonic() + ms / 1000
        while time.monotonic() < end:
            pass

    def handle_method(self, method: str, target: str) -> None:
        """`ref` / `unref` / `refresh` of a named handle (Timer or Immediate)."""
        if target not in self.handles:
            raise ValueError(f"{method}: no handle named {target!r}")
        kind, handle = self.handles[target]
        if method == "refresh" and kind == "immediate":
            raise ValueError("refresh: not a timer")
        getattr(handle, method)()

    # -- promises ------------------------------------------------------------------------

    def awaitable(self, op: Op) -> Any:
        """What `await` waits for: FORMAT.md's phaseloop spelling of each JavaScript await."""
        loop = self.loop
        what = op["what"]
        if what == "value":
            return loop.resolve(1)
        if what == "promise":
            return loop.resolve()
        if what == "thenable":
            return loop.resolve(Thenable(None))
        if what == "sleep":
            return loop.sleep(op["delay"])
        if what == "immediate":
            return loop.immediate()
        if what == "rejected":
            return loop.reject(Reason("rejected"))
        raise ValueError(f"cannot await {what!r}")

    async def async_body(self, body: Body) -> None:
        """The async function of an `async` op: each `await` is a real await."""
        for inner in body:
            if inner["op"] != "await":
                self.run_op(inner)
            elif inner["what"] == "rejected":
                try:
                    await self.awaitable(inner)
                except Reason:
                    pass
            else:
                await self.awaitable(inner)

    async def returns_promise(self) -> Any:
        """An async function whose body returns a resolved promise."""
        return self.loop.resolve()

    def run_chain(self, op: Op) -> None:
        """A `chain` op: then / catch / finally links on a settled promise."""
        loop = self.loop
        if op["from"] == "resolved":
            promise = loop.resolve()
        else:
            promise = loop.reject(Reason("rejected"))
        for link in op["links"]:
            handler = self.link_handler(link)
            if link["on"] == "then":
                promise = promise.then(handler)
            elif link["on"] == "catch":
                promise = promise.catch(handler)
            else:
                promise = promise.finally_(handler)

    def link_handler(self, link: Op) -> Any:
        """A chain link's handler: runs the body, then throws or returns as the link says."""
        body, throws, returns = (
            link["body"],
            link.get("throws", False),
            link.get("returns"),
        )
        loop = self.loop

        def handler(*_args: object) -> object:
            self.run_body(body)
            if throws:
                raise Reason("thrown")
            if returns == "promise":
                return loop.resolve()
            if returns == "thenable":
                return Thenable(None)
            if returns == "rejected":
                return loop.reject(Reason("returned"))
            return None

        return handler

    def combinator_input(self, spec: dict[str, Any]) -> object:
        """One input of a combinator, as README.md's input kinds say."""
        loop = self.loop
        kind, value = spec["kind"], spec["value"]
        if kind == "value":
            return value
        if kind in ("resolved", "rejected"):
            after = spec.get("after", 0)
            if after == 0:
                return (
                    loop.resolve(value)
                    if kind == "resolved"
                    else loop.reject(Reason(value))
                )
            promise = loop.resolve()
            for _ in range(after - 1):
                promise = promise.then(lambda _v: None)

            def last(_v: object) -> object:
                if kind == "rejected":
                    raise Reason(value)
                return value

            return promise.then(last)
        if kind == "thenable":
            return Thenable(value)
        if kind == "sleep":
            return loop.sleep(spec["delay"], value)
        if kind == "sleep_reject":
            return loop.promise(
                lambda resolve, reject: loop.set_timeout(
                    lambda: reject(Reason(value)), spec["delay"]
                )
            )
        if kind == "immediate":
            return loop.immediate(value)
        if kind == "never":
            return loop.promise(lambda resolve, reject: None)
        raise ValueError(f"unknown input kind {kind!r}")

    def run_combinator(self, op: Op) -> None:
        """`all` / `all_settled` / `race` / `any`: log how it settled, then run the body."""
        inputs = [self.combinator_input(spec) for spec in op["inputs"]]
        combined = getattr(self.loop, op["op"])(inputs)
        msg, body = op["msg"], op["body"]

        def settled(status: str) -> Any:
            def handler(value: object) -> None:
                self.log.append(f"{msg}: {status} {render(value)}")
                self.run_body(body)

            return handler

        combined.then(settled("fulfilled"), settled("rejected"))


def run_scenario(
    scenario: dict[str, Any],
    clock: Literal["real", "virtual"],
    mutant: str | None = None,
) -> Result:
    """Run one scenario on a fresh loop: {"name", "log"} or {"name", "error"}."""
    import phaseloop

    name = scenario["name"]
    log: list[str] = []
    try:
        with phaseloop.Loop(
            threadpool_size=scenario.get("threadpool_size", 1), clock=clock
        ) as loop:
            Interpreter(loop, log, mutant).run_body(scenario["program"])
            loop.run()
    except Exception as error:  # noqa: BLE001 - any failure is this scenario's result
        return {"name": name, "error": f"{type(error).__name__}: {error}", "log": log}
    return {"name": name, "log": log}


def worker(files: Sequence[str], clock: str, mutant: str | None = None) -> int:
    """Worker mode: run each file, print one JSON line per file."""
    for file in files:
        try:
            scenario = load(Path(file))
        except (ValueError, OSError) as error:
            result: Result = {"name": Path(file).stem, "error": str(error)}
        else:
            result = run_scenario(
                scenario, cast(Literal["real", "virtual"], clock), mutant
            )
        print(json.dumps(result), flush=True)
    return 0


def run_many(
    files: Sequence[Path],
    clock: str,
    jobs: int,
    python: str = sys.executable,
    mutant: str | None = None,
) -> dict[Path, Result]:
    """Run `files` on phaseloop in `jobs` worker processes; file -> result."""
    command = [python, str(Path(__file__).resolve()), "--worker", "--clock", clock]
    if mutant is not None:
        command += ["--mutant", mutant]
    return run_sharded(lambda batch: [*command, *map(str, batch)], files, jobs)


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios on phaseloop and compare; the exit status is 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths", nargs="*", help="files or folders (default: scenarios/, found/)"
    )
    parser.add_argument("--clock", choices=(*CLOCKS, "both"), default="real")
    parser.add_argument(
        "--jobs", type=int, default=4, help="parallel workers (default 4)"
    )
    parser.add_argument(
        "--print", action="store_true", help="print the logs, compare nothing"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--mutant", choices=MUTANTS, help="a deliberately wrong mapping"
    )
    args = parser.parse_args(argv)
    clocks = CLOCKS if args.clock == "both" else (args.clock,)
    if args.worker:
        return worker(args.paths, clocks[0], args.mutant)

    files = scenario_files(args.paths)
    if not files:
        print("run_phaseloop: no scenario files", file=sys.stderr)
        return 2
    failed_any = False
    summaries = []
    for clock in clocks:
        results = run_many(files, clock, args.jobs, mutant=args.mutant)
        if args.print:
            for file in files:
                print(json.dumps(results[file]))
            continue
        failures = judge_all(files, results, "phaseloop")
        for report in failures:
            print(f"[clock {clock}] {report}")
        failed_any = failed_any or bool(failures)
        summaries.append(
            f"run_phaseloop (clock {clock}): {len(files) - len(failures)} passed, "
            f"{len(failures)} failed"
        )
    for line in summaries:
        print(line)
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
