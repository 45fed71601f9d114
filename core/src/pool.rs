//! The worker pool: a fixed set of threads fed from one FIFO queue, as libuv's threadpool.
//!
//! Threads are named `phaseloop-pool-N`, have an explicit stack size, and start on the first
//! `queue_work`. A job that fails or panics yields an error outcome; the thread survives. Each
//! loop owns its pool; `close` joins it.
//!
//! After `fork()` the child has none of the parent's pool threads (only the forking thread is
//! copied), so a loop created before a fork must not be used in the child: create a new loop
//! there. Closing it in the child is safe ([`Pool::abandon`]); the parent is unaffected.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use rustc_hash::FxHashSet;

use crate::callback::Callback;
use crate::id::Id;
use crate::inbox::{Completion, Inbox};
use crate::work_outcome::{panic_message, JobError, JobOutput, WorkOutcome};

/// A job for a pool thread.
pub type Job = Box<dyn FnOnce() -> Result<JobOutput, JobError> + Send>;

/// A job that is a plain function and two words of arguments, queued without an allocation
/// (see [`crate::Loop::queue_raw_work`]). The C binding's `pl_queue_work` is one: a boxed
/// closure per job was a `malloc` on the loop thread and a `free` on a pool thread, which
/// made the allocator's arena lock most of a no-op job's cost. It returns nothing and
/// completes with [`WorkOutcome::Done`] (holding `()`), or [`WorkOutcome::Panicked`].
pub struct RawJob {
    call: unsafe fn([usize; 2]),
    args: [usize; 2],
}

// SAFETY: `RawJob::new`'s caller promised that `call(args)` may run on another thread.
unsafe impl Send for RawJob {}

impl RawJob {
    /// A job that runs `call(args)` once on a pool thread.
    ///
    /// # Safety
    ///
    /// `call(args)` must be sound to run once, on any thread, at any time until the loop is
    /// closed (whatever `args` point to must stay valid and be safe to use from that thread).
    pub unsafe fn new(call: unsafe fn([usize; 2]), args: [usize; 2]) -> RawJob {
        RawJob { call, args }
    }

    fn run(self) {
        // SAFETY: `RawJob::new`'s contract.
        unsafe { (self.call)(self.args) }
    }
}

/// What a pool thread runs.
pub(crate) enum Work {
    Boxed(Job),
    Raw(RawJob),
}

/// Stack size of pool threads: room for deep host-language recursion (CPython's own threads
/// get 8 MiB on Linux by default).
const POOL_STACK_SIZE: usize = 8 * 1024 * 1024;

/// A job waiting in the queue. Its place in the FIFO is its number: jobs leave the queue in
/// the order they entered it, so job `n` is still queued exactly while fewer than `n + 1`
/// jobs have been taken. That is what cancellation checks (under the queue's lock, as libuv's
/// `uv_cancel` does), instead of an `Arc`'d atomic state per job: a job costs no allocation
/// and no atomic besides its own box.
struct QueuedJob {
    id: Id,
    job: Work,
    /// Set when a thread takes a job that was cancelled while queued: it is dropped unrun.
    cancelled: bool,
}

struct Queue {
    jobs: VecDeque<QueuedJob>,
    /// How many jobs have ever been queued: the number of the next one.
    pushed: u64,
    /// How many jobs have ever been taken off the front.
    taken: u64,
    /// The numbers of queued jobs that were cancelled (rare: a set, looked at only when
    /// non-empty).
    cancelled: FxHashSet<u64>,
    /// Threads waiting for a job; a submit signals the condition variable only when one is.
    idle: usize,
    /// Signals sent whose thread has not woken yet: each will take a queued job, so a submit
    /// signals another thread only for jobs beyond those (a burst queued faster than threads
    /// wake up no longer wakes every idle thread for a queue one of them will empty).
    waking: usize,
    /// Whether a thread that found the queue empty is spinning on [`PoolShared::changes`]
    /// before it waits: it will take the next job, so a submit need not signal for it.
    spinning: bool,
    shutdown: bool,
}

struct PoolShared<C> {
    queue: Mutex<Queue>,
    available: Condvar,
    /// Bumped on every submit and on shutdown (under the queue's lock): what a spinning thread
    /// watches, without the lock, for a job to take.
    changes: AtomicU64,
    running: AtomicUsize,
    inbox: Arc<Inbox<C>>,
}

pub(crate) struct Pool<C> {
    shared: Arc<PoolShared<C>>,
    threads: Vec<JoinHandle<()>>,
    size: usize,
}

