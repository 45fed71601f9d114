//! How a work request ends: [`WorkOutcome`], what it is made of ([`JobOutput`], [`JobError`])
//! and [`panic_message`], which turns a job's panic into the outcome's text.
//!
//! A leaf: it imports nothing of the crate's, so the pool that makes outcomes, the inbox that
//! carries them to the loop and the callback that receives them depend on it and not on each
//! other.

use std::any::Any;

/// What a job hands back on success; the completion callback downcasts it.
pub type JobOutput = Box<dyn Any + Send>;
/// What a job hands back on failure.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// How a work request ended, as its completion callback sees it.
#[derive(Debug)]
pub enum WorkOutcome {
    /// The job returned a value.
    Done(JobOutput),
    /// The job returned an error.
    Failed(JobError),
    /// The job panicked; the message, if it had one.
    Panicked(String),
    /// The request was cancelled before it started.
    Cancelled,
}

/// The text of a panic payload (`panic!("...")` carries a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a job panicked".to_owned()
    }
}
