//! Streams and servers (libuv's `uv_tcp_t`, `uv_pipe_t`, `uv_stream_t`): TCP and Unix-domain
//! servers and clients, pipe fds, reads into the loop's buffer, writes of borrowed buffers,
//! shutdown, and the generic handle calls (`pl_ref`, `pl_close`, ...) that work on any id.
//!
//! Where each callback runs is libuv's rule: connections, completed connects, reads and
//! writes that waited in the poll phase; a write the kernel takes whole inside pl_write, and a
//! connect that fails at once, in the pending phase; close callbacks in the close phase, after
//! the stream's unfinished requests got PL_ECANCELED there.

use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};
use std::os::raw::{c_char, c_int, c_void};
use std::path::Path;

use phaseloop_core::{Error, ListenOptions, NetAddr, SyncWrite, WriteBufs};

use crate::callback::{
    pl_callback, pl_connection_fn, pl_drop_fn, pl_read_fn, pl_stream_status_fn, CCallback,
};
use crate::entry::{schedule, with_loop};
use crate::event_loop::{id, pl_id, pl_loop};
use crate::status::{flag, status, status_of, PL_EINVAL, PL_OK};

/// One buffer of a pl_write: `len` bytes at `base`.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct pl_buf {
    /// The first byte.
    pub base: *const u8,
    /// How many bytes.
    pub len: usize,
}

/// pl_tcp_listen flag: an IPv6 server takes IPv6 connections only (`IPV6_V6ONLY`).
pub const PL_TCP_IPV6ONLY: c_int = 1;
/// pl_tcp_listen flag: `SO_REUSEPORT`, so several servers (processes) share the port.
pub const PL_TCP_REUSEPORT: c_int = 2;

/// The caller's buffers, lent until the write's callback (as libuv's `uv_write`): only the
/// array of pointers is copied, and a single buffer (nearly every datagram, most writes) is
/// held inline, so that lending it allocates nothing.
pub(crate) enum LentBufs {
    /// One buffer.
    One(pl_buf),
    /// Any other number of them.
    Many(Vec<pl_buf>),
}

// SAFETY: the bytes are the caller's, promised unchanged and alive until the write completes;
// the loop reads them on its own thread only.
unsafe impl Send for LentBufs {}

impl LentBufs {
    fn buf(&self, index: usize) -> pl_buf {
        match self {
            // `index` is 0: WriteBufs' callers keep it below `count()`.
            LentBufs::One(buf) => *buf,
            LentBufs::Many(list) => list[index],
        }
    }
}

impl WriteBufs for LentBufs {
    fn count(&self) -> usize {
        match self {
            LentBufs::One(_) => 1,
            LentBufs::Many(list) => list.len(),
        }
    }
    fn get(&self, index: usize) -> &[u8] {
        let buf = self.buf(index);
        if buf.len == 0 {
            return &[];
        }
        // SAFETY: the caller's contract (see the type).
        unsafe { std::slice::from_raw_parts(buf.base, buf.len) }
    }
}

/// The `pl_buf` array, checked: PL_EINVAL for NULL with a count, or a NULL base.
pub(crate) unsafe fn buffers(bufs: *const pl_buf, nbufs: usize) -> Result<LentBufs, c_int> {
    if nbufs == 0 {
        return Ok(LentBufs::Many(Vec::new()));
    }
    if bufs.is_null() {
        return Err(PL_EINVAL);
    }
    // SAFETY: the caller passes `nbufs` readable pl_buf (the header's contract).
    let list = unsafe { std::slice::from_raw_parts(bufs, nbufs) };
    if list.iter().any(|b| b.base.is_null() && b.len > 0) {
        return Err(PL_EINVAL);
    }
    Ok(match list {
        [one] => LentBufs::One(*one),
        _ => LentBufs::Many(list.to_vec()),
    })
}

/// A C string argument as UTF-8.
pub(crate) unsafe fn text<'a>(ptr: *const c_char) -> Result<&'a str, c_int> {
    if ptr.is_null() {
        return Err(PL_EINVAL);
    }
    // SAFETY: a non-NULL pointer is a NUL-terminated string (the header's contract).
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| PL_EINVAL)
}

/// The status of a request call; on refusal its callback is disowned (the caller keeps
/// `data`).
pub(crate) fn request_status(
    result: Result<Option<CCallback>, phaseloop_core::Refused<Option<CCallback>>>,
) -> c_int {
    match result {
        Ok(_) => PL_OK,
        Err(refused) => {
            if let Some(cb) = refused.callback {
                cb.disown();
            }
            status_of(&refused.error)
        }
    }
}

