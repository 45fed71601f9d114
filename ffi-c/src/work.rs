//! Work for the pool (`uv_queue_work`): a C function run on a pool thread, then its completion
//! callback on the loop thread in the poll phase; and cancellation (`uv_cancel`).

use std::os::raw::{c_int, c_void};

use phaseloop_core::{Id, Job, RawJob, Refused};

use crate::callback::{pl_after_work_fn, pl_drop_fn, pl_work_fn, CCallback};
use crate::entry::with_loop;
use crate::event_loop::{id, pl_id, pl_loop};
use crate::status::{status, status_of, PL_ECLOSED, PL_EINVAL, PL_OK};

/// Queues a pool job with its completion callback (both made inside the entry check, so a
/// refused call made neither); writes the request's id to `out` unless NULL.
pub(crate) fn submit(
    lp: *mut pl_loop,
    out: *mut pl_id,
    job: impl FnOnce() -> Result<Job, c_int>,
    after: impl FnOnce() -> Option<CCallback>,
) -> c_int {
    with_loop(lp, |core| {
        if core.is_closed() {
            return PL_ECLOSED;
        }
        let job = match job() {
            Ok(job) => job,
            Err(status) => return status,
        };
        queued(core.queue_work(job, after()), out)
    })
}

/// What a queueing call returns: PL_OK with the request's id written to `out` (unless NULL),
/// or the refusal's status, the callback handed back to the caller (its `data` is theirs).
fn queued(result: Result<Id, Refused<Option<CCallback>>>, out: *mut pl_id) -> c_int {
    match result {
        Ok(request) => {
            if !out.is_null() {
                // SAFETY: a non-NULL `out` points to a pl_id (the header's contract).
                unsafe { out.write(request.as_u64()) };
            }
            PL_OK
        }
        Err(refused) => {
            if let Some(cb) = refused.callback {
                cb.disown();
            }
            status_of(&refused.error)
        }
    }
}

/// Runs `work(data)` on a pool thread, then `after(lp, data, status)` on the loop thread in the
/// poll phase, in completion order: `status` is 0, or PL_ECANCELED if pl_cancel_work cancelled
/// the request before it started (then `work` never runs). `work` must not touch the loop;
/// `data` is shared between the two by the caller's contract. `after` may be NULL: `drop(data)`
/// then runs on the loop thread once the request completed or was cancelled. With an `after`,
/// `drop(data)` runs only if the loop is freed before `after` ran (running work is waited for
/// first). Writes the request's id to `*out` unless NULL. A pending request keeps the loop
/// alive. Loop thread only; PL_EINVAL for a NULL `work`; a negated errno if no pool thread
/// could be started.
#[no_mangle]
pub unsafe extern "C" fn pl_queue_work(
    lp: *mut pl_loop,
    work: pl_work_fn,
    after: pl_after_work_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    with_loop(lp, |core| {
        if core.is_closed() {
            return PL_ECLOSED;
        }
        let Some(work) = work else {
            return PL_EINVAL;
        };
        // SAFETY: `run_c_work` gets back exactly these two words: the caller's work function
        // and its data, which the header lets a pool thread use (as uv_queue_work does).
        let job = unsafe { RawJob::new(run_c_work, [work as usize, data as usize]) };
        queued(
            core.queue_raw_work(job, CCallback::after_work(after, data, drop)),
            out,
        )
    })
}

/// A pl_queue_work job on its pool thread: `[work function, data]`. A raw job rather than a
/// boxed closure, so that queueing work allocates nothing.
///
/// # Safety
///
/// `args` must be a `pl_work_fn`'s function pointer and the data it was queued with.
unsafe fn run_c_work(args: [usize; 2]) {
    // SAFETY: `args[0]` was made from a non-NULL `unsafe extern "C" fn(*mut c_void)` by
    // pl_queue_work (function and data pointers are one word on every supported target).
    let work: unsafe extern "C" fn(*mut c_void) = unsafe { std::mem::transmute(args[0]) };
    // SAFETY: the caller's work function with its own data, on a pool thread, as the header
    // documents: the caller hands `data` to the pool thread by contract (as with
    // uv_queue_work), and the loop thread uses it again only after the work has finished (its
    // completion is delivered after the job returned; pl_loop_free joins the pool before any
    // drop function runs).
    unsafe { work(args[1] as *mut c_void) };
}

/// Cancels a work request that has not started (`uv_cancel`): returns 0, and its completion
/// callback runs in the next poll phase with PL_ECANCELED (cancelling twice is 0 too).
/// PL_EBUSY once the work started (it will complete normally); PL_ENOENT once its completion
/// ran, or for a foreign id.
#[no_mangle]
pub unsafe extern "C" fn pl_cancel_work(lp: *mut pl_loop, request: pl_id) -> c_int {
    with_loop(lp, |core| status(core.cancel_work(id(request))))
}

/// Whether the request's completion has yet to run: 1 or 0, or a negative status for NULL or
/// another thread.
#[no_mangle]
pub unsafe extern "C" fn pl_work_pending(lp: *const pl_loop, request: pl_id) -> c_int {
    with_loop(lp, |core| core.work_pending(id(request)) as c_int)
}
