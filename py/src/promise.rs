//! The `Promise` class and the promise methods of `Loop` (`resolve`, `reject`, `promise`, the
//! combinators, `sleep`, `immediate`, `work`, the rejection listeners). The state machine and
//! its microtasks are the core's (`phaseloop_core::promise`); this file only translates.

use std::mem::ManuallyDrop;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use pyo3::PyTraverseError;

use phaseloop_core::{Error as CoreError, Promise as CorePromise, Settled};

use crate::args;
use crate::callback::{Body, PyCallback};
use crate::context::CallContext;
use crate::errors::{core_error, Error};
use crate::event_loop::{Core, Loop};
use crate::promise_host::{thrown, visit_host_ref, PyHandler, PyValue};
use crate::resolvers::{ResolvingFunction, Settle};
use crate::work::job_for;

/// A JavaScript promise on a phaseloop loop: its reactions run as microtasks, with
/// ECMA-262's job semantics.
///
/// A core promise has at most one `Promise` object at a time, its address kept in the core
/// promise's host tag ([`Promise::object`]), so the same object comes back wherever the loop
/// hands the promise to Python (`on_unhandled_rejection`, `on_rejection_handled`), as Node
/// passes the same promise.
#[pyclass(module = "phaseloop", name = "Promise", frozen, weakref)]
pub struct Promise {
    /// Its loop; dropped by hand in `Drop` (see there).
    lp: ManuallyDrop<Py<Loop>>,
    core: CorePromise<PyCallback>,
}

impl Promise {
    /// The Python object of `core`: the one made before while it lives, else a new one.
    pub(crate) fn object<'py>(
        lp: &Bound<'py, Loop>,
        core: CorePromise<PyCallback>,
    ) -> PyResult<Bound<'py, Promise>> {
        let tag = core.host_tag();
        if tag != 0 {
            // SAFETY: a non-zero tag is the address of the live `Promise` object of `core`: set
            // in `new_object` when it was made, and cleared by its `Drop`, which its
            // deallocation runs before anything else (PyO3 drops the contents first), both
            // with the GIL held, as here. Taking a new reference to a live object is sound.
            return Ok(unsafe {
                Bound::from_borrowed_ptr(lp.py(), tag as *mut ffi::PyObject).cast_into_unchecked()
            });
        }
        Promise::new_object(lp, core)
    }

    /// The Python object of `core`, which has none (a promise made just now).
    #[inline]
    fn new_object<'py>(
        lp: &Bound<'py, Loop>,
        core: CorePromise<PyCallback>,
    ) -> PyResult<Bound<'py, Promise>> {
        debug_assert_eq!(core.host_tag(), 0);
        let object = Bound::new(
            lp.py(),
            Promise {
                lp: ManuallyDrop::new(lp.clone().unbind()),
                core,
            },
        )?;
        object.get().core.set_host_tag(object.as_ptr() as usize);
        Ok(object)
    }

    pub(crate) fn core(&self) -> &CorePromise<PyCallback> {
        &self.core
    }

    fn open(&self) -> PyResult<&Core> {
        self.lp.get().open()
    }
}

impl Drop for Promise {
    fn drop(&mut self) {
        // Runs first in the object's deallocation (see `Promise::object`).
        self.core.set_host_tag(0);
        // SAFETY: a `Promise` is dropped with the GIL held (by its deallocation, or where it
        // was made), and `lp` is not used after this.
        let (py, lp) = unsafe { (Python::assume_attached(), ManuallyDrop::take(&mut self.lp)) };
        // As a `Bound`: a plain decrement (a `Py` asks a thread-local first).
        drop(lp.into_bound(py));
    }
}

