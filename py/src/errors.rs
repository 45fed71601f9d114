//! The module's exceptions, and how the core's errors read in Python.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
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

/// A core error as the Python exception a user expects.
pub(crate) fn core_error(err: CoreError) -> PyErr {
    match err {
        CoreError::Closed => loop_closed(),
        CoreError::InvalidArgument(what) => PyValueError::new_err(what),
        CoreError::Io(err) => io_error(err),
        other @ (CoreError::NotFound | CoreError::InCallback | CoreError::Busy) => {
            PyRuntimeError::new_err(other.to_string())
        }
    }
}

/// An I/O error as `OSError` (with its errno subclass), except bad input (a corrupt zlib
/// stream, a path with a NUL byte), which is a `ValueError`.
pub(crate) fn io_error(err: std::io::Error) -> PyErr {
    match err.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            PyValueError::new_err(err.to_string())
        }
        _ => PyErr::from(err),
    }
}
