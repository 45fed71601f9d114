//! Socket addresses across the boundary: C passes and receives them as `struct sockaddr_in` /
//! `struct sockaddr_in6` behind a `const void *` (libuv's `const struct sockaddr *`; the header
//! includes no system header, so it names no `struct sockaddr`). `pl_ip_addr` builds one from
//! text, as `uv_ip4_addr` / `uv_ip6_addr` do.

use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::raw::{c_char, c_int, c_void};

use socket2::SockAddr;

use crate::guard::boundary;
use crate::status::{PL_EINVAL, PL_EPANIC, PL_OK};

/// Reads the caller's `sockaddr_in` / `sockaddr_in6` (its `sa_family` says which, as libuv
/// reads a `struct sockaddr *`). PL_EINVAL for NULL or another family.
///
/// # Safety
/// A non-NULL `addr` points to a whole `sockaddr_in` or `sockaddr_in6`.
pub(crate) unsafe fn read_sockaddr(addr: *const c_void) -> Result<SocketAddr, c_int> {
    if addr.is_null() {
        return Err(PL_EINVAL);
    }
    // SAFETY: every sockaddr starts with its family (Linux: `sa_family_t` at offset 0); the
    // caller's pointer may be unaligned, so it is read as such.
    let family = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sa_family_t>()) };
    let len = match c_int::from(family) {
        libc::AF_INET => size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => size_of::<libc::sockaddr_in6>(),
        _ => return Err(PL_EINVAL),
    };
    // SAFETY: the caller's address has `len` bytes for its family (the header's contract);
    // the storage socket2 hands out is larger than either.
    let copied = unsafe {
        SockAddr::try_init(|storage, storage_len| {
            std::ptr::copy_nonoverlapping(addr.cast::<u8>(), storage.cast::<u8>(), len);
            *storage_len = len as libc::socklen_t;
            Ok(())
        })
    };
    match copied {
        Ok(((), sockaddr)) => sockaddr.as_socket().ok_or(PL_EINVAL),
        Err(_) => Err(PL_EINVAL),
    }
}

/// Writes `sockaddr` into the caller's `out` of `*len` bytes; `*len` becomes its size.
/// PL_EINVAL when `out` or `len` is NULL or `*len` is too small.
///
/// # Safety
/// Non-NULL `out` has `*len` writable bytes; non-NULL `len` points to an int.
pub(crate) unsafe fn write_sockaddr(
    sockaddr: &SockAddr,
    out: *mut c_void,
    len: *mut c_int,
) -> c_int {
    if out.is_null() || len.is_null() {
        return PL_EINVAL;
    }
    // SAFETY: the caller's int and buffer of `*len` bytes (checked against the size first).
    unsafe {
        let room = (*len).max(0) as usize;
        let size = sockaddr.len() as usize;
        if room < size {
            return PL_EINVAL;
        }
        std::ptr::copy_nonoverlapping(sockaddr.as_ptr().cast::<u8>(), out.cast::<u8>(), size);
        len.write(size as c_int);
    }
    PL_OK
}

/// Builds a `struct sockaddr_in` (for an IPv4 `ip` such as "127.0.0.1") or `sockaddr_in6` (for
/// an IPv6 one such as "::1") with `port` into `out`, a buffer of `*len` bytes (a
/// `struct sockaddr_storage` always fits); `*len` becomes the address's size. PL_EINVAL for
/// NULL pointers, text that is not an IP address, or a buffer too small. The result is what
/// pl_udp_bind, pl_udp_send and pl_getnameinfo take (libuv's `uv_ip4_addr` / `uv_ip6_addr`).
/// Any thread; touches no loop.
#[no_mangle]
pub unsafe extern "C" fn pl_ip_addr(
    ip: *const c_char,
    port: u16,
    out: *mut c_void,
    len: *mut c_int,
) -> c_int {
    boundary(PL_EPANIC, || {
        // SAFETY: a NUL-terminated string when not NULL (the header's contract).
        let text = match unsafe { crate::net::text(ip) } {
            Ok(text) => text,
            Err(status) => return status,
        };
        let Ok(ip) = text.parse::<IpAddr>() else {
            return PL_EINVAL;
        };
        let sockaddr = SockAddr::from(SocketAddr::new(ip, port));
        // SAFETY: the caller's buffer and length, checked there.
        unsafe { write_sockaddr(&sockaddr, out, len) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_built_from_text_reads_back() {
        let mut storage = [0u8; 128];
        let mut len = storage.len() as c_int;
        let ip = std::ffi::CString::new("::1").unwrap();
        // SAFETY: a valid string and buffer.
        let status = unsafe { pl_ip_addr(ip.as_ptr(), 53, storage.as_mut_ptr().cast(), &mut len) };
        assert_eq!(status, PL_OK);
        assert_eq!(len as usize, size_of::<libc::sockaddr_in6>());
        // SAFETY: just written.
        let back = unsafe { read_sockaddr(storage.as_ptr().cast()) }.unwrap();
        assert_eq!(back, "[::1]:53".parse().unwrap());
        let mut small = 4;
        // SAFETY: as above, with a length that is too small.
        let status = unsafe { pl_ip_addr(ip.as_ptr(), 1, storage.as_mut_ptr().cast(), &mut small) };
        assert_eq!(status, PL_EINVAL);
    }
}
