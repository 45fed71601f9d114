//! Ordering rule 5 (docs/ordering.md) and what feeds the poll phase: the worker pool (completion
//! order, cancellation, panics, close with work queued), threadsafe calls, fd and signal watchers,
//! the poll timeout seen from outside (`backend_timeout`), the virtual clock with work in flight,
//! and the counters (`metrics`, `utilization`) that report all of it.
//!
//! Where real time is the point (a blocked loop must not burn CPU, a real wait counts as idle),
//! the bounds are generous; everything else runs on the virtual clock. A job that waits for a
//! release gives up after `PATIENCE` and fails, so a broken loop fails a test instead of hanging.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::{virtual_loop, Log};
use phaseloop_core::{
    jobs, Callback, ClockKind, Error, Event, HandleKind, Id, Interest, Job, JobError, JobOutput,
    Loop, LoopOptions, Metrics, Phase, Refused, RunMode, Task, WorkOutcome,
};

/// How long a gated job or a rendezvous waits before giving up (a failure, never a hang).
const PATIENCE: Duration = Duration::from_secs(10);

const READABLE: Interest = Interest {
    readable: true,
    writable: false,
};
const WRITABLE: Interest = Interest {
    readable: false,
    writable: true,
};
const BOTH: Interest = Interest {
    readable: true,
    writable: true,
};

/// A loop on `clock` with a pool of `threads` (never read from the environment, which
/// `pool_size_env.rs` tests on its own).
fn pool_loop(clock: ClockKind, threads: usize) -> Loop<Task> {
    Loop::new(LoopOptions {
        clock,
        threadpool_size: Some(threads),
        ..Default::default()
    })
    .unwrap()
}

/// A closure as a pool job.
fn job(f: impl FnOnce() -> Result<JobOutput, JobError> + Send + 'static) -> Job {
    Box::new(f)
}

/// A job that says it started, then waits for `release` and returns `value`.
fn gated_job(started: Sender<()>, release: Receiver<()>, value: &'static str) -> Job {
    job(move || {
        let _ = started.send(());
        release
            .recv_timeout(PATIENCE)
            .map_err(|_| "the job was never released")?;
        Ok(Box::new(value))
    })
}

/// A job that waits for `release` (sent by another job's completion callback), then returns
/// `value`.
fn job_released_by(release: Receiver<()>, value: &'static str) -> Job {
    job(move || {
        release
            .recv_timeout(PATIENCE)
            .map_err(|_| "the job was never released")?;
        Ok(Box::new(value))
    })
}

/// A job that returns the name of the pool thread it ran on.
fn thread_name_job() -> Job {
    job(|| Ok(Box::new(thread::current().name().map(str::to_owned))))
}

/// How a work request ended, as text: `done VALUE`, `failed ERROR`, `panicked MESSAGE` or
/// `cancelled`.
fn describe(outcome: &WorkOutcome) -> String {
    match outcome {
        WorkOutcome::Done(value) => {
            if let Some(text) = value.downcast_ref::<&'static str>() {
                format!("done {text}")
            } else if let Some(Some(name)) = value.downcast_ref::<Option<String>>() {
                format!("done {name}")
            } else {
                "done".to_owned()
            }
        }
        WorkOutcome::Failed(err) => format!("failed {err}"),
        WorkOutcome::Panicked(message) => format!("panicked {message}"),
        WorkOutcome::Cancelled => "cancelled".to_owned(),
    }
}

/// A work callback that logs `NAME: OUTCOME` (and the phase, if it is not poll), then sends
/// on `then`, if given.
fn on_work(log: &Log, name: &'static str, then: Option<Sender<()>>) -> Task {
    let log = log.clone();
    Task::new(move |lp, event| {
        let Event::Work(outcome) = event else {
            return Err(format!("{name}: a work callback got {event:?}").into());
        };
        let phase = match lp.phase() {
            Some(Phase::Poll) => String::new(),
            other => format!(" (in {other:?})"),
        };
        log.push(format!("{name}: {}{phase}", describe(&outcome)));
        if let Some(then) = &then {
            let _ = then.send(());
        }
        Ok(())
    })
}

/// A meeting point for `parties` threads, with a timeout so that a missing party fails the
/// test instead of hanging it.
struct Rendezvous {
    arrived: Mutex<usize>,
    all_here: Condvar,
    parties: usize,
}

impl Rendezvous {
    fn new(parties: usize) -> Arc<Rendezvous> {
        Arc::new(Rendezvous {
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            parties,
        })
    }

    /// Arrives and waits for the others; whether they all came within `PATIENCE`.
    fn arrive_and_wait(&self) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let (_arrived, wait) = self
            .all_here
            .wait_timeout_while(arrived, PATIENCE, |n| *n < self.parties)
            .unwrap();
        !wait.timed_out()
    }
}

/// Counts how many times each of `n` tracked values was dropped.
#[derive(Clone)]
struct DropCounts(Arc<Vec<AtomicU8>>);

/// A value whose drop is counted in its `DropCounts` slot.
struct Tracked {
    counts: DropCounts,
    index: usize,
}

impl DropCounts {
    fn new(n: usize) -> DropCounts {
        DropCounts(Arc::new((0..n).map(|_| AtomicU8::new(0)).collect()))
    }

    fn track(&self, index: usize) -> Tracked {
        Tracked {
            counts: self.clone(),
            index,
        }
    }

    /// Indexes not dropped exactly once.
    fn not_dropped_once(&self) -> Vec<(usize, u8)> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.load(Ordering::SeqCst)))
            .filter(|&(_, c)| c != 1)
            .collect()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counts.0[self.index].fetch_add(1, Ordering::SeqCst);
    }
}

