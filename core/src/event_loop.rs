//! [`Loop`]: the event loop's state and its scheduling API. The phases themselves are in
//! `run.rs`.
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
use crate::clock::{Clock, ClockKind};
use crate::error::Error;
use crate::handles::{HandleKind, HandleTable};
use crate::id::{next_loop_tag, Id, IdKind, Slab};
use crate::immediates::ImmediateQueue;
use crate::inbox::{Completion, Inbox};
use crate::metrics::{DelayMonitor, DelayStats, LoopStats, Metrics, Utilization};
use crate::net::stream::Deferred;
use crate::net::Streams;
use crate::options::{DrainMode, LoopOptions};
use crate::poll::{Interest, Watchers, WAKEUP_KEY};
use crate::pool::{Job, Pool, RawJob, Work, WorkOutcome};
use crate::process::Processes;
use crate::remote::Remote;
use crate::timers::{coerce_delay, TimerQueue};
use crate::trace::{Kind, Phase, TraceEvent, TraceHook, TraceRecord};

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

pub(crate) struct WorkEntry<C> {
    pub(crate) after: Option<C>,
    /// The job's number in the pool's queue (see [`Pool::cancel`]).
    pub(crate) number: u64,
    /// The stream whose host name this job resolves (the loop's own job, no host callback).
    pub(crate) connect: Option<Id>,
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

/// Something the poll phase found ready, waiting for its callback.
pub(crate) enum PollItem {
    Watcher {
        id: Id,
        readable: bool,
        writable: bool,
    },
    Signal {
        id: Id,
        signum: i32,
    },
    Work(Completion),
    Stream {
        id: Id,
        readable: bool,
        writable: bool,
    },
    /// A `SIGCHLD` arrived: look for this loop's children that exited.
    Reap,
}

/// Where `run` is; kept across calls so that a `run` stopped by a failing callback resumes
/// exactly where it stopped.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Step {
    Start,
    FirstTimers,
    Pending,
    Idle,
    Prepare,
    PollWait,
    PollDispatch,
    PendingRerun(u8),
    Check,
    Immediates,
    Close,
    LateTimers,
    RoundEnd,
    Finish,
}

impl Step {
    pub(crate) fn phase(self) -> Option<Phase> {
        match self {
            Step::Start | Step::RoundEnd | Step::Finish => None,
            Step::FirstTimers | Step::LateTimers => Some(Phase::Timers),
            Step::Pending | Step::PendingRerun(_) => Some(Phase::Pending),
            Step::Idle => Some(Phase::Idle),
            Step::Prepare => Some(Phase::Prepare),
            Step::PollWait | Step::PollDispatch => Some(Phase::Poll),
            Step::Check | Step::Immediates => Some(Phase::Check),
            Step::Close => Some(Phase::Close),
        }
    }
}

pub(crate) struct State<C: Callback> {
    pub(crate) timers: TimerQueue<C>,
    pub(crate) immediates: ImmediateQueue<C>,
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
    /// The current phase's batch was taken (so a resumed phase does not take it again).
    pub(crate) phase_started: Cell<bool>,
    /// An iteration was started by a timers phase and its pending phase has not begun yet.
    pub(crate) fresh_iteration: Cell<bool>,
    pub(crate) can_sleep: Cell<bool>,
    /// A trace hook is set or the recorder is on: callbacks take the traced path.
    pub(crate) tracing: Cell<bool>,
    pub(crate) recording: Cell<bool>,
    /// A trace hook is installed (it is taken out of `hook` while it runs).
    hook_set: Cell<bool>,
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
            phase_started: Cell::new(false),
            fresh_iteration: Cell::new(false),
            can_sleep: Cell::new(true),
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

    /// The clock this loop runs on.
    pub fn clock_kind(&self) -> ClockKind {
        self.clock.kind()
    }

    /// The drain mode this loop runs in.
    pub fn drain_mode(&self) -> DrainMode {
        self.drain_mode
    }

