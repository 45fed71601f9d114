//! One stream or server: its state, its registration with the poller, and what the poll phase
//! does when its fd is ready (libuv's `uv__stream_io`: a pending connect first, then reads, then
//! the write queue and a shutdown waiting for it).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::PathBuf;

use crate::poller::{Event as PollEvent, PollMode, Poller};

use crate::callback::{Callback, Event};
use crate::error::{Error, RunError};
use crate::event_loop::{Loop, Pending, Refused};
use crate::id::{Id, IdKind, Slab};
use crate::net::udp::UdpState;
use crate::net::write_queue::{Finished, WriteQueue};
use crate::net::{ReadEvent, StreamKind, SyncWrite, WriteBufs, READS_PER_EVENT};
use crate::net::{MAX_READ_SIZE, READ_BUFFER_SIZE};
use crate::poll::{Interest, STREAM_KEY};
use crate::trace::Kind;

/// Where a connect is.
pub(crate) enum Connecting {
    /// The host name is being resolved on the pool (the work request's id).
    Resolving(Id),
    /// `connect()` returned `EINPROGRESS`; the fd becomes writable when it is done. The
    /// addresses still to try if this one fails.
    InProgress(Vec<std::net::SocketAddr>),
}

pub(crate) struct ConnectReq<C> {
    pub(crate) cb: Option<C>,
    pub(crate) state: Connecting,
}

/// What a completion deferred to the pending phase reports.
pub(crate) enum DeferredResult {
    Connect(io::Result<()>),
    Written(io::Result<()>),
    Shutdown(io::Result<()>),
    /// A UDP send.
    Sent(io::Result<()>),
}

/// A stream callback deferred to the pending phase, as libuv's `uv__io_feed` defers it.
pub(crate) struct Deferred<C> {
    pub(crate) stream: Id,
    pub(crate) cb: C,
    pub(crate) result: DeferredResult,
}

impl<C: Callback> Deferred<C> {
    /// Runs the callback with its event.
    pub(crate) fn invoke(mut self, lp: &Loop<C>) -> Result<(), C::Error> {
        let id = self.stream.as_u64();
        match self.result {
            DeferredResult::Connect(result) => {
                lp.invoke(Kind::Connect, id, &mut self.cb, Event::Connect(result))
            }
            DeferredResult::Written(result) => {
                lp.invoke(Kind::Write, id, &mut self.cb, Event::Written(result))
            }
            DeferredResult::Sent(result) => {
                lp.invoke(Kind::Udp, id, &mut self.cb, Event::Written(result))
            }
            DeferredResult::Shutdown(result) => {
                lp.invoke(Kind::Shutdown, id, &mut self.cb, Event::Shutdown(result))
            }
        }
    }
}

pub(crate) struct StreamEntry<C> {
    /// `None` while a host name is resolved (the socket's family is not known yet).
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) kind: StreamKind,
    /// A listening server; `on_connection` is its callback.
    pub(crate) listening: bool,
    pub(crate) on_connection: Option<C>,
    pub(crate) read_cb: Option<C>,
    pub(crate) reading: bool,
    pub(crate) connect: Option<ConnectReq<C>>,
    pub(crate) writes: WriteQueue<C>,
    /// A shutdown waiting for the write queue to empty.
    pub(crate) shutdown: Option<Option<C>>,
    /// Writes are refused after a shutdown (`EPIPE`, as libuv).
    pub(crate) shut: bool,
    pub(crate) refed: bool,
    /// Counted as active in [`Streams::refed_active`].
    counted_active: bool,
    /// What the poller watches for now; `None` before the first registration.
    registered: Option<Interest>,
    /// A Unix server's path, removed when it closes (as libuv's `uv_pipe_close`).
    pub(crate) bound_path: Option<PathBuf>,
    pub(crate) bytes_read: u64,
    pub(crate) bytes_written: u64,
    /// A UDP socket's own state (`None` for every other kind).
    pub(crate) udp: Option<Box<UdpState<C>>>,
    /// The fd is the caller's ([`Loop::stream_over`]): dropping the entry forgets it instead
    /// of closing it.
    pub(crate) borrowed: bool,
    /// The most one read takes ([`Loop::set_read_size`]).
    pub(crate) read_size: usize,
}

