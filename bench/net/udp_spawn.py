"""UDP round trips and process spawns, phaseloop against its anchors, in one run.

    python bench/net/udp_spawn.py [--quick] [--rounds R]      # prints a Markdown table

UDP: N round trips of a 64-byte datagram on loopback, one in flight, both sockets on one loop
(a ping socket sends, a pong socket echoes a copy): phaseloop from C (``pl_udp_spawn.c``)
against libuv (``uv_udp_spawn.c``); from Python, ``Loop.udp`` against asyncio datagram
endpoints on asyncio's loop, uvloop and ``phaseloop.asyncio``. Spawn: N spawns of
``/bin/true``, one after the other, each started from the exit of the one before: the same C
pair, ``Loop.spawn`` against ``asyncio.create_subprocess_exec`` (asyncio, uvloop,
phaseloop.asyncio) and Node's ``child_process.spawn``. Figures are µs per round trip or
spawn, the median of R rounds (default 5) with the min and max, the contenders taking turns
within a round (who goes first alternates); ratios are phaseloop's over the anchor named in
the row (below 1 is faster). Every run's figure follows the table, with the 1-minute load
average as its round began, so that a median that moved can be told apart: the machine, or
the code. Needs cc, pkg-config with
libphaseloop (built by ``ffi-c/install.sh``; ``--prefix``) and libuv, and phaseloop installed
in this Python; uvloop and node are used when present.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIZES = {"udp": 20_000, "spawn": 300}
PAYLOAD = b"x" * 64


# ----- the Python contenders: each runs in a child process, prints µs per operation ------------


def phaseloop_udp(n: int) -> float:
    import phaseloop

    with phaseloop.Loop() as loop:
        done = 0
        pong = loop.udp(lambda data, sender: pong.send(data, sender[1], sender[0]))
        pong.bind(0, "127.0.0.1")

        def on_pong(data: bytes, sender: tuple[object, ...]) -> None:
            nonlocal done
            if data != PAYLOAD:
                raise RuntimeError("a pong does not match its ping")
            done += 1
            if done < n:
                ping.send(PAYLOAD, pong_port, "127.0.0.1")
            else:
                ping.close()
                pong.close()

        ping = loop.udp(on_pong)
        ping.bind(0, "127.0.0.1")
        # Looked up once, as the asyncio contenders keep their target.
        pong_port = pong.address[1]
        start = time.perf_counter()
        ping.send(PAYLOAD, pong_port, "127.0.0.1")
        loop.run()
        elapsed = time.perf_counter() - start
    if done != n:
        raise RuntimeError(f"{done} of {n} round trips")
    return elapsed / n * 1e6


def phaseloop_spawn(n: int) -> float:
    import phaseloop

    with phaseloop.Loop() as loop:
        done = 0

        def on_exit(code: int | None, signal: int | None) -> None:
            nonlocal done
            if code != 0:
                raise RuntimeError(f"/bin/true exited {code} (signal {signal})")
            done += 1
            if done < n:
                start_one()

        def start_one() -> None:
            loop.spawn(
                ["/bin/true"],
                stdin="ignore",
                stdout="ignore",
                stderr="ignore",
                on_exit=on_exit,
            )

        start = time.perf_counter()
        start_one()
        loop.run()
        elapsed = time.perf_counter() - start
    if done != n:
        raise RuntimeError(f"{done} of {n} spawns")
    return elapsed / n * 1e6


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.transport.sendto(data, addr)


class _Ping(asyncio.DatagramProtocol):
    def __init__(self, n: int, target: tuple[str, int], done: asyncio.Future[None]):
        self.n, self.target, self.done, self.count = n, target, done, 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if data != PAYLOAD:
            self.done.set_exception(RuntimeError("a pong does not match its ping"))
            return
        self.count += 1
        if self.count < self.n:
            self.transport.sendto(PAYLOAD, self.target)
        else:
            self.done.set_result(None)


async def _asyncio_udp(n: int) -> float:
    loop = asyncio.get_running_loop()
    pong, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    target = pong.get_extra_info("sockname")[:2]
    done: asyncio.Future[None] = loop.create_future()
    ping, _ = await loop.create_datagram_endpoint(
        lambda: _Ping(n, target, done), local_addr=("127.0.0.1", 0)
    )
    start = time.perf_counter()
    ping.sendto(PAYLOAD, target)
    await done
    elapsed = time.perf_counter() - start
    ping.close()
    pong.close()
    return elapsed / n * 1e6


async def _asyncio_spawn(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        child = await asyncio.create_subprocess_exec(
            "/bin/true",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if await child.wait() != 0:
            raise RuntimeError("/bin/true failed")
    return (time.perf_counter() - start) / n * 1e6


def _on_loop(
    kind: str, coroutine: Callable[[int], Coroutine[Any, Any, float]], n: int
) -> float:
    if kind == "asyncio":
        return asyncio.run(coroutine(n))
    if kind == "uvloop":
        import uvloop

        return uvloop.run(coroutine(n))  # type: ignore[no-any-return]
    import phaseloop.asyncio

    return phaseloop.asyncio.run(coroutine(n))


def python_one(name: str, workload: str, n: int) -> float:
    """Measures one Python contender once, in this process."""
    if name == "phaseloop":
        return phaseloop_udp(n) if workload == "udp" else phaseloop_spawn(n)
    return _on_loop(name, _asyncio_udp if workload == "udp" else _asyncio_spawn, n)


NODE_SPAWN = """
const { spawn } = require('child_process');
const n = Number(process.argv[1]);
let done = 0;
const start = process.hrtime.bigint();
function one() {
  spawn('/bin/true', { stdio: 'ignore' }).on('exit', (code) => {
    if (code !== 0) process.exit(1);
    if (++done < n) one();
    else console.log(Number(process.hrtime.bigint() - start) / n / 1000);
  });
}
one();
"""


# ----- running them ---------------------------------------------------------------------------------


def build(out: Path, prefix: Path) -> dict[str, Path]:
    """Compiles the two C programs into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    built = {}
    for name, source, package in (
        ("phaseloop C", HERE / "pl_udp_spawn.c", "phaseloop"),
        ("libuv C", HERE / "uv_udp_spawn.c", "libuv"),
    ):
        flags = subprocess.run(
            ["pkg-config", "--cflags", "--libs", package],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        target = out / source.stem
        subprocess.run(
            [
                "cc",
                "-O2",
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                str(source),
                "-o",
                str(target),
                *flags,
            ],
            check=True,
        )
        built[name] = target
    return built


def command(
    name: str, workload: str, n: int, built: dict[str, Path]
) -> list[str] | None:
    """The argv that measures ``name`` on ``workload`` once, or None if it is not here."""
    if name in built:
        return [str(built[name]), workload, str(n)]
    if name == "node":
        node = shutil.which("node")
        return None if node is None else [node, "-e", NODE_SPAWN, str(n)]
    if name == "uvloop":
        done = subprocess.run(
            [sys.executable, "-c", "import uvloop"], check=False, capture_output=True
        )
        if done.returncode != 0:
            return None
    return [sys.executable, __file__, "--one", f"{name} {workload}", str(n)]


def measure(argv: list[str], env: dict[str, str]) -> float:
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-300:] or f"exit {done.returncode}")
    value = float(done.stdout.split()[-1])
    # The C programs print ns per operation; the others µs.
    return value / 1000 if "ns_per_op" in done.stdout else value


