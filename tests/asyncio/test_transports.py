"""phaseloop.asyncio's socket transport (phaseloop.asyncio_transports.SocketTransport): what
CPython's suites do not pin. The transport is phaseloop's on every path, no fd leaks, every
byte reaches a BufferedProtocol, flow control fires at the limits, reads run in the poll
phase, and the close, abort and half-close rules are asyncio's."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import socket
import ssl
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import phaseloop.asyncio as pla
import pytest
from phaseloop.asyncio_transports import SocketTransport


@pytest.fixture
def loop() -> Iterator[pla.EventLoop]:
    lp = pla.new_event_loop()
    yield lp
    lp.close()


def open_fds() -> int:
    gc.collect()  # what earlier tests left for the collector is not counted
    return len(os.listdir("/proc/self/fd"))


class Recorder(asyncio.Protocol):
    """Keeps what it is told, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.data = bytearray()
        self.transport: Any = None
        self.lost: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append(("lost", exc))
        if not self.lost.done():
            self.lost.set_result(exc)


async def pair(
    loop: asyncio.AbstractEventLoop, server_protocol: Any = None
) -> tuple[Any, Recorder, Any]:
    """A client transport and protocol, and the server side's protocol once connected."""
    accepted: asyncio.Future[Any] = loop.create_future()

    def factory() -> Any:
        protocol = server_protocol() if server_protocol else Recorder()
        if not accepted.done():
            accepted.set_result(protocol)
        return protocol

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, protocol = await loop.create_connection(Recorder, "127.0.0.1", port)
    served = await accepted
    server.close()
    return transport, protocol, served


def test_every_stream_transport_is_phaseloops(
    loop: pla.EventLoop, tmp_path: Path
) -> None:
    async def main() -> list[type]:
        transport, _, served = await pair(loop)
        await asyncio.sleep(0)
        kinds = [type(transport), type(served.transport)]
        transport.close()
        path = str(tmp_path / "s")
        unix = await loop.create_unix_server(Recorder, path)
        unix_transport, _ = await loop.create_unix_connection(Recorder, path)
        kinds.append(type(unix_transport))
        unix_transport.close()
        unix.close()
        a, b = socket.socketpair()
        accepted_transport, _ = await loop.connect_accepted_socket(Recorder, a)
        kinds.append(type(accepted_transport))
        accepted_transport.close()
        b.close()
        await asyncio.sleep(0.01)
        return kinds

    kinds = loop.run_until_complete(main())
    assert kinds == [SocketTransport] * 4
    assert issubclass(SocketTransport, asyncio.Transport)


def test_extra_info_is_asyncios(loop: pla.EventLoop) -> None:
    async def main() -> None:
        transport, _, served = await pair(loop)
        sock = transport.get_extra_info("socket")
        assert type(sock).__name__ == "TransportSocket"
        assert transport.get_extra_info("sockname") == sock.getsockname()
        assert transport.get_extra_info("peername") == sock.getpeername()
        assert served.transport.get_extra_info("peername") == sock.getsockname()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert transport.get_extra_info("missing", 7) == 7
        transport.close()
        await transport.get_protocol().lost

    loop.run_until_complete(main())


def test_no_fd_is_left_after_1000_connections(loop: pla.EventLoop) -> None:
    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    async def main() -> None:
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=128)
        port = server.sockets[0].getsockname()[1]
        for batch in range(10):

            async def one(i: int) -> None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"%d" % i)
                assert await reader.readexactly(len(b"%d" % i)) == b"%d" % i
                if i % 2:
                    writer.transport.abort()
                else:
                    writer.close()
                    await writer.wait_closed()

            await asyncio.gather(*(one(batch * 100 + i) for i in range(100)))
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.01)

    # A first run opens the loop's signal wake-up socket pair, kept for its later runs.
    loop.run_until_complete(asyncio.sleep(0))
    before = open_fds()
    loop.run_until_complete(main())
    assert open_fds() == before


