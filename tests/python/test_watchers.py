"""fd watchers (uv_poll_t) from Python."""

from __future__ import annotations

import os
import socket

import phaseloop
import pytest


def test_a_readable_socket_fires_level_triggered_until_drained(
    real_loop: phaseloop.Loop,
) -> None:
    a, b = socket.socketpair()
    with a, b:
        events: list[tuple[bool, bool, object]] = []

        def on_ready(readable: bool, writable: bool) -> None:
            events.append((readable, writable, real_loop.phase))
            if len(events) == 2:
                a.recv(10)  # drained after the second call
                watcher.close()

        watcher = real_loop.watch_fd(a, on_ready)
        assert watcher.fd == a.fileno()
        assert watcher.active
        b.send(b"x")
        real_loop.run()
        assert events == [(True, False, "poll"), (True, False, "poll")]
        assert not watcher.active


def test_writable_interest_and_restart_with_new_interests(
    real_loop: phaseloop.Loop,
) -> None:
    a, b = socket.socketpair()
    with a, b:
        events: list[tuple[bool, bool]] = []
        watcher = real_loop.watch_fd(
            a.fileno(),
            lambda r, w: (events.append((r, w)), watcher.stop()),
            readable=False,
            writable=True,
        )
        real_loop.run()
        assert events == [(False, True)]
        assert not watcher.active
        b.send(b"y")
        watcher.start(readable=True)
        real_loop.run()
        assert events[-1] == (True, False)
        with pytest.raises(ValueError, match="readable"):
            watcher.start(readable=False)
        watcher.close()


def test_watcher_ref_unref_and_close_callback(real_loop: phaseloop.Loop) -> None:
    r, w = os.pipe()
    try:
        log: list[object] = []
        watcher = real_loop.watch_fd(r, lambda *a: log.append("ready"))
        assert watcher.unref() is watcher
        assert not watcher.has_ref()
        assert real_loop.run() is False  # an unref'd watcher keeps nothing alive
        watcher.ref()
        assert watcher.has_ref()
        watcher.close(lambda: log.append(("closed", real_loop.phase)))
        watcher.close()  # a second close does nothing
        watcher.stop()
        real_loop.run()
        assert log == [("closed", "close")]
        with pytest.raises(RuntimeError, match="closed"):
            watcher.start()
        assert repr(watcher) == f"<phaseloop.Watcher fd {r}>"
    finally:
        os.close(r)
        os.close(w)


def test_an_fd_that_cannot_be_watched_is_an_oserror(
    real_loop: phaseloop.Loop, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    with open(tmp_path / "regular", "w") as regular, pytest.raises(OSError):
        real_loop.watch_fd(regular, lambda r, w: None)  # epoll refuses regular files


def test_an_fd_closed_under_its_watcher_is_an_uncaught_oserror(
    real_loop: phaseloop.Loop,
) -> None:
    r, w = os.pipe()
    os.write(w, b"x")
    calls: list[tuple[bool, bool]] = []

    def on_ready(readable: bool, writable: bool) -> None:
        calls.append((readable, writable))
        os.close(r)  # closed while watched: re-arming fails with EBADF

    watcher = real_loop.watch_fd(r, on_ready)
    try:
        with pytest.raises(OSError):
            real_loop.run()
        assert calls == [(True, False)]
        assert not watcher.active  # stopped
    finally:
        os.close(w)
