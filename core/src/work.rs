//! Work requests: the loop's side of the worker pool (`uv_queue_work`, `uv_cancel`). The pool
//! (`pool.rs`) runs the jobs; this is what the loop keeps of each request until its callback
//! has run.

use crate::callback::Callback;
#[cfg(doc)]
use crate::callback::Event;
use crate::error::Error;
use crate::event_loop::{Loop, Refused};
use crate::id::Id;
use crate::inbox::Completion;
#[cfg(doc)]
use crate::pool::Pool;
use crate::pool::{Job, RawJob, Work};
use crate::work_outcome::WorkOutcome;

/// A work request the loop holds from `queue_work` until its callback has run.
pub(crate) struct WorkEntry<C> {
    pub(crate) after: Option<C>,
    /// The job's number in the pool's queue (see [`Pool::cancel`]).
    pub(crate) number: u64,
    /// The stream whose host name this job resolves (the loop's own job, no host callback).
    pub(crate) connect: Option<Id>,
}

impl<C: Callback> Loop<C> {
    /// `uv_queue_work`: runs `job` on a pool thread, then `after` (if any) with
    /// [`Event::Work`] on the loop thread in the poll phase, in completion order.
    pub fn queue_work(&self, job: Job, after: Option<C>) -> Result<Id, Refused<Option<C>>> {
        self.submit_work(Work::Boxed(job), after)
    }

    /// [`Loop::queue_work`] for a job that is a plain function and its arguments (no
    /// allocation per job); it completes with [`WorkOutcome::Done`] holding `()`.
    pub fn queue_raw_work(&self, job: RawJob, after: Option<C>) -> Result<Id, Refused<Option<C>>> {
        self.submit_work(Work::Raw(job), after)
    }

    fn submit_work(&self, job: Work, after: Option<C>) -> Result<Id, Refused<Option<C>>> {
        if let Err(error) = self.check_open() {
            return Err(Refused {
                error,
                callback: after,
            });
        }
        let refused = {
            let mut st = self.st();
            let st = &mut *st;
            // Insert first so the job knows its id; remove again if no thread could be started.
            let id = st.works.insert(WorkEntry {
                after: None,
                number: 0,
                connect: None,
            });
            match st.pool.submit(id, job) {
                Ok(number) => {
                    let entry = st.works.get_mut(id).expect("just inserted");
                    entry.after = after;
                    entry.number = number;
                    return Ok(id);
                }
                Err((err, job)) => {
                    st.works.remove(id);
                    (err, job)
                }
            }
        };
        let (err, job) = refused;
        drop(job);
        Err(Refused {
            error: Error::Io(err),
            callback: after,
        })
    }

    /// `uv_cancel`: cancels a work request that has not started; its callback then gets
    /// [`WorkOutcome::Cancelled`] in the next poll phase. [`Error::Busy`] once it started,
    /// [`Error::NotFound`] once it was delivered.
    pub fn cancel_work(&self, id: Id) -> Result<(), Error> {
        self.check_open()?;
        let mut st = self.st();
        let number = st.works.get(id).ok_or(Error::NotFound)?.number;
        if st.pool.cancel(number) {
            st.cancelled.push(Completion {
                id,
                outcome: WorkOutcome::Cancelled,
            });
            Ok(())
        } else if st.cancelled.iter().any(|c| c.id == id) {
            Ok(()) // cancelled twice: the first cancel still stands
        } else {
            Err(Error::Busy)
        }
    }

    /// Whether the work request's callback has yet to run.
    pub fn work_pending(&self, id: Id) -> bool {
        !self.closed.get() && self.st().works.contains(id)
    }

    /// The worker pool's size.
    pub fn threadpool_size(&self) -> usize {
        self.st().pool.size()
    }
}
