//! `phaseloop.asyncio`'s timers, natively: `call_later` / `call_at`, their handle (asyncio's
//! `TimerHandle` interface), and the heap of scheduled handles that one phaseloop timer, armed
//! for the earliest, runs in the timers phase (asyncio's `_scheduled` heap and the part of
//! `BaseEventLoop._run_once` that pops the due handles).
//!
//! Written in Python on asyncio's `TimerHandle` a timer cost its `__init__`, `Handle.__init__`,
//! `call_later` and `call_at` frames and a tuple in a Python heap; here the handle is a native
//! object, as uvloop's is (not a subclass of `asyncio.TimerHandle`), and the heap compares
//! plain numbers. Debug mode, and a loop that records its timeline, make asyncio's own handle
//! in `phaseloop/asyncio.py` instead (with its source traceback in debug mode; a labelled
//! phaseloop timer apiece while recording); debug mode's handles still wait in this heap.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use pyo3::basic::CompareOp;
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyString, PyTuple};
use pyo3::PyTraverseError;

use phaseloop_core::Id;

use crate::asyncio_ready::{
    format_callback, loop_snapshots, refuse_if_closed, run_callback, run_timed,
};
use crate::callback::OnceJob;
use crate::context::HandleContext;
use crate::event_loop::Loop;
use crate::gc_hidden::{Hidden, Referents};
use crate::scheduling::{clear_queued_timeout, queue_threadsafe_job, queue_timeout};

/// asyncio's `base_events._MIN_SCHEDULED_TIMER_HANDLES`: below this many scheduled handles the
/// cancelled ones are not swept out.
const MIN_SCHEDULED_FOR_SWEEP: usize = 100;

/// The longest delay a phaseloop timer keeps (Node's `setTimeout` maximum, 2**31 - 1 ms).
const LONGEST_WAKE_MS: f64 = 2_147_483_647.0;

/// A lock that a panic elsewhere did not poison for good (nothing here leaves its data half
/// changed).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a timer calls: dropped when it is cancelled, as asyncio's handle drops its callback
/// and arguments (a cancelled timer left in the heap keeps nothing else alive).
struct Call {
    callback: Py<PyAny>,
    args: Py<PyTuple>,
}

/// A callback `call_later` / `call_at` scheduled: `asyncio.TimerHandle`'s interface
/// (`cancel()`, `cancelled()`, `when()`, `get_context()`, comparison by `when`, its `repr`, and
/// the private attributes asyncio's helpers read).
#[pyclass(module = "phaseloop.asyncio", name = "TimerHandle", frozen, weakref)]
pub struct TimerHandle {
    /// `when` as given, for `when()`, `repr` and comparisons, as asyncio keeps it (the heap
    /// orders by its float value).
    when_given: Py<PyAny>,
    call: Mutex<Option<Call>>,
    /// The `repr` kept when it was cancelled in debug mode (asyncio's `_repr`).
    cancelled_repr: Mutex<Option<String>>,
    context: HandleContext,
    queue: Py<TimerQueue>,
    cancelled: AtomicBool,
    /// In the heap (asyncio's `_scheduled`).
    scheduled: AtomicBool,
}

impl TimerHandle {
    fn call(&self, py: Python<'_>) -> Option<(Py<PyAny>, Py<PyTuple>)> {
        lock(&self.call)
            .as_ref()
            .map(|call| (call.callback.clone_ref(py), call.args.clone_ref(py)))
    }

    /// The callback now, unless it was cancelled (asyncio's `_run_once` skips those).
    fn run(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let handle = slf.get();
        if handle.cancelled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some((callback, args)) = handle.call(py) else {
            return Ok(());
        };
        let queue = handle.queue.get();
        let context = handle.context.get(py, loop_snapshots(queue.pl.get()))?;
        run_callback(slf.as_any(), &queue.event_loop, context, &callback, &args)
    }

