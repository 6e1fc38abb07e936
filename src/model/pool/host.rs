//! Host kernels of the 2x2, stride-2 max-pool (floor: a last odd row or column is dropped)
//! and its gradient, parallel over planes. Each output takes the first maximum of its window
//! in row-major order and the gradient goes back to that element, as burn's `max_pool2d` does,
//! so the two agree to the bit on finite values (`tests/xcorr_op.rs`
//! compares them, forward and through autodiff).

use rayon::prelude::*;

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
                let (r0, r1) = row_pair(plane, d.w, wo, y);
                let (top, bottom) = dx[2 * y * d.w..].split_at_mut(d.w);
                let (d0, d1) = (&mut top[..2 * wo], &mut bottom[..2 * wo]);
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
        });
    dx
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
}
