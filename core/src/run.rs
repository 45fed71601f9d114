//! `run`: the phases of an iteration, in libuv >= 1.45's shape (ordering rules 3, 5, 6 in
//! docs/ordering.md).
//!
//! ```text
//! run(default):  timers
//!                loop { pending idle prepare poll [pending x8] check close timers }
//! ```
//! Ticks and microtasks drain after every callback (or once per phase in `DrainMode::Phase`).
//! Where `run` is between two steps is kept in the loop, so that a `run` stopped by a failing
//! callback (rule 8) continues exactly there the next time.

use std::time::Duration;

use crate::callback::{Callback, Event};
use crate::error::{Error, RunError};
use crate::event_loop::{Loop, Pending, State};
use crate::handles::HandleKind;
use crate::id::Id;
use crate::inbox::Completion;
use crate::options::{DrainMode, RunMode};
use crate::poll::{decode_key, PollKey};
use crate::poller::{Event as PollerEvent, Events};
use crate::trace::Kind;
use crate::trace::Phase;

/// libuv runs deferred callbacks queued during poll again, up to this many rounds.
const PENDING_RERUNS: u8 = 8;

/// Something the poll phase found ready, waiting for its callback.
pub(crate) enum PollItem {
    Watcher {
        id: Id,
        readable: bool,
        writable: bool,
    },
    Signal {
        id: Id,
        signum: i32,
    },
    Work(Completion),
    Stream {
        id: Id,
        readable: bool,
        writable: bool,
    },
    /// A `SIGCHLD` arrived: look for this loop's children that exited.
    Reap,
}

/// Where `run` is; kept across calls so that a `run` stopped by a failing callback resumes
/// exactly where it stopped. The steps of a round, in order: each phase's step (a step may go
/// past the next ones when they have nothing to run), between the run's first and last.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Step {
    Start,
    FirstTimers,
    Pending,
    Idle,
    Prepare,
    PollWait,
    PollDispatch,
    /// The pending callbacks queued during poll, again (the round is in `Loop::pending_reruns`).
    PendingRerun,
    Check,
    Immediates,
    Close,
    LateTimers,
    Finish,
}

/// The phase of each step, by its discriminant: a step runs a dozen times an iteration, and a
/// load costs less than a match.
const STEP_PHASES: [Option<Phase>; 13] = [
    None,                 // Start
    Some(Phase::Timers),  // FirstTimers
    Some(Phase::Pending), // Pending
    Some(Phase::Idle),    // Idle
    Some(Phase::Prepare), // Prepare
    Some(Phase::Poll),    // PollWait
    Some(Phase::Poll),    // PollDispatch
    Some(Phase::Pending), // PendingRerun
    Some(Phase::Check),   // Check
    Some(Phase::Check),   // Immediates
    Some(Phase::Close),   // Close
    Some(Phase::Timers),  // LateTimers
    None,                 // Finish
];

impl Step {
    /// The phase this step runs in; `None` between rounds.
    #[inline]
    pub(crate) fn phase(self) -> Option<Phase> {
        STEP_PHASES[self as usize]
    }
}

impl<C: Callback> Loop<C> {
    /// Runs the loop (`uv_run`). Returns whether ref'd work remains.
    ///
    /// - [`RunMode::Default`]: until nothing ref'd is left or [`Loop::stop`] is called.
    /// - [`RunMode::Once`]: one round, blocking in poll if needed.
    /// - [`RunMode::NoWait`]: one round without blocking.
    ///
    /// First drains the ticks and microtasks queued since the last run (the main script's).
    /// A failing callback stops `run` with [`RunError::Callback`]; nothing queued is lost.
    pub fn run(&self, mode: RunMode) -> Result<bool, RunError<C::Error>> {
        self.check_open()?;
        if self.depth.get() > 0 || self.running.get() {
            return Err(Error::InCallback.into());
        }
        self.running.set(true);
        // The host ran between the runs.
        self.clock_read_ns.set(None);
        // A resumed run drains in the phase it stopped in.
        self.phase.set(self.step.get().phase());
        let result = self.run_steps(mode);
        self.running.set(false);
        self.phase.set(None);
        // The SIGCHLD registration outlives each child within a run (process.rs says why);
        // a loop that returns with no child left gives its socket pair back.
        if !self.closed.get() {
            self.st().processes.drop_sigchld_if_idle(&self.inbox.poller);
        }
        result
    }

