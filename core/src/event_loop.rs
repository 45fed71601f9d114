//! [`Loop`]: the event loop's state, its construction, introspection and closing, and how it
//! runs a host callback. The phases themselves are in `run.rs`; each kind's own calls
//! (`set_timeout`, `set_immediate`, `watch_fd`, `queue_work`, `set_trace`, ...) sit in an
//! `impl Loop` beside that kind's queue (`timers.rs`, `immediates.rs`, `poll.rs`, `work.rs`,
//! `trace.rs`, ...).
//!
//! All state sits behind one `RefCell` that is never borrowed while a host callback runs: the
//! loop takes a callback out, releases the state, runs it, then takes the state back. So a
//! callback may schedule, clear, query and close anything, its own handle included. Callbacks
//! that will never run are dropped only after the borrow is released, because dropping a host
//! object may run host code (a Python `__del__`) that calls back into the loop.

use std::any::Any;
use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use crate::poller::Events;

use crate::callback::{BoxError, Callback, Event};
use crate::clock::Clock;
use crate::error::Error;
use crate::handles::HandleTable;
use crate::id::{next_loop_tag, Id, IdKind, Slab};
use crate::immediates::ImmediateQueue;
use crate::inbox::{Completion, Inbox};
use crate::metrics::{DelayMonitor, LoopStats};
use crate::net::stream::Deferred;
use crate::net::Streams;
use crate::options::{DrainMode, LoopOptions};
use crate::poll::Watchers;
use crate::pool::Pool;
use crate::process::Processes;
#[cfg(doc)]
use crate::remote::Remote;
use crate::run::{PollItem, Step};
use crate::timers::TimerQueue;
use crate::trace::{Kind, Phase, TraceEvent, TraceHook, TraceRecord};
use crate::work::WorkEntry;

/// A call refused by the loop, handing the callback back so the caller keeps ownership (the
/// C ABI promises that a failed call takes no ownership of its data).
///
/// The one refusal rule: every method that takes a callback (or an optional one, as
/// `Refused<Option<C>>`) fails with a `Refused`, never a bare [`Error`], so the core never drops
/// a callback it was not given to run, and a caller can drop it where that is safe (a Python
/// binding with the GIL) or disown it (C). `?` turns it into its [`Error`] or a [`BoxError`].
pub struct Refused<C> {
    /// Why.
    pub error: Error,
    /// The callback, untouched.
    pub callback: C,
}

impl<C> std::fmt::Debug for Refused<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Refused({:?})", self.error)
    }
}

impl<C> std::fmt::Display for Refused<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<C> From<Refused<C>> for Error {
    fn from(refused: Refused<C>) -> Error {
        refused.error
    }
}

/// So that `?` on a refused call works in a callback returning [`BoxError`], as it does for any
/// [`Error`] (a callback need not be `Sync`, so `Refused` itself cannot be the boxed error).
impl<C> From<Refused<C>> for BoxError {
    fn from(refused: Refused<C>) -> BoxError {
        Box::new(refused.error)
    }
}

/// Something that keeps the loop alive or is waiting in it (see [`Loop::handles`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandleInfo {
    /// A trace kind name (`"timeout"`, `"interval"`, `"immediate"`, `"idle"`, `"prepare"`,
    /// `"check"`, `"work"`, `"threadsafe"`, `"pending"`, `"close"`) or `"watcher"` / `"signal"`.
    pub kind: &'static str,
    /// Whether it keeps `run` in default mode from returning.
    pub refed: bool,
    /// Its id, if it has one.
    pub id: Option<Id>,
    /// A few words about it: a timer's delay, a watcher's fd, a signal number.
    pub detail: String,
}

/// A handle waiting for the close phase.
pub(crate) struct Closing<C> {
    pub(crate) id: Id,
    pub(crate) kind: &'static str,
    pub(crate) cb: Option<C>,
    /// A stream's requests that never finished (`ECANCELED`) or finished without their
    /// callback having run: called in the close phase before `cb`, as libuv's
    /// `uv__stream_destroy` calls them.
    pub(crate) cancelled: Vec<Deferred<C>>,
}

