//! `Loop.start(coro)`: a Python coroutine run the way JavaScript runs an `async` function. It
//! runs at once up to its first `await`; every `await` of a `Promise` subscribes to it (the
//! ECMA-262 Await: `PromiseResolve`, then `PerformPromiseThen`), so the coroutine resumes in a
//! microtask, one turn after the promise settles; what it returns resolves its promise (a
//! returned promise is adopted: 2 more turns, as in JavaScript), what it raises rejects it.
//!
//! `Promise.__await__` returns a [`PromiseAwaiter`], which yields the promise once to the
//! [`CoroutineTask`] driving the coroutine; the task sends the value back in, or throws the
//! reason. Anything else a coroutine waits on (an asyncio future, a bare `yield`) gets a
//! `TypeError` thrown in at once, never a hang.

use std::sync::Mutex;

use pyo3::exceptions::{
    PyBaseException, PyKeyboardInterrupt, PyStopIteration, PySystemExit, PyTypeError,
};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::PyTraverseError;

use phaseloop_core::{Promise as CorePromise, ResolvingFunctions};

use crate::args;
use crate::callback::PyCallback;
use crate::context::{call_in_context, copy_context};
use crate::errors::Rejection;
use crate::event_loop::{Core, Loop};
use crate::promise::Promise;
use crate::promise_host::{PyHandler, PyValue};

/// A coroutine started by `Loop.start`, with the promise it settles.
#[pyclass(module = "phaseloop", frozen)]
pub struct CoroutineTask {
    coro: Py<PyAny>,
    /// The `contextvars` context every step runs in (a copy of the one current at `start`, as
    /// an asyncio task takes).
    context: Py<PyAny>,
    resolvers: ResolvingFunctions<PyCallback>,
    /// The `Rejection` last thrown in for a reason that is no exception: if it escapes the
    /// coroutine, the promise rejects with the original reason, as in JavaScript.
    wrapper: Mutex<Option<Py<PyAny>>>,
}

impl CoroutineTask {
    /// The coroutine object (for the trace hook and the timeline label).
    pub(crate) fn coroutine(&self, py: Python<'_>) -> Py<PyAny> {
        self.coro.clone_ref(py)
    }
}

#[pymethods]
impl CoroutineTask {
    fn __repr__(&self, py: Python<'_>) -> String {
        let name = crate::callback::qualname(self.coro.bind(py))
            .map_or_else(|| "?".to_owned(), |name| name.to_string());
        format!("<phaseloop coroutine task {name}>")
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.coro)?;
        visit.call(&self.context)?;
        if let Ok(wrapper) = self.wrapper.try_lock() {
            visit.call(wrapper.as_ref())?;
        }
        Ok(())
    }
}

/// What resumes a coroutine.
enum Input {
    /// `coro.send(value)`.
    Send(Py<PyAny>),
    /// `coro.throw(exception)`.
    Throw(Py<PyAny>),
}

/// The `await` continuation: resumes the coroutine with the settled promise's outcome.
pub(crate) fn resume(
    py: Python<'_>,
    lp: &Core,
    task: &Bound<'_, CoroutineTask>,
    throw: bool,
    outcome: Py<PyAny>,
) {
    let input = if throw {
        Input::Throw(outcome)
    } else {
        Input::Send(outcome)
    };
    step(py, lp, task, input);
}

/// An exception to throw into the coroutine for a rejection `reason`: the reason itself when
/// it is an exception, else a `phaseloop.Rejection` carrying it.
fn exception_for(py: Python<'_>, task: &CoroutineTask, reason: Py<PyAny>) -> Py<PyAny> {
    if reason.bind(py).is_instance_of::<PyBaseException>() {
        return reason;
    }
    let shown = reason
        .bind(py)
        .repr()
        .map_or_else(|_| "?".to_owned(), |r| r.to_string());
    let wrapper = Rejection::new_err(format!("a promise rejected with {shown}")).into_value(py);
    if let Err(err) = wrapper.bind(py).setattr("reason", reason) {
        return err.into_value(py).into_any();
    }
    let wrapper = wrapper.into_any();
    if let Ok(mut slot) = task.wrapper.lock() {
        *slot = Some(wrapper.clone_ref(py));
    }
    wrapper
}

