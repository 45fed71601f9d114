//! `phaseloop.asyncio`'s ready queue, natively: `call_soon`, its handle, and the batch of
//! ready handles that one immediate runs in the check phase (asyncio's `_ready` deque and the
//! loop over it in `BaseEventLoop._run_once`).
//!
//! A task step or a future callback is a `call_soon`, so this is the path every asyncio program
//! lives on. Written in Python on top of asyncio's `Handle` it cost what asyncio's own loop
//! costs (a Python `Handle.__init__`, a `get_debug()` call and the loop's frames); here the
//! handle is a native object with asyncio's `Handle` interface, as uvloop's is (neither is a
//! subclass of `asyncio.Handle`). Debug mode, and a loop that records its timeline, take the
//! Python path in `phaseloop/asyncio.py` instead (asyncio's own handles with their source
//! tracebacks; an immediate and a label per handle), feeding the same queue so the order is
//! one FIFO.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PySystemExit};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::PyTraverseError;

use crate::callback::{qualname, OnceJob};
use crate::context::{call_in_context, HandleContext, LoopSnapshots};
use crate::event_loop::Loop;
use crate::gc_hidden::{Hidden, Referents};
use crate::scheduling::{queue_immediate, queue_threadsafe_job};

/// asyncio's `format_helpers._format_callback_source`, which its handles' `repr` and error
/// messages use.
static FORMAT_CALLBACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub(crate) fn format_callback<'py>(
    py: Python<'py>,
    callback: &Py<PyAny>,
    args: &Py<PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    FORMAT_CALLBACK
        .get_or_try_init(py, || {
            py.import("asyncio.format_helpers")?
                .getattr("_format_callback_source")
                .map(Bound::unbind)
        })?
        .bind(py)
        .call1((callback, args))
}

/// A callback `call_soon` scheduled: `asyncio.Handle`'s interface (`cancel()`, `cancelled()`,
/// `get_context()`, and the private attributes asyncio's helpers read).
#[pyclass(module = "phaseloop.asyncio", name = "Handle", frozen, weakref)]
pub struct ReadyHandle {
    callback: Py<PyAny>,
    args: Py<PyTuple>,
    context: HandleContext,
    event_loop: Py<PyAny>,
    /// The phaseloop loop, for the context snapshots of its thread.
    pl: Py<Loop>,
    cancelled: AtomicBool,
}

/// asyncio's `Handle._run` for a native handle (`handle`, a call_soon or a call_later one):
/// asyncio's refusal of a closed loop's `call_soon`, `call_soon_threadsafe`, `call_at` and
/// `call_later` (the same message as `BaseEventLoop._check_closed`).
#[inline]
pub(crate) fn refuse_if_closed(closed: &AtomicBool) -> PyResult<()> {
    if closed.load(Ordering::Relaxed) {
        return Err(PyRuntimeError::new_err("Event loop is closed"));
    }
    Ok(())
}

/// `callback(*args)` in `context`; an exception goes to the loop's exception handler, except
/// `SystemExit` and `KeyboardInterrupt`, which propagate.
#[inline]
pub(crate) fn run_callback(
    handle: &Bound<'_, PyAny>,
    event_loop: &Py<PyAny>,
    context: &Py<PyAny>,
    callback: &Py<PyAny>,
    args: &Py<PyTuple>,
) -> PyResult<()> {
    let py = handle.py();
    let Err(err) = call_in_context(py, context, callback, Some(args), &[]) else {
        return Ok(());
    };
    if err.is_instance_of::<PySystemExit>(py) || err.is_instance_of::<PyKeyboardInterrupt>(py) {
        return Err(err);
    }
    let source = format_callback(py, callback, args)?;
    let details = PyDict::new(py);
    details.set_item("message", format!("Exception in callback {source}"))?;
    details.set_item("exception", err.into_value(py))?;
    details.set_item("handle", handle)?;
    event_loop
        .bind(py)
        .call_method1("call_exception_handler", (details,))?;
    Ok(())
}

/// Debug mode's run of a handle (ours or asyncio's), unless it was cancelled: the loop's
/// current handle while it runs, and a warning when it is slow (`_run_handle_timed` in
/// `phaseloop/asyncio.py`, as asyncio's `_run_once` does it).
pub(crate) fn run_timed(event_loop: &Py<PyAny>, handle: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = handle.py();
    if handle.getattr(intern!(py, "_cancelled"))?.is_truthy()? {
        return Ok(());
    }
    py.import("phaseloop.asyncio")?
        .getattr("_run_handle_timed")?
        .call1((event_loop, handle))?;
    Ok(())
}

