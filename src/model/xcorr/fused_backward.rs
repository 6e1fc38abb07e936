//! Training's fast path on the CPU, backward: the gradients of
//! `z = conv1x1(relu(xcorr(x, y))) + bias` (the layer [`super::fused`] computes forward)
//! without ever materialising the `[1500, 37, 12]` correlation volume or its gradient
//! (2.6 MB each per pair, 384 MB each for a 144-pair reuse batch).
//!
//! Per pair and channel c, in cache:
//! 1. the channel's 60-deep plane of the volume `V_c` `[D*W, H*W]` is computed again by the
//!    correlation kernel of [`super::cpu`] (a third of the work of what follows);
//! 2. its gradient `dV_c = W_c^T dz` (`W_c` = the 60 columns of the 1x1 weights that read the
//!    plane), masked where `V_c <= 0` (the ReLU), by the micro-kernel of
//!    [`crate::model::simd`];
//! 3. the weight gradient of those columns, `dW_c += dz relu(V_c)^T`, by the wide kernel of
//!    [`crate::model::simd_wide`] (per pair, summed over pairs in a fixed order);
//! 4. the correlation's backward for the plane ([`super::cpu_backward`]) turns `dV_c` into the
//!    gradients of the two feature planes.
//!
//! Same function as the unfused layers' gradients (tested below against the host kernels of
//! each layer, and through the whole network against the tensor-op reference).

use rayon::prelude::*;

use super::cpu::{self, plane_impl};
use super::cpu_backward::{self, plane_backward_with};
use super::direct::XcorrGeometry;
use crate::model::simd::{Block, Isa, LANES, Offsets, block, run_with};
#[cfg(target_arch = "x86_64")]
use crate::model::simd_wide::grad_block_avx512;
use crate::model::simd_wide::{self, GradBlock, grad_block_portable};

/// Per-pair scratch, reused across the pairs one rayon worker handles.
#[derive(Default)]
struct PairScratch {
    /// The forward correlation kernel's scratch.
    forward: cpu::Scratch,
    /// The correlation backward's scratch.
    backward: cpu_backward::Scratch,
    /// One plane of the volume, `[D*W, HWp]` (HWp = H*W rounded up to LANES).
    vol: Vec<f32>,
    /// Its gradient, `[D*W, H*W]`.
    dvol: Vec<f32>,
    /// The pair's output gradient zero-padded to `[K, HWp]`.
    dz: Vec<f32>,
    /// The pair's output gradient transposed, `[H*W, Kp]` (Kp = K rounded up to 16).
    dz_t: Vec<f32>,
    /// One channel's weight gradient, transposed: `[D*W, Kp]`.
    dw_t: Vec<f32>,
}