impl<C> Closing<C> {
    pub(crate) fn new(id: Id, kind: &'static str, cb: Option<C>) -> Self {
        Closing {
            id,
            kind,
            cb,
            cancelled: Vec::new(),
        }
    }
}

/// Something the pending phase runs: a `queue_pending` callback, or a stream callback that
/// libuv defers there (a write finished inside the call, a connect that failed at once).
pub(crate) enum Pending<C> {
    Call(C),
    Stream(Deferred<C>),
}

impl<C> Pending<C> {
    fn callback(&self) -> &C {
        match self {
            Pending::Call(cb) => cb,
            Pending::Stream(deferred) => &deferred.cb,
        }
    }

    fn into_callback(self) -> C {
        match self {
            Pending::Call(cb) => cb,
            Pending::Stream(deferred) => deferred.cb,
        }
    }
}

pub(crate) struct State<C: Callback> {
    pub(crate) timers: TimerQueue<C>,
    pub(crate) immediates: ImmediateQueue<C, C::Slot>,
    pub(crate) handles: HandleTable<C>,
    pub(crate) watchers: Watchers<C>,
    pub(crate) works: Slab<WorkEntry<C>>,
    pub(crate) ticks: VecDeque<C>,
    pub(crate) microtasks: VecDeque<C>,
    pub(crate) pending: VecDeque<Pending<C>>,
    pub(crate) streams: Streams<C>,
    pub(crate) processes: Processes<C>,
    pub(crate) closing: VecDeque<Closing<C>>,
    // The batch of the phase in progress, kept here so a failure can resume it.
    pub(crate) timers_now: u64,
    pub(crate) pending_batch: VecDeque<Pending<C>>,
    pub(crate) handle_batch: VecDeque<(Id, u64)>,
    pub(crate) close_batch: VecDeque<Closing<C>>,
    pub(crate) poll_ready: VecDeque<PollItem>,
    /// Cancelled work requests, reported in the next poll phase (as libuv does).
    pub(crate) cancelled: Vec<Completion>,
    /// The poller's event buffer; taken out while a poll fills it.
    pub(crate) events: Option<Events>,
    pub(crate) completions: Vec<Completion>,
    /// Threadsafe calls taken from the inbox, run after the other poll items.
    pub(crate) calls: VecDeque<C>,
    pub(crate) pool: Pool<C>,
    pub(crate) stats: LoopStats,
    pub(crate) delay: DelayMonitor,
    pub(crate) timeline: Vec<TraceRecord<C::Label>>,
    pub(crate) wakeup: Option<(UnixStream, UnixStream)>,
}