    fn run_steps(&self, mode: RunMode) -> Result<bool, RunError<C::Error>> {
        self.drain().map_err(RunError::Callback)?;
        loop {
            let step = self.step.get();
            self.phase.set(step.phase());
            let next = match step {
                Step::Start => {
                    let alive = self.alive();
                    self.clock.update();
                    if !alive || self.stop_flag.get() {
                        Step::Finish
                    } else if mode == RunMode::Default {
                        Step::FirstTimers
                    } else {
                        Step::Pending
                    }
                }
                Step::FirstTimers => {
                    self.run_timers()?;
                    Step::Pending
                }
                Step::Pending => {
                    let past = if self.phase_started.get() {
                        None
                    } else {
                        self.begin_round()
                    };
                    match past {
                        Some(next) => next,
                        None => {
                            self.run_pending()?;
                            Step::Idle
                        }
                    }
                }
                Step::Idle => {
                    self.run_handles(HandleKind::Idle)?;
                    Step::Prepare
                }
                Step::Prepare => {
                    self.run_handles(HandleKind::Prepare)?;
                    Step::PollWait
                }
                Step::PollWait => {
                    self.poll_wait(mode)?;
                    Step::PollDispatch
                }
                Step::PollDispatch => {
                    self.poll_dispatch()?;
                    self.pending_reruns.set(0);
                    // No pending callback was queued during poll: no rerun.
                    if self.state.borrow().pending.is_empty() {
                        self.check_step()
                    } else {
                        Step::PendingRerun
                    }
                }
                Step::PendingRerun => {
                    let round = self.pending_reruns.get();
                    let more = self.phase_started.get() || !self.state.borrow().pending.is_empty();
                    if round < PENDING_RERUNS && more {
                        self.run_pending()?;
                        self.pending_reruns.set(round + 1);
                        Step::PendingRerun
                    } else {
                        Step::Check
                    }
                }
                Step::Check => {
                    self.run_handles(HandleKind::Check)?;
                    Step::Immediates
                }
                Step::Immediates => {
                    self.run_immediates()?;
                    // A close phase with nothing to close ends as it begins (but for the
                    // phase mode's drain).
                    if self.drain_mode == DrainMode::Callback
                        && self.state.borrow().closing.is_empty()
                    {
                        Step::LateTimers
                    } else {
                        Step::Close
                    }
                }
                Step::Close => {
                    self.run_close()?;
                    Step::LateTimers
                }
                Step::LateTimers => {
                    self.run_timers()?;
                    // The round ends: another, or the end of `run`.
                    if mode == RunMode::Default && self.alive() && !self.stop_flag.get() {
                        Step::Pending
                    } else {
                        Step::Finish
                    }
                }
                Step::Finish => {
                    self.step.set(Step::Start);
                    self.stop_flag.set(false);
                    return Ok(self.alive());
                }
            };
            self.step.set(next);
        }
    }

    // ----- draining -----------------------------------------------------------------------

    fn pop_tick(&self) -> Option<C> {
        self.st().ticks.pop_front()
    }

    fn pop_microtask(&self) -> Option<C> {
        self.st().microtasks.pop_front()
    }

    /// Whether both queues are empty; clears [`Loop::maybe_queued`] when they are.
    #[inline]
    fn queues_empty(&self) -> bool {
        if !self.maybe_queued.get() {
            return true;
        }
        let st = self.state.borrow();
        let empty = st.ticks.is_empty() && st.microtasks.is_empty();
        if empty {
            self.maybe_queued.set(false);
        }
        empty
    }

    /// Runs every tick, then every microtask, while either queue is non-empty (rule 2.3); then
    /// [`Callback::after_drain`], and drains again if it queued anything (rule 2.5).
    pub(crate) fn drain(&self) -> Result<(), C::Error> {
        // The hook below is host code, even when nothing is queued (the phase drain mode).
        self.clock_read_ns.set(None);
        loop {
            // Most callbacks queue neither: one look at both queues, then the hook.
            if self.queues_empty() {
                C::after_drain(self)?;
                if self.queues_empty() {
                    return Ok(());
                }
            }
            while let Some(mut cb) = self.pop_tick() {
                self.invoke(Kind::Tick, 0, &mut cb, Event::Fire)?;
            }
            while let Some(mut cb) = self.pop_microtask() {
                self.invoke(Kind::Microtask, 0, &mut cb, Event::Fire)?;
            }
            if !self.state.borrow().ticks.is_empty() {
                continue;
            }
            C::after_drain(self)?;
            // What the hook queued (an unhandled-rejection listener's tick) runs in this drain,
            // as Node's processTicksAndRejections loops again after reporting.
            if self.queues_empty() {
                return Ok(());
            }
        }
    }