    /// The handle's own context (see `HandleContext`).
    fn own_context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let snapshots = loop_snapshots(self.queue.get().pl.get());
        Ok(self.context.get(py, snapshots)?.clone_ref(py))
    }

    /// asyncio's `TimerHandle.__eq__` for two of ours.
    fn same(&self, other: &TimerHandle, py: Python<'_>) -> PyResult<bool> {
        if !self.when_given.bind(py).eq(&other.when_given)? {
            return Ok(false);
        }
        let (mine, theirs) = (self.call(py), other.call(py));
        let callbacks = |call: &Option<(Py<PyAny>, Py<PyTuple>)>| match call {
            Some((callback, args)) => (callback.clone_ref(py), args.clone_ref(py).into_any()),
            None => (py.None(), py.None()),
        };
        let (my_callback, my_args) = callbacks(&mine);
        let (their_callback, their_args) = callbacks(&theirs);
        Ok(my_callback.bind(py).eq(their_callback)?
            && my_args.bind(py).eq(their_args)?
            && self.cancelled() == other.cancelled())
    }
}

#[pymethods]
impl TimerHandle {
    /// Cancels the callback: it will not run, and the handle lets go of it and its arguments.
    fn cancel(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let handle = slf.get();
        if handle.cancelled.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let queue = handle.queue.get();
        if queue.debug.load(Ordering::Relaxed) {
            // As asyncio's: debug mode's slow-callback warning still names the callback.
            let repr = Self::__repr__(slf.get(), py)?;
            *lock(&handle.cancelled_repr) = Some(repr);
        }
        let call = lock(&handle.call).take();
        drop(call);
        if handle.scheduled.load(Ordering::Relaxed) {
            TimerQueue::count_cancelled(handle.queue.bind(py), None)?;
        }
        Ok(())
    }

    /// Whether `cancel()` was called.
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The loop time the callback is due at.
    fn when(&self, py: Python<'_>) -> Py<PyAny> {
        self.when_given.clone_ref(py)
    }

    /// The `contextvars.Context` the callback runs in.
    fn get_context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.own_context(py)
    }

    /// Runs the callback now, as `asyncio.Handle._run` does (debug mode's timed runs use it).
    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::run(slf)
    }

    #[getter]
    fn _callback(&self, py: Python<'_>) -> Py<PyAny> {
        self.call(py)
            .map_or_else(|| py.None(), |(callback, _)| callback)
    }

    #[getter]
    fn _args(&self, py: Python<'_>) -> Py<PyAny> {
        self.call(py)
            .map_or_else(|| py.None(), |(_, args)| args.into_any())
    }

    #[getter]
    fn _context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.own_context(py)
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.queue.get().event_loop.clone_ref(py)
    }

    #[getter]
    fn _when(&self, py: Python<'_>) -> Py<PyAny> {
        self.when_given.clone_ref(py)
    }

    #[getter]
    fn _cancelled(&self) -> bool {
        self.cancelled()
    }

    #[getter]
    fn _scheduled(&self) -> bool {
        self.scheduled.load(Ordering::Relaxed)
    }

    /// Always `None`: debug mode, which records where a handle was made, uses asyncio's own.
    #[getter]
    fn _source_traceback(&self) -> Option<Py<PyAny>> {
        None
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        if let Some(repr) = lock(&self.cancelled_repr).as_ref() {
            return Ok(repr.clone());
        }
        let mut parts = vec!["<TimerHandle".to_owned()];
        if self.cancelled() {
            parts.push("cancelled".to_owned());
        }
        parts.push(format!("when={}", self.when_given.bind(py).str()?));
        if let Some((callback, args)) = self.call(py) {
            parts.push(format_callback(py, &callback, &args)?.to_string());
        }
        Ok(parts.join(" ") + ">")
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.when_given.bind(py).hash()
    }

    /// asyncio's order of timer handles: by `when`; equal when everything is.
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(other) = other.cast::<TimerHandle>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let (mine, theirs) = (self.when_given.bind(py), other.when_given.bind(py));
        let result = match op {
            CompareOp::Lt => mine.lt(theirs)?,
            CompareOp::Gt => mine.gt(theirs)?,
            CompareOp::Le => mine.lt(theirs)? || self.same(other, py)?,
            CompareOp::Ge => mine.gt(theirs)? || self.same(other, py)?,
            CompareOp::Eq => self.same(other, py)?,
            CompareOp::Ne => !self.same(other, py)?,
        };
        Ok(result.into_pyobject(py)?.to_owned().into_any().unbind())
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.visit_referents(&visit)
    }

    fn __clear__(&self) {
        let call = lock(&self.call).take();
        drop(call);
    }
}

