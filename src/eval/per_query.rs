//! Per-query results: what the summary numbers throw away. For each query (each probe and draw
//! of a drawn protocol): its AP, the rank of its first true match, its INP, the camera of that
//! match relative to the query's, and the top-k of its ranked list with scores.
//!
//! The ranked list of a query is exactly the one its protocol ranks:
//! - standard: the whole gallery minus junk and the query's identity seen by the query's camera
//!   ([`Labels::keeps`]); [`standard_results`];
//! - single-shot: the draw's one image per identity, filtered the same way
//!   ([`super::single_shot::single_shot_results`]);
//! - the authors' protocol: the draw's one image per identity, nothing removed
//!   ([`authors_results`]).
//!
//! Candidates are ordered by [`compare_ranked`] (score descending, ties by index, NaN last), so
//! ranks agree with [`super::evaluate`] and [`super::evaluate_authors`] to the query.
//!
//! Also here: [`ScoreTable`], every score an evaluation computed (exported as `scores.npy`), and
//! [`FlipMode`], the test-time flip averaging the scores were made with.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ranking::{average_precision, first_match_rank, inverse_negative_penalty};
use super::{AuthorsDraw, EvalError, Labels, compare_ranked};

/// Entries kept in [`QueryResult::top`] by default.
pub const DEFAULT_TOP_K: usize = 10;

/// Test-time flip averaging of p(same).
///
/// `Both`: the mean of `p(a, b)` and `p(flip a, flip b)`, both crops mirrored left-right. Both
/// are mirrored together because the correlation layer compares each patch of one image with a
/// neighbourhood at the same place in the other: mirroring one image alone would compare the
/// left shoulder with the right one. Twice the pair scoring (trunk features once more per
/// image). Whether it helps is measured, see `eval --flip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub enum FlipMode {
    /// p(a, b) only.
    #[default]
    Off,
    /// (p(a, b) + p(flip a, flip b)) / 2.
    Both,
}

/// How a query's first true match relates to it by camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CameraRelation {
    /// Both cameras known and equal.
    Same,
    /// Both cameras known and different.
    Cross,
    /// Either camera unknown.
    Unknown,
}

impl CameraRelation {
    /// The relation of two images' cameras.
    pub fn of(a: &Labels, b: &Labels) -> Self {
        match (a.camera, b.camera) {
            (Some(x), Some(y)) if x == y => CameraRelation::Same,
            (Some(_), Some(_)) => CameraRelation::Cross,
            _ => CameraRelation::Unknown,
        }
    }

    /// `"same"`, `"cross"` or `""` (unknown), as written in `per_query.csv`.
    pub const fn name(self) -> &'static str {
        match self {
            CameraRelation::Same => "same",
            CameraRelation::Cross => "cross",
            CameraRelation::Unknown => "",
        }
    }
}

/// One entry of a query's ranked list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankedHit {
    /// Index of the gallery image (into the evaluation's gallery images).
    pub gallery: usize,
    /// p(same) with the query.
    pub score: f32,
    /// Whether it is the query's identity.
    pub is_match: bool,
    /// Camera relative to the query's.
    pub camera: CameraRelation,
}

/// What one query (one probe of one draw) gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// Index of the query image (into the evaluation's query images; the authors' protocol:
    /// into the test images, which are also its gallery images).
    pub query: usize,
    /// The query's labels.
    pub labels: Labels,
    /// Which draw (single-shot, the authors' protocol); `None` for the standard protocol.
    pub draw: Option<usize>,
    /// Average precision; `None` when the query has no valid match (skipped by the protocol).
    pub average_precision: Option<f64>,
    /// 1-based rank of the first true match; `None` when there is none.
    pub first_match_rank: Option<usize>,
    /// Inverse negative penalty (matches / rank of the last match); `None` when no match.
    pub inp: Option<f64>,
    /// True matches in the ranked list.
    pub matches: usize,
    /// Candidates in the ranked list (after the protocol's removals).
    pub candidates: usize,
    /// Camera of the first true match relative to the query's; `None` when no match.
    pub first_match_camera: Option<CameraRelation>,
    /// The first entries of the ranked list, best first.
    pub top: Vec<RankedHit>,
}

impl QueryResult {
    /// Whether the protocol counted this query (it has a valid match).
    pub fn evaluated(&self) -> bool {
        self.first_match_rank.is_some()
    }
}

