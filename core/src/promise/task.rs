//! Promises for Rust programs: [`Task`] as a [`PromiseHost`], with any `Send + Sync` Rust value
//! as the promise value ([`AnyValue`]) and boxed closures as handlers ([`TaskHandler`]).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use phaseloop_core::promise::{AnyValue, TaskHandler};
//! use phaseloop_core::{Loop, LoopOptions, Promise, RunMode, Task};
//!
//! let lp = Loop::<Task>::new(LoopOptions::default()).unwrap();
//! let seen = Arc::new(Mutex::new(None));
//! let s = seen.clone();
//! Promise::resolve(&lp, AnyValue::new(20))
//!     .unwrap()
//!     .then(&lp, Some(TaskHandler::new(|_, v| Ok(AnyValue::new(v.get::<i32>().unwrap() + 1)))), None)
//!     .unwrap()
//!     .then(&lp, Some(TaskHandler::new(move |_, v| {
//!         *s.lock().unwrap() = v.get::<i32>().copied();
//!         Ok(v)
//!     })), None)
//!     .unwrap();
//! lp.run(RunMode::Default).unwrap();
//! assert_eq!(*seen.lock().unwrap(), Some(21));
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::{Promise, PromiseHost, PromiseJob, ResolvingFunctions, Settled};
use crate::callback::{BoxError, Task};
use crate::event_loop::Loop;

/// A promise value of the [`Task`] host: any `Send + Sync` Rust value, shared (cloning is an
/// `Arc` clone). A value holding a [`Promise<Task>`] is that promise; one holding a
/// [`Thenable`] is a thenable; anything else is a plain value.
#[derive(Clone)]
pub struct AnyValue(Arc<dyn Any + Send + Sync>);

impl AnyValue {
    /// Wraps `value`.
    pub fn new<T: Any + Send + Sync>(value: T) -> AnyValue {
        AnyValue(Arc::new(value))
    }

    /// `()`, JavaScript's `undefined` for this host.
    pub fn undefined() -> AnyValue {
        AnyValue::new(())
    }

    /// The value as a `T`, if it is one.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }

    /// Whether the value is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.0.is::<T>()
    }
}

impl From<Promise<Task>> for AnyValue {
    fn from(promise: Promise<Task>) -> AnyValue {
        AnyValue::new(promise)
    }
}

impl fmt::Debug for AnyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        macro_rules! try_show {
            ($($t:ty),*) => {$(
                if let Some(v) = self.get::<$t>() {
                    return fmt::Debug::fmt(v, f);
                }
            )*};
        }
        try_show!(
            String,
            &'static str,
            i32,
            i64,
            u32,
            u64,
            usize,
            f64,
            bool,
            (),
            Promise<Task>,
            Vec<AnyValue>,
            Settled<AnyValue>,
            Vec<Settled<AnyValue>>,
            AggregateError,
            TypeError
        );
        f.write_str("AnyValue(..)")
    }
}

/// A handler of a [`Task`] promise: called once with the value or reason, it returns
/// `Ok(value)` or throws with `Err(reason)`. A `finally` handler is called with
/// [`AnyValue::undefined`].
pub struct TaskHandler(Box<TaskHandlerFn>);

type TaskHandlerFn = dyn FnOnce(&Loop<Task>, AnyValue) -> Result<AnyValue, AnyValue> + Send;

impl TaskHandler {
    /// Wraps a closure.
    pub fn new(
        f: impl FnOnce(&Loop<Task>, AnyValue) -> Result<AnyValue, AnyValue> + Send + 'static,
    ) -> TaskHandler {
        TaskHandler(Box::new(f))
    }
}

type ThenFn = dyn Fn(&Loop<Task>, ResolvingFunctions<Task>) -> Result<(), AnyValue> + Send + Sync;

/// The `then` of a [`Thenable`]: called with the resolving functions of the promise adopting
/// it; `Err` is a throw.
#[derive(Clone)]
pub struct TaskThen(Arc<ThenFn>);

/// A foreign thenable for the [`Task`] host (an object with a `then` method that is not a
/// promise of this core), to put in an [`AnyValue`].
pub struct Thenable {
    then: Result<TaskThen, AnyValue>,
}

