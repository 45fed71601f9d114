//! `pl_loop`: creating, running and freeing a loop, its options, time and phase. The entry check
//! every function taking a `pl_loop` goes through is in [`crate::entry`]; reading `pl_options`
//! is in [`crate::options`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::mem::size_of;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

use phaseloop_core::{Id, Loop, Phase, RunError, RunMode};

use crate::callback::CCallback;
use crate::entry::{enter, with_loop, with_loop_or, EntryState};
use crate::guard::boundary;
use crate::names::CNames;
use crate::options::loop_options;
use crate::status::{cstr, status, status_of, PL_EBUSY, PL_EINVAL, PL_EPANIC, PL_OK};

/// A loop (opaque). Created by pl_loop_new, released by pl_loop_free, used only on the thread
/// that created it.
pub struct pl_loop {
    core: Loop<CCallback>,
}

impl pl_loop {
    /// The core loop inside.
    #[inline]
    pub(crate) fn core(&self) -> &Loop<CCallback> {
        &self.core
    }
}

/// The name of a timer, immediate, idle/prepare/check handle, fd or signal watcher, or work
/// request, as the loop that issued it knows it. 0 is never a valid id; a stale or foreign id
/// gives PL_ENOENT.
pub type pl_id = u64;

/// How long pl_run runs (libuv's `uv_run_mode`): one of the PL_RUN_* values.
pub type pl_run_mode = i32;
/// Until nothing ref'd is left (timers, immediates, handles, watchers, work, remote calls not yet
/// run, closes in progress) or pl_stop was called.
pub const PL_RUN_DEFAULT: pl_run_mode = 0;
/// One iteration, blocking in the poll phase if there is nothing else to do.
pub const PL_RUN_ONCE: pl_run_mode = 1;
/// One iteration without blocking.
pub const PL_RUN_NOWAIT: pl_run_mode = 2;

/// A phase of one iteration: one of the PL_PHASE_* values.
pub type pl_phase = i32;
/// Outside pl_run, or in the drain of ticks and microtasks before the first phase.
pub const PL_PHASE_NONE: pl_phase = 0;
/// Due timers and intervals.
pub const PL_PHASE_TIMERS: pl_phase = 1;
/// Pending callbacks (pl_queue_pending).
pub const PL_PHASE_PENDING: pl_phase = 2;
/// Idle handles.
pub const PL_PHASE_IDLE: pl_phase = 3;
/// Prepare handles.
pub const PL_PHASE_PREPARE: pl_phase = 4;
/// Waiting for I/O, work completions, remote calls and signals, then their callbacks.
pub const PL_PHASE_POLL: pl_phase = 5;
/// Check handles, then immediates.
pub const PL_PHASE_CHECK: pl_phase = 6;
/// Close callbacks.
pub const PL_PHASE_CLOSE: pl_phase = 7;

/// Which clock a loop runs on (pl_options.clock): one of the PL_CLOCK_* values.
pub type pl_clock = i32;
/// Monotonic wall time in milliseconds, cached like libuv's `uv_now`. The default.
pub const PL_CLOCK_REAL: pl_clock = 0;
/// Time never sleeps: when the loop would block waiting for a timer, the clock jumps to that
/// timer's due time, so timers of any length finish at once and in the same order as with the
/// real clock. Work and I/O are still real. For tests and experiments.
pub const PL_CLOCK_VIRTUAL: pl_clock = 1;

/// When ticks and microtasks drain (pl_options.drain): one of the PL_DRAIN_* values.
pub type pl_drain_mode = i32;
/// After every callback, as Node >= 11 does. The default.
pub const PL_DRAIN_CALLBACK: pl_drain_mode = 0;
/// Once after each phase, as Node <= 10 did; for experiments.
pub const PL_DRAIN_PHASE: pl_drain_mode = 1;

