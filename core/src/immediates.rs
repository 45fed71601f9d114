//! The immediate queue (`setImmediate`): FIFO, run in the check phase.
//!
//! The check phase runs the immediates queued before it began; those queued meanwhile wait for
//! the next iteration (Node swaps its queue out the same way). The batch being run is kept here,
//! so a callback failure leaves the rest of the batch to run first when `run` resumes.
//!
//! Immediates are one `VecDeque` in scheduling order, named by sequence number: the id of an
//! immediate is its position plus the number of immediates already taken off the front, so
//! scheduling, clearing and running each cost O(1) and one slot, with no slab and no free list
//! (a million queued immediates are a million slots of one deque). A cleared immediate leaves
//! an empty slot behind, skipped when the check phase reaches it; cleared slots at the front
//! are dropped at once, so a set-and-clear pair on an empty queue leaves nothing.
//!
//! A slot is the callback alone (`Option<C>` costs no more than `C` for the bindings' types):
//! the rare unref'd immediate is listed in a side set instead of a flag in every slot, because
//! a million queued immediates are memory the kernel must fault in and zero, and a flag padded
//! to a word made every slot a fifth larger.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::{Id, IdKind};

/// A waiting immediate, as queries see it.
pub(crate) struct ImmediateView<'a, C> {
    pub(crate) cb: &'a C,
    pub(crate) refed: bool,
}

pub(crate) struct ImmediateQueue<C> {
    /// Immediates not yet run, in scheduling order; `None` once cleared. `slots[i]` is number
    /// `base + i`.
    slots: VecDeque<Option<C>>,
    /// The sequence number of `slots[0]`.
    base: u64,
    /// One past the last number of the check phase's batch; `<= base` when no batch runs.
    batch_end: u64,
    /// How many slots hold an immediate.
    live: usize,
    /// The sequence numbers of the waiting immediates that are unref'd.
    unrefed: FxHashSet<u64>,
    tag: u16,
}

impl<C> ImmediateQueue<C> {
    pub(crate) fn new(tag: u16) -> Self {
        ImmediateQueue {
            slots: VecDeque::new(),
            // Number 0 is never used, so that no immediate id has all-zero sequence bits.
            base: 1,
            batch_end: 1,
            live: 0,
            unrefed: FxHashSet::default(),
            tag,
        }
    }

    fn id(&self, seq: u64) -> Id {
        Id::sequence(IdKind::Immediate, self.tag, seq)
    }

    /// The sequence number and slot of a waiting immediate.
    fn position(&self, id: Id) -> Option<(u64, usize)> {
        let seq = id.sequence_number(IdKind::Immediate, self.tag)?;
        let index = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        (index < self.slots.len() && self.slots[index].is_some()).then_some((seq, index))
    }

    /// Forgets that `seq` (no longer waiting) was unref'd.
    #[inline]
    fn forget_unref(&mut self, seq: u64) {
        if !self.unrefed.is_empty() {
            self.unrefed.remove(&seq);
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, cb: C) -> Id {
        let seq = self.base + self.slots.len() as u64;
        self.slots.push_back(Some(cb));
        self.live += 1;
        self.id(seq)
    }

    /// Whether any ref'd immediate waits (rule 5.1: poll must not block; rule 6: alive).
    pub(crate) fn has_ref(&self) -> bool {
        self.live > self.unrefed.len()
    }

    /// The waiting immediate `id`, if it is one.
    pub(crate) fn get(&self, id: Id) -> Option<ImmediateView<'_, C>> {
        let (seq, index) = self.position(id)?;
        Some(ImmediateView {
            cb: self.slots[index].as_ref()?,
            refed: !self.unrefed.contains(&seq),
        })
    }

    /// Whether `id` is an immediate still waiting to run.
    pub(crate) fn contains(&self, id: Id) -> bool {
        self.position(id).is_some()
    }

    /// Every waiting immediate, in scheduling order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Id, ImmediateView<'_, C>)> + '_ {
        self.slots
            .iter()
            .zip(self.base..)
            .filter_map(|(slot, seq)| {
                slot.as_ref().map(|cb| {
                    let refed = !self.unrefed.contains(&seq);
                    (self.id(seq), ImmediateView { cb, refed })
                })
            })
    }

    /// Starts a check phase's batch, unless a failed one is still being resumed.
    pub(crate) fn begin_batch(&mut self) {
        if self.batch_end <= self.base {
            self.batch_end = self.base + self.slots.len() as u64;
        }
    }

    /// The next immediate of the batch, removed from the queue.
    #[inline]
    pub(crate) fn pop_batch(&mut self) -> Option<(Id, C)> {
        while self.base < self.batch_end {
            let slot = self.slots.pop_front()?;
            let seq = self.base;
            self.base += 1;
            if let Some(cb) = slot {
                self.live -= 1;
                self.forget_unref(seq);
                return Some((self.id(seq), cb));
            }
        }
        None
    }

    pub(crate) fn clear(&mut self, id: Id) -> Option<C> {
        let (seq, index) = self.position(id)?;
        let cb = self.slots[index].take()?;
        self.live -= 1;
        self.forget_unref(seq);
        // Empty slots at the front carry nothing: drop them. Not those at the back: the next
        // immediate's number is the one past the last slot, so dropping the cleared newest
        // would hand its number to the next `setImmediate`, and a second clear of the old id
        // would cancel that one. They go when the check phase reaches them (or at once when
        // they are the front too, as a set-and-clear pair on an empty queue is).
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(cb)
    }

    pub(crate) fn set_ref(&mut self, id: Id, refed: bool) -> bool {
        let Some((seq, _)) = self.position(id) else {
            return false;
        };
        if refed {
            self.unrefed.remove(&seq);
        } else {
            self.unrefed.insert(seq);
        }
        true
    }

    pub(crate) fn drain_all(&mut self) -> Vec<C> {
        self.base += self.slots.len() as u64;
        self.batch_end = self.base;
        self.live = 0;
        self.unrefed.clear();
        self.slots.drain(..).flatten().collect()
    }

    /// How many immediates wait (cleared ones not counted).
    #[cfg(test)]
    fn len(&self) -> usize {
        debug_assert_eq!(self.live, self.slots.iter().flatten().count());
        self.live
    }
}

