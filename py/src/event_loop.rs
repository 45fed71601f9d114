//! The `Loop` class: creating, running, closing and inspecting a loop. Scheduling is in
//! `scheduling.rs`, work in `work.rs`, monitoring in `monitor.rs`: each adds its own
//! `#[pymethods]` block to this class (as the promise layer will).

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTraverseError;

use phaseloop_core::{ClockKind, Error as CoreError, Loop as CoreLoop, LoopOptions};
use phaseloop_core::{Remote, RunError};

use crate::args;
use crate::callback::PyCallback;
use crate::context::ThreadsafeSnapshots;
use crate::errors::{core_error, loop_closed};
use crate::host::{core_trace_hook, Host};
use crate::owner::ThreadBound;
use crate::signals;

/// The core loop as the binding uses it.
pub(crate) type Core = CoreLoop<PyCallback>;

/// A Node.js-style event loop.
#[pyclass(module = "phaseloop", name = "Loop", frozen, weakref, subclass)]
pub struct Loop {
    /// The loop, usable from its own thread only.
    core: ThreadBound<Core>,
    /// The way in from other threads (`call_threadsafe`).
    pub(crate) remote: Remote<PyCallback>,
    /// The context snapshots of `call_threadsafe`'s callbacks (see `context`).
    pub(crate) remote_snapshots: ThreadsafeSnapshots,
    /// Whether `record()` is on or a `trace` hook is set, readable from any thread (a
    /// thread-safe call labels its callback for the timeline only then).
    pub(crate) observed_anywhere: AtomicBool,
}

impl Loop {
    /// Updates [`Loop::observed_anywhere`] after recording or the trace hook changed.
    pub(crate) fn note_observed(&self, lp: &Core) {
        let observed = lp.is_recording() || lp.host().trace_hook_set();
        self.observed_anywhere.store(observed, Ordering::Relaxed);
    }

    /// The core loop, for a method called on the loop's own thread on an open loop.
    #[inline]
    pub(crate) fn open(&self) -> PyResult<&Core> {
        let lp = self.core.get()?;
        if lp.is_closed() {
            Err(loop_closed())
        } else {
            Ok(lp)
        }
    }

    /// The core loop on its own thread, open or closed.
    #[inline]
    pub(crate) fn owned(&self) -> PyResult<&Core> {
        self.core.get()
    }
}

/// Closes the core loop (`RuntimeError` from inside a callback).
fn close_core(lp: &Core) -> PyResult<()> {
    lp.close().map_err(|err| match err {
        CoreError::InCallback => PyRuntimeError::new_err(
            "close() cannot be called from inside a loop callback or while run() runs",
        ),
        other => core_error(other),
    })?;
    signals::forget_sigint_watchers(lp.host());
    lp.host().release_caches();
    Ok(())
}

