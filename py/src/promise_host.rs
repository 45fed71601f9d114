//! How the core's promises hold Python: [`PyValue`] (any object as a value or reason),
//! [`PyHandler`] (a callable in its `contextvars` context, or the next step of a coroutine) and
//! `PromiseHost for PyCallback`, which the core uses to call them. The job semantics themselves
//! (which microtask runs when) are the core's, so Python takes JavaScript's tick counts.

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit, PyTypeError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyWeakrefMethods,
};
use pyo3::PyTraverseError;

use phaseloop_core::promise::HostRef;
use phaseloop_core::{Promise as CorePromise, PromiseHost, PromiseJob};
use phaseloop_core::{ResolvingFunctions, Settled};

use crate::callback::{qualname, Body, OnceJob, PyCallback};
use crate::context::CallContext;
use crate::coroutine::{self, CoroutineTask};
use crate::errors::{AggregateError, UnhandledRejection};
use crate::event_loop::Core;
use crate::promise::Promise;
use crate::resolvers::{ResolvingFunction, Settle};

/// A promise's value or reason: any Python object.
pub struct PyValue(pub(crate) Py<PyAny>);

/// The thread's Python token inside a promise operation.
///
/// # Safety
/// Only where the core runs promise code: promise operations run on the loop's thread, called
/// from Python (a `Promise` or `Loop` method) or from a callback the loop runs, so the thread
/// is attached. (`Python::attach` would find that out again through a thread-local lookup, a
/// few of them per reaction.)
#[inline]
unsafe fn attached_in_promise_code() -> Python<'static> {
    // SAFETY: the caller's contract.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: a plain query of the interpreter's thread state.
    debug_assert!(unsafe { pyo3::ffi::PyGILState_Check() } == 1);
    py
}

impl Clone for PyValue {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: the core clones values only inside promise operations.
        let py = unsafe { attached_in_promise_code() };
        PyValue(self.0.clone_ref(py))
    }
}

impl PyValue {
    /// `None`, JavaScript's `undefined` here.
    pub(crate) fn none(py: Python<'_>) -> PyValue {
        PyValue(py.None())
    }
}

/// A reaction handler.
pub enum PyHandler {
    /// A callback of `then`, `catch` or `finally_`: `func(value)` (`func()` for `finally_`) in
    /// the context current when it was subscribed.
    Call {
        /// The callable.
        func: Py<PyAny>,
        /// The `contextvars` context it runs in.
        context: CallContext,
        /// The `label=` given to `then` / `catch` / `finally_`, for the timeline.
        label: Option<Py<PyString>>,
    },
    /// The continuation of an `await` in a coroutine run by `Loop.start`: resumes it with the
    /// value, or throws the reason into it.
    Resume {
        /// The coroutine's task.
        task: Py<CoroutineTask>,
        /// Whether this is the rejection side.
        throw: bool,
    },
}

impl PyHandler {
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        match self {
            PyHandler::Call { func, context, .. } => {
                visit.call(func)?;
                context.traverse(visit)
            }
            PyHandler::Resume { task, .. } => visit.call(task),
        }
    }

    /// The object the trace hook and the timeline name: the callable, or the coroutine.
    fn target(&self, py: Python<'_>) -> Py<PyAny> {
        match self {
            PyHandler::Call { func, .. } => func.clone_ref(py),
            PyHandler::Resume { task, .. } => task.get().coroutine(py),
        }
    }
}

/// Visits what a promise (or a promise job) holds, for the garbage collector.
pub(crate) fn visit_host_ref(
    visit: &PyVisit<'_>,
    result: &mut Result<(), PyTraverseError>,
    held: HostRef<'_, PyCallback>,
) {
    if result.is_err() {
        return;
    }
    *result = match held {
        HostRef::Value(value) => visit.call(&value.0),
        HostRef::Handler(handler) => handler.traverse(visit),
        HostRef::Then(then) => visit.call(then),
    };
}

