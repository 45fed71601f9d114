//! Status codes: how errors cross the C boundary, their names and messages, and the mapping
//! from the core's errors.
//!
//! Codes are negative, errno-style (libuv's habit). Those with an errno counterpart have Linux's
//! errno value, negated, on every platform; the library's own have values from -4001. An error
//! of the operating system that none of these names (a bad fd, too many open files) comes back
//! as its own negated errno, which `pl_strerror` also describes.

use std::ffi::CStr;
use std::io;
use std::os::raw::{c_char, c_int};
use std::sync::Mutex;

use phaseloop_core::Error;

/// Every status code the library returns besides negated OS errno values.
///
/// Functions return them as `int`: 0 for success, a negative code for failure. A few functions
/// return a non-negative value on success (a count, a boolean as 1 or 0); their comments say so.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum pl_status {
    /// Success.
    PL_OK = 0,
    /// No such object: a zero, stale (finished, cleared, closed) or foreign id, or a file that
    /// does not exist.
    PL_ENOENT = -2,
    /// An I/O error the operating system gave no errno for.
    PL_EIO = -5,
    /// Out of memory.
    PL_ENOMEM = -12,
    /// Not now: the loop is inside one of its own callbacks (`pl_loop_free`, `pl_run`), or a work
    /// request has already started (`pl_cancel_work`).
    PL_EBUSY = -16,
    /// An invalid argument: a NULL pointer, an out-of-range value, an unknown enum value, or an
    /// operation the loop's options do not allow.
    PL_EINVAL = -22,
    /// Passed to a work request's completion callback when the request was cancelled before it
    /// started.
    PL_ECANCELED = -125,
    /// The end of a stream: a read callback's `nread` (libuv's UV_EOF).
    PL_EOF = -4095,
    /// Try again: the kernel would block (pl_try_write) or is out of a resource for now.
    PL_EAGAIN = -11,
    /// Not an open fd (pl_pipe_open of a closed fd).
    PL_EBADF = -9,
    /// Permission denied (a privileged port, a path that cannot be written).
    PL_EACCES = -13,
    /// The process is out of fds.
    PL_EMFILE = -24,
    /// The peer is gone, or the stream was shut for writing (a write after pl_shutdown).
    PL_EPIPE = -32,
    /// The address is in use (pl_tcp_listen, pl_pipe_listen of an existing path).
    PL_EADDRINUSE = -98,
    /// The address is not one of this host's.
    PL_EADDRNOTAVAIL = -99,
    /// The peer reset the connection.
    PL_ECONNRESET = -104,
    /// The stream is not connected (yet).
    PL_ENOTCONN = -107,
    /// The connect timed out.
    PL_ETIMEDOUT = -110,
    /// Nobody listens at the address connected to.
    PL_ECONNREFUSED = -111,
    /// No such process: pl_process_kill of a child that has exited.
    PL_ESRCH = -3,
    /// A UDP datagram too large to send (pl_udp_send's callback, pl_udp_try_send).
    PL_EMSGSIZE = -90,
    /// A send without an address on a UDP socket that is not connected.
    PL_EDESTADDRREQ = -89,
    /// A send with an address on a connected UDP socket.
    PL_EISCONN = -106,
    /// The name does not resolve (getaddrinfo's `EAI_NONAME` or `EAI_NODATA`; Node's
    /// `ENOTFOUND`). The callback's `gai_code` has the resolver's own code.
    PL_EAI_NONAME = -4010,
    /// The resolver failed for now (`EAI_AGAIN`: no answer from the name server); try later.
    PL_EAI_AGAIN = -4011,
    /// The resolver failed for good, or with a code the library has no name for (`EAI_FAIL`,
    /// `EAI_FAMILY`, `EAI_SERVICE`, ...; the callback's `gai_code` says which).
    PL_EAI_FAIL = -4012,
    /// The loop is closed: it is being freed (a drop function called back into it) or, for a
    /// pl_remote, it was freed.
    PL_ECLOSED = -4001,
    /// Called from a thread other than the one that created the loop. Nothing was done.
    PL_EWRONGTHREAD = -4002,
    /// A panic inside the library was caught at the C boundary: a bug in phaseloop (please report
    /// it with the message Rust printed to stderr). A loop whose call panicked is poisoned: every
    /// later call on it returns PL_EPANIC, except pl_loop_free, which releases what it safely can.
    PL_EPANIC = -4003,
}

