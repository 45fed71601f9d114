"""The echo benchmark (uvloop's vmbench shape): one load generator, many servers, one run.

    python bench/net/echo.py [--quick] [--rounds R] [--servers A,B]   # a Markdown table

Servers: phaseloop from C (examples/c/echo_server.c) against libuv (uv_echo_server.c); from
Python, phaseloop's stream API (phaseloop.net) and an asyncio protocol and streams server on
phaseloop.asyncio, against asyncio (streams and protocols) and uvloop when importable; Node's
``net`` as the reference. The client (echo_client.c, C, epoll) is the same for all: 1 KiB, 10 KiB and 100 KiB
messages over 1 and 100 connections, each echoed byte checked. Every figure is the median of
R rounds, the servers taking turns within a round; CPU per request is the server process's
user+system time over the requests it served. Needs cc, pkg-config with libphaseloop (built by
``ffi-c/install.sh``; ``--prefix``) and libuv, and phaseloop installed in this Python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIZES = (1024, 10 * 1024, 100 * 1024)
CONNS = (1, 100)
# Round trips per run, by message size: about a second each on a 2-core machine.
REQUESTS = {1024: 40_000, 10 * 1024: 20_000, 100 * 1024: 4_000}


@dataclass(frozen=True)
class Server:
    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def build(out: Path, prefix: Path) -> dict[str, Path]:
    """Compiles the client and the two C servers into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))

    def flags(package: str) -> list[str]:
        return subprocess.run(
            ["pkg-config", "--cflags", "--libs", package],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    binaries = {
        "client": (HERE / "echo_client.c", []),
        "phaseloop-c": (ROOT / "examples" / "c" / "echo_server.c", flags("phaseloop")),
        "libuv": (HERE / "uv_echo_server.c", flags("libuv")),
    }
    built = {}
    for name, (source, extra) in binaries.items():
        target = out / f"echo-{name}"
        subprocess.run(
            ["cc", "-O2", "-std=c99", str(source), "-o", str(target), *extra],
            check=True,
        )
        built[name] = target
    return built


def python_has(module: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, check=False
    )
    return done.returncode == 0


def servers(built: dict[str, Path], prefix: Path) -> list[Server]:
    lib = (("LD_LIBRARY_PATH", str(prefix / "lib")),)
    py = sys.executable
    found = [
        Server("phaseloop C", (str(built["phaseloop-c"]), "0"), lib),
        Server("libuv C", (str(built["libuv"]),)),
        Server("phaseloop.net", (py, str(HERE / "servers.py"), "phaseloop")),
        Server(
            "phaseloop.asyncio protocol",
            (py, str(HERE / "servers.py"), "phaseloop-asyncio-protocol"),
        ),
        Server(
            "phaseloop.asyncio streams",
            (py, str(HERE / "servers.py"), "phaseloop-asyncio-streams"),
        ),
        Server("asyncio streams", (py, str(HERE / "servers.py"), "asyncio-streams")),
        Server("asyncio protocol", (py, str(HERE / "servers.py"), "asyncio-protocol")),
    ]
    if python_has("uvloop"):
        found.append(
            Server("uvloop protocol", (py, str(HERE / "servers.py"), "uvloop-protocol"))
        )
        found.append(
            Server("uvloop streams", (py, str(HERE / "servers.py"), "uvloop-streams"))
        )
    if shutil.which("node"):
        found.append(Server("node net", ("node", str(HERE / "server.js"))))
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    server: Server, client: Path, size: int, conns: int, requests: int
) -> tuple[float, float]:
    """One run: (requests per second, server CPU µs per request)."""
    proc = subprocess.Popen(
        list(server.argv),
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, **dict(server.env)),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(line.split()[-1].rsplit(":", 1)[-1])
        before = cpu_seconds(proc.pid)
        done = subprocess.run(
            [str(client), str(port), str(size), str(conns), str(requests)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        after = cpu_seconds(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    if done.returncode != 0:
        raise RuntimeError(f"{server.name}: {done.stderr.strip()}")
    rps = float(done.stdout.split()[1])
    return rps, (after - before) * 1e6 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the requests, 1 round"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--prefix", type=Path, default=ROOT / "target" / "c-tests" / "prefix"
    )
    parser.add_argument("--build", type=Path, default=ROOT / "bench" / "build" / "net")
    parser.add_argument(
        "--servers",
        help="comma-separated server names to run (default: all), e.g. "
        "'phaseloop.asyncio streams,uvloop streams'",
    )
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    built = build(args.build, args.prefix)
    found = servers(built, args.prefix)
    if args.servers:
        wanted = set(args.servers.split(","))
        found = [s for s in found if s.name in wanted]
    results: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    for size in SIZES:
        for conns in CONNS:
            requests = REQUESTS[size] // (10 if args.quick else 1)
            for round_number in range(rounds):
                order = found if round_number % 2 == 0 else list(reversed(found))
                for server in order:
                    try:
                        figure = measure(server, built["client"], size, conns, requests)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                        print(
                            f"# {server.name} {size} B x{conns}: failed: {exc}",
                            file=sys.stderr,
                        )
                        continue
                    results.setdefault((server.name, size, conns), []).append(figure)
                    time.sleep(0.05)
    print(
        f"Echo benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f}; requests per second (median of {rounds}), and in brackets "
        "the server's CPU µs per request.\n"
    )
    header = "| message, connections | " + " | ".join(s.name for s in found) + " |"
    print(header)
    print("|" + " --- |" * (len(found) + 1))
    for size in SIZES:
        for conns in CONNS:
            cells = []
            for server in found:
                runs = results.get((server.name, size, conns))
                if not runs:
                    cells.append("failed")
                    continue
                rps = statistics.median(r for r, _ in runs)
                cpu = statistics.median(c for _, c in runs)
                cells.append(f"{rps:,.0f} ({cpu:.1f})")
            print(f"| {size // 1024} KiB x{conns} | " + " | ".join(cells) + " |")
    print(
        "\nRatios (requests per second, phaseloop / anchor; above 1.00 phaseloop is faster):\n"
    )
    pairs = [
        ("phaseloop C", "libuv C"),
        ("phaseloop.net", "asyncio streams"),
        ("phaseloop.net", "asyncio protocol"),
        ("phaseloop.net", "uvloop protocol"),
        ("phaseloop.asyncio protocol", "asyncio protocol"),
        ("phaseloop.asyncio protocol", "uvloop protocol"),
        ("phaseloop.asyncio streams", "asyncio streams"),
        ("phaseloop.asyncio streams", "uvloop streams"),
        ("phaseloop.net", "node net"),
    ]
    pairs = [(a, b) for a, b in pairs if any(s.name == b for s in found)]
    print(
        "| message, connections | " + " | ".join(f"{a} / {b}" for a, b in pairs) + " |"
    )
    print("|" + " --- |" * (len(pairs) + 1))
    for size in SIZES:
        for conns in CONNS:
            cells = []
            for a, b in pairs:
                ra, rb = results.get((a, size, conns)), results.get((b, size, conns))
                if not ra or not rb:
                    cells.append("n/a")
                    continue
                cells.append(
                    f"{statistics.median(r for r, _ in ra) / statistics.median(r for r, _ in rb):.2f}"
                )
            print(f"| {size // 1024} KiB x{conns} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