def test_a_buffered_protocol_gets_every_byte_of_64_mib(loop: pla.EventLoop) -> None:
    size = 64 * 1024 * 1024
    payload = hashlib.sha256(b"seed").digest() * (size // 32)

    class Buffered(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buffer = bytearray(7000)  # not a divisor of the core's reads
            self.digest = hashlib.sha256()
            self.count = 0
            self.done = asyncio.get_running_loop().create_future()

        def get_buffer(self, sizehint: int) -> bytearray:
            assert sizehint == -1
            return self.buffer

        def buffer_updated(self, nbytes: int) -> None:
            self.digest.update(self.buffer[:nbytes])
            self.count += nbytes

        def eof_received(self) -> None:
            self.done.set_result(self.count)

    async def main() -> tuple[int, bytes]:
        transport, _, served = await pair(loop, Buffered)
        transport.write(payload)
        transport.write_eof()
        count = await served.done
        transport.close()
        return count, served.digest.digest()

    count, digest = loop.run_until_complete(main())
    assert count == size
    assert digest == hashlib.sha256(payload).digest()


def test_a_buffered_protocol_paused_mid_read_gets_the_rest_after_resume(
    loop: pla.EventLoop,
) -> None:
    class Small(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buffer = bytearray(10)
            self.got = bytearray()
            self.paused_at: int | None = None
            self.transport: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def get_buffer(self, sizehint: int) -> bytearray:
            return self.buffer

        def buffer_updated(self, nbytes: int) -> None:
            self.got += self.buffer[:nbytes]
            if self.paused_at is None:
                self.paused_at = len(self.got)
                self.transport.pause_reading()

    async def main() -> tuple[int | None, bytes]:
        transport, _, served = await pair(loop, Small)
        transport.write(b"0123456789" * 10)
        await asyncio.sleep(0.05)
        at = len(served.got)
        served.transport.resume_reading()
        await asyncio.sleep(0.05)
        assert at == served.paused_at == 10
        transport.close()
        served.transport.close()
        return served.paused_at, bytes(served.got)

    paused_at, got = loop.run_until_complete(main())
    assert paused_at == 10
    assert got == b"0123456789" * 10


def test_pause_and_resume_writing_fire_at_the_limits(loop: pla.EventLoop) -> None:
    class Writer(Recorder):
        def pause_writing(self) -> None:
            self.events.append(("pause", self.transport.get_write_buffer_size()))

        def resume_writing(self) -> None:
            self.events.append(("resume", self.transport.get_write_buffer_size()))

    async def main() -> tuple[list[Any], int]:
        accepted: asyncio.Future[Any] = loop.create_future()
        server = await loop.create_server(
            lambda: accepted.set_result(Recorder()) or accepted.result(),
            "127.0.0.1",
            0,
        )
        port = server.sockets[0].getsockname()[1]
        transport, protocol = await loop.create_connection(Writer, "127.0.0.1", port)
        served = await accepted
        served.transport.pause_reading()
        transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        chunk = b"x" * 65536
        for _ in range(200):  # far more than the socket buffers hold
            transport.write(chunk)
        queued = transport.get_write_buffer_size()
        paused = list(protocol.events)
        served.transport.resume_reading()
        while len(served.data) < 200 * 65536:
            await asyncio.sleep(0.005)
        assert paused == ["made", ("pause", paused[1][1])]
        transport.close()
        served.transport.close()
        server.close()
        return protocol.events, queued

    events, queued = loop.run_until_complete(main())
    assert queued > 64 * 1024
    pause, resume = events[1], events[2]
    assert pause[0] == "pause" and pause[1] > 64 * 1024
    assert resume[0] == "resume" and resume[1] <= 16 * 1024
    assert [e for e in events if e[0] in ("pause", "resume")] == [pause, resume]


def test_data_received_runs_in_the_poll_phase(loop: pla.EventLoop) -> None:
    pl = loop.phaseloop
    phases: list[str] = []

    class Phases(Recorder):
        def data_received(self, data: bytes) -> None:
            phases.append(pl.phase)
            super().data_received(data)

    async def main() -> None:
        transport, _, served = await pair(loop, Phases)
        transport.write(b"ping")
        while not served.data:
            await asyncio.sleep(0.001)
        transport.close()
        served.transport.close()

    loop.run_until_complete(main())
    assert phases == ["poll"]


def test_eof_received_true_keeps_the_transport_half_open(loop: pla.EventLoop) -> None:
    class HalfOpen(Recorder):
        def eof_received(self) -> bool:
            self.events.append("eof")
            # The read side is done; this side can still write.
            self.transport.write(b"reply after eof")
            self.transport.close()
            return True

    async def main() -> tuple[bytes, list[Any], list[Any]]:
        transport, protocol, served = await pair(loop, HalfOpen)
        assert transport.can_write_eof()
        transport.write(b"request")
        transport.write_eof()
        with pytest.raises(RuntimeError, match="after write_eof"):
            transport.write(b"more")
        await protocol.lost
        await served.lost
        return bytes(protocol.data), protocol.events, served.events

    data, client_events, server_events = loop.run_until_complete(main())
    assert data == b"reply after eof"
    assert client_events == ["made", "eof", ("lost", None)]
    assert server_events == ["made", "eof", ("lost", None)]


def test_close_flushes_then_connection_lost_none_through_call_soon(
    loop: pla.EventLoop,
) -> None:
    size = 8 * 1024 * 1024

    async def main() -> tuple[int, list[Any], bool]:
        _, protocol, served = await pair(loop)
        served.transport.write(b"y" * size)
        served.transport.close()
        closing = served.transport.is_closing()
        # Not lost inside close(): the buffer is not out yet.
        assert served.events == ["made"]
        await served.lost
        while len(protocol.data) < size:
            await asyncio.sleep(0.005)
        await protocol.lost
        return len(protocol.data), served.events, closing

    got, events, closing = loop.run_until_complete(main())
    assert got == size
    assert closing
    assert events == ["made", ("lost", None)]


def test_close_with_nothing_queued_loses_the_connection_on_the_next_callback(
    loop: pla.EventLoop,
) -> None:
    async def main() -> list[Any]:
        transport, protocol, _ = await pair(loop)
        transport.close()
        assert protocol.events == ["made"]  # connection_lost is scheduled, not called
        assert transport.is_closing()
        await asyncio.sleep(0)
        return protocol.events

    assert loop.run_until_complete(main()) == ["made", ("lost", None)]


def test_abort_drops_the_queue_and_the_peer_sees_a_reset_or_end(
    loop: pla.EventLoop,
) -> None:
    async def main() -> tuple[list[Any], int]:
        transport, protocol, served = await pair(loop)
        served.transport.pause_reading()
        for _ in range(100):
            transport.write(b"z" * 65536)
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert transport.get_write_buffer_size() == 0
        await protocol.lost
        served.transport.resume_reading()
        await served.lost
        return protocol.events, len(served.data)

    events, received = loop.run_until_complete(main())
    assert events == ["made", ("lost", None)]
    assert received < 100 * 65536


def test_pause_reading_stops_data_received_until_resume(loop: pla.EventLoop) -> None:
    async def main() -> None:
        transport, _, served = await pair(loop)
        served.transport.pause_reading()
        assert not served.transport.is_reading()
        transport.write(b"held")
        await asyncio.sleep(0.02)
        assert served.data == b""
        served.transport.resume_reading()
        assert served.transport.is_reading()
        while not served.data:
            await asyncio.sleep(0.001)
        assert served.data == b"held"
        transport.close()
        served.transport.close()

    loop.run_until_complete(main())


def test_writelines_and_write_errors_are_asyncios(loop: pla.EventLoop) -> None:
    async def main() -> bytes:
        transport, _, served = await pair(loop)
        with pytest.raises(TypeError, match="bytes-like object"):
            transport.write("text")
        transport.writelines([b"a", bytearray(b"b"), memoryview(b"c")])
        while len(served.data) < 3:
            await asyncio.sleep(0.001)
        transport.close()
        served.transport.close()
        return bytes(served.data)

    assert loop.run_until_complete(main()) == b"abc"


def test_an_unclosed_transport_warns_and_leaks_no_fd() -> None:
    before = open_fds()
    loop = pla.new_event_loop()

    async def main() -> None:
        await pair(asyncio.get_running_loop())
        await asyncio.sleep(0.01)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop.run_until_complete(main())
        loop.close()
        # The loop's own poller fds go with the loop object.
        del loop
        gc.collect()
    unclosed = [w.category for w in caught if "unclosed transport" in str(w.message)]
    # The client's transport and the server's accepted one.
    assert unclosed == [ResourceWarning, ResourceWarning]
    del caught  # a warning's source is the transport, which holds the loop
    assert open_fds() == before


def _with_old_sslproto_warnings_ignored(
    test: Callable[..., None],
) -> Callable[..., None]:
    """3.9 and 3.10's sslproto leaves its transport unclosed after ``close()`` and
    ``wait_closed()`` on asyncio's own loop too: the ResourceWarning its ``__del__`` gives is
    asyncio's, not the loop's (3.11's rewrite closes it)."""
    old = sys.version_info < (3, 11)
    if not old:
        return test
    ignore = "ignore::pytest.PytestUnraisableExceptionWarning"
    return pytest.mark.filterwarnings(ignore)(test)  # type: ignore[no-any-return]


@_with_old_sslproto_warnings_ignored
def test_tls_rides_on_the_phaseloop_transport(loop: pla.EventLoop) -> None:
    pytest.importorskip("test.test_asyncio.utils")
    from test.test_asyncio import utils as test_utils

    server_context = test_utils.simple_server_sslcontext()
    client_context = test_utils.simple_client_sslcontext()

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    async def main() -> tuple[bytes, type]:
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context
        )
        raw = writer.transport._ssl_protocol._transport
        writer.write(b"secret" * 10000)
        echoed = await reader.readexactly(60000)
        assert isinstance(writer.get_extra_info("ssl_object"), ssl.SSLObject)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return echoed, type(raw)

    echoed, raw_type = loop.run_until_complete(main())
    assert echoed == b"secret" * 10000
    assert raw_type is SocketTransport


def test_sendfile_sends_the_file_and_the_transport_reads_after(
    loop: pla.EventLoop, tmp_path: Path
) -> None:
    path = tmp_path / "file"
    content = os.urandom(1024 * 1024 + 17)
    path.write_bytes(content)

    async def main() -> tuple[int, bytes]:
        transport, protocol, served = await pair(loop)
        transport.write(b"head")
        with path.open("rb") as f:
            sent = await loop.sendfile(transport, f)
        transport.write(b"tail")
        served.transport.write(b"reply")
        while len(served.data) < len(content) + 8 or not protocol.data:
            await asyncio.sleep(0.005)
        transport.close()
        served.transport.close()
        return sent, bytes(served.data)

    sent, got = loop.run_until_complete(main())
    assert sent == len(content)
    assert got == b"head" + content + b"tail"


def test_a_data_received_that_raises_is_a_fatal_error_as_asyncios(
    loop: pla.EventLoop,
) -> None:
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))

    class Raising(Recorder):
        def data_received(self, data: bytes) -> None:
            raise ValueError("bad bytes")

    async def main() -> BaseException | None:
        transport, _, served = await pair(loop, Raising)
        transport.write(b"x")
        exc = await served.lost
        transport.close()
        return exc

    exc = loop.run_until_complete(main())
    assert isinstance(exc, ValueError)
    [context] = seen
    assert context["message"] == "Fatal error: protocol.data_received() call failed."
    assert context["exception"] is exc
    assert isinstance(context["transport"], SocketTransport)