    /// The worker pool's size.
    pub fn threadpool_size(&self) -> usize {
        self.st().pool.size()
    }

    // ----- timers -------------------------------------------------------------------------

    fn add_timer(&self, delay_ms: f64, cb: C, repeat: bool) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        // A fresh clock read, as Node's insert() does with getLibuvNow() (rule 4.2).
        let start = self.clock.update();
        Ok(self
            .st()
            .timers
            .schedule(cb, coerce_delay(delay_ms), repeat, start))
    }

    /// `setTimeout`: runs `cb` once, `delay_ms` from now (Node's coercion: < 1, NaN and
    /// > 2**31-1 become 1; fractions are truncated).
    ///
    /// On a closed loop, like every call that takes a callback, it is [`Refused`] with
    /// [`Error::Closed`].
    pub fn set_timeout(&self, delay_ms: f64, cb: C) -> Result<Id, Refused<C>> {
        self.add_timer(delay_ms, cb, false)
    }

    /// `setInterval`: runs `cb` every `delay_ms` until cleared.
    pub fn set_interval(&self, delay_ms: f64, cb: C) -> Result<Id, Refused<C>> {
        self.add_timer(delay_ms, cb, true)
    }

    /// `clearTimeout` / `clearInterval` (also of a dormant timer: see [`Loop::hold_timer`]).
    /// [`Error::NotFound`] for a timer that was cleared or, unheld, already fired (Node ignores
    /// those; bindings may too).
    pub fn clear_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let cleared = self.st().timers.clear(id);
        match cleared {
            Some(cb) => {
                drop(cb);
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// `timeout.refresh()`: re-arms the timer with a fresh start, keeping its delay, at the end
    /// of its delay's list. This also re-arms a one-shot timer whose callback is running (from
    /// that callback) and a dormant one (held and fired: [`Loop::hold_timer`]), with the same
    /// callback and its ref state. [`Error::NotFound`] for a cleared timer, or an unheld one that
    /// fired.
    pub fn refresh_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let now = self.clock.update();
        if self.st().timers.refresh(id, now) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Holds a timer for an owner that may refresh it after it fired (Node's `Timeout` object,
    /// which stays refreshable as long as it is not cleared). A held one-shot timer that fires
    /// is not forgotten: it stays *dormant*, with its callback, until [`Loop::refresh_timer`]
    /// re-arms it, [`Loop::clear_timer`] or [`Loop::close_handle`] ends it, or
    /// [`Loop::release_timer`] lets go of it. While dormant it is not active, keeps nothing
    /// alive and answers [`Loop::timer_has_ref`] with its ref state. No effect on an interval
    /// (it never stops by firing). [`Error::NotFound`] for a timer that is gone.
    pub fn hold_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        if self.st().timers.hold(id) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// The owner of a held timer lets go of it: a dormant timer is forgotten (its callback
    /// dropped); an armed one (or one whose callback is running) is forgotten once it fired, as
    /// if it had never been held. [`Error::NotFound`] for a timer that is gone.
    pub fn release_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let released = self.st().timers.release(id);
        match released {
            Some(cb) => {
                drop(cb);
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// `ref()` / `unref()` of a timer.
    pub fn set_timer_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.check_open()?;
        if self.st().timers.set_ref(id, refed) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `hasRef()` of a timer.
    pub fn timer_has_ref(&self, id: Id) -> Result<bool, Error> {
        self.check_open()?;
        self.st()
            .timers
            .slab
            .get(id)
            .map(|t| t.refed)
            .ok_or(Error::NotFound)
    }

    /// Whether the timer is armed (false once a one-shot timer has fired, also while it is
    /// dormant, or was cleared).
    pub fn timer_active(&self, id: Id) -> bool {
        !self.closed.get() && self.st().timers.slab.get(id).is_some_and(|t| t.linked())
    }

    // ----- immediates, ticks, microtasks, pending ----------------------------------------

    /// `setImmediate`: runs `cb` in the check phase (the next one if this is called from it).
    pub fn set_immediate(&self, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        Ok(self.st().immediates.push(cb))
    }

    /// `clearImmediate`. [`Error::NotFound`] if it already ran or was cleared.
    pub fn clear_immediate(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let cb = self.st().immediates.clear(id);
        match cb {
            Some(cb) => {
                drop(cb);
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// `ref()` / `unref()` of an immediate.
    pub fn set_immediate_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.check_open()?;
        if self.st().immediates.set_ref(id, refed) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `hasRef()` of an immediate.
    pub fn immediate_has_ref(&self, id: Id) -> Result<bool, Error> {
        self.check_open()?;
        self.st()
            .immediates
            .get(id)
            .map(|i| i.refed)
            .ok_or(Error::NotFound)
    }

    /// Whether the immediate is still waiting to run.
    pub fn immediate_active(&self, id: Id) -> bool {
        !self.closed.get() && self.st().immediates.contains(id)
    }

    /// `process.nextTick`: runs `cb` in the next drain, before any microtask (rule 2).
    pub fn next_tick(&self, cb: C) -> Result<(), Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        self.st().ticks.push_back(cb);
        Ok(())
    }

    /// `queueMicrotask`: runs `cb` in the next drain, after the ticks (rule 2).
    pub fn queue_microtask(&self, cb: C) -> Result<(), Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        self.st().microtasks.push_back(cb);
        Ok(())
    }

    /// Queues `cb` for the next pending phase to begin (libuv's deferred I/O callbacks).
    pub fn queue_pending(&self, cb: C) -> Result<(), Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        self.st().pending.push_back(Pending::Call(cb));
        Ok(())
    }

    // ----- idle, prepare, check handles --------------------------------------------------

    /// Adds and starts an idle, prepare or check handle: `cb` runs once every iteration in its
    /// phase until stopped.
    pub fn add_handle(&self, kind: HandleKind, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        let mut st = self.st();
        let id = st.handles.add(kind, cb);
        st.handles.start(id);
        Ok(id)
    }

    /// Starts a stopped handle (no-op if it is active).
    pub fn start_handle(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        self.st()
            .handles
            .start(id)
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Stops a handle (no-op if it is stopped).
    pub fn stop_handle(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        self.st()
            .handles
            .stop(id)
            .then_some(())
            .ok_or(Error::NotFound)
    }

    // ----- fd and signal watchers ----------------------------------------------------------

    /// `uv_poll_t`: calls `cb` with [`Event::Io`] in the poll phase while `fd` is ready for
    /// `interest` (level-triggered). A negative or unwatchable fd is refused.
    pub fn watch_fd(&self, fd: RawFd, interest: Interest, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        let poller = &self.inbox.poller;
        self.st().watchers.watch(poller, fd, interest, cb)
    }

    /// (Re)starts an fd watcher with new interests.
    pub fn start_watcher(&self, id: Id, interest: Interest) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.start_fd(poller, id, interest)
    }

    /// Stops an fd watcher.
    pub fn stop_watcher(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.stop_fd(poller, id)
    }

    /// `ref()` / `unref()` of an fd watcher.
    pub fn set_watcher_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.check_open()?;
        self.st()
            .watchers
            .set_fd_ref(id, refed)
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Whether the watcher is started.
    pub fn watcher_active(&self, id: Id) -> bool {
        !self.closed.get() && self.st().watchers.fds.get(id).is_some_and(|w| w.active)
    }

    /// `uv_signal_t`: calls `cb` with [`Event::Signal`] in the poll phase each time the process
    /// receives `signum`. Several watchers and several loops may watch one signal.
    pub fn on_signal(&self, signum: i32, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        let poller = &self.inbox.poller;
        self.st().watchers.watch_signal(poller, signum, cb)
    }

    /// Restarts a stopped signal watcher.
    pub fn start_signal(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.start_signal(poller, id)
    }

    /// Stops a signal watcher.
    pub fn stop_signal(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.stop_signal(poller, id)
    }

    /// `ref()` / `unref()` of a signal watcher.
    pub fn set_signal_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.check_open()?;
        self.st()
            .watchers
            .set_signal_ref(id, refed)
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Whether the signal watcher is started.
    pub fn signal_active(&self, id: Id) -> bool {
        !self.closed.get() && self.st().watchers.signals.get(id).is_some_and(|s| s.active)
    }

    /// An fd that the host's signal machinery may write to (Python's `signal.set_wakeup_fd`):
    /// a byte written to it wakes a blocked poll, after which [`Callback::after_wait`] runs. It
    /// is no handle: it keeps nothing alive and never calls a callback.
    pub fn signal_wakeup_fd(&self) -> Result<RawFd, Error> {
        self.check_open()?;
        let mut st = self.st();
        if let Some((_, writer)) = &st.wakeup {
            return Ok(writer.as_raw_fd());
        }
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        // SAFETY: the reader lives in the loop state until close(), which deletes it first.
        unsafe {
            self.inbox.poller.add_with_mode(
                reader.as_raw_fd(),
                crate::poller::Event::readable(WAKEUP_KEY),
                crate::poller::PollMode::Level,
            )?
        };
        let fd = writer.as_raw_fd();
        st.wakeup = Some((reader, writer));
        Ok(fd)
    }

    // ----- work and threadsafe calls ------------------------------------------------------

    /// `uv_queue_work`: runs `job` on a pool thread, then `after` (if any) with
    /// [`Event::Work`] on the loop thread in the poll phase, in completion order.
    pub fn queue_work(&self, job: Job, after: Option<C>) -> Result<Id, Refused<Option<C>>> {
        self.submit_work(Work::Boxed(job), after)
    }

    /// [`Loop::queue_work`] for a job that is a plain function and its arguments (no
    /// allocation per job); it completes with [`WorkOutcome::Done`] holding `()`.
    pub fn queue_raw_work(&self, job: RawJob, after: Option<C>) -> Result<Id, Refused<Option<C>>> {
        self.submit_work(Work::Raw(job), after)
    }

    fn submit_work(&self, job: Work, after: Option<C>) -> Result<Id, Refused<Option<C>>> {
        if let Err(error) = self.check_open() {
            return Err(Refused {
                error,
                callback: after,
            });
        }
        let refused = {
            let mut st = self.st();
            let st = &mut *st;
            // Insert first so the job knows its id; remove again if no thread could be started.
            let id = st.works.insert(WorkEntry {
                after: None,
                number: 0,
                connect: None,
            });
            match st.pool.submit(id, job) {
                Ok(number) => {
                    let entry = st.works.get_mut(id).expect("just inserted");
                    entry.after = after;
                    entry.number = number;
                    return Ok(id);
                }
                Err((err, job)) => {
                    st.works.remove(id);
                    (err, job)
                }
            }
        };
        let (err, job) = refused;
        drop(job);
        Err(Refused {
            error: Error::Io(err),
            callback: after,
        })
    }

    /// `uv_cancel`: cancels a work request that has not started; its callback then gets
    /// [`WorkOutcome::Cancelled`] in the next poll phase. [`Error::Busy`] once it started,
    /// [`Error::NotFound`] once it was delivered.
    pub fn cancel_work(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let mut st = self.st();
        let number = st.works.get(id).ok_or(Error::NotFound)?.number;
        if st.pool.cancel(number) {
            st.cancelled.push(Completion {
                id,
                outcome: WorkOutcome::Cancelled,
            });
            Ok(())
        } else if st.cancelled.iter().any(|c| c.id == id) {
            Ok(()) // cancelled twice: the first cancel still stands
        } else {
            Err(Error::Busy)
        }
    }

    /// Whether the work request's callback has yet to run.
    pub fn work_pending(&self, id: Id) -> bool {
        !self.closed.get() && self.st().works.contains(id)
    }

    /// A [`Remote`] for other threads to queue callbacks onto this loop.
    pub fn remote(&self) -> Result<Remote<C>, Error> {
        self.check_open()?;
        Ok(Remote {
            inbox: Arc::clone(&self.inbox),
        })
    }

    // ----- time ---------------------------------------------------------------------------

    /// The loop's cached time in ms since it was created (`uv_now`).
    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Refreshes the cached time (`uv_update_time`).
    pub fn update_time(&self) {
        self.clock.update();
    }

    /// A monotonic clock in ns (virtual on the virtual clock).
    pub fn hrtime(&self) -> u64 {
        self.clock.hrtime_ns()
    }

    /// Virtual clock only: moves time forward `ms`, as if a callback had blocked that long.
    /// Timers that become due run in the next timers phase.
    pub fn advance(&self, ms: u64) -> Result<(), Error> {
        self.check_open()?;
        if !self.clock.is_virtual() {
            return Err(Error::NeedsVirtualClock);
        }
        self.clock.advance(ms);
        self.clock.update();
        Ok(())
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

    // ----- tracing and monitoring -----------------------------------------------------------

    /// Sets (or removes) the hook told before and after every callback.
    pub fn set_trace(&self, hook: Option<TraceHook<C>>) {
        self.hook_set.set(hook.is_some());
        self.tracing.set(hook.is_some() || self.recording.get());
        let old = self
            .hook
            .try_borrow_mut()
            .map(|mut slot| std::mem::replace(&mut *slot, hook));
        drop(old);
    }

    /// Starts or stops recording the timeline in memory (no host call per callback).
    pub fn record(&self, enabled: bool) {
        self.recording.set(enabled);
        self.tracing.set(enabled || self.hook_set.get());
    }

    /// Whether `record(true)` is on.
    pub fn is_recording(&self) -> bool {
        self.recording.get()
    }

    /// The recorded timeline so far.
    pub fn timeline(&self) -> Vec<TraceRecord<C::Label>> {
        self.state.borrow().timeline.clone()
    }

    /// Empties the recorded timeline.
    pub fn clear_timeline(&self) {
        self.st().timeline.clear();
    }

    /// Counters of what the loop did.
    pub fn metrics(&self) -> Metrics {
        let st = self.state.borrow();
        Metrics {
            iterations: st.stats.iterations,
            events: st.stats.events,
            events_waiting: st.stats.events_waiting,
            pool_queued: st.pool.queued(),
            pool_running: st.pool.running(),
        }
    }

    /// Idle (blocked in poll) and active time since the loop was created.
    pub fn utilization(&self) -> Utilization {
        let idle_ns = self.state.borrow().stats.idle_ns;
        let total_ns = self.clock.real_ns();
        Utilization {
            idle_ms: idle_ns as f64 / 1e6,
            active_ms: total_ns.saturating_sub(idle_ns) as f64 / 1e6,
        }
    }

    /// Starts or stops the event-loop delay monitor.
    pub fn set_delay_monitor(&self, enabled: bool) {
        self.st().delay.set_enabled(enabled);
    }

    /// Whether the delay monitor is on.
    pub fn delay_monitor_enabled(&self) -> bool {
        self.state.borrow().delay.enabled()
    }

    /// Forgets the delay samples so far.
    pub fn reset_delay_monitor(&self) {
        self.st().delay.reset();
    }

    /// The delay histogram so far.
    pub fn delay_stats(&self) -> DelayStats {
        self.state.borrow().delay.stats()
    }

    /// One percentile (0..=100) of the delay histogram, in ns.
    pub fn delay_percentile(&self, percentile: f64) -> u64 {
        self.state.borrow().delay.percentile(percentile)
    }

    /// Calls `visit` with every callback the loop holds (for a host garbage collector, such as
    /// Python's `__traverse__`). Visits nothing if the state is busy, which cannot happen while
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
        st.immediates.iter().for_each(|(_, i)| visit(i.cb));
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
        // Nothing is registered any more: the epoll fd goes now, not when the last remote
        // lets go of the inbox (a forked child closes only its own copy of the fd).
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
