//! Immediates (`setImmediate`): callbacks for the check phase, FIFO.

use std::os::raw::{c_int, c_void};

use crate::callback::{pl_callback, pl_drop_fn, CCallback};
use crate::entry::{schedule, with_loop};
use crate::event_loop::{id, pl_id, pl_loop};
use crate::status::{flag, status};

/// Runs `cb(lp, data)` in the check phase (`setImmediate`), after the immediates already
/// queued; one queued from inside the check phase waits for the next iteration. Writes its id
/// to `*out` unless `out` is NULL. `drop(data)` runs if it is cleared or the loop is freed
/// before it ran. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_set_immediate(
    lp: *mut pl_loop,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    schedule(
        lp,
        out,
        || CCallback::once(cb, data, drop),
        |core, cb| core.set_immediate(cb),
    )
}

/// Cancels an immediate that has not run (`clearImmediate`); its drop function runs before this
/// returns. PL_ENOENT if it already ran, was cleared, or is not this loop's.
#[no_mangle]
pub unsafe extern "C" fn pl_clear_immediate(lp: *mut pl_loop, immediate: pl_id) -> c_int {
    with_loop(lp, |core| status(core.clear_immediate(id(immediate))))
}

/// Makes the immediate keep the loop alive again (immediates start ref'd).
#[no_mangle]
pub unsafe extern "C" fn pl_immediate_ref(lp: *mut pl_loop, immediate: pl_id) -> c_int {
    with_loop(lp, |core| {
        status(core.set_immediate_ref(id(immediate), true))
    })
}

/// Makes the immediate not keep the loop alive; it still runs if the loop reaches the check
/// phase for other reasons.
#[no_mangle]
pub unsafe extern "C" fn pl_immediate_unref(lp: *mut pl_loop, immediate: pl_id) -> c_int {
    with_loop(lp, |core| {
        status(core.set_immediate_ref(id(immediate), false))
    })
}

/// Whether the immediate is ref'd: 1 or 0, or a negative status (PL_ENOENT once it ran).
#[no_mangle]
pub unsafe extern "C" fn pl_immediate_has_ref(lp: *const pl_loop, immediate: pl_id) -> c_int {
    with_loop(lp, |core| flag(core.immediate_has_ref(id(immediate))))
}

/// Whether the immediate is still waiting to run: 1 or 0 (also for ids that name no immediate of
/// this loop), or a negative status for NULL or another thread.
#[no_mangle]
pub unsafe extern "C" fn pl_immediate_active(lp: *const pl_loop, immediate: pl_id) -> c_int {
    with_loop(lp, |core| core.immediate_active(id(immediate)) as c_int)
}
