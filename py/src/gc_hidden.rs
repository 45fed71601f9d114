//! [`Hidden`]: a native asyncio handle waiting in one of the loop's queues, kept out of sight of
//! CPython's garbage collector while it waits.
//!
//! A million `call_soon`s are a million live handles. The collector runs a young collection
//! every 700 allocations and a full one each time the objects that outlived the young ones grew
//! by a quarter, and every collection walks every tracked object of its generations: with a
//! million waiting handles that was two thirds of the cost of queueing them (bench/RESULTS.md,
//! "asyncio programs"), as it is on asyncio's own loop. A waiting handle cannot be garbage while
//! the queue holds it, so it is untracked for as long as it waits, and the queue's traversal
//! shows the collector what the handle holds in its place ([`Hidden::traverse`]): a cycle
//! through an unclosed loop that was dropped, its waiting callbacks and the objects they hold
//! is still found and broken (the queue's `__clear__` drops the handles).
//!
//! As a handle leaves the queue (it ran, was swept out cancelled, or the loop closed) it is
//! tracked again if anything else still holds it, as a handle the program kept does, so a
//! cycle through it is collected as before. One that nothing else holds is freed there and
//! then, never having been walked by a collection.

use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::{PyClass, PyTraverseError};

/// A native handle whose references a queue can show the collector for it.
pub(crate) trait Referents:
    PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync
{
    /// Visits every object the handle holds (what its own `__traverse__` visits).
    fn visit_referents(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError>;
}

/// A handle in a queue, untracked by the collector while the queue holds it.
pub(crate) struct Hidden<T: Referents> {
    /// `None` only once [`Hidden::release`] took it.
    handle: Option<Py<T>>,
}

impl<T: Referents> Hidden<T> {
    /// Untracks `handle`, a handle this module made and now queues (tracked since it was made).
    #[inline]
    pub(crate) fn hide(handle: Bound<'_, T>) -> Hidden<T> {
        // SAFETY: attached; `handle` is a live object of a GC type (a pyclass with
        // `__traverse__`). Untracking a tracked object is always allowed.
        unsafe { ffi::PyObject_GC_UnTrack(handle.as_ptr().cast()) };
        Hidden {
            handle: Some(handle.unbind()),
        }
    }

    /// The handle (still hidden).
    #[inline]
    pub(crate) fn handle(&self) -> &Py<T> {
        // Only `release`, which consumes `self`, empties it.
        self.handle
            .as_ref()
            .unwrap_or_else(|| unreachable!("a Hidden handle is emptied only as it is consumed"))
    }

    /// Visits what the handle holds, for the queue's `__traverse__`.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        match &self.handle {
            Some(handle) => handle.get().visit_referents(visit),
            None => Ok(()),
        }
    }

    /// Takes the handle out of hiding as its queue lets go of it: tracked again if anything
    /// else holds it, freed now if nothing does.
    #[inline]
    pub(crate) fn release(mut self, py: Python<'_>) {
        if let Some(handle) = self.handle.take() {
            show_if_held(py, handle);
        }
    }
}

impl<T: Referents> Drop for Hidden<T> {
    /// A queue dropped whole (the loop closed or collected): the same as [`Hidden::release`].
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            Python::attach(|py| show_if_held(py, handle));
        }
    }
}

/// Tracks `handle` again unless this is its last reference, then drops that reference.
#[inline]
fn show_if_held<T>(py: Python<'_>, handle: Py<T>) {
    let handle = handle.into_bound(py);
    let ptr = handle.as_ptr();
    // SAFETY: attached; `ptr` is live (we hold it). A hidden handle is untracked, and one that
    // something else holds is tracked exactly once: `PyObject_GC_Track` aborts on an object
    // that already is, hence the check.
    unsafe {
        if ffi::Py_REFCNT(ptr) > 1 && ffi::PyObject_GC_IsTracked(ptr) == 0 {
            ffi::PyObject_GC_Track(ptr.cast());
        }
    }
    drop(handle);
}
