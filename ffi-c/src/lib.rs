//! # phaseloop-ffi
//!
//! The C ABI of phaseloop: `libphaseloop` (shared and static) and `include/phaseloop.h`, which
//! cbindgen generates from the doc comments in this crate (so the header is the reference).
//!
//! A thin layer over `phaseloop-core`: a C callback is a function pointer, a `void *data` and an
//! optional drop function ([`callback`]), the loop is the core loop boxed behind an opaque
//! pointer ([`event_loop`]), ids cross as `uint64_t`, errors as negative status codes
//! ([`status`]), and every exported function runs inside one panic guard ([`guard`]).
//!
//! One file per concept, as in the core: loop, timers, immediates, queues (ticks, microtasks,
//! pending), handles (idle/prepare/check), watchers (fd and signal), work, native jobs, remote
//! (the thread-safe way in), trace, metrics, status codes, version, the panic guard, the entry
//! check of every call on a loop ([`entry`]) and the reading of the sized options structs
//! ([`options`]).

// The C names (`pl_loop`, `pl_id`, ...) are the API; Rust naming rules do not apply to them.
#![allow(non_camel_case_types)]
// Every `extern "C"` function checks its pointers itself (NULL gives PL_EINVAL) and documents
// the rest of its contract in the header, which is where C programmers read it.
#![allow(clippy::missing_safety_doc)]

// The order of these modules is the order of the header (cbindgen follows it), so each group
// stands alone: rustfmt sorts only consecutive declarations.

// Status codes, the version and the panic guard: what every caller meets first.
pub mod status;

pub mod version;

pub mod guard;

// The entry check every function on a loop goes through (thread, poison, NULL, the guard), the
// calling thread's identity it compares, and the reading of the sized options structs C passes in.
mod entry;

mod thread;

mod options;

// The loop itself and the callback type everything else takes.
pub mod event_loop;

pub mod callback;

// Scheduling, one concept per module.
pub mod timers;

pub mod immediates;

pub mod queues;

pub mod handles;

pub mod watchers;

pub mod work;

pub mod jobs;

// Network I/O: streams, servers, and the handle calls every id shares; socket addresses, UDP,
// name resolution, and child processes (whose stdio pipes are streams).
pub mod net;

pub mod addr;

pub mod udp;

pub mod dns;

pub mod process;

// Other threads, and watching the loop work.
pub mod remote;

pub mod trace;

// The core's names as C strings.
mod names;

pub mod metrics;
