//! UDP sockets (libuv's `uv_udp_t`, Node's `dgram`): bind, connected or addressed sends with
//! a queue for when the socket would block, datagrams received into the loop's read buffer,
//! broadcast, TTLs and multicast membership.
//!
//! A UDP socket lives in the stream table (one table for every socket handle, so the generic
//! lifecycle, `handles()` and the poller registration are the streams'); its UDP state is the
//! entry's `udp` field. Where its callbacks run is libuv's rule: a datagram in the poll phase;
//! a send the kernel takes inside [`Loop::udp_send`] in the pending phase, one that had to wait
//! in the poll phase; sends still queued at a close with `ECANCELED` in the close phase.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use socket2::{Domain, SockAddr, SockRef, Type};

use crate::callback::{Callback, Event};
use crate::error::{Error, RunError};
use crate::event_loop::{Loop, Pending, Refused};
use crate::id::Id;
use crate::net::stream::{Deferred, DeferredResult, StreamEntry};
use crate::net::write_queue::total_len;
use crate::net::{StreamKind, SyncWrite, WriteBufs, READS_PER_EVENT, READ_BUFFER_SIZE};
use crate::trace::Kind;

/// A received datagram ([`crate::Event::Datagram`]).
#[derive(Debug)]
pub struct Datagram<'a> {
    /// The bytes, in the loop's read buffer (valid during the callback); may be empty.
    pub data: &'a [u8],
    /// Who sent it.
    pub from: SocketAddr,
    /// The datagram was larger than the read buffer and was cut (libuv's `UV_UDP_PARTIAL`).
    pub truncated: bool,
}

/// A send waiting for the socket to take it.
struct UdpSend<C> {
    bufs: Box<dyn WriteBufs>,
    to: Option<SockAddr>,
    cb: Option<C>,
}

/// The UDP part of a stream-table entry.
pub(crate) struct UdpState<C> {
    pub(crate) recv_cb: Option<C>,
    pub(crate) receiving: bool,
    sends: VecDeque<UdpSend<C>>,
    /// Bytes queued in `sends` (libuv's `send_queue_size`).
    pub(crate) queued: usize,
    pub(crate) bound: bool,
    pub(crate) connected: bool,
    domain: Domain,
}

impl<C> UdpState<C> {
    pub(crate) fn sending(&self) -> bool {
        !self.sends.is_empty()
    }

    /// Every callback it holds, queued sends first (in order), then the receive callback.
    pub(crate) fn take_callbacks(&mut self) -> (Vec<C>, Option<C>) {
        self.queued = 0;
        let sends = self.sends.drain(..).filter_map(|s| s.cb).collect();
        (sends, self.recv_cb.take())
    }

    pub(crate) fn callbacks(&self) -> impl Iterator<Item = &C> {
        self.sends
            .iter()
            .filter_map(|s| s.cb.as_ref())
            .chain(self.recv_cb.iter())
    }
}

/// How many buffers a send takes from the stack; more are gathered into a `Vec`.
const STACK_IOVECS: usize = 8;

