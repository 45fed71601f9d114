//! Held one-shot timers (rule 4.7, docs/ordering.md): a timer held by its owner stays dormant
//! after it fired, so `refresh_timer` re-arms it with the same callback, as Node's `refresh()`
//! of a fired `Timeout` does; releasing or clearing it ends it.

mod common;

use std::sync::{Arc, Mutex};

use common::{node_expected, virtual_loop, Log};
use phaseloop_core::{Error, Loop, RunMode, Task};

fn run(lp: &Loop<Task>) {
    assert!(!lp.run(RunMode::Default).unwrap(), "loop should be empty");
}

#[test]
fn rule_4_7_refresh_rearms_a_held_fired_timeout_and_clear_ends_it() {
    let lp = virtual_loop();
    let log = Log::default();
    let a = lp.set_timeout(50.0, log.task("a")).unwrap();
    lp.hold_timer(a).unwrap();
    let l = log.clone();
    lp.set_timeout(
        100.0,
        Task::new(move |lp, _| {
            l.push("b");
            assert!(!lp.timer_active(a), "a fired: dormant, not active");
            lp.refresh_timer(a)?;
            assert!(lp.timer_active(a));
            Ok(())
        }),
    )
    .unwrap();
    let l = log.clone();
    lp.set_timeout(
        200.0,
        Task::new(move |lp, _| {
            l.push("c");
            lp.clear_timer(a)?;
            assert!(matches!(lp.refresh_timer(a), Err(Error::NotFound)));
            Ok(())
        }),
    )
    .unwrap();
    lp.set_timeout(300.0, log.task("d")).unwrap();
    run(&lp);
    assert_eq!(
        log.entries(),
        node_expected("rule_4_7_refresh_rearms_fired_timeout")
    );
}

#[test]
fn a_dormant_timer_keeps_its_ref_state_and_nothing_alive() {
    let lp = virtual_loop();
    let log = Log::default();
    let a = lp.set_timeout(10.0, log.task("a")).unwrap();
    lp.hold_timer(a).unwrap();
    run(&lp);
    assert_eq!(log.entries(), ["a"]);
    // Dormant: run returned (it keeps nothing alive), and it answers for its ref state.
    assert!(!lp.timer_active(a));
    assert!(lp.timer_has_ref(a).unwrap());
    lp.set_timer_ref(a, false).unwrap();
    lp.refresh_timer(a).unwrap();
    assert!(!lp.timer_has_ref(a).unwrap(), "refresh keeps the ref state");
    // Unref'd and armed: it keeps nothing alive either.
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(log.entries(), ["a"]);
    lp.set_timer_ref(a, true).unwrap();
    run(&lp);
    assert_eq!(log.entries(), ["a", "a"]);
}

#[test]
fn release_forgets_a_dormant_timer_and_an_armed_one_once_it_fired() {
    let lp = virtual_loop();
    let log = Log::default();
    let dormant = lp.set_timeout(10.0, log.task("dormant")).unwrap();
    lp.hold_timer(dormant).unwrap();
    run(&lp);
    lp.release_timer(dormant).unwrap();
    assert!(matches!(lp.refresh_timer(dormant), Err(Error::NotFound)));
    assert!(matches!(lp.timer_has_ref(dormant), Err(Error::NotFound)));

    let armed = lp.set_timeout(10.0, log.task("armed")).unwrap();
    lp.hold_timer(armed).unwrap();
    lp.release_timer(armed).unwrap();
    assert!(
        lp.timer_active(armed),
        "released, still armed: it still fires"
    );
    run(&lp);
    assert_eq!(log.entries(), ["dormant", "armed"]);
    assert!(matches!(lp.refresh_timer(armed), Err(Error::NotFound)));
}

#[test]
fn an_unheld_fired_timeout_is_forgotten() {
    let lp = virtual_loop();
    let log = Log::default();
    let a = lp.set_timeout(10.0, log.task("a")).unwrap();
    run(&lp);
    assert!(matches!(lp.refresh_timer(a), Err(Error::NotFound)));
    assert!(matches!(lp.clear_timer(a), Err(Error::NotFound)));
}

#[test]
fn closing_a_dormant_timer_runs_its_close_callback_and_ends_it() {
    let lp = virtual_loop();
    let log = Log::default();
    let a = lp.set_timeout(10.0, log.task("a")).unwrap();
    lp.hold_timer(a).unwrap();
    run(&lp);
    lp.close_handle(a, Some(log.task("closed"))).ok().unwrap();
    run(&lp);
    assert_eq!(log.entries(), ["a", "closed"]);
    assert!(matches!(lp.refresh_timer(a), Err(Error::NotFound)));
}

#[test]
fn a_fired_timeout_drops_its_callback_at_once_unless_held() {
    let lp = virtual_loop();
    let dropped = Arc::new(Mutex::new(Vec::new()));
    for (name, hold) in [("held", true), ("unheld", false)] {
        let d = dropped.clone();
        let guard = DropLog(d, name);
        let id = lp
            .set_timeout(
                10.0,
                Task::new(move |_, _| {
                    let _ = &guard;
                    Ok(())
                }),
            )
            .unwrap();
        if hold {
            lp.hold_timer(id).unwrap();
        }
    }
    run(&lp);
    assert_eq!(
        *dropped.lock().unwrap(),
        ["unheld"],
        "the held callback is kept"
    );
    lp.close().unwrap();
    assert_eq!(*dropped.lock().unwrap(), ["unheld", "held"]);
}

/// Logs its name when dropped, to see when the loop lets go of a callback.
struct DropLog(Arc<Mutex<Vec<&'static str>>>, &'static str);

impl Drop for DropLog {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1);
    }
}
