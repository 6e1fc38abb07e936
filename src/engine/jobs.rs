//! Whole jobs over files: rank a gallery folder against a query, evaluate a labelled split.
//! Used by the `rank` / `eval` commands and the GUI's inference worker.
//!
//! Every job takes a [`JobOptions`] ([`super::options`]): the network, its configuration and
//! device, and how the job runs (feature cache, progress callback, cancel token, flip).

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use super::cache::CacheSpec;
use super::cache::{FeatureCache, FileStamp};
use super::evaluation::{EvalSettings, authors_details, seeded_subset, split_details};
use super::flip::{flip_matrix, flip_pairs};
pub use super::options::{JobOptions, StageProgress};
use super::results::{Evaluation, RankedEntry, Ranking};
use super::score::{FeatureBank, ScoreError, features, score_matrix, score_pairs, score_query};
use crate::data::crops::{CropCache, to_input};
use crate::data::layout::{DatasetError, Split, scan};
use crate::eval::{
    EvalError, Labels, Protocol, authors_draws, authors_pairs, evaluate, evaluate_authors,
};

/// Images per trunk batch.
pub const FEATURE_BATCH: usize = 32;
/// Pairs per correlation + head batch.
pub const PAIR_BATCH: usize = 64;

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job's [`crate::cancel::CancelToken`] was tripped.
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Score(ScoreError),
    #[error(transparent)]
    Eval(#[from] EvalError),
}

impl From<ScoreError> for JobError {
    fn from(e: ScoreError) -> Self {
        match e {
            ScoreError::Cancelled => JobError::Cancelled,
            other => JobError::Score(other),
        }
    }
}

