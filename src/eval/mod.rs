//! Evaluation: ranking protocols, CMC and mAP.
//!
//! Plain numbers only (no Burn): the caller scores (query, gallery) pairs with the network and
//! hands the scores (p(same), higher is more similar) and the labels to this module.
//!
//! Three protocols:
//! - [`Protocol::Standard`] (Market-1501 style, the field's): a `[queries x gallery]` score matrix
//!   of a query / gallery split, through [`evaluate`];
//! - [`Protocol::SingleShot`]: a cross-camera single-shot gallery over the same Market-style
//!   query / gallery split (NOT the paper's protocol), through [`evaluate`];
//! - [`Protocol::Authors`]: the authors' CUHK03 test protocol (their `test.lua`, the protocol of
//!   the paper's numbers) over ONE set of test images, through [`authors_draws`],
//!   [`authors_pairs`] and [`evaluate_authors`] (see [`authors`] for the details), or through
//!   [`evaluate`] with a square all-against-all matrix.
//!
//! # The standard protocol (Market-1501 style), [`Protocol::Standard`]
//! For each query the whole gallery is ranked by score, best first ([`rank_order`]). Then:
//! - gallery images with the query's identity **and** the query's camera are removed (when either
//!   camera is unknown, `None`, the image is kept: there is nothing to compare);
//! - junk gallery images (identity `-1`; any negative identity is treated the same) are removed;
//! - distractors (identity `0`) stay, as an ordinary identity that does not match the query;
//! - a query with no correct match left is skipped and counted in [`Metrics::skipped_queries`].
//!
//! CMC: `cmc[k - 1]` is the fraction of evaluated queries whose first correct match is at rank
//! `<= k`, for `k` in `1..=K`, `K = min(50, gallery size)`. AP of a query is the mean, over all its
//! correct matches, of the precision at the match's rank (sklearn-style average precision, every
//! match counted); mAP is the mean AP over evaluated queries. mINP (fast-reid's definition,
//! Ye et al. 2021) is the mean over evaluated queries of `matches / r_last`, `r_last` the
//! 1-based rank of the query's LAST (hardest) correct match: how far down the list one must go
//! to find every true match. With a single true match (single-shot, the authors' protocol) it
//! equals AP.
//!
//! Beyond the summary numbers: per-query results ([`QueryResult`]: AP, first-match rank, INP,
//! the top-k with scores, same / cross camera) in [`per_query`], the ROC over every pair scored
//! (TPR at a fixed FPR, the equal-error threshold that calibrates a model's verdict) in `roc`,
//! and the files an evaluation exports in [`export`] (CSV through [`table`]).
//!
//! # Ties and NaN
//! Equal scores are ordered by gallery index (lower index first), so the result never depends on
//! the sort algorithm. NaN scores rank below every number (even `-inf`), ties among NaNs again by
//! gallery index. `-0.0` and `0.0` are equal.
//!
//! # Cross-camera single-shot gallery on a query / gallery split, [`Protocol::SingleShot`]
//! Not the paper's protocol (that is [`Protocol::Authors`]): the queries of a Market-style split
//! are ranked against a gallery of ONE image per identity taken from the gallery split, drawn to
//! come from another camera than the query's. For each of `draws` seeded draws
//! ([`rand_chacha::ChaCha8Rng`] from `seed`), one gallery image is kept per identity (see
//! [`single_shot_gallery`]): chosen uniformly among that identity's non-junk images taken by a
//! camera other than the query's when there is one, among all of its non-junk images otherwise.
//! The draw is shared by all queries of the same camera. The same-camera filter above is then
//! applied, and CMC and mAP are computed as in the standard protocol; both are averaged over
//! draws. There `K = min(50, number of gallery identities)`. Distractors (identity `0`) form one
//! identity like any other.
//!
//! # The authors' protocol, [`Protocol::Authors`]
//! Per draw, one gallery image per test identity chosen at random among ALL its images (either
//! camera); every other test image is a probe ranked against those; rank-k and mAP (`1 / rank`,
//! one true match) per draw, averaged over draws, with the spread over draws and rank-1 of the
//! same-camera and cross-camera probes apart ([`AuthorsMetrics`]). Junk (negative identities)
//! is left out entirely; distractors (identity `0`) are one ordinary identity.