/// A reaction handler for `callback` (`None` passes the value or reason through).
fn handler(
    py: Python<'_>,
    lp: &Core,
    callback: Option<&Bound<'_, PyAny>>,
    name: &str,
    label: Option<&Bound<'_, PyString>>,
) -> PyResult<Option<PyHandler>> {
    let Some(callback) = callback.filter(|cb| !cb.is_none()) else {
        return Ok(None);
    };
    args::callable(callback, name)?;
    Ok(Some(PyHandler::Call {
        func: callback.clone().unbind(),
        // A handler runs once: its context is a shared snapshot (see `context`).
        context: CallContext::once(py, &lp.host().snapshots)?,
        label: label.map(|label| label.clone().unbind()),
    }))
}

/// The Python object of a promise made just now.
fn wrap<'py>(
    lp: &Bound<'py, Loop>,
    core: CorePromise<PyCallback>,
) -> PyResult<Bound<'py, Promise>> {
    Promise::object(lp, core)
}

#[pymethods]
impl Promise {
    /// `promise.then(on_fulfilled, on_rejected)`: a new promise, resolved with what the handler
    /// returns or rejected with what it raises; a missing handler passes the outcome through.
    #[pyo3(signature = (on_fulfilled = None, on_rejected = None, *, label = None))]
    fn then<'py>(
        slf: &Bound<'py, Self>,
        on_fulfilled: Option<&Bound<'py, PyAny>>,
        on_rejected: Option<&Bound<'py, PyAny>>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let label = args::label(label)?;
        let label = label.as_ref();
        let py = slf.py();
        let this = slf.get();
        let lp = this.open()?;
        let on_fulfilled = handler(py, lp, on_fulfilled, "on_fulfilled", label)?;
        let on_rejected = handler(py, lp, on_rejected, "on_rejected", label)?;
        let derived = this
            .core
            .then(lp, on_fulfilled, on_rejected)
            .map_err(core_error)?;
        wrap(this.lp.bind(py), derived)
    }

    /// `promise.catch(on_rejected)`: `then(None, on_rejected)`.
    #[pyo3(signature = (on_rejected, *, label = None))]
    fn catch<'py>(
        slf: &Bound<'py, Self>,
        on_rejected: Option<&Bound<'py, PyAny>>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let label = args::label(label)?;
        let label = label.as_ref();
        Promise::then(slf, None, on_rejected, label.map(|label| label.as_any()))
    }

    /// `promise.finally(callback)`: `callback()` when the promise settles; the new promise then
    /// settles as this one did (unless `callback` raises, or returns a promise that rejects).
    #[pyo3(signature = (callback, *, label = None))]
    fn finally_<'py>(
        slf: &Bound<'py, Self>,
        callback: Option<&Bound<'py, PyAny>>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let label = args::label(label)?;
        let label = label.as_ref();
        let py = slf.py();
        let this = slf.get();
        let lp = this.open()?;
        let on_finally = handler(py, lp, callback, "callback", label)?;
        let derived = this.core.finally(lp, on_finally).map_err(core_error)?;
        wrap(this.lp.bind(py), derived)
    }

    /// `"pending"`, `"fulfilled"` or `"rejected"`.
    #[getter]
    fn state(&self) -> &'static str {
        self.core.state().name()
    }

    /// The fulfilment value; `phaseloop.Error` unless the promise is fulfilled.
    #[getter]
    fn value(&self) -> PyResult<Py<PyAny>> {
        match self.core.settled() {
            Some(Settled::Fulfilled(value)) => Ok(value.0),
            _ => Err(Error::new_err(format!(
                "the promise is {}, not fulfilled: it has no value",
                self.core.state().name()
            ))),
        }
    }

    /// The rejection reason; `phaseloop.Error` unless the promise is rejected. Reading it does
    /// not count as handling the rejection.
    #[getter]
    fn reason(&self) -> PyResult<Py<PyAny>> {
        match self.core.settled() {
            Some(Settled::Rejected(reason)) => Ok(reason.0),
            _ => Err(Error::new_err(format!(
                "the promise is {}, not rejected: it has no reason",
                self.core.state().name()
            ))),
        }
    }

    /// `await promise` inside a coroutine run by `Loop.start`: resumes one microtask after the
    /// promise settles, with its value, or raises its reason.
    fn __await__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<Bound<'py, crate::coroutine::PromiseAwaiter>> {
        crate::coroutine::PromiseAwaiter::new(slf)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let shown = |value: &PyValue| {
            value
                .0
                .bind(py)
                .repr()
                .map_or_else(|_| "?".to_owned(), |r| r.to_string())
        };
        match self.core.settled() {
            None => "<Promise pending>".to_owned(),
            Some(Settled::Fulfilled(value)) => format!("<Promise fulfilled {}>", shown(&value)),
            Some(Settled::Rejected(reason)) => format!("<Promise rejected {}>", shown(&reason)),
        }
    }

    /// Promises are equal when they are the same promise (a promise has one object at a time,
    /// so this is identity).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Promise>()
            .is_ok_and(|other| other.get().core == self.core)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.core.hash(&mut hasher);
        hasher.finish()
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&*self.lp)?;
        let mut result = Ok(());
        self.core
            .visit(&mut |held| visit_host_ref(&visit, &mut result, held));
        result
    }

    fn __clear__(&self) {
        self.core.clear_reactions();
    }
}

