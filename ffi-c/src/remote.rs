//! `pl_remote`: the one way into a loop from other threads (libuv's `uv_async_send`, but every
//! call carries its own callback). A reference-counted handle on the core's [`Remote`], which
//! shares the loop's inbox, not the loop: once the loop is freed the inbox refuses calls, so a
//! remote outliving its loop answers `PL_ECLOSED` instead of touching freed memory.

use std::os::raw::{c_int, c_void};
use std::ptr;
use std::sync::Arc;

use phaseloop_core::Remote;

use crate::callback::{pl_callback, pl_drop_fn, CCallback};
use crate::entry::with_loop_or;
use crate::event_loop::pl_loop;
use crate::guard::boundary;
use crate::status::{status_of, PL_EINVAL, PL_EPANIC, PL_OK};

/// A thread-safe, reference-counted handle for queueing callbacks onto a loop (opaque). Any
/// thread may use it, concurrently. It does not keep the loop alive (calls queued through it and
/// not yet run do); it stays valid after the loop is freed, answering PL_ECLOSED.
pub struct pl_remote {
    remote: Remote<CCallback>,
}

/// Creates a remote for the loop, with one reference, owned by the caller (release it with
/// pl_remote_free, from any thread). NULL for a NULL loop, from another thread than the loop's,
/// or while the loop is being freed. Loop thread only; the remote may then go to any thread.
#[no_mangle]
pub unsafe extern "C" fn pl_remote_new(lp: *mut pl_loop) -> *mut pl_remote {
    with_loop_or(lp, ptr::null_mut(), |core| match core.remote() {
        Ok(remote) => Arc::into_raw(Arc::new(pl_remote { remote })).cast_mut(),
        Err(_) => ptr::null_mut(),
    })
}

/// Adds a reference to the remote and returns it (NULL for NULL); each reference is released
/// with its own pl_remote_free. Any thread.
#[no_mangle]
pub unsafe extern "C" fn pl_remote_clone(remote: *mut pl_remote) -> *mut pl_remote {
    boundary(ptr::null_mut(), || {
        if !remote.is_null() {
            // SAFETY: a non-NULL remote comes from pl_remote_new (Arc::into_raw) and holds a
            // reference, so the Arc is alive while we add one.
            unsafe { Arc::increment_strong_count(remote.cast_const()) };
        }
        remote
    })
}

/// Queues `cb(lp, data)` to run on the loop's thread in its poll phase, waking the loop; calls
/// run once each, in call order per calling thread. Any thread. On success the loop owns `data`
/// from now: `drop(data)` runs on the loop thread if the loop is freed before the call ran.
/// PL_ECLOSED once the loop is freed (or being freed), PL_EINVAL for a NULL remote or `cb`; on
/// either the caller keeps `data` and `drop` is not called.
#[no_mangle]
pub unsafe extern "C" fn pl_remote_call(
    remote: *mut pl_remote,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    boundary(PL_EPANIC, || {
        // SAFETY: a non-NULL remote comes from pl_remote_new and holds a reference.
        let Some(remote) = (unsafe { remote.as_ref() }) else {
            return PL_EINVAL;
        };
        let cb = match CCallback::once(cb, data, drop) {
            Ok(cb) => cb,
            Err(status) => return status,
        };
        match remote.remote.call(cb) {
            Ok(()) => PL_OK,
            Err(refused) => {
                refused.callback.disown();
                status_of(&refused.error)
            }
        }
    })
}

/// Releases one reference to the remote; the last one frees it. NULL does nothing. Any thread.
#[no_mangle]
pub unsafe extern "C" fn pl_remote_free(remote: *mut pl_remote) {
    boundary((), || {
        if !remote.is_null() {
            // SAFETY: a non-NULL remote comes from pl_remote_new (Arc::into_raw) and holds a
            // reference, which the caller gives up here.
            unsafe { Arc::decrement_strong_count(remote.cast_const()) };
        }
    })
}
