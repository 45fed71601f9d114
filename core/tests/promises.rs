//! Ordering rules 2.5 and 7 (docs/ordering.md): promises with ECMA-262's job semantics. Each
//! ordering test replays a program from `tests/node/promise_*.js` with the `Task` host on the
//! virtual clock and asserts the order Node printed for it; `async` functions are written out as
//! what they are made of (`Promise::with_resolvers` for the function's promise,
//! `Promise::await_value` for each `await`), which is what a binding's coroutine driver does.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{node_expected, virtual_loop, Log};
use phaseloop_core::promise::{
    AggregateError, AnyValue, TaskHandler, Thenable, ThrownValue, TypeError, UnhandledRejection,
};
use phaseloop_core::{
    BoxError, Error, Loop, Promise, PromiseState, ResolvingFunctions, RunError, RunMode, Settled,
    Task,
};

type P = Promise<Task>;

fn s(text: &str) -> AnyValue {
    AnyValue::new(text.to_owned())
}

fn n(number: i32) -> AnyValue {
    AnyValue::new(number)
}

fn undefined() -> AnyValue {
    AnyValue::undefined()
}

/// A value as JavaScript's template strings print the ones these programs use.
fn show(value: &AnyValue) -> String {
    let join = |items: Vec<String>| items.join(",");
    if let Some(text) = value.get::<String>() {
        text.clone()
    } else if let Some(number) = value.get::<i32>() {
        number.to_string()
    } else if let Some(error) = value.get::<TypeError>() {
        error.to_string()
    } else if let Some(items) = value.get::<Vec<AnyValue>>() {
        format!("[{}]", join(items.iter().map(show).collect()))
    } else if let Some(items) = value.get::<Vec<Settled<AnyValue>>>() {
        let item = |outcome: &Settled<AnyValue>| match outcome {
            Settled::Fulfilled(v) => format!("fulfilled:{}", show(v)),
            Settled::Rejected(r) => format!("rejected:{}", show(r)),
        };
        format!("[{}]", join(items.iter().map(item).collect()))
    } else if let Some(error) = value.get::<AggregateError>() {
        format!(
            "AggregateError [{}]",
            join(error.errors.iter().map(show).collect())
        )
    } else if value.is::<()>() {
        "undefined".to_owned()
    } else {
        panic!("no display for {value:?}")
    }
}

fn handler(
    f: impl FnOnce(&Loop<Task>, AnyValue) -> Result<AnyValue, AnyValue> + Send + 'static,
) -> Option<TaskHandler> {
    Some(TaskHandler::new(f))
}

/// `(v) => log(prefix + v)`.
fn logs(log: &Log, prefix: &str) -> Option<TaskHandler> {
    let (log, prefix) = (log.clone(), prefix.to_owned());
    handler(move |_, v| {
        log.push(format!("{prefix}{}", show(&v)));
        Ok(undefined())
    })
}

/// `(_) => log(entry)`.
fn logs_entry(log: &Log, entry: &str) -> Option<TaskHandler> {
    let (log, entry) = (log.clone(), entry.to_owned());
    handler(move |_, _| {
        log.push(entry);
        Ok(undefined())
    })
}

/// The rejection handler of an `await` whose promise never rejects in these programs: what it
/// gets is thrown on, and would stop `run`.
fn rethrow() -> TaskHandler {
    TaskHandler::new(|_, reason| Err(reason))
}

/// `p.then(v => log(name + " fulfilled " + v), r => log(name + " rejected " + r))`.
fn show_outcome(lp: &Loop<Task>, log: &Log, name: &str, p: &P) {
    p.then(
        lp,
        logs(log, &format!("{name} fulfilled ")),
        logs(log, &format!("{name} rejected ")),
    )
    .unwrap();
}

