//! Training hyper-parameters: the authors' recipe as defaults (docs/training.md).
//!
//! [`TrainConfig::default`] is the authors' recipe as their code runs it (Torch7 SGD with
//! dampening = momentum, every positive pair of an identity, Torch's default initialisation,
//! RGB in [0, 1]). Fields added after the first shipped models read, when a saved run config
//! lacks them, as the value those older runs used (see [`legacy`]), so an old checkpoint resumes
//! exactly as it was trained.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::model::Init;

/// Which pairs of one identity's images are positives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Positives {
    /// Every pair of two images of an identity, same camera included (the authors').
    All,
    /// Only pairs taken by different cameras when the identity has two or more cameras.
    CrossCamera,
}

/// The input scaling of a fresh network (stored in its `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum InputNorm {
    /// RGB scaled to [0, 1] (the authors').
    None,
    /// ImageNet mean / std per channel.
    Imagenet,
}

impl InputNorm {
    /// The per-channel normalisation this setting stands for.
    pub fn normalization(self) -> crate::data::Normalization {
        match self {
            Self::None => crate::data::Normalization::unit(),
            Self::Imagenet => crate::data::Normalization::imagenet(),
        }
    }
}

/// How images are augmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Augmentation {
    /// No augmentation.
    Off,
    /// A fresh seeded translation (up to 5%) and flip per image and step.
    Online,
    /// The authors': every image also exists as 2 translated copies and 1 flipped copy (fixed,
    /// seeded), and the copies are paired like the originals (4x the images, ~16x the positives).
    Authors,
}

/// How a step's pairs are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Batching {
    /// `batch_size` pairs from the epoch's pair list; the trunk runs on both images of each.
    Pairs,
    /// K identities x M images per step; the trunk runs once per image and the pairs are formed
    /// among the step's images (every allowed positive, negatives at the configured ratio).
    Reuse,
}

/// How reuse batching draws an identity's M images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReuseCameras {
    /// Uniformly from all of the identity's images.
    Random,
    /// In turn from each of the identity's cameras (2 + 2 at M = 4: two thirds of the
    /// positives cross-camera instead of about half).
    Balanced,
}

/// Everything that defines a training run. Saved in every checkpoint; the same config and seed
/// give the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Dataset root (any layout with identity labels; its training split is used).
    pub dataset: PathBuf,
    /// Output model folder (checkpoints and the final model). On resume the folder given by
    /// the caller always wins over the one stored in the checkpoint.
    pub out: PathBuf,
    /// Epochs over the pair list (pairs batching) or over the identities (reuse batching).
    pub epochs: usize,
    /// Pairs per step in pairs batching (the authors: 128).
    pub batch_size: usize,
    /// Base learning rate (the authors: 0.05).
    pub learning_rate: f64,
    /// SGD momentum (0.9).
    pub momentum: f64,
    /// Momentum dampening: `v = momentum * v + (1 - dampening) * g`. Torch7's optim.sgd
    /// defaults it to the momentum (0.9), which the authors kept; 0 is a 10x larger step.
    #[serde(default = "legacy::dampening")]
    pub dampening: f64,
    /// L2 weight decay (5e-4), added to the gradient of every parameter (biases included).
    pub weight_decay: f64,
    /// Per-step decay: `lr_t = lr / (1 + t * lr_decay)` (1e-4).
    pub lr_decay: f64,
    /// Negatives per positive pair (the authors: 2).
    pub negatives_per_positive: usize,
    /// Cap on positive pairs per identity per epoch (None: all of them, the authors' protocol).
    pub max_positives_per_identity: Option<usize>,
    /// Which pairs of an identity's images are positives.
    #[serde(default = "legacy::positives")]
    pub positives: Positives,
    /// Initialisation of a fresh network.
    #[serde(default = "legacy::init")]
    pub init: Init,
    /// Input scaling of a fresh network (a fine-tuned or resumed one keeps its model's).
    #[serde(default = "legacy::input_norm")]
    pub input_norm: InputNorm,
    /// Fraction of training identities held out for validation (rank-1 / mAP during training).
    pub validation_fraction: f64,
    /// Run validation every this many steps (and, with pair batching, at the end of each epoch).
    pub validate_every: usize,
    /// Write a checkpoint every this many steps (and at the end of each epoch).
    pub checkpoint_every: usize,
    /// Random translation and flip augmentation (`false` turns every augmentation off).
    pub augment: bool,
    /// Which augmentation, when `augment` is on.
    #[serde(default = "legacy::augmentation")]
    pub augmentation: Augmentation,
    /// Mild colour jitter (off by default).
    pub color_jitter: bool,
    /// How the pairs of a step are formed.
    #[serde(default = "legacy::batching")]
    pub batching: Batching,
    /// Reuse batching: identities per step (K).
    #[serde(default = "defaults::reuse_identities")]
    pub reuse_identities: usize,
    /// Reuse batching: images per identity (M).
    #[serde(default = "defaults::reuse_images")]
    pub reuse_images: usize,
    /// Reuse batching: how an identity's images are drawn.
    #[serde(default = "defaults::reuse_cameras")]
    pub reuse_cameras: ReuseCameras,
    /// Reuse batching: candidates drawn per negative, of which the training step keeps the
    /// highest-scoring (hard-negative mining; 1 = random negatives, the authors').
    #[serde(default = "defaults::hard_negative_pool")]
    pub hard_negative_pool: usize,
    /// Seed for initialisation, pair sampling and augmentation.
    pub seed: u64,
    /// Stop after this many steps (None: run all epochs). For smoke tests and time-boxed runs.
    pub max_steps: Option<u64>,
    /// Start from this model folder's weights (fine-tuning) instead of a seeded initialisation;
    /// its `config.json` gives the architecture. The optimiser state starts fresh.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

