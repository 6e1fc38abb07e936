//! The data of a training run: decoded crops of the training split, the identity split into
//! training and validation, the pair samplers, and validation.
//!
//! Indices: `samples` / `crops` are the decoded training images ("real" indices). With the
//! authors' augmentation every real image `i` also exists as copies `1..COPIES` (2 translated,
//! 1 flipped, fixed per image and seed): the samplers then work on "virtual" indices
//! `v = i * COPIES + copy`, and [`TrainData::image`] renders any virtual index.
//!
//! Validation uses every held-out identity: one draw of the authors' protocol (one gallery
//! image per identity, every other image a probe), scored once as a `[probes x identities]`
//! matrix, read two ways: the authors' protocol (each probe ranks the gallery) and, transposed,
//! the standard protocol (each gallery image is a query ranking the probes, same-camera
//! matches removed). The same scores, split into same-identity and different-identity pairs,
//! give the equal-error threshold (`crate::eval::roc`): the calibrated verdict threshold
//! recorded with each validation and written beside the best model (`calibration.json`).

use burn::tensor::Device;

use super::config::{Augmentation, Batching, Positives, ReuseCameras, TrainConfig};
use crate::cancel::CancelToken;
use crate::data::Normalization;
use crate::data::augment::{AugmentConfig, AugmentParams, apply, augment, rng_for};
use crate::data::crops::{CropCache, to_input};
use crate::data::layout::{DatasetError, Sample, Split, scan};
use crate::data::reuse::{ReuseConfig, ReuseSampler};
use crate::data::sampler::{PairSampler, SamplerConfig, SamplerError, split_by_identity};
use crate::data::{INPUT_H, INPUT_W};
use crate::engine::{features, score_matrix};
use crate::eval::{Labels, Protocol, authors_draws, evaluate, evaluate_authors, roc};
use crate::model::XCorrNet;

/// Images per real image under the authors' augmentation (original, 2 translated, 1 flipped).
pub const COPIES: usize = 4;

/// Why the training data could not be prepared. Names the folder.
#[derive(Debug, thiserror::Error)]
pub enum TrainDataError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{dataset}: {reason}")]
    Unusable { dataset: String, reason: String },
    #[error("{dataset}: {error}")]
    Pairs {
        dataset: String,
        /// Shown in the message, deliberately not a `source`.
        error: SamplerError,
    },
    #[error("validation failed: {0}")]
    Validation(String),
}

/// How the steps of a run draw their pairs.
pub enum Sampling {
    /// An epoch is a shuffled pair list, cut into batches.
    Pairs(PairSampler),
    /// Every step draws K identities x M images.
    Reuse(ReuseSampler),
}

/// Validation measures (fractions in [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationMetrics {
    /// Standard protocol (gallery image of each identity as the query, the probes as gallery).
    pub rank1: f64,
    pub rank5: f64,
    pub map: f64,
    /// The authors' protocol, one draw.
    pub authors_rank1: f64,
    pub authors_map: f64,
    /// The authors' protocol on probes by the gallery image's camera / by another camera.
    pub rank1_same_camera: Option<f64>,
    pub rank1_cross_camera: Option<f64>,
    /// The equal-error threshold of the validation pairs (None without both kinds of pair).
    pub calibration: Option<super::checkpoint::ValidationCalibration>,
}

/// Everything the loop reads.
pub struct TrainData {
    /// Training samples (labelled, decodable), index = crop index ("real" index).
    pub samples: Vec<Sample>,
    crops: Vec<Vec<u8>>,
    /// Images per real image: 1, or [`COPIES`] with the authors' augmentation.
    copies: usize,
    seed: u64,
    pub sampling: Sampling,
    /// Validation images (real indices), labelled.
    val_images: Vec<usize>,
    pub normalization: Normalization,
    /// Files that could not be decoded.
    pub skipped: usize,
}

