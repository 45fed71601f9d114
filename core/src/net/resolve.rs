//! Connecting: a host name resolved on the pool first (as Node's `net.connect` resolves it
//! through `dns.lookup`, a pool job), then each address tried in turn until one connects;
//! the connect's completion found in the poll phase (`SO_ERROR` once the fd is writable), or
//! its failure inside the call deferred to the pending phase (libuv's delayed error).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;

use socket2::{Domain, SockRef};

use crate::callback::{Callback, Event};
use crate::error::{Error, RunError};
use crate::event_loop::{Loop, Pending, Refused};
use crate::id::Id;
use crate::net::stream::{ConnectReq, Connecting, Deferred, DeferredResult, StreamEntry};
use crate::net::tcp::{new_socket, start_connect};
use crate::net::StreamKind;
use crate::pool::Work;
use crate::trace::Kind;
use crate::work::WorkEntry;
use crate::work_outcome::{JobOutput, WorkOutcome};

impl<C: Callback> Loop<C> {
    /// A stream connecting to the first of `addrs` that takes the connect.
    pub(crate) fn connect_addrs(&self, addrs: Vec<SocketAddr>, cb: C) -> Id {
        let mut entry = StreamEntry::new(None, StreamKind::Tcp);
        entry.connect = Some(ConnectReq {
            cb: Some(cb),
            state: Connecting::InProgress(addrs),
        });
        let id = self.st().streams.slab.insert(entry);
        self.try_next_address(id, None);
        id
    }

    /// Resolves `host` on the pool, then connects.
    pub(crate) fn connect_host(&self, host: String, port: u16, cb: C) -> Result<Id, Refused<C>> {
        let mut entry = StreamEntry::new(None, StreamKind::Tcp);
        entry.connect = Some(ConnectReq {
            cb: None,
            state: Connecting::Resolving(Id::from_u64(0)),
        });
        let mut st = self.st();
        let st = &mut *st;
        let stream = st.streams.slab.insert(entry);
        let work = st.works.insert(WorkEntry {
            after: None,
            number: 0,
            connect: Some(stream),
        });
        let job = Box::new(move || {
            let addrs: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs()?.collect();
            Ok(Box::new(addrs) as JobOutput)
        });
        match st.pool.submit(work, Work::Boxed(job)) {
            Ok(number) => st.works.get_mut(work).expect("just inserted").number = number,
            Err((err, job)) => {
                st.works.remove(work);
                st.streams.slab.remove(stream);
                drop(job);
                return Err(Refused {
                    error: Error::Io(err),
                    callback: cb,
                });
            }
        }
        let connect = st
            .streams
            .slab
            .get_mut(stream)
            .and_then(|e| e.connect.as_mut())
            .expect("just inserted");
        connect.cb = Some(cb);
        connect.state = Connecting::Resolving(work);
        // Resolving keeps the loop alive as the stream's connect (and as the work request).
        let _ = st.streams.sync(&self.inbox.poller, stream);
        Ok(stream)
    }

