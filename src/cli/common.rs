//! Helpers shared by the commands that run the network.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::backend::{BackendChoice, ComputeDevice, select};
use crate::engine::{CacheSpec, model_fingerprint};
use crate::model::{DEFAULT_MODEL_DIR, ModelConfig, XCorrNet, load_model};

/// A model loaded for a command, with where it came from.
pub struct LoadedModel {
    pub config: ModelConfig,
    pub net: XCorrNet,
    pub dir: PathBuf,
    pub device: ComputeDevice,
}

/// The model folder to use: `--model DIR`, else the shipped `models/cuhk03`
/// (see [`crate::bundled_path`]).
pub fn resolve_model_dir(model: Option<&Path>) -> PathBuf {
    model.map_or_else(|| crate::bundled_path(DEFAULT_MODEL_DIR), Path::to_path_buf)
}

impl LoadedModel {
    /// The feature-cache location for images under `folder` (None when `enabled` is false or
    /// the model files cannot be fingerprinted).
    pub fn cache_for(&self, folder: &Path, enabled: bool) -> Option<CacheSpec> {
        if !enabled {
            return None;
        }
        let model = model_fingerprint(&self.dir).ok()?;
        Some(CacheSpec {
            folder: folder.to_path_buf(),
            model,
        })
    }
}

/// Choose the backend (printing a fallback notice once on stderr) and load the model on it.
pub fn load(model: Option<&Path>, backend: BackendChoice) -> anyhow::Result<LoadedModel> {
    let device = select(backend)?;
    if let Some(notice) = &device.notice {
        eprintln!("{notice}");
    }
    let dir = resolve_model_dir(model);
    let (config, net) = load_model(&dir, &device.device)?;
    Ok(LoadedModel {
        config,
        net,
        dir,
        device,
    })
}

/// Decode, resize and normalise one image for `config`, naming the file on failure. A damaged
/// but decodable image (a truncated JPEG) is used, and the second value says what is wrong with
/// it, for the caller to print as a warning.
pub fn load_image(path: &Path, config: &ModelConfig) -> anyhow::Result<(Vec<f32>, Option<String>)> {
    let (input, warning) = crate::data::preprocess::load_input_lenient(path, &config.normalization)
        .with_context(|| "cannot use image".to_string())?;
    Ok((input, warning.map(|w| format!("{w} (used anyway)"))))
}
