//! The fast CPU path: the correlation layer on host slices, parallel over (image, channel).
//!
//! Same function as [`super::direct`] and [`super::reference`] (tested against both). Per
//! (b, c) plane it:
//! 1. normalises every PxP patch of X once (`(p - mean) / sigma / (N-1)`) and stores them
//!    transposed per output row, `[H][chunks][N][16]`: for each of the N patch values the
//!    16 positions x of one chunk of the row are contiguous (zero beyond W);
//! 2. normalises every patch of Y once, `[H*W, N]`;
//! 3. for each output row y, band offset dy and chunk of 16 positions, computes the block
//!    `out[dy*W + x', y, x] = sum_k Yn[y+dy-D/2, x', k] * Xt[y, k, x]` with a register-blocked
//!    micro-kernel: a few rows x' of accumulators, each one 16-wide vector over x, updated by a
//!    broadcast of `Yn[.., x', k]` times the vector `Xt[y, k, ..]` — and stores each row's x
//!    values contiguously into the plane's `[D*W, H, W]` output (rows of Y outside the map
//!    contribute zero and are skipped).
//!
//! The working set of one plane (~100 KB) stays in cache; no 25x im2col of the batch is ever
//! materialised. The micro-kernel exists in three copies chosen at run time: AVX-512 (12 rows
//! of one zmm accumulator), AVX2 + FMA (6 rows of two ymm accumulators) and portable Rust; a
//! unit test checks every copy this CPU can run against the f64 definition.

use rayon::prelude::*;

use super::direct::XcorrGeometry;
use crate::model::simd::{Block, Isa, LANES, Norm, Offsets, block, normalize_chunk, run_with};

/// Normalised patches of one `[H, W]` plane, transposed per row into chunks of positions:
/// `out` `[H, chunks, N, LANES]`, value k of the patch at (y, x = chunk*LANES + l) at
/// `((y*chunks + chunk)*N + k)*LANES + l`, equal to `(p_k - mean) / sigma * scale` with
/// `sigma = sqrt(var + var_floor) + eps` (two-pass mean and N-1 variance, summed in patch
/// order, identical in every copy). Lanes beyond W hold 0. `pad` is scratch.
#[inline(always)]
fn normalize_rows(
    isa: Isa,
    plane: &[f32],
    (h, w): (usize, usize),
    geo: &XcorrGeometry,
    (scale, var_floor): (f32, f32),
    pad: &mut Vec<f32>,
    out: &mut [f32],
) {
    let p = geo.patch;
    let n = p * p;
    let r = p / 2;
    let chunks = w.div_ceil(LANES);
    // Zero-bordered copy wide enough for every lane of every chunk:
    // [H + P-1, chunks*LANES + P-1]. The border stays zero between planes of one size; only
    // the interior is rewritten.
    let pw = chunks * LANES + p - 1;
    resize_zeroed(pad, (h + p - 1) * pw);
    for y in 0..h {
        pad[(y + r) * pw + r..][..w].copy_from_slice(&plane[y * w..(y + 1) * w]);
    }
    let nm = Norm {
        p,
        pw,
        scale,
        var_floor,
        eps: geo.eps,
    };
    let span = (p - 1) * pw + p - 1 + LANES;
    for y in 0..h {
        for c in 0..chunks {
            let src = &pad[y * pw + c * LANES..][..span];
            let dst = &mut out[(y * chunks + c) * n * LANES..][..n * LANES];
            normalize_chunk(isa, src, &nm, dst, &mut [0.0; LANES]);
        }
    }
}

/// Makes `v` `len` zeros if it has another length (else leaves its values alone).
fn resize_zeroed(v: &mut Vec<f32>, len: usize) {
    if v.len() != len {
        v.clear();
        v.resize(len, 0.0);
    }
}

