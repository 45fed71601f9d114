//! UDP sockets (libuv's `uv_udp_t`): open, bind, connect, receive into the loop's buffer, send
//! borrowed buffers with a queue when the socket would block, and the socket options.
//!
//! Where each callback runs is libuv's rule: datagrams in the poll phase; a send the kernel
//! takes inside pl_udp_send has its callback in the pending phase (libuv completes it from
//! `uv__io_feed`), a queued one in the poll phase when sent; unfinished sends get
//! PL_ECANCELED when the socket closes (pl_handle_close, close phase).

use std::net::IpAddr;
use std::os::raw::{c_char, c_int, c_void};

use phaseloop_core::{Datagram, SyncWrite};

use crate::addr::read_sockaddr;
use crate::callback::{pl_drop_fn, CCallback, DatagramFn};
use crate::entry::{with_loop, with_loop_or};
use crate::event_loop::{id, pl_id, pl_loop};
use crate::net::{buffers, pl_buf, request_status, text, write_address, LentBufs};
use crate::status::{io_status, status, status_of, PL_EINVAL, PL_OK};

/// pl_udp_bind flag: several sockets may bind the same address and port (`SO_REUSEADDR`,
/// and `SO_REUSEPORT` for unicast; libuv's `UV_UDP_REUSEADDR`).
pub const PL_UDP_REUSEADDR: c_int = 1;
/// pl_udp_bind flag: an IPv6 socket takes IPv6 datagrams only (`IPV6_V6ONLY`; libuv's
/// `UV_UDP_IPV6ONLY`).
pub const PL_UDP_IPV6ONLY: c_int = 2;

/// pl_udp_recv_fn flag: the datagram was larger than the loop's 64 KiB buffer and was cut
/// (libuv's `UV_UDP_PARTIAL`).
pub const PL_UDP_PARTIAL: c_int = 1;

/// pl_udp_set_membership: leave the group (libuv's `UV_LEAVE_GROUP`).
pub const PL_LEAVE_GROUP: c_int = 0;
/// pl_udp_set_membership: join the group (libuv's `UV_JOIN_GROUP`).
pub const PL_JOIN_GROUP: c_int = 1;

/// A UDP socket's receive callback, run in the poll phase once per datagram: `nread` >= 0
/// bytes at `buf` (a buffer of the loop's, valid only during the callback; an empty datagram
/// is `nread` 0 with `buf` and `addr` not NULL), from `addr` (a `struct sockaddr_in` or
/// `sockaddr_in6`, valid only during the callback), `flags` PL_UDP_PARTIAL when the datagram
/// was cut to fit the buffer. Or `nread` negative (PL_ECONNREFUSED on a connected socket whose
/// peer has nobody listening), `buf` and `addr` NULL; receiving goes on.
pub type pl_udp_recv_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        socket: pl_id,
        data: *mut c_void,
        nread: isize,
        buf: *const u8,
        addr: *const c_void,
        flags: c_int,
    ),
>;

/// A UDP send's callback: `status` 0 once the kernel took the datagram, or negative
/// (PL_EMSGSIZE for one too large, PL_ECONNREFUSED, PL_ECANCELED when the socket closed
/// first).
pub type pl_udp_send_fn =
    Option<unsafe extern "C" fn(lp: *mut pl_loop, socket: pl_id, data: *mut c_void, status: c_int)>;

/// Calls a receive callback with one datagram (or the error), the sender's address built in
/// storage that lives for the call.
///
/// # Safety
/// `f` and `data` were given together by the caller; on the loop thread.
pub(crate) unsafe fn deliver(
    f: DatagramFn,
    lp: *mut pl_loop,
    socket: pl_id,
    data: *mut c_void,
    result: std::io::Result<Datagram<'_>>,
) {
    match result {
        Ok(datagram) => {
            let from = socket2::SockAddr::from(datagram.from);
            let flags = if datagram.truncated {
                PL_UDP_PARTIAL
            } else {
                0
            };
            // SAFETY: the caller's function with its data; the bytes and the address live
            // until it returns, as the header says.
            unsafe {
                f(
                    lp,
                    socket,
                    data,
                    datagram.data.len() as isize,
                    datagram.data.as_ptr(),
                    from.as_ptr().cast(),
                    flags,
                )
            }
        }
        Err(err) => {
            let status = io_status(&err) as isize;
            // SAFETY: as above.
            unsafe {
                f(
                    lp,
                    socket,
                    data,
                    status,
                    std::ptr::null(),
                    std::ptr::null(),
                    0,
                )
            }
        }
    }
}

/// `uv_udp_init_ex`: a UDP socket of `family` 4 (IPv4) or 6 (IPv6, which also takes IPv4
/// unless bound with PL_UDP_IPV6ONLY), unbound; its id goes to `*out`. It binds on
/// pl_udp_bind, or to every interface and a free port at its first send or pl_udp_recv_start.
/// PL_EINVAL for another family. Closed with pl_handle_close. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_open(lp: *mut pl_loop, family: c_int, out: *mut pl_id) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() || (family != 4 && family != 6) {
            return PL_EINVAL;
        }
        match core.udp_open(family == 6) {
            Ok(socket) => {
                // SAFETY: a non-NULL `out` points to a pl_id.
                unsafe { out.write(socket.as_u64()) };
                PL_OK
            }
            Err(err) => status_of(&err),
        }
    })
}