impl<C> Drop for StreamEntry<C> {
    fn drop(&mut self) {
        if self.borrowed {
            if let Some(fd) = self.fd.take() {
                // Still open, and still the caller's to close.
                let _ = fd.into_raw_fd();
            }
        }
    }
}

impl<C> StreamEntry<C> {
    pub(crate) fn new(fd: Option<OwnedFd>, kind: StreamKind) -> Self {
        StreamEntry {
            fd,
            kind,
            listening: false,
            on_connection: None,
            read_cb: None,
            reading: false,
            connect: None,
            writes: WriteQueue::new(),
            shutdown: None,
            shut: false,
            refed: true,
            counted_active: false,
            registered: None,
            bound_path: None,
            bytes_read: 0,
            bytes_written: 0,
            udp: None,
            borrowed: false,
            read_size: READ_BUFFER_SIZE,
        }
    }

    /// libuv's `uv_is_active` for a stream: listening, reading, connecting, writing or
    /// shutting down.
    pub(crate) fn active(&self) -> bool {
        self.listening
            || self.reading
            || self.connect.is_some()
            || !self.writes.is_empty()
            || self.shutdown.is_some()
            || self
                .udp
                .as_ref()
                .is_some_and(|u| u.receiving || u.sending())
    }

    fn wanted(&self) -> Interest {
        let in_progress = matches!(
            self.connect,
            Some(ConnectReq {
                state: Connecting::InProgress(_),
                ..
            })
        );
        let (udp_reading, udp_writing) = self
            .udp
            .as_ref()
            .map_or((false, false), |u| (u.receiving, u.sending()));
        Interest {
            readable: self.listening || (self.reading && !in_progress) || udp_reading,
            writable: in_progress
                || !self.writes.is_empty()
                || self.shutdown.is_some()
                || udp_writing,
        }
    }

    pub(crate) fn raw_fd(&self) -> Result<i32, Error> {
        self.fd
            .as_ref()
            .map(|fd| fd.as_raw_fd())
            .ok_or(Error::Io(io::Error::from_raw_os_error(libc::ENOTCONN)))
    }

    pub(crate) fn is_socket(&self) -> bool {
        self.kind != StreamKind::Pipe
    }

    /// Takes every callback it holds (the loop is closing).
    pub(crate) fn take_callbacks(&mut self) -> Vec<C> {
        let mut out: Vec<C> = Vec::new();
        out.extend(self.on_connection.take());
        out.extend(self.read_cb.take());
        out.extend(self.connect.take().and_then(|c| c.cb));
        out.extend(self.shutdown.take().flatten());
        out.extend(self.writes.take_all().into_iter().flatten());
        if let Some(udp) = self.udp.as_mut() {
            let (sends, recv) = udp.take_callbacks();
            out.extend(sends);
            out.extend(recv);
        }
        out
    }

    /// Every callback it holds (for a host garbage collector).
    pub(crate) fn callbacks(&self) -> impl Iterator<Item = &C> {
        self.on_connection
            .iter()
            .chain(self.read_cb.iter())
            .chain(self.connect.iter().filter_map(|c| c.cb.as_ref()))
            .chain(self.shutdown.iter().filter_map(|s| s.as_ref()))
            .chain(self.writes.callbacks())
            .chain(self.udp.iter().flat_map(|u| u.callbacks()))
    }
}

/// Every stream and server of one loop.
pub(crate) struct Streams<C> {
    pub(crate) slab: Slab<StreamEntry<C>>,
    refed_active: usize,
    /// Streams whose registration watches for something; poll may skip the syscall at zero.
    pub(crate) armed: usize,
}

fn borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

