//! Timers ordered by Node's own algorithm (SEMANTICS.md rule 4), not by a plain heap.
//!
//! Timers with the same delay share one FIFO list; lists are queued by `(expiry, list id)`.
//! The timers phase repeatedly takes the first list whose expiry has passed and runs its timers
//! from the front while they are due; at the first one that is not, the list gets a new expiry
//! and a new id and goes back in the queue. A heap ordered by due time alone would run a late
//! loop's timers in a different order from Node.
//!
//! Lists are intrusive doubly linked lists through the timer slab (O(1) append and removal), and
//! the list queue is a `BTreeSet` (O(log lists)). A cleared or refreshed timer leaves no trace, so
//! memory stays flat over any number of set/clear pairs.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use crate::id::{Id, IdKind, Slab};

/// The largest delay Node accepts (`TIMEOUT_MAX`, 2**31 - 1 ms).
pub const TIMEOUT_MAX: f64 = 2_147_483_647.0;

/// Node's delay coercion: < 1, NaN or > 2**31 - 1 become 1; fractions are truncated.
pub fn coerce_delay(delay_ms: f64) -> u64 {
    if (1.0..=TIMEOUT_MAX).contains(&delay_ms) {
        delay_ms.trunc() as u64
    } else {
        1
    }
}

pub(crate) struct TimerEntry<C> {
    /// `None` while the timer's callback runs.
    pub(crate) cb: Option<C>,
    pub(crate) delay: u64,
    pub(crate) start: u64,
    pub(crate) repeat: bool,
    pub(crate) refed: bool,
    linked: bool,
    prev: Option<u32>,
    next: Option<u32>,
}

impl<C> TimerEntry<C> {
    /// Whether the timer is armed (in a list).
    pub(crate) fn linked(&self) -> bool {
        self.linked
    }
}

struct TimerList {
    head: Option<u32>,
    tail: Option<u32>,
    expiry: u64,
    id: u64,
}

/// Every timer of one loop.
pub(crate) struct TimerQueue<C> {
    pub(crate) slab: Slab<TimerEntry<C>>,
    lists: FxHashMap<u64, TimerList>,
    /// `(expiry, list id, delay)` of every list.
    queue: BTreeSet<(u64, u64, u64)>,
    next_list_id: u64,
    refed_armed: usize,
}

impl<C> TimerQueue<C> {
    pub(crate) fn new(tag: u16) -> Self {
        TimerQueue {
            slab: Slab::new(IdKind::Timer, tag),
            lists: FxHashMap::default(),
            queue: BTreeSet::new(),
            next_list_id: 1,
            refed_armed: 0,
        }
    }

    /// Adds a timer due at `start + delay` (delay already coerced) and arms it.
    pub(crate) fn schedule(&mut self, cb: C, delay: u64, repeat: bool, start: u64) -> Id {
        let id = self.slab.insert(TimerEntry {
            cb: Some(cb),
            delay,
            start,
            repeat,
            refed: true,
            linked: false,
            prev: None,
            next: None,
        });
        let index = self.slab.index(id).expect("just inserted");
        self.link(index, start);
        id
    }

    /// Whether any ref'd timer is armed (rule 6).
    pub(crate) fn has_ref(&self) -> bool {
        self.refed_armed > 0
    }

    /// How many timers exist (armed, or running their callback).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// The earliest list expiry, for the poll timeout.
    pub(crate) fn next_expiry(&self) -> Option<u64> {
        self.queue.first().map(|&(expiry, _, _)| expiry)
    }