/// `uv_udp_bind`: binds to `addr` (a `struct sockaddr_in` / `sockaddr_in6`, see pl_ip_addr;
/// port 0: any free port, see pl_udp_getsockname) with `flags` (PL_UDP_REUSEADDR,
/// PL_UDP_IPV6ONLY). PL_EADDRINUSE, PL_EACCES at once; PL_EINVAL for an address of the other
/// family, unknown flags, or a socket bound already.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_bind(
    lp: *mut pl_loop,
    socket: pl_id,
    addr: *const c_void,
    flags: c_int,
) -> c_int {
    with_loop(lp, |core| {
        // SAFETY: the caller's address (the header's contract).
        let addr = match unsafe { read_sockaddr(addr) } {
            Ok(addr) => addr,
            Err(status) => return status,
        };
        if flags & !(PL_UDP_REUSEADDR | PL_UDP_IPV6ONLY) != 0 {
            return PL_EINVAL;
        }
        status(core.udp_bind(
            id(socket),
            addr,
            flags & PL_UDP_REUSEADDR != 0,
            flags & PL_UDP_IPV6ONLY != 0,
        ))
    })
}

/// `uv_udp_connect`: sends without an address go to `addr`, and only its datagrams are
/// received. A peer with nobody listening shows as PL_ECONNREFUSED in the receive callback (or
/// a later send's).
#[no_mangle]
pub unsafe extern "C" fn pl_udp_connect(
    lp: *mut pl_loop,
    socket: pl_id,
    addr: *const c_void,
) -> c_int {
    with_loop(lp, |core| {
        // SAFETY: the caller's address.
        match unsafe { read_sockaddr(addr) } {
            Ok(addr) => status(core.udp_connect(id(socket), addr)),
            Err(status) => status,
        }
    })
}

/// `uv_udp_recv_start`: `cb` (see pl_udp_recv_fn) runs in the poll phase for each datagram
/// (binding to any port first if the socket is not bound). Replaces the callback of a socket
/// that is receiving already (the old one's drop runs). `drop(data)` runs when the socket
/// closes or the callback is replaced.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_recv_start(
    lp: *mut pl_loop,
    socket: pl_id,
    cb: pl_udp_recv_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    with_loop(lp, |core| {
        let cb = match CCallback::datagram(cb, data, drop) {
            Ok(cb) => cb,
            Err(status) => return status,
        };
        match core.udp_recv_start(id(socket), cb) {
            Ok(()) => PL_OK,
            Err(refused) => {
                refused.callback.disown();
                status_of(&refused.error)
            }
        }
    })
}

/// `uv_udp_recv_stop`: no more receive callbacks until pl_udp_recv_start.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_recv_stop(lp: *mut pl_loop, socket: pl_id) -> c_int {
    with_loop(lp, |core| status(core.udp_recv_stop(id(socket))))
}

/// `uv_udp_send`: one datagram of the `nbufs` buffers, to `addr` (NULL on a connected socket;
/// PL_EISCONN with one, PL_EDESTADDRREQ without one on an unconnected socket). The bytes are
/// borrowed, not copied: they must stay valid and unchanged until `cb` runs (the `pl_buf`
/// array itself may be reused at once). `cb(lp, socket, data, status)` runs once: in the
/// pending phase when the kernel took the datagram inside this call (or refused it:
/// PL_EMSGSIZE), else in the poll phase once sent from the queue; PL_ECANCELED when the socket
/// closed first. `cb` may be NULL. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_send(
    lp: *mut pl_loop,
    socket: pl_id,
    bufs: *const pl_buf,
    nbufs: usize,
    addr: *const c_void,
    cb: pl_udp_send_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
) -> c_int {
    with_loop(lp, |core| {
        // SAFETY: the caller's array and address (the header's contract).
        let (list, to) = match unsafe { send_args(bufs, nbufs, addr) } {
            Ok(args) => args,
            Err(status) => return status,
        };
        let cb = CCallback::stream_status(cb, data, drop);
        request_status(core.udp_send(id(socket), list, to, cb, SyncWrite::Pending))
    })
}

/// `uv_udp_try_send`: sends one datagram now, nothing queued. Returns the bytes sent (>= 0),
/// PL_EAGAIN when the kernel would block or sends are queued, or another negative status
/// (PL_EMSGSIZE, ...). `addr` as for pl_udp_send.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_try_send(
    lp: *mut pl_loop,
    socket: pl_id,
    bufs: *const pl_buf,
    nbufs: usize,
    addr: *const c_void,
) -> isize {
    with_loop_or(lp, PL_EINVAL as isize, |core| {
        // SAFETY: the caller's array and address.
        let (list, to) = match unsafe { send_args(bufs, nbufs, addr) } {
            Ok(args) => args,
            Err(status) => return status as isize,
        };
        match core.udp_try_send(id(socket), &list, to) {
            Ok(n) => n as isize,
            Err(err) => status_of(&err) as isize,
        }
    })
}

