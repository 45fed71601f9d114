//! Unix-domain sockets (`uv_pipe_bind`, `uv_pipe_connect`) and fds opened as streams
//! (`uv_pipe_open`: a pipe, a socket pair, a tty).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::Id;
use crate::net::stream::{ConnectReq, Connecting, StreamEntry};
use crate::net::tcp::start_connect;
use crate::net::StreamKind;

impl<C: Callback> Loop<C> {
    /// A Unix-domain socket server at `path`; `on_connection` as for
    /// [`Loop::tcp_listen`]. A path that exists is `EADDRINUSE`, returned at once. The path is
    /// removed when the server closes, as libuv removes it.
    pub fn pipe_listen(
        &self,
        path: &Path,
        backlog: i32,
        on_connection: C,
    ) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(on_connection)?;
        let socket = (|| {
            let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
            socket.bind(&SockAddr::unix(path)?)?;
            if let Err(err) = socket.listen(backlog) {
                let _ = std::fs::remove_file(path);
                return Err(err);
            }
            Ok::<_, io::Error>(socket)
        })();
        match socket {
            Ok(socket) => self.add_server(
                OwnedFd::from(socket),
                StreamKind::Unix,
                Some(path.to_path_buf()),
                cb,
            ),
            Err(err) => Err(Refused {
                error: Error::Io(err),
                callback: cb,
            }),
        }
    }

    /// A stream connecting to the Unix-domain socket at `path`; `on_connect` as for
    /// [`Loop::tcp_connect`] (a missing path is `ENOENT`, in the pending phase).
    pub fn pipe_connect(&self, path: &Path, on_connect: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(on_connect)?;
        let mut entry = StreamEntry::new(None, StreamKind::Unix);
        entry.connect = Some(ConnectReq {
            cb: Some(cb),
            state: Connecting::InProgress(Vec::new()),
        });
        let id = self.st().streams.slab.insert(entry);
        let started = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)
            .and_then(|socket| {
                let addr = SockAddr::unix(path)?;
                match start_connect(&socket, &addr) {
                    Ok(_) => Ok(socket),
                    // A full backlog: the connect is not in progress, so it is refused as libuv
                    // does (Node reports it as an error too).
                    Err(err) => Err(err),
                }
            });
        match started {
            Ok(socket) => {
                self.st()
                    .streams
                    .slab
                    .get_mut(id)
                    .expect("just inserted")
                    .fd = Some(OwnedFd::from(socket));
                if let Err(Error::Io(err)) = self.sync_stream(id) {
                    self.defer_connect_failure(id, err);
                }
            }
            Err(err) => self.defer_connect_failure(id, err),
        }
        Ok(id)
    }

    /// `uv_pipe_open`: `fd` (a pipe, a socket, a tty) becomes a stream. It is made
    /// non-blocking, and it is the stream's from now on: closing the stream closes it. An fd
    /// that is not open is `EBADF` (and stays the caller's).
    pub fn pipe_open(&self, fd: RawFd) -> Result<Id, Error> {
        self.open_fd(fd, false)
    }

    /// A stream over `fd` that stays the caller's: as [`Loop::pipe_open`], but closing the
    /// stream (or the loop) only forgets the fd, leaving it open. For a host whose own socket
    /// object owns the fd and closes it (asyncio's transports), so that the fd is closed once.
    pub fn stream_over(&self, fd: RawFd) -> Result<Id, Error> {
        self.open_fd(fd, true)
    }

    fn open_fd(&self, fd: RawFd, borrowed: bool) -> Result<Id, Error> {
        self.check_open()?;
        if fd < 0 {
            return Err(Error::InvalidArgument(
                "fd must be a non-negative file descriptor",
            ));
        }
        // SAFETY: F_GETFL on any integer is safe; it fails with EBADF for a closed fd.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(Error::Io(io::Error::last_os_error()));
        }
        let kind = match socket_domain(fd) {
            Some(libc::AF_UNIX) => StreamKind::Unix,
            Some(libc::AF_INET) | Some(libc::AF_INET6) => StreamKind::Tcp,
            _ => StreamKind::Pipe,
        };
        // SAFETY: as above; setting O_NONBLOCK on an open fd.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(Error::Io(io::Error::last_os_error()));
        }
        if kind == StreamKind::Pipe {
            ignore_sigpipe();
        }
        // SAFETY: the caller hands the open fd over (documented above).
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut entry = StreamEntry::new(Some(owned), kind);
        entry.borrowed = borrowed;
        Ok(self.st().streams.slab.insert(entry))
    }
}

/// The address family of a socket fd, `None` for anything else.
fn socket_domain(fd: RawFd) -> Option<i32> {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: domain and len are valid for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(domain)
}

/// A write to a pipe whose reader is gone raises `SIGPIPE`, whose default kills the process;
/// sockets avoid it with `MSG_NOSIGNAL`, pipes cannot. As Node does, the first pipe stream
/// sets `SIGPIPE` to ignored if it still has its default action (a host that installed its own
/// handler, or ignores it already, as CPython does, is left alone): the write fails with
/// `EPIPE` instead.
fn ignore_sigpipe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: reading and setting a signal disposition; no handler function is installed.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_DFL
            {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
        }
    });
}
