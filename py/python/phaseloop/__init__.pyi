"""Type stubs for phaseloop: the Node.js event loop as a Python library."""

import os
from collections.abc import Callable, Coroutine, Generator, Iterable
from types import TracebackType
from typing import Any, Generic, Literal, NamedTuple, TypedDict, TypeVar, overload

# From typing_extensions, not typing: a type checker targeting Python < 3.11 finds no
# typing.Self (the stubs are never imported at run time, so nothing needs installing).
from typing_extensions import Self, TypeAlias  # noqa: UP035

from . import jobs as jobs
from .child_process import Process as Process
from .dgram import UdpSocket as UdpSocket
from .net import Server as Server
from .net import Stream as Stream

__version__: str

_PhaseName: TypeAlias = Literal[
    "timers", "pending", "idle", "prepare", "poll", "check", "close"
]
_KindName: TypeAlias = Literal[
    "timeout",
    "interval",
    "pending",
    "idle",
    "prepare",
    "io",
    "work",
    "threadsafe",
    "signal",
    "immediate",
    "check",
    "close",
    "tick",
    "microtask",
    "connection",
    "connect",
    "read",
    "write",
    "shutdown",
    "udp",
    "exit",
]
_RunMode: TypeAlias = Literal["default", "once", "nowait"]

class _UtilizationInfo(TypedDict):
    idle: float
    active: float
    utilization: float

class _MetricsInfo(TypedDict):
    iterations: int
    events: int
    events_waiting: int
    pool_queued: int
    pool_running: int

class Error(Exception):
    """The base of phaseloop's own exceptions."""

class LoopClosed(Error):
    """The loop was closed: nothing can be scheduled or run on it any more."""

class Cancelled(Error):
    """Passed as ``error`` to a work callback whose job was cancelled before it started."""

class AggregateError(Error):
    """Every promise given to ``Loop.any`` rejected; ``errors`` lists the reasons."""

    errors: list[Any] | tuple[()]

class UnhandledRejection(Error):
    """A promise rejected with no handler when a drain ended (raised by ``run()`` unless
    ``Loop.on_unhandled_rejection`` is set); ``reason`` is the reason, also ``__cause__`` when
    it is an exception."""

    reason: Any
    promise: Promise[Any]

class Rejection(Error):
    """Raised at an ``await`` of a promise rejected with a reason that is no exception;
    ``reason`` is that value (if it escapes the coroutine, its promise rejects with it)."""

    reason: Any

class TraceEvent(NamedTuple):
    """One callback in the recorded timeline (``Loop.record`` / ``Loop.timeline``)."""

    iteration: int
    phase: _PhaseName | None
    kind: _KindName
    label: str | None
    start_ns: int
    duration_ns: int

class Timer:
    """A timer from ``set_timeout`` / ``set_interval`` (Node's ``Timeout``)."""

    def ref(self) -> Self: ...
    def unref(self) -> Self: ...
    def has_ref(self) -> bool: ...
    def refresh(self) -> Self:
        """Re-arms the timer with a fresh start, also a one-shot timer that already fired."""
    def close(self, callback: Callable[[], object] | None = None) -> None:
        """Clears the timer; ``callback`` runs in the next close phase."""
    @property
    def active(self) -> bool: ...

class Immediate:
    """An immediate from ``set_immediate`` (Node's ``Immediate``)."""

    def ref(self) -> Self: ...
    def unref(self) -> Self: ...
    def has_ref(self) -> bool: ...
    @property
    def active(self) -> bool: ...