/// Rank `candidates` (gallery indices) for one query and measure the list.
///
/// `score(g)`: p(same) of the query with gallery image `g`.
pub(crate) fn rank_candidates(
    query: usize,
    labels: Labels,
    draw: Option<usize>,
    mut candidates: Vec<usize>,
    gallery: &[Labels],
    score: impl Fn(usize) -> f32,
    top_k: usize,
) -> QueryResult {
    let scored: Vec<(usize, f32)> = candidates.iter().map(|&g| (g, score(g))).collect();
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_unstable_by(|&a, &b| compare_ranked(scored[a], scored[b]));
    candidates = order.iter().map(|&k| scored[k].0).collect();
    let is_match = |g: usize| gallery.get(g).is_some_and(|l| labels.matches(l));
    let hits: Vec<bool> = candidates.iter().map(|&g| is_match(g)).collect();
    let first = first_match_rank(&hits);
    let camera_of = |g: usize| {
        gallery
            .get(g)
            .map_or(CameraRelation::Unknown, |l| CameraRelation::of(&labels, l))
    };
    let top = order
        .iter()
        .take(top_k)
        .map(|&k| {
            let (g, s) = scored[k];
            RankedHit {
                gallery: g,
                score: s,
                is_match: is_match(g),
                camera: camera_of(g),
            }
        })
        .collect();
    QueryResult {
        query,
        labels,
        draw,
        average_precision: average_precision(&hits),
        first_match_rank: first,
        inp: inverse_negative_penalty(&hits),
        matches: hits.iter().filter(|&&h| h).count(),
        candidates: candidates.len(),
        first_match_camera: first
            .and_then(|r| candidates.get(r - 1))
            .map(|&g| camera_of(g)),
        top,
    }
}

/// Per-query results of the standard protocol over a row-major `[queries x gallery]` matrix,
/// one per query in query order (queries without a valid match included, with `None`s).
///
/// # Errors
/// [`EvalError::ShapeMismatch`] when `scores.len() != query.len() * gallery.len()`.
pub fn standard_results(
    scores: &[f32],
    query: &[Labels],
    gallery: &[Labels],
    top_k: usize,
) -> Result<Vec<QueryResult>, EvalError> {
    if query.len().checked_mul(gallery.len()) != Some(scores.len()) {
        return Err(EvalError::ShapeMismatch {
            len: scores.len(),
            queries: query.len(),
            gallery: gallery.len(),
        });
    }
    if gallery.is_empty() {
        return Ok(query
            .iter()
            .enumerate()
            .map(|(q, l)| rank_candidates(q, *l, None, Vec::new(), gallery, |_| 0.0, top_k))
            .collect());
    }
    Ok(scores
        .par_chunks(gallery.len())
        .zip(query.par_iter())
        .enumerate()
        .map(|(q, (row, labels))| {
            let kept = (0..gallery.len())
                .filter(|&g| labels.keeps(&gallery[g]))
                .collect();
            rank_candidates(q, *labels, None, kept, gallery, |g| row[g], top_k)
        })
        .collect())
}

/// Per-(probe, draw) results of the authors' protocol: for each draw in order, each probe of
/// the draw in index order, ranked against the draw's gallery. Indices are test-image indices
/// (queries and gallery are the same images). `score(p, g)` as in [`super::evaluate_authors`].
pub fn authors_results<F: Fn(usize, usize) -> f32>(
    labels: &[Labels],
    draws: &[AuthorsDraw],
    score: F,
    top_k: usize,
) -> Vec<QueryResult> {
    draws
        .iter()
        .enumerate()
        .flat_map(|(d, draw)| {
            let score = &score;
            draw.probes(labels).map(move |(p, _)| {
                rank_candidates(
                    p,
                    labels[p],
                    Some(d),
                    draw.gallery.clone(),
                    labels,
                    |g| score(p, g),
                    top_k,
                )
            })
        })
        .collect()
}

/// The `n` worst evaluated queries, worst first: lowest AP, then the first true match furthest
/// down, then query index (and draw) ascending. Queries without a valid match are left out.
/// Returns indices into `results`.
pub fn worst_queries(results: &[QueryResult], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].evaluated())
        .collect();
    idx.sort_by(|&a, &b| {
        let (ra, rb) = (&results[a], &results[b]);
        let ap = |r: &QueryResult| r.average_precision.unwrap_or(f64::NAN);
        ap(ra)
            .total_cmp(&ap(rb))
            .then_with(|| rb.first_match_rank.cmp(&ra.first_match_rank))
            .then_with(|| ra.query.cmp(&rb.query))
            .then_with(|| ra.draw.cmp(&rb.draw))
    });
    idx.truncate(n);
    idx
}

/// Every score an evaluation computed.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ScoreTable {
    /// No scores kept.
    #[default]
    None,
    /// A full `[rows x cols]` row-major matrix: `values[q * cols + g]` = p(same) of query `q`
    /// (first input) with gallery image `g` (second input). The standard and single-shot
    /// protocols (queries x gallery).
    Dense {
        rows: usize,
        cols: usize,
        values: Vec<f32>,
    },
    /// The scored `(probe, gallery image)` pairs only, sorted, each once, with their scores
    /// (the authors' protocol over `n` test images).
    Pairs {
        n: usize,
        pairs: Vec<(usize, usize)>,
        values: Vec<f32>,
    },
}

