//! The rejection tracker: which rejected promises had no handler when a drain ended (ordering
//! rule 2.5, docs/ordering.md), following Node's `lib/internal/process/promises.js`.
//!
//! - A promise rejected with no handler waits in `unhandled` (Node's
//!   `pendingUnhandledRejections`). If something subscribes to it before the drain ends, it is
//!   forgotten.
//! - When the drain ends ([`Loop::report_rejections`]), each one still unhandled is reported: the
//!   [`Loop::on_unhandled_rejection`] hook, else [`PromiseHost::unhandled_rejection`].
//! - A reported promise that gets a handler later (in a later iteration) is reported once more, at
//!   the end of the drain in which it got it: Node's `'rejectionHandled'` event, here the
//!   [`Loop::on_rejection_handled`] hook, else [`PromiseHost::rejection_handled`]. These come
//!   before the new unhandled ones, as in Node.

use std::collections::VecDeque;

use super::{Promise, PromiseHost, Tracking};
use crate::callback::Callback;
use crate::event_loop::Loop;

/// A listener for unhandled rejections (Node's `process.on('unhandledRejection')`): called with
/// the promise and its reason. An `Err` stops `run` like a failing callback.
pub type UnhandledRejectionHook<H> = dyn FnMut(&Loop<H>, &Promise<H>, <H as PromiseHost>::Value) -> Result<(), <H as Callback>::Error>
    + Send;

/// A listener for rejections handled after they were reported (Node's
/// `process.on('rejectionHandled')`).
pub type RejectionHandledHook<H> =
    dyn FnMut(&Loop<H>, &Promise<H>) -> Result<(), <H as Callback>::Error> + Send;

pub(crate) struct RejectionTracker<H: PromiseHost> {
    unhandled: VecDeque<Promise<H>>,
    handled_late: VecDeque<Promise<H>>,
    on_unhandled: Option<Box<UnhandledRejectionHook<H>>>,
    on_handled: Option<Box<RejectionHandledHook<H>>>,
    /// Bumped by every hook change, so that a hook that replaced itself while running is not
    /// put back.
    hooks_version: u64,
}

impl<H: PromiseHost> Default for RejectionTracker<H> {
    fn default() -> Self {
        RejectionTracker {
            unhandled: VecDeque::new(),
            handled_late: VecDeque::new(),
            on_unhandled: None,
            on_handled: None,
            hooks_version: 0,
        }
    }
}

/// Runs `f` on the loop's tracker, making it first. `f` must not run host code nor drop a
/// promise (whose drop may): return what is to be dropped.
fn with_tracker<H: PromiseHost, R>(
    lp: &Loop<H>,
    f: impl FnOnce(&mut RejectionTracker<H>) -> R,
) -> R {
    let mut slot = lp.promise_tracker.borrow_mut();
    let tracker = slot.get_or_insert_with(|| Box::<RejectionTracker<H>>::default());
    f(tracker
        .downcast_mut()
        .expect("a loop's tracker belongs to its host type"))
}

/// Like [`with_tracker`] but `None` if no promise was ever tracked on this loop.
fn with_existing_tracker<H: PromiseHost, R>(
    lp: &Loop<H>,
    f: impl FnOnce(&mut RejectionTracker<H>) -> R,
) -> Option<R> {
    let mut slot = lp.promise_tracker.borrow_mut();
    let tracker = slot.as_mut()?;
    Some(f(tracker
        .downcast_mut()
        .expect("a loop's tracker belongs to its host type")))
}

/// HostPromiseRejectionTracker(promise, "reject") for a promise with no handler.
pub(super) fn rejected_unhandled<H: PromiseHost>(lp: &Loop<H>, promise: Promise<H>) {
    if lp.is_closed() {
        return; // no drain will ever end
    }
    with_tracker(lp, |t| t.unhandled.push_back(promise));
}

/// HostPromiseRejectionTracker(promise, "handle") for a promise already reported.
pub(super) fn handled_late<H: PromiseHost>(lp: &Loop<H>, promise: Promise<H>) {
    if lp.is_closed() {
        return;
    }
    with_tracker(lp, |t| t.handled_late.push_back(promise));
}

