//! A C callback as the core loop stores it: a function pointer, the caller's `void *data` and
//! an optional drop function, kept inline in the core's queues (no allocation per schedule).
//!
//! Ownership rule (the header's): the drop function runs exactly once, when the loop lets go of
//! `data` that a callback would still have been given: a one-shot callback that never ran
//! (cleared, cancelled, loop freed), a repeating one when it is cleared, closed or the loop is
//! freed. A one-shot callback that ran owns its data from then on. A failed call takes no
//! ownership: the binding disowns (`CCallback::disown`) the callback the core hands back.

use std::convert::Infallible;
use std::os::raw::{c_char, c_int, c_void};

use phaseloop_core::{Callback, Event, ImmediateSlot, Loop, ReadEvent, WorkOutcome};

use crate::dns::{pl_addrinfo, pl_getaddrinfo_fn, pl_getnameinfo_fn};
use crate::event_loop::{pl_loop, LoopHost};
use crate::process::pl_exit_fn;
use crate::status::{io_status, PL_ECANCELED, PL_EINVAL, PL_EIO, PL_EOF, PL_EPANIC};
use crate::udp::pl_udp_recv_fn;

/// A callback run on the loop thread: a timer, interval, immediate, tick, microtask, pending,
/// idle/prepare/check handle, close or remote callback. `lp` is the loop running it; `data` is
/// the pointer given when it was scheduled.
pub type pl_callback = Option<unsafe extern "C" fn(lp: *mut pl_loop, data: *mut c_void)>;

/// Releases `data` whose callback will never run (or, for a repeating callback, will never run
/// again). Called exactly once, on the loop thread, possibly from inside another pl_ function
/// (pl_clear_timer, pl_loop_free, ...). It may call pl_ functions on the loop, except
/// pl_loop_free; during pl_loop_free they return PL_ECLOSED. May be NULL where it is accepted.
pub type pl_drop_fn = Option<unsafe extern "C" fn(data: *mut c_void)>;

/// An fd watcher's callback, run on the loop thread in the poll phase. `events` is a mask of
/// PL_READABLE and PL_WRITABLE with `status` 0; or `status` is negative (the fd could not be
/// watched any longer, typically -EBADF once it was closed under the watcher), `events` is 0,
/// and the watcher has been stopped.
pub type pl_io_fn =
    Option<unsafe extern "C" fn(lp: *mut pl_loop, data: *mut c_void, status: c_int, events: c_int)>;

/// A signal watcher's callback, run on the loop thread in the poll phase, once per signal
/// delivered.
pub type pl_signal_fn =
    Option<unsafe extern "C" fn(lp: *mut pl_loop, data: *mut c_void, signum: c_int)>;

/// The work of pl_queue_work, run on a pool thread. It must not call pl_ functions on the loop
/// (use a pl_remote to reach it).
pub type pl_work_fn = Option<unsafe extern "C" fn(data: *mut c_void)>;

/// The completion callback of pl_queue_work, run on the loop thread in the poll phase: `status`
/// is 0 when the work ran, PL_ECANCELED when it was cancelled before it started.
pub type pl_after_work_fn =
    Option<unsafe extern "C" fn(lp: *mut pl_loop, data: *mut c_void, status: c_int)>;

/// The completion callback of a native job (pl_job_*), run on the loop thread in the poll
/// phase. `status` is 0 on success, PL_ECANCELED if the job was cancelled, a negated OS errno
/// or PL_EINVAL (corrupt input) if it failed. `result` and `len` are the job's output bytes
/// (NULL and 0 for jobs without output, and on failure); they are owned by the library and
/// valid only until the callback returns: copy what you keep.
pub type pl_job_done_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        data: *mut c_void,
        status: c_int,
        result: *const u8,
        len: usize,
    ),
>;

/// A server's connection callback, run in the poll phase: `status` 0 and `stream` the accepted
/// stream's id (it reads once pl_read_start is called on it), or `status` negative (PL_EMFILE:
/// the process is out of fds and the waiting connections were shed) and `stream` 0.
pub type pl_connection_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        server: crate::event_loop::pl_id,
        data: *mut c_void,
        status: c_int,
        stream: crate::event_loop::pl_id,
    ),
