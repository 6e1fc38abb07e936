//! The fast CPU path: the correlation layer on host slices, parallel over (image, channel).
//!
//! Same function as [`super::direct`] and [`super::reference`] (tested against both). Per
//! (b, c) plane it:
//! 1. normalises every 5x5 patch of X once (`(p - mean) / sigma / (N-1)`, `[H*W, N]`);
//! 2. normalises every patch of Y once and stacks, for each output row y, the patches of the
//!    D band rows y-2..=y+2 as a `[N, D*W]` block (zeros for rows outside the map);
//! 3. for each row y computes `[W, N] x [N, D*W]` into a `[W, D*W]` block and writes it to the
//!    plane's own contiguous `[D*W, H, W]` slice of the output.
//!
//! The working set of one plane (~300 KB) stays in cache; no 25x im2col of the batch is ever
//! materialised. The inner loop runs over the D*W = 60 band columns; on x86-64 CPUs with AVX2
//! and FMA a copy of the kernel compiled for them is chosen at run time.

use rayon::prelude::*;

use super::direct::XcorrGeometry;

/// Normalised patches of one `[H, W]` plane: `[H*W, N]`, each row `(p - mean) / sigma * scale`
/// with `sigma = sqrt(var + var_floor) + eps`.
fn normalized_patches(
    plane: &[f32],
    h: usize,
    w: usize,
    geo: &XcorrGeometry,
    (scale, var_floor): (f32, f32),
    out: &mut [f32],
) {
    let n = geo.patch * geo.patch;
    let mut vals = vec![0.0f32; n];
    for y in 0..h {
        for x in 0..w {
            let (mean, var) = gather_patch(plane, (h, w), (y, x), geo.patch, &mut vals);
            let inv = scale / ((var + var_floor).sqrt() + geo.eps);
            let row = &mut out[(y * w + x) * n..(y * w + x + 1) * n];
            for (o, v) in row.iter_mut().zip(&vals) {
                *o = (v - mean) * inv;
            }
        }
    }
}

/// Copy the PxP patch of an `[H, W]` plane centred at (y, x), zero padded, into `dst[..P*P]`
/// (row-major); returns its mean and sample variance (N-1 denominator).
pub(super) fn gather_patch(
    plane: &[f32],
    (h, w): (usize, usize),
    (y, x): (usize, usize),
    p: usize,
    dst: &mut [f32],
) -> (f32, f32) {
    let n = p * p;
    let r = (p / 2) as isize;
    let mut k = 0;
    let mut sum = 0.0f32;
    for py in y as isize - r..=y as isize + r {
        for px in x as isize - r..=x as isize + r {
            let v = if py >= 0 && px >= 0 && (py as usize) < h && (px as usize) < w {
                plane[py as usize * w + px as usize]
            } else {
                0.0
            };
            dst[k] = v;
            sum += v;
            k += 1;
        }
    }
    let mean = sum / n as f32;
    let var = dst[..n]
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum::<f32>()
        / (n - 1) as f32;
    (mean, var)
}

/// The `[W, N] x [N, D*W]` product of one output row, accumulated into `acc` (`[W, D*W]`).
#[inline(always)]
fn row_product(a: &[f32], bt: &[f32], w: usize, n: usize, cols: usize, acc: &mut [f32]) {
    acc.fill(0.0);
    for k in 0..n {
        let brow = &bt[k * cols..(k + 1) * cols];
        for x in 0..w {
            let av = a[x * n + k];
            let out = &mut acc[x * cols..(x + 1) * cols];
            for (o, b) in out.iter_mut().zip(brow) {
                *o += av * b;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn row_product_avx2(a: &[f32], bt: &[f32], w: usize, n: usize, cols: usize, acc: &mut [f32]) {
    row_product(a, bt, w, n, cols, acc)
}

fn row_product_best(a: &[f32], bt: &[f32], w: usize, n: usize, cols: usize, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { row_product_avx2(a, bt, w, n, cols, acc) };
        return;
    }
    row_product(a, bt, w, n, cols, acc)
}

/// One (b, c) plane: x, y `[H, W]`; out `[D*W, H, W]`.
fn plane(
    x: &[f32],
    y: &[f32],
    (h, w): (usize, usize),
    geo: &XcorrGeometry,
    var_floor: f32,
    out: &mut [f32],
) {
    let n = geo.patch * geo.patch;
    let d = geo.band;
    let half = d / 2;
    let cols = d * w;
    let mut xn = vec![0.0f32; h * w * n];
    let mut yn = vec![0.0f32; h * w * n];
    normalized_patches(x, h, w, geo, (1.0 / (n - 1) as f32, var_floor), &mut xn);
    normalized_patches(y, h, w, geo, (1.0, var_floor), &mut yn);
    let mut bt = vec![0.0f32; n * cols];
    let mut acc = vec![0.0f32; w * cols];
    let hw = h * w;
    for row in 0..h {
        // Band block for this row: bt[k][dy*W + x'] = yn[row + dy - half][x'][k].
        bt.fill(0.0);
        for dy in 0..d {
            let r = row as isize + dy as isize - half as isize;
            if r < 0 || r as usize >= h {
                continue;
            }
            for xp in 0..w {
                let patch = &yn[(r as usize * w + xp) * n..(r as usize * w + xp + 1) * n];
                for (k, v) in patch.iter().enumerate() {
                    bt[k * cols + dy * w + xp] = *v;
                }
            }
        }
        row_product_best(
            &xn[row * w * n..(row + 1) * w * n],
            &bt,
            w,
            n,
            cols,
            &mut acc,
        );
        for x in 0..w {
            for (j, v) in acc[x * cols..(x + 1) * cols].iter().enumerate() {
                out[j * hw + row * w + x] = *v;
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
    let [b, c, h, w] = dims;
    let hw = h * w;
    let per_plane = geo.band * w * hw;
    let mut out = vec![0.0f32; b * c * per_plane];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(per_plane)
        .enumerate()
        .for_each(|(i, chunk)| {
            plane(
                &x[i * hw..(i + 1) * hw],
                &y[i * hw..(i + 1) * hw],
                (h, w),
                geo,
                var_floor,
                chunk,
            );
        });
    out
}
