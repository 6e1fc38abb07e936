//! `reid-explorer trace A B --out DIR`: every traced map as `.npy` + `index.json`.
//!
//! Each file is written to a temporary name and renamed into place: a symbolic link already in
//! the output folder under one of those names is replaced, never written through.

use std::path::PathBuf;

use anyhow::Context;

use crate::backend::BackendChoice;
use crate::model::infer::images_tensor;
use crate::model::io::write_atomic;
use crate::model::trace;

use super::ModelArgs;
use super::common::{load, load_image};

/// Arguments of `trace`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First image (branch a).
    pub a: PathBuf,
    /// Second image (branch b).
    pub b: PathBuf,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// One entry of `index.json`.
#[derive(Debug, serde::Serialize)]
pub struct IndexEntry {
    pub name: String,
    pub branch: String,
    pub file: String,
    pub shape: Vec<usize>,
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    let loaded = load(args.model.model.as_deref(), backend)?;
    let (a, warn_a) = load_image(&args.a, &loaded.config)?;
    let (b, warn_b) = load_image(&args.b, &loaded.config)?;
    for w in [warn_a, warn_b].into_iter().flatten() {
        eprintln!("warning: {w}");
    }
    let dev = &loaded.device.device;
    let traced = trace(
        &loaded.net,
        images_tensor(&[&a], dev),
        images_tensor(&[&b], dev),
    )?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create folder", args.out.display()))?;
    let mut index = Vec::with_capacity(traced.maps.len());
    for map in &traced.maps {
        let file = format!("{}_{}.npy", map.branch.as_str(), map.name);
        let path = args.out.join(&file);
        let bytes = crate::npy::encode_f32(&map.data, &map.shape)
            .map_err(|m| anyhow::anyhow!("{}: cannot write: {m}", path.display()))?;
        write_atomic(&path, &bytes).with_context(|| format!("{}: cannot write", path.display()))?;
        index.push(IndexEntry {
            name: map.name.to_string(),
            branch: map.branch.as_str().to_string(),
            file,
            shape: map.shape.clone(),
        });
    }
    let index_path = args.out.join("index.json");
    write_atomic(&index_path, &serde_json::to_vec_pretty(&index)?)
        .with_context(|| format!("{}: cannot write", index_path.display()))?;
    println!(
        "wrote {} maps to {} (p(same) = {:.4}, {})",
        index.len(),
        args.out.display(),
        traced.p_same().unwrap_or(f32::NAN),
        loaded.device.description
    );
    Ok(())
}
