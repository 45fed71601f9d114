"""phaseloop.net: servers and streams with Node's events (docs/net.md), their phases, their
errors, and the faults a server meets. Orders asserted here are the ones Node prints for the
same program (tests/conformance/scenarios/net-*.json holds the Node-checked ones)."""

from __future__ import annotations

import errno
import gc
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import phaseloop
import pytest
from phaseloop.net import Server, Stream


def open_fds() -> int:
    gc.collect()  # sockets other tests dropped close now, not in the middle of a count
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def net_loop() -> Iterator[phaseloop.Loop]:
    """A real-clock loop: loopback I/O is real."""
    with phaseloop.Loop(threadpool_size=1) as lp:
        yield lp


def echo_server(loop: phaseloop.Loop, log: list[str] | None = None) -> Server:
    def on_connection(stream: Stream) -> None:
        if log is not None:
            log.append(f"connection:{loop.phase}")
        stream.on("data", stream.write)

    return loop.listen(on_connection)


def test_an_echo_round_trip_emits_nodes_events_in_their_phases(
    net_loop: phaseloop.Loop,
) -> None:
    log: list[str] = []
    server = echo_server(net_loop, log)
    assert server.address[0] == "127.0.0.1" and server.address[1] > 0
    client = net_loop.connect(server.address[1])
    assert client.connecting and client.remote_address is None

    def on_connect() -> None:
        log.append(f"connect:{net_loop.phase}")
        assert client.write(
            b"hello", lambda err: log.append(f"written:{err}:{net_loop.phase}")
        )
        net_loop.next_tick(lambda: log.append("tick after write"))

    def on_data(data: bytes) -> None:
        log.append(f"data:{data.decode()}:{net_loop.phase}")
        client.end()

    client.on("connect", on_connect).on("data", on_data)
    client.on("end", lambda: log.append(f"end:{net_loop.phase}"))
    client.on("finish", lambda: log.append("finish"))

    def on_close(had_error: bool) -> None:
        log.append(f"close:{had_error}:{net_loop.phase}")
        server.close(lambda: log.append("server closed"))

    client.on("close", on_close)
    net_loop.run()
    assert log == [
        "connection:poll",
        "connect:poll",
        # Taken whole inside write(): the callback is a tick queued inside the call (Node).
        "written:None:poll",
        "tick after write",
        "data:hello:poll",
        "finish",
        "end:poll",
        "close:False:close",
        "server closed",
    ]
    assert client.destroyed and client.bytes_written == 5 and client.bytes_read == 5
    assert not net_loop.alive


