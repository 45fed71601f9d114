//! The handle classes: `Timer`, `Immediate`, `Handle` (idle, prepare, check and signal
//! watchers), `Watcher` (fd watchers) and `Work`. Each names its object in the core by id and
//! keeps its loop alive; every method checks the loop's thread like the loop's own methods.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::PyTraverseError;

use phaseloop_core::{Error as CoreError, HandleKind, Id, Interest};

use crate::callback::PyCallback;
use crate::errors::core_error;
use crate::event_loop::{Core, Loop};
use crate::signals;

/// Ignores "not found": the object finished, which these methods accept silently (Node does).
fn found_or_finished(result: Result<(), CoreError>) -> PyResult<()> {
    match result {
        Ok(()) | Err(CoreError::NotFound) => Ok(()),
        Err(err) => Err(core_error(err)),
    }
}

/// What a watcher waits for; both false is refused.
pub(crate) fn interest(readable: bool, writable: bool) -> PyResult<Interest> {
    if !readable && !writable {
        return Err(PyValueError::new_err(
            "readable and writable cannot both be False",
        ));
    }
    Ok(Interest { readable, writable })
}

// ----- Timer ------------------------------------------------------------------------------------

/// A timer from `set_timeout` or `set_interval` (Node's `Timeout`). A one-shot timer is held in
/// the core for as long as this object lives, so `refresh()` re-arms it after it fired.
#[pyclass(module = "phaseloop", frozen)]
pub struct Timer {
    lp: Py<Loop>,
    id: Id,
    delay: f64,
    repeat: bool,
    /// Cleared or closed: the core forgot `id` (whose slot a later timer may reuse), so this
    /// object asks nothing more of it; `refresh()` does nothing any more (as in Node).
    cleared: AtomicBool,
    /// The ref state `ref()` / `unref()` set, which `has_ref()` answers once cleared (Node's
    /// `Timeout` keeps it; the core forgot the timer). Before that the core answers.
    refed_when_cleared: AtomicBool,
}

impl Timer {
    /// The object of timer `id`, which `set_timeout` held in the core (an interval needs no
    /// hold: it never ends by firing).
    pub(crate) fn new(lp: Py<Loop>, id: Id, delay: f64, repeat: bool) -> Timer {
        Timer {
            lp,
            id,
            delay,
            repeat,
            cleared: AtomicBool::new(false),
            refed_when_cleared: AtomicBool::new(true),
        }
    }

    fn core(&self) -> PyResult<&Core> {
        self.lp.get().open()
    }

    pub(crate) fn belongs_to(&self, lp: &Bound<'_, Loop>) -> bool {
        self.lp.is(lp)
    }

    /// `clear_timeout` / `clear_interval`.
    pub(crate) fn clear(&self) -> PyResult<()> {
        let lp = self.core()?;
        self.cleared.store(true, Ordering::Relaxed);
        found_or_finished(lp.clear_timer(self.id))
    }

    fn set_ref(slf: PyRef<'_, Self>, refed: bool) -> PyResult<PyRef<'_, Self>> {
        let lp = slf.core()?;
        slf.refed_when_cleared.store(refed, Ordering::Relaxed);
        if !slf.cleared.load(Ordering::Relaxed) {
            found_or_finished(lp.set_timer_ref(slf.id, refed))?;
        }
        Ok(slf)
    }
}

impl Drop for Timer {
    /// Lets go of the core's timer: a fired one-shot timer is forgotten with its callback, an
    /// armed one once it fired. On another thread, or once the loop is closed, there is nothing
    /// to reach: the loop's close dropped (or will drop) every callback.
    fn drop(&mut self) {
        if self.repeat || self.cleared.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(lp) = self.lp.get().open() {
            // NotFound cannot happen: a held timer ends only by a clear or close (`cleared`).
            let _ = lp.release_timer(self.id);
        }
    }
}

#[pymethods]
impl Timer {
    /// Makes the timer keep the loop alive again; returns the timer.
    #[pyo3(name = "ref")]
    fn ref_(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Timer::set_ref(slf, true)
    }

    /// Stops the timer from keeping the loop alive; returns the timer.
    fn unref(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Timer::set_ref(slf, false)
    }

    /// Whether the timer keeps the loop alive when armed (also once it fired or was cleared).
    fn has_ref(&self) -> PyResult<bool> {
        let lp = self.core()?;
        if self.cleared.load(Ordering::Relaxed) {
            return Ok(self.refed_when_cleared.load(Ordering::Relaxed));
        }
        lp.timer_has_ref(self.id).map_err(core_error)
    }

