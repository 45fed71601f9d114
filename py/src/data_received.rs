//! A socket transport's read callback for an `asyncio.Protocol`: each chunk the core reads is
//! handed to `protocol.data_received(data)` straight from Rust, with no Python frame in
//! between (the transport's own Python callback would be one more function call per read).
//!
//! `phaseloop.asyncio_transports.SocketTransport` starts reading with
//! `Loop._read_start_protocol(stream, protocol, on_end, on_failure)`. A chunk is
//! `protocol.data_received(data)` (looked up at each call, as asyncio's transport does); an
//! exception from it other than `SystemExit` and `KeyboardInterrupt` goes to
//! `on_failure(exc)` (the transport's fatal-error path); the end of the stream or a read error
//! is `on_end(error, None)`, the transport's Python read callback.

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::PyTraverseError;

use phaseloop_core::{Kind, ReadEvent};

use crate::callback::{call_in_context, copy_context, Body, PyCallback};
use crate::errors::io_error;
use crate::event_loop::Loop;

/// What the core calls for a `Protocol`'s reads (see the module comment).
#[pyclass(module = "phaseloop._phaseloop", name = "_DataReceived")]
pub(crate) struct DataReceived {
    protocol: Option<Py<PyAny>>,
    on_end: Option<Py<PyAny>>,
    on_failure: Option<Py<PyAny>>,
}

impl DataReceived {
    /// Hands one chunk to the protocol, in `context`.
    fn chunk(&self, py: Python<'_>, context: &Py<PyAny>, data: &[u8]) -> PyResult<()> {
        let (Some(protocol), Some(on_failure)) = (&self.protocol, &self.on_failure) else {
            return Ok(()); // cleared by the collector
        };
        let bytes = PyBytes::new(py, data);
        let outcome = protocol
            .bind(py)
            .getattr(pyo3::intern!(py, "data_received"))
            .and_then(|method| {
                call_in_context(py, context, &method.unbind(), None, &[bytes.as_ptr()])
            });
        match outcome {
            Ok(_) => Ok(()),
            Err(err)
                if err.is_instance_of::<PySystemExit>(py)
                    || err.is_instance_of::<PyKeyboardInterrupt>(py) =>
            {
                Err(err)
            }
            Err(err) => {
                let exc = err.into_value(py);
                call_in_context(py, context, on_failure, None, &[exc.as_ptr()]).map(drop)
            }
        }
    }

    /// One read event: a chunk, the end, or a read error (an `OSError` of its errno).
    pub(crate) fn read(
        &self,
        py: Python<'_>,
        context: &Py<PyAny>,
        read: ReadEvent<'_>,
    ) -> PyResult<()> {
        match read {
            ReadEvent::Data(data) => self.chunk(py, context, data),
            ReadEvent::Eof => self.end(py, context, &[py.None().as_ptr(), py.None().as_ptr()]),
            ReadEvent::Error(err) => {
                let error = io_error(err).into_value(py);
                self.end(py, context, &[error.as_ptr(), py.None().as_ptr()])
            }
        }
    }

    /// The end of the stream or a read error: the transport's Python callback.
    fn end(
        &self,
        py: Python<'_>,
        context: &Py<PyAny>,
        args: &[*mut ffi::PyObject],
    ) -> PyResult<()> {
        match &self.on_end {
            Some(on_end) => call_in_context(py, context, on_end, None, args).map(drop),
            None => Ok(()),
        }
    }
}

#[pymethods]
impl DataReceived {
    /// `(error, data)`, as every read callback is called (net_events.rs); the core's read path
    /// does the same without this call.
    fn __call__(
        &self,
        py: Python<'_>,
        error: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let context = copy_context(py)?;
        match data.cast::<PyBytes>() {
            Ok(bytes) => self.chunk(py, &context, bytes.as_bytes()),
            Err(_) => self.end(py, &context, &[error.as_ptr(), data.as_ptr()]),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for object in [&self.protocol, &self.on_end, &self.on_failure]
            .into_iter()
            .flatten()
        {
            visit.call(object)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.protocol = None;
        self.on_end = None;
        self.on_failure = None;
    }
}

/// `cb`'s [`DataReceived`] and the context it runs in, when it is one (else the read is
/// delivered the usual way).
pub(crate) fn receiver<'a, 'py>(
    py: Python<'py>,
    cb: &'a PyCallback,
) -> Option<(PyRef<'py, DataReceived>, &'a Py<PyAny>)> {
    let Body::Call {
        func,
        args: None,
        context,
    } = &cb.body
    else {
        return None;
    };
    let reader = func.bind(py).cast::<DataReceived>().ok()?.borrow();
    Some((reader, context))
}

#[pymethods]
impl Loop {
    /// `_read_start` for an `asyncio.Protocol`: each chunk read is
    /// `protocol.data_received(data)` called from the core's read (poll phase); an exception
    /// from it is `on_failure(exc)`; the end or a read error is `on_end(error, None)`.
    #[pyo3(signature = (stream, protocol, on_end, on_failure, label = None))]
    fn _read_start_protocol(
        &self,
        py: Python<'_>,
        stream: u64,
        protocol: &Bound<'_, PyAny>,
        on_end: &Bound<'_, PyAny>,
        on_failure: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let lp = self.open()?;
        let reader = Bound::new(
            py,
            DataReceived {
                protocol: Some(protocol.clone().unbind()),
                on_end: Some(on_end.clone().unbind()),
                on_failure: Some(on_failure.clone().unbind()),
            },
        )?;
        let cb = PyCallback::new(
            reader.as_any(),
            None,
            crate::args::label(label)?,
            Kind::Read,
        )?;
        lp.read_start(phaseloop_core::Id::from_u64(stream), cb)
            .map_err(|refused| crate::errors::core_error(refused.error))
    }
}
