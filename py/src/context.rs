//! [`CallContext`]: the `contextvars` context a callback runs in, [`HandleContext`], an asyncio
//! handle's, and [`Snapshots`], which lets the callbacks scheduled in an unchanged context share
//! one copy of it.
//!
//! A callback runs in the context current when it was scheduled (as in asyncio), and what it
//! sets there is seen by no other callback. asyncio gets both by copying the context for every
//! handle. A copy is a small object, but one the garbage collector tracks: a million queued
//! callbacks are a million live tracked objects, and CPython's collector then runs over and
//! over across all of them (most of the cost of queueing a million callbacks, measured in
//! bench/RESULTS.md). So a callback that runs once (an immediate, a tick, a microtask, a
//! pending callback, a threadsafe call, a promise reaction) keeps a *snapshot* instead: a copy
//! that is never entered, shared by every callback scheduled while the context's variables
//! stayed the same, and each run enters a fresh copy of it, dropped when the run ends. What a
//! run sets goes nowhere else, as with a copy per callback. (A promise handler, which runs once
//! and last, enters a snapshot nothing else holds itself: see [`CallContext::call_once`].) A
//! callback that runs again (a timer that may be refreshed, an interval, a phaseloop handle, a
//! watcher) keeps a copy of its own, entered as it is on every run: what one run sets, the next
//! run of the same callback sees. An asyncio handle, whose context the program may ask for and
//! run again (`get_context()`, `_run()`), shares the snapshot until it first runs or is asked,
//! and then makes its copy ([`HandleContext`]).
//!
//! Two contexts have the same variables when they share the mapping that holds them (an
//! immutable HAMT; setting a variable replaces it). The mapping is not part of CPython's API:
//! it is read from the context object's layout (`Include/internal/pycore_context.h`, the same
//! from 3.7 to 3.14), which [`check_layout`] verifies once, by behaviour, when the module is
//! loaded. Should a CPython lay it out differently, every callback keeps a copy of its own.

use std::cell::RefCell;
use std::mem::size_of;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTraverseError;

/// Where a context object keeps its variables: after the object header and `ctx_prev`.
const VARS_OFFSET: usize = size_of::<ffi::PyObject>() + size_of::<*mut ffi::PyObject>();

/// Whether [`check_layout`] found the variables at [`VARS_OFFSET`].
static LAYOUT_KNOWN: AtomicBool = AtomicBool::new(false);

/// A copy of the current `contextvars` context (`contextvars.copy_context()`).
#[inline]
pub(crate) fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: attached (we hold `py`); the call returns a new reference or NULL with an error.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent()).map(Bound::unbind) }
}

/// A copy of `context` (`context.copy()`).
#[inline]
fn copy_of<'py>(py: Python<'py>, context: &Py<PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: attached; `context` is a `contextvars.Context` (every context here is made by
    // `PyContext_CopyCurrent` or `PyContext_Copy`), as `PyContext_Copy` requires.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_Copy(context.as_ptr())) }
}

/// The variables mapping of a context object.
///
/// # Safety
/// `context` is a live `contextvars.Context` and [`LAYOUT_KNOWN`] is set.
#[inline]
unsafe fn vars_of(context: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `check_layout` verified that a context object holds its mapping pointer at this
    // offset, inside the object (`tp_basicsize`).
    unsafe {
        *context
            .cast::<u8>()
            .add(VARS_OFFSET)
            .cast::<*mut ffi::PyObject>()
    }
}

/// Verifies, once, that context objects keep their variables where [`vars_of`] reads them: two
/// copies of one context share them, setting a variable in one changes only its own, and a copy
/// of that one shares its new mapping. Until this passed, no snapshot is shared.
pub(crate) fn check_layout(py: Python<'_>) -> PyResult<()> {
    // SAFETY: attached; every object is a new reference owned by a `Bound` (or checked for
    // NULL first), and `vars_of` reads only inside objects of `PyContext_Type`'s size, which
    // is checked before the first read.
    let known = unsafe {
        let basic_size = (*ptr::addr_of!(ffi::PyContext_Type)).tp_basicsize;
        if usize::try_from(basic_size).unwrap_or(0) < VARS_OFFSET + size_of::<*mut ffi::PyObject>()
        {
            false
        } else {
            let a = copy_context(py)?;
            let b = copy_context(py)?;
            let name = c"phaseloop layout check";
            let var = Bound::from_owned_ptr_or_err(
                py,
                ffi::PyContextVar_New(name.as_ptr(), ptr::null_mut()),
            )?;
            let shared_before =
                !vars_of(a.as_ptr()).is_null() && vars_of(a.as_ptr()) == vars_of(b.as_ptr());
            if ffi::PyContext_Enter(a.as_ptr()) != 0 {
                return Err(PyErr::fetch(py));
            }
            let token = ffi::PyContextVar_Set(var.as_ptr(), py.None().as_ptr());
            ffi::PyContext_Exit(a.as_ptr());
            let token = Bound::from_owned_ptr_or_err(py, token)?;
            drop(token);
            let own_after_set =
                vars_of(a.as_ptr()) != vars_of(b.as_ptr()) && !vars_of(a.as_ptr()).is_null();
            let c = copy_of(py, &a)?;
            let copied = vars_of(c.as_ptr()) == vars_of(a.as_ptr());
            shared_before && own_after_set && copied
        }
    };
    LAYOUT_KNOWN.store(known, Ordering::Relaxed);
    Ok(())
}

