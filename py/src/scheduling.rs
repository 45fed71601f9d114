//! `Loop`'s scheduling methods: timers, immediates, ticks, microtasks, pending callbacks,
//! idle/prepare/check handles, fd and signal watchers, and `call_threadsafe`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use phaseloop_core::{Error as CoreError, HandleKind, Id};

use crate::args;
use crate::callback::{OnceJob, PyCallback};
use crate::context::LoopSnapshots;
use crate::errors::core_error;
use crate::event_loop::{Core, Loop};
use crate::handles::{interest, Handle, HandleType, Immediate, Timer, Watcher};
use crate::signals;

/// The context snapshots of the loop, for the callbacks that run once (see `context`).
#[inline]
fn snapshots(lp: &Core) -> &LoopSnapshots {
    &lp.host().snapshots
}

/// `set_immediate(callback)` for the module's own callbacks (asyncio's ready-queue batch):
/// the same immediate, without the argument parsing and the `Immediate` object a Python call
/// makes, nor a context (see `callback::Body::Plain`).
pub(crate) fn queue_immediate(lp: &Bound<'_, Loop>, callback: &Bound<'_, PyAny>) -> PyResult<()> {
    let core = lp.get().open()?;
    let cb = PyCallback::plain(callback);
    core.set_immediate(cb).map_err(core_error)?;
    Ok(())
}

/// `set_timeout(callback, delay_ms)` for the module's own callbacks (the wake-up of asyncio's
/// timer heap): the core's timer, without the argument parsing, the hold and the `Timer` object
/// a Python call makes, nor a context (see `callback::Body::Plain`). The id is for
/// [`clear_queued_timeout`].
pub(crate) fn queue_timeout(
    lp: &Bound<'_, Loop>,
    callback: &Bound<'_, PyAny>,
    delay_ms: f64,
) -> PyResult<Id> {
    let core = lp.get().open()?;
    let cb = PyCallback::plain(callback);
    core.set_timeout(delay_ms, cb).map_err(core_error)
}

/// Clears a [`queue_timeout`] timer; one that already fired is no error.
pub(crate) fn clear_queued_timeout(lp: &Loop, id: Id) -> PyResult<()> {
    match lp.open()?.clear_timer(id) {
        Ok(()) | Err(CoreError::NotFound) => Ok(()),
        Err(err) => Err(core_error(err)),
    }
}

/// A thread-safe call of the module's own `job` (asyncio's native `call_soon_threadsafe`),
/// from any thread: no argument parsing, no label, no context snapshot (the job carries its
/// own context).
pub(crate) fn queue_threadsafe_job(lp: &Loop, job: Box<dyn OnceJob>) -> PyResult<()> {
    lp.remote.call(PyCallback::job(job)).map_err(core_error)
}

fn another_loop(name: &str) -> PyErr {
    PyValueError::new_err(format!("{name} belongs to another loop"))
}

impl Loop {
    fn add_timer<'py>(
        slf: &Bound<'py, Self>,
        callback: &Bound<'py, PyAny>,
        delay: Option<&Bound<'py, PyAny>>,
        args: &Bound<'py, PyTuple>,
        label: Option<Bound<'py, PyString>>,
        repeat: bool,
    ) -> PyResult<Bound<'py, Timer>> {
        let lp = slf.get().open()?;
        let delay = args::delay(delay)?;
        let cb = PyCallback::new(callback, Some(args), label)?;
        let id = if repeat {
            lp.set_interval(delay, cb).map_err(core_error)?
        } else {
            // Held for the Timer object, whose refresh() re-arms it after it fired (as Node's).
            let id = lp.set_timeout(delay, cb).map_err(core_error)?;
            lp.hold_timer(id).map_err(core_error)?;
            id
        };
        let timer = Timer::new(slf.clone().unbind(), id, delay, repeat);
        Bound::new(slf.py(), timer)
    }

    fn add_handle<'py>(
        slf: &Bound<'py, Self>,
        kind: HandleKind,
        callback: &Bound<'py, PyAny>,
        label: Option<Bound<'py, PyString>>,
    ) -> PyResult<Bound<'py, Handle>> {
        let lp = slf.get().open()?;
        let cb = PyCallback::new(callback, None, label)?;
        let id = lp.add_handle(kind, cb).map_err(core_error)?;
        Bound::new(
            slf.py(),
            Handle::new(slf.clone().unbind(), id, HandleType::Phase(kind)),
        )
    }
}