    /// The drain after one macrotask (callback drain mode only).
    #[inline]
    pub(crate) fn drain_after_callback(&self) -> Result<(), RunError<C::Error>> {
        if self.drain_mode != DrainMode::Callback {
            return Ok(());
        }
        // What `drain` does first, inline: after most callbacks nothing was queued (one byte
        // says so) and the hook queues nothing, and this runs once per callback of every phase.
        if !self.maybe_queued.get() {
            C::after_drain(self).map_err(RunError::Callback)?;
            if !self.maybe_queued.get() {
                return Ok(());
            }
        }
        // Something may be queued: `drain` looks at the queues, runs them, then the hook,
        // exactly as it would have after its own first look.
        self.drain().map_err(RunError::Callback)
    }

    /// Starts a phase's batch once (not again when a failed phase resumes).
    #[inline]
    fn begin_phase(&self) -> bool {
        !self.phase_started.replace(true)
    }

    /// Ends a phase: the phase-mode drain, and the next phase takes its own batch.
    #[inline(always)]
    fn end_phase(&self) -> Result<(), RunError<C::Error>> {
        self.phase_started.set(false);
        if self.drain_mode == DrainMode::Phase {
            return self.drain_after_phase();
        }
        Ok(())
    }

    /// The drain of [`DrainMode::Phase`], kept out of line: `end_phase` is inlined into every
    /// phase, and in the default mode never drains.
    #[inline(never)]
    fn drain_after_phase(&self) -> Result<(), RunError<C::Error>> {
        self.drain().map_err(RunError::Callback)
    }

    // ----- timers (rule 4) -------------------------------------------------------------------

    /// The timers phase: every timer due at the time read as it began (rule 4.2).
    #[inline(always)]
    fn run_timers(&self) -> Result<(), RunError<C::Error>> {
        if self.begin_phase() {
            // A timers phase starts an iteration.
            self.iteration.set(self.iteration.get() + 1);
            self.fresh_iteration.set(true);
            let now = if self.clock.is_virtual() {
                self.clock.update()
            } else {
                let real_ns = self.clock.real_ns();
                self.clock_read_ns.set(Some(real_ns));
                self.clock.update_to(real_ns)
            };
            let mut st = self.st();
            st.timers_now = now;
            if !st.timers.next_expiry().is_some_and(|expiry| expiry <= now) {
                // Nothing due (most iterations): the phase ends here.
                drop(st);
                return self.end_phase();
            }
        }
        self.run_due_timers()
    }

    fn run_due_timers(&self) -> Result<(), RunError<C::Error>> {
        let now = self.state.borrow().timers_now;
        loop {
            let due = {
                let mut st = self.st();
                st.timers.pop_due(now).map(|index| {
                    let id = st.timers.slab.id_at(index);
                    let entry = st.timers.slab.at_mut(index);
                    let cb = entry.cb.take().expect("an armed timer holds its callback");
                    (id, cb, entry.repeat, entry.held())
                })
            };
            let Some((id, mut cb, repeat, held)) = due else {
                break;
            };
            // An interval is re-armed from a clock read taken just before its callback (4.5).
            let interval_start = repeat.then(|| self.clock.update());
            let kind = if repeat {
                Kind::Interval
            } else {
                Kind::Timeout
            };
            let result = self.invoke(kind, id.as_u64(), &mut cb, Event::Fire);
            // The callback learns whether the loop keeps it before the loop takes it back.
            let kept = self.state.borrow().timers.keeps(id, held);
            cb.fired(kept);
            let unused = self.st().timers.finish(id, cb, interval_start);
            drop(unused);
            result.map_err(RunError::Callback)?;
            self.drain_after_callback()?;
        }
        self.end_phase()
    }

    // ----- a round's beginning ----------------------------------------------------------------

    /// Begins a round at its pending phase (not when a failed pending phase resumes). A round
    /// that did not begin with a timers phase (run once/nowait) is a new iteration here; the
    /// pending reruns after poll stay in the round. Returns the step the round goes on at when
    /// its first phases have nothing to run: past the poll for a quiet round (whose poll this
    /// has done), the poll's wait when only the pending, idle and prepare phases are empty.
    #[inline(always)]
    fn begin_round(&self) -> Option<Step> {
        if !self.fresh_iteration.replace(false) {
            self.iteration.set(self.iteration.get() + 1);
        }
        let empty = {
            let st = self.state.borrow();
            let empty = st.pending.is_empty()
                && !st.handles.any_started(HandleKind::Idle)
                && !st.handles.any_started(HandleKind::Prepare);
            self.can_sleep
                .set(st.pending.is_empty() && !st.handles.idle_active());
            empty && self.drain_mode == DrainMode::Callback
        };
        if !empty {
            None
        } else if self.quiet_until_check() {
            self.skip_poll();
            Some(self.check_step())
        } else {
            Some(Step::PollWait)
        }
    }