/// Where [`Snapshots`] keeps the last snapshot: a `RefCell` on the loop's own thread, a
/// `Mutex` for `call_threadsafe`, which any thread calls.
pub(crate) trait Slot: Default {
    /// Runs `f` on the kept snapshot.
    fn with<R>(&self, f: impl FnOnce(&mut Option<Py<PyAny>>) -> R) -> R;
    /// Runs `f` on it unless it is in use (the garbage collector's traversal).
    fn try_with(
        &self,
        f: impl FnOnce(&Option<Py<PyAny>>) -> Result<(), PyTraverseError>,
    ) -> Result<(), PyTraverseError>;
}

impl Slot for RefCell<Option<Py<PyAny>>> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Option<Py<PyAny>>) -> R) -> R {
        f(&mut self.borrow_mut())
    }

    fn try_with(
        &self,
        f: impl FnOnce(&Option<Py<PyAny>>) -> Result<(), PyTraverseError>,
    ) -> Result<(), PyTraverseError> {
        match self.try_borrow() {
            Ok(kept) => f(&kept),
            Err(_) => Ok(()),
        }
    }
}

impl Slot for Mutex<Option<Py<PyAny>>> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Option<Py<PyAny>>) -> R) -> R {
        // A panic while it was held left a valid `Option`.
        f(&mut self.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn try_with(
        &self,
        f: impl FnOnce(&Option<Py<PyAny>>) -> Result<(), PyTraverseError>,
    ) -> Result<(), PyTraverseError> {
        match self.try_lock() {
            Ok(kept) => f(&kept),
            Err(_) => Ok(()),
        }
    }
}

/// The last snapshot handed out, for the next callback scheduled in the same context. A loop
/// has one for its own thread (in its `Host`, [`LoopSnapshots`]) and one for
/// `call_threadsafe` ([`ThreadsafeSnapshots`]).
#[derive(Default)]
pub(crate) struct Snapshots<S: Slot> {
    last: S,
}

/// The snapshots of the callbacks scheduled on the loop's own thread.
pub(crate) type LoopSnapshots = Snapshots<RefCell<Option<Py<PyAny>>>>;

/// The snapshots of `call_threadsafe`'s callbacks (the lock is uncontended but for two threads
/// calling it at once: every caller holds the GIL).
pub(crate) type ThreadsafeSnapshots = Snapshots<Mutex<Option<Py<PyAny>>>>;

impl<S: Slot> Snapshots<S> {
    /// A snapshot of the current context: the last one if the variables are the same.
    #[inline]
    fn current(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let fresh = copy_context(py)?;
        if !LAYOUT_KNOWN.load(Ordering::Relaxed) {
            return Ok(fresh);
        }
        let replaced = self.last.with(|last| {
            if let Some(kept) = last.as_ref() {
                // SAFETY: both are live contexts (made by `PyContext_CopyCurrent`) and the
                // layout is known. The kept snapshot holds its mapping, so an equal address is
                // the same mapping, not a new one at a freed one's address.
                if unsafe { vars_of(kept.as_ptr()) == vars_of(fresh.as_ptr()) } {
                    return Err(kept.clone_ref(py));
                }
            }
            Ok(last.replace(fresh.clone_ref(py)))
        });
        // Dropping a context may run Python code (a variable's value freed): not inside the
        // slot.
        match replaced {
            Err(kept) => {
                drop(fresh);
                Ok(kept)
            }
            Ok(replaced) => {
                drop(replaced);
                Ok(fresh)
            }
        }
    }

    /// Tells the garbage collector what it holds.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.last.try_with(|last| visit.call(last.as_ref()))
    }