pub(crate) const PL_OK: c_int = pl_status::PL_OK as c_int;
pub(crate) const PL_ENOENT: c_int = pl_status::PL_ENOENT as c_int;
pub(crate) const PL_EIO: c_int = pl_status::PL_EIO as c_int;
pub(crate) const PL_ENOMEM: c_int = pl_status::PL_ENOMEM as c_int;
pub(crate) const PL_EBUSY: c_int = pl_status::PL_EBUSY as c_int;
pub(crate) const PL_EINVAL: c_int = pl_status::PL_EINVAL as c_int;
pub(crate) const PL_ECANCELED: c_int = pl_status::PL_ECANCELED as c_int;
pub(crate) const PL_EOF: c_int = pl_status::PL_EOF as c_int;
pub(crate) const PL_EAI_NONAME: c_int = pl_status::PL_EAI_NONAME as c_int;
pub(crate) const PL_EAI_AGAIN: c_int = pl_status::PL_EAI_AGAIN as c_int;
pub(crate) const PL_EAI_FAIL: c_int = pl_status::PL_EAI_FAIL as c_int;
pub(crate) const PL_ECLOSED: c_int = pl_status::PL_ECLOSED as c_int;
pub(crate) const PL_EWRONGTHREAD: c_int = pl_status::PL_EWRONGTHREAD as c_int;
pub(crate) const PL_EPANIC: c_int = pl_status::PL_EPANIC as c_int;

/// The status code of a core error.
pub(crate) fn status_of(err: &Error) -> c_int {
    match err {
        Error::Closed => PL_ECLOSED,
        Error::NotFound => PL_ENOENT,
        Error::InvalidArgument(_) | Error::NeedsVirtualClock => PL_EINVAL,
        Error::InCallback | Error::Busy => PL_EBUSY,
        Error::Io(err) => io_status(err),
    }
}

/// The status code of an OS error: its negated errno, else the closest library code.
pub(crate) fn io_status(err: &io::Error) -> c_int {
    match err.raw_os_error() {
        Some(errno) if errno > 0 => -errno,
        _ => match err.kind() {
            io::ErrorKind::NotFound => PL_ENOENT,
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => PL_EINVAL,
            io::ErrorKind::OutOfMemory => PL_ENOMEM,
            _ => PL_EIO,
        },
    }
}

/// `Ok(())` as `PL_OK`, an error as its status.
pub(crate) fn status(result: Result<(), Error>) -> c_int {
    match result {
        Ok(()) => PL_OK,
        Err(err) => status_of(&err),
    }
}

/// A boolean query as 1 / 0, or its error status.
pub(crate) fn flag(result: Result<bool, Error>) -> c_int {
    match result {
        Ok(value) => value as c_int,
        Err(err) => status_of(&err),
    }
}

/// A `&'static CStr` from a string literal (C string literals need a newer Rust than the
/// workspace's minimum).
macro_rules! cstr {
    ($text:expr) => {{
        const TEXT: &::std::ffi::CStr =
            match ::std::ffi::CStr::from_bytes_with_nul(concat!($text, "\0").as_bytes()) {
                Ok(text) => text,
                Err(_) => panic!("a string literal with a NUL inside"),
            };
        TEXT
    }};
}
pub(crate) use cstr;

/// The name and message of a library status code.
fn known(status: c_int) -> Option<(&'static CStr, &'static CStr)> {
    Some(match status {
        PL_OK => (cstr!("PL_OK"), cstr!("success")),
        PL_ENOENT => (
            cstr!("PL_ENOENT"),
            cstr!("no such timer, immediate, handle, watcher, work request or file"),
        ),
        PL_EIO => (cstr!("PL_EIO"), cstr!("input/output error")),
        PL_ENOMEM => (cstr!("PL_ENOMEM"), cstr!("out of memory")),
        PL_EBUSY => (
            cstr!("PL_EBUSY"),
            cstr!("busy: not allowed inside the loop's own callback, or the work already started"),
        ),
        PL_EINVAL => (cstr!("PL_EINVAL"), cstr!("invalid argument")),
        PL_ECANCELED => (
            cstr!("PL_ECANCELED"),
            cstr!("cancelled: the work request was cancelled, or its handle closed first"),
        ),
        PL_ECLOSED => (cstr!("PL_ECLOSED"), cstr!("the loop is closed")),
        PL_EOF => (cstr!("PL_EOF"), cstr!("end of stream")),
        PL_EAI_NONAME => (
            cstr!("PL_EAI_NONAME"),
            cstr!("the name does not resolve (ENOTFOUND)"),
        ),
        PL_EAI_AGAIN => (
            cstr!("PL_EAI_AGAIN"),
            cstr!("temporary failure in name resolution"),
        ),
        PL_EAI_FAIL => (cstr!("PL_EAI_FAIL"), cstr!("name resolution failed")),
        PL_EWRONGTHREAD => (
            cstr!("PL_EWRONGTHREAD"),
            cstr!("called from a thread other than the loop's (use a pl_remote)"),
        ),
        PL_EPANIC => (
            cstr!("PL_EPANIC"),
            cstr!(
                "a panic inside phaseloop was caught at the C boundary (a bug: please report it)"
            ),
        ),
        _ => return None,
    })
}

