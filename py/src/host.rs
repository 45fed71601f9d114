//! [`Host`]: the Python binding's per-loop state inside the core loop (`on_error`, the trace
//! hook, the promise rejection listeners, SIGINT bookkeeping, the way back to the Python `Loop`),
//! reachable from every callback through `Loop::host`.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyWeakrefReference};
use pyo3::PyTraverseError;

use phaseloop_core::{TraceEvent, TraceHook};

use crate::callback::PyCallback;
use crate::context::LoopSnapshots;
use crate::event_loop::Loop;
use crate::handles::Immediate;
use crate::promise_host::upgrade_owner;
use crate::signals;

/// Per-loop Python state. Touched on the loop's thread only (see `owner`).
#[derive(Default)]
pub struct Host {
    on_error: RefCell<Option<Py<PyAny>>>,
    /// `loop.trace`, called by [`core_trace_hook`] (the core's hook while one is set). Held
    /// here, where the garbage collector sees it, rather than in the core's hook.
    trace: RefCell<Option<Py<PyAny>>>,
    on_unhandled_rejection: RefCell<Option<Py<PyAny>>>,
    on_rejection_handled: RefCell<Option<Py<PyAny>>>,
    /// A `KeyboardInterrupt` or `SystemExit` raised by a promise handler: it rejected the
    /// handler's promise, and stops `run()` once the job is done.
    fatal: RefCell<Option<PyErr>>,
    /// The Python `Loop` (weakly: it owns this), for the promise wrappers made from inside the
    /// core (a thenable's resolving functions, an unhandled-rejection report).
    owner: RefCell<Option<Py<PyWeakrefReference>>>,
    /// This loop's active SIGINT watchers (see `signals`).
    pub(crate) sigint_watchers: Cell<usize>,
    /// The context snapshot the callbacks that run once share (see `context`).
    pub(crate) snapshots: LoopSnapshots,
    /// The `Immediate` last handed out, reused once nothing else holds it (see
    /// `Immediate::handed_out`).
    pub(crate) spare_immediate: RefCell<Option<Py<Immediate>>>,
    /// What this loop's pool threads are named in Python, `{prefix}_N` (see `gil_session`);
    /// `None`: their OS name, `phaseloop-pool-N`.
    pool_thread_prefix: RefCell<Option<Arc<str>>>,
}

impl Host {
    /// The prefix of this loop's pool threads' Python names, if one was set.
    pub(crate) fn pool_thread_prefix(&self) -> Option<Arc<str>> {
        self.pool_thread_prefix.borrow().clone()
    }

    /// Names the pool threads that have not run Python yet `{prefix}_N`.
    pub(crate) fn set_pool_thread_prefix(&self, prefix: &str) {
        *self.pool_thread_prefix.borrow_mut() = Some(Arc::from(prefix));
    }

