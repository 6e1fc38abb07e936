//! The weight gradient of the host convolution ([`super::host`]), one image at a time:
//! `dW[co, j] = sum_p dOut[co, p] X_j[p]` with `X_j` the input shifted by j = (ci, ky, kx),
//! either over an im2col of a chunk of output positions kept in L2 (the micro-kernel of
//! [`crate::model::simd`]), or, for a 1x1 kernel on AVX-512, straight from the input planes on
//! the wide kernel of [`crate::model::simd_wide`]. Checked with the rest of the convolution
//! against the f64 definition (`host`'s tests).

use super::host::ConvDims;
use crate::model::simd::{Block, Isa, LANES, Offsets, block, run_with};
#[cfg(target_arch = "x86_64")]
use crate::model::simd_wide::grad_block_avx512;
use crate::model::simd_wide::{self, GradBlock};

/// Scratch of the weight gradient of one image.
#[derive(Default)]
pub(super) struct WeightScratch {
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
pub(super) fn weight_grad_im2col(
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
pub(super) fn wide_1x1(isa: Isa, d: ConvDims) -> Option<usize> {
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
pub(super) fn weight_grad_1x1_wide(
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
        b_term: np,
        np,
        segments: &[(0, 0)],
        terms: p,
        rows: d.cin,
        scale: 1.0,
        accumulate: false,
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
