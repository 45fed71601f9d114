"""phaseloop: the Node.js event loop as a Python library.

Six phases (timers, pending, idle/prepare, poll, check, close), ``next_tick`` and microtask
queues drained after every callback exactly as Node drains them, Node's timer ordering, a worker
pool, fd and signal watchers, thread-safe calls, a virtual clock and a phase timeline::

    import phaseloop

    with phaseloop.Loop(clock="virtual") as loop:
        loop.set_timeout(print, 0, "timeout")
        loop.set_immediate(print, "immediate")
        loop.next_tick(print, "tick")
        loop.run()          # tick, immediate, timeout

The API is described in ``__init__.pyi``; the ordering rules in docs/ordering.md.
"""

from . import jobs
from ._phaseloop import (
    AggregateError,
    Cancelled,
    DelayMonitor,
    Error,
    Handle,
    Immediate,
    Loop,
    LoopClosed,
    NativeJob,
    Promise,
    Rejection,
    Timer,
    TraceEvent,
    UnhandledRejection,
    Watcher,
    Work,
    __version__,
)
from .child_process import Process
from .dgram import UdpSocket
from .net import Server, Stream

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
