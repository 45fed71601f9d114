//! Monitoring: loop counters (libuv's `uv_metrics_info`), event-loop utilization (Node's
//! `performance.eventLoopUtilization`) and the event-loop delay monitor (Node's
//! `monitorEventLoopDelay`).

use std::os::raw::c_int;

use crate::entry::with_loop;
use crate::event_loop::pl_loop;
use crate::guard::boundary;
use crate::status::{PL_EINVAL, PL_EPANIC, PL_OK};

/// Counters of what the loop did.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct pl_metrics {
    /// Poll phases entered (`uv_metrics_info.loop_count`).
    pub iterations: u64,
    /// Events the poll phase delivered: fd readiness, work completions, remote calls, signals.
    pub events: u64,
    /// Events found by a poll that did not block (already waiting when the loop looked); an
    /// event a blocking poll returns at once counts in `events` only, as in libuv.
    pub events_waiting: u64,
    /// Work requests waiting for a pool thread.
    pub pool_queued: u64,
    /// Work requests running on pool threads.
    pub pool_running: u64,
}

/// Idle and active time since the loop was created, in ms (Node's ELU object).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct pl_utilization {
    /// Time spent blocked in the poll phase.
    pub idle_ms: f64,
    /// Everything else.
    pub active_ms: f64,
    /// `active / (idle + active)`, 0 when no time passed.
    pub utilization: f64,
}

/// A snapshot of the delay histogram, in ns.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct pl_delay_stats {
    /// Samples recorded (one per iteration while enabled).
    pub count: u64,
    /// The smallest sample (0 without samples).
    pub min: u64,
    /// The largest sample.
    pub max: u64,
    /// The mean.
    pub mean: f64,
    /// The standard deviation.
    pub stddev: f64,
}

/// Writes the loop's counters to `*out`. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_loop_metrics(lp: *const pl_loop, out: *mut pl_metrics) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() {
            return PL_EINVAL;
        }
        let m = core.metrics();
        let metrics = pl_metrics {
            iterations: m.iterations,
            events: m.events,
            events_waiting: m.events_waiting,
            pool_queued: m.pool_queued as u64,
            pool_running: m.pool_running as u64,
        };
        // SAFETY: a non-NULL `out` points to a writable pl_metrics (the header's contract).
        unsafe { out.write(metrics) };
        PL_OK
    })
}

/// Writes the loop's idle and active time since it was created to `*out` (real time, whatever
/// the clock). For Node's forms with one or two arguments, take two readings and use
/// pl_utilization_since. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_loop_utilization(
    lp: *const pl_loop,
    out: *mut pl_utilization,
) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() {
            return PL_EINVAL;
        }
        let u = core.utilization();
        let utilization = pl_utilization {
            idle_ms: u.idle_ms,
            active_ms: u.active_ms,
            utilization: u.utilization(),
        };
        // SAFETY: a non-NULL `out` points to a writable pl_utilization (the header's contract).
        unsafe { out.write(utilization) };
        PL_OK
    })
}

/// The utilization between two readings: `*out = *now - *earlier`, with its own ratio
/// (`performance.eventLoopUtilization(u2, u1)`). `out` may alias either input. Any thread.
#[no_mangle]
pub unsafe extern "C" fn pl_utilization_since(
    now: *const pl_utilization,
    earlier: *const pl_utilization,
    out: *mut pl_utilization,
) -> c_int {
    boundary(PL_EPANIC, || {
        if now.is_null() || earlier.is_null() || out.is_null() {
            return PL_EINVAL;
        }
        // SAFETY: neither is NULL, and the header's contract makes each a readable
        // pl_utilization; read by value, so `out` may alias either.
        let (now, earlier) = unsafe { (now.read(), earlier.read()) };
        let idle_ms = now.idle_ms - earlier.idle_ms;
        let active_ms = now.active_ms - earlier.active_ms;
        let total = idle_ms + active_ms;
        let since = pl_utilization {
            idle_ms,
            active_ms,
            utilization: if total > 0.0 { active_ms / total } else { 0.0 },
        };
        // SAFETY: not NULL, and a writable pl_utilization (the header's contract).
        unsafe { out.write(since) };
        PL_OK
    })
}

/// Starts (`enabled` true) or stops the delay monitor. It samples once per iteration how late
/// the loop came back to the poll phase, from the loop's own timestamps: it never keeps an idle
/// loop awake nor shows in pl_walk. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_delay_monitor_enable(lp: *mut pl_loop, enabled: bool) -> c_int {
    with_loop(lp, |core| {
        core.set_delay_monitor(enabled);
        PL_OK
    })
}

/// Forgets the delay samples so far. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_delay_monitor_reset(lp: *mut pl_loop) -> c_int {
    with_loop(lp, |core| {
        core.reset_delay_monitor();
        PL_OK
    })
}

/// Writes the delay histogram's summary to `*out`. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_delay_monitor_stats(
    lp: *const pl_loop,
    out: *mut pl_delay_stats,
) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() {
            return PL_EINVAL;
        }
        let s = core.delay_stats();
        let stats = pl_delay_stats {
            count: s.count,
            min: s.min,
            max: s.max,
            mean: s.mean,
            stddev: s.stddev,
        };
        // SAFETY: a non-NULL `out` points to a writable pl_delay_stats (the header's contract).
        unsafe { out.write(stats) };
        PL_OK
    })
}

/// Writes one percentile (0..100) of the delay histogram, in ns, to `*out` (0 without samples).
/// PL_EINVAL for a percentile outside 0..100 or NaN. Loop thread only.
#[no_mangle]
pub unsafe extern "C" fn pl_delay_monitor_percentile(
    lp: *const pl_loop,
    percentile: f64,
    out: *mut u64,
) -> c_int {
    with_loop(lp, |core| {
        if out.is_null() || !(0.0..=100.0).contains(&percentile) {
            return PL_EINVAL;
        }
        let value = core.delay_percentile(percentile);
        // SAFETY: not NULL, and a writable u64 (the header's contract).
        unsafe { out.write(value) };
        PL_OK
    })
}
