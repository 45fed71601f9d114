//! Timers ordered by Node's own algorithm (ordering rule 4, docs/ordering.md), not by a plain heap.
//!
//! Timers with the same delay share one FIFO list; lists are queued by `(expiry, list id)`.
//! The timers phase repeatedly takes the first list whose expiry has passed and runs its timers
//! from the front while they are due; at the first one that is not, the list gets a new expiry
//! and a new id and goes back in the queue. A heap ordered by due time alone would run a late
//! loop's timers in a different order from Node.
//!
//! Lists are intrusive doubly linked lists through the timer slab (O(1) append and removal), and
//! the list queue is a binary min-heap of list slots keyed by `(expiry, list id)`, each list
//! knowing its place in the heap (O(log lists) to add, re-queue or remove one, and no allocation
//! once the heap has grown: a set/clear pair that creates and deletes a list costs no malloc).
//! Each timer knows its list's slot, so removing one needs no lookup by delay. A cleared or
//! refreshed timer leaves no trace, so memory stays flat over any number of set/clear pairs.
//!
//! Finding a delay's list is a plain array index for delays below [`DIRECT_DELAYS`] (the
//! delays programs use: 0 to a minute), a hash lookup only above: a set/clear pair of a fresh
//! delay creates and deletes a list, and three hash operations were most of its cost.

use rustc_hash::FxHashMap;

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::{Id, IdKind, Slab};

/// The largest delay Node accepts (`TIMEOUT_MAX`, 2**31 - 1 ms).
pub const TIMEOUT_MAX: f64 = 2_147_483_647.0;

/// Node's delay coercion: < 1, NaN or > 2**31 - 1 become 1; fractions are truncated.
#[inline]
pub fn coerce_delay(delay_ms: f64) -> u64 {
    if (1.0..=TIMEOUT_MAX).contains(&delay_ms) {
        // Truncation toward zero is `trunc()` for a positive value (a libm call on the baseline
        // x86-64 target); the unchecked conversion is one instruction where `as` adds the
        // saturation and NaN fix-ups that the range test has already made unnecessary.
        // SAFETY: `delay_ms` is finite and in 1..=2**31-1, so it fits an `i32` after truncation.
        unsafe { delay_ms.to_int_unchecked::<i32>() as u64 }
    } else {
        1
    }
}

/// "No slot": the end of a list in [`TimerEntry::prev`] / `next`, and a delay without a list in
/// [`DelayIndex`]. A plain sentinel rather than `Option<u32>`, which is twice the size and a
/// test and a tag write at every use on the set/clear path. The slab never hands out this
/// index (it would take 2^32 - 1 live timers).
const NIL: u32 = u32::MAX;

pub(crate) struct TimerEntry<C> {
    /// `None` while the timer's callback runs.
    pub(crate) cb: Option<C>,
    pub(crate) delay: u64,
    pub(crate) start: u64,
    pub(crate) repeat: bool,
    pub(crate) refed: bool,
    /// A one-shot timer whose owner may still refresh it after it fired: firing leaves it in the
    /// slab, unlinked, with its callback ("dormant"), instead of forgetting it.
    held: bool,
    linked: bool,
    /// The timers before and after it in its list, [`NIL`] at the ends (meaningful while
    /// `linked`).
    prev: u32,
    next: u32,
    /// The slot of the list it is linked in (meaningful while `linked`).
    list: u32,
}

impl<C> TimerEntry<C> {
    /// Whether the timer is armed (in a list).
    pub(crate) fn linked(&self) -> bool {
        self.linked
    }

    /// Whether the timer is held (see [`TimerQueue::hold`]); read before its callback runs.
    pub(crate) fn held(&self) -> bool {
        self.held
    }
}

/// Delays below this find their list by indexing an array (grown on demand, at most
/// 4 × 65,536 bytes per loop); larger ones through a hash map.
const DIRECT_DELAYS: u64 = 1 << 16;

/// The list slot of each delay that has a list.
#[derive(Default)]
struct DelayIndex {
    /// `direct[delay]` for delays below [`DIRECT_DELAYS`]; [`NIL`] where there is none.
    direct: Vec<u32>,
    /// The other delays.
    large: FxHashMap<u64, u32>,
    /// How many delays have a list (for tests).
    #[cfg(test)]
    len: usize,
}

