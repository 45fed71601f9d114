//! Name resolution as pool jobs (libuv's `uv_getaddrinfo` / `uv_getnameinfo`, Node's
//! `dns.lookup` / `dns.lookupService`): the system resolver blocks, so it runs on the pool,
//! and its completion comes back in the poll phase like any job's.
//!
//! [`lookup`] and [`lookup_service`] are jobs for [`crate::Loop::queue_work`]; their output
//! is a `Vec<LookupAddress>` or a `(host, service)` pair of `String`s, their error a
//! [`LookupError`] carrying the `getaddrinfo` code.

use std::ffi::{CStr, CString};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use socket2::SockAddr;

use crate::pool::Job;
use crate::work_outcome::JobOutput;

/// One address a lookup found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LookupAddress {
    /// 4 or 6.
    pub family: u8,
    /// The address.
    pub address: IpAddr,
}

/// Which families a lookup asks for (Node's `family` option: 0, 4 or 6).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum LookupFamily {
    /// Either (`AF_UNSPEC`).
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl LookupFamily {
    /// 0, 4 or 6, as Node takes it.
    pub fn from_number(family: u32) -> Option<LookupFamily> {
        match family {
            0 => Some(LookupFamily::Any),
            4 => Some(LookupFamily::V4),
            6 => Some(LookupFamily::V6),
            _ => None,
        }
    }

    fn af(self) -> libc::c_int {
        match self {
            LookupFamily::Any => libc::AF_UNSPEC,
            LookupFamily::V4 => libc::AF_INET,
            LookupFamily::V6 => libc::AF_INET6,
        }
    }
}

/// A failed lookup: the resolver's code (`EAI_NONAME`, `EAI_AGAIN`, ...), its message, and
/// for `EAI_SYSTEM` the errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    /// The `getaddrinfo` / `getnameinfo` return code (negative on Linux).
    pub code: i32,
    /// `gai_strerror(code)`, or the OS error's text for `EAI_SYSTEM`.
    pub message: String,
    /// The errno behind an `EAI_SYSTEM` failure.
    pub errno: Option<i32>,
    /// Node's name for the code: `"ENOTFOUND"`, `"EAI_AGAIN"`, ...
    pub name: &'static str,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.name)
    }
}

impl std::error::Error for LookupError {}

/// Node's name for a resolver code (its `dns` module's error codes).
fn code_name(code: i32) -> &'static str {
    match code {
        libc::EAI_NONAME | libc::EAI_NODATA => "ENOTFOUND",
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_MEMORY => "EAI_MEMORY",
        libc::EAI_SERVICE => "EAI_SERVICE",
        libc::EAI_SOCKTYPE => "EAI_SOCKTYPE",
        libc::EAI_BADFLAGS => "EAI_BADFLAGS",
        libc::EAI_OVERFLOW => "EAI_OVERFLOW",
        libc::EAI_SYSTEM => "EAI_SYSTEM",
        _ => "EAI_UNKNOWN",
    }
}

fn lookup_error(code: i32) -> LookupError {
    if code == libc::EAI_SYSTEM {
        let err = std::io::Error::last_os_error();
        return LookupError {
            code,
            message: err.to_string(),
            errno: err.raw_os_error(),
            name: code_name(code),
        };
    }
    // SAFETY: gai_strerror returns a static NUL-terminated string for any code.
    let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
        .to_string_lossy()
        .into_owned();
    LookupError {
        code,
        message,
        errno: None,
        name: code_name(code),
    }
}