fn poll_event(key: usize, interest: Interest) -> PollEvent {
    match (interest.readable, interest.writable) {
        (true, true) => PollEvent::all(key),
        (true, false) => PollEvent::readable(key),
        (false, true) => PollEvent::writable(key),
        (false, false) => PollEvent::none(key),
    }
}

impl<C> Streams<C> {
    pub(crate) fn new(tag: u16) -> Self {
        Streams {
            slab: Slab::new(IdKind::Stream, tag),
            refed_active: 0,
            armed: 0,
        }
    }

    pub(crate) fn has_ref(&self) -> bool {
        self.refed_active > 0
    }

    /// Brings the counters and the poller registration in line with the entry's state; called
    /// after every change of it.
    pub(crate) fn sync(&mut self, poller: &Poller, id: Id) -> io::Result<()> {
        let Some(index) = self.slab.index(id) else {
            return Ok(());
        };
        let entry = self.slab.at_mut(index);
        let active = entry.active();
        if active != entry.counted_active {
            entry.counted_active = active;
            if entry.refed {
                if active {
                    self.refed_active += 1;
                } else {
                    self.refed_active -= 1;
                }
            }
        }
        let wanted = entry.wanted();
        let Some(fd) = entry.fd.as_ref() else {
            return Ok(());
        };
        let key = STREAM_KEY | index as usize;
        let was_armed = entry.registered.is_some_and(|i| i.readable || i.writable);
        let armed = wanted.readable || wanted.writable;
        match entry.registered {
            Some(current) if current == wanted => return Ok(()),
            Some(_) => {
                poller.modify_with_mode(borrow(fd), poll_event(key, wanted), PollMode::Level)?
            }
            None if !armed => return Ok(()),
            None => {
                // SAFETY: the registration is deleted before the fd is closed (`remove`).
                unsafe {
                    poller.add_with_mode(
                        fd.as_raw_fd(),
                        poll_event(key, wanted),
                        PollMode::Level,
                    )?
                }
            }
        }
        entry.registered = Some(wanted);
        match (was_armed, armed) {
            (false, true) => self.armed += 1,
            (true, false) => self.armed -= 1,
            _ => {}
        }
        Ok(())
    }

    /// Deletes the registration of `old`, an fd the entry no longer holds (a connect moving
    /// on to its next address), so that the next [`Streams::sync`] registers the new one.
    pub(crate) fn forget_registration(&mut self, poller: &Poller, id: Id, old: Option<&OwnedFd>) {
        let Some(entry) = self.slab.get_mut(id) else {
            return;
        };
        if let Some(interest) = entry.registered.take() {
            if let Some(fd) = old {
                let _ = poller.delete(borrow(fd));
            }
            if interest.readable || interest.writable {
                self.armed -= 1;
            }
        }
    }

    pub(crate) fn set_ref(&mut self, id: Id, refed: bool) -> bool {
        let Some(entry) = self.slab.get_mut(id) else {
            return false;
        };
        if entry.refed != refed {
            entry.refed = refed;
            if entry.counted_active {
                if refed {
                    self.refed_active += 1;
                } else {
                    self.refed_active -= 1;
                }
            }
        }
        true
    }

    /// Takes the entry out: deregistered, uncounted; its fd is still open (the caller drops it).
    pub(crate) fn remove(&mut self, poller: &Poller, id: Id) -> Option<StreamEntry<C>> {
        let entry = self.slab.remove(id)?;
        if entry.counted_active && entry.refed {
            self.refed_active -= 1;
        }
        if let (Some(interest), Some(fd)) = (entry.registered, entry.fd.as_ref()) {
            let _ = poller.delete(borrow(fd));
            if interest.readable || interest.writable {
                self.armed -= 1;
            }
        }
        Some(entry)
    }

    /// A stream that became ready: its id, if it is still live.
    pub(crate) fn fired(&self, index: u32) -> Option<Id> {
        self.slab.try_id_at(index)
    }

