//! How the core's network events reach a Python callback: as `(error, value)` arguments, so
//! that the stream classes of `phaseloop.net` (and `phaseloop.asyncio`'s transports) see every
//! outcome in one shape.
//!
//! | event | arguments |
//! | --- | --- |
//! | a connection | `(None, stream_id)` or `(OSError, None)` |
//! | a read | `(None, bytes)`, `(None, None)` at the end, `(OSError, None)` |
//! | a datagram | `(None, (bytes, (host, port)))` or `(OSError, None)` |
//! | a child's exit | `(exit_code, signal)`, each an int or `None` |
//! | a connect, write or shutdown | `(None,)` or `(OSError,)` |

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use phaseloop_core::{Datagram, ExitStatus, Id, ReadEvent};

use crate::callback::{Deliver, PyCallback};
use crate::errors::io_error;

fn error_object(py: Python<'_>, err: std::io::Error) -> Py<PyAny> {
    io_error(err).into_value(py).into_any()
}

/// Calls `cb(first, second)`.
fn call_two(py: Python<'_>, cb: &PyCallback, args: [Py<PyAny>; 2]) -> PyResult<()> {
    let ptrs: [*mut ffi::PyObject; 2] = [args[0].as_ptr(), args[1].as_ptr()];
    cb.call_with(py, &ptrs)
}

/// A connection: `(None, stream_id)` or `(OSError, None)`.
impl Deliver for std::io::Result<Id> {
    fn deliver(self, py: Python<'_>, cb: &PyCallback) -> PyResult<()> {
        let args = match self {
            Ok(id) => [
                py.None(),
                id.as_u64().into_pyobject(py)?.into_any().unbind(),
            ],
            Err(err) => [error_object(py, err), py.None()],
        };
        call_two(py, cb, args)
    }
}

/// A read: `(None, bytes)`, `(None, None)` at the end, `(OSError, None)`.
impl Deliver for ReadEvent<'_> {
    fn deliver(self, py: Python<'_>, cb: &PyCallback) -> PyResult<()> {
        // A socket transport's dispatch takes the bytes natively, without the arguments below.
        let event = match crate::stream_dispatch::deliver_read(py, cb, self) {
            Ok(delivered) => return delivered,
            Err(event) => event,
        };
        let args = match event {
            ReadEvent::Data(data) => [py.None(), PyBytes::new(py, data).into_any().unbind()],
            ReadEvent::Eof => [py.None(), py.None()],
            ReadEvent::Error(err) => [error_object(py, err), py.None()],
        };
        call_two(py, cb, args)
    }
}

/// A datagram: `(None, (bytes, (host, port)))` or `(OSError, None)`.
impl Deliver for std::io::Result<Datagram<'_>> {
    fn deliver(self, py: Python<'_>, cb: &PyCallback) -> PyResult<()> {
        // A `UdpSocket`'s dispatch takes it natively, without the arguments made below.
        let datagram = match crate::udp_dispatch::deliver_datagram(py, cb, self) {
            Ok(delivered) => return delivered,
            Err(datagram) => datagram,
        };
        let args = match datagram {
            Ok(datagram) => {
                let data = PyBytes::new(py, datagram.data);
                let from = crate::sender_cache::sender(py, datagram.from)?;
                [
                    py.None(),
                    (data, from).into_pyobject(py)?.into_any().unbind(),
                ]
            }
            Err(err) => [error_object(py, err), py.None()],
        };
        call_two(py, cb, args)
    }
}

/// A child's exit: `(exit_code, signal)`, each an int or `None`.
impl Deliver for ExitStatus {
    fn deliver(self, py: Python<'_>, cb: &PyCallback) -> PyResult<()> {
        let args = [
            self.code.into_pyobject(py)?.into_any().unbind(),
            self.signal.into_pyobject(py)?.into_any().unbind(),
        ];
        call_two(py, cb, args)
    }
}

/// A connect, write or shutdown: `(None,)` or `(OSError,)`.
impl Deliver for std::io::Result<()> {
    fn deliver(self, py: Python<'_>, cb: &PyCallback) -> PyResult<()> {
        let error = match self {
            Ok(()) => py.None(),
            Err(err) => error_object(py, err),
        };
        cb.call_with(py, &[error.as_ptr()])
    }
}
