//! Promises with ECMA-262's job semantics, written once for every host (ordering rule 7,
//! docs/ordering.md).
//!
//! A [`Promise`] is a state machine (pending, fulfilled, rejected) whose reactions run as
//! microtasks on a [`Loop`]. It is generic over the host's value type through [`PromiseHost`], so
//! the Rust, C and Python faces of phaseloop queue exactly the jobs JavaScript queues, and the
//! same program takes the same number of microtask turns everywhere:
//!
//! - `then` on a settled promise queues one PromiseReactionJob at once; on a pending one it
//!   queues it when the promise settles.
//! - Resolving with a promise or any value with a callable `then` queues one
//!   PromiseResolveThenableJob, which calls `then` with fresh one-shot resolving functions; with a
//!   promise that call queues the reaction that finally settles. Hence "resolving with a promise
//!   costs 2 extra microtasks".
//! - `Promise.all`, `allSettled`, `race` and `any` call `Promise.resolve` and `then` per element,
//!   as the specification does.
//! - Rejections nobody handled by the end of a drain are reported through
//!   [`Loop::report_rejections`] (rule 2.5), which hosts call from [`Callback::after_drain`].
//!
//! The host supplies what the core cannot know: how to call a handler, whether a value is a
//! thenable, how to build lists and errors, how to wrap a job into its own microtask callback.
//! [`Task`](crate::Task) is such a host (see [`AnyValue`]); `docs/promises.md` explains the job
//! semantics with examples.
//!
//! Locking: a promise is a counted handle to locked state ([`handle`]) so that host callbacks
//! holding one stay `Send`; the loop is single-threaded by contract, so the lock is never
//! contended. No lock is held while host code runs or while a host value is dropped (a Python
//! `__del__` may use the same promise). Uncontended, each lock and each handle dropped still
//! costs an atomic read-modify-write, which on a link of a promise chain cost more time than
//! everything else the core does: the hot paths take as few as they can (a promise resolved
//! with a plain value is made settled, a plain value settles a promise under one lock, the
//! host tag is an atomic word beside the lock).

mod combinators;
mod rejections;
mod task;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

// A promise's shared state: why not `std::sync::Arc<parking_lot::Mutex<..>>`. On a link of a
// promise chain (`resolve().then(f)`, bench/README.md) the core's own instructions are few and
// its time went to atomic read-modify-writes: a `parking_lot` lock takes two (lock, and unlock
// for its parking bit), the last `Arc` drop two (the strong count, then the weak count nobody
// uses here). triomphe's `Arc` has no weak count (one atomic to free); a spin lock is taken
// with one compare-exchange and released with a plain store. It is uncontended by contract: a
// loop and its promises are used from one thread (`Send` only lets callbacks holding a promise
// move), and a critical section never runs host code.
use spin::mutex::{SpinMutex as Lock, SpinMutexGuard as LockGuard};
use triomphe::Arc as Handle;

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};

pub use rejections::{RejectionHandledHook, UnhandledRejectionHook};
pub use task::{
    AggregateError, AnyValue, TaskHandler, TaskThen, Thenable, ThrownValue, TypeError,
    UnhandledRejection,
};

/// What a host provides so that the core can run promises on its loop.
///
/// Nothing here is called with a promise locked, so every method may use promises and the loop.
/// A host must also call [`Loop::report_rejections`] from its [`Callback::after_drain`], and
/// run the jobs it is handed by [`PromiseHost::promise_job`] as microtasks.
pub trait PromiseHost: Callback {
    /// A value a promise is fulfilled or rejected with (a Python object, a boxed Rust value).
    type Value: Clone + Send + 'static;
    /// A reaction handler: the `onFulfilled` / `onRejected` of `then`, the `onFinally` of
    /// `finally`, the continuation of an `await`. Called at most once.
    type Handler: Send + 'static;
    /// The callable `then` read from a foreign thenable by [`PromiseHost::get_then`].
    type Then: Send + 'static;

    /// Wraps a promise job into a microtask callback. When the loop calls it, it must call
    /// [`PromiseJob::run`] once; an `Err` from `run` is a value thrown where nothing can catch
    /// it (a handler of [`Promise::subscribe`] that threw): report it as an uncaught exception.
    fn promise_job(job: PromiseJob<Self>) -> Self;

    /// Calls `handler(argument)`: `Ok` with what it returned, `Err` with what it threw.
    fn call_handler(
        lp: &Loop<Self>,
        handler: Self::Handler,
        argument: Self::Value,
    ) -> Result<Self::Value, Self::Value>;

    /// Calls `on_finally()`, with no argument, for [`Promise::finally`].
    fn call_finally(lp: &Loop<Self>, on_finally: Self::Handler)
        -> Result<Self::Value, Self::Value>;

    /// The promise `value` is, if it is one of this core's promises whose `then` is the core's
    /// own (JavaScript's `IsPromise` and an unpatched `then`). Must not run host code.
    fn as_promise(value: &Self::Value) -> Option<Promise<Self>>;

    /// Whether `value` is surely neither a promise nor a thenable, known without running host
    /// code (a number, a string, `None`...). Settling a promise with such a value takes one
    /// lock instead of two; `false`, the default, is always correct.
    fn is_plain(value: &Self::Value) -> bool {
        let _ = value;
        false
    }

