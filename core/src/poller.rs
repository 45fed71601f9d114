//! The loop's OS poller: on Linux, epoll used directly; elsewhere the `polling` crate's.
//!
//! `polling`'s `Poller::wait` (used on Linux before) arms a timerfd for the timeout and re-arms
//! its wake-up eventfd on every call: `timerfd_settime`, two `epoll_ctl` and a `read` around
//! every `epoll_wait`, four system calls per loop iteration that libuv does not make. A UDP
//! round trip with one datagram in flight is one iteration per datagram, and those four were
//! nearly half of its system calls (`strace -c`: 9 per datagram against libuv's 5). Here the
//! timeout is `epoll_wait`'s own, in milliseconds (the loop's timeouts are whole milliseconds
//! already), and the eventfd that wakes the loop is registered level-triggered and read only
//! when it fired. The event and mode types stay `polling`'s, so both backends share the
//! callers.

pub(crate) use polling::{Event, PollMode};

#[cfg(not(target_os = "linux"))]
pub(crate) use polling::{Events, Poller};

/// Closes the poller's own fds once its loop is closed: the epoll instance, and the wake-up
/// eventfd, which a remote that outlives the loop then no longer writes to. Elsewhere than on Linux `polling`'s poller keeps its fds
/// until it is dropped.
pub(crate) fn release(poller: &Poller) {
    #[cfg(target_os = "linux")]
    poller.release();
    #[cfg(not(target_os = "linux"))]
    let _ = poller;
}

#[cfg(target_os = "linux")]
pub(crate) use epoll::{Events, Poller};

#[cfg(target_os = "linux")]
mod epoll {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
    use std::time::{Duration, Instant};

    use super::{Event, PollMode};

    /// The key of the wake-up eventfd (never a key of the loop's: those are tagged indexes).
    const NOTIFY_KEY: u64 = u64::MAX;

    /// How many events one wait takes at most (the rest wait for the next one), as `polling`.
    const CAPACITY: usize = 1024;

    // The states of `Poller::notifier_state`.
    /// Nothing written that the loop has not read.
    const IDLE: u8 = 0;
    /// A notification is written and not yet read: further ones skip the write (a burst of
    /// completions from the pool costs one `write`).
    const NOTIFIED: u8 = 1;
    /// A thread is writing the notification now: `release` waits for it before closing.
    const WRITING: u8 = 2;
    /// Released: the eventfd is closed (or about to be), and nothing writes to it again.
    const RELEASED: u8 = 3;

    /// An epoll instance and the eventfd that [`Poller::notify`] writes to.
    #[derive(Debug)]
    pub(crate) struct Poller {
        /// The epoll instance's fd, -1 once released: a closed loop gives it back at once,
        /// while the poller itself lives on in its inbox as long as a remote does.
        epoll: AtomicI32,
        /// The wake-up eventfd, closed by `release` too: `notifier_state` makes sure no other
        /// thread writes to it then or after (its number may be another file's by then).
        notifier: RawFd,
        /// [`IDLE`], [`NOTIFIED`], [`WRITING`] or [`RELEASED`].
        notifier_state: AtomicU8,
    }

    /// The events one [`Poller::wait`] found.
    #[derive(Debug)]
    pub(crate) struct Events {
        list: Vec<libc::epoll_event>,
    }

    impl Default for Events {
        fn default() -> Self {
            Events::new()
        }
    }

    impl Events {
        /// An empty list with room for a wait's events.
        pub(crate) fn new() -> Self {
            Events {
                list: Vec::with_capacity(CAPACITY),
            }
        }

        /// Forgets the events.
        pub(crate) fn clear(&mut self) {
            self.list.clear();
        }

