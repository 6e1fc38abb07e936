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

pub use checkpoint::StoredRun;
pub use config::TrainConfig;
pub use event::{TrainEvent, TrainFailure};
pub use folder::StartMode;
pub use resume::ResumeSchedule;
pub use run::{Outcome, TrainControl, TrainError, train};

/// What a training output folder holds: what the GUI's training form needs to offer "replace"
/// and "resume" (a few `stat` calls, and the checkpoint's `state.json` when it changed; nothing
/// is locked).
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
    /// When the checkpoint's `state.json` was written (what `checkpoint` was read from).
    state_modified: Option<std::time::SystemTime>,
}

impl OutputFolder {
    /// Look at `out`. `previous` (an earlier look at the same folder) lends its checkpoint when
    /// `state.json` has not been written since, so that a form redrawn while a run checkpoints
    /// only `stat`s the file.
    pub(crate) fn inspect(out: &std::path::Path, previous: Option<&OutputFolder>) -> Self {
        // One lookup of `state.json`: its presence, its time, and (when new) its contents.
        let state = checkpoint::state_file(out);
        let state_modified = state
            .as_ref()
            .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        let checkpoint = match (&state, previous) {
            (None, _) => None,
            (Some(_), Some(p))
                if state_modified.is_some() && p.state_modified == state_modified =>
            {
                p.checkpoint.clone()
            }
            (Some(path), _) => checkpoint::read_stored_run(path).ok(),
        };
        Self {
            holds_model: folder::holds_model(out),
            resumable: state.is_some(),
            has_history: out.join(checkpoint::HISTORY_FILE).exists(),
            checkpoint,
            state_modified,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write_state(out: &std::path::Path, step: u64) {
        let dir = out.join(checkpoint::CHECKPOINT_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let state = serde_json::json!({ "config": TrainConfig::default(), "step": step });
        std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
    }

    /// The checkpoint is read once per write of `state.json`: an unchanged file lends the
    /// previous look's checkpoint, a rewritten one is read again.
    #[test]
    fn the_checkpoint_is_read_again_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        write_state(dir.path(), 5);
        let first = OutputFolder::inspect(dir.path(), None);
        assert!(first.resumable);
        assert_eq!(first.checkpoint.as_ref().map(|c| c.step), Some(5));
        // A previous look that says step 4 for the same file: taken as it is, not re-read.
        let mut lent = first.clone();
        if let Some(c) = &mut lent.checkpoint {
            c.step = 4;
        }
        let again = OutputFolder::inspect(dir.path(), Some(&lent));
        assert_eq!(again.checkpoint.map(|c| c.step), Some(4));
        // The file is written again: read again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_state(dir.path(), 6);
        let later = OutputFolder::inspect(dir.path(), Some(&lent));
        assert_eq!(later.checkpoint.map(|c| c.step), Some(6));
        // No checkpoint: nothing to resume.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            OutputFolder::inspect(empty.path(), None),
            OutputFolder::default()
        );
    }
}
