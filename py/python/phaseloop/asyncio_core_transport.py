"""What ``phaseloop.asyncio``'s socket and datagram transports share: a transport whose I/O is
a core handle (a stream or a UDP socket) over an fd that a Python socket object owns.

The two differ in how they read and write; they close the same way, and that is written here
once: ``close()`` stops reads and waits for queued writes, ``abort()`` and fatal errors drop
the core handle at once, and ``connection_lost`` runs in a later callback, after which the
socket is closed. A subclass opens its core handle (``_open_core``), stops its reads
(``_stop_core_reads``) and says whether reads are polled (``_polls_reads``); it may add to what
happens when the connection is lost (``_lost``) or the transport is collected unclosed
(``_collected``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import warnings
from asyncio import trsock
from typing import Any

import phaseloop

logger = logging.getLogger("asyncio")


class CoreTransport:
    """The shared half of ``SocketTransport`` and ``DatagramTransport``: the socket's extra
    info, the ``repr``, ``is_closing``, ``pause_reading``, ``close``, ``abort`` and the
    connection-lost sequence, over one core handle."""

    # __del__ reads them: set even when __init__ failed early.
    _sock: socket.socket | None = None
    _core: int | None = None

    # Set by the subclass's __init__ (through _take_socket) and by asyncio's base transport.
    _pl: phaseloop.Loop
    _sock_fd: int
    _loop: Any
    _extra: dict[str, Any]
    _protocol: Any
    _protocol_connected: bool
    _conn_lost: int
    _closing: bool
    _paused: bool
    _queued: Any  # the write or send queue: empty when nothing waits to be flushed

    def _take_socket(self, loop: Any, sock: socket.socket) -> None:
        """Fills in the socket's extra info and opens the core handle over its fd."""
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._pl = loop.phaseloop
        self._sock_fd = sock.fileno()
        self._core = self._open_core()
        self._sock = sock
        self._conn_lost = 0  # counts writes after the connection was lost, as asyncio
        self._closing = False
        self._paused = False
        loop._transports[self._sock_fd] = self

    # ----- what a subclass provides -----------------------------------------------------------

    def _open_core(self) -> int:
        """Opens the core handle over ``self._sock_fd`` (never closing the fd)."""
        raise NotImplementedError

    def _stop_core_reads(self, core: int) -> None:
        """Stops the core handle's reads (it stays open)."""
        raise NotImplementedError

    def _polls_reads(self) -> bool:
        """Whether the core handle is reading now (for the ``repr``)."""
        raise NotImplementedError

    def get_write_buffer_size(self) -> int:
        raise NotImplementedError

    def _lost(self) -> None:
        """What else ends with the connection (after ``connection_lost`` ran)."""

    def _writes_changed(self) -> None:
        """The connection was lost or the core handle released: what writes may skip."""

    def _collected(self) -> None:
        """What else ends when the transport is collected unclosed."""

    # ----- shared -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        info = [type(self).__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        if self._core is not None and not self._pl.closed:
            info.append("read=polling" if self._polls_reads() else "read=idle")
            state = "polling" if self._queued else "idle"
            info.append(f"write=<{state}, bufsize={self.get_write_buffer_size()}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._release_core()
            self._sock.close()
            self._sock = None
            self._collected()

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._closing and not self._paused

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._stop_reads()
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._stop_reads()
        if not self._queued:
            self._conn_lost += 1
            self._writes_changed()
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        self._force_close(None)

    def _fatal_error(
        self, exc: BaseException, message: str = "Fatal error on transport"
    ) -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=exc)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        # Queued writes are dropped and reads stop: the core handle goes now, the fd with the
        # socket once connection_lost has run.
        self._release_core()
        self._closing = True
        self._conn_lost += 1
        self._writes_changed()
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._release_core()
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._protocol = None
            self._loop = None
            self._lost()

    def _stop_reads(self) -> None:
        if self._core is not None and not self._pl.closed:
            self._stop_core_reads(self._core)

    def _release_core(self) -> None:
        """Closes the core handle (its queued writes are cancelled); the fd stays open."""
        core, self._core = self._core, None
        if core is not None:
            self._writes_changed()
            if not self._pl.closed:
                self._pl._close_stream(core)


__all__ = ["CoreTransport"]
