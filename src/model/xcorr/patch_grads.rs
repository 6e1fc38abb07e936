//! Step 2 of the correlation backward ([`super::cpu_backward`]): the gradients of the
//! normalised patches of one plane,
//! `dXn[y,x,k] = sum_{dy,x'} G[dy*W+x', y, x] Yn[y+dy-2, x', k] / (N-1)` and
//! `dYn[r,x',k] = sum_{(y,x,dy): y+dy-2=r} G[dy*W+x', y, x] Xn[y, x, k] / (N-1)`, over padded
//! patch rows of NP values. Three copies: products on the wide AVX-512 kernel of
//! [`crate::model::simd_wide`] (NP = 16 or 32), register-accumulated axpy loops for a
//! compile-time NP (P = 3, 5, 7) compiled for AVX2 + FMA or portable, and a loop for any NP.
//! Each is checked against the portable copy through the whole backward (tests in
//! `cpu_backward`).

use super::direct::XcorrGeometry;
use crate::model::simd::Isa;
#[cfg(target_arch = "x86_64")]
use crate::model::simd_wide::grad_block_avx512;
use crate::model::simd_wide::{self, GradBlock};

/// What step 2 reads and writes: the normalised patches of X and Y (`[H*W, NP]` each), their
/// gradients (`[H*W, NP]` each, overwritten) and scratch for a [`GradBlock`]'s segments.
pub(super) struct PatchIo<'a> {
    pub xn: &'a [f32],
    pub yn: &'a [f32],
    pub dxn: &'a mut [f32],
    pub dyn_: &'a mut [f32],
    pub segments: &'a mut Vec<(usize, usize)>,
}

/// Step 2: the gradients of the normalised patches of one plane. `g` is the plane's
/// `[D*W, H, W]` slice of the output gradient. Common padded patch lengths (P = 3, 5, 7) get a
/// copy with the length known at compile time.
#[inline(always)]
fn patch_gradients(
    g: &[f32],
    (h, w, np): (usize, usize, usize),
    geo: &XcorrGeometry,
    io: &mut PatchIo,
) {
    match np {
        16 => patch_gradients_fixed::<16>(g, (h, w), geo, io),
        32 => patch_gradients_fixed::<32>(g, (h, w), geo, io),
        64 => patch_gradients_fixed::<64>(g, (h, w), geo, io),
        _ => patch_gradients_any(g, (h, w, np), geo, io),
    }
}

/// `acc += a * v` over one padded patch row of compile-time length (stays in registers).
#[inline(always)]
fn axpy_fixed<const NP: usize>(acc: &mut [f32; NP], a: f32, v: &[f32; NP]) {
    for k in 0..NP {
        acc[k] += a * v[k];
    }
}

/// [`patch_gradients`] for a padded patch length `NP` known at compile time: each gradient row
/// is accumulated in registers over its whole band (D*W terms) and stored once.
#[inline(always)]
fn patch_gradients_fixed<const NP: usize>(
    g: &[f32],
    (h, w): (usize, usize),
    geo: &XcorrGeometry,
    io: &mut PatchIo,
) {
    let n = geo.patch * geo.patch;
    let half = geo.band / 2;
    let hw = h * w;
    let scale = 1.0 / (n - 1) as f32;
    let (xn, _) = io.xn.as_chunks::<NP>(); // [H*W][NP]
    let (yn, _) = io.yn.as_chunks::<NP>(); // [H*W][NP]
    let (dxn, _) = io.dxn.as_chunks_mut::<NP>(); // [H*W][NP]
    let (dyn_, _) = io.dyn_.as_chunks_mut::<NP>(); // [H*W][NP]
    // dXn[row, x, :] = sum_{dy, x'} G[dy*W + x', row, x] * Yn[row + dy - half, x', :]
    for row in 0..h {
        for x in 0..w {
            let mut acc = [0.0f32; NP];
            for dy in 0..geo.band {
                let Some(r) = (row + dy).checked_sub(half).filter(|r| *r < h) else {
                    continue;
                };
                let g0 = dy * w * hw + row * w + x;
                for xp in 0..w {
                    axpy_fixed(&mut acc, g[g0 + xp * hw] * scale, &yn[r * w + xp]);
                }
            }
            dxn[row * w + x] = acc;
        }
    }
    // dYn[r, x', :] = sum_{dy, x} G[dy*W + x', r + half - dy, x] * Xn[r + half - dy, x, :]
    for r in 0..h {
        for xp in 0..w {
            let mut acc = [0.0f32; NP];
            for dy in 0..geo.band {
                let Some(row) = (r + half).checked_sub(dy).filter(|row| *row < h) else {
                    continue;
                };
                let g0 = (dy * w + xp) * hw + row * w;
                for (x, gv) in g[g0..g0 + w].iter().enumerate() {
                    axpy_fixed(&mut acc, gv * scale, &xn[row * w + x]);
                }
            }
            dyn_[r * w + xp] = acc;
        }
    }
}

/// `acc += a * v` over one padded patch row.
#[inline(always)]
fn axpy(acc: &mut [f32], a: f32, v: &[f32]) {
    for (o, x) in acc.iter_mut().zip(v) {
        *o += a * x;
    }
}

