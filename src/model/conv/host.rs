//! Host kernels of the stride-1, unpadded ("valid") convolution and its gradients, on the
//! SIMD micro-kernel of [`crate::model::simd`], parallel over images:
//! - forward: a direct convolution — for each output row and chunk of 16 output columns the
//!   accumulators of up to 13 output channels take a broadcast weight times 16 input values
//!   read at the offset of each (input channel, ky, kx); no im2col;
//! - input gradient: the same direct convolution of the output gradient, zero-bordered by K-1,
//!   with the kernel flipped and its two channel axes swapped;
//! - weight gradient: per image `dW[co, j] += sum_p dOut[co, p] * X_j[p]` over the output
//!   positions p, with `X_j` the input shifted by j = (ci, ky, kx) (a per-image im2col in
//!   cache; for a 1x1 kernel on AVX-512 the input planes are read in place by the wide kernel
//!   of [`crate::model::simd_wide`]), summed over images in a fixed order so training stays
//!   bit-reproducible;
//! - bias gradient: the output gradient summed per channel.
//!
//! Checked against an f64 definition for every instruction-set copy (tests below) and against
//! burn's convolution and its autodiff through the custom op (`tests/xcorr_op.rs`).

use rayon::prelude::*;

use crate::model::simd::{Block, Isa, LANES, Offsets, block, run_with};
#[cfg(target_arch = "x86_64")]
use crate::model::simd_wide::grad_block_avx512;
use crate::model::simd_wide::{self, GradBlock};

/// Sizes of one valid convolution: `[B, Cin, H, W]` * `[Cout, Cin, K, K]` -> `[B, Cout, Ho, Wo]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    pub batch: usize,
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub h: usize,
    pub w: usize,
}

impl ConvDims {
    pub fn ho(&self) -> usize {
        self.h + 1 - self.k
    }
    pub fn wo(&self) -> usize {
        self.w + 1 - self.k
    }
    /// Whether the sizes make a non-empty convolution.
    pub fn valid(&self) -> bool {
        self.k >= 1 && self.h >= self.k && self.w >= self.k && self.cin > 0 && self.cout > 0
    }
}

/// A direct convolution of one `[Cin, H, W]` image, zero-bordered by `pad` on every side,
/// with weights `wt` given as `[Cin*K*K, Cout]` (j-major: the micro-kernel broadcasts
/// `wt[j*Cout + co]`) -> `out` `[Cout, Ho', Wo']` (`Ho' = H + 2 pad - K + 1`), plus `bias`.
pub(crate) struct DirectConv<'a> {
    pub wt: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
}

/// Scratch of [`DirectConv::image`]: the zero-bordered input and the kernel's offsets.
#[derive(Default)]
pub(crate) struct DirectScratch {
    pad: Vec<f32>,
    offsets: Offsets,
    /// `(Cin, Hp, Ws)` the buffers were laid out for.
    layout: (usize, usize, usize),
}

impl DirectConv<'_> {
    #[inline(always)]
    pub(crate) fn image(
        &self,
        isa: Isa,
        x: &[f32],
        (h, w, pad): (usize, usize, usize),
        s: &mut DirectScratch,
        out: &mut [f32],
    ) {
        let k = self.k;
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let (ho, wo) = (hp + 1 - k, wp + 1 - k);
        let chunks = wo.div_ceil(LANES);
        let ws = chunks * LANES + k - 1; // every lane of every chunk reads inside the row
        if s.layout != (self.cin, hp, ws) {
            s.layout = (self.cin, hp, ws);
            s.pad = vec![0.0; self.cin * hp * ws];
            s.offsets = (0..self.cin)
                .flat_map(|ci| {
                    (0..k).flat_map(move |ky| (0..k).map(move |kx| (ci * hp + ky) * ws + kx))
                })
                .collect();
        }
        // Interior rewritten per image; the border and the columns beyond stay zero.
        for ci in 0..self.cin {
            for y in 0..h {
                let dst = &mut s.pad[(ci * hp + y + pad) * ws + pad..][..w];
                dst.copy_from_slice(&x[(ci * h + y) * w..][..w]);
            }
        }
        let plane = ho * wo;
        for y in 0..ho {
            for c in 0..chunks {
                let b = Block {
                    a: self.wt,
                    a_stride: self.cout,
                    rows: self.cout,
                    b: &s.pad[y * ws + c * LANES..],
                    b_offsets: &s.offsets,
                    lanes: LANES.min(wo - c * LANES),
                    stride: plane,
                    accumulate: false,
                    relu_b: false,
                };
                block(isa, &b, &mut out[y * wo + c * LANES..]);
            }
        }
        if let Some(bias) = self.bias {
            for (o, b) in out.chunks_exact_mut(plane).zip(bias) {
                for v in o {
                    *v += b;
                }
            }
        }
    }
}

