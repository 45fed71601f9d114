//! Generation-checked ids and the slab that hands them out.
//!
//! Every timer, immediate, handle, watcher, signal watcher and work request is named by an
//! [`Id`]: a `u64` that packs the slot index, the slot's generation, a per-loop tag and the kind
//! of object. A stale id (its object finished or was cleared), an id of another kind, or an id
//! from another loop therefore never names a live object by accident: it is simply not found.

use std::sync::atomic::{AtomicU16, Ordering};

/// The name of a timer, immediate, handle, fd watcher, signal watcher or work request.
///
/// `0` is never a valid id. Ids are only meaningful to the loop that issued them; a stale or
/// foreign id is reported as [`crate::Error::NotFound`], never as another object.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Id(u64);

/// What kind of object an [`Id`] names; part of the id itself.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum IdKind {
    Timer = 1,
    Immediate = 2,
    Handle = 3,
    Watcher = 4,
    Signal = 5,
    Work = 6,
    Stream = 7,
    Process = 8,
}

// Layout, low to high: index (32 bits), generation (16), loop tag (12), kind (4).
const INDEX_BITS: u32 = 32;
const GEN_BITS: u32 = 16;
const TAG_BITS: u32 = 12;
const GEN_SHIFT: u32 = INDEX_BITS;
const TAG_SHIFT: u32 = GEN_SHIFT + GEN_BITS;
const KIND_SHIFT: u32 = TAG_SHIFT + TAG_BITS;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// Sequence numbers (see [`Id::sequence`]) are below this.
const SEQ_LIMIT: u64 = 1 << TAG_SHIFT;

impl Id {
    /// The id as a plain integer, for a C `pl_id` or a Python attribute.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`Id::as_u64`]. Any integer is accepted; one that names nothing is
    /// reported as not found when used.
    pub fn from_u64(raw: u64) -> Id {
        Id(raw)
    }

    /// The id of the `seq`th object of a FIFO that never reuses a number (the immediates): the
    /// index and generation fields together hold a 48-bit sequence number instead of a slot.
    /// `prefix` is [`Id::sequence_prefix`]'s, made once per queue, so that naming an object is
    /// one `or` (one is named for every immediate run).
    #[inline(always)]
    pub(crate) fn sequence(prefix: u64, seq: u64) -> Id {
        debug_assert!(seq < SEQ_LIMIT, "2^48 objects in one queue");
        debug_assert_eq!(prefix & (SEQ_LIMIT - 1), 0);
        Id(prefix | seq)
    }

    /// The kind and tag bits of the ids [`Id::sequence`] makes for this kind and loop.
    pub(crate) fn sequence_prefix(kind: IdKind, tag: u16) -> u64 {
        ((kind as u64) << KIND_SHIFT) | ((tag as u64 & TAG_MASK) << TAG_SHIFT)
    }

    /// The sequence number of an id made by [`Id::sequence`] with this prefix.
    #[inline]
    pub(crate) fn sequence_number(self, prefix: u64) -> Option<u64> {
        (self.0 & !(SEQ_LIMIT - 1) == prefix).then_some(self.0 & (SEQ_LIMIT - 1))
    }

    fn pack(kind: IdKind, tag: u16, generation: u16, index: u32) -> Id {
        Id(((kind as u64) << KIND_SHIFT)
            | ((tag as u64 & TAG_MASK) << TAG_SHIFT)
            | ((generation as u64) << GEN_SHIFT)
            | index as u64)
    }

    fn index(self) -> u32 {
        self.0 as u32
    }

    /// The slot index of an id a [`Slab`] just returned (no check that it is still live).
    #[inline]
    pub(crate) fn slot(self) -> u32 {
        self.index()
    }

    fn generation(self) -> u16 {
        ((self.0 >> GEN_SHIFT) & GEN_MASK) as u16
    }

    fn tag(self) -> u16 {
        ((self.0 >> TAG_SHIFT) & TAG_MASK) as u16
    }

    fn kind_bits(self) -> u8 {
        (self.0 >> KIND_SHIFT) as u8
    }

