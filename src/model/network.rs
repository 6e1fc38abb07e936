//! The Normalized X-Corr Siamese network (docs/network.md, the authors' version).
//!
//! ```text
//! image [B, 3, 160, 60] --trunk (shared)--> features [B, 25, 37, 12]
//!   conv 5x5 -> 20, ReLU, max-pool 2     [B, 20, 78, 28]
//!   conv 5x5 -> 25, ReLU, max-pool 2     [B, 25, 37, 12]
//! (features A, features B) --normalized correlation--> [B, 1500, 37, 12]
//! head: ReLU; conv 1x1 -> 25, ReLU       [B, 25, 37, 12]
//!       conv 3x3 -> 25 (no ReLU)         [B, 25, 35, 10]
//!       max-pool 2                       [B, 25, 17, 5]
//!       flatten, fc 2125 -> 500, ReLU    [B, 500]
//!       fc 500 -> 2                      [B, 2] logits; softmax = [p(different), p(same)]
//! ```
//! Every stage is a public method so the traced forward, the gallery cache and training reuse
//! the exact same code.

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::linear;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{ConfigError, ModelConfig, Shapes};
use super::conv::conv_valid;
use super::pool::max_pool2;
use super::trunk_cpu::trunk_features;
use super::xcorr::fused::xcorr_conv1x1;
use super::xcorr::head_op::xcorr_head_op;
use super::xcorr::{XcorrGeometry, XcorrPath, path_for, xcorr};

/// Weights and bias of one convolution: weight `[out, in, k, k]`, bias `[out]`.
#[derive(Module, Debug)]
pub struct ConvParams {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
}

/// Weights and bias of a fully connected layer: weight `[in, out]` (y = x W + b), bias `[out]`.
#[derive(Module, Debug)]
pub struct LinearParams {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

/// The network's parameters.
#[derive(Module, Debug)]
pub struct XCorrNet {
    pub conv1: ConvParams,
    pub conv2: ConvParams,
    pub head_conv1: ConvParams,
    pub head_conv3: ConvParams,
    pub fc1: LinearParams,
    pub fc2: LinearParams,
    #[module(skip)]
    pub geometry: XcorrGeometry,
}

/// The trunk's maps for a batch of images.
#[derive(Debug, Clone)]
pub struct TrunkMaps {
    /// After ReLU: `[B, 20, 156, 56]`.
    pub conv1: Tensor<4>,
    /// `[B, 20, 78, 28]`.
    pub pool1: Tensor<4>,
    /// After ReLU: `[B, 25, 74, 24]`.
    pub conv2: Tensor<4>,
    /// Features fed to the correlation: `[B, 25, 37, 12]`.
    pub pool2: Tensor<4>,
}

/// The head's maps for a batch of correlation volumes.
#[derive(Debug, Clone)]
pub struct HeadMaps {
    /// After ReLU: `[B, 25, 37, 12]`.
    pub conv1: Tensor<4>,
    /// No ReLU: `[B, 25, 35, 10]`.
    pub conv3: Tensor<4>,
    /// `[B, 25, 17, 5]`.
    pub pool: Tensor<4>,
    /// After ReLU: `[B, 500]`.
    pub fc500: Tensor<2>,
    /// `[B, 2]`.
    pub logits: Tensor<2>,
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// How a fresh network's weights are drawn.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Torch7's default `reset()` of nn.SpatialConvolution / nn.Linear (the authors'): weights
    /// and biases uniform in +-1/sqrt(fan_in).
    Torch,
    /// He-uniform weights (+-sqrt(6 / fan_in)) for layers followed by ReLU, Glorot-uniform for
    /// the last linear layer, zero biases.
    He,
}

/// Uniform bounds of (weights, biases) for a layer with `fan_in` inputs per output and
/// `fan_out` outputs; `relu` says whether a ReLU follows it.
fn bounds(init: Init, fan_in: usize, fan_out: usize, relu: bool) -> (f32, f32) {
    match init {
        Init::Torch => {
            let b = 1.0 / (fan_in as f32).sqrt();
            (b, b)
        }
        Init::He if relu => ((6.0 / fan_in as f32).sqrt(), 0.0),
        Init::He => ((6.0 / (fan_in + fan_out) as f32).sqrt(), 0.0),
    }
}

fn bias_init(rng: &mut ChaCha8Rng, n: usize, bound: f32, device: &Device) -> Param<Tensor<1>> {
    let b = if bound > 0.0 {
        uniform(rng, n, bound)
    } else {
        vec![0.0; n]
    };
    Param::from_tensor(Tensor::from_data(TensorData::new(b, [n]), device))
}

fn conv_init(
    rng: &mut ChaCha8Rng,
    init: Init,
    [out, inp, k]: [usize; 3],
    device: &Device,
) -> ConvParams {
    let fan_in = inp * k * k;
    let (wb, bb) = bounds(init, fan_in, out, true);
    let w = uniform(rng, out * fan_in, wb);
    ConvParams {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(w, [out, inp, k, k]),
            device,
        )),
        bias: bias_init(rng, out, bb, device),
    }
}

