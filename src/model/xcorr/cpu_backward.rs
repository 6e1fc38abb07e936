//! The backward pass of the correlation layer on host slices (the flex implementation of
//! [`super::op::XcorrOps::xcorr_backward`]), parallel over (image, channel) planes.
//!
//! With `Xn = (p - mean p) / sigma_p` the normalised patch of X at a position (likewise `Yn`)
//! and `out = Xn . Yn / (N-1)`, for every (b, c) plane it:
//! 1. normalises every patch of X and Y once, keeping `sigma = sqrt(var + VAR_FLOOR) + eps`
//!    and `s = sqrt(var + VAR_FLOOR)` per position (patch rows padded from N to a multiple of
//!    8 values so the inner loops are whole SIMD vectors);
//! 2. accumulates the patch gradients
//!    `dXn[y,x,k] = sum_{dy,x'} G[dy*W+x', y, x] Yn[y+dy-2, x', k] / (N-1)` and
//!    `dYn[r,x',k] = sum_{(y,x,dy): y+dy-2=r} G[dy*W+x', y, x] Xn[y, x, k] / (N-1)`;
//! 3. takes each patch gradient `g` through the normalisation,
//!    `dp_i = (g_i - mean g) / sigma - (g . Xn) Xn_i / ((N-1) s)` (the same as
//!    `(g_i - mean g)/sigma - (sum_j g_j c_j)/sigma^2 * c_i/((N-1) s)` with `c = p - mean`), and
//!    scatter-adds it onto the map positions the patch covers (zero padding drops the rest).
//!
//! Every inner loop runs over the contiguous padded patch axis (for P = 3, 5, 7 a fixed-length
//! row accumulated in registers); on x86-64 CPUs with AVX2 and FMA a copy of the kernel
//! compiled for them is chosen at run time.

use rayon::prelude::*;

use super::direct::XcorrGeometry;
pub(super) use super::patch_grads::{PatchIo, patch_gradients_with};
use crate::model::simd::{Isa, run_with};

/// Patch rows are padded to a multiple of this many values (one AVX register of f32).
pub(super) const LANES: usize = 8;

/// Per-plane scratch buffers, reused across the planes one rayon worker handles.
#[derive(Default)]
pub(super) struct Scratch {
    /// Normalised patches of X, `[H*W, NP]` (zero beyond N).
    xn: Vec<f32>,
    /// Normalised patches of Y, `[H*W, NP]`.
    yn: Vec<f32>,
    /// Per position of X: `(sigma, s)`, `[H*W]`.
    xs: Vec<(f32, f32)>,
    /// Per position of Y: `(sigma, s)`, `[H*W]`.
    ys: Vec<(f32, f32)>,
    /// Gradient w.r.t. the normalised patches of X, `[H*W, NP]`.
    dxn: Vec<f32>,
    /// Gradient w.r.t. the normalised patches of Y, `[H*W, NP]`.
    dyn_: Vec<f32>,
    /// Zero-bordered copy of the plane being normalised, or of the map gradient being
    /// scattered onto.
    pad: Vec<f32>,
    /// One chunk's patch values while normalising, `[N][CHUNK]`.
    vals: Vec<[f32; CHUNK]>,
    /// The segments of one [`crate::model::simd_wide::GradBlock`].
    segments: Vec<(usize, usize)>,
}

impl Scratch {
    /// Sizes the buffers for a `[H*W, NP]` plane. Zeroing happens only when a buffer is
    /// (re)sized: the patch padding of `xn` / `yn` is never written and stays zero, and every
    /// other value is written for each plane before it is read (the generic patch-gradient
    /// kernel, which accumulates, clears its own output).
    pub(super) fn reset(&mut self, hw: usize, np: usize) {
        for v in [&mut self.xn, &mut self.yn, &mut self.dxn, &mut self.dyn_] {
            if v.len() != hw * np {
                v.clear();
                v.resize(hw * np, 0.0);
            }
        }
        for v in [&mut self.xs, &mut self.ys] {
            v.resize(hw, (0.0, 0.0));
        }
    }
}

/// Positions normalised together in [`normalize_plane`] (one AVX-512 vector).
const CHUNK: usize = 16;