    /// Re-arms the timer with a fresh start and its delay; also a one-shot timer that already
    /// fired (as Node). A cleared or closed timer stays cleared. Returns the timer.
    fn refresh(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        let lp = slf.core()?;
        if !slf.cleared.load(Ordering::Relaxed) {
            found_or_finished(lp.refresh_timer(slf.id))?;
        }
        Ok(slf)
    }

    /// Clears the timer; `callback` runs in the next close phase. Closing a cleared or closed
    /// timer does nothing.
    #[pyo3(signature = (callback = None))]
    fn close(&self, callback: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let lp = self.core()?;
        let close_cb = PyCallback::optional(callback)?;
        if self.cleared.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        match lp.close_timer(self.id, close_cb) {
            Ok(()) => Ok(()),
            Err(not_found) if matches!(not_found.error, CoreError::NotFound) => Ok(()),
            Err(other) => Err(core_error(other)),
        }
    }

    /// Whether the timer is armed (an interval also while its own callback runs).
    #[getter]
    fn active(&self) -> PyResult<bool> {
        let lp = self.lp.get().owned()?;
        if self.cleared.load(Ordering::Relaxed) || lp.is_closed() {
            return Ok(false);
        }
        Ok(if self.repeat {
            lp.timer_has_ref(self.id).is_ok()
        } else {
            lp.timer_active(self.id)
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<phaseloop.Timer {} {} ms>",
            if self.repeat { "interval" } else { "timeout" },
            self.delay
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)
    }
}

// ----- Immediate --------------------------------------------------------------------------------

/// An immediate from `set_immediate` (Node's `Immediate`).
#[pyclass(module = "phaseloop", frozen)]
pub struct Immediate {
    lp: Py<Loop>,
    /// The core's id of the immediate (set anew when the object is reused, see `handed_out`).
    id: AtomicU64,
    refed: AtomicBool,
}

impl Immediate {
    /// The `Immediate` object `set_immediate` returns for `id`.
    ///
    /// Most programs drop it at once, and making and freeing a tracked Python object costs
    /// as much as the rest of `set_immediate`. So the loop keeps the last one it handed out
    /// (`spare`), and when nothing but the loop holds it any more, it is the object for the
    /// next immediate: a free list of one, as CPython keeps for its own small objects. Nothing
    /// can tell (the class cannot be subclassed, weakly referenced or given a `__del__`), but
    /// that `id()` may repeat, as it may for any freed object.
    pub(crate) fn handed_out<'py>(
        lp: &Bound<'py, Loop>,
        spare: &RefCell<Option<Py<Immediate>>>,
        id: Id,
    ) -> PyResult<Bound<'py, Immediate>> {
        let py = lp.py();
        let mut kept = spare.borrow_mut();
        if let Some(object) = kept.as_ref() {
            // SAFETY: attached (we hold `py`); reading a live object's reference count.
            if unsafe { pyo3::ffi::Py_REFCNT(object.as_ptr()) } == 1 {
                let this = object.get();
                this.id.store(id.as_u64(), Ordering::Relaxed);
                this.refed.store(true, Ordering::Relaxed);
                return Ok(object.clone_ref(py).into_bound(py));
            }
        }
        let object = Bound::new(
            py,
            Immediate {
                lp: lp.clone().unbind(),
                id: AtomicU64::new(id.as_u64()),
                refed: AtomicBool::new(true),
            },
        )?;
        let replaced = kept.replace(object.clone().unbind());
        // The program still holds the one replaced (else it would have been reused): dropping
        // the loop's reference frees nothing, but not while the cell is borrowed all the same.
        drop(kept);
        drop(replaced);
        Ok(object)
    }

    fn id(&self) -> Id {
        Id::from_u64(self.id.load(Ordering::Relaxed))
    }

    pub(crate) fn belongs_to(&self, lp: &Bound<'_, Loop>) -> bool {
        self.lp.is(lp)
    }

    pub(crate) fn clear(&self) -> PyResult<()> {
        found_or_finished(self.lp.get().open()?.clear_immediate(self.id()))
    }