    /// The check phase's first step: its handles', or the immediates' if no handle is started.
    #[inline(always)]
    fn check_step(&self) -> Step {
        if self.state.borrow().handles.any_started(HandleKind::Check) {
            Step::Check
        } else {
            Step::Immediates
        }
    }

    /// Whether a round whose pending, idle and prepare phases are empty (in the callback drain
    /// mode: the phase mode drains after each phase, empty or not) has nothing to run up to its
    /// check phase: a poll that would neither wait (a ref'd immediate or a closing handle is
    /// queued) nor ask the poller (nothing is watched, no work is in flight, no threadsafe call
    /// waits; what `plan_poll` looks at), with nothing left from an earlier poll. The delay
    /// monitor takes the general path, which keeps its stamps.
    ///
    /// A chained immediate makes every round such a round, and taking those steps one by one
    /// cost about a third of the iteration (`bench/README.md`).
    #[inline(always)]
    fn quiet_until_check(&self) -> bool {
        let st = self.state.borrow();
        (st.immediates.has_ref() || !st.closing.is_empty())
            && st.watchers.registered == 0
            && st.streams.armed == 0
            && st.works.is_empty()
            && st.cancelled.is_empty()
            && st.poll_ready.is_empty()
            && st.calls.is_empty()
            && !st.delay.enabled()
            && !self.inbox.has_calls()
    }

    /// The poll of a quiet round: what `poll_wait` does for a poll with timeout 0 and nothing
    /// it could find (no system call): the poll is counted, and the time it returned at is
    /// kept, without reading the clock again if nothing ran since the last reading.
    #[inline(always)]
    fn skip_poll(&self) {
        let exited_ns = match self.clock_read_ns.get() {
            // The cached time is that reading's already.
            Some(read_ns) => Some(read_ns),
            None if self.clock.is_virtual() => {
                self.clock.update();
                None
            }
            None => {
                let real_ns = self.clock.real_ns();
                self.clock.update_to(real_ns);
                Some(real_ns)
            }
        };
        let mut st = self.st();
        st.stats.iterations += 1;
        st.stats.poll_exit_ns = exited_ns;
    }

    // ----- pending ---------------------------------------------------------------------------

    /// The pending phase: the callbacks deferred to it before it began.
    #[inline(always)]
    fn run_pending(&self) -> Result<(), RunError<C::Error>> {
        // Most iterations defer nothing: then the phase ends as it begins.
        if !self.phase_started.get() && self.state.borrow().pending.is_empty() {
            return self.end_phase();
        }
        self.run_pending_batch()
    }

    fn run_pending_batch(&self) -> Result<(), RunError<C::Error>> {
        if self.begin_phase() {
            let mut st = self.st();
            let st = &mut *st;
            // A finished batch is empty: taking the queue whole is a swap, not a copy.
            debug_assert!(st.pending_batch.is_empty());
            std::mem::swap(&mut st.pending_batch, &mut st.pending);
        }
        loop {
            let next = self.st().pending_batch.pop_front();
            match next {
                None => break,
                Some(Pending::Call(mut cb)) => {
                    self.invoke(Kind::Pending, 0, &mut cb, Event::Fire)
                        .map_err(RunError::Callback)?;
                    drop(cb);
                }
                Some(Pending::Stream(deferred)) => {
                    deferred.invoke(self).map_err(RunError::Callback)?;
                }
            }
            self.drain_after_callback()?;
        }
        self.end_phase()
    }

    // ----- idle, prepare, check --------------------------------------------------------------

    /// Runs the started handles of `kind`: the idle or prepare phase, or the check phase's
    /// handles (the immediates come after them).
    #[inline(always)]
    fn run_handles(&self, kind: HandleKind) -> Result<(), RunError<C::Error>> {
        // Most loops have no handle of a kind: then the phase is over before it begins (this
        // runs three times an iteration, so it is kept apart from the batch's loop).
        if !self.phase_started.get() && !self.state.borrow().handles.any_started(kind) {
            return self.end_handles(kind);
        }
        self.run_handle_batch(kind)
    }