/// A TCP server on `host` (an IPv4 or IPv6 address; "0.0.0.0" or "::" for every interface) and
/// `port` (0: any free port, see pl_tcp_getsockname), with `backlog` pending connections (0:
/// 511) and `flags` (PL_TCP_IPV6ONLY, PL_TCP_REUSEPORT). `cb(lp, server, data, 0, stream)`
/// runs in the poll phase for each accepted connection; the new stream reads once
/// pl_read_start is called on it, and is closed with pl_handle_close. Bind errors come back at
/// once (PL_EADDRINUSE, PL_EACCES); PL_EINVAL for a host that is not an IP address. `drop(data)`
/// runs when the server is closed. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_tcp_listen(
    lp: *mut pl_loop,
    host: *const c_char,
    port: u16,
    backlog: c_int,
    flags: c_int,
    cb: pl_connection_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    // SAFETY: the caller's string (the header's contract); reading it cannot panic.
    let addr = match unsafe { text(host) }.map(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
    }) {
        Ok(Ok(ip)) => SocketAddr::new(ip, port),
        _ => return PL_EINVAL,
    };
    if backlog < 0 || flags & !(PL_TCP_IPV6ONLY | PL_TCP_REUSEPORT) != 0 {
        return PL_EINVAL;
    }
    let options = ListenOptions {
        backlog: if backlog == 0 { 511 } else { backlog },
        reuse_port: flags & PL_TCP_REUSEPORT != 0,
        ipv6_only: flags & PL_TCP_IPV6ONLY != 0,
    };
    schedule(
        lp,
        out,
        || CCallback::connection(cb, data, drop),
        |core, cb| core.tcp_listen(addr, options, cb),
    )
}

/// `net.connect(port, host)` / `uv_tcp_connect`: a TCP stream connecting to `host` (an IP
/// address, or a name resolved on the pool first, each address tried in turn). `cb(lp, stream,
/// data, status)` runs once: 0 when connected (poll phase), PL_ECONNREFUSED and the like when
/// it failed (poll phase, or pending phase when it failed inside this call), PL_ECANCELED when
/// the stream was closed first. Writes and pl_read_start may be called at once: they wait for
/// the connect. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_tcp_connect(
    lp: *mut pl_loop,
    host: *const c_char,
    port: u16,
    cb: pl_stream_status_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    // SAFETY: the caller's string.
    let host = match unsafe { text(host) } {
        Ok(host) => host.to_owned(),
        Err(status) => return status,
    };
    schedule(
        lp,
        out,
        || CCallback::stream_status(cb, data, drop).ok_or(PL_EINVAL),
        |core, cb| core.tcp_connect(&host, port, cb),
    )
}

/// A Unix-domain socket server on `path` (`uv_pipe_bind` + `uv_listen`); a path that exists is
/// PL_EADDRINUSE. The path is removed when the server closes. As pl_tcp_listen otherwise.
#[no_mangle]
pub unsafe extern "C" fn pl_pipe_listen(
    lp: *mut pl_loop,
    path: *const c_char,
    backlog: c_int,
    cb: pl_connection_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    // SAFETY: the caller's string.
    let path = match unsafe { text(path) } {
        Ok(path) => path.to_owned(),
        Err(status) => return status,
    };
    if backlog < 0 {
        return PL_EINVAL;
    }
    let backlog = if backlog == 0 { 511 } else { backlog };
    schedule(
        lp,
        out,
        || CCallback::connection(cb, data, drop),
        |core, cb| core.pipe_listen(Path::new(&path), backlog, cb),
    )
}

/// `uv_pipe_connect`: a stream connecting to the Unix-domain socket at `path`; as
/// pl_tcp_connect otherwise.
#[no_mangle]
pub unsafe extern "C" fn pl_pipe_connect(
    lp: *mut pl_loop,
    path: *const c_char,
    cb: pl_stream_status_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    // SAFETY: the caller's string.
    let path = match unsafe { text(path) } {
        Ok(path) => path.to_owned(),
        Err(status) => return status,
    };
    schedule(
        lp,
        out,
        || CCallback::stream_status(cb, data, drop).ok_or(PL_EINVAL),
        |core, cb| core.pipe_connect(Path::new(&path), cb),
    )
}

/// `uv_pipe_open`: `fd` (a pipe, a socket, a tty) becomes a stream of the loop, made
/// non-blocking; the stream owns it from now on (pl_handle_close closes it). PL_EBADF for an
/// fd that is not open (it stays the caller's). Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_pipe_open(lp: *mut pl_loop, fd: c_int, out: *mut pl_id) -> c_int {
    with_loop(lp, |core| match core.pipe_open(fd) {
        Ok(stream) => {
            if !out.is_null() {
                // SAFETY: a non-NULL `out` points to a pl_id.
                unsafe { out.write(stream.as_u64()) };
            }
            PL_OK
        }
        Err(err) => status_of(&err),
    })
}

