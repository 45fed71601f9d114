//! The module's exceptions, and how the core's errors read in Python.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyErr;

use phaseloop_core::Error as CoreError;

create_exception!(
    phaseloop,
    Error,
    PyException,
    "The base of phaseloop's own exceptions."
);
create_exception!(
    phaseloop,
    LoopClosed,
    Error,
    "The loop was closed: nothing can be scheduled or run on it any more."
);
create_exception!(
    phaseloop,
    Cancelled,
    Error,
    "Passed as `error` to a work callback whose job was cancelled before it started."
);
create_exception!(
    phaseloop,
    AggregateError,
    Error,
    "Every promise given to `Loop.any` rejected; `errors` lists the reasons."
);
create_exception!(
    phaseloop,
    UnhandledRejection,
    Error,
    "A promise rejected with no handler when a drain ended; `reason` is the reason (also the \
     `__cause__` when it is an exception) and `promise` the promise."
);
create_exception!(
    phaseloop,
    Rejection,
    Error,
    "Raised at an `await` of a promise rejected with a reason that is no exception (JavaScript \
     can reject with any value); `reason` is that value."
);

/// Class-level defaults of the attributes each instance sets (`errors`, `reason`, `promise`), so
/// the classes show them as the stubs declare them.
pub(crate) fn declare_attributes(py: Python<'_>) -> PyResult<()> {
    py.get_type::<AggregateError>()
        .setattr("errors", PyTuple::empty(py))?;
    let unhandled = py.get_type::<UnhandledRejection>();
    unhandled.setattr("reason", py.None())?;
    unhandled.setattr("promise", py.None())?;
    py.get_type::<Rejection>().setattr("reason", py.None())
}

/// `LoopClosed` with the core's wording.
pub(crate) fn loop_closed() -> PyErr {
    LoopClosed::new_err("the loop is closed")
}

/// A core error, or a refused call's (its callback dropped here, with the GIL), as the Python
/// exception a user expects.
pub(crate) fn core_error(err: impl Into<CoreError>) -> PyErr {
    match err.into() {
        CoreError::Closed => loop_closed(),
        CoreError::InvalidArgument(what) => PyValueError::new_err(what),
        CoreError::Io(err) => io_error(err),
        other @ (CoreError::NotFound
        | CoreError::InCallback
        | CoreError::Busy
        | CoreError::NeedsVirtualClock) => PyRuntimeError::new_err(other.to_string()),
    }
}

/// An I/O error as Python raises its own: the `OSError` subclass of its errno (`EBADF` is an
/// `OSError`, `ENOENT` a `FileNotFoundError`, ...) with `errno` and `strerror` set, except bad
/// input (a corrupt zlib stream, a path with a NUL byte), which is a `ValueError`. The one
/// conversion of the core's I/O errors; the C binding's `io_status` gives the same errno.
pub(crate) fn io_error(err: std::io::Error) -> PyErr {
    os_error(err, None)
}

/// [`io_error`] of an operation on a file: `filename` is set too.
pub(crate) fn io_error_at(err: std::io::Error, path: &Path) -> PyErr {
    os_error(err, Some(path))
}

/// A native file job's I/O error, with the path it was about (so `filename` can be set).
#[derive(Debug)]
pub(crate) struct FileError {
    pub(crate) err: std::io::Error,
    pub(crate) path: PathBuf,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.err, self.path.display())
    }
}

impl std::error::Error for FileError {}

/// The errno an I/O error stands for: the operating system's, else the closest one for the
/// kinds the C binding names too (`PL_ENOENT`, `PL_ENOMEM`).
fn errno_of(err: &std::io::Error) -> Option<i32> {
    match err.raw_os_error() {
        Some(errno) if errno > 0 => Some(errno),
        _ => match err.kind() {
            ErrorKind::NotFound => Some(libc::ENOENT),
            ErrorKind::OutOfMemory => Some(libc::ENOMEM),
            _ => None,
        },
    }
}

/// The C library's message for `errno` (what `os.strerror` says).
fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)" to strerror's sentence.
    match text.rfind(" (os error") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

fn os_error(err: std::io::Error, path: Option<&Path>) -> PyErr {
    let Some(errno) = errno_of(&err) else {
        return match err.kind() {
            ErrorKind::InvalidInput | ErrorKind::InvalidData => {
                PyValueError::new_err(err.to_string())
            }
            // No errno to give: the subclass of its kind, as Python's own conversion.
            _ => PyErr::from(err),
        };
    };
    // `OSError(errno, strerror[, filename])` makes the subclass of the errno itself.
    let strerror = strerror(errno);
    match path {
        Some(path) => PyOSError::new_err((errno, strerror, path.as_os_str().to_os_string())),
        None => PyOSError::new_err((errno, strerror)),
    }
}
