//! Name lookups (`Loop.lookup`, Node's `dns.lookup`): the core's `getaddrinfo` job on the
//! pool, its addresses as `[(family, address), ...]` and its failure as `socket.gaierror`
//! with Node's `code` (`"ENOTFOUND"`, ...) and the `hostname` looked up.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use phaseloop_core::net::dns;
use phaseloop_core::{LookupAddress, LookupError, LookupFamily};

use crate::args;
use crate::callback::PyCallback;
use crate::errors::core_error;
use crate::event_loop::Loop;
use crate::handles::Work;
use crate::streams::forward_to;

/// A lookup's addresses as Python sees them.
pub(crate) fn addresses(py: Python<'_>, found: &[LookupAddress]) -> PyResult<Py<PyAny>> {
    let items: Vec<(u8, String)> = found
        .iter()
        .map(|a| (a.family, a.address.to_string()))
        .collect();
    Ok(PyList::new(py, items)?.into_any().unbind())
}

/// A failed lookup as `socket.gaierror(code, message)`, with `code` set to Node's name.
pub(crate) fn gai_error(py: Python<'_>, err: &LookupError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let gaierror = py.import("socket")?.getattr("gaierror")?;
        let value = gaierror.call1((err.code, err.message.as_str()))?;
        value.setattr("code", err.name)?;
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|e| e)
}

#[pymethods]
impl Loop {
    /// `dns.lookup(host, {all: true, family})`: `callback(error, [(family, address), ...])` in
    /// the poll phase after a pool job; an IP address is answered through the tick queue, as
    /// Node answers it (the result is then `None` instead of a `Work`).
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, host, callback, *, family=0, label=None)")]
    fn lookup<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward_to(slf, "phaseloop.dns", "_lookup", args, kwargs)
    }

    /// The pool job of a lookup; `callback(error, addresses)` in the poll phase.
    #[pyo3(signature = (host, family, callback, label = None))]
    fn _lookup_work<'py>(
        slf: &Bound<'py, Self>,
        host: String,
        family: u32,
        callback: &Bound<'py, PyAny>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Work>> {
        let family = LookupFamily::from_number(family)
            .ok_or_else(|| PyValueError::new_err("family must be 0, 4 or 6"))?;
        let lp = slf.get().open()?;
        let cb = PyCallback::new(callback, None, args::label(label)?)?;
        let id = lp
            .queue_work(dns::lookup(host, family), Some(cb))
            .map_err(core_error)?;
        Bound::new(slf.py(), Work::new(slf.clone().unbind(), id))
    }
}