/// `weight` `[Cout, Cin, K, K]` -> `[Cin*K*K, Cout]`.
pub(crate) fn transpose_weights(weight: &[f32], cout: usize) -> Vec<f32> {
    let n = weight.len() / cout.max(1);
    let mut wt = vec![0.0f32; weight.len()];
    for (co, row) in weight.chunks_exact(n).enumerate() {
        for (j, v) in row.iter().enumerate() {
            wt[j * cout + co] = *v;
        }
    }
    wt
}

/// The forward pass: x `[B, Cin, H, W]`, weight `[Cout, Cin, K, K]`, bias `[Cout]` ->
/// `[B, Cout, Ho, Wo]`.
pub fn conv_forward(isa: Isa, x: &[f32], weight: &[f32], bias: &[f32], d: ConvDims) -> Vec<f32> {
    let (ho, wo) = (d.ho(), d.wo());
    let per_out = d.cout * ho * wo;
    let mut out = vec![0.0f32; d.batch * per_out];
    if out.is_empty() {
        return out;
    }
    let wt = transpose_weights(weight, d.cout);
    let conv = DirectConv {
        wt: &wt,
        bias: Some(bias),
        cin: d.cin,
        cout: d.cout,
        k: d.k,
    };
    let per_in = d.cin * d.h * d.w;
    out.par_chunks_mut(per_out)
        .enumerate()
        .for_each_init(DirectScratch::default, |s, (i, out)| {
            let x = &x[i * per_in..(i + 1) * per_in];
            run_with(
                isa,
                #[inline(always)]
                |isa| conv.image(isa, x, (d.h, d.w, 0), s, out),
            );
        });
    out
}

/// Scratch of the weight gradient of one image.
#[derive(Default)]
struct WeightScratch {
    /// `[POSITIONS, Jp]`: row r holds the J = Cin*K*K input values output position q0 + r of
    /// the current chunk sees (zero beyond J).
    cols: Vec<f32>,
    /// `[P, Cout]`: the output gradient, position-major.
    grad_t: Vec<f32>,
    /// Row offsets `r * Jp` of a whole chunk and of the last, shorter one (built once).
    chunk_offsets: Offsets,
    tail_offsets: Offsets,
}

/// The im2col rows of output positions `positions` (row r = position q0 + r, J = Cin*K*K
/// values, row stride `jp`) of one image `[Cin, H, W]`, for a kernel side known at compile
/// time: each kernel row is a fixed-size copy the compiler turns into a few moves (with a
/// run-time length, it merged every case into a call to memcpy per 5 values).
fn im2col<const K: usize>(
    x: &[f32],
    d: ConvDims,
    positions: std::ops::Range<usize>,
    cols: &mut [f32],
    jp: usize,
) {
    let wo = d.wo();
    for (r, q) in positions.enumerate() {
        let (y, xx) = (q / wo, q % wo);
        let row = &mut cols[r * jp..][..d.cin * K * K];
        for (ci, dst) in row.chunks_exact_mut(K * K).enumerate() {
            for (ky, dst) in dst.chunks_exact_mut(K).enumerate() {
                let src = &x[(ci * d.h + y + ky) * d.w + xx..][..K];
                if let (Some(dst), Some(src)) = (dst.first_chunk_mut::<K>(), src.first_chunk()) {
                    *dst = *src;
                }
            }
        }
    }
}

/// [`im2col`] for any kernel side.
fn im2col_any(
    x: &[f32],
    d: ConvDims,
    positions: std::ops::Range<usize>,
    cols: &mut [f32],
    jp: usize,
) {
    let (k, wo) = (d.k, d.wo());
    for (r, q) in positions.enumerate() {
        let (y, xx) = (q / wo, q % wo);
        let row = &mut cols[r * jp..][..d.cin * k * k];
        for (i, dst) in row.chunks_exact_mut(k).enumerate() {
            let (ci, ky) = (i / k, i % k);
            dst.copy_from_slice(&x[(ci * d.h + y + ky) * d.w + xx..][..k]);
        }
    }
}