        /// The events, without the wake-up's.
        pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
            self.list.iter().filter_map(|ev| {
                // Copied out: the struct is packed on x86-64.
                let (flags, key) = (ev.events, ev.u64);
                (key != NOTIFY_KEY).then(|| {
                    Event::new(
                        key as usize,
                        flags & READ_FLAGS != 0,
                        flags & WRITE_FLAGS != 0,
                    )
                })
            })
        }
    }

    // What counts as readable and writable: a hang-up or an error is both, so that whoever
    // waits for either finds out (`polling`'s choice, which the loop's callers rely on).
    const READ_FLAGS: u32 =
        (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    const WRITE_FLAGS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

    fn flags(ev: &Event, mode: PollMode) -> u32 {
        let mut flags = match mode {
            PollMode::Oneshot => libc::EPOLLONESHOT as u32,
            PollMode::Level => 0,
            PollMode::Edge => libc::EPOLLET as u32,
            PollMode::EdgeOneshot => (libc::EPOLLET | libc::EPOLLONESHOT) as u32,
            // A mode added to `polling` later: the loop uses none but the above.
            _ => libc::EPOLLONESHOT as u32,
        };
        if ev.readable {
            flags |= READ_FLAGS;
        }
        if ev.writable {
            flags |= WRITE_FLAGS;
        }
        flags
    }

    fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    }

    /// A timeout in epoll's milliseconds, rounded up so that a wait never ends early.
    fn millis(timeout: Option<Duration>) -> libc::c_int {
        match timeout {
            None => -1,
            Some(t) => {
                // In u64, not `as_nanos`' u128: this runs at every wait.
                let ms = t
                    .as_secs()
                    .saturating_mul(1000)
                    .saturating_add(u64::from(t.subsec_nanos().div_ceil(1_000_000)));
                ms.min(libc::c_int::MAX as u64) as libc::c_int
            }
        }
    }

    impl Poller {
        /// A new epoll instance with its wake-up eventfd registered.
        pub(crate) fn new() -> io::Result<Poller> {
            // SAFETY: plain system calls; each fd returned is owned from here on.
            let epoll =
                unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
            // SAFETY: as above.
            let notifier = unsafe {
                OwnedFd::from_raw_fd(check(libc::eventfd(
                    0,
                    libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
                ))?)
            };
            let poller = Poller {
                epoll: AtomicI32::new(epoll.into_raw_fd()),
                notifier: notifier.into_raw_fd(),
                notifier_state: AtomicU8::new(IDLE),
            };
            poller.ctl(
                libc::EPOLL_CTL_ADD,
                poller.notifier,
                libc::EPOLLIN as u32,
                NOTIFY_KEY,
            )?;
            Ok(poller)
        }

        fn epoll_fd(&self) -> RawFd {
            self.epoll.load(Ordering::Relaxed)
        }

        /// Closes the epoll instance and the eventfd (see [`super::release`]); every later
        /// call on the instance fails with `EBADF`, and a later `notify` writes nothing. Loop
        /// thread only, as every call on the instance.
        pub(crate) fn release(&self) {
            let fd = self.epoll.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                // SAFETY: the fd is ours (made by epoll_create1) and, swapped out, closed once.
                unsafe { libc::close(fd) };
            }
            // Only a notify moves the state out of WRITING, and none enters it again once it
            // is RELEASED: wait out a write in progress, then take the state over.
            loop {
                let state = self.notifier_state.load(Ordering::Acquire);
                if state == RELEASED {
                    return; // released before: the eventfd is closed already
                }
                if state == WRITING {
                    std::thread::yield_now();
                    continue;
                }
                if self
                    .notifier_state
                    .compare_exchange(state, RELEASED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    break;
                }
            }
            // SAFETY: the eventfd is ours (made by eventfd); the state is RELEASED from here
            // on, so no notify writes to it, and this is the only close.
            unsafe { libc::close(self.notifier) };
        }

        fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
            let mut ev = libc::epoll_event { events, u64: key };
            // SAFETY: `ev` is valid for the call; epoll only reads it.
            check(unsafe { libc::epoll_ctl(self.epoll_fd(), op, fd, &mut ev) }).map(drop)
        }

        fn checked_key(ev: &Event) -> io::Result<u64> {
            if ev.key as u64 == NOTIFY_KEY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the key is the poller's own",
                ));
            }
            Ok(ev.key as u64)
        }

        /// Registers `fd` in oneshot mode.
        ///
        /// # Safety
        /// `fd` must be deleted from the poller before it is closed.
        pub(crate) unsafe fn add(&self, fd: RawFd, ev: Event) -> io::Result<()> {
            // SAFETY: the caller's promise is passed on.
            unsafe { self.add_with_mode(fd, ev, PollMode::Oneshot) }
        }

        /// Registers `fd` in `mode`.
        ///
        /// # Safety
        /// `fd` must be deleted from the poller before it is closed.
        pub(crate) unsafe fn add_with_mode(
            &self,
            fd: RawFd,
            ev: Event,
            mode: PollMode,
        ) -> io::Result<()> {
            let key = Self::checked_key(&ev)?;
            self.ctl(libc::EPOLL_CTL_ADD, fd, flags(&ev, mode), key)
        }

        /// Changes a registration (and re-arms a oneshot one).
        pub(crate) fn modify(&self, fd: impl AsFd, ev: Event) -> io::Result<()> {
            self.modify_with_mode(fd, ev, PollMode::Oneshot)
        }

        /// Changes a registration to `ev` in `mode`.
        pub(crate) fn modify_with_mode(
            &self,
            fd: impl AsFd,
            ev: Event,
            mode: PollMode,
        ) -> io::Result<()> {
            let key = Self::checked_key(&ev)?;
            let fd = fd.as_fd().as_raw_fd();
            self.ctl(libc::EPOLL_CTL_MOD, fd, flags(&ev, mode), key)
        }

        /// Removes a registration.
        pub(crate) fn delete(&self, fd: impl AsFd) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_DEL, fd.as_fd().as_raw_fd(), 0, 0)
        }

        /// Wakes a [`Poller::wait`] of the loop thread (from any thread).
        /// Nothing is written after [`Poller::release`].
        pub(crate) fn notify(&self) -> io::Result<()> {
            if self
                .notifier_state
                .compare_exchange(IDLE, WRITING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let one: u64 = 1;
                // SAFETY: writes 8 bytes from `one` to our eventfd, which stays open while the
                // state is WRITING (`release` waits).
                let rc = unsafe {
                    libc::write(
                        self.notifier,
                        (&one as *const u64).cast(),
                        std::mem::size_of::<u64>(),
                    )
                };
                // EAGAIN: the counter is full, so the loop will wake anyway.
                let failed =
                    rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock;
                let err = failed.then(io::Error::last_os_error);
                let next = if failed { IDLE } else { NOTIFIED };
                // Only this thread moves the state out of WRITING.
                let _ = self.notifier_state.compare_exchange(
                    WRITING,
                    next,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                if let Some(err) = err {
                    return Err(err);
                }
            }
            Ok(())
        }

        /// Waits for events (at most `timeout`; `None`: until one comes or [`Poller::notify`]),
        /// replacing `events`' contents; returns how many it found, the wake-up's included.
        /// A signal that interrupts the wait does not end it (the wait resumes for the rest of
        /// the timeout), as `polling`'s.
        pub(crate) fn wait(
            &self,
            events: &mut Events,
            timeout: Option<Duration>,
        ) -> io::Result<usize> {
            // The clock is read only when an interrupted wait must be resumed for the rest of a
            // timeout; an untimed or zero wait needs no start time.
            let start = timeout.filter(|t| !t.is_zero()).map(|_| Instant::now());
            let mut left = timeout;
            loop {
                events.list.clear();
                // SAFETY: epoll writes at most `capacity` events into the vector's spare room.
                let rc = unsafe {
                    libc::epoll_wait(
                        self.epoll_fd(),
                        events.list.as_mut_ptr(),
                        events.list.capacity().min(libc::c_int::MAX as usize) as libc::c_int,
                        millis(left),
                    )
                };
                if rc < 0 {
                    let err = io::Error::last_os_error();
                    if err.kind() != io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                    if let (Some(t), Some(start)) = (timeout, start) {
                        left = Some(t.saturating_sub(start.elapsed()));
                    }
                    continue;
                }
                // SAFETY: epoll initialised the first `rc` entries.
                unsafe { events.list.set_len(rc as usize) };
                break;
            }
            if events.list.iter().any(|ev| {
                let key = ev.u64;
                key == NOTIFY_KEY
            }) {
                // Read before the flag is cleared: a notify in between then finds the flag
                // still set and skips its write, and what it announced is taken by the loop
                // after this wait anyway; the other order could clear a write nobody reads.
                let mut count: u64 = 0;
                // SAFETY: reads 8 bytes into `count` from our eventfd (open: a wait runs on
                // the loop thread, which alone releases).
                unsafe {
                    libc::read(
                        self.notifier,
                        (&mut count as *mut u64).cast(),
                        std::mem::size_of::<u64>(),
                    )
                };
                // A notify still inside its write ends in NOTIFIED: wait for that, or its
                // flag would outlive the count just read and every later notify would skip
                // its write. (A count it wrote after the read wakes the next wait early.)
                while self.notifier_state.load(Ordering::SeqCst) == WRITING {
                    std::thread::yield_now();
                }
                let _ = self.notifier_state.compare_exchange(
                    NOTIFIED,
                    IDLE,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            }
            Ok(events.list.len())
        }
    }

    impl AsRawFd for Poller {
        fn as_raw_fd(&self) -> RawFd {
            self.epoll_fd()
        }
    }

    impl Drop for Poller {
        fn drop(&mut self) {
            self.release();
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::time::Instant;

        #[test]
        fn a_notify_wakes_one_wait_and_the_next_notify_wakes_the_next() {
            let poller = Poller::new().unwrap();
            let mut events = Events::new();
            // Two notifies before a wait: one wake-up, and nothing left for the next wait.
            poller.notify().unwrap();
            poller.notify().unwrap();
            let start = Instant::now();
            poller
                .wait(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            assert!(start.elapsed() < Duration::from_secs(4));
            assert_eq!(events.iter().count(), 0, "the wake-up is not an event");
            poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
            assert_eq!(events.list.len(), 0, "the eventfd was read");
            // The flag was cleared: a later notify writes again and wakes the next wait.
            std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    poller.notify().unwrap();
                });
                let start = Instant::now();
                poller
                    .wait(&mut events, Some(Duration::from_secs(5)))
                    .unwrap();
                assert!(start.elapsed() < Duration::from_secs(4));
            });
        }

        #[test]
        fn a_timed_wait_ends_no_earlier_than_its_timeout() {
            let poller = Poller::new().unwrap();
            let mut events = Events::new();
            let start = Instant::now();
            poller
                .wait(&mut events, Some(Duration::from_micros(2500)))
                .unwrap();
            // Rounded up to 3 ms, never down to 2.
            assert!(start.elapsed() >= Duration::from_micros(2500));
            assert_eq!(millis(Some(Duration::from_micros(2001))), 3);
            assert_eq!(millis(Some(Duration::from_millis(7))), 7);
            assert_eq!(millis(Some(Duration::MAX)), libc::c_int::MAX);
            assert_eq!(millis(None), -1);
        }

        #[test]
        fn a_readable_fd_is_reported_with_its_key() {
            let poller = Poller::new().unwrap();
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            // SAFETY: deleted below, before the fd closes.
            unsafe { poller.add_with_mode(a.as_raw_fd(), Event::readable(7), PollMode::Level) }
                .unwrap();
            std::io::Write::write_all(&mut &b, b"x").unwrap();
            let mut events = Events::new();
            poller
                .wait(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            let found: Vec<_> = events
                .iter()
                .map(|e| (e.key, e.readable, e.writable))
                .collect();
            assert_eq!(found, vec![(7, true, false)]);
            // SAFETY: refused before it is registered (the key is the poller's own).
            let own_key = unsafe { poller.add(a.as_raw_fd(), Event::readable(usize::MAX)) };
            assert!(own_key.is_err());
            poller.delete(&a).unwrap();
        }
    }
}
