//! A host whose callbacks need a lock (Python's GIL) that the loop thread holds: the loop must
//! release it, through `Callback::blocking`, wherever it waits for other threads; and its pool
//! threads may keep it from job to job within a batch (`Callback::pool_batch`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use phaseloop_core::{Callback, Event, Job, JobOutput, Loop, LoopOptions};

/// The host's lock; the loop thread holds it except inside `blocking`.
static HOST_LOCK: Mutex<()> = Mutex::new(());

thread_local! {
    static HELD: RefCell<Option<MutexGuard<'static, ()>>> = const { RefCell::new(None) };
}

fn hold_host_lock() {
    HELD.with(|held| *held.borrow_mut() = Some(HOST_LOCK.lock().unwrap()));
}

struct Locked;

impl Callback for Locked {
    type Error = ();
    type Label = ();
    type Host = ();
    type Slot = Self;

    fn call(&mut self, _: &Loop<Self>, _: Event) -> Result<(), ()> {
        Ok(())
    }

    fn label(&self) -> Option<()> {
        None
    }

    fn blocking<R: Send>(wait: impl FnOnce() -> R + Send) -> R {
        HELD.with(|held| held.borrow_mut().take());
        let result = wait();
        hold_host_lock();
        result
    }
}

#[test]
fn close_releases_the_host_lock_while_it_joins_running_jobs() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    let lp = Loop::<Locked>::new(LoopOptions {
        threadpool_size: Some(1),
        ..Default::default()
    })
    .unwrap();
    hold_host_lock();
    // Like a Python job: it runs host code, so it needs the host's lock.
    let job: Job = Box::new(|| {
        STARTED.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        drop(HOST_LOCK.lock().unwrap());
        Ok(Box::new(()) as JobOutput)
    });
    lp.queue_work(job, Some(Locked)).unwrap();
    while !STARTED.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // Without the lock released around the pool's join, this would deadlock.
    lp.close().unwrap();
    assert!(HELD.with(|held| held.borrow().is_some()), "lock taken back");
}

/// A host that stops `run` from `after_wait` once "interrupted" (as Python's Ctrl-C does).
struct Interruptible;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

impl Callback for Interruptible {
    type Error = &'static str;
    type Label = ();
    type Host = ();
    type Slot = Self;

    fn call(&mut self, _: &Loop<Self>, _: Event) -> Result<(), &'static str> {
        Ok(())
    }

    fn label(&self) -> Option<()> {
        None
    }

    fn after_wait(_: &Loop<Self>) -> Result<(), &'static str> {
        if INTERRUPTED.swap(false, Ordering::SeqCst) {
            Err("interrupted")
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_byte_on_the_signal_wakeup_fd_wakes_a_blocking_run_and_after_wait_can_stop_it() {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    use std::time::Instant;

    use phaseloop_core::{RunError, RunMode};

    let lp = Loop::<Interruptible>::new(LoopOptions::default()).unwrap();
    let fd = lp.signal_wakeup_fd().unwrap();
    // The wake-up fd is no handle: alone it keeps nothing alive.
    assert!(!lp.run(RunMode::Default).unwrap());
    lp.set_timeout(10_000.0, Interruptible).unwrap();
    // Busy iterations before the wait do not need to poll the socket (and a byte written then
    // is still there for the blocking poll).
    for _ in 0..3 {
        assert!(lp.run(RunMode::NoWait).unwrap());
    }
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        INTERRUPTED.store(true, Ordering::SeqCst);
        // SAFETY: the loop owns the fd and outlives this thread (joined below); ManuallyDrop
        // keeps this File from closing it.
        let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        file.write_all(&[2]).unwrap();
    });
    let result = lp.run(RunMode::Default);
    writer.join().unwrap();
    assert!(matches!(result, Err(RunError::Callback("interrupted"))));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not timed out"
    );
    // The loop is still usable: the timer is still armed.
    assert!(lp.alive());
}

/// A host that counts the pool's batches and the jobs that ran inside one.
struct Batched;

static BATCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    static IN_BATCH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Callback for Batched {
    type Error = ();
    type Label = ();
    type Host = ();
    type Slot = Self;

    fn call(&mut self, _: &Loop<Self>, _: Event) -> Result<(), ()> {
        Ok(())
    }

    fn label(&self) -> Option<()> {
        None
    }

    fn pool_batch(batch: impl FnOnce()) {
        BATCHES.fetch_add(1, Ordering::SeqCst);
        IN_BATCH.with(|inside| inside.set(true));
        batch();
        IN_BATCH.with(|inside| inside.set(false));
    }
}

#[test]
fn jobs_queued_while_a_pool_thread_works_run_in_its_batch() {
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    use phaseloop_core::RunMode;

    static IN_A_BATCH: AtomicUsize = AtomicUsize::new(0);
    let lp = Loop::<Batched>::new(LoopOptions {
        threadpool_size: Some(1),
        ..Default::default()
    })
    .unwrap();
    let (started, job_started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let counted = || {
        if IN_BATCH.with(|inside| inside.get()) {
            IN_A_BATCH.fetch_add(1, Ordering::SeqCst);
        }
    };
    let first: Job = Box::new(move || {
        counted();
        started.send(()).unwrap();
        released.recv().unwrap();
        Ok(Box::new(()) as JobOutput)
    });
    lp.queue_work(first, Some(Batched)).unwrap();
    job_started.recv().unwrap();
    // Queued while the only pool thread is busy: it takes them one after another, without
    // waiting, so they run in the batch the first job opened.
    for _ in 0..99 {
        let job: Job = Box::new(move || {
            counted();
            Ok(Box::new(()) as JobOutput)
        });
        lp.queue_work(job, Some(Batched)).unwrap();
    }
    release.send(()).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(IN_A_BATCH.load(Ordering::SeqCst), 100);
    assert_eq!(BATCHES.load(Ordering::SeqCst), 1);
}
