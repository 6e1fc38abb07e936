//! One training step, the same function for `train` and `bench`: forward, mean cross-entropy,
//! backward, and Torch7-style SGD (docs/training.md).
//!
//! Two input shapes:
//! - [`StepInput::Pairs`]: both images of every pair, `[B, 3, 160, 60]` each; the trunk runs on
//!   all `2B` images.
//! - [`StepInput::Reuse`]: `N` distinct images `[N, 3, 160, 60]` and `P` pairs of indices into
//!   them; the trunk runs once per image (`[N, 25, 37, 12]`), the features are gathered per pair
//!   (`[P, 25, 37, 12]` per side), and the gather's backward sums each image's gradients over
//!   its pairs.
//!
//! A reuse step may carry hard-negative pools (`train --hard-negatives POOL`): every candidate
//! is scored in the same forward pass, the highest-scoring candidate of each pool is kept, and
//! the loss is the mean over the kept pairs and the positives alone. The others get a zero
//! gradient, which the CPU's fused backward skips (so a pool costs forward passes only).

use std::ops::Range;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::TrainConfig;
use super::run::TrainError;
use crate::model::XCorrNet;

/// Torch7's optim.sgd: `g += weight_decay * w` (every parameter, biases included);
/// `v = momentum * v + (1 - dampening) * g` (`v = g` on the first step); `w -= lr * v`.
pub fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .with_momentum(Some(MomentumConfig {
            momentum: config.momentum,
            dampening: config.dampening,
            nesterov: false,
        }))
        .init()
}

/// A step's images, on an autodiff device.
#[allow(clippy::large_enum_variant)] // built once per step and moved into `logits`
pub enum StepInput {
    /// `a`, `b`: `[B, 3, 160, 60]`; pair `i` is `(a[i], b[i])`.
    Pairs { a: Tensor<4>, b: Tensor<4> },
    /// `images`: `[N, 3, 160, 60]`; `ia`, `ib`: `[P]` indices into `images`; `pools`:
    /// hard-negative pools, ranges of the P pairs (empty: every pair is scored).
    Reuse {
        images: Tensor<4>,
        ia: Vec<usize>,
        ib: Vec<usize>,
        pools: Vec<Range<usize>>,
    },
}

impl StepInput {
    /// Pairs run through the network.
    pub fn pairs(&self) -> usize {
        match self {
            Self::Pairs { a, .. } => a.dims()[0],
            Self::Reuse { ia, .. } => ia.len(),
        }
    }

    fn pools(&self) -> &[Range<usize>] {
        match self {
            Self::Pairs { .. } => &[],
            Self::Reuse { pools, .. } => pools,
        }
    }
}

/// What a step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the step's pairs (before the update).
    pub loss: f32,
    /// Fraction of pairs whose larger logit is the right class.
    pub accuracy: f32,
    /// Pairs scored by the loss (with hard-negative pools: the kept candidates and the
    /// positives).
    pub pairs: usize,
}

/// Logits `[P, 2]` of a step's pairs.
pub fn logits(net: &XCorrNet, input: StepInput) -> Tensor<2> {
    match input {
        StepInput::Pairs { a, b } => net.forward(a, b),
        StepInput::Reuse { images, ia, ib, .. } => {
            let features = net.features(images); // [N, 25, 37, 12]
            let pairs: Vec<(usize, usize)> = ia.into_iter().zip(ib).collect();
            net.forward_indexed(features, &pairs) // [P, 2]
        }
    }
}

/// Mean cross-entropy of `[P, 2]` logits against same/different labels (index 1 = same): `[1]`;
/// with `kept` (`[P]`, from [`hard_selection`]) the mean over the kept pairs alone.
pub fn loss(logits: Tensor<2>, same: &[bool], kept: Option<&[bool]>, device: &Device) -> Tensor<1> {
    let p = same.len();
    // With `kept`, each kept pair's one-hot target is scaled by 1 / (pairs kept), the others
    // are zero: the sum is the kept pairs' mean.
    let scale = kept.map_or(1.0, |k| {
        1.0 / k.iter().filter(|&&x| x).count().max(1) as f32
    });
    let weight = |i: usize| kept.map_or(1.0, |k| if k[i] { scale } else { 0.0 });
    let target: Vec<f32> = same
        .iter()
        .enumerate()
        .flat_map(|(i, &s)| {
            if s {
                [0.0, weight(i)]
            } else {
                [weight(i), 0.0]
            }
        })
        .collect();
    let target = Tensor::<2>::from_data(TensorData::new(target, [p, 2]), device); // [P, 2]
    let terms = log_softmax(logits, 1) * target; // [P, 2]
    match kept {
        None => terms.sum_dim(1).mean().neg(), // [1]
        Some(_) => terms.sum().neg(),          // [1]
    }
}

