//! [`ImmediateSlot`]: the form a host's immediates wait in (see [`Callback::Slot`]).
//!
//! A million queued immediates are a million slots of one deque, memory the kernel must fault
//! in and zero, so the size of a slot is most of what queueing them costs. A host whose
//! immediates are usually smaller than its callback type in general (the C binding's: a
//! function and a `void *`, where its callback type also holds a drop function and the
//! signature of other kinds of callbacks) stores that common case in a compact slot; any other
//! callback is kept whole beside the deque, found by its immediate's number.
//!
//! [`Callback::Slot`]: crate::Callback::Slot

/// How a waiting immediate of callback type `C` is stored.
///
/// Every `C` is its own slot (`type Slot = Self;`), which is what a host writes unless it has a
/// compact form; `pack` then never refuses.
///
/// Dropping a slot must do what dropping the callback it packs does (the C binding packs only
/// callbacks without a drop function, for which that is nothing): the loop unpacks the slots it
/// runs, clears and closes, but a loop dropped without [`Loop::close`] drops its slots as they
/// are.
///
/// [`Loop::close`]: crate::Loop::close
pub trait ImmediateSlot<C>: Sized + Send + 'static {
    /// `cb` in the compact form, or `Err(cb)` when it does not fit one (the queue then keeps
    /// it whole, aside: a hash table insert and removal, so fit the common case).
    fn pack(cb: C) -> Result<Self, C>;

    /// The callback again, to run, clear or drop.
    fn unpack(self) -> C;

    /// The callback as [`Loop::visit_callbacks`] shows it to a host's garbage collector:
    /// `None` for a compact form that holds nothing such a collector must see.
    ///
    /// [`Loop::visit_callbacks`]: crate::Loop::visit_callbacks
    fn callback(&self) -> Option<&C>;
}

impl<C: Send + 'static> ImmediateSlot<C> for C {
    #[inline(always)]
    fn pack(cb: C) -> Result<C, C> {
        Ok(cb)
    }

    #[inline(always)]
    fn unpack(self) -> C {
        self
    }

    #[inline]
    fn callback(&self) -> Option<&C> {
        Some(self)
    }
}