#[pymethods]
impl Loop {
    /// `setTimeout`: `callback(*args)` once, `delay` ms from now.
    #[pyo3(signature = (callback, delay = None, *args, label = None))]
    fn set_timeout<'py>(
        slf: &Bound<'py, Self>,
        callback: &Bound<'py, PyAny>,
        delay: Option<&Bound<'py, PyAny>>,
        args: &Bound<'py, PyTuple>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Timer>> {
        let label = args::label(label)?;
        Loop::add_timer(slf, callback, delay, args, label, false)
    }

    /// `setInterval`: `callback(*args)` every `delay` ms until cleared.
    #[pyo3(signature = (callback, delay = None, *args, label = None))]
    fn set_interval<'py>(
        slf: &Bound<'py, Self>,
        callback: &Bound<'py, PyAny>,
        delay: Option<&Bound<'py, PyAny>>,
        args: &Bound<'py, PyTuple>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Timer>> {
        let label = args::label(label)?;
        Loop::add_timer(slf, callback, delay, args, label, true)
    }

    /// `clearTimeout`: accepts `None` and finished timers silently.
    fn clear_timeout(slf: &Bound<'_, Self>, timer: Option<&Bound<'_, Timer>>) -> PyResult<()> {
        let Some(timer) = timer else {
            slf.get().open()?;
            return Ok(());
        };
        if !timer.get().belongs_to(slf) {
            return Err(another_loop("timer"));
        }
        timer.get().clear()
    }

    /// `clearInterval` (the same as `clear_timeout`, as in Node).
    fn clear_interval(slf: &Bound<'_, Self>, timer: Option<&Bound<'_, Timer>>) -> PyResult<()> {
        Loop::clear_timeout(slf, timer)
    }

    /// `setImmediate`: `callback(*args)` in the check phase.
    #[pyo3(signature = (callback, *args, label = None))]
    fn set_immediate<'py>(
        slf: &Bound<'py, Self>,
        callback: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Immediate>> {
        let label = args::label(label)?;
        let lp = slf.get().open()?;
        let cb = PyCallback::once(callback, Some(args), label, snapshots(lp))?;
        let id = lp.set_immediate(cb).map_err(core_error)?;
        Immediate::handed_out(slf, &lp.host().spare_immediate, id)
    }

    /// `clearImmediate`: accepts `None` and immediates that ran silently.
    fn clear_immediate(
        slf: &Bound<'_, Self>,
        immediate: Option<&Bound<'_, Immediate>>,
    ) -> PyResult<()> {
        let Some(immediate) = immediate else {
            slf.get().open()?;
            return Ok(());
        };
        if !immediate.get().belongs_to(slf) {
            return Err(another_loop("immediate"));
        }
        immediate.get().clear()
    }

    /// `process.nextTick`: `callback(*args)` in the next drain, before microtasks.
    #[pyo3(signature = (callback, *args, label = None))]
    fn next_tick(
        &self,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let label = args::label(label)?;
        let lp = self.open()?;
        let cb = PyCallback::once(callback, Some(args), label, snapshots(lp))?;
        lp.next_tick(cb).map_err(core_error)
    }

    /// `queueMicrotask`: `callback()` in the next drain, after the ticks.
    #[pyo3(signature = (callback, *, label = None))]
    fn queue_microtask(
        &self,
        callback: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let label = args::label(label)?;
        let lp = self.open()?;
        let cb = PyCallback::once(callback, None, label, snapshots(lp))?;
        lp.queue_microtask(cb).map_err(core_error)
    }

    /// `callback(*args)` in the next pending phase to begin.
    #[pyo3(signature = (callback, *args, label = None))]
    fn queue_pending(
        &self,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let label = args::label(label)?;
        let lp = self.open()?;
        let cb = PyCallback::once(callback, Some(args), label, snapshots(lp))?;
        lp.queue_pending(cb).map_err(core_error)
    }

    /// An idle handle: `callback()` every iteration (and poll does not block) until stopped.
    #[pyo3(signature = (callback, *, label = None))]
    fn add_idle<'py>(
        slf: &Bound<'py, Self>,
        callback: &Bound<'py, PyAny>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Handle>> {
        let label = args::label(label)?;
        Loop::add_handle(slf, HandleKind::Idle, callback, label)
    }

    /// A prepare handle: `callback()` every iteration, just before poll.
    #[pyo3(signature = (callback, *, label = None))]
    fn add_prepare<'py>(
        slf: &Bound<'py, Self>,
        callback: &Bound<'py, PyAny>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Handle>> {
        let label = args::label(label)?;
        Loop::add_handle(slf, HandleKind::Prepare, callback, label)
    }

    /// A check handle: `callback()` every iteration, just after poll.
    #[pyo3(signature = (callback, *, label = None))]
    fn add_check<'py>(
        slf: &Bound<'py, Self>,
        callback: &Bound<'py, PyAny>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Handle>> {
        let label = args::label(label)?;
        Loop::add_handle(slf, HandleKind::Check, callback, label)
    }

    /// `uv_poll_t`: `callback(readable, writable)` in the poll phase while `fd` is ready.
    #[pyo3(signature = (fd, callback, *, readable = true, writable = false, label = None))]
    fn watch_fd<'py>(
        slf: &Bound<'py, Self>,
        fd: &Bound<'py, PyAny>,
        callback: &Bound<'py, PyAny>,
        readable: bool,
        writable: bool,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Watcher>> {
        let label = args::label(label)?;
        let lp = slf.get().open()?;
        let fd = args::fd(fd)?;
        let interest = interest(readable, writable)?;
        let cb = PyCallback::new(callback, None, label)?;
        let id = lp.watch_fd(fd, interest, cb).map_err(core_error)?;
        Bound::new(slf.py(), Watcher::new(slf.clone().unbind(), id, fd))
    }

    /// `uv_signal_t`: `callback(signum)` in the poll phase each time the process gets `signum`.
    #[pyo3(signature = (signum, callback, *, label = None))]
    fn on_signal<'py>(
        slf: &Bound<'py, Self>,
        signum: &Bound<'py, PyAny>,
        callback: &Bound<'py, PyAny>,
        label: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Handle>> {
        let label = args::label(label)?;
        let lp = slf.get().open()?;
        let signum = i32::try_from(args::count(signum, "signum")?)
            .map_err(|_| PyValueError::new_err("signum is not a signal that can be watched"))?;
        let cb = PyCallback::new(callback, None, label)?;
        signals::prepare_sigint(slf.py(), signum)?;
        let id = lp.on_signal(signum, cb).map_err(core_error)?;
        signals::watch_started(lp.host(), signum);
        Bound::new(
            slf.py(),
            Handle::new(slf.clone().unbind(), id, HandleType::Signal(signum)),
        )
    }

    /// `uv_async_send`: `callback(*args)` on the loop's thread in its poll phase. The only
    /// method any thread may call.
    #[pyo3(signature = (callback, *args, label = None))]
    fn call_threadsafe(
        &self,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let label = args::label(label)?;
        let cb = PyCallback::once(callback, Some(args), label, &self.remote_snapshots)?;
        self.remote.call(cb).map_err(core_error)
    }
}