impl<C: Callback> Loop<C> {
    /// `setImmediate`: runs `cb` in the check phase (the next one if this is called from it).
    pub fn set_immediate(&self, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        Ok(self.st().immediates.push(cb))
    }

    /// `clearImmediate`. [`Error::NotFound`] if it already ran or was cleared.
    pub fn clear_immediate(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let cb = self.st().immediates.clear(id);
        match cb {
            Some(cb) => {
                drop(cb);
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// `ref()` / `unref()` of an immediate.
    pub fn set_immediate_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.set_ref(self.alias_of(id, IdKind::Immediate)?, refed)
    }

    /// `hasRef()` of an immediate.
    pub fn immediate_has_ref(&self, id: Id) -> Result<bool, Error> {
        self.has_ref(self.alias_of(id, IdKind::Immediate)?)
    }

    /// Whether the immediate is still waiting to run.
    pub fn immediate_active(&self, id: Id) -> bool {
        id.kind() == Some(IdKind::Immediate) && self.is_active(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_batch(q: &mut ImmediateQueue<&'static str>) -> Vec<&'static str> {
        q.begin_batch();
        std::iter::from_fn(|| q.pop_batch().map(|(_, cb)| cb)).collect()
    }

    #[test]
    fn a_batch_runs_what_was_queued_before_it_began_in_order() {
        let mut q = ImmediateQueue::new(1);
        q.push("a");
        q.push("b");
        q.begin_batch();
        assert_eq!(q.pop_batch().map(|(_, cb)| cb), Some("a"));
        q.push("queued during the batch");
        assert_eq!(q.pop_batch().map(|(_, cb)| cb), Some("b"));
        assert_eq!(q.pop_batch().map(|(_, cb)| cb), None);
        assert_eq!(run_batch(&mut q), ["queued during the batch"]);
    }

    #[test]
    fn ids_name_one_immediate_and_are_never_reused() {
        let mut q = ImmediateQueue::new(1);
        let a = q.push("a");
        let b = q.push("b");
        assert_ne!(a, b);
        assert_eq!(q.get(b).map(|e| *e.cb), Some("b"));
        assert_eq!(run_batch(&mut q), ["a", "b"]);
        let c = q.push("c");
        assert!(!q.contains(a) && !q.contains(b));
        assert!(q.contains(c));
        assert_eq!(q.clear(a), None);
        let other_loop: ImmediateQueue<&str> = ImmediateQueue::new(2);
        assert!(!other_loop.contains(c));
    }

    #[test]
    fn a_cleared_immediate_is_skipped_and_a_set_clear_pair_leaves_nothing() {
        let mut q = ImmediateQueue::new(1);
        let a = q.push("a");
        let b = q.push("b");
        q.push("c");
        assert_eq!(q.clear(b), Some("b"));
        assert_eq!(q.clear(b), None);
        assert_eq!(q.len(), 2);
        assert_eq!(q.clear(a), Some("a"));
        assert_eq!(run_batch(&mut q), ["c"]);
        for _ in 0..1000 {
            let id = q.push("x");
            q.clear(id);
        }
        assert_eq!(q.slots.len(), 0);
        assert!(!q.has_ref());
    }

    #[test]
    fn the_number_of_a_cleared_immediate_is_not_taken_again() {
        let mut q = ImmediateQueue::new(1);
        q.push("a");
        let b = q.push("b");
        assert_eq!(q.clear(b), Some("b"));
        let c = q.push("c");
        assert_ne!(b, c);
        // A second clear of the old id is a stale id, not the new immediate.
        assert_eq!(q.clear(b), None);
        assert!(q.contains(c));
        assert_eq!(run_batch(&mut q), ["a", "c"]);
    }

    #[test]
    fn clearing_the_last_of_a_running_batch_keeps_later_ones_for_the_next_batch() {
        let mut q = ImmediateQueue::new(1);
        q.push("a");
        let b = q.push("b");
        q.begin_batch();
        assert_eq!(q.pop_batch().map(|(_, cb)| cb), Some("a"));
        // "a"'s callback clears "b" and queues "c": "c" waits for the next check phase.
        q.clear(b);
        q.push("c");
        assert_eq!(q.pop_batch().map(|(_, cb)| cb), None);
        assert_eq!(run_batch(&mut q), ["c"]);
    }

    #[test]
    fn unref_counts_and_drain_all() {
        let mut q = ImmediateQueue::new(1);
        let a = q.push("a");
        assert!(q.set_ref(a, false));
        assert!(!q.has_ref());
        q.push("b");
        assert!(q.has_ref());
        assert_eq!(q.drain_all(), ["a", "b"]);
        assert!(!q.has_ref() && !q.contains(a));
        assert!(!q.set_ref(a, true));
    }
}
