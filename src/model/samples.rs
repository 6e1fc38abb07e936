//! Deterministic pseudo-random values in [-1, 1] (xorshift), for the host kernels' unit tests
//! and the criterion benches: the same `(len, seed)` gives the same values everywhere; and the
//! largest difference of two results, which those tests compare.

/// `len` values in [-1, 1] from `seed`.
#[doc(hidden)]
pub fn pseudo_random(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// [`pseudo_random`] with a run of `flat` equal values (0.5) every `period`, so that
/// zero-variance patches occur (the correlation's epsilon path).
#[doc(hidden)]
pub fn pseudo_random_with_flat_runs(
    len: usize,
    seed: u64,
    (period, flat): (usize, usize),
) -> Vec<f32> {
    let mut v = pseudo_random(len, seed);
    for (i, x) in v.iter_mut().enumerate() {
        if i % period < flat {
            *x = 0.5;
        }
    }
    v
}

/// The largest absolute difference between two equally long results (0 for empty ones).
#[doc(hidden)]
pub fn worst_abs_diff(got: &[f32], want: &[f32]) -> f32 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f32::max)
}
