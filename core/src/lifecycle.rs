//! The lifecycle every handle shares, by id (libuv's `uv_ref`, `uv_unref`, `uv_has_ref`,
//! `uv_is_active`, `uv_close`): one set of calls for timers, immediates, idle/prepare/check
//! handles, fd and signal watchers, streams and servers, dispatching on the kind the id
//! carries. The per-kind names the bindings grew up with are aliases of these.

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Closing, Loop, Refused};
use crate::id::{Id, IdKind};

impl<C: Callback> Loop<C> {
    /// `id` for a per-kind alias of `kind` (`set_timer_ref`, `immediate_has_ref`, ...): the
    /// generic call would take any kind's id, the alias only its own ([`Error::NotFound`]
    /// otherwise, after the closed-loop check, as before the aliases were aliases).
    pub(crate) fn alias_of(&self, id: Id, kind: IdKind) -> Result<Id, Error> {
        self.check_open()?;
        if id.kind() == Some(kind) {
            Ok(id)
        } else {
            Err(Error::NotFound)
        }
    }

    /// `ref()` / `unref()` of any handle: whether it keeps `run` in default mode from
    /// returning while it is active. [`Error::NotFound`] for an id that names nothing live
    /// (a work request is always ref'd: `InvalidArgument`).
    pub fn set_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.check_open()?;
        let mut st = self.st();
        let found = match id.kind() {
            Some(IdKind::Timer) => st.timers.set_ref(id, refed),
            Some(IdKind::Immediate) => st.immediates.set_ref(id, refed),
            Some(IdKind::Handle) => st.handles.set_ref(id, refed),
            Some(IdKind::Watcher) => st.watchers.set_fd_ref(id, refed),
            Some(IdKind::Signal) => st.watchers.set_signal_ref(id, refed),
            Some(IdKind::Stream) => st.streams.set_ref(id, refed),
            Some(IdKind::Process) => st.processes.set_ref(id, refed),
            Some(IdKind::Work) => {
                return Err(Error::InvalidArgument("a work request cannot be unref'd"))
            }
            None => false,
        };
        found.then_some(()).ok_or(Error::NotFound)
    }

    /// `hasRef()` / `uv_has_ref` of any handle (a work request: `true` until delivered).
    pub fn has_ref(&self, id: Id) -> Result<bool, Error> {
        self.check_open()?;
        let st = self.state.borrow();
        let refed = match id.kind() {
            Some(IdKind::Timer) => st.timers.slab.get(id).map(|t| t.refed),
            Some(IdKind::Immediate) => st.immediates.get(id).map(|i| i.refed),
            Some(IdKind::Handle) => st.handles.slab.get(id).map(|h| h.refed),
            Some(IdKind::Watcher) => st.watchers.fds.get(id).map(|w| w.refed),
            Some(IdKind::Signal) => st.watchers.signals.get(id).map(|s| s.refed),
            Some(IdKind::Stream) => st.streams.slab.get(id).map(|s| s.refed),
            Some(IdKind::Process) => st.processes.slab.get(id).map(|p| p.refed),
            Some(IdKind::Work) => st.works.contains(id).then_some(true),
            None => None,
        };
        refed.ok_or(Error::NotFound)
    }

    /// `uv_is_active` of any handle: an armed timer, a queued immediate, a started
    /// idle/prepare/check handle or watcher, a stream that is listening, reading, connecting,
    /// writing or shutting down, a work request not yet delivered. `false` for a stale id.
    pub fn is_active(&self, id: Id) -> bool {
        if self.closed.get() {
            return false;
        }
        let st = self.state.borrow();
        match id.kind() {
            Some(IdKind::Timer) => st.timers.slab.get(id).is_some_and(|t| t.linked()),
            Some(IdKind::Immediate) => st.immediates.contains(id),
            Some(IdKind::Handle) => st.handles.slab.get(id).is_some_and(|h| h.active),
            Some(IdKind::Watcher) => st.watchers.fds.get(id).is_some_and(|w| w.active),
            Some(IdKind::Signal) => st.watchers.signals.get(id).is_some_and(|s| s.active),
            Some(IdKind::Stream) => st.streams.slab.get(id).is_some_and(|s| s.active()),
            Some(IdKind::Process) => st
                .processes
                .slab
                .get(id)
                .is_some_and(|p| p.exited.is_none()),
            Some(IdKind::Work) => st.works.contains(id),
            None => false,
        }
    }

    /// `uv_close` of any handle: it stops at once and its id is finished; `close_cb` runs in
    /// the next close phase (a stream's unfinished requests get their callbacks there first,
    /// with `ECANCELED`). On failure the callback is handed back: [`Error::NotFound`] for an id
    /// that names nothing live, `InvalidArgument` for a work request (cancel it instead).
    pub fn close_handle(&self, id: Id, close_cb: Option<C>) -> Result<(), Refused<Option<C>>> {
        let refuse = |error, callback| Err(Refused { error, callback });
        if let Err(error) = self.check_open() {
            return refuse(error, close_cb);
        }
        match id.kind() {
            Some(IdKind::Stream) => return self.close_stream(id, close_cb),
            Some(IdKind::Work) => {
                return refuse(
                    Error::InvalidArgument("a work request is cancelled, not closed"),
                    close_cb,
                )
            }
            _ => {}
        }
        let poller = &self.inbox.poller;
        // What the handle held, dropped once the state is released (a host destructor may call
        // back into the loop).
        let released: Result<Vec<C>, Option<C>> = {
            let mut st = self.st();
            let st = &mut *st;
            let (kind, released) = match id.kind() {
                Some(IdKind::Timer) => match st.timers.slab.get(id) {
                    Some(t) => {
                        let kind = if t.repeat { "interval" } else { "timeout" };
                        (kind, st.timers.clear(id).flatten().into_iter().collect())
                    }
                    None => ("", Vec::new()),
                },
                Some(IdKind::Immediate) => match st.immediates.clear(id) {
                    Some(cb) => ("immediate", vec![cb]),
                    None => ("", Vec::new()),
                },
                Some(IdKind::Handle) => match st.handles.remove(id) {
                    Some(h) => (h.kind.trace_kind().name(), h.cb.into_iter().collect()),
                    None => ("", Vec::new()),
                },
                Some(IdKind::Watcher) => match st.watchers.remove_fd(poller, id) {
                    Some(w) => ("watcher", w.cb.into_iter().collect()),
                    None => ("", Vec::new()),
                },
                Some(IdKind::Signal) => match st.watchers.remove_signal(poller, id) {
                    Some(s) => ("signal", s.cb.into_iter().collect()),
                    None => ("", Vec::new()),
                },
                Some(IdKind::Process) => match st.processes.remove(id) {
                    Some(p) => ("process", p.exit_cb.into_iter().collect()),
                    None => ("", Vec::new()),
                },
                Some(IdKind::Stream) | Some(IdKind::Work) | None => ("", Vec::new()),
            };
            if kind.is_empty() {
                Err(close_cb)
            } else {
                st.closing.push_back(Closing::new(id, kind, close_cb));
                Ok(released)
            }
        };
        match released {
            Ok(released) => {
                drop(released);
                Ok(())
            }
            Err(callback) => refuse(Error::NotFound, callback),
        }
    }

    /// [`Loop::close_handle`] of a timer.
    pub fn close_timer(&self, id: Id, close_cb: Option<C>) -> Result<(), Refused<Option<C>>> {
        self.close_handle(id, close_cb)
    }

    /// [`Loop::close_handle`] of an fd watcher.
    pub fn close_watcher(&self, id: Id, close_cb: Option<C>) -> Result<(), Refused<Option<C>>> {
        self.close_handle(id, close_cb)
    }

    /// [`Loop::close_handle`] of a signal watcher.
    pub fn close_signal(&self, id: Id, close_cb: Option<C>) -> Result<(), Refused<Option<C>>> {
        self.close_handle(id, close_cb)
    }

    /// [`Loop::set_ref`] of an idle, prepare or check handle.
    pub fn set_handle_ref(&self, id: Id, refed: bool) -> Result<(), Error> {
        self.set_ref(id, refed)
    }

    /// [`Loop::has_ref`] of an idle, prepare or check handle.
    pub fn handle_has_ref(&self, id: Id) -> Result<bool, Error> {
        self.has_ref(id)
    }

    /// [`Loop::is_active`] of an idle, prepare or check handle.
    pub fn handle_active(&self, id: Id) -> bool {
        self.is_active(id)
    }
}
