//! The entry check every function taking a `pl_loop` goes through, and the helpers built on it:
//! NULL gives `PL_EINVAL`, another thread `PL_EWRONGTHREAD`, a poisoned loop `PL_EPANIC`, and
//! the body runs inside the panic guard ([`crate::guard`]), counted as an entered call so that
//! pl_loop_free and pl_run can tell a nested call from their own. Which thread is calling is
//! [`crate::thread`]'s question.

use std::cell::Cell;
use std::os::raw::{c_int, c_void};

use phaseloop_core::{Id, Loop, Refused};

use crate::callback::{pl_callback, pl_drop_fn, CCallback};
use crate::event_loop::{pl_id, pl_loop};
use crate::guard::catch;
use crate::status::{status_of, PL_EINVAL, PL_EPANIC, PL_EWRONGTHREAD, PL_OK};
use crate::thread::LoopThread;

/// What the entry check keeps per loop: its thread, the calls running on it, whether one
/// panicked. Part of the loop's host state ([`crate::event_loop::LoopHost`]).
pub(crate) struct EntryState {
    /// The thread that created the loop; never written after creation.
    thread: LoopThread,
    /// pl_ functions on this loop running now (nested ones come from callbacks and drop
    /// functions); pl_loop_free and pl_run need it to be their own call only.
    entered: Cell<u32>,
    /// A call on this loop panicked: its state may be half-updated, so it is not used again.
    poisoned: Cell<bool>,
}

impl EntryState {
    /// The state of a loop created by the calling thread.
    pub(crate) fn for_this_thread() -> Self {
        EntryState {
            thread: LoopThread::current(),
            entered: Cell::new(0),
            poisoned: Cell::new(false),
        }
    }

    /// Only this pl_ call is running on the loop (not one nested in a callback or drop fn).
    pub(crate) fn outermost(&self) -> bool {
        self.entered.get() == 1
    }

    /// Whether a call on the loop panicked.
    pub(crate) fn poisoned(&self) -> bool {
        self.poisoned.get()
    }
}

/// The entry check of every function on a loop: NULL gives `PL_EINVAL`, another thread
/// `PL_EWRONGTHREAD`, a poisoned loop `PL_EPANIC` (unless `allow_poisoned`), each turned into the
/// function's return value by `refused`; then `body` runs inside the panic guard, counted as an
/// entered call, and a panic in it poisons the loop and returns `refused(PL_EPANIC)`.
///
/// Inlined into every pl_ function, so the checks and the body are one function: what runs
/// before `body` is a NULL test, the thread comparison's fast path ([`LoopThread::is_current`]),
/// the poison flag and the count; none of it can panic, so the guard need only cover `body`.
#[inline(always)]
pub(crate) fn enter<T>(
    lp: *const pl_loop,
    allow_poisoned: bool,
    refused: impl Fn(c_int) -> T,
    body: impl FnOnce(&Loop<CCallback>) -> T,
) -> T {
    // SAFETY: a non-NULL pointer must come from pl_loop_new and not be freed yet (the header's
    // contract); only the loop's thread, written once at creation, is read before the thread
    // check.
    let Some(lp) = (unsafe { lp.as_ref() }) else {
        return refused(PL_EINVAL);
    };
    let core = lp.core();
    let state = core.host().entry();
    if !state.thread.is_current() {
        return refused(PL_EWRONGTHREAD);
    }
    if state.poisoned.get() && !allow_poisoned {
        return refused(PL_EPANIC);
    }
    state.entered.set(state.entered.get() + 1);
    let result = catch(|| body(core));
    // The loop outlives the call (pl_loop_free frees it only from its outermost call, after
    // this returned), also when the body panicked.
    state.entered.set(state.entered.get() - 1);
    match result {
        Some(value) => value,
        None => {
            state.poisoned.set(true);
            refused(PL_EPANIC)
        }
    }
}

