//! Tracing: a hook told before and after every callback the loop runs, and the in-memory
//! timeline recorder (no C call per callback).

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

use phaseloop_core::{Kind, TraceEvent};

use crate::callback::pl_drop_fn;
use crate::entry::{enter, with_loop};
use crate::event_loop::{phase_code, pl_id, pl_loop, pl_phase};
use crate::guard::boundary;
use crate::names::CNames;
use crate::status::{PL_ECLOSED, PL_EINVAL, PL_OK};

/// What kind of callback ran: one of the PL_KIND_* values.
pub type pl_kind = i32;
/// A one-shot timer (pl_set_timeout).
pub const PL_KIND_TIMEOUT: pl_kind = 1;
/// An interval (pl_set_interval).
pub const PL_KIND_INTERVAL: pl_kind = 2;
/// A pending callback (pl_queue_pending).
pub const PL_KIND_PENDING: pl_kind = 3;
/// An idle handle.
pub const PL_KIND_IDLE: pl_kind = 4;
/// A prepare handle.
pub const PL_KIND_PREPARE: pl_kind = 5;
/// An fd watcher.
pub const PL_KIND_IO: pl_kind = 6;
/// A work request's or native job's completion.
pub const PL_KIND_WORK: pl_kind = 7;
/// A remote call (pl_remote_call).
pub const PL_KIND_THREADSAFE: pl_kind = 8;
/// A signal watcher.
pub const PL_KIND_SIGNAL: pl_kind = 9;
/// An immediate.
pub const PL_KIND_IMMEDIATE: pl_kind = 10;
/// A check handle.
pub const PL_KIND_CHECK: pl_kind = 11;
/// A close callback.
pub const PL_KIND_CLOSE: pl_kind = 12;
/// A next-tick callback.
pub const PL_KIND_TICK: pl_kind = 13;
/// A microtask.
pub const PL_KIND_MICROTASK: pl_kind = 14;
/// A server's connection callback.
pub const PL_KIND_CONNECTION: pl_kind = 15;
/// A stream's connect callback.
pub const PL_KIND_CONNECT: pl_kind = 16;
/// A stream's read callback.
pub const PL_KIND_READ: pl_kind = 17;
/// A write's callback.
pub const PL_KIND_WRITE: pl_kind = 18;
/// A shutdown's callback.
pub const PL_KIND_SHUTDOWN: pl_kind = 19;
/// A UDP socket's receive or send callback.
pub const PL_KIND_UDP: pl_kind = 20;
/// A child process's exit callback.
pub const PL_KIND_EXIT: pl_kind = 21;

fn kind_code(kind: Kind) -> pl_kind {
    match kind {
        Kind::Timeout => PL_KIND_TIMEOUT,
        Kind::Interval => PL_KIND_INTERVAL,
        Kind::Pending => PL_KIND_PENDING,
        Kind::Idle => PL_KIND_IDLE,
        Kind::Prepare => PL_KIND_PREPARE,
        Kind::Io => PL_KIND_IO,
        Kind::Work => PL_KIND_WORK,
        Kind::Threadsafe => PL_KIND_THREADSAFE,
        Kind::Signal => PL_KIND_SIGNAL,
        Kind::Immediate => PL_KIND_IMMEDIATE,
        Kind::Check => PL_KIND_CHECK,
        Kind::Close => PL_KIND_CLOSE,
        Kind::Tick => PL_KIND_TICK,
        Kind::Microtask => PL_KIND_MICROTASK,
        Kind::Connection => PL_KIND_CONNECTION,
        Kind::Connect => PL_KIND_CONNECT,
        Kind::Read => PL_KIND_READ,
        Kind::Write => PL_KIND_WRITE,
        Kind::Shutdown => PL_KIND_SHUTDOWN,
        Kind::Udp => PL_KIND_UDP,
        Kind::Exit => PL_KIND_EXIT,
    }
}

/// The name of a kind as the docs spell it: "timeout", "interval", "pending", "idle",
/// "prepare", "io", "work", "threadsafe", "signal", "immediate", "check", "close", "tick",
/// "microtask", "connection", "connect", "read", "write", "shutdown", "udp", "exit"; NULL for an
/// unknown value. Static; any thread.
#[no_mangle]
pub extern "C" fn pl_kind_name(kind: pl_kind) -> *const c_char {
    boundary(ptr::null(), || {
        Kind::ALL
            .iter()
            .position(|&known| kind_code(known) == kind)
            .and_then(|index| KIND_NAMES.get(index))
            .map_or(ptr::null(), CStr::as_ptr)
    })
}

/// The C strings of the core's kind names, in the order of `Kind::ALL`.
static KIND_NAMES: CNames = CNames::new(Kind::NAMES);

/// What the trace hook is told, once before (`begin` true) and once after every callback.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct pl_trace_event {
    /// How many iterations had started (0 during the main program's drain).
    pub iteration: u64,
    /// The phase; PL_PHASE_NONE for ticks and microtasks drained before the first phase.
    pub phase: pl_phase,
    /// What kind of callback (PL_KIND_*).
    pub kind: pl_kind,
    /// The id of its timer, immediate, handle, watcher or work request; 0 for ticks,
    /// microtasks, pending, remote and close callbacks.
    pub id: pl_id,
    /// True before the callback, false after it.
    pub begin: bool,
    /// pl_hrtime at that moment, in ns.
    pub time_ns: u64,
}

