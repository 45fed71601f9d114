//! Idle, prepare and check handles (libuv's `uv_idle_t`, `uv_prepare_t`, `uv_check_t`): a
//! callback run once every iteration in its phase until stopped.

use std::os::raw::{c_int, c_void};

use phaseloop_core::HandleKind;

use crate::callback::{pl_callback, pl_drop_fn, CCallback};
use crate::entry::{close_with, schedule, with_loop};
use crate::event_loop::{id, pl_id, pl_loop};
use crate::status::{flag, status};

fn add(
    lp: *mut pl_loop,
    kind: HandleKind,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    schedule(
        lp,
        out,
        || CCallback::repeating(cb, data, drop),
        |core, cb| core.add_handle(kind, cb),
    )
}

/// Adds and starts an idle handle: `cb(lp, data)` runs once per iteration in the idle phase,
/// most recently started first, and while one is active the poll phase does not block.
/// `drop(data)` runs when the handle is closed or the loop is freed. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_add_idle(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    add(lp, HandleKind::Idle, cb, data, drop, out)
}

/// Adds and starts a prepare handle: `cb(lp, data)` runs once per iteration just before poll,
/// most recently started first. `drop(data)` runs when the handle is closed or the loop is freed.
#[no_mangle]
pub unsafe extern "C" fn pl_add_prepare(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    add(lp, HandleKind::Prepare, cb, data, drop, out)
}

/// Adds and starts a check handle: `cb(lp, data)` runs once per iteration just after poll,
/// before the immediates, most recently started first. `drop(data)` runs when the handle is
/// closed or the loop is freed.
#[no_mangle]
pub unsafe extern "C" fn pl_add_check(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    add(lp, HandleKind::Check, cb, data, drop, out)
}

/// Starts a stopped idle/prepare/check handle (no-op if it is active); it then runs first in its
/// phase. PL_ENOENT for a closed or foreign handle.
#[no_mangle]
pub unsafe extern "C" fn pl_handle_start(lp: *mut pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| status(core.start_handle(id(handle))))
}

/// Stops a handle (no-op if it is stopped): it no longer runs nor keeps the loop alive, and
/// keeps its callback and data for a later pl_handle_start.
#[no_mangle]
pub unsafe extern "C" fn pl_handle_stop(lp: *mut pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| status(core.stop_handle(id(handle))))
}

/// Makes the handle keep the loop alive while active (handles start ref'd).
#[no_mangle]
pub unsafe extern "C" fn pl_handle_ref(lp: *mut pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_handle_ref(id(handle), true)))
}

/// Makes the handle not keep the loop alive; it still runs while the loop runs.
#[no_mangle]
pub unsafe extern "C" fn pl_handle_unref(lp: *mut pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_handle_ref(id(handle), false)))
}

/// Whether the handle is ref'd: 1 or 0, or a negative status.
#[no_mangle]
pub unsafe extern "C" fn pl_handle_has_ref(lp: *const pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| flag(core.handle_has_ref(id(handle))))
}

/// Whether the handle is started: 1 or 0 (also for ids that name no handle of this loop), or a
/// negative status for NULL or another thread.
#[no_mangle]
pub unsafe extern "C" fn pl_handle_active(lp: *const pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| core.handle_active(id(handle)) as c_int)
}

/// `uv_close` of any handle: an idle/prepare/check handle, a stream, server, timer, immediate
/// or watcher. It stops at once and its id is finished; the drop functions of what it held run
/// before this returns (a stream's unfinished connect, writes and shutdown instead get
/// PL_ECANCELED in the next close phase), and `cb(lp, data)` (unless NULL) runs in the next
/// close phase (`drop(data)` only if the loop is freed before that). PL_ENOENT for a closed or
/// foreign handle.
#[no_mangle]
pub unsafe extern "C" fn pl_handle_close(
    lp: *mut pl_loop,
    handle: pl_id,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    close_with(lp, cb, data, drop, |core, close_cb| {
        core.close_handle(id(handle), close_cb)
    })
}