/// Gradients of `conv1x1(relu(xcorr(x, y))) + bias` on host data: x, y `[B, C, H, W]`,
/// `weight` `[K, C*D*W]`, `dz` = dL/dz `[B, K, H, W]` -> `(dx, dy, dweight, dbias)` with
/// dx, dy `[B, C, H, W]`, dweight `[K, C*D*W]`, dbias `[K]` (all flattened).
pub fn xcorr_conv1x1_backward_cpu(
    isa: Isa,
    (x, y): (&[f32], &[f32]),
    dims: [usize; 4],
    (geo, var_floor): (&XcorrGeometry, f32),
    weight: &[f32],
    dz: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let [b, c, h, w] = dims;
    let hw = h * w;
    let dw = geo.band * w; // depth of one channel's plane
    let depth = c * dw;
    let k = weight.len().checked_div(depth).unwrap_or(0);
    assert_eq!(weight.len(), k * depth, "1x1 weights must be [K, C*D*W]");
    assert_eq!(dz.len(), b * k * hw, "dz must be [B, K, H, W]");
    let hwp = hw.next_multiple_of(LANES);
    let kp = k.next_multiple_of(16);
    let np = (geo.patch * geo.patch).next_multiple_of(cpu_backward::LANES);
    let mut dx = vec![0.0f32; b * c * hw];
    let mut dy = vec![0.0f32; b * c * hw];
    let mut dw_parts = vec![0.0f32; b * k * depth];
    let mut dbias = vec![0.0f32; k];
    if dx.is_empty() || k == 0 || geo.patch < 2 {
        return (dx, dy, vec![0.0; k * depth], dbias);
    }
    // Row k of the padded output gradient starts at k * HWp.
    let offsets: Offsets = (0..k).map(|i| i * hwp).collect();
    dx.par_chunks_mut(c * hw)
        .zip(dy.par_chunks_mut(c * hw))
        .zip(dw_parts.par_chunks_mut(k * depth))
        .enumerate()
        .for_each_init(PairScratch::default, |s, (pair, ((dx, dy), dwp))| {
            if s.vol.len() != dw * hwp {
                s.vol = vec![0.0; dw * hwp];
                s.dvol = vec![0.0; dw * hw];
                s.dz = vec![0.0; k * hwp];
                s.dz_t = vec![0.0; hw * kp];
                s.dw_t = vec![0.0; dw * kp];
            }
            let dz = &dz[pair * k * hw..(pair + 1) * k * hw];
            for (kk, row) in dz.chunks_exact(hw).enumerate() {
                s.dz[kk * hwp..kk * hwp + hw].copy_from_slice(row);
                for (q, v) in row.iter().enumerate() {
                    s.dz_t[q * kp + kk] = *v;
                }
            }
            s.backward.reset(hw, np);
            for ch in 0..c {
                let off = (pair * c + ch) * hw;
                let planes = (&x[off..off + hw], &y[off..off + hw]);
                // Inlined into the copy `run_with` compiles for `isa`, so that the plain
                // loops here are vectorised for it.
                run_with(
                    isa,
                    #[inline(always)]
                    |isa| {
                        // The volume rows this plane writes are the same for every plane, so the
                        // rows it skips (band rows outside the map) stay zero from the start.
                        let sizes = (h, w, hwp);
                        plane_impl(
                            isa,
                            planes,
                            sizes,
                            geo,
                            var_floor,
                            &mut s.forward,
                            &mut s.vol,
                        );
                        volume_gradient(isa, &weight[ch * dw..], (depth, dw, k), &offsets, s, hw);
                        mask_and_relu(&mut s.vol, &mut s.dvol, (hw, hwp));
                    },
                );
                weight_gradient(isa, s, (hw, hwp, kp), dw);
                for (j, row) in s.dw_t.chunks_exact(kp).enumerate() {
                    for (kk, v) in row[..k].iter().enumerate() {
                        dwp[kk * depth + ch * dw + j] = *v;
                    }
                }
                let out = (
                    &mut dx[ch * hw..(ch + 1) * hw],
                    &mut dy[ch * hw..(ch + 1) * hw],
                );
                let sizes = (h, w, np);
                let g = &s.dvol;
                plane_backward_with(
                    isa,
                    planes,
                    g,
                    sizes,
                    (geo, var_floor),
                    &mut s.backward,
                    out,
                );
            }
        });
    // Sum the per-pair partials in pair order (deterministic).
    let mut dweight = vec![0.0f32; k * depth];
    for part in dw_parts.chunks_exact(k * depth) {
        for (a, v) in dweight.iter_mut().zip(part) {
            *a += v;
        }
    }
    for pair in dz.chunks_exact(k * hw) {
        for (db, plane) in dbias.iter_mut().zip(pair.chunks_exact(hw)) {
            *db += plane.iter().sum::<f32>();
        }
    }
    (dx, dy, dweight, dbias)
}

/// `dV[j, q] = sum_k W[k, j] dz[k, q]` for the plane's `D*W` rows j (`weight` starting at the
/// plane's first column, rows `depth` apart) into `s.dvol` `[D*W, H*W]`.
#[inline(always)]
fn volume_gradient(
    isa: Isa,
    weight: &[f32],
    (depth, dw, k): (usize, usize, usize),
    offsets: &Offsets,
    s: &mut PairScratch,
    hw: usize,
) {
    for q0 in (0..hw).step_by(LANES) {
        let b = Block {
            a: &weight[..(k - 1) * depth + dw],
            a_stride: depth,
            rows: dw,
            b: &s.dz[q0..],
            b_offsets: offsets,
            lanes: LANES.min(hw - q0),
            stride: hw,
            accumulate: false,
            relu_b: false,
        };
        block(isa, &b, &mut s.dvol[q0..]);
    }
}

