//! Training: configuration, data preparation, the output folder's rules, one step, the loop
//! (run on a worker thread by the GUI and the command line), checkpoints.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod event;
pub mod folder;
pub mod resume;
pub mod run;
pub mod step;

pub use config::TrainConfig;
pub use event::{TrainEvent, TrainFailure};
pub use folder::StartMode;
pub use resume::ResumeSchedule;
pub use run::{Outcome, TrainControl, TrainError, train};

/// What a training output folder holds: what the GUI's training form needs to offer "replace"
/// and "resume" (a few `stat` calls and the checkpoint's small `state.json`; nothing is locked).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct OutputFolder {
    /// A model or a checkpoint is there (a new run would replace it).
    pub holds_model: bool,
    /// A checkpoint is there (the run can be resumed).
    pub resumable: bool,
    /// A recorded history (`history.json`) is there: its curves can be shown.
    pub has_history: bool,
    /// The checkpointed run: its step and settings (`None` without a readable checkpoint).
    pub checkpoint: Option<StoredRun>,
}

/// A checkpointed run as the training form shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRun {
    /// Steps completed: a resume goes on from this global step.
    pub step: u64,
    /// The run's settings (its learning-rate schedule included).
    pub config: TrainConfig,
}

impl OutputFolder {
    /// Look at `out`.
    pub(crate) fn inspect(out: &std::path::Path) -> Self {
        let resumable = checkpoint::has_checkpoint(out);
        Self {
            holds_model: folder::holds_model(out),
            resumable,
            has_history: out.join(checkpoint::HISTORY_FILE).exists(),
            checkpoint: resumable
                .then(|| checkpoint::stored_state(out).ok())
                .flatten()
                .map(|s| StoredRun {
                    step: s.step,
                    config: s.config,
                }),
        }
    }
}
