"""``phaseloop.asyncio``'s socket transport: an ``asyncio.Transport`` over a core stream.

``EventLoop`` makes one for every stream socket asyncio would give a selector transport
(``create_connection``, ``create_server``'s accepted connections, the Unix-socket variants,
``connect_accepted_socket``, and under ``SSLProtocol`` for ``ssl=`` and ``start_tls``). Reads
and writes are the core's: a readable socket is read in Rust and the bytes reach
``protocol.data_received`` (or a ``BufferedProtocol``'s ``get_buffer`` / ``buffer_updated``) in
the poll phase; ``write()`` writes what the kernel takes inside the call and queues the rest on
the core's write queue, flushed in the poll phase.

Who owns the fd: the socket object, as in asyncio. The core stream is opened with
``Loop._stream_over``, which never closes the fd (closing the stream or the loop forgets it),
and the transport closes the socket when the connection is lost, or warns and closes it when it
is collected unclosed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from asyncio import base_events, constants, futures, protocols, transports
from typing import Any

from phaseloop import _phaseloop  # type: ignore[attr-defined]
from phaseloop.asyncio_core_transport import CoreTransport

logger = logging.getLogger("asyncio")

# asyncio's Server counts its transports; from 3.13 it keeps them (``_attach(transport)``).
_SERVER_KEEPS_TRANSPORTS = sys.version_info >= (3, 13)


class SocketTransport(
    CoreTransport, transports._FlowControlMixin, transports.Transport
):  # type: ignore[misc,name-defined]
    """A stream socket's ``asyncio.Transport`` (TCP or Unix) on a phaseloop core stream,
    with asyncio's flow control, half-close, ``BufferedProtocol`` and close semantics."""

    # start_tls and loop.sendfile read these, as on asyncio's own socket transport.
    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    # The most one read takes, as asyncio's socket transports read (``recv(max_size)``).
    max_size = 256 * 1024

    # _writes_changed reads them: set even when __init__ failed early.
    _eof = False
    _empty_waiter: asyncio.Future[None] | None = None

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> None:
        super().__init__(extra, loop)
        self._queued = 0  # write requests on the core's queue, not yet finished
        self._take_socket(loop, sock)
        # Bound once: write() is the hot path.
        self._write_now = self._pl._transport_write
        self._eof = False
        self._empty_waiter: asyncio.Future[None] | None = None
        self._leftover: memoryview | None = None  # read, not yet taken by get_buffer()
        self._on_read: Any = None
        self._protocol_connected = False
        self.set_protocol(protocol)
        self._server = server
        if server is not None:
            if _SERVER_KEEPS_TRANSPORTS:
                server._attach(self)
            else:
                server._attach()
        base_events._set_nodelay(sock)  # type: ignore[attr-defined]
        self._writes_changed()
        loop.call_soon(protocol.connection_made, self)
        # Reading starts once connection_made() has run, as asyncio's.
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)  # type: ignore[attr-defined]

    def _polls_reads(self) -> bool:
        return self._pl._stream_is_active(self._core) and self._reading_now()

    def _collected(self) -> None:
        server = self._server
        if server is not None and _SERVER_KEEPS_TRANSPORTS:
            server._detach(self)

    # ----- the protocol -----------------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        on_read: Any
        if isinstance(protocol, protocols.BufferedProtocol):
            on_read = self._read_into_buffer
        else:
            # Each read's bytes go from the core to data_received with no Python frame between
            # (the method is bound once, as uvloop binds it); the end of the stream and read
            # errors come to _read_data.
            on_read = _phaseloop._DataDispatch(
                protocol.data_received, self._data_received_failed, self._read_data
            )
        self._protocol = protocol
        self._protocol_connected = True
        if on_read != self._on_read:
            self._on_read = on_read
            if self._reading_now():
                # Replaces the core's read callback (start_tls swaps protocols this way).
                self._pl._read_start(self._core, on_read, label=self._label())

    # ----- reading ----------------------------------------------------------------------------

    def _stop_core_reads(self, core: int) -> None:
        self._pl._read_stop(core)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        if self._leftover is not None:
            # Bytes read before the pause go first; reading restarts after them.
            self._loop.call_soon(self._take_leftover)
        else:
            self._start_reading()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _label(self) -> str:
        return f"{type(self._protocol).__name__} fd {self._sock_fd}"

    def _reading_now(self) -> bool:
        return (
            self._core is not None
            and not self._pl.closed
            and self._pl._stream_is_reading(self._core)
        )

    def _start_reading(self) -> None:
        if not self.is_reading() or self._core is None or self._pl.closed:
            return
        self._pl._read_start(self._core, self._on_read, label=self._label())

    def _read_data(self, error: OSError | None, data: bytes | None) -> None:
        """A ``Protocol``'s end of the stream and read errors (``_DataDispatch`` hands each
        read's bytes to ``data_received`` itself), and its bytes when called with them."""
        if data is not None:
            try:
                self._protocol.data_received(data)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 - asyncio's rule: to connection_lost
                self._data_received_failed(exc)
        elif error is None:
            self._read_eof()
        else:
            self._fatal_error(error, "Fatal read error on socket transport")

    def _data_received_failed(self, exc: BaseException) -> None:
        """``data_received`` raised: asyncio's fatal error, and the connection is lost."""
        self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_into_buffer(self, error: OSError | None, data: bytes | None) -> None:
        """The core's read callback for a ``BufferedProtocol``: the bytes read are copied
        into ``get_buffer(-1)``'s buffers, as many as they fill, each then ``buffer_updated``."""
        if data is None:
            if error is None:
                self._read_eof()
            else:
                self._fatal_error(error, "Fatal read error on socket transport")
            return
        self._fill_buffers(memoryview(data))

    def _fill_buffers(self, view: memoryview) -> None:
        while view:
            if self._conn_lost:
                return
            try:
                buf = memoryview(self._protocol.get_buffer(-1)).cast("B")
                if not len(buf):
                    raise RuntimeError("get_buffer() returned an empty buffer")
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 - asyncio's rule: to connection_lost
                self._fatal_error(
                    exc, "Fatal error: protocol.get_buffer() call failed."
                )
                return
            taken = min(len(buf), len(view))
            buf[:taken] = view[:taken]
            view = view[taken:]
            try:
                self._protocol.buffer_updated(taken)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 - asyncio's rule: to connection_lost
                self._fatal_error(
                    exc, "Fatal error: protocol.buffer_updated() call failed."
                )
                return
            if view and not self.is_reading():
                # Paused (or closed) with bytes left: kept for resume_reading().
                self._leftover = view
                return

    def _take_leftover(self) -> None:
        view, self._leftover = self._leftover, None
        if view is None or self._conn_lost:
            return
        self._fill_buffers(view)
        if self._leftover is None:
            self._start_reading()

    def _read_eof(self) -> None:
        # The core has stopped reading, as asyncio removes its reader.
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio's rule: to connection_lost
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    # ----- writing ----------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[override]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                "data argument must be a bytes-like object, "
                f"not {type(data).__name__!r}"
            )
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        try:
            queued = self._write_now(self._core, data, self._written)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio's rule: to connection_lost
            self._fatal_error(exc, "Fatal write error on socket transport")
            return
        if queued:
            self._write_queued()

    # What the native write hands back: what it does not take, and a write it queued.
    _write_checked = write

    def _write_queued(self) -> None:
        self._queued += 1
        self._maybe_pause_protocol()

    def _writes_changed(self) -> None:
        """Installs the native write (``_phaseloop._TransportWrite``) as this transport's
        ``write`` while none of the checks ``write`` makes can fail, and removes it (back to
        the method) once one can: after ``write_eof()``, during ``sendfile``, once the
        connection is lost or the stream is released."""
        if (
            self._core is not None
            and not self._eof
            and self._empty_waiter is None
            and not self._conn_lost
        ):
            self.__dict__["write"] = _phaseloop._TransportWrite(
                self._pl, self._core, self
            )
        else:
            self.__dict__.pop("write", None)

    def _written(self, error: OSError | None) -> None:
        """A queued write finished (poll or pending phase) or was cancelled (close phase)."""
        self._queued -= 1
        if self._conn_lost:
            return
        if error is not None:
            self._fatal_error(error, "Fatal write error on socket transport")
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(error)
            return
        self._maybe_resume_protocol()  # may write more
        if not self._queued:
            if self._empty_waiter is not None:
                self._empty_waiter.set_result(None)
            if self._closing:
                self._call_connection_lost(None)
            elif self._eof and self._sock is not None:
                self._sock.shutdown(socket.SHUT_WR)

    def get_write_buffer_size(self) -> int:
        if not self._queued or self._core is None or self._pl.closed:
            return 0
        return self._pl._write_queue_size(self._core)

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        self._writes_changed()
        if not self._queued and self._sock is not None:
            self._sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self) -> bool:
        return True

    # ----- closing ----------------------------------------------------------------------------

    def _lost(self) -> None:
        server = self._server
        if server is not None:
            if _SERVER_KEEPS_TRANSPORTS:
                server._detach(self)
            else:
                server._detach()
            self._server = None
        if self._empty_waiter is not None:
            self._empty_waiter.set_exception(
                ConnectionError("Connection is closed by peer")
            )

    # ----- loop.sendfile ----------------------------------------------------------------------

    def _make_empty_waiter(self) -> asyncio.Future[None]:
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        self._writes_changed()
        if not self._queued:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None
        self._writes_changed()

    def _lend_socket(self) -> socket.socket | None:
        """For ``os.sendfile`` on the socket: the core stream lets go of the fd (the loop's fd
        watchers take it); ``_take_socket_back`` makes a new stream over it."""
        self._release_core()
        return self._sock

    def _take_socket_back(self) -> None:
        if self._sock is None or self._conn_lost or self._pl.closed:
            return
        self._core = self._open_core()
        self._writes_changed()

    def _open_core(self) -> int:
        stream: int = self._pl._stream_over(self._sock_fd)
        self._pl._set_read_size(stream, self.max_size)
        return stream


__all__ = ["SocketTransport"]
