//! The training step (`train::step`, what `train` and `bench` run): reuse batching computes the
//! same logits and the same update as pair batching fed the same pairs, on the CPU and on any
//! wgpu adapter; and the optimiser is Torch7's SGD (dampening = momentum).

mod common;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use common::{max_abs, random_values, rel_l2, tensor4, to_vec};
use reid_explorer::model::{Init, ModelConfig, XCorrNet};
use reid_explorer::train::TrainConfig;
use reid_explorer::train::step::{
    StepInput, hard_selection, logits, optimizer, train_step, trainable,
};

const IMG: usize = 3 * 160 * 60;

/// 5 images and 7 pairs among them (image 2 used four times, image 4 never as `b`).
fn case() -> (Vec<f32>, Vec<usize>, Vec<usize>, Vec<bool>) {
    let images = random_values(5 * IMG, 11)
        .into_iter()
        .map(|v| 0.5 + 0.2 * v)
        .collect();
    let ia = vec![0, 2, 2, 4, 1, 3, 2];
    let ib = vec![1, 3, 0, 2, 0, 1, 1];
    let same = vec![true, false, false, true, true, false, false];
    (images, ia, ib, same)
}

fn gather(images: &[f32], idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| images[i * IMG..(i + 1) * IMG].iter().copied())
        .collect()
}

fn inputs(device: &Device) -> (StepInput, StepInput, Vec<bool>) {
    let (images, ia, ib, same) = case();
    let p = ia.len();
    let pairs = StepInput::Pairs {
        a: tensor4(gather(&images, &ia), [p, 3, 160, 60], device),
        b: tensor4(gather(&images, &ib), [p, 3, 160, 60], device),
    };
    let reuse = StepInput::Reuse {
        images: tensor4(images, [5, 3, 160, 60], device),
        ia,
        ib,
        pools: Vec::new(),
    };
    (pairs, reuse, same)
}

fn net(device: &Device) -> XCorrNet {
    let cfg = ModelConfig::default();
    trainable(
        XCorrNet::init_with(&cfg, Init::Torch, 3, &Device::flex()).expect("init"),
        device,
    )
}

fn conv1_weights(net: &XCorrNet) -> Vec<f32> {
    to_vec(net.valid().conv1.weight.val())
}

/// Logits of a step and conv1's weights after it.
type Outcome = (Vec<f32>, Vec<f32>);

/// One step of each kind (pairs, reuse) from the same network.
fn both_steps(device: &Device) -> (Outcome, Outcome) {
    let ad = device.clone().autodiff();
    let config = TrainConfig::default();
    let (pairs, reuse, same) = inputs(&ad);
    let lp = to_vec(logits(&net(&ad), pairs).inner());
    let lr_ = to_vec(logits(&net(&ad), reuse).inner());
    let (pairs, reuse, _) = inputs(&ad);
    let (a, _) = train_step(
        net(&ad),
        &mut optimizer(&config),
        pairs,
        &same,
        0.05,
        0,
        &ad,
    )
    .expect("pairs step");
    let (b, _) = train_step(
        net(&ad),
        &mut optimizer(&config),
        reuse,
        &same,
        0.05,
        0,
        &ad,
    )
    .expect("reuse step");
    ((lp, conv1_weights(&a)), (lr_, conv1_weights(&b)))
}

#[test]
fn reuse_batching_matches_pair_batching_on_the_cpu() {
    let ((lp, wp), (lr_, wr)) = both_steps(&Device::flex());
    assert!(
        max_abs(&lr_, &lp) < 1e-4,
        "logits differ: {lr_:?} vs {lp:?}"
    );
    // The trunk's gradients are summed per image by the gather's backward: same update.
    let before = conv1_weights(&net(&Device::flex()));
    let moved: Vec<f32> = wp.iter().zip(&before).map(|(a, b)| a - b).collect();
    let moved_r: Vec<f32> = wr.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert!(
        moved.iter().any(|d| d.abs() > 1e-7),
        "the step moved nothing"
    );
    assert!(
        rel_l2(&moved_r, &moved) < 1e-3,
        "updates differ: rel {}",
        rel_l2(&moved_r, &moved)
    );
}

