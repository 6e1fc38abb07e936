//! Training hyper-parameters: the authors' protocol as defaults (DESIGN.md section 2).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything that defines a training run. Saved in every checkpoint; the same config and seed
/// give the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Dataset root (any layout with identity labels; its training split is used).
    pub dataset: PathBuf,
    /// Output model folder (checkpoints and the final model).
    pub out: PathBuf,
    /// Epochs over the pair list.
    pub epochs: usize,
    /// Pairs per step (the authors: 128).
    pub batch_size: usize,
    /// Base learning rate (the authors: 0.05).
    pub learning_rate: f64,
    /// SGD momentum (0.9).
    pub momentum: f64,
    /// L2 weight decay (5e-4).
    pub weight_decay: f64,
    /// Per-step decay: `lr_t = lr / (1 + t * lr_decay)` (1e-4).
    pub lr_decay: f64,
    /// Negatives per positive pair (the authors: 2).
    pub negatives_per_positive: usize,
    /// Cap on positive pairs per identity per epoch (None: all of them, the authors' protocol).
    pub max_positives_per_identity: Option<usize>,
    /// Fraction of training identities held out for validation (rank-1 / mAP during training).
    pub validation_fraction: f64,
    /// Run validation every this many steps (and at the end of each epoch).
    pub validate_every: usize,
    /// Write a checkpoint every this many steps (and at the end of each epoch).
    pub checkpoint_every: usize,
    /// Random translation and flip augmentation.
    pub augment: bool,
    /// Mild colour jitter (off by default).
    pub color_jitter: bool,
    /// Seed for initialisation, pair sampling and augmentation.
    pub seed: u64,
    /// Stop after this many steps (None: run all epochs). For smoke tests and time-boxed runs.
    pub max_steps: Option<u64>,
    /// Start from this model folder's weights (fine-tuning) instead of a seeded initialisation;
    /// its `config.json` gives the architecture. The optimiser state starts fresh.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: PathBuf::from("assets/sample"),
            out: PathBuf::from("models/trained"),
            epochs: 20,
            batch_size: 128,
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            lr_decay: 1e-4,
            negatives_per_positive: 2,
            max_positives_per_identity: None,
            validation_fraction: 0.1,
            validate_every: 500,
            checkpoint_every: 500,
            augment: true,
            color_jitter: false,
            seed: 0,
            max_steps: None,
            init_from: None,
        }
    }
}

impl TrainConfig {
    /// The learning rate at step `t` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        self.learning_rate / (1.0 + step as f64 * self.lr_decay)
    }
}