impl Referents for TimerHandle {
    fn visit_referents(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.when_given)?;
        if let Ok(call) = self.call.try_lock() {
            if let Some(call) = call.as_ref() {
                visit.call(&call.callback)?;
                visit.call(&call.args)?;
            }
        }
        self.context.traverse(visit)?;
        visit.call(&self.queue)
    }
}

/// A scheduled handle: ours, hidden from the collector while it is in the heap (see
/// `gc_hidden`), or asyncio's own (made in debug mode).
enum Scheduled {
    Native(Hidden<TimerHandle>),
    Asyncio(Py<PyAny>),
}

impl Scheduled {
    fn cancelled(&self, py: Python<'_>) -> PyResult<bool> {
        match self {
            Scheduled::Native(handle) => Ok(handle.handle().get().cancelled()),
            Scheduled::Asyncio(handle) => handle
                .bind(py)
                .getattr(intern!(py, "_cancelled"))?
                .is_truthy(),
        }
    }

    fn set_scheduled(&self, py: Python<'_>, scheduled: bool) -> PyResult<()> {
        match self {
            Scheduled::Native(handle) => handle
                .handle()
                .get()
                .scheduled
                .store(scheduled, Ordering::Relaxed),
            Scheduled::Asyncio(handle) => handle
                .bind(py)
                .setattr(intern!(py, "_scheduled"), scheduled)?,
        }
        Ok(())
    }

    fn is(&self, other: &Bound<'_, PyAny>) -> bool {
        match self {
            Scheduled::Native(handle) => handle.handle().as_ptr() == other.as_ptr(),
            Scheduled::Asyncio(handle) => handle.as_ptr() == other.as_ptr(),
        }
    }

    fn object(&self) -> &Py<PyAny> {
        match self {
            Scheduled::Native(handle) => handle.handle().as_any(),
            Scheduled::Asyncio(handle) => handle,
        }
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        match self {
            Scheduled::Native(handle) => handle.traverse(visit),
            Scheduled::Asyncio(handle) => visit.call(handle),
        }
    }

    /// Lets go of a handle that left the heap (see `gc_hidden`).
    #[inline]
    fn release(self, py: Python<'_>) {
        match self {
            Scheduled::Native(handle) => handle.release(py),
            Scheduled::Asyncio(handle) => drop(handle),
        }
    }
}

/// A heap entry: due at `when`, FIFO among equal `when`s by `seq`.
struct Entry {
    when: f64,
    seq: u64,
    handle: Scheduled,
}

impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .when
            .total_cmp(&self.when)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Entry {}

/// The thread-safe call that re-arms a queue's wake-up on the loop's thread after another
/// thread put an earlier handle in its heap.
struct RearmWake(Py<TimerQueue>);

impl OnceJob for RearmWake {
    /// Arms the wake-up for the earliest handle, unless it is armed for that already.
    fn run_once(
        self: Box<Self>,
        py: Python<'_>,
        _lp: &phaseloop_core::Loop<crate::callback::PyCallback>,
    ) -> PyResult<()> {
        let queue = self.0.bind(py);
        let Some(earliest) = queue.get().earliest() else {
            return Ok(());
        };
        if earliest < lock(&queue.get().wake).at {
            TimerQueue::wake_for(queue, earliest)?;
        }
        Ok(())
    }

    fn traverse_job(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.0)
    }

    /// It calls no handler of the program's.
    fn trace_target(&self, _py: Python<'_>) -> Option<Py<PyAny>> {
        None
    }

    fn timeline_label(&self, py: Python<'_>) -> Py<PyString> {
        intern!(py, "call_at from another thread").clone().unbind()
    }
}

/// The phaseloop timer that runs the due handles, and the `when` it is armed for.
struct Wake {
    at: f64,
    timer: Option<Id>,
}

/// The timer handles of an `EventLoop` while nothing observes it, and the one phaseloop timer
/// that runs the due ones in the timers phase, in asyncio's order (by `when`, then FIFO).
#[pyclass(module = "phaseloop.asyncio", frozen)]
pub struct TimerQueue {
    event_loop: Py<PyAny>,
    pl: Py<Loop>,
    heap: Mutex<BinaryHeap<Entry>>,
    seq: AtomicU64,
    /// Cancelled handles still in the heap (asyncio's `_timer_cancelled_count`).
    cancelled: AtomicUsize,
    wake: Mutex<Wake>,
    closed: AtomicBool,
    debug: AtomicBool,
}