ROWS = {
    "udp": (
        "UDP round trips, 64 B, one in flight",
        [
            ("phaseloop C", "libuv C"),
            ("phaseloop", "uvloop"),
            ("phaseloop", "asyncio"),
            ("phaseloop.asyncio", "uvloop"),
        ],
    ),
    "spawn": (
        "spawn + exit of /bin/true, one after the other",
        [
            ("phaseloop C", "libuv C"),
            ("phaseloop", "uvloop"),
            ("phaseloop", "asyncio"),
            ("phaseloop", "node"),
            ("phaseloop.asyncio", "uvloop"),
        ],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the sizes, 1 round"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--prefix", type=Path, default=ROOT / "target" / "c-tests" / "prefix"
    )
    parser.add_argument("--build", type=Path, default=ROOT / "bench" / "build" / "net")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("n", nargs="?", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        name, workload = args.one.rsplit(" ", 1)
        print(f"{python_one(name, workload, args.n):.3f}")
        return
    rounds = 1 if args.quick else args.rounds
    built = build(args.build, args.prefix)
    env = dict(os.environ, LD_LIBRARY_PATH=str(args.prefix / "lib"))
    figures: dict[tuple[str, str], list[float]] = {}
    # Every run by round (None: it failed), for the table of every run.
    every: dict[tuple[str, str], dict[int, float | None]] = {}
    loads: dict[str, list[float]] = {}
    start_load = os.getloadavg()[0]
    for workload, (_, rows) in ROWS.items():
        n = SIZES[workload] // (10 if args.quick else 1)
        names = list(dict.fromkeys(name for row in rows for name in row))
        for round_number in range(rounds):
            loads.setdefault(workload, []).append(os.getloadavg()[0])
            for name in names if round_number % 2 == 0 else reversed(names):
                argv = command(name, workload, n, built)
                if argv is None:
                    continue
                run: float | None = None
                try:
                    run = measure(argv, env)
                    figures.setdefault((name, workload), []).append(run)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    print(f"# {name} {workload}: failed: {exc}", file=sys.stderr)
                every.setdefault((name, workload), {})[round_number] = run
    print(
        f"UDP and spawn benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"load {start_load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
        f"µs per operation, median of {rounds} "
        "[min-max]; ratio phaseloop / anchor (below 1 is faster).\n"
    )
    print("| workload | phaseloop | µs | anchor | µs | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")

    def cell(name: str, workload: str) -> tuple[str, float | None]:
        runs = figures.get((name, workload))
        if not runs:
            return "not run", None
        median = statistics.median(runs)
        return f"{median:.1f} [{min(runs):.1f}-{max(runs):.1f}]", median

    for workload, (title, rows) in ROWS.items():
        for ours, anchor in rows:
            ours_text, ours_value = cell(ours, workload)
            anchor_text, anchor_value = cell(anchor, workload)
            ratio = (
                f"{ours_value / anchor_value:.2f}"
                if ours_value is not None and anchor_value
                else "-"
            )
            print(
                f"| {title} | {ours} | {ours_text} | {anchor} | {anchor_text} | {ratio} |"
            )
    print("\nEvery run, round by round (µs; the load average as the round began):\n")
    print(
        "| workload | contender | "
        + " | ".join(f"round {i + 1}" for i in range(rounds))
        + " |"
    )
    print("| --- | --- |" + " --- |" * rounds)
    for workload, (_, rows) in ROWS.items():
        round_loads = loads.get(workload, [])
        print(
            f"| {workload} | load | "
            + " | ".join(f"{load:.2f}" for load in round_loads)
            + " |"
        )
        for name in dict.fromkeys(name for row in rows for name in row):
            by_round = every.get((name, workload))
            if by_round is None:
                continue
            texts = []
            for i in range(rounds):
                run = by_round.get(i)
                texts.append("failed" if run is None else f"{run:.1f}")
            print(f"| {workload} | {name} | " + " | ".join(texts) + " |")


if __name__ == "__main__":
    main()