    fn link(&mut self, index: u32, start: u64) {
        let entry = self.slab.at_mut(index);
        debug_assert!(!entry.linked);
        entry.start = start;
        entry.linked = true;
        entry.next = None;
        let delay = entry.delay;
        if entry.refed {
            self.refed_armed += 1;
        }
        let tail = match self.lists.get_mut(&delay) {
            Some(list) => list.tail.replace(index),
            None => {
                let id = self.next_list_id;
                self.next_list_id += 1;
                let expiry = start + delay;
                self.lists.insert(
                    delay,
                    TimerList {
                        head: Some(index),
                        tail: Some(index),
                        expiry,
                        id,
                    },
                );
                self.queue.insert((expiry, id, delay));
                None
            }
        };
        self.slab.at_mut(index).prev = tail;
        if let Some(tail) = tail {
            self.slab.at_mut(tail).next = Some(index);
        }
    }

    fn unlink(&mut self, index: u32) {
        let entry = self.slab.at_mut(index);
        debug_assert!(entry.linked);
        entry.linked = false;
        let (prev, next, delay) = (entry.prev.take(), entry.next.take(), entry.delay);
        if entry.refed {
            self.refed_armed -= 1;
        }
        match prev {
            Some(prev) => self.slab.at_mut(prev).next = next,
            None => {
                self.lists
                    .get_mut(&delay)
                    .expect("linked timer has a list")
                    .head = next
            }
        }
        match next {
            Some(next) => self.slab.at_mut(next).prev = prev,
            None => {
                self.lists
                    .get_mut(&delay)
                    .expect("linked timer has a list")
                    .tail = prev
            }
        }
        let list = &self.lists[&delay];
        if list.head.is_none() {
            // Node deletes an emptied list; a later timer with this delay starts a new one.
            self.queue.remove(&(list.expiry, list.id, delay));
            self.lists.remove(&delay);
        }
    }

    /// Takes the next timer due at `now` out of its list, following rule 4.4, and returns its
    /// slot index. Its entry stays in the slab (with its callback) until [`Self::finish`].
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<u32> {
        loop {
            let &(expiry, list_id, delay) = self.queue.first()?;
            if expiry > now {
                return None;
            }
            let head = self.lists[&delay]
                .head
                .expect("a queued list is never empty");
            let start = self.slab.at_mut(head).start;
            if start + delay > now {
                // Not yet due: re-queue the list behind everything due now, with a fresh id.
                let new_expiry = (start + delay).max(now + 1);
                let new_id = self.next_list_id;
                self.next_list_id += 1;
                self.queue.remove(&(expiry, list_id, delay));
                self.queue.insert((new_expiry, new_id, delay));
                let list = self.lists.get_mut(&delay).expect("queued list exists");
                list.expiry = new_expiry;
                list.id = new_id;
                continue;
            }
            self.unlink(head);
            return Some(head);
        }
    }

    /// After a timer's callback: re-arm an interval at `start`, keep a timer that was refreshed
    /// during its callback, else free the slot. Returns the callback when it is no longer needed.
    pub(crate) fn finish(&mut self, id: Id, cb: C, interval_start: Option<u64>) -> Option<C> {
        let Some(index) = self.slab.index(id) else {
            return Some(cb); // cleared during its own callback
        };
        let entry = self.slab.at_mut(index);
        if entry.linked {
            entry.cb = Some(cb); // refreshed during its own callback: armed again
            return None;
        }
        match interval_start {
            Some(start) if entry.repeat => {
                entry.cb = Some(cb);
                self.link(index, start);
                None
            }
            _ => {
                self.slab.remove(id);
                Some(cb)
            }
        }
    }

    /// Clears a timer; returns its callback (`None` if it is running now) for the caller to drop
    /// outside any borrow.
    pub(crate) fn clear(&mut self, id: Id) -> Option<Option<C>> {
        let index = self.slab.index(id)?;
        if self.slab.at_mut(index).linked {
            self.unlink(index);
        }
        self.slab.remove(id).map(|entry| entry.cb)
    }

    /// Re-arms a timer with a fresh start (Node's `refresh()`).
    pub(crate) fn refresh(&mut self, id: Id, now: u64) -> bool {
        let Some(index) = self.slab.index(id) else {
            return false;
        };
        if self.slab.at_mut(index).linked {
            self.unlink(index);
        }
        self.link(index, now);
        true
    }