impl<C: Callback> Pool<C> {
    pub(crate) fn new(size: usize, inbox: Arc<Inbox<C>>) -> Self {
        Pool {
            shared: Arc::new(PoolShared {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    pushed: 0,
                    taken: 0,
                    cancelled: FxHashSet::default(),
                    idle: 0,
                    waking: 0,
                    spinning: false,
                    shutdown: false,
                }),
                available: Condvar::new(),
                changes: AtomicU64::new(0),
                running: AtomicUsize::new(0),
                inbox,
            }),
            threads: Vec::new(),
            size,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Queues a job; starts the threads on first use. Returns the job's number, for
    /// [`Pool::cancel`]. If no thread can be started the job is handed back (the caller drops
    /// it outside its borrow of the loop state).
    pub(crate) fn submit(&mut self, id: Id, job: Work) -> Result<u64, (std::io::Error, Work)> {
        if self.threads.is_empty() {
            if let Err(err) = self.spawn_threads() {
                return Err((err, job));
            }
        }
        let mut queue = self.shared.queue.lock();
        let number = queue.pushed;
        queue.pushed += 1;
        queue.jobs.push_back(QueuedJob {
            id,
            job,
            cancelled: false,
        });
        self.shared.changes.fetch_add(1, Ordering::Release);
        // Busy threads look at the queue again before they wait, and a spinning one takes the
        // next job: only jobs beyond those need a waiting thread signalled (a burst of jobs
        // then costs at most one wake-up per idle thread, not one per job).
        let wake = wake_one(&mut queue);
        drop(queue);
        if wake {
            self.shared.available.notify_one();
        }
        Ok(number)
    }

    /// Cancels job `number` if no thread has taken it yet; false if one has (it runs or ran),
    /// or if it was cancelled already.
    pub(crate) fn cancel(&self, number: u64) -> bool {
        let mut queue = self.shared.queue.lock();
        number >= queue.taken && queue.cancelled.insert(number)
    }

    /// Lets no thread take another job (they finish the one they run): the first step of
    /// closing, so that nothing queued starts while the loop lets go of its requests.
    pub(crate) fn stop_taking(&self) {
        let mut queue = self.shared.queue.lock();
        queue.shutdown = true;
        self.shared.changes.fetch_add(1, Ordering::Release);
    }

