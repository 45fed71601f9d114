//! A `phaseloop.asyncio` socket transport's read dispatch, native: each read's bytes go to
//! `protocol.data_received` straight from the poll phase.
//!
//! The transport's `_read_data` frame sat between the core and the protocol for every read of a
//! `Protocol` (about a third of the Python instructions of an echo round trip). The dispatch
//! keeps what the frame did: the bytes go to `data_received`, an exception from it (other than
//! `SystemExit` and `KeyboardInterrupt`, which propagate as asyncio lets them) goes to the
//! transport's `_data_received_failed`, and the end of the stream and read errors go to the
//! transport's own callback, `_read_data`, as before.

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::PyTraverseError;

use phaseloop_core::ReadEvent;

use crate::callback::{Body, PyCallback};

/// The read callback of a socket transport whose protocol is a `Protocol`: calls
/// `data_received(data)` for each read and `fallback(error, None)` for the end or an error.
#[pyclass(module = "phaseloop._phaseloop", name = "_DataDispatch", frozen)]
pub struct DataDispatch {
    /// The protocol's bound `data_received`.
    data_received: Py<PyAny>,
    /// The transport's `_data_received_failed(exc)`: what an exception from `data_received` is
    /// handed to.
    failed: Py<PyAny>,
    /// The transport's `_read_data(error, data)`: the end of the stream and read errors.
    fallback: Py<PyAny>,
}

impl DataDispatch {
    /// `data_received(data)`; its exception to `failed`, except the two that stop the loop.
    fn data(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let Err(err) = self.data_received.bind(py).call1((data,)) else {
            return Ok(());
        };
        if err.is_instance_of::<PySystemExit>(py) || err.is_instance_of::<PyKeyboardInterrupt>(py) {
            return Err(err);
        }
        self.failed.bind(py).call1((err.into_value(py),)).map(drop)
    }
}

#[pymethods]
impl DataDispatch {
    #[new]
    fn new(data_received: Py<PyAny>, failed: Py<PyAny>, fallback: Py<PyAny>) -> Self {
        DataDispatch {
            data_received,
            failed,
            fallback,
        }
    }

    /// Called as a read callback is (`net_events`): `(None, bytes)`, `(None, None)` at the end,
    /// `(OSError, None)`. The loop calls the dispatch natively; this is the same, for a trace
    /// hook or a test that calls the callback it was shown.
    fn __call__(
        &self,
        py: Python<'_>,
        error: Bound<'_, PyAny>,
        data: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if error.is_none() && !data.is_none() {
            return self.data(py, &data);
        }
        self.fallback.bind(py).call1((error, data)).map(drop)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.data_received)?;
        visit.call(&self.failed)?;
        visit.call(&self.fallback)
    }
}

/// Delivers a read's bytes to `cb` natively when it is a [`DataDispatch`]; `Err(event)` hands
/// the event back for any other callback, and for the end of the stream or an error.
pub(crate) fn deliver_read<'a>(
    py: Python<'_>,
    cb: &PyCallback,
    event: ReadEvent<'a>,
) -> Result<PyResult<()>, ReadEvent<'a>> {
    let ReadEvent::Data(data) = event else {
        return Err(event);
    };
    let Body::Call { func, context, .. } = &cb.body else {
        return Err(event);
    };
    let Ok(dispatch) = func.bind(py).cast::<DataDispatch>() else {
        return Err(event);
    };
    let dispatch = dispatch.get();
    Ok(context.run(py, || dispatch.data(py, PyBytes::new(py, data).as_any())))
}