impl DelayIndex {
    /// The list slot of `delay`, [`NIL`] if it has none.
    #[inline]
    fn get(&self, delay: u64) -> u32 {
        if delay < DIRECT_DELAYS {
            self.direct.get(delay as usize).copied().unwrap_or(NIL)
        } else {
            self.large.get(&delay).copied().unwrap_or(NIL)
        }
    }

    /// Inline for the common case, a delay whose array entry exists (every start of a timer
    /// whose list was emptied goes through here); growing the array and large delays are
    /// [`DelayIndex::insert_rare`], so that this stays small enough for the compiler to inline.
    #[inline]
    fn insert(&mut self, delay: u64, slot: u32) {
        #[cfg(test)]
        {
            self.len += 1;
        }
        match self.direct.get_mut(delay as usize) {
            Some(entry) if delay < DIRECT_DELAYS => *entry = slot,
            _ => self.insert_rare(delay, slot),
        }
    }

    /// [`DelayIndex::insert`] of a delay beyond the array: grows it, or uses the map.
    #[inline(never)]
    fn insert_rare(&mut self, delay: u64, slot: u32) {
        if delay < DIRECT_DELAYS {
            let at = delay as usize;
            // Powers of two, so a program's few delays cost a few regrowths at most.
            let len = (at + 1).next_power_of_two().max(64);
            self.direct.resize(len, NIL);
            self.direct[at] = slot;
        } else {
            self.large.insert(delay, slot);
        }
    }

    #[inline]
    fn remove(&mut self, delay: u64) {
        #[cfg(test)]
        {
            self.len -= 1;
        }
        if delay < DIRECT_DELAYS {
            // A delay with a list was inserted, so the array reaches it.
            if let Some(slot) = self.direct.get_mut(delay as usize) {
                *slot = NIL;
            }
        } else {
            self.large.remove(&delay);
        }
    }

    fn clear(&mut self) {
        self.direct.clear();
        self.large.clear();
        #[cfg(test)]
        {
            self.len = 0;
        }
    }
}

struct TimerList {
    /// The first and last timer (never [`NIL`]: an emptied list is deleted at once).
    head: u32,
    tail: u32,
    expiry: u64,
    id: u64,
    delay: u64,
    /// Where the list is in `TimerQueue::heap`.
    heap_pos: usize,
}

impl TimerList {
    /// The order of the list queue: by expiry, then by list id (unique, so a total order).
    fn key(&self) -> (u64, u64) {
        (self.expiry, self.id)
    }
}

/// Every timer of one loop.
pub(crate) struct TimerQueue<C> {
    pub(crate) slab: Slab<TimerEntry<C>>,
    /// List slots; a slot in `free_lists` is unused.
    lists: Vec<TimerList>,
    free_lists: Vec<u32>,
    /// The list of each delay.
    by_delay: DelayIndex,
    /// List slots, a min-heap by [`TimerList::key`].
    heap: Vec<u32>,
    next_list_id: u64,
    refed_armed: usize,
    /// The timer whose callback runs now was refreshed by it (reset by [`Self::pop_due`]); what
    /// [`Self::keeps`] answers if the callback then cleared it as well.
    refreshed_running: bool,
}

impl<C> TimerQueue<C> {
    pub(crate) fn new(tag: u16) -> Self {
        TimerQueue {
            slab: Slab::new(IdKind::Timer, tag),
            lists: Vec::new(),
            free_lists: Vec::new(),
            by_delay: DelayIndex::default(),
            heap: Vec::new(),
            next_list_id: 1,
            refed_armed: 0,
            refreshed_running: false,
        }
    }

    /// Adds a timer due at `start + delay` (delay already coerced) and arms it.
    #[inline(always)]
    pub(crate) fn schedule(&mut self, cb: C, delay: u64, repeat: bool, start: u64) -> Id {
        // The entry is written once, already linked: its list and its predecessor are known
        // before it has a slot (a new list's slot is taken first, and filled in after).
        let found = self.by_delay.get(delay);
        let (list, prev) = match found {
            NIL => (self.take_list_slot(), NIL),
            slot => (slot, self.lists[slot as usize].tail),
        };
        let id = self.slab.insert(TimerEntry {
            cb: Some(cb),
            delay,
            start,
            repeat,
            refed: true,
            held: false,
            linked: true,
            prev,
            next: NIL,
            list,
        });
        let index = id.slot();
        self.refed_armed += 1;
        if found == NIL {
            self.open_list(list, delay, start + delay, index);
        } else {
            self.lists[list as usize].tail = index;
            self.slab.at_mut(prev).next = index;
        }
        id
    }

