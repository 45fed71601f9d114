//! [`Handle`]: the shared, reference-counted state behind a [`Promise`](super::Promise), and the
//! lock that guards it.
//!
//! Why not `Arc<parking_lot::Mutex<..>>`: on a link of a promise chain (`resolve().then(f)`,
//! bench/README.md) the core's own instructions are few, and its time went to atomic
//! read-modify-writes: a `parking_lot` lock takes two (a compare-exchange to lock and another
//! to unlock, for its parking bit), and the last `Arc` drop two (the strong count, then the weak
//! count nobody uses here). A `Handle` has no weak count, so freeing costs one; its lock is a
//! flag taken with one compare-exchange and released with a plain release store. The lock is
//! uncontended by contract (a loop and its promises are used from one thread; `Send` is only so
//! that callbacks holding a promise can move), so a thread that finds it taken spins: a
//! critical section never runs host code, and is a few instructions long.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

/// A strong-only atomically counted pointer to a `T` (an `Arc` without weak references).
pub(crate) struct Handle<T> {
    ptr: NonNull<Counted<T>>,
}

struct Counted<T> {
    count: AtomicUsize,
    value: T,
}

// SAFETY: as for `Arc<T>`: a `Handle` gives shared access to `T` from any thread holding one
// and drops it on the thread that drops the last one, so `T` must be `Send + Sync`.
unsafe impl<T: Send + Sync> Send for Handle<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Handle<T> {}

/// Above this many handles, abort (as `Arc` does): the count must never wrap.
const MAX_COUNT: usize = isize::MAX as usize;

impl<T> Handle<T> {
    /// A new value with one handle.
    #[inline]
    pub(crate) fn new(value: T) -> Handle<T> {
        Handle::with_count(value, 1)
    }

    /// A new value with two handles, counted from the start (a clone would be one more atomic
    /// read-modify-write).
    #[inline]
    pub(crate) fn pair(value: T) -> (Handle<T>, Handle<T>) {
        let first = Handle::with_count(value, 2);
        let second = Handle { ptr: first.ptr };
        (first, second)
    }

    #[inline]
    fn with_count(value: T, count: usize) -> Handle<T> {
        let counted = Box::new(Counted {
            count: AtomicUsize::new(count),
            value,
        });
        Handle {
            ptr: NonNull::from(Box::leak(counted)),
        }
    }

    #[inline]
    fn counted(&self) -> &Counted<T> {
        // SAFETY: the allocation lives while any handle does, and this is one.
        unsafe { self.ptr.as_ref() }
    }

    /// How many handles there are.
    pub(crate) fn count(this: &Handle<T>) -> usize {
        this.counted().count.load(Ordering::Acquire)
    }

    /// Whether both point to the same value.
    #[inline]
    pub(crate) fn ptr_eq(a: &Handle<T>, b: &Handle<T>) -> bool {
        a.ptr == b.ptr
    }

    /// The address of the value (for hashing).
    #[inline]
    pub(crate) fn as_ptr(this: &Handle<T>) -> *const () {
        this.ptr.as_ptr().cast_const().cast()
    }
}

impl<T> Clone for Handle<T> {
    #[inline]
    fn clone(&self) -> Handle<T> {
        // Relaxed, as in `Arc::clone`: a new handle is made from an existing one, which keeps
        // the value alive; nothing is published through the count.
        let before = self.counted().count.fetch_add(1, Ordering::Relaxed);
        if before > MAX_COUNT {
            std::process::abort();
        }
        Handle { ptr: self.ptr }
    }
}

impl<T> Drop for Handle<T> {
    #[inline]
    fn drop(&mut self) {
        // Release, then Acquire before freeing, as in `Arc::drop`: every use of the value by
        // other handles happens before it is dropped.
        if self.counted().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last handle; the pointer came from `Box::leak` in `new`.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl<T> Deref for Handle<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.counted().value
    }
}

/// A lock for state that one thread uses at a time (see the module documentation).
pub(crate) struct Lock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the flag gives one guard at a time exclusive access to `T`, which may be another
// thread's, as with `Mutex<T>`.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Lock<T> {}

impl<T> Lock<T> {
    pub(crate) fn new(value: T) -> Lock<T> {
        Lock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Exclusive access until the guard is dropped.
    #[inline]
    pub(crate) fn lock(&self) -> LockGuard<'_, T> {
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        LockGuard { lock: self }
    }

    /// Only when the single-thread contract is broken: wait for the other thread's few
    /// instructions.
    #[cold]
    fn lock_contended(&self) {
        loop {
            while self.locked.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// Access to a [`Lock`]'s value; unlocks when dropped (also when unwinding).
pub(crate) struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_value_is_dropped_with_the_last_handle_only() {
        let witness = Arc::new(());
        let a = Handle::new(witness.clone());
        let b = a.clone();
        assert_eq!(Handle::count(&a), 2);
        assert!(Handle::ptr_eq(&a, &b));
        drop(a);
        assert_eq!(Arc::strong_count(&witness), 2);
        drop(b);
        assert_eq!(Arc::strong_count(&witness), 1);

        let (c, d) = Handle::pair(witness.clone());
        assert_eq!(Handle::count(&c), 2);
        assert!(Handle::ptr_eq(&c, &d));
        drop(d);
        assert_eq!(Arc::strong_count(&witness), 2);
        drop(c);
        assert_eq!(Arc::strong_count(&witness), 1);
    }

    #[test]
    fn the_lock_excludes_other_threads() {
        let counter = Handle::new(Lock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *counter.lock() += 1;
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*counter.lock(), 40_000);
    }
}
