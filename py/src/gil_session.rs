//! The GIL on pool threads: a thread running a batch of queued jobs (`Callback::pool_batch`)
//! keeps the GIL from one Python job to the next instead of taking and giving it back for
//! each, which costs two thread hand-offs per job. A native job gives it back before it runs,
//! so native jobs never run with the GIL; and the batch gives it back when it ends, before the
//! thread waits for more work. Python code of a job still lets other threads in at CPython's
//! switch interval, as any thread holding the GIL does.
//!
//! Once the interpreter exits (see `exit`), a pool thread no longer takes the GIL: [`hold`]
//! says no, and the Python job does not run.

use std::cell::Cell;

use pyo3::ffi;

use crate::exit;

#[derive(Copy, Clone)]
enum Session {
    /// Not inside a batch (a job run some other way takes the GIL for itself).
    Off,
    /// Inside a batch, the GIL not held.
    Open,
    /// Inside a batch, holding the GIL taken by the first Python job.
    Holding(ffi::PyGILState_STATE),
}

thread_local! {
    static SESSION: Cell<Session> = const { Cell::new(Session::Off) };
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
/// touch Python then (the GIL this thread held is given back first).
#[must_use]
pub(crate) fn hold() -> bool {
    SESSION.with(|session| match session.get() {
        Session::Holding(_) if exit::exiting() => {
            release();
            false
        }
        Session::Holding(_) => true,
        // Outside a batch (not on a pool thread) the job takes the GIL for itself.
        Session::Off => !exit::exiting(),
        Session::Open => {
            if !exit::enter() {
                return false;
            }
            // SAFETY: the interpreter is initialised (a loop exists) and not exiting (`enter`;
            // the exit hook waits for this thread until `release`); this thread holds no GIL
            // state of its own here (`Open`), and the state is released exactly once, by
            // `release`.
            let state = unsafe { ffi::PyGILState_Ensure() };
            session.set(Session::Holding(state));
            true
        }
    })
}

/// Before a native job, and when a batch ends: gives back the GIL a Python job took.
pub(crate) fn release() {
    SESSION.with(|session| {
        if let Session::Holding(state) = session.get() {
            // SAFETY: `state` came from this thread's `PyGILState_Ensure` in `hold`, and no
            // PyO3 guard of this thread outlives the job that took it.
            unsafe { ffi::PyGILState_Release(state) };
            session.set(Session::Open);
            exit::leave();
        }
    })
}
