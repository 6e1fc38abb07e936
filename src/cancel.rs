//! Cancelling a long job from another thread: a [`CancelToken`] is a shared flag the owner of
//! the job (the GUI, a Ctrl-C handler) trips and the job checks between batches.
//!
//! It lives below every module that runs or controls jobs (`engine`, `train`, `protocol`,
//! `worker`, `cli`), so none of them has to import another for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag shared between the GUI and a job: set it and the job stops at its next check.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
