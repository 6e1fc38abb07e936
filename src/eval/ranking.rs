//! Ranking one query against a gallery, and the per-query measures: first-match rank and AP.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::{CMC_MAX_RANK, CmcAccumulator, EvalError, Labels, Metrics};

/// What one evaluated query contributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryOutcome {
    /// 1-based rank of the first correct match among the kept gallery images.
    pub first_match_rank: usize,
    /// Average precision of the query (see [`average_precision`]).
    pub average_precision: f64,
    /// Inverse negative penalty: matches / rank of the last match (see [`inverse_negative_penalty`]).
    pub inp: f64,
    /// Number of correct matches among the kept gallery images.
    pub matches: usize,
}

/// The ranking order on `(gallery index, score)` pairs: higher score first, NaN after every
/// number, equal scores (and NaNs) by ascending gallery index. `Ordering::Less` means `a` ranks
/// before `b`. Only equal indices compare `Equal`.
pub fn compare_ranked(a: (usize, f32), b: (usize, f32)) -> Ordering {
    let by_score = match (a.1.is_nan(), b.1.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal),
    };
    by_score.then(a.0.cmp(&b.0))
}

/// Gallery indices of one score row, best first: higher score first, ties by ascending index
/// (stable), NaN last. `scores_row`: `[gallery]`.
pub fn rank_order(scores_row: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores_row.len()).collect();
    // The comparator is a total order (the index breaks every tie), so an unstable sort gives
    // the same result as a stable one.
    order.sort_unstable_by(|&a, &b| compare_ranked((a, scores_row[a]), (b, scores_row[b])));
    order
}

/// The ranked list of one query under the standard protocol, as hit flags: gallery images the
/// query does not keep (junk, same identity and camera) are dropped, and each remaining position
/// is `true` when it is a correct match. `scores_row`: `[gallery]`.
///
/// # Errors
/// [`EvalError::RowLength`] when `scores_row.len() != gallery.len()`.
pub fn ranked_hits(
    scores_row: &[f32],
    query: &Labels,
    gallery: &[Labels],
) -> Result<Vec<bool>, EvalError> {
    if scores_row.len() != gallery.len() {
        return Err(EvalError::RowLength {
            len: scores_row.len(),
            gallery: gallery.len(),
        });
    }
    Ok(rank_order(scores_row)
        .into_iter()
        .filter_map(|g| {
            let labels = &gallery[g];
            query.keeps(labels).then(|| query.matches(labels))
        })
        .collect())
}

/// 1-based rank of the first `true` in a ranked hit list, `None` when there is none.
pub fn first_match_rank(hits: &[bool]) -> Option<usize> {
    hits.iter().position(|&h| h).map(|i| i + 1)
}

/// Average precision of a ranked hit list: the mean, over every hit at 1-based rank `r`, of the
/// precision `hits in 1..=r / r`. `None` when the list has no hit.
///
/// Example: hits at ranks 2 and 4 give `(1/2 + 2/4) / 2 = 0.5`.
pub fn average_precision(hits: &[bool]) -> Option<f64> {
    let mut found = 0usize;
    let mut sum = 0.0f64;
    for (i, _) in hits.iter().enumerate().filter(|(_, h)| **h) {
        found += 1;
        sum += found as f64 / (i + 1) as f64;
    }
    (found > 0).then(|| sum / found as f64)
}

/// Inverse negative penalty of a ranked hit list (fast-reid's INP): the number of hits divided
/// by the 1-based rank of the last hit. `None` when the list has no hit.
///
/// Example: hits at ranks 1 and 4 give `2 / 4 = 0.5`.
pub fn inverse_negative_penalty(hits: &[bool]) -> Option<f64> {
    let last = hits.iter().rposition(|&h| h)?;
    let found = hits.iter().filter(|&&h| h).count();
    Some(found as f64 / (last + 1) as f64)
}

/// Rank one query against the whole gallery under the standard protocol. `Ok(None)`: the query
/// has no valid match (it would be skipped). `scores_row`: `[gallery]`.
///
/// # Errors
/// [`EvalError::RowLength`] when `scores_row.len() != gallery.len()`.
pub fn evaluate_query(
    scores_row: &[f32],
    query: &Labels,
    gallery: &[Labels],
) -> Result<Option<QueryOutcome>, EvalError> {
    let hits = ranked_hits(scores_row, query, gallery)?;
    Ok(outcome_of(&hits))
}

pub(super) fn outcome_of(hits: &[bool]) -> Option<QueryOutcome> {
    let first_match_rank = first_match_rank(hits)?;
    let average_precision = average_precision(hits)?;
    Some(QueryOutcome {
        first_match_rank,
        average_precision,
        inp: inverse_negative_penalty(hits)?,
        matches: hits.iter().filter(|&&h| h).count(),
    })
}

