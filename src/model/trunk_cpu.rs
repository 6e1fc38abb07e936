//! Inference fast path on the CPU: the trunk (5x5 convolution, bias, ReLU, 2x2 max-pool, twice)
//! on host data, one image per rayon task. Each convolution is the direct convolution of
//! [`super::conv::host`] (the SIMD micro-kernel, no im2col); the pool of [`super::pool::host`]
//! and the ReLU follow on the image while it is in cache.
//!
//! Same function as burn's `conv2d` -> ReLU -> `max_pool2d` (tested against an f64 direct
//! convolution for every instruction-set copy, and through the network against the burn
//! trunk). Not differentiable: training uses the convolution op of [`super::conv`].

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::conv::host::{DirectConv, DirectScratch, transpose_weights};
use super::pool::host::max_pool2_plane;
use super::simd::{Isa, run_with};

/// One convolution layer on the host: `weight` `[Cout, Cin, K, K]`, `bias` `[Cout]`.
#[derive(Debug, Clone)]
pub struct HostConv {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub cout: usize,
    pub cin: usize,
    pub k: usize,
}

impl HostConv {
    /// The layer as a direct convolution with its bias, given its transposed weights.
    fn direct<'a>(&'a self, wt: &'a [f32]) -> DirectConv<'a> {
        DirectConv {
            wt,
            bias: Some(&self.bias),
            cin: self.cin,
            cout: self.cout,
            k: self.k,
        }
    }
}

/// Scratch of one layer, reused across the images one rayon worker handles.
#[derive(Default)]
struct LayerScratch {
    direct: DirectScratch,
    /// Convolution output (bias included): `[Cout, Ho, Wo]`.
    conv: Vec<f32>,
}

/// Per-image scratch: one per layer and the first layer's pooled output `[C1, H1, W1]`.
#[derive(Default)]
struct Scratch {
    layers: [LayerScratch; 2],
    mid: Vec<f32>,
}

/// `maxpool2(relu(conv(x) + bias))` of one image: `x` `[Cin, H, W]` -> `out`
/// `[Cout, Ho/2, Wo/2]` (floor). The bias is added before the max, which it commutes with.
#[inline(always)]
fn conv_relu_pool(
    isa: Isa,
    conv: &DirectConv,
    x: &[f32],
    (h, w): (usize, usize),
    s: &mut LayerScratch,
    out: &mut [f32],
) {
    let (ho, wo) = (h + 1 - conv.k, w + 1 - conv.k);
    s.conv.resize(conv.cout * ho * wo, 0.0);
    conv.image(isa, x, (h, w, 0), &mut s.direct, &mut s.conv);
    let (hp, wp) = (ho / 2, wo / 2);
    for (plane, dst) in s
        .conv
        .chunks_exact(ho * wo)
        .zip(out.chunks_exact_mut(hp * wp))
    {
        max_pool2_plane(plane, (ho, wo), dst);
        for v in dst.iter_mut() {
            *v = v.max(0.0);
        }
    }
}

/// The trunk on host data: images `[B, 3, H, W]` flattened -> features `[B, C2, H2, W2]`
/// flattened, with `(H2, W2)` returned beside them.
pub fn trunk_cpu(
    isa: Isa,
    images: &[f32],
    [b, c, h, w]: [usize; 4],
    (conv1, conv2): (&HostConv, &HostConv),
) -> (Vec<f32>, [usize; 2]) {
    assert_eq!(c, conv1.cin, "image channels");
    assert_eq!(conv1.cout, conv2.cin, "layer channels");
    let (h1, w1) = ((h + 1 - conv1.k) / 2, (w + 1 - conv1.k) / 2);
    let (h2, w2) = ((h1 + 1 - conv2.k) / 2, (w1 + 1 - conv2.k) / 2);
    let (wt1, wt2) = (
        transpose_weights(&conv1.weight, conv1.cout),
        transpose_weights(&conv2.weight, conv2.cout),
    );
    let (l1, l2) = (conv1.direct(&wt1), conv2.direct(&wt2));
    let per_out = conv2.cout * h2 * w2;
    let mut out = vec![0.0f32; b * per_out];
    if out.is_empty() {
        return (out, [h2, w2]);
    }
    out.par_chunks_mut(per_out)
        .enumerate()
        .for_each_init(Scratch::default, |s, (i, out)| {
            let x = &images[i * c * h * w..(i + 1) * c * h * w];
            s.mid.resize(conv1.cout * h1 * w1, 0.0);
            let [s1, s2] = &mut s.layers;
            run_with(
                isa,
                #[inline(always)]
                |isa| {
                    conv_relu_pool(isa, &l1, x, (h, w), s1, &mut s.mid);
                    conv_relu_pool(isa, &l2, &s.mid, (h1, w1), s2, out);
                },
            );
        });
    (out, [h2, w2])
}

