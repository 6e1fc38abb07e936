//! Training's fast path on the CPU, backward: the gradients of
//! `z_p = conv1x1(relu(xcorr(f[a_p], f[b_p]))) + bias` for pairs p = (a_p, b_p) of images of
//! one feature batch `f` (the layer [`super::fused`] computes forward), without ever
//! materialising the `[1500, 37, 12]` correlation volume or its gradient (2.6 MB each per
//! pair, 384 MB each for a 144-pair reuse batch).
//!
//! Parallel over channels c; each worker owns channel c of every image and the 60 columns of
//! the 1x1 weights that read it, so every sum runs in a fixed order (bit-reproducible):
//! 1. every image's plane c is normalised once, in both layouts (the correlation kernel's of
//!    [`super::cpu`] and the backward's of [`super::cpu_backward`]), however many pairs it is
//!    in (a reuse batch of 32 images makes 144 pairs);
//! 2. per pair, in cache: the plane of the volume `V_c` `[D*W, H*W]` is computed again; its
//!    gradient `dV_c = W_c^T dz_p` (the micro-kernel of [`crate::model::simd`]) is masked
//!    where `V_c <= 0` (the ReLU); `dW_c += dz_p relu(V_c)^T` (the wide kernel of
//!    [`crate::model::simd_wide`]); the patch gradients of `dV_c` are added to the pair's two
//!    images' sums;
//! 3. per image, its summed patch gradient goes through the normalisation once (linear in the
//!    patch gradient) onto its feature plane.
//!
//! Same function as the unfused layers' gradients (tested below against the host kernels of
//! each layer, and through the whole network against the tensor-op reference).

use rayon::prelude::*;

use super::cpu::{Role, normalize_plane_t, plane_product, transposed_len};
use super::cpu_backward::{self, PatchIo, normalize_shared, patch_gradients_with, scatter_shared};
use super::direct::XcorrGeometry;
use crate::model::simd::{Block, Isa, LANES, Offsets, block, run_with};
use crate::model::simd_wide::{GradBlock, grad_block};

/// One worker's buffers for one channel of every image, reused across channels.
#[derive(Default)]
struct ChannelScratch {
    /// The correlation kernel's scratch (its bordered plane).
    pad: Vec<f32>,
    /// The correlation backward's scratch.
    backward: cpu_backward::Scratch,
    /// Per image: normalised patches as X, transposed (`[N][H, chunks, P*P, LANES]`).
    xt: Vec<f32>,
    /// Per image: normalised patches as Y, transposed, same layout.
    yt: Vec<f32>,
    /// Per image: normalised patches `[N][H*W, NP]` and `(sigma, s)` `[N][H*W]`.
    norm: Vec<f32>,
    stats: Vec<(f32, f32)>,
    /// Per image: the patch gradient summed over its pairs, `[N][H*W, NP]`.
    grad: Vec<f32>,
    /// One pair's patch gradients, `[H*W, NP]` each.
    dxn: Vec<f32>,
    dyn_: Vec<f32>,
    segments: Vec<(usize, usize)>,
    /// One plane of the volume, `[D*W, HWp]` (HWp = H*W rounded up to LANES).
    vol: Vec<f32>,
    /// Its gradient, `[D*W, H*W]`.
    dvol: Vec<f32>,
    /// One pair's weight gradient of this channel, transposed: `[D*W, Kp]`.
    dw_t: Vec<f32>,
}

/// Sizes shared by every step of one call.
#[derive(Clone, Copy)]
struct Sizes {
    h: usize,
    w: usize,
    hw: usize,
    hwp: usize,
    /// Padded patch length of the backward's layout.
    np: usize,
    /// Channels, their planes' depth D*W and the volume's depth C*D*W.
    c: usize,
    dw: usize,
    depth: usize,
    /// Output channels of the 1x1 convolution, padded to 16.
    k: usize,
    kp: usize,
}

