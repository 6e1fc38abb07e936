//! Cross-camera single-shot gallery over a Market-style query / gallery split: one gallery image
//! per identity (from another camera than the query's when it has one), averaged over seeded
//! draws. Not the paper's protocol: that is [`super::authors`].

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::per_query::{QueryResult, rank_candidates};
use super::{CMC_MAX_RANK, CmcAccumulator, EvalError, Labels, Metrics, QueryOutcome};
use crate::eval::compare_ranked;

/// Non-junk gallery images grouped by identity, identities ascending, indices ascending.
struct IdentityGroups {
    groups: Vec<(i64, Vec<usize>)>,
}

impl IdentityGroups {
    fn new(gallery: &[Labels]) -> Self {
        let mut map: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, g) in gallery.iter().enumerate().filter(|(_, g)| !g.is_junk()) {
            map.entry(g.identity).or_default().push(i);
        }
        Self {
            groups: map.into_iter().collect(),
        }
    }

    fn len(&self) -> usize {
        self.groups.len()
    }

    /// One `(identity, gallery index)` per identity, identities ascending. Each pick is uniform
    /// among the identity's images whose camera is not `query_camera` (unknown cameras count as
    /// different); among all its images when it has no such image.
    fn draw<R: Rng + ?Sized>(
        &self,
        gallery: &[Labels],
        query_camera: Option<u32>,
        rng: &mut R,
    ) -> Vec<(i64, usize)> {
        let probe = Labels::new(0, query_camera);
        let mut preferred = Vec::new();
        self.groups
            .iter()
            .filter_map(|(identity, members)| {
                preferred.clear();
                preferred.extend(
                    members
                        .iter()
                        .copied()
                        .filter(|&g| !probe.same_camera(&gallery[g])),
                );
                let pool: &[usize] = if preferred.is_empty() {
                    members
                } else {
                    &preferred
                };
                // `pool` is never empty (groups only exist with a member); `get` keeps it
                // panic-free anyway.
                let pick = pool.get(rng.random_range(0..pool.len().max(1)))?;
                Some((*identity, *pick))
            })
            .collect()
    }
}

/// One single-shot draw of the gallery for queries taken by `query_camera`: gallery indices, one
/// per non-junk identity (identities ascending), each chosen uniformly among that identity's
/// images from another camera (or an unknown one) when it has any, among all its images
/// otherwise. Junk images (negative identity) are never chosen.
pub fn single_shot_gallery<R: Rng + ?Sized>(
    gallery: &[Labels],
    query_camera: Option<u32>,
    rng: &mut R,
) -> Vec<usize> {
    IdentityGroups::new(gallery)
        .draw(gallery, query_camera, rng)
        .into_iter()
        .map(|(_, g)| g)
        .collect()
}

/// Rank of the query's single drawn match among the drawn images. `chosen`: `(identity, index)`
/// sorted by identity; `row`: `[gallery]`.
fn single_outcome(
    row: &[f32],
    query: &Labels,
    gallery: &[Labels],
    chosen: &[(i64, usize)],
) -> Option<QueryOutcome> {
    let slot = chosen
        .binary_search_by_key(&query.identity, |&(id, _)| id)
        .ok()?;
    let &(_, m) = chosen.get(slot)?;
    let (labels, &score) = (gallery.get(m)?, row.get(m)?);
    if !query.keeps(labels) || !query.matches(labels) {
        return None;
    }
    let before = chosen
        .iter()
        .filter(|&&(_, j)| {
            j != m
                && query.keeps(&gallery[j])
                && compare_ranked((j, row[j]), (m, score)) == Ordering::Less
        })
        .count();
    let rank = before + 1;
    Some(QueryOutcome {
        first_match_rank: rank,
        // One match: precision at its rank, and the last match is the first.
        average_precision: 1.0 / rank as f64,
        inp: 1.0 / rank as f64,
        matches: 1,
    })
}