/// CPU time (user + system) used by the calling thread so far.
fn thread_cpu_time() -> Duration {
    // SAFETY: rusage is plain integers, for which all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_THREAD)");
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Sends `signum` to the calling thread only (so other tests' blocked polls are not
/// interrupted); the handler runs before this returns.
fn raise(signum: i32) {
    // SAFETY: raise has no memory-safety preconditions; the caller watches `signum`, so the
    // handler installed by the watcher runs instead of the default action.
    let rc = unsafe { libc::raise(signum) };
    assert_eq!(rc, 0, "raise({signum})");
}

// ----- the worker pool -------------------------------------------------------------------------

#[test]
fn rule_5_2_work_callbacks_run_in_completion_order_not_queue_order() {
    let lp = pool_loop(ClockKind::Virtual, 3);
    let log = Log::default();
    let (release_b, b_released) = mpsc::channel();
    let (release_c, c_released) = mpsc::channel();
    // c and b can only finish after the completion callback of the job before them ran, so
    // they complete in the order a, b, c: the reverse of the order they were queued in.
    lp.queue_work(
        job_released_by(c_released, "c"),
        Some(on_work(&log, "c", None)),
    )
    .unwrap();
    lp.queue_work(
        job_released_by(b_released, "b"),
        Some(on_work(&log, "b", Some(release_c))),
    )
    .unwrap();
    lp.queue_work(
        job(|| Ok(Box::new("a"))),
        Some(on_work(&log, "a", Some(release_b))),
    )
    .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["a: done a", "b: done b", "c: done c"]);
}

#[test]
fn a_pool_of_one_runs_jobs_in_queue_order() {
    let lp = pool_loop(ClockKind::Virtual, 1);
    let log = Log::default();
    let names = ["j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7"];
    for name in names {
        lp.queue_work(
            job(move || Ok(Box::new(name))),
            Some(on_work(&log, name, None)),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    let expected: Vec<String> = names.iter().map(|n| format!("{n}: done {n}")).collect();
    assert_eq!(log.entries(), expected);
}

#[test]
fn cancelling_a_job_before_it_starts_delivers_cancelled_and_never_runs_it() {
    let lp = pool_loop(ClockKind::Virtual, 1);
    let log = Log::default();
    let (started, a_started) = mpsc::channel();
    let (release_a, a_released) = mpsc::channel();
    let a = lp
        .queue_work(
            gated_job(started, a_released, "a"),
            Some(on_work(&log, "a", None)),
        )
        .unwrap();
    let b_ran = Arc::new(AtomicBool::new(false));
    let ran = b_ran.clone();
    // b's callback releases a, so b's cancellation must be delivered before a can finish.
    let b = lp
        .queue_work(
            job(move || {
                ran.store(true, Ordering::SeqCst);
                Ok(Box::new("b"))
            }),
            Some(on_work(&log, "b", Some(release_a))),
        )
        .unwrap();
    a_started.recv_timeout(PATIENCE).unwrap();
    lp.cancel_work(b).unwrap();
    lp.cancel_work(b)
        .expect("cancelling twice: the first cancel still stands");
    assert!(
        matches!(lp.cancel_work(a), Err(Error::Busy)),
        "a has started"
    );
    assert!(lp.work_pending(b), "the cancellation is not delivered yet");
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["b: cancelled", "a: done a"]);
    assert!(!b_ran.load(Ordering::SeqCst), "a cancelled job never runs");
    assert!(!lp.work_pending(b));
    assert!(matches!(lp.cancel_work(b), Err(Error::NotFound)));
    assert!(matches!(lp.cancel_work(a), Err(Error::NotFound)));
}

#[test]
fn cancelling_a_job_after_it_started_is_busy_and_it_completes_normally() {
    let lp = pool_loop(ClockKind::Virtual, 1);
    let log = Log::default();
    let (started, a_started) = mpsc::channel();
    let (release_a, a_released) = mpsc::channel();
    let a = lp
        .queue_work(
            gated_job(started, a_released, "a"),
            Some(on_work(&log, "a", None)),
        )
        .unwrap();
    a_started.recv_timeout(PATIENCE).unwrap();
    assert!(matches!(lp.cancel_work(a), Err(Error::Busy)));
    release_a.send(()).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["a: done a"]);
}

#[test]
fn rule_8_2_a_panicking_job_reaches_its_callback_and_the_pool_of_one_goes_on() {
    let lp = pool_loop(ClockKind::Virtual, 1);
    let log = Log::default();
    lp.queue_work(
        job(|| panic!("job exploded")),
        Some(on_work(&log, "panics", None)),
    )
    .unwrap();
    lp.queue_work(
        job(|| Err("no such file".into())),
        Some(on_work(&log, "fails", None)),
    )
    .unwrap();
    lp.queue_work(thread_name_job(), Some(on_work(&log, "after", None)))
        .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(
        log.entries(),
        [
            "panics: panicked job exploded",
            "fails: failed no such file",
            "after: done phaseloop-pool-0",
        ]
    );
}

#[test]
fn pool_threads_are_named_and_all_survive_panicking_jobs() {
    const THREADS: usize = 4;
    let lp = pool_loop(ClockKind::Virtual, THREADS);
    assert_eq!(lp.threadpool_size(), THREADS);
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let record = |outcomes: &Arc<Mutex<Vec<String>>>| {
        let outcomes = outcomes.clone();
        Task::new(move |_, event| {
            if let Event::Work(outcome) = event {
                outcomes.lock().unwrap().push(describe(&outcome));
            }
            Ok(())
        })
    };
    // Each panicking job waits for the others first, so every thread gets exactly one.
    let meet = Rendezvous::new(THREADS);
    for _ in 0..THREADS {
        let meet = meet.clone();
        lp.queue_work(
            job(move || {
                if meet.arrive_and_wait() {
                    panic!("deliberate")
                }
                Err("the panicking jobs did not all start".into())
            }),
            Some(record(&outcomes)),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*outcomes.lock().unwrap(), ["panicked deliberate"; THREADS]);
    // Again THREADS jobs that can only finish together: every thread must still be there.
    outcomes.lock().unwrap().clear();
    let meet = Rendezvous::new(THREADS);
    for _ in 0..THREADS {
        let meet = meet.clone();
        lp.queue_work(
            job(move || {
                if !meet.arrive_and_wait() {
                    return Err("a pool thread is missing".into());
                }
                thread_name_job()()
            }),
            Some(record(&outcomes)),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    let names: BTreeSet<String> = outcomes.lock().unwrap().iter().cloned().collect();
    let expected: BTreeSet<String> = (0..THREADS)
        .map(|n| format!("done phaseloop-pool-{n}"))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn rule_6_1_a_job_in_flight_keeps_the_loop_alive_even_without_a_callback() {
    let lp = pool_loop(ClockKind::Real, 1);
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let id = lp
        .queue_work(
            job(move || {
                thread::sleep(Duration::from_millis(30));
                f.store(true, Ordering::SeqCst);
                Ok(Box::new(()))
            }),
            None,
        )
        .unwrap();
    assert!(lp.alive());
    let work: Vec<_> = lp
        .handles()
        .into_iter()
        .map(|h| (h.kind, h.refed))
        .collect();
    assert_eq!(work, [("work", true)]);
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(
        finished.load(Ordering::SeqCst),
        "run returned before the job was delivered"
    );
    assert!(!lp.work_pending(id));
    assert!(lp.handles().is_empty());
}

/// The release of the job that is running when `close()` begins; sent from the only
/// [`Callback::blocking`] call such a loop makes, close's join of the pool, which comes after
/// every queued job was cancelled.
static RELEASE_WHEN_CLOSE_JOINS: Mutex<Option<Sender<()>>> = Mutex::new(None);

/// A work callback that counts its calls, with a counted drop.
struct CloseProbe {
    _tracked: Tracked,
    called: Arc<AtomicUsize>,
}

impl Callback for CloseProbe {
    type Error = ();
    type Label = ();
    type Host = ();
    type Slot = Self;

    fn call(&mut self, _: &Loop<Self>, _: Event) -> Result<(), ()> {
        self.called.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn label(&self) -> Option<()> {
        None
    }

    fn blocking<R: Send>(wait: impl FnOnce() -> R + Send) -> R {
        if let Some(release) = RELEASE_WHEN_CLOSE_JOINS.lock().unwrap().take() {
            let _ = release.send(());
        }
        wait()
    }
}

#[test]
fn close_with_ten_thousand_queued_jobs_finishes_and_drops_every_callback_once() {
    const QUEUED: usize = 10_000;
    let lp = Loop::<CloseProbe>::new(LoopOptions {
        clock: ClockKind::Virtual,
        threadpool_size: Some(1),
        ..Default::default()
    })
    .unwrap();
    let job_drops = DropCounts::new(QUEUED + 1);
    let callback_drops = DropCounts::new(QUEUED + 1);
    let jobs_run = Arc::new(AtomicUsize::new(0));
    let callbacks_run = Arc::new(AtomicUsize::new(0));
    let (started, first_started) = mpsc::channel();
    let (release_first, first_released) = mpsc::channel::<()>();
    let mut first_gate = Some((started, first_released));
    for i in 0..=QUEUED {
        let tracked = job_drops.track(i);
        let ran = jobs_run.clone();
        let gate = first_gate.take();
        let work = job(move || {
            let _tracked = tracked;
            ran.fetch_add(1, Ordering::SeqCst);
            if let Some((started, released)) = gate {
                let _ = started.send(());
                released
                    .recv_timeout(PATIENCE)
                    .map_err(|_| "never released")?;
            }
            Ok(Box::new(()))
        });
        let callback = CloseProbe {
            _tracked: callback_drops.track(i),
            called: callbacks_run.clone(),
        };
        assert!(lp.queue_work(work, Some(callback)).is_ok());
    }
    first_started.recv_timeout(PATIENCE).unwrap();
    let metrics = lp.metrics();
    assert_eq!((metrics.pool_running, metrics.pool_queued), (1, QUEUED));
    // The first job is still running when close() begins and is released only when close()
    // joins the pool, so close() must cancel the rest, then wait for it.
    *RELEASE_WHEN_CLOSE_JOINS.lock().unwrap() = Some(release_first);
    let began = Instant::now();
    lp.close().unwrap();
    let took = began.elapsed();
    assert!(
        RELEASE_WHEN_CLOSE_JOINS.lock().unwrap().is_none(),
        "close() joined the pool through Callback::blocking"
    );
    assert_eq!(
        callbacks_run.load(Ordering::SeqCst),
        0,
        "close() runs no callback"
    );
    assert_eq!(
        jobs_run.load(Ordering::SeqCst),
        1,
        "only the running job ran; the queued ones were cancelled"
    );
    assert_eq!(
        job_drops.not_dropped_once(),
        [],
        "(job, drops) not dropped once"
    );
    assert_eq!(
        callback_drops.not_dropped_once(),
        [],
        "(callback, drops) not dropped once"
    );
    assert!(took < PATIENCE, "close() took {took:?}");
}

#[test]
fn rule_5_4_virtual_clock_stands_still_while_a_job_is_in_flight() {
    let lp = pool_loop(ClockKind::Virtual, 1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    lp.set_timeout(
        3_600_000.0,
        Task::new(move |lp, _| {
            s.lock()
                .unwrap()
                .push(("hour timer", lp.now(), lp.hrtime()));
            Ok(())
        }),
    )
    .unwrap();
    let s = seen.clone();
    let began = Instant::now();
    lp.queue_work(
        jobs::sleep(30),
        Some(Task::new(move |lp, _| {
            s.lock().unwrap().push(("work", lp.now(), lp.hrtime()));
            Ok(())
        })),
    )
    .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("work", 0, 0),
            ("hour timer", 3_600_000, 3_600_000 * 1_000_000)
        ]
    );
    assert!(
        began.elapsed() >= Duration::from_millis(30),
        "the job's real time was waited for"
    );
    assert_eq!(lp.now(), 3_600_000);
}

// ----- threadsafe calls --------------------------------------------------------------------------

#[test]
fn rule_5_2_threadsafe_calls_run_on_the_loop_thread_in_poll_in_call_order() {
    let lp = virtual_loop();
    let remote = lp.remote().unwrap();
    assert!(!lp.alive(), "a remote alone does not keep the loop alive");
    assert!(!lp.run(RunMode::Default).unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let seen = seen.clone();
        thread::spawn(move || {
            for name in ["first", "second", "third"] {
                let seen = seen.clone();
                let call = Task::new(move |lp, _| {
                    seen.lock()
                        .unwrap()
                        .push((name, lp.phase(), thread::current().id()));
                    Ok(())
                });
                assert!(remote.clone().call(call).is_ok());
            }
            thread::current().id()
        })
    };
    let sender_thread = sender.join().unwrap();
    assert!(lp.alive(), "queued calls keep the loop alive");
    let queued: Vec<_> = lp
        .handles()
        .into_iter()
        .map(|h| (h.kind, h.refed, h.detail))
        .collect();
    assert_eq!(queued, [("threadsafe", true, "3 queued".to_owned())]);
    assert!(!lp.run(RunMode::Default).unwrap());
    let me = thread::current().id();
    assert_ne!(me, sender_thread);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("first", Some(Phase::Poll), me),
            ("second", Some(Phase::Poll), me),
            ("third", Some(Phase::Poll), me),
        ]
    );
}

/// Threads sending threadsafe calls at once.
const SENDERS: usize = 8;

/// What the loop thread saw of the calls of `SENDERS` threads.
struct Deliveries {
    /// Each sender's next expected sequence number.
    next: [u32; SENDERS],
    total: usize,
    out_of_order: usize,
    /// Calls run outside the poll phase or on another thread than the loop's.
    wrong_place: usize,
}

#[test]
fn eight_threads_times_100k_threadsafe_calls_arrive_exactly_once_in_per_thread_order() {
    const CALLS: u32 = 100_000;
    let lp = pool_loop(ClockKind::Real, 1);
    let loop_thread = thread::current().id();
    let state = Arc::new(Mutex::new(Deliveries {
        next: [0; SENDERS],
        total: 0,
        out_of_order: 0,
        wrong_place: 0,
    }));
    // The senders need the loop alive while they work (rule 6.1: a loop that waits for other
    // threads holds a ref'd handle); this timer also ends a run that would never finish.
    let watchdog = lp
        .set_timeout(
            60_000.0,
            Task::new(|_, _| Err("not every call arrived within 60 s".into())),
        )
        .unwrap();
    let watchdog = Arc::new(Mutex::new(Some(watchdog)));
    let remote = lp.remote().unwrap();
    let began = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let remote = remote.clone();
            let state = state.clone();
            let watchdog = watchdog.clone();
            thread::spawn(move || {
                for seq in 0..CALLS {
                    let state = state.clone();
                    let watchdog = watchdog.clone();
                    let call = Task::new(move |lp, _| {
                        let mut st = state.lock().unwrap();
                        if st.next[sender] != seq {
                            st.out_of_order += 1;
                        }
                        st.next[sender] = seq + 1;
                        st.total += 1;
                        if lp.phase() != Some(Phase::Poll) || thread::current().id() != loop_thread
                        {
                            st.wrong_place += 1;
                        }
                        if st.total == SENDERS * CALLS as usize {
                            if let Some(id) = watchdog.lock().unwrap().take() {
                                lp.clear_timer(id)?;
                            }
                        }
                        Ok(())
                    });
                    if remote.call(call).is_err() {
                        panic!("the loop refused a call");
                    }
                }
            })
        })
        .collect();
    drop(remote);
    lp.run(RunMode::Default).unwrap();
    for sender in senders {
        sender.join().unwrap();
    }
    let took = began.elapsed();
    let st = state.lock().unwrap();
    assert_eq!(st.total, SENDERS * CALLS as usize);
    assert_eq!(st.next, [CALLS; SENDERS]);
    assert_eq!(st.out_of_order, 0);
    assert_eq!(
        st.wrong_place, 0,
        "calls outside the loop thread's poll phase"
    );
    drop(st);
    assert!(!lp.run(RunMode::Default).unwrap(), "nothing left over");
    assert_eq!(state.lock().unwrap().total, SENDERS * CALLS as usize);
    eprintln!("800,000 threadsafe calls delivered in {took:?}");
}

#[test]
fn a_remote_call_after_close_is_an_error_and_hands_the_callback_back() {
    let lp = virtual_loop();
    let remote = lp.remote().unwrap();
    lp.close().unwrap();
    let drops = DropCounts::new(1);
    let tracked = drops.track(0);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let call = Task::new(move |_, _| {
        let _ = &tracked;
        r.store(true, Ordering::SeqCst);
        Ok(())
    });
    let Err(Refused { error, callback }) = remote.call(call) else {
        panic!("a closed loop accepted a call");
    };
    assert!(matches!(error, Error::Closed), "{error:?}");
    assert_eq!(
        drops.0[0].load(Ordering::SeqCst),
        0,
        "the caller still owns it"
    );
    drop(callback);
    assert_eq!(drops.not_dropped_once(), []);
    assert!(!ran.load(Ordering::SeqCst));
    assert!(matches!(lp.remote(), Err(Error::Closed)));
}

// ----- the poll timeout --------------------------------------------------------------------------

#[test]
fn rule_6_2_a_loop_with_only_an_unrefd_timer_exits_at_once() {
    let lp = virtual_loop();
    let log = Log::default();
    let timer = lp.set_timeout(60_000.0, log.task("timer")).unwrap();
    lp.set_timer_ref(timer, false).unwrap();
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.len(), 0);
    assert_eq!(lp.now(), 0, "the virtual clock did not move to the timer");
    assert!(lp.timer_active(timer), "the timer is still armed");
}