/// A Node.js-style event loop.
///
/// Generic over the host's callback type (see [`Callback`]); Rust programs use
/// [`crate::Task`]. The loop belongs to the thread that uses it: it is `Send` but not `Sync`,
/// and the only way in from other threads is a [`Remote`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use phaseloop_core::{Loop, LoopOptions, RunMode, Task};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let lp = Loop::<Task>::new(LoopOptions::default()).unwrap();
/// let l = log.clone();
/// lp.set_timeout(0.0, Task::new(move |_, _| { l.lock().unwrap().push("timeout"); Ok(()) })).unwrap();
/// let l = log.clone();
/// lp.next_tick(Task::new(move |_, _| { l.lock().unwrap().push("tick"); Ok(()) })).unwrap();
/// lp.run(RunMode::Default).unwrap();
/// assert_eq!(*log.lock().unwrap(), ["tick", "timeout"]);
/// ```
pub struct Loop<C: Callback> {
    pub(crate) state: RefCell<State<C>>,
    pub(crate) clock: Clock,
    pub(crate) drain_mode: DrainMode,
    pub(crate) inbox: Arc<Inbox<C>>,
    host: C::Host,
    tag: u16,
    pub(crate) closed: Cell<bool>,
    /// Host callbacks running now (0 or 1; a trace hook may nest).
    pub(crate) depth: Cell<u32>,
    pub(crate) running: Cell<bool>,
    pub(crate) stop_flag: Cell<bool>,
    pub(crate) phase: Cell<Option<Phase>>,
    pub(crate) iteration: Cell<u64>,
    pub(crate) step: Cell<Step>,
    /// How many times `Step::PendingRerun` ran the pending callbacks this round.
    pub(crate) pending_reruns: Cell<u8>,
    /// The current phase's batch was taken (so a resumed phase does not take it again).
    pub(crate) phase_started: Cell<bool>,
    /// An iteration was started by a timers phase and its pending phase has not begun yet.
    pub(crate) fresh_iteration: Cell<bool>,
    pub(crate) can_sleep: Cell<bool>,
    /// A tick or microtask may be queued: set by every push to either queue, cleared by a drain
    /// that left both empty. The drain after each callback looks at this one byte instead of
    /// borrowing the state to look at both queues (most callbacks queue neither).
    pub(crate) maybe_queued: Cell<bool>,
    /// The real clock's last reading in ns (the timers phase's), while no host code has run
    /// since it was taken: a poll that then makes no system call returns, as far as anything
    /// can tell, at that time, and the clock is not read again for it (`Loop::poll_wait`).
    pub(crate) clock_read_ns: Cell<Option<u64>>,
    /// A trace hook is set or the recorder is on: callbacks take the traced path.
    pub(crate) tracing: Cell<bool>,
    pub(crate) recording: Cell<bool>,
    /// A trace hook is installed (it is taken out of `hook` while it runs).
    pub(crate) hook_set: Cell<bool>,
    pub(crate) hook: RefCell<Option<TraceHook<C>>>,
    /// The process that created the loop (a child of `fork()` has another).
    pid: u32,
    /// The rejection tracker of a promise host (`promise::rejections`), made on first use. Type
    /// erased because `Loop` does not require `C: PromiseHost`.
    pub(crate) promise_tracker: RefCell<Option<Box<dyn Any + Send>>>,
    /// The 64 KiB buffer streams read into; taken out while a read callback borrows it.
    pub(crate) read_buffer: Cell<Option<Box<[u8]>>>,
    /// The id of the handle whose callback is running (0: none, or a callback without one).
    current: Cell<u64>,
}

impl<C: Callback> Loop<C>
where
    C::Host: Default,
{
    /// Creates a loop (its pool threads start on the first `queue_work`).
    pub fn new(options: LoopOptions) -> Result<Self, Error> {
        Self::with_host(options, C::Host::default())
    }
}

impl<C: Callback> Loop<C> {
    /// Creates a loop with the host's per-loop state.
    pub fn with_host(options: LoopOptions, host: C::Host) -> Result<Self, Error> {
        let pool_size = options.resolved_threadpool_size()?;
        let inbox = Arc::new(Inbox::new()?);
        let tag = next_loop_tag();
        let state = State {
            timers: TimerQueue::new(tag),
            immediates: ImmediateQueue::new(tag),
            handles: HandleTable::new(tag),
            watchers: Watchers::new(tag),
            works: Slab::new(IdKind::Work, tag),
            ticks: VecDeque::new(),
            microtasks: VecDeque::new(),
            pending: VecDeque::new(),
            streams: Streams::new(tag),
            processes: Processes::new(tag),
            closing: VecDeque::new(),
            timers_now: 0,
            pending_batch: VecDeque::new(),
            handle_batch: VecDeque::new(),
            close_batch: VecDeque::new(),
            poll_ready: VecDeque::new(),
            cancelled: Vec::new(),
            events: Some(Events::new()),
            completions: Vec::new(),
            calls: VecDeque::new(),
            pool: Pool::new(pool_size, Arc::clone(&inbox)),
            stats: LoopStats::default(),
            delay: DelayMonitor::new(),
            timeline: Vec::new(),
            wakeup: None,
        };
        Ok(Loop {
            state: RefCell::new(state),
            clock: Clock::new(options.clock),
            drain_mode: options.drain,
            inbox,
            host,
            tag,
            closed: Cell::new(false),
            depth: Cell::new(0),
            running: Cell::new(false),
            stop_flag: Cell::new(false),
            phase: Cell::new(None),
            iteration: Cell::new(0),
            step: Cell::new(Step::Start),
            pending_reruns: Cell::new(0),
            phase_started: Cell::new(false),
            fresh_iteration: Cell::new(false),
            can_sleep: Cell::new(true),
            maybe_queued: Cell::new(false),
            clock_read_ns: Cell::new(None),
            tracing: Cell::new(false),
            recording: Cell::new(false),
            hook_set: Cell::new(false),
            hook: RefCell::new(None),
            pid: std::process::id(),
            promise_tracker: RefCell::new(None),
            read_buffer: Cell::new(None),
            current: Cell::new(0),
        })
    }