    fn spawn_threads(&mut self) -> std::io::Result<()> {
        for n in 0..self.size {
            let shared = Arc::clone(&self.shared);
            let thread = std::thread::Builder::new()
                .name(format!("phaseloop-pool-{n}"))
                .stack_size(POOL_STACK_SIZE)
                .spawn(move || worker(&shared));
            match thread {
                Ok(handle) => self.threads.push(handle),
                // Keep the threads that did start; a later submit will not retry (non-empty).
                Err(err) if self.threads.is_empty() => return Err(err),
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Jobs waiting for a thread. A cancelled job stays in the queue until a thread skips it,
    /// but it no longer waits (libuv's `uv_cancel` takes it out of the queue).
    pub(crate) fn queued(&self) -> usize {
        let queue = self.shared.queue.lock();
        queue.jobs.len() - queue.cancelled.len()
    }

    /// Jobs running now.
    pub(crate) fn running(&self) -> usize {
        self.shared.running.load(Ordering::Relaxed)
    }

    /// In a child of `fork()`, which has none of the pool's threads: forgets them (joining
    /// would wait forever) and returns the jobs still queued, unless a thread of the parent held
    /// the queue's lock when the process forked (the jobs are then left where they are).
    pub(crate) fn abandon(&mut self) -> Vec<Work> {
        std::mem::forget(std::mem::take(&mut self.threads));
        match self.shared.queue.try_lock() {
            Some(mut queue) => {
                queue.shutdown = true;
                queue.jobs.drain(..).map(|queued| queued.job).collect()
            }
            None => Vec::new(),
        }
    }

    /// Stops the pool: jobs not started are returned (to be dropped by the caller), running
    /// ones finish, and the threads are joined.
    pub(crate) fn shutdown(&mut self) -> Vec<Work> {
        let left: Vec<Work> = {
            let mut queue = self.shared.queue.lock();
            queue.shutdown = true;
            self.shared.changes.fetch_add(1, Ordering::Release);
            queue.jobs.drain(..).map(|queued| queued.job).collect()
        };
        self.shared.available.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        left
    }
}

fn worker<C: Callback>(shared: &PoolShared<C>) {
    while let Some(first) = next_job(shared, true) {
        // The jobs queued now run as one batch, so a host can keep its lock across them.
        C::pool_batch(|| {
            let mut next = Some(first);
            while let Some(queued) = next {
                run_job(shared, queued);
                next = next_job(shared, false);
            }
        });
    }
}

/// Whether a waiting thread should be signalled for the jobs queued now (and if so, counts it
/// as waking): when more jobs wait than the threads already coming for them (those signalled
/// and not yet awake, and a spinning one) and a thread waits that was not signalled.
fn wake_one(queue: &mut Queue) -> bool {
    let coming = queue.waking + usize::from(queue.spinning);
    let wake = queue.idle > queue.waking && queue.jobs.len() > coming;
    if wake {
        queue.waking += 1;
    }
    wake
}

/// How many times a thread that found the queue empty looks at [`PoolShared::changes`] with a
/// pause between (about a microsecond in all: a pause is some 30 ns on this project's AMD
/// EPYC), then with a yield of its CPU between, before it waits on the condition variable.
/// Jobs queued in a burst arrive a hundred nanoseconds or so apart; sleeping between two of
/// them cost a futex wake on the loop thread and a context switch on both (most of a no-op
/// job's time with four threads on two cores). The yields keep a spinning thread from holding
/// a CPU the loop thread, queueing those jobs, needs.
const SPIN_PAUSES: u32 = 32;
/// See [`SPIN_PAUSES`]: the yields are what let the loop thread run when it shares the CPU.
const SPIN_YIELDS: u32 = 10;

/// Waits, without the queue's lock, for [`PoolShared::changes`] to move from `seen`; false if
/// it did not within the spin.
fn spin_for_change<C>(shared: &PoolShared<C>, seen: u64) -> bool {
    let changed = || shared.changes.load(Ordering::Acquire) != seen;
    for _ in 0..SPIN_PAUSES {
        if changed() {
            return true;
        }
        std::hint::spin_loop();
    }
    for _ in 0..SPIN_YIELDS {
        if changed() {
            return true;
        }
        std::thread::yield_now();
    }
    changed()
}

/// Takes the front job (the caller holds the queue's lock and saw it non-empty).
fn take_front(queue: &mut Queue) -> Option<QueuedJob> {
    let mut job = queue.jobs.pop_front()?;
    let number = queue.taken;
    queue.taken += 1;
    if !queue.cancelled.is_empty() && queue.cancelled.remove(&number) {
        // Dropped by `run_job`, inside the host's batch (it may need the host's lock).
        job.cancelled = true;
    }
    Some(job)
}

/// The next job from the queue; waits for one if `wait`, else `None` when the queue is empty.
/// `None` as well once the pool shuts down. A thread that would wait first spins a little if no
/// other thread does (see [`SPIN_PAUSES`]).
fn next_job<C>(shared: &PoolShared<C>, wait: bool) -> Option<QueuedJob> {
    let mut queue = shared.queue.lock();
    loop {
        if queue.shutdown {
            return None;
        }
        if let Some(job) = take_front(&mut queue) {
            return Some(job);
        }
        if !wait {
            return None;
        }
        if !queue.spinning {
            queue.spinning = true;
            let seen = shared.changes.load(Ordering::Relaxed);
            drop(queue);
            spin_for_change(shared, seen);
            queue = shared.queue.lock();
            queue.spinning = false;
            if queue.shutdown {
                return None;
            }
            if let Some(job) = take_front(&mut queue) {
                // Submits counted on this thread for one job: the rest may need another.
                let wake = wake_one(&mut queue);
                drop(queue);
                if wake {
                    shared.available.notify_one();
                }
                return Some(job);
            }
        }
        queue.idle += 1;
        shared.available.wait(&mut queue);
        queue.idle -= 1;
        // Saturating: a spurious wake-up may have come first.
        queue.waking = queue.waking.saturating_sub(1);
    }
}

/// Runs one job, unless it was cancelled while queued, and hands its outcome to the loop.
fn run_job<C>(shared: &PoolShared<C>, queued: QueuedJob) {
    if queued.cancelled {
        return; // cancelled while queued; the loop already reported it
    }
    shared.running.fetch_add(1, Ordering::Relaxed);
    let outcome = match queued.job {
        Work::Boxed(job) => match catch_unwind(AssertUnwindSafe(job)) {
            Ok(Ok(value)) => WorkOutcome::Done(value),
            Ok(Err(err)) => WorkOutcome::Failed(err),
            Err(panic) => WorkOutcome::Panicked(panic_message(&*panic)),
        },
        // `Box<()>` does not allocate.
        Work::Raw(job) => match catch_unwind(AssertUnwindSafe(|| job.run())) {
            Ok(()) => WorkOutcome::Done(Box::new(())),
            Err(panic) => WorkOutcome::Panicked(panic_message(&*panic)),
        },
    };
    shared.running.fetch_sub(1, Ordering::Relaxed);
    shared.inbox.complete(Completion {
        id: queued.id,
        outcome,
    });
}
