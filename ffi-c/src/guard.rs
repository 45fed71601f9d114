//! The panic guard: every exported function runs its body through `boundary`, so no Rust
//! panic ever unwinds into C. A panic becomes `PL_EPANIC` (or the function's documented failure
//! value), and a loop whose call panicked is poisoned (see `entry::enter`).
//!
//! This only works while the library is built with `panic = "unwind"` (the workspace's release
//! profile says so); with `panic = "abort"` a panic would end the process before the guard runs.
//! [`pl_selftest_panic`] lets a program check which kind of build it links.

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::status::PL_EPANIC;

/// Runs `body`; if it panics, returns `on_panic` instead of unwinding further.
///
/// `AssertUnwindSafe` is sound here because state a panic may leave half-updated is never used
/// again: a loop whose call panicked refuses every later call with `PL_EPANIC`.
#[inline]
pub(crate) fn boundary<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch(body).unwrap_or(on_panic)
}

/// Runs `body`: `Some` of what it returned, or `None` if it panicked (the panic stops here).
/// For callers that must act on a panic themselves, as the loop entry check poisons its loop.
///
/// `AssertUnwindSafe`: as for [`boundary`], state a panic may leave half-updated is not used
/// again.
#[inline(always)]
pub(crate) fn catch<T>(body: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(body)).ok()
}

/// Panics inside the library on purpose and returns what the C boundary turned the panic into:
/// `PL_EPANIC`.
///
/// It exists so that a program, a packager or this project's tests can check that the library
/// they link was built with panics unwinding, which the guard around every function relies on:
/// a library built with `panic = "abort"` aborts the process here instead of returning. The
/// panic message is printed to stderr by Rust's default panic hook. Any thread; touches no loop.
#[no_mangle]
pub extern "C" fn pl_selftest_panic() -> c_int {
    boundary(PL_EPANIC, || {
        panic!("pl_selftest_panic: a deliberate panic, to show that the C boundary catches it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry points that run their body inside [`boundary`] (directly or through the loop's
    /// entry check and the helpers built on it).
    const GUARDED_ENTRIES: &[&str] = &[
        "boundary(",
        "enter(",
        "with_loop(",
        "with_loop_or(",
        "schedule(",
        "close_with(",
        "enqueue(",
        "submit(",
        "job(",
        "add(",
        "pl_loop_create(",
    ];

    #[test]
    fn every_exported_function_runs_inside_the_guard() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut exported = 0;
        for entry in std::fs::read_dir(src).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("extern \"C\" fn pl_") {
                let body_start = at + text[at..].find(") ").unwrap();
                let body_start = body_start + text[body_start..].find('{').unwrap();
                let body_end = body_start + text[body_start..].find("\n}\n").unwrap();
                let body = &text[body_start..body_end];
                let name = text[at..].split(['(', ' ']).nth(3).unwrap();
                assert!(
                    GUARDED_ENTRIES.iter().any(|entry| body.contains(entry)),
                    "{name} in {} does not run inside the panic guard",
                    path.display()
                );
                exported += 1;
            }
        }
        assert!(exported >= 80, "found only {exported} exported functions");
    }

    #[test]
    fn a_panic_becomes_the_failure_value() {
        assert_eq!(pl_selftest_panic(), PL_EPANIC);
        assert_eq!(boundary(7, || 3), 3);
    }
}
