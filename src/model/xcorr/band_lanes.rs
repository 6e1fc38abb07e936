//! The fused head's products in the band-lane layout: one channel's correlation plane stored
//! position-major, `V^T [H*W, JP]`, the `D*W` correlations of a position (padded to `JP`, a
//! multiple of 16) along the vector axis. In this layout every product of the head's first
//! stage is a `GradBlock` ([`crate::model::simd_wide`]) with whole vectors and long sums, where the position-lane layout of
//! [`super::cpu`] runs 12 of 16 lanes over 25-term sums:
//! - the plane itself, per row of X:
//!   `V^T[row, x, j] = sum_m Xn[m, row, x] Yn[m, row - D/2 + j/W, j%W] / (N-1)`: the j-th
//!   correlation's partner in Y is j positions after the band's first one, so one vector load
//!   of the patch-value-major Y plane serves the whole band;
//! - its gradient `dV^T = dz^T W_c` (`[H*W, K] x [K, JP]`);
//! - the weight gradient `dW_c^T += relu(V^T)^T dz^T` (`[D*W, H*W] x [H*W, Kp]`);
//! - the patch gradients, per row of X (`row'` = the band's first row of Y in padded rows):
//!   `dXn[row, x, :] += sum_j dV^T[row, x, j] Yn[row' * W + j, :] / (N-1)` and
//!   `dYn[row' * W + j, :] += sum_x dV^T[row, x, j] Xn[row, x, :] / (N-1)`.
//!
//! A plane's normalised patches come in two layouts with `D/2` zero rows above and below the
//! map and `JP` zero positions after it, so that every band read stays in bounds and reads
//! zeros outside the map: position-major `[S, NP]` (`NormOut::pos`) and patch-value-major
//! `[N, S]` (`NormOut::vals`), S = `(H + D - 1) * W + JP` positions. Lanes `j >= D*W` of
//! `V^T` hold finite values that nothing reads into a result: the weights' padding is zero and
//! the products that read `dV^T` or `V^T` stop at `D*W`.

use super::direct::XcorrGeometry;
use crate::model::simd::{Isa, LANES, Norm, normalize_chunk};
use crate::model::simd_wide::{GradBlock, grad_block};

/// The sizes of one layer call in the band-lane layout.
#[derive(Clone, Copy, Debug)]
pub(super) struct BandSizes {
    pub h: usize,
    pub w: usize,
    pub hw: usize,
    /// Values per patch N = P*P, padded to `np` in the position-major layout.
    pub n: usize,
    pub np: usize,
    /// Correlations per position D*W, padded to `jp` (a multiple of 16).
    pub dw: usize,
    pub jp: usize,
    /// Zero rows above (and below) the map: D/2.
    pub half: usize,
    /// Positions of a padded plane: `(H + 2 * half) * W + JP`.
    pub s: usize,
}

impl BandSizes {
    pub(super) fn new((h, w): (usize, usize), np: usize, geo: &XcorrGeometry) -> Self {
        let half = geo.band / 2;
        let dw = geo.band * w;
        let jp = dw.next_multiple_of(16);
        Self {
            h,
            w,
            hw: h * w,
            n: geo.patch * geo.patch,
            np,
            dw,
            jp,
            half,
            s: (h + 2 * half) * w + jp,
        }
    }

    /// Values of one padded plane in either layout of [`Planes`].
    pub(super) fn plane_len(&self) -> usize {
        self.s * self.np
    }

    /// Where the map's first position starts in a padded plane (in positions).
    pub(super) fn first(&self) -> usize {
        self.half * self.w
    }

    /// The `1/(N-1)` of the correlation.
    fn scale(&self) -> f32 {
        1.0 / (self.n - 1) as f32
    }
}

/// Scratch of [`normalize_plane`].
#[derive(Default)]
pub(super) struct NormScratch {
    /// Zero-bordered copy of the plane.
    pad: Vec<f32>,
    /// One chunk's normalised patches: `[N, LANES]`.
    chunk: Vec<f32>,
}

/// Where [`normalize_plane`] writes: `vals` `[N, S]` always; `pos` `[S, NP]` and `stats`
/// `[H*W]` (`(sigma, s)` per position, for the backward's scatter) when given. Buffers of
/// [`BandSizes::plane_len`] values whose padding must be zero: only the map's positions are
/// written.
pub(super) struct NormOut<'a> {
    pub vals: &'a mut [f32],
    pub pos: Option<PosOut<'a>>,
}

/// The position-major patches `[S, NP]` and `(sigma, s)` per position `[H*W]`.
pub(super) type PosOut<'a> = (&'a mut [f32], &'a mut [(f32, f32)]);