#[test]
fn rule_5_1_an_unrefd_timer_still_wakes_a_loop_that_blocks_anyway() {
    let lp = pool_loop(ClockKind::Real, 1);
    let log = Log::default();
    let timer = lp.set_timeout(20.0, log.task("unref'd timer")).unwrap();
    lp.set_timer_ref(timer, false).unwrap();
    lp.queue_work(jobs::sleep(300), Some(on_work(&log, "work", None)))
        .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["unref'd timer", "work: done"]);
}

#[test]
fn rule_5_1_backend_timeout_is_zero_with_anything_queued_and_none_for_io_only() {
    let lp = virtual_loop();
    assert_eq!(
        lp.backend_timeout(),
        Some(0),
        "nothing alive: poll would not block (uv_backend_timeout)"
    );
    let (_writer, reader) = UnixStream::pair().unwrap();
    let watcher = lp
        .watch_fd(reader.as_raw_fd(), READABLE, Task::new(|_, _| Ok(())))
        .unwrap();
    assert_eq!(lp.backend_timeout(), None, "only I/O is awaited");

    let timer = lp.set_timeout(50.0, Task::new(|_, _| Ok(()))).unwrap();
    assert_eq!(lp.backend_timeout(), Some(50));
    lp.advance(20).unwrap();
    assert_eq!(
        lp.backend_timeout(),
        Some(30),
        "time until the timer is due"
    );

    let immediate = lp.set_immediate(Task::new(|_, _| Ok(()))).unwrap();
    assert_eq!(lp.backend_timeout(), Some(0), "a ref'd immediate");
    lp.set_immediate_ref(immediate, false).unwrap();
    assert_eq!(
        lp.backend_timeout(),
        Some(30),
        "an unref'd immediate does not stop poll from blocking"
    );
    lp.clear_immediate(immediate).unwrap();

    let idle = lp
        .add_handle(HandleKind::Idle, Task::new(|_, _| Ok(())))
        .unwrap();
    assert_eq!(lp.backend_timeout(), Some(0), "an active idle handle");
    lp.stop_handle(idle).unwrap();
    assert_eq!(lp.backend_timeout(), Some(30));

    lp.next_tick(Task::new(|_, _| Ok(()))).unwrap();
    assert_eq!(lp.backend_timeout(), Some(0), "a queued tick");
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(lp.backend_timeout(), Some(30));

    lp.queue_pending(Task::new(|_, _| Ok(()))).unwrap();
    assert_eq!(lp.backend_timeout(), Some(0), "a pending callback");
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(lp.backend_timeout(), Some(30));

    lp.close_handle(idle, None).unwrap();
    assert_eq!(lp.backend_timeout(), Some(0), "a close callback waiting");
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(lp.backend_timeout(), Some(30));

    lp.stop();
    assert_eq!(lp.backend_timeout(), Some(0), "a stop() not yet honoured");
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(lp.backend_timeout(), Some(30));

    lp.clear_timer(timer).unwrap();
    assert_eq!(lp.backend_timeout(), None);
    lp.close_watcher(watcher, None).unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(lp.backend_timeout(), Some(0));

    let (started, job_started) = mpsc::channel();
    let (release, released) = mpsc::channel();
    let work = lp
        .queue_work(gated_job(started, released, "job"), None)
        .unwrap();
    job_started.recv_timeout(PATIENCE).unwrap();
    assert_eq!(lp.backend_timeout(), None, "only a job in flight");
    release.send(()).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(!lp.work_pending(work));
    assert_eq!(lp.backend_timeout(), Some(0));

    // A threadsafe call queued by another thread is a queue that is not empty.
    let watcher = lp
        .watch_fd(reader.as_raw_fd(), READABLE, Task::new(|_, _| Ok(())))
        .unwrap();
    assert_eq!(lp.backend_timeout(), None);
    let remote = lp.remote().unwrap();
    thread::spawn(move || remote.call(Task::new(|_, _| Ok(()))).map_err(drop))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(lp.backend_timeout(), Some(0), "a threadsafe call queued");
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(lp.backend_timeout(), None, "the call ran");
    lp.close_watcher(watcher, None).unwrap();
}