/// Gradients of `z_p = conv1x1(relu(xcorr(f[a_p], f[b_p]))) + bias` on host data: `features`
/// `f` `[N, C, H, W]`, `pairs` `[(a_p, b_p)]` (indices into N), `weight` `[K, C*D*W]`, `dz` =
/// dL/dz `[P, K, H, W]` -> `(dfeatures, dweight, dbias)` with dfeatures `[N, C, H, W]` (each
/// image's gradient summed over its pairs), dweight `[K, C*D*W]`, dbias `[K]` (all
/// flattened). Panics if an index is out of range or a length does not match.
pub fn xcorr_conv1x1_backward_cpu(
    isa: Isa,
    (features, dims): (&[f32], [usize; 4]),
    pairs: &[(usize, usize)],
    (geo, var_floor): (&XcorrGeometry, f32),
    weight: &[f32],
    dz: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let [n, c, h, w] = dims;
    let hw = h * w;
    let dw = geo.band * w; // depth of one channel's plane
    let depth = c * dw;
    let k = weight.len().checked_div(depth).unwrap_or(0);
    assert_eq!(features.len(), n * c * hw, "features must be [N, C, H, W]");
    assert_eq!(weight.len(), k * depth, "1x1 weights must be [K, C*D*W]");
    assert_eq!(dz.len(), pairs.len() * k * hw, "dz must be [P, K, H, W]");
    assert!(
        pairs.iter().all(|&(a, b)| a < n && b < n),
        "pair index out of range"
    );
    let np = (geo.patch * geo.patch).next_multiple_of(cpu_backward::LANES);
    let z = Sizes {
        h,
        w,
        hw,
        hwp: hw.next_multiple_of(LANES),
        np,
        c,
        dw,
        depth,
        k,
        kp: k.next_multiple_of(16),
    };
    let mut dbias = vec![0.0f32; k];
    for pair in dz.chunks_exact((k * hw).max(1)) {
        for (db, plane) in dbias.iter_mut().zip(pair.chunks_exact(hw.max(1))) {
            *db += plane.iter().sum::<f32>();
        }
    }
    if n * c * hw == 0 || k == 0 || geo.patch < 2 || pairs.is_empty() {
        return (vec![0.0; n * c * hw], vec![0.0; k * depth], dbias);
    }
    // Every pair's output gradient zero-padded `[P][K, HWp]` (the micro-kernel's right operand)
    // and transposed `[P][H*W, Kp]` (the wide kernel's), once for all channels.
    let mut dz_pad = vec![0.0f32; pairs.len() * k * z.hwp];
    let mut dz_t = vec![0.0f32; pairs.len() * hw * z.kp];
    for (p, g) in dz.chunks_exact(k * hw).enumerate() {
        for (kk, row) in g.chunks_exact(hw).enumerate() {
            dz_pad[(p * k + kk) * z.hwp..][..hw].copy_from_slice(row);
            for (q, v) in row.iter().enumerate() {
                dz_t[(p * hw + q) * z.kp + kk] = *v;
            }
        }
    }
    let offsets: Offsets = (0..k).map(|i| i * z.hwp).collect();
    let patch_offsets: Offsets = (0..geo.patch * geo.patch).map(|i| i * LANES).collect();
    let shared = Shared {
        features,
        pairs,
        weight,
        dz_pad: &dz_pad,
        dz_t: &dz_t,
        offsets: &offsets,
        patch_offsets: &patch_offsets,
        geo,
        var_floor,
        isa,
        n,
    };
    // Per channel: (its plane of every image's gradient `[N, H*W]`, its columns of the weight
    // gradient `[K, D*W]`).
    let per_channel: Vec<(Vec<f32>, Vec<f32>)> = (0..c)
        .into_par_iter()
        .map_init(ChannelScratch::default, |s, ch| channel(&shared, z, ch, s))
        .collect();
    let mut dfeatures = vec![0.0f32; n * c * hw];
    let mut dweight = vec![0.0f32; k * depth];
    for (ch, (df, dwc)) in per_channel.iter().enumerate() {
        for (i, plane) in df.chunks_exact(hw).enumerate() {
            dfeatures[(i * c + ch) * hw..][..hw].copy_from_slice(plane);
        }
        for (kk, cols) in dwc.chunks_exact(dw).enumerate() {
            dweight[kk * depth + ch * dw..][..dw].copy_from_slice(cols);
        }
    }
    (dfeatures, dweight, dbias)
}

/// What every channel's worker reads.
struct Shared<'a> {
    features: &'a [f32],
    pairs: &'a [(usize, usize)],
    weight: &'a [f32],
    dz_pad: &'a [f32],
    dz_t: &'a [f32],
    /// Row starts of one pair's padded output gradient, `k * HWp`.
    offsets: &'a Offsets,
    /// Where the correlation kernel finds patch value k of a transposed row, `k * LANES`.
    patch_offsets: &'a Offsets,
    geo: &'a XcorrGeometry,
    var_floor: f32,
    isa: Isa,
    n: usize,
}