/// Runs the coroutine until it awaits a promise, returns or raises.
fn step(py: Python<'_>, lp: &Core, task: &Bound<'_, CoroutineTask>, mut input: Input) {
    let this = task.get();
    loop {
        let (method, argument) = match input {
            Input::Send(value) => (pyo3::intern!(py, "send"), value),
            Input::Throw(reason) => (pyo3::intern!(py, "throw"), exception_for(py, this, reason)),
        };
        let outcome = this.coro.bind(py).getattr(method).and_then(|method| {
            call_in_context(
                py,
                &this.context,
                &method.unbind(),
                None,
                &[argument.as_ptr()],
            )
        });
        drop(argument);
        let err = match outcome {
            Ok(yielded) => match yielded.cast_exact::<Promise>() {
                Ok(promise) => {
                    let on_fulfilled = PyHandler::Resume {
                        task: task.clone().unbind(),
                        throw: false,
                    };
                    let on_rejected = PyHandler::Resume {
                        task: task.clone().unbind(),
                        throw: true,
                    };
                    // Fails only on a closed loop, where nothing resumes any more.
                    let _ = promise
                        .get()
                        .core()
                        .subscribe(lp, on_fulfilled, on_rejected);
                    return;
                }
                Err(_) => {
                    let message = format!(
                        "a coroutine run by Loop.start can only await phaseloop promises \
                         (loop.sleep(), loop.resolve(x), loop.start(other()), ...), not {}",
                        args::type_name(&yielded)
                    );
                    input = Input::Throw(PyTypeError::new_err(message).into_value(py).into_any());
                    continue;
                }
            },
            Err(err) => err,
        };
        if err.is_instance_of::<PyStopIteration>(py) {
            let value = err
                .value(py)
                .getattr(pyo3::intern!(py, "value"))
                .map_or_else(|_| py.None(), Bound::unbind);
            this.resolvers.resolve(lp, PyValue(value));
            return;
        }
        if err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py) {
            lp.host().keep_fatal(err.clone_ref(py));
        }
        let raised = err.into_value(py).into_any();
        let wrapper = this.wrapper.lock().ok().and_then(|mut slot| slot.take());
        let reason = match wrapper {
            // The reason we wrapped came back out: reject with the original value.
            Some(wrapper) if wrapper.is(&raised) => raised
                .bind(py)
                .getattr(pyo3::intern!(py, "reason"))
                .map_or_else(|_| raised.clone_ref(py), Bound::unbind),
            _ => raised,
        };
        this.resolvers.reject(lp, PyValue(reason));
        return;
    }
}

#[pymethods]
impl Loop {
    /// Runs `coro` like a JavaScript `async` function: now, up to its first `await`; each
    /// `await` of a promise resumes it in a microtask. Returns the promise of its result.
    fn start<'py>(
        slf: &Bound<'py, Self>,
        coro: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Promise>> {
        let py = slf.py();
        let is_coroutine =
            coro.hasattr(pyo3::intern!(py, "send"))? && coro.hasattr(pyo3::intern!(py, "throw"))?;
        if !is_coroutine {
            let hint = if coro.is_callable() {
                " (call the async function: start(main()), not start(main))"
            } else {
                ""
            };
            return Err(PyTypeError::new_err(format!(
                "coro must be a coroutine, not {}{hint}",
                args::type_name(coro)
            )));
        }
        let lp = slf.get().open()?;
        lp.host().remember_owner(slf)?;
        let (promise, resolvers) = CorePromise::with_resolvers();
        let task = Bound::new(
            py,
            CoroutineTask {
                coro: coro.clone().unbind(),
                context: copy_context(py)?,
                resolvers,
                wrapper: Mutex::new(None),
            },
        )?;
        step(py, lp, &task, Input::Send(py.None()));
        if let Some(fatal) = lp.host().take_fatal() {
            return Err(fatal);
        }
        Promise::object(slf, promise)
    }
}

/// What `Promise.__await__` returns: yields the promise once to the task driving the
/// coroutine, then hands back what the task sends (the value) or raises what it throws.
#[pyclass(module = "phaseloop", frozen)]
pub struct PromiseAwaiter {
    promise: Mutex<Option<Py<Promise>>>,
}

impl PromiseAwaiter {
    pub(crate) fn new<'py>(promise: &Bound<'py, Promise>) -> PyResult<Bound<'py, PromiseAwaiter>> {
        Bound::new(
            promise.py(),
            PromiseAwaiter {
                promise: Mutex::new(Some(promise.clone().unbind())),
            },
        )
    }

    fn take(&self) -> Option<Py<Promise>> {
        self.promise.lock().ok().and_then(|mut slot| slot.take())
    }
}

#[pymethods]
impl PromiseAwaiter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.send(py, py.None())
    }

    /// The first call yields the promise; the next one ends the `await` with `value`.
    fn send(&self, py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<PyAny>> {
        match self.take() {
            Some(promise) => Ok(promise.into_any()),
            None => Err(PyStopIteration::new_err((value.clone_ref(py),))),
        }
    }

    /// Raises the exception at the `await`.
    #[pyo3(signature = (typ, value = None, _traceback = None))]
    fn throw(
        &self,
        typ: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        drop(self.take());
        if typ.is_instance_of::<PyBaseException>() {
            return Err(PyErr::from_value(typ.clone()));
        }
        let raised = match value.filter(|v| !v.is_none()) {
            Some(value) => typ.call1((value,))?,
            None => typ.call0()?,
        };
        Err(PyErr::from_value(raised))
    }

    /// Called when the coroutine is closed while it waits here.
    fn close(&self) {
        drop(self.take());
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(promise) = self.promise.try_lock() {
            visit.call(promise.as_ref())?;
        }
        Ok(())
    }
}