    /// The host's per-loop state.
    pub fn host(&self) -> &C::Host {
        &self.host
    }

    pub(crate) fn st(&self) -> RefMut<'_, State<C>> {
        self.state.borrow_mut()
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.closed.get() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn open_or_refuse(&self, cb: C) -> Result<C, Refused<C>> {
        match self.check_open() {
            Ok(()) => Ok(cb),
            Err(error) => Err(Refused {
                error,
                callback: cb,
            }),
        }
    }

    /// Whether [`Loop::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The loop's tag, the part of every id that says which loop issued it.
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// The drain mode this loop runs in.
    pub fn drain_mode(&self) -> DrainMode {
        self.drain_mode
    }

    // ----- introspection -------------------------------------------------------------------

    /// Whether ref'd work remains (rule 6.1).
    pub fn alive(&self) -> bool {
        if self.closed.get() {
            return false;
        }
        let st = self.state.borrow();
        st.timers.has_ref()
            || st.immediates.has_ref()
            || st.handles.has_ref()
            || st.watchers.has_ref()
            || st.streams.has_ref()
            || st.processes.has_ref()
            || !st.works.is_empty()
            || self.inbox.has_calls()
            || !st.pending.is_empty()
            || !st.pending_batch.is_empty()
            || !st.closing.is_empty()
            || !st.close_batch.is_empty()
            || !st.poll_ready.is_empty()
            || !st.calls.is_empty()
    }

    /// The phase running now, `None` outside `run` (and during the main script's drain).
    pub fn phase(&self) -> Option<Phase> {
        self.phase.get()
    }

    /// How many iterations have started (0 during the main script).
    pub fn iteration(&self) -> u64 {
        self.iteration.get()
    }

    /// Asks the current `run` to return at the end of this iteration (`uv_stop`).
    pub fn stop(&self) {
        self.stop_flag.set(true);
    }