    /// Sets whether a timer keeps the loop alive.
    pub(crate) fn set_ref(&mut self, id: Id, refed: bool) -> bool {
        let Some(entry) = self.slab.get_mut(id) else {
            return false;
        };
        if entry.refed != refed {
            entry.refed = refed;
            if entry.linked {
                if refed {
                    self.refed_armed += 1;
                } else {
                    self.refed_armed -= 1;
                }
            }
        }
        true
    }

    /// Removes every timer; returns their callbacks.
    pub(crate) fn drain_all(&mut self) -> Vec<C> {
        self.lists.clear();
        self.queue.clear();
        self.refed_armed = 0;
        self.slab
            .drain_all()
            .into_iter()
            .filter_map(|e| e.cb)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due_order(q: &mut TimerQueue<&'static str>, now: u64) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Some(index) = q.pop_due(now) {
            let id = q.slab.id_at(index);
            let cb = q.slab.at_mut(index).cb.take().unwrap();
            out.push(cb);
            q.finish(id, cb, None);
        }
        out
    }

    #[test]
    fn rule_4_1_delay_coercion_matches_node() {
        assert_eq!(coerce_delay(0.0), 1);
        assert_eq!(coerce_delay(-5.0), 1);
        assert_eq!(coerce_delay(f64::NAN), 1);
        assert_eq!(coerce_delay(2_147_483_648.0), 1);
        assert_eq!(coerce_delay(1.7), 1);
        assert_eq!(coerce_delay(2.9), 2);
        assert_eq!(coerce_delay(TIMEOUT_MAX), 2_147_483_647);
    }

    #[test]
    fn rule_4_4_lists_run_in_expiry_order() {
        // The 10 ms list (expiry 10) was created before the 5 ms list (expiry 6), but lists are
        // queued by expiry, so the 5 ms list runs first once both are due.
        let mut q = TimerQueue::new(1);
        q.schedule("ten-a", 10, false, 0);
        q.schedule("ten-b", 10, false, 1);
        q.schedule("five", 5, false, 1);
        assert_eq!(due_order(&mut q, 20), ["five", "ten-a", "ten-b"]);
    }

    #[test]
    fn rule_4_4_every_due_timer_of_a_list_runs_before_the_next_list_even_if_due_later() {
        // 1 ms list: a (start 0, due 1) and b (start 8, due 9). 5 ms list: c (start 1, due 6).
        // At now = 10: the 1 ms list (expiry 1) runs a and b, then c, although c was due first.
        let mut q = TimerQueue::new(1);
        q.schedule("a", 1, false, 0);
        q.schedule("c", 5, false, 1);
        q.schedule("b", 1, false, 8);
        assert_eq!(due_order(&mut q, 10), ["a", "b", "c"]);
    }

    #[test]
    fn rule_4_4_a_list_with_a_timer_not_yet_due_is_requeued_behind() {
        let mut q = TimerQueue::new(1);
        q.schedule("a", 1, false, 0); // due 1
        q.schedule("b", 1, false, 5); // due 6
        q.schedule("c", 3, false, 0); // due 3
        assert_eq!(due_order(&mut q, 4), ["a", "c"]);
        assert_eq!(q.next_expiry(), Some(6));
        assert_eq!(due_order(&mut q, 6), ["b"]);
    }

    #[test]
    fn cleared_timers_leave_no_trace() {
        let mut q = TimerQueue::new(1);
        let keep = q.schedule("keep", 1000, false, 0);
        for i in 0..100_000u64 {
            let id = q.schedule("x", i % 1000 + 1, false, 0);
            q.clear(id);
        }
        assert_eq!(q.len(), 1);
        assert_eq!(q.lists.len(), 1);
        assert_eq!(q.queue.len(), 1);
        assert!(q.slab.contains(keep));
    }
}