/// A chain of microtasks logging `tick 1` .. `tick count`: which turn each promise settles in.
fn ticker(lp: &Loop<Task>, log: &Log, count: usize) {
    fn step(lp: &Loop<Task>, log: &Log, n: usize, count: usize) -> Result<(), BoxError> {
        log.push(format!("tick {n}"));
        if n < count {
            let log = log.clone();
            lp.queue_microtask(Task::new(move |lp, _| step(lp, &log, n + 1, count)))?;
        }
        Ok(())
    }
    let log = log.clone();
    lp.queue_microtask(Task::new(move |lp, _| step(lp, &log, 1, count)))
        .unwrap();
}

/// `new Promise((resolve) => resolve(value))`.
fn resolved_with(lp: &Loop<Task>, value: AnyValue) -> P {
    let (promise, resolvers) = P::with_resolvers();
    resolvers.resolve(lp, value);
    promise
}

/// `{ then(resolve) { resolve(value) } }`.
fn thenable(value: AnyValue) -> AnyValue {
    AnyValue::new(Thenable::new(move |lp, resolvers| {
        resolvers.resolve(lp, value.clone());
        Ok(())
    }))
}

fn run(lp: &Loop<Task>) {
    assert!(!lp.run(RunMode::Default).unwrap(), "loop should be empty");
}

#[test]
fn tick_counts() {
    let lp = virtual_loop();
    let log = Log::default();
    ticker(&lp, &log, 5);
    P::resolve(&lp, s("a"))
        .unwrap()
        .then(&lp, logs(&log, "then on fulfilled "), None)
        .unwrap();
    resolved_with(&lp, P::resolve(&lp, s("b")).unwrap().into())
        .then(&lp, logs(&log, "resolved with promise "), None)
        .unwrap();
    resolved_with(&lp, thenable(s("c")))
        .then(&lp, logs(&log, "resolved with thenable "), None)
        .unwrap();
    // (async () => { await X; log(...) })()
    for (awaited, entry) in [
        (
            P::resolve(&lp, undefined()).unwrap().into(),
            "await promise",
        ),
        (n(1), "await value"),
        (thenable(undefined()), "await thenable"),
    ] {
        let on_fulfilled = logs_entry(&log, entry).unwrap();
        P::await_value(&lp, awaited, on_fulfilled, rethrow()).unwrap();
    }
    // (async () => 'v')() and (async () => Promise.resolve('p'))(): the function's promise is
    // resolved with what it returns.
    resolved_with(&lp, s("v"))
        .then(&lp, logs_entry(&log, "async returns value"), None)
        .unwrap();
    resolved_with(&lp, P::resolve(&lp, s("p")).unwrap().into())
        .then(&lp, logs_entry(&log, "async returns promise"), None)
        .unwrap();
    log.push("script end");
    run(&lp);
    assert_eq!(log.entries(), node_expected("promise_tick_counts"));
}

/// `async function worker(name, steps)` of promise_interleave.js, from the `await` of step `i`.
fn worker_step(
    lp: &Loop<Task>,
    log: Log,
    name: &'static str,
    i: u32,
    steps: u32,
    resolvers: ResolvingFunctions<Task>,
) {
    if i > steps {
        resolvers.resolve(lp, s(name)); // return name
        return;
    }
    let on_fulfilled = TaskHandler::new(move |lp, _| {
        log.push(format!("{name} step {i}"));
        if i == 1 {
            lp.next_tick(log.task(&format!("{name} tick after step 1")))
                .unwrap();
        }
        worker_step(lp, log, name, i + 1, steps, resolvers);
        Ok(undefined())
    });
    P::await_value(lp, undefined(), on_fulfilled, rethrow()).unwrap(); // await null
}

fn worker(lp: &Loop<Task>, log: &Log, name: &'static str, steps: u32) -> P {
    log.push(format!("{name} start"));
    let (promise, resolvers) = P::with_resolvers();
    worker_step(lp, log.clone(), name, 1, steps, resolvers);
    promise
}

