//! The OS poller under the poll phase: epoll on Linux, the `polling` crate elsewhere.
//!
//! `polling`'s epoll backend costs five system calls and two clock reads per wait: it arms a
//! timerfd for the timeout (`timerfd_settime` plus an `epoll_ctl`), and re-registers its
//! one-shot wake-up eventfd after every wait (a `read` plus an `epoll_ctl`), besides the
//! `epoll_wait` itself. A loop iteration whose poll phase goes to the kernel pays all of them,
//! which measured about 1 µs an iteration here: a third of an asyncio `call_soon` chain step,
//! and most of what a UDP round trip cost over libuv's. This poller does what libuv's does: one
//! `epoll_wait` with a millisecond timeout (the loop's timers are milliseconds anyway), and a
//! level-triggered eventfd for wake-ups that is read only when a wake-up came.
//!
//! The interface is the subset of `polling::Poller` the loop uses, with its `Event` and
//! `PollMode` types, so the rest of the core is the same on every platform.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use epoll::{Events, Poller};
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use polling::{Events, Poller};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use polling::{Event, PollMode};

    /// The key of the wake-up eventfd's events (never a key the loop hands out: those are
    /// tagged slab indexes well below it).
    const NOTIFY_KEY: u64 = u64::MAX;

    /// Room for this many events per wait; more stay ready for the next one.
    const EVENTS_CAPACITY: usize = 1024;

    /// An epoll instance and its wake-up eventfd.
    #[derive(Debug)]
    pub(crate) struct Poller {
        epoll: OwnedFd,
        wakeup: OwnedFd,
        /// A wake-up is written and not yet consumed: later `notify()` calls write nothing.
        notified: AtomicBool,
    }

    /// The events one wait reported.
    pub(crate) struct Events {
        list: Vec<libc::epoll_event>,
    }

    impl Default for Events {
        fn default() -> Self {
            Self::new()
        }
    }

    impl std::fmt::Debug for Events {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Events")
                .field("len", &self.list.len())
                .finish()
        }
    }

    impl Events {
        /// An empty list with room for a wait's worth of events.
        pub(crate) fn new() -> Self {
            Self {
                list: Vec::with_capacity(EVENTS_CAPACITY),
            }
        }

        /// Forgets the events of the last wait.
        pub(crate) fn clear(&mut self) {
            self.list.clear();
        }

        /// The events, as `polling` reports them: a hang-up or an error counts as readable and
        /// writable, so that the read or write that follows finds out what happened.
        pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
            self.list.iter().filter_map(|ev| {
                let key = ev.u64;
                if key == NOTIFY_KEY {
                    return None;
                }
                let flags = ev.events as libc::c_int;
                let readable =
                    flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) != 0;
                let writable = flags & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0;
                Some(Event::new(key as usize, readable, writable))
            })
        }
    }

    fn check(result: libc::c_int) -> io::Result<libc::c_int> {
        if result < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }

    /// The epoll flags of an interest in a mode.
    fn flags(interest: &Event, mode: PollMode) -> u32 {
        let mut flags = match mode {
            PollMode::Oneshot => libc::EPOLLONESHOT,
            PollMode::Level => 0,
            PollMode::Edge => libc::EPOLLET,
            // `PollMode` is non-exhaustive; the loop uses only the modes above.
            _ => libc::EPOLLET | libc::EPOLLONESHOT,
        };
        if interest.readable {
            flags |= libc::EPOLLIN | libc::EPOLLPRI;
        }
        if interest.writable {
            flags |= libc::EPOLLOUT;
        }
        flags as u32
    }

    impl Poller {
        /// A new epoll instance with its wake-up eventfd registered.
        pub(crate) fn new() -> io::Result<Self> {
            // SAFETY: a plain system call; the new fd is owned as soon as it exists.
            let epoll =
                unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
            // SAFETY: as above.
            let wakeup = unsafe {
                OwnedFd::from_raw_fd(check(libc::eventfd(
                    0,
                    libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
                ))?)
            };
            let poller = Self {
                epoll,
                wakeup,
                notified: AtomicBool::new(false),
            };
            poller.ctl(
                libc::EPOLL_CTL_ADD,
                poller.wakeup.as_raw_fd(),
                libc::EPOLLIN as u32,
                NOTIFY_KEY,
            )?;
            Ok(poller)
        }

        fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
            let mut event = libc::epoll_event { events, u64: key };
            // SAFETY: `event` outlives the call; the kernel validates `fd`.
            check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) })?;
            Ok(())
        }

        /// Registers `fd` for one event (`PollMode::Oneshot`).
        ///
        /// # Safety
        /// `fd` must be deleted from the poller before it is closed.
        pub(crate) unsafe fn add(&self, fd: impl AsRawFd, interest: Event) -> io::Result<()> {
            // SAFETY: the caller's promise.
            unsafe { self.add_with_mode(fd, interest, PollMode::Oneshot) }
        }

        /// Registers `fd` in `mode`.
        ///
        /// # Safety
        /// `fd` must be deleted from the poller before it is closed.
        pub(crate) unsafe fn add_with_mode(
            &self,
            fd: impl AsRawFd,
            interest: Event,
            mode: PollMode,
        ) -> io::Result<()> {
            self.ctl(
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                flags(&interest, mode),
                interest.key as u64,
            )
        }

        /// Changes a registered fd's interest, for one event (`PollMode::Oneshot`).
        pub(crate) fn modify(&self, fd: impl AsFd, interest: Event) -> io::Result<()> {
            self.modify_with_mode(fd, interest, PollMode::Oneshot)
        }

        /// Changes a registered fd's interest and mode.
        pub(crate) fn modify_with_mode(
            &self,
            fd: impl AsFd,
            interest: Event,
            mode: PollMode,
        ) -> io::Result<()> {
            self.ctl(
                libc::EPOLL_CTL_MOD,
                fd.as_fd().as_raw_fd(),
                flags(&interest, mode),
                interest.key as u64,
            )
        }

        /// Removes a registered fd.
        pub(crate) fn delete(&self, fd: impl AsFd) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_DEL, fd.as_fd().as_raw_fd(), 0, 0)
        }

        /// Waits up to `timeout` (rounded up to whole milliseconds; `None`: until an event or
        /// a wake-up) and returns how many events came, the wake-up not counted. A signal
        /// that interrupts the wait resumes it for the time left.
        pub(crate) fn wait(
            &self,
            events: &mut Events,
            timeout: Option<Duration>,
        ) -> io::Result<usize> {
            // The clock is read only for a wait that a signal could cut short and that must
            // then resume for the rest: one that blocks for a while.
            let deadline = timeout
                .filter(|t| !t.is_zero())
                .and_then(|t| Instant::now().checked_add(t));
            let mut wait_ms = timeout.map_or(-1, millis_rounded_up);
            let list = &mut events.list;
            list.clear();
            let found = loop {
                // SAFETY: the kernel writes at most `capacity` events into the spare capacity.
                let result = unsafe {
                    libc::epoll_wait(
                        self.epoll.as_raw_fd(),
                        list.as_mut_ptr(),
                        list.capacity() as libc::c_int,
                        wait_ms,
                    )
                };
                match check(result) {
                    Ok(n) => break n as usize,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                        if let Some(deadline) = deadline {
                            wait_ms = millis_rounded_up(
                                deadline.saturating_duration_since(Instant::now()),
                            );
                        }
                    }
                    Err(err) => return Err(err),
                }
            };
            // SAFETY: epoll_wait initialised the first `found` entries.
            unsafe { list.set_len(found) };
            let woken = list.iter().any(|ev| ev.u64 == NOTIFY_KEY);
            if woken {
                let mut count = 0u64;
                // SAFETY: reads 8 bytes into `count`; non-blocking, so an empty eventfd only
                // returns EAGAIN, which is fine (another wait consumed it).
                unsafe {
                    libc::read(
                        self.wakeup.as_raw_fd(),
                        (&mut count as *mut u64).cast(),
                        std::mem::size_of::<u64>(),
                    )
                };
                self.notified.store(false, Ordering::Release);
            }
            Ok(found - usize::from(woken))
        }

        /// Wakes the current or the next `wait()`, from any thread.
        pub(crate) fn notify(&self) -> io::Result<()> {
            if self.notified.swap(true, Ordering::AcqRel) {
                return Ok(()); // a wake-up is already on its way
            }
            let one = 1u64;
            // SAFETY: writes 8 bytes from `one`.
            let written = unsafe {
                libc::write(
                    self.wakeup.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
            if written < 0 {
                let err = io::Error::last_os_error();
                // A full eventfd still wakes the wait.
                if err.kind() != io::ErrorKind::WouldBlock {
                    self.notified.store(false, Ordering::Release);
                    return Err(err);
                }
            }
            Ok(())
        }
    }

    impl AsRawFd for Poller {
        fn as_raw_fd(&self) -> RawFd {
            self.epoll.as_raw_fd()
        }
    }

    /// `duration` in whole milliseconds, rounded up (a timer is never woken early), at most
    /// what `epoll_wait` takes.
    fn millis_rounded_up(duration: Duration) -> libc::c_int {
        let ms = duration.as_nanos().div_ceil(1_000_000);
        ms.min(libc::c_int::MAX as u128) as libc::c_int
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::os::unix::net::UnixStream;

        #[test]
        fn a_notify_wakes_a_blocked_wait_once_and_is_not_reported_as_an_event() {
            let poller = std::sync::Arc::new(Poller::new().unwrap());
            let other = poller.clone();
            let waker = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                other.notify().unwrap();
                other.notify().unwrap(); // coalesced with the first
            });
            let mut events = Events::new();
            let started = Instant::now();
            assert_eq!(
                poller
                    .wait(&mut events, Some(Duration::from_secs(10)))
                    .unwrap(),
                0
            );
            assert!(started.elapsed() < Duration::from_secs(5));
            waker.join().unwrap();
            assert_eq!(events.iter().count(), 0);
            // The wake-up was consumed: the next wait times out.
            let started = Instant::now();
            assert_eq!(
                poller
                    .wait(&mut events, Some(Duration::from_millis(30)))
                    .unwrap(),
                0
            );
            assert!(started.elapsed() >= Duration::from_millis(30));
        }

        #[test]
        fn level_fds_are_reported_until_read_and_oneshot_ones_once() {
            let poller = Poller::new().unwrap();
            let (a, mut b) = UnixStream::pair().unwrap();
            let (c, mut d) = UnixStream::pair().unwrap();
            // SAFETY: both are deleted below, before they are dropped.
            unsafe {
                poller
                    .add_with_mode(a.as_raw_fd(), Event::readable(1), PollMode::Level)
                    .unwrap();
                poller.add(c.as_raw_fd(), Event::readable(2)).unwrap();
            }
            use std::io::Write;
            b.write_all(b"x").unwrap();
            d.write_all(b"y").unwrap();
            let mut events = Events::new();
            for round in 0..2 {
                poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
                let mut keys: Vec<(usize, bool, bool)> = events
                    .iter()
                    .map(|e| (e.key, e.readable, e.writable))
                    .collect();
                keys.sort();
                let want = if round == 0 {
                    vec![(1, true, false), (2, true, false)]
                } else {
                    vec![(1, true, false)]
                };
                assert_eq!(keys, want, "round {round}");
            }
            poller.modify(&c, Event::readable(2)).unwrap();
            poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
            assert_eq!(events.iter().count(), 2);
            poller.delete(&a).unwrap();
            poller.delete(&c).unwrap();
            assert_eq!(poller.wait(&mut events, Some(Duration::ZERO)).unwrap(), 0);
        }

        #[test]
        fn a_hang_up_is_readable_and_writable() {
            let poller = Poller::new().unwrap();
            let (a, b) = UnixStream::pair().unwrap();
            // SAFETY: `a` outlives the poller.
            unsafe {
                poller
                    .add_with_mode(a.as_raw_fd(), Event::writable(7), PollMode::Level)
                    .unwrap();
            }
            drop(b);
            let mut events = Events::new();
            poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
            let seen: Vec<(usize, bool, bool)> = events
                .iter()
                .map(|e| (e.key, e.readable, e.writable))
                .collect();
            assert_eq!(seen, vec![(7, true, true)]);
        }
    }
}
