//! CubeCL kernels of the correlation layer (compiled for wgpu and the other CubeCL runtimes).
//!
//! All tensors are contiguous NCHW; a "plane" is one (b, c) map `[H, W]`, and `total` is the
//! number of positions `B*C*H*W`. Patch side P and band D are compile-time constants, so the
//! patch loops unroll. Coordinates are kept unsigned by shifting them by the patch radius.
//!
//! - `patch_stats_kernel`: per position, the patch mean, `sigma = sqrt(var + floor) + eps`
//!   and `s = sqrt(var + floor)`: `stats [3, B, C, H, W]` (computed once per image);
//! - `xcorr_forward_kernel`: one unit per output value, reading both patches straight from
//!   X and Y (no unfolded copy in memory);
//! - `patch_grad_kernel`: per position of X (or Y), the gradient w.r.t. its normalised patch
//!   taken through the normalisation: `dP [B, C, H, W, N]`;
//! - `fold_kernel`: per map position, the sum of the patch gradients that cover it.

// Burn's tensor type is not used here: `Tensor` is CubeCL's kernel argument type.
use cubecl::prelude::*;

/// The value of a plane at shifted coordinates (`sy - r`, `sx - r`), 0 outside the map.
#[cube]
fn padded<F: Float>(
    t: &Tensor<F>,
    plane_start: usize,
    sy: usize,
    sx: usize,
    r: usize,
    h: usize,
    w: usize,
) -> F {
    let mut v = F::new(0.0);
    if sy >= r && sx >= r && sy < h + r && sx < w + r {
        v = t[plane_start + (sy - r) * w + (sx - r)];
    }
    v
}

/// Patch statistics of every position: input `[B, C, H, W]` -> stats `[3, B, C, H, W]`
/// (mean, sigma, s).
#[cube(launch)]
pub fn patch_stats_kernel<F: Float>(
    input: &Tensor<F>,
    stats: &mut Tensor<F>,
    eps: f32,
    var_floor: f32,
    #[comptime] patch: usize,
    #[define(F)] _dtype: ElemType,
) {
    let total = input.len();
    let pos = ABSOLUTE_POS;
    if pos >= total {
        terminate!();
    }
    let h = input.shape(2);
    let w = input.shape(3);
    let x = pos % w;
    let y = (pos / w) % h;
    let plane_start = pos - y * w - x;
    let r = comptime![patch / 2];
    let n = comptime![patch * patch];

    let mut sum = F::new(0.0);
    #[unroll]
    for ky in 0..patch {
        #[unroll]
        for kx in 0..patch {
            sum += padded::<F>(input, plane_start, y + ky, x + kx, r, h, w);
        }
    }
    let mean = sum / F::cast_from(n as u32);
    let mut sq = F::new(0.0);
    #[unroll]
    for ky in 0..patch {
        #[unroll]
        for kx in 0..patch {
            let c = padded::<F>(input, plane_start, y + ky, x + kx, r, h, w) - mean;
            sq += c * c;
        }
    }
    let var = sq / F::cast_from((n - 1) as u32);
    let s = F::sqrt(var + F::cast_from(var_floor));
    stats[pos] = mean;
    stats[total + pos] = s + F::cast_from(eps);
    stats[2 * total + pos] = s;
}

/// The layer: x, y `[B, C, H, W]` with their stats `[3, B, C, H, W]` ->
/// out `[B, C*D*W, H, W]`, one unit per output value.
#[cube(launch)]
pub fn xcorr_forward_kernel<F: Float>(
    x: &Tensor<F>,
    y: &Tensor<F>,
    x_stats: &Tensor<F>,
    y_stats: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] patch: usize,
    #[comptime] band: usize,
    #[define(F)] _dtype: ElemType,
) {
    let idx = ABSOLUTE_POS;
    if idx >= out.len() {
        terminate!();
    }
    let total = x.len();
    let h = x.shape(2);
    let w = x.shape(3);
    let hw = h * w;
    let xi = idx % w;
    let yi = (idx / w) % h;
    let j = (idx / hw) % (band * w); // dy * W + x'
    let plane = idx / (hw * band * w); // b * C + c
    let dy = j / w;
    let xp = j % w;
    let half = comptime![band / 2];
    let r = comptime![patch / 2];
    let n = comptime![patch * patch];
    // Row of Y shifted by `half`; a centre outside the map compares with an all-zero patch.
    let ry = yi + dy;
    let mut value = F::new(0.0);
    if ry >= half && ry < h + half {
        let ry = ry - half;
        let plane_start = plane * hw;
        let px = plane_start + yi * w + xi;
        let py = plane_start + ry * w + xp;
        let mx = x_stats[px];
        let sx = x_stats[total + px];
        let my = y_stats[py];
        let sy = y_stats[total + py];
        let mut acc = F::new(0.0);
        #[unroll]
        for ky in 0..patch {
            #[unroll]
            for kx in 0..patch {
                let a = padded::<F>(x, plane_start, yi + ky, xi + kx, r, h, w) - mx;
                let b = padded::<F>(y, plane_start, ry + ky, xp + kx, r, h, w) - my;
                acc += a * b;
            }
        }
        value = acc / (F::cast_from((n - 1) as u32) * sx * sy);
    }
    out[idx] = value;
}

