//! Child processes (libuv's `uv_process_t`, Node's `child_process.spawn`): spawned with their
//! arguments, environment, working directory and stdio (pipes, which become pipe streams of
//! this loop; the parent's own fds; `/dev/null`; or an fd of the caller's), and reaped when
//! they exit, with the exit callback in the poll phase.
//!
//! Reaping is libuv's: every loop with children holds one registration of the process's
//! single `SIGCHLD` handler (signal-hook's, shared by every loop and thread), and on each
//! `SIGCHLD` it asks, with `waitpid(pid, WNOHANG)`, after each child it spawned itself, never
//! after any other (a child the program started some other way is not reaped here). A child
//! still running when its handle or its loop closes is reaped by a small thread that waits
//! for it, so none is left a zombie.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio as StdStdio};

use crate::poller::{Event as PollEvent, PollMode, Poller};

use crate::callback::{Callback, Event};
use crate::error::{Error, RunError};
use crate::event_loop::{Loop, Refused};
use crate::id::{Id, IdKind, Slab};
use crate::poll::CHILD_KEY;
use crate::trace::Kind;

/// Where a child's stdin, stdout or stderr goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// A pipe to the parent: it becomes a pipe stream of the loop (`"pipe"`).
    Pipe,
    /// The parent's own fd (`"inherit"`).
    Inherit,
    /// `/dev/null` (`"ignore"`).
    Ignore,
    /// An fd of the caller's, duplicated for the child (the caller keeps its own).
    Fd(RawFd),
}

/// What to spawn ([`Loop::spawn`]).
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    /// The program (looked up in `PATH` when it has no `/`).
    pub program: OsString,
    /// Its arguments, without the program name.
    pub args: Vec<OsString>,
    /// Its whole environment, or `None` for the parent's.
    pub env: Option<Vec<(OsString, OsString)>>,
    /// Its working directory, or `None` for the parent's.
    pub cwd: Option<PathBuf>,
    /// stdin, stdout and stderr.
    pub stdio: [Stdio; 3],
}

/// How a child ended ([`crate::Event::Exit`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
}

/// A spawned child: its pid and the streams of its piped stdio.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Spawned {
    /// The process handle.
    pub id: Id,
    /// The child's pid.
    pub pid: u32,
    /// The pipe streams of stdin, stdout and stderr (`None` where not piped).
    pub stdio: [Option<Id>; 3],
}

pub(crate) struct ProcessEntry<C> {
    pub(crate) pid: libc::pid_t,
    pub(crate) exit_cb: Option<C>,
    pub(crate) refed: bool,
    pub(crate) exited: Option<ExitStatus>,
}

/// Every child of one loop, and the loop's `SIGCHLD` registration.
pub(crate) struct Processes<C> {
    pub(crate) slab: Slab<ProcessEntry<C>>,
    /// signal-hook's registration and the socket its handler writes to, while children live.
    sigchld: Option<(signal_hook::SigId, UnixStream, UnixStream)>,
}

impl<C> Processes<C> {
    pub(crate) fn new(tag: u16) -> Self {
        Processes {
            slab: Slab::new(IdKind::Process, tag),
            sigchld: None,
        }
    }

    pub(crate) fn has_ref(&self) -> bool {
        self.slab.iter().any(|(_, p)| p.refed && p.exited.is_none())
    }

    fn running(&self) -> usize {
        self.slab.iter().filter(|(_, p)| p.exited.is_none()).count()
    }

    /// Registers with the process's `SIGCHLD` handler (before the first spawn, so no exit can
    /// be missed).
    fn ensure_sigchld(&mut self, poller: &Poller) -> io::Result<()> {
        if self.sigchld.is_some() {
            return Ok(());
        }
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let sig_id = signal_hook::low_level::pipe::register(libc::SIGCHLD, writer.try_clone()?)?;
        // SAFETY: deleted in `drop_sigchld` before the reader is dropped.
        if let Err(err) = unsafe {
            poller.add_with_mode(
                reader.as_raw_fd(),
                PollEvent::readable(CHILD_KEY),
                PollMode::Level,
            )
        } {
            signal_hook::low_level::unregister(sig_id);
            return Err(err);
        }
        self.sigchld = Some((sig_id, reader, writer));
        Ok(())
    }

