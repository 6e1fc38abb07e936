//! `reid-explorer bench [--json]`: the correlation layer's implementations, whole-network
//! forward, a training step and gallery ranking, timed in this process, with achieved GFLOP/s
//! and ratios against a GEMM measured in the same run.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::{BackendChoice, BackendKind, select};
use crate::engine::{FeatureBank, score_query};
use crate::model::xcorr::{
    XcorrGeometry, xcorr, xcorr_cpu, xcorr_op, xcorr_op_backward, xcorr_reference,
};
use crate::model::{ModelConfig, XCorrNet};
use crate::protocol::CancelToken;

/// FLOPs of the correlation layer per pair (multiply-add = 2).
pub const XCORR_FLOP: f64 = 444.0 * 60.0 * 25.0 * 25.0 * 2.0;
/// FLOPs of a whole forward pass per pair (two trunks, correlation, head).
pub const FORWARD_FLOP: f64 = 214e6;
/// FLOPs of a training step per pair (forward + backward).
pub const TRAIN_FLOP: f64 = 589e6;
/// FLOPs of scoring one cached pair (correlation + head).
pub const SCORE_FLOP: f64 = XCORR_FLOP + 39.4e6;

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
    pub gemm_gflops: f64,
    pub xcorr: Vec<XcorrTiming>,
    pub forward_pairs_per_s: f64,
    /// Where the forward pass's time goes at batch 32.
    pub forward_stages_ms: Stages,
    pub train_pairs_per_s: f64,
    pub rank_1000_seconds: f64,
    pub rank_20000_seconds: Option<f64>,
}

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

/// FLOPs of the trunk per image.
const TRUNK_FLOP: f64 = 70.6e6;
/// FLOPs of the head's 1x1 convolution per pair (1500 -> 25 channels at 444 positions).
const CONV1X1_FLOP: f64 = 1500.0 * 25.0 * 444.0 * 2.0;
/// FLOPs of the rest of the head per pair.
const HEAD_REST_FLOP: f64 = 39.4e6 - CONV1X1_FLOP;

