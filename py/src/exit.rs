//! Interpreter exit: once the interpreter starts finalising, no thread of ours may touch a
//! Python object (CPython tears the interpreter state down under it; a thread that takes the GIL
//! then is killed by `pthread_exit` in the middle of our frames, or crashes in a destructor).
//!
//! So, as `concurrent.futures` closes its pools before finalisation, the module registers an
//! `atexit` hook when it is imported (it runs after the hooks registered later, so after the
//! program's own). From then on ("exiting"):
//! - a pool thread never attaches: a Python job that has not started yet does not start, and
//!   what it holds is leaked rather than released without the interpreter; a Python job running
//!   when the hook runs is waited for (the hook gives the GIL up while it waits), as
//!   `concurrent.futures` waits for its workers;
//! - a loop running on a thread other than the exiting one (a daemon thread) stops for good the
//!   next time it would take the GIL back after a blocking poll: the thread sleeps until the
//!   process ends (what CPython 3.14 itself does with daemon threads);
//! - the exiting thread keeps the GIL through its own blocking waits (the pool's join when a
//!   loop left open is freed during finalisation), so that it wakes no thread into a finalising
//!   interpreter.
//!
//! A loop left open is then freed with the rest of the program's objects, if it is: its queued
//! callbacks are dropped without running, as `close()` does.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyCFunction;

/// The `atexit` hook ran.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Threads that took (or are taking) the GIL counted by [`enter`], not yet [`leave`]-ing.
static ATTACHED: AtomicUsize = AtomicUsize::new(0);
/// The thread that ran the hook: the one that finalises the interpreter.
static EXITING_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// Registers the `atexit` hook (once per process).
pub(crate) fn register(py: Python<'_>) -> PyResult<()> {
    static REGISTERED: Once = Once::new();
    let mut result = Ok(());
    REGISTERED.call_once(|| {
        result = (|| {
            let hook = PyCFunction::new_closure(
                py,
                Some(c"_phaseloop_at_exit"),
                Some(c"Stops phaseloop's threads from touching Python once it exits."),
                |args, _kwargs| at_exit(args.py()),
            )?;
            py.import("atexit")?.call_method1("register", (hook,))?;
            Ok(())
        })();
    });
    result
}

/// The hook: from now on no pool thread attaches; waits (without the GIL) for those attached.
fn at_exit(py: Python<'_>) {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        while ATTACHED.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    });
}

/// Whether the interpreter is exiting (the hook ran).
#[inline]
pub(crate) fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
}

/// Whether the interpreter is exiting and this is the thread that finalises it.
fn on_exiting_thread() -> bool {
    exiting() && EXITING_THREAD.get() == Some(&std::thread::current().id())
}

/// Before a thread of ours takes the GIL: counts it (the hook waits for it) and returns true,
/// or returns false once the interpreter is exiting (it must not take the GIL then). A true is
/// paired with one [`leave`] once the thread has given the GIL back (or holds it for good).
#[inline]
pub(crate) fn enter() -> bool {
    // Paired with the hook's store-then-load: either the hook sees this thread counted, or this
    // thread sees the hook's flag (both orders are sequentially consistent).
    ATTACHED.fetch_add(1, Ordering::SeqCst);
    if EXITING.load(Ordering::SeqCst) {
        leave();
        false
    } else {
        true
    }
}

/// Ends what a true [`enter`] began.
#[inline]
pub(crate) fn leave() {
    ATTACHED.fetch_sub(1, Ordering::SeqCst);
}

/// The loop thread's blocking wait (`Callback::blocking`): `wait` without the GIL, except on the
/// exiting thread once the interpreter exits. Another thread that comes back from its wait once
/// the interpreter exits never takes the GIL again: it sleeps until the process ends.
pub(crate) fn blocking<R: Send>(wait: impl FnOnce() -> R + Send) -> R {
    Python::attach(|py| {
        if on_exiting_thread() {
            return wait();
        }
        let result = py.detach(|| {
            let result = wait();
            if !enter() {
                park_forever();
            }
            result
        });
        // Attached again (the hook waited for it if it was exiting meanwhile).
        leave();
        result
    })
}

/// What a thread of ours does instead of taking the GIL of an exiting interpreter.
pub(crate) fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}
