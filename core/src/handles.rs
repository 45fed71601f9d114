//! Idle, prepare and check handles (libuv's `uv_idle_t`, `uv_prepare_t`, `uv_check_t`).
//!
//! An active handle's callback runs once per iteration in its phase, most recently started
//! first (libuv inserts at the head). A phase runs the handles active when it began: one started
//! during the phase waits for the next iteration, one stopped during it does not run.

use std::collections::VecDeque;

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::{Id, IdKind, Slab};
use crate::trace::{Kind, Phase};

/// Which phase a loop-watcher handle runs in.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum HandleKind {
    /// The idle phase; an active idle handle also keeps poll from blocking.
    Idle,
    /// The prepare phase, just before poll.
    Prepare,
    /// The check phase, just after poll, before immediates.
    Check,
}

impl HandleKind {
    fn slot(self) -> usize {
        match self {
            HandleKind::Idle => 0,
            HandleKind::Prepare => 1,
            HandleKind::Check => 2,
        }
    }

    /// The trace kind of this handle's callbacks.
    pub fn trace_kind(self) -> Kind {
        match self {
            HandleKind::Idle => Kind::Idle,
            HandleKind::Prepare => Kind::Prepare,
            HandleKind::Check => Kind::Check,
        }
    }

    /// The phase this handle runs in.
    pub fn phase(self) -> Phase {
        match self {
            HandleKind::Idle => Phase::Idle,
            HandleKind::Prepare => Phase::Prepare,
            HandleKind::Check => Phase::Check,
        }
    }
}

pub(crate) struct HandleEntry<C> {
    pub(crate) kind: HandleKind,
    /// `None` while the callback runs.
    pub(crate) cb: Option<C>,
    pub(crate) active: bool,
    pub(crate) refed: bool,
    /// Which start this is; a batch entry with an older one is skipped.
    start_seq: u64,
}

pub(crate) struct HandleTable<C> {
    pub(crate) slab: Slab<HandleEntry<C>>,
    /// Active handles of each kind, in start order (the phase runs them in reverse).
    started: [Vec<Id>; 3],
    refed_active: usize,
    next_seq: u64,
}

impl<C> HandleTable<C> {
    pub(crate) fn new(tag: u16) -> Self {
        HandleTable {
            slab: Slab::new(IdKind::Handle, tag),
            started: [Vec::new(), Vec::new(), Vec::new()],
            refed_active: 0,
            next_seq: 1,
        }
    }

    pub(crate) fn add(&mut self, kind: HandleKind, cb: C) -> Id {
        self.slab.insert(HandleEntry {
            kind,
            cb: Some(cb),
            active: false,
            refed: true,
            start_seq: 0,
        })
    }

    pub(crate) fn has_ref(&self) -> bool {
        self.refed_active > 0
    }

    /// Whether any handle of `kind` is started (its phase has something to run).
    #[inline]
    pub(crate) fn any_started(&self, kind: HandleKind) -> bool {
        !self.started[kind.slot()].is_empty()
    }

    /// Whether any idle handle is active (rule 5.1: poll must not block).
    pub(crate) fn idle_active(&self) -> bool {
        !self.started[HandleKind::Idle.slot()].is_empty()
    }

    pub(crate) fn start(&mut self, id: Id) -> bool {
        let seq = self.next_seq;
        let Some(entry) = self.slab.get_mut(id) else {
            return false;
        };
        if !entry.active {
            entry.active = true;
            entry.start_seq = seq;
            self.next_seq += 1;
            if entry.refed {
                self.refed_active += 1;
            }
            self.started[entry.kind.slot()].push(id);
        }
        true
    }

    pub(crate) fn stop(&mut self, id: Id) -> bool {
        let Some(entry) = self.slab.get_mut(id) else {
            return false;
        };
        if entry.active {
            entry.active = false;
            if entry.refed {
                self.refed_active -= 1;
            }
            self.started[entry.kind.slot()].retain(|&other| other != id);
        }
        true
    }

    pub(crate) fn set_ref(&mut self, id: Id, refed: bool) -> bool {
        let Some(entry) = self.slab.get_mut(id) else {
            return false;
        };
        if entry.refed != refed {
            entry.refed = refed;
            if entry.active {
                if refed {
                    self.refed_active += 1;
                } else {
                    self.refed_active -= 1;
                }
            }
        }
        true
    }

    /// Stops and removes a handle; returns its entry.
    pub(crate) fn remove(&mut self, id: Id) -> Option<HandleEntry<C>> {
        self.stop(id);
        self.slab.remove(id)
    }

    /// Fills `batch` with the handles a phase of `kind` runs, most recently started first
    /// (into the caller's buffer: a phase runs every iteration, and most find no handle).
    pub(crate) fn batch_into(&self, kind: HandleKind, batch: &mut VecDeque<(Id, u64)>) {
        batch.clear();
        // A plain loop: most phases have no handle or one, where `extend`'s set-up dominates.
        for &id in self.started[kind.slot()].iter().rev() {
            batch.push_back((id, self.slab.get(id).map_or(0, |e| e.start_seq)));
        }
    }

    /// Takes the callback of a batch entry if the handle is still in the same start.
    pub(crate) fn take_for_batch(&mut self, id: Id, seq: u64) -> Option<C> {
        let entry = self.slab.get_mut(id)?;
        if entry.active && entry.start_seq == seq {
            entry.cb.take()
        } else {
            None
        }
    }

    /// Returns a callback after it ran; gives it back if the handle was closed meanwhile.
    pub(crate) fn put_back(&mut self, id: Id, cb: C) -> Option<C> {
        match self.slab.get_mut(id) {
            Some(entry) => {
                entry.cb = Some(cb);
                None
            }
            None => Some(cb),
        }
    }

    pub(crate) fn drain_all(&mut self) -> Vec<C> {
        for list in &mut self.started {
            list.clear();
        }
        self.refed_active = 0;
        self.slab
            .drain_all()
            .into_iter()
            .filter_map(|e| e.cb)
            .collect()
    }
}

impl<C: Callback> Loop<C> {
    /// Adds and starts an idle, prepare or check handle: `cb` runs once every iteration in its
    /// phase until stopped.
    pub fn add_handle(&self, kind: HandleKind, cb: C) -> Result<Id, Refused<C>> {
        let cb = self.open_or_refuse(cb)?;
        let mut st = self.st();
        let id = st.handles.add(kind, cb);
        st.handles.start(id);
        Ok(id)
    }

    /// Starts a stopped handle (no-op if it is active).
    pub fn start_handle(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        self.st()
            .handles
            .start(id)
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Stops a handle (no-op if it is stopped).
    pub fn stop_handle(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        self.st()
            .handles
            .stop(id)
            .then_some(())
            .ok_or(Error::NotFound)
    }
}