    /// Removes every stream without touching the poller (a child of `fork()`).
    pub(crate) fn forget_all(&mut self) -> Vec<StreamEntry<C>> {
        self.refed_active = 0;
        self.armed = 0;
        self.slab.drain_all()
    }

    pub(crate) fn drain_all(&mut self, poller: &Poller) -> Vec<StreamEntry<C>> {
        let ids: Vec<Id> = self.slab.iter().map(|(id, _)| id).collect();
        ids.into_iter()
            .filter_map(|id| self.remove(poller, id))
            .collect()
    }
}

fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

fn closed_error() -> Error {
    Error::NotFound
}

impl<C: Callback> Loop<C> {
    /// Re-syncs a stream after a change; a poller failure is the caller's error.
    pub(crate) fn sync_stream(&self, id: Id) -> Result<(), Error> {
        let poller = &self.inbox.poller;
        self.st().streams.sync(poller, id).map_err(Error::Io)
    }

    /// `uv_read_start`: `cb` is called with [`Event::Read`] in the poll phase for every chunk
    /// read (at most 64 KiB each), then once with [`ReadEvent::Eof`] or an error, after which
    /// reading has stopped. Replaces the read callback of a stream that is reading already.
    pub fn read_start(&self, id: Id, cb: C) -> Result<(), Refused<C>> {
        let refuse = |error, callback| Err(Refused { error, callback });
        if let Err(error) = self.check_open() {
            return refuse(error, cb);
        }
        let old = {
            let mut st = self.st();
            match st.streams.slab.get_mut(id) {
                Some(entry) if entry.listening => {
                    drop(st);
                    return refuse(Error::InvalidArgument("a server does not read"), cb);
                }
                Some(entry) if entry.udp.is_some() => {
                    drop(st);
                    return refuse(
                        Error::InvalidArgument("a UDP socket receives with udp_recv_start"),
                        cb,
                    );
                }
                Some(entry) if entry.fd.is_none() && entry.connect.is_none() => {
                    drop(st);
                    return refuse(Error::Io(io::Error::from_raw_os_error(libc::ENOTCONN)), cb);
                }
                Some(entry) => {
                    entry.reading = true;
                    entry.read_cb.replace(cb)
                }
                None => {
                    drop(st);
                    return refuse(closed_error(), cb);
                }
            }
        };
        drop(old);
        // A poller failure leaves the callback in place; the stream reports nothing more.
        let _ = self.sync_stream(id);
        Ok(())
    }

    /// The most one read of the stream takes, and so the largest chunk a read callback gets:
    /// [`READ_BUFFER_SIZE`] (64 KiB, libuv's) unless set here, between 1 byte and
    /// [`MAX_READ_SIZE`]. asyncio's transports read up to 256 KiB at a time (its `max_size`):
    /// a 100 KiB message is then one callback, not two.
    pub fn set_read_size(&self, id: Id, size: usize) -> Result<(), Error> {
        self.check_open()?;
        if size == 0 || size > MAX_READ_SIZE {
            return Err(Error::InvalidArgument(
                "read size must be between 1 byte and 16 MiB",
            ));
        }
        let mut st = self.st();
        let entry = st.streams.slab.get_mut(id).ok_or_else(closed_error)?;
        if entry.udp.is_some() || entry.listening {
            return Err(Error::InvalidArgument("only a stream has a read size"));
        }
        entry.read_size = size;
        Ok(())
    }

    /// `uv_read_stop`: no more read callbacks until [`Loop::read_start`] (backpressure).
    pub fn read_stop(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        {
            let mut st = self.st();
            let entry = st.streams.slab.get_mut(id).ok_or_else(closed_error)?;
            entry.reading = false;
        }
        self.sync_stream(id)
    }

