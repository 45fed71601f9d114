//! Child processes (libuv's `uv_process_t`): `pl_spawn` with a sized options struct, the exit
//! callback in the poll phase, the child's piped stdio as pipe streams of the loop, and
//! `pl_process_kill` / `pl_process_pid`.
//!
//! The options struct starts with its own size (`struct_size`, as rustls-ffi's and Win32's
//! structs do): a later version may add fields at its end, and a program compiled against this
//! header keeps working, because the library reads only the `struct_size` bytes the program
//! says it has and takes the defaults (zeros) for the rest (the reading is in
//! [`crate::options`]).

use std::mem::size_of;
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use phaseloop_core::{SpawnOptions, Stdio};

use crate::callback::{pl_drop_fn, CCallback};
use crate::entry::with_loop;
use crate::event_loop::{id, pl_id, pl_loop};
use crate::guard::boundary;
use crate::options::spawn_options;
use crate::status::{io_status, status, status_of, PL_ECLOSED, PL_EINVAL, PL_EPANIC, PL_OK};

/// pl_stdio.kind: `/dev/null` (libuv's `UV_IGNORE`; the zero value, so a zeroed options struct
/// ignores all three).
pub const PL_STDIO_IGNORE: c_int = 0;
/// pl_stdio.kind: a pipe to the parent, which becomes a pipe stream of the loop (libuv's
/// `UV_CREATE_PIPE`); its id is in pl_spawn's `stdio_out`.
pub const PL_STDIO_PIPE: c_int = 1;
/// pl_stdio.kind: the parent's own fd of the same number (libuv's `UV_INHERIT_FD` of 0, 1, 2).
pub const PL_STDIO_INHERIT: c_int = 2;
/// pl_stdio.kind: pl_stdio.fd, an fd of the caller's, duplicated for the child (the caller
/// keeps its own; libuv's `UV_INHERIT_FD`).
pub const PL_STDIO_FD: c_int = 3;

/// Where one of the child's stdin, stdout, stderr goes.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct pl_stdio {
    /// PL_STDIO_IGNORE, PL_STDIO_PIPE, PL_STDIO_INHERIT or PL_STDIO_FD.
    pub kind: c_int,
    /// The fd, for PL_STDIO_FD; ignored otherwise.
    pub fd: c_int,
}

/// What pl_spawn starts. Initialise with pl_spawn_options_init (it sets `struct_size` and
/// zeroes the rest), then set fields. Every pointer is read during pl_spawn only.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct pl_spawn_options {
    /// `sizeof(pl_spawn_options)` as the program was compiled; set by pl_spawn_options_init.
    pub struct_size: usize,
    /// The program: a path, or a name looked up in `PATH` when it has no `/`. Required.
    pub file: *const c_char,
    /// The arguments, NULL-terminated, `args[0]` being the program's name as in libuv (the
    /// child's `argv[0]` is `file`); the rest become `argv[1..]`. NULL: no arguments.
    pub args: *const *const c_char,
    /// The child's whole environment as "NAME=value" strings, NULL-terminated; NULL inherits
    /// the parent's. A string without `=` is PL_EINVAL.
    pub env: *const *const c_char,
    /// The child's working directory; NULL: the parent's. A missing one is PL_ENOENT.
    pub cwd: *const c_char,
    /// stdin, stdout and stderr.
    pub stdio: [pl_stdio; 3],
}

/// A child's exit callback, run once on the loop thread in the poll phase when it has exited:
/// `exit_status` its exit code and `term_signal` 0, or `exit_status` 0 and `term_signal` the
/// signal that killed it (libuv's `uv_exit_cb`). The process handle stays valid (pl_process_pid
/// still answers, pl_process_kill gives PL_ESRCH) until pl_handle_close.
pub type pl_exit_fn = Option<
    unsafe extern "C" fn(
        lp: *mut pl_loop,
        process: pl_id,
        data: *mut c_void,
        exit_status: i64,
        term_signal: c_int,
    ),
>;

/// Sets `opts->struct_size` to `sizeof(pl_spawn_options)` and every other field to zero
/// (no arguments, inherited environment and cwd, all three stdio PL_STDIO_IGNORE). Any thread.
#[no_mangle]
pub unsafe extern "C" fn pl_spawn_options_init(opts: *mut pl_spawn_options) -> c_int {
    boundary(PL_EPANIC, || {
        if opts.is_null() {
            return PL_EINVAL;
        }
        let zeroed = pl_spawn_options {
            struct_size: size_of::<pl_spawn_options>(),
            file: std::ptr::null(),
            args: std::ptr::null(),
            env: std::ptr::null(),
            cwd: std::ptr::null(),
            stdio: [pl_stdio { kind: 0, fd: 0 }; 3],
        };
        // SAFETY: a non-NULL `opts` points to a pl_spawn_options (the header's contract).
        unsafe { opts.write(zeroed) };
        PL_OK
    })
}

