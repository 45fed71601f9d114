//! TCP: servers (`uv_tcp_bind` + `uv_listen`), connects (`uv_tcp_connect`, with host names
//! resolved on the pool first, as Node's `net.connect` does through `dns.lookup`), and the
//! socket options and addresses of `uv_tcp_t`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};

use socket2::{Domain, SockAddr, SockRef, Socket, TcpKeepalive, Type};

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::Id;
use crate::net::stream::StreamEntry;
use crate::net::{NetAddr, StreamKind};

/// How a TCP server listens.
#[derive(Copy, Clone, Debug)]
pub struct ListenOptions {
    /// The `listen()` backlog (Node's default: 511).
    pub backlog: i32,
    /// `SO_REUSEPORT`: several sockets (processes) may listen on the port; the kernel spreads
    /// the connections.
    pub reuse_port: bool,
    /// `IPV6_V6ONLY` for an IPv6 address (otherwise `::` also accepts IPv4).
    pub ipv6_only: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 511,
            reuse_port: false,
            ipv6_only: false,
        }
    }
}

/// A non-blocking, close-on-exec socket of `domain`.
pub(crate) fn new_socket(
    domain: Domain,
    protocol: Option<socket2::Protocol>,
) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), protocol)?;
    Ok(socket)
}

/// Starts a non-blocking connect; `Ok(true)` when it finished at once.
pub(crate) fn start_connect(socket: &Socket, addr: &SockAddr) -> io::Result<bool> {
    match socket.connect(addr) {
        Ok(()) => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(err) => Err(err),
    }
}

pub(crate) fn net_addr(addr: SockAddr) -> NetAddr {
    if let Some(inet) = addr.as_socket() {
        NetAddr::Inet(inet)
    } else {
        NetAddr::Unix(
            addr.as_pathname()
                .map(|p| p.to_path_buf())
                .unwrap_or_default(),
        )
    }
}

impl<C: Callback> Loop<C> {
    /// A TCP server on `addr` (port 0: any free port; see [`Loop::local_address`]):
    /// `on_connection` gets [`crate::Event::Connection`] in the poll phase with each accepted
    /// stream's id. Bind errors (`EADDRINUSE`, `EACCES`) are returned at once.
    pub fn tcp_listen(
        &self,
        addr: SocketAddr,
        options: ListenOptions,
        on_connection: C,
    ) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(on_connection)?;
        let socket = (|| {
            let socket = new_socket(Domain::for_address(addr), Some(socket2::Protocol::TCP))?;
            // As libuv: a restarted server can bind its port while old connections linger.
            socket.set_reuse_address(true)?;
            if options.reuse_port {
                socket.set_reuse_port(true)?;
            }
            if addr.is_ipv6() {
                socket.set_only_v6(options.ipv6_only)?;
            }
            socket.bind(&addr.into())?;
            socket.listen(options.backlog)?;
            Ok::<_, io::Error>(socket)
        })();
        match socket {
            Ok(socket) => self.add_server(OwnedFd::from(socket), StreamKind::Tcp, None, cb),
            Err(err) => Err(Refused {
                error: Error::Io(err),
                callback: cb,
            }),
        }
    }

    /// Registers a listening fd as a server handle.
    pub(crate) fn add_server(
        &self,
        fd: OwnedFd,
        kind: StreamKind,
        bound_path: Option<std::path::PathBuf>,
        on_connection: C,
    ) -> Result<Id, Refused<C>> {
        crate::net::accept::ensure_reserve();
        let mut entry = StreamEntry::new(Some(fd), kind);
        entry.listening = true;
        entry.on_connection = Some(on_connection);
        entry.bound_path = bound_path;
        let id = self.st().streams.slab.insert(entry);
        if let Err(error) = self.sync_stream(id) {
            let entry = self.st().streams.remove(&self.inbox.poller, id);
            let mut entry = entry.expect("just inserted");
            if let Some(path) = &entry.bound_path {
                let _ = std::fs::remove_file(path);
            }
            let callback = entry.on_connection.take().expect("just set");
            return Err(Refused { error, callback });
        }
        Ok(id)
    }

    /// `net.connect(port, host)`: a TCP stream connecting to `host` (an IP literal, or a name
    /// resolved on the pool first, each address tried in turn). `on_connect` gets
    /// [`crate::Event::Connect`]: in the poll phase when the connect completes or fails there;
    /// in the pending phase when it failed inside the call (libuv's delayed error). Writes and
    /// a `read_start` made before it connects wait for it.
    pub fn tcp_connect(&self, host: &str, port: u16, on_connect: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(on_connect)?;
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(self.connect_addrs(vec![SocketAddr::new(ip, port)], cb));
        }
        if host.is_empty() || host.contains('\0') {
            return Err(Refused {
                error: Error::InvalidArgument("host must be an IP address or a host name"),
                callback: cb,
            });
        }
        self.connect_host(host.to_owned(), port, cb)
    }

    /// `uv_tcp_nodelay`.
    pub fn set_nodelay(&self, id: Id, enable: bool) -> Result<(), Error> {
        self.with_socket(id, |s| s.set_nodelay(enable))
    }

    /// `uv_tcp_keepalive`: `delay_s` seconds idle before the first probe (0: the system's).
    pub fn set_keepalive(&self, id: Id, enable: bool, delay_s: u32) -> Result<(), Error> {
        self.with_socket(id, |s| {
            if enable && delay_s > 0 {
                let keepalive =
                    TcpKeepalive::new().with_time(std::time::Duration::from_secs(delay_s.into()));
                s.set_tcp_keepalive(&keepalive)
            } else {
                s.set_keepalive(enable)
            }
        })
    }

    /// The stream's or server's own address (`uv_tcp_getsockname`, `uv_pipe_getsockname`).
    pub fn local_address(&self, id: Id) -> Result<NetAddr, Error> {
        self.with_socket(id, |s| s.local_addr().map(net_addr))
    }

    /// The address of the stream's peer (`uv_tcp_getpeername`); `ENOTCONN` before it connects.
    pub fn peer_address(&self, id: Id) -> Result<NetAddr, Error> {
        self.with_socket(id, |s| s.peer_addr().map(net_addr))
    }

    fn with_socket<R>(
        &self,
        id: Id,
        f: impl FnOnce(SockRef<'_>) -> io::Result<R>,
    ) -> Result<R, Error> {
        self.check_open()?;
        let st = self.state.borrow();
        let entry = st.streams.slab.get(id).ok_or(Error::NotFound)?;
        let fd = entry
            .fd
            .as_ref()
            .ok_or(Error::Io(io::Error::from_raw_os_error(libc::ENOTCONN)))?;
        if entry.kind == StreamKind::Pipe {
            return Err(Error::Io(io::Error::from_raw_os_error(libc::ENOTSOCK)));
        }
        f(SockRef::from(&fd.as_fd())).map_err(Error::Io)
    }
}
