//! Loop metrics (libuv's `uv_metrics_info`), event-loop utilization (Node's
//! `performance.eventLoopUtilization`) and the event-loop delay monitor (Node's
//! `monitorEventLoopDelay`).
//!
//! The delay monitor samples from the loop's own timestamps: once per iteration it records how
//! long the loop was away from poll (from poll returning to poll being entered again), which is
//! how late any event arriving meanwhile was served. Unlike Node's timer-based sampler it never
//! keeps an idle loop awake and never shows up among the loop's handles.

use hdrhistogram::Histogram;

use crate::callback::Callback;
use crate::event_loop::Loop;

/// Counters of what the loop did (see [`crate::Loop::metrics`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Poll phases entered (`uv_metrics_info.loop_count`).
    pub iterations: u64,
    /// Events the poll phase delivered: fd readiness, completions, threadsafe calls, signals.
    pub events: u64,
    /// Events found by a poll that did not block: they were already waiting when the loop
    /// looked. As in libuv, where only the zero-timeout poll it makes first counts them; an event
    /// that a blocking poll returns at once is counted in `events` only.
    pub events_waiting: u64,
    /// Work requests waiting for a pool thread.
    pub pool_queued: usize,
    /// Work requests running on pool threads.
    pub pool_running: usize,
}

/// Idle and active time since the loop was created, in ms (Node's ELU object).
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct Utilization {
    /// Time spent blocked in poll.
    pub idle_ms: f64,
    /// Everything else.
    pub active_ms: f64,
}

impl Utilization {
    /// `active / (idle + active)`, 0 when no time has passed.
    pub fn utilization(&self) -> f64 {
        let total = self.idle_ms + self.active_ms;
        if total > 0.0 {
            self.active_ms / total
        } else {
            0.0
        }
    }

    /// The difference `self - earlier` (Node's one- and two-argument forms).
    pub fn since(&self, earlier: &Utilization) -> Utilization {
        Utilization {
            idle_ms: self.idle_ms - earlier.idle_ms,
            active_ms: self.active_ms - earlier.active_ms,
        }
    }
}

/// A snapshot of the delay histogram, in ns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DelayStats {
    /// Samples recorded.
    pub count: u64,
    /// Smallest sample (0 without samples).
    pub min: u64,
    /// Largest sample.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stddev: f64,
    /// `(percentile, value)` pairs, 0 to 100, as Node's `percentiles` map.
    pub percentiles: Vec<(f64, u64)>,
}

pub(crate) struct DelayMonitor {
    histogram: Histogram<u64>,
    enabled: bool,
}

impl DelayMonitor {
    pub(crate) fn new() -> Self {
        DelayMonitor {
            // 3 significant figures, auto-resizing: ns from 1 up to any delay.
            histogram: Histogram::new(3).expect("3 significant figures is valid"),
            enabled: false,
        }
    }

    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn reset(&mut self) {
        self.histogram.reset();
    }

    pub(crate) fn record(&mut self, delay_ns: u64) {
        if self.enabled {
            // The histogram is auto-resizing, so recording cannot fail for any u64 >= 1.
            let _ = self.histogram.record(delay_ns.max(1));
        }
    }

    pub(crate) fn percentile(&self, p: f64) -> u64 {
        if self.histogram.is_empty() {
            0
        } else {
            self.histogram.value_at_percentile(p.clamp(0.0, 100.0))
        }
    }

    pub(crate) fn stats(&self) -> DelayStats {
        let h = &self.histogram;
        if h.is_empty() {
            return DelayStats::default();
        }
        let percentiles = h
            .iter_quantiles(1)
            .map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to()))
            .collect();
        DelayStats {
            count: h.len(),
            min: h.min(),
            max: h.max(),
            mean: h.mean(),
            stddev: h.stdev(),
            percentiles,
        }
    }
}

/// Per-loop counters kept by the run loop.
#[derive(Default)]
pub(crate) struct LoopStats {
    pub(crate) iterations: u64,
    pub(crate) events: u64,
    pub(crate) events_waiting: u64,
    pub(crate) idle_ns: u64,
    /// When poll last returned (real ns), for the delay monitor.
    pub(crate) poll_exit_ns: Option<u64>,
}

impl<C: Callback> Loop<C> {
    /// Counters of what the loop did.
    pub fn metrics(&self) -> Metrics {
        let st = self.state.borrow();
        Metrics {
            iterations: st.stats.iterations,
            events: st.stats.events,
            events_waiting: st.stats.events_waiting,
            pool_queued: st.pool.queued(),
            pool_running: st.pool.running(),
        }
    }

    /// Idle (blocked in poll) and active time since the loop was created.
    pub fn utilization(&self) -> Utilization {
        let idle_ns = self.state.borrow().stats.idle_ns;
        let total_ns = self.clock.real_ns();
        Utilization {
            idle_ms: idle_ns as f64 / 1e6,
            active_ms: total_ns.saturating_sub(idle_ns) as f64 / 1e6,
        }
    }

    /// Starts or stops the event-loop delay monitor.
    pub fn set_delay_monitor(&self, enabled: bool) {
        self.st().delay.set_enabled(enabled);
    }

    /// Whether the delay monitor is on.
    pub fn delay_monitor_enabled(&self) -> bool {
        self.state.borrow().delay.enabled()
    }

    /// Forgets the delay samples so far.
    pub fn reset_delay_monitor(&self) {
        self.st().delay.reset();
    }

    /// The delay histogram so far.
    pub fn delay_stats(&self) -> DelayStats {
        self.state.borrow().delay.stats()
    }

    /// One percentile (0..=100) of the delay histogram, in ns.
    pub fn delay_percentile(&self, percentile: f64) -> u64 {
        self.state.borrow().delay.percentile(percentile)
    }
}
