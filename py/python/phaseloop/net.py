"""Node's ``net`` on phaseloop: ``Server`` and ``Stream`` with Node's events.

The loop's methods ``listen``, ``listen_unix``, ``connect``, ``connect_unix`` and
``open_stream`` build these classes; the I/O itself is the core's stream layer (libuv's shape,
on the loop's own poller). This module adds what Node's ``net.Socket`` adds on top of libuv,
event for event and tick for tick, so that a program observes the orders Node prints:

- ``"connection"``, ``"connect"`` and ``"data"`` are emitted inside the poll-phase callback
  that carries them; ``"end"`` one tick after the read that saw the end; ``"error"`` one tick
  after the failure; ``"close"`` in the close phase, when the handle has closed.
- ``write(data, callback)`` returns ``False`` once the bytes not yet written reach
  ``high_water_mark`` (16 KiB, Node's); ``"drain"`` comes when they are all written, just
  before that write's callback. A write the kernel takes whole inside ``write()`` calls its
  callback through the tick queue, queued inside the call (Node's ``socket.write``).
- ``end()`` half-closes once every queued write is written; ``"finish"`` follows in a tick.
  With ``allow_half_open=False`` (Node's default) a stream whose peer ended ends its side too,
  and a stream that has both ended and finished closes itself.
- A server's ``close(callback)`` stops accepting at once; its ``"close"`` (and ``callback``)
  come once every connection it accepted has closed, through the tick queue.

See ``docs/net.md`` for the rules with their tests.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Callable
from typing import Any

HIGH_WATER_MARK = 16 * 1024
"""The default ``high_water_mark``: Node's ``writableHighWaterMark`` for sockets."""

_STREAM_EVENTS = frozenset(
    {"connect", "ready", "data", "end", "finish", "drain", "error", "close"}
)
_SERVER_EVENTS = frozenset({"connection", "listening", "error", "close"})


def _os_error(code: int, what: str) -> OSError:
    """An ``OSError`` of ``code``'s subclass, with ``errno`` and ``strerror``, as Python's own."""
    return OSError(code, f"{what}: {os.strerror(code)}")


def _check_callable(value: Any, name: str) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")


def _check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, not {port}")
    return port


def _check_host(host: Any) -> str:
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    return host


def _check_backlog(backlog: Any) -> int:
    if isinstance(backlog, bool) or not isinstance(backlog, int):
        raise TypeError(f"backlog must be an int, not {type(backlog).__name__}")
    if not 0 <= backlog <= 2**31 - 1:
        raise ValueError(f"backlog must be in 0..2**31-1, not {backlog}")
    return backlog


def _check_label(label: Any) -> str | None:
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str or None, not {type(label).__name__}")
    return label


class _Emitter:
    """The part of Node's ``EventEmitter`` a socket needs: ``on``, ``once``, ``off``, ``emit``."""

    _EVENTS: frozenset = frozenset()

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., Any]]] = {}

    def on(self, event: str, callback: Callable[..., Any]) -> _Emitter:
        """Calls ``callback`` on every ``event``; returns ``self`` (chainable)."""
        if event not in self._EVENTS:
            raise ValueError(
                f"event must be one of {sorted(self._EVENTS)}, not {event!r}"
            )
        _check_callable(callback, "callback")
        self._listeners.setdefault(event, []).append(callback)
        self._listening(event)
        return self

    add_listener = on

    def once(self, event: str, callback: Callable[..., Any]) -> _Emitter:
        """Calls ``callback`` on the next ``event`` only."""
        _check_callable(callback, "callback")

        def once_wrapper(*args: Any) -> Any:
            self.off(event, once_wrapper)
            return callback(*args)

        once_wrapper.listener = callback  # type: ignore[attr-defined]
        return self.on(event, once_wrapper)

    def off(self, event: str, callback: Callable[..., Any]) -> _Emitter:
        """Removes ``callback`` (the most recently added, as Node does) from ``event``."""
        listeners = self._listeners.get(event, [])
        for i in range(len(listeners) - 1, -1, -1):
            f = listeners[i]
            if f is callback or getattr(f, "listener", None) is callback:
                del listeners[i]
                break
        return self

    remove_listener = off

    def listener_count(self, event: str) -> int:
        """How many callbacks ``event`` has."""
        return len(self._listeners.get(event, ()))

    def emit(self, event: str, *args: Any) -> bool:
        """Calls ``event``'s callbacks in order; an ``"error"`` nobody listens to is raised
        (Node throws it: an uncaught exception of the callback that emitted it)."""
        listeners = self._listeners.get(event)
        if not listeners:
            if event == "error":
                raise args[0]
            return False
        for callback in list(listeners):
            callback(*args)
        return True

    def _listening(self, event: str) -> None:
        """A callback was added for ``event``."""