/// `dst[(q - q0) * stride + r] = src[r * cols + q]` for the columns q in `range` of a
/// `[rows, cols]` matrix `src`: the im2col of a 1x1 kernel, where one output row gathers a
/// value from each of up to 1,500 input planes. Tiles of 16 rows keep the reads in 16
/// sequential streams and each written run in one cache line (an element-by-element gather
/// spent a fifth of a training step here).
fn transpose_tiled(
    src: &[f32],
    rows: usize,
    cols: usize,
    range: std::ops::Range<usize>,
    dst: &mut [f32],
    stride: usize,
) {
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for q in range.clone() {
            let at = (q - range.start) * stride;
            for (o, r) in dst[at + r0..at + r1].iter_mut().zip(r0..r1) {
                *o = src[r * cols + q];
            }
        }
    }
}

/// Output positions per im2col chunk of the weight gradient: `[256, Jp]` floats, 512 KB for
/// the second trunk convolution (Jp = 512), stay in L2 between the copy and the products.
const POSITIONS: usize = 256;

/// The weight gradient of one image `x` `[Cin, H, W]` from its output gradient `g`
/// `[Cout, Ho, Wo]` into `dw` `[Cout, Jp]`, J = Cin*K*K: `dW[co, j] = sum_p g[co, p] X_j[p]`
/// over chunks of output positions; each chunk's im2col stays in L2 and the chunks accumulate
/// in position order (the same sums as one pass).
fn weight_grad_im2col(
    isa: Isa,
    x: &[f32],
    g: &[f32],
    d: ConvDims,
    ws: &mut WeightScratch,
    dw: &mut [f32],
) {
    let (k, p) = (d.k, d.ho() * d.wo());
    let jp = (d.cin * k * k).next_multiple_of(LANES);
    if ws.cols.is_empty() {
        // First image of this scratch (rayon's `for_each_init` makes one per split of the
        // batch): the sizes are fixed for the whole call.
        ws.grad_t = vec![0.0; p * d.cout];
        ws.cols = vec![0.0; POSITIONS.min(p) * jp];
        ws.chunk_offsets = (0..POSITIONS.min(p)).map(|r| r * jp).collect();
        ws.tail_offsets = (0..p % POSITIONS).map(|r| r * jp).collect();
    }
    for (co, plane) in g.chunks_exact(p).enumerate() {
        for (q, v) in plane.iter().enumerate() {
            ws.grad_t[q * d.cout + co] = *v;
        }
    }
    for q0 in (0..p).step_by(POSITIONS) {
        let n = POSITIONS.min(p - q0);
        let offsets = if n == POSITIONS.min(p) {
            &ws.chunk_offsets
        } else {
            &ws.tail_offsets
        };
        let (positions, cols) = (q0..q0 + n, &mut ws.cols[..]);
        match k {
            1 => transpose_tiled(x, d.cin, p, positions, cols, jp),
            3 => im2col::<3>(x, d, positions, cols, jp),
            5 => im2col::<5>(x, d, positions, cols, jp),
            _ => im2col_any(x, d, positions, cols, jp),
        }
        run_with(
            isa,
            #[inline(always)]
            |isa| {
                for chunk in 0..jp / LANES {
                    let b = Block {
                        a: &ws.grad_t[q0 * d.cout..],
                        a_stride: d.cout,
                        rows: d.cout,
                        b: &ws.cols[chunk * LANES..],
                        b_offsets: offsets,
                        lanes: LANES,
                        stride: jp,
                        accumulate: q0 > 0,
                        relu_b: false,
                    };
                    block(isa, &b, &mut dw[chunk * LANES..]);
                }
            },
        );
    }
}

/// The padded output-channel count with which a 1x1 weight gradient runs on the wide AVX-512
/// kernel ([`weight_grad_1x1_wide`]), where it applies.
fn wide_1x1(isa: Isa, d: ConvDims) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && d.k == 1 {
        let np = d.cout.next_multiple_of(16);
        return simd_wide::avx512_covers(np).then_some(np);
    }
    let _ = (isa, d);
    None
}