    fn run_handle_batch(&self, kind: HandleKind) -> Result<(), RunError<C::Error>> {
        if self.begin_phase() {
            let mut st = self.st();
            let st = &mut *st;
            st.handles.batch_into(kind, &mut st.handle_batch);
        }
        loop {
            let next = {
                let mut st = self.st();
                let st = &mut *st;
                loop {
                    let Some((id, seq)) = st.handle_batch.pop_front() else {
                        break None;
                    };
                    if let Some(cb) = st.handles.take_for_batch(id, seq) {
                        break Some((id, cb));
                    }
                }
            };
            let Some((id, mut cb)) = next else { break };
            let result = self.invoke(kind.trace_kind(), id.as_u64(), &mut cb, Event::Fire);
            let unused = self.st().handles.put_back(id, cb);
            drop(unused);
            result.map_err(RunError::Callback)?;
            self.drain_after_callback()?;
        }
        self.end_handles(kind)
    }

    /// Ends the handles' part of a phase: idle and prepare end their phase; check goes on with
    /// the immediates, and its drain comes after them.
    #[inline(always)]
    fn end_handles(&self, kind: HandleKind) -> Result<(), RunError<C::Error>> {
        if kind == HandleKind::Check {
            self.phase_started.set(false);
            Ok(())
        } else {
            self.end_phase()
        }
    }

    #[inline]
    fn run_immediates(&self) -> Result<(), RunError<C::Error>> {
        if self.begin_phase() {
            self.st().immediates.begin_batch();
        }
        loop {
            let next = self.st().immediates.pop_batch();
            let Some((id, mut cb)) = next else { break };
            self.invoke(Kind::Immediate, id.as_u64(), &mut cb, Event::Fire)
                .map_err(RunError::Callback)?;
            drop(cb);
            self.drain_after_callback()?;
        }
        self.end_phase()
    }

    // ----- close ------------------------------------------------------------------------------

    #[inline]
    fn run_close(&self) -> Result<(), RunError<C::Error>> {
        if self.begin_phase() {
            let mut st = self.st();
            if st.closing.is_empty() {
                drop(st);
                return self.end_phase();
            }
            let st = &mut *st;
            // As in the pending phase: a finished batch is empty, so this is a swap.
            debug_assert!(st.close_batch.is_empty());
            std::mem::swap(&mut st.close_batch, &mut st.closing);
        }
        loop {
            let next = self.st().close_batch.pop_front();
            let Some(mut closing) = next else { break };
            // A stream's unfinished requests first (`ECANCELED`), one callback at a time: a
            // failing one leaves the rest, and the close callback, for the resumed run.
            if !closing.cancelled.is_empty() {
                let deferred = closing.cancelled.remove(0);
                self.st().close_batch.push_front(closing);
                deferred.invoke(self).map_err(RunError::Callback)?;
                self.drain_after_callback()?;
                continue;
            }
            if let Some(mut cb) = closing.cb {
                self.invoke(Kind::Close, closing.id.as_u64(), &mut cb, Event::Fire)
                    .map_err(RunError::Callback)?;
                drop(cb);
                self.drain_after_callback()?;
            }
        }
        self.end_phase()
    }

    // ----- poll (rule 5) -----------------------------------------------------------------------