#[pymethods]
impl Loop {
    #[new]
    #[pyo3(
        signature = (*, threadpool_size = None, clock = None, drain = None),
        text_signature = "(*, threadpool_size=None, clock='real', drain='callback')"
    )]
    fn new(
        threadpool_size: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
        drain: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let options = LoopOptions {
            clock: args::clock(clock)?,
            drain: args::drain(drain)?,
            threadpool_size: args::threadpool_size(threadpool_size)?,
        };
        let lp = Core::with_host(options, Host::default()).map_err(core_error)?;
        let remote = lp.remote().map_err(core_error)?;
        Ok(Loop {
            core: ThreadBound::new(lp),
            remote,
            remote_snapshots: ThreadsafeSnapshots::default(),
            observed_anywhere: AtomicBool::new(false),
        })
    }

    /// Runs the loop (`uv_run`); returns whether ref'd work remains.
    #[pyo3(signature = (mode = None), text_signature = "($self, mode='default')")]
    fn run(&self, py: Python<'_>, mode: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let lp = self.open()?;
        let mode = args::run_mode(mode)?;
        let _wakeup = signals::route_signals(py, lp, mode)?;
        let result = lp.run(mode);
        lp.host().release_caches();
        self.remote_snapshots.clear();
        match result {
            Ok(alive) => Ok(alive),
            Err(RunError::Callback(err)) => Err(err),
            Err(RunError::Loop(CoreError::InCallback)) => Err(PyRuntimeError::new_err(
                "run() cannot be called from inside a loop callback",
            )),
            Err(RunError::Loop(err)) => Err(core_error(err)),
        }
    }

    /// Makes `run()` return at the end of the current iteration (`uv_stop`).
    fn stop(&self) -> PyResult<()> {
        self.open()?.stop();
        Ok(())
    }

    /// The loop's cached time in ms since it was created.
    fn now(&self) -> PyResult<u64> {
        Ok(self.open()?.now())
    }

    /// Refreshes the cached time.
    fn update_time(&self) -> PyResult<()> {
        self.open()?.update_time();
        Ok(())
    }

    /// A monotonic clock in ns (virtual with `clock="virtual"`).
    fn hrtime(&self) -> PyResult<u64> {
        Ok(self.open()?.hrtime())
    }

    /// Virtual clock only: moves time forward `ms` now.
    fn advance(&self, ms: &Bound<'_, PyAny>) -> PyResult<()> {
        let lp = self.open()?;
        let ms = args::millis(ms, "ms")?;
        lp.advance(ms).map_err(core_error)
    }

    /// `(kind, ref'd, detail)` for everything that keeps the loop alive or waits in it.
    fn handles(&self) -> PyResult<Vec<(&'static str, bool, String)>> {
        Ok(self
            .open()?
            .handles()
            .into_iter()
            .map(|h| (h.kind, h.refed, h.detail))
            .collect())
    }

    /// The poller's fd, for embedding in another loop (`uv_backend_fd`).
    fn fileno(&self) -> PyResult<i32> {
        Ok(self.open()?.backend_fd())
    }

    /// The poll timeout in ms for embedding (`uv_backend_timeout`): -1 for none.
    fn backend_timeout(&self) -> PyResult<i64> {
        Ok(self
            .open()?
            .backend_timeout()
            .map_or(-1, |ms| i64::try_from(ms).unwrap_or(i64::MAX)))
    }

    /// The phase running now, or `None` outside `run()`.
    #[getter]
    fn phase(&self) -> PyResult<Option<&'static str>> {
        Ok(self.owned()?.phase().map(|phase| phase.name()))
    }

    /// Whether ref'd work remains.
    #[getter]
    fn alive(&self) -> PyResult<bool> {
        Ok(self.owned()?.alive())
    }

    /// How many iterations have started (0 during the main script).
    #[getter]
    fn iteration(&self) -> PyResult<u64> {
        Ok(self.owned()?.iteration())
    }

    /// The clock, `"real"` or `"virtual"`.
    #[getter]
    fn clock(&self) -> PyResult<&'static str> {
        Ok(self.owned()?.clock_kind().name())
    }

    /// The drain mode, `"callback"` or `"phase"`.
    #[getter]
    fn drain(&self) -> PyResult<&'static str> {
        Ok(self.owned()?.drain_mode().name())
    }

    /// The worker pool's size.
    #[getter]
    fn threadpool_size(&self) -> PyResult<usize> {
        Ok(self.owned()?.threadpool_size())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        Ok(self.owned()?.is_closed())
    }

    /// Called with the exception when a callback raises; `None` makes `run()` raise it.
    #[getter]
    fn get_on_error(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.owned()?.host().on_error(py))
    }

    #[setter]
    fn set_on_error(&self, handler: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let handler = optional_callable(handler, "on_error")?;
        self.owned()?.host().set_on_error(handler);
        Ok(())
    }

    /// Called as `trace(iteration, phase, kind, callback)` before every callback; or `None`.
    #[getter]
    fn get_trace(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.owned()?.host().trace_hook(py))
    }

    #[setter]
    fn set_trace(&self, hook: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let hook = optional_callable(hook, "trace")?;
        let lp = self.owned()?;
        lp.set_trace(hook.is_some().then(core_trace_hook));
        lp.host().set_trace(hook);
        self.note_observed(lp);
        Ok(())
    }

    /// Cancels everything still queued, joins the pool and frees the loop. A second call does
    /// nothing.
    fn close(&self) -> PyResult<()> {
        close_core(self.owned()?)?;
        self.remote_snapshots.clear();
        Ok(())
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().open()?;
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match self.owned() {
            Ok(lp) if lp.is_closed() => "<phaseloop.Loop closed>".to_owned(),
            Ok(lp) => format!(
                "<phaseloop.Loop clock={} phase={} alive={}>",
                if lp.clock_kind() == ClockKind::Virtual {
                    "virtual"
                } else {
                    "real"
                },
                lp.phase().map_or("None", |p| p.name()),
                if lp.alive() { "True" } else { "False" }
            ),
            Err(_) => "<phaseloop.Loop of another thread>".to_owned(),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // SAFETY: the collector calls this with the GIL held (see `owner`).
        let lp = unsafe { self.core.get_unchecked() };
        let mut result = Ok(());
        lp.visit_callbacks(|cb| {
            if result.is_ok() {
                result = cb.traverse(&visit);
            }
        });
        result?;
        self.remote_snapshots.traverse(&visit)?;
        lp.host().traverse(&visit)
    }

    fn __clear__(&self) {
        // SAFETY: the collector clears only unreachable objects, with the GIL held (see `owner`).
        let lp = unsafe { self.core.get_unchecked() };
        // Cannot be running: a running loop is reachable from the frame running it.
        let _ = close_core(lp);
        lp.set_trace(None);
        lp.host().clear();
        self.remote_snapshots.clear();
    }
}

fn optional_callable(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<Py<PyAny>>> {
    match obj {
        None => Ok(None),
        Some(obj) if obj.is_none() => Ok(None),
        Some(obj) if obj.is_callable() => Ok(Some(obj.clone().unbind())),
        Some(obj) => Err(PyTypeError::new_err(format!(
            "{name} must be callable or None, not {}",
            args::type_name(obj)
        ))),
    }
}