/// Standard protocol over a checked, non-empty `[queries x gallery]` matrix.
pub(super) fn evaluate_standard(
    scores: &[f32],
    query: &[Labels],
    gallery: &[Labels],
) -> Result<Metrics, EvalError> {
    // Queries are ranked in parallel; outcomes are collected in query order and summed
    // sequentially, so the result does not depend on the thread count.
    let outcomes: Vec<Option<QueryOutcome>> = scores
        .par_chunks(gallery.len())
        .zip(query.par_iter())
        .map(|(row, q)| evaluate_query(row, q, gallery))
        .collect::<Result<_, _>>()?;
    let mut acc = CmcAccumulator::new(gallery.len().min(CMC_MAX_RANK));
    for o in outcomes {
        acc.add(o);
    }
    if acc.evaluated() == 0 {
        return Err(EvalError::NoValidQueries {
            skipped: acc.skipped(),
        });
    }
    let (cmc, map) = acc.finish();
    Ok(Metrics::from_curve(
        cmc,
        map,
        acc.evaluated(),
        acc.skipped(),
        gallery.len(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rank_order_breaks_ties_by_index_and_puts_nan_last() {
        // Scores by index: 0:0.5 1:0.7 2:0.5 3:NaN 4:0.7 5:-inf 6:NaN
        // 0.7 (1, 4), then 0.5 (0, 2), then -inf (5), then NaN (3, 6).
        let row = [0.5, 0.7, 0.5, f32::NAN, 0.7, f32::NEG_INFINITY, f32::NAN];
        assert_eq!(rank_order(&row), vec![1, 4, 0, 2, 5, 3, 6]);
    }

    #[test]
    fn signed_zeros_tie() {
        assert_eq!(rank_order(&[-0.0, 0.0]), vec![0, 1]);
        assert_eq!(rank_order(&[0.0, -0.0]), vec![0, 1]);
    }

    #[test]
    fn empty_row_ranks_nothing() {
        assert!(rank_order(&[]).is_empty());
    }

    #[test]
    fn average_precision_by_hand() {
        // Hits at ranks 1 and 4: (1/1 + 2/4) / 2 = 0.75.
        assert_eq!(average_precision(&[true, false, false, true]), Some(0.75));
        // Hits at ranks 2 and 4: (1/2 + 2/4) / 2 = 0.5.
        assert_eq!(average_precision(&[false, true, false, true]), Some(0.5));
        // Hits at ranks 1, 2, 3: (1 + 1 + 1) / 3 = 1.
        assert_eq!(average_precision(&[true, true, true, false]), Some(1.0));
        // One hit at rank 3: 1/3.
        let ap = average_precision(&[false, false, true]).unwrap();
        assert!((ap - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(average_precision(&[false, false]), None);
        assert_eq!(average_precision(&[]), None);
    }

    #[test]
    fn inverse_negative_penalty_by_hand() {
        // Hits at ranks 1 and 4: 2 / 4.
        assert_eq!(
            inverse_negative_penalty(&[true, false, false, true]),
            Some(0.5)
        );
        // Hits at ranks 1, 2, 3 then misses: 3 / 3.
        assert_eq!(
            inverse_negative_penalty(&[true, true, true, false]),
            Some(1.0)
        );
        // One hit at rank 3: 1 / 3 (= its AP).
        assert_eq!(
            inverse_negative_penalty(&[false, false, true]),
            Some(1.0 / 3.0)
        );
        assert_eq!(inverse_negative_penalty(&[false]), None);
    }

    #[test]
    fn first_match_rank_is_one_based() {
        assert_eq!(first_match_rank(&[false, false, true, true]), Some(3));
        assert_eq!(first_match_rank(&[true]), Some(1));
        assert_eq!(first_match_rank(&[false]), None);
    }

    #[test]
    fn ranked_hits_drops_junk_and_same_camera_keeps_distractors() {
        let q = Labels::new(7, Some(1));
        let gallery = [
            Labels::new(7, Some(1)),  // same id, same camera: dropped
            Labels::new(-1, Some(2)), // junk: dropped
            Labels::new(0, Some(2)),  // distractor: kept, no match
            Labels::new(7, Some(2)),  // match
            Labels::new(7, None),     // camera unknown: kept, match
        ];
        let row = [0.9, 0.8, 0.7, 0.6, 0.5];
        assert_eq!(
            ranked_hits(&row, &q, &gallery).unwrap(),
            vec![false, true, true]
        );
        let o = evaluate_query(&row, &q, &gallery).unwrap().unwrap();
        assert_eq!(o.first_match_rank, 2);
        assert_eq!(o.matches, 2);
        // Hits at ranks 2, 3: (1/2 + 2/3) / 2 = 7/12.
        assert!((o.average_precision - 7.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn query_without_match_has_no_outcome() {
        let q = Labels::new(3, Some(1));
        let gallery = [Labels::new(3, Some(1)), Labels::new(4, Some(2))];
        assert_eq!(evaluate_query(&[0.1, 0.2], &q, &gallery).unwrap(), None);
    }

    #[test]
    fn row_length_mismatch_is_an_error() {
        let q = Labels::new(3, None);
        let gallery = [Labels::new(3, None)];
        assert_eq!(
            evaluate_query(&[0.1, 0.2], &q, &gallery),
            Err(EvalError::RowLength { len: 2, gallery: 1 })
        );
    }
}
