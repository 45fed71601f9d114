//! # phaseloop-core
//!
//! The Node.js event loop as a library: the six phases (timers, pending, idle/prepare, poll,
//! check, close), the `process.nextTick` and microtask queues drained after every callback
//! exactly as Node drains them, Node's own timer-list ordering, a worker pool whose completions
//! come back in the poll phase, fd and signal watchers, thread-safe calls, a virtual clock for
//! repeatable experiments, and a trace of which phase ran what.
//!
//! The loop is generic over the host's callback type ([`Callback`]); Rust programs use
//! [`Task`]. The C ABI (`phaseloop-ffi`) and the Python module (`phaseloop-py`) are thin layers
//! over this crate. The ordering rules are documented in `docs/ordering.md`. A call that takes a
//! callback and fails hands it back in a [`Refused`].
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use phaseloop_core::{ClockKind, Loop, LoopOptions, RunMode, Task};
//!
//! let lp = Loop::<Task>::new(LoopOptions { clock: ClockKind::Virtual, ..Default::default() }).unwrap();
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let (a, b) = (log.clone(), log.clone());
//! lp.set_timeout(0.0, Task::new(move |_, _| { a.lock().unwrap().push("timeout"); Ok(()) })).unwrap();
//! lp.set_immediate(Task::new(move |_, _| { b.lock().unwrap().push("immediate"); Ok(()) })).unwrap();
//! lp.run(RunMode::Default).unwrap();
//! // On the virtual clock no millisecond passes before the first timers phase (rule 4.8).
//! assert_eq!(*log.lock().unwrap(), ["immediate", "timeout"]);
//! ```

#![warn(missing_docs)]

mod callback;
mod clock;
mod error;
mod event_loop;
mod handles;
mod id;
mod immediate_slot;
mod immediates;
mod inbox;
pub mod jobs;
mod lifecycle;
mod metrics;
mod names;
pub mod net;
mod options;
mod poll;
mod poller;
mod pool;
pub mod process;
pub mod promise;
mod queues;
mod remote;
mod run;
mod timers;
mod trace;
mod work;
mod work_outcome;

pub use callback::{BoxError, Callback, Event, Task};
pub use clock::ClockKind;
pub use error::{Error, RunError};
pub use event_loop::{HandleInfo, Loop, Refused};
pub use handles::HandleKind;
pub use id::Id;
pub use immediate_slot::ImmediateSlot;
pub use metrics::{DelayStats, Metrics, Utilization};
pub use names::UnknownName;
pub use net::dns::{LookupAddress, LookupError, LookupFamily};
pub use net::{Datagram, ListenOptions, NetAddr, ReadEvent, StreamKind, SyncWrite, WriteBufs};
pub use options::{DrainMode, LoopOptions, RunMode, DEFAULT_THREADPOOL_SIZE, MAX_THREADPOOL_SIZE};
pub use poll::Interest;
pub use pool::{Job, RawJob};
pub use process::{ExitStatus, SpawnOptions, Spawned, Stdio};
pub use promise::{Promise, PromiseHost, PromiseJob, PromiseState, ResolvingFunctions, Settled};
pub use remote::Remote;
pub use timers::{coerce_delay, TIMEOUT_MAX};
pub use trace::{Kind, Phase, TraceEvent, TraceHook, TraceRecord};
pub use work_outcome::{panic_message, JobError, JobOutput, WorkOutcome};