#[test]
fn rule_5_3_a_loop_blocked_on_a_200_ms_timer_uses_almost_no_cpu() {
    let lp = pool_loop(ClockKind::Real, 1);
    let fired_at = Arc::new(Mutex::new(None));
    let f = fired_at.clone();
    let began = Instant::now();
    lp.set_timeout(
        200.0,
        Task::new(move |lp, _| {
            *f.lock().unwrap() = Some(lp.now());
            Ok(())
        }),
    )
    .unwrap();
    let cpu_before = thread_cpu_time();
    assert!(!lp.run(RunMode::Default).unwrap());
    let waited = began.elapsed();
    let cpu = thread_cpu_time() - cpu_before;
    assert!(
        waited >= Duration::from_millis(195),
        "the timer fired after {waited:?}"
    );
    assert!(fired_at.lock().unwrap().unwrap() >= 200);
    assert!(
        cpu < Duration::from_millis(20),
        "{cpu:?} of CPU while waiting {waited:?}"
    );
    let polls = lp.metrics().iterations;
    assert!(
        polls <= 3,
        "{polls} poll phases for one timer: the loop woke up in steps"
    );
}

#[test]
fn rule_5_1_a_slow_callback_does_not_make_poll_wait_too_long_for_the_next_timer() {
    // Node (libuv with idle-time metrics) refreshes the time before it waits: after a 10 ms
    // timer that blocks for 40 ms, a 50 ms timer is due at once. Waiting from the stale time
    // of the timers phase would run it about 40 ms late.
    let lp = pool_loop(ClockKind::Real, 1);
    let slow_done = Arc::new(Mutex::new(None));
    let due_ran = Arc::new(Mutex::new(None));
    let s = slow_done.clone();
    lp.set_timeout(
        10.0,
        Task::new(move |_, _| {
            thread::sleep(Duration::from_millis(40));
            *s.lock().unwrap() = Some(Instant::now());
            Ok(())
        }),
    )
    .unwrap();
    let d = due_ran.clone();
    lp.set_timeout(
        50.0,
        Task::new(move |_, _| {
            *d.lock().unwrap() = Some(Instant::now());
            Ok(())
        }),
    )
    .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    let slow_done = slow_done.lock().unwrap().unwrap();
    let due_ran = due_ran.lock().unwrap().unwrap();
    let late = due_ran.saturating_duration_since(slow_done);
    assert!(
        late < Duration::from_millis(25),
        "the 50 ms timer ran {late:?} after the slow callback ended"
    );
}

