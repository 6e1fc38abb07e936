//! Training's fast path on the CPU, backward: the gradients of
//! `z_p = conv1x1(relu(xcorr(f[a_p], f[b_p]))) + bias` for pairs p = (a_p, b_p) of images of
//! one feature batch `f` (the layer [`super::fused`] computes forward), without ever
//! materialising the `[1500, 37, 12]` correlation volume or its gradient (2.6 MB each per
//! pair, 384 MB each for a 144-pair reuse batch).
//!
//! Parallel over channels c; each worker owns channel c of every image and the 60 columns of
//! the 1x1 weights that read it, so every sum runs in a fixed order (bit-reproducible):
//! 1. every image's plane c is normalised once (the correlation backward's normalisation),
//!    however many pairs it is in (a reuse batch of 32 images makes 144 pairs), and laid out
//!    for the band-lane products of [`super::band_lanes`];
//! 2. per pair, in cache: the plane of the volume `V_c^T` `[H*W, D*W]` is computed again; its
//!    gradient `dV_c^T = dz^T W_c` is masked where `V_c <= 0` (the ReLU); `dW_c^T +=
//!    relu(V_c^T)^T dz^T`; the patch gradients of `dV_c` are added to the pair's two images'
//!    sums (every product on the wide kernel of [`crate::model::simd_wide`]);
//! 3. per image, its summed patch gradient goes through the normalisation once (linear in the
//!    patch gradient) onto its feature plane.
//!
//! Same function as the unfused layers' gradients (tested below against the host kernels of
//! each layer, and through the whole network against the tensor-op reference).

use rayon::prelude::*;

use super::band_lanes::{
    BandSizes, NormOut, NormScratch, mask_and_relu, normalize_plane, volume, volume_gradient,
    weight_gradient, x_patch_gradients, y_patch_gradients,
};
use super::cpu_backward::{self, scatter_shared};
use super::direct::XcorrGeometry;
use crate::model::simd::{Isa, run_with};

/// One worker's buffers for one channel of every image, reused across channels.
#[derive(Default)]
struct ChannelScratch {
    /// The normalisation's scratch, and the scatter's.
    norm: NormScratch,
    backward: cpu_backward::Scratch,
    /// Per image: normalised patches, padded position-major (`[N][S, NP]`) and
    /// patch-value-major (`[N][N, S]`, in blocks of `S*NP`), see [`super::band_lanes`].
    pos: Vec<f32>,
    vals: Vec<f32>,
    /// Per image: `(sigma, s)` per position, `[N][H*W]`.
    stats: Vec<(f32, f32)>,
    /// Per image: the patch gradient summed over its pairs, padded like `pos`.
    grad: Vec<f32>,
    /// The channel's 1x1 weights, padded: `[K, JP]`.
    wc: Vec<f32>,
    /// One pair's plane of the volume `V^T` and its gradient, `[H*W, JP]` each.
    vol: Vec<f32>,
    dvol: Vec<f32>,
    /// The segments of one [`crate::model::simd_wide::GradBlock`].
    segments: Vec<(usize, usize)>,
}

