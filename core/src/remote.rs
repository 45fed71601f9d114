//! [`Remote`]: the one way into a loop from another thread (`uv_async_send`, asyncio's
//! `call_soon_threadsafe`), but delivering every call with its own callback.

use std::sync::Arc;

use crate::callback::Callback;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::inbox::Inbox;

/// A clonable, `Send + Sync` handle that queues callbacks onto its loop from any thread.
///
/// Each call runs exactly once, on the loop thread, in the poll phase, in call order. A remote
/// does not keep the loop alive; calls queued through it and not yet run do. Once the loop is
/// closed, [`Remote::call`] fails with [`Error::Closed`] and gives the callback back.
pub struct Remote<C: Callback> {
    pub(crate) inbox: Arc<Inbox<C>>,
}

impl<C: Callback> Clone for Remote<C> {
    fn clone(&self) -> Self {
        Remote {
            inbox: Arc::clone(&self.inbox),
        }
    }
}

impl<C: Callback> Remote<C> {
    /// Queues `cb` to run on the loop thread. Refused with [`Error::Closed`] once the loop is
    /// closed, handing the callback back.
    pub fn call(&self, cb: C) -> Result<(), Refused<C>> {
        self.inbox.call(cb).map_err(|callback| Refused {
            error: Error::Closed,
            callback,
        })
    }
}

impl<C: Callback> Loop<C> {
    /// A [`Remote`] for other threads to queue callbacks onto this loop.
    pub fn remote(&self) -> Result<Remote<C>, Error> {
        self.check_open()?;
        Ok(Remote {
            inbox: Arc::clone(&self.inbox),
        })
    }
}
