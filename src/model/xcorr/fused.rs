//! Inference fast path on the CPU: the correlation layer, its ReLU and the head's 1x1
//! convolution fused into one host pass per pair, so the `[1500, 37, 12]` correlation volume
//! (2.6 MB per pair, 85 MB at batch 32) is never materialised: each 60-deep plane of it is
//! computed into a cache-resident scratch by the correlation kernel of [`super::cpu`] and
//! immediately contracted with its 60 columns of the 1x1 weights by the same SIMD
//! micro-kernel (ReLU fused into its loads).
//!
//! Same function as `conv1x1(relu(xcorr(x, y))) + bias` (tested against the f64 definition
//! for every instruction-set copy, and through the whole network against the unfused path).
//! Not differentiable: training keeps the correlation op with its backward.

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::cpu::{Scratch, plane_impl};
use super::direct::XcorrGeometry;
use super::reference::VAR_FLOOR;
use super::{XcorrPath, path_for};
use crate::model::conv::host::transpose_weights;
use crate::model::simd::{Block, Isa, LANES, Offsets, block, run_with};

/// Per-pair scratch, reused across the pairs one rayon worker handles.
#[derive(Default)]
struct PairScratch {
    plane: Scratch,
    /// One plane of the volume: `[D*W, HWp]` (HWp = H*W rounded up to LANES; padding stays 0).
    vol: Vec<f32>,
    /// The 1x1 convolution's accumulators: `[K, HWp]`.
    acc: Vec<f32>,
}

/// `conv1x1(relu(xcorr(x, y))) + bias` on host data: x, y `[B, C, H, W]` flattened, `weight`
/// `[K, C*D*W]` (the 1x1 kernel without its two unit axes), `bias` `[K]` -> `[B, K, H, W]`.
pub fn xcorr_conv1x1_cpu(
    isa: Isa,
    (x, y): (&[f32], &[f32]),
    dims: [usize; 4],
    geo: &XcorrGeometry,
    var_floor: f32,
    (weight, bias): (&[f32], &[f32]),
) -> Vec<f32> {
    let [b, c, h, w] = dims;
    let (hw, k) = (h * w, bias.len());
    let dw = geo.band * w; // depth of one channel's plane
    assert_eq!(weight.len(), k * c * dw, "1x1 weights must be [K, C*D*W]");
    let hwp = hw.next_multiple_of(LANES);
    // Weights transposed to [C*D*W, K]: the micro-kernel broadcasts a[j*K + i].
    let wt = transpose_weights(weight, k);
    // Row j of a volume plane starts at j * HWp.
    let offsets: Offsets = (0..dw).map(|j| j * hwp).collect();
    let mut out = vec![0.0f32; b * k * hw];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(k * hw)
        .enumerate()
        .for_each_init(PairScratch::default, |s, (pair, out)| {
            if s.vol.len() != dw * hwp {
                s.vol = vec![0.0; dw * hwp];
                s.acc = vec![0.0; k * hwp];
            }
            s.acc.fill(0.0);
            run_with(
                isa,
                #[inline(always)]
                |isa| {
                    for ch in 0..c {
                        let off = (pair * c + ch) * hw;
                        let planes = (&x[off..off + hw], &y[off..off + hw]);
                        // The volume rows this plane writes are the same for every plane, so the
                        // rows it skips (band rows outside the map) stay zero from the start.
                        plane_impl(
                            isa,
                            planes,
                            (h, w, hwp),
                            geo,
                            var_floor,
                            &mut s.plane,
                            &mut s.vol,
                        );
                        for chunk in 0..hwp / LANES {
                            let b = Block {
                                a: &wt[ch * dw * k..(ch + 1) * dw * k],
                                a_stride: k,
                                rows: k,
                                b: &s.vol[chunk * LANES..],
                                b_offsets: &offsets,
                                lanes: LANES,
                                stride: hwp,
                                accumulate: true,
                                relu_b: true,
                            };
                            block(isa, &b, &mut s.acc[chunk * LANES..]);
                        }
                    }
                },
            );
            for ((o, a), bias) in out
                .chunks_exact_mut(hw)
                .zip(s.acc.chunks_exact(hwp))
                .zip(bias)
            {
                for (o, a) in o.iter_mut().zip(a) {
                    *o = a + bias;
                }
            }
        });
    out
}

/// The two sides of index pairs into a feature batch `features` `[N, C, H, W]` (`per` =
/// C*H*W values an image): `(x, y)`, `[P, C, H, W]` each, x from each pair's first index
/// (the tests of the index-pair passes compare them with the passes on gathered sides).
#[cfg(test)]
pub(super) fn gather_sides(
    features: &[f32],
    per: usize,
    pairs: &[(usize, usize)],
) -> (Vec<f32>, Vec<f32>) {
    let side = |pick: fn(&(usize, usize)) -> usize| -> Vec<f32> {
        pairs
            .iter()
            .flat_map(|p| &features[pick(p) * per..][..per])
            .copied()
            .collect()
    };
    (side(|p| p.0), side(|p| p.1))
}

