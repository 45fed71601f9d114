//! [`ThreadBound`]: a value that only the thread that created it may use, so that a loop (which
//! is `Send` but not `Sync`) can live in an ordinary `#[pyclass]`.
//!
//! PyO3 requires `Send + Sync` of a pyclass that is not `unsendable`, because any thread may hold
//! a reference to the Python object. An `unsendable` class would make it impossible to hand a
//! `Loop` to another thread at all, or to call `call_threadsafe` from one; so instead the loop is
//! wrapped here, and every access checks the calling thread.
//!
//! Soundness: `Sync` means `&ThreadBound<T>` may be shared between threads. Through it, only
//! [`ThreadBound::get`] reaches the value, and it hands out `&T` on the owner thread alone, so
//! all the non-`Sync` parts of `T` (cells and `RefCell`s) are only ever touched by one thread,
//! exactly as if `T` had never left it. The two unchecked paths are:
//! - the garbage collector's `__traverse__` / `__clear__`, which may run on any thread. They run
//!   with the GIL held, and the owner thread only touches the value while it holds the GIL too
//!   (the loop releases the GIL only inside a blocking poll or the pool's join, where it holds
//!   no borrow that a traversal could observe half-done, and callbacks run with no borrow held),
//!   so the GIL orders every access. `__clear__` runs only on an unreachable object, which no
//!   thread can be calling into. (A free-threaded build has no GIL: it needs a lock here first.)
//! - dropping, which needs ownership: no other reference exists, and `T: Send`.

use std::thread::ThreadId;

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;

thread_local! {
    static CURRENT: ThreadId = std::thread::current().id();
}

/// The calling thread's id (cached: `std::thread::current()` clones an `Arc` each time).
#[inline]
pub(crate) fn current_thread() -> ThreadId {
    CURRENT
        .try_with(|id| *id)
        .unwrap_or_else(|_| std::thread::current().id())
}

/// A value usable from the thread that created it only.
pub(crate) struct ThreadBound<T> {
    value: T,
    owner: ThreadId,
}

// SAFETY: see the module documentation.
unsafe impl<T: Send> Sync for ThreadBound<T> {}

impl<T> ThreadBound<T> {
    /// Binds `value` to the calling thread.
    pub(crate) fn new(value: T) -> Self {
        ThreadBound {
            value,
            owner: current_thread(),
        }
    }

    /// The value, on its own thread; `RuntimeError` on any other.
    #[inline]
    pub(crate) fn get(&self) -> PyResult<&T> {
        if current_thread() == self.owner {
            Ok(&self.value)
        } else {
            Err(PyRuntimeError::new_err(
                "a Loop may only be used from the thread that created it (use call_threadsafe)",
            ))
        }
    }

    /// The value from any thread.
    ///
    /// # Safety
    /// Only for the garbage collector's `__traverse__` and `__clear__`, with the GIL held (see
    /// the module documentation).
    pub(crate) unsafe fn get_unchecked(&self) -> &T {
        &self.value
    }
}