/// The buffers and the optional destination of a send, checked.
///
/// # Safety
/// As pl_udp_send's contract.
unsafe fn send_args(
    bufs: *const pl_buf,
    nbufs: usize,
    addr: *const c_void,
) -> Result<(LentBufs, Option<std::net::SocketAddr>), c_int> {
    // SAFETY: the caller's array.
    let list = unsafe { buffers(bufs, nbufs) }?;
    let to = if addr.is_null() {
        None
    } else {
        // SAFETY: the caller's address.
        Some(unsafe { read_sockaddr(addr) }?)
    };
    Ok((list, to))
}

/// Bytes of datagrams queued and not yet taken by the kernel (libuv's `send_queue_size`) into
/// `*out`.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_send_queue_size(
    lp: *mut pl_loop,
    socket: pl_id,
    out: *mut usize,
) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() {
            return PL_EINVAL;
        }
        match core.udp_send_queue_size(id(socket)) {
            Ok(size) => {
                // SAFETY: non-NULL, the caller's.
                unsafe { out.write(size) };
                PL_OK
            }
            Err(err) => status_of(&err),
        }
    })
}

/// `uv_udp_set_broadcast`: `SO_BROADCAST` on (1) or off (0).
#[no_mangle]
pub unsafe extern "C" fn pl_udp_set_broadcast(lp: *mut pl_loop, socket: pl_id, on: c_int) -> c_int {
    with_loop(lp, |core| {
        status(core.udp_set_broadcast(id(socket), on != 0))
    })
}

/// `uv_udp_set_ttl`: the unicast TTL (hop limit for IPv6), 1 to 255, else PL_EINVAL.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_set_ttl(lp: *mut pl_loop, socket: pl_id, ttl: c_int) -> c_int {
    with_loop(lp, |core| match u32::try_from(ttl) {
        Ok(ttl) => status(core.udp_set_ttl(id(socket), ttl)),
        Err(_) => PL_EINVAL,
    })
}

/// `uv_udp_set_multicast_ttl`: the multicast TTL, 0 to 255, else PL_EINVAL.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_set_multicast_ttl(
    lp: *mut pl_loop,
    socket: pl_id,
    ttl: c_int,
) -> c_int {
    with_loop(lp, |core| match u32::try_from(ttl) {
        Ok(ttl) => status(core.udp_set_multicast_ttl(id(socket), ttl)),
        Err(_) => PL_EINVAL,
    })
}

/// `uv_udp_set_multicast_loop`: whether this host's own multicast datagrams come back to it
/// (1) or not (0).
#[no_mangle]
pub unsafe extern "C" fn pl_udp_set_multicast_loop(
    lp: *mut pl_loop,
    socket: pl_id,
    on: c_int,
) -> c_int {
    with_loop(lp, |core| {
        status(core.udp_set_multicast_loop(id(socket), on != 0))
    })
}

/// `uv_udp_set_membership`: joins (PL_JOIN_GROUP) or leaves (PL_LEAVE_GROUP) the multicast
/// group `group` (text, "239.1.2.3" or "ff02::1") on `interface` (an address of this host's as
/// text, or NULL for the system's choice). PL_EINVAL for a group that is not multicast or text
/// that is not an address; binds the socket first if it is not bound.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_set_membership(
    lp: *mut pl_loop,
    socket: pl_id,
    group: *const c_char,
    interface: *const c_char,
    membership: c_int,
) -> c_int {
    with_loop(lp, |core| {
        // SAFETY: the caller's strings (NULL `interface` allowed, checked first).
        let parsed = unsafe {
            let group = text(group).map(str::parse::<IpAddr>);
            let interface = if interface.is_null() {
                Ok(None)
            } else {
                match text(interface).map(str::parse::<IpAddr>) {
                    Ok(Ok(ip)) => Ok(Some(ip)),
                    _ => Err(PL_EINVAL),
                }
            };
            (group, interface)
        };
        let (Ok(Ok(group)), Ok(interface)) = parsed else {
            return PL_EINVAL;
        };
        if membership != PL_JOIN_GROUP && membership != PL_LEAVE_GROUP {
            return PL_EINVAL;
        }
        status(core.udp_set_membership(id(socket), group, interface, membership == PL_JOIN_GROUP))
    })
}

/// `uv_udp_getsockname`: the local address into `addr`, a `struct sockaddr_storage` of `*len`
/// bytes; `*len` becomes the address's size.
#[no_mangle]
pub unsafe extern "C" fn pl_udp_getsockname(
    lp: *mut pl_loop,
    socket: pl_id,
    addr: *mut c_void,
    len: *mut c_int,
) -> c_int {
    // SAFETY: the caller's pointers, checked in write_address.
    with_loop(lp, |core| unsafe {
        write_address(core.local_address(id(socket)), addr, len)
    })
}