#[test]
fn await_chains_interleaved_with_ticks_and_microtasks() {
    let lp = virtual_loop();
    let log = Log::default();
    let done = |log: &Log| {
        let log = log.clone();
        handler(move |_, v| {
            log.push(format!("{} done", show(&v)));
            Ok(undefined())
        })
    };
    worker(&lp, &log, "A", 3)
        .then(&lp, done(&log), None)
        .unwrap();
    lp.queue_microtask(log.task("micro 1")).unwrap();
    lp.next_tick(log.task("tick 1")).unwrap();
    worker(&lp, &log, "B", 2)
        .then(&lp, done(&log), None)
        .unwrap();
    P::resolve(&lp, undefined())
        .unwrap()
        .then(&lp, logs_entry(&log, "then 1"), None)
        .unwrap()
        .then(&lp, logs_entry(&log, "then 2"), None)
        .unwrap()
        .then(&lp, logs_entry(&log, "then 3"), None)
        .unwrap();
    let l = log.clone();
    lp.queue_microtask(Task::new(move |lp, _| {
        l.push("micro 2");
        lp.queue_microtask(l.task("micro 2.1"))?;
        Ok(())
    }))
    .unwrap();
    let l = log.clone();
    lp.set_timeout(
        0.0,
        Task::new(move |lp, _| {
            l.push("timeout");
            P::resolve(lp, undefined())?.then(lp, logs_entry(&l, "then in timeout"), None)?;
            lp.next_tick(l.task("tick in timeout"))?;
            lp.set_immediate(l.task("immediate"))?;
            Ok(())
        }),
    )
    .unwrap();
    log.push("script end");
    run(&lp);
    assert_eq!(log.entries(), node_expected("promise_interleave"));
}

#[test]
fn thenable_adoption() {
    let lp = virtual_loop();
    let log = Log::default();
    ticker(&lp, &log, 4);
    let adopt = |name: &str, then: Thenable| {
        let p = resolved_with(&lp, AnyValue::new(then));
        show_outcome(&lp, &log, name, &p);
    };
    let l = log.clone();
    adopt(
        "sync",
        Thenable::new(move |lp, r| {
            l.push("sync then called");
            r.resolve(lp, s("s"));
            Ok(())
        }),
    );
    adopt(
        "twice",
        Thenable::new(|lp, r| {
            r.resolve(lp, s("first"));
            r.resolve(lp, s("second"));
            r.reject(lp, s("third"));
            Ok(())
        }),
    );
    adopt(
        "reject first",
        Thenable::new(|lp, r| {
            r.reject(lp, s("no"));
            r.resolve(lp, s("yes"));
            Ok(())
        }),
    );
    adopt(
        "throws after resolve",
        Thenable::new(|lp, r| {
            r.resolve(lp, s("kept"));
            Err(s("ignored"))
        }),
    );
    adopt("throws", Thenable::new(|_, _| Err(s("boom"))));
    adopt("getter throws", Thenable::throwing(s("getter")));
    show_outcome(&lp, &log, "plain", &resolved_with(&lp, s("plain")));
    adopt(
        "nested",
        Thenable::new(|lp, r| {
            r.resolve(lp, thenable(s("inner")));
            Ok(())
        }),
    );
    let l = log.clone();
    adopt(
        "late",
        Thenable::new(move |lp, r| {
            l.push("late then called");
            let l = l.clone();
            lp.set_timeout(
                5.0,
                Task::new(move |lp, _| {
                    l.push("late resolves");
                    r.resolve(lp, s("late"));
                    Ok(())
                }),
            )
            .unwrap();
            Ok(())
        }),
    );
    // const self = new Promise((r) => setTimeout(() => r(self), 1))
    let (self_promise, resolvers) = P::with_resolvers();
    let me = self_promise.clone();
    lp.set_timeout(
        1.0,
        Task::new(move |lp, _| {
            resolvers.resolve(lp, me.clone().into());
            Ok(())
        }),
    )
    .unwrap();
    show_outcome(&lp, &log, "self", &self_promise);
    let rejected = P::reject(&lp, s("inner reason")).unwrap();
    show_outcome(
        &lp,
        &log,
        "adopt rejected",
        &resolved_with(&lp, rejected.into()),
    );
    log.push("script end");
    run(&lp);
    assert_eq!(log.entries(), node_expected("promise_thenables"));
}