class Handle:
    """An idle, prepare or check handle, or a signal watcher."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def ref(self) -> Self: ...
    def unref(self) -> Self: ...
    def has_ref(self) -> bool: ...
    def close(self, callback: Callable[[], object] | None = None) -> None: ...
    @property
    def active(self) -> bool: ...

class Watcher:
    """An fd watcher from ``watch_fd`` (``uv_poll_t``)."""

    def start(self, *, readable: bool = True, writable: bool = False) -> None: ...
    def stop(self) -> None: ...
    def ref(self) -> Self: ...
    def unref(self) -> Self: ...
    def has_ref(self) -> bool: ...
    def close(self, callback: Callable[[], object] | None = None) -> None: ...
    @property
    def active(self) -> bool: ...
    @property
    def fd(self) -> int: ...

class Work:
    """A work request from ``queue_work``."""

    def cancel(self) -> bool:
        """Cancels the job if it has not started; its callback then gets ``Cancelled``."""
    @property
    def done(self) -> bool: ...

class DelayMonitor:
    """The event-loop delay histogram (Node's ``monitorEventLoopDelay``), in ns."""

    def enable(self) -> bool: ...
    def disable(self) -> bool: ...
    def reset(self) -> None: ...
    def percentile(self, p: float) -> int: ...
    @property
    def min(self) -> int: ...
    @property
    def max(self) -> int: ...
    @property
    def mean(self) -> float: ...
    @property
    def stddev(self) -> float: ...
    @property
    def count(self) -> int: ...
    @property
    def percentiles(self) -> dict[float, int]: ...

class NativeJob:
    """A job of ``phaseloop.jobs``: runs on the pool without the GIL."""

    def __init__(self, name: str) -> None: ...
    def __call__(self, *args: Any) -> bytes | None: ...
    @property
    def __name__(self) -> str: ...

_Delay: TypeAlias = int | float | None
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)

class Promise(Generic[_T_co]):
    """A JavaScript promise: reactions run as microtasks, with ECMA-262's job semantics.
    Made by the loop (``resolve``, ``reject``, ``promise``, ``start``, ``sleep``, ...)."""

    def then(
        self,
        on_fulfilled: Callable[[_T_co], object] | None = None,
        on_rejected: Callable[[Any], object] | None = None,
        *,
        label: str | None = None,
    ) -> Promise[Any]: ...
    def catch(
        self, on_rejected: Callable[[Any], object] | None, *, label: str | None = None
    ) -> Promise[Any]: ...
    def finally_(
        self, callback: Callable[[], object] | None, *, label: str | None = None
    ) -> Promise[_T_co]: ...
    @property
    def state(self) -> Literal["pending", "fulfilled", "rejected"]: ...
    @property
    def value(self) -> _T_co:
        """The fulfilment value; ``phaseloop.Error`` unless fulfilled."""
    @property
    def reason(self) -> Any:
        """The rejection reason; ``phaseloop.Error`` unless rejected."""
    def __await__(self) -> Generator[Any, Any, _T_co]: ...