/// Sizes shared by every step of one call.
#[derive(Clone, Copy)]
struct Sizes {
    band: BandSizes,
    /// Channels and the volume's depth C*D*W.
    c: usize,
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
        band: BandSizes::new((h, w), np, geo),
        c,
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
    // A pair whose output gradient is all zero (one the loss left out, such as a hard-negative
    // candidate not kept) adds nothing to any gradient: skip it.
    let live: Vec<usize> = (0..pairs.len())
        .filter(|&p| dz[p * k * hw..][..k * hw].iter().any(|v| *v != 0.0))
        .collect();
    if n * c * hw == 0 || k == 0 || geo.patch < 2 || live.is_empty() {
        return (vec![0.0; n * c * hw], vec![0.0; k * depth], dbias);
    }
    let live_pairs: Vec<(usize, usize)> = live.iter().map(|&p| pairs[p]).collect();
    // Every live pair's output gradient transposed, `[P'][H*W, Kp]`, once for all channels.
    let mut dz_t = vec![0.0f32; live.len() * hw * z.kp];
    for (slot, &p) in live.iter().enumerate() {
        let g = &dz[p * k * hw..][..k * hw];
        for (kk, row) in g.chunks_exact(hw).enumerate() {
            for (q, v) in row.iter().enumerate() {
                dz_t[(slot * hw + q) * z.kp + kk] = *v;
            }
        }
    }
    let shared = Shared {
        features,
        pairs: &live_pairs,
        weight,
        dz_t: &dz_t,
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
    /// Every pair's output gradient, transposed: `[P][H*W, Kp]`.
    dz_t: &'a [f32],
    geo: &'a XcorrGeometry,
    var_floor: f32,
    isa: Isa,
    n: usize,
}

/// Channel `ch`: `(dfeatures of the channel [N, H*W], dweight columns [K, D*W])`.
fn channel(d: &Shared, z: Sizes, ch: usize, s: &mut ChannelScratch) -> (Vec<f32>, Vec<f32>) {
    let (geo, isa, n) = (d.geo, d.isa, d.n);
    let b = z.band;
    let plen = b.plane_len();
    let real = b.first() * b.np..(b.first() + b.hw) * b.np; // the map's positions in a plane
    if s.vol.len() != b.hw * b.jp {
        s.vol = vec![0.0; b.hw * b.jp];
        s.dvol = vec![0.0; b.hw * b.jp];
        s.wc = vec![0.0; z.k * b.jp]; // lanes j >= D*W stay zero
    }
    for v in [&mut s.pos, &mut s.vals] {
        if v.len() != n * plen {
            *v = vec![0.0; n * plen]; // the padding stays zero
        }
    }
    s.stats.resize(n * b.hw, (0.0, 0.0));
    s.grad.clear();
    s.grad.resize(n * plen, 0.0);
    s.backward.reset(b.hw, b.np);
    for (kk, row) in s.wc.chunks_exact_mut(b.jp).enumerate() {
        row[..b.dw].copy_from_slice(&d.weight[kk * z.depth + ch * b.dw..][..b.dw]);
    }
    // 1. Each image's plane once, in both layouts.
    let mut used = vec![false; n];
    for &(a, bi) in d.pairs {
        used[a] = true;
        used[bi] = true;
    }
    for i in (0..n).filter(|i| used[*i]) {
        let plane = &d.features[(i * z.c + ch) * b.hw..][..b.hw];
        let out = NormOut {
            vals: &mut s.vals[i * plen..][..plen],
            pos: Some((
                &mut s.pos[i * plen..][..plen],
                &mut s.stats[i * b.hw..][..b.hw],
            )),
        };
        let norm = &mut s.norm;
        run_with(
            isa,
            #[inline(always)]
            |isa| normalize_plane(isa, &b, plane, (geo, d.var_floor), norm, out),
        );
    }
    // 2. Pair by pair.
    let mut dw_t = vec![0.0f32; b.dw * z.kp];
    for (p, &(xi, yi)) in d.pairs.iter().enumerate() {
        let dz_t = (&d.dz_t[p * b.hw * z.kp..][..b.hw * z.kp], z.kp);
        let pos = |i: usize| &s.pos[i * plen..][..plen];
        let vals = |i: usize| &s.vals[i * plen..][..plen];
        let (vol, dvol, grad) = (&mut s.vol, &mut s.dvol, &mut s.grad);
        let segments = &mut s.segments;
        run_with(
            isa,
            #[inline(always)]
            |isa| {
                volume(isa, &b, (vals(xi), vals(yi)), vol);
                volume_gradient(isa, &b, dz_t, (&s.wc, z.k), dvol);
                mask_and_relu(vol, dvol);
                weight_gradient(isa, &b, vol, dz_t, &mut dw_t);
                x_patch_gradients(isa, &b, dvol, pos(yi), &mut grad[xi * plen..][..plen]);
                let y_out = (&mut grad[yi * plen..][..plen], &mut *segments);
                y_patch_gradients(isa, &b, dvol, pos(xi), y_out);
            },
        );
    }
    let mut dweight = vec![0.0f32; z.k * b.dw];
    for (j, row) in dw_t.chunks_exact(z.kp).enumerate() {
        for (kk, v) in row[..z.k].iter().enumerate() {
            dweight[kk * b.dw + j] = *v;
        }
    }
    // 3. Each image's summed patch gradient through its normalisation, once.
    let mut dfeatures = vec![0.0f32; n * b.hw];
    for (i, out) in dfeatures.chunks_exact_mut(b.hw).enumerate() {
        if used[i] {
            let dn = &mut s.grad[i * plen..][..plen][real.clone()];
            let norm = (
                &s.pos[i * plen..][..plen][real.clone()],
                &s.stats[i * b.hw..][..b.hw],
            );
            let sizes = (b.h, b.w, b.np);
            scatter_shared(isa, dn, norm, sizes, geo, &mut s.backward, out);
        }
    }
    (dfeatures, dweight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conv::host::{ConvDims, conv_backward};
    use crate::model::samples::{pseudo_random as values, worst_abs_diff};
    use crate::model::xcorr::cpu::xcorr_cpu_with;
    use crate::model::xcorr::cpu_backward::xcorr_cpu_backward_with;
    use crate::model::xcorr::fused::{gather_sides, pair_test_cases, test_inputs};

    /// The fused gradients against the unfused layers' host kernels run one after the other on
    /// the pairs' gathered features: the correlation, the ReLU and its mask, the 1x1
    /// convolution's backward, the correlation's backward, then each pair's two feature
    /// gradients added onto its images. Pairs that share images, an image on both sides of
    /// different pairs, an image in no pair; every copy, K on both sides of 16, widths in one
    /// or two parts.
    #[test]
    fn every_copy_matches_the_unfused_layers() {
        let pairs = [(0, 1), (2, 0), (1, 2), (0, 3), (3, 1)];
        for (dims, geo, k) in pair_test_cases() {
            let (patch, band) = (geo.patch, geo.band);
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

    /// Pairs with an all-zero output gradient are skipped: the gradients equal those of the
    /// other pairs alone, exactly.
    #[test]
    fn pairs_without_gradient_change_nothing() {
        let pairs = [(0, 1), (2, 0), (1, 2), (0, 3), (3, 1)];
        let (dims, geo, k) = pair_test_cases()[0];
        let [_, _, h, w] = dims;
        let (features, _, weight) = test_inputs(dims, &geo, k);
        let plane = k * h * w;
        let mut dz = values(pairs.len() * plane, 6);
        for p in [1, 3] {
            dz[p * plane..][..plane].fill(0.0);
        }
        let live = [pairs[0], pairs[2], pairs[4]];
        let dz_live: Vec<f32> = [0, 2, 4]
            .iter()
            .flat_map(|&p| dz[p * plane..][..plane].to_vec())
            .collect();
        let isa = Isa::best();
        let run = |pairs: &[(usize, usize)], dz: &[f32]| {
            xcorr_conv1x1_backward_cpu(isa, (&features, dims), pairs, (&geo, 1e-12), &weight, dz)
        };
        assert_eq!(run(&pairs, &dz), run(&live, &dz_live));
        let none = run(&pairs, &vec![0.0; dz.len()]);
        assert!(
            none.0
                .iter()
                .chain(&none.1)
                .chain(&none.2)
                .all(|v| *v == 0.0)
        );
    }
}
