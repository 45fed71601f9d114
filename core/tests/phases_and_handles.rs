//! Ordering rules 3, 6 and 8 (docs/ordering.md) where Node cannot show them directly:
//! idle/prepare/check handles, pending callbacks, close callbacks, run modes, alive, and failing
//! callbacks.

mod common;

use std::sync::{Arc, Mutex};

use common::{virtual_loop, Log};
use phaseloop_core::{Error, HandleKind, Loop, Phase, Refused, RunError, RunMode, Task};

#[test]
fn rule_3_one_iteration_runs_the_phases_in_order() {
    let lp = virtual_loop();
    let log = Log::default();
    let phases = Arc::new(Mutex::new(Vec::new()));
    for kind in [HandleKind::Check, HandleKind::Prepare, HandleKind::Idle] {
        let p = phases.clone();
        let id = lp
            .add_handle(
                kind,
                Task::new(move |lp, _| {
                    p.lock().unwrap().push(lp.phase().unwrap());
                    Ok(())
                }),
            )
            .unwrap();
        let _ = id;
    }
    let p = phases.clone();
    lp.queue_pending(Task::new(move |lp, _| {
        p.lock().unwrap().push(lp.phase().unwrap());
        Ok(())
    }))
    .unwrap();
    let p = phases.clone();
    lp.set_immediate(Task::new(move |lp, _| {
        p.lock().unwrap().push(lp.phase().unwrap());
        Ok(())
    }))
    .unwrap();
    let p = phases.clone();
    let timer = lp
        .set_timeout(
            1.0,
            Task::new(move |lp, _| {
                p.lock().unwrap().push(lp.phase().unwrap());
                Ok(())
            }),
        )
        .unwrap();
    let p = phases.clone();
    lp.close_timer(
        timer,
        Some(Task::new(move |lp, _| {
            p.lock().unwrap().push(lp.phase().unwrap());
            Ok(())
        })),
    )
    .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    drop(log);
    assert_eq!(
        *phases.lock().unwrap(),
        [
            Phase::Pending,
            Phase::Idle,
            Phase::Prepare,
            Phase::Check,
            Phase::Check,
            Phase::Close
        ]
    );
    assert_eq!(lp.phase(), None, "no phase outside run()");
}

#[test]
fn rule_3_handles_run_most_recently_started_first_and_check_handles_before_immediates() {
    let lp = virtual_loop();
    let log = Log::default();
    lp.set_immediate(log.task("immediate")).unwrap();
    let first = lp
        .add_handle(HandleKind::Check, log.task("check-first"))
        .unwrap();
    lp.add_handle(HandleKind::Check, log.task("check-second"))
        .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.entries(), ["check-second", "check-first", "immediate"]);
    // Restarting moves a handle to the front.
    lp.stop_handle(first).unwrap();
    lp.start_handle(first).unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.entries()[3..], ["check-first", "check-second"]);
}

#[test]
fn rule_3_a_handle_started_during_its_phase_waits_for_the_next_iteration() {
    let lp = virtual_loop();
    let log = Log::default();
    let l = log.clone();
    let mut started = false;
    lp.add_handle(
        HandleKind::Idle,
        Task::new(move |lp, _| {
            l.push("outer");
            if !started {
                started = true;
                lp.add_handle(HandleKind::Idle, l.task("inner"))?;
            }
            Ok(())
        }),
    )
    .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.entries(), ["outer"]);
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(log.entries(), ["outer", "inner", "outer"]);
}

#[test]
fn rule_3_pending_callbacks_queued_during_poll_run_before_check() {
    let lp = virtual_loop();
    let log = Log::default();
    let l = log.clone();
    lp.queue_work(
        phaseloop_core::jobs::sleep(0),
        Some(Task::new(move |lp, _| {
            l.push("work");
            lp.queue_pending(l.task("pending-from-poll"))?;
            lp.set_immediate(l.task("immediate"))?;
            Ok(())
        })),
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), ["work", "pending-from-poll", "immediate"]);
}

#[test]
fn rule_3_close_callbacks_run_in_close_order_and_ids_finish_at_once() {
    let lp = virtual_loop();
    let log = Log::default();
    let a = lp
        .add_handle(HandleKind::Prepare, log.task("prepare"))
        .unwrap();
    let b = lp.add_handle(HandleKind::Check, log.task("check")).unwrap();
    lp.close_handle(b, Some(log.task("closed-b"))).unwrap();
    lp.close_handle(a, Some(log.task("closed-a"))).unwrap();
    assert!(matches!(lp.stop_handle(a), Err(Error::NotFound)));
    assert!(lp.alive(), "a closing handle keeps the loop alive");
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["closed-b", "closed-a"]);
}

