//! A register-blocked micro-kernel for products whose result rows are 16, 32, 48 or 64 values
//! wide (one to four AVX-512 vectors), with its portable definition beside it:
//! `out[i, 0..np] (+)= scale * sum_t a[i, t] * b[t, 0..np]`, `a` and `b` read at strides.
//!
//! It serves two products that [`super::simd`]'s 16-lane kernel fits badly:
//! - the correlation backward's patch gradients ([`super::xcorr::cpu_backward`]): for one row
//!   of X, `dXn[row] [W, NP] = G_row [W, D*W] x Yn[band rows] [D*W, NP]`, and for one row r of
//!   Y, `dYn[r] [W, NP] = sum_dy G_dy,r [W, W] x Xn[r + D/2 - dy] [W, NP]`, with NP = 32 (or 16)
//!   the padded patch length;
//! - the 1x1 convolution's weight gradient ([`super::conv::host`]): per image
//!   `dW^T [Cin, Cout] = X [Cin, P] x dOut^T [P, Cout]`, Cout padded to 32, read straight from
//!   the input planes with no transposed copy of them.
//!
//! - the band-lane products of the fused head ([`super::xcorr::band_lanes`]), whose result
//!   rows are the 64 (60 used) correlations of one position.
//!
//! The AVX-512 copy keeps up to 12 result rows x np values in at most 24 zmm accumulators
//! across every term: per term one to four vector loads of `b` and one broadcast of `a` per
//! row.

use super::simd::Isa;

/// One block of the product: for result rows `i < rows` and the `np` values `k` of each,
/// `out[i * np + k] (+)= scale * sum_s sum_{t < terms} a[s.0 + t * a_term + i * a_row] *
/// b[s.1 + t * b_term + k]` over the segments `s` (pairs of start offsets into `a` and `b`).
pub(crate) struct GradBlock<'a> {
    /// Broadcast operand.
    pub a: &'a [f32],
    /// Distance in `a` between result rows.
    pub a_row: usize,
    /// Distance in `a` between consecutive terms of a segment.
    pub a_term: usize,
    /// Vector operand: one row of `np` values per term.
    pub b: &'a [f32],
    /// Distance in `b` between consecutive terms' rows (`>= np`).
    pub b_term: usize,
    /// Values per result row.
    pub np: usize,
    /// `(start in a, start in b)` of each run of `terms` terms.
    pub segments: &'a [(usize, usize)],
    pub terms: usize,
    pub rows: usize,
    pub scale: f32,
    /// Add the scaled sums to `out` instead of overwriting it.
    pub accumulate: bool,
}

impl GradBlock<'_> {
    /// Checks every index the kernels touch (the AVX-512 copy uses unchecked pointers).
    fn check(&self, out: &[f32]) {
        assert!(self.rows * self.np <= out.len());
        if self.rows == 0 || self.terms == 0 {
            return;
        }
        for &(sa, sb) in self.segments {
            assert!(
                sa + (self.terms - 1) * self.a_term + (self.rows - 1) * self.a_row < self.a.len()
            );
            assert!(sb + (self.terms - 1) * self.b_term + self.np <= self.b.len());
        }
    }
}

/// The definition, one multiply-add at a time: the reference the fast copy is tested against,
/// and the copy for CPUs without AVX-512 (inline, so that it is vectorised for the caller's
/// instruction set).
#[inline(always)]
pub(crate) fn grad_block_portable(k: &GradBlock, out: &mut [f32]) {
    k.check(out);
    let np = k.np;
    // The row's sums: on the stack for the usual widths.
    let mut stack = [0.0f32; 64];
    let mut heap = Vec::new();
    let acc: &mut [f32] = if np <= stack.len() {
        &mut stack[..np]
    } else {
        heap.resize(np, 0.0);
        &mut heap
    };
    for i in 0..k.rows {
        acc.fill(0.0);
        for &(sa, sb) in k.segments {
            for t in 0..k.terms {
                let av = k.a[sa + t * k.a_term + i * k.a_row];
                let bv = &k.b[sb + t * k.b_term..][..np];
                for (o, v) in acc.iter_mut().zip(bv) {
                    *o += av * v;
                }
            }
        }
        let row = &mut out[i * np..(i + 1) * np];
        if k.accumulate {
            for (o, a) in row.iter_mut().zip(acc.iter()) {
                *o += a * k.scale;
            }
        } else {
            for (o, a) in row.iter_mut().zip(acc.iter()) {
                *o = a * k.scale;
            }
        }
    }
}

