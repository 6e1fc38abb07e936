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
    /// `images`: `[N, 3, 160, 60]`; `ia`, `ib`: `[P]` indices into `images`.
    Reuse {
        images: Tensor<4>,
        ia: Vec<usize>,
        ib: Vec<usize>,
    },
}

impl StepInput {
    /// Pairs scored by the loss.
    pub fn pairs(&self) -> usize {
        match self {
            Self::Pairs { a, .. } => a.dims()[0],
            Self::Reuse { ia, .. } => ia.len(),
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
    /// Pairs scored.
    pub pairs: usize,
}

/// Logits `[P, 2]` of a step's pairs.
pub fn logits(net: &XCorrNet, input: StepInput) -> Tensor<2> {
    match input {
        StepInput::Pairs { a, b } => net.forward(a, b),
        StepInput::Reuse { images, ia, ib } => {
            let features = net.features(images); // [N, 25, 37, 12]
            let pairs: Vec<(usize, usize)> = ia.into_iter().zip(ib).collect();
            net.forward_indexed(features, &pairs) // [P, 2]
        }
    }
}

/// Mean cross-entropy of `[P, 2]` logits against same/different labels (index 1 = same): `[1]`.
pub fn loss(logits: Tensor<2>, same: &[bool], device: &Device) -> Tensor<1> {
    let p = same.len();
    let target: Vec<f32> = same
        .iter()
        .flat_map(|&s| if s { [0.0, 1.0] } else { [1.0, 0.0] })
        .collect();
    let target = Tensor::<2>::from_data(TensorData::new(target, [p, 2]), device); // [P, 2]
    (log_softmax(logits, 1) * target).sum_dim(1).mean().neg() // [1]
}

fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Device(format!("{e:?}")))
}

/// Fraction of rows of `[P, 2]` logits whose larger entry is the labelled class.
pub fn accuracy(logits: &[f32], same: &[bool]) -> f32 {
    let right = logits
        .chunks_exact(2)
        .zip(same)
        .filter(|(l, s)| (l[1] > l[0]) == **s)
        .count();
    right as f32 / same.len().max(1) as f32
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
    let logits = logits(&net, input); // [P, 2]
    let loss = loss(logits.clone(), same, device); // [1]
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
    let accuracy = accuracy(&host(logits.inner())?, same);
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let net = optim.step(lr, net, grads);
    Ok((
        net,
        StepStats {
            loss: loss_value,
            accuracy,
            pairs,
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
        assert_eq!(accuracy(&logits, &[true, false, true]), 2.0 / 3.0);
    }
}