// ----- fd watchers -------------------------------------------------------------------------------

/// Logs each watcher event as `PHASE readable=R writable=W` or `error ERRNO`.
fn log_io(log: &Log, lp: &Loop<Task>, event: &Event) {
    match event {
        Event::Io { readable, writable } => log.push(format!(
            "{:?} readable={readable} writable={writable}",
            lp.phase()
        )),
        Event::IoError(err) => log.push(format!("error {:?}", err.raw_os_error())),
        other => log.push(format!("unexpected {other:?}")),
    }
}

#[test]
fn an_fd_watcher_sees_data_and_hang_up_as_readable_in_the_poll_phase() {
    let lp = virtual_loop();
    let log = Log::default();
    let (mut writer, mut reader) = UnixStream::pair().unwrap();
    reader.set_nonblocking(true).unwrap();
    let fd = reader.as_raw_fd();
    let l = log.clone();
    let id = lp
        .watch_fd(
            fd,
            READABLE,
            Task::new(move |lp, event| {
                log_io(&l, lp, &event);
                let mut data = Vec::new();
                match reader.read_to_end(&mut data) {
                    Ok(_) => l.push("eof"),
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(err) => return Err(err.into()),
                }
                if !data.is_empty() {
                    l.push(format!("read {}", String::from_utf8_lossy(&data)));
                }
                Ok(())
            }),
        )
        .unwrap();
    let kinds: Vec<_> = lp
        .handles()
        .into_iter()
        .map(|h| (h.kind, h.refed, h.detail))
        .collect();
    assert_eq!(kinds, [("watcher", true, format!("fd {fd} readable"))]);
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.len(), 0, "nothing to read yet");
    writer.write_all(b"hello").unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(
        log.entries(),
        ["Some(Poll) readable=true writable=false", "read hello"]
    );
    // A hang-up is readable (the read sees end of file). The OS flags it as writable too,
    // but a watcher is told only about what it asked for, as libuv's uv_poll_t does.
    drop(writer);
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(
        log.entries()[2..],
        ["Some(Poll) readable=true writable=false", "eof"]
    );
    lp.close_watcher(id, None).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn an_fd_watcher_sees_writable_and_both_interests_at_once() {
    let lp = virtual_loop();
    let log = Log::default();
    let (mut peer, socket) = UnixStream::pair().unwrap();
    let l = log.clone();
    let id = lp
        .watch_fd(
            socket.as_raw_fd(),
            WRITABLE,
            Task::new(move |lp, event| {
                log_io(&l, lp, &event);
                Ok(())
            }),
        )
        .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(
        log.entries(),
        ["Some(Poll) readable=false writable=true"; 2],
        "an empty socket stays writable (level-triggered)"
    );
    peer.write_all(b"x").unwrap();
    lp.start_watcher(id, BOTH).unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(
        log.entries()[2..],
        ["Some(Poll) readable=true writable=true"]
    );
    lp.close_watcher(id, None).unwrap();
    drop(socket);
}

