//! Name resolution as pool jobs (libuv's `uv_getaddrinfo` / `uv_getnameinfo`): the system
//! resolver blocks, so it runs on a pool thread, and its answer comes back to the loop thread in
//! the poll phase like any job's; the request's id can be cancelled with pl_cancel_work.
//!
//! Errors (decided here, documented in the header): the callback's `status` is a PL_E* code
//! (PL_EAI_NONAME, PL_EAI_AGAIN, PL_EAI_FAIL, PL_ENOMEM, or for `EAI_SYSTEM` the negated errno)
//! and its `gai_code` is the resolver's own return value (`EAI_NONAME`, ... as `<netdb.h>`
//! defines them; 0 when the failure was not the resolver's, such as PL_ECANCELED), so a program
//! can branch on the library's names and still print `gai_strerror(gai_code)`.

use std::ffi::CString;
use std::net::SocketAddr;
use std::os::raw::{c_char, c_int, c_void};

use phaseloop_core::net::dns;
use phaseloop_core::{LookupAddress, LookupError, LookupFamily, WorkOutcome};

use crate::addr::read_sockaddr;
use crate::callback::{pl_drop_fn, AddrInfoFn, CCallback, NameInfoFn};
use crate::event_loop::{pl_id, pl_loop};
use crate::net::text;
use crate::status::{
    io_status, PL_EAI_AGAIN, PL_EAI_FAIL, PL_EAI_NONAME, PL_ECANCELED, PL_EINVAL, PL_EIO,
    PL_ENOMEM, PL_EPANIC,
};
use crate::work::submit;

/// One address pl_getaddrinfo found. Owned by the library, valid only during the callback.
#[repr(C)]
pub struct pl_addrinfo {
    /// 4 (IPv4) or 6 (IPv6).
    pub family: c_int,
    /// The address as NUL-terminated text: "127.0.0.1", "::1".
    pub ip: *const c_char,
    /// The address as a `struct sockaddr_in` or `sockaddr_in6` of `addrlen` bytes, port 0:
    /// ready for pl_udp_send or `connect(2)` once its port is set.
    pub addr: *const c_void,
    /// The size of `*addr`.
    pub addrlen: c_int,
}

/// pl_getaddrinfo's callback, run once on the loop thread in the poll phase: `status` 0 and
/// `count` >= 1 addresses at `addrs`, in the resolver's order without duplicates; or `status`
/// negative (PL_EAI_NONAME, PL_EAI_AGAIN, PL_EAI_FAIL, PL_ENOMEM, a negated errno for the
/// resolver's `EAI_SYSTEM`, PL_ECANCELED after pl_cancel_work), `addrs` NULL and `count` 0.
/// `gai_code` is the value getaddrinfo returned (`EAI_NONAME`, ... from `<netdb.h>`, for
/// `gai_strerror`), or 0 when the failure was not the resolver's. The array and every string
/// and address in it are the library's and valid only until the callback returns: copy what
/// you keep.
pub type pl_getaddrinfo_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        data: *mut c_void,
        status: c_int,
        gai_code: c_int,
        addrs: *const pl_addrinfo,
        count: usize,
    ),
>;

/// pl_getnameinfo's callback, run once on the loop thread in the poll phase: `status` 0 with
/// the host's name and the port's service name (NUL-terminated, the library's, valid only
/// during the callback), or negative as for pl_getaddrinfo_fn with `host` and `service` NULL.
pub type pl_getnameinfo_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        data: *mut c_void,
        status: c_int,
        gai_code: c_int,
        host: *const c_char,
        service: *const c_char,
    ),
>;

/// The PL_E* status of a resolver failure.
fn lookup_status(err: &LookupError) -> c_int {
    match err.code {
        libc::EAI_NONAME | libc::EAI_NODATA => PL_EAI_NONAME,
        libc::EAI_AGAIN => PL_EAI_AGAIN,
        libc::EAI_MEMORY => PL_ENOMEM,
        libc::EAI_SYSTEM => err.errno.map_or(PL_EIO, |errno| -errno),
        _ => PL_EAI_FAIL,
    }
}

/// The `(status, gai_code)` of a job that did not succeed.
fn failure(outcome: &WorkOutcome) -> (c_int, c_int) {
    match outcome {
        WorkOutcome::Failed(err) => match err.downcast_ref::<LookupError>() {
            Some(err) => (lookup_status(err), err.code),
            None => match err.downcast_ref::<std::io::Error>() {
                Some(err) => (io_status(err), 0),
                None => (PL_EIO, 0),
            },
        },
        WorkOutcome::Cancelled => (PL_ECANCELED, 0),
        WorkOutcome::Panicked(_) => (PL_EPANIC, 0),
        // A job whose output is not what the lookup returns would be a bug of this module.
        WorkOutcome::Done(_) => (PL_EIO, 0),
    }
}

