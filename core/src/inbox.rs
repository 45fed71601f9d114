//! What other threads hand to the loop: pool completions and threadsafe calls, and the poller
//! whose `notify` wakes the loop when either arrives.
//!
//! Senders push under a short mutex and notify only when the queue goes from empty to non-empty;
//! the loop swaps a whole queue out at once in its poll phase, so a burst of calls costs one
//! wake-up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::poller::Poller;
use parking_lot::Mutex;

use crate::id::Id;
use crate::work_outcome::WorkOutcome;

/// A finished (or cancelled) work request, waiting for its callback on the loop thread.
pub(crate) struct Completion {
    pub(crate) id: Id,
    pub(crate) outcome: WorkOutcome,
}

struct Calls<C> {
    queue: VecDeque<C>,
    closed: bool,
}

/// The loop's cross-thread mailbox. Shared by the loop, its pool threads and its remotes.
pub(crate) struct Inbox<C> {
    pub(crate) poller: Poller,
    completions: Mutex<Vec<Completion>>,
    calls: Mutex<Calls<C>>,
    /// Whether threadsafe calls are queued and not yet taken by the loop (taken ones wait in
    /// the loop's own queue); they keep the loop alive (rule 6.1). A flag the loop reads
    /// without taking the lock, written under it only when the queue goes from empty to
    /// non-empty and back: a counter cost every call an atomic add on a cache line the loop
    /// reads, where a burst of calls now writes it once.
    has_calls: AtomicBool,
}

impl<C> Inbox<C> {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Inbox {
            poller: Poller::new()?,
            completions: Mutex::new(Vec::new()),
            calls: Mutex::new(Calls {
                queue: VecDeque::new(),
                closed: false,
            }),
            has_calls: AtomicBool::new(false),
        })
    }

    fn wake(&self) {
        // notify() only fails if the eventfd write fails, which a full counter cannot cause.
        let _ = self.poller.notify();
    }

    /// Called by a pool thread when a job is done.
    pub(crate) fn complete(&self, completion: Completion) {
        let mut queue = self.completions.lock();
        let was_empty = queue.is_empty();
        queue.push(completion);
        drop(queue);
        if was_empty {
            self.wake();
        }
    }

    /// Queues a threadsafe call; gives the callback back if the loop is closed.
    pub(crate) fn call(&self, cb: C) -> Result<(), C> {
        let mut calls = self.calls.lock();
        if calls.closed {
            return Err(cb);
        }
        let was_empty = calls.queue.is_empty();
        calls.queue.push_back(cb);
        if was_empty {
            self.has_calls.store(true, Ordering::Relaxed);
        }
        drop(calls);
        if was_empty {
            self.wake();
        }
        Ok(())
    }

    /// Whether threadsafe calls wait to be taken (without taking the lock).
    pub(crate) fn has_calls(&self) -> bool {
        self.has_calls.load(Ordering::Relaxed)
    }

    /// How many threadsafe calls wait to be taken (takes the lock: for listings, not the
    /// loop's own checks).
    pub(crate) fn queued_calls(&self) -> usize {
        self.calls.lock().queue.len()
    }

    /// Moves every completion into `into`, in completion order.
    pub(crate) fn take_completions(&self, into: &mut Vec<Completion>) {
        let mut queue = self.completions.lock();
        if into.is_empty() {
            std::mem::swap(into, &mut queue);
        } else {
            into.append(&mut queue);
        }
    }

    /// Moves every threadsafe call to the back of `into`, in call order (by swapping the
    /// queues when `into` is empty, so that a burst of calls is never copied).
    pub(crate) fn take_calls(&self, into: &mut VecDeque<C>) {
        let mut calls = self.calls.lock();
        self.has_calls.store(false, Ordering::Relaxed);
        if into.is_empty() {
            std::mem::swap(into, &mut calls.queue);
        } else {
            into.append(&mut calls.queue);
        }
    }

    /// Refuses further calls and returns those still queued (to be dropped by the loop).
    pub(crate) fn close(&self) -> VecDeque<C> {
        let mut calls = self.calls.lock();
        calls.closed = true;
        let left = std::mem::take(&mut calls.queue);
        self.has_calls.store(false, Ordering::Relaxed);
        left
    }

    /// [`Inbox::close`] in a child of `fork()`: a thread of the parent may have held the lock
    /// when the process forked, so it is only tried (the calls are then left behind).
    pub(crate) fn close_forked(&self) -> VecDeque<C> {
        let Some(mut calls) = self.calls.try_lock() else {
            return VecDeque::new();
        };
        calls.closed = true;
        self.has_calls.store(false, Ordering::Relaxed);
        std::mem::take(&mut calls.queue)
    }

    /// Visits the queued threadsafe calls (skipped if a sender holds the lock right now).
    pub(crate) fn visit_calls(&self, visit: &mut impl FnMut(&C)) {
        if let Some(calls) = self.calls.try_lock() {
            calls.queue.iter().for_each(visit);
        }
    }
}