/// A native `call_soon_threadsafe`'s handle, as the thread-safe call that runs it in the poll
/// phase: the job is the handle itself, so the call makes no bound method and takes no context
/// snapshot (the handle has its context).
struct ThreadsafeRun(Py<ReadyHandle>);

impl OnceJob for ThreadsafeRun {
    /// Runs the handle unless it was cancelled.
    fn run_once(
        self: Box<Self>,
        py: Python<'_>,
        _lp: &phaseloop_core::Loop<crate::callback::PyCallback>,
    ) -> PyResult<()> {
        let handle = self.0.bind(py);
        if handle.get().cancelled() {
            return Ok(());
        }
        ReadyHandle::run(handle)
    }

    fn traverse_job(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.0)
    }

    /// The handle's callback.
    fn trace_target(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        Some(self.0.get().callback.clone_ref(py))
    }

    /// The callback's `__qualname__`, as a Python-path handle is labelled.
    fn timeline_label(&self, py: Python<'_>) -> Py<PyString> {
        qualname(self.0.get().callback.bind(py))
            .unwrap_or_else(|| intern!(py, "call_soon_threadsafe").clone().unbind())
    }
}

/// The context snapshots of `pl`'s thread, if this is it (asyncio's `call_soon` from another
/// thread is the program's error, which only debug mode reports: its handle copies the context
/// as asyncio's does).
#[inline]
pub(crate) fn loop_snapshots(pl: &Loop) -> Option<&LoopSnapshots> {
    pl.owned().ok().map(|core| &core.host().snapshots)
}

impl ReadyHandle {
    fn run(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let handle = slf.get();
        let context = handle.context.get(py, loop_snapshots(handle.pl.get()))?;
        run_callback(
            slf.as_any(),
            &handle.event_loop,
            context,
            &handle.callback,
            &handle.args,
        )
    }
}

impl Referents for ReadyHandle {
    fn visit_referents(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.callback)?;
        visit.call(&self.args)?;
        self.context.traverse(visit)?;
        visit.call(&self.event_loop)?;
        visit.call(&self.pl)
    }
}

#[pymethods]
impl ReadyHandle {
    /// Cancels the callback: it will not run.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether `cancel()` was called.
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The `contextvars.Context` the callback runs in.
    fn get_context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let context = self.context.get(py, loop_snapshots(self.pl.get()))?;
        Ok(context.clone_ref(py))
    }

    /// Runs the callback now, as `asyncio.Handle._run` does (debug mode's timed runs use it).
    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::run(slf)
    }

    #[getter]
    fn _callback(&self, py: Python<'_>) -> Py<PyAny> {
        self.callback.clone_ref(py)
    }

    #[getter]
    fn _args(&self, py: Python<'_>) -> Py<PyTuple> {
        self.args.clone_ref(py)
    }

    #[getter]
    fn _context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_context(py)
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    #[getter]
    fn _cancelled(&self) -> bool {
        self.cancelled()
    }

    /// Always `None`: debug mode, which records where a handle was made, uses asyncio's own.
    #[getter]
    fn _source_traceback(&self) -> Option<Py<PyAny>> {
        None
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let source = format_callback(py, &self.callback, &self.args)?;
        let state = if self.cancelled() { "cancelled " } else { "" };
        Ok(format!("<Handle {state}{source}>"))
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.visit_referents(&visit)
    }
}

/// A queued handle: one of ours, hidden from the collector while it waits (see `gc_hidden`), or
/// asyncio's own (debug mode's, and those pushed from Python).
enum Ready {
    Native(Hidden<ReadyHandle>),
    Asyncio(Py<PyAny>),
}

impl Ready {
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        match self {
            Ready::Native(handle) => handle.traverse(visit),
            Ready::Asyncio(handle) => visit.call(handle),
        }
    }
}

/// The ready handles of an `EventLoop`, and the immediate that runs them.
#[pyclass(module = "phaseloop.asyncio", frozen)]
pub struct ReadyQueue {
    event_loop: Py<PyAny>,
    pl: Py<Loop>,
    ready: Mutex<VecDeque<Ready>>,
    /// The immediate that runs the queue is scheduled.
    batch_due: AtomicBool,
    closed: AtomicBool,
    debug: AtomicBool,
    /// `self.run`, bound once: looking the method up made a new bound method per batch, which
    /// cost a chained `call_soon` more than the rest of its scheduling (a cycle through the
    /// queue, which `__traverse__` shows the collector and `__clear__` breaks).
    run_method: Mutex<Option<Py<PyAny>>>,
}