    /// `uv_write`: queues `bufs` behind the stream's earlier writes and writes at once what
    /// the kernel takes. `cb` gets [`Event::Written`] when every byte is written or the write
    /// failed: in the poll phase when a poll-phase flush finished it; when the kernel took it
    /// whole inside this call, as `sync` says: in the pending phase ([`SyncWrite::Pending`],
    /// libuv) or handed back as `Ok(Some(cb))` for the caller to run through the tick queue
    /// ([`SyncWrite::Tick`], Node's `socket.write`, which calls it with no argument but
    /// success). A write after [`Loop::shutdown`] is refused with `EPIPE`.
    pub fn write(
        &self,
        id: Id,
        bufs: Box<dyn WriteBufs>,
        cb: Option<C>,
        sync: SyncWrite,
    ) -> Result<Option<C>, Refused<Option<C>>> {
        let refuse = |error, callback| Err(Refused { error, callback });
        if let Err(error) = self.check_open() {
            return refuse(error, cb);
        }
        let mut st = self.st();
        let st = &mut *st;
        let Some(entry) = st.streams.slab.get_mut(id) else {
            return refuse(closed_error(), cb);
        };
        if entry.listening {
            return refuse(Error::InvalidArgument("a server cannot be written to"), cb);
        }
        if entry.udp.is_some() {
            return refuse(
                Error::InvalidArgument("a UDP socket sends with udp_send"),
                cb,
            );
        }
        if entry.shut || entry.shutdown.is_some() {
            return refuse(Error::Io(io::Error::from_raw_os_error(libc::EPIPE)), cb);
        }
        let connecting = entry.connect.is_some();
        let fd = match entry.fd.as_ref() {
            Some(fd) => fd.as_raw_fd(),
            None if connecting => -1,
            None => return refuse(Error::Io(io::Error::from_raw_os_error(libc::EBADF)), cb),
        };
        let idle = entry.writes.is_empty() && !connecting;
        entry.writes.push(bufs, cb);
        if !idle {
            // Behind other writes or a connect: the poll phase flushes it.
            drop(st.streams.sync(&self.inbox.poller, id));
            return Ok(None);
        }
        let mut done: Vec<Finished<C>> = Vec::new();
        let written = entry.writes.flush(fd, entry.is_socket(), &mut done);
        entry.bytes_written += written as u64;
        let _ = st.streams.sync(&self.inbox.poller, id);
        let mut handed_back = None;
        for finished in done {
            let Some(cb) = finished.cb else { continue };
            match (sync, &finished.result) {
                (SyncWrite::Tick, Ok(())) => handed_back = Some(cb),
                _ => st.pending.push_back(Pending::Stream(Deferred {
                    stream: id,
                    cb,
                    result: DeferredResult::Written(finished.result),
                })),
            }
        }
        Ok(handed_back)
    }

