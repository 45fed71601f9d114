//! # phaseloop-py
//!
//! The `phaseloop` Python module: the Node.js event loop of `phaseloop-core`, with Python
//! callables as callbacks. Built by maturin from `py/pyproject.toml` as `phaseloop._phaseloop`;
//! the package in `py/python/phaseloop/` re-exports it and ships the type stubs.
//!
//! One concept per file: the `Loop` class and its lifecycle (`event_loop`), scheduling
//! (`scheduling`), work and native jobs (`work`, `jobs`), monitoring (`monitor`), handles
//! (`handles`), the callback the core stores (`callback`), the per-loop Python state (`host`),
//! the contexts callbacks run in (`context`), thread ownership (`owner`), signals (`signals`), arguments (`args`), exceptions (`errors`),
//! promises (`promise`: the class and the loop's promise methods; `promise_host`: how the core's
//! promises hold Python values; `resolvers`: resolve/reject functions) and coroutines
//! (`coroutine`: `Loop.start` and `await`).

mod args;
mod asyncio_ready;
mod asyncio_timer;
mod callback;
mod context;
mod coroutine;
mod dns;
mod errors;
mod event_loop;
mod exit;
mod gc_hidden;
mod gil_session;
mod handles;
mod host;
mod jobs;
mod monitor;
mod net_events;
mod owner;
mod process;
mod promise;
mod promise_host;
mod resolvers;
mod scheduling;
mod sender_cache;
mod signals;
mod stream_dispatch;
mod streams;
mod transport_write;
mod udp;
mod udp_dispatch;
mod work;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

pub use callback::PyCallback;

#[pymodule]
fn _phaseloop(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<event_loop::Loop>()?;
    m.add_class::<handles::Timer>()?;
    m.add_class::<handles::Immediate>()?;
    m.add_class::<handles::Handle>()?;
    m.add_class::<handles::Watcher>()?;
    m.add_class::<handles::Work>()?;
    m.add_class::<monitor::DelayMonitor>()?;
    m.add_class::<jobs::NativeJob>()?;
    m.add_class::<promise::Promise>()?;
    m.add_class::<stream_dispatch::DataDispatch>()?;
    m.add_class::<transport_write::TransportWrite>()?;
    m.add_class::<udp_dispatch::MessageDispatch>()?;
    m.add(
        "_AsyncioHandle",
        py.get_type::<asyncio_ready::ReadyHandle>(),
    )?;
    m.add(
        "_AsyncioReadyQueue",
        py.get_type::<asyncio_ready::ReadyQueue>(),
    )?;
    m.add(
        "_AsyncioTimerHandle",
        py.get_type::<asyncio_timer::TimerHandle>(),
    )?;
    m.add(
        "_AsyncioTimerQueue",
        py.get_type::<asyncio_timer::TimerQueue>(),
    )?;
    m.add("TraceEvent", monitor::trace_event_type(py)?)?;
    // The phases in the order they run, named by the core (`phaseloop.timeline.PHASES`).
    m.add("PHASES", PyTuple::new(py, phaseloop_core::Phase::NAMES)?)?;
    // The clocks and drain modes a loop takes, named by the core (`phaseloop.experiment`).
    m.add(
        "CLOCKS",
        PyTuple::new(py, phaseloop_core::ClockKind::NAMES)?,
    )?;
    m.add(
        "DRAIN_MODES",
        PyTuple::new(py, phaseloop_core::DrainMode::NAMES)?,
    )?;
    m.add("Error", py.get_type::<errors::Error>())?;
    m.add("LoopClosed", py.get_type::<errors::LoopClosed>())?;
    m.add("Cancelled", py.get_type::<errors::Cancelled>())?;
    m.add("AggregateError", py.get_type::<errors::AggregateError>())?;
    m.add(
        "UnhandledRejection",
        py.get_type::<errors::UnhandledRejection>(),
    )?;
    m.add("Rejection", py.get_type::<errors::Rejection>())?;
    errors::declare_attributes(py)?;
    context::check_layout(py)?;
    exit::register(py)
}
