//! Checking and converting arguments, with messages that name the argument.

use std::os::fd::RawFd;
use std::str::FromStr;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyString};

use phaseloop_core::{ClockKind, DrainMode, RunMode, UnknownName};

/// The name of `obj`'s type, for messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// `TypeError` unless `obj` is callable.
#[inline]
pub(crate) fn callable(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<()> {
    if obj.is_callable() {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!(
            "{name} must be callable, not {}",
            type_name(obj)
        )))
    }
}

/// A timer delay in ms: an int or a float (Node coerces anything with `* 1`; Python users expect
/// a `TypeError` for `"100"`). Omitted or `None` is Node's default, 1.
#[inline]
pub(crate) fn delay(obj: Option<&Bound<'_, PyAny>>) -> PyResult<f64> {
    let Some(obj) = obj else { return Ok(1.0) };
    if let Ok(value) = obj.cast::<PyFloat>() {
        return Ok(value.value());
    }
    if obj.is_instance_of::<PyInt>() {
        // Out of range ints become infinities, which Node's coercion turns into 1.
        return Ok(obj.extract::<f64>().unwrap_or(f64::INFINITY));
    }
    if obj.is_none() {
        return Ok(1.0);
    }
    Err(PyTypeError::new_err(format!(
        "delay must be a number (int or float), not {}",
        type_name(obj)
    )))
}

/// A number of milliseconds that may not be negative (`advance`, `jobs.sleep`).
pub(crate) fn millis(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    let ms = if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
        obj.extract::<f64>()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number (int or float), not {}",
            type_name(obj)
        )));
    };
    if ms.is_nan() || ms < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a non-negative number of milliseconds"
        )));
    }
    Ok(ms as u64)
}

/// A file descriptor: an int, or an object with `fileno()` (as asyncio's `add_reader`).
pub(crate) fn fd(obj: &Bound<'_, PyAny>) -> PyResult<RawFd> {
    let number = if obj.is_instance_of::<PyInt>() {
        obj.clone()
    } else if obj.hasattr("fileno")? {
        obj.call_method0("fileno")?
    } else {
        return Err(PyTypeError::new_err(format!(
            "fd must be an int or have a fileno() method, not {}",
            type_name(obj)
        )));
    };
    match number.extract::<i64>() {
        Ok(fd) if (0..=i64::from(RawFd::MAX)).contains(&fd) => Ok(fd as RawFd),
        _ => Err(PyValueError::new_err(
            "fd must be a non-negative file descriptor",
        )),
    }
}

/// Bytes from `bytes`, `bytearray`, `str` (UTF-8, as Node encodes strings) or any buffer.
pub(crate) fn bytes(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(buffer) = PyBuffer::<u8>::get(obj) {
        return buffer.to_vec(obj.py());
    }
    Err(PyTypeError::new_err(format!(
        "{name} must be bytes, bytearray, str or a buffer, not {}",
        type_name(obj)
    )))
}

/// A non-negative int (`TypeError` for anything else, `bool` included).
pub(crate) fn count(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    if !obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(obj)
        )));
    }
    obj.extract::<u64>()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a non-negative int")))
}

/// `threadpool_size=`: an int, or `None` for the environment's or the default size.
pub(crate) fn threadpool_size(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    let Some(obj) = obj.filter(|obj| !obj.is_none()) else {
        return Ok(None);
    };
    if !obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "threadpool_size must be an int, not {}",
            type_name(obj)
        )));
    }
    // The core checks the range; a size no `usize` holds is out of it too (0 stands for those).
    Ok(Some(obj.extract::<usize>().unwrap_or(0)))
}

/// A `str` argument; `TypeError` naming `name` otherwise.
fn text<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyString>> {
    obj.cast::<PyString>()
        .cloned()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a str, not {}", type_name(obj))))
}

/// The `label=` of a scheduling method: a `str` or `None`.
pub(crate) fn label<'py>(
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyString>>> {
    obj.filter(|obj| !obj.is_none())
        .map(|obj| text(obj, "label"))
        .transpose()
}

/// A name argument parsed by the core (`clock=`, `drain=`, `run(mode=)`): omitted is the type's
/// default, a `str` that is not one of the type's names a `ValueError` naming `argument` and every
/// valid name (the core's message).
fn named<T>(obj: Option<&Bound<'_, PyAny>>, argument: &str) -> PyResult<T>
where
    T: Default + FromStr<Err = UnknownName>,
{
    let Some(obj) = obj else {
        return Ok(T::default());
    };
    text(obj, argument)?
        .to_str()?
        .parse()
        .map_err(|err: UnknownName| PyValueError::new_err(err.to_string()))
}

/// `clock=`: `"real"` (the default) or `"virtual"`.
pub(crate) fn clock(obj: Option<&Bound<'_, PyAny>>) -> PyResult<ClockKind> {
    named(obj, "clock")
}

/// `drain=`: `"callback"` (the default) or `"phase"`.
pub(crate) fn drain(obj: Option<&Bound<'_, PyAny>>) -> PyResult<DrainMode> {
    named(obj, "drain")
}

/// `run(mode=)`: `"default"` (the default), `"once"` or `"nowait"`.
pub(crate) fn run_mode(obj: Option<&Bound<'_, PyAny>>) -> PyResult<RunMode> {
    named(obj, "mode")
}