fn linear_init(
    rng: &mut ChaCha8Rng,
    init: Init,
    [inp, out]: [usize; 2],
    relu: bool,
    device: &Device,
) -> LinearParams {
    let (wb, bb) = bounds(init, inp, out, relu);
    let w = uniform(rng, inp * out, wb);
    LinearParams {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [inp, out]), device)),
        bias: bias_init(rng, out, bb, device),
    }
}

/// A layer's convolution (stride 1, no padding): the custom op on flex / CubeCL devices.
fn apply_conv(p: &ConvParams, x: Tensor<4>) -> Tensor<4> {
    conv_valid(x, p.weight.val(), p.bias.val())
}

/// 2x2 max-pool: the custom op on flex / CubeCL devices.
fn pool2(x: Tensor<4>) -> Tensor<4> {
    max_pool2(x)
}

impl XCorrNet {
    /// A freshly initialised network with He-uniform weights (see [`XCorrNet::init_with`]).
    pub fn init(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self, ConfigError> {
        Self::init_with(config, Init::He, seed, device)
    }

    /// A freshly initialised network. The same `seed` gives the same weights on every backend
    /// (they are drawn on the host with ChaCha8).
    pub fn init_with(
        config: &ModelConfig,
        init: Init,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ConfigError> {
        let s: Shapes = config.shapes()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let k = config.trunk_kernel;
        let h = config.head_channels;
        let (c1, c2) = (config.conv1_channels, config.conv2_channels);
        Ok(Self {
            conv1: conv_init(&mut rng, init, [c1, 3, k], device),
            conv2: conv_init(&mut rng, init, [c2, c1, k], device),
            head_conv1: conv_init(&mut rng, init, [h, s.xcorr[0], 1], device),
            head_conv3: conv_init(&mut rng, init, [h, h, 3], device),
            fc1: linear_init(&mut rng, init, [s.flat, config.fc_hidden], true, device),
            fc2: linear_init(&mut rng, init, [config.fc_hidden, 2], false, device),
            geometry: XcorrGeometry {
                patch: config.patch,
                band: config.band,
                eps: config.sigma_eps,
            },
        })
    }

    /// Trunk with every intermediate map: images `[B, 3, 160, 60]`.
    pub fn trunk_maps(&self, images: Tensor<4>) -> TrunkMaps {
        let conv1 = relu(apply_conv(&self.conv1, images)); // [B, 20, 156, 56]
        let pool1 = pool2(conv1.clone()); // [B, 20, 78, 28]
        let conv2 = relu(apply_conv(&self.conv2, pool1.clone())); // [B, 25, 74, 24]
        let pool2 = pool2(conv2.clone()); // [B, 25, 37, 12]
        TrunkMaps {
            conv1,
            pool1,
            conv2,
            pool2,
        }
    }

    /// Trunk features: `[B, 3, 160, 60]` -> `[B, 25, 37, 12]`. On a plain flex device
    /// (inference) the host trunk of [`super::trunk_cpu`]; elsewhere burn's layers.
    pub fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let conv1 = (self.conv1.weight.val(), self.conv1.bias.val());
        let conv2 = (self.conv2.weight.val(), self.conv2.bias.val());
        if let Some(features) = trunk_features(images.clone(), conv1, conv2) {
            return features;
        }
        self.trunk_maps(images).pool2
    }

    /// The correlation volume (before its ReLU): features `[B, 25, 37, 12]` x2 -> `[B, 1500, 37, 12]`.
    pub fn correlate(&self, fa: Tensor<4>, fb: Tensor<4>) -> Tensor<4> {
        xcorr(fa, fb, &self.geometry)
    }

    /// Head with every intermediate map: correlation `[B, 1500, 37, 12]` (before ReLU).
    pub fn head_maps(&self, corr: Tensor<4>) -> HeadMaps {
        let conv1 = relu(apply_conv(&self.head_conv1, relu(corr))); // [B, 25, 37, 12]
        self.head_after_conv1(conv1)
    }

    /// The head's first stage straight from two feature maps: `relu(conv1x1(relu(xcorr)))`,
    /// `[B, 25, 37, 12]` x2 -> `[B, 25, 37, 12]`. On the CPU the correlation volume is never
    /// materialised: inference (plain flex) runs one fused host pass, training (autodiff over
    /// flex) the fused op with its fused backward; elsewhere (GPU, or the reference forced)
    /// the correlation op, the ReLU and the convolution op.
    pub fn head_conv1_from_features(&self, fa: Tensor<4>, fb: Tensor<4>) -> Tensor<4> {
        let params = || (self.head_conv1.weight.val(), self.head_conv1.bias.val());
        if let Some(conv1) = xcorr_conv1x1(fa.clone(), fb.clone(), params(), &self.geometry) {
            return relu(conv1); // [B, 25, 37, 12]
        }
        if path_for(&fa.device()) == XcorrPath::Cpu && fa.dims() == fb.dims() {
            // The training op takes one feature batch and index pairs: pair i is (i, B + i).
            let b = fa.dims()[0];
            let pairs: Vec<(usize, usize)> = (0..b).map(|i| (i, b + i)).collect();
            let features = Tensor::cat(vec![fa.clone(), fb.clone()], 0); // [2B, 25, 37, 12]
            if let Some(conv1) = xcorr_head_op(features, &pairs, params(), &self.geometry) {
                return relu(conv1); // [B, 25, 37, 12]
            }
        }
        relu(apply_conv(&self.head_conv1, relu(self.correlate(fa, fb))))
    }

    /// The head's first stage for pairs of images of one feature batch (image-reuse
    /// training): `features` `[N, 25, 37, 12]`, pair p = (a, b) correlating image a with image
    /// b -> `[P, 25, 37, 12]`. On the CPU the fused op normalises each image once for all its
    /// pairs; elsewhere the pairs' features are gathered and go through
    /// [`XCorrNet::head_conv1_from_features`].
    pub fn head_conv1_indexed(&self, features: Tensor<4>, pairs: &[(usize, usize)]) -> Tensor<4> {
        let params = (self.head_conv1.weight.val(), self.head_conv1.bias.val());
        if let Some(conv1) = xcorr_head_op(features.clone(), pairs, params, &self.geometry) {
            return relu(conv1); // [P, 25, 37, 12]
        }
        let device = features.device();
        let index = |side: fn(&(usize, usize)) -> usize| {
            let v: Vec<i64> = pairs.iter().map(|p| side(p) as i64).collect();
            Tensor::<1, Int>::from_data(TensorData::new(v, [pairs.len()]), &device) // [P]
        };
        let fa = features.clone().select(0, index(|p| p.0)); // [P, 25, 37, 12]
        let fb = features.select(0, index(|p| p.1)); // [P, 25, 37, 12]
        self.head_conv1_from_features(fa, fb)
    }

    /// The rest of the head from its first stage's map `[B, 25, 37, 12]`.
    pub fn head_after_conv1(&self, conv1: Tensor<4>) -> HeadMaps {
        let conv3 = apply_conv(&self.head_conv3, conv1.clone()); // [B, 25, 35, 10]
        let pool = pool2(conv3.clone()); // [B, 25, 17, 5]
        let [b, c, h, w] = pool.dims();
        let flat = pool.clone().reshape([b, c * h * w]); // [B, 2125]
        let fc500 = relu(linear(
            flat,
            self.fc1.weight.val(),
            Some(self.fc1.bias.val()),
        )); // [B, 500]
        let logits = linear(
            fc500.clone(),
            self.fc2.weight.val(),
            Some(self.fc2.bias.val()),
        ); // [B, 2]
        HeadMaps {
            conv1,
            conv3,
            pool,
            fc500,
            logits,
        }
    }

    /// Logits for image pairs: `[B, 3, 160, 60]` x2 -> `[B, 2]` (index 1 = same person).
    pub fn forward(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<2> {
        let fa = self.features(a);
        let fb = self.features(b);
        self.forward_features(fa, fb)
    }

    /// Logits for pairs of precomputed trunk features: `[B, 25, 37, 12]` x2 -> `[B, 2]`.
    pub fn forward_features(&self, fa: Tensor<4>, fb: Tensor<4>) -> Tensor<2> {
        let conv1 = self.head_conv1_from_features(fa, fb); // [B, 25, 37, 12]
        self.head_after_conv1(conv1).logits
    }

    /// Logits for pairs of images of one feature batch: `features` `[N, 25, 37, 12]`, pairs
    /// `(a, b)` of indices into it -> `[P, 2]`.
    pub fn forward_indexed(&self, features: Tensor<4>, pairs: &[(usize, usize)]) -> Tensor<2> {
        let conv1 = self.head_conv1_indexed(features, pairs); // [P, 25, 37, 12]
        self.head_after_conv1(conv1).logits
    }
}

/// Softmax over the two classes: `[B, 2]` logits -> `[B, 2]` = [p(different), p(same)].
pub fn probabilities(logits: Tensor<2>) -> Tensor<2> {
    softmax(logits, 1)
}
