//! `phaseloop.jobs`: native jobs that run on the pool without the GIL (the core's
//! `phaseloop_core::jobs`), passed to `queue_work` in place of a callable.

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use phaseloop_core::jobs::{self, Digest};
use phaseloop_core::{Job, JobError};

use crate::args;
use crate::errors::{core_error, FileError};
use crate::gil_session;
use crate::work;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum JobKind {
    Sleep,
    ReadFile,
    WriteFile,
    Sha256,
    Pbkdf2,
    Deflate,
    Inflate,
}

impl JobKind {
    const ALL: [JobKind; 7] = [
        JobKind::Sleep,
        JobKind::ReadFile,
        JobKind::WriteFile,
        JobKind::Sha256,
        JobKind::Pbkdf2,
        JobKind::Deflate,
        JobKind::Inflate,
    ];

    fn name(self) -> &'static str {
        match self {
            JobKind::Sleep => "sleep",
            JobKind::ReadFile => "read_file",
            JobKind::WriteFile => "write_file",
            JobKind::Sha256 => "sha256",
            JobKind::Pbkdf2 => "pbkdf2",
            JobKind::Deflate => "deflate",
            JobKind::Inflate => "inflate",
        }
    }

    /// `(required, optional)` positional parameters.
    fn params(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            JobKind::Sleep => (&["ms"], &[]),
            JobKind::ReadFile => (&["path"], &[]),
            JobKind::WriteFile => (&["path", "data"], &[]),
            JobKind::Sha256 => (&["data"], &[]),
            JobKind::Pbkdf2 => (&["password", "salt", "iterations", "keylen"], &["digest"]),
            JobKind::Deflate => (&["data"], &["level"]),
            JobKind::Inflate => (&["data"], &[]),
        }
    }
}

/// A native job of `phaseloop.jobs`: `loop.queue_work(job, *args, callback=cb)` runs it on the
/// pool without the GIL; calling it runs it here and now (also without the GIL).
#[pyclass(module = "phaseloop", frozen)]
pub struct NativeJob {
    kind: JobKind,
}

fn path(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    obj.extract::<PathBuf>().map_err(|_| {
        PyTypeError::new_err(format!(
            "path must be str or os.PathLike, not {}",
            args::type_name(obj)
        ))
    })
}

/// A file job whose I/O error says which file (the exception's `filename`).
fn about_file(job: Job, path: PathBuf) -> Job {
    Box::new(move || {
        job().map_err(|error| match error.downcast::<std::io::Error>() {
            Ok(err) => Box::new(FileError { err: *err, path }) as JobError,
            Err(error) => error,
        })
    })
}

impl NativeJob {
    /// The job with these arguments; `TypeError` / `ValueError` naming a bad one.
    pub(crate) fn build(&self, args: &Bound<'_, PyTuple>) -> PyResult<Job> {
        let name = self.kind.name();
        let (required, optional) = self.kind.params();
        let given = args.len();
        if given < required.len() || given > required.len() + optional.len() {
            return Err(PyTypeError::new_err(format!(
                "jobs.{name}() takes {} arguments ({}), {given} given",
                if optional.is_empty() {
                    required.len().to_string()
                } else {
                    format!("{} to {}", required.len(), required.len() + optional.len())
                },
                required
                    .iter()
                    .chain(optional)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let arg = |i: usize| args.get_item(i);
        let job = match self.kind {
            JobKind::Sleep => jobs::sleep(args::millis(&arg(0)?, "ms")?),
            JobKind::ReadFile => {
                let path = path(&arg(0)?)?;
                about_file(jobs::read_file(path.clone()), path)
            }
            JobKind::WriteFile => {
                let path = path(&arg(0)?)?;
                let data = args::bytes(&arg(1)?, "data")?;
                about_file(jobs::write_file(path.clone(), data), path)
            }
            JobKind::Sha256 => jobs::sha256(args::bytes(&arg(0)?, "data")?),
            JobKind::Pbkdf2 => {
                let iterations = u32::try_from(args::count(&arg(2)?, "iterations")?)
                    .map_err(|_| PyValueError::new_err("iterations must be below 2**32"))?;
                let keylen = usize::try_from(args::count(&arg(3)?, "keylen")?)
                    .map_err(|_| PyValueError::new_err("keylen must be between 1 and 2**30"))?;
                let digest = if given > 4 {
                    let digest = arg(4)?;
                    let name: String = digest.extract().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "digest must be a str, not {}",
                            args::type_name(&digest)
                        ))
                    })?;
                    Digest::from_name(&name).map_err(core_error)?
                } else {
                    Digest::Sha512
                };
                jobs::pbkdf2(
                    args::bytes(&arg(0)?, "password")?,
                    args::bytes(&arg(1)?, "salt")?,
                    iterations,
                    keylen,
                    digest,
                )
                .map_err(core_error)?
            }
            JobKind::Deflate => {
                let level = if given > 1 {
                    u32::try_from(args::count(&arg(1)?, "level")?).unwrap_or(u32::MAX)
                } else {
                    6
                };
                jobs::deflate(args::bytes(&arg(0)?, "data")?, level).map_err(core_error)?
            }
            JobKind::Inflate => jobs::inflate(args::bytes(&arg(0)?, "data")?),
        };
        // A pool thread may hold the GIL from an earlier Python job of its batch: a native job
        // gives it back first, so it never runs with it.
        Ok(Box::new(move || {
            gil_session::release();
            job()
        }))
    }
}

#[pymethods]
impl NativeJob {
    /// The job named `name` (one of `phaseloop.jobs`).
    #[new]
    fn new(name: &str) -> PyResult<NativeJob> {
        JobKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .map(|kind| NativeJob { kind })
            .ok_or_else(|| PyValueError::new_err(format!("no native job named {name:?}")))
    }

    /// Runs the job now on this thread, without the GIL; returns its bytes (or `None`).
    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let job = self.build(args)?;
        match py.detach(job) {
            Ok(value) => Ok(work::output(py, value)),
            Err(error) => Err(work::failure(error)),
        }
    }

    #[getter]
    fn __name__(&self) -> &'static str {
        self.kind.name()
    }

    fn __repr__(&self) -> String {
        format!("<phaseloop.jobs.{}>", self.kind.name())
    }
}
