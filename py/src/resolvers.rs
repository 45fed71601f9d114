//! `ResolvingFunction`: the `resolve` and `reject` callables of a promise, as an executor of
//! `Loop.promise` or a thenable's `then` receives them, and the completion callback of
//! `Loop.work`. Both functions of a pair share the core's "already resolved" flag: the first call
//! decides, later calls do nothing (as in JavaScript).

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use phaseloop_core::ResolvingFunctions;

use crate::callback::PyCallback;
use crate::event_loop::Loop;
use crate::promise_host::PyValue;

/// What calling a [`ResolvingFunction`] does.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Settle {
    /// `resolve(value=None)`: fulfil, or adopt a promise or thenable.
    Resolve,
    /// `reject(reason=None)`.
    Reject,
    /// `callback(error, result)` of a work job: reject with `error` unless it is `None`, else
    /// resolve with `result`.
    WorkOutcome,
}

/// A promise's `resolve` or `reject` function.
#[pyclass(module = "phaseloop", frozen)]
pub struct ResolvingFunction {
    lp: Py<Loop>,
    resolvers: ResolvingFunctions<PyCallback>,
    settle: Settle,
}

impl ResolvingFunction {
    pub(crate) fn new(
        lp: Py<Loop>,
        resolvers: ResolvingFunctions<PyCallback>,
        settle: Settle,
    ) -> Self {
        ResolvingFunction {
            lp,
            resolvers,
            settle,
        }
    }
}

#[pymethods]
impl ResolvingFunction {
    /// Resolves or rejects the promise (extra arguments are ignored, as in JavaScript). Does
    /// nothing once either function of the pair was called.
    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let lp = self.lp.get().open()?;
        let arg = |index: usize| {
            args.get_item(index)
                .map_or_else(|_| PyValue::none(py), |value| PyValue(value.unbind()))
        };
        match self.settle {
            Settle::Resolve => self.resolvers.resolve(lp, arg(0)),
            Settle::Reject => self.resolvers.reject(lp, arg(0)),
            Settle::WorkOutcome => {
                let error = arg(0);
                if error.0.is_none(py) {
                    self.resolvers.resolve(lp, arg(1));
                } else {
                    self.resolvers.reject(lp, error);
                }
            }
        }
        Ok(())
    }

    fn __repr__(&self) -> &'static str {
        match self.settle {
            Settle::Resolve => "<phaseloop resolve function>",
            Settle::Reject => "<phaseloop reject function>",
            Settle::WorkOutcome => "<phaseloop work settle function>",
        }
    }

    fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.lp)
    }
}
