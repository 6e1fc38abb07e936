//! Helpers shared by the commands that run the network: choosing the device and loading the
//! model into an [`engine::Session`](crate::engine::Session) (the same session type the GUI's
//! inference worker uses), and reading one image with a warning for damaged files.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::backend::{BackendChoice, select};
use crate::engine::Session;
use crate::model::{DEFAULT_MODEL_DIR, ModelConfig};

/// The model folder to use: `--model DIR`, else the shipped `models/cuhk03`
/// (see [`crate::bundled_path`]).
pub fn resolve_model_dir(model: Option<&Path>) -> PathBuf {
    model.map_or_else(|| crate::bundled_path(DEFAULT_MODEL_DIR), Path::to_path_buf)
}

/// Choose the backend (printing a fallback notice once on stderr) and load the model on it.
pub fn load(model: Option<&Path>, backend: BackendChoice) -> anyhow::Result<Session> {
    let device = select(backend)?;
    if let Some(notice) = &device.notice {
        eprintln!("{notice}");
    }
    Ok(Session::load(&resolve_model_dir(model), device)?)
}

/// Decode, resize and normalise one image for `config`, naming the file on failure. A damaged
/// but decodable image (a truncated JPEG) is used, and the second value says what is wrong with
/// it, for the caller to print as a warning.
pub fn load_image(path: &Path, config: &ModelConfig) -> anyhow::Result<(Vec<f32>, Option<String>)> {
    let (input, warning) = crate::data::preprocess::load_input_lenient(path, &config.normalization)
        .with_context(|| "cannot use image".to_string())?;
    Ok((input, warning.map(|w| format!("{w} (used anyway)"))))
}
