//! A `phaseloop.dgram.UdpSocket`'s per-datagram work, native: the `"message"` dispatch in the
//! poll phase, and the send a tick after `send()` (Node looks the address up first, and for an
//! IP address the lookup answers through the tick queue).
//!
//! Both were Python frames (`_on_message` between the core and the listener; a tick calling
//! `_send_now`), two of the three frames a datagram cost beyond its listener. Here they keep
//! what those frames did, in the same order and the same `contextvars` context: the listeners
//! are read from the socket's `_listeners` dict as `emit` reads them (one listener called
//! directly, several through a snapshot of the list), an error is `emit`ted as `"error"`, and a
//! send whose socket closed meanwhile tells its callback `EBADF`.

use std::net::SocketAddr;

use pyo3::exceptions::PyOSError;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::PyTraverseError;

use phaseloop_core::{Datagram, Id, Loop as CoreLoop, SyncWrite};

use crate::args;
use crate::callback::{Body, OnceJob, PyCallback};
use crate::context::CallContext;
use crate::errors::{core_error, io_error};
use crate::event_loop::Loop;
use crate::udp::ip;

/// The receive callback of a `UdpSocket`: dispatches each datagram to the socket's
/// `"message"` listeners (`listener(data, (host, port))`), and an error to `"error"`.
#[pyclass(module = "phaseloop.dgram", name = "_MessageDispatch", frozen)]
pub struct MessageDispatch {
    /// The socket, whose `emit("error", ...)` reports a receive error.
    socket: Py<PyAny>,
    /// The socket's `_listeners` (event name to list of callables), read at each datagram.
    listeners: Py<PyDict>,
}

impl MessageDispatch {
    /// `emit("message", data, sender)`, without the frame.
    fn message(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        sender: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let Some(listeners) = self.listeners.bind(py).get_item(intern!(py, "message"))? else {
            return Ok(());
        };
        let listeners = listeners.cast_into::<PyList>()?;
        match listeners.len() {
            0 => Ok(()),
            1 => listeners.get_item(0)?.call1((data, sender)).map(drop),
            // A listener may add or remove listeners: the ones called are those of the moment
            // the datagram arrived, as `emit` calls them.
            _ => {
                for listener in listeners.to_tuple().iter() {
                    listener.call1((data, sender))?;
                }
                Ok(())
            }
        }
    }

    fn error(&self, py: Python<'_>, error: Bound<'_, PyAny>) -> PyResult<()> {
        self.socket
            .bind(py)
            .call_method1(intern!(py, "emit"), (intern!(py, "error"), error))
            .map(drop)
    }
}

#[pymethods]
impl MessageDispatch {
    #[new]
    fn new(socket: Py<PyAny>, listeners: Py<PyDict>) -> Self {
        MessageDispatch { socket, listeners }
    }

    /// Called as a datagram callback is (`net_events`): `(None, (data, sender))` or
    /// `(OSError, None)`. The loop calls the dispatch natively; this is the same, for a trace
    /// hook or a test that calls the callback it was shown.
    fn __call__(
        &self,
        py: Python<'_>,
        error: Bound<'_, PyAny>,
        message: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if !error.is_none() {
            return self.error(py, error);
        }
        if message.is_none() {
            return Ok(());
        }
        let data = message.get_item(0)?;
        let sender = message.get_item(1)?;
        self.message(py, &data, &sender)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.socket)?;
        visit.call(&self.listeners)
    }
}

/// Delivers a datagram to `cb` natively when it is a [`MessageDispatch`]; `Err(datagram)`
/// hands it back for any other callback (an asyncio datagram transport's).
pub(crate) fn deliver_datagram<'a>(
    py: Python<'_>,
    cb: &PyCallback,
    datagram: std::io::Result<Datagram<'a>>,
) -> Result<PyResult<()>, std::io::Result<Datagram<'a>>> {
    let Body::Call { func, context, .. } = &cb.body else {
        return Err(datagram);
    };
    let Ok(dispatch) = func.bind(py).cast::<MessageDispatch>() else {
        return Err(datagram);
    };
    let dispatch = dispatch.get();
    Ok(context.run(py, || match datagram {
        Ok(datagram) => {
            let data = pyo3::types::PyBytes::new(py, datagram.data);
            let sender = crate::sender_cache::sender(py, datagram.from)?;
            dispatch.message(py, data.as_any(), sender.bind(py))
        }
        Err(err) => dispatch.error(py, io_error(err).into_value(py).into_bound(py).into_any()),
    }))
}

