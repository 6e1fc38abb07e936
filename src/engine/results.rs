//! What the engine's jobs return: a ranked gallery, a finished evaluation. Plain data (no
//! Burn), sent as they are to the GUI ([`crate::protocol::Event::Ranked`] /
//! [`crate::protocol::Event::Evaluated`]) and printed or exported by the command line.

use std::path::PathBuf;
use std::sync::Arc;

use crate::eval::{AuthorsMetrics, FlipMode, Labels, Metrics, QueryResult, Roc, ScoreTable};

/// One entry of a ranked list.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedEntry {
    pub path: PathBuf,
    /// p(same) with the query.
    pub score: f32,
    pub labels: Option<Labels>,
    /// Whether it is the query's identity (None when either side is unlabelled).
    pub is_match: Option<bool>,
}

/// A ranked gallery.
#[derive(Debug, Clone)]
pub struct Ranking {
    pub query: PathBuf,
    pub query_labels: Option<Labels>,
    /// Best first.
    pub entries: Vec<RankedEntry>,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    pub millis: f64,
}

/// A finished evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub dataset: PathBuf,
    /// The protocol's numbers (the authors' protocol: the means over draws).
    pub metrics: Metrics,
    /// The authors' protocol only: spread over draws, same- / cross-camera rank-1, counts.
    pub authors: Option<AuthorsMetrics>,
    /// Scores of pairs with the same identity (for the histogram).
    pub same_scores: Vec<f32>,
    /// Scores of pairs with different identities (subsampled).
    pub different_scores: Vec<f32>,
    pub millis: f64,
    /// The query images with their labels, indexed by [`QueryResult::query`] (the authors'
    /// protocol: the test images).
    pub query_images: Vec<(PathBuf, Labels)>,
    /// The gallery images with their labels, indexed by
    /// [`RankedHit::gallery`](crate::eval::RankedHit::gallery) (the authors' protocol: the test
    /// images again).
    pub gallery_images: Vec<(PathBuf, Labels)>,
    /// Per-query results ([`crate::eval::per_query`]): every query of the standard protocol
    /// in query order; one per (query, draw) of the single-shot and authors' protocols, by draw.
    pub per_query: Vec<QueryResult>,
    /// Every score computed (`eval --export`'s `scores.npy`), shared: it can be large.
    pub scores: Arc<ScoreTable>,
    /// ROC over every pair scored (None without both same- and different-identity pairs): TPR
    /// at FPR 1e-2 / 1e-3, the equal-error threshold.
    pub roc: Option<Roc>,
    /// Test-time flip averaging the scores were made with.
    pub flip: FlipMode,
}