pub mod authors;
pub mod export;
pub mod per_query;
mod ranking;
pub mod roc;
mod single_shot;
pub mod table;

use serde::{Deserialize, Serialize};

pub use authors::{
    AuthorsDraw, AuthorsMetrics, DrawMetrics, authors_draws, authors_pairs, evaluate_authors,
};
pub use per_query::{
    CameraRelation, FlipMode, QueryResult, RankedHit, ScoreTable, authors_results,
    standard_results, worst_queries,
};
pub use ranking::{
    QueryOutcome, average_precision, compare_ranked, evaluate_query, first_match_rank,
    inverse_negative_penalty, rank_order, ranked_hits,
};
pub use roc::{OperatingPoint, Roc, roc};
pub use single_shot::{single_shot_gallery, single_shot_results};

/// The one definition of junk, shared by datasets ([`crate::data::Sample::is_junk`]) and
/// evaluation ([`Labels::is_junk`]): any negative identity (`-1` in Market-1501, but `-7` too).
pub const fn is_junk_identity(identity: i64) -> bool {
    identity < 0
}
/// Longest CMC curve reported.
pub const CMC_MAX_RANK: usize = 50;
/// Number of draws of the authors' CUHK03 test protocol (their `test.lua`), also the default of
/// the cross-camera single-shot protocol.
pub const PAPER_DRAWS: usize = 10;

/// What is known about one image: who and which camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Labels {
    /// Person identity. `-1` (any negative value): junk; `0`: distractor.
    pub identity: i64,
    /// Camera, when known.
    pub camera: Option<u32>,
}

impl Labels {
    /// Labels from an identity and an optional camera.
    pub const fn new(identity: i64, camera: Option<u32>) -> Self {
        Self { identity, camera }
    }

    /// Junk: identity `-1` (any negative identity).
    pub const fn is_junk(&self) -> bool {
        is_junk_identity(self.identity)
    }

    /// Whether both cameras are known and equal.
    pub fn same_camera(&self, other: &Labels) -> bool {
        matches!((self.camera, other.camera), (Some(a), Some(b)) if a == b)
    }

    /// Whether gallery image `g` takes part in this query's ranking: not junk, and not the
    /// query's identity seen by the query's own camera.
    pub fn keeps(&self, g: &Labels) -> bool {
        let same_person_same_camera = g.identity == self.identity && self.same_camera(g);
        !g.is_junk() && !same_person_same_camera
    }

    /// Whether gallery image `g` is a correct match for this query (identity equality; a junk
    /// query matches nothing).
    pub const fn matches(&self, g: &Labels) -> bool {
        !self.is_junk() && g.identity == self.identity
    }
}

/// Which ranking protocol [`evaluate`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Protocol {
    /// Market-1501 style: the whole gallery, all matches count.
    #[default]
    Standard,
    /// Cross-camera single-shot gallery over a Market-style query / gallery split: one gallery
    /// image per identity, from another camera than the query's, averaged over seeded draws.
    /// Not the paper's protocol (that is [`Protocol::Authors`]).
    SingleShot {
        /// Number of random draws.
        draws: usize,
        /// Seed of the draws.
        seed: u64,
    },
    /// The authors' CUHK03 test protocol (their `test.lua`): all test images pooled, one gallery
    /// image per identity drawn from all its images, every other image a probe; see [`authors`].
    Authors {
        /// Number of random draws (the authors use 10).
        draws: usize,
        /// Seed of the draws.
        seed: u64,
    },
}

impl Protocol {
    /// The cross-camera single-shot protocol with [`PAPER_DRAWS`] draws. (The name is
    /// historical: the paper's protocol is [`Protocol::authors`].)
    pub const fn paper_single_shot(seed: u64) -> Self {
        Protocol::SingleShot {
            draws: PAPER_DRAWS,
            seed,
        }
    }

