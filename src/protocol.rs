//! The contract between the GUI and the worker threads: plain data, no Burn.
//!
//! The GUI sends [`Command`]s over a bounded channel; workers answer with [`Event`]s and ask the
//! GUI to repaint. Every answer names the [`JobKind`] it belongs to ([`Command::kind`]), and a
//! failure carries a typed [`JobFailure`] (turned into text only when it is shown). Long jobs
//! carry a [`CancelToken`] the GUI can trip at any time.
//!
//! This module sits above the engine and the training loop: it re-exports the data types they
//! define (rankings, evaluations, training configs and events), and neither imports it.

use std::path::PathBuf;
use std::sync::Arc;

pub use crate::cancel::CancelToken;
pub use crate::engine::{Evaluation, RankedEntry, Ranking};
pub use crate::eval::{Labels, Protocol};
pub use crate::model::ModelConfig;
pub use crate::model::calibration::Calibration;
pub use crate::model::trace::{Branch, Trace, TracedMap};
pub use crate::train::{ResumeSchedule, StartMode, TrainConfig, TrainEvent};

use crate::backend::BackendError;
use crate::data::ImageError;
use crate::engine::JobError;
use crate::model::ModelIoError;
use crate::model::calibration::CalibrationError;
use crate::model::trace::TraceError;

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
        /// The gallery folder: every image in it (a dataset layout is detected: a Market-style
        /// root contributes its gallery split; labels are used when present).
        gallery: PathBuf,
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

impl Command {
    /// The kind of job this command starts (what its answer will name).
    pub fn kind(&self) -> JobKind {
        match self {
            Command::LoadModel { .. } => JobKind::LoadModel,
            Command::Compare { .. } => JobKind::Compare,
            Command::Trace { .. } => JobKind::Trace,
            Command::Rank { .. } => JobKind::Rank,
            Command::Evaluate { .. } => JobKind::Evaluate,
        }
    }

    /// The command's cancel token (rank and evaluate can be cancelled).
    pub fn cancel_token(&self) -> Option<&CancelToken> {
        match self {
            Command::Rank { cancel, .. } | Command::Evaluate { cancel, .. } => Some(cancel),
            Command::LoadModel { .. } | Command::Compare { .. } | Command::Trace { .. } => None,
        }
    }
}

/// What the GUI asks of the training worker.
#[derive(Debug, Clone)]
pub enum TrainCommand {
    /// Start a run. `Resume` continues the run checkpointed in `config.out` with the
    /// checkpoint's settings (the form's epochs and max steps apply, and its learning-rate
    /// schedule when `schedule` is [`ResumeSchedule::Form`]; ignored by the other modes).
    Start {
        config: Box<TrainConfig>,
        mode: StartMode,
        schedule: ResumeSchedule,
    },
    Pause,
    Resume,
    Stop,
}

/// The jobs of the workers: one per [`Command`], plus the training run and the inference
/// worker's own start-up (choosing the device, starting the thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    LoadModel,
    Compare,
    Trace,
    Rank,
    Evaluate,
    /// A training run ([`TrainCommand::Start`]).
    Training,
    /// Choosing the compute device of the inference worker.
    Backend,
    /// Starting the inference worker.
    Startup,
}

