//! Native jobs: real work that needs no C function (hashing, key derivation, compression, file
//! reads and writes), run on the pool; their output bytes go to a `pl_job_done_fn`.

use std::ffi::{CStr, OsStr};
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use phaseloop_core::jobs::{self, Digest};
use phaseloop_core::Job;

use crate::callback::{pl_drop_fn, pl_job_done_fn, CCallback};
use crate::event_loop::{pl_id, pl_loop};
use crate::status::{status_of, PL_EINVAL};
use crate::work::submit;

/// The hash of pl_job_pbkdf2: one of the PL_DIGEST_* values.
pub type pl_digest = i32;
/// HMAC-SHA-256.
pub const PL_DIGEST_SHA256: pl_digest = 1;
/// HMAC-SHA-512.
pub const PL_DIGEST_SHA512: pl_digest = 2;

/// Copies the caller's bytes (NULL is fine for `len` 0).
///
/// # Safety
///
/// Unless NULL or `len` is 0, `ptr` points to `len` readable bytes.
unsafe fn bytes(ptr: *const u8, len: usize) -> Result<Vec<u8>, c_int> {
    if len == 0 {
        Ok(Vec::new())
    } else if ptr.is_null() {
        Err(PL_EINVAL)
    } else {
        // SAFETY: not NULL and `len` readable bytes (this function's contract); copied before
        // returning, so the caller may free them afterwards.
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec())
    }
}

/// Copies the caller's NUL-terminated path.
///
/// # Safety
///
/// Unless NULL, `path` points to a NUL-terminated byte string.
unsafe fn path(path: *const c_char) -> Result<PathBuf, c_int> {
    if path.is_null() {
        return Err(PL_EINVAL);
    }
    // SAFETY: not NULL and NUL-terminated (this function's contract); copied before returning.
    let path = unsafe { CStr::from_ptr(path) };
    Ok(PathBuf::from(OsStr::from_bytes(path.to_bytes())))
}

fn job(
    lp: *mut pl_loop,
    make: impl FnOnce() -> Result<Job, c_int>,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    submit(lp, out, make, || CCallback::job_done(done, data, drop))
}

/// Sleeps `ms` milliseconds on a pool thread (a stand-in for blocking work); then
/// `done(lp, data, 0, NULL, 0)`. Like every pl_job_*: `done` runs on the loop thread in the
/// poll phase (PL_ECANCELED if pl_cancel_work cancelled the job before it started); `done` may
/// be NULL, and `drop` follows pl_queue_work's rules; the request's id goes to `*out` unless
/// NULL; inputs are copied before this returns. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_job_sleep(
    lp: *mut pl_loop,
    ms: u64,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    job(lp, || Ok(jobs::sleep(ms)), done, data, drop, out)
}

/// Reads the whole file at `path` (a NUL-terminated byte string); `done` gets its bytes, or a
/// negated errno (-ENOENT, -EACCES, ...).
#[no_mangle]
pub unsafe extern "C" fn pl_job_read_file(
    lp: *mut pl_loop,
    path: *const c_char,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    job(
        lp,
        // SAFETY: the header's contract makes `path` NULL or NUL-terminated; the closure runs
        // before this call returns (inputs are copied then).
        || Ok(jobs::read_file(unsafe { self::path(path) }?)),
        done,
        data,
        drop,
        out,
    )
}

/// Creates or truncates the file at `path` and writes `len` bytes from `bytes` to it; `done`
/// gets no bytes, or a negated errno.
#[no_mangle]
pub unsafe extern "C" fn pl_job_write_file(
    lp: *mut pl_loop,
    path: *const c_char,
    bytes: *const u8,
    len: usize,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    job(
        lp,
        || {
            // SAFETY: the header's contract makes `path` NULL or NUL-terminated and `bytes`
            // `len` readable bytes; the closure runs before this call returns.
            let (path, bytes) = unsafe { (self::path(path)?, self::bytes(bytes, len)?) };
            Ok(jobs::write_file(path, bytes))
        },
        done,
        data,
        drop,
        out,
    )
}

/// The SHA-256 digest of `len` bytes; `done` gets its 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn pl_job_sha256(
    lp: *mut pl_loop,
    bytes: *const u8,
    len: usize,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    job(
        lp,
        // SAFETY: `bytes` is `len` readable bytes (the header's contract); the closure runs
        // before this call returns.
        || Ok(jobs::sha256(unsafe { self::bytes(bytes, len) }?)),
        done,
        data,
        drop,
        out,
    )
}

/// PBKDF2-HMAC of a password and salt (Node's `crypto.pbkdf2`); `done` gets `keylen` bytes.
/// PL_EINVAL (at once) for 0 iterations, a `keylen` of 0 or over 2^30, or an unknown digest.
#[no_mangle]
pub unsafe extern "C" fn pl_job_pbkdf2(
    lp: *mut pl_loop,
    password: *const u8,
    password_len: usize,
    salt: *const u8,
    salt_len: usize,
    iterations: u32,
    keylen: usize,
    digest: pl_digest,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    let make = || {
        let digest = match digest {
            PL_DIGEST_SHA256 => Digest::Sha256,
            PL_DIGEST_SHA512 => Digest::Sha512,
            _ => return Err(PL_EINVAL),
        };
        // SAFETY: `password` and `salt` are as many readable bytes as their lengths say (the
        // header's contract); the closure runs before this call returns.
        let password = unsafe { bytes(password, password_len) }?;
        // SAFETY: as for `password`.
        let salt = unsafe { bytes(salt, salt_len) }?;
        jobs::pbkdf2(password, salt, iterations, keylen, digest).map_err(|err| status_of(&err))
    };
    job(lp, make, done, data, drop, out)
}

/// zlib-deflates `len` bytes at `level` 0..9 (Node's `zlib.deflate`); `done` gets the
/// compressed bytes. PL_EINVAL (at once) for another level.
#[no_mangle]
pub unsafe extern "C" fn pl_job_deflate(
    lp: *mut pl_loop,
    bytes: *const u8,
    len: usize,
    level: c_int,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    let make = || {
        let level = u32::try_from(level).map_err(|_| PL_EINVAL)?;
        // SAFETY: `bytes` is `len` readable bytes (the header's contract); the closure runs
        // before this call returns.
        let bytes = unsafe { self::bytes(bytes, len) }?;
        jobs::deflate(bytes, level).map_err(|err| status_of(&err))
    };
    job(lp, make, done, data, drop, out)
}

/// Inflates `len` zlib-deflated bytes; `done` gets the original bytes, or PL_EINVAL for corrupt
/// input.
#[no_mangle]
pub unsafe extern "C" fn pl_job_inflate(
    lp: *mut pl_loop,
    bytes: *const u8,
    len: usize,
    done: pl_job_done_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
) -> c_int {
    job(
        lp,
        // SAFETY: `bytes` is `len` readable bytes (the header's contract); the closure runs
        // before this call returns.
        || Ok(jobs::inflate(unsafe { self::bytes(bytes, len) }?)),
        done,
        data,
        drop,
        out,
    )
}
