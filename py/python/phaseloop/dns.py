"""Node's ``dns.lookup`` on phaseloop: ``Loop.lookup`` resolves a host name on the pool.

``loop.lookup(host, callback, *, family=0)`` calls ``callback(error, addresses)`` with
``addresses`` a list of ``(family, address)`` pairs in the resolver's order (``family`` 4 or
6), in the poll phase when the pool job completes, as Node's ``dns.lookup(host, {all: true})``
does. An IP address needs no resolver: Node answers it through the tick queue, and so does
this (``lookup`` then returns ``None`` instead of the ``Work``). A name that does not resolve
is a ``socket.gaierror`` whose ``errno`` is the resolver's code and whose ``code`` is Node's
name for it (``"ENOTFOUND"``, ``"EAI_AGAIN"``, ...).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any


def _lookup(
    loop: Any,
    host: str,
    callback: Callable[[BaseException | None, list[tuple[int, str]] | None], object],
    *,
    family: int = 0,
    label: str | None = None,
) -> Any:
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not host:
        raise ValueError("host must not be empty")
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    if isinstance(family, bool) or family not in (0, 4, 6):
        raise ValueError(f"family must be 0, 4 or 6, not {family!r}")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str or None, not {type(label).__name__}")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return loop._lookup_work(host, family, callback, label)
    loop.next_tick(callback, None, [(literal.version, str(literal))], label=label)
    return None


__all__: list[str] = []