    /// Everything that keeps the loop alive or waits in it (libuv's `uv_walk`).
    pub fn handles(&self) -> Vec<HandleInfo> {
        if self.closed.get() {
            return Vec::new();
        }
        let st = self.state.borrow();
        let mut out = Vec::new();
        for (id, t) in st.timers.slab.iter().filter(|(_, t)| t.linked()) {
            out.push(HandleInfo {
                kind: if t.repeat { "interval" } else { "timeout" },
                refed: t.refed,
                id: Some(id),
                detail: format!("{} ms", t.delay),
            });
        }
        for (id, i) in st.immediates.iter() {
            out.push(HandleInfo {
                kind: "immediate",
                refed: i.refed,
                id: Some(id),
                detail: String::new(),
            });
        }
        for (id, h) in st.handles.slab.iter().filter(|(_, h)| h.active) {
            out.push(HandleInfo {
                kind: h.kind.trace_kind().name(),
                refed: h.refed,
                id: Some(id),
                detail: String::new(),
            });
        }
        for (id, w) in st.watchers.fds.iter().filter(|(_, w)| w.active) {
            let mut detail = format!("fd {}", w.fd);
            if w.interest.readable {
                detail.push_str(" readable");
            }
            if w.interest.writable {
                detail.push_str(" writable");
            }
            out.push(HandleInfo {
                kind: "watcher",
                refed: w.refed,
                id: Some(id),
                detail,
            });
        }
        for (id, s) in st.watchers.signals.iter().filter(|(_, s)| s.active) {
            out.push(HandleInfo {
                kind: "signal",
                refed: s.refed,
                id: Some(id),
                detail: format!("signal {}", s.signum),
            });
        }
        for (id, s) in st.streams.slab.iter().filter(|(_, s)| s.active()) {
            let role = if s.listening {
                "server"
            } else if s.udp.is_some() {
                "udp"
            } else {
                "stream"
            };
            let detail = match &s.fd {
                Some(fd) => format!("{} {role} fd {}", s.kind.name(), fd.as_raw_fd()),
                None => format!("{} {role} resolving", s.kind.name()),
            };
            out.push(HandleInfo {
                kind: role,
                refed: s.refed,
                id: Some(id),
                detail,
            });
        }
        for (id, p) in st.processes.slab.iter().filter(|(_, p)| p.exited.is_none()) {
            out.push(HandleInfo {
                kind: "process",
                refed: p.refed,
                id: Some(id),
                detail: format!("process pid {}", p.pid),
            });
        }
        for (id, _) in st.works.iter().filter(|(_, w)| w.connect.is_none()) {
            out.push(HandleInfo {
                kind: "work",
                refed: true,
                id: Some(id),
                detail: String::new(),
            });
        }
        let calls = self.inbox.queued_calls() + st.calls.len();
        if calls > 0 {
            out.push(HandleInfo {
                kind: "threadsafe",
                refed: true,
                id: None,
                detail: format!("{calls} queued"),
            });
        }
        let pending = st.pending.len() + st.pending_batch.len();
        if pending > 0 {
            out.push(HandleInfo {
                kind: "pending",
                refed: true,
                id: None,
                detail: format!("{pending} queued"),
            });
        }
        for c in st.closing.iter().chain(st.close_batch.iter()) {
            out.push(HandleInfo {
                kind: "close",
                refed: true,
                id: Some(c.id),
                detail: format!("closing {}", c.kind),
            });
        }
        out
    }

    /// The poller's fd, for embedding in another loop (`uv_backend_fd`).
    pub fn backend_fd(&self) -> RawFd {
        self.inbox.poller.as_raw_fd()
    }

    /// How long poll would block now, in ms, for embedding (`uv_backend_timeout`): `None` for
    /// no limit, 0 whenever anything is queued.
    pub fn backend_timeout(&self) -> Option<u64> {
        if self.closed.get() {
            return Some(0);
        }
        self.poll_timeout()
    }

    /// Calls `visit` with every callback the loop holds (for a host garbage collector, such as
    /// Python's `__traverse__`), but for immediates in a compact [`Callback::Slot`] that shows
    /// none ([`crate::ImmediateSlot::callback`]). Visits nothing if the state is busy, which cannot happen while
    /// no loop method is running on this thread.
    pub fn visit_callbacks(&self, mut visit: impl FnMut(&C)) {
        let Ok(st) = self.state.try_borrow() else {
            return;
        };
        st.timers
            .slab
            .iter()
            .filter_map(|(_, t)| t.cb.as_ref())
            .for_each(&mut visit);
        st.immediates
            .iter()
            .filter_map(|(_, i)| i.cb)
            .for_each(&mut visit);
        st.handles
            .slab
            .iter()
            .filter_map(|(_, h)| h.cb.as_ref())
            .for_each(&mut visit);
        st.watchers
            .fds
            .iter()
            .filter_map(|(_, w)| w.cb.as_ref())
            .for_each(&mut visit);
        st.watchers
            .signals
            .iter()
            .filter_map(|(_, s)| s.cb.as_ref())
            .for_each(&mut visit);
        st.works
            .iter()
            .filter_map(|(_, w)| w.after.as_ref())
            .for_each(&mut visit);
        st.streams
            .slab
            .iter()
            .flat_map(|(_, s)| s.callbacks())
            .for_each(&mut visit);
        st.processes.callbacks().for_each(&mut visit);
        st.ticks
            .iter()
            .chain(st.microtasks.iter())
            .for_each(&mut visit);
        st.pending
            .iter()
            .chain(st.pending_batch.iter())
            .map(Pending::callback)
            .for_each(&mut visit);
        for closing in st.closing.iter().chain(st.close_batch.iter()) {
            closing.cb.iter().for_each(&mut visit);
            closing.cancelled.iter().for_each(|d| visit(&d.cb));
        }
        st.calls.iter().for_each(&mut visit);
        self.inbox.visit_calls(&mut visit);
    }

