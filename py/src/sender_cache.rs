//! The `(host, port)` tuples of recent datagram senders, reused: building one formats the IP
//! address into a new `str` and a new tuple, about 1,900 instructions, which was the largest
//! single cost of delivering a datagram to Python (`callgrind`, a 64-byte round trip). A
//! program exchanges datagrams with few peers again and again, so the last few senders'
//! tuples (immutable Python objects, safe to hand out twice) are kept.
//!
//! The cache is a static: it is only touched with the GIL held, holds at most
//! [`CAPACITY`] tuples, and is never dropped (a static is not), so no reference is released
//! without the GIL.

use std::net::SocketAddr;
use std::sync::Mutex;

use pyo3::prelude::*;

use phaseloop_core::NetAddr;

/// How many senders are remembered; the oldest entry is replaced first.
const CAPACITY: usize = 16;

struct Cache {
    entries: Vec<(SocketAddr, Py<PyAny>)>,
    /// The entry replaced next once the cache is full.
    next: usize,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    entries: Vec::new(),
    next: 0,
});

/// The Python address of a datagram's sender, `(host, port)` (IPv6: with `flowinfo` and
/// `scope_id`), as `streams::address` builds it, from the cache when it is there.
pub(crate) fn sender(py: Python<'_>, from: SocketAddr) -> PyResult<Py<PyAny>> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, tuple)) = cache.entries.iter().find(|(addr, _)| *addr == from) {
        return Ok(tuple.clone_ref(py));
    }
    let tuple = crate::streams::address(py, NetAddr::Inet(from))?;
    let entry = (from, tuple.clone_ref(py));
    if cache.entries.len() < CAPACITY {
        cache.entries.push(entry);
    } else {
        let slot = cache.next;
        // The replaced tuple is released here, with the GIL held.
        cache.entries[slot] = entry;
        cache.next = (slot + 1) % CAPACITY;
    }
    Ok(tuple)
}