/// Options for pl_loop_new. Initialise with pl_options_init, then change fields: the struct
/// starts with its own size so that later versions can add fields at the end without breaking
/// programs compiled against this one.
#[repr(C)]
pub struct pl_options {
    /// `sizeof(pl_options)` as the program was compiled; set by pl_options_init.
    pub size: usize,
    /// PL_CLOCK_REAL (default) or PL_CLOCK_VIRTUAL.
    pub clock: pl_clock,
    /// PL_DRAIN_CALLBACK (default) or PL_DRAIN_PHASE.
    pub drain: pl_drain_mode,
    /// Worker threads for pl_queue_work and the native jobs, 1..1024; 0 (default) reads the
    /// environment variable PHASELOOP_THREADPOOL_SIZE, else uses 4. The threads start on the
    /// first work request.
    pub threadpool_size: u32,
}

/// What pl_walk reports for each thing that keeps the loop alive or waits in it.
#[repr(C)]
pub struct pl_handle_info {
    /// "timeout", "interval", "immediate", "idle", "prepare", "check", "watcher", "signal",
    /// "work", "threadsafe" (remote calls not yet run), "pending" or "close".
    pub kind: *const c_char,
    /// Whether it keeps pl_run(PL_RUN_DEFAULT) from returning.
    pub refed: bool,
    /// Its id, or 0 for those without one (remote calls, pending callbacks).
    pub id: pl_id,
    /// A few words about it: a timer's delay, a watcher's fd, a count.
    pub detail: *const c_char,
}

/// Called by pl_walk with `data` and one entry. The strings are valid only during the call.
pub type pl_walk_fn = Option<unsafe extern "C" fn(data: *mut c_void, info: *const pl_handle_info)>;

// ----- the per-loop state of the binding -------------------------------------------------------

/// The binding's per-loop state, kept in the core loop as its host state.
pub struct LoopHost {
    /// The `pl_loop` that owns the core loop, handed to C callbacks.
    this: Cell<*mut pl_loop>,
    /// The entry check's state: the loop's thread, the calls running, whether one panicked.
    entry: EntryState,
    /// The pid of each child pl_spawn started, by process id (the core names children by id;
    /// C's pl_process_pid asks for the number). Pruned of closed handles at each spawn.
    children: RefCell<HashMap<u64, u32>>,
}

// SAFETY: the core requires its host state to be `Send`. It is only ever touched on the loop's
// thread: every entry point compares the loop's thread with the caller's before going further
// (`entry::enter`), and that record is never written after creation.
unsafe impl Send for LoopHost {}

impl LoopHost {
    /// The `pl_loop *` to hand to C callbacks.
    pub(crate) fn raw_loop(&self) -> *mut pl_loop {
        self.this.get()
    }

    /// The entry check's state of this loop.
    pub(crate) fn entry(&self) -> &EntryState {
        &self.entry
    }

    /// Notes a child's pid, first forgetting those whose handles were closed (so the map holds
    /// no more entries than the loop has process handles, plus this one).
    pub(crate) fn remember_child(&self, core: &Loop<CCallback>, process: u64, pid: u32) {
        let mut children = self.children.borrow_mut();
        children.retain(|&known, _| core.process_exit_status(Id::from_u64(known)).is_ok());
        children.insert(process, pid);
    }

    /// The pid pl_spawn noted for `process`.
    pub(crate) fn child_pid(&self, process: u64) -> Option<u32> {
        self.children.borrow().get(&process).copied()
    }
}

/// The core id of a C id.
pub(crate) fn id(raw: pl_id) -> Id {
    Id::from_u64(raw)
}

/// The PL_PHASE_* code of a phase (PL_PHASE_NONE outside one).
pub(crate) fn phase_code(phase: Option<Phase>) -> pl_phase {
    match phase {
        None => PL_PHASE_NONE,
        Some(Phase::Timers) => PL_PHASE_TIMERS,
        Some(Phase::Pending) => PL_PHASE_PENDING,
        Some(Phase::Idle) => PL_PHASE_IDLE,
        Some(Phase::Prepare) => PL_PHASE_PREPARE,
        Some(Phase::Poll) => PL_PHASE_POLL,
        Some(Phase::Check) => PL_PHASE_CHECK,
        Some(Phase::Close) => PL_PHASE_CLOSE,
    }
}

