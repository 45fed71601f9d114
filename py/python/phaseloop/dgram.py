"""Node's ``dgram`` on phaseloop: ``UdpSocket``, made by ``Loop.udp``.

What Node's ``dgram.Socket`` adds to libuv's ``uv_udp_t``, event for event and tick for tick:

- ``"message"(data, (host, port))`` is emitted inside the poll-phase callback that received
  the datagram.
- ``bind()`` binds at once (errors raise ``OSError``) and starts receiving; ``"listening"``
  (and the bind callback) follow in a tick, where Node's address lookup would have finished.
- ``send(data, port, host)`` sends one tick later (Node looks the address up first, through
  the tick queue for an IP address); a datagram the kernel takes at once calls its callback
  through the tick queue, one that had to wait in the poll phase. An unbound socket binds to
  every interface and a free port first, as Node's does.
- ``close(callback)`` closes the handle; ``"close"`` (and the callback) come in a tick.
"""

from __future__ import annotations

import errno as _errno
import ipaddress
from collections.abc import Callable
from typing import Any

from ._phaseloop import _MessageDispatch  # type: ignore[attr-defined]
from .net import _check_callable, _check_label, _check_port, _Emitter

_UDP_EVENTS = frozenset({"message", "listening", "connect", "close", "error"})


def _data(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (list, tuple)):
        return b"".join(_data(part) for part in data)
    raise TypeError(
        f"data must be bytes, bytearray, memoryview, str or a list of them, not {type(data).__name__}"
    )


# Addresses already checked: a program sends to few of them, again and again, and
# `ipaddress.ip_address` costs more than the rest of a send's Python work together. Bounded
# (emptied when full), so a server answering many peers does not grow it without end.
_CHECKED_IPS: dict[str, None] = {}
_CHECKED_IPS_MAX = 1024


def _check_ip(host: Any, name: str) -> str:
    if type(host) is str and host in _CHECKED_IPS:
        return host
    if not isinstance(host, str):
        raise TypeError(f"{name} must be a str, not {type(host).__name__}")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(
            f"{name} must be an IP address, not {host!r} (resolve names with lookup())"
        ) from None
    if len(_CHECKED_IPS) >= _CHECKED_IPS_MAX:
        _CHECKED_IPS.clear()
    _CHECKED_IPS[host] = None
    return host