/// `UdpSocket._send_now`'s work, as the tick job `send()` queues.
struct SendSoon {
    /// The socket (its `_closed`, and `emit("error", ...)` when there is no callback).
    socket: Py<PyAny>,
    sock: Id,
    payload: Py<PyAny>,
    to: Option<SocketAddr>,
    /// `send(..., callback)`'s callback, called `(error,)`.
    callback: Option<Py<PyAny>>,
    label: Option<Py<PyString>>,
    /// The context `send()` was called in, which the send's callback and listeners run in.
    context: CallContext,
}

impl SendSoon {
    fn send(&self, py: Python<'_>, lp: &CoreLoop<PyCallback>) -> PyResult<()> {
        let socket = self.socket.bind(py);
        if socket.getattr(intern!(py, "_closed"))?.is_truthy()? {
            if let Some(callback) = &self.callback {
                let err = PyOSError::new_err((libc::EBADF, "the socket closed before the send"));
                callback.bind(py).call1((err.into_value(py),))?;
            }
            return Ok(());
        }
        let done = match &self.callback {
            Some(callback) => {
                let wrapped = send_done(py)?.call1((callback,))?;
                let label = self.label.as_ref().map(|l| l.bind(py).clone());
                Some(PyCallback::new(&wrapped, None, label)?)
            }
            None => None,
        };
        let bufs = args::bytes(self.payload.bind(py), "data")?;
        let failed = match lp.udp_send(self.sock, bufs, self.to, done, SyncWrite::Tick) {
            // The kernel took it: the callback follows through the tick queue.
            Ok(Some(back)) => return lp.next_tick(back).map_err(core_error),
            Ok(None) => return Ok(()),
            Err(refused) => core_error(refused.error),
        };
        if !failed.is_instance_of::<PyOSError>(py) {
            return Err(failed);
        }
        match &self.callback {
            Some(callback) => callback.bind(py).call1((failed.into_value(py),)).map(drop),
            None => socket
                .call_method1(
                    intern!(py, "emit"),
                    (intern!(py, "error"), failed.into_value(py)),
                )
                .map(drop),
        }
    }
}

/// `phaseloop.dgram._SendDone`: a send callback called `(error,)` from the poll or pending
/// phase and `()` from a tick.
fn send_done(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static SEND_DONE: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    SEND_DONE
        .get_or_try_init(py, || {
            py.import("phaseloop.dgram")?
                .getattr("_SendDone")
                .map(Bound::unbind)
        })
        .map(|f| f.bind(py))
}

impl OnceJob for SendSoon {
    fn run_once(self: Box<Self>, py: Python<'_>, lp: &CoreLoop<PyCallback>) -> PyResult<()> {
        self.context.run(py, || self.send(py, lp))
    }

    fn traverse_job(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.socket)?;
        visit.call(&self.payload)?;
        visit.call(&self.callback)?;
        self.context.traverse(visit)
    }

    /// The send's callback, if it has one.
    fn trace_target(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.callback.as_ref().map(|cb| cb.clone_ref(py))
    }

    /// The socket's label.
    fn timeline_label(&self, py: Python<'_>) -> Py<PyString> {
        match &self.label {
            Some(label) => label.clone_ref(py),
            None => intern!(py, "UdpSocket.send").clone().unbind(),
        }
    }
}

#[pymethods]
impl Loop {
    /// `UdpSocket.send`'s tick: sends `data` to `host`/`port` (the connected peer when `host`
    /// is `None`) from the tick queue, in the current context, as `_send_now` did.
    #[pyo3(signature = (socket, sock, data, host, port, callback, label))]
    #[allow(clippy::too_many_arguments)]
    fn _udp_send_soon(
        &self,
        py: Python<'_>,
        socket: Py<PyAny>,
        sock: u64,
        data: Py<PyAny>,
        host: Option<&str>,
        port: u16,
        callback: Option<Py<PyAny>>,
        label: Option<Py<PyString>>,
    ) -> PyResult<()> {
        let lp = self.open()?;
        let to = match host {
            Some(host) => Some(SocketAddr::new(ip(host, "address")?, port)),
            None => None,
        };
        let job = SendSoon {
            socket,
            sock: Id::from_u64(sock),
            payload: data,
            to,
            callback: callback.filter(|cb| !cb.is_none(py)),
            label,
            context: CallContext::once(py, &lp.host().snapshots)?,
        };
        lp.next_tick(PyCallback::job(Box::new(job)))
            .map_err(core_error)
    }
}