// ----- options -----------------------------------------------------------------------------------

/// Fills `opts` with the defaults and its `size`. Any thread. PL_EINVAL if `opts` is NULL.
#[no_mangle]
pub unsafe extern "C" fn pl_options_init(opts: *mut pl_options) -> c_int {
    boundary(PL_EPANIC, || {
        if opts.is_null() {
            return PL_EINVAL;
        }
        // SAFETY: not NULL, and the header's contract is that `opts` points to a writable
        // pl_options of this header's layout.
        unsafe {
            opts.write(pl_options {
                size: size_of::<pl_options>(),
                clock: PL_CLOCK_REAL,
                drain: PL_DRAIN_CALLBACK,
                threadpool_size: 0,
            })
        };
        PL_OK
    })
}

// ----- lifecycle ---------------------------------------------------------------------------------

/// Creates a loop owned by the calling thread and stores it in `*out`. `opts` may be NULL for
/// the defaults. PL_EINVAL for a NULL `out` or an invalid option (size 0 or implausible, unknown
/// clock or drain value, pool size over 1024, unknown non-zero trailing fields); a negated errno
/// if the OS refused (too many open files). The caller owns the loop and releases it with
/// pl_loop_free on the same thread.
#[no_mangle]
pub unsafe extern "C" fn pl_loop_create(opts: *const pl_options, out: *mut *mut pl_loop) -> c_int {
    boundary(PL_EPANIC, || {
        if out.is_null() {
            return PL_EINVAL;
        }
        // SAFETY: `opts` is NULL or a pl_options whose `size` bytes are readable (the header's
        // contract for pl_loop_create), which is what loop_options needs.
        let options = match unsafe { loop_options(opts) } {
            Ok(options) => options,
            Err(status) => return status,
        };
        let host = LoopHost {
            this: Cell::new(ptr::null_mut()),
            entry: EntryState::for_this_thread(),
            children: RefCell::new(HashMap::new()),
        };
        let core = match Loop::with_host(options, host) {
            Ok(core) => core,
            Err(err) => return status_of(&err),
        };
        let raw = Box::into_raw(Box::new(pl_loop { core }));
        // SAFETY: `raw` came from Box::into_raw just above: valid, aligned, and not shared yet.
        unsafe { (*raw).core.host().this.set(raw) };
        // SAFETY: not NULL (checked above); the header's contract makes it a writable pointer.
        unsafe { out.write(raw) };
        PL_OK
    })
}

/// Creates a loop owned by the calling thread (see pl_loop_create); NULL on failure. `opts`
/// may be NULL for the defaults.
#[no_mangle]
pub unsafe extern "C" fn pl_loop_new(opts: *const pl_options) -> *mut pl_loop {
    let mut lp = ptr::null_mut();
    // SAFETY: the caller's `opts` carries pl_loop_create's contract, and `lp` is a local.
    if unsafe { pl_loop_create(opts, &mut lp) } == PL_OK {
        lp
    } else {
        ptr::null_mut()
    }
}

