//! `reid-explorer bench [--json] [--pytorch PYTHON]`: the correlation layer's implementations,
//! the whole-network forward (with its stage split), a training step and gallery ranking, timed
//! in this process, with achieved GFLOP/s as fractions of two ceilings measured in the same
//! run (the backend's own GEMM and the CPU's multiply-add peak). With `--pytorch`, the PyTorch
//! eager baseline of `benches/pytorch_baseline.py` runs right after, on the same machine, and
//! the table gives every figure as a ratio against it.

mod measure;
mod pytorch;
mod report;

use std::path::PathBuf;

use crate::backend::{BackendChoice, select};

/// FLOPs of the correlation layer per pair (multiply-add = 2).
pub const XCORR_FLOP: f64 = 444.0 * 60.0 * 25.0 * 25.0 * 2.0;
/// FLOPs of a whole forward pass per pair (two trunks, correlation, head).
pub const FORWARD_FLOP: f64 = 214e6;
/// FLOPs of a training step per pair (forward + backward).
pub const TRAIN_FLOP: f64 = 589e6;
/// FLOPs of training the trunk on one image: forward 70.6 M, backward conv1 weights 26.2 M,
/// conv2 weights and input 2 x 44.4 M (conv1's input gradient is skipped).
pub const TRUNK_TRAIN_FLOP: f64 = 185.6e6;
/// FLOPs of training the correlation and head on one pair (the step minus its two trunks).
pub const PAIR_TRAIN_FLOP: f64 = TRAIN_FLOP - 2.0 * TRUNK_TRAIN_FLOP;
/// FLOPs of scoring one cached pair (correlation + head).
pub const SCORE_FLOP: f64 = XCORR_FLOP + 39.4e6;
/// FLOPs of the trunk per image.
const TRUNK_FLOP: f64 = 70.6e6;
/// FLOPs of the head's 1x1 convolution per pair (1500 -> 25 channels at 444 positions).
const CONV1X1_FLOP: f64 = 1500.0 * 25.0 * 444.0 * 2.0;
/// FLOPs of the rest of the head per pair.
const HEAD_REST_FLOP: f64 = 39.4e6 - CONV1X1_FLOP;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Skip the 20,000-image ranking (it takes a while on a CPU).
    #[arg(long)]
    pub quick: bool,
    /// Also run the PyTorch eager baseline (benches/pytorch_baseline.py) with this Python
    /// interpreter, right after, and report every figure as a ratio against it.
    #[arg(long, value_name = "PYTHON")]
    pub pytorch: Option<PathBuf>,
}

#[derive(Debug, serde::Serialize)]
pub struct XcorrTiming {
    #[serde(rename = "impl")]
    pub implementation: String,
    pub batch: usize,
    pub millis: f64,
    pub gflops: f64,
}

/// What `bench --json` prints.
#[derive(Debug, serde::Serialize)]
pub struct BenchOutput {
    pub backend: String,
    /// The backend's own 1024^3 matrix product.
    pub gemm_gflops: f64,
    /// The CPU's f32 multiply-add peak, all threads (the machine's ceiling).
    pub fma_peak_gflops: f64,
    pub xcorr: Vec<XcorrTiming>,
    pub forward_pairs_per_s: f64,
    /// Where the forward pass's time goes at batch 32.
    pub forward_stages_ms: Stages,
    /// The training step of pair batching (batch 32).
    pub train_pairs_per_s: f64,
    /// The training step of reuse batching: pairs scored by the loss per second.
    pub train_reuse_pairs_per_s: f64,
    /// The reuse step with hard-negative pools of `hard_pool` candidates: pairs the loss keeps
    /// per second.
    pub train_hard_pairs_per_s: f64,
    pub hard_pool: usize,
    /// Reuse batching's identities (K) and images per identity (M), and its pairs per step.
    pub reuse_k: usize,
    pub reuse_m: usize,
    pub reuse_pairs: usize,
    /// The fused correlation + ReLU + 1x1 convolution op that training runs on the CPU, on
    /// the reuse step's pairs (CPU backend only).
    pub training_op: Option<TrainingOp>,
    pub rank_1000_seconds: f64,
    pub rank_20000_seconds: Option<f64>,
    /// The PyTorch baseline measured right after (with `--pytorch`).
    pub pytorch: Option<pytorch::Baseline>,
}

/// The training op (correlation + ReLU + 1x1 convolution, fused) on one reuse step's pairs.
#[derive(Debug, serde::Serialize)]
pub struct TrainingOp {
    /// Pairs scored and distinct images they are formed of.
    pub pairs: usize,
    pub images: usize,
    /// Forward: `[N, 25, 37, 12]` features -> `[P, 25, 37, 12]` (milliseconds).
    pub forward_ms: f64,
    /// Backward alone: feature, weight and bias gradients from dL/dz (milliseconds; the op
    /// recomputes each pair's correlation plane, which [`TRAINING_OP_BACKWARD_FLOP`] does not
    /// count).
    pub backward_ms: f64,
}

/// FLOPs of the training op's forward per pair: the correlation and the 1x1 convolution.
pub const TRAINING_OP_FORWARD_FLOP: f64 = XCORR_FLOP + CONV1X1_FLOP;
/// FLOPs of its backward per pair: the volume's gradient, the 1x1 weights' gradient and the
/// patch gradients of both sides (each the size of the correlation or the convolution).
pub const TRAINING_OP_BACKWARD_FLOP: f64 = 2.0 * XCORR_FLOP + 2.0 * CONV1X1_FLOP;

/// The forward pass at batch 32 split into its stages (milliseconds).
#[derive(Debug, serde::Serialize)]
pub struct Stages {
    /// Trunk features of the 64 images.
    pub trunk: f64,
    /// The correlation layer, its ReLU and the head's 1x1 convolution on the 32 pairs of
    /// features (one fused pass on the CPU).
    pub correlation: f64,
    /// The rest of the head: 3x3 convolution, pooling and the two linear layers.
    pub head: f64,
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    let dev = select(backend)?;
    if let Some(n) = &dev.notice {
        eprintln!("{n}");
    }
    let mut out = measure::measure(&args, &dev)?;
    if let Some(python) = &args.pytorch {
        let work = pytorch::Matching {
            reuse_k: out.reuse_k,
            reuse_m: out.reuse_m,
            reuse_pairs: out.reuse_pairs,
            cuda: dev.kind == crate::backend::BackendKind::Gpu,
        };
        out.pytorch = Some(pytorch::run(python, args.reps, args.quick, &work)?);
    }
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        report::print(&out);
    }
    Ok(())
}