impl ReadyQueue {
    /// A native handle for `callback(*args)` in `context`, or in the current one (a snapshot
    /// shared through `snapshots`, copied for the handle when it runs; see `HandleContext`).
    #[inline]
    fn new_handle<'py>(
        &self,
        callback: &Bound<'py, PyAny>,
        args: Bound<'py, PyTuple>,
        context: Option<&Bound<'py, PyAny>>,
        snapshots: Option<&LoopSnapshots>,
    ) -> PyResult<Bound<'py, ReadyHandle>> {
        let py = callback.py();
        let context = match context {
            Some(context) if !context.is_none() => HandleContext::given(context.clone().unbind()),
            _ => HandleContext::current(py, snapshots)?,
        };
        Bound::new(
            py,
            ReadyHandle {
                callback: callback.clone().unbind(),
                args: args.unbind(),
                context,
                event_loop: self.event_loop.clone_ref(py),
                pl: self.pl.clone_ref(py),
                cancelled: AtomicBool::new(false),
            },
        )
    }

    /// The `EventLoop`'s Python `method` instead (debug mode, or an observed loop): asyncio's
    /// checks and its own handle.
    fn python_path(
        &self,
        method: &Bound<'_, PyString>,
        callback: &Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = callback.py();
        let context = context.map_or_else(|| py.None(), |c| c.clone().unbind());
        Ok(self
            .event_loop
            .bind(py)
            .call_method1(method, (callback, args, context))?
            .unbind())
    }

    /// Schedules the immediate that runs the next batch (`run`), natively: one per loop
    /// iteration on a chain of `call_soon`s, so its cost is a chained step's.
    fn schedule_batch(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let queue = slf.get();
        let cached = queue
            .run_method
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|run| run.clone_ref(py));
        let run = match cached {
            Some(run) => run.into_bound(py),
            None => {
                let run = slf.getattr(intern!(py, "run"))?;
                *queue.run_method.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(run.clone().unbind());
                run
            }
        };
        queue_immediate(queue.pl.bind(py), &run)
    }

    /// Queues a handle for the next batch, scheduling the batch if none is due.
    #[inline]
    fn enqueue(slf: &Bound<'_, Self>, handle: Ready) -> PyResult<()> {
        let queue = slf.get();
        queue
            .ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(handle);
        if !queue.batch_due.swap(true, Ordering::Relaxed) {
            Self::schedule_batch(slf)?;
        }
        Ok(())
    }

    fn take_front(&self) -> Option<Ready> {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    fn len(&self) -> usize {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Runs one queued handle, ours or asyncio's.
    fn run_one(&self, py: Python<'_>, handle: &Ready) -> PyResult<()> {
        let debug = self.debug.load(Ordering::Relaxed);
        match handle {
            Ready::Native(ours) => {
                let ours = ours.handle().bind(py);
                if debug {
                    run_timed(&self.event_loop, ours.as_any())
                } else if ours.get().cancelled() {
                    Ok(())
                } else {
                    ReadyHandle::run(ours)
                }
            }
            Ready::Asyncio(theirs) => {
                let theirs = theirs.bind(py);
                if debug {
                    run_timed(&self.event_loop, theirs)
                } else if theirs.getattr(intern!(py, "_cancelled"))?.is_truthy()? {
                    Ok(())
                } else {
                    theirs.call_method0(intern!(py, "_run")).map(drop)
                }
            }
        }
    }

    /// Lets go of a handle that left the queue (see `gc_hidden`).
    #[inline]
    fn release(py: Python<'_>, handle: Ready) {
        match handle {
            Ready::Native(ours) => ours.release(py),
            Ready::Asyncio(theirs) => drop(theirs),
        }
    }
}

#[pymethods]
impl ReadyQueue {
    #[new]
    fn new(event_loop: Py<PyAny>, pl: Py<Loop>) -> Self {
        ReadyQueue {
            event_loop,
            pl,
            ready: Mutex::new(VecDeque::new()),
            batch_due: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            debug: AtomicBool::new(false),
            run_method: Mutex::new(None),
        }
    }

    /// asyncio's `call_soon(callback, *args, context=None)`.
    #[pyo3(signature = (callback, *args, context = None))]
    fn call_soon(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let queue = slf.get();
        refuse_if_closed(&queue.closed)?;
        let observed = match queue.pl.get().observed() {
            Ok(observed) => observed,
            // Another thread. asyncio's call_soon is not thread-safe, yet outside debug mode
            // (whose `_check_thread` raises, on the Python path below) it does not refuse:
            // the handle is queued as call_soon_threadsafe queues it, safely, and the loop
            // wakes for it.
            Err(_) if !queue.debug.load(Ordering::Relaxed) => {
                return Self::call_soon_threadsafe(slf, callback, args, context);
            }
            Err(_) => true,
        };
        if observed || queue.debug.load(Ordering::Relaxed) {
            // asyncio's checks and handles (debug), or a labelled immediate (recording).
            let method = intern!(py, "_call_soon_python");
            return queue.python_path(method, callback, args, context);
        }
        let snapshots = loop_snapshots(queue.pl.get());
        let handle = queue.new_handle(callback, args, context, snapshots)?;
        let result = handle.clone().into_any().unbind();
        Self::enqueue(slf, Ready::Native(Hidden::hide(handle)))?;
        Ok(result)
    }

    /// asyncio's `call_soon_threadsafe(callback, *args, context=None)`, from any thread: a
    /// native handle run by a thread-safe call in the poll phase. Debug mode, and a loop that
    /// records or traces (whose timeline labels the call), take the Python path.
    #[pyo3(signature = (callback, *args, context = None))]
    fn call_soon_threadsafe(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let queue = slf.get();
        refuse_if_closed(&queue.closed)?;
        let pl = queue.pl.get();
        if queue.debug.load(Ordering::Relaxed) || pl.observed_anywhere.load(Ordering::Relaxed) {
            let method = intern!(py, "_call_soon_threadsafe_python");
            return queue.python_path(method, callback, args, context);
        }
        // A copy of the context of its own, as asyncio's: any thread calls this.
        let handle = queue.new_handle(callback, args, context, None)?.unbind();
        queue_threadsafe_job(pl, Box::new(ThreadsafeRun(handle.clone_ref(py))))?;
        Ok(handle.into_any())
    }

    /// Queues asyncio's own handle (debug mode's, or the Python path's) for the next batch.
    fn push(slf: &Bound<'_, Self>, handle: Py<PyAny>) -> PyResult<()> {
        Self::enqueue(slf, Ready::Asyncio(handle))
    }

    /// Whether a batch is due: a handle queued now joins it (so the order stays FIFO).
    #[getter]
    fn batch_due(&self) -> bool {
        self.batch_due.load(Ordering::Relaxed)
    }

    /// The immediate: runs the handles queued when it started; those they queue wait for the
    /// next iteration. An interrupt out of one leaves the rest for the next run.
    fn run(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let queue = slf.get();
        queue.batch_due.store(false, Ordering::Relaxed);
        for _ in 0..queue.len() {
            let Some(handle) = queue.take_front() else {
                break;
            };
            let ran = queue.run_one(py, &handle);
            Self::release(py, handle);
            if let Err(err) = ran {
                if queue.len() > 0
                    && !queue.closed.load(Ordering::Relaxed)
                    && !queue.batch_due.swap(true, Ordering::Relaxed)
                {
                    Self::schedule_batch(slf)?;
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// Debug mode on or off (`EventLoop.set_debug`).
    fn set_debug(&self, enabled: bool) {
        self.debug.store(enabled, Ordering::Relaxed);
    }

    /// The loop closed: `call_soon` raises, and what was queued is dropped.
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.batch_due.store(false, Ordering::Relaxed);
        let dropped: VecDeque<Ready> =
            std::mem::take(&mut *self.ready.lock().unwrap_or_else(|e| e.into_inner()));
        // Each hidden handle is shown to the collector again if the program still holds it.
        drop(dropped);
        // No batch is scheduled again: the cycle through the bound `run` ends here.
        let run = self
            .run_method
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(run);
    }

    fn __len__(&self) -> usize {
        self.len()
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.event_loop)?;
        visit.call(&self.pl)?;
        if let Ok(ready) = self.ready.try_lock() {
            for handle in ready.iter() {
                handle.traverse(&visit)?;
            }
        }
        if let Ok(run) = self.run_method.try_lock() {
            if let Some(run) = run.as_ref() {
                visit.call(run)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.close();
    }
}
