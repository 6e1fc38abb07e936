//! A model's weights for other frameworks: one safetensors file with PyTorch's tensor names and
//! layouts (the module names of `benches/pytorch_baseline.py`'s `XCorrNet`), the model's
//! `config.json` in the file's metadata. `benches/load_safetensors.py` fills the PyTorch network
//! from it; docs/export.md documents the names.
//!
//! [`TENSOR_NAMES`] is the one table that maps a parameter of [`XCorrNet`] (its path in Burn's
//! record, e.g. `head_conv1.weight`) to its exported name (`head1.weight`) and layout: the
//! convolutions are stored as they are (`[out, in, k, k]`, the same in both frameworks), the
//! fully connected weights transposed (Burn's `[in, out]` for `y = x W + b`, PyTorch's
//! `nn.Linear` `[out, in]` for `y = x Wᵀ + b`). Every tensor is little-endian f32.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use safetensors::{Dtype, tensor::TensorView};

use super::config::ModelConfig;
use super::io::write_atomic;
use super::network::XCorrNet;

/// How a parameter is laid out in the exported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The same shape and order as the Burn parameter.
    AsIs,
    /// A matrix `[in, out]` written transposed, `[out, in]`.
    Transposed,
}

/// One row of the name table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorName {
    /// The parameter's path in Burn's record (the field names of [`XCorrNet`]).
    pub param: &'static str,
    /// The tensor's name in the exported file (a key of the PyTorch `state_dict`).
    pub name: &'static str,
    pub layout: Layout,
}

const fn row(param: &'static str, name: &'static str, layout: Layout) -> TensorName {
    TensorName {
        param,
        name,
        layout,
    }
}

/// Every exported tensor, in file order. Shapes for the default configuration in comments.
pub const TENSOR_NAMES: [TensorName; 12] = [
    row("conv1.weight", "conv1.weight", Layout::AsIs), // [20, 3, 5, 5]
    row("conv1.bias", "conv1.bias", Layout::AsIs),     // [20]
    row("conv2.weight", "conv2.weight", Layout::AsIs), // [25, 20, 5, 5]
    row("conv2.bias", "conv2.bias", Layout::AsIs),     // [25]
    row("head_conv1.weight", "head1.weight", Layout::AsIs), // [25, 1500, 1, 1]
    row("head_conv1.bias", "head1.bias", Layout::AsIs), // [25]
    row("head_conv3.weight", "head3.weight", Layout::AsIs), // [25, 25, 3, 3]
    row("head_conv3.bias", "head3.bias", Layout::AsIs), // [25]
    row("fc1.weight", "fc1.weight", Layout::Transposed), // Burn [2125, 500] -> [500, 2125]
    row("fc1.bias", "fc1.bias", Layout::AsIs),         // [500]
    row("fc2.weight", "fc2.weight", Layout::Transposed), // Burn [500, 2] -> [2, 500]
    row("fc2.bias", "fc2.bias", Layout::AsIs),         // [2]
];

/// Metadata key holding the model's configuration (the `config.json` text).
pub const META_CONFIG: &str = "config";
/// Metadata key naming the program that wrote the file.
pub const META_PRODUCER: &str = "producer";
/// Metadata key of the layout convention (`"pt"`: PyTorch's, as other safetensors writers use).
pub const META_FORMAT: &str = "format";

/// Why an export failed. Always names the tensor or the file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read tensor {name}: {reason}")]
    Tensor { name: String, reason: String },
    #[error("cannot encode the safetensors file: {0}")]
    Encode(String),
    #[error("{path}: cannot write the file: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// One tensor as exported: its name, shape and values (row-major, the exported layout).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedTensor {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A parameter on the host: its shape and row-major values.
type HostParam = (Vec<usize>, Vec<f32>);

/// A parameter as (shape, values) on the host.
fn host(name: &str, shape: Vec<usize>, flat: Tensor<1>) -> Result<HostParam, ExportError> {
    let values = flat
        .try_into_vec_as::<f32>()
        .map_err(|e| ExportError::Tensor {
            name: name.to_string(),
            reason: format!("{e:?}"),
        })?;
    Ok((shape, values))
}