#[test]
fn then_catch_finally() {
    let lp = virtual_loop();
    let log = Log::default();
    let lp = &lp;
    ticker(lp, &log, 5);
    let resolved = |v: AnyValue| P::resolve(lp, v).unwrap();
    let rejected = |r: AnyValue| P::reject(lp, r).unwrap();

    resolved(n(1))
        .then(lp, None, None)
        .unwrap()
        .then(lp, logs(&log, "then() passes value "), None)
        .unwrap();
    rejected(s("r1"))
        .then(lp, logs_entry(&log, "not called"), None)
        .unwrap()
        .catch(lp, logs(&log, "catch after then gets "))
        .unwrap();
    rejected(s("r2"))
        .catch(
            lp,
            handler(|_, r| Ok(s(&format!("recovered {}", show(&r))))),
        )
        .unwrap()
        .then(lp, logs(&log, "then after catch gets "), None)
        .unwrap();
    resolved(n(2))
        .then(lp, handler(|_, _| Err(s("thrown"))), None)
        .unwrap()
        .catch(lp, logs(&log, "handler throw rejects: "))
        .unwrap();
    resolved(n(3))
        .then(
            lp,
            handler(|lp, _| Ok(P::resolve(lp, s("from promise")).unwrap().into())),
            None,
        )
        .unwrap()
        .then(lp, logs(&log, "handler returns promise: "), None)
        .unwrap();
    let l = log.clone();
    resolved(n(4))
        .finally(
            lp,
            handler(move |_, _| {
                l.push("finally on fulfilled runs");
                Ok(s("ignored"))
            }),
        )
        .unwrap()
        .then(lp, logs(&log, "finally passes value "), None)
        .unwrap();
    rejected(s("r5"))
        .finally(lp, logs_entry(&log, "finally on rejected runs"))
        .unwrap()
        .catch(lp, logs(&log, "finally passes reason "))
        .unwrap();
    resolved(n(6))
        .finally(lp, handler(|_, _| Err(s("finally threw"))))
        .unwrap()
        .catch(lp, logs(&log, "throwing finally rejects: "))
        .unwrap();
    resolved(n(7))
        .finally(
            lp,
            handler(|lp, _| Ok(P::reject(lp, s("finally promise rejected")).unwrap().into())),
        )
        .unwrap()
        .catch(lp, logs(&log, "finally returning rejected promise: "))
        .unwrap();
    resolved(n(8))
        .then(lp, handler(|_, v| Ok(v)), None)
        .unwrap()
        .then(lp, logs(&log, "two thens: "), None)
        .unwrap();
    log.push("script end");
    run(lp);
    assert_eq!(log.entries(), node_expected("promise_then_catch_finally"));
}