    /// What kind of object the id names, from the id alone (it may still be stale).
    pub(crate) fn kind(self) -> Option<IdKind> {
        Some(match self.kind_bits() {
            1 => IdKind::Timer,
            2 => IdKind::Immediate,
            3 => IdKind::Handle,
            4 => IdKind::Watcher,
            5 => IdKind::Signal,
            6 => IdKind::Work,
            7 => IdKind::Stream,
            8 => IdKind::Process,
            _ => return None,
        })
    }
}

/// A fresh tag for a new loop, so that ids of two loops differ (until 4096 loops later).
pub(crate) fn next_loop_tag() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(1);
    // Tag 0 is skipped so that the id 0 can never be produced.
    loop {
        let tag = NEXT.fetch_add(1, Ordering::Relaxed) & TAG_MASK as u16;
        if tag != 0 {
            return tag;
        }
    }
}

enum Entry<T> {
    Occupied {
        generation: u16,
        value: T,
    },
    Vacant {
        generation: u16,
        next_free: Option<u32>,
    },
}

/// A slab whose keys are [`Id`]s: O(1) insert, lookup and removal, slots reused through a free
/// list, and a generation per slot so that reuse never revives an old id.
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free_head: Option<u32>,
    len: usize,
    kind: IdKind,
    tag: u16,
}

