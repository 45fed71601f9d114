"""phaseloop.asyncio's datagram transport (phaseloop.asyncio_datagram.DatagramTransport):
its type, datagrams both ways with asyncio's addresses, error_received, the phase of
datagram_received, close and abort, and no fd left behind."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import phaseloop.asyncio as pla
import pytest
from phaseloop.asyncio_datagram import DatagramTransport


@pytest.fixture
def loop() -> Iterator[pla.EventLoop]:
    lp = pla.new_event_loop()
    yield lp
    lp.close()


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[bytes, Any]] = []
        self.errors: list[OSError] = []
        self.events: list[Any] = []
        self.phases: list[str] = []
        self.lost: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def datagram_received(self, data: bytes, addr: Any) -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, pla.EventLoop)
        self.phases.append(loop.phaseloop.phase)
        self.got.append((data, addr))

    def error_received(self, exc: OSError) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append(("lost", exc))
        self.lost.set_result(exc)


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("timed out")


def test_datagrams_go_both_ways_in_the_poll_phase(loop: pla.EventLoop) -> None:
    async def main() -> None:
        server, served = await loop.create_datagram_endpoint(
            Recorder, local_addr=("127.0.0.1", 0)
        )
        address = server.get_extra_info("sockname")
        client, sent = await loop.create_datagram_endpoint(
            Recorder, remote_addr=address
        )
        assert type(server) is DatagramTransport
        assert type(client) is DatagramTransport
        assert isinstance(client, asyncio.DatagramTransport)
        assert client.get_extra_info("peername") == address
        client.sendto(b"ping")
        client.sendto(bytearray(b"two"))
        await until(lambda: len(served.got) == 2)
        assert [d for d, _ in served.got] == [b"ping", b"two"]
        (_, sender), _ = served.got
        assert sender == client.get_extra_info("sockname")
        server.sendto(b"pong", sender)
        # A host name is resolved, as socket.sendto resolves it.
        server.sendto(b"named", ("localhost", sender[1]))
        await until(lambda: len(sent.got) == 2)
        assert sent.got == [(b"pong", address), (b"named", address)]
        assert served.phases == ["poll", "poll"]
        with pytest.raises(ValueError, match="Invalid address"):
            client.sendto(b"x", ("127.0.0.1", 1))
        with pytest.raises(TypeError, match="bytes-like object"):
            client.sendto("text")  # type: ignore[arg-type]
        client.close()
        server.close()
        assert await sent.lost is None
        assert await served.lost is None

    loop.run_until_complete(main())


def test_a_refused_datagram_is_error_received_and_the_transport_goes_on(
    loop: pla.EventLoop,
) -> None:
    async def main() -> None:
        # A port nobody listens on: bind one, then close it.
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        transport, protocol = await loop.create_datagram_endpoint(
            Recorder, remote_addr=("127.0.0.1", port)
        )
        transport.sendto(b"anyone?")
        await until(lambda: protocol.errors)
        assert isinstance(protocol.errors[0], ConnectionRefusedError)
        assert not transport.is_closing()
        transport.close()
        await protocol.lost

    loop.run_until_complete(main())


def test_close_and_abort_lose_the_connection_once_with_none(
    loop: pla.EventLoop,
) -> None:
    async def main() -> None:
        a, pa = await loop.create_datagram_endpoint(
            Recorder, local_addr=("127.0.0.1", 0)
        )
        b, pb = await loop.create_datagram_endpoint(
            Recorder, local_addr=("127.0.0.1", 0)
        )
        a.close()
        a.close()
        assert a.is_closing()
        assert pa.events == ["made"]  # through call_soon, as asyncio
        b.abort()
        await pa.lost
        await pb.lost
        assert pa.events == ["made", ("lost", None)]
        assert pb.events == ["made", ("lost", None)]
        a.sendto(b"after close", ("127.0.0.1", 9))  # ignored, as asyncio's

    loop.run_until_complete(main())


def test_no_fd_is_left_after_100_endpoints(loop: pla.EventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))  # the loop's own wake-up fds, opened once
    before = open_fds()

    async def main() -> None:
        for _ in range(100):
            transport, protocol = await loop.create_datagram_endpoint(
                Recorder, local_addr=("127.0.0.1", 0)
            )
            transport.sendto(b"self", transport.get_extra_info("sockname"))
            got = protocol.got
            await until(lambda: got)  # noqa: B023 - awaited within the iteration
            transport.close()
            await protocol.lost

    loop.run_until_complete(main())
    assert open_fds() == before


def test_a_unix_datagram_endpoint_keeps_asyncios_transport(
    loop: pla.EventLoop, tmp_path: Path
) -> None:
    async def main() -> type:
        transport, protocol = await loop.create_datagram_endpoint(
            Recorder, local_addr=str(tmp_path / "d"), family=socket.AF_UNIX
        )
        kind = type(transport)
        transport.close()
        await protocol.lost
        return kind

    kind = loop.run_until_complete(main())
    assert kind is not DatagramTransport
    assert issubclass(kind, asyncio.BaseTransport)