class UdpSocket(_Emitter):
    """A UDP socket: Node's ``dgram.Socket``."""

    _EVENTS = _UDP_EVENTS

    def __init__(
        self,
        loop: Any,
        *,
        family: int,
        reuse_address: bool,
        ipv6_only: bool,
        label: str | None,
    ) -> None:
        super().__init__()
        self.loop = loop
        self.family = family
        self.label = label
        self._reuse_address = reuse_address
        self._ipv6_only = ipv6_only
        self._id: int | None = None
        self._bound = False
        self._connected = False
        self._receiving = False
        self._closed = False
        self._refed = True

    def _tick(self, func: Callable[..., Any], *args: Any) -> None:
        self.loop.next_tick(func, *args, label=self.label)

    def _check_open(self) -> int:
        if self._closed or self._id is None:
            raise OSError(_errno.EBADF, "the socket is closed")
        return self._id

    def _any(self) -> str:
        return "::" if self.family == 6 else "0.0.0.0"

    def _start_receiving(self) -> None:
        if not self._receiving:
            # The dispatch emits each datagram as "message" (an error as "error") from the
            # poll phase, natively: `emit`'s work without a Python frame per datagram.
            dispatch = _MessageDispatch(self, self._listeners)
            self.loop._udp_recv_start(self._check_open(), dispatch, self.label)
            self._receiving = True

    def bind(
        self,
        port: int = 0,
        host: str | None = None,
        callback: Callable[[], Any] | None = None,
    ) -> UdpSocket:
        """Binds to ``host:port`` (port 0: a free one; host: every interface) and starts
        receiving; ``"listening"`` and ``callback()`` follow in a tick."""
        sock = self._check_open()
        port = _check_port(port)
        host = self._any() if host is None else _check_ip(host, "host")
        if callback is not None:
            _check_callable(callback, "callback")
        if self._bound:
            raise OSError(_errno.EINVAL, "the socket is bound already")
        self.loop._udp_bind(sock, host, port, self._reuse_address, self._ipv6_only)
        self._bound = True
        self._start_receiving()
        if callback is not None:
            self.once("listening", callback)
        self._tick(self._emit_listening)
        return self

    def _emit_listening(self) -> None:
        if not self._closed:
            self.emit("listening")

    def _ensure_bound(self) -> None:
        if not self._bound:
            self.bind(0)

    def connect(
        self,
        port: int,
        host: str = "127.0.0.1",
        callback: Callable[[], Any] | None = None,
    ) -> UdpSocket:
        """Connected UDP: sends without an address go to ``host:port`` and only its datagrams
        arrive; ``"connect"`` and ``callback()`` follow in a tick."""
        sock = self._check_open()
        port = _check_port(port)
        host = _check_ip(host, "host")
        if callback is not None:
            _check_callable(callback, "callback")
        if self._connected:
            raise OSError(_errno.EISCONN, "the socket is connected already")
        self._ensure_bound()
        self.loop._udp_connect(sock, host, port)
        self._connected = True
        if callback is not None:
            self.once("connect", callback)
        self._tick(self._emit_connect)
        return self

    def _emit_connect(self) -> None:
        if not self._closed:
            self.emit("connect")

    def send(
        self,
        data: Any,
        port: int | None = None,
        host: str | None = None,
        callback: Callable[[OSError | None], Any] | None = None,
    ) -> None:
        """Sends one datagram to ``host:port`` (``host`` defaults to loopback; neither on a
        connected socket). ``callback(error)`` once sent."""
        # Called for every datagram: the common case (bytes to an int port of an open,
        # bound, unconnected socket) is checked inline, the rest by the helpers.
        if self._closed or self._id is None:
            self._check_open()
        payload = data if type(data) is bytes else _data(data)
        if callback is not None:
            _check_callable(callback, "callback")
        if self._connected:
            if port is not None or host is not None:
                raise OSError(
                    _errno.EISCONN, "a connected socket sends to its peer only"
                )
        else:
            if port is None:
                raise TypeError("port is needed on a socket that is not connected")
            if type(port) is not int or not 0 < port <= 65535:
                port = _check_port(port)
                if port == 0:
                    raise ValueError("port must be in 1..65535 to send to, not 0")
            if host is None:
                host = "::1" if self.family == 6 else "127.0.0.1"
            elif type(host) is not str or host not in _CHECKED_IPS:
                host = _check_ip(host, "host")
        if not self._bound:
            self.bind(0)
        # Node looks the address up first: for an IP address, through the tick queue. The
        # tick sends natively; a socket closed by then tells `callback` EBADF, and a failed
        # send goes to `callback`, or to "error" without one.
        self.loop._udp_send_soon(
            self, self._id, payload, host, port or 0, callback, self.label
        )

    def close(self, callback: Callable[[], Any] | None = None) -> UdpSocket:
        """Closes the socket; ``"close"`` and ``callback()`` follow in a tick."""
        if callback is not None:
            _check_callable(callback, "callback")
        if self._closed:
            raise OSError(_errno.EBADF, "the socket is closed already")
        self._closed = True
        if callback is not None:
            self.once("close", callback)
        if self._id is not None:
            self.loop._close_stream(self._id, None, self.label)
        self._tick(self.emit, "close")
        return self

    def set_broadcast(self, flag: bool = True) -> None:
        """``SO_BROADCAST``."""
        self._ensure_bound()
        self.loop._udp_set_broadcast(self._check_open(), bool(flag))

    def set_ttl(self, ttl: int) -> None:
        """The unicast TTL, 1 to 255."""
        self._ensure_bound()
        self.loop._udp_set_ttl(self._check_open(), _ttl(ttl, 1))

    def set_multicast_ttl(self, ttl: int) -> None:
        """The multicast TTL, 0 to 255."""
        self._ensure_bound()
        self.loop._udp_set_multicast_ttl(self._check_open(), _ttl(ttl, 0))

    def set_multicast_loopback(self, flag: bool = True) -> None:
        """Whether this host's own multicast datagrams come back to it."""
        self._ensure_bound()
        self.loop._udp_set_multicast_loop(self._check_open(), bool(flag))

    def add_membership(self, group: str, interface: str | None = None) -> None:
        """Joins the multicast ``group`` (on ``interface``, an address of this host)."""
        self._membership(group, interface, True)

    def drop_membership(self, group: str, interface: str | None = None) -> None:
        """Leaves the multicast ``group``."""
        self._membership(group, interface, False)

    def _membership(self, group: str, interface: str | None, join: bool) -> None:
        group = _check_ip(group, "group")
        if interface is not None:
            interface = _check_ip(interface, "interface")
        self._ensure_bound()
        self.loop._udp_set_membership(self._check_open(), group, interface, join)

    def ref(self) -> UdpSocket:
        """Keeps the loop alive while receiving (the default)."""
        self._refed = True
        if not self._closed and self._id is not None:
            self.loop._set_stream_ref(self._id, True)
        return self

    def unref(self) -> UdpSocket:
        """Lets the loop end while the socket still receives."""
        self._refed = False
        if not self._closed and self._id is not None:
            self.loop._set_stream_ref(self._id, False)
        return self

    def has_ref(self) -> bool:
        """Whether ``unref()`` has not been called (since the last ``ref()``)."""
        return self._refed

    @property
    def address(self) -> Any:
        """``(host, port)`` the socket is bound to (IPv6: with flowinfo and scope id)."""
        return self.loop._address(self._check_open(), False)

    @property
    def remote_address(self) -> Any:
        """The peer of a connected socket, else ``None``."""
        if not self._connected or self._closed:
            return None
        return self.loop._address(self._check_open(), True)

    @property
    def send_queue_size(self) -> int:
        """Bytes of datagrams waiting for the kernel."""
        return 0 if self._closed else self.loop._udp_send_queue_size(self._check_open())

    @property
    def id(self) -> int | None:
        """The core's id of the socket."""
        return self._id

    def __repr__(self) -> str:
        state = "closed" if self._closed else "bound" if self._bound else "unbound"
        return f"<phaseloop.dgram.UdpSocket udp{self.family} {state}>"