/// Channel `ch`: `(dfeatures of the channel [N, H*W], dweight columns [K, D*W])`.
fn channel(d: &Shared, z: Sizes, ch: usize, s: &mut ChannelScratch) -> (Vec<f32>, Vec<f32>) {
    let (geo, isa, n) = (d.geo, d.isa, d.n);
    let tlen = transposed_len((z.h, z.w), geo);
    let plen = z.hw * z.np;
    if s.vol.len() != z.dw * z.hwp {
        s.vol = vec![0.0; z.dw * z.hwp]; // rows outside the band stay zero
        s.dvol = vec![0.0; z.dw * z.hw];
        s.dw_t = vec![0.0; z.dw * z.kp];
        s.dxn = vec![0.0; plen];
        s.dyn_ = vec![0.0; plen];
    }
    for (v, len) in [
        (&mut s.xt, n * tlen),
        (&mut s.yt, n * tlen),
        (&mut s.norm, n * plen),
    ] {
        if v.len() != len {
            *v = vec![0.0; len]; // the patch padding of `norm` stays zero
        }
    }
    s.stats.resize(n * z.hw, (0.0, 0.0));
    s.grad.clear();
    s.grad.resize(n * plen, 0.0);
    s.backward.reset(z.hw, z.np);
    // 1. Each image's plane once, in the layouts its pairs need.
    let (mut as_x, mut as_y) = (vec![false; n], vec![false; n]);
    for &(a, b) in d.pairs {
        as_x[a] = true;
        as_y[b] = true;
    }
    for i in 0..n {
        let plane = &d.features[(i * z.c + ch) * z.hw..][..z.hw];
        let fl = (Role::X, d.var_floor);
        let (pad, xt) = (&mut s.pad, &mut s.xt[i * tlen..][..tlen]);
        run_with(
            isa,
            #[inline(always)]
            |isa| {
                if as_x[i] {
                    normalize_plane_t(isa, plane, (z.h, z.w), geo, fl, pad, xt);
                }
            },
        );
        let (pad, yt) = (&mut s.pad, &mut s.yt[i * tlen..][..tlen]);
        run_with(
            isa,
            #[inline(always)]
            |isa| {
                if as_y[i] {
                    normalize_plane_t(isa, plane, (z.h, z.w), geo, (Role::Y, fl.1), pad, yt);
                }
            },
        );
        if as_x[i] || as_y[i] {
            let out = (
                &mut s.norm[i * plen..][..plen],
                &mut s.stats[i * z.hw..][..z.hw],
            );
            let sizes = (z.h, z.w, z.np);
            normalize_shared(isa, plane, sizes, (geo, d.var_floor), &mut s.backward, out);
        }
    }
    // 2. Pair by pair.
    let mut dweight = vec![0.0f32; z.k * z.dw];
    for (p, &(a, b)) in d.pairs.iter().enumerate() {
        let dz_pad = &d.dz_pad[p * z.k * z.hwp..][..z.k * z.hwp];
        run_with(
            isa,
            #[inline(always)]
            |isa| {
                let (xt, yt) = (&s.xt[a * tlen..][..tlen], &s.yt[b * tlen..][..tlen]);
                plane_product(
                    isa,
                    (xt, yt),
                    (z.h, z.w, z.hwp),
                    geo,
                    d.patch_offsets,
                    &mut s.vol,
                );
                let w = &d.weight[ch * z.dw..];
                volume_gradient(
                    isa,
                    w,
                    (z.depth, z.dw, z.k),
                    (d.offsets, dz_pad),
                    &mut s.dvol,
                    z.hw,
                );
                mask_and_relu(&mut s.vol, &mut s.dvol, (z.hw, z.hwp));
            },
        );
        let dz_t = &d.dz_t[p * z.hw * z.kp..][..z.hw * z.kp];
        let (vol, dw_t) = (&s.vol, &mut s.dw_t);
        run_with(
            isa,
            #[inline(always)]
            |isa| {
                weight_gradient(isa, (vol, dz_t), (z.hw, z.hwp, z.kp), z.dw, dw_t);
            },
        );
        for (j, row) in s.dw_t.chunks_exact(z.kp).enumerate() {
            for (kk, v) in row[..z.k].iter().enumerate() {
                dweight[kk * z.dw + j] += v;
            }
        }
        let mut io = PatchIo {
            xn: &s.norm[a * plen..][..plen],
            yn: &s.norm[b * plen..][..plen],
            dxn: &mut s.dxn,
            dyn_: &mut s.dyn_,
            segments: &mut s.segments,
        };
        patch_gradients_with(isa, &s.dvol, (z.h, z.w, z.np), geo, &mut io);
        for (i, g) in [(a, &s.dxn), (b, &s.dyn_)] {
            for (acc, v) in s.grad[i * plen..][..plen].iter_mut().zip(g.iter()) {
                *acc += v;
            }
        }
    }
    // 3. Each image's summed patch gradient through its normalisation, once.
    let mut dfeatures = vec![0.0f32; n * z.hw];
    for (i, out) in dfeatures.chunks_exact_mut(z.hw).enumerate() {
        if as_x[i] || as_y[i] {
            let dn = &mut s.grad[i * plen..][..plen];
            let norm = (&s.norm[i * plen..][..plen], &s.stats[i * z.hw..][..z.hw]);
            let sizes = (z.h, z.w, z.np);
            scatter_shared(isa, dn, norm, sizes, geo, &mut s.backward, out);
        }
    }
    (dfeatures, dweight)
}

