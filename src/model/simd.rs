//! The SIMD building blocks of the host kernels (the correlation in [`super::xcorr::cpu`] and
//! [`super::xcorr::fused`], the trunk convolutions in [`super::trunk_cpu`]): patch
//! normalisation of one chunk of LANES positions, and a register-blocked micro-kernel for
//! `out[i, lanes] (+)= sum_k a[k, i] * b[off_k + lanes]` (a broadcast of `a` times a vector of
//! `b` read at a per-k offset, so one kernel serves matrix products and convolutions).
//!
//! Each exists in three copies chosen at run time: AVX-512 (up to 13 rows of one zmm
//! accumulator), AVX2 + FMA (up to 6 rows of two ymm accumulators) and portable Rust. The
//! copies perform the same operations in the same order for the normalisation (bit-identical
//! results); the micro-kernels differ only by fused vs separate multiply-add rounding. Unit
//! tests beside each user check every copy the CPU can run against the f64 definition.

/// Positions x per chunk: one AVX-512 vector (two AVX2 vectors) of f32.
pub(crate) const LANES: usize = 16;

/// Which copy of the kernels runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: up to 13 rows x one `__m512` accumulator.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 + FMA: up to 6 rows x two `__m256` accumulators.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Portable Rust (whatever the compiler vectorises).
    Portable,
}

impl Isa {
    /// The fastest copy this CPU supports.
    pub fn best() -> Self {
        Self::available()
            .into_iter()
            .next()
            .unwrap_or(Self::Portable)
    }

    /// Every copy this CPU can run, fastest first.
    pub fn available() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Self::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                v.push(Self::Avx2);
            }
        }
        v.push(Self::Portable);
        v
    }
}

/// Runs `f(isa)` inside a function compiled with `isa`'s target features, so that `f` and the
/// `#[inline(always)]` code it calls are vectorised for them and the micro-kernels inline.
#[inline(always)]
pub(crate) fn run_with<R>(isa: Isa, f: impl FnOnce(Isa) -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512<R>(f: impl FnOnce(Isa) -> R) -> R {
            f(Isa::Avx512)
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce(Isa) -> R) -> R {
            f(Isa::Avx2)
        }
        match isa {
            // SAFETY: `Isa::available` only offers these on CPUs with the features.
            Isa::Avx512 => return unsafe { avx512(f) },
            // SAFETY: as above.
            Isa::Avx2 => return unsafe { avx2(f) },
            Isa::Portable => {}
        }
    }
    f(Isa::Portable)
}

/// What normalising one chunk of patches needs besides the data.
#[derive(Clone, Copy)]
pub(crate) struct Norm {
    /// Patch side P.
    pub p: usize,
    /// Row stride of the zero-bordered plane.
    pub pw: usize,
    /// Factor applied to every normalised value (1/(N-1) for X, 1 for Y).
    pub scale: f32,
    /// Added to the variance under the square root.
    pub var_floor: f32,
    /// Added to the standard deviation.
    pub eps: f32,
}

/// [`normalize_chunk_portable`] in the copy for `isa`.
#[inline(always)]
pub(crate) fn normalize_chunk(
    isa: Isa,
    src: &[f32],
    nm: &Norm,
    dst: &mut [f32],
    sd: &mut [f32; LANES],
) {
    match isa {
        // SAFETY: `Isa::available` only offers the x86 copies on CPUs with their features;
        // the copies check the lengths of `src` and `dst`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::normalize_chunk_avx512(src, nm, dst, sd) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::normalize_chunk_avx2(src, nm, dst, sd) },
        Isa::Portable => normalize_chunk_portable(src, nm, dst, sd),
    }
}

/// One chunk of LANES positions: `src` is the zero-bordered plane from the chunk's top-left
/// corner (row stride `nm.pw`), `dst` its `[N, LANES]` normalised patches, `sd` their
/// `sqrt(var + var_floor)` (sigma without its `eps`).
fn normalize_chunk_portable(src: &[f32], nm: &Norm, dst: &mut [f32], sd: &mut [f32; LANES]) {
    let (p, pw) = (nm.p, nm.pw);
    let n = p * p;
    let at = |k: usize| &src[(k / p) * pw + k % p..][..LANES];
    let mut mean = [0.0f32; LANES];
    for k in 0..n {
        for (m, v) in mean.iter_mut().zip(at(k)) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= n as f32;
    }
    let mut inv = [0.0f32; LANES];
    for k in 0..n {
        for ((q, v), m) in inv.iter_mut().zip(at(k)).zip(&mean) {
            *q += (v - m) * (v - m);
        }
    }
    for (q, sd) in inv.iter_mut().zip(sd.iter_mut()) {
        *sd = (*q / (n - 1) as f32 + nm.var_floor).sqrt();
        *q = nm.scale / (*sd + nm.eps);
    }
    for (k, o) in dst.chunks_exact_mut(LANES).enumerate() {
        for (((o, v), m), q) in o.iter_mut().zip(at(k)).zip(&mean).zip(&inv) {
            *o = (v - m) * q;
        }
    }
}