/// Normalised patches of one `[H, W]` plane into `out` (`[H*W, NP]`, padding left at zero)
/// and `(sigma, s)` per position into `stats` (`[H*W]`). Each patch is read from a
/// zero-bordered copy of the plane (`pad`, scratch), CHUNK positions of a row at a time, so
/// the sums run as vectors across positions (in patch order per position: the forward's
/// values) and no value needs a bounds test. `vals` (`[N]`, scratch) holds one chunk's patch
/// values.
#[inline(always)]
fn normalize_plane<const P: usize>(
    plane: &[f32],
    (h, w, np): (usize, usize, usize),
    geo: &XcorrGeometry,
    var_floor: f32,
    (pad, vals): (&mut Vec<f32>, &mut Vec<[f32; CHUNK]>),
    (out, stats): (&mut [f32], &mut [(f32, f32)]),
) {
    let p = patch_side::<P>(geo);
    let n = p * p;
    let pw = w.next_multiple_of(CHUNK) + p - 1;
    pad.clear();
    pad.resize((h + p - 1) * pw, 0.0);
    for y in 0..h {
        pad[(y + p / 2) * pw + p / 2..][..w].copy_from_slice(&plane[y * w..(y + 1) * w]);
    }
    vals.resize(n, [0.0; CHUNK]);
    for y in 0..h {
        for x0 in (0..w).step_by(CHUNK) {
            for (k, v) in vals.iter_mut().enumerate() {
                let (dy, dx) = (k / p, k % p);
                v.copy_from_slice(&pad[(y + dy) * pw + x0 + dx..][..CHUNK]);
            }
            let mut mean = [0.0f32; CHUNK];
            for v in vals.iter() {
                for (m, v) in mean.iter_mut().zip(v) {
                    *m += v;
                }
            }
            let mut var = [0.0f32; CHUNK];
            for (m, q) in mean.iter_mut().zip(&mut var) {
                *m /= n as f32;
                *q = 0.0;
            }
            for v in vals.iter() {
                for ((q, v), m) in var.iter_mut().zip(v).zip(&mean) {
                    *q += (v - m) * (v - m);
                }
            }
            // Whole vectors (sqrt and division of 16 lanes at once), then the stats stored.
            let (mut sd, mut sigma, mut inv) = ([0.0f32; CHUNK], [0.0f32; CHUNK], [0.0f32; CHUNK]);
            for l in 0..CHUNK {
                sd[l] = (var[l] / (n - 1) as f32 + var_floor).sqrt();
                sigma[l] = sd[l] + geo.eps;
                inv[l] = 1.0 / sigma[l];
            }
            let lanes = CHUNK.min(w - x0);
            for (l, st) in stats[y * w + x0..][..lanes].iter_mut().enumerate() {
                *st = (sigma[l], sd[l]);
            }
            // Each position's row straight from the bordered plane, patch row by patch row.
            let rows = &mut out[(y * w + x0) * np..(y * w + x0 + lanes) * np];
            for (l, row) in rows.chunks_exact_mut(np).enumerate() {
                let (m, iv) = (mean[l], inv[l]);
                for (dy, dst) in row[..n].chunks_exact_mut(p).enumerate() {
                    let src = &pad[(y + dy) * pw + x0 + l..][..p];
                    for (o, v) in dst.iter_mut().zip(src) {
                        *o = (v - m) * iv;
                    }
                }
            }
        }
    }
}

/// Step 3: patch gradients `dn` (`[H*W, NP]`) of normalised patches `xn` with statistics
/// `stats` through the normalisation, scatter-added onto the map gradient `out` (`[H, W]`).
/// The padding lanes of `dn` and `xn` are zero, so the sums run over whole padded rows. Each
/// patch's input gradient overwrites its row of `dn`, and is added onto a zero-bordered map
/// (`pad`, scratch) with no clipping; the border is dropped at the end (zero padding of the
/// forward). The additions run in position order, as a clipped scatter would.
#[inline(always)]
fn scatter_plane<const P: usize>(
    dn: &mut [f32],
    xn: &[f32],
    stats: &[(f32, f32)],
    (h, w, np): (usize, usize, usize),
    geo: &XcorrGeometry,
    pad: &mut Vec<f32>,
    out: &mut [f32],
) {
    let p = patch_side::<P>(geo);
    let n = p * p;
    let pw = w + p - 1;
    pad.clear();
    pad.resize((h + p - 1) * pw, 0.0);
    for (pos, (g, v)) in dn.chunks_exact_mut(np).zip(xn.chunks_exact(np)).enumerate() {
        let (sigma, sd) = stats[pos];
        let (gsum, gv) = sum_and_dot(g, v);
        let gbar = gsum / n as f32;
        let inv = 1.0 / sigma;
        // s >= sqrt(VAR_FLOOR) > 0 for the op; a flat patch has v = 0 and so gv = 0.
        let coef = if sd > 0.0 {
            gv / ((n - 1) as f32 * sd)
        } else {
            0.0
        };
        for (gk, vk) in g[..n].iter_mut().zip(v) {
            *gk = (*gk - gbar) * inv - coef * vk;
        }
        // Patch row `dy` covers bordered map row `y + dy`, columns `x ..= x + P-1`.
        let at = (pos / w) * pw + pos % w;
        for (dy, src) in g[..n].chunks_exact(p).enumerate() {
            for (o, d) in pad[at + dy * pw..][..p].iter_mut().zip(src) {
                *o += d;
            }
        }
    }
    let r = p / 2;
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        row.copy_from_slice(&pad[(y + r) * pw + r..][..w]);
    }
}