/// The trace hook: called on the loop thread with `data` before and after every callback. It
/// may call pl_ functions on the loop (pl_run and pl_loop_free give PL_EBUSY), including
/// pl_set_trace to replace or remove itself.
pub type pl_trace_fn =
    Option<unsafe extern "C" fn(lp: *mut pl_loop, data: *mut c_void, event: *const pl_trace_event)>;

/// The installed hook: the C function, its data and drop function.
struct CTrace {
    f: unsafe extern "C" fn(*mut pl_loop, *mut c_void, *const pl_trace_event),
    lp: *mut pl_loop,
    data: *mut c_void,
    drop: pl_drop_fn,
}

// SAFETY: the core stores hooks as `Send` because a loop may move between threads; a hook is
// only called and dropped on the loop's thread (pl_set_trace and pl_loop_free check it).
unsafe impl Send for CTrace {}

impl CTrace {
    fn fire(&mut self, event: &TraceEvent) {
        let event = pl_trace_event {
            iteration: event.iteration,
            phase: phase_code(event.phase),
            kind: kind_code(event.kind),
            id: event.id,
            begin: event.begin,
            time_ns: event.time_ns,
        };
        // SAFETY: the caller's hook with its own data, on the loop thread.
        unsafe { (self.f)(self.lp, self.data, &event) }
    }
}

impl Drop for CTrace {
    fn drop(&mut self) {
        if let Some(drop) = self.drop.take() {
            // SAFETY: the caller gave `drop` for this `data`; called once.
            unsafe { drop(self.data) }
        }
    }
}

/// Installs `hook` (NULL removes it), told before and after every callback; the previous hook's
/// drop function runs (after it returns, if it is running now). `drop(data)` runs when this hook
/// is replaced or removed, or the loop is freed. Tracing costs a clock read per callback.
/// Loop thread only; PL_ECLOSED while the loop is being freed (the hook is then not taken).
#[no_mangle]
pub unsafe extern "C" fn pl_set_trace(
    lp: *mut pl_loop,
    hook: pl_trace_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    with_loop(lp, |core| {
        if core.is_closed() {
            return PL_ECLOSED;
        }
        let hook = hook.map(|f| {
            let mut trace = CTrace { f, lp, data, drop };
            // A C hook cannot fail: the core's error path is never taken for it.
            Box::new(move |_: &_, event: &TraceEvent, _: &_| {
                trace.fire(event);
                Ok(())
            }) as Box<_>
        });
        core.set_trace(hook);
        PL_OK
    })
}

/// One callback in the recorded timeline.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct pl_trace_record {
    /// How many iterations had started.
    pub iteration: u64,
    /// The phase (PL_PHASE_NONE before the first).
    pub phase: pl_phase,
    /// What kind of callback (PL_KIND_*).
    pub kind: pl_kind,
    /// Its id, as in pl_trace_event.
    pub id: pl_id,
    /// The `data` pointer it was scheduled with, to tell callbacks apart (never dereferenced).
    pub data: *const c_void,
    /// When it began (pl_hrtime, ns).
    pub start_ns: u64,
    /// How long it ran, in ns.
    pub duration_ns: u64,
}

/// Starts (`enabled` true) or stops recording the timeline in memory: one pl_trace_record per
/// callback, kept until pl_clear_timeline or pl_loop_free. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_record(lp: *mut pl_loop, enabled: bool) -> c_int {
    with_loop(lp, |core| {
        core.record(enabled);
        PL_OK
    })
}

/// Copies up to `capacity` records of the timeline, oldest first, into `out` (which may be NULL
/// when `capacity` is 0) and returns how many records there are in all, or a negative status:
/// call with 0 first to size the buffer. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_timeline(
    lp: *const pl_loop,
    out: *mut pl_trace_record,
    capacity: usize,
) -> i64 {
    enter(
        lp,
        false,
        |status| status as i64,
        |core| {
            if out.is_null() && capacity > 0 {
                return PL_EINVAL as i64;
            }
            let timeline = core.timeline();
            for (i, record) in timeline.iter().take(capacity).enumerate() {
                let copy = pl_trace_record {
                    iteration: record.iteration,
                    phase: phase_code(record.phase),
                    kind: kind_code(record.kind),
                    id: record.id,
                    data: record.label.unwrap_or(0) as *const c_void,
                    start_ns: record.start_ns,
                    duration_ns: record.duration_ns,
                };
                // SAFETY: `out` has room for `capacity` records (the header's contract), and
                // `i < capacity` (`take`); not NULL, since `capacity > 0` here.
                unsafe { out.add(i).write(copy) };
            }
            timeline.len() as i64
        },
    )
}

/// Empties the recorded timeline. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_clear_timeline(lp: *mut pl_loop) -> c_int {
    with_loop(lp, |core| {
        core.clear_timeline();
        PL_OK
    })
}