>;

/// The callback of a connect, write or shutdown of `stream`: `status` 0, or a negative code
/// (PL_ECONNREFUSED, PL_EPIPE, PL_ECANCELED when the stream was closed first, ...).
pub type pl_stream_status_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        stream: crate::event_loop::pl_id,
        data: *mut c_void,
        status: c_int,
    ),
>;

/// A stream's read callback, run in the poll phase: `nread` > 0 bytes at `buf` (a buffer of the
/// loop's, valid only during the callback), or `nread` = PL_EOF at the end of the stream, or a
/// negative status (PL_ECONNRESET, ...); after PL_EOF or an error, reading has stopped.
pub type pl_read_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        stream: crate::event_loop::pl_id,
        data: *mut c_void,
        nread: isize,
        buf: *const u8,
    ),
>;

/// `pl_io_fn`'s `events` bit: the fd is readable (or hung up).
pub const PL_READABLE: c_int = 1;
/// `pl_io_fn`'s `events` bit: the fd is writable.
pub const PL_WRITABLE: c_int = 2;

type PlainFn = unsafe extern "C" fn(*mut pl_loop, *mut c_void);
type IoFn = unsafe extern "C" fn(*mut pl_loop, *mut c_void, c_int, c_int);
type SignalFn = unsafe extern "C" fn(*mut pl_loop, *mut c_void, c_int);
type AfterWorkFn = unsafe extern "C" fn(*mut pl_loop, *mut c_void, c_int);
type JobDoneFn = unsafe extern "C" fn(*mut pl_loop, *mut c_void, c_int, *const u8, usize);
type ConnectionFn = unsafe extern "C" fn(*mut pl_loop, u64, *mut c_void, c_int, u64);
type StreamStatusFn = unsafe extern "C" fn(*mut pl_loop, u64, *mut c_void, c_int);
type ReadFn = unsafe extern "C" fn(*mut pl_loop, u64, *mut c_void, isize, *const u8);
pub(crate) type DatagramFn =
    unsafe extern "C" fn(*mut pl_loop, u64, *mut c_void, isize, *const u8, *const c_void, c_int);
pub(crate) type AddrInfoFn =
    unsafe extern "C" fn(*mut pl_loop, *mut c_void, c_int, c_int, *const pl_addrinfo, usize);
pub(crate) type NameInfoFn =
    unsafe extern "C" fn(*mut pl_loop, *mut c_void, c_int, c_int, *const c_char, *const c_char);
pub(crate) type ExitFn = unsafe extern "C" fn(*mut pl_loop, u64, *mut c_void, i64, c_int);

/// Which C signature the callback's function has. One byte beside [`Shots`], with the function
/// kept as an untyped pointer, so that a callback is four words: every queued tick and timer
/// is one (and every immediate with a drop function; the others wait in a two-word
/// [`PlainImmediate`]), and a million of them are memory the kernel must fault in (an enum of
/// typed function pointers made it five).
#[derive(Copy, Clone, PartialEq, Eq)]
#[repr(u8)]
enum Signature {
    /// [`PlainFn`].
    Plain,
    /// [`IoFn`].
    Io,
    /// [`SignalFn`].
    Signal,
    /// [`AfterWorkFn`].
    AfterWork,
    /// [`JobDoneFn`].
    JobDone,
    /// [`ConnectionFn`].
    Connection,
    /// [`StreamStatusFn`].
    StreamStatus,
    /// [`ReadFn`].
    Read,
    /// A UDP socket's receive callback, [`DatagramFn`].
    Datagram,
    /// A pl_getaddrinfo completion, [`AddrInfoFn`].
    AddrInfo,
    /// A pl_getnameinfo completion, [`NameInfoFn`].
    NameInfo,
    /// A child process's exit callback, [`ExitFn`].
    Exit,
    /// A work request without a completion callback: its data is released when it completes
    /// (the function pointer is NULL and never called).
    ReleaseOnly,
}