#[test]
fn rule_3_a_handle_may_close_itself_from_its_own_callback() {
    let lp = virtual_loop();
    let log = Log::default();
    let me = Arc::new(Mutex::new(None));
    let (l, m) = (log.clone(), me.clone());
    let id = lp
        .add_handle(
            HandleKind::Check,
            Task::new(move |lp, _| {
                l.push("check");
                lp.close_handle(m.lock().unwrap().unwrap(), Some(l.task("closed")))
                    .map_err(Error::from)?;
                Ok(())
            }),
        )
        .unwrap();
    *me.lock().unwrap() = Some(id);
    // A check handle alone lets poll block forever (as in libuv); the immediate keeps poll
    // from blocking so that the check phase is reached.
    lp.set_immediate(log.task("immediate")).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["check", "immediate", "closed"]);
}

#[test]
fn rule_6_1_alive_counts_only_refd_work() {
    let lp = virtual_loop();
    assert!(!lp.alive());
    let idle = lp
        .add_handle(HandleKind::Idle, Task::new(|_, _| Ok(())))
        .unwrap();
    assert!(lp.alive());
    lp.set_handle_ref(idle, false).unwrap();
    assert!(!lp.alive());
    let imm = lp.set_immediate(Task::new(|_, _| Ok(()))).unwrap();
    assert!(lp.alive());
    lp.set_immediate_ref(imm, false).unwrap();
    assert!(!lp.alive());
    lp.next_tick(Task::new(|_, _| Ok(()))).unwrap();
    assert!(!lp.alive(), "ticks never keep the loop alive");
    let kinds: Vec<_> = lp.handles().iter().map(|h| (h.kind, h.refed)).collect();
    assert_eq!(kinds, [("immediate", false), ("idle", false)]);
}

#[test]
fn rule_6_3_run_once_and_nowait_run_one_round() {
    let lp = virtual_loop();
    let log = Log::default();
    let l = log.clone();
    lp.set_interval(
        5.0,
        Task::new(move |_, _| {
            l.push("tick");
            Ok(())
        }),
    )
    .unwrap();
    // nowait: no blocking, so the 5 ms timer is not reached.
    assert!(lp.run(RunMode::NoWait).unwrap());
    assert_eq!(log.len(), 0);
    // once: blocks (virtually) in poll until the timer, which runs in the closing timers phase.
    assert!(lp.run(RunMode::Once).unwrap());
    assert_eq!(log.len(), 1);
    assert_eq!(lp.now(), 5);
    assert!(lp.run(RunMode::Once).unwrap());
    assert_eq!(log.len(), 2);
}

#[test]
fn rule_6_3_stop_returns_at_the_end_of_the_round() {
    let lp = virtual_loop();
    let log = Log::default();
    let l = log.clone();
    lp.set_interval(
        1.0,
        Task::new(move |lp, _| {
            l.push("interval");
            lp.stop();
            Ok(())
        }),
    )
    .unwrap();
    lp.set_immediate(log.task("immediate")).unwrap();
    assert!(
        lp.run(RunMode::Default).unwrap(),
        "the interval is still armed"
    );
    assert_eq!(log.entries(), ["immediate", "interval"]);
}

