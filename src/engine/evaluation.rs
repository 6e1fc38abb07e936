//! What an evaluation does beyond its protocol: a seeded subset of the queries
//! (`eval --max-queries`), how many ranked entries it keeps per query, and the details it hands
//! back besides the summary numbers (per-query results, every score, the ROC over every scored
//! pair). [`super::jobs::evaluate_dataset_with`] applies these.

use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use crate::eval::per_query::DEFAULT_TOP_K;
use crate::eval::{
    AuthorsDraw, EvalError, Labels, Protocol, QueryResult, Roc, ScoreTable, authors_results, roc,
    single_shot_results, standard_results,
};

/// Settings of an evaluation beyond its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalSettings {
    /// Evaluate at most this many queries of the query split: a seeded random subset, kept in
    /// file order (standard and single-shot protocols; the authors' protocol ranks every test
    /// image and ignores it).
    pub max_queries: Option<usize>,
    /// Seed of the query subset.
    pub query_seed: u64,
    /// Ranked entries kept per query ([`crate::eval::QueryResult::top`]).
    pub top_k: usize,
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            max_queries: None,
            query_seed: 0,
            top_k: DEFAULT_TOP_K,
        }
    }
}

/// At most `max` of `items`, drawn uniformly without replacement with [`ChaCha8Rng`] seeded
/// by `seed`, in their original order. All of them when `max` is `None` or not smaller.
pub fn seeded_subset<T>(items: Vec<T>, max: Option<usize>, seed: u64) -> Vec<T> {
    let Some(max) = max.filter(|&m| m < items.len()) else {
        return items;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut keep = vec![false; items.len()];
    for i in sample(&mut rng, items.len(), max) {
        keep[i] = true;
    }
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, k)| k.then_some(item))
        .collect()
}

/// The ROC over every pair the standard protocol ranks (junk and the query's identity seen by
/// its own camera left out) of a `[queries x gallery]` matrix.
pub fn standard_roc(scores: &[f32], query: &[Labels], gallery: &[Labels]) -> Option<Roc> {
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for (row, q) in scores.chunks(gallery.len().max(1)).zip(query) {
        for (s, g) in row.iter().zip(gallery) {
            if !q.keeps(g) {
                continue;
            }
            if q.matches(g) {
                same.push(*s);
            } else {
                different.push(*s);
            }
        }
    }
    roc(&same, &different)
}

/// What an evaluation keeps besides its summary numbers.
#[derive(Debug, Clone)]
pub struct Details {
    /// See [`crate::engine::Evaluation::per_query`].
    pub per_query: Vec<QueryResult>,
    /// Every score computed.
    pub scores: Arc<ScoreTable>,
    /// ROC over every pair scored.
    pub roc: Option<Roc>,
}

/// The details of a query / gallery evaluation (standard or single-shot protocol) of a
/// `[queries x gallery]` matrix. The authors' protocol goes through [`authors_details`].
///
/// # Errors
/// [`EvalError::ShapeMismatch`] for a matrix of the wrong size, [`EvalError::NoDraws`].
pub fn split_details(
    protocol: &Protocol,
    scores: Vec<f32>,
    query: &[Labels],
    gallery: &[Labels],
    top_k: usize,
) -> Result<Details, EvalError> {
    let per_query = match *protocol {
        Protocol::SingleShot { draws, seed } => {
            single_shot_results(&scores, query, gallery, draws, seed, top_k)?
        }
        _ => standard_results(&scores, query, gallery, top_k)?,
    };
    let roc = standard_roc(&scores, query, gallery);
    Ok(Details {
        per_query,
        roc,
        scores: Arc::new(ScoreTable::Dense {
            rows: query.len(),
            cols: gallery.len(),
            values: scores,
        }),
    })
}

/// The details of the authors' protocol: `pairs` (sorted, as [`crate::eval::authors_pairs`]
/// gives them) scored `scores`, over the test images `labels`. The ROC is over every scored
/// pair, same identity against different identity.
pub fn authors_details(
    labels: &[Labels],
    draws: &[AuthorsDraw],
    pairs: Vec<(usize, usize)>,
    scores: Vec<f32>,
    top_k: usize,
) -> Details {
    let table = ScoreTable::Pairs {
        n: labels.len(),
        pairs,
        values: scores,
    };
    let per_query = authors_results(labels, draws, |p, g| table.get(p, g), top_k);
    let (mut same, mut different) = (Vec::new(), Vec::new());
    if let ScoreTable::Pairs { pairs, values, .. } = &table {
        for (&(p, g), &s) in pairs.iter().zip(values) {
            if labels[p].identity == labels[g].identity {
                same.push(s);
            } else {
                different.push(s);
            }
        }
    }
    Details {
        per_query,
        roc: roc(&same, &different),
        scores: Arc::new(table),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_is_seeded_ordered_and_bounded() {
        let items: Vec<usize> = (0..100).collect();
        let a = seeded_subset(items.clone(), Some(10), 7);
        let b = seeded_subset(items.clone(), Some(10), 7);
        let c = seeded_subset(items.clone(), Some(10), 8);
        assert_eq!(a.len(), 10);
        assert_eq!(a, b, "same seed, same subset");
        assert_ne!(a, c, "another seed, another subset");
        assert!(a.windows(2).all(|w| w[0] < w[1]), "file order kept");
        assert_eq!(seeded_subset(items.clone(), Some(200), 7), items);
        assert_eq!(seeded_subset(items.clone(), None, 7), items);
    }
}