    /// The poll timeout of rule 5.1 in ms; `None` blocks until something arrives.
    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        // Something queued, a stop, or nothing alive: each means no wait. The queues are looked
        // at first, being the cheapest and, in a busy loop, the answer.
        let queued = {
            let st = self.state.borrow();
            st.handles.idle_active()
                || st.immediates.has_ref()
                || !st.pending.is_empty()
                || !st.closing.is_empty()
                || !st.cancelled.is_empty()
                || !st.poll_ready.is_empty()
                || !st.calls.is_empty()
                || self.inbox.has_calls()
                || !st.ticks.is_empty()
                || !st.microtasks.is_empty()
        };
        if queued || self.stop_flag.get() || !self.alive() {
            return Some(0);
        }
        let st = self.state.borrow();
        st.timers
            .next_expiry()
            .map(|expiry| expiry.saturating_sub(self.clock.now_ms()))
    }

    /// The poll phase's wait: decide the timeout, wait for events, collect what is ready.
    fn poll_wait(&self, mode: RunMode) -> Result<(), RunError<C::Error>> {
        let plan = self.plan_poll(mode);
        let (events, polled) = self.wait_for_events(&plan);
        // A poll that made no system call returns at the last clock reading as far as anything
        // can tell (its cached time, the delay monitor's stamp), if no host code has run since:
        // the reading taken as it was entered, or the timers phase's. The clock is not read
        // again then (tens of ns, as much as the rest of a quiet iteration), as libuv's poll,
        // with nothing to watch, returns without updating the time.
        let reading = if plan.must_poll {
            None
        } else {
            plan.entered_ns.or_else(|| self.clock_read_ns.get())
        };
        let exited_ns = reading.or_else(|| {
            (!self.clock.is_virtual() || plan.entered_ns.is_some()).then(|| self.clock.real_ns())
        });
        let found = self.collect_ready(events, &plan, exited_ns);
        polled.map_err(|err| RunError::Loop(Error::Io(err)))?;
        if found == 0 {
            if let Some(expiry) = plan.jump_to {
                self.clock.jump_to(expiry);
            }
        }
        match exited_ns {
            Some(real_ns) if !self.clock.is_virtual() => self.clock.update_to(real_ns),
            _ => self.clock.update(),
        };
        if plan.blocking {
            C::after_wait(self).map_err(RunError::Callback)?;
        }
        Ok(())
    }

    /// How long this poll may wait (rule 5.1), and whether it must ask the poller at all.
    fn plan_poll(&self, mode: RunMode) -> PollPlan {
        let timeout = match mode {
            RunMode::NoWait => Some(0),
            RunMode::Once if !self.can_sleep.get() => Some(0),
            _ => self.poll_timeout(),
        };
        // The signal wake-up socket does not count as watching: it exists to wake a blocking
        // poll, and a byte left in it by a signal that came while the loop was busy is seen by
        // the next blocking poll (level-triggered), so zero-timeout polls may skip it.
        let (jobs_in_flight, watching) = {
            let st = self.state.borrow();
            (
                !st.works.is_empty(),
                st.watchers.registered > 0 || st.streams.armed > 0,
            )
        };
        // The virtual clock never waits for a timer: it polls without blocking and, if nothing
        // arrived, jumps to the timer. It does wait for jobs in flight, with the clock standing
        // still (rule 5.4).
        let mut jump_to = None;
        let mut entered_ns = None;
        let wait = match timeout {
            Some(ms) if ms > 0 && self.clock.is_virtual() => {
                if jobs_in_flight {
                    None
                } else {
                    jump_to = self.state.borrow().timers.next_expiry();
                    Some(0)
                }
            }
            // The cached time dates from this iteration's last clock reading, so a slow
            // callback since then would make poll wait for a timer longer than it should. Node
            // runs libuv with idle-time metrics on, whose poll first looks without blocking,
            // refreshes the time and waits only what is left: so does this one (a 30 ms timer
            // after a callback that took 20 of them waits 10 ms, as in Node).
            Some(ms) if ms > 0 => {
                let now_ns = self.clock.real_ns();
                self.clock.update_to(now_ns);
                entered_ns = Some(now_ns);
                self.poll_timeout()
            }
            other => other,
        };
        let blocking = wait != Some(0);
        // With nothing that could become ready, a zero-timeout poll is skipped (no syscall).
        let must_poll = blocking || watching || jobs_in_flight || self.inbox.has_calls();
        // Reading the clock costs tens of ns, as much as a whole iteration's other work: the
        // time is read before poll only when something uses it (idle time of a blocking poll,
        // the delay monitor), and after poll once, for the loop's cached time as well.
        let mut st = self.st();
        let measure_delay = st.delay.enabled();
        let entered_ns =
            entered_ns.or_else(|| (blocking || measure_delay).then(|| self.clock.real_ns()));
        st.stats.iterations += 1;
        if let (Some(entered), Some(exit)) = (entered_ns, st.stats.poll_exit_ns) {
            st.delay.record(entered.saturating_sub(exit));
        }
        PollPlan {
            wait,
            blocking,
            must_poll,
            jobs_in_flight,
            jump_to,
            entered_ns,
        }
    }

    /// Asks the poller (with the host's lock released if it will block); `None` when the plan
    /// says there is nothing it could report.
    fn wait_for_events(&self, plan: &PollPlan) -> (Option<Events>, std::io::Result<usize>) {
        if !plan.must_poll {
            return (None, Ok(0));
        }
        // The event buffer stays in the state; it is only taken out for a real poll.
        let mut buffer = self.st().events.take().unwrap_or_default();
        buffer.clear();
        let polled = if plan.blocking {
            let poller = &self.inbox.poller;
            let buffer = &mut buffer;
            let wait = plan.wait;
            C::blocking(move || poller.wait(buffer, wait.map(Duration::from_millis)))
        } else {
            self.inbox.poller.wait(&mut buffer, Some(Duration::ZERO))
        };
        (Some(buffer), polled)
    }

    /// Queues what the poll found (fds, signals, streams, children), completed work and
    /// threadsafe calls for the dispatch; returns how many items that is.
    fn collect_ready(
        &self,
        events: Option<Events>,
        plan: &PollPlan,
        exited_ns: Option<u64>,
    ) -> u64 {
        let mut found = 0u64;
        let mut st = self.st();
        let st = &mut *st;
        if let (true, Some(entered), Some(exited)) = (plan.blocking, plan.entered_ns, exited_ns) {
            st.stats.idle_ns += exited.saturating_sub(entered);
        }
        st.stats.poll_exit_ns = exited_ns;
        if let Some(events) = events {
            for event in events.iter() {
                found += st.collect_event(&event);
            }
            st.events = Some(events);
        }
        // Completed work in completion order, cancellations first (they completed at once).
        // Without a job in flight no completion can be waiting, and without a queued call
        // no call: their locks are not taken then.
        if plan.jobs_in_flight || !st.cancelled.is_empty() {
            let mut completions = std::mem::take(&mut st.completions);
            completions.append(&mut st.cancelled);
            self.inbox.take_completions(&mut completions);
            found += completions.len() as u64;
            st.poll_ready
                .extend(completions.drain(..).map(PollItem::Work));
            st.completions = completions;
        }
        if self.inbox.has_calls() {
            let before = st.calls.len();
            self.inbox.take_calls(&mut st.calls);
            found += (st.calls.len() - before) as u64;
        }
        st.stats.events += found;
        if !plan.blocking {
            st.stats.events_waiting += found;
        }
        found
    }

    /// The poll phase's callbacks: what the poll found, in the order found, then the
    /// threadsafe calls.
    #[inline(always)]
    fn poll_dispatch(&self) -> Result<(), RunError<C::Error>> {
        let found_nothing = {
            let st = self.state.borrow();
            st.poll_ready.is_empty() && st.calls.is_empty()
        };
        if found_nothing {
            return self.end_phase();
        }
        self.dispatch_ready()
    }

    fn dispatch_ready(&self) -> Result<(), RunError<C::Error>> {
        loop {
            let next = self.st().poll_ready.pop_front();
            let Some(item) = next else { break };
            match item {
                PollItem::Watcher {
                    id,
                    readable,
                    writable,
                } => self.dispatch_watcher(id, readable, writable)?,
                PollItem::Signal { id, signum } => {
                    let cb = self
                        .st()
                        .watchers
                        .signals
                        .get_mut(id)
                        .filter(|s| s.active)
                        .and_then(|s| s.cb.take());
                    if let Some(mut cb) = cb {
                        let result =
                            self.invoke(Kind::Signal, id.as_u64(), &mut cb, Event::Signal(signum));
                        let unused = match self.st().watchers.signals.get_mut(id) {
                            Some(entry) => {
                                entry.cb = Some(cb);
                                None
                            }
                            None => Some(cb),
                        };
                        drop(unused);
                        result.map_err(RunError::Callback)?;
                        self.drain_after_callback()?;
                    }
                }
                PollItem::Stream {
                    id,
                    readable,
                    writable,
                } => self.dispatch_stream(id, readable, writable)?,
                PollItem::Reap => self.reap_children()?,
                PollItem::Work(completion) => {
                    let entry = self.st().works.remove(completion.id);
                    if let Some(stream) = entry.as_ref().and_then(|e| e.connect) {
                        self.finish_resolve(stream, completion.outcome)?;
                    } else if let Some(mut cb) = entry.and_then(|e| e.after) {
                        self.invoke(
                            Kind::Work,
                            completion.id.as_u64(),
                            &mut cb,
                            Event::Work(completion.outcome),
                        )
                        .map_err(RunError::Callback)?;
                        drop(cb);
                        self.drain_after_callback()?;
                    }
                }
            }
        }
        // Threadsafe calls come last, in call order, straight from the queue they were taken
        // with.
        loop {
            let next = self.st().calls.pop_front();
            let Some(mut cb) = next else { break };
            self.invoke(Kind::Threadsafe, 0, &mut cb, Event::Fire)
                .map_err(RunError::Callback)?;
            drop(cb);
            self.drain_after_callback()?;
        }
        self.end_phase()
    }

    fn dispatch_watcher(
        &self,
        id: Id,
        readable: bool,
        writable: bool,
    ) -> Result<(), RunError<C::Error>> {
        let cb = self
            .st()
            .watchers
            .fds
            .get_mut(id)
            .filter(|w| w.active)
            .and_then(|w| w.cb.take());
        let Some(mut cb) = cb else { return Ok(()) };
        let result = self.invoke(
            Kind::Io,
            id.as_u64(),
            &mut cb,
            Event::Io { readable, writable },
        );
        // Re-arm (level-triggered); a closed fd fails here and is reported to the watcher.
        let rearm = {
            let poller = &self.inbox.poller;
            let mut st = self.st();
            let rearm = st.watchers.rearm_fd(poller, id);
            if rearm.is_err() {
                let _ = st.watchers.stop_fd(poller, id);
            }
            rearm
        };
        if result.is_ok() {
            if let Err(Error::Io(err)) = rearm {
                let failed = self.invoke(Kind::Io, id.as_u64(), &mut cb, Event::IoError(err));
                let unused = self.put_back_watcher(id, cb);
                drop(unused);
                failed.map_err(RunError::Callback)?;
                return self.drain_after_callback();
            }
        }
        let unused = self.put_back_watcher(id, cb);
        drop(unused);
        result.map_err(RunError::Callback)?;
        self.drain_after_callback()
    }

    fn put_back_watcher(&self, id: Id, cb: C) -> Option<C> {
        match self.st().watchers.fds.get_mut(id) {
            Some(entry) => {
                entry.cb = Some(cb);
                None
            }
            None => Some(cb),
        }
    }
}