/// How often the callback may run, which decides when its data stops being the loop's.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Shots {
    /// Runs once; from then on the data is the callback's.
    Once,
    /// A `setTimeout` timer: runs once, unless the loop keeps it after the fire (its own
    /// callback refreshed it, or pl_timer_hold held it): see [`Callback::fired`].
    TimerOnce,
    /// Intervals, handles, watchers: the data stays the loop's until it lets go of them.
    Repeating,
}

/// A C callback for the core loop.
pub struct CCallback {
    /// The function, of the type `signature` names (NULL for [`Signature::ReleaseOnly`]).
    f: *const (),
    data: *mut c_void,
    drop: pl_drop_fn,
    signature: Signature,
    shots: Shots,
}

// Four words (see [`Signature`]); the core's queues hold `Option<CCallback>`, no larger.
const _: () = assert!(std::mem::size_of::<Option<CCallback>>() == 4 * std::mem::size_of::<usize>());

// SAFETY: the core requires `Send` because a loop may move between threads and a remote hands
// callbacks from other threads to the loop. Nothing here is touched concurrently: a loop's
// callbacks are called and dropped only on the loop's thread (every pl_ function that reaches
// the loop checks the thread first). What crosses threads is `data`: a pl_remote_call's data
// goes from the calling thread to the loop thread, and a work request's data is shared with a
// pool thread, by the caller's contract, exactly as in libuv (uv_async_send, uv_queue_work).
unsafe impl Send for CCallback {}

impl CCallback {
    fn new(
        signature: Signature,
        f: *const (),
        data: *mut c_void,
        drop: pl_drop_fn,
        shots: Shots,
    ) -> CCallback {
        CCallback {
            f,
            data,
            drop,
            signature,
            shots,
        }
    }

    /// A completion called once, `f` of the type `signature` names; when there is no `f`, one
    /// that only releases `data` (`None` when there is no `drop` either: nothing to do).
    fn once_or_release(
        signature: Signature,
        f: Option<*const ()>,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Option<Self> {
        match f {
            Some(f) => Some(Self::new(signature, f, data, drop, Shots::Once)),
            None => drop.map(|_| {
                Self::new(
                    Signature::ReleaseOnly,
                    std::ptr::null(),
                    data,
                    drop,
                    Shots::Once,
                )
            }),
        }
    }

    /// The function as the type its signature names.
    ///
    /// # Safety
    /// `F` must be the function pointer type of `self.signature` (the constructors store a
    /// pointer of that type).
    #[inline(always)]
    unsafe fn function<F: Copy>(&self) -> F {
        debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*const ()>());
        // SAFETY: the caller names the type the pointer was made from; a function pointer and
        // a data pointer have the same size and representation on every target Rust supports.
        unsafe { std::mem::transmute_copy::<*const (), F>(&self.f) }
    }