/// One of the core's `Promise.all` / `allSettled` / `race` / `any`.
type Combinator =
    fn(&Core, Vec<Result<PyValue, PyValue>>) -> Result<CorePromise<PyCallback>, CoreError>;

impl Loop {
    /// The core loop, with the host told which Python `Loop` it belongs to (promise wrappers
    /// made inside the core need it).
    fn promise_core<'a>(slf: &'a Bound<'_, Self>) -> PyResult<&'a Core> {
        let lp = slf.get().open()?;
        lp.host().remember_owner(slf)?;
        Ok(lp)
    }

    /// A pending promise settled by a callback the loop runs: `schedule` queues `settle` (a
    /// resolving function) the way the promise form wants.
    fn settled_by<'py>(
        slf: &Bound<'py, Self>,
        settle: Settle,
        schedule: impl FnOnce(&Core, Py<ResolvingFunction>) -> PyResult<()>,
    ) -> PyResult<Bound<'py, Promise>> {
        let py = slf.py();
        let lp = Loop::promise_core(slf)?;
        let (promise, resolvers) = CorePromise::with_resolvers();
        let function = Py::new(
            py,
            ResolvingFunction::new(slf.clone().unbind(), resolvers, settle),
        )?;
        schedule(lp, function)?;
        wrap(slf, promise)
    }

    fn combine<'py>(
        slf: &Bound<'py, Self>,
        iterable: &Bound<'py, PyAny>,
        combinator: Combinator,
    ) -> PyResult<Bound<'py, Promise>> {
        let lp = Loop::promise_core(slf)?;
        let iter = iterable.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "iterable must be iterable, not {}",
                args::type_name(iterable)
            ))
        })?;
        // An iterator that raises rejects the promise with what it raised, as in JavaScript;
        // the elements before it are still subscribed to.
        let mut inputs = Vec::new();
        for item in iter {
            match item {
                Ok(item) => inputs.push(Ok(PyValue(item.unbind()))),
                Err(err) => {
                    inputs.push(Err(thrown(slf.py(), lp, err)));
                    break;
                }
            }
        }
        let promise = combinator(lp, inputs).map_err(core_error)?;
        if let Some(fatal) = lp.host().take_fatal() {
            return Err(fatal);
        }
        wrap(slf, promise)
    }
}

