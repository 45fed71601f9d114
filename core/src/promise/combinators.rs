//! `Promise.all`, `Promise.allSettled`, `Promise.race` and `Promise.any`, step for step as
//! ECMA-262 writes them: for each input, `Promise.resolve(input).then(element functions)`, so an
//! input that is already a promise costs one microtask, a thenable two, and the combined promise
//! settles in the microtask of the element that decides it.
//!
//! The inputs are `Result`s so that a host can pass an iterator that fails midway (a Python
//! generator raising): the combined promise then rejects with that error, as
//! `IfAbruptRejectPromise` says, and the elements already subscribed change nothing.

use std::sync::Arc;

use parking_lot::Mutex;

use super::{promise_resolve, Promise, PromiseHost, Reaction, ResolvingFunctions, Settled};
use crate::error::Error;
use crate::event_loop::Loop;

#[derive(Copy, Clone, PartialEq, Eq)]
enum CombinatorKind {
    All,
    AllSettled,
    Any,
}

/// The state the element functions of one `all` / `all_settled` / `any` call share.
struct Combinator<H: PromiseHost> {
    kind: CombinatorKind,
    capability: ResolvingFunctions<H>,
    /// `values` (all, all_settled) or `errors` (any); `None` until its element settles, which
    /// doubles as the element's `[[AlreadyCalled]]` flag.
    slots: Vec<Option<Settled<H::Value>>>,
    /// `remainingElementsCount`: starts at 1 for the end of the iteration.
    remaining: usize,
}

/// One element function (pair): the `index`-th input of a combinator.
pub(crate) struct Element<H: PromiseHost> {
    shared: Arc<Mutex<Combinator<H>>>,
    index: usize,
}

/// What settles the combined promise once the last element is in.
enum Finish<V> {
    Fulfill(V),
    Reject(V),
}

impl<H: PromiseHost> Element<H> {
    /// The element function for `outcome` (`Promise.all` Resolve Element Functions and their
    /// allSettled / any counterparts, or the capability's reject / resolve they pass through).
    pub(super) fn run(self, lp: &Loop<H>, outcome: Settled<H::Value>) {
        let mut shared = self.shared.lock();
        let kind = shared.kind;
        let collects = matches!(
            (kind, &outcome),
            (CombinatorKind::All, Settled::Fulfilled(_))
                | (CombinatorKind::AllSettled, _)
                | (CombinatorKind::Any, Settled::Rejected(_))
        );
        let capability = shared.capability.clone();
        if !collects {
            // all: the first rejection rejects; any: the first fulfilment fulfils.
            drop(shared);
            match outcome {
                Settled::Fulfilled(value) => capability.resolve(lp, value),
                Settled::Rejected(reason) => capability.reject(lp, reason),
            }
            return;
        }
        if shared.slots[self.index].is_some() {
            return; // [[AlreadyCalled]]
        }
        shared.slots[self.index] = Some(outcome);
        shared.remaining -= 1;
        if shared.remaining > 0 {
            return;
        }
        let slots = std::mem::take(&mut shared.slots);
        drop(shared);
        finish(lp, kind, &capability, slots);
    }
}

fn finish<H: PromiseHost>(
    lp: &Loop<H>,
    kind: CombinatorKind,
    capability: &ResolvingFunctions<H>,
    slots: Vec<Option<Settled<H::Value>>>,
) {
    let outcomes = slots
        .into_iter()
        .map(|slot| slot.expect("every element settled"));
    let result = match kind {
        CombinatorKind::All => {
            Finish::Fulfill(H::list(lp, outcomes.map(Settled::into_inner).collect()))
        }
        CombinatorKind::AllSettled => Finish::Fulfill(H::settled_list(lp, outcomes.collect())),
        CombinatorKind::Any => Finish::Reject(H::aggregate_error(
            lp,
            outcomes.map(Settled::into_inner).collect(),
        )),
    };
    match result {
        Finish::Fulfill(value) => capability.resolve(lp, value),
        Finish::Reject(reason) => capability.reject(lp, reason),
    }
}

fn combine<H: PromiseHost>(
    lp: &Loop<H>,
    kind: CombinatorKind,
    inputs: impl IntoIterator<Item = Result<H::Value, H::Value>>,
) -> Result<Promise<H>, Error> {
    lp.check_open()?;
    let (promise, capability) = Promise::with_resolvers();
    let shared = Arc::new(Mutex::new(Combinator {
        kind,
        capability: capability.clone(),
        slots: Vec::new(),
        remaining: 1,
    }));
    // The iterator is host code: no lock is held while it runs.
    for (index, input) in inputs.into_iter().enumerate() {
        let value = match input {
            Ok(value) => value,
            Err(thrown) => {
                capability.reject(lp, thrown);
                return Ok(promise);
            }
        };
        {
            let mut shared = shared.lock();
            shared.slots.push(None);
            shared.remaining += 1;
        }
        let next = promise_resolve(lp, value);
        next.perform_then(
            lp,
            Reaction::Element(Element {
                shared: Arc::clone(&shared),
                index,
            }),
        );
    }
    let done = {
        let mut shared = shared.lock();
        shared.remaining -= 1;
        (shared.remaining == 0).then(|| std::mem::take(&mut shared.slots))
    };
    if let Some(slots) = done {
        finish(lp, kind, &capability, slots);
    }
    Ok(promise)
}

impl<H: PromiseHost> Promise<H> {
    /// `Promise.all(inputs)`: fulfils with the list of the values once every input fulfilled
    /// (at once, for no input), rejects with the first rejection. An `Err` input is an iterator
    /// that threw: the promise rejects with it.
    pub fn all(
        lp: &Loop<H>,
        inputs: impl IntoIterator<Item = Result<H::Value, H::Value>>,
    ) -> Result<Promise<H>, Error> {
        combine(lp, CombinatorKind::All, inputs)
    }

    /// `Promise.allSettled(inputs)`: fulfils with the list of every outcome
    /// ([`PromiseHost::settled_list`]) once all settled.
    pub fn all_settled(
        lp: &Loop<H>,
        inputs: impl IntoIterator<Item = Result<H::Value, H::Value>>,
    ) -> Result<Promise<H>, Error> {
        combine(lp, CombinatorKind::AllSettled, inputs)
    }

    /// `Promise.any(inputs)`: fulfils with the first fulfilment; rejects with an
    /// [`aggregate_error`](PromiseHost::aggregate_error) of every reason, in input order, if all
    /// reject (at once, for no input).
    pub fn any(
        lp: &Loop<H>,
        inputs: impl IntoIterator<Item = Result<H::Value, H::Value>>,
    ) -> Result<Promise<H>, Error> {
        combine(lp, CombinatorKind::Any, inputs)
    }

    /// `Promise.race(inputs)`: settles as the first input to settle (stays pending for no
    /// input).
    pub fn race(
        lp: &Loop<H>,
        inputs: impl IntoIterator<Item = Result<H::Value, H::Value>>,
    ) -> Result<Promise<H>, Error> {
        lp.check_open()?;
        let (promise, capability) = Promise::with_resolvers();
        for input in inputs {
            match input {
                Ok(value) => {
                    let next = promise_resolve(lp, value);
                    next.perform_then(lp, Reaction::Adopt(capability.clone()));
                }
                Err(thrown) => {
                    capability.reject(lp, thrown);
                    break;
                }
            }
        }
        Ok(promise)
    }
}