/// Values of the settings that runs saved before they existed used.
pub mod legacy {
    use super::{Augmentation, Batching, Init, InputNorm, Positives};
    pub fn dampening() -> f64 {
        0.0
    }
    pub fn positives() -> Positives {
        Positives::CrossCamera
    }
    pub fn init() -> Init {
        Init::He
    }
    pub fn input_norm() -> InputNorm {
        InputNorm::Imagenet
    }
    pub fn augmentation() -> Augmentation {
        Augmentation::Online
    }
    pub fn batching() -> Batching {
        Batching::Pairs
    }
}

/// Defaults shared by [`TrainConfig::default`] and serde.
mod defaults {
    pub fn reuse_identities() -> usize {
        8
    }
    pub fn reuse_images() -> usize {
        4
    }
    pub fn reuse_cameras() -> super::ReuseCameras {
        super::ReuseCameras::Random
    }
    pub fn hard_negative_pool() -> usize {
        1
    }
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
            dampening: 0.9,
            weight_decay: 5e-4,
            lr_decay: 1e-4,
            negatives_per_positive: 2,
            max_positives_per_identity: None,
            positives: Positives::All,
            init: Init::Torch,
            input_norm: InputNorm::None,
            validation_fraction: 0.1,
            validate_every: 500,
            checkpoint_every: 500,
            augment: true,
            augmentation: Augmentation::Online,
            color_jitter: false,
            // Reuse scored 3.3x the pairs of pair batching in the same 40 minutes and validated
            // better on every figure (docs/training.md, "Equal wall-clock").
            batching: Batching::Reuse,
            reuse_identities: defaults::reuse_identities(),
            reuse_images: defaults::reuse_images(),
            reuse_cameras: defaults::reuse_cameras(),
            hard_negative_pool: defaults::hard_negative_pool(),
            seed: 0,
            max_steps: None,
            init_from: None,
        }
    }
}

/// Largest accepted values of the numeric settings (beyond them a run cannot fit in memory or
/// a count overflows).
pub mod limits {
    pub const BATCH_SIZE: usize = 4096;
    pub const EPOCHS: usize = 100_000;
    pub const NEGATIVES: usize = 64;
    pub const REUSE_IDENTITIES: usize = 256;
    pub const REUSE_IMAGES: usize = 64;
    pub const REUSE_IMAGES_PER_STEP: usize = 1024;
    pub const HARD_NEGATIVE_POOL: usize = 16;
}