/// `getaddrinfo(host)`, as `dns.lookup(host, {all: true, family})`: every address, in the
/// resolver's order, without duplicates. Blocks: run it on the pool ([`lookup`]).
pub fn getaddrinfo(host: &str, family: LookupFamily) -> Result<Vec<LookupAddress>, LookupError> {
    let Ok(c_host) = CString::new(host) else {
        return Err(lookup_error(libc::EAI_NONAME));
    };
    // SAFETY: a zeroed addrinfo is a valid hints value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family.af();
    // One entry per address (not one per socket type), as Node asks.
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated host, valid hints, res receives a list we free below.
    let code = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if code != 0 {
        return Err(lookup_error(code));
    }
    let mut out: Vec<LookupAddress> = Vec::new();
    let mut node = res;
    while !node.is_null() {
        // SAFETY: node is an element of the list getaddrinfo returned.
        let info = unsafe { &*node };
        let len = info.ai_addrlen;
        if !info.ai_addr.is_null() {
            // SAFETY: ai_addr points at ai_addrlen bytes of socket address.
            let addr = unsafe {
                SockAddr::try_init(|storage, storage_len| {
                    std::ptr::copy_nonoverlapping(
                        info.ai_addr.cast::<u8>(),
                        storage.cast::<u8>(),
                        len as usize,
                    );
                    *storage_len = len;
                    Ok(())
                })
            };
            if let Ok(((), addr)) = addr {
                if let Some(sa) = addr.as_socket() {
                    let found = LookupAddress {
                        family: if sa.is_ipv4() { 4 } else { 6 },
                        address: sa.ip(),
                    };
                    if !out.contains(&found) {
                        out.push(found);
                    }
                }
            }
        }
        node = info.ai_next;
    }
    // SAFETY: res came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// `getnameinfo(addr)`, as `dns.lookupService(address, port)`: the host name and service
/// name. Blocks: run it on the pool ([`lookup_service`]).
pub fn getnameinfo(addr: SocketAddr) -> Result<(String, String), LookupError> {
    let addr = SockAddr::from(addr);
    let mut host = [0 as libc::c_char; 1025];
    let mut service = [0 as libc::c_char; 32];
    // SAFETY: addr is a valid socket address of its length; the buffers are as long as given.
    let code = unsafe {
        libc::getnameinfo(
            addr.as_ptr(),
            addr.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            service.as_mut_ptr(),
            service.len() as libc::socklen_t,
            libc::NI_NAMEREQD,
        )
    };
    if code != 0 {
        return Err(lookup_error(code));
    }
    let text = |buf: &[libc::c_char]| {
        // SAFETY: getnameinfo wrote NUL-terminated strings into both buffers.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((text(&host), text(&service)))
}

/// A pool job resolving `host` ([`getaddrinfo`]); its output is a `Vec<LookupAddress>`.
pub fn lookup(host: String, family: LookupFamily) -> Job {
    Box::new(move || {
        getaddrinfo(&host, family)
            .map(|addrs| Box::new(addrs) as JobOutput)
            .map_err(Into::into)
    })
}

/// A pool job naming `addr` ([`getnameinfo`]); its output is a `(String, String)`.
pub fn lookup_service(addr: SocketAddr) -> Job {
    Box::new(move || {
        getnameinfo(addr)
            .map(|names| Box::new(names) as JobOutput)
            .map_err(Into::into)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_to_loopback_and_a_literal_to_itself() {
        let found = getaddrinfo("localhost", LookupFamily::V4).unwrap();
        assert!(found.iter().all(|a| a.family == 4));
        assert!(found.iter().any(|a| a.address.is_loopback()));
        let literal = getaddrinfo("10.1.2.3", LookupFamily::Any).unwrap();
        assert_eq!(
            literal,
            [LookupAddress {
                family: 4,
                address: "10.1.2.3".parse().unwrap()
            }]
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_enotfound_with_its_code() {
        let err = getaddrinfo("no-such-host.invalid", LookupFamily::Any).unwrap_err();
        assert!(
            [
                libc::EAI_NONAME,
                libc::EAI_AGAIN,
                libc::EAI_NODATA,
                libc::EAI_FAIL
            ]
            .contains(&err.code),
            "{err:?}"
        );
        assert!(!err.message.is_empty());
        let nul = getaddrinfo("a\0b", LookupFamily::Any).unwrap_err();
        assert_eq!(nul.name, "ENOTFOUND");
    }

    #[test]
    fn families_filter_and_parse() {
        assert_eq!(LookupFamily::from_number(6), Some(LookupFamily::V6));
        assert_eq!(LookupFamily::from_number(5), None);
        let v4 = getaddrinfo("127.0.0.1", LookupFamily::V6);
        assert!(v4.is_err() || v4.unwrap().iter().all(|a| a.family == 6));
    }
}
