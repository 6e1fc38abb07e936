//! Checkpoints: weights + optimiser state + configuration, in one folder that is replaced as a
//! whole, and the run's metrics history beside it.
//!
//! Layout inside a model folder `out/`:
//! ```text
//! out/config.json, out/weights.bpk     the model every other command loads: the best one by
//!                                      validation mAP (the latest while there is no validation)
//! out/history.json                     metrics so far, compact (plots, the model card, the best)
//! out/calibration.json                 the best validation's equal-error threshold (the
//!                                      calibrated verdict threshold), rewritten with the history
//! out/checkpoint/                      state.json, weights.bpk (the latest), optimizer.bpk
//! ```
//! Each file is stored once: `state.json` no longer embeds the history (older folders whose
//! `state.json` does are still read), and `out/weights.bpk` is only rewritten when a validation
//! finds a new best. `history.json` is written before the checkpoint swap, so it always reaches
//! at least the checkpoint's step; reading a checkpoint cuts it back to that step.
//!
//! A checkpoint is written into `out/.checkpoint.tmp-PID/`, synced, then swapped in:
//! `checkpoint -> checkpoint.old`, `tmp -> checkpoint`, `checkpoint.old` removed. A process
//! killed at any point leaves either `checkpoint` or `checkpoint.old` complete, and
//! [`read_checkpoint`] takes whichever is. Temporary folders of killed runs are removed by the
//! next run on the folder (see `super::folder`).

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use crate::model::calibration::{Calibration, write_calibration};
use crate::model::io::{save_model, weights_from_bytes, weights_to_bytes, write_atomic};
use crate::model::{ModelConfig, XCorrNet};

/// The checkpoint folder inside a model folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
const OLD_DIR: &str = "checkpoint.old";
const STATE_FILE: &str = "state.json";
const WEIGHTS_FILE: &str = "weights.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// Metrics history beside the model.
pub const HISTORY_FILE: &str = "history.json";

/// One logged training step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: u64,
    pub loss: f32,
    pub accuracy: f32,
    pub lr: f64,
}

/// One validation (fractions in [0, 1]; the authors' fields are absent in older histories).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub step: u64,
    pub epoch: usize,
    /// Standard protocol.
    pub rank1: f64,
    pub rank5: f64,
    pub map: f64,
    /// The authors' protocol (one draw).
    #[serde(default)]
    pub authors_rank1: Option<f64>,
    #[serde(default)]
    pub authors_map: Option<f64>,
    /// The authors' protocol on same-camera / cross-camera probes.
    #[serde(default)]
    pub rank1_same_camera: Option<f64>,
    #[serde(default)]
    pub rank1_cross_camera: Option<f64>,
    /// The equal-error threshold of the validation pairs (absent in older histories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<ValidationCalibration>,
}

/// The equal-error threshold measured on one validation's pairs (every probe against every
/// gallery image of the validation draw), see `crate::eval::roc`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationCalibration {
    /// p(same) at or above which a pair is called "same".
    pub threshold: f32,
    /// True-positive rate there.
    pub tpr: f64,
    /// False-positive rate there.
    pub fpr: f64,
    /// Same-identity pairs.
    pub positive_pairs: usize,
    /// Different-identity pairs.
    pub negative_pairs: usize,
}

impl ValidationCalibration {
    /// As the model folder's [`Calibration`], measured at validation step `step`.
    pub fn at_step(&self, step: u64) -> Calibration {
        Calibration {
            threshold: self.threshold,
            source: format!("validation step {step}"),
            tpr: self.tpr,
            fpr: self.fpr,
            positive_pairs: self.positive_pairs,
            negative_pairs: self.negative_pairs,
        }
    }
}

impl ValidationRecord {
    /// What model selection maximises: standard mAP + the authors' mAP (the standard mAP
    /// alone for older records).
    pub fn selection_score(&self) -> f64 {
        self.map + self.authors_map.unwrap_or(0.0)
    }
}

/// The best validation so far: the step whose weights `out/weights.bpk` holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestRecord {
    pub step: u64,
    pub rank1: f64,
    pub map: f64,
    #[serde(default)]
    pub authors_rank1: Option<f64>,
    #[serde(default)]
    pub authors_map: Option<f64>,
}

impl BestRecord {
    /// See [`ValidationRecord::selection_score`].
    pub fn selection_score(&self) -> f64 {
        self.map + self.authors_map.unwrap_or(0.0)
    }
}

/// Metrics of a run so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub steps: Vec<StepRecord>,
    pub validations: Vec<ValidationRecord>,
    /// Wall-clock seconds spent training, summed over sessions.
    pub seconds: f64,
    /// The best validation (by mAP) so far.
    #[serde(default)]
    pub best: Option<BestRecord>,
}