impl<H: PromiseHost> Loop<H> {
    /// Reports the rejections that are still unhandled and the reported ones handled since
    /// (Node's `processPromiseRejections`). A promise host calls this from
    /// [`Callback::after_drain`]; the drain then runs whatever the reports queued and comes back
    /// here, as Node's `processTicksAndRejections` does.
    ///
    /// An `Err` from a hook or from the host's default stops here; the reports not made yet
    /// stay queued for the next drain.
    pub fn report_rejections(&self) -> Result<(), H::Error> {
        loop {
            while let Some(promise) =
                with_existing_tracker(self, |t| t.handled_late.pop_front()).flatten()
            {
                self.emit_rejection_handled(&promise)?;
            }
            // Those rejected while reporting wait for the next round, as in Node.
            let batch = with_existing_tracker(self, |t| t.unhandled.len()).unwrap_or(0);
            if batch == 0 {
                return Ok(());
            }
            for _ in 0..batch {
                let Some(promise) =
                    with_existing_tracker(self, |t| t.unhandled.pop_front()).flatten()
                else {
                    break;
                };
                let reason = {
                    let mut inner = promise.lock();
                    match (&inner.status, inner.tracking) {
                        (super::Status::Rejected(reason), Tracking::Waiting) => {
                            let reason = reason.clone();
                            inner.tracking = Tracking::Reported;
                            Some(reason)
                        }
                        _ => None, // handled in the meantime
                    }
                };
                if let Some(reason) = reason {
                    self.emit_unhandled_rejection(&promise, reason)?;
                }
            }
            let st = self.state.borrow();
            if !st.ticks.is_empty() || !st.microtasks.is_empty() {
                return Ok(());
            }
        }
    }

    fn emit_unhandled_rejection(
        &self,
        promise: &Promise<H>,
        reason: H::Value,
    ) -> Result<(), H::Error> {
        let hook = with_existing_tracker(self, |t| {
            t.on_unhandled.take().map(|hook| (hook, t.hooks_version))
        })
        .flatten();
        let Some((mut hook, version)) = hook else {
            return H::unhandled_rejection(self, promise, reason);
        };
        let result = hook(self, promise, reason);
        let unused = with_tracker(self, |t| {
            if t.hooks_version == version {
                t.on_unhandled = Some(hook);
                None
            } else {
                Some(hook)
            }
        });
        drop(unused);
        result
    }

    fn emit_rejection_handled(&self, promise: &Promise<H>) -> Result<(), H::Error> {
        let hook = with_existing_tracker(self, |t| {
            t.on_handled.take().map(|hook| (hook, t.hooks_version))
        })
        .flatten();
        let Some((mut hook, version)) = hook else {
            return H::rejection_handled(self, promise);
        };
        let result = hook(self, promise);
        let unused = with_tracker(self, |t| {
            if t.hooks_version == version {
                t.on_handled = Some(hook);
                None
            } else {
                Some(hook)
            }
        });
        drop(unused);
        result
    }

    /// Sets (or removes) the listener for unhandled rejections (Node's
    /// `process.on('unhandledRejection')`). Without one, [`PromiseHost::unhandled_rejection`]
    /// decides.
    pub fn on_unhandled_rejection(&self, hook: Option<Box<UnhandledRejectionHook<H>>>) {
        let old = with_tracker(self, |t| {
            t.hooks_version += 1;
            std::mem::replace(&mut t.on_unhandled, hook)
        });
        drop(old);
    }

    /// Sets (or removes) the listener for rejections handled after they were reported (Node's
    /// `process.on('rejectionHandled')`). Without one, [`PromiseHost::rejection_handled`]
    /// decides.
    pub fn on_rejection_handled(&self, hook: Option<Box<RejectionHandledHook<H>>>) {
        let old = with_tracker(self, |t| {
            t.hooks_version += 1;
            std::mem::replace(&mut t.on_handled, hook)
        });
        drop(old);
    }
}
