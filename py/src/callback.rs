//! [`PyCallback`]: what the core loop stores for every Python callback, and how it is called.
//!
//! A callback is the callable, its extra positional args, the `contextvars` context current when
//! it was scheduled (see `context`: a copy of its own, or a snapshot shared with the callbacks
//! scheduled in the same context) and an optional label: four object references,
//! stored inline in the core's queues. Calling it enters the context with the C-level
//! `PyContext_Enter`, calls through vectorcall (or `PyObject_Call` with the args tuple as it
//! is), and exits; there is no Python-level wrapper object on the way. A microtask queued by a
//! promise holds the core's promise job instead (see `promise_host`).
//!
//! This hot path knows no feature: a job run in a callback's place is an [`OnceJob`], and the
//! payload of a feature's event (a work outcome, a network event) a [`Deliver`], each
//! implemented by the feature that owns it. The trace hook is the core's (see
//! `host::core_trace_hook`), told what kind of callback runs by the core itself.

use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use pyo3::PyTraverseError;

use phaseloop_core::{Callback, Event, Loop as CoreLoop};

use crate::args;
use crate::context::{CallContext, Slot, Snapshots};
use crate::gil_session;
use crate::host::Host;

/// A Python callable scheduled on the loop, or a promise job.
pub struct PyCallback {
    /// What runs.
    pub(crate) body: Body,
    /// The `label=` given when scheduling, for the timeline.
    pub(crate) label: Option<Py<PyString>>,
}

