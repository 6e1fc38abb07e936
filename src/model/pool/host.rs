//! Host kernels of the 2x2, stride-2 max-pool (floor: a last odd row or column is dropped)
//! and its gradient, parallel over planes. Each output takes the first maximum of its window
//! in row-major order and the gradient goes back to that element, as burn's `max_pool2d` does,
//! so the two agree to the bit on finite values (`tests/xcorr_op.rs`
//! compares them, forward and through autodiff). The gradient has an AVX-512 copy, 16 windows
//! at a time, that gives the definition's bits (tested below).

use rayon::prelude::*;

use crate::model::simd::Isa;

/// Sizes of one pool: `[planes, H, W]` -> `[planes, H/2, W/2]` (planes = B * C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolDims {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
}

impl PoolDims {
    pub fn ho(&self) -> usize {
        self.h / 2
    }
    pub fn wo(&self) -> usize {
        self.w / 2
    }
}

/// The maximum of a window `[a, b; c, d]`, branch-free so the row loops vectorise.
#[inline(always)]
fn max4(a: f32, b: f32, c: f32, d: f32) -> f32 {
    let top = if b > a { b } else { a };
    let bottom = if d > c { d } else { c };
    if bottom > top { bottom } else { top }
}

/// Rows `2y` and `2y + 1` of a plane of width `w`, cut to the `2 * wo` pooled columns.
#[inline(always)]
fn row_pair(plane: &[f32], w: usize, wo: usize, y: usize) -> (&[f32], &[f32]) {
    (
        &plane[2 * y * w..][..2 * wo],
        &plane[(2 * y + 1) * w..][..2 * wo],
    )
}

/// One plane `[H, W]` -> `out` `[H/2, W/2]` (also the inference trunk's pool, per image).
#[inline(always)]
pub(crate) fn max_pool2_plane(plane: &[f32], (h, w): (usize, usize), out: &mut [f32]) {
    let wo = w / 2;
    if wo == 0 {
        return;
    }
    for (y, o) in out[..h / 2 * wo].chunks_exact_mut(wo).enumerate() {
        let (r0, r1) = row_pair(plane, w, wo, y);
        for ((o, t), b) in o.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
            *o = max4(t[0], t[1], b[0], b[1]);
        }
    }
}

/// x `[planes, H, W]` -> `[planes, H/2, W/2]`.
pub fn max_pool2_forward(x: &[f32], d: PoolDims) -> Vec<f32> {
    let (ho, wo) = (d.ho(), d.wo());
    let mut out = vec![0.0f32; d.planes * ho * wo];
    if ho * wo == 0 {
        return out;
    }
    out.par_chunks_mut(ho * wo)
        .zip(x.par_chunks(d.h * d.w))
        .for_each(|(out, plane)| max_pool2_plane(plane, (d.h, d.w), out));
    out
}

/// x `[planes, H, W]`, `grad` = dL/d(out) `[planes, H/2, W/2]` -> dL/dx `[planes, H, W]`:
/// each window's gradient on its first maximum, zero elsewhere (and on a dropped last row or
/// column). A window whose maximum is NaN sends its gradient to its last element.
pub fn max_pool2_backward(x: &[f32], grad: &[f32], d: PoolDims) -> Vec<f32> {
    max_pool2_backward_with(Isa::best(), x, grad, d)
}

/// [`max_pool2_backward`] in the copy for `isa` (every copy gives the same bits).
fn max_pool2_backward_with(isa: Isa, x: &[f32], grad: &[f32], d: PoolDims) -> Vec<f32> {
    let (ho, wo) = (d.ho(), d.wo());
    let mut dx = vec![0.0f32; d.planes * d.h * d.w];
    if ho * wo == 0 {
        return dx;
    }
    dx.par_chunks_mut(d.h * d.w)
        .zip(x.par_chunks(d.h * d.w))
        .zip(grad.par_chunks(ho * wo))
        .for_each(|((dx, plane), g)| {
            for (y, g) in g.chunks_exact(wo).enumerate() {
                let rows = row_pair(plane, d.w, wo, y);
                let (top, bottom) = dx[2 * y * d.w..].split_at_mut(d.w);
                let out = (&mut top[..2 * wo], &mut bottom[..2 * wo]);
                backward_row(isa, rows, g, out);
            }
        });
    dx
}

