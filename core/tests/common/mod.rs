//! Helpers shared by the behaviour tests: a log that callbacks append to, loops on either
//! clock, and the expected orders Node printed (`tests/node/*.expected`, the corpus the C and
//! Python tests read too).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use phaseloop_core::{ClockKind, DrainMode, Loop, LoopOptions, Task};

/// The order callbacks ran in.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    /// A callback that only logs `entry`.
    pub fn task(&self, entry: &str) -> Task {
        let log = self.clone();
        let entry = entry.to_owned();
        Task::new(move |_, _| {
            log.push(entry.clone());
            Ok(())
        })
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

pub fn virtual_loop() -> Loop<Task> {
    Loop::new(LoopOptions {
        clock: ClockKind::Virtual,
        threadpool_size: Some(1),
        ..Default::default()
    })
    .unwrap()
}

pub fn real_loop() -> Loop<Task> {
    Loop::new(LoopOptions {
        threadpool_size: Some(2),
        ..Default::default()
    })
    .unwrap()
}

pub fn phase_drain_loop() -> Loop<Task> {
    Loop::new(LoopOptions {
        clock: ClockKind::Virtual,
        drain: DrainMode::Phase,
        threadpool_size: Some(1),
    })
    .unwrap()
}

/// What Node printed for `tests/node/NAME.js` (rerun with `tests/node/check.sh`).
pub fn node_expected(name: &str) -> Vec<String> {
    let path = format!(
        "{}/../tests/node/{name}.expected",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{path}: {err}"))
        .lines()
        .map(str::to_owned)
        .collect()
}
