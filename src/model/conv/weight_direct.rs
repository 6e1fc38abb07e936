//! The weight gradient of a K x K convolution (K > 1) on AVX-512 without an im2col:
//! `dW[co, j] = sum_p g[co, p] X_j[p]`, j = (ci, ky, kx), vectorised over output positions.
//!
//! The output gradient's rows are widened to the input's width W (zeros in the K-1 columns
//! beyond Wo), so that output position `p = y * W + x` reads input value `p + off_j` with
//! `off_j = (ci * H + ky) * W + kx`: every tap is a contiguous run of the input and every
//! product a dot product of two contiguous rows of `Ho * W` values (the widened columns add
//! zeros). A block of 5 output channels x 4 taps keeps 20 accumulators of 16 positions across
//! the whole plane; each accumulator is summed across its lanes at the end. Per 16 positions:
//! 9 vector loads, 20 multiply-adds, no copy of the input per tap (the im2col path,
//! [`super::weight_grad`], writes and reads every tap of every position once more).
//!
//! Checked with the rest of the convolution against the f64 definition (`host`'s tests, every
//! instruction-set copy); the sums run in a fixed order, so training stays bit-reproducible.

use super::host::ConvDims;
use crate::model::simd::{Isa, LANES};

/// Output channels per block.
const RB: usize = 5;
/// Kernel taps per block.
const JB: usize = 4;

/// Scratch of [`weight_grad_direct`], laid out once per call and reused across its images:
/// each image rewrites only the data regions, the padding stays zero.
#[derive(Default)]
pub(super) struct DirectWeightScratch {
    /// The output gradient `[Cout', L]`: channel planes with rows widened to W, padded with
    /// zeros to L (a multiple of 16) values and to a multiple of [`RB`] channels.
    g: Vec<f32>,
    /// The image `[Cin, H, W]` followed by zeros, so that every padded read stays in bounds.
    x: Vec<f32>,
    /// `off_j` per tap, padded to a multiple of [`JB`] with 0 (results dropped).
    offsets: Vec<usize>,
    /// The sizes the buffers were laid out for.
    layout: Option<ConvDims>,
}

/// Whether [`weight_grad_direct`] serves this convolution on `isa`.
pub(super) fn applies(isa: Isa, d: ConvDims) -> bool {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 {
        return d.k > 1;
    }
    let _ = (isa, d);
    false
}

/// The weight gradient of one image `x` `[Cin, H, W]` from its output gradient `g`
/// `[Cout, Ho, Wo]` into `dw` `[Cout, Jp]` (J = Cin*K*K, Jp = J padded to 16; the padding
/// columns are left as they are). Requires [`applies`].
pub(super) fn weight_grad_direct(
    x: &[f32],
    g: &[f32],
    d: ConvDims,
    s: &mut DirectWeightScratch,
    dw: &mut [f32],
) {
    let (k, ho, wo) = (d.k, d.ho(), d.wo());
    let (hw, j) = (d.h * d.w, d.cin * k * k);
    let jp = j.next_multiple_of(LANES);
    let len = (ho * d.w).next_multiple_of(LANES);
    let coutp = d.cout.next_multiple_of(RB);
    assert_eq!(x.len(), d.cin * hw, "x must be [Cin, H, W]");
    assert_eq!(g.len(), d.cout * ho * wo, "g must be [Cout, Ho, Wo]");
    assert!(dw.len() >= d.cout * jp, "dw must be [Cout, Jp]");
    if s.layout != Some(d) {
        s.layout = Some(d);
        s.g = vec![0.0; coutp * len];
        // The last tap's run ends at off_max + L <= Cin*H*W + K + 14 (L <= Ho*W + 15).
        s.x = vec![0.0; d.cin * hw + k + LANES];
        s.offsets = (0..d.cin)
            .flat_map(|ci| {
                (0..k).flat_map(move |ky| (0..k).map(move |kx| (ci * d.h + ky) * d.w + kx))
            })
            .collect();
        s.offsets.resize(j.next_multiple_of(JB), 0);
    }
    for (co, plane) in g.chunks_exact(ho * wo).enumerate() {
        for (y, row) in plane.chunks_exact(wo).enumerate() {
            s.g[co * len + y * d.w..][..wo].copy_from_slice(row);
        }
    }
    s.x[..x.len()].copy_from_slice(x);
    for c0 in (0..d.cout).step_by(RB) {
        let rows = &s.g[c0 * len..][..RB * len];
        for (jb, offs) in s.offsets.as_chunks::<JB>().0.iter().enumerate() {
            let sums = block(rows, len, &s.x, offs);
            for (r, row) in sums.iter().enumerate().take(d.cout - c0) {
                for (t, v) in row.iter().enumerate().take(j.saturating_sub(jb * JB)) {
                    dw[(c0 + r) * jp + jb * JB + t] = *v;
                }
            }
        }
    }
}

/// `sums[r][t] = sum_{p < len} rows[r * len + p] * x[offs[t] + p]`: AVX-512 (the only copy
/// [`applies`] admits).
fn block(rows: &[f32], len: usize, x: &[f32], offs: &[usize; JB]) -> [[f32; JB]; RB] {
    assert!(rows.len() >= RB * len && len.is_multiple_of(LANES));
    assert!(offs.iter().all(|o| o + len <= x.len()));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `applies` admits this path only on CPUs with AVX-512F; the reads stay within the
    // bounds asserted above.
    unsafe {
        x86::block_avx512(rows.as_ptr(), len, x.as_ptr(), offs)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("weight_grad_direct runs on AVX-512 only")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{JB, RB};

    /// [`super::block`]: `RB x JB` accumulators of 16 positions; per 16 positions `RB` loads
    /// of the gradient rows, `JB` of the taps, `RB * JB` multiply-adds.
    ///
    /// # Safety
    /// AVX-512F; `rows[r * len + p]` and `x[offs[t] + p]` readable for p < len, len a
    /// multiple of 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block_avx512(
        rows: *const f32,
        len: usize,
        x: *const f32,
        offs: &[usize; JB],
    ) -> [[f32; JB]; RB] {
        let mut acc = [[_mm512_setzero_ps(); JB]; RB];
        let mut p = 0;
        while p < len {
            // SAFETY: p + 16 <= len, within the caller's bounds.
            unsafe {
                let mut g = [_mm512_setzero_ps(); RB];
                for (r, g) in g.iter_mut().enumerate() {
                    *g = _mm512_loadu_ps(rows.add(r * len + p));
                }
                for (t, off) in offs.iter().enumerate() {
                    let xv = _mm512_loadu_ps(x.add(off + p));
                    for r in 0..RB {
                        acc[r][t] = _mm512_fmadd_ps(g[r], xv, acc[r][t]);
                    }
                }
            }
            p += 16;
        }
        let mut sums = [[0.0f32; JB]; RB];
        for (out, acc) in sums.iter_mut().zip(&acc) {
            for (o, a) in out.iter_mut().zip(acc) {
                *o = _mm512_reduce_add_ps(*a);
            }
        }
        sums
    }
}
