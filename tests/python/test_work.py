"""queue_work: Python callables and native jobs on the pool, cancellation, errors."""

from __future__ import annotations

import hashlib
import threading
import time
import zlib
from pathlib import Path

import phaseloop
import pytest
from phaseloop import jobs


def run_work(lp: phaseloop.Loop, work: object, *args: object) -> tuple[object, object]:
    out: list[tuple[object, object]] = []
    lp.queue_work(
        work, *args, callback=lambda error, result: out.append((error, result))
    )  # type: ignore[arg-type]
    lp.run()
    assert len(out) == 1
    return out[0]


def test_a_python_callable_runs_on_a_pool_thread_with_its_args(
    real_loop: phaseloop.Loop,
) -> None:
    main = threading.get_ident()
    error, result = run_work(
        real_loop, lambda a, b: (threading.get_ident(), a + b), 2, 3
    )
    assert error is None
    thread, total = result  # type: ignore[misc]
    assert thread != main
    assert total == 5


def test_the_callback_runs_on_the_loop_thread_in_the_poll_phase(
    real_loop: phaseloop.Loop,
) -> None:
    seen: list[object] = []
    real_loop.queue_work(
        lambda: None,
        callback=lambda e, r: seen.append((threading.get_ident(), real_loop.phase)),
    )
    real_loop.run()
    assert seen == [(threading.get_ident(), "poll")]


def test_an_exception_in_a_python_job_is_the_callbacks_error(
    real_loop: phaseloop.Loop,
) -> None:
    def job() -> None:
        raise KeyError("missing")

    error, result = run_work(real_loop, job)
    assert isinstance(error, KeyError)
    assert result is None
    assert error.__traceback__ is not None


def test_python_jobs_take_the_gil_only_while_running_python(
    real_loop: phaseloop.Loop,
) -> None:
    # Four jobs that each sleep 100 ms (releasing the GIL) overlap on a pool of 4.
    with phaseloop.Loop(threadpool_size=4) as lp:
        done: list[object] = []
        start = time.perf_counter()
        for _ in range(4):
            lp.queue_work(time.sleep, 0.1, callback=lambda e, r: done.append(e))
        lp.run()
        assert done == [None] * 4
        assert time.perf_counter() - start < 0.35


def test_native_jobs_compute_like_the_standard_library(
    real_loop: phaseloop.Loop, tmp_path: Path
) -> None:
    data = b"phaseloop " * 1000
    assert run_work(real_loop, jobs.sha256, data) == (
        None,
        hashlib.sha256(data).digest(),
    )
    assert run_work(real_loop, jobs.sha256, "abc") == (
        None,
        hashlib.sha256(b"abc").digest(),
    )
    assert run_work(real_loop, jobs.sha256, memoryview(b"abc")) == (
        None,
        hashlib.sha256(b"abc").digest(),
    )
    error, packed = run_work(real_loop, jobs.deflate, data, 9)
    assert error is None and zlib.decompress(packed) == data  # type: ignore[arg-type]
    assert run_work(real_loop, jobs.inflate, zlib.compress(data)) == (None, data)
    key = hashlib.pbkdf2_hmac("sha512", b"pw", b"salt", 10, 32)
    assert run_work(real_loop, jobs.pbkdf2, b"pw", b"salt", 10, 32) == (None, key)
    key256 = hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 10, 16)
    assert run_work(real_loop, jobs.pbkdf2, "pw", "salt", 10, 16, "sha256") == (
        None,
        key256,
    )
    path = tmp_path / "file.bin"
    assert run_work(real_loop, jobs.write_file, path, data) == (None, None)
    assert path.read_bytes() == data
    assert run_work(real_loop, jobs.read_file, str(path)) == (None, data)
    assert run_work(real_loop, jobs.sleep, 1) == (None, None)


def test_failing_native_jobs_pass_oserror_or_valueerror(
    real_loop: phaseloop.Loop, tmp_path: Path
) -> None:
    error, result = run_work(real_loop, jobs.read_file, tmp_path / "missing")
    assert isinstance(error, FileNotFoundError) and result is None
    error, _ = run_work(real_loop, jobs.inflate, b"not zlib")
    assert isinstance(error, ValueError)


def test_native_jobs_can_be_called_directly() -> None:
    assert jobs.sha256(b"abc") == hashlib.sha256(b"abc").digest()
    assert jobs.inflate(jobs.deflate(b"x" * 100)) == b"x" * 100
    assert jobs.sleep(0) is None
    with pytest.raises(ValueError):
        jobs.inflate(b"junk")
    assert repr(jobs.sha256) == "<phaseloop.jobs.sha256>"
    assert jobs.pbkdf2.__name__ == "pbkdf2"
    with pytest.raises(ValueError, match="no native job"):
        phaseloop.NativeJob("md5")


def test_a_job_cancelled_before_it_started_gets_cancelled(
    real_loop: phaseloop.Loop,
) -> None:
    with phaseloop.Loop(threadpool_size=1) as lp:
        out: list[tuple[str, object]] = []
        blocker = lp.queue_work(
            jobs.sleep, 100, callback=lambda e, r: out.append(("blocker", e))
        )
        queued = lp.queue_work(
            lambda: "never", callback=lambda e, r: out.append(("queued", e))
        )
        time.sleep(0.02)  # the blocker is running now
        assert blocker.cancel() is False
        assert queued.cancel() is True
        assert not queued.done
        lp.run()
        assert queued.done and blocker.done
        assert out[0][0] == "queued"
        assert isinstance(out[0][1], phaseloop.Cancelled)
        assert isinstance(out[0][1], phaseloop.Error)
        assert out[1] == ("blocker", None)
        assert queued.cancel() is False  # delivered


def test_a_cancelled_job_without_callback_is_no_error(
    real_loop: phaseloop.Loop,
) -> None:
    with phaseloop.Loop(threadpool_size=1) as lp:
        lp.queue_work(jobs.sleep, 50)
        assert lp.queue_work(lambda: None).cancel()
        assert lp.run() is False


def test_a_failing_job_without_callback_is_uncaught(real_loop: phaseloop.Loop) -> None:
    real_loop.queue_work(jobs.read_file, "/nonexistent/phaseloop")
    with pytest.raises(FileNotFoundError):
        real_loop.run()


def test_close_waits_for_a_running_python_job_without_deadlock() -> None:
    lp = phaseloop.Loop(threadpool_size=1)
    started = threading.Event()
    finished: list[bool] = []

    def job() -> None:
        started.set()
        time.sleep(0.05)
        x = sum(range(1000))  # needs the GIL while close() joins the pool
        finished.append(x > 0)

    lp.queue_work(job, callback=lambda e, r: None)
    started.wait()
    lp.close()
    assert finished == [True]


def test_close_cancels_jobs_not_started_and_drops_their_callbacks() -> None:
    lp = phaseloop.Loop(threadpool_size=1)
    called: list[object] = []
    lp.queue_work(jobs.sleep, 30, callback=lambda e, r: called.append(e))
    lp.queue_work(lambda: called.append("ran"), callback=lambda e, r: called.append(e))
    lp.close()
    assert called == []