/// [`patch_gradients`] for any padded patch length.
#[inline(always)]
fn patch_gradients_any(
    g: &[f32],
    (h, w, np): (usize, usize, usize),
    geo: &XcorrGeometry,
    io: &mut PatchIo,
) {
    let n = geo.patch * geo.patch;
    let half = geo.band / 2;
    let hw = h * w;
    let scale = 1.0 / (n - 1) as f32;
    // Accumulated below (the fixed-length copies store whole rows instead).
    io.dxn.fill(0.0);
    io.dyn_.fill(0.0);
    for row in 0..h {
        for dy in 0..geo.band {
            let Some(r) = (row + dy).checked_sub(half).filter(|r| *r < h) else {
                continue;
            };
            // dXn[row, x, :] += G[dy*W + x', row, x] * Yn[r, x', :]
            for x in 0..w {
                let acc = &mut io.dxn[(row * w + x) * np..(row * w + x + 1) * np];
                for xp in 0..w {
                    let gv = g[(dy * w + xp) * hw + row * w + x] * scale;
                    axpy(acc, gv, &io.yn[(r * w + xp) * np..(r * w + xp + 1) * np]);
                }
            }
            // dYn[r, x', :] += G[dy*W + x', row, x] * Xn[row, x, :]
            for xp in 0..w {
                let g0 = (dy * w + xp) * hw + row * w;
                let acc = &mut io.dyn_[(r * w + xp) * np..(r * w + xp + 1) * np];
                for (x, gv) in g[g0..g0 + w].iter().enumerate() {
                    let v = &io.xn[(row * w + x) * np..(row * w + x + 1) * np];
                    axpy(acc, gv * scale, v);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn patch_gradients_avx2(
    g: &[f32],
    dims: (usize, usize, usize),
    geo: &XcorrGeometry,
    io: &mut PatchIo,
) {
    patch_gradients(g, dims, geo, io)
}

/// [`patch_gradients`] as products of [`GradBlock`]s run by the AVX-512 micro-kernel.
///
/// # Safety
/// The CPU must support AVX-512F, and `simd_wide::avx512_covers(np)` must hold.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn patch_gradients_avx512(
    g: &[f32],
    (h, w, np): (usize, usize, usize),
    geo: &XcorrGeometry,
    io: &mut PatchIo,
) {
    let n = geo.patch * geo.patch;
    let half = geo.band / 2;
    let hw = h * w;
    let scale = 1.0 / (n - 1) as f32;
    for row in 0..h {
        // dXn[row, x, :] = sum_{dy, x'} G[dy*W + x', row, x] Yn[row + dy - half, x', :]: the
        // valid band rows are consecutive, and so are their terms (t = dy*W + x') in G and Yn.
        let dy0 = half.saturating_sub(row);
        let dy1 = geo.band.min(h + half - row);
        io.segments.clear();
        io.segments
            .push((dy0 * w * hw + row * w, (row + dy0 - half) * w * np));
        let k = GradBlock {
            a: g,
            a_row: 1,
            a_term: hw,
            b: io.yn,
            b_term: np,
            np,
            segments: io.segments,
            terms: (dy1 - dy0) * w,
            rows: w,
            scale,
            accumulate: false,
        };
        // SAFETY: the caller guarantees the CPU features and np.
        unsafe { grad_block_avx512(&k, &mut io.dxn[row * w * np..(row + 1) * w * np]) };
    }
    for r in 0..h {
        // dYn[r, x', :] = sum_{dy, x} G[dy*W + x', row, x] Xn[row, x, :], row = r + half - dy.
        io.segments.clear();
        for dy in 0..geo.band {
            if let Some(row) = (r + half).checked_sub(dy).filter(|row| *row < h) {
                io.segments.push((dy * w * hw + row * w, row * w * np));
            }
        }
        let k = GradBlock {
            a: g,
            a_row: hw,
            a_term: 1,
            b: io.xn,
            b_term: np,
            np,
            segments: io.segments,
            terms: w,
            rows: w,
            scale,
            accumulate: false,
        };
        // SAFETY: as above.
        unsafe { grad_block_avx512(&k, &mut io.dyn_[r * w * np..(r + 1) * w * np]) };
    }
}

/// Step 2 in the copy for `isa`: the AVX-512 micro-kernel where it covers the patch length,
/// else the axpy loops compiled for AVX2 + FMA or portable.
pub(super) fn patch_gradients_with(
    isa: Isa,
    g: &[f32],
    dims: (usize, usize, usize),
    geo: &XcorrGeometry,
    io: &mut PatchIo,
) {
    match isa {
        // SAFETY: `Isa::available` only offers AVX-512 on CPUs with it; np is checked.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if simd_wide::avx512_covers(dims.2) => unsafe {
            patch_gradients_avx512(g, dims, geo, io)
        },
        // SAFETY: the CPU supports AVX2 and FMA (checked in the guard).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma") =>
        unsafe { patch_gradients_avx2(g, dims, geo, io) },
        _ => patch_gradients(g, dims, geo, io),
    }
}