/// Every parameter of `net` by its Burn record path, as (shape, row-major values).
fn parameters(net: &XCorrNet) -> Result<HashMap<String, HostParam>, ExportError> {
    let mut out = HashMap::new();
    for (layer, conv) in [
        ("conv1", &net.conv1),
        ("conv2", &net.conv2),
        ("head_conv1", &net.head_conv1),
        ("head_conv3", &net.head_conv3),
    ] {
        let w = conv.weight.val(); // [out, in, k, k]
        let name = format!("{layer}.weight");
        let shape = w.dims().to_vec();
        out.insert(name.clone(), host(&name, shape, w.flatten(0, 3))?);
        let b = conv.bias.val(); // [out]
        let name = format!("{layer}.bias");
        let shape = b.dims().to_vec();
        out.insert(name.clone(), host(&name, shape, b)?);
    }
    for (layer, fc) in [("fc1", &net.fc1), ("fc2", &net.fc2)] {
        let w = fc.weight.val(); // [in, out]
        let name = format!("{layer}.weight");
        let shape = w.dims().to_vec();
        out.insert(name.clone(), host(&name, shape, w.flatten(0, 1))?);
        let b = fc.bias.val(); // [out]
        let name = format!("{layer}.bias");
        let shape = b.dims().to_vec();
        out.insert(name.clone(), host(&name, shape, b)?);
    }
    Ok(out)
}

/// `[rows, cols]` row-major -> `[cols, rows]` row-major.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// The tensors of `net` in the exported names and layouts, in [`TENSOR_NAMES`] order.
pub fn exported_tensors(net: &XCorrNet) -> Result<Vec<ExportedTensor>, ExportError> {
    let mut params = parameters(net)?;
    TENSOR_NAMES
        .iter()
        .map(|t| {
            let (shape, values) = params.remove(t.param).ok_or_else(|| ExportError::Tensor {
                name: t.param.to_string(),
                reason: "no such parameter in the network".into(),
            })?;
            Ok(match (t.layout, shape.as_slice()) {
                (Layout::Transposed, &[rows, cols]) => ExportedTensor {
                    name: t.name,
                    shape: vec![cols, rows],
                    values: transpose(&values, rows, cols),
                },
                (Layout::Transposed, _) => {
                    return Err(ExportError::Tensor {
                        name: t.param.to_string(),
                        reason: format!("expected a matrix, got shape {shape:?}"),
                    });
                }
                (Layout::AsIs, _) => ExportedTensor {
                    name: t.name,
                    shape,
                    values,
                },
            })
        })
        .collect()
}

/// The safetensors bytes of `net` with `config` in the metadata.
pub fn to_safetensors(config: &ModelConfig, net: &XCorrNet) -> Result<Vec<u8>, ExportError> {
    let tensors = exported_tensors(net)?;
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name, v))
                .map_err(|e| ExportError::Encode(format!("{}: {e}", t.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config_json =
        serde_json::to_string(config).map_err(|e| ExportError::Encode(e.to_string()))?;
    let metadata = HashMap::from([
        (META_FORMAT.to_string(), "pt".to_string()),
        (
            META_PRODUCER.to_string(),
            format!("reid-explorer {}", env!("CARGO_PKG_VERSION")),
        ),
        (META_CONFIG.to_string(), config_json),
    ]);
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| ExportError::Encode(e.to_string()))
}

/// Write `net` and `config` as a safetensors file at `path` (atomically: temporary file, sync,
/// rename). Returns the size of the file in bytes.
pub fn write_safetensors(
    path: &Path,
    config: &ModelConfig,
    net: &XCorrNet,
) -> Result<usize, ExportError> {
    let bytes = to_safetensors(config, net)?;
    write_atomic(path, &bytes).map_err(|error| ExportError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(bytes.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_every_value() {
        // [2, 3] -> [3, 2], by hand.
        let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(transpose(&m, 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn the_table_names_every_parameter_once() {
        let mut params: Vec<&str> = TENSOR_NAMES.iter().map(|t| t.param).collect();
        let mut names: Vec<&str> = TENSOR_NAMES.iter().map(|t| t.name).collect();
        params.sort_unstable();
        names.sort_unstable();
        params.dedup();
        names.dedup();
        assert_eq!((params.len(), names.len()), (12, 12));
    }
}