/// Releases a loop and everything in it: callbacks that never ran are dropped (their drop
/// functions run now, on this thread), work not yet started is cancelled without calling its
/// completion, running work is waited for, the pool threads are joined, and every pl_remote of
/// the loop answers PL_ECLOSED from now on. Returns 0, and the pointer is invalid afterwards.
///
/// NULL does nothing and returns 0. PL_EBUSY, and nothing is freed, when called from inside
/// one of the loop's own callbacks or drop functions; PL_EWRONGTHREAD from another thread. On a
/// loop poisoned by a panic (PL_EPANIC) it frees what it safely can and returns PL_EPANIC.
///
/// In a child of fork() (a loop must not be used there: make a new one) it only runs the drop
/// functions: it leaves the epoll instance the child shares with the parent alone, and waits
/// for no pool thread, since the child has none.
#[no_mangle]
pub unsafe extern "C" fn pl_loop_free(lp: *mut pl_loop) -> c_int {
    if lp.is_null() {
        return PL_OK;
    }
    let status = enter(
        lp,
        true,
        |status| status,
        |core| {
            if !core.host().entry().outermost() {
                return PL_EBUSY;
            }
            // Drop functions run in here; the loop is closed while they do, so calls they make
            // on it get PL_ECLOSED instead of touching a loop that is going away.
            if let Err(err) = core.close() {
                // Only a poisoned loop can be stuck "inside run"; leaking it is the safe choice.
                return if core.host().entry().poisoned() {
                    PL_EPANIC
                } else {
                    status_of(&err)
                };
            }
            // The trace hook's drop function, while the loop is still there to be refused.
            core.set_trace(None);
            if core.host().entry().poisoned() {
                PL_EPANIC
            } else {
                PL_OK
            }
        },
    );
    // SAFETY: `lp` is not NULL and, by the header's contract, a loop from pl_loop_create not
    // yet freed; `enter` returned, so no borrow of it is live.
    if status == PL_OK || (status == PL_EPANIC && unsafe { (*lp).core.is_closed() }) {
        // SAFETY: created by Box::into_raw in pl_loop_create; closed, so nothing in it refers
        // to C data any longer, and no pl_ call on it is running (`outermost`).
        drop(unsafe { Box::from_raw(lp) });
    }
    status
}

// ----- running -------------------------------------------------------------------------------------

/// Runs the loop (libuv's `uv_run`): first the ticks and microtasks queued since the last run,
/// then iterations of the phases per `mode`. Returns 1 if ref'd work remains, 0 if not, or a
/// negative status: PL_EINVAL for an unknown mode, PL_EBUSY from inside the loop's own
/// callbacks or drop functions, PL_ECLOSED while the loop is being freed. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_run(lp: *mut pl_loop, mode: pl_run_mode) -> c_int {
    with_loop(lp, |core| {
        let mode = match mode {
            PL_RUN_DEFAULT => RunMode::Default,
            PL_RUN_ONCE => RunMode::Once,
            PL_RUN_NOWAIT => RunMode::NoWait,
            _ => return PL_EINVAL,
        };
        if !core.host().entry().outermost() {
            return PL_EBUSY;
        }
        match core.run(mode) {
            Ok(alive) => alive as c_int,
            Err(RunError::Loop(err)) => status_of(&err),
            Err(RunError::Callback(never)) => match never {},
        }
    })
}

/// Makes the current pl_run return at the end of this iteration (libuv's `uv_stop`); after a
/// pl_stop outside pl_run, the next pl_run drains the ticks and microtasks and returns without
/// an iteration. Loop thread only (from another thread it does nothing: send a pl_remote_call
/// whose callback calls pl_stop).
#[no_mangle]
pub unsafe extern "C" fn pl_stop(lp: *mut pl_loop) {
    with_loop_or(lp, (), |core| core.stop())
}

/// Whether ref'd work remains: 1 or 0, or a negative status. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_alive(lp: *const pl_loop) -> c_int {
    with_loop(lp, |core| core.alive() as c_int)
}

/// How many iterations have started (0 during the main program, before the first phase).
/// 0 for NULL or from another thread.
#[no_mangle]
pub unsafe extern "C" fn pl_iteration(lp: *const pl_loop) -> u64 {
    with_loop_or(lp, 0, |core| core.iteration())
}

/// The phase running now; PL_PHASE_NONE outside pl_run, before the first phase, for NULL and from
/// another thread. A tick or microtask reports the phase of the callback it drains after.
#[no_mangle]
pub unsafe extern "C" fn pl_current_phase(lp: *const pl_loop) -> pl_phase {
    with_loop_or(lp, PL_PHASE_NONE, |core| phase_code(core.phase()))
}

/// The name of a phase: "timers", "pending", "idle", "prepare", "poll", "check", "close", or
/// "none" for PL_PHASE_NONE; NULL for an unknown value. Static; any thread.
#[no_mangle]
pub extern "C" fn pl_phase_name(phase: pl_phase) -> *const c_char {
    boundary(ptr::null(), || {
        if phase == PL_PHASE_NONE {
            return cstr!("none").as_ptr();
        }
        Phase::ALL
            .iter()
            .position(|&known| phase_code(Some(known)) == phase)
            .and_then(|index| PHASE_NAMES.get(index))
            .map_or(ptr::null(), CStr::as_ptr)
    })
}