/// [`weight_grad_im2col`] for a 1x1 kernel on the wide kernel: `dW^T [Cin, Cout] = x [Cin, P]
/// x g^T [P, Cout]`, the input planes read in place (12 at a time) instead of transposed into
/// position-major rows; only the small `g^T` (`[P, np]`, Cout padded to `np`) is copied.
/// Requires [`wide_1x1`] to have given `np`.
fn weight_grad_1x1_wide(
    x: &[f32],
    g: &[f32],
    d: ConvDims,
    np: usize,
    ws: &mut WeightScratch,
    dw: &mut [f32],
) {
    let p = d.h * d.w;
    let jp = d.cin.next_multiple_of(LANES);
    if ws.grad_t.len() != p * np {
        ws.grad_t = vec![0.0; p * np]; // lanes co >= Cout stay zero
        ws.cols = vec![0.0; d.cin * np];
    }
    for (co, plane) in g.chunks_exact(p).enumerate() {
        for (q, v) in plane.iter().enumerate() {
            ws.grad_t[q * np + co] = *v;
        }
    }
    let product = GradBlock {
        a: x,
        a_row: p,
        a_term: 1,
        b: &ws.grad_t,
        np,
        segments: &[(0, 0)],
        terms: p,
        rows: d.cin,
        scale: 1.0,
    };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `wide_1x1` gave np, so the CPU has AVX-512F and the kernel covers np.
    unsafe {
        grad_block_avx512(&product, &mut ws.cols)
    };
    for (ci, row) in ws.cols.chunks_exact(np).enumerate() {
        for (co, v) in row[..d.cout].iter().enumerate() {
            dw[co * jp + ci] = *v;
        }
    }
}

