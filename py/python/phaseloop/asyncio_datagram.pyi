"""``phaseloop.asyncio``'s datagram transport: an ``asyncio.DatagramTransport`` over a core
UDP socket."""

import asyncio
import socket
from typing import Any

from phaseloop.asyncio_core_transport import CoreTransport

class DatagramTransport(CoreTransport, asyncio.DatagramTransport):
    """A UDP socket's ``asyncio.DatagramTransport`` on a phaseloop core UDP socket, with
    asyncio's flow control, ``error_received`` and close semantics."""

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        address: Any = None,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None: ...
    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None: ...
    def resume_reading(self) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def sendto(
        self, data: bytes | bytearray | memoryview, addr: Any = None
    ) -> None: ...

__all__ = ["DatagramTransport"]