    pub(crate) fn on_error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.on_error.borrow().as_ref().map(|f| f.clone_ref(py))
    }

    pub(crate) fn set_on_error(&self, handler: Option<Py<PyAny>>) {
        let old = self.on_error.replace(handler);
        drop(old);
    }

    pub(crate) fn trace_hook(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.trace.borrow().as_ref().map(|f| f.clone_ref(py))
    }

    pub(crate) fn trace_hook_set(&self) -> bool {
        self.trace.borrow().is_some()
    }

    /// Keeps `loop.trace`; the caller installs [`core_trace_hook`] in the core with it.
    pub(crate) fn set_trace(&self, hook: Option<Py<PyAny>>) {
        let old = self.trace.replace(hook);
        drop(old);
    }

    pub(crate) fn on_unhandled_rejection(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.on_unhandled_rejection
            .borrow()
            .as_ref()
            .map(|f| f.clone_ref(py))
    }

    pub(crate) fn set_on_unhandled_rejection(&self, hook: Option<Py<PyAny>>) {
        let old = self.on_unhandled_rejection.replace(hook);
        drop(old);
    }

    pub(crate) fn on_rejection_handled(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.on_rejection_handled
            .borrow()
            .as_ref()
            .map(|f| f.clone_ref(py))
    }

    pub(crate) fn set_on_rejection_handled(&self, hook: Option<Py<PyAny>>) {
        let old = self.on_rejection_handled.replace(hook);
        drop(old);
    }

    /// Keeps the first `KeyboardInterrupt` / `SystemExit` a promise handler raised.
    pub(crate) fn keep_fatal(&self, err: PyErr) {
        let mut fatal = self.fatal.borrow_mut();
        if fatal.is_none() {
            *fatal = Some(err);
        }
    }

    pub(crate) fn take_fatal(&self) -> Option<PyErr> {
        self.fatal.borrow_mut().take()
    }

    /// Remembers the Python `Loop` this host belongs to (once).
    pub(crate) fn remember_owner(&self, lp: &Bound<'_, Loop>) -> PyResult<()> {
        if self.owner.borrow().is_none() {
            let weak = PyWeakrefReference::new(lp)?.unbind();
            *self.owner.borrow_mut() = Some(weak);
        }
        Ok(())
    }

    /// The Python `Loop`, if it was remembered and still exists.
    pub(crate) fn owner(&self, py: Python<'_>) -> Option<Py<Loop>> {
        self.owner
            .borrow()
            .as_ref()
            .and_then(|weak| upgrade_owner(py, weak))
    }

    /// Calls the trace hook before a callback: `hook(iteration, phase, kind, callback)` (the
    /// core tells after it too, which Python's hook is not).
    #[cold]
    fn trace(&self, py: Python<'_>, event: &TraceEvent, cb: &PyCallback) -> PyResult<()> {
        if !event.begin {
            return Ok(());
        }
        let Some(hook) = self.trace_hook(py) else {
            return Ok(());
        };
        let phase = event.phase.map(|phase| PyString::intern(py, phase.name()));
        let kind = PyString::intern(py, event.kind.name());
        hook.call1(py, (event.iteration, phase, kind, cb.traced_object(py)))
            .map(drop)
    }

    /// An exception escaped a callback (ordering rule 8, docs/ordering.md): `on_error(exc)` if set,
    /// else it stops `run`. `KeyboardInterrupt` and `SystemExit` always stop `run`, as in asyncio.
    #[cold]
    pub(crate) fn uncaught(&self, py: Python<'_>, err: PyErr) -> PyResult<()> {
        if err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py) {
            return Err(err);
        }
        match self.on_error(py) {
            Some(handler) => handler.call1(py, (err.into_value(py),)).map(drop),
            None => Err(err),
        }
    }

    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(on_error) = self.on_error.try_borrow() {
            visit.call(on_error.as_ref())?;
        }
        if let Ok(trace) = self.trace.try_borrow() {
            visit.call(trace.as_ref())?;
        }
        if let Ok(hook) = self.on_unhandled_rejection.try_borrow() {
            visit.call(hook.as_ref())?;
        }
        if let Ok(hook) = self.on_rejection_handled.try_borrow() {
            visit.call(hook.as_ref())?;
        }
        if let Ok(spare) = self.spare_immediate.try_borrow() {
            visit.call(spare.as_ref())?;
        }
        self.snapshots.traverse(visit)
    }

    /// Drops the hooks (the garbage collector's `__clear__`).
    pub(crate) fn clear(&self) {
        self.set_on_error(None);
        self.set_trace(None);
        self.set_on_unhandled_rejection(None);
        self.set_on_rejection_handled(None);
        self.release_caches();
    }

    /// Drops what the loop keeps only to reuse (the context snapshot, the spare `Immediate`),
    /// when `run()` returns and when the loop closes: a closed or idle loop holds no context
    /// variable's value alive, and the spare `Immediate`, which holds the loop, no cycle.
    pub(crate) fn release_caches(&self) {
        self.snapshots.clear();
        let spare = self.spare_immediate.take();
        drop(spare);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        signals::forget_sigint_watchers(self);
    }
}

/// The core's trace hook while `loop.trace` is set: it calls that hook (see [`Host::trace`]),
/// and an exception it raises is the callback's (`on_error`, else `run()` raises it; the callback
/// does not run). It holds nothing, so setting `loop.trace` again only swaps the host's object.
pub(crate) fn core_trace_hook() -> TraceHook<PyCallback> {
    Box::new(|lp, event, cb| {
        // SAFETY: the core calls its trace hook only around a callback it runs, so inside
        // `Loop.run`, where the thread is attached (see `PyCallback::call`).
        let py = unsafe { Python::assume_attached() };
        lp.host().trace(py, event, cb)
    })
}