/// One plane `[H, W]` normalised, `(p - mean) / sigma` per patch with
/// `sigma = sqrt(var + var_floor) + eps` (two-pass mean and N-1 variance), into the band
/// layouts of `out`: 16 positions of a row at a time by the SIMD normalisation of
/// [`crate::model::simd`], then stored in each layout.
#[inline(always)]
pub(super) fn normalize_plane(
    isa: Isa,
    z: &BandSizes,
    plane: &[f32],
    (geo, var_floor): (&XcorrGeometry, f32),
    s: &mut NormScratch,
    out: NormOut,
) {
    let p = geo.patch;
    let r = p / 2;
    let pw = z.w.next_multiple_of(LANES) + p - 1;
    s.pad.clear();
    s.pad.resize((z.h + p - 1) * pw, 0.0);
    for y in 0..z.h {
        s.pad[(y + r) * pw + r..][..z.w].copy_from_slice(&plane[y * z.w..(y + 1) * z.w]);
    }
    s.chunk.resize(z.n * LANES, 0.0);
    let nm = Norm {
        p,
        pw,
        scale: 1.0,
        var_floor,
        eps: geo.eps,
    };
    let span = (p - 1) * pw + p - 1 + LANES;
    let NormOut { vals, mut pos } = out;
    let mut sd = [0.0f32; LANES];
    for y in 0..z.h {
        for x0 in (0..z.w).step_by(LANES) {
            let src = &s.pad[y * pw + x0..][..span];
            normalize_chunk(isa, src, &nm, &mut s.chunk, &mut sd);
            let lanes = LANES.min(z.w - x0);
            let q0 = z.first() + y * z.w + x0;
            // Whole chunks: lanes beyond the row land on the next row's first positions
            // (rewritten when that row comes) or below the map (zeroed again at the end).
            for (k, v) in s.chunk.chunks_exact(LANES).enumerate() {
                vals[k * z.s + q0..][..LANES].copy_from_slice(v);
            }
            if let Some((pos, stats)) = pos.as_mut() {
                for l in 0..lanes {
                    stats[y * z.w + x0 + l] = (sd[l] + geo.eps, sd[l]);
                    let row = &mut pos[(q0 + l) * z.np..][..z.n];
                    for (o, v) in row.iter_mut().zip(s.chunk.chunks_exact(LANES)) {
                        *o = v[l];
                    }
                }
            }
        }
    }
    let end = z.first() + z.hw;
    for k in 0..z.n {
        vals[k * z.s + end..][..LANES].fill(0.0);
    }
}

/// `V^T` `[H*W, JP]` of the pair (X, Y) into `vol`, from their patch-value-major planes.
#[inline(always)]
pub(super) fn volume(isa: Isa, z: &BandSizes, (x, y): (&[f32], &[f32]), vol: &mut [f32]) {
    for row in 0..z.h {
        let segment = [((row + z.half) * z.w, row * z.w)];
        let k = GradBlock {
            a: x,
            a_row: 1,
            a_term: z.s,
            b: y,
            b_term: z.s,
            np: z.jp,
            segments: &segment,
            terms: z.n,
            rows: z.w,
            scale: z.scale(),
            accumulate: false,
        };
        grad_block(isa, &k, &mut vol[row * z.w * z.jp..][..z.w * z.jp]);
    }
}

/// `dV^T [H*W, JP] = dz^T [H*W, Kp] x W_c [K, JP]` into `dvol`: `dz_t` is the pair's output
/// gradient transposed (`kp` values a position), `wc` the channel's weights padded to `JP`.
#[inline(always)]
pub(super) fn volume_gradient(
    isa: Isa,
    z: &BandSizes,
    (dz_t, kp): (&[f32], usize),
    (wc, k): (&[f32], usize),
    dvol: &mut [f32],
) {
    let product = GradBlock {
        a: dz_t,
        a_row: kp,
        a_term: 1,
        b: wc,
        b_term: z.jp,
        np: z.jp,
        segments: &[(0, 0)],
        terms: k,
        rows: z.hw,
        scale: 1.0,
        accumulate: false,
    };
    grad_block(isa, &product, dvol);
}

/// The ReLU between the correlation and the 1x1 convolution: `dvol` is zeroed where
/// `vol <= 0`, and `vol` replaced by `relu(vol)` (branch-free, so that it vectorises).
#[inline(always)]
pub(super) fn mask_and_relu(vol: &mut [f32], dvol: &mut [f32]) {
    for (v, d) in vol.iter_mut().zip(dvol.iter_mut()) {
        let keep = *v > 0.0;
        *d = if keep { *d } else { 0.0 };
        *v = if keep { *v } else { 0.0 };
    }
}

