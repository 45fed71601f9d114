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

use phaseloop_core::{Event, NetAddr, ReadEvent};

use crate::callback::PyCallback;
use crate::errors::io_error;

fn error_object(py: Python<'_>, err: std::io::Error) -> Py<PyAny> {
    io_error(err).into_value(py).into_any()
}

/// Calls `cb` with the arguments of a network event; `false` if `event` is not one.
pub(crate) fn deliver(py: Python<'_>, cb: &PyCallback, event: Event<'_>) -> PyResult<()> {
    let none = py.None();
    let args: [Py<PyAny>; 2] = match event {
        Event::Connection(Ok(id)) => [
            none.clone_ref(py),
            id.as_u64().into_pyobject(py)?.into_any().unbind(),
        ],
        Event::Connection(Err(err)) => [error_object(py, err), none.clone_ref(py)],
        Event::Read(ReadEvent::Data(data)) => [
            none.clone_ref(py),
            PyBytes::new(py, data).into_any().unbind(),
        ],
        Event::Read(ReadEvent::Eof) => [none.clone_ref(py), none.clone_ref(py)],
        Event::Read(ReadEvent::Error(err)) => [error_object(py, err), none.clone_ref(py)],
        Event::Datagram(Ok(datagram)) => {
            let data = PyBytes::new(py, datagram.data);
            let from = crate::streams::address(py, NetAddr::Inet(datagram.from))?;
            [
                none.clone_ref(py),
                (data, from).into_pyobject(py)?.into_any().unbind(),
            ]
        }
        Event::Datagram(Err(err)) => [error_object(py, err), none.clone_ref(py)],
        Event::Exit(status) => [
            status.code.into_pyobject(py)?.into_any().unbind(),
            status.signal.into_pyobject(py)?.into_any().unbind(),
        ],
        Event::Connect(result) | Event::Written(result) | Event::Shutdown(result) => {
            let error = match result {
                Ok(()) => none.clone_ref(py),
                Err(err) => error_object(py, err),
            };
            let ptr: [*mut ffi::PyObject; 1] = [error.as_ptr()];
            return cb.call_with(py, &ptr);
        }
        // Every other event has its own conversion in `callback.rs`.
        _ => return Ok(()),
    };
    let ptrs: [*mut ffi::PyObject; 2] = [args[0].as_ptr(), args[1].as_ptr()];
    cb.call_with(py, &ptrs)
}
