//! The messages between the GUI and the worker threads: plain data, no Burn.
//!
//! The GUI sends [`Command`]s over a bounded channel; workers answer with [`Event`]s and ask the
//! GUI to repaint. Long jobs carry a [`CancelToken`] the GUI can trip at any time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::eval::{AuthorsMetrics, Labels, Metrics, Protocol};
pub use crate::model::trace::{Branch, Trace, TracedMap};
pub use crate::train::config::TrainConfig;
pub use crate::train::folder::StartMode;

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

/// Where the gallery comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum GallerySource {
    /// Every image of a folder (a dataset layout is detected; labels are used when present).
    Folder(PathBuf),
    /// Explicit files with optional labels.
    Files(Vec<(PathBuf, Option<Labels>)>),
}

/// What the GUI asks of the inference worker.
#[derive(Debug, Clone)]
pub enum Command {
    /// Load a model folder (replacing the current model).
    LoadModel { dir: PathBuf },
    /// p(same) for two images.
    Compare { a: PathBuf, b: PathBuf },
    /// Every intermediate map for a pair.
    Trace { a: PathBuf, b: PathBuf },
    /// Rank a gallery against one query image.
    Rank {
        query: PathBuf,
        query_labels: Option<Labels>,
        gallery: GallerySource,
        cancel: CancelToken,
    },
    /// CMC / mAP over a labelled dataset: its query and gallery splits (standard, single-shot),
    /// or all its test images (the authors' protocol, also on layouts without a split).
    Evaluate {
        dataset: PathBuf,
        protocol: Protocol,
        cancel: CancelToken,
    },
}

/// What the GUI asks of the training worker.
#[derive(Debug, Clone)]
pub enum TrainCommand {
    /// Start a run. `Resume` continues the run checkpointed in `config.out` with the
    /// checkpoint's settings (the form's epochs and max steps apply).
    Start {
        config: Box<TrainConfig>,
        mode: StartMode,
    },
    Pause,
    Resume,
    Stop,
}

/// One entry of a ranked list.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedEntry {
    pub path: PathBuf,
    /// p(same) with the query.
    pub score: f32,
    pub labels: Option<Labels>,
    /// Whether it is the query's identity (None when either side is unlabelled).
    pub is_match: Option<bool>,
}

/// A ranked gallery.
#[derive(Debug, Clone)]
pub struct Ranking {
    pub query: PathBuf,
    pub query_labels: Option<Labels>,
    /// Best first.
    pub entries: Vec<RankedEntry>,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    pub millis: f64,
}

/// A finished evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub dataset: PathBuf,
    /// The protocol's numbers (the authors' protocol: the means over draws).
    pub metrics: Metrics,
    /// The authors' protocol only: spread over draws, same- / cross-camera rank-1, counts.
    pub authors: Option<AuthorsMetrics>,
    /// Scores of pairs with the same identity (for the histogram).
    pub same_scores: Vec<f32>,
    /// Scores of pairs with different identities (subsampled).
    pub different_scores: Vec<f32>,
    pub millis: f64,
}

/// A training-run event.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// Decoding the training images: `done` of `total`.
    Loading {
        done: usize,
        total: usize,
    },
    Started {
        total_steps: u64,
        start_step: u64,
        pairs_per_epoch: usize,
    },
    Step {
        step: u64,
        epoch: usize,
        loss: f32,
        accuracy: f32,
        lr: f64,
        /// Pairs scored by this step.
        pairs: usize,
        pairs_per_s: f64,
    },
    EpochEnd {
        epoch: usize,
        step: u64,
    },
    /// A validation's measures.
    Validation(crate::train::checkpoint::ValidationRecord),
    /// Something the user should know (a setting changed on resume, files cleaned up, a new
    /// best model).
    Notice {
        message: String,
    },
    Checkpoint {
        step: u64,
        path: PathBuf,
    },
    Paused {
        step: u64,
    },
    Resumed {
        step: u64,
    },
    Finished {
        step: u64,
        model_dir: PathBuf,
    },
    Cancelled {
        step: u64,
        model_dir: PathBuf,
    },
    Failed {
        reason: String,
    },
}

/// What the workers send back.
#[derive(Debug, Clone)]
pub enum Event {
    ModelLoaded {
        dir: PathBuf,
        backend: String,
    },
    Compared {
        a: PathBuf,
        b: PathBuf,
        p_same: f32,
        millis: f64,
        backend: String,
    },
    Traced {
        a: PathBuf,
        b: PathBuf,
        trace: Arc<Trace>,
    },
    /// Progress of a long job: `done` of `total` units, with a label ("trunk features", ...).
    Progress {
        job: &'static str,
        done: usize,
        total: usize,
    },
    Ranked(Arc<Ranking>),
    Evaluated(Arc<Evaluation>),
    Cancelled {
        job: &'static str,
    },
    Train(TrainEvent),
    /// A job failed; `message` names the file and the reason.
    Error {
        job: &'static str,
        message: String,
    },
}