#[test]
fn reuse_batching_on_wgpu_matches_the_cpu() {
    let Some(gpu) = common::gpu_device() else {
        return;
    };
    let ((_, _), (cpu_logits, cpu_w)) = both_steps(&Device::flex());
    let ((_, _), (gpu_logits, gpu_w)) = both_steps(&gpu);
    assert!(
        max_abs(&gpu_logits, &cpu_logits) < 1e-3,
        "{gpu_logits:?} vs {cpu_logits:?}"
    );
    assert!(rel_l2(&gpu_w, &cpu_w) < 1e-4);
}

/// A step with hard-negative pools updates the network exactly as a step on the pairs it
/// keeps: each pool's highest-scoring candidate (scored by the network before the step) and
/// the pairs outside the pools. The loss, accuracy and pair count are those of the kept pairs.
#[test]
fn hard_negative_pools_train_on_the_kept_pairs_alone() {
    let ad = Device::flex().autodiff();
    let config = TrainConfig::default();
    let (images, ia, ib, same) = case();
    // Pairs 1, 2 are one negative's candidates, 5, 6 another's; 0, 3, 4 (positives) are kept.
    let pools = vec![1..3, 5..7];
    let reuse = |ia: Vec<usize>, ib: Vec<usize>, pools| StepInput::Reuse {
        images: tensor4(images.clone(), [5, 3, 160, 60], &ad),
        ia,
        ib,
        pools,
    };
    let scores = to_vec(logits(&net(&ad), reuse(ia.clone(), ib.clone(), Vec::new())).inner());
    let kept = hard_selection(&scores, &pools);
    assert_eq!(kept.iter().filter(|&&k| k).count(), 5);
    let pick = |v: &[usize]| -> Vec<usize> { (0..7).filter(|&i| kept[i]).map(|i| v[i]).collect() };
    let same_kept: Vec<bool> = (0..7).filter(|&i| kept[i]).map(|i| same[i]).collect();
    let step = |input, same: &[bool]| {
        train_step(net(&ad), &mut optimizer(&config), input, same, 0.05, 0, &ad).expect("step")
    };
    let (pooled, stats) = step(reuse(ia.clone(), ib.clone(), pools), &same);
    let (plain, want) = step(reuse(pick(&ia), pick(&ib), Vec::new()), &same_kept);
    assert_eq!(stats.pairs, 5);
    assert!(
        (stats.loss - want.loss).abs() < 1e-6,
        "{stats:?} vs {want:?}"
    );
    assert_eq!(stats.accuracy, want.accuracy);
    let (a, b) = (conv1_weights(&pooled), conv1_weights(&plain));
    assert!(
        max_abs(&a, &b) < 1e-7,
        "updates differ by {}",
        max_abs(&a, &b)
    );
    let before = conv1_weights(&net(&ad));
    assert!(max_abs(&a, &before) > 1e-6, "the step moved nothing");
}

/// Torch7's optim.sgd with dampening = momentum: v1 = g1, v2 = 0.9 v1 + 0.1 g2, w -= lr v.
#[test]
fn sgd_follows_torch7_dampening() {
    #[derive(Module, Debug)]
    struct One {
        w: Param<Tensor<1>>,
    }
    let ad = Device::flex().autodiff();
    let config = TrainConfig {
        weight_decay: 0.0,
        ..TrainConfig::default()
    };
    let mut optim = optimizer(&config);
    let mut m = One {
        w: Param::from_tensor(Tensor::from_data(TensorData::new(vec![1.0f32], [1]), &ad)),
    };
    let mut ws = Vec::new();
    // loss = k * w: gradient k (3 then 5).
    for k in [3.0f32, 5.0] {
        let loss = m.w.val().mul_scalar(k).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        m = optim.step(0.1, m, grads);
        ws.push(to_vec(m.w.val().inner())[0]);
    }
    // v1 = 3: w = 1 - 0.3 = 0.7; v2 = 0.9 * 3 + 0.1 * 5 = 3.2: w = 0.7 - 0.32 = 0.38.
    assert!((ws[0] - 0.7).abs() < 1e-6, "{ws:?}");
    assert!((ws[1] - 0.38).abs() < 1e-6, "{ws:?}");
}