impl TimerQueue {
    /// The loop's `time()`, looked up on the loop as asyncio's `call_later` calls it.
    fn time<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.event_loop
            .bind(py)
            .getattr(intern!(py, "time"))?
            .call0()
    }

    fn len(&self) -> usize {
        lock(&self.heap).len()
    }

    fn earliest(&self) -> Option<f64> {
        lock(&self.heap).peek().map(|entry| entry.when)
    }

    /// Puts a handle in the heap, and arms the wake-up when it is the earliest.
    fn schedule(slf: &Bound<'_, Self>, when: f64, handle: Scheduled) -> PyResult<()> {
        if slf.get().push_is_earliest(when, handle) {
            Self::wake_for(slf, when)?;
        }
        Ok(())
    }

    /// Puts a handle in the heap; whether it is due before the wake-up is armed for.
    fn push_is_earliest(&self, when: f64, handle: Scheduled) -> bool {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        lock(&self.heap).push(Entry { when, seq, handle });
        when < lock(&self.wake).at
    }

    /// [`Self::schedule`] from a thread other than the loop's, which cannot touch its
    /// timers: the handle goes in the heap, and when it is the earliest a thread-safe call
    /// re-arms the wake-up on the loop's thread (and wakes the loop for it).
    fn schedule_from_another_thread(
        slf: &Bound<'_, Self>,
        when: f64,
        handle: Scheduled,
    ) -> PyResult<()> {
        let queue = slf.get();
        if queue.push_is_earliest(when, handle) {
            let job = RearmWake(slf.clone().unbind());
            queue_threadsafe_job(queue.pl.get(), Box::new(job))?;
        }
        Ok(())
    }

    /// (Re-)arms the phaseloop timer that runs the due handles for `when`: whole
    /// milliseconds, rounded up, so never early by phaseloop's clock.
    fn wake_for(slf: &Bound<'_, Self>, when: f64) -> PyResult<()> {
        let py = slf.py();
        let queue = slf.get();
        let now: f64 = queue.time(py)?.extract()?;
        let old = lock(&queue.wake).timer.take();
        if let Some(id) = old {
            clear_queued_timeout(queue.pl.get(), id)?;
        }
        let delay_ms = (when - now) * 1000.0;
        // At most the longest delay phaseloop's timers take (longer ones, as in Node, would
        // fire at once): a timer further off is woken for again after that long.
        let delay_ms = if delay_ms > 0.0 {
            delay_ms.ceil().min(LONGEST_WAKE_MS)
        } else {
            0.0
        };
        let run_due = slf.getattr(intern!(py, "run_due"))?;
        let id = queue_timeout(queue.pl.bind(py), &run_due, delay_ms)?;
        *lock(&queue.wake) = Wake {
            at: when,
            timer: Some(id),
        };
        Ok(())
    }

    /// One more cancelled handle in the heap (`cancelling`: asyncio's own, which is marked
    /// only after this returns). When they are more than half of it, the heap is rebuilt
    /// without them, as asyncio's `_run_once` does, so cancelled timers cannot pile up.
    fn count_cancelled(
        slf: &Bound<'_, Self>,
        cancelling: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let queue = slf.get();
        let cancelled = queue.cancelled.fetch_add(1, Ordering::Relaxed) + 1;
        let len = queue.len();
        if len <= MIN_SCHEDULED_FOR_SWEEP || cancelled * 2 <= len {
            return Ok(());
        }
        // Out of the lock while asyncio's handles are asked whether they were cancelled.
        let entries = std::mem::take(&mut *lock(&queue.heap)).into_vec();
        let mut kept = Vec::with_capacity(entries.len() - cancelled.min(entries.len()));
        let mut dropped = Vec::with_capacity(cancelled);
        for entry in entries {
            let gone = entry.handle.cancelled(py)?
                || cancelling.is_some_and(|handle| entry.handle.is(handle));
            if gone {
                entry.handle.set_scheduled(py, false)?;
                dropped.push(entry);
            } else {
                kept.push(entry);
            }
        }
        lock(&queue.heap).extend(kept);
        queue.cancelled.store(0, Ordering::Relaxed);
        drop(dropped);
        Ok(())
    }

    /// Pops the cancelled handles at the head of the heap. (The head is taken out to be
    /// looked at: asking asyncio's handle runs Python, which must not happen under the lock.)
    fn drop_cancelled_head(&self, py: Python<'_>) -> PyResult<()> {
        loop {
            let Some(head) = lock(&self.heap).pop() else {
                return Ok(());
            };
            if !head.handle.cancelled(py)? {
                lock(&self.heap).push(head);
                return Ok(());
            }
            head.handle.set_scheduled(py, false)?;
            self.uncount_cancelled();
        }
    }

    fn uncount_cancelled(&self) {
        let _ = self
            .cancelled
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Runs one due handle: ours natively, asyncio's through its `_run`; debug mode times
    /// either.
    fn run_one(&self, py: Python<'_>, handle: &Scheduled) -> PyResult<()> {
        if self.debug.load(Ordering::Relaxed) {
            return run_timed(&self.event_loop, handle.object().bind(py));
        }
        match handle {
            Scheduled::Native(handle) => TimerHandle::run(handle.handle().bind(py)),
            Scheduled::Asyncio(handle) => {
                let handle = handle.bind(py);
                if !handle.getattr(intern!(py, "_cancelled"))?.is_truthy()? {
                    handle.call_method0(intern!(py, "_run"))?;
                }
                Ok(())
            }
        }
    }

    /// A native handle for `call_at`, or asyncio's own through the loop's Python path (debug
    /// mode, or an observed loop).
    fn call_at_with(
        slf: &Bound<'_, Self>,
        when: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let queue = slf.get();
        refuse_if_closed(&queue.closed)?;
        let debug = queue.debug.load(Ordering::Relaxed);
        // Another thread (outside debug mode, whose `_check_thread` raises on the Python
        // path): asyncio's call_at is not thread-safe but does not refuse; here the handle
        // goes in the heap, and the loop's thread is asked to arm the wake-up.
        let (observed, foreign) = match queue.pl.get().observed() {
            Ok(observed) => (observed, false),
            Err(_) => (debug, !debug),
        };
        if debug || observed {
            let context = context.map_or_else(|| py.None(), |c| c.clone().unbind());
            return Ok(queue
                .event_loop
                .bind(py)
                .call_method1(
                    intern!(py, "_call_at_python"),
                    (when, callback, args, context),
                )?
                .unbind());
        }
        let when_f64: f64 = when.extract()?;
        let context = match context {
            Some(context) if !context.is_none() => HandleContext::given(context.clone().unbind()),
            _ => HandleContext::current(py, loop_snapshots(queue.pl.get()))?,
        };
        let handle = Bound::new(
            py,
            TimerHandle {
                when_given: when.clone().unbind(),
                call: Mutex::new(Some(Call {
                    callback: callback.clone().unbind(),
                    args: args.unbind(),
                })),
                cancelled_repr: Mutex::new(None),
                context,
                queue: slf.clone().unbind(),
                cancelled: AtomicBool::new(false),
                scheduled: AtomicBool::new(true),
            },
        )?;
        let result = handle.clone().into_any().unbind();
        let handle = Scheduled::Native(Hidden::hide(handle));
        if foreign {
            Self::schedule_from_another_thread(slf, when_f64, handle)?;
        } else {
            Self::schedule(slf, when_f64, handle)?;
        }
        Ok(result)
    }
}