/// `dV[j, q] = sum_k W[k, j] dz[k, q]` for the plane's `D*W` rows j (`weight` starting at the
/// plane's first column, rows `depth` apart; `dz` zero-padded `[K, HWp]`, `offsets` its row
/// starts) into `dvol` `[D*W, H*W]`.
#[inline(always)]
fn volume_gradient(
    isa: Isa,
    weight: &[f32],
    (depth, dw, k): (usize, usize, usize),
    (offsets, dz): (&Offsets, &[f32]),
    dvol: &mut [f32],
    hw: usize,
) {
    for q0 in (0..hw).step_by(LANES) {
        let b = Block {
            a: &weight[..(k - 1) * depth + dw],
            a_stride: depth,
            rows: dw,
            b: &dz[q0..],
            b_offsets: offsets,
            lanes: LANES.min(hw - q0),
            stride: hw,
            accumulate: false,
            relu_b: false,
        };
        block(isa, &b, &mut dvol[q0..]);
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

/// `dW_c^T [D*W, Kp] = relu(V) [D*W, H*W] x dz^T [H*W, Kp]` into `dw_t` (inlined into
/// [`run_with`]'s copies, so that the portable product is vectorised for AVX2 where AVX-512 is
/// missing).
#[inline(always)]
fn weight_gradient(
    isa: Isa,
    (vol, dz_t): (&[f32], &[f32]),
    (hw, hwp, kp): (usize, usize, usize),
    dw: usize,
    dw_t: &mut [f32],
) {
    let product = GradBlock {
        a: vol,
        a_row: hwp,
        a_term: 1,
        b: dz_t,
        np: kp,
        segments: &[(0, 0)],
        terms: hw,
        rows: dw,
        scale: 1.0,
    };
    grad_block(isa, &product, dw_t);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conv::host::{ConvDims, conv_backward};
    use crate::model::samples::{pseudo_random as values, worst_abs_diff};
    use crate::model::xcorr::cpu::xcorr_cpu_with;
    use crate::model::xcorr::cpu_backward::xcorr_cpu_backward_with;
    use crate::model::xcorr::fused::{gather_sides, test_inputs};

    /// The fused gradients against the unfused layers' host kernels run one after the other on
    /// the pairs' gathered features: the correlation, the ReLU and its mask, the 1x1
    /// convolution's backward, the correlation's backward, then each pair's two feature
    /// gradients added onto its images. Pairs that share images, an image on both sides of
    /// different pairs, an image in no pair; every copy, K on both sides of 16, widths in one
    /// or two parts.
    #[test]
    fn every_copy_matches_the_unfused_layers() {
        let pairs = [(0, 1), (2, 0), (1, 2), (0, 3), (3, 1)];
        for (dims, patch, band, k) in [
            ([5, 3, 7, 12], 5, 5, 25),
            ([5, 2, 6, 5], 3, 3, 7),
            ([5, 2, 9, 17], 5, 3, 13),
        ] {
            let geo = XcorrGeometry {
                patch,
                band,
                ..XcorrGeometry::default()
            };
            let [n, c, h, w] = dims;
            let per = c * h * w;
            // Image 4 is in no pair: its gradient must be zero.
            let (features, _, weight) = test_inputs(dims, &geo, k);
            let p = pairs.len();
            let (x, y) = gather_sides(&features, per, &pairs);
            let pair_dims = [p, c, h, w];
            let depth = c * band * w;
            let dz = values(p * k * h * w, 5);
            let floor = 1e-12;
            for isa in Isa::available() {
                let vol = xcorr_cpu_with(isa, &x, &y, pair_dims, &geo, floor);
                let relu: Vec<f32> = vol.iter().map(|v| v.max(0.0)).collect();
                let d = ConvDims {
                    batch: p,
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
                let (dx, dy) =
                    xcorr_cpu_backward_with(isa, (&x, &y, &dvol), pair_dims, &geo, floor);
                let mut want_f = vec![0.0f32; n * per];
                for (i, &(a, b)) in pairs.iter().enumerate() {
                    for (img, g) in [(a, &dx), (b, &dy)] {
                        for (o, v) in want_f[img * per..][..per].iter_mut().zip(&g[i * per..]) {
                            *o += v;
                        }
                    }
                }
                let (got_f, got_w, got_b) = xcorr_conv1x1_backward_cpu(
                    isa,
                    (&features, dims),
                    &pairs,
                    (&geo, floor),
                    &weight,
                    &dz,
                );
                assert!(
                    got_f[4 * per..].iter().all(|v| *v == 0.0),
                    "image 4 is in no pair"
                );
                for (got, want, what) in [
                    (&got_f, &want_f, "dfeatures"),
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
