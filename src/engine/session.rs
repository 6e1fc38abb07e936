//! A model loaded for work: the network, its configuration, the device it lives on and the
//! feature-cache key of its files. One [`Session`] serves a command of the command line
//! ([`crate::cli::common::load`]) or, until another model is loaded, the GUI's inference worker.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::cache::{model_fingerprint, spec_or_warn};
use super::jobs::{CacheSpec, JobOptions};
use crate::backend::ComputeDevice;
use crate::data::ImageError;
use crate::model::calibration::{Calibration, CalibrationError, read_calibration};
use crate::model::{ModelConfig, ModelIoError, XCorrNet, load_model};

/// A model folder loaded onto a device.
pub struct Session {
    /// The model folder.
    pub dir: PathBuf,
    pub config: ModelConfig,
    pub net: XCorrNet,
    pub device: ComputeDevice,
    /// [`model_fingerprint`] of the folder, computed when a cache first needs it (None: the
    /// files could not be read again).
    fingerprint: OnceLock<Option<u64>>,
}

impl Session {
    /// Load the model folder `dir` onto `device` (its `config.json` checked: see
    /// [`crate::model::io::load_config`]).
    pub fn load(dir: &Path, device: ComputeDevice) -> Result<Self, ModelIoError> {
        let (config, net) = load_model(dir, &device.device)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            net,
            device,
            fingerprint: OnceLock::new(),
        })
    }

    /// The feature cache of the images under `folder`, kept in `cache_dir` (None: the user's
    /// cache folder; see [`spec_or_warn`]). None when the model files cannot be fingerprinted
    /// or no cache folder is usable (a warning is printed once).
    pub fn cache_for(&self, folder: &Path, cache_dir: Option<&Path>) -> Option<CacheSpec> {
        let model = (*self
            .fingerprint
            .get_or_init(|| model_fingerprint(&self.dir).ok()))?;
        spec_or_warn(folder, model, cache_dir)
    }

    /// Options of an engine job on this model (no cache, no progress, never cancelled: add
    /// them with the builder methods of [`JobOptions`]).
    pub fn job(&self) -> JobOptions<'_> {
        JobOptions::new(&self.net, &self.config, &self.device.device)
    }

    /// The folder's calibrated verdict threshold (`calibration.json`), read now; `Ok(None)`
    /// when it has none. Read on demand, so a damaged file never stops a command (`eval
    /// --calibrate` rewrites it) but names itself where it is used.
    pub fn calibration(&self) -> Result<Option<Calibration>, CalibrationError> {
        read_calibration(&self.dir)
    }

    /// One image decoded, resized and normalised for this model (`[3 * 160 * 60]`, CHW).
    pub fn input(&self, path: &Path) -> Result<Vec<f32>, ImageError> {
        crate::data::load_input(path, &self.config.normalization)
    }
}
