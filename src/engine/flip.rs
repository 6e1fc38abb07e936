//! Test-time flip averaging ([`FlipMode::Both`]): p(same) averaged over the pair as given and
//! the pair with BOTH crops mirrored left-right, `(p(a, b) + p(flip a, flip b)) / 2`.
//!
//! Only both-mirrored is used, not the four combinations: the correlation layer compares each
//! patch of one image with a small neighbourhood at the same place in the other, so mirroring
//! one image alone compares a person's left side with the other's right side (a bag on one
//! shoulder moves to the other). The mirrored pair is a second, equally valid view of the same
//! two people, and costs one more trunk pass per image and one more pair pass.
//!
//! Mirrored features are not kept in the feature cache (they are recomputed per job).
//!
//! Measured with `models/cuhk03-cross-camera` (then the default, `models/cuhk03`) on CUHK03
//! (`target/debug/reid-explorer eval --backend cpu --no-cache --dataset ../shared/data/cuhk03
//! --model models/cuhk03-cross-camera --flip off|both ...`):
//!
//! | protocol                           | flip | rank-1 | mAP   | mINP  | EER   |
//! |------------------------------------|------|--------|-------|-------|-------|
//! | standard, all 200 queries          | off  | 18.6%  | 20.9% | 11.0% | 16.5% |
//! | standard, all 200 queries          | both | 25.1%  | 22.7% | 11.6% | 15.3% |
//! | standard, `--max-queries 100`      | off  | 24.0%  | 23.8% | 11.6% | 15.1% |
//! | standard, `--max-queries 100`      | both | 32.0%  | 25.4% | 12.5% | 14.0% |
//! | authors', `--draws 2`              | off  | 15.9%  | 27.4% | 27.4% | 29.8% |
//! | authors', `--draws 2`              | both | 16.6%  | 28.6% | 28.6% | 29.0% |
//!
//! It helps everywhere, so `eval` and `rank` use it by default (`--flip off` for the plain
//! score). [`JobOptions::new`] keeps [`FlipMode::Off`]: library callers (the GUI's worker, the
//! shipped models' checks) ask for it explicitly.

use std::path::PathBuf;

use super::jobs::{Encoded, FEATURE_BATCH, JobError, JobOptions, PAIR_BATCH};
use super::score::{FeatureBank, features, score_matrix, score_pairs};
use crate::data::crops::{CropCache, to_input};
use crate::data::{INPUT_H, INPUT_W};
pub use crate::eval::FlipMode;