/// The spawn failures libuv reports at once (a missing cwd or program, a program that is not
/// executable), found before spawning.
///
/// Why here and not only from the spawn: std spawns with `posix_spawn` where it can, which
/// learns of a failed `exec` through memory it shares with the child (`CLONE_VM`). Where that
/// sharing is emulated (valgrind runs `CLONE_VM | CLONE_VFORK` as a plain fork) the error is
/// lost and a missing program looks spawned. Checking first keeps the answer the same
/// everywhere; the spawn itself still reports anything that changes in between.
fn precheck(options: &SpawnOptions) -> Result<(), c_int> {
    if let Some(cwd) = &options.cwd {
        match std::fs::metadata(cwd) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(-libc::ENOTDIR),
            Err(err) => return Err(io_status(&err)),
        }
    }
    let program = std::path::Path::new(&options.program);
    let has_slash = options.program.as_bytes().contains(&b'/');
    if has_slash {
        // A relative path is looked up after the child changed into `cwd`.
        let path = match &options.cwd {
            Some(cwd) if program.is_relative() => cwd.join(program),
            _ => program.to_path_buf(),
        };
        return match executable(&path) {
            Ok(()) => Ok(()),
            Err(errno) => Err(-errno),
        };
    }
    // A bare name: the PATH the child gets (std looks it up there), else the parent's.
    let path_var = match &options.env {
        Some(env) => env
            .iter()
            .find(|(name, _)| name.as_bytes() == b"PATH")
            .map(|(_, value)| value.clone()),
        None => std::env::var_os("PATH"),
    };
    let Some(path_var) = path_var else {
        return Ok(()); // the system's default search: leave it to the spawn
    };
    let found = std::env::split_paths(&path_var).any(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        dir.join(program).exists()
    });
    if found {
        Ok(())
    } else {
        Err(-libc::ENOENT)
    }
}

/// `access(path, X_OK)`: `Err(errno)` when the file is missing or not executable.
fn executable(path: &std::path::Path) -> Result<(), c_int> {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Err(libc::EINVAL);
    };
    // SAFETY: a NUL-terminated path; access only reads it.
    if unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EACCES))
    }
}

/// `uv_spawn`: starts the program `opts` describes. Failures of the spawn itself come back at
/// once, as libuv returns them: PL_ENOENT for a missing program or cwd (-ENOTDIR for a cwd
/// that is not a directory), PL_EACCES for a file that is not executable, PL_EINVAL for bad options (NULL `file`, a `struct_size` smaller
/// than this header's first version, an unknown stdio kind); nothing is started then and
/// `data` stays the caller's. On success the process's id goes to `*out` and, when
/// `stdio_out` is not NULL, the ids of the pipe streams of stdin, stdout and stderr to
/// `stdio_out[0..3]` (0 where not PL_STDIO_PIPE): use them with pl_read_start, pl_write,
/// pl_shutdown and close each with pl_handle_close. `stdio_out` must not be NULL when a stdio
/// is a pipe (PL_EINVAL). `cb` (may be NULL) runs once in the poll phase when the child has
/// exited; `drop(data)` runs if it never will (the handle or loop closed first). A running
/// child keeps pl_run going (pl_unref stops that). Close the process with pl_handle_close:
/// a child still running then is not killed, and is reaped in the background when it exits,
/// so none is left a zombie; pl_loop_free does the same for every child. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_spawn(
    lp: *mut pl_loop,
    opts: *const pl_spawn_options,
    cb: pl_exit_fn,
    data: *mut c_void,
    drop: pl_drop_fn,
    out: *mut pl_id,
    stdio_out: *mut pl_id,
) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() {
            return PL_EINVAL;
        }
        // SAFETY: the caller's options (the header's contract).
        let options = match unsafe { spawn_options(opts) } {
            Ok(options) => options,
            Err(status) => return status,
        };
        if stdio_out.is_null() && options.stdio.contains(&Stdio::Pipe) {
            return PL_EINVAL;
        }
        if core.is_closed() {
            return PL_ECLOSED;
        }
        if let Err(status) = precheck(&options) {
            return status;
        }
        let spawned = match core.spawn(&options, CCallback::exit(cb, data, drop)) {
            Ok(spawned) => spawned,
            Err(refused) => {
                refused.callback.disown();
                return status_of(&refused.error);
            }
        };
        core.host()
            .remember_child(core, spawned.id.as_u64(), spawned.pid);
        // SAFETY: non-NULL `out` and `stdio_out` (three pl_id) are the caller's.
        unsafe {
            out.write(spawned.id.as_u64());
            if !stdio_out.is_null() {
                for (at, stream) in spawned.stdio.iter().enumerate() {
                    stdio_out.add(at).write(stream.map_or(0, |s| s.as_u64()));
                }
            }
        }
        PL_OK
    })
}

/// `uv_process_kill`: sends `signum` to the child. PL_ESRCH once it has exited (its exit
/// callback ran or is due), PL_EINVAL for a number that is not a signal, PL_ENOENT for an id
/// that is not a live process.
#[no_mangle]
pub unsafe extern "C" fn pl_process_kill(lp: *mut pl_loop, process: pl_id, signum: c_int) -> c_int {
    with_loop(lp, |core| status(core.process_kill(id(process), signum)))
}

/// The child's pid (> 0), until its handle is closed (also after the child exited, when the
/// number names a process that is gone and that the system may reuse); PL_ENOENT for an id
/// that is not a live process handle.
#[no_mangle]
pub unsafe extern "C" fn pl_process_pid(lp: *mut pl_loop, process: pl_id) -> c_int {
    with_loop(lp, |core| {
        if let Err(err) = core.process_exit_status(id(process)) {
            return status_of(&err);
        }
        core.host()
            .child_pid(process)
            .map_or(crate::status::PL_ENOENT, |pid| pid as c_int)
    })
}
