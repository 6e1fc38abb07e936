//! Host kernels of the stride-1, unpadded ("valid") convolution and its gradients, on the
//! SIMD micro-kernel of [`crate::model::simd`], parallel over images:
//! - forward: a direct convolution — for each output row and chunk of 16 output columns the
//!   accumulators of up to 13 output channels take a broadcast weight times 16 input values
//!   read at the offset of each (input channel, ky, kx); no im2col;
//! - input gradient: the same direct convolution of the output gradient, zero-bordered by K-1,
//!   with the kernel flipped and its two channel axes swapped;
//! - weight gradient: per image `dW[co, j] += sum_p dOut[co, p] * X_j[p]` over the output
//!   positions p, with `X_j` the input shifted by j = (ci, ky, kx) (on AVX-512, dot products
//!   of contiguous runs over positions (`weight_direct.rs`), or for a 1x1 kernel the
//!   input planes read in place by the wide kernel of [`crate::model::simd_wide`]; elsewhere a
//!   per-image im2col in cache), summed over images in a fixed order so training stays
//!   bit-reproducible;
//! - bias gradient: the output gradient summed per channel.
//!
//! Checked against an f64 definition for every instruction-set copy (tests below) and against
//! burn's convolution and its autodiff through the custom op (`tests/xcorr_op.rs`).

use rayon::prelude::*;

use super::weight_direct::{self, DirectWeightScratch, weight_grad_direct};
use super::weight_grad::{WeightScratch, weight_grad_1x1_wide, weight_grad_im2col, wide_1x1};
use crate::model::simd::{Block, Isa, LANES, Offsets, block, run_with};

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
    let direct = weight_direct::applies(isa, d);
    let body = |(ws, wd, ds): &mut (WeightScratch, DirectWeightScratch, DirectScratch),
                i: usize,
                dw: &mut [f32],
                dx: Option<&mut [f32]>| {
        let x = &x[i * per_in..(i + 1) * per_in];
        let g = &grad[i * per_out..(i + 1) * per_out];
        if let Some(np) = wide_1x1(isa, d) {
            weight_grad_1x1_wide(x, g, d, np, ws, dw);
        } else if direct {
            weight_grad_direct(x, g, d, wd, dw);
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
