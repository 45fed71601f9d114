"""``phaseloop.asyncio``'s socket transport: an ``asyncio.Transport`` over a core stream."""

import asyncio
import socket
from typing import Any

from phaseloop.asyncio_core_transport import CoreTransport

class SocketTransport(CoreTransport, asyncio.Transport):
    """A stream socket's ``asyncio.Transport`` (TCP or Unix) on a phaseloop core stream,
    with asyncio's flow control, half-close, ``BufferedProtocol`` and close semantics."""

    max_size: int
    """The most one read takes (256 KiB, asyncio's)."""

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> None: ...
    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None: ...
    def resume_reading(self) -> None: ...
    def write(self, data: bytes | bytearray | memoryview) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def write_eof(self) -> None: ...
    def can_write_eof(self) -> bool: ...

__all__ = ["SocketTransport"]