/// Whether x `dims`, y, a 1x1 convolution's weight `[K, C*D*W, 1, 1]` and bias `[K]` make the
/// fused layer: y like x, a 1x1 kernel reading the whole volume, odd patch (2+ values) and band.
pub(super) fn head_shapes_fit(
    dims: [usize; 4],
    (y, weight, bias): ([usize; 4], [usize; 4], [usize; 1]),
    geo: &XcorrGeometry,
) -> bool {
    let [k, depth, kh, kw] = weight;
    y == dims
        && kh == 1
        && kw == 1
        && depth == geo.depth(dims[1], dims[3])
        && bias == [k]
        && geo.patch % 2 == 1
        && geo.band % 2 == 1
        && geo.patch > 1
}

/// The fused pass on tensors: features x, y `[B, C, H, W]`, the 1x1 convolution's `weight`
/// `[K, C*D*W, 1, 1]` and `bias` `[K]` -> `[B, K, H, W]` (before the head's ReLU). `None`
/// where it does not apply: anything but a plain (non-autodiff) flex device, the reference
/// path forced, or shapes that do not fit; the caller then runs the unfused layers.
pub fn xcorr_conv1x1(
    x: Tensor<4>,
    y: Tensor<4>,
    (weight, bias): (Tensor<4>, Tensor<1>),
    geo: &XcorrGeometry,
) -> Option<Tensor<4>> {
    let device: Device = x.device();
    if device.is_autodiff() || path_for(&device) != XcorrPath::Cpu {
        return None;
    }
    let dims = x.dims();
    let k = weight.dims()[0];
    if !head_shapes_fit(dims, (y.dims(), weight.dims(), bias.dims()), geo) {
        return None;
    }
    let xv = x.try_into_vec_as::<f32>().ok()?;
    let yv = y.try_into_vec_as::<f32>().ok()?;
    let wv = weight.try_into_vec_as::<f32>().ok()?;
    let bv = bias.try_into_vec_as::<f32>().ok()?;
    let out = xcorr_conv1x1_cpu(Isa::best(), (&xv, &yv), dims, geo, VAR_FLOOR, (&wv, &bv));
    let [b, _, h, w] = dims;
    Some(Tensor::from_data(
        TensorData::new(out, [b, k, h, w]),
        &device,
    )) // [B, K, H, W]
}

/// The shapes the index-pair passes (`band_forward`, `fused_backward`) are tested at:
/// `(dims [N, C, H, W], geometry, K)`, K on both sides of 16, widths in one or two vectors,
/// patch 3 and 5, band 3 and 5.
#[cfg(test)]
pub(super) fn pair_test_cases() -> Vec<([usize; 4], XcorrGeometry, usize)> {
    [
        ([5, 3, 7, 12], 5, 5, 25),
        ([5, 2, 6, 5], 3, 3, 7),
        ([5, 2, 9, 17], 5, 3, 13),
    ]
    .into_iter()
    .map(|(dims, patch, band, k)| {
        let geo = XcorrGeometry {
            patch,
            band,
            ..XcorrGeometry::default()
        };
        (dims, geo, k)
    })
    .collect()
}

/// Inputs of the fused layer's unit tests (here and in `fused_backward`): feature maps x, y
/// `[B, C, H, W]` with flat runs, and 1x1 weights `[K, C*D*W]` scaled to keep sums moderate.
#[cfg(test)]
pub(super) fn test_inputs(
    dims: [usize; 4],
    geo: &XcorrGeometry,
    k: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    use crate::model::samples::{pseudo_random, pseudo_random_with_flat_runs};
    let len = dims.iter().product();
    let depth = geo.depth(dims[1], dims[3]);
    (
        pseudo_random_with_flat_runs(len, 1, (29, 4)),
        pseudo_random_with_flat_runs(len, 2, (29, 4)),
        pseudo_random(k * depth, 3)
            .iter()
            .map(|v| v * 0.1)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::pseudo_random as values;
    use crate::model::xcorr::direct::xcorr_direct;

    #[test]
    fn every_copy_matches_the_unfused_definition() {
        for (dims, patch, band, k) in [
            ([2, 3, 7, 12], 5, 5, 4),
            ([1, 2, 6, 5], 3, 3, 25),
            ([1, 2, 9, 17], 5, 3, 13),
        ] {
            let geo = XcorrGeometry {
                patch,
                band,
                ..XcorrGeometry::default()
            };
            let [b, c, h, w] = dims;
            let (x, y, weight) = test_inputs(dims, &geo, k);
            let depth = c * band * w;
            let bias = values(k, 4);
            // Definition: the f64 correlation, ReLU, then the 1x1 convolution in f64.
            let vol = xcorr_direct(&x, &y, dims, &geo);
            let hw = h * w;
            let mut want = vec![0.0f64; b * k * hw];
            for bi in 0..b {
                for ki in 0..k {
                    for pos in 0..hw {
                        let mut s = f64::from(bias[ki]);
                        for j in 0..depth {
                            let v = f64::from(vol[(bi * depth + j) * hw + pos]).max(0.0);
                            s += f64::from(weight[ki * depth + j]) * v;
                        }
                        want[(bi * k + ki) * hw + pos] = s;
                    }
                }
            }
            for isa in Isa::available() {
                let got = xcorr_conv1x1_cpu(isa, (&x, &y), dims, &geo, 0.0, (&weight, &bias));
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (f64::from(*g) - w).abs())
                    .fold(0.0, f64::max);
                assert!(
                    worst < 1e-4,
                    "{isa:?} {dims:?} P{patch} D{band} K{k}: {worst}"
                );
            }
        }
    }
}