/// Where each reduction step's vector starts in a [`Block`]'s right operand, kept with their
/// maximum so that the bounds check costs O(1) per block call rather than O(n) (the calls sit
/// in per-row loops).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Offsets {
    at: Vec<usize>,
    max: usize,
}

impl Offsets {
    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.at
    }

    pub(crate) fn len(&self) -> usize {
        self.at.len()
    }
}

impl FromIterator<usize> for Offsets {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let at: Vec<usize> = iter.into_iter().collect();
        let max = at.iter().copied().max().unwrap_or(0);
        Self { at, max }
    }
}

/// One block of the product `out[i, l] (+)= sum_k a[k*a_stride + i] * b[b_offsets[k] + l]`
/// for rows `i < rows`, LANES lanes `l` and `k < b_offsets.len()`. Row `i` of the result (its
/// first `lanes` values) goes to `out[i * stride..]`.
pub(crate) struct Block<'a> {
    /// Left operand, broadcast: value k of row i at `a[k * a_stride + i]`.
    pub a: &'a [f32],
    pub a_stride: usize,
    pub rows: usize,
    /// Right operand, one vector per k: `b[b_offsets[k]..][..LANES]`.
    pub b: &'a [f32],
    /// Where each k's vector starts in `b` (its length is the reduction's).
    pub b_offsets: &'a Offsets,
    /// Lanes of each result row to store (LANES when `accumulate`).
    pub lanes: usize,
    /// Row stride of `out`.
    pub stride: usize,
    /// Add to `out` instead of overwriting it.
    pub accumulate: bool,
    /// Use `max(b, 0)` for `b` (a ReLU fused into the load).
    pub relu_b: bool,
}

impl Block<'_> {
    /// Checks every index the kernels touch (they use unchecked pointer arithmetic).
    fn check(&self, out: &[f32]) {
        let n = self.b_offsets.len();
        let last_k = n.saturating_sub(1);
        assert!(self.rows == 0 || n == 0 || last_k * self.a_stride + self.rows <= self.a.len());
        assert!(n == 0 || self.b_offsets.max + LANES <= self.b.len());
        assert!(self.lanes <= LANES && (!self.accumulate || self.lanes == LANES));
        assert!(self.rows == 0 || (self.rows - 1) * self.stride + self.lanes <= out.len());
    }

    /// Splits the rows into near-equal parts of at most `max` rows: `(first row, count)`.
    fn parts(&self, max: usize) -> impl Iterator<Item = (usize, usize)> {
        let parts = self.rows.div_ceil(max).max(1);
        let (base, extra) = (self.rows / parts, self.rows % parts);
        (0..parts).scan(0, move |start, p| {
            let count = base + usize::from(p < extra);
            let first = *start;
            *start += count;
            Some((first, count))
        })
    }
}

/// Portable micro-kernel: up to 4 rows at a time.
fn block_portable(b: &Block, out: &mut [f32]) {
    const R: usize = 4;
    for (i0, r) in b.parts(R) {
        let mut acc = [[0.0f32; LANES]; R];
        if b.accumulate {
            for (i, row) in acc.iter_mut().enumerate().take(r) {
                row.copy_from_slice(&out[(i0 + i) * b.stride..][..LANES]);
            }
        }
        for (k, off) in b.b_offsets.as_slice().iter().enumerate() {
            let mut bv = [0.0f32; LANES];
            bv.copy_from_slice(&b.b[*off..][..LANES]);
            if b.relu_b {
                for v in &mut bv {
                    *v = v.max(0.0);
                }
            }
            for (i, row) in acc.iter_mut().enumerate().take(r) {
                let av = b.a[k * b.a_stride + i0 + i];
                for (o, v) in row.iter_mut().zip(&bv) {
                    *o += av * v;
                }
            }
        }
        for (i, row) in acc.iter().enumerate().take(r) {
            let o = (i0 + i) * b.stride;
            out[o..o + b.lanes].copy_from_slice(&row[..b.lanes]);
        }
    }
}