    fn set_ref(slf: PyRef<'_, Self>, refed: bool) -> PyResult<PyRef<'_, Self>> {
        let lp = slf.lp.get().open()?;
        slf.refed.store(refed, Ordering::Relaxed);
        found_or_finished(lp.set_immediate_ref(slf.id(), refed))?;
        Ok(slf)
    }
}

#[pymethods]
impl Immediate {
    #[pyo3(name = "ref")]
    fn ref_(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Immediate::set_ref(slf, true)
    }

    fn unref(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Immediate::set_ref(slf, false)
    }

    fn has_ref(&self) -> PyResult<bool> {
        self.lp.get().open()?;
        Ok(self.refed.load(Ordering::Relaxed))
    }

    /// Whether it is still waiting to run.
    #[getter]
    fn active(&self) -> PyResult<bool> {
        Ok(self.lp.get().owned()?.immediate_active(self.id()))
    }

    fn __repr__(&self) -> &'static str {
        "<phaseloop.Immediate>"
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)
    }
}

// ----- Handle -----------------------------------------------------------------------------------

/// What a `Handle` is.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum HandleType {
    Phase(HandleKind),
    Signal(i32),
}

/// An idle, prepare or check handle, or a signal watcher.
#[pyclass(module = "phaseloop", frozen)]
pub struct Handle {
    lp: Py<Loop>,
    id: Id,
    what: HandleType,
    refed: AtomicBool,
    closed: AtomicBool,
}

impl Handle {
    pub(crate) fn new(lp: Py<Loop>, id: Id, what: HandleType) -> Handle {
        Handle {
            lp,
            id,
            what,
            refed: AtomicBool::new(true),
            closed: AtomicBool::new(false),
        }
    }

    fn is_active(&self, lp: &Core) -> bool {
        match self.what {
            HandleType::Phase(_) => lp.handle_active(self.id),
            HandleType::Signal(_) => lp.signal_active(self.id),
        }
    }

    fn set_ref(slf: PyRef<'_, Self>, refed: bool) -> PyResult<PyRef<'_, Self>> {
        let lp = slf.lp.get().open()?;
        slf.refed.store(refed, Ordering::Relaxed);
        let result = match slf.what {
            HandleType::Phase(_) => lp.set_handle_ref(slf.id, refed),
            HandleType::Signal(_) => lp.set_signal_ref(slf.id, refed),
        };
        found_or_finished(result)?;
        Ok(slf)
    }
}

#[pymethods]
impl Handle {
    /// Starts the handle again (no-op if it is active). `RuntimeError` once closed.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let lp = self.lp.get().open()?;
        if self.closed.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err("the handle is closed"));
        }
        match self.what {
            HandleType::Phase(_) => lp.start_handle(self.id).map_err(core_error),
            HandleType::Signal(signum) => {
                if lp.signal_active(self.id) {
                    return Ok(());
                }
                signals::prepare_sigint(py, signum)?;
                lp.start_signal(self.id).map_err(core_error)?;
                signals::watch_started(lp.host(), signum);
                Ok(())
            }
        }
    }

    /// Stops the handle (no-op if it is stopped or closed).
    fn stop(&self) -> PyResult<()> {
        let lp = self.lp.get().open()?;
        if self.closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.what {
            HandleType::Phase(_) => found_or_finished(lp.stop_handle(self.id)),
            HandleType::Signal(signum) => {
                if lp.signal_active(self.id) {
                    found_or_finished(lp.stop_signal(self.id))?;
                    signals::watch_stopped(lp.host(), signum);
                }
                Ok(())
            }
        }
    }

    #[pyo3(name = "ref")]
    fn ref_(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Handle::set_ref(slf, true)
    }

    fn unref(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Handle::set_ref(slf, false)
    }

    fn has_ref(&self) -> PyResult<bool> {
        self.lp.get().open()?;
        Ok(self.refed.load(Ordering::Relaxed))
    }

    /// Stops and closes the handle; `callback` runs in the next close phase. A second close
    /// does nothing.
    #[pyo3(signature = (callback = None))]
    fn close(&self, callback: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let lp = self.lp.get().open()?;
        let close_cb = PyCallback::optional(callback)?;
        if self.closed.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        match self.what {
            HandleType::Phase(_) => lp.close_handle(self.id, close_cb).map_err(core_error),
            HandleType::Signal(signum) => {
                if lp.signal_active(self.id) {
                    signals::watch_stopped(lp.host(), signum);
                }
                lp.close_signal(self.id, close_cb).map_err(core_error)
            }
        }
    }

    /// Whether the handle is started.
    #[getter]
    fn active(&self) -> PyResult<bool> {
        Ok(self.is_active(self.lp.get().owned()?))
    }

    fn __repr__(&self) -> String {
        match self.what {
            HandleType::Phase(kind) => format!("<phaseloop.Handle {}>", kind_name(kind)),
            HandleType::Signal(signum) => format!("<phaseloop.Handle signal {signum}>"),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)
    }
}

