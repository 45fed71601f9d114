//! fd watchers (libuv's `uv_poll_t`, level-triggered) and signal watchers (`uv_signal_t`).

use std::os::raw::{c_int, c_void};

use phaseloop_core::Interest;

use crate::callback::{
    pl_callback, pl_drop_fn, pl_io_fn, pl_signal_fn, CCallback, PL_READABLE, PL_WRITABLE,
};
use crate::entry::{close_with, schedule, with_loop};
use crate::event_loop::{id, pl_id, pl_loop};
use crate::status::{status, status_of, PL_EINVAL, PL_OK};

fn interest(events: c_int) -> Result<Interest, c_int> {
    if events == 0 || events & !(PL_READABLE | PL_WRITABLE) != 0 {
        return Err(PL_EINVAL);
    }
    Ok(Interest {
        readable: events & PL_READABLE != 0,
        writable: events & PL_WRITABLE != 0,
    })
}

/// Watches `fd` for `events` (PL_READABLE and/or PL_WRITABLE): `cb(lp, data, 0, events)` runs in
/// the poll phase while the fd is ready (level-triggered: again next iteration if the data was
/// not all read). The caller keeps owning the fd and must keep it open while it is watched;
/// closing it under the watcher is reported once as `cb(lp, data, -EBADF, 0)` where the OS can
/// tell, after which the watcher is stopped. `drop(data)` runs when the watcher is closed or
/// the loop is freed. PL_EINVAL for a negative fd, no events or unknown bits; a negated errno if
/// the OS cannot watch the fd (-EPERM for a regular file). Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_watch_fd(
    lp: *mut pl_loop,
    fd: c_int,
    events: c_int,
    cb: pl_io_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    let interest = match interest(events) {
        Ok(interest) => interest,
        Err(status) => return status,
    };
    schedule(
        lp,
        out,
        || CCallback::io(cb, data, drop),
        |core, cb| core.watch_fd(fd, interest, cb),
    )
}

/// (Re)starts an fd watcher with new `events`.
#[no_mangle]
pub unsafe extern "C" fn pl_watcher_start(
    lp: *mut pl_loop,
    watcher: pl_id,
    events: c_int,
) -> c_int {
    with_loop(lp, |core| match interest(events) {
        Ok(interest) => status(core.start_watcher(id(watcher), interest)),
        Err(status) => status,
    })
}

/// Stops an fd watcher (it keeps its callback and data for pl_watcher_start).
#[no_mangle]
pub unsafe extern "C" fn pl_watcher_stop(lp: *mut pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| status(core.stop_watcher(id(watcher))))
}

/// Makes the watcher keep the loop alive while active (watchers start ref'd).
#[no_mangle]
pub unsafe extern "C" fn pl_watcher_ref(lp: *mut pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_watcher_ref(id(watcher), true)))
}

/// Makes the watcher not keep the loop alive.
#[no_mangle]
pub unsafe extern "C" fn pl_watcher_unref(lp: *mut pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_watcher_ref(id(watcher), false)))
}

/// Whether the watcher is started: 1 or 0 (also for ids that name no watcher of this loop), or a
/// negative status for NULL or another thread.
#[no_mangle]
pub unsafe extern "C" fn pl_watcher_active(lp: *const pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| core.watcher_active(id(watcher)) as c_int)
}

/// Stops and closes the watcher (the fd stays open: it is the caller's); its drop function runs
/// before this returns, and `cb(lp, data)` (unless NULL) runs in the next close phase.
#[no_mangle]
pub unsafe extern "C" fn pl_watcher_close(
    lp: *mut pl_loop,
    watcher: pl_id,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    close_with(lp, cb, data, drop, |core, close_cb| {
        core.close_watcher(id(watcher), close_cb)
    })
}

/// Watches signal `signum`: `cb(lp, data, signum)` runs on the loop thread in the poll phase
/// each time the process receives it. Several watchers and several loops may watch one signal;
/// a watched SIGINT no longer ends the process. `drop(data)` runs when the watcher is closed or
/// the loop is freed. PL_EINVAL for a signal that cannot be watched (SIGKILL, SIGSTOP, SIGSEGV,
/// ...). Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_watch_signal(
    lp: *mut pl_loop,
    signum: c_int,
    cb: pl_signal_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    schedule(
        lp,
        out,
        || CCallback::signal(cb, data, drop),
        |core, cb| core.on_signal(signum, cb),
    )
}

/// Restarts a stopped signal watcher.
#[no_mangle]
pub unsafe extern "C" fn pl_signal_start(lp: *mut pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| status(core.start_signal(id(watcher))))
}

/// Stops a signal watcher (the signal gets its previous disposition back when no watcher is
/// left).
#[no_mangle]
pub unsafe extern "C" fn pl_signal_stop(lp: *mut pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| status(core.stop_signal(id(watcher))))
}

/// Makes the signal watcher keep the loop alive while active (the default, as libuv's).
#[no_mangle]
pub unsafe extern "C" fn pl_signal_ref(lp: *mut pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_signal_ref(id(watcher), true)))
}

/// Makes the signal watcher not keep the loop alive.
#[no_mangle]
pub unsafe extern "C" fn pl_signal_unref(lp: *mut pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_signal_ref(id(watcher), false)))
}

/// Whether the signal watcher is started: 1 or 0, or a negative status for NULL or another
/// thread.
#[no_mangle]
pub unsafe extern "C" fn pl_signal_active(lp: *const pl_loop, watcher: pl_id) -> c_int {
    with_loop(lp, |core| core.signal_active(id(watcher)) as c_int)
}

/// Stops and closes the signal watcher; its drop function runs before this returns, and
/// `cb(lp, data)` (unless NULL) runs in the next close phase.
#[no_mangle]
pub unsafe extern "C" fn pl_signal_close(
    lp: *mut pl_loop,
    watcher: pl_id,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    close_with(lp, cb, data, drop, |core, close_cb| {
        core.close_signal(id(watcher), close_cb)
    })
}

/// Stores in `*out` an fd that a program's own signal handler may write a byte to, to wake a
/// blocked poll phase (Python's `signal.set_wakeup_fd` pattern). It is no handle: it keeps
/// nothing alive and calls nothing. Owned by the loop; the same fd every time.
#[no_mangle]
pub unsafe extern "C" fn pl_signal_wakeup_fd(lp: *mut pl_loop, out: *mut c_int) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() {
            return PL_EINVAL;
        }
        match core.signal_wakeup_fd() {
            Ok(fd) => {
                // SAFETY: not NULL (checked above), and a writable int (the header's contract).
                unsafe { out.write(fd) };
                PL_OK
            }
            Err(err) => status_of(&err),
        }
    })
}