/// [`enter`] for functions returning a status.
#[inline(always)]
pub(crate) fn with_loop(lp: *const pl_loop, body: impl FnOnce(&Loop<CCallback>) -> c_int) -> c_int {
    enter(lp, false, |status| status, body)
}

/// [`enter`] for functions returning a value, with `default` when refused.
#[inline(always)]
pub(crate) fn with_loop_or<T: Copy>(
    lp: *const pl_loop,
    default: T,
    body: impl FnOnce(&Loop<CCallback>) -> T,
) -> T {
    enter(lp, false, |_| default, body)
}

/// Schedules a callback made by `make` (inside the entry check, so a refused call never made
/// one), writing its id to `out` unless NULL. On failure the callback is disowned: the caller
/// keeps `data` and the drop function does not run.
#[inline(always)]
pub(crate) fn schedule(
    lp: *const pl_loop,
    out: *mut pl_id,
    make: impl FnOnce() -> Result<CCallback, c_int>,
    add: impl FnOnce(&Loop<CCallback>, CCallback) -> Result<Id, Refused<CCallback>>,
) -> c_int {
    with_loop(lp, |core| {
        let cb = match make() {
            Ok(cb) => cb,
            Err(status) => return status,
        };
        match add(core, cb) {
            Ok(new_id) => {
                if !out.is_null() {
                    // SAFETY: a non-NULL `out` points to a pl_id (the header's contract).
                    unsafe { out.write(new_id.as_u64()) };
                }
                PL_OK
            }
            Err(refused) => {
                refused.callback.disown();
                status_of(&refused.error)
            }
        }
    })
}

/// Closes a timer, handle or watcher with an optional close callback (NULL `cb`: none, and
/// `data` and `drop` are not taken).
#[inline(always)]
pub(crate) fn close_with(
    lp: *const pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    close: impl FnOnce(&Loop<CCallback>, Option<CCallback>) -> Result<(), Refused<Option<CCallback>>>,
) -> c_int {
    with_loop(lp, |core| {
        match close(core, CCallback::close(cb, data, drop)) {
            Ok(()) => PL_OK,
            Err(refused) => {
                if let Some(cb) = refused.callback {
                    cb.disown();
                }
                status_of(&refused.error)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ptr::null_mut;

    use super::*;
    use crate::event_loop::{pl_loop_create, pl_loop_free};
    use crate::immediates::pl_set_immediate;

    #[test]
    fn a_panic_poisons_the_loop_and_leaves_the_count_right() {
        let mut lp = null_mut();
        // SAFETY: NULL options and a local to write the loop to.
        assert_eq!(unsafe { pl_loop_create(std::ptr::null(), &mut lp) }, PL_OK);
        // A nested call that panics: it returns PL_EPANIC, and its caller is again the only
        // call entered on the loop.
        let outer = with_loop(lp, |core| {
            let inner = with_loop(lp, |_| panic!("a deliberate panic inside a loop call"));
            assert_eq!(inner, PL_EPANIC);
            assert!(core.host().entry().outermost());
            assert!(core.host().entry().poisoned());
            PL_OK
        });
        assert_eq!(outer, PL_OK);
        // From now on the loop refuses every call (before looking at the arguments) but
        // pl_loop_free, which frees it and says it was poisoned.
        // SAFETY: `lp` is the live loop; the other arguments may be NULL.
        let refused = unsafe { pl_set_immediate(lp, None, null_mut(), None, null_mut()) };
        assert_eq!(refused, PL_EPANIC);
        assert_eq!(with_loop_or(lp, 7, |_| 3), 7);
        // SAFETY: the loop's own thread, outside any call on it.
        assert_eq!(unsafe { pl_loop_free(lp) }, PL_EPANIC);
    }

    #[test]
    fn a_null_loop_is_einval() {
        assert_eq!(with_loop(std::ptr::null(), |_| PL_OK), PL_EINVAL);
        assert_eq!(with_loop_or(std::ptr::null(), 7, |_| 3), 7);
    }
}