#[pymethods]
impl Loop {
    /// `Promise.resolve(value)`: `value` itself if it is a `Promise`, else a promise resolved
    /// with it (adopting it if it has a callable `then`).
    #[pyo3(signature = (value = None))]
    fn resolve<'py>(
        slf: &Bound<'py, Self>,
        value: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let py = slf.py();
        let lp = Loop::promise_core(slf)?;
        if let Some(promise) = value.and_then(|v| v.cast_exact::<Promise>().ok()) {
            return Ok(promise.clone());
        }
        let value = value.map_or_else(|| PyValue::none(py), |v| PyValue(v.clone().unbind()));
        let promise = CorePromise::resolve(lp, value).map_err(core_error)?;
        wrap(slf, promise)
    }

    /// `Promise.reject(reason)`: a promise rejected with `reason` (any value).
    #[pyo3(signature = (reason = None))]
    fn reject<'py>(
        slf: &Bound<'py, Self>,
        reason: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let py = slf.py();
        let lp = Loop::promise_core(slf)?;
        let reason = reason.map_or_else(|| PyValue::none(py), |v| PyValue(v.clone().unbind()));
        let promise = CorePromise::reject(lp, reason).map_err(core_error)?;
        wrap(slf, promise)
    }

    /// `new Promise(executor)`: calls `executor(resolve, reject)` at once; if it raises, the
    /// promise rejects with the exception (unless it was resolved already).
    fn promise<'py>(
        slf: &Bound<'py, Self>,
        executor: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Promise>> {
        let py = slf.py();
        args::callable(executor, "executor")?;
        let lp = Loop::promise_core(slf)?;
        let (promise, resolvers) = CorePromise::with_resolvers();
        let owner = slf.clone().unbind();
        let resolve = Py::new(
            py,
            ResolvingFunction::new(owner.clone_ref(py), resolvers.clone(), Settle::Resolve),
        )?;
        let reject = Py::new(
            py,
            ResolvingFunction::new(owner, resolvers.clone(), Settle::Reject),
        )?;
        if let Err(err) = executor.call1((resolve, reject)) {
            let reason = thrown(py, lp, err);
            resolvers.reject(lp, reason);
            if let Some(fatal) = lp.host().take_fatal() {
                return Err(fatal);
            }
        }
        wrap(slf, promise)
    }

    /// `Promise.all(iterable)`: the list of values once all fulfilled; the first rejection.
    fn all<'py>(
        slf: &Bound<'py, Self>,
        iterable: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Promise>> {
        Loop::combine(slf, iterable, CorePromise::all)
    }

    /// `Promise.allSettled(iterable)`: a list of `{"status": "fulfilled", "value": v}` /
    /// `{"status": "rejected", "reason": r}` once all settled.
    fn all_settled<'py>(
        slf: &Bound<'py, Self>,
        iterable: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Promise>> {
        Loop::combine(slf, iterable, CorePromise::all_settled)
    }

    /// `Promise.race(iterable)`: settles as the first input settles.
    fn race<'py>(
        slf: &Bound<'py, Self>,
        iterable: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Promise>> {
        Loop::combine(slf, iterable, CorePromise::race)
    }

    /// `Promise.any(iterable)`: the first fulfilment; if every input rejects,
    /// `phaseloop.AggregateError` with the reasons in `errors`.
    fn any<'py>(
        slf: &Bound<'py, Self>,
        iterable: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Promise>> {
        Loop::combine(slf, iterable, CorePromise::any)
    }

    /// `timers/promises` `setTimeout(delay, value)`: a promise fulfilled with `value` by a
    /// timer `delay` ms from now.
    #[pyo3(signature = (delay = None, value = None, *, label = None))]
    fn sleep<'py>(
        slf: &Bound<'py, Self>,
        delay: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let label = args::label(label)?;
        let py = slf.py();
        let delay = args::delay(delay)?;
        let value = value.map_or_else(|| py.None(), |v| v.clone().unbind());
        let label = label.unwrap_or_else(|| PyString::new(py, "sleep"));
        Loop::settled_by(slf, Settle::Resolve, |lp, resolve| {
            let cb = settle_callback(py, resolve, Some(value), label)?;
            lp.set_timeout(delay, cb).map(drop).map_err(core_error)
        })
    }

    /// `timers/promises` `setImmediate(value)`: a promise fulfilled with `value` in the next
    /// check phase.
    #[pyo3(signature = (value = None, *, label = None))]
    fn immediate<'py>(
        slf: &Bound<'py, Self>,
        value: Option<&Bound<'py, PyAny>>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let label = args::label(label)?;
        let py = slf.py();
        let value = value.map_or_else(|| py.None(), |v| v.clone().unbind());
        let label = label.unwrap_or_else(|| PyString::new(py, "immediate"));
        Loop::settled_by(slf, Settle::Resolve, |lp, resolve| {
            let cb = settle_callback(py, resolve, Some(value), label)?;
            lp.set_immediate(cb).map(drop).map_err(core_error)
        })
    }

    /// The promise form of `queue_work`: fulfilled with `work(*args)`'s result, or rejected
    /// with what it raised, once its completion arrives in the poll phase.
    #[pyo3(signature = (work, *args, label = None))]
    fn work<'py>(
        slf: &Bound<'py, Self>,
        work: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Promise>> {
        let label = args::label(label)?;
        let py = slf.py();
        let label = label.unwrap_or_else(|| PyString::new(py, "work"));
        Loop::settled_by(slf, Settle::WorkOutcome, |lp, settle| {
            let job = job_for(lp, work, args)?;
            let cb = settle_callback(py, settle, None, label)?;
            lp.queue_work(job, Some(cb)).map(drop).map_err(core_error)
        })
    }

    /// Called as `on_unhandled_rejection(reason, promise)` for a rejection still unhandled when
    /// a drain ends; `None` makes `run()` raise `phaseloop.UnhandledRejection`.
    #[getter]
    fn get_on_unhandled_rejection(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.owned()?.host().on_unhandled_rejection(py))
    }

    #[setter]
    fn set_on_unhandled_rejection(
        slf: &Bound<'_, Self>,
        hook: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let hook = listener(slf, hook, "on_unhandled_rejection")?;
        slf.get().owned()?.host().set_on_unhandled_rejection(hook);
        Ok(())
    }

    /// Called as `on_rejection_handled(promise)` when a rejection reported as unhandled gets a
    /// handler in a later drain (Node's `'rejectionHandled'` event); `None` does nothing.
    #[getter]
    fn get_on_rejection_handled(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.owned()?.host().on_rejection_handled(py))
    }

    #[setter]
    fn set_on_rejection_handled(
        slf: &Bound<'_, Self>,
        hook: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let hook = listener(slf, hook, "on_rejection_handled")?;
        slf.get().owned()?.host().set_on_rejection_handled(hook);
        Ok(())
    }
}

/// A rejection listener being set: a callable or `None` (`TypeError` naming `name` otherwise).
/// Listeners get promise wrappers, so the host learns its Python `Loop` here.
fn listener(
    slf: &Bound<'_, Loop>,
    hook: Option<&Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<Py<PyAny>>> {
    let lp = slf.get().owned()?;
    let Some(hook) = hook.filter(|hook| !hook.is_none()) else {
        return Ok(None);
    };
    args::callable(hook, name)?;
    lp.host().remember_owner(slf)?;
    Ok(Some(hook.clone().unbind()))
}

/// The loop callback that calls a resolving function: `settle(value)`, or with the work
/// outcome's `(error, result)` when `value` is `None`.
fn settle_callback(
    py: Python<'_>,
    settle: Py<ResolvingFunction>,
    value: Option<Py<PyAny>>,
    label: Bound<'_, PyString>,
) -> PyResult<PyCallback> {
    Ok(PyCallback {
        body: Body::Call {
            func: settle.into_any(),
            args: value
                .map(|value| PyTuple::new(py, [value]))
                .transpose()?
                .map(Bound::unbind),
            context: CallContext::own(py)?,
        },
        label: Some(label.unbind()),
    })
}
