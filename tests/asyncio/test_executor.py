"""run_in_executor(None, ...) on phaseloop's pool keeps asyncio's promises about the default
executor: asyncio.run waits for every job (shutdown_default_executor), and a job still queued
when the loop closes runs anyway, as it does on asyncio's ThreadPoolExecutor. asyncio's loop
is the oracle (found by aiohttp, whose FileResponse closes its file that way)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import phaseloop.asyncio as pla
import pytest

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "phaseloop": pla.new_event_loop,
}

#: ``asyncio.run`` on each loop: asyncio's own, and phaseloop's ``run`` (``asyncio.Runner``
#: on 3.11+, its own steps of ``asyncio.run`` on 3.9 and 3.10).
RUNS: dict[str, Callable[[Coroutine[Any, Any, None]], None]] = {
    "asyncio": asyncio.run,
    "phaseloop": pla.run,
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_asyncio_run_waits_for_jobs_nobody_awaited(name: str) -> None:
    finished: list[str] = []

    def slow(tag: str) -> None:
        time.sleep(0.05)
        finished.append(tag)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for i in range(8):
            loop.run_in_executor(None, slow, f"job {i}")

    RUNS[name](main())
    assert sorted(finished) == [f"job {i}" for i in range(8)]


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_a_job_queued_when_the_loop_closes_still_runs(name: str) -> None:
    started = threading.Event()
    release = threading.Event()
    loop = LOOPS[name]()
    with tempfile.TemporaryFile() as keep:
        fds_before = len(os.listdir("/proc/self/fd"))
        files = [open(os.devnull, "rb") for _ in range(16)]  # noqa: SIM115
        # Every pool thread busy, so the closes are still queued when the loop closes.
        blockers = [
            loop.run_in_executor(None, lambda: (started.set(), release.wait(5)))
            for _ in range(8)
        ]
        for f in files:
            loop.run_in_executor(None, f.close)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert started.is_set()
        assert not any(f.closed for f in files)
        threading.Timer(0.2, release.set).start()
        loop.close()
        deadline = time.monotonic() + 5
        while not all(f.closed for f in files) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(f.closed for f in files)
        assert len(os.listdir("/proc/self/fd")) <= fds_before
        del blockers, keep


@pytest.mark.parametrize(
    ("raised", "seen"),
    [
        (concurrent.futures.CancelledError, asyncio.CancelledError),
        (concurrent.futures.InvalidStateError, asyncio.InvalidStateError),
        (ValueError, ValueError),
    ],
    ids=["cancelled", "invalid_state", "other"],
)
@pytest.mark.parametrize("name", sorted(LOOPS))
def test_a_jobs_concurrent_futures_error_becomes_asyncios(
    name: str, raised: type[BaseException], seen: type[BaseException]
) -> None:
    # asyncio's executor future is wrapped by wrap_future, which turns
    # concurrent.futures' own errors into asyncio's; CPython's test_tasks relies on it.
    def job() -> None:
        raise raised("from the job")

    loop = LOOPS[name]()
    try:
        with pytest.raises(seen) as caught:
            loop.run_until_complete(loop.run_in_executor(None, job))
        assert type(caught.value) is seen
        assert caught.value.args == ("from the job",)
    finally:
        loop.close()


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_default_executor_threads_are_named_as_asyncios(name: str) -> None:
    def thread_name() -> str:
        return threading.current_thread().name

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        return list(
            await asyncio.gather(
                *(loop.run_in_executor(None, thread_name) for _ in range(4))
            )
        )

    loop = LOOPS[name]()
    try:
        names = loop.run_until_complete(main())
    finally:
        loop.close()
    assert len(names) == 4
    assert all(
        n.startswith("asyncio_") and n[len("asyncio_") :].isdigit() for n in names
    )