fn kind_name(kind: HandleKind) -> &'static str {
    match kind {
        HandleKind::Idle => "idle",
        HandleKind::Prepare => "prepare",
        HandleKind::Check => "check",
    }
}

// ----- Watcher ----------------------------------------------------------------------------------

/// An fd watcher from `watch_fd` (`uv_poll_t`).
#[pyclass(module = "phaseloop", frozen)]
pub struct Watcher {
    lp: Py<Loop>,
    id: Id,
    fd: i32,
    refed: AtomicBool,
    closed: AtomicBool,
}

impl Watcher {
    pub(crate) fn new(lp: Py<Loop>, id: Id, fd: i32) -> Watcher {
        Watcher {
            lp,
            id,
            fd,
            refed: AtomicBool::new(true),
            closed: AtomicBool::new(false),
        }
    }

    fn set_ref(slf: PyRef<'_, Self>, refed: bool) -> PyResult<PyRef<'_, Self>> {
        let lp = slf.lp.get().open()?;
        slf.refed.store(refed, Ordering::Relaxed);
        found_or_finished(lp.set_watcher_ref(slf.id, refed))?;
        Ok(slf)
    }
}

#[pymethods]
impl Watcher {
    /// (Re)starts watching with these interests. `RuntimeError` once closed.
    #[pyo3(signature = (*, readable = true, writable = false))]
    fn start(&self, readable: bool, writable: bool) -> PyResult<()> {
        let lp = self.lp.get().open()?;
        if self.closed.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err("the watcher is closed"));
        }
        lp.start_watcher(self.id, interest(readable, writable)?)
            .map_err(core_error)
    }

    /// Stops watching (no-op if stopped or closed).
    fn stop(&self) -> PyResult<()> {
        let lp = self.lp.get().open()?;
        if self.closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        found_or_finished(lp.stop_watcher(self.id))
    }

    #[pyo3(name = "ref")]
    fn ref_(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Watcher::set_ref(slf, true)
    }

    fn unref(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        Watcher::set_ref(slf, false)
    }

    fn has_ref(&self) -> PyResult<bool> {
        self.lp.get().open()?;
        Ok(self.refed.load(Ordering::Relaxed))
    }

    /// Stops and closes the watcher; `callback` runs in the next close phase.
    #[pyo3(signature = (callback = None))]
    fn close(&self, callback: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let lp = self.lp.get().open()?;
        let close_cb = PyCallback::optional(callback)?;
        if self.closed.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        lp.close_watcher(self.id, close_cb).map_err(core_error)
    }

    /// Whether the watcher is started.
    #[getter]
    fn active(&self) -> PyResult<bool> {
        Ok(self.lp.get().owned()?.watcher_active(self.id))
    }

    /// The watched fd.
    #[getter]
    fn fd(&self) -> i32 {
        self.fd
    }

    fn __repr__(&self) -> String {
        format!("<phaseloop.Watcher fd {}>", self.fd)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)
    }
}

// ----- Work -------------------------------------------------------------------------------------

/// A work request from `queue_work` (`uv_work_t`).
#[pyclass(module = "phaseloop", frozen)]
pub struct Work {
    lp: Py<Loop>,
    id: Id,
}

impl Work {
    pub(crate) fn new(lp: Py<Loop>, id: Id) -> Work {
        Work { lp, id }
    }
}

#[pymethods]
impl Work {
    /// Cancels the job if no pool thread has started it: `True`, and its callback then gets a
    /// `phaseloop.Cancelled` error in the next poll phase. `False` once it started or finished.
    fn cancel(&self) -> PyResult<bool> {
        match self.lp.get().open()?.cancel_work(self.id) {
            Ok(()) => Ok(true),
            Err(CoreError::Busy | CoreError::NotFound) => Ok(false),
            Err(err) => Err(core_error(err)),
        }
    }

    /// Whether its callback has run (or the loop was closed).
    #[getter]
    fn done(&self) -> PyResult<bool> {
        Ok(!self.lp.get().owned()?.work_pending(self.id))
    }

    fn __repr__(&self) -> &'static str {
        "<phaseloop.Work>"
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)
    }
}
