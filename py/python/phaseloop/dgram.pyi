"""Node's ``dgram`` on phaseloop: ``UdpSocket``, made by ``Loop.udp``."""

from collections.abc import Callable
from typing import Any, Self, TypeAlias

from . import Loop
from .net import _Emitter

_Data: TypeAlias = bytes | bytearray | memoryview | str | list[Any] | tuple[Any, ...]

class UdpSocket(_Emitter):
    """A UDP socket: Node's ``dgram.Socket``."""

    loop: Loop
    family: int
    label: str | None
    def __init__(
        self,
        loop: Loop,
        *,
        family: int,
        reuse_address: bool,
        ipv6_only: bool,
        label: str | None,
    ) -> None: ...
    def bind(
        self,
        port: int = 0,
        host: str | None = None,
        callback: Callable[[], object] | None = None,
    ) -> Self: ...
    def connect(
        self,
        port: int,
        host: str = "127.0.0.1",
        callback: Callable[[], object] | None = None,
    ) -> Self: ...
    def send(
        self,
        data: _Data,
        port: int | None = None,
        host: str | None = None,
        callback: Callable[[OSError | None], object] | None = None,
    ) -> None: ...
    def close(self, callback: Callable[[], object] | None = None) -> Self: ...
    def set_broadcast(self, flag: bool = True) -> None: ...
    def set_ttl(self, ttl: int) -> None: ...
    def set_multicast_ttl(self, ttl: int) -> None: ...
    def set_multicast_loopback(self, flag: bool = True) -> None: ...
    def add_membership(self, group: str, interface: str | None = None) -> None: ...
    def drop_membership(self, group: str, interface: str | None = None) -> None: ...
    def ref(self) -> Self: ...
    def unref(self) -> Self: ...
    def has_ref(self) -> bool: ...
    @property
    def address(self) -> tuple[str, int] | tuple[str, int, int, int]: ...
    @property
    def remote_address(self) -> tuple[str, int] | tuple[str, int, int, int] | None: ...
    @property
    def send_queue_size(self) -> int: ...
    @property
    def id(self) -> int | None: ...

__all__ = ["UdpSocket"]
