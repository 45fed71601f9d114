//! Signals and Python: Ctrl-C wakes a blocked `run()`, and a watched SIGINT is not also a
//! `KeyboardInterrupt`.
//!
//! CPython's C signal handler only sets a flag; the Python-level handler (which raises
//! `KeyboardInterrupt`) runs when the main thread next checks the flag. A thread blocked in
//! `epoll_wait` never checks it, so while `run()` may block on the main thread, the loop's own
//! wake-up socket is installed with `signal.set_wakeup_fd`: the C handler writes to it, the poll
//! wakes, and `Callback::after_wait` calls `PyErr_CheckSignals`.
//!
//! `Loop.on_signal(SIGINT, ...)` registers the core's handler, which chains to CPython's. To
//! keep Ctrl-C from raising as well, the first SIGINT watcher of the process first installs (from
//! Python, so before the core's handler is layered on top) a Python-level handler that does
//! nothing while any loop watches SIGINT and defers to the previous handler otherwise.

use std::ffi::c_ulong;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use phaseloop_core::{Loop as CoreLoop, RunMode};

use crate::callback::PyCallback;
use crate::errors::core_error;
use crate::host::Host;

/// Active SIGINT watchers in the process, over every loop.
static SIGINT_WATCHERS: AtomicUsize = AtomicUsize::new(0);
static GATE_ATTEMPTED: AtomicBool = AtomicBool::new(false);
/// The Python-level SIGINT handler that was installed before ours.
static PREVIOUS_SIGINT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static SET_WAKEUP_FD: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Restores the previous `signal.set_wakeup_fd` when `run()` returns.
pub(crate) struct WakeupFd<'py> {
    set_wakeup_fd: Bound<'py, PyAny>,
    previous: Bound<'py, PyAny>,
}

impl Drop for WakeupFd<'_> {
    fn drop(&mut self) {
        let _ = self.set_wakeup_fd.call1((&self.previous,));
    }
}

/// Routes Ctrl-C to the loop's wake-up socket for a `run()` that may block, on the main thread
/// (elsewhere Python runs no signal handlers, so there is nothing to route).
pub(crate) fn route_signals<'py>(
    py: Python<'py>,
    lp: &CoreLoop<PyCallback>,
    mode: RunMode,
) -> PyResult<Option<WakeupFd<'py>>> {
    if mode == RunMode::NoWait || !on_main_thread(py)? {
        return Ok(None);
    }
    let fd = lp.signal_wakeup_fd().map_err(core_error)?;
    let set_wakeup_fd = SET_WAKEUP_FD
        .get_or_try_init(py, || {
            py.import("signal")?
                .getattr("set_wakeup_fd")
                .map(Bound::unbind)
        })?
        .bind(py)
        .clone();
    let kwargs = PyDict::new(py);
    kwargs.set_item("warn_on_full_buffer", false)?;
    match set_wakeup_fd.call((fd,), Some(&kwargs)) {
        // Someone else's wake-up fd (asyncio's self-pipe, which phaseloop.asyncio watches in
        // the poll phase) is left in place: it wakes the poll too, and its owner reads it.
        Ok(previous) if previous.extract::<i64>().is_ok_and(|p| p >= 0) => {
            set_wakeup_fd.call1((previous,))?;
            Ok(None)
        }
        Ok(previous) => Ok(Some(WakeupFd {
            set_wakeup_fd,
            previous,
        })),
        // "set_wakeup_fd only works in main thread of the main interpreter"
        Err(err) if err.is_instance_of::<PyValueError>(py) => Ok(None),
        Err(err) => Err(err),
    }
}

static MAIN_THREAD: PyOnceLock<c_ulong> = PyOnceLock::new();

/// Whether this is Python's main thread, the one that runs signal handlers.
fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    let main = MAIN_THREAD.get_or_try_init(py, || {
        py.import("threading")?
            .call_method0("main_thread")?
            .getattr("ident")?
            .extract::<c_ulong>()
    })?;
    // SAFETY: attached; returns the calling thread's identifier.
    let current = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
    Ok(current == *main)
}

/// The Python-level SIGINT handler while a loop may watch SIGINT.
#[pyfunction]
fn sigint_gate(
    py: Python<'_>,
    signum: i32,
    frame: Bound<'_, PyAny>,
) -> PyResult<Option<Py<PyAny>>> {
    if SIGINT_WATCHERS.load(Ordering::Relaxed) > 0 {
        return Ok(None); // a loop watches SIGINT: its callback gets it
    }
    match PREVIOUS_SIGINT.get(py).map(|previous| previous.bind(py)) {
        Some(previous) if previous.is_callable() => {
            previous.call1((signum, frame)).map(|r| Some(r.unbind()))
        }
        // SIG_IGN
        Some(previous) if previous.extract::<i64>().ok() == Some(1) => Ok(None),
        // SIG_DFL or unknown: what Python's default handler does.
        _ => Err(PyKeyboardInterrupt::new_err(())),
    }
}

/// Installs [`sigint_gate`] once per process, before the first SIGINT watcher is registered.
fn install_sigint_gate(py: Python<'_>) -> PyResult<()> {
    if GATE_ATTEMPTED.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    let signal = py.import("signal")?;
    let sigint = signal.getattr("SIGINT")?;
    let previous = signal.call_method1("getsignal", (&sigint,))?;
    let gate = wrap_pyfunction!(sigint_gate, py)?;
    match signal.call_method1("signal", PyTuple::new(py, [sigint, gate.into_any()])?) {
        Ok(_) => {
            let _ = PREVIOUS_SIGINT.set(py, previous.unbind());
            Ok(())
        }
        // Not the main thread: Ctrl-C then also raises KeyboardInterrupt (documented).
        Err(err) if err.is_instance_of::<PyValueError>(py) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Called before a SIGINT watcher is registered with the core.
pub(crate) fn prepare_sigint(py: Python<'_>, signum: i32) -> PyResult<()> {
    if signum == libc::SIGINT {
        install_sigint_gate(py)?;
    }
    Ok(())
}

/// A watcher of `signum` became active on the loop whose host is `host`.
pub(crate) fn watch_started(host: &Host, signum: i32) {
    if signum == libc::SIGINT {
        host.sigint_watchers.set(host.sigint_watchers.get() + 1);
        SIGINT_WATCHERS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A watcher of `signum` stopped or closed.
pub(crate) fn watch_stopped(host: &Host, signum: i32) {
    if signum == libc::SIGINT && host.sigint_watchers.get() > 0 {
        host.sigint_watchers.set(host.sigint_watchers.get() - 1);
        SIGINT_WATCHERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The loop closed (or is being dropped): its watchers are gone.
pub(crate) fn forget_sigint_watchers(host: &Host) {
    let count = host.sigint_watchers.replace(0);
    SIGINT_WATCHERS.fetch_sub(count, Ordering::Relaxed);
}