/// The micro-kernel in the copy for `isa`.
#[inline(always)]
pub(crate) fn block(isa: Isa, b: &Block, out: &mut [f32]) {
    b.check(out);
    match isa {
        // SAFETY: `Isa::available` only offers the x86 copies on CPUs with their features;
        // `check` has verified every index the copies touch.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::block_avx512(b, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::block_avx2(b, out) },
        Isa::Portable => block_portable(b, out),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Block, LANES, Norm};

    /// [`super::normalize_chunk_portable`] in AVX-512 (same operations in the same order).
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `src` holds `(P-1)*pw + P-1 + LANES` values and `dst`
    /// `P*P*LANES`.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn normalize_chunk_avx512(
        src: &[f32],
        nm: &Norm,
        dst: &mut [f32],
        sd: &mut [f32; LANES],
    ) {
        let (p, pw) = (nm.p, nm.pw);
        let n = p * p;
        assert!(src.len() >= (p - 1) * pw + p - 1 + LANES && dst.len() >= n * LANES);
        unsafe {
            let at = |py: usize, px: usize| _mm512_loadu_ps(src.as_ptr().add(py * pw + px));
            let mut sum = _mm512_setzero_ps();
            for py in 0..p {
                for px in 0..p {
                    sum = _mm512_add_ps(sum, at(py, px));
                }
            }
            let mean = _mm512_div_ps(sum, _mm512_set1_ps(n as f32));
            let mut ss = _mm512_setzero_ps();
            for py in 0..p {
                for px in 0..p {
                    let d = _mm512_sub_ps(at(py, px), mean);
                    ss = _mm512_add_ps(ss, _mm512_mul_ps(d, d));
                }
            }
            let var = _mm512_div_ps(ss, _mm512_set1_ps((n - 1) as f32));
            let var = _mm512_add_ps(var, _mm512_set1_ps(nm.var_floor));
            let root = _mm512_sqrt_ps(var);
            _mm512_storeu_ps(sd.as_mut_ptr(), root);
            let sigma = _mm512_add_ps(root, _mm512_set1_ps(nm.eps));
            let inv = _mm512_div_ps(_mm512_set1_ps(nm.scale), sigma);
            let o = dst.as_mut_ptr();
            for py in 0..p {
                for px in 0..p {
                    let v = _mm512_mul_ps(_mm512_sub_ps(at(py, px), mean), inv);
                    _mm512_storeu_ps(o.add((py * p + px) * LANES), v);
                }
            }
        }
    }

    /// [`super::normalize_chunk_portable`] in AVX2, one half of the LANES at a time.
    ///
    /// # Safety
    /// The CPU must support AVX2; lengths as for [`normalize_chunk_avx512`].
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn normalize_chunk_avx2(
        src: &[f32],
        nm: &Norm,
        dst: &mut [f32],
        sd: &mut [f32; LANES],
    ) {
        let (p, pw) = (nm.p, nm.pw);
        let n = p * p;
        assert!(src.len() >= (p - 1) * pw + p - 1 + LANES && dst.len() >= n * LANES);
        for half in [0, 8] {
            unsafe {
                let at =
                    |py: usize, px: usize| _mm256_loadu_ps(src.as_ptr().add(py * pw + px + half));
                let mut sum = _mm256_setzero_ps();
                for py in 0..p {
                    for px in 0..p {
                        sum = _mm256_add_ps(sum, at(py, px));
                    }
                }
                let mean = _mm256_div_ps(sum, _mm256_set1_ps(n as f32));
                let mut ss = _mm256_setzero_ps();
                for py in 0..p {
                    for px in 0..p {
                        let d = _mm256_sub_ps(at(py, px), mean);
                        ss = _mm256_add_ps(ss, _mm256_mul_ps(d, d));
                    }
                }
                let var = _mm256_div_ps(ss, _mm256_set1_ps((n - 1) as f32));
                let var = _mm256_add_ps(var, _mm256_set1_ps(nm.var_floor));
                let root = _mm256_sqrt_ps(var);
                _mm256_storeu_ps(sd.as_mut_ptr().add(half), root);
                let sigma = _mm256_add_ps(root, _mm256_set1_ps(nm.eps));
                let inv = _mm256_div_ps(_mm256_set1_ps(nm.scale), sigma);
                let o = dst.as_mut_ptr().add(half);
                for py in 0..p {
                    for px in 0..p {
                        let v = _mm256_mul_ps(_mm256_sub_ps(at(py, px), mean), inv);
                        _mm256_storeu_ps(o.add((py * p + px) * LANES), v);
                    }
                }
            }
        }
    }

    /// AVX-512 micro-kernel: `R` rows from `i0`, each one zmm accumulator over the 16 lanes.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_avx512<const R: usize>(b: &Block, i0: usize, out: &mut [f32]) {
        unsafe {
            let o = out.as_mut_ptr();
            let mut acc = [_mm512_setzero_ps(); R];
            if b.accumulate {
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_loadu_ps(o.add((i0 + i) * b.stride));
                }
            }
            let zero = _mm512_setzero_ps();
            // A running pointer into `a`: no multiplication in the loop (whose overflow check
            // in test builds would cost a third of the kernel's time).
            let mut a = b.a.as_ptr().add(i0);
            for off in b.b_offsets.as_slice() {
                let mut bv = _mm512_loadu_ps(b.b.as_ptr().add(*off));
                if b.relu_b {
                    bv = _mm512_max_ps(bv, zero);
                }
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(i)), bv, *acc);
                }
                a = a.wrapping_add(b.a_stride); // past the end after the last k
            }
            let mask: __mmask16 = ((1u32 << b.lanes) - 1) as __mmask16;
            for (i, acc) in acc.iter().enumerate() {
                let dst = o.add((i0 + i) * b.stride);
                if b.lanes == LANES {
                    _mm512_storeu_ps(dst, *acc);
                } else {
                    _mm512_mask_storeu_ps(dst, mask, *acc);
                }
            }
        }
    }

    /// AVX2 + FMA micro-kernel: `R` rows from `i0`, each two ymm accumulators over the 16 lanes.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows_avx2<const R: usize>(b: &Block, i0: usize, out: &mut [f32]) {
        unsafe {
            let o = out.as_mut_ptr();
            let mut lo = [_mm256_setzero_ps(); R];
            let mut hi = [_mm256_setzero_ps(); R];
            if b.accumulate {
                for i in 0..R {
                    let p = o.add((i0 + i) * b.stride);
                    lo[i] = _mm256_loadu_ps(p);
                    hi[i] = _mm256_loadu_ps(p.add(8));
                }
            }
            let zero = _mm256_setzero_ps();
            let mut a = b.a.as_ptr().add(i0); // as in `rows_avx512`
            for off in b.b_offsets.as_slice() {
                let p = b.b.as_ptr().add(*off);
                let (mut bl, mut bh) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
                if b.relu_b {
                    bl = _mm256_max_ps(bl, zero);
                    bh = _mm256_max_ps(bh, zero);
                }
                for i in 0..R {
                    let av = _mm256_set1_ps(*a.add(i));
                    lo[i] = _mm256_fmadd_ps(av, bl, lo[i]);
                    hi[i] = _mm256_fmadd_ps(av, bh, hi[i]);
                }
                a = a.wrapping_add(b.a_stride);
            }
            let mut tmp = [0.0f32; LANES];
            for i in 0..R {
                let dst = o.add((i0 + i) * b.stride);
                if b.lanes == LANES {
                    _mm256_storeu_ps(dst, lo[i]);
                    _mm256_storeu_ps(dst.add(8), hi[i]);
                } else {
                    _mm256_storeu_ps(tmp.as_mut_ptr(), lo[i]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[i]);
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, b.lanes);
                }
            }
        }
    }

    /// 12 independent zmm multiply-add chains, `iters` steps each.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_burst_avx512(seed: f32, iters: usize) -> (f64, f32) {
        let (m, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(seed); 12];
        for _ in 0..iters {
            for a in &mut acc {
                *a = _mm512_fmadd_ps(*a, m, c);
            }
        }
        let sum = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, a| _mm512_add_ps(s, *a));
        ((iters * 12 * 16 * 2) as f64, _mm512_reduce_add_ps(sum))
    }

    /// 12 independent ymm multiply-add chains, `iters` steps each.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_burst_avx2(seed: f32, iters: usize) -> (f64, f32) {
        let (m, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(seed); 12];
        for _ in 0..iters {
            for a in &mut acc {
                *a = _mm256_fmadd_ps(*a, m, c);
            }
        }
        let mut lanes = [0.0f32; 8];
        let sum = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, a| _mm256_add_ps(s, *a));
        // SAFETY: `lanes` holds 8 values.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        ((iters * 12 * 8 * 2) as f64, lanes.iter().sum())
    }

    /// Calls `$f::<R>(b, i0, out)` for a run-time `R` in 1..=13.
    macro_rules! with_rows {
        ($f:ident, $r:expr, $b:expr, $i0:expr, $out:expr) => {
            match $r {
                1 => $f::<1>($b, $i0, $out),
                2 => $f::<2>($b, $i0, $out),
                3 => $f::<3>($b, $i0, $out),
                4 => $f::<4>($b, $i0, $out),
                5 => $f::<5>($b, $i0, $out),
                6 => $f::<6>($b, $i0, $out),
                7 => $f::<7>($b, $i0, $out),
                8 => $f::<8>($b, $i0, $out),
                9 => $f::<9>($b, $i0, $out),
                10 => $f::<10>($b, $i0, $out),
                11 => $f::<11>($b, $i0, $out),
                12 => $f::<12>($b, $i0, $out),
                _ => $f::<13>($b, $i0, $out),
            }
        };
    }

    /// The whole block with AVX-512, in near-equal parts of at most 13 rows.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, and `b.check(out)` must hold.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn block_avx512(b: &Block, out: &mut [f32]) {
        for (i0, r) in b.parts(13) {
            unsafe { with_rows!(rows_avx512, r, b, i0, out) }
        }
    }

    /// The whole block with AVX2 + FMA, in near-equal parts of at most 6 rows.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA, and `b.check(out)` must hold.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn block_avx2(b: &Block, out: &mut [f32]) {
        for (i0, r) in b.parts(6) {
            unsafe { with_rows!(rows_avx2, r, b, i0, out) }
        }
    }
}