/// A job that runs once in a callback's place (a promise reaction or resolve-thenable job):
/// what the loop's callback needs of it, implemented by the feature that queues it.
pub(crate) trait OnceJob: Send {
    /// Runs the job.
    fn run_once(self: Box<Self>, py: Python<'_>, lp: &CoreLoop<PyCallback>) -> PyResult<()>;
    /// Tells the garbage collector what the job holds.
    fn traverse_job(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError>;
    /// What the trace hook is shown as the callback (`None` for a job that calls no handler).
    fn trace_target(&self, py: Python<'_>) -> Option<Py<PyAny>>;
    /// The job's name in the timeline.
    fn timeline_label(&self, py: Python<'_>) -> Py<PyString>;
}

/// The payload of a feature's event (a work outcome, a connection, a read, ...): how it reaches
/// a callback as arguments, implemented by the feature that owns the event.
pub(crate) trait Deliver {
    /// Calls `cb` with this payload's arguments.
    fn deliver(self, py: Python<'_>, cb: &PyCallback) -> PyResult<()>;
}

/// What a [`PyCallback`] runs.
pub(crate) enum Body {
    /// `func(*args)` in `context`.
    Call {
        /// The callable; `None` only for a work request queued without a callback.
        func: Py<PyAny>,
        /// Extra positional args (`None` when there are none).
        args: Option<Py<PyTuple>>,
        /// The `contextvars` context current when it was scheduled.
        context: CallContext,
    },
    /// A promise reaction or resolve-thenable job (its handlers carry their own contexts);
    /// taken out when it runs, since a job runs once.
    Job(Option<Box<dyn OnceJob>>),
    /// The module's own callable (asyncio's ready batch and timer wake-up), which enters the
    /// context of each handle it runs: called in the context the loop runs in, as asyncio's
    /// `_run_once` is, with no snapshot taken or copied for it.
    Plain(Py<PyAny>),
}

impl PyCallback {
    /// A callback for `func(*args)` with a context of its own (it may run more than once);
    /// `TypeError` unless `func` is callable.
    #[inline]
    pub(crate) fn new(
        func: &Bound<'_, PyAny>,
        args: Option<&Bound<'_, PyTuple>>,
        label: Option<Bound<'_, PyString>>,
    ) -> PyResult<PyCallback> {
        args::callable(func, "callback")?;
        let context = CallContext::own(func.py())?;
        Ok(PyCallback::with_context(func, args, label, context))
    }

    /// A callback for `func(*args)` that runs once (an immediate, a tick, a microtask, a
    /// pending callback, a threadsafe call): its context is a snapshot shared through `snapshots`.
    #[inline]
    pub(crate) fn once(
        func: &Bound<'_, PyAny>,
        args: Option<&Bound<'_, PyTuple>>,
        label: Option<Bound<'_, PyString>>,
        snapshots: &Snapshots<impl Slot>,
    ) -> PyResult<PyCallback> {
        args::callable(func, "callback")?;
        let context = CallContext::once(func.py(), snapshots)?;
        Ok(PyCallback::with_context(func, args, label, context))
    }

    #[inline]
    fn with_context(
        func: &Bound<'_, PyAny>,
        args: Option<&Bound<'_, PyTuple>>,
        label: Option<Bound<'_, PyString>>,
        context: CallContext,
    ) -> PyCallback {
        PyCallback {
            body: Body::Call {
                func: func.clone().unbind(),
                args: args
                    .filter(|args| !args.is_empty())
                    .map(|args| args.clone().unbind()),
                context,
            },
            label: label.map(Bound::unbind),
        }
    }

    /// A callback for the module's own `func` (see [`Body::Plain`]), unlabelled.
    #[inline]
    pub(crate) fn plain(func: &Bound<'_, PyAny>) -> PyCallback {
        PyCallback {
            body: Body::Plain(func.clone().unbind()),
            label: None,
        }
    }

    /// A callback that runs `job` once in its place, unlabelled (the job names itself).
    pub(crate) fn job(job: Box<dyn OnceJob>) -> PyCallback {
        PyCallback {
            body: Body::Job(Some(job)),
            label: None,
        }
    }

    /// An optional callback (`close(callback=None)`).
    pub(crate) fn optional(func: Option<&Bound<'_, PyAny>>) -> PyResult<Option<PyCallback>> {
        func.filter(|func| !func.is_none())
            .map(|func| PyCallback::new(func, None, None))
            .transpose()
    }

    /// Whether this is a work request's missing callback (`queue_work(..., callback=None)`).
    pub(crate) fn is_missing(&self, py: Python<'_>) -> bool {
        matches!(&self.body, Body::Call { func, .. } if func.is_none(py))
    }

    /// Tells the garbage collector what this callback holds.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        match &self.body {
            Body::Call {
                func,
                args,
                context,
            } => {
                visit.call(func)?;
                visit.call(args)?;
                context.traverse(visit)
            }
            Body::Job(Some(job)) => job.traverse_job(visit),
            Body::Job(None) => Ok(()),
            Body::Plain(func) => visit.call(func),
        }
    }

    /// Calls it with `extra` positional arguments (only used by callbacks without args).
    #[inline]
    pub(crate) fn call_with(&self, py: Python<'_>, extra: &[*mut ffi::PyObject]) -> PyResult<()> {
        match &self.body {
            Body::Call {
                func,
                args,
                context,
            } => {
                debug_assert!(extra.is_empty() || args.is_none());
                context.call(py, func, args.as_ref(), extra).map(drop)
            }
            Body::Plain(func) => {
                // SAFETY: attached; `func` and every `extra` pointer are live objects.
                let result = unsafe {
                    ffi::PyObject_Vectorcall(
                        func.as_ptr(),
                        extra.as_ptr(),
                        extra.len(),
                        std::ptr::null_mut(),
                    )
                };
                // SAFETY: a new reference, or NULL with an error set.
                unsafe { Bound::from_owned_ptr_or_err(py, result) }.map(drop)
            }
            Body::Job(_) => Ok(()),
        }
    }

    /// What the trace hook is shown as the callback: the callable, or a job's handler or
    /// coroutine (`None` for a job that calls none).
    pub(crate) fn traced_object(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.body {
            Body::Call { func, .. } | Body::Plain(func) => func.clone_ref(py),
            Body::Job(job) => job
                .as_deref()
                .and_then(|job| job.trace_target(py))
                .unwrap_or_else(|| py.None()),
        }
    }

    fn run(&mut self, py: Python<'_>, lp: &CoreLoop<PyCallback>, event: Event<'_>) -> PyResult<()> {
        if let Body::Job(job) = &mut self.body {
            return match job.take() {
                Some(job) => job.run_once(py, lp),
                None => Ok(()),
            };
        }
        match event {
            Event::Fire => self.call_with(py, &[]),
            Event::Io { readable, writable } => {
                // SAFETY: the bool singletons are immortal (or kept alive by the interpreter).
                let flag = |b: bool| unsafe {
                    if b {
                        ffi::Py_True()
                    } else {
                        ffi::Py_False()
                    }
                };
                self.call_with(py, &[flag(readable), flag(writable)])
            }
            Event::IoError(err) => Err(crate::errors::io_error(err)),
            Event::Signal(signum) => {
                let signum = signum.into_pyobject(py)?;
                self.call_with(py, &[signum.as_ptr()])
            }
            Event::Work(outcome) => outcome.deliver(py, self),
            Event::Connection(accepted) => accepted.deliver(py, self),
            Event::Read(read) => read.deliver(py, self),
            Event::Datagram(received) => received.deliver(py, self),
            Event::Exit(status) => status.deliver(py, self),
            Event::Connect(done) | Event::Written(done) | Event::Shutdown(done) => {
                done.deliver(py, self)
            }
        }
    }
}

impl Callback for PyCallback {
    type Error = PyErr;
    type Label = Label;
    type Host = Host;
    type Slot = Self;

    #[inline]
    fn call(&mut self, lp: &CoreLoop<Self>, event: Event) -> PyResult<()> {
        // SAFETY: the core calls callbacks from `run` only, and only `Loop.run`, a Python method,
        // calls that: the thread is attached.
        let py = unsafe { Python::assume_attached() };
        self.run(py, lp, event)
    }

    /// `on_error(exc)` if set, else `run` stops (see `Host::uncaught`).
    #[cold]
    fn uncaught(lp: &CoreLoop<Self>, err: PyErr) -> PyResult<()> {
        // SAFETY: the core hands errors back here only inside `run`, as it calls callbacks
        // (see `call`).
        let py = unsafe { Python::assume_attached() };
        lp.host().uncaught(py, err)
    }

    fn label(&self) -> Option<Label> {
        // SAFETY: asked for by the core only while it runs a callback (see `call`).
        let py = unsafe { Python::assume_attached() };
        if let Some(label) = &self.label {
            return Some(Label(label.clone_ref(py)));
        }
        match &self.body {
            Body::Call { func, .. } | Body::Plain(func) => qualname(func.bind(py)).map(Label),
            Body::Job(job) => job.as_deref().map(|job| Label(job.timeline_label(py))),
        }
    }

    fn blocking<R: Send>(wait: impl FnOnce() -> R + Send) -> R {
        crate::exit::blocking(wait)
    }

    fn pool_batch(batch: impl FnOnce()) {
        gil_session::batch(batch)
    }

    fn after_wait(lp: &CoreLoop<Self>) -> PyResult<()> {
        let _ = lp;
        // SAFETY: after_wait runs inside `run` (see `call`).
        let py = unsafe { Python::assume_attached() };
        // Ctrl-C woke the poll through the signal wakeup fd (see `signals`): raise it now.
        py.check_signals()
    }

    /// Reports unhandled promise rejections (ordering rule 2.5, docs/ordering.md).
    fn after_drain(lp: &CoreLoop<Self>) -> PyResult<()> {
        lp.report_rejections()
    }
}

/// A callable's name in the timeline: its `__qualname__`, else its type's.
pub(crate) fn qualname(func: &Bound<'_, PyAny>) -> Option<Py<PyString>> {
    let name = match func.getattr(pyo3::intern!(func.py(), "__qualname__")) {
        Ok(name) => name,
        Err(_) => func
            .get_type()
            .getattr(pyo3::intern!(func.py(), "__qualname__"))
            .ok()?,
    };
    name.cast_into::<PyString>().ok().map(Bound::unbind)
}

/// A timeline label: a Python string (cloned with the GIL, which the loop thread holds whenever
/// the timeline is read).
pub struct Label(pub(crate) Py<PyString>);

impl Clone for Label {
    fn clone(&self) -> Self {
        Python::attach(|py| Label(self.0.clone_ref(py)))
    }
}
