"""An asyncio event loop on phaseloop: asyncio programs run unchanged and show their phases.

    import phaseloop.asyncio

    phaseloop.asyncio.run(main())            # as asyncio.run(main()), on phaseloop
    loop = phaseloop.asyncio.new_event_loop()
    loop.phaseloop.record()                  # the phaseloop.Loop underneath: its timeline

``EventLoop`` is asyncio's own Unix selector loop with its scheduling, its I/O readiness and
its socket and datagram transports moved onto phaseloop (``asyncio_transports.SocketTransport``
over the core's streams, ``asyncio_datagram.DatagramTransport`` over its UDP sockets), so every asyncio behaviour it does not change (futures, tasks, ``sock_*``,
servers, subprocesses, signal handlers, ``getaddrinfo``) is asyncio's own code. What runs
where, fixed so that timelines mean the same everywhere:

- ``call_soon`` callbacks (and so every task step and future callback) are immediates: the
  check phase, FIFO; those scheduled while a batch runs wait for the next iteration, which is
  asyncio's own rule.
- ``call_later`` / ``call_at`` are timers (1 ms resolution, never early: a timer due within
  the millisecond is re-armed for the rest).
- Socket and datagram transports read and flush their queued writes in the poll phase (the
  core's callbacks), so ``data_received`` and ``datagram_received`` run there.
- File descriptors asyncio watches (``add_reader`` / ``add_writer``, and so its ``sock_*``
  calls and pipe transports) are fd watchers: their callbacks run in the poll phase.
- ``call_soon_threadsafe`` is a thread-safe call (poll phase).
- ``run_in_executor`` with the default executor runs on phaseloop's pool; its result arrives
  in the poll phase, then the awaiting task resumes in the check phase.

``run_forever`` is one phaseloop ``run()``; ``stop()`` stops it at the end of the iteration in
which it is called, as asyncio's does. While nothing observes the loop (``Loop.observed``),
the ready handles of an iteration run as one immediate and timers wait in one heap under one
phaseloop timer, as asyncio runs them (both native, with native handles outside debug mode);
while it records or traces, each has a phaseloop callback (and a timeline row, labelled) of
its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import math
import selectors
import socket
import sys
import time as _time
from asyncio import base_events, events, futures, sslproto
from asyncio.log import logger
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar

import phaseloop
from phaseloop import _phaseloop  # type: ignore[attr-defined]

from .asyncio_datagram import DatagramTransport
from .asyncio_transports import SocketTransport

_T = TypeVar("_T")


def _run_handle(handle: asyncio.Handle) -> None:
    # A cancelled handle is skipped, as asyncio's _run_once skips it.
    if handle._cancelled:  # type: ignore[attr-defined]
        return
    loop = handle._loop  # type: ignore[attr-defined]
    try:
        if loop._debug:
            _run_handle_timed(loop, handle)
        else:
            handle._run()  # type: ignore[attr-defined]
    finally:
        # A task's exception keeps its coroutine's frame, whose caller chain reaches this
        # frame: holding the handle here would keep the task alive in a cycle, and asyncio
        # reports a task's unretrieved exception as soon as the task is dropped.
        handle = None


def _run_handle_timed(loop: Any, handle: asyncio.Handle) -> None:
    """Debug mode, as asyncio's ``_run_once``: the handle is the loop's current one while it
    runs (the exception handler reports where it was created), and one that runs for
    ``slow_callback_duration`` or longer is logged as slow, with asyncio's message."""
    try:
        loop._current_handle = handle
        started = loop.time()
        handle._run()  # type: ignore[attr-defined]
        took = loop.time() - started
        if took >= loop.slow_callback_duration:
            logger.warning(
                "Executing %s took %.3f seconds",
                base_events._format_handle(handle),  # type: ignore[attr-defined]
                took,
            )
    finally:
        loop._current_handle = None
        handle = None  # As in _run_handle: no cycle through this frame.


def _label(callback: Any) -> str | None:
    """The timeline's label of a callback: the task's name for a step of a task, else the
    callable's qualified name."""
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return owner.get_name()
    name = getattr(callback, "__qualname__", None)
    if name is None:
        inner = getattr(callback, "func", None)  # functools.partial
        name = getattr(inner, "__qualname__", None) or type(callback).__name__
    return str(name)


