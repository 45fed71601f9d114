//! The core's streams and servers as `Loop` methods: the low-level calls under
//! `phaseloop.net` (the Node-shaped `Server` and `Stream` classes) and `phaseloop.asyncio`'s
//! transports, plus the public entry points (`listen`, `connect`, ...) that build those classes.
//!
//! Streams are named by the core's ids as Python ints. Every callback given here is called
//! as `net_events.rs` says: `(error, value)` for connections and reads, `(error,)` for
//! connects, writes and shutdowns. A write the kernel takes whole inside `_write` has its
//! callback queued on the tick queue, called with no arguments (Node's `socket.write`).

use std::net::SocketAddr;
use std::path::PathBuf;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use phaseloop_core::{Error as CoreError, Id, ListenOptions, NetAddr, SyncWrite, WriteBufs};

use crate::args;
use crate::callback::PyCallback;
use crate::errors::core_error;
use crate::event_loop::{Core, Loop};

/// `phaseloop.net`, imported once.
static NET: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn net(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    NET.get_or_try_init(py, || py.import("phaseloop.net").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// The bytes of a `bytes` object, lent to the write queue without a copy: the object is kept
/// alive (and `bytes` never change) until the write completes and this is dropped.
struct LentBytes {
    _owner: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is into an immutable `bytes` kept alive by `_owner`; reading it needs no
// interpreter lock. The core drops write requests on the loop's thread, attached.
unsafe impl Send for LentBytes {}

impl WriteBufs for LentBytes {
    fn count(&self) -> usize {
        1
    }
    fn get(&self, _index: usize) -> &[u8] {
        // SAFETY: see the type's comment; ptr/len are the object's own buffer.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// `data` as write buffers: `bytes` lent as they are; `bytearray`, `memoryview` and other
/// buffers copied (they may change before the write completes); `str` encoded as UTF-8.
fn write_bufs(data: &Bound<'_, PyAny>) -> PyResult<(Box<dyn WriteBufs>, usize)> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        let slice = bytes.as_bytes();
        let (ptr, len) = (slice.as_ptr(), slice.len());
        let lent = LentBytes {
            _owner: bytes.clone().unbind(),
            ptr,
            len,
        };
        return Ok((Box::new(lent), len));
    }
    if let Ok(text) = data.cast::<PyString>() {
        let owned = text.to_str()?.as_bytes().to_vec();
        let len = owned.len();
        return Ok((Box::new(owned), len));
    }
    let owned = args::bytes(data, "data")?;
    let len = owned.len();
    Ok((Box::new(owned), len))
}

/// A stream id given as a Python int. Ids carry their kind and loop tag in the high bits, so
/// they are multi-digit ints; `PyLong_AsUnsignedLong` reads those without the byte-array
/// conversion `u64` extraction makes (a fifth of `_transport_write`'s cost).
fn stream_id(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    // SAFETY: attached; `obj` is a live object; the call sets an error and returns
    // `c_ulong::MAX` for a non-int or a value out of range.
    let raw = unsafe { pyo3::ffi::PyLong_AsUnsignedLong(obj.as_ptr()) };
    if raw == std::ffi::c_ulong::MAX {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(raw)
}

/// Writes what the kernel takes of `data` now: 0 when it takes nothing or earlier writes are
/// still queued (`EAGAIN`), an `OSError` when the write fails.
fn try_write_now(lp: &Core, id: Id, data: &[u8]) -> PyResult<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    match lp.try_write(id, &[data]) {
        Ok(n) => Ok(n),
        Err(CoreError::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
        Err(err) => Err(core_error(err)),
    }
}

/// A transport's write of `bytes`: what the kernel takes now, and the rest lent to the write
/// queue with the callback `on_written()` gives (asked for only then). The bytes queued.
pub(crate) fn write_bytes<'py>(
    lp: &Core,
    id: Id,
    bytes: &Bound<'py, PyBytes>,
    on_written: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<usize> {
    let slice = bytes.as_bytes();
    let n = try_write_now(lp, id, slice)?;
    if n == slice.len() {
        return Ok(0);
    }
    let lent = LentBytes {
        _owner: bytes.clone().unbind(),
        ptr: slice[n..].as_ptr(),
        len: slice.len() - n,
    };
    queue_write(lp, id, Box::new(lent), &on_written()?)
}

/// Queues the rest of a transport's write; `on_written(error)` when it is done. The bytes
/// queued.
fn queue_write(
    lp: &Core,
    id: Id,
    bufs: Box<dyn WriteBufs>,
    on_written: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    let len: usize = (0..bufs.count()).map(|i| bufs.get(i).len()).sum();
    let cb = callback(on_written, None)?;
    match lp.write(id, bufs, Some(cb), SyncWrite::Pending) {
        // With SyncWrite::Pending a finished write's callback is queued, never handed back.
        Ok(_) => Ok(len),
        Err(refused) => Err(core_error(refused)),
    }
}

/// Calls `phaseloop.net.<name>(loop, *args, **kwargs)`: the Node-shaped classes are Python.
fn forward<'py>(
    lp: &Bound<'py, Loop>,
    name: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    forward_to(lp, "phaseloop.net", name, args, kwargs)
}

/// Calls `<module>.<name>(loop, *args, **kwargs)`.
pub(crate) fn forward_to<'py>(
    lp: &Bound<'py, Loop>,
    module: &str,
    name: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = lp.py();
    let mut all = vec![lp.clone().into_any()];
    all.extend(args.iter());
    let module = if module == "phaseloop.net" {
        net(py)?.clone()
    } else {
        py.import(module)?
    };
    module.getattr(name)?.call(PyTuple::new(py, all)?, kwargs)
}

fn id(raw: u64) -> Id {
    Id::from_u64(raw)
}

fn callback(func: &Bound<'_, PyAny>, label: Option<&Bound<'_, PyAny>>) -> PyResult<PyCallback> {
    PyCallback::new(func, None, args::label(label)?)
}

fn optional_callback(
    func: Option<&Bound<'_, PyAny>>,
    label: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<PyCallback>> {
    match func.filter(|f| !f.is_none()) {
        Some(func) => callback(func, label).map(Some),
        None => Ok(None),
    }
}

/// An address as Python's socket module gives it: `(host, port)` (IPv6 with `flowinfo` and
/// `scope_id`, as `getsockname()` does) or a path (`""` for an unnamed socket).
pub(crate) fn address(py: Python<'_>, addr: NetAddr) -> PyResult<Py<PyAny>> {
    Ok(match addr {
        NetAddr::Inet(SocketAddr::V4(v4)) => (v4.ip().to_string(), v4.port())
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        NetAddr::Inet(SocketAddr::V6(v6)) => {
            (v6.ip().to_string(), v6.port(), v6.flowinfo(), v6.scope_id())
                .into_pyobject(py)?
                .into_any()
                .unbind()
        }
        NetAddr::Unix(path) => path.into_pyobject(py)?.into_any().unbind(),
    })
}

/// `host` and `port` as a socket address to bind: an IP literal (`""` and `"0.0.0.0"`:
/// every IPv4 interface; `"::"`: every interface).
fn bind_address(host: &str, port: u16) -> PyResult<SocketAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            PyValueError::new_err(format!(
                "host must be an IP address to listen on, not {host:?} (resolve names with lookup())"
            ))
        })?;
    Ok(SocketAddr::new(ip, port))
}

#[pymethods]
impl Loop {
    /// `net.createServer(on_connection).listen(port, host)`: a `Server`; `on_connection(stream)`
    /// runs in the poll phase for each accepted connection. Bind errors raise `OSError` at once.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, on_connection, port=0, host='127.0.0.1', *, backlog=511, reuse_port=False, ipv6_only=False, allow_half_open=False, label=None)")]
    fn listen<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward(slf, "_listen", args, kwargs)
    }

    /// A Unix-domain socket server on `path` (`uv_pipe_bind`): a `Server`.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, on_connection, path, *, backlog=511, allow_half_open=False, label=None)")]
    fn listen_unix<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward(slf, "_listen_unix", args, kwargs)
    }

    /// `net.connect(port, host)`: a `Stream`, connecting; a failed connect reaches `"error"`.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, port, host='127.0.0.1', *, on_connect=None, allow_half_open=False, label=None)")]
    fn connect<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward(slf, "_connect", args, kwargs)
    }

    /// `net.connect(path)`: a `Stream` over a Unix-domain socket, connecting.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, path, *, on_connect=None, allow_half_open=False, label=None)")]
    fn connect_unix<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward(slf, "_connect_unix", args, kwargs)
    }

    /// `uv_pipe_open`: a `Stream` over an fd you own (a pipe, a socket); the stream owns it.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, fd, *, allow_half_open=False, label=None)")]
    fn open_stream<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward(slf, "_open_stream", args, kwargs)
    }

    // ----- the low-level calls of phaseloop.net -------------------------------------------------

    #[pyo3(signature = (host, port, backlog, reuse_port, ipv6_only, on_connection, label = None))]
    #[allow(clippy::too_many_arguments)]
    fn _tcp_listen(
        &self,
        host: &str,
        port: u16,
        backlog: i32,
        reuse_port: bool,
        ipv6_only: bool,
        on_connection: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let lp = self.open()?;
        let addr = bind_address(host, port)?;
        let cb = callback(on_connection, label)?;
        let options = ListenOptions {
            backlog,
            reuse_port,
            ipv6_only,
        };
        lp.tcp_listen(addr, options, cb)
            .map(Id::as_u64)
            .map_err(core_error)
    }

    #[pyo3(signature = (path, backlog, on_connection, label = None))]
    fn _pipe_listen(
        &self,
        path: PathBuf,
        backlog: i32,
        on_connection: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let lp = self.open()?;
        let cb = callback(on_connection, label)?;
        lp.pipe_listen(&path, backlog, cb)
            .map(Id::as_u64)
            .map_err(core_error)
    }

    #[pyo3(signature = (host, port, on_connect, label = None))]
    fn _tcp_connect(
        &self,
        host: &str,
        port: u16,
        on_connect: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let lp = self.open()?;
        let cb = callback(on_connect, label)?;
        lp.tcp_connect(host, port, cb)
            .map(Id::as_u64)
            .map_err(core_error)
    }

    #[pyo3(signature = (path, on_connect, label = None))]
    fn _pipe_connect(
        &self,
        path: PathBuf,
        on_connect: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let lp = self.open()?;
        let cb = callback(on_connect, label)?;
        lp.pipe_connect(&path, cb)
            .map(Id::as_u64)
            .map_err(core_error)
    }

    fn _pipe_open(&self, fd: &Bound<'_, PyAny>) -> PyResult<u64> {
        let lp = self.open()?;
        let fd = args::fd(fd)?;
        lp.pipe_open(fd).map(Id::as_u64).map_err(core_error)
    }

    /// A stream over the socket `fd` that stays the caller's (`Loop::stream_over`): closing
    /// the stream or the loop leaves the fd open, for the socket object that owns it.
    fn _stream_over(&self, fd: &Bound<'_, PyAny>) -> PyResult<u64> {
        let lp = self.open()?;
        let fd = args::fd(fd)?;
        lp.stream_over(fd).map(Id::as_u64).map_err(core_error)
    }

    /// A transport's write: what the kernel takes now is written inside the call and costs no
    /// callback; the rest is queued and `on_written(error)` runs when it is written (poll or
    /// pending phase) or cancelled (close phase, `ECANCELED`). Returns the bytes queued (0:
    /// all written). `bytes` are written as they are; other buffers are copied only if queued.
    fn _transport_write(
        &self,
        stream: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        on_written: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let lp = self.open()?;
        let id = id(stream_id(stream)?);
        if let Ok(bytes) = data.cast::<PyBytes>() {
            return write_bytes(lp, id, bytes, || Ok(on_written.clone()));
        }
        let buffer = PyBuffer::<u8>::get(data)?;
        if !buffer.is_c_contiguous() {
            let owned = buffer.to_vec(data.py())?;
            let n = try_write_now(lp, id, &owned)?;
            if n == owned.len() {
                return Ok(0);
            }
            return queue_write(lp, id, Box::new(owned[n..].to_vec()), on_written);
        }
        // SAFETY: a C-contiguous u8 buffer of `len_bytes()` bytes, held (and its exporter kept
        // from resizing it) by `buffer` for as long as the slice is used, which is this call.
        let slice = unsafe {
            std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes())
        };
        let n = try_write_now(lp, id, slice)?;
        if n == slice.len() {
            return Ok(0);
        }
        // Queued: copied, since a bytearray or memoryview may change before it is written.
        queue_write(lp, id, Box::new(slice[n..].to_vec()), on_written)
    }

    #[pyo3(signature = (stream, on_read, label = None))]
    fn _read_start(
        &self,
        stream: u64,
        on_read: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let lp = self.open()?;
        let cb = callback(on_read, label)?;
        lp.read_start(id(stream), cb).map_err(core_error)
    }

    fn _read_stop(&self, stream: u64) -> PyResult<()> {
        self.open()?.read_stop(id(stream)).map_err(core_error)
    }

    /// Queues `data`; `True` when the kernel took all of it inside the call (its callback is
    /// then on the tick queue).
    #[pyo3(signature = (stream, data, on_written = None, label = None))]
    fn _write(
        &self,
        stream: u64,
        data: &Bound<'_, PyAny>,
        on_written: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let lp = self.open()?;
        let (bufs, _) = write_bufs(data)?;
        let cb = optional_callback(on_written, label)?;
        let had_cb = cb.is_some();
        let before = lp.write_queue_size(id(stream)).map_err(core_error)?;
        match lp.write(id(stream), bufs, cb, SyncWrite::Tick) {
            Ok(Some(back)) => {
                lp.next_tick(back).map_err(core_error)?;
                Ok(true)
            }
            Ok(None) => {
                // No callback to hand back: whole when nothing was left queued.
                let after = lp.write_queue_size(id(stream)).map_err(core_error)?;
                Ok(!had_cb && before == 0 && after == 0)
            }
            Err(refused) => Err(core_error(refused)),
        }
    }

    fn _try_write(&self, stream: u64, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let lp = self.open()?;
        let (bufs, _) = write_bufs(data)?;
        let slices: Vec<&[u8]> = (0..bufs.count()).map(|i| bufs.get(i)).collect();
        lp.try_write(id(stream), &slices).map_err(core_error)
    }

    #[pyo3(signature = (stream, on_shutdown = None, label = None))]
    fn _shutdown(
        &self,
        stream: u64,
        on_shutdown: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let lp = self.open()?;
        let cb = optional_callback(on_shutdown, label)?;
        lp.shutdown(id(stream), cb).map_err(core_error)
    }

    /// Closes a stream or server; `on_close()` in the close phase. `False` if it was closed.
    #[pyo3(signature = (stream, on_close = None, label = None))]
    fn _close_stream(
        &self,
        stream: u64,
        on_close: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let Ok(lp) = self.open() else {
            // A closed loop closed its streams already.
            return Ok(false);
        };
        let cb = optional_callback(on_close, label)?;
        Ok(lp.close_handle(id(stream), cb).is_ok())
    }

    fn _write_queue_size(&self, stream: u64) -> PyResult<usize> {
        self.open()?
            .write_queue_size(id(stream))
            .map_err(core_error)
    }

    fn _stream_bytes(&self, stream: u64) -> PyResult<(u64, u64)> {
        self.open()?.stream_bytes(id(stream)).map_err(core_error)
    }

    fn _set_nodelay(&self, stream: u64, enable: bool) -> PyResult<()> {
        self.open()?
            .set_nodelay(id(stream), enable)
            .map_err(core_error)
    }

    fn _set_keepalive(&self, stream: u64, enable: bool, delay_s: u32) -> PyResult<()> {
        self.open()?
            .set_keepalive(id(stream), enable, delay_s)
            .map_err(core_error)
    }

    /// The local (`peer=False`) or remote address of a stream or server.
    fn _address(&self, py: Python<'_>, stream: u64, peer: bool) -> PyResult<Py<PyAny>> {
        let lp = self.open()?;
        let addr = if peer {
            lp.peer_address(id(stream))
        } else {
            lp.local_address(id(stream))
        };
        address(py, addr.map_err(core_error)?)
    }

    fn _set_stream_ref(&self, stream: u64, refed: bool) -> PyResult<()> {
        match self.open() {
            Ok(lp) => lp.set_ref(id(stream), refed).map_err(core_error),
            Err(_) => Ok(()),
        }
    }

    fn _stream_has_ref(&self, stream: u64) -> PyResult<bool> {
        Ok(self
            .open()
            .ok()
            .and_then(|lp| lp.has_ref(id(stream)).ok())
            .unwrap_or(false))
    }

    fn _stream_is_active(&self, stream: u64) -> PyResult<bool> {
        Ok(self.open().is_ok_and(|lp| lp.is_active(id(stream))))
    }

    /// The most one read of `stream` takes (`Loop::set_read_size`).
    fn _set_read_size(&self, stream: u64, size: usize) -> PyResult<()> {
        self.open()?
            .set_read_size(id(stream), size)
            .map_err(core_error)
    }

    fn _stream_is_reading(&self, stream: u64) -> PyResult<bool> {
        Ok(self.open().is_ok_and(|lp| lp.is_reading(id(stream))))
    }

    fn _stream_kind(&self, stream: u64) -> PyResult<&'static str> {
        self.open()?
            .stream_kind(id(stream))
            .map(|k| k.name())
            .map_err(core_error)
    }
}
