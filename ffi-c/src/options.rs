//! Reading the sized options structs C hands in (`pl_options` for pl_loop_create,
//! `pl_spawn_options` for pl_spawn). Each starts with its own size, as rustls-ffi's and Win32's
//! structs do, so that a later version may add fields at its end: the library reads only the
//! bytes the program says its struct has and takes the defaults (zeros) for the rest. A loop's
//! options refuse non-zero bytes past the fields this version knows (they would ask for
//! something it cannot do); the spawn options ignore them.

use std::ffi::{CStr, OsStr, OsString};
use std::mem::{size_of, MaybeUninit};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::ptr::{self, addr_of};

use phaseloop_core::{ClockKind, DrainMode, LoopOptions, SpawnOptions, Stdio};

use crate::event_loop::{
    pl_options, PL_CLOCK_REAL, PL_CLOCK_VIRTUAL, PL_DRAIN_CALLBACK, PL_DRAIN_PHASE,
};
use crate::process::{
    pl_spawn_options, pl_stdio, PL_STDIO_FD, PL_STDIO_IGNORE, PL_STDIO_INHERIT, PL_STDIO_PIPE,
};
use crate::status::PL_EINVAL;

// ----- pl_options ------------------------------------------------------------------------------

/// The end (offset + size) of a field of pl_options, measured on a local value: `field_end!(clock)`.
/// (`offset_of!` would do, but it needs Rust 1.77 and the crate supports 1.75.)
macro_rules! field_end {
    ($field:ident) => {{
        let probe = MaybeUninit::<pl_options>::uninit();
        let base = probe.as_ptr();
        // SAFETY: `base` points to `probe`, a live local pl_options; `addr_of!` only computes the
        // address of one of its fields and reads nothing, so `probe` may stay uninitialised.
        let field = unsafe { addr_of!((*base).$field) };
        end_of(base, field)
    }};
}

/// Where `field`, a field of the pl_options at `base`, ends, counted from `base`.
fn end_of<F>(base: *const pl_options, field: *const F) -> usize {
    field as usize - base as usize + size_of::<F>()
}

/// Larger `size` values than this are taken for an uninitialised struct.
const MAX_OPTIONS_SIZE: usize = 4096;

/// pl_loop_create's options: reads the fields the caller's struct has (by its `size`); unknown
/// trailing bytes must be 0.
///
/// # Safety
///
/// `opts` is NULL or points to a readable pl_options-shaped struct: its `size` field, then as
/// many bytes in all as `size` says (pl_loop_create's contract in the header).
pub(crate) unsafe fn loop_options(opts: *const pl_options) -> Result<LoopOptions, c_int> {
    let mut options = LoopOptions::default();
    if opts.is_null() {
        return Ok(options);
    }
    // SAFETY: `opts` is not NULL and its `size` field, the struct's first, is readable (the
    // caller's contract); read through `addr_of!`, so no reference to it is made.
    let size = unsafe { ptr::read(addr_of!((*opts).size)) };
    if !(size_of::<usize>()..=MAX_OPTIONS_SIZE).contains(&size) {
        return Err(PL_EINVAL);
    }
    // Each field below is read only when it lies inside the `size` bytes the caller vouches for.
    if size >= field_end!(clock) {
        // SAFETY: `clock` ends within `size` (checked just above).
        options.clock = match unsafe { ptr::read(addr_of!((*opts).clock)) } {
            PL_CLOCK_REAL => ClockKind::Real,
            PL_CLOCK_VIRTUAL => ClockKind::Virtual,
            _ => return Err(PL_EINVAL),
        };
    }
    if size >= field_end!(drain) {
        // SAFETY: `drain` ends within `size` (checked just above).
        options.drain = match unsafe { ptr::read(addr_of!((*opts).drain)) } {
            PL_DRAIN_CALLBACK => DrainMode::Callback,
            PL_DRAIN_PHASE => DrainMode::Phase,
            _ => return Err(PL_EINVAL),
        };
    }
    if size >= field_end!(threadpool_size) {
        // SAFETY: `threadpool_size` ends within `size` (checked just above).
        options.threadpool_size = match unsafe { ptr::read(addr_of!((*opts).threadpool_size)) } {
            0 => None,
            n => Some(n as usize),
        };
    }
    if size > size_of::<pl_options>() {
        // A newer header's fields: only their zero (default) values can be honoured.
        // SAFETY: the bytes from the end of this header's pl_options up to `size` are the
        // caller's struct (its contract), at most MAX_OPTIONS_SIZE in all; u8 needs no alignment.
        let extra = unsafe {
            std::slice::from_raw_parts(
                opts.cast::<u8>().add(size_of::<pl_options>()),
                size - size_of::<pl_options>(),
            )
        };
        if extra.iter().any(|&byte| byte != 0) {
            return Err(PL_EINVAL);
        }
    }
    Ok(options)
}

// ----- pl_spawn_options ------------------------------------------------------------------------

/// The smallest `struct_size` accepted: the fields of the first version (`struct_size` through
/// `stdio`, no padding between them), spelled out so that it stays put when fields are added.
const MIN_SPAWN_OPTIONS_SIZE: usize =
    size_of::<usize>() + 4 * size_of::<*const c_char>() + size_of::<[pl_stdio; 3]>();