    /// Lets go of `snapshot` if it is the one kept, handing back the slot's reference (to be
    /// dropped outside the slot).
    #[inline]
    fn release(&self, snapshot: &Py<PyAny>) -> Option<Py<PyAny>> {
        self.last.with(|last| {
            if last.as_ref().is_some_and(|kept| kept.is(snapshot)) {
                last.take()
            } else {
                None
            }
        })
    }

    /// Drops the snapshot (when `run()` returns, when the loop closes, and the garbage
    /// collector's `__clear__`).
    pub(crate) fn clear(&self) {
        let last = self.last.with(Option::take);
        drop(last);
    }
}

/// The context a callback runs in (see the module documentation).
pub struct CallContext {
    context: Py<PyAny>,
    /// Whether `context` is a shared snapshot, entered only through a fresh copy.
    snapshot: bool,
}

impl CallContext {
    /// A copy of the current context for one callback, entered as it is on every run.
    #[inline]
    pub(crate) fn own(py: Python<'_>) -> PyResult<CallContext> {
        Ok(CallContext {
            context: copy_context(py)?,
            snapshot: false,
        })
    }

    /// The current context for a callback that runs once, shared through `snapshots`.
    #[inline]
    pub(crate) fn once<S: Slot>(py: Python<'_>, snapshots: &Snapshots<S>) -> PyResult<CallContext> {
        Ok(CallContext {
            context: snapshots.current(py)?,
            snapshot: true,
        })
    }

    /// Tells the garbage collector what it holds.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.context)
    }

    /// Calls `func(*args)` or `func(*extra)` in this context.
    #[inline]
    pub(crate) fn call<'py>(
        &self,
        py: Python<'py>,
        func: &Py<PyAny>,
        args: Option<&Py<PyTuple>>,
        extra: &[*mut ffi::PyObject],
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.snapshot {
            let run_in = copy_of(py, &self.context)?;
            call_in_context(py, run_in.as_unbound(), func, args, extra)
        } else {
            call_in_context(py, &self.context, func, args, extra)
        }
    }
}

