//! The immediate queue (`setImmediate`): FIFO, run in the check phase.
//!
//! The check phase runs the immediates queued before it began; those queued meanwhile wait for
//! the next iteration (Node swaps its queue out the same way). The batch being run is kept here,
//! so a callback failure leaves the rest of the batch to run first when `run` resumes.

use std::collections::VecDeque;

use crate::id::{Id, IdKind, Slab};

pub(crate) struct ImmediateEntry<C> {
    pub(crate) cb: C,
    pub(crate) refed: bool,
}

pub(crate) struct ImmediateQueue<C> {
    pub(crate) slab: Slab<ImmediateEntry<C>>,
    /// Waiting for the next check phase. Cleared ids stay behind and are skipped.
    queued: VecDeque<Id>,
    /// The batch of the check phase in progress.
    running: VecDeque<Id>,
    refed: usize,
}

impl<C> ImmediateQueue<C> {
    pub(crate) fn new(tag: u16) -> Self {
        ImmediateQueue {
            slab: Slab::new(IdKind::Immediate, tag),
            queued: VecDeque::new(),
            running: VecDeque::new(),
            refed: 0,
        }
    }

    pub(crate) fn push(&mut self, cb: C) -> Id {
        let id = self.slab.insert(ImmediateEntry { cb, refed: true });
        self.refed += 1;
        self.queued.push_back(id);
        id
    }

    /// Whether any ref'd immediate waits (rule 5.1: poll must not block; rule 6: alive).
    pub(crate) fn has_ref(&self) -> bool {
        self.refed > 0
    }

    /// Starts a check phase's batch, unless a failed one is still being resumed.
    pub(crate) fn begin_batch(&mut self) {
        if self.running.is_empty() {
            std::mem::swap(&mut self.running, &mut self.queued);
        }
    }

    /// The next immediate of the batch, removed from the queue.
    pub(crate) fn pop_batch(&mut self) -> Option<(Id, C)> {
        while let Some(id) = self.running.pop_front() {
            if let Some(entry) = self.slab.remove(id) {
                if entry.refed {
                    self.refed -= 1;
                }
                return Some((id, entry.cb));
            }
        }
        None
    }

    pub(crate) fn clear(&mut self, id: Id) -> Option<C> {
        let entry = self.slab.remove(id)?;
        if entry.refed {
            self.refed -= 1;
        }
        // Cleared ids are skipped lazily; compact when they dominate so memory stays flat.
        let live = self.slab.len();
        if self.queued.len() > 2 * live + 64 {
            let slab = &self.slab;
            self.queued.retain(|id| slab.contains(*id));
        }
        Some(entry.cb)
    }

    pub(crate) fn set_ref(&mut self, id: Id, refed: bool) -> bool {
        let Some(entry) = self.slab.get_mut(id) else {
            return false;
        };
        if entry.refed != refed {
            entry.refed = refed;
            if refed {
                self.refed += 1;
            } else {
                self.refed -= 1;
            }
        }
        true
    }

    pub(crate) fn drain_all(&mut self) -> Vec<C> {
        self.queued.clear();
        self.running.clear();
        self.refed = 0;
        self.slab.drain_all().into_iter().map(|e| e.cb).collect()
    }
}