/// Single-shot protocol over a checked, non-empty `[queries x gallery]` matrix.
pub(super) fn evaluate_single_shot(
    scores: &[f32],
    query: &[Labels],
    gallery: &[Labels],
    draws: usize,
    seed: u64,
) -> Result<Metrics, EvalError> {
    if draws == 0 {
        return Err(EvalError::NoDraws);
    }
    let groups = IdentityGroups::new(gallery);
    let len = groups.len().min(CMC_MAX_RANK);
    let rows: Vec<&[f32]> = scores.chunks(gallery.len()).collect();

    // Queries by camera, cameras ascending: one gallery draw per camera per round.
    let mut by_camera: BTreeMap<Option<u32>, Vec<usize>> = BTreeMap::new();
    for (i, q) in query.iter().enumerate() {
        by_camera.entry(q.camera).or_default().push(i);
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cmc_sum = vec![0.0f64; len];
    let (mut map_sum, mut minp_sum) = (0.0f64, 0.0f64);
    let (mut evaluated, mut skipped) = (0, 0);
    for _ in 0..draws {
        let mut acc = CmcAccumulator::new(len);
        for (&camera, queries) in &by_camera {
            let chosen = groups.draw(gallery, camera, &mut rng);
            for &q in queries {
                let outcome = rows
                    .get(q)
                    .and_then(|row| single_outcome(row, &query[q], gallery, &chosen));
                acc.add(outcome);
            }
        }
        // Whether a query has a match does not depend on the draw (the preferred pool of its
        // identity is exactly its images from other cameras), so these are the same every round.
        (evaluated, skipped) = (acc.evaluated(), acc.skipped());
        if evaluated == 0 {
            return Err(EvalError::NoValidQueries { skipped });
        }
        let (cmc, (map, minp)) = acc.finish();
        for (sum, v) in cmc_sum.iter_mut().zip(cmc) {
            *sum += v;
        }
        map_sum += map;
        minp_sum += minp;
    }
    let n = draws as f64;
    let cmc = cmc_sum.into_iter().map(|s| s / n).collect();
    Ok(Metrics::from_curve(
        cmc,
        (map_sum / n, minp_sum / n),
        evaluated,
        skipped,
        gallery.len(),
    ))
}

/// Per-(query, draw) results of the single-shot protocol, the same draws as
/// [`super::evaluate`] with [`super::Protocol::SingleShot`] makes (same seed, same order):
/// each query ranked against its draw's gallery (one image per identity, the query's identity
/// seen by its own camera removed). Sorted by draw, then query. `scores`: `[queries x gallery]`.
///
/// # Errors
/// [`EvalError::ShapeMismatch`] for a matrix of the wrong size, [`EvalError::NoDraws`].
pub fn single_shot_results(
    scores: &[f32],
    query: &[Labels],
    gallery: &[Labels],
    draws: usize,
    seed: u64,
    top_k: usize,
) -> Result<Vec<QueryResult>, EvalError> {
    if query.len().checked_mul(gallery.len()) != Some(scores.len()) {
        return Err(EvalError::ShapeMismatch {
            len: scores.len(),
            queries: query.len(),
            gallery: gallery.len(),
        });
    }
    if draws == 0 {
        return Err(EvalError::NoDraws);
    }
    let groups = IdentityGroups::new(gallery);
    let mut by_camera: BTreeMap<Option<u32>, Vec<usize>> = BTreeMap::new();
    for (i, q) in query.iter().enumerate() {
        by_camera.entry(q.camera).or_default().push(i);
    }
    let cols = gallery.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(draws * query.len());
    for d in 0..draws {
        for (&camera, queries) in &by_camera {
            let chosen = groups.draw(gallery, camera, &mut rng);
            for &q in queries {
                let labels = query[q];
                let kept: Vec<usize> = chosen
                    .iter()
                    .map(|&(_, g)| g)
                    .filter(|&g| labels.keeps(&gallery[g]))
                    .collect();
                let score = |g: usize| scores.get(q * cols + g).copied().unwrap_or(f32::NAN);
                out.push(rank_candidates(
                    q,
                    labels,
                    Some(d),
                    kept,
                    gallery,
                    score,
                    top_k,
                ));
            }
        }
    }
    out.sort_by_key(|r| (r.draw, r.query));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn l(identity: i64, camera: u32) -> Labels {
        Labels::new(identity, Some(camera))
    }

    #[test]
    fn draw_takes_one_image_per_identity_and_prefers_other_cameras() {
        // Identity 1: cameras 1, 2, 2; identity 2: camera 1 only; identity 5: camera 2, 1.
        // Junk image 6 is never drawn.
        let gallery = [
            l(1, 1),
            l(1, 2),
            l(1, 2),
            l(2, 1),
            l(5, 2),
            l(5, 1),
            l(-1, 2),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen_1 = [false; 3];
        for _ in 0..200 {
            let drawn = single_shot_gallery(&gallery, Some(1), &mut rng);
            assert_eq!(drawn.len(), 3, "one image per identity: {drawn:?}");
            // Identity 1 from camera 2 (index 1 or 2); identity 2 only has camera 1 (index 3);
            // identity 5 from camera 2 (index 4).
            assert!(drawn[0] == 1 || drawn[0] == 2, "{drawn:?}");
            assert_eq!(&drawn[1..], &[3, 4]);
            seen_1[drawn[0]] = true;
        }
        // Both camera-2 images of identity 1 get drawn: the pick is random, not the first one.
        assert_eq!(seen_1, [false, true, true]);
    }

    #[test]
    fn unknown_query_camera_draws_among_all_images() {
        let gallery = [l(1, 1), l(1, 2)];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut seen = [false; 2];
        for _ in 0..100 {
            let drawn = single_shot_gallery(&gallery, None, &mut rng);
            assert_eq!(drawn.len(), 1);
            seen[drawn[0]] = true;
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn single_outcome_counts_only_drawn_images() {
        // Query identity 1 camera 1. Drawn: identity 1 -> index 2, identity 3 -> index 0,
        // identity 4 -> index 3. Index 1 (identity 3, score 0.95) is not drawn and must not count.
        let gallery = [l(3, 2), l(3, 2), l(1, 2), l(4, 2)];
        let row = [0.9, 0.95, 0.5, 0.1];
        let chosen = [(1, 2), (3, 0), (4, 3)];
        let o = single_outcome(&row, &l(1, 1), &gallery, &chosen).unwrap();
        // Only index 0 (0.9) beats the match (0.5): rank 2, AP 1/2.
        assert_eq!(o.first_match_rank, 2);
        assert_eq!(o.average_precision, 0.5);
    }

    #[test]
    fn single_outcome_skips_same_camera_match() {
        let gallery = [l(1, 1), l(2, 2)];
        let chosen = [(1, 0), (2, 1)];
        assert_eq!(
            single_outcome(&[0.9, 0.1], &l(1, 1), &gallery, &chosen),
            None
        );
    }
}
