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
pub use run::{Outcome, TrainControl, TrainError, train};

/// What a training output folder holds: what the GUI's training form needs to offer "replace"
/// and "resume" (a few `stat` calls; nothing is opened or locked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OutputFolder {
    /// A model or a checkpoint is there (a new run would replace it).
    pub holds_model: bool,
    /// A checkpoint is there (the run can be resumed).
    pub resumable: bool,
}

impl OutputFolder {
    /// Look at `out`.
    pub(crate) fn inspect(out: &std::path::Path) -> Self {
        Self {
            holds_model: folder::holds_model(out),
            resumable: checkpoint::has_checkpoint(out),
        }
    }
}