impl JobKind {
    /// How the job is named to the user ("compare: cancelled").
    pub fn label(self) -> &'static str {
        match self {
            JobKind::LoadModel => "load model",
            JobKind::Compare => "compare",
            JobKind::Trace => "trace",
            JobKind::Rank => "rank",
            JobKind::Evaluate => "evaluate",
            JobKind::Training => "training",
            JobKind::Backend => "backend",
            JobKind::Startup => "startup",
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a job of the workers failed. Kept typed up to the GUI, which shows it; the sources are
/// shared (`Arc`) so an [`Event`] stays cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobFailure {
    /// The command was refused before it reached the worker: too many queued.
    #[error("the worker is busy with too many queued jobs")]
    QueueFull,
    /// The command was refused before it reached the worker: the worker is gone.
    #[error("the worker has stopped")]
    WorkerStopped,
    #[error("no model loaded: choose a model folder first")]
    NoModel,
    #[error("a training run is already going on")]
    AlreadyTraining,
    /// A worker thread could not be started (`what`: "inference worker", "training thread").
    #[error("cannot start the {what}: {error}")]
    Spawn {
        what: &'static str,
        error: Arc<std::io::Error>,
    },
    /// A bug: the job panicked (the worker goes on with the next command).
    #[error("the computation panicked (a bug): please report it")]
    Panicked,
    #[error(transparent)]
    Backend(Arc<BackendError>),
    /// The model folder could not be loaded.
    #[error(transparent)]
    Model(Arc<ModelIoError>),
    /// The model folder's `calibration.json` is damaged (the model is not loaded: delete the
    /// file or run `eval --calibrate`).
    #[error(transparent)]
    Calibration(Arc<CalibrationError>),
    /// An input image could not be used.
    #[error(transparent)]
    Image(Arc<ImageError>),
    /// The forward pass failed (the device could not hand its results back).
    #[error("{0}")]
    Forward(String),
    #[error(transparent)]
    Trace(Arc<TraceError>),
    /// A rank or evaluate job failed (never [`JobError::Cancelled`]: that is
    /// [`Event::Cancelled`]).
    #[error(transparent)]
    Job(Arc<JobError>),
}

impl JobFailure {
    /// Whether the command never reached the worker (so no other answer will come for it).
    pub fn never_ran(&self) -> bool {
        matches!(self, JobFailure::QueueFull | JobFailure::WorkerStopped)
    }
}

impl From<BackendError> for JobFailure {
    fn from(e: BackendError) -> Self {
        JobFailure::Backend(Arc::new(e))
    }
}

impl From<ModelIoError> for JobFailure {
    fn from(e: ModelIoError) -> Self {
        JobFailure::Model(Arc::new(e))
    }
}

impl From<CalibrationError> for JobFailure {
    fn from(e: CalibrationError) -> Self {
        JobFailure::Calibration(Arc::new(e))
    }
}

impl From<ImageError> for JobFailure {
    fn from(e: ImageError) -> Self {
        JobFailure::Image(Arc::new(e))
    }
}

impl From<TraceError> for JobFailure {
    fn from(e: TraceError) -> Self {
        JobFailure::Trace(Arc::new(e))
    }
}

impl From<JobError> for JobFailure {
    fn from(e: JobError) -> Self {
        JobFailure::Job(Arc::new(e))
    }
}

/// What the workers send back.
#[derive(Debug, Clone)]
pub enum Event {
    /// A model folder is loaded (and replaced the previous model).
    ModelLoaded {
        dir: PathBuf,
        /// Its configuration (checked by [`crate::model::io::load_config`]).
        config: ModelConfig,
        /// Its calibrated verdict threshold, when the folder has one.
        calibration: Option<Calibration>,
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
    /// Progress of a long job: `done` of `total` units of its current `stage` ("decoding",
    /// "trunk features", "scoring", ...).
    Progress {
        job: JobKind,
        stage: &'static str,
        done: usize,
        total: usize,
    },
    Ranked(Arc<Ranking>),
    Evaluated(Arc<Evaluation>),
    /// The job stopped because its cancel token was tripped.
    Cancelled {
        job: JobKind,
    },
    Train(TrainEvent),
    /// A job failed.
    Error {
        job: JobKind,
        error: JobFailure,
    },
}

impl Event {
    /// The job this event answers, when it ends one (a result, a cancellation, an error).
    pub fn finishes(&self) -> Option<JobKind> {
        match self {
            Event::ModelLoaded { .. } => Some(JobKind::LoadModel),
            Event::Compared { .. } => Some(JobKind::Compare),
            Event::Traced { .. } => Some(JobKind::Trace),
            Event::Ranked(_) => Some(JobKind::Rank),
            Event::Evaluated(_) => Some(JobKind::Evaluate),
            Event::Cancelled { job } | Event::Error { job, .. } => Some(*job),
            Event::Progress { .. } | Event::Train(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands() -> Vec<Command> {
        let p = PathBuf::from("x.png");
        vec![
            Command::LoadModel { dir: p.clone() },
            Command::Compare {
                a: p.clone(),
                b: p.clone(),
            },
            Command::Trace {
                a: p.clone(),
                b: p.clone(),
            },
            Command::Rank {
                query: p.clone(),
                query_labels: None,
                gallery: p.clone(),
                cancel: CancelToken::new(),
            },
            Command::Evaluate {
                dataset: p,
                protocol: Protocol::Standard,
                cancel: CancelToken::new(),
            },
        ]
    }

    #[test]
    fn each_command_has_its_own_kind_and_only_long_jobs_can_be_cancelled() {
        let kinds: Vec<JobKind> = commands().iter().map(Command::kind).collect();
        assert_eq!(
            kinds,
            [
                JobKind::LoadModel,
                JobKind::Compare,
                JobKind::Trace,
                JobKind::Rank,
                JobKind::Evaluate
            ]
        );
        let cancellable: Vec<bool> = commands()
            .iter()
            .map(|c| c.cancel_token().is_some())
            .collect();
        assert_eq!(cancellable, [false, false, false, true, true]);
    }

    #[test]
    fn errors_and_cancellations_finish_the_job_they_name() {
        for kind in commands().iter().map(Command::kind) {
            let error = Event::Error {
                job: kind,
                error: JobFailure::NoModel,
            };
            assert_eq!(error.finishes(), Some(kind));
            assert_eq!(Event::Cancelled { job: kind }.finishes(), Some(kind));
        }
        let progress = Event::Progress {
            job: JobKind::Rank,
            stage: "scoring",
            done: 1,
            total: 2,
        };
        assert_eq!(progress.finishes(), None);
        assert!(JobFailure::QueueFull.never_ran() && JobFailure::WorkerStopped.never_ran());
        assert!(!JobFailure::Panicked.never_ran() && !JobFailure::NoModel.never_ran());
    }
}
