"""Subprocesses on phaseloop.asyncio, where users of other loops have filed bugs: output past
the pipe's 64 KiB buffer is read whole (no hang), input past it is written whole, and a spawn
that fails raises asyncio's error and leaves no fd open. asyncio's own loop is the oracle:
every test runs on both. CPython's own subprocess suite runs in test_cpython_suites.py."""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import phaseloop.asyncio as pla
import pytest

RUNS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {
    "asyncio": asyncio.run,
    "phaseloop": pla.run,
}

#: Larger than a Linux pipe's default buffer (64 KiB) many times over.
BIG = 1 << 20


def open_fds() -> int:
    """The process's open file descriptors."""
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("name", sorted(RUNS))
def test_output_past_the_pipe_buffer_is_read_whole(name: str) -> None:
    script = (
        "import sys; "
        f"sys.stdout.buffer.write(b'o' * {BIG}); "
        f"sys.stderr.buffer.write(b'e' * {BIG // 3})"
    )

    async def main() -> tuple[bytes, bytes, int]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return out, err, await proc.wait()

    out, err, code = RUNS[name](main())
    assert (len(out), len(err), code) == (BIG, BIG // 3, 0)
    assert set(out) == {ord("o")} and set(err) == {ord("e")}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_input_past_the_pipe_buffer_is_written_whole(name: str) -> None:
    # The child echoes what it reads; the parent writes all of it before it reads any, so
    # the write must wait on the child (drain) without stalling the loop.
    script = (
        "import sys; data = sys.stdin.buffer.read(); "
        "sys.stdout.buffer.write(str(len(data)).encode())"
    )
    payload = bytes(range(256)) * (BIG // 256)

    async def main() -> bytes:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(payload), 30)
        return out

    assert RUNS[name](main()) == str(BIG).encode()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_failed_spawn_raises_enoent_and_leaves_no_fd(name: str) -> None:
    missing = "/nonexistent/phaseloop-no-such-program"

    async def main() -> tuple[list[int], bytes]:
        codes = []
        for _ in range(50):
            with pytest.raises(FileNotFoundError) as caught:
                await asyncio.create_subprocess_exec(
                    missing,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
            codes.append(caught.value.errno)
        # The loop goes on: a real program runs after the failures.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "print('ok')", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return codes, out

    before = open_fds()
    codes, out = RUNS[name](main())
    assert codes == [errno.ENOENT] * 50
    assert out.strip() == b"ok"
    assert open_fds() <= before
