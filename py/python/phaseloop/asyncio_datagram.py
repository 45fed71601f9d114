"""``phaseloop.asyncio``'s datagram transport: an ``asyncio.DatagramTransport`` over a core
UDP socket.

``EventLoop.create_datagram_endpoint`` gives one to every IPv4 and IPv6 endpoint (a Unix
datagram socket keeps asyncio's own transport). Datagrams are received natively and reach
``protocol.datagram_received(data, addr)`` in the poll phase; ``sendto()`` sends inside the
call when the kernel takes the datagram, and queues it on the core's send queue (flushed in the
poll phase) when the socket would block. As in asyncio, the socket object owns the fd: the
core socket is opened with ``Loop._udp_over``, which never closes it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import sys
from asyncio import constants, futures, transports
from typing import Any

from phaseloop.asyncio_core_transport import CoreTransport

logger = logging.getLogger("asyncio")

# 3.13 sends empty datagrams (earlier versions drop them) and counts 8 header bytes for each
# queued datagram in get_write_buffer_size().
_SENDS_EMPTY = sys.version_info >= (3, 13)
_HEADER_BYTES = 8 if sys.version_info >= (3, 13) else 0


class DatagramTransport(
    CoreTransport, transports._FlowControlMixin, transports.DatagramTransport
):  # type: ignore[misc,name-defined]
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
    ) -> None:
        super().__init__(extra, loop)
        self._queued: collections.deque[int] = collections.deque()  # sizes, in order
        self._buffer_size = 0
        self._take_socket(loop, sock)
        self._send_now = (
            self._pl._udp_transport_send
        )  # bound once: sendto() is the hot path
        self._address = address
        self._protocol = protocol
        self._protocol_connected = True
        loop.call_soon(protocol.connection_made, self)
        # Receiving starts once connection_made() has run, as asyncio's.
        loop.call_soon(self._start_receiving)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)  # type: ignore[attr-defined]

    def _open_core(self) -> int:
        udp: int = self._pl._udp_over(self._sock_fd)
        return udp

    def _polls_reads(self) -> bool:
        return not self._paused

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._protocol_connected = True

    # ----- receiving --------------------------------------------------------------------------

    def _stop_core_reads(self, core: int) -> None:
        self._pl._udp_recv_stop(core)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._start_receiving()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _start_receiving(self) -> None:
        if not self.is_reading() or self._core is None or self._pl.closed:
            return
        label = f"{type(self._protocol).__name__} fd {self._sock_fd}"
        self._pl._udp_recv_start(self._core, self._received, label=label)

    def _received(self, error: OSError | None, message: Any) -> None:
        """The core's datagram callback (poll phase)."""
        try:
            if error is None:
                self._protocol.datagram_received(*message)
            else:
                self._protocol.error_received(error)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - to the exception handler, as a Handle's
            self._report(
                exc, "datagram_received" if error is None else "error_received"
            )

    def _report(self, exc: BaseException, method: str) -> None:
        self._loop.call_exception_handler(
            {
                "message": f"Exception in callback {type(self._protocol).__name__}.{method}",
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            }
        )

    # ----- sending ----------------------------------------------------------------------------

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:  # type: ignore[override]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                "data argument must be a bytes-like object, "
                f"not {type(data).__name__!r}"
            )
        if not data and not _SENDS_EMPTY:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost:
            if self._address:
                if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                    logger.warning("socket.send() raised exception.")
                self._conn_lost += 1
            return
        try:
            if self._extra["peername"]:
                queued = self._send_now(self._core, data, None, 0, self._sent)
            else:
                queued = self._send_to(data, addr)
        except OSError as exc:
            self._protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio's rule: to connection_lost
            self._fatal_error(exc, "Fatal write error on datagram transport")
            return
        if queued:
            self._queued.append(queued + _HEADER_BYTES)
            self._buffer_size += queued + _HEADER_BYTES
            self._maybe_pause_protocol()

    def _send_to(self, data: bytes | bytearray | memoryview, addr: Any) -> int:
        if addr is None:
            # What socket.sendto(data, None) raises.
            raise TypeError(
                "a destination address is required on an unconnected socket"
            )
        host, port = addr[0], addr[1]
        try:
            sent: int = self._send_now(self._core, data, host, port, self._sent)
        except ValueError:
            # A host name (asyncio's sock.sendto resolves it, blocking): resolved the same way.
            infos = socket.getaddrinfo(
                host, port, self._sock_family(), socket.SOCK_DGRAM
            )
            host, port = infos[0][4][0], infos[0][4][1]
            sent = self._send_now(self._core, data, host, port, self._sent)
        return sent

    def _sock_family(self) -> int:
        return self._sock.family if self._sock is not None else socket.AF_UNSPEC

    def _sent(self, error: OSError | None) -> None:
        """A queued datagram was sent or failed (poll phase) or cancelled (close phase)."""
        if not self._queued:
            return  # dropped by abort(): nothing is counted any more
        self._buffer_size -= self._queued.popleft()
        if self._conn_lost:
            return
        try:
            if error is not None:
                self._protocol.error_received(error)
                return
            self._maybe_resume_protocol()  # may send more
            if not self._queued and self._closing:
                self._call_connection_lost(None)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - to the exception handler, as a Handle's
            loop = self._loop
            if loop is not None:
                loop.call_exception_handler(
                    {
                        "message": "Exception in callback of a datagram transport",
                        "exception": exc,
                        "transport": self,
                    }
                )

    # ----- closing ----------------------------------------------------------------------------

    def _release_core(self) -> None:
        # Queued datagrams go with the core socket (cancelled), so they no longer count.
        super()._release_core()
        self._queued.clear()
        self._buffer_size = 0


__all__ = ["DatagramTransport"]