/// Calls a pl_getaddrinfo callback with the job's outcome; the array and what it points to
/// live until the callback returns.
///
/// # Safety
/// `f` and `data` were given together by the caller; on the loop thread.
pub(crate) unsafe fn deliver_addrinfo(
    f: AddrInfoFn,
    lp: *mut pl_loop,
    data: *mut c_void,
    outcome: WorkOutcome,
) {
    let found = match &outcome {
        WorkOutcome::Done(value) => value.downcast_ref::<Vec<LookupAddress>>(),
        _ => None,
    };
    let Some(found) = found else {
        let (status, gai) = failure(&outcome);
        // SAFETY: the caller's function with its data.
        unsafe { f(lp, data, status, gai, std::ptr::null(), 0) };
        return;
    };
    // The storage first, then the array pointing into it: neither moves until the call ends.
    let texts: Vec<CString> = found
        .iter()
        .map(|a| CString::new(a.address.to_string()).unwrap_or_default())
        .collect();
    let sockaddrs: Vec<socket2::SockAddr> = found
        .iter()
        .map(|a| socket2::SockAddr::from(SocketAddr::new(a.address, 0)))
        .collect();
    let list: Vec<pl_addrinfo> = found
        .iter()
        .zip(texts.iter().zip(&sockaddrs))
        .map(|(a, (ip, sockaddr))| pl_addrinfo {
            family: c_int::from(a.family),
            ip: ip.as_ptr(),
            addr: sockaddr.as_ptr().cast(),
            addrlen: sockaddr.len() as c_int,
        })
        .collect();
    // SAFETY: the caller's function with its data; the array lives until it returns.
    unsafe { f(lp, data, 0, 0, list.as_ptr(), list.len()) };
}

/// Calls a pl_getnameinfo callback with the job's outcome.
///
/// # Safety
/// As [`deliver_addrinfo`].
pub(crate) unsafe fn deliver_nameinfo(
    f: NameInfoFn,
    lp: *mut pl_loop,
    data: *mut c_void,
    outcome: WorkOutcome,
) {
    let names = match &outcome {
        WorkOutcome::Done(value) => value.downcast_ref::<(String, String)>(),
        _ => None,
    };
    match names {
        Some((host, service)) => {
            let host = CString::new(host.as_str()).unwrap_or_default();
            let service = CString::new(service.as_str()).unwrap_or_default();
            // SAFETY: the caller's function; the strings live until it returns.
            unsafe { f(lp, data, 0, 0, host.as_ptr(), service.as_ptr()) }
        }
        None => {
            let (status, gai) = failure(&outcome);
            // SAFETY: as above.
            unsafe { f(lp, data, status, gai, std::ptr::null(), std::ptr::null()) }
        }
    }
}

/// `uv_getaddrinfo` / `dns.lookup(host, {all: true, family})`: resolves `host` (a name or an
/// address as text) on the pool, asking for `family` 0 (either), 4 or 6 (else PL_EINVAL).
/// `cb` (see pl_getaddrinfo_fn; not NULL) runs once in the poll phase; the request's id goes
/// to `*out` unless NULL, for pl_cancel_work (`cb` then gets PL_ECANCELED). `host` is copied
/// before this returns. `drop(data)` runs if `cb` never will (the loop freed first). Loop
/// thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_getaddrinfo(
    lp: *mut pl_loop,
    host: *const c_char,
    family: c_int,
    cb: pl_getaddrinfo_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    // The callback is checked before the job is made, so a NULL one refuses the whole call.
    let Ok(cb) = CCallback::addrinfo(cb, data, drop) else {
        return PL_EINVAL;
    };
    let mut cb = Some(cb);
    let status = submit(
        lp,
        out,
        || {
            // SAFETY: the caller's string (the header's contract).
            let host = unsafe { text(host) }?.to_owned();
            let family = u32::try_from(family)
                .ok()
                .and_then(LookupFamily::from_number)
                .ok_or(PL_EINVAL)?;
            Ok(dns::lookup(host, family))
        },
        || cb.take(),
    );
    // Refused before the callback was handed over: the caller keeps `data`.
    if let Some(cb) = cb {
        cb.disown();
    }
    status
}

/// `uv_getnameinfo` / `dns.lookupService(address, port)`: the host name and service name of
/// `addr` (a `struct sockaddr_in` or `sockaddr_in6`, copied before this returns; see
/// pl_ip_addr), found on the pool. `cb` (see pl_getnameinfo_fn; not NULL) runs once in the
/// poll phase; an address without a name is PL_EAI_NONAME. As pl_getaddrinfo otherwise.
#[no_mangle]
pub unsafe extern "C" fn pl_getnameinfo(
    lp: *mut pl_loop,
    addr: *const c_void,
    cb: pl_getnameinfo_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    let Ok(cb) = CCallback::nameinfo(cb, data, drop) else {
        return PL_EINVAL;
    };
    let mut cb = Some(cb);
    let status = submit(
        lp,
        out,
        || {
            // SAFETY: the caller's address (the header's contract).
            let addr = unsafe { read_sockaddr(addr) }?;
            Ok(dns::lookup_service(addr))
        },
        || cb.take(),
    );
    if let Some(cb) = cb {
        cb.disown();
    }
    status
}
