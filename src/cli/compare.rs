//! `reid-explorer compare A B [--json]`: p(same) for two images.

use std::path::PathBuf;
use std::time::Instant;

use crate::backend::BackendChoice;
use crate::model::infer::pair_probabilities;

use super::ModelArgs;
use super::common::{load, load_image};

/// Arguments of `compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First image (any format the image crate reads, judged by content).
    pub a: PathBuf,
    /// Second image.
    pub b: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print a JSON object: a, b, p_same, backend, model, millis, warnings.
    #[arg(long)]
    pub json: bool,
}

/// What `compare --json` prints.
#[derive(Debug, serde::Serialize)]
pub struct CompareOutput {
    pub a: String,
    pub b: String,
    pub p_same: f32,
    pub backend: String,
    pub model: String,
    /// Wall time of preprocessing + forward + read-back, in milliseconds.
    pub millis: f64,
    /// What is wrong with an input that was used anyway (a truncated JPEG), one line each.
    pub warnings: Vec<String>,
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    let loaded = load(args.model.model.as_deref(), backend)?;
    let start = Instant::now();
    let (a, warn_a) = load_image(&args.a, &loaded.config)?;
    let (b, warn_b) = load_image(&args.b, &loaded.config)?;
    let warnings: Vec<String> = [warn_a, warn_b].into_iter().flatten().collect();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let p = pair_probabilities(&loaded.net, &[&a], &[&b], &loaded.device.device)
        .map_err(|e| anyhow::anyhow!("forward pass failed: {e}"))?;
    let p_same = p.first().copied().unwrap_or(f32::NAN);
    if !p_same.is_finite() {
        anyhow::bail!(
            "the model gave a non-finite score ({p_same}) for {} vs {}: its weights or the images' features are not finite numbers",
            args.a.display(),
            args.b.display()
        );
    }
    let millis = start.elapsed().as_secs_f64() * 1e3;
    let out = CompareOutput {
        a: args.a.display().to_string(),
        b: args.b.display().to_string(),
        p_same,
        backend: loaded.device.description.clone(),
        model: loaded.dir.display().to_string(),
        millis,
        warnings,
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "p(same) = {:.4}   ({} vs {}; {}, model {}, {:.1} ms)",
            out.p_same, out.a, out.b, out.backend, out.model, out.millis
        );
    }
    Ok(())
}