/// One row of windows: rows `(r0, r1)` of `2 * wo` values, their windows' gradients `g`
/// `[wo]` -> `(d0, d1)`, the gradients of the two rows.
#[inline(always)]
fn backward_row(isa: Isa, rows: (&[f32], &[f32]), g: &[f32], out: (&mut [f32], &mut [f32])) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::available` only offers AVX-512 on CPUs with AVX-512F.
        Isa::Avx512 => unsafe { x86::backward_row_avx512(rows, g, out) },
        _ => backward_row_portable(rows, g, out),
    }
}

/// The definition of [`backward_row`], window by window.
fn backward_row_portable(
    (r0, r1): (&[f32], &[f32]),
    g: &[f32],
    (d0, d1): (&mut [f32], &mut [f32]),
) {
    let windows = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    let targets = d0.chunks_exact_mut(2).zip(d1.chunks_exact_mut(2));
    for ((g, (t, b)), (dt, db)) in g.iter().zip(windows).zip(targets) {
        let m = max4(t[0], t[1], b[0], b[1]);
        let at0 = t[0] == m;
        let at1 = !at0 && t[1] == m;
        let at2 = !at0 && !at1 && b[0] == m;
        let at3 = !(at0 || at1 || at2);
        dt[0] = if at0 { *g } else { 0.0 };
        dt[1] = if at1 { *g } else { 0.0 };
        db[0] = if at2 { *g } else { 0.0 };
        db[1] = if at3 { *g } else { 0.0 };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// [`super::backward_row_portable`] 16 windows at a time: each row's 32 values are
    /// loaded as two vectors and split into even and odd columns (the windows' left and right
    /// elements) by permutes, the four masks are those of the definition (`max_ps(b, a)` is
    /// `b > a ? b : a`, as `max4`), and the results are interleaved back; the last, shorter
    /// group is masked.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn backward_row_avx512(
        (r0, r1): (&[f32], &[f32]),
        g: &[f32],
        (d0, d1): (&mut [f32], &mut [f32]),
    ) {
        let wo = g.len();
        assert!(r0.len() >= 2 * wo && r1.len() >= 2 * wo);
        assert!(d0.len() >= 2 * wo && d1.len() >= 2 * wo);
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let lo_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let hi_half =
            _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        let mut i = 0;
        while i < wo {
            let n = (wo - i).min(16);
            // Masks of the n windows, and of their 2n values in two vectors.
            let mg: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
            let m_lo: __mmask16 = if n >= 8 {
                0xffff
            } else {
                (1u16 << (2 * n)) - 1
            };
            let m_hi: __mmask16 = if n == 16 {
                0xffff
            } else if n > 8 {
                (1u16 << (2 * n - 16)) - 1
            } else {
                0
            };
            // SAFETY: lanes are read and written only under masks within the 2 * wo values
            // asserted above (masked-off lanes touch no memory).
            unsafe {
                // One row's 2n values -> (left, right) elements of its n windows.
                macro_rules! load {
                    ($r:expr) => {{
                        let p = $r.as_ptr().add(2 * i);
                        let lo = _mm512_maskz_loadu_ps(m_lo, p);
                        let hi = _mm512_maskz_loadu_ps(m_hi, p.add(16));
                        (
                            _mm512_permutex2var_ps(lo, even, hi),
                            _mm512_permutex2var_ps(lo, odd, hi),
                        )
                    }};
                }
                let (a, b) = load!(r0);
                let (c, e) = load!(r1);
                let gv = _mm512_maskz_loadu_ps(mg, g.as_ptr().add(i));
                let top = _mm512_max_ps(b, a);
                let bottom = _mm512_max_ps(e, c);
                let m = _mm512_max_ps(bottom, top);
                let at0 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, m);
                let at1 = !at0 & _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(b, m);
                let at2 = !(at0 | at1) & _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(c, m);
                let at3 = !(at0 | at1 | at2);
                // (left, right) elements of n windows -> a row's 2n values.
                macro_rules! store {
                    ($d:expr, $left:expr, $right:expr) => {{
                        let (left, right) = ($left, $right);
                        let p = $d.as_mut_ptr().add(2 * i);
                        _mm512_mask_storeu_ps(
                            p,
                            m_lo,
                            _mm512_permutex2var_ps(left, lo_half, right),
                        );
                        let hi = _mm512_permutex2var_ps(left, hi_half, right);
                        _mm512_mask_storeu_ps(p.add(16), m_hi, hi);
                    }};
                }
                store!(
                    d0,
                    _mm512_maskz_mov_ps(at0, gv),
                    _mm512_maskz_mov_ps(at1, gv)
                );
                store!(
                    d1,
                    _mm512_maskz_mov_ps(at2, gv),
                    _mm512_maskz_mov_ps(at3, gv)
                );
            }
            i += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_a_hand_made_plane_and_routes_the_gradient_to_the_first_maximum() {
        // One 3x5 plane -> 1x2 (the last row and column are dropped).
        #[rustfmt::skip]
        let x = [
            1.0, 4.0,   7.0, 7.0,  9.0,
            3.0, 2.0,   7.0, -1.0, 9.0,
            5.0, 5.0,   5.0, 5.0,  5.0,
        ];
        let d = PoolDims {
            planes: 1,
            h: 3,
            w: 5,
        };
        assert_eq!(max_pool2_forward(&x, d), vec![4.0, 7.0]);
        let dx = max_pool2_backward(&x, &[10.0, 20.0], d);
        #[rustfmt::skip]
        let want = [
            0.0, 10.0,  20.0, 0.0, 0.0, // the tie 7, 7, 7 goes to the first
            0.0, 0.0,   0.0,  0.0, 0.0,
            0.0, 0.0,   0.0,  0.0, 0.0,
        ];
        assert_eq!(dx, want);
    }

    #[test]
    fn a_window_with_nan_still_sends_its_whole_gradient_to_one_element() {
        for x in [
            [1.0, f32::NAN, 3.0, 2.0],
            [f32::NAN, 1.0, 1.0, 1.0],
            [f32::NAN; 4],
        ] {
            let d = PoolDims {
                planes: 1,
                h: 2,
                w: 2,
            };
            let dx = max_pool2_backward(&x, &[5.0], d);
            assert_eq!(
                dx.iter().filter(|v| **v == 5.0).count(),
                1,
                "{x:?} -> {dx:?}"
            );
            assert_eq!(
                dx.iter().filter(|v| **v == 0.0).count(),
                3,
                "{x:?} -> {dx:?}"
            );
        }
    }

    #[test]
    fn a_plane_smaller_than_a_window_pools_to_nothing() {
        let d = PoolDims {
            planes: 2,
            h: 1,
            w: 4,
        };
        assert!(max_pool2_forward(&[0.0; 8], d).is_empty());
        assert_eq!(max_pool2_backward(&[1.0; 8], &[], d), vec![0.0; 8]);
    }

    /// Every copy against the definition, to the bit: planes of 1 to 40 windows a row (the
    /// AVX-512 copy's whole and masked groups), odd sizes (a dropped row and column), values
    /// on a coarse grid so that windows hold ties, and NaN.
    #[test]
    fn every_copy_routes_the_gradient_like_the_definition() {
        for (h, w) in [(2, 2), (3, 5), (4, 16), (5, 33), (6, 34), (7, 57), (8, 80)] {
            let d = PoolDims { planes: 3, h, w };
            let mut x: Vec<f32> = crate::model::samples::pseudo_random(3 * h * w, 11)
                .iter()
                .map(|v| (v * 4.0).round())
                .collect();
            x[1] = f32::NAN;
            let g: Vec<f32> = (0..3 * d.ho() * d.wo()).map(|i| i as f32 + 1.0).collect();
            let want = max_pool2_backward_with(Isa::Portable, &x, &g, d);
            for isa in Isa::available() {
                let got = max_pool2_backward_with(isa, &x, &g, d);
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same && got.len() == want.len(), "{isa:?} {h}x{w}");
            }
        }
    }
}