impl Thenable {
    /// A thenable whose `then(resolve, reject)` is `then`.
    pub fn new(
        then: impl Fn(&Loop<Task>, ResolvingFunctions<Task>) -> Result<(), AnyValue>
            + Send
            + Sync
            + 'static,
    ) -> Thenable {
        Thenable {
            then: Ok(TaskThen(Arc::new(then))),
        }
    }

    /// A value whose `then` getter throws `reason` (`{ get then() { throw reason } }`).
    pub fn throwing(reason: AnyValue) -> Thenable {
        Thenable { then: Err(reason) }
    }
}

/// The reason [`Promise::any`] rejects with when every input rejected.
#[derive(Clone, Debug)]
pub struct AggregateError {
    /// The reasons, in input order.
    pub errors: Vec<AnyValue>,
}

/// A `TypeError` raised by the promise machinery (a promise resolved with itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    /// V8's message.
    pub message: &'static str,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeError: {}", self.message)
    }
}

/// The error `run` stops with when a [`Task`] promise rejection is still unhandled at the end
/// of a drain and no [`Loop::on_unhandled_rejection`] hook is set (Node's default).
#[derive(Debug)]
pub struct UnhandledRejection {
    /// The rejection reason.
    pub reason: AnyValue,
    /// The promise.
    pub promise: Promise<Task>,
}

impl fmt::Display for UnhandledRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unhandled promise rejection: {:?}", self.reason)
    }
}

impl std::error::Error for UnhandledRejection {}

/// The error `run` stops with when a handler given to [`Promise::subscribe`] or
/// [`Promise::await_value`] fails: there is no promise to reject, so it is uncaught.
#[derive(Debug)]
pub struct ThrownValue {
    /// What the handler threw.
    pub value: AnyValue,
}

impl fmt::Display for ThrownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uncaught exception: {:?}", self.value)
    }
}

impl std::error::Error for ThrownValue {}

impl PromiseHost for Task {
    type Value = AnyValue;
    type Handler = TaskHandler;
    type Then = TaskThen;

    fn promise_job(job: PromiseJob<Task>) -> Task {
        let mut job = Some(job);
        let label = job.as_ref().map_or("", |job| job.kind().label());
        Task::labeled(label, move |lp, _| match job.take() {
            Some(job) => job
                .run(lp)
                .map_err(|value| Box::new(ThrownValue { value }) as BoxError),
            None => Ok(()),
        })
    }

    fn call_handler(
        lp: &Loop<Task>,
        handler: TaskHandler,
        argument: AnyValue,
    ) -> Result<AnyValue, AnyValue> {
        (handler.0)(lp, argument)
    }

    fn call_finally(lp: &Loop<Task>, on_finally: TaskHandler) -> Result<AnyValue, AnyValue> {
        (on_finally.0)(lp, AnyValue::undefined())
    }

    fn as_promise(value: &AnyValue) -> Option<Promise<Task>> {
        value.get::<Promise<Task>>().cloned()
    }

    fn get_then(_lp: &Loop<Task>, value: &AnyValue) -> Result<Option<TaskThen>, AnyValue> {
        match value.get::<Thenable>() {
            Some(thenable) => thenable.then.clone().map(Some),
            None => Ok(None),
        }
    }

    fn call_then(
        lp: &Loop<Task>,
        _thenable: AnyValue,
        then: TaskThen,
        resolvers: ResolvingFunctions<Task>,
    ) -> Result<(), AnyValue> {
        (then.0)(lp, resolvers)
    }

    fn list(_lp: &Loop<Task>, values: Vec<AnyValue>) -> AnyValue {
        AnyValue::new(values)
    }

    fn settled_list(_lp: &Loop<Task>, outcomes: Vec<Settled<AnyValue>>) -> AnyValue {
        AnyValue::new(outcomes)
    }

    fn aggregate_error(_lp: &Loop<Task>, errors: Vec<AnyValue>) -> AnyValue {
        AnyValue::new(AggregateError { errors })
    }

    fn type_error(_lp: &Loop<Task>, message: &'static str) -> AnyValue {
        AnyValue::new(TypeError { message })
    }

    fn unhandled_rejection(
        _lp: &Loop<Task>,
        promise: &Promise<Task>,
        reason: AnyValue,
    ) -> Result<(), BoxError> {
        Err(Box::new(UnhandledRejection {
            reason,
            promise: promise.clone(),
        }))
    }
}
