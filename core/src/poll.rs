//! fd watchers (libuv's `uv_poll_t`) and signal watchers (`uv_signal_t`): their bookkeeping and
//! their registration with the OS poller.
//!
//! Watchers are registered in oneshot mode and re-armed after each callback. That gives the
//! level-triggered behaviour `uv_poll_t` and asyncio's `add_reader` users expect (a callback that
//! reads only part of the data is called again next iteration), and the re-arm is where a closed
//! fd shows up (`EBADF`/`ENOENT`), so it can be reported instead of spinning or hanging.
//! Signals arrive through signal-hook's self-pipe, one socket pair per watcher, so several loops
//! (and several watchers) may watch the same signal.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::poller::{Event as PollEvent, PollMode, Poller};
use signal_hook::SigId;

use crate::callback::Callback;
#[cfg(doc)]
use crate::callback::Event;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::{Id, IdKind, Slab};

/// What an fd watcher waits for.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Wake when the fd is readable (or hung up).
    pub readable: bool,
    /// Wake when the fd is writable.
    pub writable: bool,
}

// Poller keys: the slab index, tagged with what it indexes.
const WATCHER_KEY: usize = 1 << 40;
const SIGNAL_KEY: usize = 2 << 40;
const KEY_MASK: usize = (1 << 40) - 1;
/// The key of the loop's own wake-up socket (see [`crate::Loop::signal_wakeup_fd`]).
pub(crate) const WAKEUP_KEY: usize = 3 << 40;
/// Keys of streams and servers (`net/stream.rs`): the slab index.
pub(crate) const STREAM_KEY: usize = 4 << 40;
/// The key of the loop's `SIGCHLD` socket (`process.rs`).
pub(crate) const CHILD_KEY: usize = 5 << 40;

/// What a poller event is about.
pub(crate) enum PollKey {
    Watcher(u32),
    Signal(u32),
    Stream(u32),
    Wakeup,
    Child,
}

pub(crate) fn decode_key(key: usize) -> Option<PollKey> {
    let index = (key & KEY_MASK) as u32;
    match key & !KEY_MASK {
        WATCHER_KEY => Some(PollKey::Watcher(index)),
        SIGNAL_KEY => Some(PollKey::Signal(index)),
        WAKEUP_KEY => Some(PollKey::Wakeup),
        STREAM_KEY => Some(PollKey::Stream(index)),
        CHILD_KEY => Some(PollKey::Child),
        _ => None,
    }
}

fn poll_event(key: usize, interest: Interest) -> PollEvent {
    match (interest.readable, interest.writable) {
        (true, true) => PollEvent::all(key),
        (true, false) => PollEvent::readable(key),
        (false, true) => PollEvent::writable(key),
        (false, false) => PollEvent::none(key),
    }
}

pub(crate) struct WatcherEntry<C> {
    pub(crate) fd: RawFd,
    pub(crate) interest: Interest,
    pub(crate) cb: Option<C>,
    pub(crate) active: bool,
    pub(crate) refed: bool,
    /// Registered with the poller and armed for one event.
    armed: bool,
    registered: bool,
}

pub(crate) struct SignalEntry<C> {
    pub(crate) signum: i32,
    pub(crate) cb: Option<C>,
    pub(crate) active: bool,
    pub(crate) refed: bool,
    sig_id: Option<SigId>,
    reader: UnixStream,
    writer: UnixStream,
}

/// Every fd and signal watcher of one loop.
pub(crate) struct Watchers<C> {
    pub(crate) fds: Slab<WatcherEntry<C>>,
    pub(crate) signals: Slab<SignalEntry<C>>,
    refed_active: usize,
    /// Watchers and signals registered with the poller; poll may skip the syscall when zero.
    pub(crate) registered: usize,
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: the fd is only borrowed for one poller call; the watcher's user owns it and is
    // required to keep it open while it is watched (a closed one is detected and reported).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl<C> Watchers<C> {
    pub(crate) fn new(tag: u16) -> Self {
        Watchers {
            fds: Slab::new(IdKind::Watcher, tag),
            signals: Slab::new(IdKind::Signal, tag),
            refed_active: 0,
            registered: 0,
        }
    }

