//! `reid-explorer export [--format safetensors] --out FILE [--model DIR]`: a model's weights for
//! other frameworks. The safetensors file holds every parameter under PyTorch's names and
//! layouts (the module names of `benches/pytorch_baseline.py`) and the model's `config.json` in
//! its metadata; `benches/load_safetensors.py` loads it into that PyTorch network. The names are
//! listed in docs/export.md and [`crate::model::export::TENSOR_NAMES`].

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;

use crate::model::export::{TENSOR_NAMES, exported_tensors, write_safetensors};
use crate::model::{DEFAULT_MODEL_DIR, load_model};

use super::ModelArgs;

/// File formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// PyTorch's names and layouts (conv [out, in, k, k], linear [out, in]),
    /// little-endian f32, the model's config.json under the metadata key "config".
    Safetensors,
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Safetensors)]
    pub format: Format,
    /// The file to write (replaced atomically if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Export the model. Runs on the CPU whatever `--backend` says: nothing is computed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args
        .model
        .model
        .clone()
        .unwrap_or_else(|| crate::bundled_path(DEFAULT_MODEL_DIR));
    let (config, net) = load_model(&dir, &Device::flex())?;
    let Format::Safetensors = args.format;
    let bytes = write_safetensors(&args.out, &config, &net)?;
    let values: usize = exported_tensors(&net)
        .context("cannot read the weights back")?
        .iter()
        .map(|t| t.values.len())
        .sum();
    println!(
        "wrote {} ({} tensors, {values} parameters, {bytes} bytes) from {}",
        args.out.display(),
        TENSOR_NAMES.len(),
        dir.display()
    );
    Ok(())
}