/// Sends one datagram now: the bytes sent, or the error (`WouldBlock` included).
fn send_now(fd: i32, bufs: &dyn WriteBufs, to: Option<&SockAddr>) -> io::Result<usize> {
    let iovec = |i: usize| {
        let b = bufs.get(i);
        libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        }
    };
    // A datagram of a few buffers (nearly every one) needs no allocation.
    let count = bufs.count();
    let mut stack = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; STACK_IOVECS];
    let heap: Vec<libc::iovec>;
    let iov: &[libc::iovec] = if count <= STACK_IOVECS {
        for (i, slot) in stack.iter_mut().enumerate().take(count) {
            *slot = iovec(i);
        }
        &stack[..count]
    } else {
        heap = (0..count).map(iovec).collect();
        &heap
    };
    // SAFETY: a zeroed msghdr is valid; every pointer in it outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    if let Some(to) = to {
        msg.msg_name = to.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = to.len();
    }
    loop {
        // SAFETY: fd is the socket's own; msg is valid for the call.
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Receives one datagram into `buf`: its length, its sender, and whether it was cut.
fn recv_now(fd: i32, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, bool)> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; it points at `storage` and `iov`, which outlive it.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = storage.as_mut_ptr().cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    loop {
        // SAFETY: fd is the socket's own; msg is valid for the call.
        let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        if n >= 0 {
            // SAFETY: recvmsg wrote a socket address of msg_namelen bytes into storage.
            let addr = unsafe { SockAddr::new(storage.assume_init(), msg.msg_namelen) };
            let from = addr
                .as_socket()
                .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
            return Ok((n as usize, from, msg.msg_flags & libc::MSG_TRUNC != 0));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn errno(code: i32) -> Error {
    Error::Io(io::Error::from_raw_os_error(code))
}

/// The address family of a socket address.
fn domain_of(addr: &SocketAddr) -> Domain {
    Domain::for_address(*addr)
}

impl<C: Callback> Loop<C> {
    /// `dgram.createSocket`: an unbound UDP socket of `ipv6`'s family. It binds on
    /// [`Loop::udp_bind`], or to every interface and any port at its first send or receive.
    pub fn udp_open(&self, ipv6: bool) -> Result<Id, Error> {
        self.check_open()?;
        let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket = socket2::Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), None)
            .map_err(Error::Io)?;
        if ipv6 {
            // Both families on one socket, as libuv's default (unless udp_bind says otherwise).
            let _ = socket.set_only_v6(false);
        }
        let mut entry = StreamEntry::new(Some(OwnedFd::from(socket)), StreamKind::Udp);
        entry.udp = Some(Box::new(UdpState {
            recv_cb: None,
            receiving: false,
            sends: VecDeque::new(),
            queued: 0,
            bound: false,
            connected: false,
            domain,
        }));
        Ok(self.st().streams.slab.insert(entry))
    }

    /// A UDP socket over `fd`, an IPv4 or IPv6 datagram socket that stays the caller's: as
    /// [`Loop::stream_over`], closing the socket or the loop only forgets the fd. It is taken
    /// as it is: bound or not (the kernel binds it at its first send), connected if it has a
    /// peer; it is made non-blocking. Anything but an IP datagram socket is `EINVAL`.
    pub fn udp_over(&self, fd: std::os::fd::RawFd) -> Result<Id, Error> {
        use std::os::fd::FromRawFd;
        self.check_open()?;
        if fd < 0 {
            return Err(Error::InvalidArgument(
                "fd must be a non-negative file descriptor",
            ));
        }
        // SAFETY: only borrowed for the checks below; `fd` is the caller's open fd.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&borrowed);
        let local = socket.local_addr().map_err(Error::Io)?;
        let domain = match local.as_socket() {
            Some(SocketAddr::V4(_)) => Domain::IPV4,
            Some(SocketAddr::V6(_)) => Domain::IPV6,
            None => return Err(errno(libc::EINVAL)),
        };
        if socket.r#type().map_err(Error::Io)? != Type::DGRAM {
            return Err(errno(libc::EINVAL));
        }
        let connected = socket.peer_addr().is_ok();
        socket.set_nonblocking(true).map_err(Error::Io)?;
        // SAFETY: the entry is borrowed, so dropping it forgets the fd instead of closing it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut entry = StreamEntry::new(Some(owned), StreamKind::Udp);
        entry.borrowed = true;
        entry.udp = Some(Box::new(UdpState {
            recv_cb: None,
            receiving: false,
            sends: VecDeque::new(),
            queued: 0,
            // The kernel binds an unbound socket at its first send, as it would for the
            // caller's own socket calls; the loop does not bind it itself.
            bound: true,
            connected,
            domain,
        }));
        Ok(self.st().streams.slab.insert(entry))
    }

    /// `uv_udp_bind`: binds to `addr` (port 0: any free port). `reuse_address` lets several
    /// sockets bind one address (`SO_REUSEADDR`, and `SO_REUSEPORT` for unicast sharing, as
    /// Node's `reuseAddr`); `ipv6_only` keeps an IPv6 socket off IPv4. `EADDRINUSE`,
    /// `EACCES` are returned at once; an address of the other family is `EINVAL`.
    pub fn udp_bind(
        &self,
        id: Id,
        addr: SocketAddr,
        reuse_address: bool,
        ipv6_only: bool,
    ) -> Result<(), Error> {
        self.with_udp(id, |socket, udp| {
            if udp.bound {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            if domain_of(&addr) != udp.domain {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            if reuse_address {
                socket.set_reuse_address(true)?;
                socket.set_reuse_port(true)?;
            }
            if addr.is_ipv6() {
                socket.set_only_v6(ipv6_only)?;
            }
            socket.bind(&addr.into())?;
            udp.bound = true;
            Ok(())
        })
    }

    /// `uv_udp_connect`: sends without an address go to `addr`, and only datagrams from it
    /// are received (connected UDP; a port nobody listens on then reports `ECONNREFUSED`).
    pub fn udp_connect(&self, id: Id, addr: SocketAddr) -> Result<(), Error> {
        self.with_udp(id, |socket, udp| {
            socket.connect(&addr.into())?;
            udp.bound = true;
            udp.connected = true;
            Ok(())
        })
    }

    /// `uv_udp_recv_start`: `cb` gets [`Event::Datagram`] in the poll phase for each datagram
    /// (binding to any port first if the socket is not bound).
    pub fn udp_recv_start(&self, id: Id, cb: C) -> Result<(), Refused<C>> {
        if let Err(error) = self.ensure_bound(id) {
            return Err(Refused {
                error,
                callback: cb,
            });
        }
        let old = {
            let mut st = self.st();
            let Some(udp) = st.streams.slab.get_mut(id).and_then(|e| e.udp.as_mut()) else {
                return Err(Refused {
                    error: Error::NotFound,
                    callback: cb,
                });
            };
            udp.receiving = true;
            udp.recv_cb.replace(cb)
        };
        drop(old);
        let _ = self.sync_stream(id);
        Ok(())
    }

    /// `uv_udp_recv_stop`.
    pub fn udp_recv_stop(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        {
            let mut st = self.st();
            let udp = st
                .streams
                .slab
                .get_mut(id)
                .and_then(|e| e.udp.as_mut())
                .ok_or(Error::NotFound)?;
            udp.receiving = false;
        }
        self.sync_stream(id)
    }

    /// `uv_udp_send`: one datagram of `bufs` to `to` (`None` on a connected socket). Sent at
    /// once when nothing is queued and the kernel takes it, with `cb` ([`Event::Written`]) in
    /// the pending phase ([`SyncWrite::Pending`], libuv) or handed back as `Ok(Some(cb))` for
    /// the caller's tick queue ([`SyncWrite::Tick`], Node's `dgram`); else queued and sent from
    /// the poll phase, `cb` there. A datagram too
    /// large is `EMSGSIZE` in `cb`; a send after close is refused.
    ///
    /// `bufs` is boxed only when the send must wait in the queue: a datagram the kernel takes
    /// at once costs no allocation (any [`WriteBufs`]; a `Box<dyn WriteBufs>` is not boxed
    /// again).
    pub fn udp_send<B: WriteBufs + 'static>(
        &self,
        id: Id,
        bufs: B,
        to: Option<SocketAddr>,
        cb: Option<C>,
        sync: SyncWrite,
    ) -> Result<Option<C>, Refused<Option<C>>> {
        let refuse = |error, callback| Err(Refused { error, callback });
        let bound = match self.udp_flags(id) {
            Err(error) => return refuse(error, cb),
            Ok((true, _)) if to.is_some() => return refuse(errno(libc::EISCONN), cb),
            Ok((false, _)) if to.is_none() => return refuse(errno(libc::EDESTADDRREQ), cb),
            Ok((_, bound)) => bound,
        };
        if !bound {
            if let Err(error) = self.ensure_bound(id) {
                return refuse(error, cb);
            }
        }
        let to = to.map(SockAddr::from);
        let mut st = self.st();
        let st = &mut *st;
        let Some(entry) = st.streams.slab.get_mut(id) else {
            return refuse(Error::NotFound, cb);
        };
        let fd = match entry.raw_fd() {
            Ok(fd) => fd,
            Err(error) => return refuse(error, cb),
        };
        let udp = entry.udp.as_mut().expect("checked above");
        if udp.sends.is_empty() {
            match send_now(fd, &bufs, to.as_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                result => {
                    if let Ok(n) = &result {
                        entry.bytes_written += *n as u64;
                    }
                    let Some(cb) = cb else { return Ok(None) };
                    if sync == SyncWrite::Tick && result.is_ok() {
                        return Ok(Some(cb));
                    }
                    st.pending.push_back(Pending::Stream(Deferred {
                        stream: id,
                        cb,
                        result: DeferredResult::Sent(result.map(drop)),
                    }));
                    return Ok(None);
                }
            }
        }
        udp.queued += total_len(&bufs);
        udp.sends.push_back(UdpSend {
            bufs: bufs.into_boxed(),
            to,
            cb,
        });
        drop(st.streams.sync(&self.inbox.poller, id));
        Ok(None)
    }

    /// `uv_udp_try_send`: sends now or fails (`EAGAIN` when the kernel would block or sends
    /// are queued); nothing is queued.
    pub fn udp_try_send(
        &self,
        id: Id,
        bufs: &dyn WriteBufs,
        to: Option<SocketAddr>,
    ) -> Result<usize, Error> {
        self.ensure_bound(id)?;
        let mut st = self.st();
        let entry = st.streams.slab.get_mut(id).ok_or(Error::NotFound)?;
        let fd = entry.raw_fd()?;
        let udp = entry.udp.as_ref().ok_or(Error::NotFound)?;
        if udp.sending() {
            return Err(errno(libc::EAGAIN));
        }
        let n = send_now(fd, bufs, to.map(SockAddr::from).as_ref()).map_err(Error::Io)?;
        entry.bytes_written += n as u64;
        Ok(n)
    }

    /// Bytes of sends queued and not yet taken by the kernel (`send_queue_size`).
    pub fn udp_send_queue_size(&self, id: Id) -> Result<usize, Error> {
        self.check_open()?;
        let st = self.state.borrow();
        let udp = st
            .streams
            .slab
            .get(id)
            .and_then(|e| e.udp.as_ref())
            .ok_or(Error::NotFound)?;
        Ok(udp.queued)
    }

    /// `SO_BROADCAST`.
    pub fn udp_set_broadcast(&self, id: Id, on: bool) -> Result<(), Error> {
        self.with_udp(id, |s, _| s.set_broadcast(on))
    }

    /// The unicast TTL (1 to 255).
    pub fn udp_set_ttl(&self, id: Id, ttl: u32) -> Result<(), Error> {
        if !(1..=255).contains(&ttl) {
            return Err(Error::InvalidArgument("ttl must be in 1..=255"));
        }
        self.with_udp(id, |s, udp| {
            if udp.domain == Domain::IPV6 {
                s.set_unicast_hops_v6(ttl)
            } else {
                s.set_ttl(ttl)
            }
        })
    }

    /// The multicast TTL (0 to 255).
    pub fn udp_set_multicast_ttl(&self, id: Id, ttl: u32) -> Result<(), Error> {
        if ttl > 255 {
            return Err(Error::InvalidArgument("ttl must be in 0..=255"));
        }
        self.with_udp(id, |s, udp| {
            if udp.domain == Domain::IPV6 {
                s.set_multicast_hops_v6(ttl)
            } else {
                s.set_multicast_ttl_v4(ttl)
            }
        })
    }

    /// Whether this host's own multicast datagrams come back to it.
    pub fn udp_set_multicast_loop(&self, id: Id, on: bool) -> Result<(), Error> {
        self.with_udp(id, |s, udp| {
            if udp.domain == Domain::IPV6 {
                s.set_multicast_loop_v6(on)
            } else {
                s.set_multicast_loop_v4(on)
            }
        })
    }

    /// Joins (`join`) or leaves a multicast group, on `interface` (an address of this
    /// host's; IPv4 `None`: the system's choice).
    pub fn udp_set_membership(
        &self,
        id: Id,
        group: IpAddr,
        interface: Option<IpAddr>,
        join: bool,
    ) -> Result<(), Error> {
        if !group.is_multicast() {
            return Err(Error::InvalidArgument("group must be a multicast address"));
        }
        self.ensure_bound(id)?;
        self.with_udp(id, |s, _| match group {
            IpAddr::V4(g) => {
                let iface = match interface {
                    Some(IpAddr::V4(i)) => i,
                    Some(IpAddr::V6(_)) => {
                        return Err(io::Error::from_raw_os_error(libc::EINVAL));
                    }
                    None => Ipv4Addr::UNSPECIFIED,
                };
                if join {
                    s.join_multicast_v4(&g, &iface)
                } else {
                    s.leave_multicast_v4(&g, &iface)
                }
            }
            IpAddr::V6(g) => {
                if join {
                    s.join_multicast_v6(&g, 0)
                } else {
                    s.leave_multicast_v6(&g, 0)
                }
            }
        })
    }

    // ----- the poll phase ---------------------------------------------------------------------

    /// A UDP socket is ready: datagrams first (at most [`READS_PER_EVENT`]), then the queue.
    pub(crate) fn udp_ready(
        &self,
        id: Id,
        readable: bool,
        writable: bool,
    ) -> Result<(), RunError<C::Error>> {
        if readable {
            self.udp_recv_ready(id)?;
        }
        if writable {
            self.udp_send_ready(id)?;
        }
        Ok(())
    }

    fn udp_recv_ready(&self, id: Id) -> Result<(), RunError<C::Error>> {
        for _ in 0..READS_PER_EVENT {
            let fd = {
                let st = self.state.borrow();
                let Some(entry) = st.streams.slab.get(id) else {
                    return Ok(());
                };
                let Some(fd) = entry.fd.as_ref().map(|fd| fd.as_raw_fd()) else {
                    return Ok(());
                };
                match entry.udp.as_ref() {
                    Some(udp) if udp.receiving && udp.recv_cb.is_some() => fd,
                    _ => return Ok(()),
                }
            };
            let mut buffer = self
                .read_buffer
                .take()
                .unwrap_or_else(|| vec![0u8; READ_BUFFER_SIZE].into_boxed_slice());
            let received = recv_now(fd, &mut buffer);
            // The read that finds the socket empty (every event ends with one) touches
            // nothing else: the callback is taken out only for a datagram or an error.
            if matches!(&received, Err(err) if err.kind() == io::ErrorKind::WouldBlock) {
                self.read_buffer.set(Some(buffer));
                return Ok(());
            }
            let taken = {
                let mut st = self.st();
                st.streams.slab.get_mut(id).and_then(|entry| {
                    if let Ok((n, _, _)) = &received {
                        entry.bytes_read += *n as u64;
                    }
                    entry.udp.as_mut().and_then(|udp| udp.recv_cb.take())
                })
            };
            let Some(mut cb) = taken else {
                self.read_buffer.set(Some(buffer));
                return Ok(());
            };
            let event = Event::Datagram(received.map(|(n, from, truncated)| Datagram {
                data: &buffer[..n],
                from,
                truncated,
            }));
            let result = self.invoke(Kind::Udp, id.as_u64(), &mut cb, event);
            self.read_buffer.set(Some(buffer));
            let unused = {
                let mut st = self.st();
                match st.streams.slab.get_mut(id).and_then(|e| e.udp.as_mut()) {
                    Some(udp) if udp.recv_cb.is_none() => {
                        udp.recv_cb = Some(cb);
                        None
                    }
                    _ => Some(cb),
                }
            };
            drop(unused);
            result.map_err(RunError::Callback)?;
            self.drain_after_callback()?;
        }
        Ok(())
    }

    fn udp_send_ready(&self, id: Id) -> Result<(), RunError<C::Error>> {
        let mut done = Vec::new();
        {
            let mut st = self.st();
            let st = &mut *st;
            let Some(entry) = st.streams.slab.get_mut(id) else {
                return Ok(());
            };
            let Ok(fd) = entry.raw_fd() else {
                return Ok(());
            };
            let mut written = 0u64;
            if let Some(udp) = entry.udp.as_mut() {
                while let Some(send) = udp.sends.front() {
                    let result = send_now(fd, &*send.bufs, send.to.as_ref());
                    if matches!(&result, Err(err) if err.kind() == io::ErrorKind::WouldBlock) {
                        break;
                    }
                    let send = udp.sends.pop_front().expect("front exists");
                    udp.queued -= total_len(&*send.bufs);
                    if let Ok(n) = &result {
                        written += *n as u64;
                    }
                    done.push((send.cb, result.map(drop)));
                }
            }
            entry.bytes_written += written;
            let _ = st.streams.sync(&self.inbox.poller, id);
        }
        for (cb, result) in done {
            if let Some(mut cb) = cb {
                let outcome = self.invoke(Kind::Udp, id.as_u64(), &mut cb, Event::Written(result));
                drop(cb);
                outcome.map_err(RunError::Callback)?;
                self.drain_after_callback()?;
            }
        }
        Ok(())
    }

    // ----- helpers ----------------------------------------------------------------------------

    /// Whether the socket is connected and whether it is bound, in one look (a send's
    /// checks).
    fn udp_flags(&self, id: Id) -> Result<(bool, bool), Error> {
        self.check_open()?;
        let st = self.state.borrow();
        st.streams
            .slab
            .get(id)
            .and_then(|e| e.udp.as_ref())
            .map(|u| (u.connected, u.bound))
            .ok_or(Error::NotFound)
    }

    /// Binds an unbound socket to every interface, any port (libuv's deferred bind).
    fn ensure_bound(&self, id: Id) -> Result<(), Error> {
        let (bound, domain) = {
            self.check_open()?;
            let st = self.state.borrow();
            let udp = st
                .streams
                .slab
                .get(id)
                .and_then(|e| e.udp.as_ref())
                .ok_or(Error::NotFound)?;
            (udp.bound, udp.domain)
        };
        if bound {
            return Ok(());
        }
        let any = if domain == Domain::IPV6 {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        };
        self.with_udp(id, |socket, udp| {
            socket.bind(&any.into())?;
            udp.bound = true;
            Ok(())
        })
    }

    fn with_udp<R>(
        &self,
        id: Id,
        f: impl FnOnce(SockRef<'_>, &mut UdpState<C>) -> io::Result<R>,
    ) -> Result<R, Error> {
        use std::os::fd::AsFd;
        self.check_open()?;
        let mut st = self.st();
        let entry = st.streams.slab.get_mut(id).ok_or(Error::NotFound)?;
        let fd = entry.fd.as_ref().ok_or(Error::NotFound)?.as_fd();
        let socket = SockRef::from(&fd);
        let udp = entry
            .udp
            .as_mut()
            .ok_or(Error::InvalidArgument("not a UDP socket"))?;
        f(socket, udp).map_err(Error::Io)
    }
}
