//! Loop options and run modes.

use crate::clock::ClockKind;
use crate::error::Error;

/// When the tick and microtask queues drain (ordering rule 2.2, docs/ordering.md).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub enum DrainMode {
    /// After every macrotask, as Node >= 11 does.
    #[default]
    Callback,
    /// Once after each phase, as Node <= 10 did; for experiments.
    Phase,
}

/// How long [`crate::Loop::run`] runs (libuv's `uv_run_mode`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub enum RunMode {
    /// Until nothing ref'd is left, or `stop()`.
    #[default]
    Default,
    /// One round, blocking in poll if needed.
    Once,
    /// One round, never blocking.
    NoWait,
}

/// The pool size used when neither the option nor `PHASELOOP_THREADPOOL_SIZE` sets one (Node's).
pub const DEFAULT_THREADPOOL_SIZE: usize = 4;
/// The largest pool a loop may have (libuv's `MAX_THREADPOOL_SIZE`).
pub const MAX_THREADPOOL_SIZE: usize = 1024;

/// Options for [`crate::Loop::new`].
#[derive(Clone, Debug, Default)]
pub struct LoopOptions {
    /// Real or virtual time.
    pub clock: ClockKind,
    /// When ticks and microtasks drain.
    pub drain: DrainMode,
    /// Worker threads, 1..=1024; `None` reads `PHASELOOP_THREADPOOL_SIZE`, else 4.
    pub threadpool_size: Option<usize>,
}

impl LoopOptions {
    /// The pool size these options give, after the environment and the default.
    pub fn resolved_threadpool_size(&self) -> Result<usize, Error> {
        let size = match self.threadpool_size {
            Some(size) => size,
            None => match std::env::var("PHASELOOP_THREADPOOL_SIZE") {
                Ok(text) => text.trim().parse().map_err(|_| {
                    Error::InvalidArgument("PHASELOOP_THREADPOOL_SIZE must be an integer 1..1024")
                })?,
                Err(_) => DEFAULT_THREADPOOL_SIZE,
            },
        };
        if (1..=MAX_THREADPOOL_SIZE).contains(&size) {
            Ok(size)
        } else {
            Err(Error::InvalidArgument(
                "threadpool_size must be between 1 and 1024",
            ))
        }
    }
}