def _ttl(ttl: Any, low: int) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise TypeError(f"ttl must be an int, not {type(ttl).__name__}")
    if not low <= ttl <= 255:
        raise ValueError(f"ttl must be in {low}..255, not {ttl}")
    return ttl


class _SendDone:
    """A send's completion: ``(error,)`` from the poll or pending phase, ``()`` from a tick."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[..., Any]) -> None:
        self.callback = callback

    def __call__(self, error: OSError | None = None) -> None:
        self.callback(error)


def _udp(
    loop: Any,
    on_message: Callable[[bytes, Any], Any] | None = None,
    *,
    family: int = 4,
    reuse_address: bool = False,
    ipv6_only: bool = False,
    label: str | None = None,
) -> UdpSocket:
    if isinstance(family, bool) or family not in (4, 6):
        raise ValueError(f"family must be 4 or 6, not {family!r}")
    label = _check_label(label)
    sock = UdpSocket(
        loop,
        family=family,
        reuse_address=bool(reuse_address),
        ipv6_only=bool(ipv6_only),
        label=label,
    )
    if on_message is not None:
        sock.on("message", on_message)
    sock._id = loop._udp_open(family == 6)
    if sock.label is None:
        sock.label = f"udp{family} {sock._id}"
    return sock


__all__ = ["UdpSocket"]