    /// Whether any ref'd timer is armed (rule 6).
    pub(crate) fn has_ref(&self) -> bool {
        self.refed_armed > 0
    }

    /// How many timers exist (armed, running their callback, or dormant).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// The earliest list expiry, for the poll timeout.
    pub(crate) fn next_expiry(&self) -> Option<u64> {
        self.heap
            .first()
            .map(|&list| self.lists[list as usize].expiry)
    }

    // ----- the list queue: a binary heap of list slots -------------------------------------

    fn heap_less(&self, a: usize, b: usize) -> bool {
        let (a, b) = (self.heap[a] as usize, self.heap[b] as usize);
        self.lists[a].key() < self.lists[b].key()
    }

    fn heap_swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.lists[self.heap[a] as usize].heap_pos = a;
        self.lists[self.heap[b] as usize].heap_pos = b;
    }

    /// Moves the list at `pos` up to its place. The first comparison is inlined: a new list
    /// (the latest id, due no earlier than most) usually stays where it is pushed.
    #[inline(always)]
    fn sift_up(&mut self, pos: usize) {
        if pos > 0 && self.heap_less(pos, (pos - 1) / 2) {
            self.sift_up_from(pos);
        }
    }

    fn sift_up_from(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if !self.heap_less(pos, parent) {
                break;
            }
            self.heap_swap(pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let (left, right) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if left < self.heap.len() && self.heap_less(left, least) {
                least = left;
            }
            if right < self.heap.len() && self.heap_less(right, least) {
                least = right;
            }
            if least == pos {
                break;
            }
            self.heap_swap(pos, least);
            pos = least;
        }
    }

    /// A list slot to fill with [`Self::open_list`]: a freed one, or a new one at the end.
    #[inline(always)]
    fn take_list_slot(&mut self) -> u32 {
        if let Some(slot) = self.free_lists.pop() {
            return slot;
        }
        let slot = u32::try_from(self.lists.len()).expect("fewer than 2^32 timer lists");
        self.lists.push(TimerList {
            head: NIL,
            tail: NIL,
            expiry: 0,
            id: 0,
            delay: 0,
            heap_pos: 0,
        });
        slot
    }

    /// Starts a list in slot `slot` (from [`Self::take_list_slot`]) with the timer `first`,
    /// due at `expiry`, and queues it with the next list id.
    #[inline(always)]
    fn open_list(&mut self, slot: u32, delay: u64, expiry: u64, first: u32) {
        let id = self.next_list_id;
        self.next_list_id += 1;
        let heap_pos = self.heap.len();
        self.lists[slot as usize] = TimerList {
            head: first,
            tail: first,
            expiry,
            id,
            delay,
            heap_pos,
        };
        self.by_delay.insert(delay, slot);
        self.heap.push(slot);
        self.sift_up(heap_pos);
    }

    /// Takes an emptied list out of the queue (Node deletes it; a later timer with its delay
    /// starts a new list).
    #[inline(always)]
    fn delete_list(&mut self, slot: u32) {
        let list = &self.lists[slot as usize];
        let (pos, delay) = (list.heap_pos, list.delay);
        let last = self.heap.pop().expect("a list being deleted is queued");
        if pos < self.heap.len() {
            // The last list fills the hole, and may belong above or below it. A set/clear pair
            // of a fresh delay is the common case, and its list, the newest, is usually last.
            self.heap[pos] = last;
            self.lists[last as usize].heap_pos = pos;
            if pos > 0 && self.heap_less(pos, (pos - 1) / 2) {
                self.sift_up_from(pos);
            } else {
                self.sift_down(pos);
            }
        }
        self.by_delay.remove(delay);
        self.free_lists.push(slot);
    }

    fn link(&mut self, index: u32, start: u64) {
        let entry = self.slab.at_mut(index);
        debug_assert!(!entry.linked);
        entry.start = start;
        entry.linked = true;
        entry.next = NIL;
        let delay = entry.delay;
        if entry.refed {
            self.refed_armed += 1;
        }
        let found = self.by_delay.get(delay);
        let (slot, tail) = match found {
            NIL => (self.take_list_slot(), NIL),
            slot => (slot, self.lists[slot as usize].tail),
        };
        let entry = self.slab.at_mut(index);
        entry.prev = tail;
        entry.list = slot;
        if found == NIL {
            self.open_list(slot, delay, start + delay, index);
        } else {
            self.lists[slot as usize].tail = index;
            self.slab.at_mut(tail).next = index;
        }
    }

    #[inline(always)]
    fn unlink(&mut self, index: u32) {
        let entry = self.slab.at_mut(index);
        debug_assert!(entry.linked);
        entry.linked = false;
        let (prev, next, list, refed) = (entry.prev, entry.next, entry.list, entry.refed);
        self.detach(prev, next, list, refed);
    }

    /// The list side of unlinking a timer (its entry already marked unlinked): its neighbours
    /// `prev` and `next` in list `list` are joined, or the list, emptied, is deleted.
    #[inline(always)]
    fn detach(&mut self, prev: u32, next: u32, list: u32, refed: bool) {
        if refed {
            self.refed_armed -= 1;
        }
        if prev == NIL && next == NIL {
            // It was its list's only timer: the list goes.
            self.delete_list(list);
            return;
        }
        match prev {
            NIL => self.lists[list as usize].head = next,
            prev => self.slab.at_mut(prev).next = next,
        }
        match next {
            NIL => self.lists[list as usize].tail = prev,
            next => self.slab.at_mut(next).prev = prev,
        }
    }

    /// Takes the next timer due at `now` out of its list, following rule 4.4, and returns its
    /// slot index. Its entry stays in the slab (with its callback) until [`Self::finish`].
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<u32> {
        loop {
            let &slot = self.heap.first()?;
            let list = &self.lists[slot as usize];
            if list.expiry > now {
                return None;
            }
            let delay = list.delay;
            let head = list.head;
            debug_assert!(head != NIL, "a queued list is never empty");
            let start = self.slab.at_mut(head).start;
            if start + delay > now {
                // Not yet due: re-queue the list behind everything due now, with a fresh id.
                let new_id = self.next_list_id;
                self.next_list_id += 1;
                let list = &mut self.lists[slot as usize];
                list.expiry = (start + delay).max(now + 1);
                list.id = new_id;
                // Its key only grew, and it was at the top.
                self.sift_down(0);
                continue;
            }
            self.unlink(head);
            self.refreshed_running = false;
            return Some(head);
        }
    }

    /// Whether a timer whose callback just ran keeps that callback: it was re-armed (an
    /// interval, or a refresh from its own callback) or is held (it stays dormant). If its
    /// callback cleared it, whether it was kept until then (held when its callback began, which
    /// `held` says, or refreshed by it): the callback is dropped right after, as the clear of a
    /// kept timer drops it.
    pub(crate) fn keeps(&self, id: Id, held: bool) -> bool {
        match self.slab.get(id) {
            None => held || self.refreshed_running,
            Some(entry) => entry.linked || entry.repeat || entry.held,
        }
    }

    /// After a timer's callback: re-arm an interval at `start`, keep a timer that was refreshed
    /// during its callback, keep a held one-shot timer dormant, else free the slot. Returns the
    /// callback when it is no longer needed.
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
            _ if entry.held => {
                entry.cb = Some(cb); // dormant until refreshed, cleared or released
                None
            }
            _ => {
                self.slab.remove(id);
                Some(cb)
            }
        }
    }

    /// Holds a timer: a one-shot timer that fires stays dormant (see [`TimerEntry::held`]).
    /// `false` if there is no such timer.
    pub(crate) fn hold(&mut self, id: Id) -> bool {
        match self.slab.get_mut(id) {
            Some(entry) => {
                entry.held = true;
                true
            }
            None => false,
        }
    }

    /// Lets go of a held timer: a dormant one is forgotten (its callback is returned for the
    /// caller to drop outside any borrow); an armed or running one will be forgotten once it
    /// has fired. `None` if there is no such timer.
    pub(crate) fn release(&mut self, id: Id) -> Option<Option<C>> {
        let index = self.slab.index(id)?;
        let entry = self.slab.at_mut(index);
        entry.held = false;
        if entry.linked || entry.repeat || entry.cb.is_none() {
            return Some(None);
        }
        Some(self.slab.remove_with(index, |entry| entry.cb.take()))
    }

    /// Clears a timer; returns its callback (`None` if it is running now) for the caller to drop
    /// outside any borrow.
    #[inline(always)]
    pub(crate) fn clear(&mut self, id: Id) -> Option<Option<C>> {
        let entry = self.slab.get_mut(id)?;
        if entry.linked {
            entry.linked = false;
            let (prev, next, list, refed) = (entry.prev, entry.next, entry.list, entry.refed);
            self.detach(prev, next, list, refed);
        }
        // `id` was just found live: no second lookup, and only the callback moves.
        Some(self.slab.remove_with(id.slot(), |entry| entry.cb.take()))
    }

    /// Re-arms a timer with a fresh start (Node's `refresh()`).
    pub(crate) fn refresh(&mut self, id: Id, now: u64) -> bool {
        let Some(index) = self.slab.index(id) else {
            return false;
        };
        let entry = self.slab.at_mut(index);
        if entry.linked {
            self.unlink(index);
        } else if entry.cb.is_none() {
            self.refreshed_running = true; // its callback runs now (only one timer's can)
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
        self.free_lists.clear();
        self.by_delay.clear();
        self.heap.clear();
        self.refed_armed = 0;
        self.slab
            .drain_all()
            .into_iter()
            .filter_map(|e| e.cb)
            .collect()
    }
}

