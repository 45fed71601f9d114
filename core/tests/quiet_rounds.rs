//! Rounds with nothing to run between their timers and check phases (a chain of immediates):
//! the loop takes them in one step and reads the clock once (`core/src/run.rs`, "a quiet
//! round"). What a program sees of such a round must be what it saw of the phases taken one by
//! one: the iteration and poll counts, the phase, the cached time, the delay monitor's samples,
//! and fd readiness seen by the next poll.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{real_loop, virtual_loop, Log};
use phaseloop_core::{HandleKind, Interest, Loop, Phase, RunMode, Task};

/// Keeps the loop thread busy for `ms` of real time (a slow callback).
fn busy(ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {}
}

/// A chain of `n` immediates, each recording `what(lp)` and queueing the next.
fn chain<T: Send + 'static>(
    lp: &Loop<Task>,
    n: usize,
    seen: &Arc<Mutex<Vec<T>>>,
    what: fn(&Loop<Task>) -> T,
) {
    fn link<T: Send + 'static>(
        left: usize,
        seen: Arc<Mutex<Vec<T>>>,
        what: fn(&Loop<Task>) -> T,
    ) -> Task {
        Task::new(move |lp, _| {
            seen.lock().unwrap().push(what(lp));
            if left > 1 {
                lp.set_immediate(link(left - 1, seen.clone(), what))?;
            }
            Ok(())
        })
    }
    lp.set_immediate(link(n, seen.clone(), what)).unwrap();
}

#[test]
fn a_chain_of_immediates_is_one_iteration_and_one_poll_per_link() {
    for lp in [virtual_loop(), real_loop()] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        chain(&lp, 50, &seen, |lp| (lp.iteration(), lp.phase()));
        assert!(!lp.run(RunMode::Default).unwrap());
        let expected: Vec<_> = (1..=50).map(|i| (i, Some(Phase::Check))).collect();
        assert_eq!(*seen.lock().unwrap(), expected);
        let metrics = lp.metrics();
        assert_eq!((metrics.iterations, metrics.events), (50, 0));
    }
}

#[test]
fn run_once_and_nowait_count_a_quiet_round_as_one_iteration_and_one_poll() {
    let lp = virtual_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    chain(&lp, 3, &seen, |lp| lp.iteration());
    assert!(lp.run(RunMode::NoWait).unwrap());
    assert!(lp.run(RunMode::Once).unwrap());
    assert!(!lp.run(RunMode::Once).unwrap());
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    assert_eq!(lp.metrics().iterations, 3);
}

#[test]
fn the_cached_time_moves_on_along_a_chain_of_slow_immediates() {
    // Each link takes 3 ms; the timers phase after it reads the clock, and the next link sees
    // that reading (the quiet poll between them does not read it again, nothing having run).
    let lp = real_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    chain(&lp, 4, &seen, |lp| {
        let now = lp.now();
        busy(3);
        now
    });
    lp.run(RunMode::Default).unwrap();
    let seen = seen.lock().unwrap();
    assert!(
        seen.windows(2).all(|w| w[1] >= w[0] + 3),
        "each link sees the time after the one before it: {seen:?}"
    );
}

#[test]
fn a_callback_before_the_poll_makes_the_poll_read_the_clock_again() {
    // The pending callback and the prepare handle run after the timers phase read the clock and
    // take 5 ms each; the immediate after them sees the time the poll returned at, as libuv's.
    for kind in ["pending", "prepare"] {
        let lp = real_loop();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let slow = move |lp: &Loop<Task>| {
            s.lock().unwrap().push(lp.now());
            busy(5);
        };
        let s = seen.clone();
        let last = move |lp: &Loop<Task>| s.lock().unwrap().push(lp.now());
        let prepare = if kind == "prepare" {
            let slow = slow.clone();
            let id = lp
                .add_handle(
                    HandleKind::Prepare,
                    Task::new(move |lp, _| {
                        slow(lp);
                        Ok(())
                    }),
                )
                .unwrap();
            lp.set_ref(id, false).unwrap();
            Some(id)
        } else {
            None
        };
        lp.set_immediate(Task::new(move |lp, _| {
            match prepare {
                Some(id) => lp.start_handle(id)?,
                None => {
                    let slow = slow.clone();
                    lp.queue_pending(Task::new(move |lp, _| {
                        slow(lp);
                        Ok(())
                    }))?;
                }
            }
            let last = last.clone();
            lp.set_immediate(Task::new(move |lp, _| {
                last(lp);
                Ok(())
            }))?;
            Ok(())
        }))
        .unwrap();
        lp.run(RunMode::Default).unwrap();
        let seen = seen.lock().unwrap();
        let (before, after) = (seen[0], *seen.last().unwrap());
        assert!(after >= before + 5, "{kind}: {seen:?}");
    }
}

#[test]
fn the_delay_monitor_samples_every_quiet_round() {
    let lp = real_loop();
    lp.set_delay_monitor(true);
    let seen = Arc::new(Mutex::new(Vec::new()));
    chain(&lp, 4, &seen, |_| busy(2));
    lp.run(RunMode::Default).unwrap();
    let stats = lp.delay_stats();
    // One sample per return to poll after the first, each at least the link's 2 ms.
    assert_eq!(stats.count, 3);
    assert!(stats.min >= 2_000_000, "{stats:?}");
}

#[test]
fn an_fd_made_readable_in_a_chain_is_seen_by_the_next_poll() {
    // A watched fd makes every poll ask the poller: readiness is seen where Node sees it, in
    // the poll phase of the iteration after the write.
    for lp in [virtual_loop(), real_loop()] {
        let log = Log::default();
        let (mut writer, mut reader) = UnixStream::pair().unwrap();
        reader.set_nonblocking(true).unwrap();
        let l = log.clone();
        let watcher = lp
            .watch_fd(
                reader.as_raw_fd(),
                Interest {
                    readable: true,
                    writable: false,
                },
                Task::new(move |lp, _| {
                    let mut buf = [0u8; 8];
                    let _ = reader.read(&mut buf)?;
                    l.push(format!("io {}", lp.iteration()));
                    Ok(())
                }),
            )
            .unwrap();
        lp.set_ref(watcher, false).unwrap();
        let l = log.clone();
        lp.set_immediate(Task::new(move |lp, _| {
            l.push(format!("write {}", lp.iteration()));
            writer.write_all(b"x")?;
            let l = l.clone();
            lp.set_immediate(Task::new(move |lp, _| {
                l.push(format!("next {}", lp.iteration()));
                Ok(())
            }))?;
            Ok(())
        }))
        .unwrap();
        lp.run(RunMode::Default).unwrap();
        assert_eq!(log.entries(), ["write 1", "io 2", "next 2"]);
        lp.close_watcher(watcher, None).unwrap();
    }
}