    /// Reads `value.then` (only asked for values that are not [`as_promise`](Self::as_promise)
    /// promises): `Ok(Some(then))` if it is callable, `Ok(None)` if `value` has no callable
    /// `then`, `Err(error)` if reading it threw (the promise being resolved then rejects).
    fn get_then(lp: &Loop<Self>, value: &Self::Value) -> Result<Option<Self::Then>, Self::Value>;

    /// Calls `then` with `thenable` as `this` and the two resolving functions of `resolvers` as
    /// arguments (a host turns them into its callables; they may be called any number of times,
    /// late, or never). `Err` if the call threw: the core then calls the reject function, which
    /// does nothing if `then` already resolved.
    fn call_then(
        lp: &Loop<Self>,
        thenable: Self::Value,
        then: Self::Then,
        resolvers: ResolvingFunctions<Self>,
    ) -> Result<(), Self::Value>;

    /// The fulfilment value of `all`: a list of the values, in input order.
    fn list(lp: &Loop<Self>, values: Vec<Self::Value>) -> Self::Value;

    /// The fulfilment value of `all_settled`: a list of `{status, value | reason}` records.
    fn settled_list(lp: &Loop<Self>, outcomes: Vec<Settled<Self::Value>>) -> Self::Value;

    /// The rejection reason of `any` when every input rejected: an `AggregateError` whose
    /// `errors` are the reasons, in input order.
    fn aggregate_error(lp: &Loop<Self>, errors: Vec<Self::Value>) -> Self::Value;

    /// A `TypeError` (the core uses it for a promise resolved with itself).
    fn type_error(lp: &Loop<Self>, message: &'static str) -> Self::Value;

    /// What happens to a rejection still unhandled when a drain ends and no
    /// [`Loop::on_unhandled_rejection`] hook is set. Node's default is to throw it as an uncaught
    /// exception: return `Err` and `run` stops with it.
    fn unhandled_rejection(
        lp: &Loop<Self>,
        promise: &Promise<Self>,
        reason: Self::Value,
    ) -> Result<(), Self::Error>;

    /// What happens when a rejection that was reported unhandled gets a handler, if no
    /// [`Loop::on_rejection_handled`] hook is set. Node prints a warning; the default does
    /// nothing.
    fn rejection_handled(lp: &Loop<Self>, promise: &Promise<Self>) -> Result<(), Self::Error> {
        let _ = (lp, promise);
        Ok(())
    }
}

/// How a promise settled: with a value or with a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled<V> {
    /// Fulfilled with this value.
    Fulfilled(V),
    /// Rejected with this reason.
    Rejected(V),
}

impl<V> Settled<V> {
    /// The value or the reason.
    pub fn into_inner(self) -> V {
        match self {
            Settled::Fulfilled(v) | Settled::Rejected(v) => v,
        }
    }

    /// `Ok(value)` or `Err(reason)`.
    pub fn into_result(self) -> Result<V, V> {
        match self {
            Settled::Fulfilled(v) => Ok(v),
            Settled::Rejected(r) => Err(r),
        }
    }

    /// The value or the reason, borrowed.
    pub fn get(&self) -> &V {
        match self {
            Settled::Fulfilled(v) | Settled::Rejected(v) => v,
        }
    }

    /// Whether it is [`Settled::Fulfilled`].
    pub fn is_fulfilled(&self) -> bool {
        matches!(self, Settled::Fulfilled(_))
    }
}

impl<V> From<Result<V, V>> for Settled<V> {
    fn from(result: Result<V, V>) -> Self {
        match result {
            Ok(v) => Settled::Fulfilled(v),
            Err(r) => Settled::Rejected(r),
        }
    }
}

/// A promise's `[[PromiseState]]`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PromiseState {
    /// Not settled yet (it may already be locked in to another promise or thenable).
    Pending,
    /// Fulfilled.
    Fulfilled,
    /// Rejected.
    Rejected,
}

impl PromiseState {
    /// `"pending"`, `"fulfilled"` or `"rejected"`.
    pub fn name(self) -> &'static str {
        match self {
            PromiseState::Pending => "pending",
            PromiseState::Fulfilled => "fulfilled",
            PromiseState::Rejected => "rejected",
        }
    }
}

