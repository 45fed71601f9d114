//! The queues without ids: next tick and microtasks (drained after every callback, ticks first,
//! ordering rule 2 in docs/ordering.md) and pending callbacks (the pending phase).

use std::os::raw::{c_int, c_void};

use phaseloop_core::{Loop, Refused};

use crate::callback::{pl_callback, pl_drop_fn, CCallback};
use crate::entry::with_loop;
use crate::event_loop::pl_loop;
use crate::status::{status_of, PL_OK};

fn enqueue(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    push: impl FnOnce(&Loop<CCallback>, CCallback) -> Result<(), Refused<CCallback>>,
) -> c_int {
    with_loop(lp, |core| {
        let cb = match CCallback::once(cb, data, drop) {
            Ok(cb) => cb,
            Err(status) => return status,
        };
        match push(core, cb) {
            Ok(()) => PL_OK,
            Err(refused) => {
                refused.callback.disown();
                status_of(&refused.error)
            }
        }
    })
}

/// Queues `cb(lp, data)` on the next-tick queue (`process.nextTick`): it runs in the next drain,
/// after the current callback and before any microtask. `drop(data)` runs only if the loop is
/// freed first. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_next_tick(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    enqueue(lp, cb, data, drop, |core, cb| core.next_tick(cb))
}

/// Queues `cb(lp, data)` on the microtask queue (`queueMicrotask`): it runs in the next drain,
/// after the ticks. `drop(data)` runs only if the loop is freed first. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_queue_microtask(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    enqueue(lp, cb, data, drop, |core, cb| core.queue_microtask(cb))
}

/// Queues `cb(lp, data)` for the next pending phase to begin (libuv's deferred callbacks); one
/// queued during poll runs right after poll, before check. `drop(data)` runs only if the loop is
/// freed first. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_queue_pending(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    enqueue(lp, cb, data, drop, |core, cb| core.queue_pending(cb))
}
