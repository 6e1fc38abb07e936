//! The PyTorch eager baseline: `benches/pytorch_baseline.py` run with the user's Python, its
//! JSON read back.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// What the baseline script measures (see its docstring).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    pub torch: String,
    /// `cpu` or `cuda` (absent from older baseline scripts: the CPU).
    #[serde(default)]
    pub device: Option<String>,
    pub threads: usize,
    pub xcorr: Vec<BaselineXcorr>,
    pub forward_pairs_per_s: f64,
    pub train_pairs_per_s: f64,
    /// The reuse step (absent from older baseline scripts).
    #[serde(default)]
    pub train_reuse_pairs_per_s: Option<f64>,
    /// The training op on the reuse step's pairs, forward and backward (absent from older
    /// baseline scripts).
    #[serde(default)]
    pub train_op_forward_ms: Option<f64>,
    #[serde(default)]
    pub train_op_backward_ms: Option<f64>,
    pub rank_1000_seconds: f64,
    /// The script's correlation against the golden vectors (None when they are absent).
    pub golden_rel_l2: Option<f64>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BaselineXcorr {
    pub batch: usize,
    pub millis: f64,
}

/// The work the baseline must match: the reuse step's K x M images and its pair count, and
/// the device (`cuda` when the Rust side measured a GPU, so the anchor runs on the same kind).
#[derive(Debug, Clone)]
pub struct Matching {
    pub reuse_k: usize,
    pub reuse_m: usize,
    pub reuse_pairs: usize,
    pub cuda: bool,
}

/// Runs the baseline with `python` on as many threads as this process's rayon pool.
pub fn run(python: &Path, reps: usize, quick: bool, work: &Matching) -> anyhow::Result<Baseline> {
    let script = crate::bundled_path("benches/pytorch_baseline.py");
    if !script.exists() {
        bail!("{}: baseline script not found", script.display());
    }
    let golden = crate::bundled_path("../shared/golden");
    eprintln!("running the PyTorch baseline ({})…", python.display());
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--reps", &reps.to_string()])
        .args(["--threads", &rayon::current_num_threads().to_string()])
        .arg("--golden")
        .arg(&golden)
        .args(["--device", if work.cuda { "cuda" } else { "cpu" }])
        .args(["--reuse-k", &work.reuse_k.to_string()])
        .args(["--reuse-m", &work.reuse_m.to_string()])
        .args(["--reuse-pairs", &work.reuse_pairs.to_string()]);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} {}: {}",
            python.display(),
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("baseline output is not its JSON: {line}"))
}
