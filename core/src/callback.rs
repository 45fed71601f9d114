//! What the loop calls: the [`Callback`] trait a host implements, the [`Event`] it is called
//! with, and [`Task`], the boxed closure Rust programs use.
//!
//! The loop is generic over its callback type so that each host stores callbacks its own way
//! without an allocation per schedule: the C binding stores a function pointer and a `void *`,
//! the Python binding an object reference.

use crate::event_loop::Loop;
use crate::immediate_slot::ImmediateSlot;
use crate::work_outcome::WorkOutcome;

/// Something the loop can run: a timer's, immediate's, handle's, tick's, work's ... callback.
///
/// The loop holds no borrow of its state while `call` runs: the callback may schedule, clear,
/// query and close anything on `lp`, its own handle included.
pub trait Callback: Sized + Send + 'static {
    /// What a failing callback returns; `run` stops and hands it back (ordering rule 8,
    /// docs/ordering.md).
    type Error;
    /// A name for the trace recorder (see [`Loop::timeline`]); only asked for while recording.
    type Label: Clone + Send;
    /// Per-loop state of the host, reachable from callbacks through [`Loop::host`] (the Python
    /// binding keeps `on_error` there). `()` when the host needs none.
    type Host: Send + 'static;
    /// The form the host's immediates wait in: `Self` (write `type Slot = Self;`), or a
    /// compact form of the common case when the callback type is larger than that (the C
    /// binding's 16-byte function and `void *`, where its callback is 32 bytes), because a
    /// million queued immediates are a million slots the kernel must fault in. A callback
    /// that does not fit the compact form is kept whole beside the queue; see
    /// [`ImmediateSlot`]. (Rust has no default for an associated type, hence the line every
    /// host writes.)
    type Slot: ImmediateSlot<Self>;

    /// Runs the callback. Repeating callbacks (intervals, idle/prepare/check handles, watchers,
    /// signals) are called once per occurrence.
    fn call(&mut self, lp: &Loop<Self>, event: Event<'_>) -> Result<(), Self::Error>;

    /// The label recorded for this callback in the timeline.
    fn label(&self) -> Option<Self::Label>;

    /// What becomes of an error a callback (or the trace hook, see [`crate::TraceHook`])
    /// returned, decided while it is still the running callback: `Err` stops `run` with it (the
    /// default), `Ok` carries on (the Python binding hands it to `on_error` when one is set).
    #[inline]
    fn uncaught(lp: &Loop<Self>, err: Self::Error) -> Result<(), Self::Error> {
        let _ = lp;
        Err(err)
    }

    /// Called after a timer's callback ran (`call` returned), with whether the loop keeps the
    /// callback: `true` for an interval, a timer its own callback refreshed, a held one-shot
    /// timer (dormant until refreshed, cleared or released: [`Loop::hold_timer`]) and a held
    /// one its callback cleared (dropped right after); `false` for a one-shot timer that is
    /// forgotten now, which drops the callback right after. The C binding lets a forgotten
    /// timeout's callback own its data from then on. The default does nothing.
    #[inline]
    fn fired(&mut self, kept: bool) {
        let _ = kept;
    }

    /// Runs `wait`, a poll that will really block (or, in [`Loop::close`], the join of the
    /// worker pool, whose running jobs may need the host's lock), with the host's lock released
    /// (the Python binding releases the GIL here). The default just runs it.
    fn blocking<R: Send>(wait: impl FnOnce() -> R + Send) -> R {
        wait()
    }

    /// Runs `batch` on a pool thread: the jobs that thread found queued, one after another with
    /// no wait between them (it returns before the thread waits for more). A host whose jobs
    /// need a lock (the Python binding's GIL) can keep it from one job to the next instead of
    /// taking it once per job; it must not hold it when `batch` returns. The default just runs
    /// it.
    fn pool_batch(batch: impl FnOnce()) {
        batch()
    }

    /// Called after every blocking poll returns: a chance to notice an interrupt (Python's
    /// Ctrl-C) and stop `run` with an error. The default does nothing.
    fn after_wait(lp: &Loop<Self>) -> Result<(), Self::Error> {
        let _ = lp;
        Ok(())
    }

    /// Called after every drain of the tick and microtask queues (ordering rule 2.5 in
    /// docs/ordering.md: where unhandled promise rejections are reported). The default does
    /// nothing.
    fn after_drain(lp: &Loop<Self>) -> Result<(), Self::Error> {
        let _ = lp;
        Ok(())
    }
}

