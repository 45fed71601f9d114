//! Monitoring from Python: the delay monitor (`monitorEventLoopDelay`), event-loop utilization,
//! libuv-style metrics, and the in-memory timeline (`record` / `timeline`).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use pyo3::PyTraverseError;

use phaseloop_core::Utilization;

use crate::args;
use crate::event_loop::Loop;

/// `phaseloop.TraceEvent`, a named tuple made at import (see [`trace_event_type`]).
static TRACE_EVENT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `TraceEvent` named tuple type.
pub(crate) fn trace_event_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TRACE_EVENT
        .get_or_try_init(py, || {
            let kwargs = PyDict::new(py);
            kwargs.set_item("module", "phaseloop")?;
            let namedtuple = py.import("collections")?.getattr("namedtuple")?;
            let cls = namedtuple.call(
                (
                    "TraceEvent",
                    [
                        "iteration",
                        "phase",
                        "kind",
                        "label",
                        "start_ns",
                        "duration_ns",
                    ],
                ),
                Some(&kwargs),
            )?;
            cls.setattr(
                "__doc__",
                "One callback in the recorded timeline: the iteration and phase it ran in, its \
                 kind, its label (label= or __qualname__), when it began (hrtime ns) and how \
                 long it ran (ns).",
            )?;
            Ok::<_, PyErr>(cls.cast_into::<PyType>()?.unbind())
        })
        .map(|cls| cls.bind(py))
}

fn utilization_dict(py: Python<'_>, u: Utilization) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("idle", u.idle_ms)?;
    dict.set_item("active", u.active_ms)?;
    dict.set_item("utilization", u.utilization())?;
    Ok(dict)
}

fn utilization_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Utilization> {
    let field = |key: &str| -> PyResult<f64> {
        obj.get_item(key)
            .and_then(|value| value.extract::<f64>())
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "{name} must be a dict from utilization() (with \"idle\" and \"active\"), not {}",
                    args::type_name(obj)
                ))
            })
    };
    Ok(Utilization {
        idle_ms: field("idle")?,
        active_ms: field("active")?,
    })
}

#[pymethods]
impl Loop {
    /// The event-loop delay monitor (Node's `monitorEventLoopDelay`), disabled until enabled.
    fn monitor_delay(slf: &Bound<'_, Self>) -> PyResult<DelayMonitor> {
        slf.get().open()?;
        Ok(DelayMonitor {
            lp: slf.clone().unbind(),
        })
    }

    /// `performance.eventLoopUtilization()`: `{"idle", "active", "utilization"}` since the loop
    /// was created; with `u1`, since `u1`; with `u1` and `u2`, between them.
    #[pyo3(signature = (u1 = None, u2 = None))]
    fn utilization<'py>(
        &self,
        py: Python<'py>,
        u1: Option<&Bound<'py, PyAny>>,
        u2: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let now = self.open()?.utilization();
        let u1 = u1.filter(|u| !u.is_none());
        let u2 = u2.filter(|u| !u.is_none());
        let result = match (u1, u2) {
            (None, None) => now,
            (Some(u1), None) => now.since(&utilization_arg(u1, "u1")?),
            (Some(u1), Some(u2)) => utilization_arg(u1, "u1")?.since(&utilization_arg(u2, "u2")?),
            (None, Some(_)) => return Err(PyValueError::new_err("u2 needs u1")),
        };
        utilization_dict(py, result)
    }

    /// `{"iterations", "events", "events_waiting", "pool_queued", "pool_running"}`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.open()?.metrics();
        let dict = PyDict::new(py);
        dict.set_item("iterations", m.iterations)?;
        dict.set_item("events", m.events)?;
        dict.set_item("events_waiting", m.events_waiting)?;
        dict.set_item("pool_queued", m.pool_queued)?;
        dict.set_item("pool_running", m.pool_running)?;
        Ok(dict)
    }

    /// Starts (or stops) recording one `TraceEvent` per callback, without calling Python.
    #[pyo3(signature = (enabled = true))]
    fn record(&self, enabled: bool) -> PyResult<()> {
        let lp = self.open()?;
        lp.record(enabled);
        self.note_observed(lp);
        Ok(())
    }

    /// Whether each callback is being observed: `record()` is on or a `trace` hook is set.
    /// (`phaseloop.asyncio` gives each callback an immediate of its own, with its label, only
    /// then.)
    #[getter]
    pub(crate) fn observed(&self) -> PyResult<bool> {
        let lp = self.owned()?;
        Ok(lp.is_recording() || lp.host().trace_hook_set())
    }

    /// The recorded timeline so far, a list of `TraceEvent`.
    fn timeline<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let records = self.open()?.timeline();
        let cls = trace_event_type(py)?;
        records
            .into_iter()
            .map(|r| {
                cls.call1((
                    r.iteration,
                    r.phase.map(|p| p.name()),
                    r.kind.name(),
                    r.label.map(|label| label.0),
                    r.start_ns,
                    r.duration_ns,
                ))
            })
            .collect()
    }
}

/// Node's `IntervalHistogram` from `monitorEventLoopDelay`: how late the loop came back to poll,
/// in ns, sampled once per iteration.
#[pyclass(module = "phaseloop", frozen)]
pub struct DelayMonitor {
    lp: Py<Loop>,
}

impl DelayMonitor {
    fn stats(&self) -> PyResult<phaseloop_core::DelayStats> {
        Ok(self.lp.get().open()?.delay_stats())
    }
}

#[pymethods]
impl DelayMonitor {
    /// Starts sampling; returns whether it was off.
    fn enable(&self) -> PyResult<bool> {
        let lp = self.lp.get().open()?;
        let was = lp.delay_monitor_enabled();
        lp.set_delay_monitor(true);
        Ok(!was)
    }

    /// Stops sampling; returns whether it was on.
    fn disable(&self) -> PyResult<bool> {
        let lp = self.lp.get().open()?;
        let was = lp.delay_monitor_enabled();
        lp.set_delay_monitor(false);
        Ok(was)
    }

    /// Forgets the samples so far.
    fn reset(&self) -> PyResult<()> {
        self.lp.get().open()?.reset_delay_monitor();
        Ok(())
    }

    /// One percentile (0 < p <= 100), in ns.
    fn percentile(&self, p: f64) -> PyResult<u64> {
        if !(p > 0.0 && p <= 100.0) {
            return Err(PyValueError::new_err("p must be in (0, 100]"));
        }
        Ok(self.lp.get().open()?.delay_percentile(p))
    }

    #[getter]
    fn min(&self) -> PyResult<u64> {
        Ok(self.stats()?.min)
    }

    #[getter]
    fn max(&self) -> PyResult<u64> {
        Ok(self.stats()?.max)
    }

    #[getter]
    fn mean(&self) -> PyResult<f64> {
        Ok(self.stats()?.mean)
    }

    #[getter]
    fn stddev(&self) -> PyResult<f64> {
        Ok(self.stats()?.stddev)
    }

    #[getter]
    fn count(&self) -> PyResult<u64> {
        Ok(self.stats()?.count)
    }

    /// `{percentile: ns}`, as Node's `percentiles` map.
    #[getter]
    fn percentiles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (p, value) in self.stats()?.percentiles {
            dict.set_item(p, value)?;
        }
        Ok(dict)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)
    }
}