/// `(sum a, a . b)` over rows whose length is a multiple of [`LANES`], in `LANES` partial
/// sums (so the loop vectorises).
#[inline(always)]
fn sum_and_dot(a: &[f32], b: &[f32]) -> (f32, f32) {
    let mut sum = [0.0f32; LANES];
    let mut dot = [0.0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for k in 0..LANES {
            sum[k] += ca[k];
            dot[k] += ca[k] * cb[k];
        }
    }
    (sum.iter().sum(), dot.iter().sum())
}

/// One (b, c) plane: x, y `[H, W]`, `g` its `[D*W, H, W]` slice of the output gradient ->
/// `(dx, dy)` `[H, W]` each.
#[inline(always)]
fn plane_backward(
    isa: Isa,
    (x, y): (&[f32], &[f32]),
    g: &[f32],
    sizes: (usize, usize, usize),
    (geo, var_floor): (&XcorrGeometry, f32),
    s: &mut Scratch,
    (dx, dy): (&mut [f32], &mut [f32]),
) {
    match geo.patch {
        3 => plane_backward_p::<3>(isa, (x, y), g, sizes, (geo, var_floor), s, (dx, dy)),
        5 => plane_backward_p::<5>(isa, (x, y), g, sizes, (geo, var_floor), s, (dx, dy)),
        7 => plane_backward_p::<7>(isa, (x, y), g, sizes, (geo, var_floor), s, (dx, dy)),
        _ => plane_backward_p::<0>(isa, (x, y), g, sizes, (geo, var_floor), s, (dx, dy)),
    }
}

/// The patch side: `P` when it is given at compile time (so the loops over a patch row unroll),
/// else (`P` = 0) the geometry's.
#[inline(always)]
fn patch_side<const P: usize>(geo: &XcorrGeometry) -> usize {
    if P == 0 { geo.patch } else { P }
}

/// [`plane_backward`] for a patch side `P` known at compile time (0: any side).
#[inline(always)]
fn plane_backward_p<const P: usize>(
    isa: Isa,
    (x, y): (&[f32], &[f32]),
    g: &[f32],
    sizes: (usize, usize, usize),
    (geo, var_floor): (&XcorrGeometry, f32),
    s: &mut Scratch,
    (dx, dy): (&mut [f32], &mut [f32]),
) {
    let bufs = (&mut s.pad, &mut s.vals);
    normalize_plane::<P>(x, sizes, geo, var_floor, bufs, (&mut s.xn, &mut s.xs));
    let bufs = (&mut s.pad, &mut s.vals);
    normalize_plane::<P>(y, sizes, geo, var_floor, bufs, (&mut s.yn, &mut s.ys));
    let mut io = PatchIo {
        xn: &s.xn,
        yn: &s.yn,
        dxn: &mut s.dxn,
        dyn_: &mut s.dyn_,
        segments: &mut s.segments,
    };
    patch_gradients_with(isa, g, sizes, geo, &mut io);
    scatter_plane::<P>(&mut s.dxn, &s.xn, &s.xs, sizes, geo, &mut s.pad, dx);
    scatter_plane::<P>(&mut s.dyn_, &s.yn, &s.ys, sizes, geo, &mut s.pad, dy);
}

/// [`plane_backward`] in the copy [`run_with`] compiles for `isa` (inlined there, so that
/// its plain loops are vectorised for it).
fn plane_backward_with(
    isa: Isa,
    planes: (&[f32], &[f32]),
    g: &[f32],
    sizes: (usize, usize, usize),
    geo: (&XcorrGeometry, f32),
    s: &mut Scratch,
    out: (&mut [f32], &mut [f32]),
) {
    run_with(
        isa,
        #[inline(always)]
        |isa| plane_backward(isa, planes, g, sizes, geo, s, out),
    )
}