/// Mirror a CHW input left-right in place: every row of every channel reversed.
/// `input`: `[C, H, W]` flattened, `w` = W (a length that is not a multiple of `w` leaves the
/// tail as it is).
pub fn mirror_chw(input: &mut [f32], w: usize) {
    if w == 0 {
        return;
    }
    for row in input.chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Trunk features of the mirrored preprocessed inputs (`[3, 160, 60]` CHW each).
pub fn mirrored_features(
    opts: &JobOptions<'_>,
    inputs: &[Vec<f32>],
    stage: &'static str,
) -> Result<FeatureBank, JobError> {
    let mirrored: Vec<Vec<f32>> = inputs
        .iter()
        .map(|x| {
            let mut m = x.clone();
            mirror_chw(&mut m, INPUT_W);
            m
        })
        .collect();
    let refs: Vec<&[f32]> = mirrored.iter().map(Vec::as_slice).collect();
    let progress = opts.progress;
    Ok(features(
        opts.net,
        &refs,
        FEATURE_BATCH,
        opts.device,
        &|d, t| progress(stage, d, t),
        opts.cancel,
    )?)
}

/// Trunk features of the mirrored images of `paths` (decoded again, never cached). Every path
/// must decode: `paths` are the files an unmirrored pass already kept.
pub fn encode_mirrored(opts: &JobOptions<'_>, paths: &[PathBuf]) -> Result<Encoded, JobError> {
    let (cache, skipped) = CropCache::load(paths, &|_, _| {});
    if let Some(s) = skipped.into_iter().next() {
        return Err(JobError::File {
            path: s.path,
            reason: format!("{} (while mirroring for flip averaging)", s.reason),
        });
    }
    let inputs: Vec<Vec<f32>> = (0..paths.len())
        .filter_map(|i| cache.get(i))
        .map(|crop| to_input(crop, &opts.config.normalization))
        .collect();
    debug_assert!(inputs.iter().all(|x| x.len() == 3 * INPUT_H * INPUT_W));
    let bank = mirrored_features(opts, &inputs, "mirrored features")?;
    Ok(Encoded {
        bank,
        kept: (0..paths.len()).collect(),
        skipped: Vec::new(),
    })
}

/// Average `scores` (`[queries x gallery]`, row-major, of the unmirrored banks) with the
/// scores of the mirrored banks, in place.
pub fn average_matrix(
    opts: &JobOptions<'_>,
    mirrored_queries: &FeatureBank,
    mirrored_gallery: &FeatureBank,
    scores: &mut [f32],
) -> Result<(), JobError> {
    let progress = opts.progress;
    let flipped = score_matrix(
        opts.net,
        mirrored_queries,
        mirrored_gallery,
        PAIR_BATCH,
        opts.device,
        &|d, t| progress("scoring mirrored queries", d, t),
        opts.cancel,
    )?;
    average_into(scores, &flipped)
}

/// Average `scores` (one per pair of `pairs`, images of one bank) with the scores of the same
/// pairs on the mirrored bank, in place.
pub fn average_pairs(
    opts: &JobOptions<'_>,
    mirrored: &FeatureBank,
    pairs: &[(usize, usize)],
    scores: &mut [f32],
) -> Result<(), JobError> {
    let progress = opts.progress;
    let flipped = score_pairs(
        opts.net,
        mirrored,
        pairs,
        PAIR_BATCH,
        opts.device,
        &|d, t| progress("scoring mirrored pairs", d, t),
        opts.cancel,
    )?;
    average_into(scores, &flipped)
}

/// The files `kept` names, in that order.
fn kept_paths(paths: &[PathBuf], kept: &[usize]) -> Vec<PathBuf> {
    kept.iter().filter_map(|&i| paths.get(i).cloned()).collect()
}

/// With [`FlipMode::Both`] in `opts`, average `scores` (`[queries x gallery]` of the bank
/// images `q_kept` of `q_paths` and `g_kept` of `g_paths`) with the mirrored pairs' scores;
/// nothing with [`FlipMode::Off`].
pub fn flip_matrix(
    opts: &JobOptions<'_>,
    (q_paths, q_kept): (&[PathBuf], &[usize]),
    (g_paths, g_kept): (&[PathBuf], &[usize]),
    scores: &mut [f32],
) -> Result<(), JobError> {
    if opts.flip == FlipMode::Off {
        return Ok(());
    }
    let qm = encode_mirrored(opts, &kept_paths(q_paths, q_kept))?;
    let gm = encode_mirrored(opts, &kept_paths(g_paths, g_kept))?;
    average_matrix(opts, &qm.bank, &gm.bank, scores)
}

/// With [`FlipMode::Both`] in `opts`, average `scores` (one per pair of `pairs`, indices into
/// the bank images `kept` of `paths`) with the mirrored pairs' scores; nothing with
/// [`FlipMode::Off`].
pub fn flip_pairs(
    opts: &JobOptions<'_>,
    (paths, kept): (&[PathBuf], &[usize]),
    pairs: &[(usize, usize)],
    scores: &mut [f32],
) -> Result<(), JobError> {
    if opts.flip == FlipMode::Off {
        return Ok(());
    }
    let m = encode_mirrored(opts, &kept_paths(paths, kept))?;
    average_pairs(opts, &m.bank, pairs, scores)
}

/// `scores[i] = (scores[i] + flipped[i]) / 2`.
fn average_into(scores: &mut [f32], flipped: &[f32]) -> Result<(), JobError> {
    if flipped.len() != scores.len() {
        return Err(JobError::Input(format!(
            "flip averaging: {} mirrored scores for {} pairs",
            flipped.len(),
            scores.len()
        )));
    }
    for (s, f) in scores.iter_mut().zip(flipped) {
        *s = 0.5 * (*s + f);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_reverses_rows() {
        // [C=1, H=2, W=3]
        let mut x = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        mirror_chw(&mut x, 3);
        assert_eq!(x, vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
        mirror_chw(&mut x, 3);
        assert_eq!(x, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