/// A promise job in the loop's microtask queue.
impl OnceJob for PromiseJob<PyCallback> {
    /// Runs it. A `KeyboardInterrupt` or `SystemExit` raised by a handler settled its promise
    /// like any exception and now stops `run()`; a value thrown where no promise can take it
    /// (an `await` continuation) is uncaught.
    fn run_once(self: Box<Self>, py: Python<'_>, lp: &Core) -> PyResult<()> {
        let result = (*self).run(lp);
        if let Some(fatal) = lp.host().take_fatal() {
            return Err(fatal);
        }
        result.map_err(|thrown| PyErr::from_value(thrown.0.into_bound(py)))
    }

    /// Tells the garbage collector what the job holds.
    fn traverse_job(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        let mut result = Ok(());
        self.visit(&mut |held| visit_host_ref(visit, &mut result, held));
        result
    }

    /// Its handler's callable or coroutine.
    fn trace_target(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.handler().map(|handler| handler.target(py))
    }

    /// The `label=` of its handler, else the handler's (or the coroutine's) `__qualname__`, else
    /// what kind of job it is.
    fn timeline_label(&self, py: Python<'_>) -> Py<PyString> {
        let handler = self.handler();
        if let Some(PyHandler::Call {
            label: Some(label), ..
        }) = handler
        {
            return label.clone_ref(py);
        }
        handler
            .and_then(|handler| qualname(handler.target(py).bind(py)))
            .unwrap_or_else(|| PyString::new(py, self.kind().label()).unbind())
    }
}

/// What a handler raised, as the reason its promise rejects with. `KeyboardInterrupt` and
/// `SystemExit` are also kept to stop `run()` after the job (as asyncio lets them through).
pub(crate) fn thrown(py: Python<'_>, lp: &Core, err: PyErr) -> PyValue {
    if err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py) {
        lp.host().keep_fatal(err.clone_ref(py));
    }
    PyValue(err.into_value(py).into_any())
}

/// Whether `obj` is of a built-in type that has no `then` (the common values: checking them
/// costs no attribute lookup, and no `AttributeError`).
fn surely_not_thenable(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_none()
        || obj.is_exact_instance_of::<PyInt>()
        || obj.is_exact_instance_of::<PyString>()
        || obj.is_exact_instance_of::<PyBool>()
        || obj.is_exact_instance_of::<PyFloat>()
        || obj.is_exact_instance_of::<PyTuple>()
        || obj.is_exact_instance_of::<PyList>()
        || obj.is_exact_instance_of::<PyDict>()
        || obj.is_exact_instance_of::<PyBytes>()
}

/// The Python object of a core promise (the one the program holds, if it holds one).
pub(crate) fn wrap_existing(
    py: Python<'_>,
    lp: &Core,
    promise: &CorePromise<PyCallback>,
) -> PyResult<Py<PyAny>> {
    let owner = lp.host().owner(py).ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err("the loop of this promise is gone")
    })?;
    Ok(Promise::object(owner.bind(py), promise.clone())?
        .into_any()
        .unbind())
}

impl PromiseHost for PyCallback {
    type Value = PyValue;
    type Handler = PyHandler;
    type Then = Py<PyAny>;

    #[inline(always)]
    fn promise_job(job: PromiseJob<PyCallback>) -> PyCallback {
        PyCallback {
            body: Body::Job(Some(Box::new(job))),
            label: None,
        }
    }

    fn call_handler(lp: &Core, handler: PyHandler, argument: PyValue) -> Result<PyValue, PyValue> {
        // SAFETY: the core calls handlers from promise jobs and promise methods, which run on
        // the loop's thread with the GIL held.
        let py = unsafe { Python::assume_attached() };
        match handler {
            PyHandler::Call { func, context, .. } => {
                // Dropped as `Bound`s: plain decrements (a `Py` asks a thread-local first).
                let (func, argument) = (func.into_bound(py), argument.0.into_bound(py));
                context
                    .call_once(
                        py,
                        &lp.host().snapshots,
                        func.as_unbound(),
                        &[argument.as_ptr()],
                    )
                    .map(|value| PyValue(value.unbind()))
                    .map_err(|err| thrown(py, lp, err))
            }
            PyHandler::Resume { task, throw } => {
                coroutine::resume(py, lp, task.bind(py), throw, argument.0);
                Ok(PyValue::none(py))
            }
        }
    }