/// The block in the fastest copy for `isa`: AVX-512 where it covers `k.np`, else the
/// portable definition (vectorised for the caller's instruction set when inlined into a
/// [`super::simd::run_with`] copy).
#[inline(always)]
pub(crate) fn grad_block(isa: Isa, k: &GradBlock, out: &mut [f32]) {
    match isa {
        // SAFETY: `Isa::available` only offers AVX-512 on CPUs with it; the width is checked.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if avx512_covers(k.np) => unsafe { grad_block_avx512(k, out) },
        _ => grad_block_portable(k, out),
    }
}

/// Whether [`grad_block_avx512`] covers rows of `np` values.
pub(crate) fn avx512_covers(np: usize) -> bool {
    matches!(np, 16 | 32 | 48 | 64)
}

/// Result rows one AVX-512 call keeps in registers for rows of `np` values: 12, or as many as
/// 24 accumulators hold.
#[cfg(target_arch = "x86_64")]
fn avx512_rows(np: usize) -> usize {
    (24 / (np / 16).max(1)).min(12)
}

/// The block with AVX-512, in near-equal parts of at most [`avx512_rows`] rows.
///
/// # Safety
/// The CPU must support AVX-512F, and `avx512_covers(k.np)` must hold.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn grad_block_avx512(k: &GradBlock, out: &mut [f32]) {
    k.check(out);
    let parts = k.rows.div_ceil(avx512_rows(k.np)).max(1);
    let (base, extra) = (k.rows / parts, k.rows % parts);
    let mut i0 = 0;
    for p in 0..parts {
        let r = base + usize::from(p < extra);
        // SAFETY: `check` covers rows i0..i0 + r of every segment; the caller guarantees the
        // CPU features and that the kernel covers np.
        unsafe { x86::part(k, i0, r, out) };
        i0 += r;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::GradBlock;

    /// `R` result rows from `i0`, each `V` zmm accumulators (np = 16 V), over every term;
    /// `CONTIG` when `k.a_row == 1`.
    ///
    /// # Safety
    /// AVX-512F, and `k.check` must hold with `k.np == 16 * V`.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const R: usize, const V: usize, const CONTIG: bool>(
        k: &GradBlock,
        i0: usize,
        out: &mut [f32],
    ) {
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            // Row offsets in `a`, computed once: the term loop then has no multiplication
            // (whose overflow check in dev builds would keep the row loop from unrolling and
            // the accumulators in registers).
            // Consecutive rows (`CONTIG`) make them constants: the broadcasts then address `pa`
            // at fixed displacements, which keeps R offsets out of the general registers.
            let rows: [usize; R] = std::array::from_fn(|i| if CONTIG { i } else { i * k.a_row });
            for &(sa, sb) in k.segments {
                let mut pa = k.a.as_ptr().add(sa + i0 * k.a_row);
                let mut pb = k.b.as_ptr().add(sb);
                for _ in 0..k.terms {
                    let mut bv = [_mm512_setzero_ps(); V];
                    for (v, b) in bv.iter_mut().enumerate() {
                        *b = _mm512_loadu_ps(pb.add(16 * v));
                    }
                    for (acc, row) in acc.iter_mut().zip(&rows) {
                        let av = _mm512_set1_ps(*pa.add(*row));
                        for (a, b) in acc.iter_mut().zip(&bv) {
                            *a = _mm512_fmadd_ps(av, *b, *a);
                        }
                    }
                    pa = pa.wrapping_add(k.a_term); // past the end after the last term
                    pb = pb.wrapping_add(k.b_term);
                }
            }
            let scale = _mm512_set1_ps(k.scale);
            let o = out.as_mut_ptr().add(i0 * 16 * V);
            for (i, acc) in acc.iter().enumerate() {
                for (v, a) in acc.iter().enumerate() {
                    let dst = o.add((i * V + v) * 16);
                    let val = if k.accumulate {
                        _mm512_fmadd_ps(*a, scale, _mm512_loadu_ps(dst))
                    } else {
                        _mm512_mul_ps(*a, scale)
                    };
                    _mm512_storeu_ps(dst, val);
                }
            }
        }
    }

    /// Calls `rows::<R, V>(k, i0, out)` for a run-time `R` in 1..=12 (1..=8 for V = 3, 1..=6
    /// for V = 4) and `V` = np / 16.
    macro_rules! with_rows {
        ($v:literal, $c:expr, $r:expr, $k:expr, $i0:expr, $out:expr) => {
            match $r {
                1 => rows::<1, $v, $c>($k, $i0, $out),
                2 => rows::<2, $v, $c>($k, $i0, $out),
                3 => rows::<3, $v, $c>($k, $i0, $out),
                4 => rows::<4, $v, $c>($k, $i0, $out),
                5 => rows::<5, $v, $c>($k, $i0, $out),
                _ => with_rows!(@more $v, $c, $r, $k, $i0, $out),
            }
        };
        (@more 4, $c:expr, $r:expr, $k:expr, $i0:expr, $out:expr) => {
            rows::<6, 4, $c>($k, $i0, $out)
        };
        (@more 3, $c:expr, $r:expr, $k:expr, $i0:expr, $out:expr) => {
            match $r {
                6 => rows::<6, 3, $c>($k, $i0, $out),
                7 => rows::<7, 3, $c>($k, $i0, $out),
                _ => rows::<8, 3, $c>($k, $i0, $out),
            }
        };
        (@more $v:literal, $c:expr, $r:expr, $k:expr, $i0:expr, $out:expr) => {
            match $r {
                6 => rows::<6, $v, $c>($k, $i0, $out),
                7 => rows::<7, $v, $c>($k, $i0, $out),
                8 => rows::<8, $v, $c>($k, $i0, $out),
                9 => rows::<9, $v, $c>($k, $i0, $out),
                10 => rows::<10, $v, $c>($k, $i0, $out),
                11 => rows::<11, $v, $c>($k, $i0, $out),
                _ => rows::<12, $v, $c>($k, $i0, $out),
            }
        };
    }

    /// Rows `i0..i0 + r` (r <= `avx512_rows(np)`) of the block.
    ///
    /// # Safety
    /// AVX-512F, `k.check` must hold and `avx512_covers(k.np)`.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn part(k: &GradBlock, i0: usize, r: usize, out: &mut [f32]) {
        unsafe {
            match (k.np, k.a_row == 1) {
                (64, true) => with_rows!(4, true, r, k, i0, out),
                (64, false) => with_rows!(4, false, r, k, i0, out),
                (48, true) => with_rows!(3, true, r, k, i0, out),
                (48, false) => with_rows!(3, false, r, k, i0, out),
                (32, true) => with_rows!(2, true, r, k, i0, out),
                (32, false) => with_rows!(2, false, r, k, i0, out),
                (_, true) => with_rows!(1, true, r, k, i0, out),
                (_, false) => with_rows!(1, false, r, k, i0, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::samples::{pseudo_random, worst_abs_diff};

    /// The AVX-512 copy against the definition: both strides of `a` the patch gradients use,
    /// several segments, and row counts that split into parts.
    #[test]
    fn avx512_copy_matches_the_definition() {
        #[cfg(target_arch = "x86_64")]
        {
            if !std::arch::is_x86_feature_detected!("avx512f") {
                return;
            }
            for (np, rows, (a_row, a_term), b_term, accumulate) in [
                (32, 12, (1, 50), 32, false),
                (32, 12, (50, 1), 32, true),
                (16, 7, (3, 40), 16, false),
                (32, 25, (1, 31), 40, false),
                (48, 17, (1, 50), 48, true),
                (64, 13, (70, 1), 70, false),
                (64, 6, (1, 64), 64, true),
            ] {
                let terms = 9;
                let segments = [(0, 0), (40, 9 * b_term), (80, 20 * b_term)];
                let a = pseudo_random(2000, 3);
                let b = pseudo_random(40 * b_term, 4);
                let k = GradBlock {
                    a: &a,
                    a_row,
                    a_term,
                    b: &b,
                    b_term,
                    np,
                    segments: &segments,
                    terms,
                    rows,
                    scale: 0.25,
                    accumulate,
                };
                let start = pseudo_random(rows * np, 5);
                let mut want = start.clone();
                grad_block_portable(&k, &mut want);
                let mut got = start.clone();
                // SAFETY: AVX-512F checked above; the kernel covers np.
                unsafe { grad_block_avx512(&k, &mut got) };
                let worst = worst_abs_diff(&got, &want);
                assert!(worst < 1e-5, "np {np} rows {rows}: {worst}");
                // The definition by hand for one value of each row.
                for i in 0..rows {
                    let kk = (i * 7) % np;
                    let mut sum = 0.0f64;
                    for &(sa, sb) in &segments {
                        for t in 0..terms {
                            sum += f64::from(a[sa + t * a_term + i * a_row])
                                * f64::from(b[sb + t * b_term + kk]);
                        }
                    }
                    let base = if accumulate {
                        f64::from(start[i * np + kk])
                    } else {
                        0.0
                    };
                    let expect = base + 0.25 * sum;
                    assert!((f64::from(got[i * np + kk]) - expect).abs() < 1e-4);
                }
            }
        }
    }
}