/// Something a promise or job holds of the host, for a host garbage collector (see
/// [`Promise::visit`]).
pub enum HostRef<'a, H: PromiseHost> {
    /// A value or reason.
    Value(&'a H::Value),
    /// A reaction handler.
    Handler(&'a H::Handler),
    /// The `then` of a foreign thenable.
    Then(&'a H::Then),
}

/// A promise of the host `H`: a cheap handle (a counted pointer); clones are the same promise.
///
/// Equality and hashing are identity, like JavaScript's `===`.
pub struct Promise<H: PromiseHost>(Handle<Shared<H>>);

/// What a promise handle points to.
struct Shared<H: PromiseHost> {
    /// A word the host keeps here (see [`Promise::host_tag`]); the core never reads it. Outside
    /// the lock: a host reads and writes it for every wrapper it makes and frees.
    host_tag: AtomicUsize,
    inner: Lock<Inner<H>>,
}

struct Inner<H: PromiseHost> {
    status: Status<H>,
    /// `[[PromiseIsHandled]]`: something subscribed to it.
    handled: bool,
    tracking: Tracking,
    /// Which pair of resolving functions may still resolve it (see [`ResolvingFunctions`]).
    generation: u32,
    /// The pair `generation` was used.
    resolved: bool,
}

enum Status<H: PromiseHost> {
    Pending(Reactions<H>),
    Fulfilled(H::Value),
    Rejected(H::Value),
}

/// Where an unhandled rejection stands in the loop's rejection tracker (Node's
/// `maybeUnhandledPromises`).
#[derive(Copy, Clone, PartialEq, Eq)]
enum Tracking {
    /// Not rejected, handled, or handled after it was reported.
    None,
    /// Rejected with no handler; waiting for the end of the drain.
    Waiting,
    /// Reported as unhandled; a handler added now is reported as "handled later".
    Reported,
}

/// A promise's reactions; most promises have at most one, kept inline.
enum Reactions<H: PromiseHost> {
    None,
    One(Reaction<H>),
    Many(Vec<Reaction<H>>),
}

impl<H: PromiseHost> Reactions<H> {
    fn push(&mut self, reaction: Reaction<H>) {
        *self = match std::mem::replace(self, Reactions::None) {
            Reactions::None => Reactions::One(reaction),
            Reactions::One(first) => Reactions::Many(vec![first, reaction]),
            Reactions::Many(mut all) => {
                all.push(reaction);
                Reactions::Many(all)
            }
        }
    }

    fn visit(&self, f: &mut dyn FnMut(HostRef<'_, H>)) {
        match self {
            Reactions::None => {}
            Reactions::One(reaction) => reaction.visit(f),
            Reactions::Many(all) => all.iter().for_each(|r| r.visit(f)),
        }
    }
}

/// A PromiseReaction record: what runs when the promise it waits on settles.
pub(crate) enum Reaction<H: PromiseHost> {
    /// `then(on_fulfilled, on_rejected)`; the handler's result settles `derived` (none for an
    /// `await`, which only wants the call).
    Then {
        on_fulfilled: Option<H::Handler>,
        on_rejected: Option<H::Handler>,
        derived: Option<Promise<H>>,
    },
    /// `finally(on_finally)`: thenFinally and catchFinally of the specification.
    Finally {
        on_finally: H::Handler,
        derived: Promise<H>,
    },
    /// `then(valueThunk)` / `then(thrower)`, which `finally` subscribes to the promise its
    /// callback returned: once that fulfils, settle `derived` as the original promise settled.
    Thunk {
        outcome: Settled<H::Value>,
        derived: Promise<H>,
    },
    /// `then(resolve, reject)` with a pair of resolving functions: a native thenable adopted
    /// by a PromiseResolveThenableJob, or an element of `race`.
    Adopt(ResolvingFunctions<H>),
    /// The element functions of `all`, `all_settled` and `any`.
    Element(combinators::Element<H>),
}

impl<H: PromiseHost> Reaction<H> {
    fn visit(&self, f: &mut dyn FnMut(HostRef<'_, H>)) {
        match self {
            Reaction::Then {
                on_fulfilled,
                on_rejected,
                ..
            } => {
                on_fulfilled.iter().for_each(|h| f(HostRef::Handler(h)));
                on_rejected.iter().for_each(|h| f(HostRef::Handler(h)));
            }
            Reaction::Finally { on_finally, .. } => f(HostRef::Handler(on_finally)),
            Reaction::Thunk { outcome, .. } => f(HostRef::Value(outcome.get())),
            Reaction::Adopt(_) | Reaction::Element(_) => {}
        }
    }

    /// PromiseReactionJob: runs the handler for `outcome` and settles what depends on it.
    fn run(self, lp: &Loop<H>, outcome: Settled<H::Value>) -> Result<(), H::Value> {
        match self {
            Reaction::Then {
                on_fulfilled,
                on_rejected,
                derived,
            } => {
                let (handler, unused) = match outcome {
                    Settled::Fulfilled(_) => (on_fulfilled, on_rejected),
                    Settled::Rejected(_) => (on_rejected, on_fulfilled),
                };
                drop(unused);
                let called = handler.is_some();
                let result = match handler {
                    Some(handler) => H::call_handler(lp, handler, outcome.into_inner()),
                    None => outcome.into_result(),
                };
                match derived {
                    Some(derived) => derived.settle_derived(lp, result),
                    // An await's continuation: nothing to reject, so what it threw is uncaught.
                    // A missing handler with nothing to settle lets the outcome go.
                    None if called => return result.map(drop),
                    None => {}
                }
                Ok(())
            }
            Reaction::Finally {
                on_finally,
                derived,
            } => {
                match H::call_finally(lp, on_finally) {
                    Err(thrown) => {
                        derived.settle_derived(lp, Err(thrown));
                        Ok(())
                    }
                    Ok(result) => {
                        // thenFinally / catchFinally: return
                        // PromiseResolve(C, result).then(valueThunk | thrower).
                        let p = promise_resolve(lp, result);
                        let returned = Promise::new_pending();
                        p.perform_then(
                            lp,
                            Reaction::Thunk {
                                outcome,
                                derived: returned.clone(),
                            },
                        );
                        derived.first_resolvers().resolve_native(lp, returned);
                        Ok(())
                    }
                }
            }
            Reaction::Thunk {
                outcome: original,
                derived,
            } => {
                let result = match outcome {
                    Settled::Fulfilled(_) => original.into_result(),
                    rejected => rejected.into_result(),
                };
                derived.settle_derived(lp, result);
                Ok(())
            }
            Reaction::Adopt(resolvers) => {
                match outcome {
                    Settled::Fulfilled(value) => resolvers.resolve(lp, value),
                    Settled::Rejected(reason) => resolvers.reject(lp, reason),
                }
                Ok(())
            }
            Reaction::Element(element) => {
                element.run(lp, outcome);
                Ok(())
            }
        }
    }
}

/// A job for the microtask queue: a PromiseReactionJob or a PromiseResolveThenableJob.
///
/// The host wraps it into its own callback type ([`PromiseHost::promise_job`]) and calls
/// [`PromiseJob::run`] when the loop runs that callback. Dropping a job that never ran (the loop
/// closed) releases what it holds.
pub struct PromiseJob<H: PromiseHost>(Job<H>);

enum Job<H: PromiseHost> {
    Reaction {
        reaction: Reaction<H>,
        outcome: Settled<H::Value>,
    },
    /// Adopt the state of a promise of this core (its `then` is ours).
    AdoptPromise {
        target: Promise<H>,
        thenable: Promise<H>,
    },
    /// Call a foreign thenable's `then`.
    AdoptThenable {
        target: Promise<H>,
        thenable: H::Value,
        then: H::Then,
    },
}

/// Which kind of job a [`PromiseJob`] is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PromiseJobKind {
    /// Runs a `then` / `catch` / `finally` / `await` / combinator handler (PromiseReactionJob).
    Reaction,
    /// Calls the `then` of a thenable a promise was resolved with (PromiseResolveThenableJob).
    ResolveThenable,
}

impl PromiseJobKind {
    /// `"promise reaction"` or `"promise resolve thenable"`, for timelines.
    pub fn label(self) -> &'static str {
        match self {
            PromiseJobKind::Reaction => "promise reaction",
            PromiseJobKind::ResolveThenable => "promise resolve thenable",
        }
    }
}

impl<H: PromiseHost> PromiseJob<H> {
    /// Runs the job. `Err` is a value a handler threw where no promise can take it (only the
    /// handlers of [`Promise::subscribe`] and [`Promise::await_value`] can do that): the host
    /// reports it as an uncaught exception.
    pub fn run(self, lp: &Loop<H>) -> Result<(), H::Value> {
        match self.0 {
            Job::Reaction { reaction, outcome } => reaction.run(lp, outcome),
            Job::AdoptPromise { target, thenable } => {
                // thenable.then(resolve, reject), without the derived promise nobody can see.
                thenable.perform_then(lp, Reaction::Adopt(target.new_resolvers()));
                Ok(())
            }
            Job::AdoptThenable {
                target,
                thenable,
                then,
            } => {
                let resolvers = target.new_resolvers();
                if let Err(thrown) = H::call_then(lp, thenable, then, resolvers.clone()) {
                    resolvers.reject(lp, thrown);
                }
                Ok(())
            }
        }
    }

    /// The handler this job will call: the `then` / `catch` callback for its outcome, or the
    /// `finally` callback. `None` for a job that calls no handler of the host (a resolve-thenable
    /// job, a missing handler, a combinator's element).
    pub fn handler(&self) -> Option<&H::Handler> {
        let Job::Reaction { reaction, outcome } = &self.0 else {
            return None;
        };
        match reaction {
            Reaction::Then {
                on_fulfilled,
                on_rejected,
                ..
            } => match outcome {
                Settled::Fulfilled(_) => on_fulfilled.as_ref(),
                Settled::Rejected(_) => on_rejected.as_ref(),
            },
            Reaction::Finally { on_finally, .. } => Some(on_finally),
            Reaction::Thunk { .. } | Reaction::Adopt(_) | Reaction::Element(_) => None,
        }
    }

    /// Which kind of job it is.
    pub fn kind(&self) -> PromiseJobKind {
        match self.0 {
            Job::Reaction { .. } => PromiseJobKind::Reaction,
            Job::AdoptPromise { .. } | Job::AdoptThenable { .. } => PromiseJobKind::ResolveThenable,
        }
    }

    /// Calls `f` with every host value, handler and `then` the job holds itself (not those of
    /// the promises it refers to).
    pub fn visit(&self, f: &mut dyn FnMut(HostRef<'_, H>)) {
        match &self.0 {
            Job::Reaction { reaction, outcome } => {
                f(HostRef::Value(outcome.get()));
                reaction.visit(f);
            }
            Job::AdoptPromise { .. } => {}
            Job::AdoptThenable { thenable, then, .. } => {
                f(HostRef::Value(thenable));
                f(HostRef::Then(then));
            }
        }
    }
}

#[inline(always)]
fn enqueue<H: PromiseHost>(lp: &Loop<H>, job: Job<H>) {
    // Fails only on a closed loop, which drops the job: what it holds is released.
    let _ = lp.queue_microtask(H::promise_job(PromiseJob(job)));
}

/// The `resolve` and `reject` functions of a promise (CreateResolvingFunctions), sharing one
/// "already resolved" flag: whichever is called first decides, later calls do nothing.
///
/// Cheap to clone (a promise handle and a number); a host turns a pair into two callables (for
/// an executor, or for a thenable's `then`).
pub struct ResolvingFunctions<H: PromiseHost> {
    promise: Promise<H>,
    generation: u32,
}

impl<H: PromiseHost> Clone for ResolvingFunctions<H> {
    fn clone(&self) -> Self {
        ResolvingFunctions {
            promise: self.promise.clone(),
            generation: self.generation,
        }
    }
}

impl<H: PromiseHost> ResolvingFunctions<H> {
    /// The promise these functions resolve.
    pub fn promise(&self) -> &Promise<H> {
        &self.promise
    }

    /// Whether `resolve` or `reject` of this pair was called (the promise may still be pending,
    /// locked in to a thenable).
    pub fn is_resolved(&self) -> bool {
        let inner = self.promise.lock();
        inner.generation != self.generation || inner.resolved
    }

    /// Sets the shared flag; false if it was set already.
    fn claim(&self) -> bool {
        self.promise.claim(self.generation)
    }

    /// `resolve(value)`: fulfils the promise with `value`, or, if `value` is a promise or a
    /// thenable, queues the job that adopts its state. Does nothing if already resolved.
    pub fn resolve(&self, lp: &Loop<H>, value: H::Value) {
        resolve_with(lp, &self.promise, self.generation, value);
    }

    /// `reject(reason)`: rejects the promise. Does nothing if already resolved.
    pub fn reject(&self, lp: &Loop<H>, reason: H::Value) {
        self.promise
            .settle_and_trigger(lp, Settled::Rejected(reason), Some(self.generation));
    }

    /// `resolve(thenable)` for a promise of this core, without a host value for it.
    fn resolve_native(&self, lp: &Loop<H>, thenable: Promise<H>) {
        if self.claim() {
            adopt_promise(lp, &self.promise, thenable);
        }
    }
}

/// A promise resolve function of `target`'s pair `generation`: its "already resolved" check,
/// then its steps (under the same lock as the check for a plain value, which settles at once).
fn resolve_with<H: PromiseHost>(
    lp: &Loop<H>,
    target: &Promise<H>,
    generation: u32,
    value: H::Value,
) {
    if H::is_plain(&value) {
        target.settle_and_trigger(lp, Settled::Fulfilled(value), Some(generation));
        return;
    }
    if target.claim(generation) {
        resolve_promise(lp, target, value);
    }
}

/// The steps of a promise resolve function after its "already resolved" check.
fn resolve_promise<H: PromiseHost>(lp: &Loop<H>, target: &Promise<H>, value: H::Value) {
    if let Some(thenable) = H::as_promise(&value) {
        drop(value);
        adopt_promise(lp, target, thenable);
        return;
    }
    match H::get_then(lp, &value) {
        Err(thrown) => target.reject_now(lp, thrown),
        Ok(None) => target.fulfill_now(lp, value),
        Ok(Some(then)) => enqueue(
            lp,
            Job::AdoptThenable {
                target: target.clone(),
                thenable: value,
                then,
            },
        ),
    }
}

fn adopt_promise<H: PromiseHost>(lp: &Loop<H>, target: &Promise<H>, thenable: Promise<H>) {
    if thenable == *target {
        let error = H::type_error(lp, "Chaining cycle detected for promise #<Promise>");
        target.reject_now(lp, error);
    } else {
        enqueue(
            lp,
            Job::AdoptPromise {
                target: target.clone(),
                thenable,
            },
        );
    }
}

/// The two handlers of [`Promise::subscribe`] and [`Promise::await_value`], as a closed loop
/// hands them back.
pub type Handlers<H> = (<H as PromiseHost>::Handler, <H as PromiseHost>::Handler);

/// The two optional handlers of [`Promise::then`], as a closed loop hands them back.
pub type OptionalHandlers<H> = (
    Option<<H as PromiseHost>::Handler>,
    Option<<H as PromiseHost>::Handler>,
);

/// `handlers` back, or refused with them if the loop is closed.
fn open_or_refuse<H: PromiseHost, T>(lp: &Loop<H>, handlers: T) -> Result<T, Refused<T>> {
    match lp.check_open() {
        Ok(()) => Ok(handlers),
        Err(error) => Err(Refused {
            error,
            callback: handlers,
        }),
    }
}

/// PromiseResolve(%Promise%, value): `value` itself if it is a promise of this core, else a new
/// promise resolved with it. Never fails: a throwing `then` getter gives a rejected promise.
fn promise_resolve<H: PromiseHost>(lp: &Loop<H>, value: H::Value) -> Promise<H> {
    if let Some(promise) = H::as_promise(&value) {
        return promise;
    }
    // The steps of `resolve(value)` on a promise nobody else can resolve yet (nor subscribe
    // to): a plain value makes it fulfilled from the start, with no lock and no reaction.
    match H::get_then(lp, &value) {
        Ok(None) => Promise::new(Status::Fulfilled(value), true),
        Err(thrown) => {
            let promise = Promise::new(Status::Pending(Reactions::None), true);
            promise.reject_now(lp, thrown);
            promise
        }
        Ok(Some(then)) => {
            let promise = Promise::new(Status::Pending(Reactions::None), true);
            enqueue(
                lp,
                Job::AdoptThenable {
                    target: promise.clone(),
                    thenable: value,
                    then,
                },
            );
            promise
        }
    }
}

impl<H: PromiseHost> Promise<H> {
    fn new_pending() -> Self {
        Promise::new(Status::Pending(Reactions::None), false)
    }

    /// Two handles to a new pending promise (for the reaction that settles it and the caller).
    #[inline]
    fn new_pending_pair() -> (Self, Self) {
        let a = Handle::new(Promise::shared(Status::Pending(Reactions::None), false));
        let b = a.clone();
        (Promise(a), Promise(b))
    }

    /// A promise in `status`, its first pair of resolving functions already used if `resolved`.
    #[inline]
    fn new(status: Status<H>, resolved: bool) -> Self {
        Promise(Handle::new(Promise::shared(status, resolved)))
    }

    #[inline]
    fn shared(status: Status<H>, resolved: bool) -> Shared<H> {
        Shared {
            host_tag: AtomicUsize::new(0),
            inner: Lock::new(Inner {
                status,
                handled: false,
                tracking: Tracking::None,
                generation: 0,
                resolved,
            }),
        }
    }

    #[inline]
    fn lock(&self) -> LockGuard<'_, Inner<H>> {
        self.0.inner.lock()
    }

    /// Sets the "already resolved" flag of the pair `generation`; false if it was set already.
    fn claim(&self, generation: u32) -> bool {
        let mut inner = self.lock();
        if inner.generation == generation && !inner.resolved {
            inner.resolved = true;
            true
        } else {
            false
        }
    }

    /// The first pair of resolving functions, which only the creator of the promise has.
    fn first_resolvers(&self) -> ResolvingFunctions<H> {
        ResolvingFunctions {
            promise: self.clone(),
            generation: 0,
        }
    }

    /// A fresh pair for a PromiseResolveThenableJob (the previous pair was used to lock the
    /// promise in to the thenable, so at most one pair is ever unused).
    fn new_resolvers(&self) -> ResolvingFunctions<H> {
        let generation = {
            let mut inner = self.lock();
            inner.generation = inner.generation.wrapping_add(1);
            inner.resolved = false;
            inner.generation
        };
        ResolvingFunctions {
            promise: self.clone(),
            generation,
        }
    }

    /// A pending promise and its resolving functions: `new Promise(executor)` (the host runs
    /// the executor with them and rejects if it throws) or `Promise.withResolvers()`.
    pub fn with_resolvers() -> (Promise<H>, ResolvingFunctions<H>) {
        let promise = Promise::new_pending();
        let resolvers = promise.first_resolvers();
        (promise, resolvers)
    }

    /// `Promise.resolve(value)`: `value` itself if it is a promise of this core, else a new
    /// promise resolved with `value` (adopting it if it is a thenable).
    pub fn resolve(lp: &Loop<H>, value: H::Value) -> Result<Promise<H>, Error> {
        lp.check_open()?;
        Ok(promise_resolve(lp, value))
    }

    /// `Promise.reject(reason)`: a new promise rejected with `reason` (reported at the end of
    /// the drain unless something subscribes to it first).
    pub fn reject(lp: &Loop<H>, reason: H::Value) -> Result<Promise<H>, Error> {
        lp.check_open()?;
        let promise = Promise::new_pending();
        promise.first_resolvers().reject(lp, reason);
        Ok(promise)
    }

    /// `promise.then(on_fulfilled, on_rejected)`: the returned promise is resolved with what
    /// the handler returns, or rejected with what it throws; a missing handler passes the value
    /// or reason through. On a closed loop both handlers are handed back in a [`Refused`], as
    /// by every method here that takes one.
    #[inline(always)]
    pub fn then(
        &self,
        lp: &Loop<H>,
        on_fulfilled: Option<H::Handler>,
        on_rejected: Option<H::Handler>,
    ) -> Result<Promise<H>, Refused<OptionalHandlers<H>>> {
        let (on_fulfilled, on_rejected) = open_or_refuse(lp, (on_fulfilled, on_rejected))?;
        let (derived, returned) = Promise::new_pending_pair();
        self.perform_then(
            lp,
            Reaction::Then {
                on_fulfilled,
                on_rejected,
                derived: Some(derived),
            },
        );
        Ok(returned)
    }

    /// `promise.catch(on_rejected)`, which is `then(None, on_rejected)`.
    pub fn catch(
        &self,
        lp: &Loop<H>,
        on_rejected: Option<H::Handler>,
    ) -> Result<Promise<H>, Refused<Option<H::Handler>>> {
        self.then(lp, None, on_rejected).map_err(|refused| Refused {
            error: refused.error,
            callback: refused.callback.1,
        })
    }

    /// `promise.finally(on_finally)`: `on_finally()` runs when the promise settles; the returned
    /// promise then settles as this one did, unless `on_finally` throws or returns a promise
    /// that rejects. It waits for a promise `on_finally` returns, and costs 2 more microtasks
    /// than `then` (it resolves with `PromiseResolve(result).then(..)`). `None` is `then()`.
    pub fn finally(
        &self,
        lp: &Loop<H>,
        on_finally: Option<H::Handler>,
    ) -> Result<Promise<H>, Refused<Option<H::Handler>>> {
        let Some(on_finally) = on_finally else {
            return self.then(lp, None, None).map_err(|refused| Refused {
                error: refused.error,
                callback: None,
            });
        };
        let on_finally = open_or_refuse(lp, Some(on_finally))?.expect("given");
        let (derived, returned) = Promise::new_pending_pair();
        self.perform_then(
            lp,
            Reaction::Finally {
                on_finally,
                derived,
            },
        );
        Ok(returned)
    }

    /// PerformPromiseThen without a derived promise: calls one of the handlers when the promise
    /// settles, one microtask later at the earliest. A handler that fails has nothing to reject:
    /// [`PromiseJob::run`] returns its error as uncaught. This is what `await` does.
    pub fn subscribe(
        &self,
        lp: &Loop<H>,
        on_fulfilled: H::Handler,
        on_rejected: H::Handler,
    ) -> Result<(), Refused<Handlers<H>>> {
        let (on_fulfilled, on_rejected) = open_or_refuse(lp, (on_fulfilled, on_rejected))?;
        self.perform_then(
            lp,
            Reaction::Then {
                on_fulfilled: Some(on_fulfilled),
                on_rejected: Some(on_rejected),
                derived: None,
            },
        );
        Ok(())
    }

    /// `await value` (ECMA-262 Await): `Promise.resolve(value)` then
    /// [`subscribe`](Self::subscribe). A fulfilled promise or a plain value resumes after 1
    /// microtask, a thenable after 2.
    pub fn await_value(
        lp: &Loop<H>,
        value: H::Value,
        on_fulfilled: H::Handler,
        on_rejected: H::Handler,
    ) -> Result<(), Refused<Handlers<H>>> {
        let (on_fulfilled, on_rejected) = open_or_refuse(lp, (on_fulfilled, on_rejected))?;
        promise_resolve(lp, value).subscribe(lp, on_fulfilled, on_rejected)
    }

    /// PerformPromiseThen: adds the reaction, or queues its job if the promise is settled; marks
    /// the promise handled.
    #[inline(always)]
    fn perform_then(&self, lp: &Loop<H>, reaction: Reaction<H>) {
        let mut inner = self.lock();
        let was_handled = std::mem::replace(&mut inner.handled, true);
        let outcome = match &mut inner.status {
            Status::Pending(reactions) => {
                reactions.push(reaction);
                return;
            }
            Status::Fulfilled(value) => Settled::Fulfilled(value.clone()),
            Status::Rejected(reason) => Settled::Rejected(reason.clone()),
        };
        // HostPromiseRejectionTracker(promise, "handle").
        let handled_late = !was_handled && inner.tracking == Tracking::Reported;
        inner.tracking = Tracking::None;
        drop(inner);
        if handled_late {
            rejections::handled_late(lp, self.clone());
        }
        enqueue(lp, Job::Reaction { reaction, outcome });
    }

    /// Settles `self` with `outcome` and queues its reactions; an unhandled rejection goes to
    /// the rejection tracker (HostPromiseRejectionTracker(promise, "reject")). Does nothing if
    /// it was settled already (which the resolving functions rule out), or, with `claim`, if
    /// that pair of resolving functions was used already (the pair's "already resolved" check
    /// and the settling then take one lock).
    fn settle_and_trigger(&self, lp: &Loop<H>, outcome: Settled<H::Value>, claim: Option<u32>) {
        let mut inner = self.lock();
        let unclaimed = claim.is_some_and(|generation| {
            inner.generation != generation || std::mem::replace(&mut inner.resolved, true)
        });
        if unclaimed || !matches!(inner.status, Status::Pending(_)) {
            drop(inner);
            drop(outcome);
            return;
        }
        let unhandled = !outcome.is_fulfilled() && !inner.handled;
        if unhandled {
            inner.tracking = Tracking::Waiting;
        }
        let status = match outcome {
            Settled::Fulfilled(value) => Status::Fulfilled(value),
            Settled::Rejected(reason) => Status::Rejected(reason),
        };
        let Status::Pending(reactions) = std::mem::replace(&mut inner.status, status) else {
            unreachable!("checked pending above")
        };
        // A value's clone is a reference count (no host code), so it is taken under the lock,
        // and only when something waits for it.
        let copy = match (&reactions, &inner.status) {
            (Reactions::None, _) => None,
            (_, Status::Fulfilled(value)) => Some(Settled::Fulfilled(value.clone())),
            (_, Status::Rejected(reason)) => Some(Settled::Rejected(reason.clone())),
            (_, Status::Pending(_)) => unreachable!("settled above"),
        };
        drop(inner);
        if unhandled {
            rejections::rejected_unhandled(lp, self.clone());
        }
        if let Some(copy) = copy {
            trigger(lp, reactions, copy);
        }
    }

    fn fulfill_now(&self, lp: &Loop<H>, value: H::Value) {
        self.settle_and_trigger(lp, Settled::Fulfilled(value), None);
    }

    /// RejectPromise, plus HostPromiseRejectionTracker(promise, "reject") if unhandled.
    fn reject_now(&self, lp: &Loop<H>, reason: H::Value) {
        self.settle_and_trigger(lp, Settled::Rejected(reason), None);
    }

    /// The job of a reaction with a derived promise: resolve it with the handler's result or
    /// reject it with what the handler threw.
    fn settle_derived(&self, lp: &Loop<H>, result: Result<H::Value, H::Value>) {
        match result {
            Ok(value) => resolve_with(lp, self, 0, value),
            Err(reason) => self.settle_and_trigger(lp, Settled::Rejected(reason), Some(0)),
        }
    }

    /// A word the host keeps on the promise, `0` until [`set_host_tag`](Self::set_host_tag)
    /// (the Python binding keeps the address of the promise's Python object there, so that the
    /// same object comes back wherever the core hands the promise to Python).
    #[inline]
    pub fn host_tag(&self) -> usize {
        self.0.host_tag.load(Ordering::Acquire)
    }

    /// Sets [`host_tag`](Self::host_tag). Never called by the core; an atomic store, not the
    /// promise's lock (a host destructor may call it at any time).
    #[inline]
    pub fn set_host_tag(&self, tag: usize) {
        self.0.host_tag.store(tag, Ordering::Release);
    }

    /// Its state.
    pub fn state(&self) -> PromiseState {
        match self.lock().status {
            Status::Pending(_) => PromiseState::Pending,
            Status::Fulfilled(_) => PromiseState::Fulfilled,
            Status::Rejected(_) => PromiseState::Rejected,
        }
    }

    /// Its value or reason, once settled (a clone). Reading it does not handle a rejection.
    pub fn settled(&self) -> Option<Settled<H::Value>> {
        match &self.lock().status {
            Status::Pending(_) => None,
            Status::Fulfilled(value) => Some(Settled::Fulfilled(value.clone())),
            Status::Rejected(reason) => Some(Settled::Rejected(reason.clone())),
        }
    }

    /// `[[PromiseIsHandled]]`: whether anything subscribed to it (rule 7.3).
    pub fn is_handled(&self) -> bool {
        self.lock().handled
    }

    /// How many handles to this promise exist (its own reactions and jobs included); for
    /// host garbage collectors and leak tests.
    pub fn handle_count(&self) -> usize {
        Handle::count(&self.0)
    }

    /// Calls `f` with every host value and handler the promise holds itself: its value or
    /// reason, or the handlers of its reactions (not what the promises those reactions settle
    /// hold). A host garbage collector can traverse with it.
    pub fn visit(&self, f: &mut dyn FnMut(HostRef<'_, H>)) {
        match &self.lock().status {
            Status::Pending(reactions) => reactions.visit(f),
            Status::Fulfilled(value) | Status::Rejected(value) => f(HostRef::Value(value)),
        }
    }

    /// Drops its reactions if it is pending (a host garbage collector breaking a cycle through
    /// a handler; `tp_clear`). The promise stays pending and nothing it would have settled
    /// ever settles.
    pub fn clear_reactions(&self) {
        let reactions = match &mut self.lock().status {
            Status::Pending(reactions) => std::mem::replace(reactions, Reactions::None),
            _ => Reactions::None,
        };
        drop(reactions);
    }
}

/// TriggerPromiseReactions: one job per reaction, in the order they were added.
fn trigger<H: PromiseHost>(lp: &Loop<H>, reactions: Reactions<H>, outcome: Settled<H::Value>) {
    match reactions {
        Reactions::None => {}
        Reactions::One(reaction) => enqueue(lp, Job::Reaction { reaction, outcome }),
        Reactions::Many(all) => all.into_iter().for_each(|reaction| {
            enqueue(
                lp,
                Job::Reaction {
                    reaction,
                    outcome: outcome.clone(),
                },
            )
        }),
    }
}

impl<H: PromiseHost> Clone for Promise<H> {
    fn clone(&self) -> Self {
        Promise(self.0.clone())
    }
}

impl<H: PromiseHost> PartialEq for Promise<H> {
    fn eq(&self, other: &Self) -> bool {
        Handle::ptr_eq(&self.0, &other.0)
    }
}

impl<H: PromiseHost> Eq for Promise<H> {}

impl<H: PromiseHost> Hash for Promise<H> {
    fn hash<S: Hasher>(&self, state: &mut S) {
        std::ptr::hash(Handle::as_ptr(&self.0), state)
    }
}

impl<H: PromiseHost> fmt::Debug for Promise<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Promise {{ <{}> }}", self.state().name())
    }
}
