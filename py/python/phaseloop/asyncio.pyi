"""An asyncio event loop on phaseloop: asyncio programs run unchanged and show their phases."""

import asyncio
from collections.abc import Callable, Coroutine
from contextvars import Context
from typing import Any, TypeVar, final

import phaseloop

_T = TypeVar("_T")

@final
class Handle:
    """The handle ``EventLoop.call_soon`` returns: ``asyncio.Handle``'s interface, native (not
    a subclass of ``asyncio.Handle``, as uvloop's is not)."""

    def cancel(self) -> None: ...
    def cancelled(self) -> bool: ...
    def get_context(self) -> Context: ...

@final
class TimerHandle:
    """The handle ``EventLoop.call_later`` and ``call_at`` return: ``asyncio.TimerHandle``'s
    interface, native (not a subclass of ``asyncio.TimerHandle``, as uvloop's is not); ordered
    by ``when()`` as asyncio's are."""

    def cancel(self) -> None: ...
    def cancelled(self) -> bool: ...
    def when(self) -> float: ...
    def get_context(self) -> Context: ...
    def __lt__(self, value: TimerHandle, /) -> bool: ...
    def __le__(self, value: TimerHandle, /) -> bool: ...
    def __gt__(self, value: TimerHandle, /) -> bool: ...
    def __ge__(self, value: TimerHandle, /) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

class EventLoop(asyncio.SelectorEventLoop):
    """An ``asyncio`` event loop running on a ``phaseloop.Loop`` (``self.phaseloop``)."""

    def __init__(
        self, *, threadpool_size: int | None = None, clock: str = "real"
    ) -> None: ...
    @property
    def phaseloop(self) -> phaseloop.Loop: ...
    def time(self) -> float: ...
    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.Handle: ...
    def stop(self) -> None: ...
    def set_debug(self, enabled: bool) -> None: ...
    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle: ...
    def call_soon_threadsafe(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.Handle: ...
    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]: ...
    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None: ...
    def close(self) -> None: ...

class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """A policy whose loops are ``EventLoop``."""

def new_event_loop() -> EventLoop: ...
def install() -> None: ...
def run(
    main: Coroutine[Any, Any, _T],
    *,
    debug: bool | None = None,
    clock: str = "real",
    threadpool_size: int | None = None,
) -> _T: ...

__all__ = [
    "EventLoop",
    "EventLoopPolicy",
    "Handle",
    "TimerHandle",
    "install",
    "new_event_loop",
    "run",
]