    fn call_finally(lp: &Core, on_finally: PyHandler) -> Result<PyValue, PyValue> {
        // SAFETY: as in `call_handler`.
        let py = unsafe { Python::assume_attached() };
        match on_finally {
            PyHandler::Call { func, context, .. } => context
                .call_once(py, &lp.host().snapshots, &func, &[])
                .map(|value| PyValue(value.unbind()))
                .map_err(|err| thrown(py, lp, err)),
            resume @ PyHandler::Resume { .. } => {
                PromiseHost::call_handler(lp, resume, PyValue::none(py))
            }
        }
    }

    #[inline]
    fn as_promise(value: &PyValue) -> Option<CorePromise<PyCallback>> {
        // SAFETY: asked for by the core's promise operations only.
        let py = unsafe { attached_in_promise_code() };
        value
            .0
            .bind(py)
            .cast_exact::<Promise>()
            .ok()
            .map(|promise| promise.get().core().clone())
    }

    #[inline]
    fn is_plain(value: &PyValue) -> bool {
        // SAFETY: asked for by the core's promise operations only.
        let py = unsafe { attached_in_promise_code() };
        surely_not_thenable(value.0.bind(py))
    }

    fn get_then(lp: &Core, value: &PyValue) -> Result<Option<Py<PyAny>>, PyValue> {
        // SAFETY: as in `call_handler`.
        let py = unsafe { Python::assume_attached() };
        let obj = value.0.bind(py);
        if surely_not_thenable(obj) {
            return Ok(None);
        }
        match obj.getattr_opt(pyo3::intern!(py, "then")) {
            Ok(Some(then)) if then.is_callable() => Ok(Some(then.unbind())),
            Ok(_) => Ok(None),
            Err(err) => Err(thrown(py, lp, err)),
        }
    }

    fn call_then(
        lp: &Core,
        thenable: PyValue,
        then: Py<PyAny>,
        resolvers: ResolvingFunctions<PyCallback>,
    ) -> Result<(), PyValue> {
        // SAFETY: as in `call_handler`.
        let py = unsafe { Python::assume_attached() };
        drop(thenable); // `then` is bound to it already
        let owner = match lp.host().owner(py) {
            Some(owner) => owner,
            None => return Ok(()),
        };
        let pair = (
            ResolvingFunction::new(owner.clone_ref(py), resolvers.clone(), Settle::Resolve),
            ResolvingFunction::new(owner, resolvers, Settle::Reject),
        );
        let resolve = Py::new(py, pair.0).map_err(|err| thrown(py, lp, err))?;
        let reject = Py::new(py, pair.1).map_err(|err| thrown(py, lp, err))?;
        then.call1(py, (resolve, reject))
            .map(drop)
            .map_err(|err| thrown(py, lp, err))
    }

    fn list(_lp: &Core, values: Vec<PyValue>) -> PyValue {
        Python::attach(|py| {
            let items = values.into_iter().map(|value| value.0);
            match PyList::new(py, items) {
                Ok(list) => PyValue(list.into_any().unbind()),
                Err(err) => PyValue(err.into_value(py).into_any()),
            }
        })
    }

