//! The core's UDP sockets as `Loop` methods: the low-level calls under `phaseloop.dgram`
//! (Node's `dgram.Socket` as `UdpSocket`), and the public entry point `udp`.
//!
//! A datagram callback is called as `net_events.rs` says: `(None, (bytes, (host, port)))` or
//! `(OSError, None)`; a send callback `(error,)` from the poll or pending phase, or with no
//! arguments through the tick queue when the kernel took the datagram inside `_udp_send`.

use std::net::{IpAddr, SocketAddr};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use phaseloop_core::{Error as CoreError, Id, SyncWrite};

use crate::args;
use crate::callback::PyCallback;
use crate::errors::core_error;
use crate::event_loop::Loop;
use crate::streams::forward_to;

fn id(raw: u64) -> Id {
    Id::from_u64(raw)
}

pub(crate) fn ip(host: &str, name: &str) -> PyResult<IpAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| PyValueError::new_err(format!("{name} must be an IP address, not {host:?}")))
}

#[pymethods]
impl Loop {
    /// `dgram.createSocket(type, on_message)`: a `UdpSocket`; `on_message(data, (host, port))`
    /// runs in the poll phase for each datagram once it is bound.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, on_message=None, *, family=4, reuse_address=False, ipv6_only=False, label=None)")]
    fn udp<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        forward_to(slf, "phaseloop.dgram", "_udp", args, kwargs)
    }

    // ----- the low-level calls of phaseloop.dgram -----------------------------------------------

    fn _udp_open(&self, ipv6: bool) -> PyResult<u64> {
        self.open()?
            .udp_open(ipv6)
            .map(Id::as_u64)
            .map_err(core_error)
    }

    fn _udp_bind(
        &self,
        sock: u64,
        host: &str,
        port: u16,
        reuse_address: bool,
        ipv6_only: bool,
    ) -> PyResult<()> {
        let addr = SocketAddr::new(ip(host, "host")?, port);
        self.open()?
            .udp_bind(id(sock), addr, reuse_address, ipv6_only)
            .map_err(core_error)
    }

    fn _udp_connect(&self, sock: u64, host: &str, port: u16) -> PyResult<()> {
        let addr = SocketAddr::new(ip(host, "host")?, port);
        self.open()?.udp_connect(id(sock), addr).map_err(core_error)
    }

    #[pyo3(signature = (sock, on_message, label = None))]
    fn _udp_recv_start(
        &self,
        sock: u64,
        on_message: &Bound<'_, PyAny>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let lp = self.open()?;
        let cb = PyCallback::new(on_message, None, args::label(label)?)?;
        lp.udp_recv_start(id(sock), cb).map_err(core_error)
    }

    /// A UDP socket over `fd` that stays the caller's (`Loop::udp_over`), for asyncio's
    /// datagram transports.
    fn _udp_over(&self, fd: &Bound<'_, PyAny>) -> PyResult<u64> {
        let lp = self.open()?;
        let fd = args::fd(fd)?;
        lp.udp_over(fd).map(Id::as_u64).map_err(core_error)
    }

    /// A datagram transport's send: sent inside the call when the kernel takes it (0, no
    /// callback), an `OSError` when the send fails at once, else queued (its size returned)
    /// with `on_sent(error)` in the poll phase once it is sent or failed, or in the close
    /// phase (`ECANCELED`). `host` `None`: the connected peer.
    fn _udp_transport_send(
        &self,
        sock: u64,
        data: &Bound<'_, PyAny>,
        host: Option<&str>,
        port: u16,
        on_sent: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let lp = self.open()?;
        let to = match host {
            Some(host) => Some(SocketAddr::new(ip(host, "address")?, port)),
            None => None,
        };
        let owned = args::bytes(data, "data")?;
        match lp.udp_try_send(id(sock), &owned, to) {
            Ok(_) => return Ok(0),
            Err(CoreError::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(core_error(err)),
        }
        let len = owned.len();
        let cb = PyCallback::new(on_sent, None, None)?;
        match lp.udp_send(id(sock), owned, to, Some(cb), SyncWrite::Pending) {
            // With SyncWrite::Pending a finished send's callback is queued, never handed back.
            Ok(_) => Ok(len),
            Err(refused) => Err(core_error(refused)),
        }
    }

    fn _udp_send_queue_size(&self, sock: u64) -> PyResult<usize> {
        self.open()?
            .udp_send_queue_size(id(sock))
            .map_err(core_error)
    }

    fn _udp_recv_stop(&self, sock: u64) -> PyResult<()> {
        self.open()?.udp_recv_stop(id(sock)).map_err(core_error)
    }

    /// Sends one datagram (to `host`/`port`, or the connected peer when `host` is `None`);
    /// `True` when the kernel took it inside the call (its callback is then on the tick queue).
    #[pyo3(signature = (sock, data, host, port, on_sent = None, label = None))]
    #[allow(clippy::too_many_arguments)]
    fn _udp_send(
        &self,
        sock: u64,
        data: &Bound<'_, PyAny>,
        host: Option<&str>,
        port: u16,
        on_sent: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let lp = self.open()?;
        let to = match host {
            Some(host) => Some(SocketAddr::new(ip(host, "address")?, port)),
            None => None,
        };
        let bufs = args::bytes(data, "data")?;
        let cb = match on_sent.filter(|f| !f.is_none()) {
            Some(f) => Some(PyCallback::new(f, None, args::label(label)?)?),
            None => None,
        };
        let had_cb = cb.is_some();
        match lp.udp_send(id(sock), bufs, to, cb, SyncWrite::Tick) {
            Ok(Some(back)) => {
                lp.next_tick(back).map_err(core_error)?;
                Ok(true)
            }
            Ok(None) => Ok(!had_cb && lp.udp_send_queue_size(id(sock)).map_err(core_error)? == 0),
            Err(refused) => Err(core_error(refused)),
        }
    }

    fn _udp_set_broadcast(&self, sock: u64, on: bool) -> PyResult<()> {
        self.open()?
            .udp_set_broadcast(id(sock), on)
            .map_err(core_error)
    }

    fn _udp_set_ttl(&self, sock: u64, ttl: u32) -> PyResult<()> {
        self.open()?.udp_set_ttl(id(sock), ttl).map_err(core_error)
    }

    fn _udp_set_multicast_ttl(&self, sock: u64, ttl: u32) -> PyResult<()> {
        self.open()?
            .udp_set_multicast_ttl(id(sock), ttl)
            .map_err(core_error)
    }

    fn _udp_set_multicast_loop(&self, sock: u64, on: bool) -> PyResult<()> {
        self.open()?
            .udp_set_multicast_loop(id(sock), on)
            .map_err(core_error)
    }

    #[pyo3(signature = (sock, group, interface, join))]
    fn _udp_set_membership(
        &self,
        sock: u64,
        group: &str,
        interface: Option<&str>,
        join: bool,
    ) -> PyResult<()> {
        let group = ip(group, "group")?;
        let interface = interface.map(|i| ip(i, "interface")).transpose()?;
        self.open()?
            .udp_set_membership(id(sock), group, interface, join)
            .map_err(core_error)
    }
}