impl<C: Callback> Loop<C> {
    #[inline(always)]
    fn add_timer(&self, delay_ms: f64, cb: C, repeat: bool) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        // A fresh clock read, as Node's insert() does with getLibuvNow() (rule 4.2).
        let start = self.clock.update();
        Ok(self
            .st()
            .timers
            .schedule(cb, coerce_delay(delay_ms), repeat, start))
    }

    /// `setTimeout`: runs `cb` once, `delay_ms` from now (Node's coercion: < 1, NaN and
    /// > 2**31-1 become 1; fractions are truncated).
    ///
    /// On a closed loop, like every call that takes a callback, it is [`Refused`] with
    /// [`Error::Closed`].
    #[inline]
    pub fn set_timeout(&self, delay_ms: f64, cb: C) -> Result<Id, Refused<C>> {
        self.add_timer(delay_ms, cb, false)
    }

    /// `setInterval`: runs `cb` every `delay_ms` until cleared.
    pub fn set_interval(&self, delay_ms: f64, cb: C) -> Result<Id, Refused<C>> {
        self.add_timer(delay_ms, cb, true)
    }

    /// `clearTimeout` / `clearInterval` (also of a dormant timer: see [`Loop::hold_timer`]).
    /// [`Error::NotFound`] for a timer that was cleared or, unheld, already fired (Node ignores
    /// those; bindings may too).
    #[inline]
    pub fn clear_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let cleared = self.st().timers.clear(id);
        match cleared {
            Some(cb) => {
                drop(cb);
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// `timeout.refresh()`: re-arms the timer with a fresh start, keeping its delay, at the end
    /// of its delay's list. This also re-arms a one-shot timer whose callback is running (from
    /// that callback) and a dormant one (held and fired: [`Loop::hold_timer`]), with the same
    /// callback and its ref state. [`Error::NotFound`] for a cleared timer, or an unheld one that
    /// fired.
    pub fn refresh_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let now = self.clock.update();
        if self.st().timers.refresh(id, now) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Holds a timer for an owner that may refresh it after it fired (Node's `Timeout` object,
    /// which stays refreshable as long as it is not cleared). A held one-shot timer that fires
    /// is not forgotten: it stays *dormant*, with its callback, until [`Loop::refresh_timer`]
    /// re-arms it, [`Loop::clear_timer`] or [`Loop::close_handle`] ends it, or
    /// [`Loop::release_timer`] lets go of it. While dormant it is not active, keeps nothing
    /// alive and answers [`Loop::timer_has_ref`] with its ref state. No effect on an interval
    /// (it never stops by firing). [`Error::NotFound`] for a timer that is gone.
    pub fn hold_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        if self.st().timers.hold(id) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// The owner of a held timer lets go of it: a dormant timer is forgotten (its callback
    /// dropped); an armed one (or one whose callback is running) is forgotten once it fired, as
    /// if it had never been held. [`Error::NotFound`] for a timer that is gone.
    pub fn release_timer(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let released = self.st().timers.release(id);
        match released {
            Some(cb) => {
                drop(cb);
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// `ref()` / `unref()` of a timer.
    pub fn set_timer_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.set_ref(self.alias_of(id, IdKind::Timer)?, refed)
    }

    /// `hasRef()` of a timer.
    pub fn timer_has_ref(&self, id: Id) -> Result<bool, Error> {
        self.has_ref(self.alias_of(id, IdKind::Timer)?)
    }

    /// Whether the timer is armed (false once a one-shot timer has fired, also while it is
    /// dormant, or was cleared).
    pub fn timer_active(&self, id: Id) -> bool {
        id.kind() == Some(IdKind::Timer) && self.is_active(id)
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

    /// Rule 4.4 written the plainest way: lists in a `Vec`, the next one found by a linear
    /// search for the least `(expiry, list id)`.
    struct PlainModel {
        lists: Vec<PlainList>,
        next_id: u64,
    }

    /// `(delay, timers as (name, start), expiry, list id)`.
    struct PlainList(u64, std::collections::VecDeque<(u32, u64)>, u64, u64);

    impl PlainModel {
        fn schedule(&mut self, name: u32, delay: u64, start: u64) {
            if let Some(list) = self.lists.iter_mut().find(|l| l.0 == delay) {
                list.1.push_back((name, start));
                return;
            }
            self.next_id += 1;
            let list = PlainList(delay, [(name, start)].into(), start + delay, self.next_id);
            self.lists.push(list);
        }

        fn clear(&mut self, name: u32) {
            for list in &mut self.lists {
                list.1.retain(|&(n, _)| n != name);
            }
            self.lists.retain(|l| !l.1.is_empty());
        }

        fn pop_due(&mut self, now: u64) -> Option<u32> {
            loop {
                let (at, _) = self
                    .lists
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, l)| (l.2, l.3))?;
                let list = &mut self.lists[at];
                if list.2 > now {
                    return None;
                }
                let (name, start) = list.1[0];
                if start + list.0 > now {
                    self.next_id += 1;
                    list.2 = (start + list.0).max(now + 1);
                    list.3 = self.next_id;
                    continue;
                }
                list.1.pop_front();
                if list.1.is_empty() {
                    self.lists.remove(at);
                }
                return Some(name);
            }
        }
    }

    #[test]
    fn rule_4_4_the_list_heap_runs_timers_in_the_plain_model_order() {
        // A small deterministic generator: schedules, clears and timers phases at random.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        let mut q: TimerQueue<u32> = TimerQueue::new(1);
        let mut model = PlainModel {
            lists: Vec::new(),
            next_id: 0,
        };
        let mut ids = Vec::new();
        let mut now = 0;
        for name in 0..5_000u32 {
            match next(10) {
                0..=5 => {
                    let delay = 1 + next(40);
                    let start = now + next(3);
                    ids.push((name, q.schedule(name, delay, false, start)));
                    model.schedule(name, delay, start);
                }
                6 => {
                    if !ids.is_empty() {
                        let (victim, id) = ids.swap_remove(next(ids.len() as u64) as usize);
                        q.clear(id);
                        model.clear(victim);
                    }
                }
                _ => {
                    now += next(25);
                    let mut ran = Vec::new();
                    while let Some(index) = q.pop_due(now) {
                        let id = q.slab.id_at(index);
                        let cb = q.slab.at_mut(index).cb.take().unwrap();
                        q.finish(id, cb, None);
                        ran.push(cb);
                    }
                    let mut expected = Vec::new();
                    while let Some(name) = model.pop_due(now) {
                        expected.push(name);
                    }
                    assert_eq!(ran, expected, "timers phase at {now}");
                    ids.retain(|(name, _)| !ran.contains(name));
                    let model_next = model.lists.iter().map(|l| (l.2, l.3)).min();
                    assert_eq!(q.next_expiry(), model_next.map(|(expiry, _)| expiry));
                }
            }
        }
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
        assert_eq!(q.by_delay.len, 1);
        assert_eq!(q.heap.len(), 1);
        assert!(q.lists.len() <= 2, "list slots are reused");
        assert!(q.slab.contains(keep));
    }
}