#[test]
fn iterations_count_from_the_first_timers_phase() {
    let lp = virtual_loop();
    assert_eq!(lp.iteration(), 0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    lp.set_immediate(Task::new(move |lp, _| {
        s.lock().unwrap().push(lp.iteration());
        let s = s.clone();
        lp.set_immediate(Task::new(move |lp, _| {
            s.lock().unwrap().push(lp.iteration());
            Ok(())
        }))?;
        Ok(())
    }))
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
}

#[test]
fn rule_8_a_failing_callback_stops_run_and_the_next_run_resumes_exactly() {
    let lp = virtual_loop();
    let log = Log::default();
    let l = log.clone();
    lp.set_immediate(Task::new(move |lp, _| {
        l.push("a");
        lp.next_tick(l.task("tick-after-a"))?;
        Err("boom".into())
    }))
    .unwrap();
    lp.set_immediate(log.task("b")).unwrap();
    let l = log.clone();
    let mut n = 0;
    lp.set_interval(
        1.0,
        Task::new(move |_, _| {
            n += 1;
            l.push(format!("interval{n}"));
            if n == 1 {
                Err("interval failed".into())
            } else {
                Ok(())
            }
        }),
    )
    .unwrap();
    match lp.run(RunMode::Default) {
        Err(RunError::Callback(err)) => assert_eq!(err.to_string(), "boom"),
        other => panic!("expected the callback's error, got {other:?}"),
    }
    assert_eq!(log.entries(), ["a"]);
    assert_eq!(lp.phase(), None);
    // Resumes inside the check phase: the tick first, then the rest of the batch.
    match lp.run(RunMode::Default) {
        Err(RunError::Callback(err)) => assert_eq!(err.to_string(), "interval failed"),
        other => panic!("expected the interval's error, got {other:?}"),
    }
    assert_eq!(log.entries(), ["a", "tick-after-a", "b", "interval1"]);
    // The interval that failed is still armed. A `once` run first finishes the round the
    // failure interrupted (its timers phase), so the interval runs again in the next round.
    assert!(lp.alive());
    lp.run(RunMode::Once).unwrap();
    assert_eq!(log.len(), 4);
    lp.run(RunMode::Once).unwrap();
    assert_eq!(log.entries().last().unwrap(), "interval2");
}

#[test]
fn rule_8_a_failing_tick_keeps_the_rest_of_the_queue() {
    let lp = virtual_loop();
    let log = Log::default();
    lp.next_tick(Task::new(|_, _| Err("tick failed".into())))
        .unwrap();
    lp.next_tick(log.task("second-tick")).unwrap();
    lp.queue_microtask(log.task("micro")).unwrap();
    assert!(lp.run(RunMode::Default).is_err());
    assert_eq!(log.len(), 0);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), ["second-tick", "micro"]);
}

#[test]
fn run_inside_a_callback_and_use_of_a_closed_loop_are_errors() {
    let lp = virtual_loop();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    lp.set_immediate(Task::new(move |lp, _| {
        let nested = lp.run(RunMode::NoWait);
        *s.lock().unwrap() = Some(matches!(nested, Err(RunError::Loop(Error::InCallback))));
        let close = lp.close();
        assert!(matches!(close, Err(Error::InCallback)));
        Ok(())
    }))
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(true));
    lp.close().unwrap();
    lp.close().unwrap();
    assert!(matches!(
        lp.set_immediate(Task::new(|_, _| Ok(()))),
        Err(Refused {
            error: Error::Closed,
            ..
        })
    ));
    assert!(matches!(
        lp.run(RunMode::Default),
        Err(RunError::Loop(Error::Closed))
    ));
}

#[test]
fn stale_foreign_and_wrong_kind_ids_are_not_found() {
    let lp = virtual_loop();
    let other: Loop<Task> = virtual_loop();
    let timer = lp.set_timeout(10.0, Task::new(|_, _| Ok(()))).unwrap();
    let immediate = lp.set_immediate(Task::new(|_, _| Ok(()))).unwrap();
    assert!(matches!(other.clear_timer(timer), Err(Error::NotFound)));
    assert!(matches!(lp.clear_timer(immediate), Err(Error::NotFound)));
    assert!(matches!(lp.clear_immediate(timer), Err(Error::NotFound)));
    lp.clear_timer(timer).unwrap();
    assert!(matches!(lp.clear_timer(timer), Err(Error::NotFound)));
    assert!(matches!(
        lp.refresh_timer(phaseloop_core::Id::from_u64(0)),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        lp.clear_timer(phaseloop_core::Id::from_u64(u64::MAX)),
        Err(Error::NotFound)
    ));
}