def test_a_reset_is_connection_lost_with_connection_reset_error(
    loop: pla.EventLoop,
) -> None:
    async def main() -> BaseException | None:
        accepted: asyncio.Future[Recorder] = loop.create_future()

        def factory() -> Recorder:
            protocol = Recorder()
            accepted.set_result(protocol)
            return protocol

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        raw = socket.create_connection(("127.0.0.1", port))
        served = await accepted
        # SO_LINGER 0: close() sends a reset.
        raw.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        raw.close()
        exc = await served.lost
        server.close()
        return exc

    assert isinstance(loop.run_until_complete(main()), ConnectionResetError)


def test_set_protocol_sends_the_next_reads_to_the_new_protocol(
    loop: pla.EventLoop,
) -> None:
    # The read dispatch binds data_received once: set_protocol must rebind it.
    async def main() -> tuple[bytes, bytes]:
        transport, _, served = await pair(loop)
        transport.write(b"first")
        while served.data != b"first":
            await asyncio.sleep(0.001)
        second = Recorder()
        served.transport.set_protocol(second)
        transport.write(b"second")
        while second.data != b"second":
            await asyncio.sleep(0.001)
        transport.close()
        served.transport.close()
        return bytes(served.data), bytes(second.data)

    assert loop.run_until_complete(main()) == (b"first", b"second")


def test_writes_after_write_eof_and_after_abort_are_asyncios(
    loop: pla.EventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    # The native write stands in for write() only while its checks cannot fail: after
    # write_eof() a write raises, after abort() writes are dropped and, from the fifth on,
    # logged, as on asyncio's selector transport.
    async def main() -> tuple[bytes, list[Any]]:
        transport, protocol, served = await pair(loop)
        transport.write(b"before eof")
        transport.write_eof()
        with pytest.raises(
            RuntimeError, match=r"Cannot call write\(\) after write_eof"
        ):
            transport.write(b"after eof")
        while "eof" not in served.events:
            await asyncio.sleep(0.001)
        served.transport.abort()
        for _ in range(6):
            served.transport.write(b"dropped")
        await served.lost
        await protocol.lost
        transport.close()
        return bytes(served.data), protocol.events

    with caplog.at_level("WARNING", logger="asyncio"):
        data, events = loop.run_until_complete(main())
    assert data == b"before eof"
    assert events[-1][0] == "lost"
    warned = [
        r for r in caplog.records if "socket.send() raised exception." in r.message
    ]
    assert len(warned) == 2  # the 5th and 6th write after the connection was lost