#[test]
fn combinators() {
    let lp = virtual_loop();
    let log = Log::default();
    let lp = &lp;
    ticker(lp, &log, 4);
    let resolved = |v: AnyValue| -> AnyValue { P::resolve(lp, v).unwrap().into() };
    let rejected = |r: AnyValue| -> AnyValue { P::reject(lp, r).unwrap().into() };
    let ok = |values: Vec<AnyValue>| values.into_iter().map(Ok);
    let show = |name: &str, p: P| show_outcome(lp, &log, name, &p);

    show(
        "all values",
        P::all(lp, ok(vec![n(1), resolved(n(2)), thenable(n(3))])).unwrap(),
    );
    show("all plain", P::all(lp, ok(vec![n(1), n(2)])).unwrap());
    show("all empty", P::all(lp, ok(vec![])).unwrap());
    show(
        "all rejects",
        P::all(
            lp,
            ok(vec![
                resolved(n(1)),
                rejected(s("no")),
                rejected(s("later")),
            ]),
        )
        .unwrap(),
    );
    // function* () { yield 1; throw 'iterator broke'; }
    show(
        "all iterator throws",
        P::all(lp, vec![Ok(n(1)), Err(s("iterator broke"))]).unwrap(),
    );
    show(
        "allSettled",
        P::all_settled(lp, ok(vec![resolved(n(1)), rejected(s("x")), n(3)])).unwrap(),
    );
    show("allSettled empty", P::all_settled(lp, ok(vec![])).unwrap());
    show(
        "race",
        P::race(lp, ok(vec![thenable(s("slow")), resolved(s("fast"))])).unwrap(),
    );
    show(
        "race reject",
        P::race(lp, ok(vec![rejected(s("first")), resolved(s("second"))])).unwrap(),
    );
    show(
        "any",
        P::any(
            lp,
            ok(vec![rejected(s("a")), thenable(s("b")), resolved(s("c"))]),
        )
        .unwrap(),
    );
    show(
        "any all rejected",
        P::any(lp, ok(vec![rejected(s("a")), rejected(s("b"))])).unwrap(),
    );
    show("any empty", P::any(lp, ok(vec![])).unwrap());
    let (pending, _) = P::with_resolvers();
    let (timer_promise, resolvers) = P::with_resolvers();
    lp.set_timeout(
        1.0,
        Task::new(move |lp, _| {
            resolvers.resolve(lp, s("timer"));
            Ok(())
        }),
    )
    .unwrap();
    show(
        "race with pending",
        P::race(lp, ok(vec![pending.into(), timer_promise.into()])).unwrap(),
    );
    log.push("script end");
    run(lp);
    assert_eq!(log.entries(), node_expected("promise_combinators"));
}

