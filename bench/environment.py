"""The machine and the versions a benchmark run measured on, for the top of its table."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: The checkout whose commit is reported.
ROOT = Path(__file__).resolve().parent.parent


def command_output(argv: Sequence[str], cwd: Path | None = None) -> str:
    """What the command prints, stripped, or "unknown" if it cannot be run or fails."""
    try:
        proc = subprocess.run(
            argv, check=False, capture_output=True, text=True, cwd=cwd, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def machine() -> list[str]:
    """The CPU, memory, OS, clock source and the load average now, one line each."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"CPU: {model}, {os.cpu_count()} cores (as the OS reports them), {mem} memory",
        f"OS: {platform.system()} {platform.release()}; clocksource "
        + command_output(
            ["cat", "/sys/devices/system/clocksource/clocksource0/current_clocksource"]
        ),
        f"load average (1/5/15 min) when the run began: {load}",
    ]


def versions(python: str) -> list[str]:
    """phaseloop's commit and version, rustc, libuv, gcc, Node, Python, uvloop and rloop
    (those of `python`, the bench venv's)."""
    commit = command_output(["git", "rev-parse", "--short=12", "HEAD"], ROOT)
    if command_output(
        ["git", "status", "--porcelain", "--untracked-files=no"], ROOT
    ) not in ("", "unknown"):
        commit += " with uncommitted changes"
    probe = (
        "import sys, importlib.metadata as m; "
        "print(sys.version.split()[0]); "
        "[print(m.version(p)) for p in ('phaseloop', 'uvloop', 'rloop')]"
    )
    py = command_output([python, "-c", probe]).splitlines() + ["unknown"] * 4
    return [
        f"phaseloop {py[1]}, commit {commit}; "
        + command_output(["rustc", "--version"]),
        "libuv "
        + command_output(["pkg-config", "--modversion", "libuv"])
        + " (Debian's libuv1-dev); C compiled with "
        + command_output(["cc", "-dumpfullversion"]).join(["gcc ", " -O2"]),
        f"Node {command_output(['node', '--version'])}",
        f"Python {py[0]} (asyncio of the same), uvloop {py[2]}, rloop {py[3]}",
    ]