def test_a_refused_connect_emits_error_then_close_and_never_raises(
    net_loop: phaseloop.Loop,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log: list[Any] = []
    client = net_loop.connect(port)
    client.on("connect", lambda: log.append("connected?"))
    client.on("error", lambda err: log.append(err))
    client.on(
        "close", lambda had_error: log.append(("close", had_error, net_loop.phase))
    )
    net_loop.run()
    assert len(log) == 2
    assert isinstance(log[0], ConnectionRefusedError)
    assert log[0].errno == errno.ECONNREFUSED
    assert log[1] == ("close", True, "close")


def test_an_error_nobody_listens_to_is_raised_by_run_as_node_throws_it(
    net_loop: phaseloop.Loop,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    net_loop.connect(port)
    with pytest.raises(ConnectionRefusedError):
        net_loop.run()
    net_loop.run()  # the loop is intact: the close callback still runs
    assert not net_loop.alive


def test_listening_on_a_port_in_use_raises_eaddrinuse_at_once(
    net_loop: phaseloop.Loop,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError) as info:
            net_loop.listen(lambda s: None, taken.getsockname()[1])
    assert info.value.errno == errno.EADDRINUSE
    assert net_loop.handles() == []


def test_a_unix_server_refuses_a_path_that_exists_and_serves_its_own(
    net_loop: phaseloop.Loop, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    with pytest.raises(OSError) as info:
        net_loop.listen_unix(lambda s: None, taken)
    assert info.value.errno == errno.EADDRINUSE

    path = tmp_path / "echo.sock"
    server = net_loop.listen_unix(lambda s: s.on("data", s.write), path)
    assert server.address == str(path) and path.exists()
    got: list[bytes] = []
    client = net_loop.connect_unix(path, on_connect=lambda: client.write("über"))
    client.on("data", lambda d: (got.append(d), client.destroy(), server.close()))
    net_loop.run()
    assert got == ["über".encode()]
    assert not path.exists()


def test_open_stream_of_a_closed_fd_is_ebadf(net_loop: phaseloop.Loop) -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as info:
        net_loop.open_stream(r)
    assert info.value.errno == errno.EBADF


def test_a_pipe_from_os_pipe_reads_and_ends(net_loop: phaseloop.Loop) -> None:
    r, w = os.pipe()
    stream = net_loop.open_stream(r)
    os.write(w, b"through a pipe")
    os.close(w)
    log: list[Any] = []
    stream.on("data", log.append).on("end", lambda: log.append("end"))
    stream.on("close", lambda e: log.append("close"))
    net_loop.run()
    assert log == [b"through a pipe", "end", "close"]


def test_write_after_end_is_a_broken_pipe_for_the_callback_and_error(
    net_loop: phaseloop.Loop,
) -> None:
    a, b = socket.socketpair()
    stream = net_loop.open_stream(a.detach())
    log: list[Any] = []
    stream.on("error", lambda e: log.append(("error", type(e), e.errno)))
    stream.on("close", lambda had_error: log.append(("close", had_error)))
    stream.end()
    assert (
        stream.write(b"late", lambda e: log.append(("cb", type(e), e.errno))) is False
    )
    net_loop.run()
    assert log == [
        ("cb", BrokenPipeError, errno.EPIPE),
        ("error", BrokenPipeError, errno.EPIPE),
        ("close", True),
    ]
    b.close()


def test_a_peer_reset_is_a_connection_reset_error(net_loop: phaseloop.Loop) -> None:
    log: list[Any] = []

    def on_connection(stream: Stream) -> None:
        stream.on("data", lambda d: None)
        stream.on("error", lambda e: log.append((type(e), e.errno)))
        stream.on("close", lambda had_error: (log.append(had_error), server.close()))

    server = net_loop.listen(on_connection)
    peer = socket.create_connection(server.address)
    peer.setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
    )
    peer.close()
    net_loop.run()
    assert log == [(ConnectionResetError, errno.ECONNRESET), True]


def test_write_says_false_at_the_high_water_mark_then_drain_before_the_callback(
    net_loop: phaseloop.Loop,
) -> None:
    a, b = socket.socketpair()
    stream = net_loop.open_stream(a.detach())
    log: list[str] = []
    assert stream.write(b"x" * 100, lambda e: log.append("small")) is True
    assert stream.write(b"y" * (16 * 1024), lambda e: log.append("big")) is False
    assert stream.writable_length == 100 + 16 * 1024
    stream.on("drain", lambda: (log.append("drain"), stream.destroy()))
    net_loop.run()
    assert log == ["small", "drain", "big"]
    b.close()


def test_a_peer_that_stops_reading_queues_64_mib_in_bounded_memory(
    net_loop: phaseloop.Loop,
) -> None:
    a, b = socket.socketpair()
    stream = net_loop.open_stream(a.detach())
    chunk = b"z" * (1 << 20)
    total = 64 * len(chunk)
    results = [stream.write(chunk) for _ in range(64)]
    assert results[0] is False and not any(results)  # each write is over the mark alone
    queued = stream.write_queue_size
    # The kernel took at most its socket buffers; the rest waits in the queue, the user's own
    # bytes objects lent (not copied): memory is what the user queued.
    assert total - queued < 8 << 20, total - queued
    received = []

    def read_all() -> None:
        got = 0
        while got < total:
            n = len(b.recv(1 << 20))
            assert n
            got += n
        received.append(got)

    reader = threading.Thread(target=read_all)
    reader.start()
    stream.on("drain", stream.destroy)
    net_loop.run()
    reader.join(30)
    assert received == [total]
    assert stream.bytes_written == total
    b.close()


def test_pause_stops_data_until_resume(net_loop: phaseloop.Loop) -> None:
    a, b = socket.socketpair()
    stream = net_loop.open_stream(a.detach())
    log: list[Any] = []

    def on_data(data: bytes) -> None:
        log.append(data)
        stream.pause()
        net_loop.set_timeout(lambda: (log.append("resume"), stream.resume()), 5)

    stream.on("data", on_data)
    b.sendall(b"one")
    net_loop.run("once")
    b.sendall(b"two")
    stream.on("end", lambda: log.append("end"))
    net_loop.set_timeout(b.close, 1)
    net_loop.run()
    assert log[:3] == [b"one", "resume", b"two"]
    assert log[-1] == "end"


def test_allow_half_open_keeps_the_write_side_open_after_the_peers_end(
    net_loop: phaseloop.Loop,
) -> None:
    a, b = socket.socketpair()
    stream = net_loop.open_stream(a.detach(), allow_half_open=True)
    log: list[Any] = []

    def on_end() -> None:
        log.append("end")
        stream.write(b"still here", lambda e: (log.append(e), stream.destroy()))

    stream.on("data", log.append).on("end", on_end)
    b.sendall(b"bye")
    b.shutdown(socket.SHUT_WR)
    net_loop.run()
    assert log == [b"bye", "end", None]
    assert b.recv(100) == b"still here"
    b.close()


def test_a_server_closes_after_its_connections(net_loop: phaseloop.Loop) -> None:
    log: list[str] = []
    conns: list[Stream] = []

    def on_connection(stream: Stream) -> None:
        conns.append(stream)
        server.close(lambda: log.append(f"server close, {server.connections} open"))
        assert not server.listening
        log.append(f"{server.connections} open")
        net_loop.set_timeout(stream.destroy, 5)

    server = net_loop.listen(on_connection)
    client = net_loop.connect(server.address[1])
    client.on("data", lambda d: None).on("error", lambda e: None)
    client.on("close", lambda e: log.append("client close"))
    net_loop.run()
    assert log == ["1 open", "server close, 0 open", "client close"] or log == [
        "1 open",
        "client close",
        "server close, 0 open",
    ]
    assert "server close, 0 open" in log


@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
def test_listening_comes_from_the_tick_queue_as_in_node(
    net_loop: phaseloop.Loop, unix: bool, tmp_path: Path
) -> None:
    # Node prints this order for `server.listen(0, '127.0.0.1')` (its lookup of the literal
    # adds a tick) and for `server.listen(path)` (one tick), then a tick queued after listen.
    log: list[str] = []
    path = tmp_path / "server.sock"

    def on_connection(stream: Stream) -> None:
        log.append("connection")
        stream.destroy()
        server.close()

    def on_listening() -> None:
        log.append(f"listening, listening={server.listening}")
        client = net_loop.connect_unix(path) if unix else net_loop.connect(server.port)
        client.on("data", lambda data: None).on("error", lambda e: None)
        client.on("close", lambda _had_error: log.append("client close"))

    if unix:
        server = net_loop.listen_unix(on_connection, path)
    else:
        server = net_loop.listen(on_connection, 0, "127.0.0.1")
    server.on("listening", on_listening)
    net_loop.next_tick(log.append, "tick queued after listen")
    log.append("script end")
    net_loop.run()
    listening = ["listening, listening=True"]
    tick = ["tick queued after listen"]
    assert log == [
        "script end",
        *((listening + tick) if unix else (tick + listening)),
        "connection",
        "client close",
    ]


def test_an_unrefed_server_lets_the_loop_end(net_loop: phaseloop.Loop) -> None:
    server = net_loop.listen(lambda s: None).unref()
    assert not server.has_ref()
    assert net_loop.run() is False
    assert server.listening
    server.ref().close()
    net_loop.run()


def test_the_timeline_names_each_io_callback_and_its_stream(
    net_loop: phaseloop.Loop,
) -> None:
    net_loop.record()
    server = net_loop.listen(
        lambda s: s.on("data", lambda d: (s.destroy(), server.close())), label="srv"
    )
    client = net_loop.connect(
        server.address[1], label="cli", on_connect=lambda: client.write(b"hi")
    )
    client.on("data", lambda d: None).on("error", lambda e: None)
    net_loop.run()
    seen = {(e.phase, e.kind, e.label) for e in net_loop.timeline()}
    assert ("poll", "connection", "srv") in seen
    assert ("poll", "connect", "cli") in seen
    assert ("poll", "read", "srv") in seen
    assert ("close", "close", "srv") in seen
    assert ("close", "close", "cli") in seen


def test_bad_arguments_name_themselves_and_leave_the_loop_intact(
    net_loop: phaseloop.Loop,
) -> None:
    with pytest.raises(ValueError, match="port"):
        net_loop.connect(70000)
    with pytest.raises(TypeError, match="port"):
        net_loop.connect("80")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="host"):
        net_loop.connect(80, 127)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_connection"):
        net_loop.listen(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host"):
        net_loop.listen(lambda s: None, 0, "localhost")
    with pytest.raises(TypeError, match="backlog"):
        net_loop.listen(lambda s: None, backlog="x")  # type: ignore[arg-type]
    a, b = socket.socketpair()
    stream = net_loop.open_stream(a.detach())
    with pytest.raises(ValueError, match="event"):
        stream.on("dat", print)
    with pytest.raises(TypeError, match="data"):
        stream.write(12)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callback"):
        stream.write(b"x", 3)  # type: ignore[arg-type]
    stream.destroy()
    net_loop.run()
    assert net_loop.handles() == []
    b.close()


def test_a_host_name_is_resolved_on_the_pool(net_loop: phaseloop.Loop) -> None:
    server = echo_server(net_loop)
    got: list[bytes] = []
    client = net_loop.connect(
        server.address[1], "localhost", on_connect=lambda: client.write(b"named")
    )
    client.on("data", lambda d: (got.append(d), client.destroy(), server.close()))
    net_loop.run()
    assert got == [b"named"]


def test_a_client_destroyed_while_its_lookup_waits_lets_run_return() -> None:
    # The pool's only thread sleeps, so the lookup of "localhost" is still queued when the
    # client is destroyed: it is cancelled, and nothing of it may keep the loop alive.
    with phaseloop.Loop(threadpool_size=1) as loop:
        slept: list[object] = []
        loop.queue_work(
            phaseloop.jobs.sleep, 200, callback=lambda e, r: slept.append(e)
        )
        closed: list[bool] = []
        client = loop.connect(9, "localhost")
        client.on("close", closed.append)
        client.destroy()
        stopped: list[bool] = []

        def watchdog() -> None:
            # Stops a run that would never return, so the test fails instead of hanging.
            stopped.append(True)
            loop.stop()

        timer = threading.Timer(10, lambda: loop.call_threadsafe(watchdog))
        timer.start()
        try:
            loop.run()
        finally:
            timer.cancel()
        assert stopped == []
        assert slept == [None]
        assert closed == [False]
        assert loop.handles() == []


def test_ten_thousand_connections_leave_the_fd_count_where_it_was(
    net_loop: phaseloop.Loop,
) -> None:
    server = net_loop.listen(lambda s: s.destroy())
    before = 0
    ended = 0

    def on_close(_had_error: bool) -> None:
        nonlocal ended
        ended += 1

    for _ in range(100):
        for _ in range(100):
            c = net_loop.connect(server.address[1])
            c.on("error", lambda e: None).on("close", on_close).on(
                "data", lambda d: None
            )
        server.unref()
        net_loop.run()
        server.ref()
        # The first run() that may block opens the loop's signal wake-up pair, once.
        before = before or open_fds()
    assert ended == 10_000
    assert open_fds() == before
    server.close()
    net_loop.run()


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sigpipe_never_kills_the_process() -> None:
    # SIGPIPE back to its default (which kills), as in a C host or after signal.signal().
    done = run_python(
        """
        import os, signal, phaseloop
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        r, w = os.pipe()
        os.close(r)
        loop = phaseloop.Loop()
        s = loop.open_stream(w)
        s.on("error", lambda e: print(type(e).__name__, e.errno))
        s.write(b"nobody reads this")
        loop.run()
        print("alive")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["BrokenPipeError 32", "alive"]


def test_a_loop_left_open_with_connections_and_writes_in_flight_exits_cleanly() -> None:
    done = run_python(
        """
        import os, phaseloop
        loop = phaseloop.Loop()
        server = loop.listen(lambda s: s.on("data", lambda d: None))
        client = loop.connect(server.address[1])
        client.write(b"x" * (8 << 20), lambda e: None)
        loop.run("nowait")
        loop.run("nowait")
        fds = len(os.listdir("/proc/self/fd"))
        loop.close()
        print(fds - len(os.listdir("/proc/self/fd")) >= 3)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert done.stderr == ""