/// The names of the OS errno codes the header names (their messages are the OS's).
fn errno_name(status: c_int) -> Option<&'static CStr> {
    Some(match status {
        -3 => cstr!("PL_ESRCH"),
        -9 => cstr!("PL_EBADF"),
        -11 => cstr!("PL_EAGAIN"),
        -13 => cstr!("PL_EACCES"),
        -24 => cstr!("PL_EMFILE"),
        -32 => cstr!("PL_EPIPE"),
        -89 => cstr!("PL_EDESTADDRREQ"),
        -90 => cstr!("PL_EMSGSIZE"),
        -98 => cstr!("PL_EADDRINUSE"),
        -99 => cstr!("PL_EADDRNOTAVAIL"),
        -104 => cstr!("PL_ECONNRESET"),
        -106 => cstr!("PL_EISCONN"),
        -107 => cstr!("PL_ENOTCONN"),
        -110 => cstr!("PL_ETIMEDOUT"),
        -111 => cstr!("PL_ECONNREFUSED"),
        _ => return None,
    })
}

/// Messages of OS errno values asked for so far; each is allocated once and kept for the life of
/// the process, so the pointers handed out stay valid (at most one per errno value).
static OS_MESSAGES: Mutex<Vec<(c_int, &'static CStr)>> = Mutex::new(Vec::new());

fn os_message(status: c_int) -> &'static CStr {
    let mut cache = OS_MESSAGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&(_, text)) = cache.iter().find(|(code, _)| *code == status) {
        return text;
    }
    let text = io::Error::from_raw_os_error(-status).to_string();
    // std appends " (os error N)"; the C convention (strerror) is the bare sentence.
    let text = match text.rfind(" (os error") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    };
    let text: &'static CStr = Box::leak(
        std::ffi::CString::new(text)
            .unwrap_or_default()
            .into_boxed_c_str(),
    );
    cache.push((status, text));
    text
}

/// A static, human-readable message for a status code: one of the PL_E* codes, or a negated
/// OS errno value. Never NULL; an unknown positive value gives "unknown status code".
/// Any thread. The string is owned by the library and lives as long as the process.
#[no_mangle]
pub extern "C" fn pl_strerror(status: c_int) -> *const c_char {
    crate::guard::boundary(std::ptr::null(), || match known(status) {
        Some((_, message)) => message.as_ptr(),
        None if status < 0 => os_message(status).as_ptr(),
        None => cstr!("unknown status code").as_ptr(),
    })
}

/// The name of a status code, such as "PL_EINVAL"; "PL_EOS" for a negated OS errno value and
/// "PL_EUNKNOWN" for anything else. Never NULL. Any thread. The string is static.
#[no_mangle]
pub extern "C" fn pl_status_name(status: c_int) -> *const c_char {
    crate::guard::boundary(std::ptr::null(), || match known(status) {
        Some((name, _)) => name.as_ptr(),
        None => match errno_name(status) {
            Some(name) => name.as_ptr(),
            None if status < 0 => cstr!("PL_EOS").as_ptr(),
            None => cstr!("PL_EUNKNOWN").as_ptr(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_the_documented_codes() {
        assert_eq!(status_of(&Error::Closed), PL_ECLOSED);
        assert_eq!(status_of(&Error::NotFound), PL_ENOENT);
        assert_eq!(status_of(&Error::InvalidArgument("x")), PL_EINVAL);
        assert_eq!(status_of(&Error::InCallback), PL_EBUSY);
        assert_eq!(status_of(&Error::Busy), PL_EBUSY);
        let bad_fd = io::Error::from_raw_os_error(9);
        assert_eq!(status_of(&Error::Io(bad_fd)), -9);
        let corrupt = io::Error::new(io::ErrorKind::InvalidInput, "corrupt deflate stream");
        assert_eq!(io_status(&corrupt), PL_EINVAL);
    }

    #[test]
    fn os_messages_are_cached_and_bare() {
        let first = os_message(-9);
        assert_eq!(first.to_str().unwrap(), "Bad file descriptor");
        assert_eq!(os_message(-9).as_ptr(), first.as_ptr());
    }
}