    // ----- closing --------------------------------------------------------------------------

    /// Closes the loop: everything still queued is dropped without running, work not yet
    /// started is cancelled (its callback is dropped, not called), running jobs finish, the
    /// pool is joined, and remotes answer [`Error::Closed`]. A second call does nothing. In a
    /// child of `fork()` it only releases the callbacks: the child must not touch the epoll
    /// instance it shares with the parent, nor wait for pool threads it does not have.
    /// [`Error::InCallback`] from inside a callback.
    pub fn close(&self) -> Result<(), Error> {
        if self.closed.get() {
            return Ok(());
        }
        if self.depth.get() > 0 || self.running.get() {
            return Err(Error::InCallback);
        }
        self.closed.set(true);
        // A child of fork() shares the parent's epoll instance and has none of its pool
        // threads: it must neither deregister anything nor join anything (docs/threads.md).
        let forked = std::process::id() != self.pid;
        let calls = if forked {
            self.inbox.close_forked()
        } else {
            self.inbox.close()
        };
        let poller = &self.inbox.poller;
        let (dropped, jobs, ready) = {
            let mut st = self.st();
            let st = &mut *st;
            let mut dropped: Vec<C> = Vec::new();
            dropped.extend(st.timers.drain_all());
            dropped.extend(st.immediates.drain_all());
            dropped.extend(st.handles.drain_all());
            dropped.extend(if forked {
                st.watchers.forget_all()
            } else {
                st.watchers.drain_all(poller)
            });
            if !forked {
                // Nothing queued starts from now on (a forked child has no pool threads).
                st.pool.stop_taking();
            }
            dropped.extend(st.works.drain_all().into_iter().filter_map(|w| w.after));
            dropped.extend(st.ticks.drain(..));
            dropped.extend(st.microtasks.drain(..));
            dropped.extend(st.pending.drain(..).map(Pending::into_callback));
            dropped.extend(st.pending_batch.drain(..).map(Pending::into_callback));
            let closing: Vec<Closing<C>> = st
                .closing
                .drain(..)
                .chain(st.close_batch.drain(..))
                .collect();
            for c in closing {
                dropped.extend(c.cb);
                dropped.extend(c.cancelled.into_iter().map(|d| d.cb));
            }
            let streams = if forked {
                st.streams.forget_all()
            } else {
                st.streams.drain_all(poller)
            };
            for mut stream in streams {
                if let Some(path) = stream.bound_path.take() {
                    let _ = std::fs::remove_file(path);
                }
                dropped.extend(stream.take_callbacks());
            }
            dropped.extend(st.processes.drain_all((!forked).then_some(poller)));
            st.handle_batch.clear();
            st.cancelled.clear();
            if let Some((reader, _)) = st.wakeup.take() {
                if !forked {
                    let _ = poller.delete(&reader);
                }
            }
            let ready: Vec<PollItem> = st.poll_ready.drain(..).collect();
            dropped.extend(st.calls.drain(..));
            let jobs = if forked {
                st.pool.abandon()
            } else {
                // Joining waits for running jobs, which may need the host's lock (a Python
                // job takes the GIL), so it is a blocking wait like a poll.
                let pool = &mut st.pool;
                C::blocking(move || pool.shutdown())
            };
            (dropped, jobs, ready)
        };
        // Dropped outside the borrow: a host destructor may call back into the (closed) loop.
        drop(dropped);
        drop(jobs);
        drop(ready);
        drop(calls);
        let promise_tracker = self.promise_tracker.borrow_mut().take();
        drop(promise_tracker);
        if !forked {
            let mut late = Vec::new();
            self.inbox.take_completions(&mut late);
            drop(late);
        }
        // Nothing is registered any more: the epoll fd and the wake-up eventfd go now, not
        // when the last remote lets go of the inbox (a forked child closes only its own
        // copies of them).
        crate::poller::release(&self.inbox.poller);
        Ok(())
    }

