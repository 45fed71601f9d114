//! A `phaseloop.asyncio` socket transport's `write`, native: `transport.write(data)` with
//! `bytes` goes from the protocol's call to the kernel (or the core's write queue) with no
//! Python frame between.
//!
//! The transport's Python `write` frame was the largest part of an echo round trip's Python
//! instructions after the protocol's own code. The transport installs this writer as its
//! `write` only while none of the checks that method makes can fail (no `write_eof()`, no
//! `sendfile` in progress, the connection not lost, a core stream to write to), and takes it
//! away as soon as one could; anything else (a `bytearray`, a `memoryview`, an empty write, a
//! closed loop) goes to the Python method, which raises or reports as asyncio does. What the
//! method does after a write, this does the same way: a write the kernel did not take whole is
//! queued with the transport's `_written` as its callback and reported to `_write_queued`
//! (flow control); a failed write goes to `_fatal_error` with asyncio's message.

use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyWeakrefReference};
use pyo3::PyTraverseError;

use phaseloop_core::Id;

use crate::event_loop::Loop;
use crate::streams::write_bytes;

/// A socket transport's fast `write(data)` over its core stream.
#[pyclass(module = "phaseloop._phaseloop", name = "_TransportWrite", frozen)]
pub struct TransportWrite {
    /// The `phaseloop.Loop` the stream belongs to.
    pl: Py<Loop>,
    /// The core stream written to.
    stream: Id,
    /// The transport, weakly: it holds this writer, and is collected (with its unclosed-
    /// transport warning) when the program drops it.
    transport: Py<PyWeakrefReference>,
}

impl TransportWrite {
    fn transport<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.transport
            .bind(py)
            .upgrade()
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("the transport was collected"))
    }
}

#[pymethods]
impl TransportWrite {
    #[new]
    fn new(pl: Py<Loop>, stream: u64, transport: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(TransportWrite {
            pl,
            stream: Id::from_u64(stream),
            transport: PyWeakrefReference::new(transport)?.unbind(),
        })
    }

    /// `transport.write(data)`.
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let pl = self.pl.get();
        let (Ok(bytes), Ok(lp)) = (data.cast::<PyBytes>(), pl.open()) else {
            return self.slow(py, data);
        };
        if bytes.as_bytes().is_empty() {
            return Ok(());
        }
        let transport = || self.transport(py);
        match write_bytes(lp, self.stream, bytes, || {
            transport()?.getattr(intern!(py, "_written"))
        }) {
            Ok(0) => Ok(()),
            Ok(_) => transport()?
                .call_method0(intern!(py, "_write_queued"))
                .map(drop),
            Err(err) => transport()?
                .call_method1(
                    intern!(py, "_fatal_error"),
                    (err.into_value(py), "Fatal write error on socket transport"),
                )
                .map(drop),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.pl)?;
        visit.call(&self.transport)
    }
}

impl TransportWrite {
    /// What this does not take: the transport's Python `write`, which checks and raises.
    fn slow(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.transport(py)?
            .call_method1(intern!(py, "_write_checked"), (data,))
            .map(drop)
    }
}