impl CallContext {
    /// Calls `func(*extra)` in this context for the last time (a promise handler runs once).
    ///
    /// A snapshot nothing else holds any more (or that only `snapshots` keeps, which then lets
    /// go of it) is entered itself instead of through a fresh copy: what the run sets can
    /// reach no other callback, since none has it, and Python code cannot get hold of the
    /// context it runs in (`copy_context()` copies it). A promise chain then makes one context
    /// per link (the next handler's snapshot) instead of three.
    #[inline]
    pub(crate) fn call_once<'py, S: Slot>(
        self,
        py: Python<'py>,
        snapshots: &Snapshots<S>,
        func: &Py<PyAny>,
        extra: &[*mut ffi::PyObject],
    ) -> PyResult<Bound<'py, PyAny>> {
        let CallContext { context, snapshot } = self;
        // Dropped as a `Bound`: a plain decrement (a `Py` asks a thread-local first).
        let context = context.into_bound(py);
        if snapshot && !Self::only_holder(context.as_unbound(), snapshots) {
            let run_in = copy_of(py, context.as_unbound())?;
            return call_in_context(py, run_in.as_unbound(), func, None, extra);
        }
        call_in_context(py, context.as_unbound(), func, None, extra)
    }

    /// Whether `context` has no holder but the caller once `snapshots` let go of it.
    #[inline]
    fn only_holder<S: Slot>(context: &Py<PyAny>, snapshots: &Snapshots<S>) -> bool {
        // SAFETY: a plain read of the reference count of an object we hold.
        match unsafe { ffi::Py_REFCNT(context.as_ptr()) } {
            1 => true,
            2 => match snapshots.release(context) {
                // Not the last reference: dropping it frees nothing, runs no Python code.
                Some(kept) => {
                    drop(kept);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Runs `body` inside this context (a fresh copy of it, for a snapshot), as [`call`] runs a
    /// callable: for the module's own jobs, which call Python from Rust.
    ///
    /// [`call`]: CallContext::call
    #[inline]
    pub(crate) fn run<R>(&self, py: Python<'_>, body: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
        let copy;
        let context = if self.snapshot {
            copy = copy_of(py, &self.context)?;
            copy.as_ptr()
        } else {
            self.context.as_ptr()
        };
        let _entered = Entered::enter(py, context)?;
        body()
    }
}

/// The context of an asyncio handle (`Handle.get_context()`), which asyncio copies from the
/// current one for every handle.
///
/// A handle scheduled without `context=` keeps the loop's shared snapshot instead (see the
/// module documentation) and makes its own copy only when it first needs one: as it runs, or
/// when the program asks for it. What asyncio's handle shows is kept: each handle has a context
/// of its own, the one it runs in, and what a run sets stays in it (a second `_run()` and
/// `get_context()` see it). A waiting handle then holds no object of its own for the garbage
/// collector to walk, and a handle that nothing else shares the snapshot with runs in it
/// without a copy.
pub(crate) struct HandleContext {
    /// The context given, or the shared snapshot.
    base: Py<PyAny>,
    /// The handle's own copy of the snapshot `base`, once made (unused for a given context).
    own: OnceLock<Py<PyAny>>,
    snapshot: bool,
}

impl HandleContext {
    /// The context the caller gave (`context=`), run in as it is.
    #[inline]
    pub(crate) fn given(context: Py<PyAny>) -> HandleContext {
        HandleContext {
            base: context,
            own: OnceLock::new(),
            snapshot: false,
        }
    }

    /// The current context, as a snapshot shared through `snapshots` where the loop's thread
    /// has them, or a copy of its own (asyncio's) where it has not.
    #[inline]
    pub(crate) fn current(
        py: Python<'_>,
        snapshots: Option<&LoopSnapshots>,
    ) -> PyResult<HandleContext> {
        Ok(match snapshots {
            Some(snapshots) => HandleContext {
                base: snapshots.current(py)?,
                own: OnceLock::new(),
                snapshot: true,
            },
            None => HandleContext::given(copy_context(py)?),
        })
    }

    /// The handle's own context: the given one, or its copy of the snapshot, made now if it
    /// was not yet (adopting the snapshot itself when nothing else holds it any more, or only
    /// `snapshots`, which then lets go of it).
    #[inline]
    pub(crate) fn get<'a>(
        &'a self,
        py: Python<'_>,
        snapshots: Option<&LoopSnapshots>,
    ) -> PyResult<&'a Py<PyAny>> {
        if !self.snapshot {
            return Ok(&self.base);
        }
        if let Some(own) = self.own.get() {
            return Ok(own);
        }
        let adopt = match snapshots {
            Some(snapshots) => CallContext::only_holder(&self.base, snapshots),
            // SAFETY: a plain read of the reference count of an object we hold.
            None => (unsafe { ffi::Py_REFCNT(self.base.as_ptr()) }) == 1,
        };
        let own = if adopt {
            self.base.clone_ref(py)
        } else {
            copy_of(py, &self.base)?.unbind()
        };
        // Not `get_or_init`: making the copy may run Python code (a collection), which may let
        // another thread in to make one first; theirs is kept and this one dropped.
        if let Err(lost) = self.own.set(own) {
            drop(lost);
        }
        Ok(self.own.get().unwrap_or(&self.base))
    }

    /// Tells the garbage collector what it holds.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.base)?;
        visit.call(self.own.get())
    }
}

/// A context entered, exited when dropped (also when the body panics).
struct Entered(*mut ffi::PyObject);

impl Entered {
    #[inline]
    fn enter(py: Python<'_>, context: *mut ffi::PyObject) -> PyResult<Entered> {
        // SAFETY: attached; `context` is a live `contextvars.Context` its caller holds.
        if unsafe { ffi::PyContext_Enter(context) } != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(Entered(context))
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the context entered in `enter`, still held by its caller; exiting the context
        // this thread entered last cannot fail.
        unsafe { ffi::PyContext_Exit(self.0) };
    }
}

/// Calls `func(*args)` or `func(*extra)` inside `context` (`context.run(func, ...)` without the
/// bound-method call and argument tuple that costs from Python).
#[inline]
pub(crate) fn call_in_context<'py>(
    py: Python<'py>,
    context: &Py<PyAny>,
    func: &Py<PyAny>,
    args: Option<&Py<PyTuple>>,
    extra: &[*mut ffi::PyObject],
) -> PyResult<Bound<'py, PyAny>> {
    // `context` is a `contextvars.Context` (made by `copy_context` or `copy_of`), which
    // `PyContext_Enter` requires.
    let entered = Entered::enter(py, context.as_ptr())?;
    // SAFETY: attached; every pointer is a live object we hold a reference to.
    let result = unsafe {
        match args {
            Some(args) => ffi::PyObject_Call(func.as_ptr(), args.as_ptr(), ptr::null_mut()),
            None => ffi::PyObject_Vectorcall(
                func.as_ptr(),
                extra.as_ptr(),
                extra.len(),
                ptr::null_mut(),
            ),
        }
    };
    drop(entered);
    // SAFETY: `result` is a new reference, or NULL with an error set.
    unsafe { Bound::from_owned_ptr_or_err(py, result) }
}
