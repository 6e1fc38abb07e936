//! The data of a training run: decoded crops of the training split, the identity split into
//! training and validation, the pair sampler, and the validation protocol.

use std::collections::BTreeMap;

use burn::tensor::Device;

use super::config::TrainConfig;
use crate::data::Normalization;
use crate::data::crops::{CropCache, to_input};
use crate::data::layout::{DatasetError, Sample, Split, scan};
use crate::data::sampler::{PairSampler, SamplerConfig, SamplerError, split_by_identity};
use crate::engine::{features, score_matrix};
use crate::eval::{Labels, Metrics, Protocol, evaluate};
use crate::model::XCorrNet;
use crate::protocol::CancelToken;

/// Largest number of validation identities (keeps validation to seconds on a CPU).
pub const MAX_VALIDATION_IDENTITIES: usize = 40;
/// Largest number of gallery images per validation identity.
pub const MAX_VALIDATION_IMAGES: usize = 6;

/// Why the training data could not be prepared. Names the folder.
#[derive(Debug, thiserror::Error)]
pub enum TrainDataError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{dataset}: {reason}")]
    Unusable { dataset: String, reason: String },
    #[error("{dataset}: {source}")]
    Pairs {
        dataset: String,
        #[source]
        source: SamplerError,
    },
    #[error("validation failed: {0}")]
    Validation(String),
}

/// Everything the loop reads.
pub struct TrainData {
    /// Training samples (labelled, decodable), index = crop index.
    pub samples: Vec<Sample>,
    crops: Vec<Vec<u8>>,
    pub sampler: PairSampler,
    /// Validation queries and gallery (indices into `samples`).
    val_queries: Vec<usize>,
    val_gallery: Vec<usize>,
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
        let sampler_cfg = SamplerConfig {
            negatives_per_positive: config.negatives_per_positive,
            max_positives_per_identity: config.max_positives_per_identity,
            cross_camera: true,
        };
        let sampler = PairSampler::with_subset(&labels, &split.train, sampler_cfg, config.seed)
            .map_err(|source| TrainDataError::Pairs {
                dataset: name.clone(),
                source,
            })?;
        let (val_queries, val_gallery) = validation_sets(&labels, &split.val);
        Ok(Self {
            samples,
            crops,
            sampler,
            val_queries,
            val_gallery,
            normalization: *normalization,
            skipped: skipped.len(),
        })
    }

    /// The HWC crop of sample `i`.
    pub fn crop(&self, i: usize) -> &[u8] {
        &self.crops[i]
    }

    /// Rank-1 / mAP of the validation identities (first image of each identity as the query,
    /// its other images and the other identities' images as the gallery). `None` when there is
    /// no validation split.
    pub fn validate(
        &self,
        net: &XCorrNet,
        device: &Device,
    ) -> Result<Option<Metrics>, TrainDataError> {
        if self.val_queries.is_empty() || self.val_gallery.is_empty() {
            return Ok(None);
        }
        let input = |idx: &[usize]| -> Vec<Vec<f32>> {
            idx.iter()
                .map(|&i| to_input(&self.crops[i], &self.normalization))
                .collect()
        };
        let q_in = input(&self.val_queries);
        let g_in = input(&self.val_gallery);
        let q_refs: Vec<&[f32]> = q_in.iter().map(Vec::as_slice).collect();
        let g_refs: Vec<&[f32]> = g_in.iter().map(Vec::as_slice).collect();
        let never = CancelToken::new();
        let err = |e: crate::engine::ScoreError| TrainDataError::Validation(e.to_string());
        let qf = features(net, &q_refs, 32, device, &|_, _| {}, &never).map_err(err)?;
        let gf = features(net, &g_refs, 32, device, &|_, _| {}, &never).map_err(err)?;
        let scores = score_matrix(net, &qf, &gf, 128, device, &|_, _| {}, &never).map_err(err)?;
        let labels = |idx: &[usize]| -> Vec<Labels> {
            idx.iter()
                .map(|&i| Labels {
                    identity: self.samples[i].identity.unwrap_or(-1),
                    camera: self.samples[i].camera,
                })
                .collect()
        };
        let metrics = evaluate(
            &scores,
            &labels(&self.val_queries),
            &labels(&self.val_gallery),
            &Protocol::Standard,
        )
        .map_err(|e| TrainDataError::Validation(e.to_string()))?;
        Ok(Some(metrics))
    }
}

/// Queries: the first image of each validation identity. Gallery: up to
/// [`MAX_VALIDATION_IMAGES`] other images per identity, preferring other cameras. At most
/// [`MAX_VALIDATION_IDENTITIES`] identities.
fn validation_sets(labels: &[(i64, Option<u32>)], val: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut by_id: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in val {
        by_id.entry(labels[i].0).or_default().push(i);
    }
    let mut queries = Vec::new();
    let mut gallery = Vec::new();
    for (_, mut idx) in by_id
        .into_iter()
        .filter(|(_, v)| v.len() >= 2)
        .take(MAX_VALIDATION_IDENTITIES)
    {
        idx.sort_unstable();
        let q = idx[0];
        let qcam = labels[q].1;
        let mut rest: Vec<usize> = idx[1..].to_vec();
        // Other cameras first (same-camera matches are removed by the protocol anyway).
        rest.sort_by_key(|&i| (labels[i].1 == qcam && qcam.is_some(), i));
        queries.push(q);
        gallery.extend(rest.into_iter().take(MAX_VALIDATION_IMAGES));
    }
    (queries, gallery)
}
