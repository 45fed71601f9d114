//! Errors: the loop's own ([`Error`]) and those of a `run` ([`RunError`]).

use std::fmt;

/// What a loop method can fail with.
#[derive(Debug)]
pub enum Error {
    /// The loop was closed; nothing more can be scheduled or run.
    Closed,
    /// The id names nothing live of the expected kind (finished, cleared, stale or foreign).
    NotFound,
    /// An argument is out of range; the text names it.
    InvalidArgument(&'static str),
    /// The call is not allowed from inside a callback (`run`, `close`).
    InCallback,
    /// The work request already started; it can no longer be cancelled.
    Busy,
    /// The call needs the virtual clock and the loop runs on the real one (`advance`).
    NeedsVirtualClock,
    /// The operating system refused (poller, fd, signal, thread).
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("the loop is closed"),
            Error::NotFound => f.write_str("no such timer, immediate, handle or request"),
            Error::InvalidArgument(what) => f.write_str(what),
            Error::InCallback => f.write_str("not allowed from inside a loop callback"),
            Error::Busy => f.write_str("the work request is already running"),
            Error::NeedsVirtualClock => {
                f.write_str("advance() needs the virtual clock (clock=\"virtual\")")
            }
            Error::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(err)
    }
}

/// Why [`crate::Loop::run`] returned early.
#[derive(Debug)]
pub enum RunError<E> {
    /// A callback failed (ordering rule 8, docs/ordering.md): `run` stopped before the next
    /// callback; a later `run` continues exactly where this one stopped.
    Callback(E),
    /// The loop itself could not run (closed, called from a callback, the poller failed).
    Loop(Error),
}

impl<E> From<Error> for RunError<E> {
    fn from(err: Error) -> Self {
        RunError::Loop(err)
    }
}

impl<E: fmt::Display> fmt::Display for RunError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Callback(err) => write!(f, "callback failed: {err}"),
            RunError::Loop(err) => write!(f, "{err}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for RunError<E> {}