/// Per-plane scratch buffers, reused across the planes one rayon worker handles.
#[derive(Default)]
pub(super) struct Scratch {
    /// Normalised patches of X, transposed: `[H, chunks, N, LANES]`.
    xt: Vec<f32>,
    /// Normalised patches of Y, transposed: `[H, chunks, N, LANES]`.
    yt: Vec<f32>,
    /// Zero-bordered copy of the plane being normalised.
    pad: Vec<f32>,
    /// `k * LANES` for each patch value k: where the micro-kernel finds X's vector k.
    offsets: Offsets,
}

/// One (b, c) plane: x, y `[H, W]`; out `[D*W, H*W]` with rows `stride` apart (`>= H*W`),
/// zero on entry.
#[inline(always)]
pub(super) fn plane_impl(
    isa: Isa,
    (x, y): (&[f32], &[f32]),
    (h, w, stride): (usize, usize, usize),
    geo: &XcorrGeometry,
    var_floor: f32,
    s: &mut Scratch,
    out: &mut [f32],
) {
    let n = geo.patch * geo.patch;
    let len = transposed_len((h, w), geo);
    // Every value of xt and yt is rewritten below.
    resize_zeroed(&mut s.xt, len);
    resize_zeroed(&mut s.yt, len);
    if s.offsets.len() != n {
        s.offsets = (0..n).map(|k| k * LANES).collect();
    }
    normalize_plane_t(
        isa,
        x,
        (h, w),
        geo,
        (Role::X, var_floor),
        &mut s.pad,
        &mut s.xt,
    );
    normalize_plane_t(
        isa,
        y,
        (h, w),
        geo,
        (Role::Y, var_floor),
        &mut s.pad,
        &mut s.yt,
    );
    plane_product(isa, (&s.xt, &s.yt), (h, w, stride), geo, &s.offsets, out);
}

/// Which side of the correlation a plane's normalised patches are for: X's carry the
/// `1/(N-1)` of the formula, Y's do not.
#[derive(Clone, Copy)]
pub(super) enum Role {
    X,
    Y,
}

/// Length of one plane's transposed normalised patches, `[H, chunks, N, LANES]`.
pub(super) fn transposed_len((h, w): (usize, usize), geo: &XcorrGeometry) -> usize {
    h * w.div_ceil(LANES) * geo.patch * geo.patch * LANES
}

/// The normalised patches of one `[H, W]` plane for `role`, transposed per row into `out`
/// (`[H, chunks, N, LANES]`, [`transposed_len`] values, all rewritten); `pad` is scratch.
#[inline(always)]
pub(super) fn normalize_plane_t(
    isa: Isa,
    plane: &[f32],
    (h, w): (usize, usize),
    geo: &XcorrGeometry,
    (role, var_floor): (Role, f32),
    pad: &mut Vec<f32>,
    out: &mut [f32],
) {
    let n = geo.patch * geo.patch;
    let scale = match role {
        Role::X => 1.0 / (n - 1) as f32,
        Role::Y => 1.0,
    };
    normalize_rows(isa, plane, (h, w), geo, (scale, var_floor), pad, out);
}

/// The correlation plane from transposed normalised patches (`xt` of X, `yt` of Y, as
/// [`normalize_plane_t`] makes them): out `[D*W, H*W]` with rows `stride` apart (`>= H*W`),
/// zero on entry; `offsets` = `k * LANES` for each patch value k.
#[inline(always)]
pub(super) fn plane_product(
    isa: Isa,
    (xt, yt): (&[f32], &[f32]),
    (h, w, stride): (usize, usize, usize),
    geo: &XcorrGeometry,
    offsets: &Offsets,
    out: &mut [f32],
) {
    let n = geo.patch * geo.patch;
    let half = geo.band / 2;
    let chunks = w.div_ceil(LANES);
    let chunk_len = n * LANES;
    for row in 0..h {
        for dy in 0..geo.band {
            let r = row as isize + dy as isize - half as isize;
            if r < 0 || r as usize >= h {
                continue; // zero rows of Y: the output stays zero
            }
            let r = r as usize;
            for yc in 0..chunks {
                for xc in 0..chunks {
                    let b = Block {
                        a: &yt[(r * chunks + yc) * chunk_len..][..chunk_len],
                        a_stride: LANES,
                        rows: LANES.min(w - yc * LANES),
                        b: &xt[(row * chunks + xc) * chunk_len..][..chunk_len],
                        b_offsets: offsets,
                        lanes: LANES.min(w - xc * LANES),
                        stride,
                        accumulate: false,
                        relu_b: false,
                    };
                    // Output rows j = dy*W + x' (x' from yc*LANES), positions (row, xc*LANES..).
                    let start = (dy * w + yc * LANES) * stride + row * w + xc * LANES;
                    block(isa, &b, &mut out[start..]);
                }
            }
        }
    }
}

