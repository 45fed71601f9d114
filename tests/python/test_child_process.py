"""phaseloop.child_process (Loop.spawn): Node's ChildProcess events, spawn errors raised at
once, output delivered before "close", signals, many children, and a loop left open."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import phaseloop
import pytest


@pytest.fixture
def loop() -> Iterator[phaseloop.Loop]:
    with phaseloop.Loop(threadpool_size=1) as lp:
        yield lp


def test_exit_then_close_after_every_byte_of_output(loop: phaseloop.Loop) -> None:
    log: list[Any] = []
    # 200 KiB: more than a pipe holds, so the child blocks until we read.
    child = loop.spawn(
        [
            sys.executable,
            "-c",
            "import sys; sys.stdout.write('x' * 200_000); sys.exit(3)",
        ]
    )
    assert child.pid > 0 and child.stdout is not None and child.stdin is not None
    got = bytearray()
    child.stdout.on("data", got.extend)
    child.on("exit", lambda code, sig: log.append(("exit", code, sig, loop.phase)))
    child.on("close", lambda code, sig: log.append(("close", code, sig, len(got))))
    loop.run()
    assert log == [("exit", 3, None, "poll"), ("close", 3, None, 200_000)]
    assert child.exit_code == 3 and child.signal_code is None
    assert not loop.alive and loop.handles() == []


def test_stdin_end_gives_the_child_its_eof(loop: phaseloop.Loop) -> None:
    cat = loop.spawn(["cat"])
    assert cat.stdin is not None and cat.stdout is not None
    out = bytearray()
    cat.stdout.on("data", out.extend)
    codes: list[Any] = []
    cat.on("close", lambda code, sig: codes.append((code, sig)))
    cat.stdin.write("meow ")
    cat.stdin.end(b"purr")
    loop.run()
    assert out == b"meow purr" and codes == [(0, None)]


def test_spawn_errors_raise_at_once_and_leak_nothing(
    loop: phaseloop.Loop, tmp_path: Path
) -> None:
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError) as missing:
        loop.spawn(["/no/such/program"])
    assert missing.value.errno == errno.ENOENT
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(stat.S_IRUSR)
    with pytest.raises(PermissionError) as denied:
        loop.spawn([script])
    assert denied.value.errno == errno.EACCES
    with pytest.raises(FileNotFoundError):
        loop.spawn(["true"], cwd=tmp_path / "missing")
    with pytest.raises(TypeError, match="args"):
        loop.spawn("true")
    with pytest.raises(ValueError, match="stdout"):
        loop.spawn(["true"], stdout="pipes")
    with pytest.raises(ValueError, match="args"):
        loop.spawn([])
    assert len(os.listdir("/proc/self/fd")) == before
    assert loop.handles() == []


def test_a_killed_child_reports_its_signal_number(loop: phaseloop.Loop) -> None:
    child = loop.spawn(
        ["sleep", "30"], stdin="ignore", stdout="ignore", stderr="ignore"
    )
    assert child.stdout is None
    exits: list[Any] = []
    child.on("exit", lambda code, sig: exits.append((code, sig)))
    assert child.kill() is True
    loop.run()
    assert exits == [(None, signal.SIGTERM)]
    assert child.kill() is False


def test_env_cwd_and_an_fd_reach_the_child(
    loop: phaseloop.Loop, tmp_path: Path
) -> None:
    r, w = os.pipe()
    loop.spawn(
        ["sh", "-c", 'printf "%s:%s" "$GREETING" "$(pwd)"'],
        env={"GREETING": "hi", "PATH": os.environ["PATH"]},
        cwd=tmp_path,
        stdout=w,
        stdin="ignore",
    )
    loop.run()
    os.close(w)
    with os.fdopen(r) as reader:
        assert reader.read() == f"hi:{tmp_path.resolve()}"


def test_two_hundred_children_at_once_leave_no_zombie(loop: phaseloop.Loop) -> None:
    codes: list[int | None] = []
    children = [
        loop.spawn(
            ["true"],
            stdin="ignore",
            stdout="ignore",
            stderr="ignore",
            on_exit=lambda c, s: codes.append(c),
        )
        for _ in range(200)
    ]
    loop.run()
    assert codes == [0] * 200
    for child in children:
        assert not os.path.exists(f"/proc/{child.pid}")


def test_the_timeline_shows_the_exit_kind(loop: phaseloop.Loop) -> None:
    loop.record()
    loop.spawn(["true"], stdin="ignore", stdout="ignore", stderr="ignore", label="true")
    loop.run()
    # The exit callback, then the tick in which Node flushes the child's stdio.
    assert [(e.phase, e.kind, e.label) for e in loop.timeline()] == [
        ("poll", "exit", "true"),
        ("poll", "tick", "true"),
    ]


def test_a_loop_left_open_with_children_running_exits_cleanly() -> None:
    program = textwrap.dedent(
        """
        import phaseloop
        loop = phaseloop.Loop()
        child = loop.spawn(["sleep", "0.2"])
        loop.run("nowait")
        print(child.pid)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
