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
//! A slot is the host's [`Callback::Slot`]: the callback itself, or a compact form of the
//! common case (the C binding's function and `void *`, 16 bytes where its callback is 32),
//! because a million queued immediates are a million slots the kernel must fault in and zero.
//! What is rare is kept beside the deque, keyed by sequence number, instead of in every slot:
//! a callback that does not fit the compact form (its slot is then empty, as a cleared one's
//! is), and the unref'd immediates (a flag padded to a word would make every slot larger).

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::{Id, IdKind};
use crate::immediate_slot::ImmediateSlot;

/// A waiting immediate, as queries see it.
pub(crate) struct ImmediateView<'a, C> {
    /// The callback, when its slot shows it (see [`ImmediateSlot::callback`]).
    pub(crate) cb: Option<&'a C>,
    pub(crate) refed: bool,
}

/// The immediates of callback type `C`, waiting in slots of type `S` (the loop's is
/// `C::Slot`; the tests' `C` is its own slot).
pub(crate) struct ImmediateQueue<C, S = C> {
    /// Immediates not yet run, in scheduling order; `None` once cleared, or when the callback
    /// is kept in `aside`. `slots[i]` is number `base + i`.
    slots: VecDeque<Option<S>>,
    /// The waiting immediates whose callbacks did not fit a slot (`S::pack` refused them), by
    /// number.
    aside: FxHashMap<u64, C>,
    /// The sequence number of `slots[0]`.
    base: u64,
    /// One past the last number of the check phase's batch; `<= base` when no batch runs.
    batch_end: u64,
    /// How many slots are cleared (empty, and not kept aside): what the deque holds beyond the
    /// waiting immediates. Running an immediate leaves it alone, as most of them run.
    cleared: usize,
    /// The sequence numbers of the waiting immediates that are unref'd.
    unrefed: FxHashSet<u64>,
    /// The kind and tag bits of every id this queue makes ([`Id::sequence`]).
    id_prefix: u64,
}

impl<C, S: ImmediateSlot<C>> ImmediateQueue<C, S> {
    pub(crate) fn new(tag: u16) -> Self {
        ImmediateQueue {
            slots: VecDeque::new(),
            aside: FxHashMap::default(),
            // Number 0 is never used, so that no immediate id has all-zero sequence bits.
            base: 1,
            batch_end: 1,
            cleared: 0,
            unrefed: FxHashSet::default(),
            id_prefix: Id::sequence_prefix(IdKind::Immediate, tag),
        }
    }

    #[inline(always)]
    fn id(&self, seq: u64) -> Id {
        Id::sequence(self.id_prefix, seq)
    }

    /// Whether the empty slot of number `seq` holds an immediate kept aside (else it was
    /// cleared).
    #[inline]
    fn is_aside(&self, seq: u64) -> bool {
        !self.aside.is_empty() && self.aside.contains_key(&seq)
    }

    /// The sequence number and slot of a waiting immediate.
    fn position(&self, id: Id) -> Option<(u64, usize)> {
        let seq = id.sequence_number(self.id_prefix)?;
        let index = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        let waiting = match self.slots.get(index)? {
            Some(_) => true,
            None => self.is_aside(seq),
        };
        waiting.then_some((seq, index))
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
        match S::pack(cb) {
            Ok(slot) => self.slots.push_back(Some(slot)),
            Err(cb) => self.push_aside(seq, cb),
        }
        self.id(seq)
    }

    /// Queues number `seq`, whose callback does not fit a slot.
    #[cold]
    fn push_aside(&mut self, seq: u64, cb: C) {
        self.aside.insert(seq, cb);
        self.slots.push_back(None);
    }

    /// How many immediates wait (cleared ones not counted).
    fn live(&self) -> usize {
        self.slots.len() - self.cleared
    }

    /// Whether any ref'd immediate waits (rule 5.1: poll must not block; rule 6: alive).
    pub(crate) fn has_ref(&self) -> bool {
        self.live() > self.unrefed.len()
    }