#[pymethods]
impl TimerQueue {
    #[new]
    fn new(event_loop: Py<PyAny>, pl: Py<Loop>) -> Self {
        TimerQueue {
            event_loop,
            pl,
            heap: Mutex::new(BinaryHeap::new()),
            seq: AtomicU64::new(0),
            cancelled: AtomicUsize::new(0),
            wake: Mutex::new(Wake {
                at: f64::INFINITY,
                timer: None,
            }),
            closed: AtomicBool::new(false),
            debug: AtomicBool::new(false),
        }
    }

    /// asyncio's `call_at(when, callback, *args, context=None)`.
    #[pyo3(signature = (when, callback, *args, context = None))]
    fn call_at(
        slf: &Bound<'_, Self>,
        when: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        if when.is_none() {
            return Err(PyTypeError::new_err("when cannot be None"));
        }
        Self::call_at_with(slf, when, callback, args, context)
    }

    /// asyncio's `call_later(delay, callback, *args, context=None)`: `call_at(time() + delay)`.
    #[pyo3(signature = (delay, callback, *args, context = None))]
    fn call_later(
        slf: &Bound<'_, Self>,
        delay: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        if delay.is_none() {
            return Err(PyTypeError::new_err("delay must not be None"));
        }
        let py = slf.py();
        let queue = slf.get();
        // Before `time()`, which a closed virtual-clock loop cannot tell.
        refuse_if_closed(&queue.closed)?;
        let now = queue.time(py)?;
        let when = match (now.cast_exact::<PyFloat>(), delay.cast_exact::<PyFloat>()) {
            // The sum Python would make of two floats, without the number protocol's dispatch.
            (Ok(now), Ok(delay)) => PyFloat::new(py, now.value() + delay.value()).into_any(),
            _ => now.add(delay)?,
        };
        Self::call_at_with(slf, &when, callback, args, context)
    }