impl TrainData {
    /// Scan the dataset, decode its training split, split identities and build the sampler.
    pub fn load(
        config: &TrainConfig,
        normalization: &Normalization,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self, TrainDataError> {
        let name = config.dataset.display().to_string();
        let unusable = |reason: &str| TrainDataError::Unusable {
            dataset: name.clone(),
            reason: reason.into(),
        };
        let dataset = scan(&config.dataset, None)?;
        let has_train = dataset.samples.iter().any(|s| s.split == Split::Train);
        let wanted = if has_train {
            Split::Train
        } else {
            Split::Unsplit
        };
        let candidates: Vec<Sample> = dataset
            .samples
            .into_iter()
            .filter(|s| s.split == wanted && s.identity.is_some_and(|id| id >= 0))
            .collect();
        if candidates.is_empty() {
            return Err(unusable(
                "no labelled training images (training needs identity labels)",
            ));
        }
        let total = candidates.len();
        let (progress_tx, progress_rx) = std::sync::mpsc::channel::<usize>();
        let cands = &candidates;
        let (cache, skipped) = std::thread::scope(|scope| {
            let handle = scope.spawn(move || {
                let tx = std::sync::Mutex::new(progress_tx);
                CropCache::from_samples(cands, &|done, total| {
                    if (done % 256 == 0 || done == total)
                        && let Ok(tx) = tx.lock()
                    {
                        let _ = tx.send(done);
                    }
                })
            });
            // Forward progress from the decoding threads to the (non-Sync) callback here.
            while let Ok(n) = progress_rx.recv() {
                progress(n, total);
            }
            handle.join()
        })
        .map_err(|_| unusable("decoding images panicked"))?;
        let mut samples = Vec::with_capacity(cache.loaded());
        let mut crops = Vec::with_capacity(cache.loaded());
        for (i, s) in candidates.into_iter().enumerate() {
            if let Some(c) = cache.get(i) {
                samples.push(s);
                crops.push(c.to_vec());
            }
        }
        let labels: Vec<(i64, Option<u32>)> = samples
            .iter()
            .map(|s| (s.identity.unwrap_or(-1), s.camera))
            .collect();
        let split = split_by_identity(&labels, config.validation_fraction, config.seed);
        let copies = if config.augmentation() == Augmentation::Authors {
            COPIES
        } else {
            1
        };
        // Virtual labels and training subset: every copy of an image has its labels.
        let virtual_labels: Vec<(i64, Option<u32>)> = labels
            .iter()
            .flat_map(|&l| std::iter::repeat_n(l, copies))
            .collect();
        let train_virtual: Vec<usize> = split
            .train
            .iter()
            .flat_map(|&i| (0..copies).map(move |c| i * copies + c))
            .collect();
        let cross_camera = config.positives == Positives::CrossCamera;
        let pairs_error = |error| TrainDataError::Pairs {
            dataset: name.clone(),
            error,
        };
        let sampling = match config.batching {
            Batching::Pairs => Sampling::Pairs(
                PairSampler::with_subset(
                    &virtual_labels,
                    &train_virtual,
                    SamplerConfig {
                        negatives_per_positive: config.negatives_per_positive,
                        max_positives_per_identity: config.max_positives_per_identity,
                        cross_camera,
                    },
                    config.seed,
                )
                .map_err(pairs_error)?,
            ),
            Batching::Reuse => Sampling::Reuse(
                ReuseSampler::new(
                    &virtual_labels,
                    &train_virtual,
                    ReuseConfig {
                        identities: config.reuse_identities,
                        images: config.reuse_images,
                        negatives_per_positive: config.negatives_per_positive,
                        cross_camera,
                        camera_balanced: config.reuse_cameras == ReuseCameras::Balanced,
                        negative_pool: config.hard_negative_pool,
                    },
                    config.seed,
                )
                .map_err(pairs_error)?,
            ),
        };
        Ok(Self {
            samples,
            crops,
            copies,
            seed: config.seed,
            sampling,
            val_images: split.val,
            normalization: *normalization,
            skipped: skipped.len(),
        })
    }

    /// Steps of one epoch at `batch_size` pairs per step (pairs batching; reuse batching
    /// ignores it), and the pairs of one epoch.
    pub fn epoch_shape(&self, batch_size: usize) -> (usize, usize) {
        match &self.sampling {
            Sampling::Pairs(s) => {
                let pairs = s.epoch_len();
                (pairs.div_ceil(batch_size.max(1)), pairs)
            }
            Sampling::Reuse(s) => {
                let steps = s.steps_per_epoch();
                // Pairs vary a little per batch (identities with fewer than M images).
                let pairs = (0..steps).map(|i| s.batch(0, i).pairs.len()).sum();
                (steps, pairs)
            }
        }
    }

    /// The HWC crop of virtual index `v` (a real image, or one of its fixed copies), with the
    /// online augmentation drawn for `(step, slot)` when `online` is given.
    pub fn image(&self, v: usize, online: Option<(&AugmentConfig, u64, u64)>) -> Vec<u8> {
        let (real, copy) = (v / self.copies, v % self.copies);
        let crop = &self.crops[real];
        let base = if copy == 0 {
            crop.clone()
        } else {
            apply(crop, INPUT_H, INPUT_W, &copy_params(self.seed, real, copy))
        };
        match online {
            Some((cfg, step, slot)) => augment(&base, cfg, self.seed, step, slot),
            None => base,
        }
    }

    /// Validation on every held-out identity (see the module documentation). `None` when
    /// there is no validation split or no held-out identity has two images.
    pub fn validate(
        &self,
        net: &XCorrNet,
        device: &Device,
    ) -> Result<Option<ValidationMetrics>, TrainDataError> {
        let labels: Vec<Labels> = self
            .val_images
            .iter()
            .map(|&i| {
                Labels::new(
                    self.samples[i].identity.unwrap_or(-1),
                    self.samples[i].camera,
                )
            })
            .collect();
        let Ok(draws) = authors_draws(&labels, 1, self.seed ^ 0x7A1D) else {
            return Ok(None);
        };
        let Some(draw) = draws.first() else {
            return Ok(None);
        };
        let gallery = &draw.gallery;
        let probes: Vec<usize> = draw.probes(&labels).map(|(p, _)| p).collect();
        let input = |idx: &[usize]| -> Vec<Vec<f32>> {
            idx.iter()
                .map(|&k| to_input(&self.crops[self.val_images[k]], &self.normalization))
                .collect()
        };
        let (p_in, g_in) = (input(&probes), input(gallery));
        let p_refs: Vec<&[f32]> = p_in.iter().map(Vec::as_slice).collect();
        let g_refs: Vec<&[f32]> = g_in.iter().map(Vec::as_slice).collect();
        let never = CancelToken::new();
        let err = |e: crate::engine::ScoreError| TrainDataError::Validation(e.to_string());
        let pf = features(net, &p_refs, 32, device, &|_, _| {}, &never).map_err(err)?;
        let gf = features(net, &g_refs, 32, device, &|_, _| {}, &never).map_err(err)?;
        // [probes x identities], probe first in every pair.
        let scores = score_matrix(net, &pf, &gf, 128, device, &|_, _| {}, &never).map_err(err)?;
        if let Some(bad) = scores.iter().find(|v| !v.is_finite()) {
            return Err(TrainDataError::Validation(format!(
                "the network scored a pair {bad}"
            )));
        }
        let (np, ng) = (probes.len(), gallery.len());
        // Validation image -> its row (probe) or column (gallery image) of `scores`.
        let mut row = vec![None; labels.len()];
        for (r, &p) in probes.iter().enumerate() {
            row[p] = Some(r);
        }
        let mut col = vec![None; labels.len()];
        for (c, &g) in gallery.iter().enumerate() {
            col[g] = Some(c);
        }
        let at = |v: &[Option<usize>], i: usize| v.get(i).copied().flatten();
        let authors = evaluate_authors(&labels, &draws, |p, g| match (at(&row, p), at(&col, g)) {
            (Some(r), Some(c)) => scores[r * ng + c],
            _ => f32::NAN,
        })
        .map_err(|e| TrainDataError::Validation(e.to_string()))?;
        // Transposed: each gallery image queries the probes.
        let transposed: Vec<f32> = (0..ng)
            .flat_map(|c| (0..np).map(move |r| (r, c)))
            .map(|(r, c)| scores[r * ng + c])
            .collect();
        let sub = |idx: &[usize]| -> Vec<Labels> { idx.iter().map(|&k| labels[k]).collect() };
        let standard = evaluate(
            &transposed,
            &sub(gallery),
            &sub(&probes),
            &Protocol::Standard,
        )
        .map_err(|e| TrainDataError::Validation(e.to_string()))?;
        // Every scored pair, by whether it is the same identity: the verdict calibration.
        let (mut same, mut different) = (Vec::new(), Vec::new());
        for (r, &p) in probes.iter().enumerate() {
            for (c, &g) in gallery.iter().enumerate() {
                let s = scores[r * ng + c];
                if labels[p].identity == labels[g].identity {
                    same.push(s);
                } else {
                    different.push(s);
                }
            }
        }
        let calibration =
            roc(&same, &different).map(|roc| super::checkpoint::ValidationCalibration {
                threshold: roc.eer.threshold,
                tpr: roc.eer.tpr,
                fpr: roc.eer.fpr,
                positive_pairs: roc.positives,
                negative_pairs: roc.negatives,
            });
        Ok(Some(ValidationMetrics {
            calibration,
            rank1: standard.rank1,
            rank5: standard.rank5,
            map: standard.map,
            authors_rank1: authors.mean.rank1,
            authors_map: authors.mean.map,
            rank1_same_camera: authors.rank1_same_camera,
            rank1_cross_camera: authors.rank1_cross_camera,
        }))
    }
}

/// The fixed transform of copy `copy` (1..COPIES) of real image `real`: copies 1 and 2 are
/// translated by up to 5% of height and width (never both offsets zero), copy 3 is flipped.
pub fn copy_params(seed: u64, real: usize, copy: usize) -> AugmentParams {
    if copy + 1 >= COPIES {
        return AugmentParams {
            flip: true,
            ..AugmentParams::IDENTITY
        };
    }
    let cfg = AugmentConfig::default();
    let mut rng = rng_for(seed ^ 0xC0_9135, real as u64, copy as u64);
    loop {
        let p = AugmentParams {
            flip: false,
            ..cfg.sample(&mut rng)
        };
        if p.dy != 0 || p.dx != 0 {
            return AugmentParams {
                brightness: 1.0,
                contrast: 1.0,
                gains: [1.0; 3],
                ..p
            };
        }
    }
}