class Loop:
    """A Node.js-style event loop. Only the thread that created it may call its methods,
    except ``call_threadsafe``."""

    def __init__(
        self,
        *,
        threadpool_size: int | None = None,
        clock: Literal["real", "virtual"] = "real",
        drain: Literal["callback", "phase"] = "callback",
    ) -> None: ...

    # Scheduling
    def set_timeout(
        self,
        callback: Callable[..., object],
        delay: _Delay = 1,
        *args: Any,
        label: str | None = None,
    ) -> Timer: ...
    def set_interval(
        self,
        callback: Callable[..., object],
        delay: _Delay = 1,
        *args: Any,
        label: str | None = None,
    ) -> Timer: ...
    def set_immediate(
        self, callback: Callable[..., object], *args: Any, label: str | None = None
    ) -> Immediate: ...
    def clear_timeout(self, timer: Timer | None) -> None: ...
    def clear_interval(self, timer: Timer | None) -> None: ...
    def clear_immediate(self, immediate: Immediate | None) -> None: ...
    def next_tick(
        self, callback: Callable[..., object], *args: Any, label: str | None = None
    ) -> None: ...
    def queue_microtask(
        self, callback: Callable[[], object], *, label: str | None = None
    ) -> None: ...
    def queue_pending(
        self, callback: Callable[..., object], *args: Any, label: str | None = None
    ) -> None: ...
    def add_idle(
        self, callback: Callable[[], object], *, label: str | None = None
    ) -> Handle: ...
    def add_prepare(
        self, callback: Callable[[], object], *, label: str | None = None
    ) -> Handle: ...
    def add_check(
        self, callback: Callable[[], object], *, label: str | None = None
    ) -> Handle: ...
    def watch_fd(
        self,
        fd: Any,
        callback: Callable[[bool, bool], object],
        *,
        readable: bool = True,
        writable: bool = False,
        label: str | None = None,
    ) -> Watcher: ...
    # Network I/O (phaseloop.net): Node's net, on the loop's own poller.
    def listen(
        self,
        on_connection: Callable[[Stream], object],
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        backlog: int = 511,
        reuse_port: bool = False,
        ipv6_only: bool = False,
        allow_half_open: bool = False,
        label: str | None = None,
    ) -> Server:
        """A TCP server; ``on_connection(stream)`` in the poll phase. Bind errors raise."""
    def listen_unix(
        self,
        on_connection: Callable[[Stream], object],
        path: str | bytes | os.PathLike[str],
        *,
        backlog: int = 511,
        allow_half_open: bool = False,
        label: str | None = None,
    ) -> Server:
        """A Unix-domain socket server on ``path`` (which must not exist)."""
    def connect(
        self,
        port: int,
        host: str = "127.0.0.1",
        *,
        on_connect: Callable[[], object] | None = None,
        allow_half_open: bool = False,
        label: str | None = None,
    ) -> Stream:
        """A TCP client stream; a failed connect reaches ``"error"``, never a raise."""
    def connect_unix(
        self,
        path: str | bytes | os.PathLike[str],
        *,
        on_connect: Callable[[], object] | None = None,
        allow_half_open: bool = False,
        label: str | None = None,
    ) -> Stream:
        """A Unix-domain socket client stream."""
    def open_stream(
        self, fd: int, *, allow_half_open: bool = False, label: str | None = None
    ) -> Stream:
        """A stream over an fd you hand over (a pipe end, ``socket.detach()``)."""
    def udp(
        self,
        on_message: Callable[[bytes, tuple[Any, ...]], object] | None = None,
        *,
        family: int = 4,
        reuse_address: bool = False,
        ipv6_only: bool = False,
        label: str | None = None,
    ) -> UdpSocket:
        """A UDP socket (``dgram.createSocket``); ``on_message(data, (host, port))`` in poll."""
    def lookup(
        self,
        host: str,
        callback: Callable[
            [BaseException | None, list[tuple[int, str]] | None], object
        ],
        *,
        family: int = 0,
        label: str | None = None,
    ) -> Work | None:
        """``dns.lookup`` on the pool; an IP address is answered through the tick queue."""
    def spawn(
        self,
        args: Iterable[str | os.PathLike[str]],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        stdin: str | int = "pipe",
        stdout: str | int = "pipe",
        stderr: str | int = "pipe",
        on_exit: Callable[[int | None, int | None], object] | None = None,
        label: str | None = None,
    ) -> Process:
        """``child_process.spawn``; a program that cannot start raises ``OSError`` at once."""
    def on_signal(
        self,
        signum: int,
        callback: Callable[[int], object],
        *,
        label: str | None = None,
    ) -> Handle: ...
    def queue_work(
        self,
        work: Callable[..., Any] | NativeJob,
        *args: Any,
        callback: Callable[[BaseException | None, Any], object] | None = None,
        label: str | None = None,
    ) -> Work:
        """``uv_queue_work``: ``work(*args)`` on a pool thread, then ``callback(error,
        result)`` on the loop's thread in the poll phase. A ``phaseloop.jobs`` job never holds
        the GIL; a Python callable takes it to run, and a pool thread that finds more Python
        jobs queued keeps it from one to the next (as any thread running Python, it lets
        others in at the switch interval). A pool thread keeps one Python thread state
        for its life: ``threading.local()`` data lasts from one job to the next, and the
        thread is named ``phaseloop-pool-N`` in Python as in the OS."""
    def _name_pool_threads(self, prefix: str) -> None:
        """Names this loop's pool threads ``{prefix}_N`` in Python from their first Python
        job on (``phaseloop.asyncio`` asks for asyncio's ``asyncio_N``)."""
    def call_threadsafe(
        self, callback: Callable[..., object], *args: Any, label: str | None = None
    ) -> None: ...

    # Promises and coroutines
    @overload
    def resolve(self) -> Promise[None]: ...
    @overload
    def resolve(self, value: Promise[_T]) -> Promise[_T]: ...
    @overload
    def resolve(self, value: _T) -> Promise[_T]: ...
    def reject(self, reason: object = None) -> Promise[Any]: ...
    def promise(
        self,
        executor: Callable[[Callable[..., None], Callable[..., None]], object],
    ) -> Promise[Any]: ...
    def all(self, iterable: Iterable[Any]) -> Promise[list[Any]]: ...
    def all_settled(self, iterable: Iterable[Any]) -> Promise[list[dict[str, Any]]]: ...
    def race(self, iterable: Iterable[Any]) -> Promise[Any]: ...
    def any(self, iterable: Iterable[Any]) -> Promise[Any]: ...
    def start(self, coro: Coroutine[Any, Any, _T]) -> Promise[_T]: ...
    @overload
    def sleep(
        self, delay: _Delay = 1, *, label: str | None = None
    ) -> Promise[None]: ...
    @overload
    def sleep(
        self, delay: _Delay, value: _T, *, label: str | None = None
    ) -> Promise[_T]: ...
    @overload
    def immediate(self, *, label: str | None = None) -> Promise[None]: ...
    @overload
    def immediate(self, value: _T, *, label: str | None = None) -> Promise[_T]: ...
    def work(
        self,
        work: Callable[..., Any] | NativeJob,
        *args: Any,
        label: str | None = None,
    ) -> Promise[Any]: ...
    on_unhandled_rejection: Callable[[Any, Promise[Any]], object] | None
    on_rejection_handled: Callable[[Promise[Any]], object] | None

    # Running
    def run(self, mode: _RunMode = "default") -> bool: ...
    def stop(self) -> None: ...
    def now(self) -> int: ...
    def update_time(self) -> None: ...
    def hrtime(self) -> int: ...
    def advance(self, ms: float) -> None: ...
    def handles(self) -> list[tuple[str, bool, str]]: ...
    def fileno(self) -> int: ...
    def backend_timeout(self) -> int: ...
    @property
    def phase(self) -> _PhaseName | None: ...
    @property
    def alive(self) -> bool: ...
    @property
    def iteration(self) -> int: ...
    @property
    def clock(self) -> Literal["real", "virtual"]: ...
    @property
    def drain(self) -> Literal["callback", "phase"]: ...
    @property
    def threadpool_size(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    on_error: Callable[[BaseException], object] | None
    # The callback is the callable the loop is about to call; for a promise job, its
    # handler or its coroutine (None for a job that calls no handler). An exception the hook
    # raises is that callback's (on_error gets it, else run() raises it), and it does not run.
    trace: Callable[[int, _PhaseName | None, _KindName, Any], object] | None
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

    # Monitoring
    def monitor_delay(self) -> DelayMonitor: ...
    def utilization(
        self, u1: _UtilizationInfo | None = None, u2: _UtilizationInfo | None = None
    ) -> _UtilizationInfo: ...
    def metrics(self) -> _MetricsInfo: ...
    def record(self, enabled: bool = True) -> None: ...
    @property
    def observed(self) -> bool: ...
    def timeline(self) -> list[TraceEvent]: ...

__all__ = [
    "AggregateError",
    "Cancelled",
    "DelayMonitor",
    "Error",
    "Handle",
    "Immediate",
    "Loop",
    "LoopClosed",
    "NativeJob",
    "Process",
    "Promise",
    "Rejection",
    "Server",
    "Stream",
    "Timer",
    "TraceEvent",
    "UdpSocket",
    "UnhandledRejection",
    "Watcher",
    "Work",
    "__version__",
    "jobs",
]
