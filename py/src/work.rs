//! `Loop.queue_work`: Python callables and native jobs on the worker pool, and how their
//! outcome reaches the callback as `callback(error, result)`.

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use phaseloop_core::{Error as CoreError, Job, JobError, JobOutput, WorkOutcome};
use phaseloop_core::{LookupAddress, LookupError};

use crate::args;
use crate::callback::{Body, Deliver, PyCallback};
use crate::context::{call_in_context, copy_context, CallContext};
use crate::errors::{core_error, io_error, io_error_at, Cancelled, FileError};
use crate::event_loop::{Core, Loop};
use crate::gil_session;
use crate::handles::Work;
use crate::jobs::NativeJob;

/// A Python callable as a pool job: it takes the GIL only to run (keeping it for the next
/// Python job of the same batch, see `gil_session`), in a copy of the context current at
/// `queue_work` (as `asyncio.to_thread`). `thread_prefix` names a pool thread in Python the
/// first time it runs one (see `gil_session`).
fn python_job(
    work: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    thread_prefix: Option<Arc<str>>,
) -> PyResult<Job> {
    let func = work.clone().unbind();
    let args = (!args.is_empty()).then(|| args.clone().unbind());
    let context = copy_context(work.py())?;
    Ok(Box::new(move || {
        if !gil_session::hold(thread_prefix.as_deref()) {
            // The interpreter is exiting: what the job holds cannot be released without it.
            std::mem::forget((func, args, context));
            return Err(Box::new(PyRuntimeError::new_err(
                "the interpreter is exiting: the job did not start",
            )) as JobError);
        }
        Python::attach(move |py| {
            let result = call_in_context(py, &context, &func, args.as_ref(), &[])
                .map(|value| Box::new(value.unbind()) as JobOutput)
                .map_err(|err| Box::new(err) as JobError);
            // Released here, attached, rather than later through PyO3's deferred pool.
            drop((func, args, context));
            result
        })
    }))
}

/// The pool job for `work(*args)` on `lp`'s pool: a `phaseloop.jobs` job or a Python callable.
pub(crate) fn job_for(
    lp: &Core,
    work: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
) -> PyResult<Job> {
    if let Ok(native) = work.cast::<NativeJob>() {
        native.get().build(args)
    } else if work.is_callable() {
        python_job(work, args, lp.host().pool_thread_prefix())
    } else {
        Err(PyTypeError::new_err(format!(
            "work must be callable or a phaseloop.jobs job, not {}",
            args::type_name(work)
        )))
    }
}

#[pymethods]
impl Loop {
    /// Names this loop's pool threads `{prefix}_N` in Python (`threading.current_thread()`)
    /// from their first Python job on, rather than `phaseloop-pool-N` (their OS name).
    /// `phaseloop.asyncio` gives asyncio's default executor's prefix, `asyncio`.
    fn _name_pool_threads(&self, prefix: &str) -> PyResult<()> {
        self.owned()?.host().set_pool_thread_prefix(prefix);
        Ok(())
    }

    /// `uv_queue_work`: `work(*args)` on a pool thread, then `callback(error, result)` on the
    /// loop's thread in the poll phase. `work` is a callable or a `phaseloop.jobs` job.
    #[pyo3(signature = (work, *args, callback = None, label = None))]
    fn queue_work<'py>(
        slf: &Bound<'py, Self>,
        work: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        callback: Option<&Bound<'py, PyAny>>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Work>> {
        let label = args::label(label)?;
        let py = slf.py();
        let lp = slf.get().open()?;
        let job = job_for(lp, work, args)?;
        let after = match callback.filter(|cb| !cb.is_none()) {
            Some(callback) => PyCallback::new(callback, None, label)?,
            // No callback: an error of the job is still reported, as uncaught (rule 8).
            None => PyCallback {
                body: Body::Call {
                    func: py.None(),
                    args: None,
                    context: CallContext::own(py)?,
                },
                label: Some(match label {
                    Some(label) => label.unbind(),
                    None => PyString::new(py, "work").unbind(),
                }),
            },
        };
        let id = lp.queue_work(job, Some(after)).map_err(core_error)?;
        Bound::new(py, Work::new(slf.clone().unbind(), id))
    }
}

/// A job's value as a Python object: a Python job's result, native jobs' bytes, or `None`.
pub(crate) fn output(py: Python<'_>, value: JobOutput) -> Py<PyAny> {
    let value = match value.downcast::<Py<PyAny>>() {
        Ok(object) => return *object,
        Err(value) => value,
    };
    let value = match value.downcast::<Vec<u8>>() {
        Ok(bytes) => return PyBytes::new(py, &bytes).into_any().unbind(),
        Err(value) => value,
    };
    match value.downcast::<Vec<LookupAddress>>() {
        Ok(found) => crate::dns::addresses(py, &found).unwrap_or_else(|_| py.None()),
        Err(_) => py.None(),
    }
}

/// A job's failure as an exception: what the Python job raised, an `OSError` / `ValueError` for
/// a native job.
pub(crate) fn failure(error: JobError) -> PyErr {
    let error = match error.downcast::<PyErr>() {
        Ok(err) => return *err,
        Err(error) => error,
    };
    let error = match error.downcast::<std::io::Error>() {
        Ok(err) => return io_error(*err),
        Err(error) => error,
    };
    let error = match error.downcast::<FileError>() {
        Ok(err) => return io_error_at(err.err, &err.path),
        Err(error) => error,
    };
    let error = match error.downcast::<LookupError>() {
        Ok(err) => return Python::attach(|py| crate::dns::gai_error(py, &err)),
        Err(error) => error,
    };
    match error.downcast::<CoreError>() {
        Ok(err) => core_error(*err),
        Err(error) => PyRuntimeError::new_err(error.to_string()),
    }
}

/// A work request's outcome: `callback(error, result)`.
impl Deliver for WorkOutcome {
    fn deliver(self, py: Python<'_>, cb: &PyCallback) -> PyResult<()> {
        let (error, result) = match self {
            WorkOutcome::Done(value) => (None, output(py, value)),
            WorkOutcome::Failed(error) => (Some(failure(error)), py.None()),
            WorkOutcome::Panicked(message) => (
                Some(PyRuntimeError::new_err(format!(
                    "the work job panicked: {message}"
                ))),
                py.None(),
            ),
            WorkOutcome::Cancelled => (
                Some(Cancelled::new_err(
                    "the work request was cancelled before it started",
                )),
                py.None(),
            ),
        };
        if cb.is_missing(py) {
            // No callback to hand it to: a failure is uncaught; a cancellation was asked for.
            return match error {
                Some(err) if !err.is_instance_of::<Cancelled>(py) => Err(err),
                _ => Ok(()),
            };
        }
        let error = error.map_or_else(|| py.None(), |err| err.into_value(py).into_any());
        cb.call_with(py, &[error.as_ptr(), result.as_ptr()])
    }
}