/// The machine's f32 multiply-add ceiling in GFLOP/s: every rayon thread runs independent
/// fused multiply-adds on registers (12 accumulators, the widest vectors `isa` has) for about
/// `millis`, and the FLOPs of all threads are summed (multiply-add = 2). The ceiling any
/// kernel here can approach; GEMM libraries reach 90-95% of it.
pub fn fma_peak_gflops(isa: Isa, millis: u64) -> f64 {
    let flops: Vec<f64> = rayon::broadcast(|_| {
        let start = std::time::Instant::now();
        let mut done = 0.0f64;
        let mut seed = 1.0f32;
        while start.elapsed().as_millis() < u128::from(millis) {
            let (flop, sink) = run_with(isa, |isa| fma_burst(isa, seed));
            seed = std::hint::black_box(sink).min(2.0);
            done += flop;
        }
        done / start.elapsed().as_secs_f64()
    });
    flops.iter().sum::<f64>() / 1e9
}

/// One burst of independent multiply-adds: (FLOPs done, a value that depends on all of them).
#[inline(always)]
fn fma_burst(isa: Isa, seed: f32) -> (f64, f32) {
    const ITERS: usize = 100_000;
    match isa {
        // SAFETY: `Isa::available` only offers the x86 copies on CPUs with their features.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::fma_burst_avx512(seed, ITERS) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::fma_burst_avx2(seed, ITERS) },
        Isa::Portable => {
            let mut acc = [seed; 12];
            for _ in 0..ITERS {
                for a in &mut acc {
                    *a = *a * 0.999_999 + 1e-7;
                }
            }
            ((ITERS * 12 * 2) as f64, acc.iter().sum())
        }
    }
}

#[cfg(test)]
mod checks {
    /// `.ci/run` runs the kernels' unit tests a second time from a build with debug assertions
    /// (`REID_EXPECT_DEBUG_ASSERTIONS=1`): this proves the flag reached that build.
    #[test]
    #[allow(clippy::assertions_on_constants)] // constant per build: which build is the question
    fn debug_assertions_are_on_when_expected() {
        if std::env::var_os("REID_EXPECT_DEBUG_ASSERTIONS").is_some() {
            assert!(cfg!(debug_assertions), "this build has no debug assertions");
        }
    }
}