    /// The authors' test protocol with their [`PAPER_DRAWS`] draws.
    pub const fn authors(seed: u64) -> Self {
        Protocol::Authors {
            draws: PAPER_DRAWS,
            seed,
        }
    }
}

/// Results of one evaluation. Fractions are in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// CMC curve: `cmc[k - 1]` = fraction of evaluated queries with a correct match at rank `<= k`.
    /// Length `min(50, gallery size)` (single-shot and authors': `min(50, gallery identities)`).
    pub cmc: Vec<f64>,
    /// CMC at rank 1.
    pub rank1: f64,
    /// CMC at rank 5 (the last CMC value when the curve is shorter).
    pub rank5: f64,
    /// CMC at rank 10 (the last CMC value when the curve is shorter).
    pub rank10: f64,
    /// CMC at rank 20 (the last CMC value when the curve is shorter).
    pub rank20: f64,
    /// Mean average precision over evaluated queries.
    pub map: f64,
    /// Mean inverse negative penalty over evaluated queries (fast-reid's mINP; equals mAP with
    /// one true match per query). Absent (0) in results written before it existed.
    #[serde(default)]
    pub minp: f64,
    /// Queries evaluated (with at least one valid match).
    pub queries: usize,
    /// Queries skipped because no valid match was left.
    pub skipped_queries: usize,
    /// Gallery images given (junk included).
    pub gallery: usize,
}

impl Metrics {
    /// CMC at rank `k` (1-based); ranks beyond the curve read its last value, rank 0 reads 0.
    ///
    /// Beyond the curve is exact when the curve covers the whole gallery; with a gallery larger
    /// than [`CMC_MAX_RANK`] it is a lower bound.
    pub fn cmc_at(&self, k: usize) -> f64 {
        cmc_at(&self.cmc, k)
    }

    fn from_curve(
        cmc: Vec<f64>,
        (map, minp): (f64, f64),
        queries: usize,
        skipped: usize,
        gallery: usize,
    ) -> Self {
        Metrics {
            rank1: cmc_at(&cmc, 1),
            rank5: cmc_at(&cmc, 5),
            rank10: cmc_at(&cmc, 10),
            rank20: cmc_at(&cmc, 20),
            cmc,
            map,
            minp,
            queries,
            skipped_queries: skipped,
            gallery,
        }
    }
}

fn cmc_at(cmc: &[f64], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    cmc.get(k.min(cmc.len()).saturating_sub(1))
        .copied()
        .unwrap_or(0.0)
}

/// Why an evaluation could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The score matrix is not `queries x gallery`.
    #[error("score matrix has {len} values, expected {queries} queries x {gallery} gallery images")]
    ShapeMismatch {
        /// Values given.
        len: usize,
        /// Query labels given.
        queries: usize,
        /// Gallery labels given.
        gallery: usize,
    },
    /// A score row does not have one value per gallery image.
    #[error("score row has {len} values for {gallery} gallery images")]
    RowLength {
        /// Values given.
        len: usize,
        /// Gallery labels given.
        gallery: usize,
    },
    /// No query given.
    #[error("no query to evaluate")]
    NoQueries,
    /// No gallery image given.
    #[error("empty gallery")]
    EmptyGallery,
    /// A drawn protocol (single-shot, authors') with zero draws.
    #[error("the protocol needs at least one draw (0 given)")]
    NoDraws,
    /// Authors' protocol: no identity has a gallery image and a probe.
    #[error(
        "no identity has two images: the authors' protocol needs a gallery image and a probe per identity"
    )]
    NoProbes,
    /// Authors' protocol: a draw is not one gallery image per identity of the labels.
    #[error("draw {draw} is not one gallery image per identity of the test images")]
    BadDraw {
        /// Index of the draw.
        draw: usize,
    },
    /// Authors' protocol through [`evaluate`] without one set of test images on both sides.
    #[error(
        "the authors' protocol ranks one set of test images against itself: give the same labels as queries and gallery"
    )]
    NotOneSet,
    /// Every query was skipped: none has a valid match in the gallery.
    #[error("no query has a valid match in the gallery ({skipped} skipped)")]
    NoValidQueries {
        /// Queries skipped.
        skipped: usize,
    },
}

