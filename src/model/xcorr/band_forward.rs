//! The head's first stage forward on the CPU for index pairs into one feature batch,
//! `z_p = conv1x1(relu(xcorr(f[a_p], f[b_p]))) + bias`, on the band-lane products of
//! [`super::band_lanes`]:
//! per pair (in parallel), per channel, all in cache: both sides' planes normalised into the
//! patch-value-major layout, the plane `V_c^T` `[H*W, JP]` (the band's D*W correlations of a
//! position along the vector axis), its ReLU, and `z^T [H*W, Kp] += relu(V_c^T) W_c^T` (the
//! channel's 60 columns of the 1x1 weights, transposed and padded once per call).
//!
//! Each side is normalised per pair, not once per image: normalising every image once up front
//! (62 MB for a reuse batch) made each pair stream its two images' planes from memory, and
//! measured slower (46 against 36 us per pair and channel on one core).
//!
//! Same function as [`super::fused::xcorr_conv1x1_cpu`] on the pairs' gathered sides (tested
//! below for every instruction-set copy); the training op's forward
//! ([`super::head_op`]), whose backward is [`super::fused_backward`].

use rayon::prelude::*;

use super::band_lanes::{BandSizes, NormOut, NormScratch, normalize_plane, volume};
use super::cpu_backward;
use super::direct::XcorrGeometry;
use crate::model::simd::{Isa, run_with};
use crate::model::simd_wide::{GradBlock, grad_block};

/// One worker's buffers for one pair.
#[derive(Default)]
struct PairScratch {
    /// One channel of the pair's two images, normalised, patch-value-major: `[N, S]` each.
    x: Vec<f32>,
    y: Vec<f32>,
    norm: NormScratch,
    /// One channel's plane `V^T`, `[H*W, JP]`.
    vol: Vec<f32>,
    /// The 1x1 convolution's sums, transposed: `[H*W, Kp]`.
    acc: Vec<f32>,
}

/// `conv1x1(relu(xcorr(f[a], f[b]))) + bias` for each pair (a, b) of `pairs`: `features` `f`
/// `[N, C, H, W]`, `weight` `[K, C*D*W]`, `bias` `[K]` -> `[P, K, H, W]` (all flattened).
/// Panics if an index is out of range or a length does not match.
pub fn head_forward_cpu(
    isa: Isa,
    (features, dims): (&[f32], [usize; 4]),
    pairs: &[(usize, usize)],
    (geo, var_floor): (&XcorrGeometry, f32),
    (weight, bias): (&[f32], &[f32]),
) -> Vec<f32> {
    let [n, c, h, w] = dims;
    let k = bias.len();
    let np = (geo.patch * geo.patch).next_multiple_of(cpu_backward::LANES);
    let z = BandSizes::new((h, w), np, geo);
    let depth = c * z.dw;
    assert_eq!(
        features.len(),
        n * c * z.hw,
        "features must be [N, C, H, W]"
    );
    assert_eq!(weight.len(), k * depth, "1x1 weights must be [K, C*D*W]");
    assert!(
        pairs.iter().all(|&(a, b)| a < n && b < n),
        "pair index out of range"
    );
    let mut out = vec![0.0f32; pairs.len() * k * z.hw];
    if out.is_empty() {
        return out;
    }
    // The 1x1 weights per channel, transposed and padded: [C][JP, Kp] (padding zero).
    let kp = k.next_multiple_of(16);
    let mut wt = vec![0.0f32; c * z.jp * kp];
    for (kk, row) in weight.chunks_exact(depth).enumerate() {
        for (ch, cols) in row.chunks_exact(z.dw).enumerate() {
            for (j, v) in cols.iter().enumerate() {
                wt[(ch * z.jp + j) * kp + kk] = *v;
            }
        }
    }
    // Pair by pair.
    let plen = z.plane_len();
    out.par_chunks_mut(k * z.hw)
        .zip(pairs.par_iter())
        .for_each_init(PairScratch::default, |s, (out, &(a, b))| {
            s.vol.resize(z.hw * z.jp, 0.0);
            for v in [&mut s.x, &mut s.y] {
                v.resize(plen, 0.0); // the padding stays zero
            }
            s.acc.clear();
            s.acc.resize(z.hw * kp, 0.0);
            run_with(
                isa,
                #[inline(always)]
                |isa| {
                    for ch in 0..c {
                        for (i, vals) in [(a, &mut s.x), (b, &mut s.y)] {
                            let plane = &features[(i * c + ch) * z.hw..][..z.hw];
                            let out = NormOut { vals, pos: None };
                            normalize_plane(isa, &z, plane, (geo, var_floor), &mut s.norm, out);
                        }
                        volume(isa, &z, (&s.x, &s.y), &mut s.vol);
                        for v in s.vol.iter_mut() {
                            *v = v.max(0.0);
                        }
                        let conv = GradBlock {
                            a: &s.vol,
                            a_row: z.jp,
                            a_term: 1,
                            b: &wt[ch * z.jp * kp..][..z.jp * kp],
                            b_term: kp,
                            np: kp,
                            segments: &[(0, 0)],
                            terms: z.dw,
                            rows: z.hw,
                            scale: 1.0,
                            accumulate: true,
                        };
                        grad_block(isa, &conv, &mut s.acc);
                    }
                },
            );
            for (kk, (plane, bias)) in out.chunks_exact_mut(z.hw).zip(bias).enumerate() {
                for (q, o) in plane.iter_mut().enumerate() {
                    *o = s.acc[q * kp + kk] + bias;
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::{pseudo_random, worst_abs_diff};
    use crate::model::xcorr::fused::{
        gather_sides, pair_test_cases, test_inputs, xcorr_conv1x1_cpu,
    };

    /// Against the fused pass of [`super::super::fused`] (itself tested against the f64
    /// definition) on the pairs' gathered sides: pairs sharing images, an image with itself,
    /// an image in no pair; every copy; K on both sides of 16; widths in one or two vectors.
    #[test]
    fn every_copy_matches_the_fused_pass_on_gathered_sides() {
        let pairs = [(0, 1), (2, 0), (1, 2), (0, 3), (3, 1), (2, 2)];
        for (dims, geo, k) in pair_test_cases() {
            let (patch, band) = (geo.patch, geo.band);
            let [_, c, h, w] = dims;
            let (features, _, weight) = test_inputs(dims, &geo, k);
            let bias = pseudo_random(k, 7);
            let (x, y) = gather_sides(&features, c * h * w, &pairs);
            let pair_dims = [pairs.len(), c, h, w];
            let floor = 1e-12;
            for isa in Isa::available() {
                let params = (weight.as_slice(), bias.as_slice());
                let want = xcorr_conv1x1_cpu(isa, (&x, &y), pair_dims, &geo, floor, params);
                let got = head_forward_cpu(isa, (&features, dims), &pairs, (&geo, floor), params);
                assert_eq!(got.len(), want.len());
                let worst = worst_abs_diff(&got, &want);
                assert!(
                    worst < 1e-4,
                    "{isa:?} {dims:?} P{patch} D{band} K{k}: {worst}"
                );
            }
        }
    }
}