/// The C strings of the core's phase names, in the order of `Phase::ALL`.
static PHASE_NAMES: CNames = CNames::new(Phase::NAMES);

// ----- time ----------------------------------------------------------------------------------------

/// The loop's cached time in milliseconds since it was created (libuv's `uv_now`); the virtual
/// clock starts at 0 and moves only when the loop jumps to a timer or pl_advance moves it. 0 for
/// NULL or from another thread.
#[no_mangle]
pub unsafe extern "C" fn pl_now(lp: *const pl_loop) -> u64 {
    with_loop_or(lp, 0, |core| core.now())
}

/// Refreshes the cached time (libuv's `uv_update_time`). Loop thread only; otherwise does
/// nothing.
#[no_mangle]
pub unsafe extern "C" fn pl_update_time(lp: *mut pl_loop) {
    with_loop_or(lp, (), |core| core.update_time())
}

/// A monotonic clock in nanoseconds (Node's `process.hrtime.bigint()`), virtual with
/// PL_CLOCK_VIRTUAL. 0 for NULL or from another thread.
#[no_mangle]
pub unsafe extern "C" fn pl_hrtime(lp: *const pl_loop) -> u64 {
    with_loop_or(lp, 0, |core| core.hrtime())
}

/// Virtual clock only: moves time forward `ms` now, as if a callback had blocked that long;
/// timers that become due run in the next timers phase. PL_EINVAL on the real clock.
#[no_mangle]
pub unsafe extern "C" fn pl_advance(lp: *mut pl_loop, ms: u64) -> c_int {
    with_loop(lp, |core| status(core.advance(ms)))
}

// ----- embedding and introspection ----------------------------------------------------------------

/// The poller's fd, for embedding the loop in another one (libuv's `uv_backend_fd`): when it is
/// readable, or pl_backend_timeout expires, call pl_run(lp, PL_RUN_NOWAIT). Owned by the loop.
/// A negative status on failure. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_backend_fd(lp: *const pl_loop) -> c_int {
    with_loop(lp, |core| core.backend_fd())
}

/// How long the poll phase would block now, in ms (libuv's `uv_backend_timeout`): -1 for no
/// limit, 0 whenever anything is queued; or a PL_E* status (always below -1). Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_backend_timeout(lp: *const pl_loop) -> i64 {
    enter(
        lp,
        false,
        |status| status as i64,
        |core| match core.backend_timeout() {
            Some(ms) => ms.min(i64::MAX as u64) as i64,
            None => -1,
        },
    )
}

/// Calls `visit(data, info)` for everything that keeps the loop alive or waits in it (libuv's
/// `uv_walk`, Node's `getActiveResourcesInfo`): active timers, immediates, active handles and
/// watchers, work requests, remote calls not yet run, pending callbacks, closes in progress.
/// Returns how many there were, or a negative status. `visit` runs on this thread before pl_walk
/// returns and may call pl_ functions on the loop (the list was taken before the first call).
#[no_mangle]
pub unsafe extern "C" fn pl_walk(
    lp: *const pl_loop,
    visit: pl_walk_fn,
    data: *mut c_void,
) -> c_int {
    with_loop(lp, |core| {
        let Some(visit) = visit else {
            return PL_EINVAL;
        };
        let handles = core.handles();
        for handle in &handles {
            let kind = CString::new(handle.kind).unwrap_or_default();
            let detail = CString::new(handle.detail.as_str()).unwrap_or_default();
            let info = pl_handle_info {
                kind: kind.as_ptr(),
                refed: handle.refed,
                id: handle.id.map_or(0, Id::as_u64),
                detail: detail.as_ptr(),
            };
            // SAFETY: the caller's function, with the caller's data, on the loop thread; `info`
            // and the strings it points to live until it returns, as the header promises.
            unsafe { visit(data, &info) };
        }
        handles.len().min(c_int::MAX as usize) as c_int
    })
}