    /// Unregisters once no child is left to wait for. Called when a spawn failed and when
    /// `run` returns, not when a child exits or its handle closes: a program that starts the
    /// next child from the exit of the one before (a build tool, a test runner) would
    /// otherwise pay a socket pair, its registrations and three closes per child (about a
    /// dozen system calls), as libuv's loop, too, keeps its `SIGCHLD` watcher between
    /// children.
    pub(crate) fn drop_sigchld_if_idle(&mut self, poller: &Poller) {
        if self.running() == 0 {
            if let Some((sig_id, reader, _writer)) = self.sigchld.take() {
                signal_hook::low_level::unregister(sig_id);
                let _ = poller.delete(&reader);
            }
        }
    }

    /// Empties the `SIGCHLD` socket (poll found it readable).
    pub(crate) fn drain_sigchld(&self) {
        use std::io::Read;
        if let Some((_, reader, _)) = &self.sigchld {
            let mut reader: &UnixStream = reader;
            let mut buf = [0u8; 64];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
    }

    /// Every callback (for a host garbage collector).
    pub(crate) fn callbacks(&self) -> impl Iterator<Item = &C> {
        self.slab.iter().filter_map(|(_, p)| p.exit_cb.as_ref())
    }

    /// Takes every child out (the loop closes): running ones are left to a reaper thread.
    pub(crate) fn drain_all(&mut self, poller: Option<&Poller>) -> Vec<C> {
        let entries = self.slab.drain_all();
        let mut out = Vec::new();
        for entry in entries {
            if entry.exited.is_none() && poller.is_some() {
                reap_in_background(entry.pid);
            }
            out.extend(entry.exit_cb);
        }
        if let Some((sig_id, reader, _writer)) = self.sigchld.take() {
            signal_hook::low_level::unregister(sig_id);
            if let Some(poller) = poller {
                let _ = poller.delete(&reader);
            }
        }
        out
    }

    /// Removes one child (its handle closes); a running one is left to a reaper thread.
    pub(crate) fn remove(&mut self, id: Id) -> Option<ProcessEntry<C>> {
        let entry = self.slab.remove(id)?;
        if entry.exited.is_none() {
            reap_in_background(entry.pid);
        }
        Some(entry)
    }

    pub(crate) fn set_ref(&mut self, id: Id, refed: bool) -> bool {
        match self.slab.get_mut(id) {
            Some(entry) => {
                entry.refed = refed;
                true
            }
            None => false,
        }
    }
}

/// Waits for `pid` on a thread of its own, so that a child outliving its handle or loop is
/// not left a zombie.
fn reap_in_background(pid: libc::pid_t) {
    let spawned = std::thread::Builder::new()
        .name("phaseloop-reaper".into())
        .spawn(move || {
            let mut status = 0;
            // SAFETY: waiting for our own child; status is valid for the call.
            while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
        });
    drop(spawned);
}

/// `waitpid(pid, WNOHANG)`: how it ended, if it has.
fn try_wait(pid: libc::pid_t) -> Option<ExitStatus> {
    let mut status = 0;
    // SAFETY: status is valid for the call; pid is a child of this process.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if rc != pid {
        return None;
    }
    Some(if libc::WIFSIGNALED(status) {
        ExitStatus {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    } else {
        ExitStatus {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    })
}

fn std_stdio(stdio: Stdio) -> io::Result<StdStdio> {
    Ok(match stdio {
        Stdio::Pipe => StdStdio::piped(),
        Stdio::Inherit => StdStdio::inherit(),
        Stdio::Ignore => StdStdio::null(),
        Stdio::Fd(fd) => {
            if fd < 0 {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
            // SAFETY: borrowed only to duplicate it; the caller keeps its fd.
            let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
            StdStdio::from(owned)
        }
    })
}

impl<C: Callback> Loop<C> {
    /// `uv_spawn`: starts `options.program`. Errors of the spawn itself (`ENOENT` for a
    /// missing program, `EACCES` for one that is not executable, `ENOENT` for a missing
    /// `cwd`) are returned at once with the callback handed back. `on_exit` gets
    /// [`Event::Exit`] in the poll phase when the child has exited; piped stdio are pipe
    /// streams of this loop, to read and write like any other.
    pub fn spawn(&self, options: &SpawnOptions, on_exit: C) -> Result<Spawned, Refused<C>> {
        let on_exit = self.open_or_refuse(on_exit)?;
        let refuse = |error, callback| Err(Refused { error, callback });
        if options.program.is_empty() {
            return refuse(Error::InvalidArgument("program must not be empty"), on_exit);
        }
        let mut command = Command::new(&options.program);
        command.args(&options.args);
        if let Some(env) = &options.env {
            command.env_clear();
            command.envs(env.iter().map(|(k, v)| (k, v)));
        }
        if let Some(cwd) = &options.cwd {
            command.current_dir(cwd);
        }
        let stdio: io::Result<Vec<StdStdio>> =
            options.stdio.iter().map(|s| std_stdio(*s)).collect();
        let mut stdio = match stdio {
            Ok(stdio) => stdio.into_iter(),
            Err(err) => return refuse(Error::Io(err), on_exit),
        };
        command.stdin(stdio.next().expect("three"));
        command.stdout(stdio.next().expect("three"));
        command.stderr(stdio.next().expect("three"));
        if let Err(err) = self.st().processes.ensure_sigchld(&self.inbox.poller) {
            return refuse(Error::Io(err), on_exit);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                self.st().processes.drop_sigchld_if_idle(&self.inbox.poller);
                return refuse(Error::Io(err), on_exit);
            }
        };
        let pid = child.id();
        let pipes: [Option<OwnedFd>; 3] = [
            child.stdin.take().map(OwnedFd::from),
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
        ];
        // The child is ours to reap from here on (std's `Child` is only dropped: that neither
        // waits nor kills).
        drop(child);
        let id = self.st().processes.slab.insert(ProcessEntry {
            pid: pid as libc::pid_t,
            exit_cb: Some(on_exit),
            refed: true,
            exited: None,
        });
        let mut streams = [None, None, None];
        for (slot, pipe) in streams.iter_mut().zip(pipes) {
            if let Some(fd) = pipe {
                let raw = fd.as_raw_fd();
                std::mem::forget(fd);
                // pipe_open takes the fd over; it can only fail for a closed fd.
                *slot = self.pipe_open(raw).ok();
            }
        }
        // No check of the child now: the registration came before the spawn, so the
        // child's SIGCHLD writes to the socket even if it exits before `spawn` returns (a
        // byte written here cost every spawn one more loop wake-up and `waitpid`).
        Ok(Spawned {
            id,
            pid,
            stdio: streams,
        })
    }

    /// `uv_process_kill`: sends `signum` to the child (`ESRCH` once it has exited).
    pub fn process_kill(&self, id: Id, signum: i32) -> Result<(), Error> {
        self.check_open()?;
        let pid = {
            let st = self.state.borrow();
            let entry = st.processes.slab.get(id).ok_or(Error::NotFound)?;
            if entry.exited.is_some() {
                return Err(Error::Io(io::Error::from_raw_os_error(libc::ESRCH)));
            }
            entry.pid
        };
        if !(0..=64).contains(&signum) {
            return Err(Error::InvalidArgument("signum is not a signal"));
        }
        // SAFETY: kill with our own child's pid.
        if unsafe { libc::kill(pid, signum) } < 0 {
            return Err(Error::Io(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// How the child ended, `None` while it runs.
    pub fn process_exit_status(&self, id: Id) -> Result<Option<ExitStatus>, Error> {
        self.check_open()?;
        let st = self.state.borrow();
        let entry = st.processes.slab.get(id).ok_or(Error::NotFound)?;
        Ok(entry.exited)
    }

    /// A `SIGCHLD` arrived: each of this loop's children that exited gets its exit callback.
    pub(crate) fn reap_children(&self) -> Result<(), RunError<C::Error>> {
        let exited: Vec<(Id, ExitStatus)> = {
            let mut st = self.st();
            st.processes.drain_sigchld();
            let running: Vec<(Id, libc::pid_t)> = st
                .processes
                .slab
                .iter()
                .filter(|(_, p)| p.exited.is_none())
                .map(|(id, p)| (id, p.pid))
                .collect();
            let mut out = Vec::new();
            for (id, pid) in running {
                if let Some(status) = try_wait(pid) {
                    if let Some(entry) = st.processes.slab.get_mut(id) {
                        entry.exited = Some(status);
                    }
                    out.push((id, status));
                }
            }
            out
        };
        for (id, status) in exited {
            let cb = self
                .st()
                .processes
                .slab
                .get_mut(id)
                .and_then(|p| p.exit_cb.take());
            if let Some(mut cb) = cb {
                let result = self.invoke(Kind::Exit, id.as_u64(), &mut cb, Event::Exit(status));
                drop(cb);
                result.map_err(RunError::Callback)?;
                self.drain_after_callback()?;
            }
        }
        Ok(())
    }
}