/// Step 3 alone: patch gradients `dn` (summed over every pair an image is in; overwritten)
/// through the normalisation of patches `xn` with `stats`, onto the map gradient `out` `[H, W]`;
/// `s` is scratch.
#[allow(clippy::too_many_arguments)]
pub(super) fn scatter_shared(
    isa: Isa,
    dn: &mut [f32],
    (xn, stats): (&[f32], &[(f32, f32)]),
    sizes: (usize, usize, usize),
    geo: &XcorrGeometry,
    s: &mut Scratch,
    out: &mut [f32],
) {
    let pad = &mut s.pad;
    run_with(
        isa,
        #[inline(always)]
        |_| match geo.patch {
            3 => scatter_plane::<3>(dn, xn, stats, sizes, geo, pad, out),
            5 => scatter_plane::<5>(dn, xn, stats, sizes, geo, pad, out),
            7 => scatter_plane::<7>(dn, xn, stats, sizes, geo, pad, out),
            _ => scatter_plane::<0>(dn, xn, stats, sizes, geo, pad, out),
        },
    )
}

/// Gradients of the layer on host data: x, y `[B, C, H, W]` flattened, `grad` the gradient of
/// the output `[B, C*D*W, H, W]` flattened -> `(dL/dx, dL/dy)`, each `[B, C, H, W]` flattened.
///
/// `var_floor` is added under the square root of each patch variance, as in the forward pass
/// being differentiated ([`super::reference::VAR_FLOOR`] for the op).
pub fn xcorr_cpu_backward(
    x: &[f32],
    y: &[f32],
    grad: &[f32],
    dims: [usize; 4],
    geo: &XcorrGeometry,
    var_floor: f32,
) -> (Vec<f32>, Vec<f32>) {
    xcorr_cpu_backward_with(Isa::best(), (x, y, grad), dims, geo, var_floor)
}

/// [`xcorr_cpu_backward`] with a chosen copy of the patch-gradient kernel (tests, benches).
pub fn xcorr_cpu_backward_with(
    isa: Isa,
    (x, y, grad): (&[f32], &[f32], &[f32]),
    dims: [usize; 4],
    geo: &XcorrGeometry,
    var_floor: f32,
) -> (Vec<f32>, Vec<f32>) {
    let [b, c, h, w] = dims;
    let hw = h * w;
    let per_plane = geo.band * w * hw;
    let n = geo.patch * geo.patch;
    let np = n.next_multiple_of(LANES);
    let mut dx = vec![0.0f32; b * c * hw];
    let mut dy = vec![0.0f32; b * c * hw];
    if dx.is_empty() || n < 2 {
        return (dx, dy);
    }
    let sizes = (h, w, np);
    dx.par_chunks_mut(hw)
        .zip(dy.par_chunks_mut(hw))
        .enumerate()
        .for_each_init(Scratch::default, |s, (i, (dx_plane, dy_plane))| {
            s.reset(hw, np);
            let planes = (&x[i * hw..(i + 1) * hw], &y[i * hw..(i + 1) * hw]);
            let g = &grad[i * per_plane..(i + 1) * per_plane];
            let out = (dx_plane, dy_plane);
            plane_backward_with(isa, planes, g, sizes, (geo, var_floor), s, out);
        });
    (dx, dy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::{pseudo_random_with_flat_runs, worst_abs_diff};

    /// Every copy of the kernels this CPU runs gives the portable copy's gradients: the
    /// network's width 12 (one block of rows), widths that split into parts or fill one
    /// part partly, and patch sides on both sides of the AVX-512 kernel's coverage.
    #[test]
    fn every_copy_matches_the_portable_gradients() {
        for (dims, patch, band) in [
            ([2, 3, 9, 12], 5, 5),
            ([1, 2, 7, 21], 5, 5),
            ([1, 2, 6, 7], 3, 3),
            ([1, 2, 5, 13], 3, 5),
            ([1, 1, 6, 9], 7, 5),
        ] {
            let geo = XcorrGeometry {
                patch,
                band,
                ..XcorrGeometry::default()
            };
            let [b, c, h, w] = dims;
            let len = b * c * h * w;
            let x = pseudo_random_with_flat_runs(len, 1, (37, 6));
            let y = pseudo_random_with_flat_runs(len, 2, (41, 5));
            let grad = pseudo_random_with_flat_runs(b * c * band * w * h * w, 3, (1000, 1));
            let run = |isa| xcorr_cpu_backward_with(isa, (&x, &y, &grad), dims, &geo, 1e-12);
            let (want_x, want_y) = run(Isa::Portable);
            for isa in Isa::available() {
                let (got_x, got_y) = run(isa);
                for (got, want, which) in [(&got_x, &want_x, "dx"), (&got_y, &want_y, "dy")] {
                    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    let worst = worst_abs_diff(got, want);
                    assert!(
                        worst <= 1e-5 * scale.max(1.0),
                        "{isa:?} {dims:?} P{patch} D{band} {which}: {worst} (scale {scale})"
                    );
                }
            }
        }
    }
}
