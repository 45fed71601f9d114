//! The GIL on pool threads: a thread running a batch of queued jobs (`Callback::pool_batch`)
//! keeps the GIL from one Python job to the next instead of taking and giving it back for
//! each, which costs two thread hand-offs per job. A native job gives it back before it runs,
//! so native jobs never run with the GIL; and the batch gives it back when it ends, before the
//! thread waits for more work. Python code of a job still lets other threads in at CPython's
//! switch interval, as any thread holding the GIL does.
//!
//! A pool thread keeps one Python thread state for its whole life, as the threads of
//! `concurrent.futures` do, instead of one per batch: `threading.local()` data and the
//! thread's Python name last from one job to the next, and a job does not pay for a thread
//! state's creation and teardown. The thread takes a name once, the first time it runs Python:
//! `phaseloop-pool-N` as its OS name, or `{prefix}_N` for a loop that asked for a prefix
//! (`phaseloop.asyncio` asks for asyncio's, `asyncio_N`). The state is deleted when the thread
//! ends (the pool is joined without the GIL, see `Callback::blocking`), unless the interpreter
//! is exiting: finalisation frees it then.
//!
//! Once the interpreter exits (see `exit`), a pool thread no longer takes the GIL: [`hold`]
//! says no, and the Python job does not run.

use std::cell::{Cell, RefCell};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::exit;

#[derive(Copy, Clone)]
enum Session {
    /// Not inside a batch (a job run some other way takes the GIL for itself).
    Off,
    /// Inside a batch, the GIL not held.
    Open,
    /// Inside a batch, holding the GIL taken by the first Python job.
    Holding,
}

/// This pool thread's Python thread state, kept from its first Python job until it ends.
struct KeptState {
    /// What the `PyGILState_Ensure` that made the state returned: released once, at the end.
    outer: ffi::PyGILState_STATE,
    /// The state while the GIL is given back between batches (null while it is held).
    saved: Cell<*mut ffi::PyThreadState>,
}

impl Drop for KeptState {
    fn drop(&mut self) {
        let saved = self.saved.get();
        // Held at thread exit cannot happen (a batch gives the GIL back as it ends); and once
        // the interpreter exits, finalisation frees every thread state: leave it to that.
        if saved.is_null() || !exit::enter() {
            return;
        }
        // SAFETY: `saved` is this thread's own state, given back by `PyEval_SaveThread` in
        // `release`; the interpreter is not exiting (`enter`, and the exit hook waits for this
        // thread until `leave`). `outer` is the first Ensure's: releasing it with the state
        // current deletes the state and gives the GIL back.
        unsafe {
            ffi::PyEval_RestoreThread(saved);
            ffi::PyGILState_Release(self.outer);
        }
        exit::leave();
    }
}

thread_local! {
    static SESSION: Cell<Session> = const { Cell::new(Session::Off) };
    static KEPT: RefCell<Option<KeptState>> = const { RefCell::new(None) };
}

/// Runs a pool thread's batch of jobs; gives the GIL back at the end if a job took it.
pub(crate) fn batch(run: impl FnOnce()) {
    SESSION.with(|session| session.set(Session::Open));
    // Gives the GIL back even if the batch unwinds (the pool catches job panics, so it does
    // not, but a guard costs nothing).
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            release();
            SESSION.with(|session| session.set(Session::Off));
        }
    }
    let _end = End;
    run();
}

/// Before a Python job: takes the GIL unless this thread holds it already (inside a batch,
/// it keeps it for the next job). False once the interpreter is exiting: the job must not
/// touch Python then (the GIL this thread held is given back first). `prefix` names the
/// thread in Python the first time it runs a Python job (see the module's doc).
#[must_use]
pub(crate) fn hold(prefix: Option<&str>) -> bool {
    SESSION.with(|session| match session.get() {
        Session::Holding if exit::exiting() => {
            release();
            false
        }
        Session::Holding => true,
        // Outside a batch (not on a pool thread) the job takes the GIL for itself.
        Session::Off => !exit::exiting(),
        Session::Open => {
            if !exit::enter() {
                return false;
            }
            KEPT.with(|kept| {
                let mut kept = kept.borrow_mut();
                match kept.as_ref() {
                    // SAFETY: the state this thread gave back in `release`; the interpreter
                    // is not exiting (`enter`, and the exit hook waits for this thread).
                    Some(state) => unsafe {
                        ffi::PyEval_RestoreThread(state.saved.replace(std::ptr::null_mut()))
                    },
                    None => {
                        // SAFETY: the interpreter is initialised (a loop exists) and not
                        // exiting (`enter`); this thread has no Python thread state yet, so
                        // this makes the one it keeps (released in `KeptState::drop`).
                        let outer = unsafe { ffi::PyGILState_Ensure() };
                        *kept = Some(KeptState {
                            outer,
                            saved: Cell::new(std::ptr::null_mut()),
                        });
                        // SAFETY: the GIL was just taken by this thread.
                        name_thread(unsafe { Python::assume_attached() }, prefix);
                    }
                }
            });
            session.set(Session::Holding);
            true
        }
    })
}

/// Gives this new pool thread's Python thread its name (see the module's doc). A failure
/// leaves CPython's `Dummy-N`: a name is not worth failing a job for.
fn name_thread(py: Python<'_>, prefix: Option<&str>) {
    let current = std::thread::current();
    let os_name = current.name().unwrap_or("phaseloop-pool");
    let name = match (prefix, os_name.rsplit_once('-')) {
        (Some(prefix), Some((_, n))) => format!("{prefix}_{n}"),
        _ => os_name.to_owned(),
    };
    let named = py
        .import("threading")
        .and_then(|threading| threading.call_method0("current_thread"))
        .and_then(|thread| thread.setattr("name", PyString::new(py, &name)));
    if let Err(err) = named {
        err.write_unraisable(py, None);
    }
}

/// Before a native job, and when a batch ends: gives back the GIL a Python job took.
pub(crate) fn release() {
    SESSION.with(|session| {
        if let Session::Holding = session.get() {
            KEPT.with(|kept| {
                if let Some(state) = kept.borrow().as_ref() {
                    // SAFETY: this thread holds the GIL with its kept state current (taken in
                    // `hold`), and no PyO3 guard of this thread outlives the job that took it.
                    state.saved.set(unsafe { ffi::PyEval_SaveThread() });
                }
            });
            session.set(Session::Open);
            exit::leave();
        }
    })
}