    /// Puts asyncio's own handle (made by the loop's Python path in debug mode) in the heap.
    fn push(slf: &Bound<'_, Self>, when: f64, handle: Py<PyAny>) -> PyResult<()> {
        Self::schedule(slf, when, Scheduled::Asyncio(handle))
    }

    /// asyncio's `TimerHandle.cancel()` told the loop (`_timer_handle_cancelled`), before it
    /// marks itself cancelled.
    fn asyncio_handle_cancelled(slf: &Bound<'_, Self>, handle: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        if handle.getattr(intern!(py, "_scheduled"))?.is_truthy()? {
            Self::count_cancelled(slf, Some(handle))?;
        }
        Ok(())
    }

    /// The phaseloop timer's callback: runs the handles that are due (never early: the
    /// millisecond clock can be ahead of `time()`); those they schedule wait for a later pass,
    /// as in asyncio. A `KeyboardInterrupt` or `SystemExit` out of one leaves the rest for the
    /// next run.
    fn run_due(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let queue = slf.get();
        *lock(&queue.wake) = Wake {
            at: f64::INFINITY,
            timer: None,
        };
        let now: f64 = queue.time(py)?.extract()?;
        let mut due = Vec::new();
        {
            let mut heap = lock(&queue.heap);
            while heap.peek().is_some_and(|entry| entry.when <= now) {
                due.extend(heap.pop());
            }
        }
        let mut runnable = Vec::with_capacity(due.len());
        for entry in due {
            entry.handle.set_scheduled(py, false)?;
            if entry.handle.cancelled(py)? {
                queue.uncount_cancelled();
                entry.handle.release(py);
            } else {
                runnable.push(entry);
            }
        }
        let mut result = Ok(());
        let mut ran = 0;
        for entry in &runnable {
            ran += 1;
            if let Err(err) = queue.run_one(py, &entry.handle) {
                result = Err(err);
                break;
            }
        }
        if result.is_err() {
            let rest = runnable.split_off(ran);
            for entry in &rest {
                entry.handle.set_scheduled(py, true)?;
            }
            lock(&queue.heap).extend(rest);
        }
        for entry in runnable {
            entry.handle.release(py);
        }
        queue.drop_cancelled_head(py)?;
        if !queue.closed.load(Ordering::Relaxed) {
            if let Some(earliest) = queue.earliest() {
                if earliest < lock(&queue.wake).at {
                    Self::wake_for(slf, earliest)?;
                }
            }
        }
        result
    }

    /// Debug mode on or off (`EventLoop.set_debug`).
    fn set_debug(&self, enabled: bool) {
        self.debug.store(enabled, Ordering::Relaxed);
    }

    /// The loop closed: `call_at` raises, and what was scheduled is dropped.
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        *lock(&self.wake) = Wake {
            at: f64::INFINITY,
            timer: None,
        };
        let dropped = std::mem::take(&mut *lock(&self.heap));
        drop(dropped);
    }

    /// How many handles are in the heap, cancelled ones included.
    fn __len__(&self) -> usize {
        self.len()
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.event_loop)?;
        visit.call(&self.pl)?;
        if let Ok(heap) = self.heap.try_lock() {
            for entry in heap.iter() {
                entry.handle.traverse(&visit)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.close();
    }
}