/// What the poll phase must run next, decided before the poll (see [`Loop::plan_poll`]).
struct PollPlan {
    /// The poll's timeout in ms; `None` blocks until something arrives.
    wait: Option<u64>,
    /// Whether the poll may block (its time is idle time and the host's lock is released).
    blocking: bool,
    /// Whether anything could be ready: without it, a zero-timeout poll is no syscall.
    must_poll: bool,
    /// Whether work is in flight, whose completions the collect takes from the inbox.
    jobs_in_flight: bool,
    /// The virtual clock's next timer, jumped to if the poll found nothing.
    jump_to: Option<u64>,
    /// The real clock when the poll began, when something uses it.
    entered_ns: Option<u64>,
}

impl<C: Callback> State<C> {
    /// Queues what one poller event stands for; returns how many items that is.
    fn collect_event(&mut self, event: &PollerEvent) -> u64 {
        match decode_key(event.key) {
            Some(PollKey::Watcher(index)) => {
                let Some(id) = self.watchers.fired_fd(index) else {
                    return 0;
                };
                // Only what the watcher asked for, as libuv reports it: the poller flags a
                // hang-up or an error as both readable and writable.
                let interest = self.watchers.fds.get(id).map(|w| w.interest);
                let interest = interest.unwrap_or_default();
                self.poll_ready.push_back(PollItem::Watcher {
                    id,
                    readable: event.readable && interest.readable,
                    writable: event.writable && interest.writable,
                });
                1
            }
            Some(PollKey::Signal(index)) => {
                let Some((id, signum, count)) = self.watchers.take_signals(index) else {
                    return 0;
                };
                for _ in 0..count {
                    self.poll_ready.push_back(PollItem::Signal { id, signum });
                }
                count as u64
            }
            Some(PollKey::Stream(index)) => {
                let Some(id) = self.streams.fired(index) else {
                    return 0;
                };
                self.poll_ready.push_back(PollItem::Stream {
                    id,
                    readable: event.readable,
                    writable: event.writable,
                });
                1
            }
            // One reap finds every child that exited, however many SIGCHLDs came.
            Some(PollKey::Child) => {
                if self.poll_ready.iter().any(|i| matches!(i, PollItem::Reap)) {
                    return 0;
                }
                self.poll_ready.push_back(PollItem::Reap);
                1
            }
            Some(PollKey::Wakeup) => {
                if let Some((reader, _)) = &self.wakeup {
                    drain_socket(reader);
                }
                0
            }
            None => 0,
        }
    }
}

fn drain_socket(reader: &std::os::unix::net::UnixStream) {
    use std::io::Read;
    let mut buf = [0u8; 64];
    let mut reader = reader;
    while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
}