/// Gradient w.r.t. the patches of one input, through the normalisation: one unit per position
/// of that input ("own"; X when `for_y` is false, Y when true), the other input "other".
/// `grad` = dL/d(out) `[B, C*D*W, H, W]` -> `dp [B, C, H, W, N]`.
///
/// `g_k = sum G * other_n[k] / (N-1)` over the band, then
/// `dp_k = (g_k - mean g) / sigma - (g . own_n) own_n[k] / ((N-1) s)`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn patch_grad_kernel<F: Float>(
    own: &Tensor<F>,
    other: &Tensor<F>,
    own_stats: &Tensor<F>,
    other_stats: &Tensor<F>,
    grad: &Tensor<F>,
    dp: &mut Tensor<F>,
    #[comptime] patch: usize,
    #[comptime] band: usize,
    #[comptime] for_y: bool,
    #[define(F)] _dtype: ElemType,
) {
    let total = own.len();
    let pos = ABSOLUTE_POS;
    if pos >= total {
        terminate!();
    }
    let h = own.shape(2);
    let w = own.shape(3);
    let hw = h * w;
    let xi = pos % w;
    let yi = (pos / w) % h;
    let plane = pos / hw;
    let plane_start = plane * hw;
    let half = comptime![band / 2];
    let r = comptime![patch / 2];
    let n = comptime![patch * patch];
    let inv_n1 = F::new(1.0) / F::cast_from((n - 1) as u32);

    let mut g = Array::<F>::new(n);
    #[unroll]
    for k in 0..n {
        g[k] = F::new(0.0);
    }
    let grad_plane = plane * band * w * hw;
    #[unroll]
    for dy in 0..band {
        // The other input's row, shifted by `half`: X row y pairs with Y row y + dy - half,
        // so Y row r pairs with X row r - dy + half.
        // Computed as `base - sub` only once `base >= sub` is known (no unsigned wrap).
        let base = if for_y { yi + half } else { yi + dy };
        let sub = if for_y { dy } else { half };
        if base >= sub && base < h + sub {
            let ro = base - sub;
            for xo in 0..w {
                let gi = if for_y {
                    grad_plane + (dy * w + xi) * hw + ro * w + xo
                } else {
                    grad_plane + (dy * w + xo) * hw + yi * w + xi
                };
                let gv = grad[gi] * inv_n1;
                let op = plane_start + ro * w + xo;
                let m = other_stats[op];
                let scale = gv / other_stats[total + op];
                #[unroll]
                for ky in 0..patch {
                    #[unroll]
                    for kx in 0..patch {
                        let v = padded::<F>(other, plane_start, ro + ky, xo + kx, r, h, w) - m;
                        g[ky * patch + kx] += scale * v;
                    }
                }
            }
        }
    }

    // Through the normalisation of the own patch.
    let m = own_stats[pos];
    let sigma = own_stats[total + pos];
    let s = own_stats[2 * total + pos];
    let mut gsum = F::new(0.0);
    let mut gn = F::new(0.0);
    #[unroll]
    for ky in 0..patch {
        #[unroll]
        for kx in 0..patch {
            let k = ky * patch + kx;
            let nv = (padded::<F>(own, plane_start, yi + ky, xi + kx, r, h, w) - m) / sigma;
            gsum += g[k];
            gn += g[k] * nv;
        }
    }
    let gbar = gsum / F::cast_from(n as u32);
    let mut coef = F::new(0.0);
    if s > F::new(0.0) {
        coef = gn * inv_n1 / s;
    }
    #[unroll]
    for ky in 0..patch {
        #[unroll]
        for kx in 0..patch {
            let k = ky * patch + kx;
            let nv = (padded::<F>(own, plane_start, yi + ky, xi + kx, r, h, w) - m) / sigma;
            dp[pos * n + k] = (g[k] - gbar) / sigma - coef * nv;
        }
    }
}

/// Patch gradients `dp [B, C, H, W, N]` folded back onto the map: out `[B, C, H, W]`, each
/// position the sum over the patches that cover it (patch centres outside the map drop out).
#[cube(launch)]
pub fn fold_kernel<F: Float>(
    dp: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] patch: usize,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= out.len() {
        terminate!();
    }
    let h = out.shape(2);
    let w = out.shape(3);
    let xi = pos % w;
    let yi = (pos / w) % h;
    let plane_start = pos - yi * w - xi;
    let r = comptime![patch / 2];
    let n = comptime![patch * patch];
    let mut acc = F::new(0.0);
    // The patch centred at (yi + r - ky, xi + r - kx) holds this position at index (ky, kx).
    #[unroll]
    for ky in 0..patch {
        #[unroll]
        for kx in 0..patch {
            let cy = yi + r;
            let cx = xi + r;
            // Nested so that no unsigned difference is formed before it is known not to wrap
            // (the optimiser may assume unsigned arithmetic does not overflow).
            if cy >= ky && cx >= kx {
                let (py, px) = (cy - ky, cx - kx);
                if py < h && px < w {
                    acc += dp[(plane_start + py * w + px) * n + ky * patch + kx];
                }
            }
        }
    }
    out[pos] = acc;
}
