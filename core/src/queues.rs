//! The queues of callbacks that belong to no handle: `process.nextTick` and microtasks,
//! drained after every callback (rule 2), and the pending phase's queue.

use crate::callback::Callback;
use crate::event_loop::{Loop, Pending, Refused};

impl<C: Callback> Loop<C> {
    /// `process.nextTick`: runs `cb` in the next drain, before any microtask (rule 2).
    pub fn next_tick(&self, cb: C) -> Result<(), Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        self.st().ticks.push_back(cb);
        self.maybe_queued.set(true);
        Ok(())
    }

    /// `queueMicrotask`: runs `cb` in the next drain, after the ticks (rule 2).
    pub fn queue_microtask(&self, cb: C) -> Result<(), Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        self.st().microtasks.push_back(cb);
        self.maybe_queued.set(true);
        Ok(())
    }

    /// Queues `cb` for the next pending phase to begin (libuv's deferred I/O callbacks).
    pub fn queue_pending(&self, cb: C) -> Result<(), Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        self.st().pending.push_back(Pending::Call(cb));
        Ok(())
    }
}