/// Gradients of the convolution: x `[B, Cin, H, W]`, weight `[Cout, Cin, K, K]`, `grad` =
/// dL/d(out) `[B, Cout, Ho, Wo]` -> (dL/dx `[B, Cin, H, W]` when `need_dx`, dL/dweight
/// `[Cout, Cin, K, K]`, dL/dbias `[Cout]`).
pub fn conv_backward(
    isa: Isa,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    d: ConvDims,
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (k, ho, wo) = (d.k, d.ho(), d.wo());
    let (p, j) = (ho * wo, d.cin * k * k);
    let jp = j.next_multiple_of(LANES);
    let (per_in, per_out) = (d.cin * d.h * d.w, d.cout * p);
    // Input gradient: the output gradient bordered by K-1, convolved with the flipped kernel
    // whose channel axes are swapped: wf[co, ky, kx][ci] = weight[co, ci, K-1-ky, K-1-kx].
    let mut wf = vec![0.0f32; weight.len()];
    for co in 0..d.cout {
        for ci in 0..d.cin {
            for ky in 0..k {
                for kx in 0..k {
                    let src = ((co * d.cin + ci) * k + k - 1 - ky) * k + k - 1 - kx;
                    wf[((co * k + ky) * k + kx) * d.cin + ci] = weight[src];
                }
            }
        }
    }
    let flipped = DirectConv {
        wt: &wf,
        bias: None,
        cin: d.cout,
        cout: d.cin,
        k,
    };
    let mut dx = if need_dx {
        vec![0.0f32; d.batch * per_in]
    } else {
        Vec::new()
    };
    // Per-image weight-gradient partials `[B, Cout, Jp]`, summed below in image order.
    let mut dw_parts = vec![0.0f32; d.batch * d.cout * jp];
    let work = dw_parts.par_chunks_mut(d.cout * jp).enumerate();
    let body = |(ws, ds): &mut (WeightScratch, DirectScratch),
                i: usize,
                dw: &mut [f32],
                dx: Option<&mut [f32]>| {
        let x = &x[i * per_in..(i + 1) * per_in];
        let g = &grad[i * per_out..(i + 1) * per_out];
        if let Some(np) = wide_1x1(isa, d) {
            weight_grad_1x1_wide(x, g, d, np, ws, dw);
        } else {
            weight_grad_im2col(isa, x, g, d, ws, dw);
        }
        if let Some(dx) = dx {
            run_with(
                isa,
                #[inline(always)]
                |isa| flipped.image(isa, g, (ho, wo, k - 1), ds, dx),
            );
        }
    };
    if need_dx {
        work.zip(dx.par_chunks_mut(per_in))
            .for_each_init(Default::default, |s, ((i, dw), dx)| {
                body(s, i, dw, Some(dx))
            });
    } else {
        work.for_each_init(Default::default, |s, (i, dw)| body(s, i, dw, None));
    }
    // Sum the partials in image order (deterministic), dropping the padding columns.
    let mut dweight = vec![0.0f32; d.cout * j];
    for part in dw_parts.chunks_exact(d.cout * jp) {
        for (dst, src) in dweight.chunks_exact_mut(j).zip(part.chunks_exact(jp)) {
            for (a, b) in dst.iter_mut().zip(src) {
                *a += b;
            }
        }
    }
    let mut dbias = vec![0.0f32; d.cout];
    for img in grad.chunks_exact(per_out) {
        for (db, plane) in dbias.iter_mut().zip(img.chunks_exact(p)) {
            *db += plane.iter().sum::<f32>();
        }
    }
    (need_dx.then_some(dx), dweight, dbias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::pseudo_random as values;

    fn close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().map(|v| v.abs()).fold(1.0, f64::max);
        let worst = got
            .iter()
            .zip(want)
            .map(|(g, w)| (f64::from(*g) - w).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-5 * scale,
            "{what}: worst {worst} (scale {scale})"
        );
    }

    #[test]
    fn every_copy_matches_the_f64_convolution_and_its_gradients() {
        for d in [
            ConvDims {
                batch: 2,
                cin: 3,
                cout: 5,
                k: 5,
                h: 12,
                w: 21,
            },
            ConvDims {
                batch: 1,
                cin: 4,
                cout: 13,
                k: 3,
                h: 7,
                w: 40,
            },
            ConvDims {
                batch: 3,
                cin: 2,
                cout: 2,
                k: 1,
                h: 4,
                w: 17,
            },
            // 1x1 with more input planes than one transpose tile (the head's 1500 -> 25)
            // and more positions than one im2col chunk.
            ConvDims {
                batch: 2,
                cin: 37,
                cout: 3,
                k: 1,
                h: 17,
                w: 16,
            },
            // 1x1 with the head's 25 output channels (the wide kernel's 32-value rows).
            ConvDims {
                batch: 2,
                cin: 14,
                cout: 25,
                k: 1,
                h: 5,
                w: 7,
            },
            // An even kernel: the im2col for any side.
            ConvDims {
                batch: 2,
                cin: 3,
                cout: 2,
                k: 2,
                h: 6,
                w: 9,
            },
            // 3x3 over two im2col chunks (306 positions).
            ConvDims {
                batch: 1,
                cin: 2,
                cout: 3,
                k: 3,
                h: 20,
                w: 19,
            },
        ] {
            let (ho, wo) = (d.ho(), d.wo());
            let x = values(d.batch * d.cin * d.h * d.w, 1);
            let wgt = values(d.cout * d.cin * d.k * d.k, 2);
            let bias = values(d.cout, 3);
            let g = values(d.batch * d.cout * ho * wo, 4);
            let xi = |b: usize, c: usize, y: usize, xx: usize| {
                f64::from(x[((b * d.cin + c) * d.h + y) * d.w + xx])
            };
            let wi = |o: usize, c: usize, ky: usize, kx: usize| {
                f64::from(wgt[((o * d.cin + c) * d.k + ky) * d.k + kx])
            };
            let gi = |b: usize, o: usize, y: usize, xx: usize| {
                f64::from(g[((b * d.cout + o) * ho + y) * wo + xx])
            };
            let mut out = vec![0.0; d.batch * d.cout * ho * wo];
            let mut dx = vec![0.0; x.len()];
            let mut dw = vec![0.0; wgt.len()];
            let mut db = vec![0.0; d.cout];
            for b in 0..d.batch {
                for o in 0..d.cout {
                    for y in 0..ho {
                        for xx in 0..wo {
                            let mut s = f64::from(bias[o]);
                            db[o] += gi(b, o, y, xx);
                            for c in 0..d.cin {
                                for ky in 0..d.k {
                                    for kx in 0..d.k {
                                        s += wi(o, c, ky, kx) * xi(b, c, y + ky, xx + kx);
                                        dx[((b * d.cin + c) * d.h + y + ky) * d.w + xx + kx] +=
                                            wi(o, c, ky, kx) * gi(b, o, y, xx);
                                        dw[((o * d.cin + c) * d.k + ky) * d.k + kx] +=
                                            xi(b, c, y + ky, xx + kx) * gi(b, o, y, xx);
                                    }
                                }
                            }
                            out[((b * d.cout + o) * ho + y) * wo + xx] = s;
                        }
                    }
                }
            }
            for isa in Isa::available() {
                let what = format!("{isa:?} {d:?}");
                close(
                    &conv_forward(isa, &x, &wgt, &bias, d),
                    &out,
                    &format!("{what} forward"),
                );
                let (gx, gw, gb) = conv_backward(isa, &x, &wgt, &g, d, true);
                close(&gx.unwrap_or_default(), &dx, &format!("{what} dx"));
                close(&gw, &dw, &format!("{what} dw"));
                close(&gb, &db, &format!("{what} db"));
                let (none, gw2, _) = conv_backward(isa, &x, &wgt, &g, d, false);
                assert!(none.is_none());
                assert_eq!(gw, gw2, "{what}: dw must not depend on need_dx");
            }
        }
    }
}