/// Why a callback is being called.
#[derive(Debug)]
pub enum Event<'a> {
    /// A timer, immediate, tick, microtask, pending, idle/prepare/check, threadsafe or close
    /// callback simply runs.
    Fire,
    /// An fd watcher's fd is ready.
    Io {
        /// The fd is readable (or hung up).
        readable: bool,
        /// The fd is writable.
        writable: bool,
    },
    /// An fd watcher's fd could not be watched any longer (closed under the watcher: `EBADF`);
    /// the watcher has been stopped.
    IoError(std::io::Error),
    /// A work request finished (or was cancelled); its outcome.
    Work(WorkOutcome),
    /// A watched signal arrived.
    Signal(i32),
    /// A server accepted a connection: the new stream's id (it does not read until
    /// [`Loop::read_start`]), or why accepting failed (`EMFILE`: the waiting connections were
    /// shed).
    Connection(std::io::Result<crate::Id>),
    /// A connect finished (or failed, or was cancelled by a close: `ECANCELED`).
    Connect(std::io::Result<()>),
    /// A stream read: data, its end, or an error.
    Read(crate::net::ReadEvent<'a>),
    /// A write finished: every byte written, or why not (`ECANCELED` when the stream closed
    /// first).
    Written(std::io::Result<()>),
    /// A shutdown finished: the write side is shut.
    Shutdown(std::io::Result<()>),
    /// A UDP socket received a datagram, or receiving failed (a connected socket whose peer
    /// has no listener: `ECONNREFUSED`).
    Datagram(std::io::Result<crate::net::Datagram<'a>>),
    /// A child process exited (or was killed by a signal).
    Exit(crate::process::ExitStatus),
}

/// The error type of [`Task`] callbacks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

type TaskFn = dyn FnMut(&Loop<Task>, Event<'_>) -> Result<(), BoxError> + Send;

/// A boxed Rust closure as a loop callback, with an optional static label.
///
/// ```
/// use phaseloop_core::{Loop, LoopOptions, RunMode, Task};
/// let lp = Loop::<Task>::new(LoopOptions::default()).unwrap();
/// lp.set_timeout(1.0, Task::new(|lp, _| {
///     lp.next_tick(Task::new(|_, _| Ok(())))?;
///     Ok(())
/// }))
/// .unwrap();
/// assert!(!lp.run(RunMode::Default).unwrap());
/// ```
pub struct Task {
    run: Box<TaskFn>,
    label: Option<&'static str>,
}

impl Task {
    /// Wraps a closure.
    pub fn new(
        f: impl FnMut(&Loop<Task>, Event<'_>) -> Result<(), BoxError> + Send + 'static,
    ) -> Task {
        Task {
            run: Box::new(f),
            label: None,
        }
    }

    /// Wraps a closure with a label for the timeline.
    pub fn labeled(
        label: &'static str,
        f: impl FnMut(&Loop<Task>, Event<'_>) -> Result<(), BoxError> + Send + 'static,
    ) -> Task {
        Task {
            run: Box::new(f),
            label: Some(label),
        }
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("label", &self.label).finish()
    }
}

impl Callback for Task {
    type Error = BoxError;
    type Label = &'static str;
    type Host = ();
    type Slot = Self;

    fn call(&mut self, lp: &Loop<Self>, event: Event<'_>) -> Result<(), BoxError> {
        (self.run)(lp, event)
    }

    fn label(&self) -> Option<&'static str> {
        self.label
    }

    /// Reports unhandled promise rejections (see [`Loop::report_rejections`]).
    fn after_drain(lp: &Loop<Self>) -> Result<(), BoxError> {
        lp.report_rejections()
    }
}