fn forward_stages(
    net: &XCorrNet,
    (ia, ib): (&[f32], &[f32]),
    dims: [usize; 4],
    reps: usize,
    device: &Device,
) -> Stages {
    let images = Tensor::cat(
        vec![
            tensor4(ia.to_vec(), dims, device),
            tensor4(ib.to_vec(), dims, device),
        ],
        0,
    ); // [2B, 3, 160, 60]
    let trunk = median_ms(reps, || {
        let _ = net
            .features(images.clone())
            .slice([0..1, 0..1, 0..1, 0..1])
            .try_into_vec_as::<f32>();
    });
    let b = dims[0];
    let f = net.features(images); // [2B, 25, 37, 12]
    let (fa, fb) = (f.clone().narrow(0, 0, b), f.narrow(0, b, b));
    let correlation = median_ms(reps, || {
        let _ = net
            .head_conv1_from_features(fa.clone(), fb.clone())
            .slice([0..1, 0..1, 0..1, 0..1])
            .try_into_vec_as::<f32>();
    });
    let conv1 = net.head_conv1_from_features(fa, fb); // [B, 25, 37, 12]
    let head = median_ms(reps, || {
        let _ = net
            .head_after_conv1(conv1.clone())
            .logits
            .try_into_vec_as::<f32>();
    });
    Stages {
        trunk,
        correlation,
        head,
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Median wall time of `f` in milliseconds (after one warm-up call); NaN when `f` fails (a
/// backend that cannot allocate a reference-path tensor, say), so one row cannot sink the table.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut once = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut f)).is_ok();
    if !once() {
        return f64::NAN;
    }
    let mut t = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        if !once() {
            return f64::NAN;
        }
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn sync(device: &Device) {
    let _ = device.sync();
}

fn tensor4(v: Vec<f32>, dims: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v, dims), device)
}

/// GEMM throughput of the backend: 1024 x 1024 x 1024.
fn gemm(device: &Device, reps: usize) -> f64 {
    let n = 1024;
    let a: Tensor<2> = Tensor::from_data(TensorData::new(random(n * n, 1), [n, n]), device);
    let b: Tensor<2> = Tensor::from_data(TensorData::new(random(n * n, 2), [n, n]), device);
    let ms = median_ms(reps, || {
        let c = a.clone().matmul(b.clone());
        let _ = c.slice([0..1, 0..1]).try_into_vec_as::<f32>();
    });
    2.0 * (n * n * n) as f64 / (ms * 1e6)
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    let dev = select(backend)?;
    if let Some(n) = &dev.notice {
        eprintln!("{n}");
    }
    let device = dev.device.clone();
    let reps = args.reps;
    let geo = XcorrGeometry::default();
    let gemm_gflops = gemm(&device, reps);

    let mut xc = Vec::new();
    for batch in [1usize, 32, 128] {
        let dims = [batch, 25, 37, 12];
        let n = dims.iter().product();
        let (xv, yv) = (random(n, 3), random(n, 4));
        let mut push = |name: &str, ms: f64| {
            xc.push(XcorrTiming {
                implementation: name.to_string(),
                batch,
                millis: ms,
                gflops: XCORR_FLOP * batch as f64 / (ms * 1e6),
            })
        };
        let (x, y) = (
            tensor4(xv.clone(), dims, &device),
            tensor4(yv.clone(), dims, &device),
        );
        let ms = median_ms(reps.min(3), || {
            let o = xcorr_reference(x.clone(), y.clone(), &geo);
            let _ = o.slice([0..1, 0..1, 0..1, 0..1]).try_into_vec_as::<f32>();
        });
        push("reference (tensor ops)", ms);
        if dev.kind == BackendKind::Cpu {
            push(
                "cpu kernel (host slices)",
                median_ms(reps, || drop(xcorr_cpu(&xv, &yv, dims, &geo))),
            );
        }
        // The custom op (forward, then its backward alone): host kernels on flex, fused
        // CubeCL kernels on wgpu.
        let op_name = if dev.kind == BackendKind::Cpu {
            "flex op"
        } else {
            "wgpu fused"
        };
        if xcorr_op(x.clone(), y.clone(), &geo).is_some() {
            let ms = median_ms(reps, || {
                if let Some(o) = xcorr_op(x.clone(), y.clone(), &geo) {
                    let _ = o.slice([0..1, 0..1, 0..1, 0..1]).try_into_vec_as::<f32>();
                }
            });
            push(op_name, ms);
            let g = tensor4(
                random(batch * 1500 * 444, 9),
                [batch, 1500, 37, 12],
                &device,
            );
            let ms = median_ms(reps, || {
                if let Some((dx, _)) = xcorr_op_backward(x.clone(), y.clone(), g.clone(), &geo) {
                    let _ = dx.slice([0..1, 0..1, 0..1, 0..1]).try_into_vec_as::<f32>();
                }
            });
            push(&format!("{op_name} backward"), ms);
        }
        let ms = median_ms(reps, || {
            let o = xcorr(x.clone(), y.clone(), &geo);
            let _ = o.slice([0..1, 0..1, 0..1, 0..1]).try_into_vec_as::<f32>();
        });
        push("dispatched (what the app uses)", ms);
    }

    let net = XCorrNet::init(&ModelConfig::default(), 0, &device)?;
    let b = 32;
    let dims = [b, 3, 160, 60];
    let (ia, ib) = (random(b * 3 * 160 * 60, 5), random(b * 3 * 160 * 60, 6));
    let fwd_ms = median_ms(reps.min(3), || {
        let l = net.forward(
            tensor4(ia.clone(), dims, &device),
            tensor4(ib.clone(), dims, &device),
        );
        let _ = l.try_into_vec_as::<f32>();
    });
    let forward_pairs_per_s = b as f64 / (fwd_ms / 1e3);
    let forward_stages_ms = forward_stages(&net, (&ia, &ib), dims, reps.min(3), &device);

    let ad = device.clone().autodiff();
    let mut tnet = net.clone().fork(&ad).train();
    let mut optim = burn::optim::SgdConfig::new().init();
    let train_ms = median_ms(reps.min(3), || {
        let l = tnet.forward(
            tensor4(ia.clone(), dims, &ad),
            tensor4(ib.clone(), dims, &ad),
        );
        let loss = l.sum();
        let grads = GradientsParams::from_grads(loss.backward(), &tnet);
        tnet = optim.step(1e-6, tnet.clone(), grads);
        sync(&ad);
    });
    let train_pairs_per_s = b as f64 / (train_ms / 1e3);

    let shape = [25, 37, 12];
    let per: usize = shape.iter().product();
    let q = FeatureBank {
        shape,
        values: random(per, 7),
    };
    let never = CancelToken::new();
    let rank = |n: usize| -> anyhow::Result<f64> {
        let g = FeatureBank {
            shape,
            values: random(per * n, 8),
        };
        let s = Instant::now();
        let scores = score_query(&net, &q, 0, &g, 64, &device, &never)?;
        anyhow::ensure!(scores.len() == n, "scored {} of {n}", scores.len());
        Ok(s.elapsed().as_secs_f64())
    };
    let rank_1000_seconds = rank(1000)?;
    let rank_20000_seconds = if args.quick {
        None
    } else {
        Some(rank(20_000)?)
    };

    let out = BenchOutput {
        backend: dev.description.clone(),
        gemm_gflops,
        xcorr: xc,
        forward_pairs_per_s,
        forward_stages_ms,
        train_pairs_per_s,
        rank_1000_seconds,
        rank_20000_seconds,
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    println!(
        "backend: {}   GEMM 1024^3: {:.1} GFLOP/s (the ceiling the fractions refer to)",
        out.backend, gemm_gflops
    );
    println!("\ncorrelation layer [B, 25, 37, 12] -> [B, 1500, 37, 12]");
    println!(
        "{:<32} {:>6} {:>12} {:>10} {:>9} {:>10}",
        "implementation", "batch", "ms", "pairs/s", "GFLOP/s", "of GEMM"
    );
    for t in &out.xcorr {
        println!(
            "{:<32} {:>6} {:>12.2} {:>10.0} {:>9.2} {:>9.1}%",
            t.implementation,
            t.batch,
            t.millis,
            t.batch as f64 / (t.millis / 1e3),
            t.gflops,
            100.0 * t.gflops / gemm_gflops
        );
    }
    let frac = |pairs_per_s: f64, flop: f64| 100.0 * pairs_per_s * flop / 1e9 / gemm_gflops;
    println!("\nwhole network, batch 32");
    println!(
        "  forward        {:>8.1} pairs/s  ({:.1}% of GEMM)",
        forward_pairs_per_s,
        frac(forward_pairs_per_s, FORWARD_FLOP)
    );
    let st = &out.forward_stages_ms;
    let gf = |flop: f64, ms: f64| flop / 1e6 / ms;
    println!(
        "    stages: trunk (64 images) {:.1} ms ({:.1} GFLOP/s), correlation + ReLU + 1x1 conv {:.1} ms ({:.1} GFLOP/s), rest of head {:.1} ms ({:.1} GFLOP/s)",
        st.trunk,
        gf(64.0 * TRUNK_FLOP, st.trunk),
        st.correlation,
        gf(32.0 * (XCORR_FLOP + CONV1X1_FLOP), st.correlation),
        st.head,
        gf(32.0 * HEAD_REST_FLOP, st.head),
    );
    println!(
        "  training step  {:>8.1} pairs/s  ({:.1}% of GEMM)",
        train_pairs_per_s,
        frac(train_pairs_per_s, TRAIN_FLOP)
    );
    println!("\nranking one query against cached gallery features");
    println!(
        "  1,000 images   {:>8.2} s  ({:.1}% of GEMM)",
        rank_1000_seconds,
        frac(1000.0 / rank_1000_seconds, SCORE_FLOP)
    );
    if let Some(s) = rank_20000_seconds {
        println!(
            "  20,000 images  {:>8.2} s  ({:.1}% of GEMM)",
            s,
            frac(20000.0 / s, SCORE_FLOP)
        );
    }
    Ok(())
}