/// The layer on host data: x, y `[B, C, H, W]` flattened -> `[B, C*D*W, H, W]` flattened.
pub fn xcorr_cpu(x: &[f32], y: &[f32], dims: [usize; 4], geo: &XcorrGeometry) -> Vec<f32> {
    xcorr_host_forward(x, y, dims, geo, 0.0)
}

/// [`xcorr_cpu`] with `var_floor` added under the square root of each patch variance (the
/// custom op uses [`super::reference::VAR_FLOOR`], like the tensor-op reference, so that its
/// forward is exactly the function its backward differentiates).
pub(crate) fn xcorr_host_forward(
    x: &[f32],
    y: &[f32],
    dims: [usize; 4],
    geo: &XcorrGeometry,
    var_floor: f32,
) -> Vec<f32> {
    xcorr_cpu_with(Isa::best(), x, y, dims, geo, var_floor)
}

/// `xcorr_host_forward` with a chosen copy of the kernels (for tests and benchmarks).
pub fn xcorr_cpu_with(
    isa: Isa,
    x: &[f32],
    y: &[f32],
    dims: [usize; 4],
    geo: &XcorrGeometry,
    var_floor: f32,
) -> Vec<f32> {
    let [b, c, h, w] = dims;
    let hw = h * w;
    let per_plane = geo.band * w * hw;
    let mut out = super::pages::zeroed(b * c * per_plane);
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(per_plane)
        .enumerate()
        .for_each_init(Scratch::default, |s, (i, chunk)| {
            let planes = (&x[i * hw..(i + 1) * hw], &y[i * hw..(i + 1) * hw]);
            run_with(
                isa,
                #[inline(always)]
                |isa| plane_impl(isa, planes, (h, w, hw), geo, var_floor, s, chunk),
            );
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::pseudo_random_with_flat_runs;
    use crate::model::xcorr::direct::xcorr_direct;

    fn flat(len: usize, seed: u64) -> Vec<f32> {
        pseudo_random_with_flat_runs(len, seed, (37, 6))
    }

    #[test]
    fn every_kernel_copy_matches_the_definition() {
        // Widths below, at and above one chunk of 16, and the network's own 12.
        for (dims, patch, band) in [
            ([2, 3, 7, 12], 5, 5),
            ([1, 2, 5, 3], 5, 5),
            ([1, 2, 6, 16], 3, 3),
            ([1, 1, 9, 21], 7, 5),
            ([1, 2, 4, 35], 5, 1),
        ] {
            let geo = XcorrGeometry {
                patch,
                band,
                ..XcorrGeometry::default()
            };
            let len = dims.iter().product();
            let (x, y) = (flat(len, 1), flat(len, 2));
            let want = xcorr_direct(&x, &y, dims, &geo);
            for isa in Isa::available() {
                let got = xcorr_cpu_with(isa, &x, &y, dims, &geo, 0.0);
                assert_eq!(got.len(), want.len());
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (g - w).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 2e-5, "{isa:?} {dims:?} P{patch} D{band}: {worst}");
            }
        }
    }
}
