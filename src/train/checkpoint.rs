//! Checkpoints: weights + optimiser state + configuration + metrics history, in one folder
//! that is replaced as a whole.
//!
//! Layout inside a model folder `out/`:
//! ```text
//! out/config.json, out/weights.bpk     the latest model, usable by every command
//! out/history.json                     metrics so far (for plots and the model card)
//! out/checkpoint/                      state.json, weights.bpk, optimizer.bpk
//! ```
//! A checkpoint is written into `out/.checkpoint.tmp-PID/`, synced, then swapped in:
//! `checkpoint -> checkpoint.old`, `tmp -> checkpoint`, `checkpoint.old` removed. A process
//! killed at any point leaves either `checkpoint` or `checkpoint.old` complete, and
//! [`read_checkpoint`] takes whichever is.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
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

/// One validation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub step: u64,
    pub epoch: usize,
    pub rank1: f64,
    pub rank5: f64,
    pub map: f64,
}

/// Metrics of a run so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub steps: Vec<StepRecord>,
    pub validations: Vec<ValidationRecord>,
    /// Wall-clock seconds spent training, summed over sessions.
    pub seconds: f64,
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
    pub history: History,
}

/// Why a checkpoint could not be written or read. Names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{dir}: no checkpoint to resume from")]
    Missing { dir: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Write a checkpoint of `state`, `net` and `optim` into `out`, and refresh the model files
/// beside it. Returns the checkpoint folder.
pub fn write_checkpoint(
    out: &Path,
    state: &TrainState,
    net: &XCorrNet,
    optim: &ModuleOptimizer,
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
    save_model(out, &state.model, net).map_err(|e| invalid(out, e))?;
    let history = serde_json::to_vec_pretty(&state.history).map_err(|e| invalid(out, e))?;
    write_atomic(&out.join(HISTORY_FILE), &history).map_err(io(&out.join(HISTORY_FILE)))?;
    Ok(current)
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

/// Read the newest complete checkpoint of `out`.
pub fn read_checkpoint(out: &Path, device: &Device) -> Result<LoadedCheckpoint, CheckpointError> {
    let current = out.join(CHECKPOINT_DIR);
    let old = out.join(OLD_DIR);
    match read_dir(&current, device) {
        Ok(c) => Ok(c),
        Err(first) if old.exists() => read_dir(&old, device).map_err(|_| first),
        Err(e) if current.exists() => Err(e),
        Err(_) => Err(CheckpointError::Missing {
            dir: out.to_path_buf(),
        }),
    }
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
    out.join(CHECKPOINT_DIR).join(STATE_FILE).exists()
        || out.join(OLD_DIR).join(STATE_FILE).exists()
}

/// Make sure a freshly loaded module is trainable on `device` (an autodiff device).
pub fn to_training(net: XCorrNet, device: &Device) -> XCorrNet {
    net.fork(device).train()
}
