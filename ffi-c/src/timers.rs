//! Timers and intervals (`setTimeout`, `setInterval`): scheduling, clearing, ref/unref, refresh
//! and close, with Node's delay coercion and timer-list order (ordering rule 4, docs/ordering.md).

use std::os::raw::{c_int, c_void};

use crate::callback::{pl_callback, pl_drop_fn, CCallback};
use crate::entry::{close_with, schedule, with_loop};
use crate::event_loop::{id, pl_id, pl_loop};
use crate::status::{flag, status};

/// Runs `cb(lp, data)` once, `ms` milliseconds from now, in the timers phase (`setTimeout`).
/// Node's coercion: a delay < 1, NaN or > 2^31-1 becomes 1 (so 0 is a 1 ms timer), fractions
/// are truncated; timers with the same delay run in the order they were set. Writes the timer's
/// id to `*out` unless `out` is NULL. `drop(data)` runs if the timer is cleared or closed before
/// it fires, or the loop is freed first; a callback that ran owns `data` (unless it refreshed its
/// own timer, which keeps `data` the loop's until the timer fires again or is cleared, or the
/// timer is held: see pl_timer_hold). Loop thread only; PL_EINVAL for a NULL `cb`.
#[no_mangle]
pub unsafe extern "C" fn pl_set_timeout(
    lp: *mut pl_loop,
    ms: f64,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    schedule(
        lp,
        out,
        || CCallback::timeout(cb, data, drop),
        |core, cb| core.set_timeout(ms, cb),
    )
}

/// Runs `cb(lp, data)` every `ms` milliseconds until cleared (`setInterval`); the delay is
/// coerced as in pl_set_timeout. Each run is re-armed from a clock reading taken just before
/// the callback. `drop(data)` runs once the interval is cleared or closed (also from its own
/// callback) or the loop is freed. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_set_interval(
    lp: *mut pl_loop,
    ms: f64,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    schedule(
        lp,
        out,
        || CCallback::repeating(cb, data, drop),
        |core, cb| core.set_interval(ms, cb),
    )
}

/// Clears a timer or interval (`clearTimeout` / `clearInterval`): it will not run again, even
/// if it is due in the timers phase now running. Its drop function runs before this returns;
/// from a timeout's own callback, once the callback returned, and only if the data was still the
/// loop's (the timeout was held, or refreshed by that callback). Also ends a held timeout that
/// fired (pl_timer_hold). PL_ENOENT for a timer that already fired unheld (a one-shot timer's id is
/// finished once its callback ran), was cleared, or is not this loop's.
#[no_mangle]
pub unsafe extern "C" fn pl_clear_timer(lp: *mut pl_loop, timer: pl_id) -> c_int {
    with_loop(lp, |core| status(core.clear_timer(id(timer))))
}

/// Makes the timer keep the loop alive again (`timeout.ref()`); timers start ref'd.
#[no_mangle]
pub unsafe extern "C" fn pl_timer_ref(lp: *mut pl_loop, timer: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_timer_ref(id(timer), true)))
}

/// Makes the timer not keep the loop alive (`timeout.unref()`); it still runs if the loop is
/// running anyway when it is due.
#[no_mangle]
pub unsafe extern "C" fn pl_timer_unref(lp: *mut pl_loop, timer: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_timer_ref(id(timer), false)))
}

/// Whether the timer is ref'd (`timeout.hasRef()`): 1 or 0, or a negative status.
#[no_mangle]
pub unsafe extern "C" fn pl_timer_has_ref(lp: *const pl_loop, timer: pl_id) -> c_int {
    with_loop(lp, |core| flag(core.timer_has_ref(id(timer))))
}

/// Whether the timer is armed: 1, or 0 once a one-shot timer fired or any timer was cleared or
/// closed (and for ids that name no timer of this loop); a negative status for NULL or another
/// thread.
#[no_mangle]
pub unsafe extern "C" fn pl_timer_active(lp: *const pl_loop, timer: pl_id) -> c_int {
    with_loop(lp, |core| core.timer_active(id(timer)) as c_int)
}

/// Holds a timeout for an owner that may refresh it after it fired (Node's `Timeout` object
/// stays refreshable until cleared): once it fired, the timer is not forgotten but *dormant*,
/// not active and keeping nothing alive, until pl_timer_refresh re-arms it (same callback and
/// data, its delay, its ref state) or pl_clear_timer / pl_timer_close / pl_close ends it. Its
/// data stays the loop's throughout: `drop(data)` runs once, when it is cleared or closed (also
/// from its own callback) or the loop is freed, never when it fires. Call it once after
/// pl_set_timeout (or from its callback, before it returns); no effect on an interval.
/// PL_ENOENT for a timer that already fired unheld, was cleared, or is not this loop's.
#[no_mangle]
pub unsafe extern "C" fn pl_timer_hold(lp: *mut pl_loop, timer: pl_id) -> c_int {
    with_loop(lp, |core| status(core.hold_timer(id(timer))))
}

/// Re-arms the timer from now, keeping its delay (`timeout.refresh()`): it moves to the end of
/// its delay's list. This also re-arms a held timeout that fired (pl_timer_hold), with the same
/// callback, data and ref state, and, from inside its own callback, an unheld one-shot timer
/// that is firing, which then keeps its data (its drop function runs if it is cleared before it
/// fires again). PL_ENOENT for a cleared or foreign timer, or an unheld timeout that fired.
#[no_mangle]
pub unsafe extern "C" fn pl_timer_refresh(lp: *mut pl_loop, timer: pl_id) -> c_int {
    with_loop(lp, |core| status(core.refresh_timer(id(timer))))
}

/// Clears the timer and runs `cb(lp, data)` in the next close phase (NULL `cb`: no close
/// callback, and `data` and `drop` are not taken). The timer's own drop function runs before
/// this returns; `drop(data)` runs only if the loop is freed before the close callback ran.
/// Also closes a held timeout that fired (pl_timer_hold). PL_ENOENT for a cleared or foreign
/// timer, or an unheld timeout that fired (the close callback is then not taken).
#[no_mangle]
pub unsafe extern "C" fn pl_timer_close(
    lp: *mut pl_loop,
    timer: pl_id,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    close_with(lp, cb, data, drop, |core, close_cb| {
        core.close_timer(id(timer), close_cb)
    })
}
