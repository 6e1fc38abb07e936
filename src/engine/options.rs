//! How an engine job runs: the network with its configuration and device, and the job's
//! feature cache, progress callback, cancel token and flip mode ([`JobOptions`], built with
//! [`JobOptions::new`] or [`super::Session::job`] and the builder methods).

use std::sync::LazyLock;

use burn::tensor::Device;

use super::cache::CacheSpec;
use super::flip::FlipMode;
use crate::cancel::CancelToken;
use crate::model::{ModelConfig, XCorrNet};

/// Progress of a stage: (stage name, done, total).
pub type StageProgress<'a> = &'a (dyn Fn(&'static str, usize, usize) + Sync);

/// The network a job runs, and how it runs.
#[derive(Clone, Copy)]
pub struct JobOptions<'a> {
    pub net: &'a XCorrNet,
    pub config: &'a ModelConfig,
    pub device: &'a Device,
    /// The feature cache of the images' folder (None: every image goes through the trunk).
    pub cache: Option<&'a CacheSpec>,
    /// Stage progress ("decoding", "trunk features", "scoring", ...).
    pub progress: StageProgress<'a>,
    /// Checked between batches; a tripped token ends the job with [`super::JobError::Cancelled`].
    pub cancel: &'a CancelToken,
    /// Test-time flip averaging of every score ([`super::flip`]).
    pub flip: FlipMode,
}

/// A progress callback that ignores every report.
fn no_progress(_: &'static str, _: usize, _: usize) {}

/// A token nobody trips.
static NEVER: LazyLock<CancelToken> = LazyLock::new(CancelToken::new);

impl<'a> JobOptions<'a> {
    /// `net` with its `config` on `device`: no cache, no progress reports, never cancelled.
    pub fn new(net: &'a XCorrNet, config: &'a ModelConfig, device: &'a Device) -> Self {
        Self {
            net,
            config,
            device,
            cache: None,
            progress: &no_progress,
            cancel: &NEVER,
            flip: FlipMode::Off,
        }
    }

    /// Average every score over the pair and the mirrored pair ([`FlipMode::Both`]).
    pub fn flip(self, flip: FlipMode) -> Self {
        Self { flip, ..self }
    }

    /// Read and update the feature cache `cache` (None: no cache).
    pub fn cache(self, cache: Option<&'a CacheSpec>) -> Self {
        Self { cache, ..self }
    }

    /// Report stage progress to `progress`.
    pub fn progress(self, progress: StageProgress<'a>) -> Self {
        Self { progress, ..self }
    }

    /// Stop when `cancel` is tripped.
    pub fn cancel(self, cancel: &'a CancelToken) -> Self {
        Self { cancel, ..self }
    }

    /// The same job without the cache and without progress reports (the single query image).
    pub(super) fn quiet(self) -> Self {
        Self {
            cache: None,
            progress: &no_progress,
            ..self
        }
    }
}
