//! Accepting connections on a listening server (libuv's `uv__server_io`), with libuv's reserve
//! fd: when the process runs out of fds (`EMFILE`), the server closes its reserve, accepts and
//! closes every waiting connection, and takes the reserve again, so a full fd table sheds
//! connections instead of leaving them readable forever (which would spin in poll).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use parking_lot::Mutex;

use crate::callback::{Callback, Event};
use crate::error::RunError;
use crate::event_loop::Loop;
use crate::id::Id;
use crate::net::stream::StreamEntry;
use crate::trace::Kind;

/// The process's spare fd, shared by every loop (the fd table is the process's).
static RESERVE: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Opens the reserve fd if it is not open (called when a server starts listening).
pub(crate) fn ensure_reserve() {
    let mut reserve = RESERVE.lock();
    if reserve.is_none() {
        *reserve = open_reserve();
    }
}

fn open_reserve() -> Option<OwnedFd> {
    // SAFETY: a plain open of "/" for reading; the fd is owned from here on.
    let fd = unsafe { libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: `fd` was just opened and is owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn accept(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: accept4 with null address pointers is valid; the new fd is owned from here on.
    let new = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if new < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: accept4 returned a fresh fd.
        Ok(unsafe { OwnedFd::from_raw_fd(new) })
    }
}

/// Out of fds: frees the reserve, accepts and closes what waits, takes the reserve again.
fn shed_connections(fd: RawFd) {
    let mut reserve = RESERVE.lock();
    if reserve.take().is_none() {
        return;
    }
    while let Ok(conn) = accept(fd) {
        drop(conn);
    }
    *reserve = open_reserve();
}

impl<C: Callback> Loop<C> {
    /// A listening server is readable: accepts until the kernel has no more connections
    /// waiting, calling `on_connection` with each new stream's id.
    pub(crate) fn accept_ready(&self, server: Id) -> Result<(), RunError<C::Error>> {
        loop {
            let (fd, kind) = {
                let st = self.state.borrow();
                let Some(entry) = st.streams.slab.get(server).filter(|e| e.listening) else {
                    return Ok(());
                };
                let Some(fd) = entry.fd.as_ref() else {
                    return Ok(());
                };
                (fd.as_raw_fd(), entry.kind)
            };
            let event = match accept(fd) {
                Ok(conn) => {
                    let id = self
                        .st()
                        .streams
                        .slab
                        .insert(StreamEntry::new(Some(conn), kind));
                    Event::Connection(Ok(id))
                }
                Err(err) => match err.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(()),
                    Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
                    Some(libc::EMFILE) | Some(libc::ENFILE) => {
                        shed_connections(fd);
                        Event::Connection(Err(err))
                    }
                    _ => Event::Connection(Err(err)),
                },
            };
            let failed = matches!(event, Event::Connection(Err(_)));
            let cb = self
                .st()
                .streams
                .slab
                .get_mut(server)
                .and_then(|e| e.on_connection.take());
            let Some(mut cb) = cb else {
                // No callback (it is running: a nested dispatch cannot happen); drop the stream.
                if let Event::Connection(Ok(id)) = event {
                    let unused = self.st().streams.remove(&self.inbox.poller, id);
                    drop(unused);
                }
                return Ok(());
            };
            let result = self.invoke(Kind::Connection, server.as_u64(), &mut cb, event);
            let unused = {
                let mut st = self.st();
                match st.streams.slab.get_mut(server) {
                    Some(entry) if entry.on_connection.is_none() => {
                        entry.on_connection = Some(cb);
                        None
                    }
                    _ => Some(cb),
                }
            };
            drop(unused);
            result.map_err(RunError::Callback)?;
            self.drain_after_callback()?;
            if failed {
                return Ok(());
            }
        }
    }
}