/// `dW_c^T [D*W, Kp] += relu(V^T)^T x dz^T` into `dw_t` (`vol` already through the ReLU).
#[inline(always)]
pub(super) fn weight_gradient(
    isa: Isa,
    z: &BandSizes,
    vol: &[f32],
    (dz_t, kp): (&[f32], usize),
    dw_t: &mut [f32],
) {
    let product = GradBlock {
        a: vol,
        a_row: 1,
        a_term: z.jp,
        b: dz_t,
        b_term: kp,
        np: kp,
        segments: &[(0, 0)],
        terms: z.hw,
        rows: z.dw,
        scale: 1.0,
        accumulate: true,
    };
    grad_block(isa, &product, dw_t);
}

/// X's patch gradients of the masked `dvol` (`dV^T`) added to its padded position-major sum
/// `grad` (`[S, NP]`): `dXn[row, x, :] += sum_{j < D*W} dV^T[row, x, j] Yn[band start + j, :]
/// / (N-1)`, with `y_pos` Y's position-major patches.
#[inline(always)]
pub(super) fn x_patch_gradients(
    isa: Isa,
    z: &BandSizes,
    dvol: &[f32],
    y_pos: &[f32],
    grad: &mut [f32],
) {
    for row in 0..z.h {
        let segment = [(0, row * z.w * z.np)];
        let k = GradBlock {
            a: &dvol[row * z.w * z.jp..][..z.w * z.jp],
            a_row: z.jp,
            a_term: 1,
            b: y_pos,
            b_term: z.np,
            np: z.np,
            segments: &segment,
            terms: z.dw,
            rows: z.w,
            scale: z.scale(),
            accumulate: true,
        };
        let out = &mut grad[(row + z.half) * z.w * z.np..][..z.w * z.np];
        grad_block(isa, &k, out);
    }
}

/// Y's patch gradients of the masked `dvol` added to its padded sum `grad`, per padded row
/// `r` of Y: `dYn[r, x', :] += sum_dy sum_x dV^T[row, x, dy*W + x'] Xn[row, x, :] / (N-1)`
/// over the rows `row = r - dy` of X whose band reaches it (one segment each), with `x_pos`
/// X's position-major patches; `segments` is scratch.
#[inline(always)]
pub(super) fn y_patch_gradients(
    isa: Isa,
    z: &BandSizes,
    dvol: &[f32],
    x_pos: &[f32],
    (grad, segments): (&mut [f32], &mut Vec<(usize, usize)>),
) {
    let band = z.dw / z.w;
    for r in 0..z.h + 2 * z.half {
        segments.clear();
        for dy in 0..band {
            if let Some(row) = r.checked_sub(dy).filter(|row| *row < z.h) {
                segments.push((row * z.w * z.jp + dy * z.w, (row + z.half) * z.w * z.np));
            }
        }
        let k = GradBlock {
            a: dvol,
            a_row: 1,
            a_term: z.jp,
            b: x_pos,
            b_term: z.np,
            np: z.np,
            segments,
            terms: z.w,
            rows: z.w,
            scale: z.scale(),
            accumulate: true,
        };
        grad_block(isa, &k, &mut grad[r * z.w * z.np..][..z.w * z.np]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::pseudo_random;
    use crate::model::xcorr::xcorr_direct;

    /// [`normalize_plane`] and [`volume`] in every copy against the correlation's f64
    /// definition ([`xcorr_direct`]), read through the band-lane layout: `V^T[q, j] = out[j, q]`.
    #[test]
    fn the_volume_matches_the_definition() {
        for ((h, w), patch, band) in [((7, 12), 5, 5), ((6, 5), 3, 3), ((9, 17), 5, 3)] {
            let geo = XcorrGeometry {
                patch,
                band,
                ..XcorrGeometry::default()
            };
            let x = pseudo_random(h * w, 1);
            let y = pseudo_random(h * w, 2);
            let want = xcorr_direct(&x, &y, [1, 1, h, w], &geo); // [D*W, H*W]
            let np = (patch * patch).next_multiple_of(8);
            let z = BandSizes::new((h, w), np, &geo);
            let planes: Vec<Vec<f32>> = [&x, &y]
                .iter()
                .map(|plane| {
                    let mut vals = vec![0.0; z.plane_len()];
                    let out = NormOut {
                        vals: &mut vals,
                        pos: None,
                    };
                    let scratch = &mut NormScratch::default();
                    normalize_plane(Isa::Portable, &z, plane, (&geo, 0.0), scratch, out);
                    vals
                })
                .collect();
            let planes = (planes[0].as_slice(), planes[1].as_slice());
            for isa in Isa::available() {
                let mut vol = vec![f32::NAN; z.hw * z.jp];
                volume(isa, &z, planes, &mut vol);
                for q in 0..z.hw {
                    for j in 0..z.dw {
                        let (got, want) = (vol[q * z.jp + j], want[j * z.hw + q]);
                        assert!(got.is_finite());
                        assert!(
                            (got - want).abs() < 1e-5,
                            "{isa:?} {h}x{w} P{patch} D{band} q{q} j{j}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