    /// The callback of the waiting immediate of number `seq` at slot `index`.
    fn view(&self, seq: u64, index: usize) -> ImmediateView<'_, C> {
        let cb = match &self.slots[index] {
            Some(slot) => slot.callback(),
            None => self.aside.get(&seq),
        };
        ImmediateView {
            cb,
            refed: !self.unrefed.contains(&seq),
        }
    }

    /// The waiting immediate `id`, if it is one.
    pub(crate) fn get(&self, id: Id) -> Option<ImmediateView<'_, C>> {
        let (seq, index) = self.position(id)?;
        Some(self.view(seq, index))
    }

    /// Whether `id` is an immediate still waiting to run.
    pub(crate) fn contains(&self, id: Id) -> bool {
        self.position(id).is_some()
    }

    /// Every waiting immediate, in scheduling order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Id, ImmediateView<'_, C>)> + '_ {
        (self.base..)
            .zip(0..self.slots.len())
            .filter(|&(seq, index)| self.slots[index].is_some() || self.is_aside(seq))
            .map(|(seq, index)| (self.id(seq), self.view(seq, index)))
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
            let cb = match slot {
                Some(slot) => slot.unpack(),
                None => match self.take_aside(seq) {
                    Some(cb) => cb,
                    None => {
                        self.cleared -= 1;
                        continue;
                    }
                },
            };
            self.forget_unref(seq);
            return Some((self.id(seq), cb));
        }
        None
    }

    /// The callback of number `seq` if it is kept aside, taken out.
    #[inline]
    fn take_aside(&mut self, seq: u64) -> Option<C> {
        if self.aside.is_empty() {
            return None;
        }
        self.aside.remove(&seq)
    }

    pub(crate) fn clear(&mut self, id: Id) -> Option<C> {
        let (seq, index) = self.position(id)?;
        let cb = match self.slots[index].take() {
            Some(slot) => slot.unpack(),
            None => self.aside.remove(&seq)?,
        };
        self.cleared += 1;
        self.forget_unref(seq);
        // Cleared slots at the front carry nothing: drop them. Not those at the back: the next
        // immediate's number is the one past the last slot, so dropping the cleared newest
        // would hand its number to the next `setImmediate`, and a second clear of the old id
        // would cancel that one. They go when the check phase reaches them (or at once when
        // they are the front too, as a set-and-clear pair on an empty queue is).
        while matches!(self.slots.front(), Some(None)) && !self.is_aside(self.base) {
            self.slots.pop_front();
            self.base += 1;
            self.cleared -= 1;
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

    /// Every waiting callback, in scheduling order; the queue is left empty (its numbers are
    /// not taken again).
    pub(crate) fn drain_all(&mut self) -> Vec<C> {
        let first = self.base;
        self.base += self.slots.len() as u64;
        self.batch_end = self.base;
        self.cleared = 0;
        self.unrefed.clear();
        let mut aside = std::mem::take(&mut self.aside);
        let waiting = self
            .slots
            .drain(..)
            .zip(first..)
            .filter_map(|(slot, seq)| match slot {
                Some(slot) => Some(slot.unpack()),
                None => aside.remove(&seq),
            })
            .collect();
        debug_assert!(aside.is_empty());
        waiting
    }

    /// How many immediates wait (cleared ones not counted).
    #[cfg(test)]
    fn len(&self) -> usize {
        let waiting = (self.base..)
            .zip(0..self.slots.len())
            .filter(|&(seq, index)| self.slots[index].is_some() || self.is_aside(seq))
            .count();
        debug_assert_eq!(self.live(), waiting);
        self.live()
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

    fn run_batch<S: ImmediateSlot<&'static str>>(
        q: &mut ImmediateQueue<&'static str, S>,
    ) -> Vec<&'static str> {
        q.begin_batch();
        std::iter::from_fn(|| q.pop_batch().map(|(_, cb)| cb)).collect()
    }

    /// A compact slot for the tests: a one-letter callback fits it, a longer one waits aside
    /// (as a C immediate with a drop function does).
    struct Letter(u8);

    impl ImmediateSlot<&'static str> for Letter {
        fn pack(cb: &'static str) -> Result<Self, &'static str> {
            match cb.as_bytes() {
                [letter] => Ok(Letter(*letter)),
                _ => Err(cb),
            }
        }

        fn unpack(self) -> &'static str {
            let letters = ["a", "b", "c", "d"];
            letters[usize::from(self.0 - b'a')]
        }

        fn callback(&self) -> Option<&&'static str> {
            None
        }
    }

    #[test]
    fn a_batch_runs_what_was_queued_before_it_began_in_order() {
        let mut q: ImmediateQueue<&str> = ImmediateQueue::new(1);
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
        let mut q: ImmediateQueue<&str> = ImmediateQueue::new(1);
        let a = q.push("a");
        let b = q.push("b");
        assert_ne!(a, b);
        assert_eq!(q.get(b).and_then(|e| e.cb.copied()), Some("b"));
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
        let mut q: ImmediateQueue<&str> = ImmediateQueue::new(1);
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
        let mut q: ImmediateQueue<&str> = ImmediateQueue::new(1);
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
        let mut q: ImmediateQueue<&str> = ImmediateQueue::new(1);
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
        let mut q: ImmediateQueue<&str> = ImmediateQueue::new(1);
        let a = q.push("a");
        assert!(q.set_ref(a, false));
        assert!(!q.has_ref());
        q.push("b");
        assert!(q.has_ref());
        assert_eq!(q.drain_all(), ["a", "b"]);
        assert!(!q.has_ref() && !q.contains(a));
        assert!(!q.set_ref(a, true));
    }

    #[test]
    fn callbacks_kept_aside_run_in_their_place_and_clear_like_the_others() {
        let mut q: ImmediateQueue<&str, Letter> = ImmediateQueue::new(1);
        let long = q.push("long");
        q.push("a");
        let other = q.push("other");
        let b = q.push("b");
        assert_eq!(q.slots.len(), 4);
        assert_eq!(q.len(), 4);
        assert!(q.contains(long) && q.contains(other));
        assert_eq!(q.get(other).and_then(|e| e.cb.copied()), Some("other"));
        // The compact form shows no callback; the aside one shows its own.
        assert_eq!(q.get(b).map(|e| e.cb.is_none()), Some(true));
        let seen: Vec<_> = q.iter().map(|(id, e)| (id, e.cb.copied())).collect();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[2], (other, Some("other")));
        assert_eq!(q.clear(other), Some("other"));
        assert_eq!(q.clear(other), None);
        assert!(!q.contains(other));
        assert!(q.set_ref(long, false));
        assert!(q.has_ref());
        assert_eq!(q.len(), 3);
        assert_eq!(run_batch(&mut q), ["long", "a", "b"]);
        assert!(!q.contains(long) && !q.has_ref() && q.aside.is_empty());
    }

    #[test]
    fn clearing_the_front_keeps_an_aside_immediate_behind_it() {
        let mut q: ImmediateQueue<&str, Letter> = ImmediateQueue::new(1);
        let a = q.push("a");
        let long = q.push("long");
        let c = q.push("c");
        // The trim after clearing "a" stops at "long", whose slot is empty but not cleared.
        assert_eq!(q.clear(a), Some("a"));
        assert_eq!(q.slots.len(), 2);
        assert!(q.contains(long) && q.contains(c));
        // Clearing the aside one at the front trims it too.
        assert_eq!(q.clear(long), Some("long"));
        assert_eq!(q.slots.len(), 1);
        let d = q.push("dd");
        assert_eq!(q.drain_all(), ["c", "dd"]);
        assert!(!q.contains(d) && q.aside.is_empty() && q.slots.is_empty());
        assert_eq!(q.len(), 0);
    }
}