#[test]
fn combinator_results_are_host_values() {
    let lp = virtual_loop();
    let lp = &lp;
    let all = P::all(lp, [n(1), n(2)].into_iter().map(Ok)).unwrap();
    let settled = P::all_settled(lp, [Ok(n(1)), Ok(P::reject(lp, n(2)).unwrap().into())]).unwrap();
    let any = P::any(lp, [Ok(P::reject(lp, s("e")).unwrap().into())]).unwrap();
    any.catch(lp, handler(|_, r| Ok(r))).unwrap();
    run(lp);
    let values = all.settled().unwrap().into_result().unwrap();
    let values = values.get::<Vec<AnyValue>>().unwrap();
    assert_eq!(
        values
            .iter()
            .map(|v| *v.get::<i32>().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let outcomes = settled.settled().unwrap().into_result().unwrap();
    let outcomes = outcomes.get::<Vec<Settled<AnyValue>>>().unwrap();
    assert!(outcomes[0].is_fulfilled() && !outcomes[1].is_fulfilled());
    let error = any.settled().unwrap().into_result().unwrap_err();
    assert_eq!(show(&error), "AggregateError [e]");
}

#[test]
fn unhandled_rejections_reported_at_the_end_of_a_drain() {
    let lp = virtual_loop();
    let log = Log::default();
    let l = log.clone();
    lp.on_unhandled_rejection(Some(Box::new(move |lp, _promise, reason| {
        l.push(format!("unhandledRejection {}", show(&reason)));
        let entry = format!("tick queued by the report of {}", show(&reason));
        lp.next_tick(l.task(&entry))?;
        Ok(())
    })));
    let same_drain = P::reject(&lp, s("same drain")).unwrap();
    let l = log.clone();
    lp.queue_microtask(Task::new(move |lp, _| {
        let (l, same_drain) = (l.clone(), same_drain.clone());
        lp.queue_microtask(Task::new(move |lp, _| {
            same_drain.catch(lp, logs_entry(&l, "caught same drain"))?;
            Ok(())
        }))?;
        Ok(())
    }))
    .unwrap();
    P::reject(&lp, s("never handled")).unwrap();
    let later = P::reject(&lp, s("later iteration")).unwrap();
    let (l, is_later) = (log.clone(), later.clone());
    lp.on_rejection_handled(Some(Box::new(move |_, promise| {
        let which = if *promise == is_later {
            "later iteration"
        } else {
            "?"
        };
        l.push(format!("rejectionHandled {which}"));
        Ok(())
    })));
    P::resolve(&lp, undefined())
        .unwrap()
        .then(&lp, handler(|_, _| Err(s("thrown in then"))), None)
        .unwrap();
    P::reject(&lp, s("chained"))
        .unwrap()
        .then(&lp, handler(|_, _| Ok(undefined())), None)
        .unwrap();
    let l = log.clone();
    lp.set_timeout(
        1.0,
        Task::new(move |lp, _| {
            l.push("timeout");
            later.catch(lp, logs(&l, "caught "))?;
            P::reject(lp, s("in timeout"))?;
            lp.set_immediate(l.task("immediate"))?;
            Ok(())
        }),
    )
    .unwrap();
    log.push("script end");
    run(&lp);
    assert_eq!(log.entries(), node_expected("promise_unhandled"));
}

#[test]
fn unhandled_rejection_stops_run_without_a_hook_and_run_resumes() {
    let lp = virtual_loop();
    let log = Log::default();
    lp.set_timeout(1.0, log.task("timeout")).unwrap();
    let rejected = P::reject(&lp, s("boom")).unwrap();
    let err = match lp.run(RunMode::Default) {
        Err(RunError::Callback(err)) => err,
        other => panic!("expected the unhandled rejection, got {other:?}"),
    };
    let unhandled = err.downcast_ref::<UnhandledRejection>().unwrap();
    assert_eq!(show(&unhandled.reason), "boom");
    assert_eq!(unhandled.promise, rejected);
    assert!(log.entries().is_empty());
    // Reported once: the next run goes on with the loop.
    run(&lp);
    assert_eq!(log.entries(), ["timeout"]);
}

#[test]
fn rejection_handled_in_the_same_drain_is_never_reported() {
    let lp = virtual_loop();
    let rejected = P::reject(&lp, s("late but in time")).unwrap();
    let r = rejected.clone();
    lp.next_tick(Task::new(move |lp, _| {
        r.catch(lp, handler(|_, _| Ok(undefined())))?;
        Ok(())
    }))
    .unwrap();
    run(&lp);
    assert!(rejected.is_handled());
}

#[test]
fn a_throwing_await_continuation_is_uncaught() {
    let lp = virtual_loop();
    P::await_value(
        &lp,
        n(1),
        TaskHandler::new(|_, _| Err(s("escaped"))),
        rethrow(),
    )
    .unwrap();
    let err = match lp.run(RunMode::Default) {
        Err(RunError::Callback(err)) => err,
        other => panic!("expected the thrown value, got {other:?}"),
    };
    assert_eq!(
        show(&err.downcast_ref::<ThrownValue>().unwrap().value),
        "escaped"
    );
}

#[test]
fn states_and_resolving_functions() {
    let lp = virtual_loop();
    let (outer, outer_resolvers) = P::with_resolvers();
    let (inner, inner_resolvers) = P::with_resolvers();
    assert_eq!(outer.state(), PromiseState::Pending);
    assert!(!outer_resolvers.is_resolved());
    outer_resolvers.resolve(&lp, inner.clone().into());
    // Locked in to `inner`: resolved, still pending, and the first resolution won.
    assert!(outer_resolvers.is_resolved());
    outer_resolvers.reject(&lp, s("too late"));
    assert_eq!(outer.state(), PromiseState::Pending);
    assert!(!inner.is_handled());
    run(&lp);
    assert!(inner.is_handled(), "the thenable job subscribed to it");
    inner_resolvers.resolve(&lp, n(7));
    assert_eq!(inner.state(), PromiseState::Fulfilled);
    run(&lp);
    assert_eq!(outer.state(), PromiseState::Fulfilled);
    assert_eq!(
        outer.settled().unwrap().into_result().unwrap().get::<i32>(),
        Some(&7)
    );
    // Promise.resolve(promise) is that promise.
    assert_eq!(P::resolve(&lp, outer.clone().into()).unwrap(), outer);
    assert_eq!(format!("{outer:?}"), "Promise { <fulfilled> }");
}

#[test]
fn promise_jobs_are_labelled_microtasks_in_the_timeline() {
    let lp = virtual_loop();
    lp.record(true);
    resolved_with(&lp, thenable(n(1)))
        .then(&lp, handler(|_, v| Ok(v)), None)
        .unwrap();
    run(&lp);
    let labels: Vec<_> = lp
        .timeline()
        .iter()
        .map(|r| (r.kind.name(), r.label))
        .collect();
    assert_eq!(
        labels,
        [
            ("microtask", Some("promise resolve thenable")),
            ("microtask", Some("promise reaction")),
        ]
    );
}

#[test]
fn a_closed_loop_refuses_promise_operations() {
    let lp = virtual_loop();
    let (promise, _) = P::with_resolvers();
    lp.close().unwrap();
    assert!(matches!(P::resolve(&lp, n(1)), Err(Error::Closed)));
    assert!(matches!(P::all(&lp, [Ok(n(1))]), Err(Error::Closed)));
    let log = Log::default();
    let Err(refused) = promise.then(&lp, logs(&log, "f "), logs(&log, "r ")) else {
        panic!("then on a closed loop was accepted");
    };
    assert!(matches!(refused.error, Error::Closed));
    assert!(
        matches!(refused.callback, (Some(_), Some(_))),
        "handed back"
    );
    let Err(refused) = promise.finally(&lp, logs_entry(&log, "finally")) else {
        panic!("finally on a closed loop was accepted");
    };
    assert!(refused.callback.is_some(), "handed back");
    assert!(promise.subscribe(&lp, rethrow(), rethrow()).is_err());
    assert!(P::await_value(&lp, n(1), rethrow(), rethrow()).is_err());
}

/// Counts drops, to prove that what a promise held was released.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_pending_promise_is_released_when_its_loop_closes() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = || DropCounter(Arc::clone(&drops));
    for close_explicitly in [true, false] {
        drops.store(0, Ordering::SeqCst);
        let lp = virtual_loop();
        // A pending promise with a reaction, to be resolved by a timer that never fires.
        let (pending, resolvers) = P::with_resolvers();
        let held = counter();
        pending
            .then(
                &lp,
                handler(move |_, v| {
                    drop(held);
                    Ok(v)
                }),
                None,
            )
            .unwrap();
        lp.set_timeout(
            1000.0,
            Task::new(move |lp, _| {
                resolvers.resolve(lp, undefined());
                Ok(())
            }),
        )
        .unwrap();
        // A reaction job queued, never run.
        let held = counter();
        P::resolve(&lp, undefined())
            .unwrap()
            .then(
                &lp,
                handler(move |_, v| {
                    drop(held);
                    Ok(v)
                }),
                None,
            )
            .unwrap();
        // A resolve-thenable job queued, never run.
        let held = counter();
        resolved_with(
            &lp,
            AnyValue::new(Thenable::new(move |_, _| {
                let _ = &held;
                Ok(())
            })),
        );
        // An unhandled rejection waiting for the end of a drain.
        P::reject(&lp, AnyValue::new(counter())).unwrap();
        // A promise locked in to the pending one (it subscribes only when its job runs).
        resolved_with(&lp, pending.clone().into());
        assert!(pending.handle_count() > 1);
        if close_explicitly {
            lp.close().unwrap();
        } else {
            drop(lp);
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "jobs and the tracker were dropped"
        );
        assert_eq!(pending.state(), PromiseState::Pending);
        assert_eq!(pending.handle_count(), 1, "only this handle is left");
        drop(pending);
        assert_eq!(drops.load(Ordering::SeqCst), 4, "its reaction went with it");
    }
}

#[test]
fn promise_handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<P>();
    send_sync::<ResolvingFunctions<Task>>();
    send::<phaseloop_core::PromiseJob<Task>>();
}