    /// The pool resolved a connect's host name (poll phase).
    pub(crate) fn finish_resolve(
        &self,
        stream: Id,
        outcome: WorkOutcome,
    ) -> Result<(), RunError<C::Error>> {
        let addrs = match outcome {
            WorkOutcome::Done(output) => match output.downcast::<Vec<SocketAddr>>() {
                Ok(addrs) if !addrs.is_empty() => Ok(*addrs),
                _ => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the host name has no address",
                )),
            },
            WorkOutcome::Failed(err) => {
                Err(io::Error::new(io::ErrorKind::NotFound, err.to_string()))
            }
            WorkOutcome::Panicked(msg) => Err(io::Error::other(msg)),
            WorkOutcome::Cancelled => Err(io::Error::from_raw_os_error(libc::ECANCELED)),
        };
        let failure = {
            let mut st = self.st();
            let Some(connect) = st
                .streams
                .slab
                .get_mut(stream)
                .and_then(|e| e.connect.as_mut())
            else {
                return Ok(());
            };
            match addrs {
                Ok(addrs) => {
                    connect.state = Connecting::InProgress(addrs);
                    None
                }
                Err(err) => Some(err),
            }
        };
        match failure {
            // A lookup that failed fails the connect in this poll phase, as Node's lookup
            // callback destroys the socket there.
            Some(err) => self.run_connect_cb(stream, Some(err)),
            None => {
                self.try_next_address(stream, None);
                Ok(())
            }
        }
    }

    /// Opens a socket for the next address and starts its connect. When no address is left,
    /// the connect fails with `last_error` (or the newest failure), deferred to the pending
    /// phase.
    fn try_next_address(&self, id: Id, mut last_error: Option<io::Error>) {
        loop {
            let next = {
                let mut st = self.st();
                let Some(entry) = st.streams.slab.get_mut(id) else {
                    return;
                };
                match entry.connect.as_mut().map(|c| &mut c.state) {
                    Some(Connecting::InProgress(addrs)) if !addrs.is_empty() => {
                        Some(addrs.remove(0))
                    }
                    _ => None,
                }
            };
            let Some(addr) = next else {
                let err =
                    last_error.unwrap_or_else(|| io::Error::from_raw_os_error(libc::ECONNREFUSED));
                self.defer_connect_failure(id, err);
                return;
            };
            let started = new_socket(Domain::for_address(addr), Some(socket2::Protocol::TCP))
                .and_then(|socket| start_connect(&socket, &addr.into()).map(|_| socket));
            match started {
                Ok(socket) => {
                    let old = {
                        let mut st = self.st();
                        let entry = st.streams.slab.get_mut(id).expect("checked above");
                        entry.fd.replace(OwnedFd::from(socket))
                    };
                    // A previous address's socket is deregistered before it closes.
                    if old.is_some() {
                        self.reregister(id, old);
                    }
                    if let Err(err) = self.sync_stream(id) {
                        last_error = Some(match err {
                            Error::Io(err) => err,
                            other => io::Error::other(other.to_string()),
                        });
                        continue;
                    }
                    return;
                }
                Err(err) => last_error = Some(err),
            }
        }
    }

    /// Drops the poller's registration of a replaced fd and forgets it, so the next sync
    /// registers the new one.
    fn reregister(&self, id: Id, old: Option<OwnedFd>) {
        let mut st = self.st();
        st.streams
            .forget_registration(&self.inbox.poller, id, old.as_ref());
        drop(st);
        drop(old);
    }

    /// A connect that failed inside the call: its callback in the pending phase.
    pub(crate) fn defer_connect_failure(&self, id: Id, err: io::Error) {
        let mut st = self.st();
        let st = &mut *st;
        let Some(entry) = st.streams.slab.get_mut(id) else {
            return;
        };
        let cb = entry.connect.take().and_then(|c| c.cb);
        if let Some(old) = entry.fd.take() {
            st.streams
                .forget_registration(&self.inbox.poller, id, Some(&old));
        }
        let _ = st.streams.sync(&self.inbox.poller, id);
        if let Some(cb) = cb {
            st.pending.push_back(Pending::Stream(Deferred {
                stream: id,
                cb,
                result: DeferredResult::Connect(Err(err)),
            }));
        }
    }

    /// The fd of a connecting stream became writable (or failed): libuv's
    /// `uv__stream_connect`.
    pub(crate) fn finish_connect(&self, id: Id) -> Result<(), RunError<C::Error>> {
        let error = {
            let st = self.state.borrow();
            let Some(fd) = st.streams.slab.get(id).and_then(|e| e.fd.as_ref()) else {
                return Ok(());
            };
            match SockRef::from(fd).take_error() {
                Ok(None) => None,
                Ok(Some(err)) | Err(err) => Some(err),
            }
        };
        if let Some(err) = error {
            let more = {
                let st = self.state.borrow();
                matches!(
                    st.streams.slab.get(id).and_then(|e| e.connect.as_ref()).map(|c| &c.state),
                    Some(Connecting::InProgress(addrs)) if !addrs.is_empty()
                )
            };
            if more {
                self.try_next_address(id, Some(err));
                // A failure of the last address was deferred; a new attempt is in progress.
                return Ok(());
            }
            return self.run_connect_cb(id, Some(err));
        }
        self.run_connect_cb(id, None)
    }

    /// Ends a connect and runs its callback now (poll phase).
    pub(crate) fn run_connect_cb(
        &self,
        id: Id,
        error: Option<io::Error>,
    ) -> Result<(), RunError<C::Error>> {
        let cb = {
            let mut st = self.st();
            st.streams
                .slab
                .get_mut(id)
                .and_then(|e| e.connect.take())
                .and_then(|c| c.cb)
        };
        let _ = self.sync_stream(id);
        let Some(cb) = cb else { return Ok(()) };
        self.run_connected(id, cb, error)
    }

    pub(crate) fn run_connected(
        &self,
        id: Id,
        mut cb: C,
        error: Option<io::Error>,
    ) -> Result<(), RunError<C::Error>> {
        let result = match error {
            Some(err) => Err(err),
            None => Ok(()),
        };
        let outcome = self.invoke(Kind::Connect, id.as_u64(), &mut cb, Event::Connect(result));
        drop(cb);
        outcome.map_err(RunError::Callback)?;
        self.drain_after_callback()
    }
}
