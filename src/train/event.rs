//! What a training run reports while it runs: [`TrainEvent`]s, sent by [`super::train`] to its
//! caller (the GUI's training thread, the `train` command).
//!
//! `train --json` prints each event as one JSON object with an `"event"` tag (serde, below):
//! `{"event": "step", "step": 12, ...}`. The field names are part of the command line's
//! interface (tests/cli.rs and scripts read them): the Rust names are used except `model`
//! (for `model_dir`) and, in `validation`, `mAP` / `authors_mAP`.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::checkpoint::{CheckpointError, ValidationRecord};
use super::run::TrainError;
use crate::backend::BackendError;

/// A training-run event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
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
    Validation(#[serde(serialize_with = "validation_line")] ValidationRecord),
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
        #[serde(rename = "model")]
        model_dir: PathBuf,
    },
    Cancelled {
        step: u64,
        #[serde(rename = "model")]
        model_dir: PathBuf,
    },
    /// The run stopped on an error (the last checkpoint is kept).
    Failed {
        #[serde(serialize_with = "as_text")]
        reason: TrainFailure,
    },
}

/// Why a run failed: kept typed up to where it is shown (the GUI's training status, the
/// `reason` of the `failed` JSON line). Shared (`Arc`) so an event stays cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrainFailure {
    #[error(transparent)]
    Run(Arc<TrainError>),
    /// The checkpoint to resume could not be read.
    #[error(transparent)]
    Checkpoint(Arc<CheckpointError>),
    /// No compute device.
    #[error(transparent)]
    Backend(Arc<BackendError>),
    /// A bug: the training thread panicked.
    #[error("the training thread panicked; the last checkpoint is kept")]
    Panicked,
}

/// Two failures are equal when they are the same failure (the same shared error).
impl PartialEq for TrainFailure {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Run(a), Self::Run(b)) => Arc::ptr_eq(a, b),
            (Self::Checkpoint(a), Self::Checkpoint(b)) => Arc::ptr_eq(a, b),
            (Self::Backend(a), Self::Backend(b)) => Arc::ptr_eq(a, b),
            (Self::Panicked, Self::Panicked) => true,
            _ => false,
        }
    }
}

impl From<TrainError> for TrainFailure {
    fn from(e: TrainError) -> Self {
        Self::Run(Arc::new(e))
    }
}

impl From<CheckpointError> for TrainFailure {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(Arc::new(e))
    }
}

impl From<BackendError> for TrainFailure {
    fn from(e: BackendError) -> Self {
        Self::Backend(Arc::new(e))
    }
}

/// A failure in the JSON line: its message.
fn as_text<S: serde::Serializer>(e: &TrainFailure, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

impl TrainEvent {
    /// The event as one line of JSON (`train --json`). A path that is not valid UTF-8 is
    /// written lossily rather than failing the line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            let lossy = |p: &std::path::Path| PathBuf::from(p.to_string_lossy().into_owned());
            let fixed = match self {
                TrainEvent::Checkpoint { step, path } => TrainEvent::Checkpoint {
                    step: *step,
                    path: lossy(path),
                },
                TrainEvent::Finished { step, model_dir } => TrainEvent::Finished {
                    step: *step,
                    model_dir: lossy(model_dir),
                },
                TrainEvent::Cancelled { step, model_dir } => TrainEvent::Cancelled {
                    step: *step,
                    model_dir: lossy(model_dir),
                },
                other => other.clone(),
            };
            serde_json::to_string(&fixed).unwrap_or_default()
        })
    }
}

/// The `validation` line's fields (the history file spells `map`, the event line `mAP`).
#[derive(Serialize)]
struct ValidationLine {
    step: u64,
    epoch: usize,
    rank1: f64,
    rank5: f64,
    #[serde(rename = "mAP")]
    map: f64,
    authors_rank1: Option<f64>,
    #[serde(rename = "authors_mAP")]
    authors_map: Option<f64>,
    rank1_same_camera: Option<f64>,
    rank1_cross_camera: Option<f64>,
}