class _KeysByFile(Mapping[Any, selectors.SelectorKey]):
    """A selector's map as the ``selectors`` module's own: keyed by fd, and looked up by the
    file object or its fd alike (``get_key(sock)``, ``sock in get_map()``)."""

    def __init__(self, keys: dict[int, selectors.SelectorKey]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, fileobj: Any) -> selectors.SelectorKey:
        try:
            fd = selectors._fileobj_to_fd(fileobj)  # type: ignore[attr-defined]
        except ValueError:
            raise KeyError(fileobj) from None
        return self._keys[fd]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)


class _Selector(selectors.BaseSelector):
    """The ``selectors`` interface over phaseloop's fd watchers: asyncio's selector loop
    registers its readers and writers here, and their handles run in the poll phase."""

    def __init__(self, loop: phaseloop.Loop) -> None:
        self._loop = loop
        self._keys: dict[int, selectors.SelectorKey] = {}
        self._watchers: dict[int, phaseloop.Watcher] = {}
        self._map = _KeysByFile(self._keys)

    def register(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        if not events or events & ~(selectors.EVENT_READ | selectors.EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = selectors._fileobj_to_fd(fileobj)  # type: ignore[attr-defined]
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = selectors.SelectorKey(fileobj, fd, events, data)
        watcher = self._loop.watch_fd(
            fd,
            lambda readable, writable: self._dispatch(fd, readable, writable),
            readable=bool(events & selectors.EVENT_READ),
            writable=bool(events & selectors.EVENT_WRITE),
            label=f"fd {fd}",
        )
        self._keys[fd] = key
        self._watchers[fd] = watcher
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = self._fd(fileobj)
        key = self._keys.pop(fd)
        watcher = self._watchers.pop(fd)
        watcher.close()
        return key

    def modify(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        fd = self._fd(fileobj)
        old = self._keys[fd]
        key = old._replace(events=events, data=data)
        if events != old.events:
            self._watchers[fd].start(
                readable=bool(events & selectors.EVENT_READ),
                writable=bool(events & selectors.EVENT_WRITE),
            )
        self._keys[fd] = key
        return key

    def select(
        self, timeout: float | None = None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        raise RuntimeError(
            "phaseloop's poll phase waits for these fds; select() is not used"
        )

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._map

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        try:
            return self._map[fileobj]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def close(self) -> None:
        for watcher in self._watchers.values():
            if not self._loop.closed:
                watcher.close()
        self._watchers.clear()
        self._keys.clear()

    def _fd(self, fileobj: Any) -> int:
        fd = selectors._fileobj_to_fd(fileobj)  # type: ignore[attr-defined]
        if fd not in self._keys:
            raise KeyError(f"{fileobj!r} is not registered")
        return fd

    def _dispatch(self, fd: int, readable: bool, writable: bool) -> None:
        key = self._keys.get(fd)
        if key is None:
            return
        reader = key.data[0]
        key = None  # Nothing that ran keeps a handle through this frame (see _run_handle).
        if readable and reader is not None:
            _run_handle(reader)
        reader = None
        if writable:
            # The reader may have changed the registration.
            key = self._keys.get(fd)
            if key is not None and key.data[1] is not None:
                writer = key.data[1]
                key = None
                _run_handle(writer)
                writer = None


class EventLoop(asyncio.SelectorEventLoop):  # type: ignore[misc,valid-type]
    """An ``asyncio`` event loop running on a ``phaseloop.Loop`` (``self.phaseloop``)."""

    def __init__(
        self, *, threadpool_size: int | None = None, clock: str = "real"
    ) -> None:
        self._pl = phaseloop.Loop(threadpool_size=threadpool_size, clock=clock)  # type: ignore[arg-type]
        # Named as asyncio's default executor names its threads, asyncio_N.
        self._pl._name_pool_threads("asyncio")
        self._pl_timers: dict[int, phaseloop.Timer] = {}
        # The ready handles and the immediate that runs them (py/src/asyncio_ready.rs); its
        # call_soon is this loop's, without a Python frame.
        self._ready_queue = _phaseloop._AsyncioReadyQueue(self, self._pl)
        self.call_soon = self._ready_queue.call_soon  # type: ignore[method-assign]
        self.call_soon_threadsafe = self._ready_queue.call_soon_threadsafe  # type: ignore[method-assign]
        # The call_later / call_at handles while nothing observes the loop, in a native heap
        # run by one phaseloop timer armed for the earliest (py/src/asyncio_timer.rs); its
        # call_later and call_at are this loop's, without a Python frame.
        # (A subclass's own call_at, or call_later, stays in charge of its calls.)
        self._timer_queue = _phaseloop._AsyncioTimerQueue(self, self._pl)
        cls = type(self)
        if cls.call_at is EventLoop.call_at:
            self.call_at = self._timer_queue.call_at  # type: ignore[method-assign]
            if cls.call_later is base_events.BaseEventLoop.call_later:
                self.call_later = self._timer_queue.call_later  # type: ignore[method-assign]
        # The jobs run_in_executor gave phaseloop's pool: (work, func, args) by a key of
        # their own; and the future shutdown_default_executor waits on until none is left.
        self._pool_jobs: dict[
            object, tuple[phaseloop.Work, Callable[..., Any], Any]
        ] = {}
        self._pool_idle: asyncio.Future[None] | None = None
        self._virtual = clock == "virtual"
        if not self._virtual:
            # time() is asyncio's own (time.monotonic), called without a Python frame: it is
            # on the path of every call_later.
            self.time = _time.monotonic  # type: ignore[method-assign]
        super().__init__(_Selector(self._pl))
        # Every Future and Task asks its loop for these when it is made (C futures call
        # loop.create_future() and loop.get_debug()): answered without a Python frame, as
        # uvloop's are. (A subclass's own create_future stays in charge.)
        if cls.create_future is base_events.BaseEventLoop.create_future:
            self.create_future = functools.partial(asyncio.Future, loop=self)  # type: ignore[method-assign]

    def time(self) -> float:
        """``time.monotonic()``; on the virtual clock, phaseloop's clock (which jumps to the
        next timer instead of waiting), so ``asyncio.sleep(60)`` finishes at once."""
        if self._virtual:
            return self._pl.hrtime() / 1e9
        return super().time()

    @property
    def phaseloop(self) -> phaseloop.Loop:
        """The ``phaseloop.Loop`` underneath: its ``timeline()``, ``record()``,
        ``metrics()``, ``handles()`` and ``monitor_delay()`` see this asyncio program."""
        return self._pl

    # ----- scheduling -------------------------------------------------------------------------

    def _run_once(self) -> None:
        # asyncio's run_forever calls this until stop() is called. One phaseloop run() serves
        # the whole of it: stop() below stops phaseloop too, at the end of the iteration it was
        # called in, as asyncio's own _run_once ends then. (A run("once") per iteration would
        # pay phaseloop's run() entry, signal routing included, once per iteration.) A stop()
        # before run_forever runs one iteration that does not wait for I/O, as asyncio's does.
        if self._stopping:  # type: ignore[attr-defined]
            self._pl.run("nowait")
        else:
            self._pl.run()

    def stop(self) -> None:
        super().stop()
        if self.is_running() and not self._pl.closed:
            self._pl.stop()

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:  # type: ignore[override]
        """asyncio's ``call_soon``. (The instance's ``call_soon`` is the native ready queue's
        own; this is the same, for a call through the class.)"""
        handle: asyncio.Handle = self._ready_queue.call_soon(
            callback, *args, context=context
        )
        return handle

    def _call_soon_python(
        self, callback: Any, args: Any, context: Any
    ) -> asyncio.Handle:
        """``call_soon`` in debug mode or while the loop is observed: asyncio's checks and its
        own handle (with the traceback of where it was made, in debug mode)."""
        if self._debug:  # type: ignore[attr-defined]
            self._check_thread()  # type: ignore[attr-defined]
            self._check_callback(callback, "call_soon")  # type: ignore[attr-defined]
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:  # type: ignore[attr-defined]
            del handle._source_traceback[-1]  # type: ignore[attr-defined]
        self._enqueue(handle)
        return handle

    def _call_soon(self, callback: Any, args: Any, context: Any) -> asyncio.Handle:
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:  # type: ignore[attr-defined]
            del handle._source_traceback[-1]  # type: ignore[attr-defined]
        self._enqueue(handle)
        return handle

    def _add_callback(self, handle: asyncio.Handle) -> None:
        if not handle._cancelled:  # type: ignore[attr-defined]
            self._enqueue(handle)

    def _enqueue(self, handle: asyncio.Handle) -> None:
        """Queues a ready handle for the check phase.

        While phaseloop records or traces, each handle is an immediate of its own, labelled
        with its task's name, so the timeline shows every callback. Otherwise the handles wait
        in the native ready queue and one immediate runs the batch, as asyncio's
        ``_run_once`` runs its ``_ready`` deque, without a phaseloop callback apiece. Either
        way the order is the same: FIFO, in the check phase, and what a batch schedules runs
        in the next iteration. A handle queued while a batch is due joins that batch, so
        switching between the two never reorders anything."""
        queue = self._ready_queue
        if not queue.batch_due and self._pl.observed:
            self._pl.set_immediate(
                _run_handle,
                handle,
                label=_label(handle._callback),  # type: ignore[attr-defined]
            )
        else:
            queue.push(handle)

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        self._ready_queue.set_debug(enabled)
        self._timer_queue.set_debug(enabled)
        # get_debug() without a Python frame: the flag's own bound __bool__ (for a bool flag;
        # asyncio's get_debug returns what set_debug was given).
        if (
            type(self).get_debug is base_events.BaseEventLoop.get_debug
            and type(enabled) is bool
        ):
            self.get_debug = enabled.__bool__  # type: ignore[method-assign]
        else:
            self.__dict__.pop("get_debug", None)

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Any = None,
    ) -> asyncio.TimerHandle:  # type: ignore[override]
        """asyncio's ``call_at``; the callback runs in the timers phase. (The instance's
        ``call_at``, and ``call_later``, are the native timer queue's own; this is the same,
        for a call through the class.)"""
        timer: asyncio.TimerHandle = self._timer_queue.call_at(
            when, callback, *args, context=context
        )
        if timer._source_traceback:  # type: ignore[attr-defined]
            del timer._source_traceback[-1]  # type: ignore[attr-defined]
        return timer

    def _call_at_python(
        self, when: float, callback: Any, args: Any, context: Any
    ) -> asyncio.TimerHandle:
        """``call_at`` in debug mode or while the loop is observed: asyncio's checks and its
        own handle (with the traceback of where it was made, in debug mode). Observed, it is a
        labelled phaseloop timer of its own; otherwise it waits in the native heap."""
        if self._debug:  # type: ignore[attr-defined]
            self._check_thread()  # type: ignore[attr-defined]
            self._check_callback(callback, "call_at")  # type: ignore[attr-defined]
        timer = events.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:  # type: ignore[attr-defined]
            del timer._source_traceback[-1]  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        if self._pl.observed:
            self._arm(timer)
        else:
            self._timer_queue.push(when, timer)
        return timer

    # Timers while the loop is observed: one phaseloop timer each, labelled.

    def _arm(self, timer: asyncio.TimerHandle) -> None:
        delay_ms = max(0.0, (timer.when() - self.time()) * 1000.0)
        self._pl_timers[id(timer)] = self._pl.set_timeout(
            self._fire,
            math.ceil(delay_ms),
            timer,
            label=_label(timer._callback),  # type: ignore[attr-defined]
        )

    def _fire(self, timer: asyncio.TimerHandle) -> None:
        self._pl_timers.pop(id(timer), None)
        if timer._cancelled:  # type: ignore[attr-defined]
            return
        if timer.when() > self.time():
            # Never early: the millisecond clock can be ahead of time.monotonic().
            self._arm(timer)
            return
        timer._scheduled = False  # type: ignore[attr-defined]
        try:
            _run_handle(timer)
        finally:
            timer = None  # Nothing that ran keeps the handle through this frame.

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        """asyncio's handle was cancelled (its ``cancel()`` tells the loop, then marks
        itself): its own phaseloop timer is cleared, or the native heap counts it."""
        timer = self._pl_timers.pop(id(handle), None)
        if timer is not None:
            if not self._pl.closed:
                self._pl.clear_timeout(timer)
            handle._scheduled = False  # type: ignore[attr-defined]
            return
        self._timer_queue.asyncio_handle_cancelled(handle)

    def call_soon_threadsafe(
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:  # type: ignore[override]
        """asyncio's ``call_soon_threadsafe``, from any thread; the callback runs in the poll
        phase. (The instance's ``call_soon_threadsafe`` is the native ready queue's own; this
        is the same, for a call through the class.)"""
        handle: asyncio.Handle = self._ready_queue.call_soon_threadsafe(
            callback, *args, context=context
        )
        return handle

    def _call_soon_threadsafe_python(
        self, callback: Any, args: Any, context: Any
    ) -> asyncio.Handle:
        """``call_soon_threadsafe`` in debug mode or while the loop is observed: asyncio's
        checks and its own handle, and the callback's label in the timeline."""
        self._check_closed()  # type: ignore[attr-defined]
        if self._debug:  # type: ignore[attr-defined]
            self._check_callback(callback, "call_soon_threadsafe")  # type: ignore[attr-defined]
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:  # type: ignore[attr-defined]
            del handle._source_traceback[-1]  # type: ignore[attr-defined]
        self._pl.call_threadsafe(_run_handle, handle, label=_label(callback))
        return handle

    # ----- transports -------------------------------------------------------------------------

    def _make_socket_transport(
        self,
        sock: Any,
        protocol: Any,
        waiter: Any = None,
        *,
        extra: Any = None,
        server: Any = None,
    ) -> SocketTransport:
        return SocketTransport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(
        self,
        rawsock: Any,
        protocol: Any,
        sslcontext: Any,
        waiter: Any = None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        extra: Any = None,
        server: Any = None,
        **timeouts: Any,
    ) -> asyncio.Transport:
        # asyncio's TLS (its SSLProtocol, a BufferedProtocol) over phaseloop's transport.
        ssl_protocol = sslproto.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname, **timeouts
        )
        SocketTransport(self, rawsock, ssl_protocol, extra=extra, server=server)
        return ssl_protocol._app_transport  # type: ignore[no-any-return]

    def _make_datagram_transport(
        self,
        sock: Any,
        protocol: Any,
        address: Any = None,
        waiter: Any = None,
        extra: Any = None,
    ) -> asyncio.DatagramTransport:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            # A Unix datagram socket: asyncio's own transport, over fd watchers.
            return super()._make_datagram_transport(  # type: ignore[no-any-return]
                sock, protocol, address, waiter, extra
            )
        return DatagramTransport(self, sock, protocol, address, waiter, extra)

    async def _sendfile_native(
        self, transp: Any, file: Any, offset: int, count: int | None
    ) -> int:
        if not isinstance(transp, SocketTransport):
            return await super()._sendfile_native(transp, file, offset, count)  # type: ignore[no-any-return]
        # os.sendfile on the socket through sock_sendfile, once the queued writes are out;
        # the core stream lets go of the fd meanwhile, as asyncio's transport stops polling.
        del self._transports[transp._sock_fd]  # type: ignore[attr-defined]
        resume_reading = transp.is_reading()
        transp.pause_reading()
        await transp._make_empty_waiter()
        sock = transp._lend_socket()
        try:
            return await self.sock_sendfile(sock, file, offset, count, fallback=False)
        finally:
            transp._take_socket_back()
            transp._reset_empty_waiter()
            if resume_reading:
                transp.resume_reading()
            self._transports[transp._sock_fd] = transp  # type: ignore[attr-defined]

    # ----- the executor -----------------------------------------------------------------------

    def run_in_executor(
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        """With no executor and no default set, ``func(*args)`` runs on phaseloop's pool."""
        self._check_closed()  # type: ignore[attr-defined]
        if executor is not None or self._default_executor is not None:  # type: ignore[attr-defined]
            return super().run_in_executor(executor, func, *args)
        if self._debug:  # type: ignore[attr-defined]
            self._check_callback(func, "run_in_executor")  # type: ignore[attr-defined]
        if self._executor_shutdown_called:  # type: ignore[attr-defined]
            raise RuntimeError("Executor shutdown has been called")
        future: asyncio.Future[_T] = self.create_future()
        key = object()

        def done(error: BaseException | None, result: Any) -> None:
            self._pool_jobs.pop(key, None)
            if self._pool_idle is not None and not self._pool_jobs:
                self._pool_idle.set_result(None)
                self._pool_idle = None
            if future.cancelled():
                return
            if isinstance(error, phaseloop.Cancelled):
                future.cancel()
            elif error is not None:
                # As asyncio's wrap_future: concurrent.futures' CancelledError and
                # InvalidStateError become asyncio's own.
                future.set_exception(futures._convert_future_exc(error))  # type: ignore[attr-defined]
            else:
                future.set_result(result)

        work = self._pl.queue_work(func, *args, callback=done)
        self._pool_jobs[key] = (work, func, args)
        future.add_done_callback(lambda f: f.cancelled() and work.cancel())
        return future

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        """As asyncio's: waits for every job given to the default executor, phaseloop's pool
        included (then no more are taken)."""
        self._executor_shutdown_called = True  # type: ignore[attr-defined]
        if self._pool_jobs:
            self._pool_idle = self.create_future()
            await self._pool_idle
        await super().shutdown_default_executor(*args, **kwargs)

    # ----- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        self._ready_queue.close()
        self._timer_queue.close()
        self._hand_over_pool_jobs()
        self._pl_timers.clear()
        self._pl.close()

    def _hand_over_pool_jobs(self) -> None:
        """Jobs of the default executor still waiting for a pool thread when the loop closes
        run anyway, on a thread of their own, as asyncio's executor still runs what it was
        given (``close()`` shuts it down without cancelling): a file that a program closes
        with ``run_in_executor(None, f.close)`` is closed. Their results are dropped, as
        asyncio drops them. Jobs already running finish on the pool."""
        left = [
            (func, args)
            for work, func, args in self._pool_jobs.values()
            if work.cancel()
        ]
        self._pool_jobs.clear()
        if left:
            executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=min(len(left), 4)
            )
            for func, args in left:
                executor.submit(func, *args)
            executor.shutdown(wait=False)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
    """A policy whose loops are ``EventLoop`` (for CPython versions that still have
    policies; ``run()`` and ``new_event_loop()`` are the way on every version)."""

    def _loop_factory(self) -> EventLoop:  # type: ignore[override]
        return EventLoop()


def new_event_loop() -> EventLoop:
    """A new ``EventLoop`` (not made the current loop)."""
    return EventLoop()


def install() -> None:
    """Makes ``EventLoop`` the loop of every ``asyncio.get_event_loop()`` and ``asyncio.run``
    of this process (through a policy)."""
    asyncio.set_event_loop_policy(EventLoopPolicy())


def run(
    main: Coroutine[Any, Any, _T],
    *,
    debug: bool | None = None,
    clock: str = "real",
    threadpool_size: int | None = None,
) -> _T:
    """``asyncio.run(main)`` on a new ``EventLoop``, as ``uvloop.run`` (``clock="virtual"``:
    timers finish at once, in order)."""

    def factory() -> EventLoop:
        return EventLoop(clock=clock, threadpool_size=threadpool_size)

    # The package supports 3.9 (py/pyproject.toml); ruff lints as if 3.11 were the oldest.
    if sys.version_info >= (3, 11):  # noqa: UP036
        with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
            return runner.run(main)
    return _run_without_runner(main, debug, factory)


def _run_without_runner(
    main: Coroutine[Any, Any, _T],
    debug: bool | None,
    factory: Callable[[], EventLoop],
) -> _T:
    """What ``asyncio.run`` does on 3.9 and 3.10 (which have no ``asyncio.Runner``), on a loop
    from ``factory``: the same checks and messages, then every task left cancelled, the async
    generators and the default executor shut down, and the loop closed."""
    if asyncio.events._get_running_loop() is not None:
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop: EventLoop) -> None:
    """Cancels the loop's unfinished tasks and waits for them, reporting the errors they end
    with to the loop's exception handler (as ``asyncio.run`` does when ``main`` returns)."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if task.cancelled() or task.exception() is None:
            continue
        loop.call_exception_handler(
            {
                "message": "unhandled exception during asyncio.run() shutdown",
                "exception": task.exception(),
                "task": task,
            }
        )


#: The handle ``EventLoop.call_soon`` returns: ``asyncio.Handle``'s interface (``cancel()``,
#: ``cancelled()``, ``get_context()``), native, and not a subclass of it (as uvloop's).
Handle = _phaseloop._AsyncioHandle

#: The handle ``EventLoop.call_later`` and ``call_at`` return: ``asyncio.TimerHandle``'s
#: interface (``cancel()``, ``cancelled()``, ``when()``, ``get_context()``, comparison by
#: ``when``), native, and not a subclass of it (as uvloop's).
TimerHandle = _phaseloop._AsyncioTimerHandle

__all__ = [
    "EventLoop",
    "EventLoopPolicy",
    "Handle",
    "TimerHandle",
    "install",
    "new_event_loop",
    "run",
]
