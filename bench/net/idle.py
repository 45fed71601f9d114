"""Idle connections: the server's RSS per connection held open, 10,000 of them.

    python bench/net/idle.py [--connections N]

Each server (phaseloop from C, phaseloop.net, uvloop and asyncio protocols, Node's net)
starts in its own process and prints its port; this script opens N connections to it, waits
until the server has accepted them all (its open fd count says so), and reads the server's
VmRSS before and after from /proc. Prints bytes of RSS per connection for each.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from echo import ROOT, build, servers


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument(
        "--prefix", type=Path, default=ROOT / "target" / "c-tests" / "prefix"
    )
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = min(args.connections, hard - 200)
    built = build(ROOT / "bench" / "build" / "net", args.prefix)
    wanted = (
        "phaseloop C",
        "libuv C",
        "phaseloop.net",
        "uvloop protocol",
        "asyncio protocol",
        "node net",
    )
    print(
        f"Idle connections, {time.strftime('%Y-%m-%d')}: server RSS growth per connection, {n} connections.\n"
    )
    print("| server | RSS before | RSS after | bytes per connection |")
    print("| --- | --- | --- | --- |")
    for server in servers(built, args.prefix):
        if server.name not in wanted:
            continue
        env = dict(os.environ, **dict(server.env))
        proc = subprocess.Popen(
            ["sh", "-c", f'ulimit -n {hard}; exec "$@"', "sh", *server.argv],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline().split()[-1].rsplit(":", 1)[-1])
            # The C example prints a line per connection: keep its pipe drained.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            time.sleep(0.3)
            before, base_fds = rss(proc.pid), fds(proc.pid)
            conns = []
            for _ in range(n):
                conns.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            deadline = time.monotonic() + 60
            while fds(proc.pid) < base_fds + n and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            after = rss(proc.pid)
            accepted = fds(proc.pid) - base_fds
            per = (after - before) / max(accepted, 1)
            print(
                f"| {server.name} | {before / 2**20:.1f} MiB | {after / 2**20:.1f} MiB | {per:,.0f} ({accepted} accepted) |"
            )
            for c in conns:
                # A reset, not a FIN: no TIME_WAIT left holding the ephemeral ports the next
                # server's 10,000 connections need.
                c.setsockopt(
                    socket.SOL_SOCKET,
                    socket.SO_LINGER,
                    b"\x01\x00\x00\x00\x00\x00\x00\x00",
                )
                c.close()
        finally:
            proc.kill()
            proc.wait()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