class Stream(_Emitter):
    """A TCP, Unix-domain or pipe stream: Node's ``net.Socket``. Made by ``Loop.connect``,
    ``Loop.connect_unix``, ``Loop.open_stream`` and a server's connections."""

    _EVENTS = _STREAM_EVENTS

    def __init__(
        self,
        loop: Any,
        *,
        label: str | None,
        allow_half_open: bool,
        server: Server | None = None,
        connecting: bool = False,
    ) -> None:
        super().__init__()
        self.loop = loop
        self.label = label
        self.allow_half_open = bool(allow_half_open)
        self.high_water_mark = HIGH_WATER_MARK
        self.connecting = connecting
        self.destroyed = False
        self._id: int | None = None
        self._server = server
        self._flowing: bool | None = None
        self._reading = False
        self._read_ended = False
        self._end_emitted = False
        self._ending = False
        self._finished = False
        self._final_started = False
        self._on_finished: list[Callable[[], Any]] = []
        self._length = 0
        self._need_drain = False
        self._had_error = False
        self._bytes = (0, 0)
        self._refed = True
        # A stream with one direction only (a child's stdin, stdout or stderr).
        self.readable = True
        self.writable = True

    # ----- Node's events and flow -------------------------------------------------------------

    def _listening(self, event: str) -> None:
        # A "data" callback starts the flow, as in Node (unless pause() said otherwise).
        if event == "data" and self._flowing is not False:
            self.resume()

    def resume(self) -> Stream:
        """Starts (or restarts) reading: ``"data"`` for every chunk the kernel has."""
        self._flowing = True
        if (
            not self._reading
            and not self._read_ended
            and not self.destroyed
            and self._id is not None
        ):
            self.loop._read_start(self._id, self._on_read, self.label)
            self._reading = True
        return self

    def pause(self) -> Stream:
        """Stops reading until ``resume()`` (backpressure: the peer's writes queue up)."""
        self._flowing = False
        if self._reading and not self.destroyed and self._id is not None:
            self.loop._read_stop(self._id)
            self._reading = False
        return self

    def _on_read(self, error: OSError | None, data: bytes | None) -> None:
        if error is not None:
            self._reading = False
            self.destroy(error)
        elif data is None:
            self._reading = False
            self._read_ended = True
            self._tick(self._emit_end)
        else:
            self.emit("data", data)

    def _emit_end(self) -> None:
        if self._end_emitted or self.destroyed:
            return
        self._end_emitted = True
        if not self.allow_half_open:
            # Node's Duplex ends the writable side a tick after "end" (onEndNT).
            self._tick(self._end_after_peer)
        self.emit("end")
        if self._finished:
            self.destroy()

    def _end_after_peer(self) -> None:
        if not self.destroyed:
            self.end()

    def _on_connect(self, error: OSError | None = None) -> None:
        self.connecting = False
        if self.destroyed:
            return
        if error is not None:
            self.destroy(error)
            return
        self.emit("connect")
        self.emit("ready")
        if self._ending and self._length == 0:
            self._final()

    # ----- writing ----------------------------------------------------------------------------

    def write(
        self, data: Any, callback: Callable[[OSError | None], Any] | None = None
    ) -> bool:
        """Queues ``data`` (``bytes``, ``bytearray``, ``memoryview`` or ``str`` as UTF-8).
        ``False`` once the bytes not yet written reach ``high_water_mark``: wait for
        ``"drain"``. ``callback(error)`` when written, or with the error."""
        if callback is not None:
            _check_callable(callback, "callback")
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data must be bytes, bytearray, memoryview or str, not {type(data).__name__}"
            )
        if self._ending or self.destroyed or self._id is None:
            err = _os_error(_errno.EPIPE, "write after end")
            if callback is not None:
                self.loop.next_tick(callback, err)
            self.destroy(err)
            return False
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        self._length += size
        ok = self._length < self.high_water_mark
        if not ok:
            self._need_drain = True
        done = _WriteDone(self, size, callback)
        self.loop._write(self._id, data, done, self.label)
        return ok

    def _written(
        self, size: int, callback: Callable[..., Any] | None, error: OSError | None
    ) -> None:
        self._length -= size
        if error is not None:
            if callback is not None:
                callback(error)
            if error.errno != _errno.ECANCELED:
                self.destroy(error)
            return
        if (
            self._need_drain
            and self._length == 0
            and not self._ending
            and not self.destroyed
        ):
            self._need_drain = False
            self.emit("drain")
        if callback is not None:
            callback(None)
        if self._ending and self._length == 0 and not self.connecting:
            self._final()

    def end(
        self, data: Any = None, callback: Callable[[], Any] | None = None
    ) -> Stream:
        """Writes ``data`` (if any), then half-closes once every write is written
        (``uv_shutdown``); ``"finish"`` (and ``callback``) follow."""
        if data is not None:
            self.write(data)
        if callback is not None:
            _check_callable(callback, "callback")
            if self._finished:
                self.loop.next_tick(callback)
            else:
                # Called before the "finish" listeners, as Node's end(callback) is.
                self._on_finished.append(callback)
        if self._ending or self.destroyed:
            return self
        self._ending = True
        if self._length == 0 and not self.connecting:
            self._final()
        return self

    def _final(self) -> None:
        if self._final_started or self.destroyed or self._id is None:
            return
        self._final_started = True
        if not self.writable:
            # A read-only pipe has no write side to shut.
            self._tick(self._finish)
            return
        try:
            self.loop._shutdown(self._id, None, self.label)
        except OSError as err:
            self.destroy(err)
            return
        self._tick(self._finish)

    def _finish(self) -> None:
        if self.destroyed:
            return
        self._finished = True
        callbacks, self._on_finished = self._on_finished, []
        for callback in callbacks:
            callback()
        self.emit("finish")
        if (
            not self.readable
            or self._end_emitted
            or (self._flowing is None and self._read_ended)
        ):
            self.destroy()

    # ----- closing ----------------------------------------------------------------------------

    def destroy(self, error: BaseException | None = None) -> Stream:
        """Closes the stream now: queued writes complete with ``ECANCELED``; ``"error"``
        (if ``error``) in a tick, ``"close"(had_error)`` in the close phase."""
        if self.destroyed:
            return self
        self.destroyed = True
        self.connecting = False
        self._had_error = error is not None
        if self._id is not None:
            if not self.loop.closed:
                self._bytes = self.loop._stream_bytes(self._id)
            self._reading = False
            closing = self.loop._close_stream(self._id, self._on_close, self.label)
        else:
            closing = False
        if self._server is not None:
            self._server._connection_closed()
            self._server = None
        if error is not None:
            self._tick(self.emit, "error", error)
        if not closing:
            self._tick(self._on_close)
        return self

    def _on_close(self) -> None:
        self.emit("close", self._had_error)

    def _tick(self, func: Callable[..., Any], *args: Any) -> None:
        """Queues one of the stream's own steps as a tick, labelled as the stream."""
        self.loop.next_tick(func, *args, label=self.label)

    # ----- options and state ------------------------------------------------------------------

    def set_no_delay(self, flag: bool = True) -> Stream:
        """``TCP_NODELAY`` (Nagle off), as ``socket.setNoDelay``; no-op on other streams."""
        if self._id is not None and not self.destroyed and self._kind() == "tcp":
            self.loop._set_nodelay(self._id, bool(flag))
        return self

    def set_keep_alive(self, flag: bool = True, delay_ms: int = 0) -> Stream:
        """TCP keep-alive probes after ``delay_ms`` idle (0: the system's)."""
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or delay_ms < 0:
            raise ValueError(f"delay_ms must be a non-negative int, not {delay_ms!r}")
        if self._id is not None and not self.destroyed and self._kind() == "tcp":
            self.loop._set_keepalive(self._id, bool(flag), (delay_ms + 999) // 1000)
        return self

    def ref(self) -> Stream:
        """Keeps the loop alive while the stream is active (the default)."""
        self._refed = True
        if self._id is not None and not self.destroyed:
            self.loop._set_stream_ref(self._id, True)
        return self

    def unref(self) -> Stream:
        """Lets the loop end while this stream is still open."""
        self._refed = False
        if self._id is not None and not self.destroyed:
            self.loop._set_stream_ref(self._id, False)
        return self

    def has_ref(self) -> bool:
        """Whether ``unref()`` has not been called (since the last ``ref()``)."""
        return self._refed

    def _kind(self) -> str:
        return self.loop._stream_kind(self._id) if self._id is not None else ""

    @property
    def id(self) -> int | None:
        """The core's id of the stream (what ``handles()`` and the timeline show)."""
        return self._id

    @property
    def pending(self) -> bool:
        """Whether the stream is not connected yet."""
        return self.connecting

    @property
    def local_address(self) -> Any:
        """``(host, port)`` (IPv6: ``(host, port, flowinfo, scope_id)``) or a path."""
        if self._id is None or self.destroyed:
            return None
        return self.loop._address(self._id, False)

    @property
    def remote_address(self) -> Any:
        """The peer's address; ``None`` before the stream connects or after it closes."""
        if self._id is None or self.destroyed or self.connecting:
            return None
        try:
            return self.loop._address(self._id, True)
        except OSError:
            return None

    @property
    def bytes_read(self) -> int:
        """Bytes read so far."""
        return self._counts()[0]

    @property
    def bytes_written(self) -> int:
        """Bytes written to the kernel so far."""
        return self._counts()[1]

    def _counts(self) -> tuple:
        if self._id is not None and not self.destroyed:
            return self.loop._stream_bytes(self._id)
        return self._bytes

    @property
    def write_queue_size(self) -> int:
        """Bytes queued and not yet taken by the kernel."""
        if self._id is None or self.destroyed:
            return 0
        return self.loop._write_queue_size(self._id)

    @property
    def writable_length(self) -> int:
        """Bytes written with ``write()`` whose callbacks have not run (Node's
        ``writableLength``): what ``high_water_mark`` is compared with."""
        return self._length

    def __repr__(self) -> str:
        state = (
            "destroyed"
            if self.destroyed
            else "connecting"
            if self.connecting
            else "open"
        )
        return f"<phaseloop.net.Stream {self.label or self._id} {state}>"


class _WriteDone:
    """A write's completion: ``(error,)`` from the poll phase, ``()`` through the tick queue."""

    __slots__ = ("callback", "size", "stream")

    def __init__(
        self, stream: Stream, size: int, callback: Callable[..., Any] | None
    ) -> None:
        self.stream = stream
        self.size = size
        self.callback = callback

    def __call__(self, error: OSError | None = None) -> None:
        self.stream._written(self.size, self.callback, error)


class Server(_Emitter):
    """A listening TCP or Unix-domain server: Node's ``net.Server``. Made by ``Loop.listen``
    and ``Loop.listen_unix``."""

    _EVENTS = _SERVER_EVENTS

    def __init__(self, loop: Any, *, label: str | None, allow_half_open: bool) -> None:
        super().__init__()
        self.loop = loop
        self.label = label
        self.allow_half_open = allow_half_open
        self.listening = False
        self.connections = 0
        self._id: int | None = None
        self._closing = False
        self._close_emitted = False
        self._address: Any = None
        self._refed = True

    def _on_connection(self, error: OSError | None, stream_id: int | None) -> None:
        if error is not None:
            # An accept failed (EMFILE: the waiting connections were shed). Node emits
            # "error"; a server nobody listens to for errors goes on serving.
            if self.listener_count("error"):
                self.emit("error", error)
            return
        assert stream_id is not None
        stream = Stream(
            self.loop,
            label=self.label,
            allow_half_open=self.allow_half_open,
            server=self,
        )
        stream._id = stream_id
        self.connections += 1
        self.emit("connection", stream)

    def _connection_closed(self) -> None:
        self.connections -= 1
        if self._closing:
            self._emit_close_if_drained()

    def close(self, callback: Callable[..., Any] | None = None) -> Server:
        """Stops accepting now; ``"close"`` (and ``callback()``) once every connection it
        accepted has closed, through the tick queue. Closing a server that is not listening
        calls ``callback`` with an ``OSError`` (``ENOTCONN``)."""
        if callback is not None:
            _check_callable(callback, "callback")
        if not self.listening:
            if callback is not None:
                self.loop.next_tick(
                    callback, _os_error(_errno.ENOTCONN, "server is not running")
                )
            return self
        if callback is not None:
            self.once("close", callback)
        self.listening = False
        self._closing = True
        if self._id is not None:
            self.loop._close_stream(self._id, None, self.label)
        self._emit_close_if_drained()
        return self

    def _emit_listening(self) -> None:
        # Node emits "listening" from the tick queue, so a callback added after listen()
        # returns still hears it.
        self.loop.next_tick(self.emit, "listening", label=self.label)

    def _emit_listening_after_lookup(self) -> None:
        # Node's listen(port, host) first looks the host up, and the lookup of an IP literal
        # answers from the tick queue: "listening" comes two ticks later, not one.
        self.loop.next_tick(self._emit_listening, label=self.label)

    def _emit_close_if_drained(self) -> None:
        if self.connections == 0 and not self._close_emitted:
            self._close_emitted = True
            self.loop.next_tick(self.emit, "close", label=self.label)

    @property
    def address(self) -> Any:
        """``(host, port)`` the server listens on (the port chosen for port 0) or its path."""
        return self._address

    @property
    def port(self) -> int:
        """The TCP port the server listens on (the one chosen for port 0); 0 for a Unix
        server."""
        return self._address[1] if isinstance(self._address, tuple) else 0

    @property
    def id(self) -> int | None:
        """The core's id of the server."""
        return self._id

    def ref(self) -> Server:
        """Keeps the loop alive while listening (the default)."""
        self._refed = True
        if self.listening and self._id is not None:
            self.loop._set_stream_ref(self._id, True)
        return self

    def unref(self) -> Server:
        """Lets the loop end while the server still listens."""
        self._refed = False
        if self.listening and self._id is not None:
            self.loop._set_stream_ref(self._id, False)
        return self

    def has_ref(self) -> bool:
        """Whether ``unref()`` has not been called (since the last ``ref()``)."""
        return self._refed

    def __repr__(self) -> str:
        state = "listening" if self.listening else "closed"
        return f"<phaseloop.net.Server {self._address!r} {state}>"


# ----- what the Loop methods call ----------------------------------------------------------------


def _listen(
    loop: Any,
    on_connection: Callable[[Stream], Any],
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    backlog: int = 511,
    reuse_port: bool = False,
    ipv6_only: bool = False,
    allow_half_open: bool = False,
    label: str | None = None,
) -> Server:
    _check_callable(on_connection, "on_connection")
    port = _check_port(port)
    host = _check_host(host)
    backlog = _check_backlog(backlog)
    label = _check_label(label)
    server = Server(loop, label=label, allow_half_open=allow_half_open)
    server.on("connection", on_connection)
    server._id = loop._tcp_listen(
        host,
        port,
        backlog,
        bool(reuse_port),
        bool(ipv6_only),
        server._on_connection,
        label,
    )
    server.listening = True
    server._address = loop._address(server._id, False)
    if server.label is None:
        # The label the timeline shows for the server and the connections it accepts.
        server.label = f"server {_host_port(server._address)}"
    server._emit_listening_after_lookup()
    return server


def _host_port(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen_unix(
    loop: Any,
    on_connection: Callable[[Stream], Any],
    path: Any,
    *,
    backlog: int = 511,
    allow_half_open: bool = False,
    label: str | None = None,
) -> Server:
    _check_callable(on_connection, "on_connection")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    backlog = _check_backlog(backlog)
    label = _check_label(label) or f"server {path}"
    server = Server(loop, label=label, allow_half_open=allow_half_open)
    server.on("connection", on_connection)
    server._id = loop._pipe_listen(path, backlog, server._on_connection, label)
    server.listening = True
    server._address = path
    server._emit_listening()
    return server


def _connect(
    loop: Any,
    port: int,
    host: str = "127.0.0.1",
    *,
    on_connect: Callable[[], Any] | None = None,
    allow_half_open: bool = False,
    label: str | None = None,
) -> Stream:
    port = _check_port(port)
    host = _check_host(host)
    label = _check_label(label) or f"client {_host_port((host, port))}"
    if on_connect is not None:
        _check_callable(on_connect, "on_connect")
    stream = Stream(loop, label=label, allow_half_open=allow_half_open, connecting=True)
    if on_connect is not None:
        stream.once("connect", on_connect)
    stream._id = loop._tcp_connect(host, port, stream._on_connect, label)
    return stream


def _connect_unix(
    loop: Any,
    path: Any,
    *,
    on_connect: Callable[[], Any] | None = None,
    allow_half_open: bool = False,
    label: str | None = None,
) -> Stream:
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    label = _check_label(label) or f"client {path}"
    if on_connect is not None:
        _check_callable(on_connect, "on_connect")
    stream = Stream(loop, label=label, allow_half_open=allow_half_open, connecting=True)
    if on_connect is not None:
        stream.once("connect", on_connect)
    stream._id = loop._pipe_connect(path, stream._on_connect, label)
    return stream


def _open_stream(
    loop: Any, fd: Any, *, allow_half_open: bool = False, label: str | None = None
) -> Stream:
    label = _check_label(label)
    stream = Stream(loop, label=label, allow_half_open=allow_half_open)
    stream._id = loop._pipe_open(fd)
    if stream.label is None:
        stream.label = f"{loop._stream_kind(stream._id)} fd {fd if isinstance(fd, int) else fd.fileno()}"
    return stream


__all__ = ["HIGH_WATER_MARK", "Server", "Stream"]
