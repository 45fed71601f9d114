//! Phases, callback kinds, the trace hook and the in-memory timeline recorder.

use crate::callback::Callback;
use crate::event_loop::Loop;

/// A phase of one loop iteration (ordering rule 3, docs/ordering.md).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Phase {
    /// Due timers and intervals.
    Timers,
    /// Deferred callbacks (`queue_pending`).
    Pending,
    /// Idle handles.
    Idle,
    /// Prepare handles.
    Prepare,
    /// Waiting for I/O, pool completions, threadsafe calls and signals, then their callbacks.
    Poll,
    /// Check handles, then immediates.
    Check,
    /// Close callbacks.
    Close,
}

/// What kind of callback ran.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Kind {
    /// A one-shot timer.
    Timeout,
    /// An interval.
    Interval,
    /// A pending (deferred) callback.
    Pending,
    /// An idle handle.
    Idle,
    /// A prepare handle.
    Prepare,
    /// An fd watcher.
    Io,
    /// A work request's completion.
    Work,
    /// A threadsafe call.
    Threadsafe,
    /// A signal watcher.
    Signal,
    /// An immediate.
    Immediate,
    /// A check handle.
    Check,
    /// A close callback.
    Close,
    /// A next-tick callback.
    Tick,
    /// A microtask.
    Microtask,
    /// A server's connection callback (an accepted stream, or an accept error).
    Connection,
    /// A stream's connect callback.
    Connect,
    /// A stream's read callback (data, end or error).
    Read,
    /// A write's callback.
    Write,
    /// A shutdown's callback.
    Shutdown,
    /// A UDP datagram received or a UDP send finished.
    Udp,
    /// A child process's exit callback.
    Exit,
}

/// What the trace hook is told, once before and once after every callback.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// How many iterations had started (0 during the main script).
    pub iteration: u64,
    /// The phase, or `None` for ticks and microtasks drained after the main script.
    pub phase: Option<Phase>,
    /// What kind of callback.
    pub kind: Kind,
    /// The id of its timer, immediate, handle ... as `u64`; 0 for ticks, microtasks, pending,
    /// threadsafe and close callbacks, which have none.
    pub id: u64,
    /// `true` before the callback, `false` after it.
    pub begin: bool,
    /// The loop's `hrtime` in ns.
    pub time_ns: u64,
}

/// A hook told about every callback (see [`crate::Loop::set_trace`]): called with the loop, the
/// event and the callback itself (what a host shows of it: the Python binding's `trace` gets the
/// callable), once before and once after the callback runs.
///
/// An error the hook returns is handled as the callback's own would be ([`Callback::uncaught`]);
/// one returned before the callback means it does not run.
pub type TraceHook<C> =
    Box<dyn FnMut(&Loop<C>, &TraceEvent, &C) -> Result<(), <C as Callback>::Error> + Send>;

/// One callback in the recorded timeline (see [`crate::Loop::record`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord<L> {
    /// How many iterations had started (0 during the main script).
    pub iteration: u64,
    /// The phase, or `None` before the first phase.
    pub phase: Option<Phase>,
    /// What kind of callback.
    pub kind: Kind,
    /// Its id (0 for kinds that have none).
    pub id: u64,
    /// The callback's own label, if it has one.
    pub label: Option<L>,
    /// When it began (`hrtime` ns).
    pub start_ns: u64,
    /// How long it ran, in ns.
    pub duration_ns: u64,
}

impl<C: Callback> Loop<C> {
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
}
