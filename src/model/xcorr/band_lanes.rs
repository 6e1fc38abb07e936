//! The fused head's products in the band-lane layout: one channel's correlation plane stored
//! position-major, `V^T [H*W, JP]`, the `D*W` correlations of a position (padded to `JP`, a
//! multiple of 16) along the vector axis. In this layout every product of the head's first
//! stage is a [`GradBlock`] with whole vectors and long sums, where the position-lane layout of
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
//! zeros outside the map: position-major `[S, NP]` ([`Planes::pos`]) and patch-value-major
//! `[N, S]` ([`Planes::vals`]), S = `(H + D - 1) * W + JP` positions. Lanes `j >= D*W` of
//! `V^T` hold finite values that nothing reads into a result: the weights' padding is zero and
//! the products that read `dV^T` or `V^T` stop at `D*W`.

use super::direct::XcorrGeometry;
use crate::model::simd::Isa;
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

/// One image's normalised patches of one channel in the two padded layouts (see the module
/// documentation): `pos` `[S, NP]`, `vals` `[N, S]` (its rows `S` apart; `N*S <= S*NP`).
pub(super) struct Planes<'a> {
    pub pos: &'a [f32],
    pub vals: &'a [f32],
}

/// Fills `vals` (`[N, S]`) from `pos` (`[S, NP]`) at the map's positions; the padding of both
/// stays as it is (zero).
#[inline(always)]
pub(super) fn transpose_patches(z: &BandSizes, pos: &[f32], vals: &mut [f32]) {
    let first = z.first();
    for (q, patch) in pos[first * z.np..][..z.hw * z.np]
        .chunks_exact(z.np)
        .enumerate()
    {
        for (m, v) in patch[..z.n].iter().enumerate() {
            vals[m * z.s + first + q] = *v;
        }
    }
}

/// `V^T` `[H*W, JP]` of the pair (X = `x`, Y = `y`) into `vol`.
#[inline(always)]
pub(super) fn volume(isa: Isa, z: &BandSizes, (x, y): (&Planes, &Planes), vol: &mut [f32]) {
    for row in 0..z.h {
        let segment = [((row + z.half) * z.w, row * z.w)];
        let k = GradBlock {
            a: x.vals,
            a_row: 1,
            a_term: z.s,
            b: y.vals,
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

    /// Normalised patches of a plane, unscaled, position-major `[H*W, N]`, in f64: the
    /// definition `(p - mean) / (sqrt(var) + eps)` with zero padding and N-1 variance.
    fn normalised(plane: &[f32], (h, w): (usize, usize), geo: &XcorrGeometry) -> Vec<Vec<f64>> {
        let p = geo.patch as isize;
        let r = p / 2;
        let mut out = Vec::new();
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut v = Vec::new();
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (yy, xx) = (y + dy, x + dx);
                        let inside = yy >= 0 && xx >= 0 && yy < h as isize && xx < w as isize;
                        v.push(if inside {
                            f64::from(plane[(yy * w as isize + xx) as usize])
                        } else {
                            0.0
                        });
                    }
                }
                let n = v.len() as f64;
                let mean = v.iter().sum::<f64>() / n;
                let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / (n - 1.0);
                let sigma = var.sqrt() + f64::from(geo.eps);
                out.push(v.iter().map(|a| (a - mean) / sigma).collect());
            }
        }
        out
    }

    /// [`volume`] in every copy against the correlation's f64 definition ([`xcorr_direct`]),
    /// read through the band-lane layout: `V^T[q, j] = out[j, q]`.
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
            let layouts = |plane: &[f32]| {
                let mut pos = vec![0.0f32; z.plane_len()];
                for (q, patch) in normalised(plane, (h, w), &geo).iter().enumerate() {
                    for (m, v) in patch.iter().enumerate() {
                        pos[(z.first() + q) * np + m] = *v as f32;
                    }
                }
                let mut vals = vec![0.0f32; z.plane_len()];
                transpose_patches(&z, &pos, &mut vals);
                (pos, vals)
            };
            let (xp, xv) = layouts(&x);
            let (yp, yv) = layouts(&y);
            let planes = (
                &Planes {
                    pos: &xp,
                    vals: &xv,
                },
                &Planes {
                    pos: &yp,
                    vals: &yv,
                },
            );
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