#[test]
fn dropping_a_loop_drops_every_queued_callback_once() {
    struct Counted(Arc<Mutex<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    let drops = Arc::new(Mutex::new(0));
    let lp = virtual_loop();
    for _ in 0..10 {
        let guard = Counted(drops.clone());
        lp.set_timeout(
            5.0,
            Task::new(move |_, _| {
                let _ = &guard;
                Ok(())
            }),
        )
        .unwrap();
        let guard = Counted(drops.clone());
        lp.next_tick(Task::new(move |_, _| {
            let _ = &guard;
            Ok(())
        }))
        .unwrap();
    }
    drop(lp);
    assert_eq!(*drops.lock().unwrap(), 20);
}

#[test]
fn trace_hook_and_recorder_see_every_callback_with_phase_and_kind() {
    let lp = virtual_loop();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    lp.set_trace(Some(Box::new(move |_, ev, _| {
        e.lock()
            .unwrap()
            .push((ev.iteration, ev.phase, ev.kind, ev.begin));
        Ok(())
    })));
    lp.record(true);
    lp.set_timeout(
        1.0,
        Task::labeled("my-timeout", |lp, _| {
            lp.next_tick(Task::labeled("my-tick", |_, _| Ok(())))?;
            Ok(())
        }),
    )
    .unwrap();
    lp.set_immediate(Task::new(|_, _| Ok(()))).unwrap();
    lp.run(RunMode::Default).unwrap();
    use phaseloop_core::Kind::*;
    let events = events.lock().unwrap();
    let begins: Vec<_> = events
        .iter()
        .filter(|e| e.3)
        .map(|e| (e.0, e.1, e.2))
        .collect();
    assert_eq!(
        begins,
        [
            (1, Some(Phase::Check), Immediate),
            // Poll did not block in iteration 1 (an immediate was queued), so the virtual
            // clock reached the 1 ms timer only in the poll of iteration 2 (rule 5.4).
            (3, Some(Phase::Timers), Timeout),
            (3, Some(Phase::Timers), Tick),
        ]
    );
    assert_eq!(events.len(), 6, "one begin and one end per callback");
    let timeline = lp.timeline();
    let labels: Vec<_> = timeline.iter().map(|r| r.label).collect();
    assert_eq!(labels, [None, Some("my-timeout"), Some("my-tick")]);
}

/// A task holding `owner`: its strong count says whether the task still exists.
fn owning(owner: &Arc<()>) -> Task {
    let held = owner.clone();
    Task::new(move |_, _| {
        let _ = &held;
        Ok(())
    })
}

#[test]
fn a_closed_loop_hands_every_scheduled_callback_back() {
    let lp = virtual_loop();
    lp.close().unwrap();
    let owner = Arc::new(());
    type Call<'a> = Box<dyn Fn(Task) -> Result<(), Refused<Task>> + 'a>;
    let calls: Vec<(&str, Call)> = vec![
        (
            "set_timeout",
            Box::new(|cb| lp.set_timeout(1.0, cb).map(drop)),
        ),
        (
            "set_interval",
            Box::new(|cb| lp.set_interval(1.0, cb).map(drop)),
        ),
        (
            "set_immediate",
            Box::new(|cb| lp.set_immediate(cb).map(drop)),
        ),
        ("next_tick", Box::new(|cb| lp.next_tick(cb))),
        ("queue_microtask", Box::new(|cb| lp.queue_microtask(cb))),
        ("queue_pending", Box::new(|cb| lp.queue_pending(cb))),
        (
            "add_handle",
            Box::new(|cb| lp.add_handle(HandleKind::Idle, cb).map(drop)),
        ),
    ];
    for (name, call) in calls {
        let Err(refused) = call(owning(&owner)) else {
            panic!("{name} on a closed loop was accepted");
        };
        assert!(matches!(refused.error, Error::Closed), "{name}");
        assert_eq!(Arc::strong_count(&owner), 2, "{name} dropped its callback");
        drop(refused);
        assert_eq!(Arc::strong_count(&owner), 1, "{name}");
    }
}

#[test]
fn a_pending_callback_rerun_after_poll_stays_in_its_iteration() {
    // A callback deferred from the poll phase runs in the pending reruns right after poll
    // (libuv >= 1.45), in the same iteration as the poll that queued it and the check phase
    // that follows.
    let lp = virtual_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    lp.queue_work(
        Box::new(|| Ok(Box::new(()))),
        Some(Task::new(move |lp, _| {
            s.lock().unwrap().push(("work", lp.phase(), lp.iteration()));
            let pending = s.clone();
            lp.queue_pending(Task::new(move |lp, _| {
                pending
                    .lock()
                    .unwrap()
                    .push(("pending", lp.phase(), lp.iteration()));
                Ok(())
            }))?;
            let check = s.clone();
            lp.set_immediate(Task::new(move |lp, _| {
                check
                    .lock()
                    .unwrap()
                    .push(("immediate", lp.phase(), lp.iteration()));
                Ok(())
            }))?;
            Ok(())
        })),
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    let seen = seen.lock().unwrap().clone();
    let iteration = seen[0].2;
    assert_eq!(
        seen,
        [
            ("work", Some(Phase::Poll), iteration),
            ("pending", Some(Phase::Pending), iteration),
            ("immediate", Some(Phase::Check), iteration),
        ]
    );
}
