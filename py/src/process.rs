//! The core's child processes as `Loop` methods: the low-level calls under
//! `phaseloop.child_process` (Node's `ChildProcess` as `Process`) and the public `spawn`.
//!
//! The exit callback is called `(exit_code, signal)` in the poll phase (`net_events.rs`).

use std::ffi::OsString;
use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple};

use phaseloop_core::{Id, SpawnOptions, Stdio};

use crate::args;
use crate::callback::PyCallback;
use crate::errors::core_error;
use crate::event_loop::Loop;
use crate::streams::forward_to;

fn stdio(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Stdio> {
    if let Ok(text) = obj.cast::<PyString>() {
        return match text.to_str()? {
            "pipe" => Ok(Stdio::Pipe),
            "inherit" => Ok(Stdio::Inherit),
            "ignore" => Ok(Stdio::Ignore),
            other => Err(PyValueError::new_err(format!(
                "{name} must be \"pipe\", \"inherit\", \"ignore\" or an fd, not {other:?}"
            ))),
        };
    }
    if obj.is_instance_of::<PyInt>() || obj.hasattr("fileno")? {
        return args::fd(obj).map(Stdio::Fd);
    }
    Err(PyTypeError::new_err(format!(
        "{name} must be \"pipe\", \"inherit\", \"ignore\" or an fd, not {}",
        args::type_name(obj)
    )))
}

#[pymethods]
impl Loop {
    /// `child_process.spawn(args[0], args[1:])`: a `Process`; a missing program raises
    /// `FileNotFoundError` at once, as libuv returns it.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, args, *, cwd=None, env=None, stdin='pipe', stdout='pipe', stderr='pipe', on_exit=None, label=None)")]
    fn spawn<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward_to(slf, "phaseloop.child_process", "_spawn", args, kwargs)
    }

    /// Spawns; `(process id, pid, (stdin, stdout, stderr) stream ids or None)`.
    #[pyo3(signature = (program, argv, env, cwd, stdio_in, stdio_out, stdio_err, on_exit, label = None))]
    #[allow(clippy::too_many_arguments)]
    fn _spawn(
        &self,
        program: OsString,
        argv: Vec<OsString>,
        env: Option<Vec<(OsString, OsString)>>,
        cwd: Option<PathBuf>,
        stdio_in: &Bound<'_, PyAny>,
        stdio_out: &Bound<'_, PyAny>,
        stdio_err: &Bound<'_, PyAny>,
        on_exit: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(u64, u32, [Option<u64>; 3])> {
        let lp = self.open()?;
        let options = SpawnOptions {
            program,
            args: argv,
            env,
            cwd,
            stdio: [
                stdio(stdio_in, "stdin")?,
                stdio(stdio_out, "stdout")?,
                stdio(stdio_err, "stderr")?,
            ],
        };
        let cb = PyCallback::new(on_exit, None, args::label(label)?)?;
        let spawned = lp.spawn(&options, cb).map_err(core_error)?;
        Ok((
            spawned.id.as_u64(),
            spawned.pid,
            spawned.stdio.map(|s| s.map(Id::as_u64)),
        ))
    }

    fn _process_kill(&self, process: u64, signum: i32) -> PyResult<()> {
        self.open()?
            .process_kill(Id::from_u64(process), signum)
            .map_err(core_error)
    }
}
