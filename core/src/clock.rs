//! The loop's one clock: real (monotonic, cached like libuv's `uv_now`) or virtual.
//!
//! Nothing else in the crate reads the time. The real clock counts from the loop's creation and is
//! cached in whole milliseconds, refreshed where libuv refreshes it (the start of `run`, the start
//! of the timers phase, after a poll that made a system call or followed host code: see
//! `Loop::poll_wait`) and whenever a timer is scheduled (Node's `getLibuvNow()`,
//! ordering rule 4.2 in docs/ordering.md). The virtual clock never moves by itself: only
//! [`Clock::advance`] and the poll phase's jump to the next due timer move it.

use std::cell::Cell;

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::Loop;

/// Which clock a loop runs on.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub enum ClockKind {
    /// Monotonic wall time: timers wait for real.
    #[default]
    Real,
    /// Time never sleeps: when the loop would block on a timer, the clock jumps to it.
    Virtual,
}

pub(crate) struct Clock {
    kind: ClockKind,
    /// `monotonic_ns()` when the loop was created.
    origin_ns: u64,
    /// The cached loop time in ms (`uv_now`).
    cached_ms: Cell<u64>,
    /// The virtual time in ns; unused by the real clock.
    virtual_ns: Cell<u64>,
}

const NS_PER_MS: u64 = 1_000_000;

impl Clock {
    pub(crate) fn new(kind: ClockKind) -> Clock {
        Clock {
            kind,
            origin_ns: monotonic_ns(),
            cached_ms: Cell::new(0),
            virtual_ns: Cell::new(0),
        }
    }

    pub(crate) fn kind(&self) -> ClockKind {
        self.kind
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.kind == ClockKind::Virtual
    }

    /// The cached loop time in ms.
    pub(crate) fn now_ms(&self) -> u64 {
        self.cached_ms.get()
    }

    /// Reads the clock afresh, caches it, and returns it in ms.
    pub(crate) fn update(&self) -> u64 {
        let ms = self.hrtime_ns() / NS_PER_MS;
        // The real clock is monotonic, but keep the cache from ever going back.
        let ms = ms.max(self.cached_ms.get());
        self.cached_ms.set(ms);
        ms
    }

    /// Caches `real_ns` (a [`Clock::real_ns`] reading just taken) as the real clock's time, so
    /// that a caller which needed the real time anyway does not read the clock twice.
    pub(crate) fn update_to(&self, real_ns: u64) -> u64 {
        debug_assert!(!self.is_virtual());
        let ms = (real_ns / NS_PER_MS).max(self.cached_ms.get());
        self.cached_ms.set(ms);
        ms
    }

    /// A monotonic time in ns since the loop was created (virtual on the virtual clock).
    pub(crate) fn hrtime_ns(&self) -> u64 {
        match self.kind {
            ClockKind::Real => self.real_ns(),
            ClockKind::Virtual => self.virtual_ns.get(),
        }
    }

    /// Real elapsed ns since creation, whatever the clock kind (for utilization and metrics,
    /// which measure the machine, not the experiment).
    #[inline]
    pub(crate) fn real_ns(&self) -> u64 {
        monotonic_ns().saturating_sub(self.origin_ns)
    }

    /// Moves the virtual clock forward by `ms` (no-op on the real clock; callers check).
    pub(crate) fn advance(&self, ms: u64) {
        let ns = self
            .virtual_ns
            .get()
            .saturating_add(ms.saturating_mul(NS_PER_MS));
        self.virtual_ns.set(ns);
    }

    /// Moves the virtual clock to `ms` if it is behind, and refreshes the cache.
    pub(crate) fn jump_to(&self, ms: u64) {
        let target = ms.saturating_mul(NS_PER_MS);
        if target > self.virtual_ns.get() {
            self.virtual_ns.set(target);
        }
        self.update();
    }
}

/// `CLOCK_MONOTONIC` in ns. Read directly rather than through `Instant::elapsed`: an iteration
/// reads the clock up to twice (as libuv does), and the checked `Duration` arithmetic around the
/// system call cost a third as much again as the call itself.
#[inline]
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; CLOCK_MONOTONIC always exists on the
    // platforms this crate builds for (Linux and other Unixes), so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

impl<C: Callback> Loop<C> {
    /// The clock this loop runs on.
    pub fn clock_kind(&self) -> ClockKind {
        self.clock.kind()
    }

    /// The loop's cached time in ms since it was created (`uv_now`).
    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Refreshes the cached time (`uv_update_time`).
    pub fn update_time(&self) {
        self.clock.update();
    }

    /// A monotonic clock in ns (virtual on the virtual clock).
    pub fn hrtime(&self) -> u64 {
        self.clock.hrtime_ns()
    }

    /// Virtual clock only: moves time forward `ms`, as if a callback had blocked that long.
    /// Timers that become due run in the next timers phase.
    pub fn advance(&self, ms: u64) -> Result<(), Error> {
        self.check_open()?;
        if !self.clock.is_virtual() {
            return Err(Error::NeedsVirtualClock);
        }
        self.clock.advance(ms);
        self.clock.update();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_moves_only_when_told() {
        let clock = Clock::new(ClockKind::Virtual);
        assert_eq!(clock.update(), 0);
        clock.advance(5);
        assert_eq!(clock.now_ms(), 0, "the cache waits for an update");
        assert_eq!(clock.update(), 5);
        clock.jump_to(3);
        assert_eq!(clock.now_ms(), 5, "never backwards");
        clock.jump_to(40);
        assert_eq!(clock.hrtime_ns(), 40 * NS_PER_MS);
    }

    #[test]
    fn real_clock_is_cached_until_updated() {
        let clock = Clock::new(ClockKind::Real);
        let before = clock.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(3));
        assert_eq!(clock.now_ms(), before);
        assert!(clock.update() >= before + 3);
    }
}