impl ScoreTable {
    /// `(rows, cols)` of the matrix this table fills (the authors' protocol: `n x n`).
    pub fn dims(&self) -> (usize, usize) {
        match self {
            ScoreTable::None => (0, 0),
            ScoreTable::Dense { rows, cols, .. } => (*rows, *cols),
            ScoreTable::Pairs { n, .. } => (*n, *n),
        }
    }

    /// The score of query (probe) `q` with gallery image `g`; NaN when it was not scored.
    pub fn get(&self, q: usize, g: usize) -> f32 {
        match self {
            ScoreTable::None => f32::NAN,
            ScoreTable::Dense { rows, cols, values } => {
                if q < *rows && g < *cols {
                    values.get(q * cols + g).copied().unwrap_or(f32::NAN)
                } else {
                    f32::NAN
                }
            }
            ScoreTable::Pairs { pairs, values, .. } => pairs
                .binary_search(&(q, g))
                .ok()
                .and_then(|k| values.get(k).copied())
                .unwrap_or(f32::NAN),
        }
    }

    /// The whole `[rows x cols]` matrix, row-major, NaN where no score was computed; `None`
    /// when it would hold more than `max_values` values.
    pub fn dense(&self, max_values: usize) -> Option<Vec<f32>> {
        let (rows, cols) = self.dims();
        let len = rows.checked_mul(cols).filter(|&l| l <= max_values)?;
        match self {
            ScoreTable::None => Some(Vec::new()),
            ScoreTable::Dense { values, .. } => Some(values.clone()),
            ScoreTable::Pairs { pairs, values, .. } => {
                let mut out = vec![f32::NAN; len];
                for (&(p, g), &v) in pairs.iter().zip(values) {
                    if let Some(slot) = out.get_mut(p * cols + g) {
                        *slot = v;
                    }
                }
                Some(out)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn l(identity: i64, camera: u32) -> Labels {
        Labels::new(identity, Some(camera))
    }

    #[test]
    fn standard_results_by_hand() {
        // Query id 1 cam 1. Gallery: g0 id 1 cam 1 (removed: same camera), g1 id 2 cam 2,
        // g2 id 1 cam 2, g3 junk, g4 id 1 cam 3.
        let q = [l(1, 1)];
        let g = [l(1, 1), l(2, 2), l(1, 2), l(-1, 2), l(1, 3)];
        let row = [0.99, 0.9, 0.8, 0.95, 0.1];
        let r = &standard_results(&row, &q, &g, 2).unwrap()[0];
        // Kept, ranked: g1 .9 (miss), g2 .8 (hit), g4 .1 (hit): ranks 2 and 3.
        assert_eq!(r.first_match_rank, Some(2));
        assert_eq!(r.average_precision, Some((0.5 + 2.0 / 3.0) / 2.0));
        assert_eq!(r.inp, Some(2.0 / 3.0));
        assert_eq!((r.matches, r.candidates), (2, 3));
        assert_eq!(r.first_match_camera, Some(CameraRelation::Cross));
        let top: Vec<(usize, bool)> = r.top.iter().map(|h| (h.gallery, h.is_match)).collect();
        assert_eq!(top, vec![(1, false), (2, true)]);
        assert_eq!(r.top[0].score, 0.9);
    }

    #[test]
    fn worst_queries_order() {
        let base = QueryResult {
            query: 0,
            labels: l(1, 1),
            draw: None,
            average_precision: Some(0.5),
            first_match_rank: Some(2),
            inp: Some(0.5),
            matches: 1,
            candidates: 5,
            first_match_camera: Some(CameraRelation::Cross),
            top: vec![],
        };
        let mk = |query, ap, rank: Option<usize>| QueryResult {
            query,
            average_precision: ap,
            first_match_rank: rank,
            ..base.clone()
        };
        let results = [
            mk(0, Some(0.5), Some(2)),
            mk(1, Some(0.2), Some(5)),
            mk(2, None, None), // skipped: never among the worst
            mk(3, Some(0.2), Some(9)),
            mk(4, Some(1.0), Some(1)),
        ];
        assert_eq!(worst_queries(&results, 3), vec![3, 1, 0]);
        assert_eq!(worst_queries(&results, 10), vec![3, 1, 0, 4]);
    }

    #[test]
    fn score_table_lookups_and_dense() {
        let t = ScoreTable::Pairs {
            n: 3,
            pairs: vec![(0, 1), (2, 0)],
            values: vec![0.25, 0.75],
        };
        assert_eq!(t.get(0, 1), 0.25);
        assert!(t.get(1, 0).is_nan());
        let d = t.dense(9).unwrap();
        assert_eq!(d[1], 0.25);
        assert_eq!(d[6], 0.75);
        assert_eq!(d.iter().filter(|v| v.is_nan()).count(), 7);
        assert!(t.dense(8).is_none());
    }
}