impl History {
    /// Drop everything recorded after `step` (a history written ahead of its checkpoint).
    pub fn truncate_to(&mut self, step: u64) {
        self.steps.retain(|s| s.step <= step);
        self.validations.retain(|v| v.step <= step);
        if self.best.is_some_and(|b| b.step > step) {
            self.best = self
                .validations
                .iter()
                .filter(|v| v.selection_score().is_finite())
                .max_by(|a, b| a.selection_score().total_cmp(&b.selection_score()))
                .map(|v| BestRecord {
                    step: v.step,
                    rank1: v.rank1,
                    map: v.map,
                    authors_rank1: v.authors_rank1,
                    authors_map: v.authors_map,
                });
        }
    }
}

/// Where a run stands: enough to continue it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub config: TrainConfig,
    pub model: ModelConfig,
    /// Steps completed (the next step's index).
    pub step: u64,
    /// The epoch in progress.
    pub epoch: usize,
    /// Batches of that epoch already done.
    pub batch_in_epoch: usize,
    /// Kept in `out/history.json`, not in `state.json` (older checkpoints embed it; they are
    /// still read).
    #[serde(default, skip_serializing)]
    pub history: History,
}

/// Why a checkpoint could not be written or read. Names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        /// Shown in the message, deliberately not a `source` (a chained report would print it twice).
        error: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{dir}: no checkpoint to resume from")]
    Missing { dir: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |error| CheckpointError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn invalid(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Write a checkpoint of `state`, `net` and `optim` into `out`, and the history beside it.
/// With `refresh_model`, also make `net` the folder's model (`config.json` + `weights.bpk`).
/// Returns the checkpoint folder.
pub fn write_checkpoint(
    out: &Path,
    state: &TrainState,
    net: &XCorrNet,
    optim: &ModuleOptimizer,
    refresh_model: bool,
) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let tmp = out.join(format!(".checkpoint.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let weights = weights_to_bytes(net).map_err(|r| invalid(&tmp.join(WEIGHTS_FILE), r))?;
    write_atomic(&tmp.join(WEIGHTS_FILE), &weights).map_err(io(&tmp.join(WEIGHTS_FILE)))?;
    let opt = optim
        .into_bytes()
        .map_err(|e| invalid(&tmp.join(OPTIMIZER_FILE), e))?;
    write_atomic(&tmp.join(OPTIMIZER_FILE), &opt).map_err(io(&tmp.join(OPTIMIZER_FILE)))?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| invalid(&tmp.join(STATE_FILE), e))?;
    write_atomic(&tmp.join(STATE_FILE), &json).map_err(io(&tmp.join(STATE_FILE)))?;
    // The history first: it may run ahead of the checkpoint, never behind it.
    write_history(out, &state.history)?;

    let current = out.join(CHECKPOINT_DIR);
    let old = out.join(OLD_DIR);
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if current.exists() {
        std::fs::rename(&current, &old).map_err(io(&current))?;
    }
    std::fs::rename(&tmp, &current).map_err(io(&current))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }

    // The model beside the checkpoint, for every other command.
    if refresh_model || !out.join(WEIGHTS_FILE).exists() {
        save_model(out, &state.model, net).map_err(|e| invalid(out, e))?;
    }
    Ok(current)
}

/// Write `out/history.json` (compact, atomically), and `out/calibration.json` from the best
/// validation when that validation measured one (the folder's model is the best one).
pub fn write_history(out: &Path, history: &History) -> Result<(), CheckpointError> {
    let path = out.join(HISTORY_FILE);
    let bytes = serde_json::to_vec(history).map_err(|e| invalid(&path, e))?;
    write_atomic(&path, &bytes).map_err(io(&path))?;
    if let Some(calibration) = best_calibration(history) {
        write_calibration(out, &calibration).map_err(|e| invalid(out, e))?;
    }
    Ok(())
}

/// The calibration of the best validation of `history`, if it measured one.
pub fn best_calibration(history: &History) -> Option<Calibration> {
    let best = history.best?;
    history
        .validations
        .iter()
        .rev()
        .find(|v| v.step == best.step)?
        .calibration
        .map(|c| c.at_step(best.step))
}

/// Read `out/history.json`; `None` when there is none.
pub fn read_history(out: &Path) -> Result<Option<History>, CheckpointError> {
    let path = out.join(HISTORY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| invalid(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// A checkpoint read back: state, network on `device`, optimiser state as bytes.
pub struct LoadedCheckpoint {
    pub state: TrainState,
    pub net: XCorrNet,
    pub optimizer: Vec<u8>,
    /// The folder it came from (`checkpoint` or, after an interrupted swap, `checkpoint.old`).
    pub dir: PathBuf,
}

fn read_dir(dir: &Path, device: &Device) -> Result<LoadedCheckpoint, CheckpointError> {
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read(&state_path).map_err(io(&state_path))?;
    let state: TrainState = serde_json::from_slice(&text).map_err(|e| invalid(&state_path, e))?;
    let wpath = dir.join(WEIGHTS_FILE);
    let weights = std::fs::read(&wpath).map_err(io(&wpath))?;
    let net = weights_from_bytes(&state.model, weights, device).map_err(|r| invalid(&wpath, r))?;
    let opath = dir.join(OPTIMIZER_FILE);
    let optimizer = std::fs::read(&opath).map_err(io(&opath))?;
    Ok(LoadedCheckpoint {
        state,
        net,
        optimizer,
        dir: dir.to_path_buf(),
    })
}

/// Read the newest complete checkpoint of `out`, with its history (from `state.json` in older
/// folders, else from `out/history.json` cut back to the checkpoint's step).
pub fn read_checkpoint(out: &Path, device: &Device) -> Result<LoadedCheckpoint, CheckpointError> {
    let current = out.join(CHECKPOINT_DIR);
    let old = out.join(OLD_DIR);
    let mut ck = match read_dir(&current, device) {
        Ok(c) => c,
        Err(first) if old.exists() => read_dir(&old, device).map_err(|_| first)?,
        Err(e) if current.exists() => return Err(e),
        Err(_) => {
            return Err(CheckpointError::Missing {
                dir: out.to_path_buf(),
            });
        }
    };
    if ck.state.history.steps.is_empty()
        && let Some(mut history) = read_history(out)?
    {
        history.truncate_to(ck.state.step);
        ck.state.history = history;
    }
    Ok(ck)
}

/// The run configuration stored in `out`'s checkpoint (without loading its weights).
pub fn stored_config(out: &Path) -> Result<TrainConfig, CheckpointError> {
    stored_run(out).map(|s| s.config)
}

/// A checkpointed run's settings and step: the part of `state.json` a caller that does not
/// resume needs (an older `state.json`'s embedded history is skipped, not built).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredRun {
    /// The run's settings (its learning-rate schedule included).
    pub config: TrainConfig,
    /// Steps completed: a resume goes on from this global step.
    pub step: u64,
}

/// The run checkpointed in `out`: its settings and step (`state.json` only: no weights).
pub fn stored_run(out: &Path) -> Result<StoredRun, CheckpointError> {
    let path = state_file(out).ok_or_else(|| CheckpointError::Missing {
        dir: out.to_path_buf(),
    })?;
    read_stored_run(&path)
}

/// [`stored_run`] from the `state.json` at `path` (as [`state_file`] found it).
pub(crate) fn read_stored_run(path: &Path) -> Result<StoredRun, CheckpointError> {
    let text = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&text).map_err(|e| invalid(path, e))
}

/// The checkpoint's `state.json` in `out`: `checkpoint/`'s, else (after an interrupted swap)
/// the old one; `None`: no checkpoint.
pub(crate) fn state_file(out: &Path) -> Option<PathBuf> {
    [out.join(CHECKPOINT_DIR), out.join(OLD_DIR)]
        .into_iter()
        .map(|dir| dir.join(STATE_FILE))
        .find(|p| p.exists())
}

/// Restore optimiser state saved by [`write_checkpoint`].
pub fn restore_optimizer(
    optim: ModuleOptimizer,
    bytes: Vec<u8>,
    path: &Path,
) -> Result<ModuleOptimizer, CheckpointError> {
    optim
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| invalid(path, e))
}

/// Whether `out` holds a checkpoint.
pub fn has_checkpoint(out: &Path) -> bool {
    state_file(out).is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::calibration::read_calibration;

    fn record(step: u64, map: f64, threshold: Option<f32>) -> ValidationRecord {
        ValidationRecord {
            step,
            epoch: 0,
            rank1: map,
            rank5: map,
            map,
            authors_rank1: None,
            authors_map: None,
            rank1_same_camera: None,
            rank1_cross_camera: None,
            calibration: threshold.map(|threshold| ValidationCalibration {
                threshold,
                tpr: 0.8,
                fpr: 0.2,
                positive_pairs: 10,
                negative_pairs: 90,
            }),
        }
    }

    #[test]
    fn the_best_validation_calibrates_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History {
            validations: vec![record(100, 0.3, Some(0.7)), record(200, 0.2, Some(0.9))],
            ..History::default()
        };
        // No best yet: no calibration file.
        write_history(dir.path(), &history).unwrap();
        assert!(read_calibration(dir.path()).unwrap().is_none());
        // The best is step 100 (not the latest): its threshold is written.
        history.best = Some(BestRecord {
            step: 100,
            rank1: 0.3,
            map: 0.3,
            authors_rank1: None,
            authors_map: None,
        });
        write_history(dir.path(), &history).unwrap();
        let c = read_calibration(dir.path()).unwrap().unwrap();
        assert_eq!(c.threshold, 0.7);
        assert_eq!(c.source, "validation step 100");
        assert_eq!((c.positive_pairs, c.negative_pairs), (10, 90));
        // The history round-trips with the calibration; older records without one still read.
        let back = read_history(dir.path()).unwrap().unwrap();
        assert_eq!(back.validations, history.validations);
        let old = r#"{"step":5,"epoch":0,"rank1":0.1,"rank5":0.2,"map":0.1}"#;
        let v: ValidationRecord = serde_json::from_str(old).unwrap();
        assert_eq!(v.calibration, None);
    }
}
