//! The measurements of `bench`: each timed in this process, the median of repeated calls
//! after a warm-up.

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Args, BenchOutput, Stages, TrainingOp, XCORR_FLOP, XcorrTiming};
use crate::backend::{BackendKind, ComputeDevice};
use crate::data::reuse::{ReuseBatch, ReuseConfig, ReuseSampler};
use crate::engine::{FeatureBank, score_query};
use crate::model::simd::{Isa, fma_peak_gflops};
use crate::model::xcorr::band_forward::head_forward_cpu;
use crate::model::xcorr::fused_backward::xcorr_conv1x1_backward_cpu;
use crate::model::xcorr::reference::VAR_FLOOR;
use crate::model::xcorr::{
    XcorrGeometry, xcorr, xcorr_cpu, xcorr_op, xcorr_op_backward, xcorr_reference,
};
use crate::model::{ModelConfig, XCorrNet};
use crate::protocol::CancelToken;
use crate::train::TrainConfig;
use crate::train::step::{StepInput, optimizer, train_step, trainable};

/// The hard-negative pool the bench times (`train --hard-negatives 3`).
const HARD_POOL: usize = 3;

/// One reuse batch of K identities x M images (two cameras each), as `train` draws them, with
/// hard-negative pools of `pool` candidates (1: random negatives).
fn reuse_batch(k: usize, m: usize, pool: usize) -> ReuseBatch {
    let labels: Vec<(i64, Option<u32>)> = (0..k * m)
        .map(|i| ((i / m) as i64, Some((i % 2) as u32)))
        .collect();
    let all: Vec<usize> = (0..labels.len()).collect();
    let config = ReuseConfig {
        identities: k,
        images: m,
        negatives_per_positive: 2,
        cross_camera: false,
        camera_balanced: false,
        negative_pool: pool,
    };
    ReuseSampler::new(&labels, &all, config, 0).map_or(
        ReuseBatch {
            images: Vec::new(),
            pairs: Vec::new(),
            pools: Vec::new(),
        },
        |s| s.batch(0, 0),
    )
}

/// Everything `bench` measures on `dev`.
pub(super) fn measure(args: &Args, dev: &ComputeDevice) -> anyhow::Result<BenchOutput> {
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

    // The training step `train` runs (crate::train::step), in both batchings.
    let ad = device.clone().autodiff();
    let config = TrainConfig::default();
    let same: Vec<bool> = (0..b).map(|i| i % 3 == 0).collect();
    let mut optim = optimizer(&config);
    let mut tnet = trainable(net.clone(), &ad);
    let train_ms = median_ms(reps.min(3), || {
        let input = StepInput::Pairs {
            a: tensor4(ia.clone(), dims, &ad),
            b: tensor4(ib.clone(), dims, &ad),
        };
        if let Ok((next, _)) = train_step(tnet.clone(), &mut optim, input, &same, 1e-6, 0, &ad) {
            tnet = next;
        }
        sync(&ad);
    });
    let train_pairs_per_s = b as f64 / (train_ms / 1e3);
    let reuse = reuse_batch(config.reuse_identities, config.reuse_images, 1);
    let train_reuse_pairs_per_s = reuse_step(&net, &reuse, reps, &ad);
    let hard = reuse_batch(config.reuse_identities, config.reuse_images, HARD_POOL);
    let train_hard_pairs_per_s = reuse_step(&net, &hard, reps, &ad);
    let training_op = (dev.kind == BackendKind::Cpu).then(|| training_op(&reuse, &geo, reps));

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

    Ok(BenchOutput {
        backend: dev.description.clone(),
        gemm_gflops,
        fma_peak_gflops: fma_peak_gflops(Isa::best(), 300),
        xcorr: xc,
        forward_pairs_per_s,
        forward_stages_ms,
        train_pairs_per_s,
        train_reuse_pairs_per_s,
        train_hard_pairs_per_s,
        hard_pool: HARD_POOL,
        reuse_k: config.reuse_identities,
        reuse_m: config.reuse_images,
        reuse_pairs: reuse.pairs.len(),
        training_op,
        rank_1000_seconds,
        rank_20000_seconds,
        pytorch: None,
    })
}

/// The fused training op (correlation + ReLU + 1x1 convolution, crate::model::xcorr::head_op)
/// on the host, forward and backward, over a reuse batch's pairs of random features: the
/// correlation's share of the training step, as `train` runs it on the CPU.
fn training_op(reuse: &ReuseBatch, geo: &XcorrGeometry, reps: usize) -> TrainingOp {
    let (n, p, k) = (reuse.images.len(), reuse.pairs.len(), 25);
    let dims = [n, 25, 37, 12]; // features [N, C, H, W]
    let features = random(n * 25 * 444, 10);
    let depth = geo.depth(25, 12); // C * D * W = 1500
    let weight: Vec<f32> = random(k * depth, 11).iter().map(|v| 0.05 * v).collect(); // [K, 1500]
    let bias = random(k, 12); // [K]
    let dz = random(p * k * 444, 13); // [P, K, H, W]
    let pairs: Vec<(usize, usize)> = reuse.pairs.iter().map(|q| (q.0, q.1)).collect();
    let isa = Isa::best();
    let forward_ms = median_ms(reps, || {
        let z = head_forward_cpu(
            isa,
            (&features, dims),
            &pairs,
            (geo, VAR_FLOOR),
            (&weight, &bias),
        );
        std::hint::black_box(z);
    });
    let backward_ms = median_ms(reps, || {
        let g = xcorr_conv1x1_backward_cpu(
            isa,
            (&features, dims),
            &pairs,
            (geo, VAR_FLOOR),
            &weight,
            &dz,
        );
        std::hint::black_box(g);
    });
    TrainingOp {
        pairs: p,
        images: n,
        forward_ms,
        backward_ms,
    }
}

/// The reuse training step `train` runs, on `batch` with random images: pairs scored by the
/// loss per second (with pools, the kept candidates and the positives).
fn reuse_step(net: &XCorrNet, batch: &ReuseBatch, reps: usize, ad: &Device) -> f64 {
    let n_img = batch.images.len();
    let images = random(n_img * 3 * 160 * 60, 9);
    let same: Vec<bool> = batch.pairs.iter().map(|p| p.2).collect();
    let mut optim = optimizer(&TrainConfig::default());
    let mut tnet = trainable(net.clone(), ad);
    let mut scored = 0;
    let ms = median_ms(reps.min(3), || {
        let input = StepInput::Reuse {
            images: tensor4(images.clone(), [n_img, 3, 160, 60], ad),
            ia: batch.pairs.iter().map(|p| p.0).collect(),
            ib: batch.pairs.iter().map(|p| p.1).collect(),
            pools: batch.pools.clone(),
        };
        if let Ok((next, stats)) = train_step(tnet.clone(), &mut optim, input, &same, 1e-6, 0, ad) {
            tnet = next;
            scored = stats.pairs;
        }
        sync(ad);
    });
    scored as f64 / (ms / 1e3)
}

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