    pub(crate) fn has_ref(&self) -> bool {
        self.refed_active > 0
    }

    /// Adds and starts an fd watcher.
    pub(crate) fn watch(
        &mut self,
        poller: &Poller,
        fd: RawFd,
        interest: Interest,
        cb: C,
    ) -> Result<Id, Refused<C>> {
        if fd < 0 {
            return Err(Refused {
                error: Error::InvalidArgument("fd must be a non-negative file descriptor"),
                callback: cb,
            });
        }
        let id = self.fds.insert(WatcherEntry {
            fd,
            interest,
            cb: Some(cb),
            active: false,
            refed: true,
            armed: false,
            registered: false,
        });
        if let Err(err) = self.start_fd(poller, id, interest) {
            let entry = self.fds.remove(id).expect("just inserted");
            return Err(Refused {
                error: err,
                callback: entry.cb.expect("not running"),
            });
        }
        Ok(id)
    }

    /// (Re)starts an fd watcher with `interest`.
    pub(crate) fn start_fd(
        &mut self,
        poller: &Poller,
        id: Id,
        interest: Interest,
    ) -> Result<(), Error> {
        let index = self.fds.index(id).ok_or(Error::NotFound)?;
        let entry = self.fds.at_mut(index);
        let key = WATCHER_KEY | index as usize;
        let event = poll_event(key, interest);
        if entry.registered {
            poller.modify(borrow(entry.fd), event)?;
        } else {
            // SAFETY: the registration is deleted before the entry goes away (stop/close/drain).
            unsafe { poller.add(entry.fd, event)? };
            entry.registered = true;
            self.registered += 1;
        }
        entry.interest = interest;
        entry.armed = true;
        if !entry.active {
            entry.active = true;
            if entry.refed {
                self.refed_active += 1;
            }
        }
        Ok(())
    }

    pub(crate) fn stop_fd(&mut self, poller: &Poller, id: Id) -> Result<(), Error> {
        let entry = self.fds.get_mut(id).ok_or(Error::NotFound)?;
        if entry.registered {
            // The fd may be closed already; the kernel then dropped the registration itself.
            let _ = poller.delete(borrow(entry.fd));
            entry.registered = false;
            self.registered -= 1;
        }
        entry.armed = false;
        if entry.active {
            entry.active = false;
            if entry.refed {
                self.refed_active -= 1;
            }
        }
        Ok(())
    }

    /// A poller event for watcher `index` was taken: it is disarmed until [`Self::rearm_fd`].
    pub(crate) fn fired_fd(&mut self, index: u32) -> Option<Id> {
        let id = self.fds.try_id_at(index)?;
        let entry = self.fds.at_mut(index);
        if !entry.active {
            return None;
        }
        entry.armed = false;
        Some(id)
    }

    /// After a watcher's callback: arm it again if it is still active and nobody re-armed it.
    pub(crate) fn rearm_fd(&mut self, poller: &Poller, id: Id) -> Result<(), Error> {
        let Some(index) = self.fds.index(id) else {
            return Ok(());
        };
        let entry = self.fds.at_mut(index);
        if !entry.active || entry.armed {
            return Ok(());
        }
        let event = poll_event(WATCHER_KEY | index as usize, entry.interest);
        poller.modify(borrow(entry.fd), event)?;
        entry.armed = true;
        Ok(())
    }

    pub(crate) fn set_fd_ref(&mut self, id: Id, refed: bool) -> bool {
        let Some(entry) = self.fds.get_mut(id) else {
            return false;
        };
        if entry.refed != refed {
            entry.refed = refed;
            if entry.active {
                if refed {
                    self.refed_active += 1;
                } else {
                    self.refed_active -= 1;
                }
            }
        }
        true
    }

    pub(crate) fn remove_fd(&mut self, poller: &Poller, id: Id) -> Option<WatcherEntry<C>> {
        self.stop_fd(poller, id).ok()?;
        self.fds.remove(id)
    }