/// The trunk through the host path on tensors: images `[B, 3, H, W]` -> `[B, C2, H2, W2]`.
/// `None` anywhere but a plain (non-autodiff) flex device on the fast path (the caller then
/// runs burn's layers).
pub fn trunk_features(
    images: Tensor<4>,
    conv1: (Tensor<4>, Tensor<1>),
    conv2: (Tensor<4>, Tensor<1>),
) -> Option<Tensor<4>> {
    let device: Device = images.device();
    if device.is_autodiff() || super::xcorr::path_for(&device) != super::xcorr::XcorrPath::Cpu {
        return None;
    }
    let dims = images.dims();
    let host = |(w, b): (Tensor<4>, Tensor<1>)| -> Option<HostConv> {
        let [cout, cin, k, k2] = w.dims();
        (k == k2 && b.dims() == [cout]).then_some(())?;
        Some(HostConv {
            weight: w.try_into_vec_as::<f32>().ok()?,
            bias: b.try_into_vec_as::<f32>().ok()?,
            cout,
            cin,
            k,
        })
    };
    let (c1, c2) = (host(conv1)?, host(conv2)?);
    let fits = c1.cin == dims[1]
        && c2.cin == c1.cout
        && dims[2] + 1 >= c1.k + 2 * c2.k
        && dims[3] + 1 >= c1.k + 2 * c2.k;
    if !fits {
        return None;
    }
    let x = images.try_into_vec_as::<f32>().ok()?;
    let (out, [h2, w2]) = trunk_cpu(Isa::best(), &x, dims, (&c1, &c2));
    Some(Tensor::from_data(
        TensorData::new(out, [dims[0], c2.cout, h2, w2]),
        &device,
    )) // [B, C2, H2, W2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::pseudo_random as values;

    /// f64 `maxpool2(relu(conv(x) + bias))` of one image.
    fn reference(x: &[f32], (h, w): (usize, usize), conv: &HostConv) -> (Vec<f64>, usize, usize) {
        let (ho, wo) = (h + 1 - conv.k, w + 1 - conv.k);
        let k = conv.k;
        let at = |co: usize, y: usize, xx: usize| {
            let mut s = f64::from(conv.bias[co]);
            for ci in 0..conv.cin {
                for ky in 0..k {
                    for kx in 0..k {
                        let wv = conv.weight[((co * conv.cin + ci) * k + ky) * k + kx];
                        s += f64::from(wv) * f64::from(x[(ci * h + y + ky) * w + xx + kx]);
                    }
                }
            }
            s.max(0.0)
        };
        let (hp, wp) = (ho / 2, wo / 2);
        let mut out = vec![0.0; conv.cout * hp * wp];
        for co in 0..conv.cout {
            for py in 0..hp {
                for px in 0..wp {
                    let m = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|(dy, dx)| at(co, 2 * py + dy, 2 * px + dx))
                        .fold(f64::MIN, f64::max);
                    out[(co * hp + py) * wp + px] = m;
                }
            }
        }
        (out, hp, wp)
    }

    fn layer(cout: usize, cin: usize, k: usize, seed: u64) -> HostConv {
        HostConv {
            weight: values(cout * cin * k * k, seed)
                .iter()
                .map(|v| v * 0.2)
                .collect(),
            bias: values(cout, seed + 1).iter().map(|v| v * 0.1).collect(),
            cout,
            cin,
            k,
        }
    }

    #[test]
    fn every_copy_matches_the_f64_trunk() {
        // Widths below, at and above a chunk; odd sizes so the floor pooling drops a row.
        for (dims, c1, c2, k) in [
            ([2, 3, 40, 27], 6, 5, 5),
            ([1, 2, 23, 45], 13, 3, 3),
            ([1, 3, 30, 60], 20, 25, 5),
        ] {
            let [b, c, h, w] = dims;
            let (l1, l2) = (layer(c1, c, k, 10), layer(c2, c1, k, 20));
            let images = values(b * c * h * w, 5);
            let mut want = Vec::new();
            for i in 0..b {
                let x = &images[i * c * h * w..(i + 1) * c * h * w];
                let (mid, h1, w1) = reference(x, (h, w), &l1);
                let mid: Vec<f32> = mid.iter().map(|v| *v as f32).collect();
                want.extend(reference(&mid, (h1, w1), &l2).0);
            }
            for isa in Isa::available() {
                let (got, _) = trunk_cpu(isa, &images, dims, (&l1, &l2));
                assert_eq!(got.len(), want.len());
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (f64::from(*g) - w).abs())
                    .fold(0.0, f64::max);
                assert!(worst < 1e-4, "{isa:?} {dims:?}: {worst}");
            }
        }
    }
}