fn validation_line<S: serde::Serializer>(v: &ValidationRecord, s: S) -> Result<S::Ok, S::Error> {
    ValidationLine {
        step: v.step,
        epoch: v.epoch,
        rank1: v.rank1,
        rank5: v.rank5,
        map: v.map,
        authors_rank1: v.authors_rank1,
        authors_map: v.authors_map,
        rank1_same_camera: v.rank1_same_camera,
        rank1_cross_camera: v.rank1_cross_camera,
    }
    .serialize(s)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn line(e: &TrainEvent) -> Value {
        serde_json::from_str(&e.json_line()).expect("one JSON object")
    }

    /// The lines `train --json` printed before the events were serialised by serde (the
    /// hand-written `json!` objects of the old cli/train.rs), field for field.
    #[test]
    fn json_lines_keep_the_command_line_field_names() {
        let step = TrainEvent::Step {
            step: 3,
            epoch: 1,
            loss: 0.5,
            accuracy: 0.25,
            lr: 0.05,
            pairs: 128,
            pairs_per_s: 10.5,
        };
        assert_eq!(
            line(&step),
            json!({"event": "step", "step": 3, "epoch": 1, "loss": 0.5, "accuracy": 0.25,
                   "lr": 0.05, "pairs": 128, "pairs_per_s": 10.5})
        );
        let v = ValidationRecord {
            step: 500,
            epoch: 2,
            rank1: 0.5,
            rank5: 0.75,
            map: 0.25,
            authors_rank1: Some(0.125),
            authors_map: None,
            rank1_same_camera: Some(1.0),
            rank1_cross_camera: None,
            calibration: None,
        };
        assert_eq!(
            line(&TrainEvent::Validation(v)),
            json!({"event": "validation", "step": 500, "epoch": 2, "rank1": 0.5, "rank5": 0.75,
                   "mAP": 0.25, "authors_rank1": 0.125, "authors_mAP": null,
                   "rank1_same_camera": 1.0, "rank1_cross_camera": null})
        );
        let cases = [
            (
                TrainEvent::Loading { done: 1, total: 9 },
                json!({"event": "loading", "done": 1, "total": 9}),
            ),
            (
                TrainEvent::Started {
                    total_steps: 10,
                    start_step: 2,
                    pairs_per_epoch: 80,
                },
                json!({"event": "started", "total_steps": 10, "start_step": 2, "pairs_per_epoch": 80}),
            ),
            (
                TrainEvent::EpochEnd { epoch: 1, step: 5 },
                json!({"event": "epoch_end", "epoch": 1, "step": 5}),
            ),
            (
                TrainEvent::Notice {
                    message: "hi".into(),
                },
                json!({"event": "notice", "message": "hi"}),
            ),
            (
                TrainEvent::Checkpoint {
                    step: 4,
                    path: "out/checkpoint".into(),
                },
                json!({"event": "checkpoint", "step": 4, "path": "out/checkpoint"}),
            ),
            (
                TrainEvent::Paused { step: 4 },
                json!({"event": "paused", "step": 4}),
            ),
            (
                TrainEvent::Resumed { step: 4 },
                json!({"event": "resumed", "step": 4}),
            ),
            (
                TrainEvent::Finished {
                    step: 9,
                    model_dir: "m".into(),
                },
                json!({"event": "finished", "step": 9, "model": "m"}),
            ),
            (
                TrainEvent::Cancelled {
                    step: 9,
                    model_dir: "m".into(),
                },
                json!({"event": "cancelled", "step": 9, "model": "m"}),
            ),
            (
                TrainEvent::Failed {
                    reason: TrainError::Config("disk full".into()).into(),
                },
                json!({"event": "failed", "reason": "disk full"}),
            ),
            (
                TrainEvent::Failed {
                    reason: TrainFailure::Panicked,
                },
                json!({"event": "failed",
                       "reason": "the training thread panicked; the last checkpoint is kept"}),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(line(&event), expected, "{event:?}");
        }
    }

    #[test]
    fn a_non_finite_loss_is_written_as_null() {
        let step = TrainEvent::Step {
            step: 1,
            epoch: 0,
            loss: f32::NAN,
            accuracy: 0.0,
            lr: 0.05,
            pairs: 1,
            pairs_per_s: 1.0,
        };
        assert_eq!(line(&step)["loss"], Value::Null);
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_written_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"out/\xff"));
        let v = line(&TrainEvent::Checkpoint { step: 1, path });
        assert_eq!(v["path"], json!("out/\u{fffd}"));
    }
}