#[test]
fn a_stopped_or_unrefd_fd_watcher_is_silent_or_keeps_nothing_alive() {
    let lp = virtual_loop();
    let log = Log::default();
    let (mut writer, reader) = UnixStream::pair().unwrap();
    writer.write_all(b"ready").unwrap();
    let l = log.clone();
    let id = lp
        .watch_fd(
            reader.as_raw_fd(),
            READABLE,
            Task::new(move |lp, event| {
                log_io(&l, lp, &event);
                Ok(())
            }),
        )
        .unwrap();
    lp.stop_watcher(id).unwrap();
    assert!(!lp.watcher_active(id));
    assert!(!lp.alive(), "a stopped watcher keeps nothing alive");
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.len(), 0, "a stopped watcher is not called");

    lp.start_watcher(id, READABLE).unwrap();
    assert!(lp.watcher_active(id) && lp.alive());
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.entries(), ["Some(Poll) readable=true writable=false"]);

    lp.set_watcher_ref(id, false).unwrap();
    assert!(!lp.alive(), "an unref'd watcher keeps nothing alive");
    let refed: Vec<_> = lp.handles().iter().map(|h| (h.kind, h.refed)).collect();
    assert_eq!(refed, [("watcher", false)]);
    assert!(!lp.run(RunMode::Default).unwrap());
    // It still runs when the loop runs for other reasons.
    lp.set_immediate(Task::new(|_, _| Ok(()))).unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.len(), 2);
    lp.close_watcher(id, None).unwrap();
}

#[test]
fn closing_an_fd_watcher_runs_its_close_callback_and_finishes_its_id() {
    let lp = virtual_loop();
    let log = Log::default();
    let (mut writer, reader) = UnixStream::pair().unwrap();
    writer.write_all(b"data nobody reads").unwrap();
    let me = Arc::new(Mutex::new(None::<Id>));
    let (l, m) = (log.clone(), me.clone());
    let id = lp
        .watch_fd(
            reader.as_raw_fd(),
            READABLE,
            Task::new(move |lp, event| {
                log_io(&l, lp, &event);
                let id = m.lock().unwrap().expect("the id is set before run");
                let l = l.clone();
                lp.close_watcher(
                    id,
                    Some(Task::new(move |lp, _| {
                        l.push(format!("closed in {:?}", lp.phase()));
                        Ok(())
                    })),
                )
                .map_err(Error::from)?;
                Ok(())
            }),
        )
        .unwrap();
    *me.lock().unwrap() = Some(id);
    // Closed from its own callback: called once though the data is never read.
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(
        log.entries(),
        [
            "Some(Poll) readable=true writable=false",
            "closed in Some(Close)"
        ]
    );
    assert!(!lp.watcher_active(id));
    assert!(matches!(
        lp.start_watcher(id, READABLE),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        lp.close_watcher(id, None).map_err(|r| r.error),
        Err(Error::NotFound)
    ));

    // Closed from outside before it ever ran: only the close callback runs.
    let log = Log::default();
    let l = log.clone();
    let id = lp
        .watch_fd(
            reader.as_raw_fd(),
            READABLE,
            Task::new(move |lp, event| {
                log_io(&l, lp, &event);
                Ok(())
            }),
        )
        .unwrap();
    lp.close_watcher(id, Some(log.task("closed"))).unwrap();
    assert!(lp.alive(), "a watcher waiting for its close callback");
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["closed"]);
    assert!(lp.handles().is_empty());
}