/// `uv_read_start`: `cb(lp, stream, data, nread, buf)` in the poll phase for each chunk read
/// (at most 64 KiB, in a buffer of the loop's valid during the callback), then once with
/// PL_EOF or an error, after which reading has stopped. Replaces the read callback of a stream
/// that is reading already (the old one's drop runs). `drop(data)` runs when the stream closes
/// or the callback is replaced. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_read_start(
    lp: *mut pl_loop,
    stream: pl_id,
    cb: pl_read_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    with_loop(lp, |core| {
        let cb = match CCallback::read(cb, data, drop) {
            Ok(cb) => cb,
            Err(status) => return status,
        };
        match core.read_start(id(stream), cb) {
            Ok(()) => PL_OK,
            Err(refused) => {
                refused.callback.disown();
                status_of(&refused.error)
            }
        }
    })
}

/// `uv_read_stop`: no more read callbacks until pl_read_start (the peer's writes then wait in
/// the kernel: backpressure).
#[no_mangle]
pub unsafe extern "C" fn pl_read_stop(lp: *mut pl_loop, stream: pl_id) -> c_int {
    with_loop(lp, |core| status(core.read_stop(id(stream))))
}

/// `uv_write`: queues the `nbufs` buffers behind the stream's earlier writes and writes what
/// the kernel takes now. The bytes are borrowed, not copied: they must stay valid and unchanged
/// until `cb` runs (the `pl_buf` array itself may be reused at once). `cb(lp, stream, data,
/// status)` runs once: in the pending phase when the kernel took every byte inside this call,
/// else in the poll phase when written; PL_EPIPE (peer gone, or after pl_shutdown),
/// PL_ECONNRESET, or PL_ECANCELED when the stream closed first. `cb` may be NULL. Loop thread
/// only.
#[no_mangle]
pub unsafe extern "C" fn pl_write(
    lp: *mut pl_loop,
    stream: pl_id,
    bufs: *const pl_buf,
    nbufs: usize,
    cb: pl_stream_status_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    with_loop(lp, |core| {
        // SAFETY: the caller's array (the header's contract).
        let list = match unsafe { buffers(bufs, nbufs) } {
            Ok(list) => list,
            Err(status) => return status,
        };
        let cb = CCallback::stream_status(cb, data, drop);
        request_status(core.write(id(stream), Box::new(list), cb, SyncWrite::Pending))
    })
}

/// `uv_try_write`: writes what the kernel takes now, nothing queued. Returns the number of
/// bytes written (>= 0), PL_EAGAIN when the kernel takes nothing or earlier writes are still
/// queued, or another negative status.
#[no_mangle]
pub unsafe extern "C" fn pl_try_write(
    lp: *mut pl_loop,
    stream: pl_id,
    bufs: *const pl_buf,
    nbufs: usize,
) -> isize {
    crate::entry::with_loop_or(lp, PL_EINVAL as isize, |core| {
        // SAFETY: the caller's array.
        let lent = match unsafe { buffers(bufs, nbufs) } {
            Ok(lent) => lent,
            Err(status) => return status as isize,
        };
        let slices: Vec<&[u8]> = (0..lent.count()).map(|i| lent.get(i)).collect();
        match core.try_write(id(stream), &slices) {
            Ok(n) => n as isize,
            Err(err) => status_of(&err) as isize,
        }
    })
}

/// `uv_shutdown`: once every queued write is written, shuts the stream's write side (the peer
/// reads its end) and runs `cb(lp, stream, data, status)` in the poll phase. Later writes get
/// PL_EPIPE. `cb` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn pl_shutdown(
    lp: *mut pl_loop,
    stream: pl_id,
    cb: pl_stream_status_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    with_loop(lp, |core| {
        let cb = CCallback::stream_status(cb, data, drop);
        request_status(core.shutdown(id(stream), cb).map(|()| None))
    })
}

/// Bytes queued on the stream and not yet written (libuv's `write_queue_size`) into `*out`.
#[no_mangle]
pub unsafe extern "C" fn pl_stream_write_queue_size(
    lp: *mut pl_loop,
    stream: pl_id,
    out: *mut usize,
) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() {
            return PL_EINVAL;
        }
        match core.write_queue_size(id(stream)) {
            Ok(size) => {
                // SAFETY: non-NULL, the caller's.
                unsafe { out.write(size) };
                PL_OK
            }
            Err(err) => status_of(&err),
        }
    })
}

/// Bytes read from and written to the stream so far, into `*read` and `*written` (either may be
/// NULL).
#[no_mangle]
pub unsafe extern "C" fn pl_stream_bytes(
    lp: *mut pl_loop,
    stream: pl_id,
    read: *mut u64,
    written: *mut u64,
) -> c_int {
    with_loop(lp, |core| match core.stream_bytes(id(stream)) {
        Ok((r, w)) => {
            // SAFETY: non-NULL pointers are the caller's.
            unsafe {
                if !read.is_null() {
                    read.write(r);
                }
                if !written.is_null() {
                    written.write(w);
                }
            }
            PL_OK
        }
        Err(err) => status_of(&err),
    })
}