    // ----- invoking callbacks ---------------------------------------------------------------

    /// Runs one host callback with no borrow of the state held; an error it returns goes to
    /// [`Callback::uncaught`] while it is still the running callback.
    #[inline]
    pub(crate) fn invoke(
        &self,
        kind: Kind,
        id: u64,
        cb: &mut C,
        event: Event<'_>,
    ) -> Result<(), C::Error> {
        let previous = self.current.replace(id);
        // Host code runs: the time may have moved on since the last reading.
        self.clock_read_ns.set(None);
        let result = if self.tracing.get() {
            self.invoke_traced(kind, id, cb, event)
        } else {
            let _depth = DepthGuard::enter(&self.depth);
            cb.call(self, event).or_else(|err| C::uncaught(self, err))
        };
        self.current.set(previous);
        result
    }

    /// The handle whose callback is running now: a stream's for its read, write, connect or
    /// shutdown callback, a server's for a connection, a timer's, ... (`None` outside a
    /// callback and for callbacks of no handle: ticks, microtasks, threadsafe calls). A host
    /// whose callbacks cannot hold their own handle's id (C's, made before the id exists)
    /// passes it on from here.
    pub fn current_handle(&self) -> Option<Id> {
        match self.current.get() {
            0 => None,
            raw => Some(Id::from_u64(raw)),
        }
    }

    #[cold]
    fn invoke_traced(
        &self,
        kind: Kind,
        id: u64,
        cb: &mut C,
        event: Event<'_>,
    ) -> Result<(), C::Error> {
        let label = if self.recording.get() {
            cb.label()
        } else {
            None
        };
        let start_ns = self.clock.hrtime_ns();
        let began = self.emit_trace(kind, id, true, start_ns, cb);
        let result = {
            let _depth = DepthGuard::enter(&self.depth);
            // A hook failing before the callback stands in for it: the callback does not run.
            began
                .and_then(|()| cb.call(self, event))
                .or_else(|err| C::uncaught(self, err))
        };
        let end_ns = self.clock.hrtime_ns();
        let ended = self.emit_trace(kind, id, false, end_ns, cb).or_else(|err| {
            let _depth = DepthGuard::enter(&self.depth);
            C::uncaught(self, err)
        });
        if self.recording.get() {
            let record = TraceRecord {
                iteration: self.iteration.get(),
                phase: self.phase.get(),
                kind,
                id,
                label,
                start_ns,
                duration_ns: end_ns.saturating_sub(start_ns),
            };
            self.st().timeline.push(record);
        }
        result.and(ended)
    }

    /// Tells the hook (if one is set) about `cb`; what the hook returned.
    fn emit_trace(
        &self,
        kind: Kind,
        id: u64,
        begin: bool,
        time_ns: u64,
        cb: &C,
    ) -> Result<(), C::Error> {
        // The hook is taken out while it runs, so it may itself use the loop.
        let Some(mut hook) = self.hook.try_borrow_mut().ok().and_then(|mut h| h.take()) else {
            return Ok(());
        };
        let event = TraceEvent {
            iteration: self.iteration.get(),
            phase: self.phase.get(),
            kind,
            id,
            begin,
            time_ns,
        };
        let result = {
            let _depth = DepthGuard::enter(&self.depth);
            hook(self, &event, cb)
        };
        // Put it back unless the hook was replaced or removed while it ran.
        if let Ok(mut slot) = self.hook.try_borrow_mut() {
            if slot.is_none() && self.hook_set.get() {
                *slot = Some(hook);
            }
        }
        result
    }
}

impl<C: Callback> Drop for Loop<C> {
    fn drop(&mut self) {
        // Cannot fail here: dropping needs ownership, so no callback is running.
        let _ = self.close();
    }
}

/// Counts a running host callback for as long as it lives (also across a panic).
pub(crate) struct DepthGuard<'a>(&'a Cell<u32>);

impl<'a> DepthGuard<'a> {
    pub(crate) fn enter(depth: &'a Cell<u32>) -> Self {
        depth.set(depth.get() + 1);
        DepthGuard(depth)
    }
}

impl Drop for DepthGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}