#[test]
fn an_fd_closed_under_its_watcher_is_reported_and_stops_the_watcher() {
    let lp = virtual_loop();
    let log = Log::default();
    let (mut writer, reader) = UnixStream::pair().unwrap();
    writer.write_all(b"x").unwrap();
    let fd = reader.as_raw_fd();
    let mut owned = Some(reader);
    let l = log.clone();
    let id = lp
        .watch_fd(
            fd,
            READABLE,
            Task::new(move |lp, event| {
                log_io(&l, lp, &event);
                // Close the fd but keep the watcher: re-arming it must fail.
                drop(owned.take());
                Ok(())
            }),
        )
        .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    let entries = log.entries();
    assert_eq!(entries[0], "Some(Poll) readable=true writable=false");
    // EBADF; ENOENT if another test's fd took the number before the re-arm.
    let ebadf = format!("error Some({})", libc::EBADF);
    let enoent = format!("error Some({})", libc::ENOENT);
    assert!(
        entries.len() == 2 && (entries[1] == ebadf || entries[1] == enoent),
        "{entries:?}"
    );
    assert!(!lp.watcher_active(id), "the watcher was stopped");
    assert!(!lp.alive());
    lp.close_watcher(id, None).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());

    // Fds that cannot be watched are refused and the callback handed back.
    let refused = lp
        .watch_fd(-1, READABLE, log.task("never"))
        .expect_err("a negative fd");
    assert!(matches!(refused.error, Error::InvalidArgument(_)));
    let refused = lp
        .watch_fd(1_000_000, READABLE, log.task("never"))
        .expect_err("an fd that is not open");
    match refused.error {
        Error::Io(err) => assert_eq!(err.raw_os_error(), Some(libc::EBADF)),
        other => panic!("expected EBADF, got {other:?}"),
    }
    assert!(lp.handles().is_empty());
}

#[test]
fn an_fd_watcher_is_level_triggered_and_fires_again_after_a_partial_read() {
    let lp = virtual_loop();
    let (mut writer, mut reader) = UnixStream::pair().unwrap();
    reader.set_nonblocking(true).unwrap();
    writer.write_all(b"0123456789").unwrap();
    let fd = reader.as_raw_fd();
    let reads = Arc::new(Mutex::new(Vec::new()));
    let r = reads.clone();
    let id = lp
        .watch_fd(
            fd,
            READABLE,
            Task::new(move |lp, _| {
                let mut buf = [0u8; 4];
                let n = reader.read(&mut buf)?;
                r.lock().unwrap().push((lp.iteration(), n));
                Ok(())
            }),
        )
        .unwrap();
    for _ in 0..6 {
        lp.run(RunMode::NoWait).unwrap();
    }
    let first: Vec<_> = reads.lock().unwrap().clone();
    let sizes: Vec<usize> = first.iter().map(|&(_, n)| n).collect();
    assert_eq!(sizes, [4, 4, 2], "once per iteration until all is read");
    assert!(
        first.windows(2).all(|w| w[0].0 < w[1].0),
        "each call in a later iteration: {first:?}"
    );
    writer.write_all(b"ab").unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(reads.lock().unwrap().last().unwrap().1, 2, "armed again");
    lp.close_watcher(id, None).unwrap();
}

// ----- signal watchers ---------------------------------------------------------------------------

