//! A model folder on disk: `config.json` (the [`ModelConfig`]) + `weights.bpk` (burnpack).
//!
//! Every file is written to a temporary name in the same folder, synced and renamed, so an
//! interrupted write never leaves a half-written file where a good one was.
//!
//! Reading checks before it trusts: both files must be regular files (symbolic links followed;
//! a FIFO or a device is refused, never opened for reading) of a sensible size, the
//! configuration must pass [`ModelConfig::shapes`], and every weight must be a finite number
//! (a NaN or infinite value is an error naming its tensor, never a model that ranks by ties).

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};

use super::config::ModelConfig;
use super::network::XCorrNet;
use crate::data::preprocess::read_regular_file;

/// The configuration file in a model folder.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file in a model folder.
pub const WEIGHTS_FILE: &str = "weights.bpk";

/// Why a model folder could not be read or written. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelIoError {
    #[error(
        "{dir}: no model here ({CONFIG_FILE} missing); pass --model DIR or train one with `reid-explorer train`"
    )]
    Missing { dir: PathBuf },
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: weights do not fit this model: {reason}")]
    Weights { path: PathBuf, reason: String },
    /// `error` is shown in the message and deliberately not a `source`, so a chained report
    /// does not print it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The largest `config.json` read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The largest `weights.bpk` read.
pub const MAX_WEIGHTS_BYTES: u64 = 2 * 1024 * 1024 * 1024;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelIoError + '_ {
    move |error| ModelIoError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Write `bytes` to `path` atomically: temporary file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Serialise the network's weights to burnpack bytes.
pub fn weights_to_bytes(net: &XCorrNet) -> Result<Vec<u8>, String> {
    let bytes = net
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| e.to_string())?;
    Ok(bytes.to_vec())
}

/// Load burnpack bytes into a freshly initialised network of `config` on `device`.
pub fn weights_from_bytes(
    config: &ModelConfig,
    bytes: Vec<u8>,
    device: &Device,
) -> Result<XCorrNet, String> {
    let net = XCorrNet::init(config, 0, device).map_err(|e| e.to_string())?;
    // burnpack parsing is not ours: never let a malformed file take the process down.
    let parsed =
        std::panic::catch_unwind(move || ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)))
            .map_err(|_| "malformed weights file".to_string())?;
    let record = parsed.map_err(|e| e.to_string())?;
    let net = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        net.try_load_record(record)
    }))
    .map_err(|_| "malformed weights file".to_string())?
    .map_err(|e| e.to_string())?;
    check_finite(&net)?;
    Ok(net)
}

/// Every parameter tensor of the network, with its name.
fn named_parameters(net: &XCorrNet) -> Vec<(String, burn::tensor::Tensor<1>)> {
    let mut out = Vec::new();
    for (layer, conv) in [
        ("conv1", &net.conv1),
        ("conv2", &net.conv2),
        ("head_conv1", &net.head_conv1),
        ("head_conv3", &net.head_conv3),
    ] {
        out.push((format!("{layer}.weight"), conv.weight.val().flatten(0, 3)));
        out.push((format!("{layer}.bias"), conv.bias.val()));
    }
    for (layer, fc) in [("fc1", &net.fc1), ("fc2", &net.fc2)] {
        out.push((format!("{layer}.weight"), fc.weight.val().flatten(0, 1)));
        out.push((format!("{layer}.bias"), fc.bias.val()));
    }
    out
}

/// An error naming the first tensor holding a NaN or infinite value.
pub fn check_finite(net: &XCorrNet) -> Result<(), String> {
    for (name, tensor) in named_parameters(net) {
        let values = tensor
            .try_into_vec_as::<f32>()
            .map_err(|e| format!("cannot read tensor {name}: {e:?}"))?;
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            return Err(format!(
                "tensor {name} holds {bad} non-finite value(s) (first: {v} at index {i})"
            ));
        }
    }
    Ok(())
}

/// Save `config` and `net` into `dir` (created if needed).
pub fn save_model(dir: &Path, config: &ModelConfig, net: &XCorrNet) -> Result<(), ModelIoError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let config_path = dir.join(CONFIG_FILE);
    let weights_path = dir.join(WEIGHTS_FILE);
    let json = serde_json::to_vec_pretty(config).map_err(|e| ModelIoError::Config {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    let weights = weights_to_bytes(net).map_err(|reason| ModelIoError::Weights {
        path: weights_path.clone(),
        reason,
    })?;
    write_atomic(&weights_path, &weights).map_err(io_err(&weights_path))?;
    write_atomic(&config_path, &json).map_err(io_err(&config_path))?;
    Ok(())
}

/// Read a model folder's configuration.
pub fn load_config(dir: &Path) -> Result<ModelConfig, ModelIoError> {
    let path = dir.join(CONFIG_FILE);
    if !path.exists() {
        return Err(ModelIoError::Missing {
            dir: dir.to_path_buf(),
        });
    }
    let text = read_regular_file(&path, MAX_CONFIG_BYTES).map_err(io_err(&path))?;
    let config: ModelConfig = serde_json::from_slice(&text).map_err(|e| ModelIoError::Config {
        path: path.clone(),
        reason: format!("invalid model configuration: {e}"),
    })?;
    config.shapes().map_err(|e| ModelIoError::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let (h, w) = (crate::data::INPUT_H, crate::data::INPUT_W);
    if (config.input_h, config.input_w) != (h, w) {
        return Err(ModelIoError::Config {
            path,
            reason: format!(
                "invalid model configuration: input is {}x{} (H x W), but images are fed as {h}x{w}",
                config.input_h, config.input_w
            ),
        });
    }
    Ok(config)
}

/// Load a model folder onto `device`.
pub fn load_model(dir: &Path, device: &Device) -> Result<(ModelConfig, XCorrNet), ModelIoError> {
    let config = load_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    let bytes = read_regular_file(&path, MAX_WEIGHTS_BYTES).map_err(io_err(&path))?;
    let net = weights_from_bytes(&config, bytes, device)
        .map_err(|reason| ModelIoError::Weights { path, reason })?;
    Ok((config, net))
}