    /// Adds and starts a signal watcher.
    pub(crate) fn watch_signal(
        &mut self,
        poller: &Poller,
        signum: i32,
        cb: C,
    ) -> Result<Id, Refused<C>> {
        let pair = UnixStream::pair().and_then(|(reader, writer)| {
            reader.set_nonblocking(true)?;
            writer.set_nonblocking(true)?;
            Ok((reader, writer))
        });
        let (reader, writer) = match pair {
            Ok(pair) => pair,
            Err(err) => {
                return Err(Refused {
                    error: Error::Io(err),
                    callback: cb,
                })
            }
        };
        let id = self.signals.insert(SignalEntry {
            signum,
            cb: Some(cb),
            active: false,
            refed: true,
            sig_id: None,
            reader,
            writer,
        });
        if let Err(err) = self.start_signal(poller, id) {
            let entry = self.signals.remove(id).expect("just inserted");
            return Err(Refused {
                error: err,
                callback: entry.cb.expect("not running"),
            });
        }
        Ok(id)
    }

    pub(crate) fn start_signal(&mut self, poller: &Poller, id: Id) -> Result<(), Error> {
        let index = self.signals.index(id).ok_or(Error::NotFound)?;
        let entry = self.signals.at_mut(index);
        if entry.active {
            return Ok(());
        }
        // signal-hook panics (rather than failing) for the signals it refuses to handle.
        if signal_hook::consts::FORBIDDEN.contains(&entry.signum) {
            return Err(Error::InvalidArgument(
                "signum is not a signal that can be watched",
            ));
        }
        let writer = entry.writer.try_clone()?;
        let sig_id =
            signal_hook::low_level::pipe::register(entry.signum, writer).map_err(|err| {
                if err.kind() == std::io::ErrorKind::InvalidInput
                    || err.raw_os_error() == Some(libc::EINVAL)
                {
                    Error::InvalidArgument("signum is not a signal that can be watched")
                } else {
                    Error::Io(err)
                }
            })?;
        // SAFETY: deleted in stop_signal before the reader is dropped.
        if let Err(err) = unsafe {
            poller.add_with_mode(
                entry.reader.as_raw_fd(),
                PollEvent::readable(SIGNAL_KEY | index as usize),
                PollMode::Level,
            )
        } {
            signal_hook::low_level::unregister(sig_id);
            return Err(Error::Io(err));
        }
        entry.sig_id = Some(sig_id);
        entry.active = true;
        self.registered += 1;
        if entry.refed {
            self.refed_active += 1;
        }
        Ok(())
    }

    pub(crate) fn stop_signal(&mut self, poller: &Poller, id: Id) -> Result<(), Error> {
        let entry = self.signals.get_mut(id).ok_or(Error::NotFound)?;
        if let Some(sig_id) = entry.sig_id.take() {
            signal_hook::low_level::unregister(sig_id);
            let _ = poller.delete(&entry.reader);
            self.registered -= 1;
        }
        if entry.active {
            entry.active = false;
            if entry.refed {
                self.refed_active -= 1;
            }
        }
        Ok(())
    }

    pub(crate) fn set_signal_ref(&mut self, id: Id, refed: bool) -> bool {
        let Some(entry) = self.signals.get_mut(id) else {
            return false;
        };
        if entry.refed != refed {
            entry.refed = refed;
            if entry.active {
                if refed {
                    self.refed_active += 1;
                } else {
                    self.refed_active -= 1;
                }
            }
        }
        true
    }

    pub(crate) fn remove_signal(&mut self, poller: &Poller, id: Id) -> Option<SignalEntry<C>> {
        self.stop_signal(poller, id).ok()?;
        self.signals.remove(id)
    }

