//! Network I/O on the loop's own poller: TCP and Unix-domain servers and streams, and pipe
//! fds, in libuv's shape (`uv_tcp_t`, `uv_pipe_t`, `uv_stream_t`).
//!
//! Every server and stream is a handle named by an [`crate::Id`] of its own kind, with the
//! generic lifecycle of `lifecycle.rs` (ref, unref, has_ref, is_active, close). Where each
//! callback runs is libuv's rule (docs/ordering.md, "Network I/O"): accepts, completed
//! connects, reads and writes flushed by a poll-phase flush in the poll phase; a write the
//! kernel takes whole inside [`crate::Loop::write`] and a connect that fails at once in the
//! pending phase (or through the tick queue, for hosts that follow Node's `net` there); close
//! callbacks, and the cancellation of whatever was still queued, in the close phase.
//!
//! Files: `udp.rs` (UDP sockets, in the same table), `stream.rs` (the per-stream state and its readiness handling), `write_queue.rs`
//! (queued buffer lists flushed with `writev`), `tcp.rs`, `unix.rs` (how each kind is opened),
//! `resolve.rs` (host names resolved on the pool before a connect), `accept.rs` (accepting,
//! with the reserve fd that sheds connections when the process runs out of fds).

mod accept;
pub mod dns;
mod resolve;
pub(crate) mod stream;
mod tcp;
mod udp;
mod unix;
mod write_queue;

use std::net::SocketAddr;
use std::path::PathBuf;

pub(crate) use stream::Streams;
pub use tcp::ListenOptions;
pub use udp::Datagram;
pub use write_queue::WriteBufs;

/// What kind of file descriptor a stream or server wraps.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum StreamKind {
    /// A TCP socket (IPv4 or IPv6).
    Tcp,
    /// A Unix-domain stream socket.
    Unix,
    /// Any fd opened with [`crate::Loop::pipe_open`] that is not a socket: a pipe, a tty
    /// (a socket opened that way is `Tcp` or `Unix` by its address family).
    Pipe,
    /// A UDP socket ([`crate::Loop::udp_open`]).
    Udp,
}

impl StreamKind {
    /// The kind's name for `handles()`: `"tcp"`, `"unix"` or `"pipe"`.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Tcp => "tcp",
            StreamKind::Unix => "unix",
            StreamKind::Pipe => "pipe",
            StreamKind::Udp => "udp",
        }
    }
}

/// A stream's local or peer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetAddr {
    /// An IPv4 or IPv6 address and port.
    Inet(SocketAddr),
    /// A Unix-domain socket path (empty for an unnamed socket).
    Unix(PathBuf),
}

/// What a read callback is given ([`crate::Event::Read`]).
#[derive(Debug)]
pub enum ReadEvent<'a> {
    /// Bytes read, never empty; the slice is the loop's read buffer, valid during the callback.
    Data(&'a [u8]),
    /// The peer half-closed its side; reading has stopped (libuv's `UV_EOF`).
    Eof,
    /// Reading failed (`ECONNRESET`, ...); reading has stopped.
    Error(std::io::Error),
}

/// Where the callback of a write that the kernel took whole inside the call runs.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub enum SyncWrite {
    /// In the pending phase, as libuv defers it (the C API).
    #[default]
    Pending,
    /// Through the tick queue, queued inside the call, as Node's `socket.write` does.
    Tick,
}

/// How many reads one readiness event may do before the loop moves on to other handles
/// (libuv's count), so one busy connection cannot starve the others.
pub const READS_PER_EVENT: usize = 32;

/// The size of the loop's read buffer, as libuv's (64 KiB): the most one read of a stream
/// takes unless [`crate::Loop::set_read_size`] says otherwise.
pub const READ_BUFFER_SIZE: usize = 64 * 1024;

/// The largest read size [`crate::Loop::set_read_size`] takes (16 MiB).
pub const MAX_READ_SIZE: usize = 16 * 1024 * 1024;