    fn settled_list(_lp: &Core, outcomes: Vec<Settled<PyValue>>) -> PyValue {
        Python::attach(|py| {
            let records: PyResult<Vec<Bound<'_, PyDict>>> = outcomes
                .into_iter()
                .map(|outcome| {
                    let record = PyDict::new(py);
                    match outcome {
                        Settled::Fulfilled(value) => {
                            record.set_item("status", "fulfilled")?;
                            record.set_item("value", value.0)?;
                        }
                        Settled::Rejected(reason) => {
                            record.set_item("status", "rejected")?;
                            record.set_item("reason", reason.0)?;
                        }
                    }
                    Ok(record)
                })
                .collect();
            match records.and_then(|records| PyList::new(py, records)) {
                Ok(list) => PyValue(list.into_any().unbind()),
                Err(err) => PyValue(err.into_value(py).into_any()),
            }
        })
    }

    fn aggregate_error(_lp: &Core, errors: Vec<PyValue>) -> PyValue {
        Python::attach(|py| {
            let error = AggregateError::new_err("All promises were rejected").into_value(py);
            let errors = PyList::new(py, errors.into_iter().map(|reason| reason.0));
            let set = errors.and_then(|errors| error.bind(py).setattr("errors", errors));
            match set {
                Ok(()) => PyValue(error.into_any()),
                Err(err) => PyValue(err.into_value(py).into_any()),
            }
        })
    }

    fn type_error(_lp: &Core, message: &'static str) -> PyValue {
        Python::attach(|py| PyValue(PyTypeError::new_err(message).into_value(py).into_any()))
    }

    fn unhandled_rejection(
        lp: &Core,
        promise: &CorePromise<PyCallback>,
        reason: PyValue,
    ) -> PyResult<()> {
        // SAFETY: rejections are reported at the end of a drain, inside `run`.
        let py = unsafe { Python::assume_attached() };
        let host = lp.host();
        let wrapper = wrap_existing(py, lp, promise)?;
        let outcome = match host.on_unhandled_rejection(py) {
            Some(hook) => hook.call1(py, (reason.0, wrapper)).map(drop),
            None => Err(unhandled_rejection_error(py, reason.0, wrapper)),
        };
        // Uncaught, as in Node: `on_error` if set, else `run()` raises it.
        outcome.or_else(|err| host.uncaught(py, err))
    }

    fn rejection_handled(lp: &Core, promise: &CorePromise<PyCallback>) -> PyResult<()> {
        // SAFETY: as in `unhandled_rejection`.
        let py = unsafe { Python::assume_attached() };
        let host = lp.host();
        let Some(hook) = host.on_rejection_handled(py) else {
            return Ok(());
        };
        let wrapper = wrap_existing(py, lp, promise)?;
        hook.call1(py, (wrapper,))
            .map(drop)
            .or_else(|err| host.uncaught(py, err))
    }
}

/// `UnhandledRejection` for `reason`: its `reason` and `promise` attributes, and the reason as
/// `__cause__` when it is an exception (so the traceback shows where it was raised).
fn unhandled_rejection_error(py: Python<'_>, reason: Py<PyAny>, promise: Py<PyAny>) -> PyErr {
    let shown = reason
        .bind(py)
        .repr()
        .map_or_else(|_| "<unrepresentable>".to_owned(), |r| r.to_string());
    let err = UnhandledRejection::new_err(format!("a promise rejected with no handler: {shown}"));
    let value = err.value(py);
    let filled = value
        .setattr("reason", reason.bind(py))
        .and_then(|()| value.setattr("promise", promise));
    if let Err(failed) = filled {
        return failed;
    }
    if let Ok(cause) = reason.bind(py).cast::<pyo3::exceptions::PyBaseException>() {
        err.set_cause(py, Some(PyErr::from_value(cause.clone().into_any())));
    }
    err
}

/// The loop a promise wrapper belongs to, from the weak reference the host keeps.
pub(crate) fn upgrade_owner(
    py: Python<'_>,
    weak: &Py<pyo3::types::PyWeakrefReference>,
) -> Option<Py<crate::event_loop::Loop>> {
    weak.bind(py)
        .upgrade_as::<crate::event_loop::Loop>()
        .ok()
        .flatten()
        .map(Bound::unbind)
}