    /// A signal watcher's pipe is readable: how many signals arrived.
    pub(crate) fn take_signals(&mut self, index: u32) -> Option<(Id, i32, usize)> {
        let id = self.signals.try_id_at(index)?;
        let entry = self.signals.at_mut(index);
        let mut buf = [0u8; 64];
        let mut count = 0;
        loop {
            match entry.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => count += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: drained
            }
        }
        if !entry.active || count == 0 {
            return None;
        }
        Some((id, entry.signum, count))
    }

    /// Removes every watcher; returns their callbacks.
    /// In a child of `fork()`: removes every watcher without touching the poller, whose epoll
    /// instance the child shares with its parent (removing a registration here would remove
    /// the parent's). The child's own signal handlers are unregistered.
    pub(crate) fn forget_all(&mut self) -> Vec<C> {
        self.registered = 0;
        self.refed_active = 0;
        let mut out: Vec<C> = self
            .fds
            .drain_all()
            .into_iter()
            .filter_map(|w| w.cb)
            .collect();
        for mut entry in self.signals.drain_all() {
            if let Some(sig_id) = entry.sig_id.take() {
                signal_hook::low_level::unregister(sig_id);
            }
            out.extend(entry.cb);
        }
        out
    }

    pub(crate) fn drain_all(&mut self, poller: &Poller) -> Vec<C> {
        let fd_ids: Vec<Id> = self.fds.iter().map(|(id, _)| id).collect();
        let signal_ids: Vec<Id> = self.signals.iter().map(|(id, _)| id).collect();
        let mut out = Vec::new();
        for id in fd_ids {
            out.extend(self.remove_fd(poller, id).and_then(|e| e.cb));
        }
        for id in signal_ids {
            out.extend(self.remove_signal(poller, id).and_then(|e| e.cb));
        }
        out
    }
}

// The loop's calls for fd watchers.
impl<C: Callback> Loop<C> {
    /// `uv_poll_t`: calls `cb` with [`Event::Io`] in the poll phase while `fd` is ready for
    /// `interest` (level-triggered). A negative or unwatchable fd is refused.
    pub fn watch_fd(&self, fd: RawFd, interest: Interest, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        let poller = &self.inbox.poller;
        self.st().watchers.watch(poller, fd, interest, cb)
    }

    /// (Re)starts an fd watcher with new interests.
    pub fn start_watcher(&self, id: Id, interest: Interest) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.start_fd(poller, id, interest)
    }

    /// Stops an fd watcher.
    pub fn stop_watcher(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.stop_fd(poller, id)
    }

    /// `ref()` / `unref()` of an fd watcher.
    pub fn set_watcher_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.set_ref(self.alias_of(id, IdKind::Watcher)?, refed)
    }

    /// Whether the watcher is started.
    pub fn watcher_active(&self, id: Id) -> bool {
        id.kind() == Some(IdKind::Watcher) && self.is_active(id)
    }
}

// The loop's calls for signal watchers, and the fd that wakes it on a signal.
impl<C: Callback> Loop<C> {
    /// `uv_signal_t`: calls `cb` with [`Event::Signal`] in the poll phase each time the process
    /// receives `signum`. Several watchers and several loops may watch one signal.
    pub fn on_signal(&self, signum: i32, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        let poller = &self.inbox.poller;
        self.st().watchers.watch_signal(poller, signum, cb)
    }

    /// Restarts a stopped signal watcher.
    pub fn start_signal(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.start_signal(poller, id)
    }

    /// Stops a signal watcher.
    pub fn stop_signal(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let poller = &self.inbox.poller;
        self.st().watchers.stop_signal(poller, id)
    }

    /// `ref()` / `unref()` of a signal watcher.
    pub fn set_signal_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.set_ref(self.alias_of(id, IdKind::Signal)?, refed)
    }

    /// Whether the signal watcher is started.
    pub fn signal_active(&self, id: Id) -> bool {
        id.kind() == Some(IdKind::Signal) && self.is_active(id)
    }

    /// An fd that the host's signal machinery may write to (Python's `signal.set_wakeup_fd`):
    /// a byte written to it wakes a blocked poll, after which [`Callback::after_wait`] runs. It
    /// is no handle: it keeps nothing alive and never calls a callback.
    pub fn signal_wakeup_fd(&self) -> Result<RawFd, Error> {
        self.check_open()?;
        let mut st = self.st();
        if let Some((_, writer)) = &st.wakeup {
            return Ok(writer.as_raw_fd());
        }
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        // SAFETY: the reader lives in the loop state until close(), which deletes it first.
        unsafe {
            self.inbox.poller.add_with_mode(
                reader.as_raw_fd(),
                crate::poller::Event::readable(WAKEUP_KEY),
                crate::poller::PollMode::Level,
            )?
        };
        let fd = writer.as_raw_fd();
        st.wakeup = Some((reader, writer));
        Ok(fd)
    }
}
