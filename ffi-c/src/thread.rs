//! Which thread is calling: the record a loop keeps of the thread that created it, and the
//! comparison every entry check makes against it (a loop is used only on its own thread).
//!
//! The comparison runs on every pl_ call, so its common case (the loop's own thread) costs a
//! register read and two loads, with no call: the thread pointer (the address of the thread's
//! control block, which every thread has in a register) against the one recorded at creation.
//! A thread pointer is unique among the threads alive, but a thread started after the loop's
//! own exited may get the same one; so the match counts only while the creating thread is
//! known to be alive (a flag its thread-local state clears when it exits). Anything else falls
//! back to a token unique for the life of the process, kept in a thread-local, which a shared
//! library reaches only through a call (`__tls_get_addr`): the wrong-thread answer stays exact,
//! it is just not the fast one.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The thread that created a loop.
pub(crate) struct LoopThread {
    /// The creating thread's thread pointer ([`thread_pointer`]).
    pointer: usize,
    /// True until the creating thread exits: only then can another thread get `pointer`.
    alive: Arc<AtomicBool>,
    /// The creating thread's [`token`].
    token: u64,
}

impl LoopThread {
    /// The calling thread.
    pub(crate) fn current() -> Self {
        LoopThread {
            pointer: thread_pointer(),
            alive: alive_flag(),
            token: token(),
        }
    }

    /// Whether the calling thread is this one.
    #[inline(always)]
    pub(crate) fn is_current(&self) -> bool {
        // Acquire pairs with the Release in `Alive::drop`: a thread that got the pointer of an
        // exited one was started after that exit, so it sees the flag cleared.
        (thread_pointer() == self.pointer && self.alive.load(Ordering::Acquire))
            || self.token == token()
    }
}

/// The calling thread's thread pointer: on x86-64 the first word of the thread control block,
/// which points to itself (the ELF TLS ABI; `%fs:0`), on AArch64 `tpidr_el0`, elsewhere
/// `pthread_self()` (as unique among the live threads, and as reused after an exit, but a
/// call).
#[inline(always)]
fn thread_pointer() -> usize {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let pointer: usize;
        // SAFETY: reads the thread pointer, which every thread of the process has (the C
        // library sets it up before any code runs on the thread): on x86-64 the word at
        // `%fs:0`, on AArch64 a register readable from user space. Nothing is written.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            std::arch::asm!(
                "mov {}, qword ptr fs:[0]",
                out(reg) pointer,
                options(nostack, readonly, preserves_flags)
            );
            #[cfg(target_arch = "aarch64")]
            std::arch::asm!(
                "mrs {}, tpidr_el0",
                out(reg) pointer,
                options(nomem, nostack, preserves_flags)
            );
        }
        pointer
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // SAFETY: pthread_self has no preconditions.
        (unsafe { libc::pthread_self() }) as usize
    }
}

/// A token for the calling thread, unique for the life of the process (thread ids of the OS
/// and thread pointers are reused; `std::thread::current()` costs a reference count per call).
fn token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // A `const` thread-local without a destructor: readable during and after the thread's
    // thread-local destructors too, so a loop used from one of them is still recognised.
    thread_local!(static TOKEN: Cell<u64> = const { Cell::new(0) });
    TOKEN.with(|token| match token.get() {
        0 => {
            let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
            token.set(fresh);
            fresh
        }
        known => known,
    })
}

/// The calling thread's alive flag, shared with the loops it creates; cleared when it exits.
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The calling thread's alive flag (made, and its clearing at thread exit registered, on the
/// thread's first loop). A thread already running its thread-local destructors gets a flag that
/// is cleared from the start: its loops are recognised by the token alone.
fn alive_flag() -> Arc<AtomicBool> {
    thread_local!(static ALIVE: Alive = Alive(Arc::new(AtomicBool::new(true))));
    ALIVE
        .try_with(|alive| Arc::clone(&alive.0))
        .unwrap_or_else(|_| Arc::new(AtomicBool::new(false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_itself_and_no_other() {
        let here = LoopThread::current();
        assert!(here.is_current());
        let there = std::thread::spawn(LoopThread::current).join().unwrap();
        assert!(!there.is_current());
        assert!(!there.alive.load(Ordering::Acquire), "the thread exited");
        std::thread::spawn(move || assert!(!here.is_current()))
            .join()
            .unwrap();
    }

    #[test]
    fn a_thread_started_after_the_loop_thread_exited_is_another_thread() {
        // Thread pointers of exited threads are reused (glibc caches thread stacks, and the
        // control block lives at their top), so the second thread usually has the first's.
        let first = std::thread::spawn(LoopThread::current).join().unwrap();
        let accepted = std::thread::spawn(move || first.is_current())
            .join()
            .unwrap();
        assert!(!accepted);
        // The same case made certain: this thread's pointer, recorded by a thread that exited.
        let reused = LoopThread {
            pointer: thread_pointer(),
            alive: Arc::new(AtomicBool::new(false)),
            token: u64::MAX,
        };
        assert!(!reused.is_current());
    }
}