#[test]
fn a_signal_watcher_runs_on_the_loop_thread_in_the_poll_phase_once_per_signal() {
    let (ready, loop_ready) = mpsc::channel::<ThreadId>();
    let loop_thread = thread::spawn(move || {
        let lp = pool_loop(ClockKind::Real, 1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let watchdog = lp
            .set_timeout(
                PATIENCE.as_millis() as f64,
                Task::new(|_, _| Err("the signals never arrived".into())),
            )
            .unwrap();
        let s = seen.clone();
        let me = Arc::new(Mutex::new(None::<Id>));
        let m = me.clone();
        let id = lp
            .on_signal(
                libc::SIGUSR1,
                Task::new(move |lp, event| {
                    let mut seen = s.lock().unwrap();
                    seen.push((format!("{event:?}"), lp.phase(), thread::current().id()));
                    if seen.len() == 2 {
                        lp.close_signal(m.lock().unwrap().unwrap(), None)
                            .map_err(Error::from)?;
                        lp.clear_timer(watchdog)?;
                    }
                    Ok(())
                }),
            )
            .unwrap();
        *me.lock().unwrap() = Some(id);
        let refed: Vec<_> = lp.handles().iter().map(|h| (h.kind, h.refed)).collect();
        assert_eq!(refed, [("timeout", true), ("signal", true)]);
        ready.send(thread::current().id()).unwrap();
        let result = lp.run(RunMode::Default).map_err(|e| e.to_string());
        let seen = seen.lock().unwrap().clone();
        (result, seen)
    });
    let loop_id = loop_ready.recv_timeout(PATIENCE).unwrap();
    // Raised on this thread: the handler runs here, the callback on the loop's thread.
    raise(libc::SIGUSR1);
    raise(libc::SIGUSR1);
    let (result, seen) = loop_thread.join().unwrap();
    assert_eq!(result, Ok(false));
    let expected = (
        format!("Signal({})", libc::SIGUSR1),
        Some(Phase::Poll),
        loop_id,
    );
    assert_eq!(seen, [expected.clone(), expected]);
    assert_ne!(loop_id, thread::current().id());
}

#[test]
fn two_loops_watching_one_signal_both_see_it() {
    let loops = [virtual_loop(), virtual_loop()];
    let log = Log::default();
    let mut ids = Vec::new();
    for (n, lp) in loops.iter().enumerate() {
        let l = log.clone();
        let id = lp
            .on_signal(
                libc::SIGUSR2,
                Task::new(move |lp, event| {
                    l.push(format!("loop {n}: {event:?} in {:?}", lp.phase()));
                    Ok(())
                }),
            )
            .unwrap();
        ids.push(id);
    }
    raise(libc::SIGUSR2);
    for lp in &loops {
        lp.run(RunMode::NoWait).unwrap();
        lp.run(RunMode::NoWait).unwrap();
    }
    let signal = format!("Signal({})", libc::SIGUSR2);
    assert_eq!(
        log.entries(),
        [
            format!("loop 0: {signal} in Some(Poll)"),
            format!("loop 1: {signal} in Some(Poll)"),
        ]
    );
    for (lp, id) in loops.iter().zip(ids) {
        lp.close_signal(id, None).unwrap();
        assert!(!lp.run(RunMode::Default).unwrap());
    }
}

// ----- metrics and utilization -------------------------------------------------------------------

#[test]
fn metrics_count_what_a_known_program_did() {
    let lp = pool_loop(ClockKind::Virtual, 1);
    let log = Log::default();
    assert_eq!(lp.metrics(), Metrics::default());

    // Three threadsafe calls and an immediate: poll does not block (the immediate is queued)
    // and finds the three calls already waiting.
    let remote = lp.remote().unwrap();
    for name in ["call 1", "call 2", "call 3"] {
        assert!(remote.call(log.task(name)).is_ok());
    }
    lp.set_immediate(log.task("immediate")).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    let expected = Metrics {
        iterations: 1,
        events: 3,
        events_waiting: 3,
        pool_queued: 0,
        pool_running: 0,
    };
    assert_eq!(lp.metrics(), expected);

    // One job and nothing else: poll blocks until its completion, one event not waiting.
    lp.queue_work(jobs::sleep(1), Some(on_work(&log, "work", None)))
        .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    let expected = Metrics {
        iterations: 2,
        events: 4,
        ..expected
    };
    assert_eq!(lp.metrics(), expected);

    // A timer alone: one more poll phase (the virtual clock jumps), no event.
    lp.set_timeout(5.0, log.task("timer")).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    let expected = Metrics {
        iterations: 3,
        ..expected
    };
    assert_eq!(lp.metrics(), expected);

    // The pool's gauges: one job running, two waiting for the only thread.
    let (started, a_started) = mpsc::channel();
    let (release, a_released) = mpsc::channel();
    lp.queue_work(
        gated_job(started, a_released, "a"),
        Some(on_work(&log, "a", None)),
    )
    .unwrap();
    lp.queue_work(jobs::sleep(0), Some(on_work(&log, "b", None)))
        .unwrap();
    let c = lp
        .queue_work(jobs::sleep(0), Some(on_work(&log, "c", None)))
        .unwrap();
    a_started.recv_timeout(PATIENCE).unwrap();
    let gauges = lp.metrics();
    assert_eq!((gauges.pool_running, gauges.pool_queued), (1, 2));
    // A cancelled request no longer waits for a thread (libuv's uv_cancel takes it out of
    // the queue). Its cancellation is an event already waiting when poll begins.
    lp.cancel_work(c).unwrap();
    let gauges = lp.metrics();
    assert_eq!((gauges.pool_running, gauges.pool_queued), (1, 1));
    assert!(lp.run(RunMode::NoWait).unwrap());
    let expected = Metrics {
        iterations: 4,
        events: 5,
        events_waiting: 4,
        pool_queued: 1,
        pool_running: 1,
    };
    assert_eq!(lp.metrics(), expected);
    // The two completions come in one or two blocking polls.
    release.send(()).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    let after = lp.metrics();
    assert_eq!(
        Metrics {
            iterations: expected.iterations,
            ..after
        },
        Metrics {
            events: 7,
            pool_queued: 0,
            pool_running: 0,
            ..expected
        },
    );
    assert!(
        (5..=6).contains(&after.iterations),
        "one or two more poll phases: {after:?}"
    );
    assert_eq!(
        log.entries(),
        [
            "call 1",
            "call 2",
            "call 3",
            "immediate",
            "work: done",
            "timer",
            "c: cancelled",
            "a: done a",
            "b: done"
        ]
    );
}

#[test]
fn utilization_counts_time_blocked_in_poll_as_idle_and_the_rest_as_active() {
    let lp = pool_loop(ClockKind::Real, 1);
    lp.set_timeout(
        150.0,
        Task::new(|_, _| {
            // Time in a callback is active time, whatever the CPU does meanwhile.
            thread::sleep(Duration::from_millis(100));
            Ok(())
        }),
    )
    .unwrap();
    let before = lp.utilization();
    lp.run(RunMode::Default).unwrap();
    let during = lp.utilization().since(&before);
    assert!(
        during.idle_ms >= 100.0,
        "blocked about 150 ms in poll, counted {during:?}"
    );
    assert!(
        during.active_ms >= 100.0,
        "100 ms in a callback, counted {during:?}"
    );
    assert!(during.utilization() > 0.0 && during.utilization() < 1.0);

    // A round that never blocks adds no idle time.
    let before = lp.utilization();
    lp.set_immediate(Task::new(|_, _| Ok(()))).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.utilization().idle_ms, before.idle_ms);

    // Nor does a virtual wait: utilization measures the machine, not the experiment.
    let lp = virtual_loop();
    lp.set_timeout(3_600_000.0, Task::new(|_, _| Ok(())))
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.utilization().idle_ms, 0.0);
}

#[test]
fn advance_is_refused_on_the_real_clock_and_leaves_time_alone() {
    let lp = pool_loop(ClockKind::Real, 1);
    let before = lp.now();
    let err = lp.advance(10_000).unwrap_err();
    assert!(
        matches!(err, phaseloop_core::Error::NeedsVirtualClock),
        "{err:?}"
    );
    assert!(err.to_string().contains("virtual clock"), "{err}");
    lp.update_time();
    assert!(lp.now() < before + 10_000, "the real clock did not jump");
}