/// The ReLU between the correlation and the 1x1 convolution: `dV` (`[D*W, H*W]`) is zeroed
/// where `V <= 0`, and `V` (`[D*W, HWp]`) is replaced by `relu(V)`. Branch-free (selects),
/// so that it vectorises: the signs of correlations are unpredictable.
#[inline(always)]
fn mask_and_relu(vol: &mut [f32], dvol: &mut [f32], (hw, hwp): (usize, usize)) {
    for (v, d) in vol.chunks_exact_mut(hwp).zip(dvol.chunks_exact_mut(hw)) {
        for (v, d) in v[..hw].iter_mut().zip(d.iter_mut()) {
            let keep = *v > 0.0;
            *d = if keep { *d } else { 0.0 };
            *v = if keep { *v } else { 0.0 };
        }
    }
}

/// `dW_c^T [D*W, Kp] = relu(V) [D*W, H*W] x dz^T [H*W, Kp]` into `s.dw_t`.
fn weight_gradient(isa: Isa, s: &mut PairScratch, (hw, hwp, kp): (usize, usize, usize), dw: usize) {
    let product = GradBlock {
        a: &s.vol,
        a_row: hwp,
        a_term: 1,
        b: &s.dz_t,
        np: kp,
        segments: &[(0, 0)],
        terms: hw,
        rows: dw,
        scale: 1.0,
    };
    match isa {
        // SAFETY: `Isa::available` only offers AVX-512 on CPUs with it; the width is checked.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd_wide::avx512_covers(kp) => unsafe {
            grad_block_avx512(&product, &mut s.dw_t)
        },
        _ => grad_block_portable(&product, &mut s.dw_t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conv::host::{ConvDims, conv_backward};
    use crate::model::samples::{pseudo_random as values, worst_abs_diff};
    use crate::model::xcorr::cpu::xcorr_cpu_with;
    use crate::model::xcorr::cpu_backward::xcorr_cpu_backward_with;
    use crate::model::xcorr::fused::test_inputs;

    /// The fused gradients against the unfused layers' host kernels run one after the other:
    /// the correlation, the ReLU and its mask, the 1x1 convolution's backward, the
    /// correlation's backward. Every copy, K on both sides of 16, widths in one or two parts.
    #[test]
    fn every_copy_matches_the_unfused_layers() {
        for (dims, patch, band, k) in [
            ([2, 3, 7, 12], 5, 5, 25),
            ([1, 2, 6, 5], 3, 3, 7),
            ([2, 2, 9, 17], 5, 3, 13),
        ] {
            let geo = XcorrGeometry {
                patch,
                band,
                ..XcorrGeometry::default()
            };
            let [b, c, h, w] = dims;
            let (x, y, weight) = test_inputs(dims, &geo, k);
            let depth = c * band * w;
            let dz = values(b * k * h * w, 5);
            let floor = 1e-12;
            for isa in Isa::available() {
                let vol = xcorr_cpu_with(isa, &x, &y, dims, &geo, floor);
                let relu: Vec<f32> = vol.iter().map(|v| v.max(0.0)).collect();
                let d = ConvDims {
                    batch: b,
                    cin: depth,
                    cout: k,
                    k: 1,
                    h,
                    w,
                };
                let (dvol, want_w, want_b) = conv_backward(isa, &relu, &weight, &dz, d, true);
                let dvol: Vec<f32> = dvol
                    .unwrap_or_default()
                    .iter()
                    .zip(&vol)
                    .map(|(g, v)| if *v > 0.0 { *g } else { 0.0 })
                    .collect();
                let (want_x, want_y) =
                    xcorr_cpu_backward_with(isa, (&x, &y, &dvol), dims, &geo, floor);
                let (got_x, got_y, got_w, got_b) =
                    xcorr_conv1x1_backward_cpu(isa, (&x, &y), dims, (&geo, floor), &weight, &dz);
                for (got, want, what) in [
                    (&got_x, &want_x, "dx"),
                    (&got_y, &want_y, "dy"),
                    (&got_w, &want_w, "dweight"),
                    (&got_b, &want_b, "dbias"),
                ] {
                    assert_eq!(got.len(), want.len(), "{what}");
                    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                    let worst = worst_abs_diff(got, want);
                    assert!(
                        worst <= 2e-5 * scale,
                        "{isa:?} {dims:?} P{patch} D{band} K{k} {what}: {worst} (scale {scale})"
                    );
                }
            }
        }
    }
}