/// `uv_tcp_nodelay`: `TCP_NODELAY` on (1) or off (0).
#[no_mangle]
pub unsafe extern "C" fn pl_tcp_nodelay(lp: *mut pl_loop, stream: pl_id, enable: c_int) -> c_int {
    with_loop(lp, |core| status(core.set_nodelay(id(stream), enable != 0)))
}

/// `uv_tcp_keepalive`: keep-alive probes after `delay` idle seconds (0: the system's).
#[no_mangle]
pub unsafe extern "C" fn pl_tcp_keepalive(
    lp: *mut pl_loop,
    stream: pl_id,
    enable: c_int,
    delay: u32,
) -> c_int {
    with_loop(lp, |core| {
        status(core.set_keepalive(id(stream), enable != 0, delay))
    })
}

/// Writes a socket address as `struct sockaddr_in` / `sockaddr_in6` / `sockaddr_un` into
/// `addr` (at most `*len` bytes); `*len` becomes its size.
pub(crate) unsafe fn write_address(
    result: Result<NetAddr, Error>,
    addr: *mut c_void,
    len: *mut c_int,
) -> c_int {
    if addr.is_null() || len.is_null() {
        return PL_EINVAL;
    }
    let sockaddr = match result {
        Ok(NetAddr::Inet(inet)) => socket2::SockAddr::from(inet),
        Ok(NetAddr::Unix(path)) => match socket2::SockAddr::unix(path) {
            Ok(a) => a,
            Err(_) => return PL_EINVAL,
        },
        Err(err) => return status_of(&err),
    };
    // SAFETY: `len` is the caller's int; `addr` has at least `*len` bytes.
    unsafe {
        let room = (*len).max(0) as usize;
        let size = sockaddr.len() as usize;
        if room < size {
            return PL_EINVAL;
        }
        std::ptr::copy_nonoverlapping(sockaddr.as_ptr().cast::<u8>(), addr.cast::<u8>(), size);
        len.write(size as c_int);
    }
    PL_OK
}

/// `uv_tcp_getsockname` (also for Unix streams and servers): the local address into `addr`, a
/// `struct sockaddr_storage` of `*len` bytes; `*len` becomes the address's size.
#[no_mangle]
pub unsafe extern "C" fn pl_tcp_getsockname(
    lp: *mut pl_loop,
    handle: pl_id,
    addr: *mut c_void,
    len: *mut c_int,
) -> c_int {
    // SAFETY: the caller's pointers, checked in write_address.
    with_loop(lp, |core| unsafe {
        write_address(core.local_address(id(handle)), addr, len)
    })
}

/// `uv_tcp_getpeername`: the peer's address; PL_ENOTCONN before the stream connects.
#[no_mangle]
pub unsafe extern "C" fn pl_tcp_getpeername(
    lp: *mut pl_loop,
    handle: pl_id,
    addr: *mut c_void,
    len: *mut c_int,
) -> c_int {
    // SAFETY: as above.
    with_loop(lp, |core| unsafe {
        write_address(core.peer_address(id(handle)), addr, len)
    })
}

// ----- the handle calls every id shares ------------------------------------------------------

/// pl_handle_close, by its shorter name.
#[no_mangle]
pub unsafe extern "C" fn pl_close(
    lp: *mut pl_loop,
    handle: pl_id,
    cb: pl_callback,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    crate::entry::close_with(lp, cb, data, drop, |core, close_cb| {
        core.close_handle(id(handle), close_cb)
    })
}

/// `uv_ref` of any handle: it keeps pl_run(PL_RUN_DEFAULT) going while active (the default).
#[no_mangle]
pub unsafe extern "C" fn pl_ref(lp: *mut pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_ref(id(handle), true)))
}

/// `uv_unref` of any handle: the loop may end while it is still active.
#[no_mangle]
pub unsafe extern "C" fn pl_unref(lp: *mut pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| status(core.set_ref(id(handle), false)))
}

/// `uv_has_ref`: 1 or 0, or a negative status (PL_ENOENT for an id that names nothing live).
#[no_mangle]
pub unsafe extern "C" fn pl_has_ref(lp: *const pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| flag(core.has_ref(id(handle))))
}

/// `uv_is_active`: 1 for an armed timer, a queued immediate, a started handle or watcher, a
/// stream that is listening, reading, connecting, writing or shutting down; else 0 (also for
/// stale ids).
#[no_mangle]
pub unsafe extern "C" fn pl_is_active(lp: *const pl_loop, handle: pl_id) -> c_int {
    with_loop(lp, |core| core.is_active(id(handle)) as c_int)
}