    /// A callback that runs once. `PL_EINVAL` if `cb` is NULL.
    pub(crate) fn once(
        cb: pl_callback,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Plain,
            f as *const (),
            data,
            drop,
            Shots::Once,
        ))
    }

    /// A `setTimeout` callback: once, or again each time it is refreshed while the loop keeps it.
    pub(crate) fn timeout(
        cb: pl_callback,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Plain,
            f as *const (),
            data,
            drop,
            Shots::TimerOnce,
        ))
    }

    /// An interval's or idle/prepare/check handle's callback.
    pub(crate) fn repeating(
        cb: pl_callback,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Plain,
            f as *const (),
            data,
            drop,
            Shots::Repeating,
        ))
    }

    /// An fd watcher's callback.
    pub(crate) fn io(cb: pl_io_fn, data: *mut c_void, drop: pl_drop_fn) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Io,
            f as *const (),
            data,
            drop,
            Shots::Repeating,
        ))
    }

    /// A signal watcher's callback.
    pub(crate) fn signal(
        cb: pl_signal_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Signal,
            f as *const (),
            data,
            drop,
            Shots::Repeating,
        ))
    }

    /// A server's connection callback.
    pub(crate) fn connection(
        cb: pl_connection_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Connection,
            f as *const (),
            data,
            drop,
            Shots::Repeating,
        ))
    }

    /// A stream's read callback.
    pub(crate) fn read(cb: pl_read_fn, data: *mut c_void, drop: pl_drop_fn) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Read,
            f as *const (),
            data,
            drop,
            Shots::Repeating,
        ))
    }

    /// A UDP socket's receive callback.
    pub(crate) fn datagram(
        cb: pl_udp_recv_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::Datagram,
            f as *const (),
            data,
            drop,
            Shots::Repeating,
        ))
    }

    /// A pl_getaddrinfo completion (once). `PL_EINVAL` if `cb` is NULL: a lookup nobody hears
    /// of is a mistake.
    pub(crate) fn addrinfo(
        cb: pl_getaddrinfo_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::AddrInfo,
            f as *const (),
            data,
            drop,
            Shots::Once,
        ))
    }

    /// A pl_getnameinfo completion (once); `PL_EINVAL` if `cb` is NULL.
    pub(crate) fn nameinfo(
        cb: pl_getnameinfo_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Result<Self, c_int> {
        let f = cb.ok_or(PL_EINVAL)?;
        Ok(Self::new(
            Signature::NameInfo,
            f as *const (),
            data,
            drop,
            Shots::Once,
        ))
    }

    /// A child's exit callback (once); a NULL `cb` only releases `data` when the child is
    /// done with (libuv allows a process without an exit callback).
    pub(crate) fn exit(cb: pl_exit_fn, data: *mut c_void, drop: pl_drop_fn) -> Self {
        match cb {
            Some(f) => Self::new(Signature::Exit, f as *const (), data, drop, Shots::Once),
            None => Self::new(
                Signature::ReleaseOnly,
                std::ptr::null(),
                data,
                drop,
                Shots::Once,
            ),
        }
    }

    /// A connect's, write's or shutdown's callback (once); `None` for a NULL `cb` with no
    /// `drop` (nothing to call or release).
    pub(crate) fn stream_status(
        cb: pl_stream_status_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Option<Self> {
        Self::once_or_release(
            Signature::StreamStatus,
            cb.map(|f| f as *const ()),
            data,
            drop,
        )
    }

    /// A close callback: `None` when `cb` is NULL (no close callback; `data` and `drop` are then
    /// not taken).
    pub(crate) fn close(cb: pl_callback, data: *mut c_void, drop: pl_drop_fn) -> Option<Self> {
        cb.map(|f| Self::new(Signature::Plain, f as *const (), data, drop, Shots::Once))
    }

    /// A work request's completion: its callback, or just the release of its data when there is
    /// none (`None` when there is nothing to call at all).
    pub(crate) fn after_work(
        after: pl_after_work_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Option<Self> {
        Self::once_or_release(
            Signature::AfterWork,
            after.map(|f| f as *const ()),
            data,
            drop,
        )
    }

    /// A native job's completion (see [`CCallback::after_work`] for a NULL `done`).
    pub(crate) fn job_done(
        done: pl_job_done_fn,
        data: *mut c_void,
        drop: pl_drop_fn,
    ) -> Option<Self> {
        Self::once_or_release(Signature::JobDone, done.map(|f| f as *const ()), data, drop)
    }

    /// Hands ownership of `data` back to the caller: the call that took this callback failed, so
    /// the drop function must not run.
    pub(crate) fn disown(mut self) {
        self.drop = None;
    }

    /// Runs the drop function now (if it has not run) and forgets it.
    fn release(&mut self) {
        if let Some(drop) = self.drop.take() {
            // SAFETY: the caller gave `drop` for exactly this `data`; `take` makes it once.
            unsafe { drop(self.data) }
        }
    }
}

impl CCallback {
    /// Calls every callback but a plain one-shot one ([`Callback::call`]'s fast path), with the
    /// argument its event carries.
    #[inline(never)]
    fn dispatch(&mut self, lp: &Loop<Self>, event: Event) {
        if self.signature == Signature::ReleaseOnly {
            // A work request without a completion callback: completing releases its data.
            self.release();
            return;
        }
        let raw = lp.host().raw_loop();
        if self.shots == Shots::Once {
            // From now on the data is the callback's, which may free it.
            self.drop = None;
        }
        let data = self.data;
        // SAFETY: the function pointers and data were given together by the caller, who
        // promised they stay valid until the callback runs or is dropped; we are on the loop's
        // thread (the core only calls callbacks from `run`, which pl_run entered there). Each
        // arm reads the function as the type its signature names.
        unsafe {
            match (self.signature, event) {
                (Signature::Plain, _) => self.function::<PlainFn>()(raw, data),
                (Signature::Io, Event::Io { readable, writable }) => {
                    let f = self.function::<IoFn>();
                    let mut events = 0;
                    if readable {
                        events |= PL_READABLE;
                    }
                    if writable {
                        events |= PL_WRITABLE;
                    }
                    f(raw, data, 0, events)
                }
                (Signature::Io, Event::IoError(err)) => {
                    self.function::<IoFn>()(raw, data, io_status(&err), 0)
                }
                (Signature::Signal, Event::Signal(signum)) => {
                    self.function::<SignalFn>()(raw, data, signum)
                }
                (Signature::AfterWork, Event::Work(outcome)) => {
                    self.function::<AfterWorkFn>()(raw, data, work_status(&outcome))
                }
                (Signature::JobDone, Event::Work(outcome)) => {
                    let f = self.function::<JobDoneFn>();
                    let (status, result, len) = work_result(&outcome);
                    f(raw, data, status, result, len)
                }
                (Signature::Connection, Event::Connection(result)) => {
                    let f = self.function::<ConnectionFn>();
                    let server = lp.current_handle().map_or(0, |id| id.as_u64());
                    match result {
                        Ok(stream) => f(raw, server, data, 0, stream.as_u64()),
                        Err(err) => f(raw, server, data, io_status(&err), 0),
                    }
                }
                (
                    Signature::StreamStatus,
                    Event::Connect(result) | Event::Written(result) | Event::Shutdown(result),
                ) => {
                    let f = self.function::<StreamStatusFn>();
                    let stream = lp.current_handle().map_or(0, |id| id.as_u64());
                    let status = match result {
                        Ok(()) => 0,
                        Err(err) => io_status(&err),
                    };
                    f(raw, stream, data, status)
                }
                (Signature::Read, Event::Read(read)) => {
                    let f = self.function::<ReadFn>();
                    let stream = lp.current_handle().map_or(0, |id| id.as_u64());
                    match read {
                        ReadEvent::Data(bytes) => {
                            f(raw, stream, data, bytes.len() as isize, bytes.as_ptr())
                        }
                        ReadEvent::Eof => f(raw, stream, data, PL_EOF as isize, std::ptr::null()),
                        ReadEvent::Error(err) => f(
                            raw,
                            stream,
                            data,
                            io_status(&err) as isize,
                            std::ptr::null(),
                        ),
                    }
                }
                (Signature::Datagram, Event::Datagram(result)) => {
                    let socket = lp.current_handle().map_or(0, |id| id.as_u64());
                    crate::udp::deliver(self.function::<DatagramFn>(), raw, socket, data, result)
                }
                (Signature::AddrInfo, Event::Work(outcome)) => {
                    crate::dns::deliver_addrinfo(self.function::<AddrInfoFn>(), raw, data, outcome)
                }
                (Signature::NameInfo, Event::Work(outcome)) => {
                    crate::dns::deliver_nameinfo(self.function::<NameInfoFn>(), raw, data, outcome)
                }
                (Signature::Exit, Event::Exit(status)) => {
                    let f = self.function::<ExitFn>();
                    let process = lp.current_handle().map_or(0, |id| id.as_u64());
                    let code = status.code.map_or(0, i64::from);
                    f(raw, process, data, code, status.signal.unwrap_or(0))
                }
                // The core pairs each kind of callback with its own event; nothing else occurs.
                _ => {}
            }
        }
    }
}

impl Drop for CCallback {
    fn drop(&mut self) {
        self.release();
    }
}

/// The status alone (what a pl_after_work_fn sees): a job that returned is 0 without the
/// output's type being asked (a `dyn Any` call per job in [`work_result`]).
fn work_status(outcome: &WorkOutcome) -> c_int {
    match outcome {
        WorkOutcome::Done(_) => 0,
        other => work_result(other).0,
    }
}

/// The status a C completion callback sees for a work outcome, and the output bytes if any.
fn work_result(outcome: &WorkOutcome) -> (c_int, *const u8, usize) {
    match outcome {
        WorkOutcome::Done(value) => match value.downcast_ref::<Vec<u8>>() {
            Some(bytes) => (0, bytes.as_ptr(), bytes.len()),
            None => (0, std::ptr::null(), 0),
        },
        WorkOutcome::Failed(err) => {
            let status = match err.downcast_ref::<std::io::Error>() {
                Some(err) => io_status(err),
                None => PL_EIO,
            };
            (status, std::ptr::null(), 0)
        }
        WorkOutcome::Panicked(_) => (PL_EPANIC, std::ptr::null(), 0),
        WorkOutcome::Cancelled => (PL_ECANCELED, std::ptr::null(), 0),
    }
}

/// A waiting immediate without a drop function (most of them): its function and data, 16
/// bytes where a [`CCallback`] is 32. A million queued immediates are then as many pages for
/// the kernel to fault in and zero as libuv's check-handle FIFO of the same length; one with a
/// drop function waits whole beside the queue (see [`ImmediateSlot`]).
pub struct PlainImmediate {
    f: PlainFn,
    data: *mut c_void,
}

// The core's queue holds `Option<PlainImmediate>`: the function pointer's niche keeps it at two
// words.
const _: () =
    assert!(std::mem::size_of::<Option<PlainImmediate>>() == 2 * std::mem::size_of::<usize>());

// SAFETY: as for `CCallback`, whose parts these are.
unsafe impl Send for PlainImmediate {}

impl ImmediateSlot<CCallback> for PlainImmediate {
    #[inline(always)]
    fn pack(cb: CCallback) -> Result<Self, CCallback> {
        if (cb.signature, cb.shots) != (Signature::Plain, Shots::Once) || cb.drop.is_some() {
            return Err(cb);
        }
        let cb = std::mem::ManuallyDrop::new(cb);
        // SAFETY: a plain callback's function is a non-NULL PlainFn (`CCallback::once`).
        let f = unsafe { cb.function::<PlainFn>() };
        Ok(PlainImmediate { f, data: cb.data })
    }

    #[inline(always)]
    fn unpack(self) -> CCallback {
        CCallback::new(
            Signature::Plain,
            self.f as *const (),
            self.data,
            None,
            Shots::Once,
        )
    }

    /// C callbacks hold nothing a garbage collector looks for.
    fn callback(&self) -> Option<&CCallback> {
        None
    }
}

impl Callback for CCallback {
    /// C callbacks cannot fail (they return `void`), so `run` never stops for one.
    type Error = Infallible;
    /// The callback's `data` pointer, so a timeline can be matched with what was scheduled.
    type Label = usize;
    type Host = LoopHost;
    type Slot = PlainImmediate;

    /// Inlined into the loop's phases: the common case is a test and the C call, and the
    /// rest is [`CCallback::dispatch`], out of line so that its stack frame and saved registers
    /// are not paid by every immediate.
    #[inline(always)]
    fn call(&mut self, lp: &Loop<Self>, event: Event) -> Result<(), Infallible> {
        // The common case first, without the general dispatch below: a plain one-shot callback
        // (an immediate, tick, microtask, pending or remote call).
        if (self.signature, self.shots) == (Signature::Plain, Shots::Once) {
            self.drop = None;
            // A plain callback's event is `Fire`, which owns nothing: no drop to call for it.
            std::mem::forget(event);
            // SAFETY: as in the general case below; a plain callback's function is a PlainFn.
            unsafe { self.function::<PlainFn>()(lp.host().raw_loop(), self.data) };
            return Ok(());
        }
        self.dispatch(lp, event);
        Ok(())
    }

    fn label(&self) -> Option<usize> {
        Some(self.data as usize)
    }

    #[inline]
    fn fired(&mut self, kept: bool) {
        if self.shots == Shots::TimerOnce && !kept {
            // The loop forgets the timeout: it will never run again, and its data is the
            // callback's from now on (it may have freed it).
            self.drop = None;
        }
    }
}