/// Evaluate a `[queries x gallery]` row-major score matrix (p(same), higher first).
///
/// `scores[q * gallery.len() + g]` scores query `q` against gallery image `g`. See the module
/// documentation for the protocols, ties and NaN.
///
/// # Errors
/// [`EvalError::ShapeMismatch`] when `scores.len() != query.len() * gallery.len()`, empty
/// inputs, zero draws, and [`EvalError::NoValidQueries`] when every query is skipped. For
/// [`Protocol::Authors`], `query` and `gallery` must be the same labels (one set of test images,
/// `scores[p * n + g]` = probe `p` against gallery image `g`; the diagonal is never read), else
/// [`EvalError::NotOneSet`]; the errors of [`authors_draws`] / [`evaluate_authors`] apply, and
/// only the means are returned (call those functions for the spread and the camera split).
pub fn evaluate(
    scores: &[f32],
    query: &[Labels],
    gallery: &[Labels],
    protocol: &Protocol,
) -> Result<Metrics, EvalError> {
    let expected = query.len().checked_mul(gallery.len());
    if expected != Some(scores.len()) {
        return Err(EvalError::ShapeMismatch {
            len: scores.len(),
            queries: query.len(),
            gallery: gallery.len(),
        });
    }
    if query.is_empty() {
        return Err(EvalError::NoQueries);
    }
    if gallery.is_empty() {
        return Err(EvalError::EmptyGallery);
    }
    match *protocol {
        Protocol::Standard => ranking::evaluate_standard(scores, query, gallery),
        Protocol::SingleShot { draws, seed } => {
            single_shot::evaluate_single_shot(scores, query, gallery, draws, seed)
        }
        Protocol::Authors { draws, seed } => {
            if query != gallery {
                return Err(EvalError::NotOneSet);
            }
            let n = gallery.len();
            let drawn = authors_draws(query, draws, seed)?;
            let lookup = |p: usize, g: usize| scores.get(p * n + g).copied().unwrap_or(f32::NAN);
            Ok(evaluate_authors(query, &drawn, lookup)?.mean)
        }
    }
}

/// Accumulates first-match ranks and APs into a CMC curve of a fixed length.
#[derive(Debug, Clone)]
pub(crate) struct CmcAccumulator {
    /// `first[r - 1]`: queries whose first correct match is at rank `r` (`r <= len`).
    first: Vec<u64>,
    ap_sum: f64,
    inp_sum: f64,
    evaluated: usize,
    skipped: usize,
}

impl CmcAccumulator {
    pub(crate) fn new(len: usize) -> Self {
        Self {
            first: vec![0; len],
            ap_sum: 0.0,
            inp_sum: 0.0,
            evaluated: 0,
            skipped: 0,
        }
    }

    pub(crate) fn add(&mut self, outcome: Option<QueryOutcome>) {
        match outcome {
            None => self.skipped += 1,
            Some(o) => {
                self.evaluated += 1;
                self.ap_sum += o.average_precision;
                self.inp_sum += o.inp;
                if let Some(slot) = o
                    .first_match_rank
                    .checked_sub(1)
                    .and_then(|i| self.first.get_mut(i))
                {
                    *slot += 1;
                }
            }
        }
    }

    pub(crate) fn evaluated(&self) -> usize {
        self.evaluated
    }

    pub(crate) fn skipped(&self) -> usize {
        self.skipped
    }

    /// `(cmc, (map, minp))`; all zeros when nothing was evaluated.
    pub(crate) fn finish(&self) -> (Vec<f64>, (f64, f64)) {
        let n = self.evaluated.max(1) as f64;
        let mut running = 0u64;
        let cmc = self
            .first
            .iter()
            .map(|&c| {
                running += c;
                running as f64 / n
            })
            .collect();
        (cmc, (self.ap_sum / n, self.inp_sum / n))
    }
}
