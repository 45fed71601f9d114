"""The core's I/O errors reach Python as Python's own would (issue 15): the `OSError` subclass
of the errno, with `errno`, `strerror` and, for a file, `filename` set."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import phaseloop
import pytest
from phaseloop import jobs


def closed_fd() -> int:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    return r


def check_oserror(
    err: BaseException | None, kind: type[OSError], code: int, filename: object = None
) -> None:
    assert type(err) is kind, repr(err)
    assert isinstance(err, OSError)
    assert err.errno == code
    assert err.strerror == os.strerror(code)
    assert err.filename == filename
    # As str(OSError) of Python's own errors: no Rust "(os error N)" suffix.
    assert "os error" not in str(err)


def test_watch_fd_of_a_closed_fd_is_ebadf(loop: phaseloop.Loop) -> None:
    with pytest.raises(OSError) as raised:
        loop.watch_fd(closed_fd(), lambda r, w: None)
    check_oserror(raised.value, OSError, errno.EBADF)


def test_watch_fd_of_a_regular_file_is_eperm(
    loop: phaseloop.Loop, tmp_path: Path
) -> None:
    with open(tmp_path / "regular", "w") as regular, pytest.raises(OSError) as raised:
        loop.watch_fd(regular, lambda r, w: None)
    check_oserror(raised.value, PermissionError, errno.EPERM)


def test_an_fd_closed_under_its_watcher_is_ebadf(real_loop: phaseloop.Loop) -> None:
    r, w = os.pipe()
    os.write(w, b"x")

    def on_ready(readable: bool, writable: bool) -> None:
        os.close(r)

    real_loop.watch_fd(r, on_ready)
    try:
        with pytest.raises(OSError) as raised:
            real_loop.run()
        check_oserror(raised.value, OSError, errno.EBADF)
    finally:
        os.close(w)


def test_read_file_of_a_missing_path_is_filenotfounderror(
    real_loop: phaseloop.Loop, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing")
    errors: list[BaseException | None] = []
    real_loop.queue_work(
        jobs.read_file, missing, callback=lambda e, r: errors.append(e)
    )
    real_loop.run()
    check_oserror(errors[0], FileNotFoundError, errno.ENOENT, missing)
    # Called directly, the same.
    with pytest.raises(FileNotFoundError) as raised:
        jobs.read_file(missing)
    check_oserror(raised.value, FileNotFoundError, errno.ENOENT, missing)


def test_write_file_into_a_directory_is_isadirectoryerror(
    real_loop: phaseloop.Loop, tmp_path: Path
) -> None:
    errors: list[BaseException | None] = []
    real_loop.queue_work(
        jobs.write_file, str(tmp_path), b"x", callback=lambda e, r: errors.append(e)
    )
    real_loop.run()
    check_oserror(errors[0], IsADirectoryError, errno.EISDIR, str(tmp_path))


def test_read_file_of_a_missing_path_through_loop_work(loop: phaseloop.Loop) -> None:
    promise = loop.work(jobs.read_file, "/nonexistent/phaseloop")
    promise.catch(lambda reason: None)
    loop.run()
    check_oserror(
        promise.reason, FileNotFoundError, errno.ENOENT, "/nonexistent/phaseloop"
    )


def test_bad_input_is_still_a_valueerror(loop: phaseloop.Loop) -> None:
    with pytest.raises(ValueError):
        jobs.inflate(b"not zlib")