impl TrainConfig {
    /// The learning rate at step `t` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        self.learning_rate / (1.0 + step as f64 * self.lr_decay)
    }

    /// The augmentation in effect (`Off` when `augment` is false).
    pub fn augmentation(&self) -> Augmentation {
        if self.augment {
            self.augmentation
        } else {
            Augmentation::Off
        }
    }

    /// Check every numeric setting; the message names the setting, the value and the range.
    pub fn check(&self) -> Result<(), String> {
        let range = |name: &str, v: usize, lo: usize, hi: usize| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be between {lo} and {hi}, got {v}"))
            }
        };
        range("batch size", self.batch_size, 1, limits::BATCH_SIZE)?;
        range("epochs", self.epochs, 1, limits::EPOCHS)?;
        range(
            "negatives per positive",
            self.negatives_per_positive,
            0,
            limits::NEGATIVES,
        )?;
        range(
            "reuse identities per step",
            self.reuse_identities,
            2,
            limits::REUSE_IDENTITIES,
        )?;
        range(
            "reuse images per identity",
            self.reuse_images,
            2,
            limits::REUSE_IMAGES,
        )?;
        if self.reuse_identities * self.reuse_images > limits::REUSE_IMAGES_PER_STEP {
            return Err(format!(
                "reuse batching: {} identities x {} images is more than {} images per step",
                self.reuse_identities,
                self.reuse_images,
                limits::REUSE_IMAGES_PER_STEP
            ));
        }
        range(
            "hard-negative pool",
            self.hard_negative_pool,
            1,
            limits::HARD_NEGATIVE_POOL,
        )?;
        if self.hard_negative_pool > 1 && self.batching != Batching::Reuse {
            return Err(format!(
                "hard negatives (a pool of {}) need reuse batching",
                self.hard_negative_pool
            ));
        }
        if self.max_positives_per_identity == Some(0) {
            return Err("max positives per identity must be at least 1".into());
        }
        if self.max_steps == Some(0) {
            return Err("max steps must be at least 1".into());
        }
        let real = |name: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be between {lo} and {hi}, got {v}"))
            }
        };
        // No upper bound: a learning rate that diverges is caught by the divergence guard.
        real("learning rate", self.learning_rate, 0.0, f64::MAX)?;
        real("momentum", self.momentum, 0.0, 0.999)?;
        real("dampening", self.dampening, 0.0, 1.0)?;
        real("weight decay", self.weight_decay, 0.0, 1.0)?;
        real("lr decay", self.lr_decay, 0.0, 1.0)?;
        real("validation fraction", self.validation_fraction, 0.0, 0.9)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_authors_recipe_and_pass_the_checks() {
        let c = TrainConfig::default();
        assert_eq!((c.learning_rate, c.momentum, c.dampening), (0.05, 0.9, 0.9));
        assert_eq!(c.positives, Positives::All);
        assert_eq!(c.init, Init::Torch);
        assert_eq!(c.input_norm, InputNorm::None);
        c.check().expect("defaults are valid");
    }

    #[test]
    fn a_config_saved_before_the_recipe_settings_reads_as_it_was_trained() {
        let mut v = serde_json::to_value(TrainConfig::default()).expect("json");
        let map = v.as_object_mut().expect("object");
        for key in [
            "dampening",
            "positives",
            "init",
            "input_norm",
            "augmentation",
            "batching",
            "reuse_identities",
            "reuse_images",
            "reuse_cameras",
            "hard_negative_pool",
        ] {
            map.remove(key);
        }
        let old: TrainConfig = serde_json::from_value(v).expect("old config");
        assert_eq!(old.dampening, 0.0);
        assert_eq!(old.positives, Positives::CrossCamera);
        assert_eq!(old.init, Init::He);
        assert_eq!(old.input_norm, InputNorm::Imagenet);
        assert_eq!(old.batching, Batching::Pairs);
        assert_eq!(old.hard_negative_pool, 1);
    }

    #[test]
    fn absurd_numbers_are_refused_with_the_setting_named() {
        let bad = |c: TrainConfig, word: &str| {
            let e = c.check().expect_err("must be refused");
            assert!(e.contains(word), "{e}");
        };
        let d = TrainConfig::default;
        bad(
            TrainConfig {
                negatives_per_positive: 4_611_686_018_427_387_904,
                ..d()
            },
            "negatives",
        );
        bad(
            TrainConfig {
                hard_negative_pool: 0,
                ..d()
            },
            "hard-negative pool",
        );
        bad(
            TrainConfig {
                hard_negative_pool: 4,
                batching: Batching::Pairs,
                ..d()
            },
            "reuse batching",
        );
        bad(
            TrainConfig {
                max_steps: Some(0),
                ..d()
            },
            "max steps",
        );
        bad(
            TrainConfig {
                max_positives_per_identity: Some(0),
                ..d()
            },
            "max positives",
        );
        bad(
            TrainConfig {
                batch_size: 0,
                ..d()
            },
            "batch size",
        );
        bad(
            TrainConfig {
                learning_rate: f64::NAN,
                ..d()
            },
            "learning rate",
        );
    }
}