impl<T> Slab<T> {
    pub(crate) fn new(kind: IdKind, tag: u16) -> Self {
        Slab {
            entries: Vec::new(),
            free_head: None,
            len: 0,
            kind,
            tag,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Always inlined: the value (a timer entry with its callback, ...) is then written into its
    /// slot where it is built; an out-of-line call took it through the stack, and read back
    /// in wider loads than the narrow stores that wrote it, which stalls.
    #[inline(always)]
    pub(crate) fn insert(&mut self, value: T) -> Id {
        self.len += 1;
        if let Some(index) = self.free_head {
            let slot = &mut self.entries[index as usize];
            let Entry::Vacant {
                generation,
                next_free,
            } = *slot
            else {
                unreachable!("free list points at an occupied slot")
            };
            self.free_head = next_free;
            *slot = Entry::Occupied { generation, value };
            return Id::pack(self.kind, self.tag, generation, index);
        }
        let index = u32::try_from(self.entries.len()).expect("more than 2^32 live objects");
        self.entries.push(Entry::Occupied {
            generation: 1,
            value,
        });
        Id::pack(self.kind, self.tag, 1, index)
    }

    fn index_of(&self, id: Id) -> Option<usize> {
        if id.kind_bits() != self.kind as u8 || id.tag() != self.tag {
            return None;
        }
        let index = id.index() as usize;
        match self.entries.get(index) {
            Some(Entry::Occupied { generation, .. }) if *generation == id.generation() => {
                Some(index)
            }
            _ => None,
        }
    }

    pub(crate) fn contains(&self, id: Id) -> bool {
        self.index_of(id).is_some()
    }

    pub(crate) fn get(&self, id: Id) -> Option<&T> {
        let index = self.index_of(id)?;
        match &self.entries[index] {
            Entry::Occupied { value, .. } => Some(value),
            Entry::Vacant { .. } => None,
        }
    }

    pub(crate) fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        let index = self.index_of(id)?;
        match &mut self.entries[index] {
            Entry::Occupied { value, .. } => Some(value),
            Entry::Vacant { .. } => None,
        }
    }

    /// The live object in slot `index`, for intrusive lists that link slots by index.
    pub(crate) fn at_mut(&mut self, index: u32) -> &mut T {
        match &mut self.entries[index as usize] {
            Entry::Occupied { value, .. } => value,
            Entry::Vacant { .. } => unreachable!("linked slot {index} is vacant"),
        }
    }

    /// The id of the live object in slot `index`.
    pub(crate) fn id_at(&self, index: u32) -> Id {
        match &self.entries[index as usize] {
            Entry::Occupied { generation, .. } => Id::pack(self.kind, self.tag, *generation, index),
            Entry::Vacant { .. } => unreachable!("linked slot {index} is vacant"),
        }
    }

    /// The id of slot `index` if it is live (poller keys may outlive their object).
    pub(crate) fn try_id_at(&self, index: u32) -> Option<Id> {
        match self.entries.get(index as usize)? {
            Entry::Occupied { generation, .. } => {
                Some(Id::pack(self.kind, self.tag, *generation, index))
            }
            Entry::Vacant { .. } => None,
        }
    }

    /// The slot index of a live id (for intrusive lists).
    pub(crate) fn index(&self, id: Id) -> Option<u32> {
        self.index_of(id).map(|i| i as u32)
    }

    pub(crate) fn remove(&mut self, id: Id) -> Option<T> {
        let index = self.index_of(id)?;
        Some(self.remove_at(index as u32))
    }

    /// Removes the live object in slot `index` (one [`Slab::index`] just found).
    pub(crate) fn remove_at(&mut self, index: u32) -> T {
        let index = index as usize;
        let Entry::Occupied { generation, .. } = self.entries[index] else {
            unreachable!("slot {index} is vacant");
        };
        self.len -= 1;
        // A slot whose generation would wrap is retired for good, so an id is never reissued.
        let (next_generation, next_free) = match generation.checked_add(1) {
            Some(g) => {
                let free = self.free_head;
                self.free_head = Some(index as u32);
                (g, free)
            }
            None => (u16::MAX, None),
        };
        let old = std::mem::replace(
            &mut self.entries[index],
            Entry::Vacant {
                generation: next_generation,
                next_free,
            },
        );
        match old {
            Entry::Occupied { value, .. } => value,
            Entry::Vacant { .. } => unreachable!("checked above"),
        }
    }

    /// Removes the live object in slot `index`, handing `take` a mutable borrow of it first
    /// and returning what it returns: a caller that wants one field of a large object moves
    /// only that field, not the whole object (a timer's entry is ten words).
    #[inline]
    pub(crate) fn remove_with<R>(&mut self, index: u32, take: impl FnOnce(&mut T) -> R) -> R {
        let at = index as usize;
        let Entry::Occupied { generation, value } = &mut self.entries[at] else {
            unreachable!("slot {index} is vacant");
        };
        let generation = *generation;
        let taken = take(value);
        self.len -= 1;
        let (next_generation, next_free) = match generation.checked_add(1) {
            Some(g) => (g, self.free_head.replace(index)),
            None => (u16::MAX, None),
        };
        // Drops what `take` left of the object in place.
        self.entries[at] = Entry::Vacant {
            generation: next_generation,
            next_free,
        };
        taken
    }

    /// Every live id and object, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Id, &T)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(move |(index, entry)| match entry {
                Entry::Occupied { generation, value } => Some((
                    Id::pack(self.kind, self.tag, *generation, index as u32),
                    value,
                )),
                Entry::Vacant { .. } => None,
            })
    }

    /// Removes every object, returning them (the caller drops them outside any borrow).
    pub(crate) fn drain_all(&mut self) -> Vec<T> {
        let entries = std::mem::take(&mut self.entries);
        self.free_head = None;
        self.len = 0;
        entries
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Occupied { value, .. } => Some(value),
                Entry::Vacant { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_id_is_never_found_again_even_after_slot_reuse() {
        let mut slab = Slab::new(IdKind::Timer, 7);
        let first = slab.insert("a");
        assert_eq!(slab.remove(first), Some("a"));
        let second = slab.insert("b");
        assert_ne!(first, second);
        assert_eq!(slab.get(first), None);
        assert_eq!(slab.get(second), Some(&"b"));
    }

    #[test]
    fn ids_of_another_kind_or_loop_are_not_found() {
        let mut timers = Slab::new(IdKind::Timer, 1);
        let immediates: Slab<&str> = Slab::new(IdKind::Immediate, 1);
        let other_loop: Slab<&str> = Slab::new(IdKind::Timer, 2);
        let id = timers.insert("t");
        assert!(!immediates.contains(id));
        assert!(!other_loop.contains(id));
        assert!(!timers.contains(Id::from_u64(0)));
    }

    #[test]
    fn a_slot_whose_generation_wraps_is_retired() {
        let mut slab = Slab::new(IdKind::Work, 3);
        let mut id = slab.insert(0u32);
        for _ in 0..70_000u32 {
            slab.remove(id);
            id = slab.insert(0);
        }
        // 65,535 reuses of slot 0, then the slab moved on to slot 1.
        assert_eq!(id.index(), 1);
        assert_eq!(slab.len(), 1);
    }
}