/// Bytes of a C string as an OsString.
///
/// # Safety
/// `ptr` is a NUL-terminated string.
unsafe fn os_string(ptr: *const c_char) -> OsString {
    // SAFETY: the caller's string.
    OsStr::from_bytes(unsafe { CStr::from_ptr(ptr) }.to_bytes()).to_owned()
}

/// A NULL-terminated array of C strings.
///
/// # Safety
/// `list` is NULL or such an array.
unsafe fn string_list(list: *const *const c_char) -> Vec<OsString> {
    let mut out = Vec::new();
    if list.is_null() {
        return out;
    }
    for at in 0.. {
        // SAFETY: the array goes on until its NULL entry (the header's contract).
        let item = unsafe { *list.add(at) };
        if item.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string.
        out.push(unsafe { os_string(item) });
    }
    out
}

/// pl_spawn's options as the core's, reading only the `struct_size` bytes the caller has.
///
/// # Safety
/// `opts` is NULL or points to at least `opts->struct_size` readable bytes.
pub(crate) unsafe fn spawn_options(opts: *const pl_spawn_options) -> Result<SpawnOptions, c_int> {
    if opts.is_null() {
        return Err(PL_EINVAL);
    }
    // SAFETY: `struct_size` is the first field of every version.
    let size = unsafe { std::ptr::read_unaligned(opts.cast::<usize>()) };
    if size < MIN_SPAWN_OPTIONS_SIZE {
        return Err(PL_EINVAL);
    }
    let mut o = pl_spawn_options {
        struct_size: size,
        file: std::ptr::null(),
        args: std::ptr::null(),
        env: std::ptr::null(),
        cwd: std::ptr::null(),
        stdio: [pl_stdio { kind: 0, fd: 0 }; 3],
    };
    // SAFETY: the caller has `size` bytes; only as many as this version knows are copied.
    unsafe {
        std::ptr::copy_nonoverlapping(
            opts.cast::<u8>(),
            std::ptr::addr_of_mut!(o).cast::<u8>(),
            size.min(size_of::<pl_spawn_options>()),
        )
    };
    if o.file.is_null() {
        return Err(PL_EINVAL);
    }
    let stdio = o.stdio.map(|s| match s.kind {
        PL_STDIO_IGNORE => Ok(Stdio::Ignore),
        PL_STDIO_PIPE => Ok(Stdio::Pipe),
        PL_STDIO_INHERIT => Ok(Stdio::Inherit),
        PL_STDIO_FD if s.fd >= 0 => Ok(Stdio::Fd(s.fd)),
        _ => Err(PL_EINVAL),
    });
    let [a, b, c] = stdio;
    // SAFETY: the pointers of the options are the caller's strings and arrays.
    let (program, mut args, env, cwd) = unsafe {
        (
            os_string(o.file),
            string_list(o.args),
            (!o.env.is_null()).then(|| string_list(o.env)),
            (!o.cwd.is_null()).then(|| PathBuf::from(os_string(o.cwd))),
        )
    };
    // args[0] is the program's name, libuv's convention; the core takes what follows it.
    if !args.is_empty() {
        args.remove(0);
    }
    let env = match env {
        None => None,
        Some(list) => {
            let mut pairs = Vec::with_capacity(list.len());
            for entry in list {
                let bytes = entry.as_bytes();
                let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
                    return Err(PL_EINVAL);
                };
                pairs.push((
                    OsStr::from_bytes(&bytes[..eq]).to_owned(),
                    OsStr::from_bytes(&bytes[eq + 1..]).to_owned(),
                ));
            }
            Some(pairs)
        }
    };
    Ok(SpawnOptions {
        program,
        args,
        env,
        cwd,
        stdio: [a?, b?, c?],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_grow_at_the_end() {
        assert_eq!(field_end!(size), size_of::<usize>());
        let end = field_end!(threadpool_size);
        assert!(end <= size_of::<pl_options>());
    }

    #[test]
    fn options_from_an_older_and_a_newer_header() {
        // An older program's struct that stops after `clock`.
        let mut opts = MaybeUninit::<pl_options>::zeroed();
        let p = opts.as_mut_ptr();
        let older_size = field_end!(clock);
        // SAFETY: `p` points to `opts`, a zeroed local pl_options; read_options reads no more
        // than its `size` bytes.
        unsafe {
            (*p).size = older_size;
            (*p).clock = PL_CLOCK_VIRTUAL;
            (*p).drain = 99; // past its size: never read
            let read = loop_options(p).unwrap();
            assert_eq!(read.clock, ClockKind::Virtual);
            assert_eq!(read.drain, DrainMode::Callback);
        }
        // A newer program's struct: zero trailing bytes are fine, others are refused.
        #[repr(C)]
        struct Newer {
            base: pl_options,
            extra: u64,
        }
        let mut newer = Newer {
            base: pl_options {
                size: size_of::<Newer>(),
                clock: PL_CLOCK_REAL,
                drain: PL_DRAIN_PHASE,
                threadpool_size: 2,
            },
            extra: 0,
        };
        // SAFETY: `newer` is a live local whose `size` covers all of it.
        unsafe {
            let whole = addr_of!(newer).cast::<pl_options>();
            let read = loop_options(whole).unwrap();
            assert_eq!(read.drain, DrainMode::Phase);
            assert_eq!(read.threadpool_size, Some(2));
            newer.extra = 1;
            let whole = addr_of!(newer).cast::<pl_options>();
            assert_eq!(loop_options(whole).err(), Some(PL_EINVAL));
        }
    }
}