/// The pairs a step's loss keeps, `[P]`: every pair outside the pools, and in each pool the
/// candidate with the highest p(same) (largest `logit[1] - logit[0]`; the first on a tie).
/// `logits` are `[P, 2]` flattened.
pub fn hard_selection(logits: &[f32], pools: &[Range<usize>]) -> Vec<bool> {
    let p = logits.len() / 2;
    let mut kept = vec![true; p];
    let margin = |i: usize| logits[2 * i + 1] - logits[2 * i];
    for pool in pools {
        let pool = pool.start.min(p)..pool.end.min(p);
        let best = pool
            .clone()
            .reduce(|best, i| if margin(i) > margin(best) { i } else { best });
        for i in pool {
            kept[i] = Some(i) == best;
        }
    }
    kept
}

fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Device(format!("{e:?}")))
}

/// Fraction of rows of `[P, 2]` logits whose larger entry is the labelled class, over the
/// `kept` rows (all when `None`).
pub fn accuracy(logits: &[f32], same: &[bool], kept: Option<&[bool]>) -> f32 {
    let counted = |i: usize| kept.is_none_or(|k| k[i]);
    let (mut right, mut total) = (0usize, 0usize);
    for (i, (l, s)) in logits.chunks_exact(2).zip(same).enumerate() {
        if counted(i) {
            total += 1;
            right += usize::from((l[1] > l[0]) == *s);
        }
    }
    right as f32 / total.max(1) as f32
}

/// One step: forward on `input` (autodiff device `device`), loss against `same`, backward, SGD
/// at learning rate `lr`. A non-finite loss returns [`TrainError::NonFinite`] before the update,
/// leaving `net` as it was (the caller's copy).
pub fn train_step(
    net: XCorrNet,
    optim: &mut ModuleOptimizer,
    input: StepInput,
    same: &[bool],
    lr: f64,
    step: u64,
    device: &Device,
) -> Result<(XCorrNet, StepStats), TrainError> {
    let pairs = input.pairs();
    if pairs != same.len() {
        return Err(TrainError::Config(format!(
            "internal: {pairs} pairs but {} labels",
            same.len()
        )));
    }
    let pools = input.pools().to_vec();
    let logits = logits(&net, input); // [P, 2]
    let values = host(logits.clone().inner())?; // [P, 2] flattened
    let kept = (!pools.is_empty()).then(|| hard_selection(&values, &pools));
    let kept = kept.as_deref();
    let loss = loss(logits, same, kept, device); // [1]
    let loss_value = host(loss.clone().inner())?
        .first()
        .copied()
        .unwrap_or(f32::NAN);
    if !loss_value.is_finite() {
        return Err(TrainError::NonFinite {
            step,
            value: loss_value,
        });
    }
    let accuracy = accuracy(&values, same, kept);
    let scored = kept.map_or(pairs, |k| k.iter().filter(|&&x| x).count());
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let net = optim.step(lr, net, grads);
    Ok((
        net,
        StepStats {
            loss: loss_value,
            accuracy,
            pairs: scored,
        },
    ))
}

/// Make sure a freshly loaded module is trainable on `device` (an autodiff device).
pub fn trainable(net: XCorrNet, device: &Device) -> XCorrNet {
    net.fork(device).train()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_the_larger_logit() {
        let logits = [0.0, 1.0, 2.0, 1.0, 0.5, 0.4];
        assert_eq!(accuracy(&logits, &[true, false, true], None), 2.0 / 3.0);
        let kept = [true, false, true];
        assert_eq!(accuracy(&logits, &[true, true, true], Some(&kept)), 0.5);
    }

    #[test]
    fn hard_selection_keeps_the_most_confusable_candidate_of_each_pool() {
        // Margins (logit 1 - logit 0): 1, -1, 0.5, 2, -3, 0.5, 0.5.
        let logits = [0., 1., 1., 0., 0., 0.5, 0., 2., 3., 0., 0., 0.5, 0., 0.5];
        let kept = hard_selection(&logits, &[1..4, 4..5, 5..7]);
        let want = [true, false, false, true, true, true, false];
        assert_eq!(
            kept, want,
            "pool 1..4 keeps 3, a pool of one keeps it, a tie the first"
        );
        assert_eq!(hard_selection(&logits, &[]), vec![true; 7]);
    }

    #[test]
    fn the_kept_loss_is_the_mean_over_the_kept_pairs() {
        let device = Device::flex();
        let logits = [0.3f32, -0.2, 1.0, 0.5, -0.4, 0.9];
        let same = [true, false, true];
        let t = || Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [3, 2]), &device);
        // Cross-entropy by hand, pair by pair.
        let ce: Vec<f32> = logits
            .chunks_exact(2)
            .zip(same)
            .map(|(l, s)| {
                let lse = (l[0].exp() + l[1].exp()).ln();
                lse - if s { l[1] } else { l[0] }
            })
            .collect();
        let value = |x: Tensor<1>| x.try_into_vec_as::<f32>().expect("loss")[0];
        let all = value(loss(t(), &same, None, &device));
        assert!((all - (ce[0] + ce[1] + ce[2]) / 3.0).abs() < 1e-6);
        let kept = [true, false, true];
        let some = value(loss(t(), &same, Some(&kept), &device));
        assert!((some - (ce[0] + ce[2]) / 2.0).abs() < 1e-6, "{some}");
    }
}