    /// `uv_try_write`: writes what the kernel takes now, without queueing; `EAGAIN` when it
    /// takes nothing, or when earlier writes are still queued.
    pub fn try_write(&self, id: Id, bufs: &[&[u8]]) -> Result<usize, Error> {
        self.check_open()?;
        let mut st = self.st();
        let entry = st.streams.slab.get_mut(id).ok_or_else(closed_error)?;
        if entry.shut || entry.shutdown.is_some() {
            return Err(Error::Io(io::Error::from_raw_os_error(libc::EPIPE)));
        }
        if !entry.writes.is_empty() || entry.connect.is_some() {
            return Err(Error::Io(io::Error::from_raw_os_error(libc::EAGAIN)));
        }
        let fd = entry.raw_fd()?;
        let to_iovec = |b: &&[u8]| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        };
        // One buffer (a transport's write) needs no list on the heap.
        let one;
        let many: Vec<libc::iovec>;
        let iov: &[libc::iovec] = match bufs {
            [[]] => return Ok(0),
            [buf] => {
                one = [to_iovec(buf)];
                &one
            }
            _ => {
                many = bufs
                    .iter()
                    .filter(|b| !b.is_empty())
                    .map(to_iovec)
                    .collect();
                &many
            }
        };
        if iov.is_empty() {
            return Ok(0);
        }
        let n = crate::net::write_queue::write_vectored(fd, entry.is_socket(), iov)?;
        entry.bytes_written += n as u64;
        Ok(n)
    }

    /// `uv_shutdown`: once every queued write is written, shuts the stream's write side
    /// (`SHUT_WR`, the peer reads an end) and calls `cb` with [`Event::Shutdown`] in the poll
    /// phase. Later writes are refused with `EPIPE`.
    pub fn shutdown(&self, id: Id, cb: Option<C>) -> Result<(), Refused<Option<C>>> {
        let refuse = |error, callback| Err(Refused { error, callback });
        if let Err(error) = self.check_open() {
            return refuse(error, cb);
        }
        {
            let mut st = self.st();
            let Some(entry) = st.streams.slab.get_mut(id) else {
                return refuse(closed_error(), cb);
            };
            if entry.listening {
                return refuse(Error::InvalidArgument("a server cannot be shut down"), cb);
            }
            if entry.shut || entry.shutdown.is_some() {
                return refuse(Error::Io(io::Error::from_raw_os_error(libc::ENOTCONN)), cb);
            }
            entry.shutdown = Some(cb);
        }
        let _ = self.sync_stream(id);
        Ok(())
    }

    /// Bytes queued on the stream and not yet written (libuv's `write_queue_size`).
    pub fn write_queue_size(&self, id: Id) -> Result<usize, Error> {
        self.check_open()?;
        let st = self.state.borrow();
        let entry = st.streams.slab.get(id).ok_or_else(closed_error)?;
        Ok(entry.writes.size)
    }

    /// Bytes read from and written to the stream so far.
    pub fn stream_bytes(&self, id: Id) -> Result<(u64, u64), Error> {
        self.check_open()?;
        let st = self.state.borrow();
        let entry = st.streams.slab.get(id).ok_or_else(closed_error)?;
        Ok((entry.bytes_read, entry.bytes_written))
    }

    /// What kind of fd the stream or server wraps.
    pub fn stream_kind(&self, id: Id) -> Result<StreamKind, Error> {
        self.check_open()?;
        let st = self.state.borrow();
        let entry = st.streams.slab.get(id).ok_or_else(closed_error)?;
        Ok(entry.kind)
    }

    /// Whether the stream's read side is on (between `read_start` and `read_stop` or the end).
    pub fn is_reading(&self, id: Id) -> bool {
        !self.closed.get() && self.st().streams.slab.get(id).is_some_and(|e| e.reading)
    }

    // ----- the poll phase ---------------------------------------------------------------------

    /// A stream's fd is ready: libuv's `uv__stream_io`.
    pub(crate) fn dispatch_stream(
        &self,
        id: Id,
        readable: bool,
        writable: bool,
    ) -> Result<(), RunError<C::Error>> {
        let (listening, connecting) = {
            let st = self.state.borrow();
            let Some(entry) = st.streams.slab.get(id) else {
                return Ok(());
            };
            if entry.udp.is_some() {
                drop(st);
                return self.udp_ready(id, readable, writable);
            }
            (
                entry.listening,
                matches!(
                    entry.connect,
                    Some(ConnectReq {
                        state: Connecting::InProgress(_),
                        ..
                    })
                ),
            )
        };
        if listening {
            return if readable {
                self.accept_ready(id)
            } else {
                Ok(())
            };
        }
        if connecting {
            return self.finish_connect(id);
        }
        if readable {
            self.read_ready(id)?;
        }
        if writable {
            self.write_ready(id)?;
        }
        Ok(())
    }

    /// Reads up to [`READS_PER_EVENT`] times, each read's bytes to the read callback.
    fn read_ready(&self, id: Id) -> Result<(), RunError<C::Error>> {
        for _ in 0..READS_PER_EVENT {
            let (fd, mut cb, size) = {
                let mut st = self.st();
                let Some(entry) = st.streams.slab.get_mut(id) else {
                    return Ok(());
                };
                if !entry.reading {
                    return Ok(());
                }
                let Some(fd) = entry.fd.as_ref().map(|fd| fd.as_raw_fd()) else {
                    return Ok(());
                };
                let Some(cb) = entry.read_cb.take() else {
                    return Ok(());
                };
                (fd, cb, entry.read_size)
            };
            // One buffer for the loop, as large as the largest read size asked for.
            let mut buffer = match self.read_buffer.take() {
                Some(buffer) if buffer.len() >= size => buffer,
                _ => vec![0u8; size.max(READ_BUFFER_SIZE)].into_boxed_slice(),
            };
            // SAFETY: the buffer is ours and at least `size` bytes long.
            let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), size) };
            let outcome = if n > 0 {
                Some(Ok(n as usize))
            } else if n == 0 {
                Some(Err(None))
            } else {
                let err = io::Error::last_os_error();
                if would_block(&err) || err.kind() == io::ErrorKind::Interrupted {
                    None
                } else {
                    Some(Err(Some(err)))
                }
            };
            let Some(outcome) = outcome else {
                self.read_buffer.set(Some(buffer));
                self.put_back_read_cb(id, cb);
                return Ok(());
            };
            let stopped = outcome.is_err();
            {
                let mut st = self.st();
                if let Some(entry) = st.streams.slab.get_mut(id) {
                    if let Ok(n) = outcome {
                        entry.bytes_read += n as u64;
                    } else {
                        // The end or an error stops reading, as libuv's does.
                        entry.reading = false;
                    }
                }
            }
            if stopped {
                let _ = self.sync_stream(id);
            }
            // A read that did not fill the buffer drained the socket: the next would be
            // EAGAIN, so it is not made (libuv's rule; readiness is level-triggered, and
            // bytes that arrive later wake the next poll).
            let drained = matches!(outcome, Ok(n) if n < size);
            let event = match outcome {
                Ok(n) => Event::Read(ReadEvent::Data(&buffer[..n])),
                Err(None) => Event::Read(ReadEvent::Eof),
                Err(Some(err)) => Event::Read(ReadEvent::Error(err)),
            };
            let result = self.invoke(Kind::Read, id.as_u64(), &mut cb, event);
            self.read_buffer.set(Some(buffer));
            self.put_back_read_cb(id, cb);
            result.map_err(RunError::Callback)?;
            self.drain_after_callback()?;
            if stopped || drained {
                return Ok(());
            }
        }
        Ok(())
    }

    fn put_back_read_cb(&self, id: Id, cb: C) {
        let unused = {
            let mut st = self.st();
            match st.streams.slab.get_mut(id) {
                // A callback set while this one ran (read_start again) wins.
                Some(entry) if entry.read_cb.is_none() => {
                    entry.read_cb = Some(cb);
                    None
                }
                _ => Some(cb),
            }
        };
        drop(unused);
    }

    /// Flushes the write queue; runs the finished writes' callbacks, then a shutdown whose
    /// queue is empty now.
    fn write_ready(&self, id: Id) -> Result<(), RunError<C::Error>> {
        let mut done = Vec::new();
        let shutdown = {
            let mut st = self.st();
            let st = &mut *st;
            let Some(entry) = st.streams.slab.get_mut(id) else {
                return Ok(());
            };
            let Some(fd) = entry.fd.as_ref().map(|fd| fd.as_raw_fd()) else {
                return Ok(());
            };
            let written = entry.writes.flush(fd, entry.is_socket(), &mut done);
            entry.bytes_written += written as u64;
            let failed = done.iter().any(|f| f.result.is_err());
            let shutdown = if entry.writes.is_empty() && !failed {
                entry.shutdown.take().map(|cb| {
                    // SAFETY: fd is the entry's own open fd.
                    let rc = unsafe { libc::shutdown(fd, libc::SHUT_WR) };
                    entry.shut = true;
                    let result = if rc == 0 || !entry.is_socket() {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    };
                    (cb, result)
                })
            } else {
                None
            };
            let _ = st.streams.sync(&self.inbox.poller, id);
            shutdown
        };
        for finished in done {
            if let Some(mut cb) = finished.cb {
                let event = Event::Written(finished.result);
                let result = self.invoke(Kind::Write, id.as_u64(), &mut cb, event);
                drop(cb);
                result.map_err(RunError::Callback)?;
                self.drain_after_callback()?;
            }
        }
        if let Some((Some(mut cb), result)) = shutdown {
            let outcome = self.invoke(
                Kind::Shutdown,
                id.as_u64(),
                &mut cb,
                Event::Shutdown(result),
            );
            drop(cb);
            outcome.map_err(RunError::Callback)?;
            self.drain_after_callback()?;
        }
        Ok(())
    }

    /// Closes a stream or server: the fd is closed now, the id is finished, and in the close
    /// phase the connect, write and shutdown callbacks still waiting get `ECANCELED` (writes
    /// that had finished get their own result), then `close_cb` runs.
    pub(crate) fn close_stream(
        &self,
        id: Id,
        close_cb: Option<C>,
    ) -> Result<(), Refused<Option<C>>> {
        let removed = {
            let mut st = self.st();
            let st = &mut *st;
            match st.streams.remove(&self.inbox.poller, id) {
                Some(entry) => {
                    let mut before: Vec<Deferred<C>> = Vec::new();
                    // Finished writes waiting in the pending queue run before the close callback,
                    // with their own result.
                    let mut kept = std::collections::VecDeque::new();
                    for item in st.pending.drain(..) {
                        match item {
                            Pending::Stream(d) if d.stream == id => before.push(d),
                            other => kept.push_back(other),
                        }
                    }
                    st.pending = kept;
                    let cancelled = || io::Error::from_raw_os_error(libc::ECANCELED);
                    let mut entry = entry;
                    if let Some(connect) = entry.connect.take() {
                        if let Connecting::Resolving(work) = connect.state {
                            // A lookup no thread has taken is cancelled and its request
                            // forgotten here: a cancelled job reports no completion, so a
                            // request left behind would keep the loop alive for ever. One
                            // that runs already completes; its completion then finds the
                            // stream gone.
                            let number = st.works.get(work).map(|w| w.number);
                            if number.is_some_and(|n| st.pool.cancel(n)) {
                                st.works.remove(work);
                            }
                        }
                        if let Some(cb) = connect.cb {
                            before.push(Deferred {
                                stream: id,
                                cb,
                                result: DeferredResult::Connect(Err(cancelled())),
                            });
                        }
                    }
                    if let Some(udp) = entry.udp.as_mut() {
                        // The receive callback is dropped; queued sends are cancelled.
                        let (sends, _recv) = udp.take_callbacks();
                        for cb in sends {
                            before.push(Deferred {
                                stream: id,
                                cb,
                                result: DeferredResult::Sent(Err(cancelled())),
                            });
                        }
                    }
                    for cb in entry.writes.take_all().into_iter().flatten() {
                        before.push(Deferred {
                            stream: id,
                            cb,
                            result: DeferredResult::Written(Err(cancelled())),
                        });
                    }
                    if let Some(cb) = entry.shutdown.take().flatten() {
                        before.push(Deferred {
                            stream: id,
                            cb,
                            result: DeferredResult::Shutdown(Err(cancelled())),
                        });
                    }
                    let kind = entry.kind.name();
                    st.closing.push_back(crate::event_loop::Closing {
                        id,
                        kind,
                        cb: close_cb,
                        cancelled: before,
                    });
                    Ok(entry)
                }
                None => Err(close_cb),
            }
        };
        match removed {
            Ok(entry) => {
                if let Some(path) = &entry.bound_path {
                    let _ = std::fs::remove_file(path);
                }
                // The fd closes here; the callbacks it still held are dropped outside the borrow.
                drop(entry);
                Ok(())
            }
            Err(callback) => Err(Refused {
                error: Error::NotFound,
                callback,
            }),
        }
    }
}