/// Decode files and compute their trunk features. Undecodable files are returned separately
/// (with the reason) and left out of the bank; `kept` lists the indices that made it.
pub struct Encoded {
    pub bank: FeatureBank,
    pub kept: Vec<usize>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Trunk features of `paths`: through the feature cache when `opts` has one (only files not
/// cached, or changed since, go through the trunk), else [`encode_files`].
pub fn encode(opts: &JobOptions<'_>, paths: &[PathBuf]) -> Result<Encoded, JobError> {
    match opts.cache {
        Some(spec) => encode_files_cached(opts, paths, spec),
        None => encode_files(opts, paths),
    }
}

/// Decode, preprocess and encode `paths` with the trunk (never through the cache).
pub fn encode_files(opts: &JobOptions<'_>, paths: &[PathBuf]) -> Result<Encoded, JobError> {
    let JobOptions {
        net,
        config,
        device,
        progress,
        cancel,
        ..
    } = *opts;
    let (cache, skipped) = CropCache::load(paths, &|d, t| progress("decoding", d, t));
    let mut kept = Vec::with_capacity(paths.len());
    let mut inputs = Vec::with_capacity(paths.len());
    for i in 0..paths.len() {
        if let Some(crop) = cache.get(i) {
            kept.push(i);
            inputs.push(to_input(crop, &config.normalization));
        }
    }
    let refs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let bank = features(
        net,
        &refs,
        FEATURE_BATCH,
        device,
        &|d, t| progress("trunk features", d, t),
        cancel,
    )?;
    Ok(Encoded {
        bank,
        kept,
        skipped: skipped.into_iter().map(|s| (s.path, s.reason)).collect(),
    })
}

/// [`encode_files`] through the feature cache of `spec`: only files not cached (or changed
/// since) go through the trunk; the cache file is updated.
fn encode_files_cached(
    opts: &JobOptions<'_>,
    paths: &[PathBuf],
    spec: &CacheSpec,
) -> Result<Encoded, JobError> {
    let (config, progress) = (opts.config, opts.progress);
    let file = spec.file.clone();
    // Only features of exactly the shape this model produces are reused.
    let shape = config
        .shapes()
        .map_err(|e| JobError::Input(e.to_string()))?
        .pool2;
    let mut store = FeatureCache::load(&file, spec.model, shape);
    let mut stamps = Vec::with_capacity(paths.len());
    let mut skipped = Vec::new();
    for p in paths {
        match FileStamp::of(p) {
            Ok(s) => stamps.push(Some(s)),
            Err(e) => {
                skipped.push((p.clone(), format!("cannot read file: {e}")));
                stamps.push(None);
            }
        }
    }
    let missing: Vec<usize> = (0..paths.len())
        .filter(|&i| stamps[i].as_ref().is_some_and(|s| store.get(s).is_none()))
        .collect();
    if !missing.is_empty() {
        let todo: Vec<PathBuf> = missing.iter().map(|&i| paths[i].clone()).collect();
        let fresh = encode_files(opts, &todo)?;
        for (k, &j) in fresh.kept.iter().enumerate() {
            if let Some(stamp) = stamps[missing[j]].clone() {
                store.insert(stamp, fresh.bank.shape, fresh.bank.get(k).to_vec());
            }
        }
        skipped.extend(fresh.skipped);
        // Forget entries whose file is gone or changed, then persist (a failure to write the
        // cache only costs time next run).
        let current: Vec<FileStamp> = store_paths_now(&store);
        store.retain(&current);
        let _ = store.save(&file);
    }
    let kept: Vec<usize> = (0..paths.len())
        .filter(|&i| stamps[i].as_ref().is_some_and(|s| store.get(s).is_some()))
        .collect();
    let present: Vec<FileStamp> = kept.iter().filter_map(|&i| stamps[i].clone()).collect();
    let bank = store.bank(&present).ok_or_else(|| {
        JobError::Input(format!(
            "{}: the feature cache lost an entry while ranking",
            file.display()
        ))
    })?;
    progress("trunk features", paths.len(), paths.len());
    Ok(Encoded {
        bank,
        kept,
        skipped,
    })
}

/// A non-finite score as an error naming both images (`kept` maps bank rows to `paths`).
fn name_pair(
    e: ScoreError,
    q_paths: &[PathBuf],
    q_kept: &[usize],
    g_paths: &[PathBuf],
    g_kept: &[usize],
) -> JobError {
    let ScoreError::NotFinite {
        query,
        gallery,
        value,
    } = e
    else {
        return e.into();
    };
    let q = q_kept.get(query).and_then(|&i| q_paths.get(i));
    match (q, g_kept.get(gallery).and_then(|&i| g_paths.get(i))) {
        (Some(q), Some(g)) => JobError::File {
            path: g.clone(),
            reason: format!(
                "the model gave a non-finite score ({value}) against query {}: its weights or the image features are not finite numbers",
                q.display()
            ),
        },
        _ => e.into(),
    }
}

/// The current stamps of the files a cache knows (files that vanished are left out).
fn store_paths_now(store: &FeatureCache) -> Vec<FileStamp> {
    store
        .paths()
        .filter_map(|p| FileStamp::of(p).ok())
        .collect()
}

/// Gallery images with their labels, when known.
pub type GalleryFiles = Vec<(PathBuf, Option<Labels>)>;
/// Files left out, with the reason.
pub type Skips = Vec<(PathBuf, String)>;

/// The images of a gallery folder with their labels when the layout gives them (for a
/// Market-style dataset root, its gallery split `bounding_box_test`).
pub fn gallery_files(dir: &Path) -> Result<(GalleryFiles, Skips), JobError> {
    let ds = scan(dir, None)?;
    let has_gallery = ds.samples.iter().any(|s| s.split == Split::Gallery);
    let files = ds
        .samples
        .iter()
        .filter(|s| !has_gallery || s.split == Split::Gallery)
        .map(|s| {
            (
                s.path.clone(),
                s.identity.map(|identity| Labels {
                    identity,
                    camera: s.camera,
                }),
            )
        })
        .collect();
    Ok((
        files,
        ds.skipped.into_iter().map(|s| (s.path, s.reason)).collect(),
    ))
}

/// Rank `gallery` against `query` (through `opts.cache`, the gallery folder's feature cache).
pub fn rank_gallery(
    opts: &JobOptions<'_>,
    query: &Path,
    query_labels: Option<Labels>,
    gallery: &[(PathBuf, Option<Labels>)],
) -> Result<Ranking, JobError> {
    let JobOptions {
        net,
        device,
        progress,
        cancel,
        ..
    } = *opts;
    let start = Instant::now();
    let q = encode_files(&opts.quiet(), &[query.to_path_buf()])?;
    if let Some((path, reason)) = q.skipped.into_iter().next() {
        return Err(JobError::File { path, reason });
    }
    let paths: Vec<PathBuf> = gallery.iter().map(|(p, _)| p.clone()).collect();
    let g = encode(opts, &paths)?;
    progress("scoring", 0, g.bank.len());
    let mut scores = score_query(net, &q.bank, 0, &g.bank, PAIR_BATCH, device, cancel)
        .map_err(|e| name_pair(e, &[query.to_path_buf()], &[0], &paths, &g.kept))?;
    let query_path = [query.to_path_buf()];
    flip_matrix(opts, (&query_path, &[0]), (&paths, &g.kept), &mut scores)?;
    progress("scoring", g.bank.len(), g.bank.len());
    let entries: Vec<RankedEntry> = g
        .kept
        .iter()
        .zip(&scores)
        .map(|(&i, &score)| {
            let labels = gallery[i].1;
            RankedEntry {
                path: gallery[i].0.clone(),
                score,
                labels,
                is_match: query_labels.zip(labels).map(|(q, g)| q.matches(&g)),
            }
        })
        .collect();
    let ranked: Vec<RankedEntry> = crate::eval::rank_order(&scores)
        .into_iter()
        .map(|i| entries[i].clone())
        .collect();
    Ok(Ranking {
        query: query.to_path_buf(),
        query_labels,
        entries: ranked,
        skipped: g.skipped,
        millis: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// Evaluate a labelled dataset. Standard and single-shot protocols: its query split against its
/// gallery split. The authors' protocol ([`crate::eval::authors`]): every labelled test image,
/// trunk features once per image, the galleries drawn, only the needed pairs scored.
pub fn evaluate_dataset(
    opts: &JobOptions<'_>,
    root: &Path,
    protocol: &Protocol,
) -> Result<Evaluation, JobError> {
    evaluate_dataset_with(opts, root, protocol, &EvalSettings::default())
}

/// [`evaluate_dataset`] with [`EvalSettings`]: a seeded subset of the queries, the ranked
/// entries kept per query.
pub fn evaluate_dataset_with(
    opts: &JobOptions<'_>,
    root: &Path,
    protocol: &Protocol,
    settings: &EvalSettings,
) -> Result<Evaluation, JobError> {
    if let Protocol::Authors { draws, seed } = *protocol {
        return evaluate_authors_dataset_with(opts, root, AuthorsRun { draws, seed }, settings);
    }
    let JobOptions {
        net,
        device,
        progress,
        cancel,
        ..
    } = *opts;
    let start = Instant::now();
    let ds = scan(root, None)?;
    let pick = |split: Split| -> Vec<(PathBuf, Labels)> {
        ds.samples
            .iter()
            .filter(|s| s.split == split)
            .filter_map(|s| {
                s.identity.map(|identity| {
                    (
                        s.path.clone(),
                        Labels {
                            identity,
                            camera: s.camera,
                        },
                    )
                })
            })
            .collect()
    };
    let queries = seeded_subset(
        pick(Split::Query),
        settings.max_queries,
        settings.query_seed,
    );
    let gallery = pick(Split::Gallery);
    if queries.is_empty() || gallery.is_empty() {
        return Err(JobError::Input(format!(
            "{}: evaluation needs labelled query/ and bounding_box_test/ folders (found {} queries, {} gallery images; the authors' protocol also evaluates layouts without a split)",
            root.display(),
            queries.len(),
            gallery.len()
        )));
    }
    let q_paths: Vec<PathBuf> = queries.iter().map(|(p, _)| p.clone()).collect();
    let g_paths: Vec<PathBuf> = gallery.iter().map(|(p, _)| p.clone()).collect();
    let qe = encode(opts, &q_paths)?;
    let ge = encode(opts, &g_paths)?;
    let mut scores = score_matrix(
        net,
        &qe.bank,
        &ge.bank,
        PAIR_BATCH,
        device,
        &|d, t| progress("scoring queries", d, t),
        cancel,
    )
    .map_err(|e| name_pair(e, &q_paths, &qe.kept, &g_paths, &ge.kept))?;
    flip_matrix(
        opts,
        (&q_paths, &qe.kept),
        (&g_paths, &ge.kept),
        &mut scores,
    )?;
    let q_labels: Vec<Labels> = qe.kept.iter().map(|&i| queries[i].1).collect();
    let g_labels: Vec<Labels> = ge.kept.iter().map(|&i| gallery[i].1).collect();
    let metrics = evaluate(&scores, &q_labels, &g_labels, protocol)?;
    let (mut same_scores, mut different_scores) = (Vec::new(), Vec::new());
    for (qi, q) in q_labels.iter().enumerate() {
        for (gi, g) in g_labels.iter().enumerate() {
            if g.is_junk() || !q.keeps(g) {
                continue;
            }
            let s = scores[qi * g_labels.len() + gi];
            if q.matches(g) {
                same_scores.push(s);
            } else if (qi + gi) % 7 == 0 {
                // Every 7th non-matching pair: the histogram's shape without millions of points.
                different_scores.push(s);
            }
        }
    }
    let details = split_details(protocol, scores, &q_labels, &g_labels, settings.top_k)?;
    Ok(Evaluation {
        dataset: root.to_path_buf(),
        metrics,
        authors: None,
        same_scores,
        different_scores,
        millis: start.elapsed().as_secs_f64() * 1e3,
        query_images: qe.kept.iter().map(|&i| queries[i].clone()).collect(),
        gallery_images: ge.kept.iter().map(|&i| gallery[i].clone()).collect(),
        per_query: details.per_query,
        scores: details.scores,
        roc: details.roc,
        flip: opts.flip,
    })
}

/// Draws and seed of an authors'-protocol run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AuthorsRun {
    /// Number of draws (at least 1).
    draws: usize,
    /// Seed of the draws.
    seed: u64,
}

/// The test images of a dataset for the authors' protocol, with their labels: the query and
/// gallery splits pooled when the layout has them, else every labelled image of a layout
/// without splits (one folder per identity, cam_a / cam_b, one folder of Market names). Junk is
/// left out; the training split never takes part.
fn authors_test_files(root: &Path) -> Result<(Vec<(PathBuf, Labels)>, Skips), JobError> {
    let ds = scan(root, None)?;
    let has_split = ds
        .samples
        .iter()
        .any(|s| matches!(s.split, Split::Query | Split::Gallery));
    let files: Vec<(PathBuf, Labels)> = ds
        .samples
        .iter()
        .filter(|s| {
            if has_split {
                matches!(s.split, Split::Query | Split::Gallery)
            } else {
                s.split == Split::Unsplit
            }
        })
        .filter_map(|s| {
            let identity = s.identity.filter(|&i| i >= 0)?;
            Some((s.path.clone(), Labels::new(identity, s.camera)))
        })
        .collect();
    if files.is_empty() {
        return Err(JobError::Input(format!(
            "{}: no labelled test images (the authors' protocol uses query/ + bounding_box_test/, or every image of a layout without splits)",
            root.display()
        )));
    }
    Ok((
        files,
        ds.skipped.into_iter().map(|s| (s.path, s.reason)).collect(),
    ))
}

/// The authors' protocol on a dataset ([`crate::eval::authors`]) with [`EvalSettings`] (its
/// `max_queries` does not apply: every test image takes part): the test images of
/// [`authors_test_files`], trunk features once per image (through the cache when given), the
/// galleries drawn, and only the needed (probe, gallery) pairs scored, each once over all draws.
fn evaluate_authors_dataset_with(
    opts: &JobOptions<'_>,
    root: &Path,
    run: AuthorsRun,
    settings: &EvalSettings,
) -> Result<Evaluation, JobError> {
    let JobOptions {
        net,
        device,
        progress,
        cancel,
        ..
    } = *opts;
    let start = Instant::now();
    if run.draws == 0 {
        return Err(EvalError::NoDraws.into());
    }
    let (files, _) = authors_test_files(root)?;
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let encoded = encode(opts, &paths)?;
    // Indices from here on are positions in the bank (`encoded.kept` maps them to `files`).
    let labels: Vec<Labels> = encoded.kept.iter().map(|&i| files[i].1).collect();
    let in_root = |e: EvalError| JobError::Input(format!("{}: {e}", root.display()));
    let draws = authors_draws(&labels, run.draws, run.seed).map_err(in_root)?;
    let pairs = authors_pairs(&labels, &draws);
    let mut scores = score_pairs(
        net,
        &encoded.bank,
        &pairs,
        PAIR_BATCH,
        device,
        &|d, t| progress("scoring pairs", d, t),
        cancel,
    )?;
    flip_pairs(opts, (&paths, &encoded.kept), &pairs, &mut scores)?;
    // `pairs` is sorted: a binary search finds each score.
    let lookup = |p: usize, g: usize| {
        pairs
            .binary_search(&(p, g))
            .ok()
            .and_then(|k| scores.get(k).copied())
            .unwrap_or(f32::NAN)
    };
    let authors = evaluate_authors(&labels, &draws, lookup).map_err(in_root)?;
    let (mut same_scores, mut different_scores) = (Vec::new(), Vec::new());
    for (k, (&(p, g), &s)) in pairs.iter().zip(&scores).enumerate() {
        if labels[p].identity == labels[g].identity {
            same_scores.push(s);
        } else if k % 7 == 0 {
            // Every 7th non-matching pair, as in the standard evaluation.
            different_scores.push(s);
        }
    }
    let images: Vec<(PathBuf, Labels)> = encoded.kept.iter().map(|&i| files[i].clone()).collect();
    let details = authors_details(&labels, &draws, pairs, scores, settings.top_k);
    Ok(Evaluation {
        dataset: root.to_path_buf(),
        metrics: authors.mean.clone(),
        authors: Some(authors),
        same_scores,
        different_scores,
        millis: start.elapsed().as_secs_f64() * 1e3,
        query_images: images.clone(),
        gallery_images: images,
        per_query: details.per_query,
        scores: details.scores,
        roc: details.roc,
        flip: opts.flip,
    })
}
