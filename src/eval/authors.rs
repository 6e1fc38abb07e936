//! The authors' CUHK03 test protocol (their `src/test.lua`, the protocol behind the paper's
//! numbers), on plain labels and scores.
//!
//! One set of **test images** (every labelled image of the test identities) is used as both
//! probes and gallery:
//! - per draw, ONE gallery image per identity is chosen uniformly at random among ALL of that
//!   identity's test images, whatever their camera ([`authors_draws`]);
//! - EVERY other test image is a probe of that draw; it is ranked against the draw's gallery
//!   (one image per identity) by p(same), highest first;
//! - a probe has exactly one true match (its identity's gallery image), so its CMC entry is the
//!   rank `r` of that image and its average precision is `1 / r`;
//! - CMC rank-1/5/10/20 and mAP are computed per draw, then averaged over draws, with the sample
//!   standard deviation over draws as the spread ([`evaluate_authors`]).
//!
//! Same-camera and cross-camera probes are also reported apart: a probe is *same-camera* when
//! its camera equals the camera of its identity's gallery image of that draw, *cross-camera*
//! when both cameras are known and differ, *unknown* otherwise. Their rank-1 is pooled over all
//! (probe, draw) pairs, so `rank1 * (same + cross) = rank1_same * same + rank1_cross * cross`
//! whenever every camera is known.
//!
//! Labels: junk images (negative identity) take no part at all (never gallery, never probe).
//! Distractors (identity `0`) are treated as one ordinary identity. An identity with a single
//! image has no probe, but its image is still the gallery image of that identity in every draw
//! (one more wrong candidate for everyone else).
//!
//! Ties and NaN follow [`compare_ranked`] with the test-image index as the tie-breaker: a
//! gallery image ranks before the true match when its score is higher, or equal and its index
//! lower; NaN ranks after every number.
//!
//! # Using it
//! ```
//! use reid_explorer::eval::{Labels, authors_draws, authors_pairs, evaluate_authors};
//! // Test images: identity 1 seen twice, identity 2 seen twice.
//! let labels = [
//!     Labels::new(1, Some(1)),
//!     Labels::new(1, Some(2)),
//!     Labels::new(2, Some(1)),
//!     Labels::new(2, Some(2)),
//! ];
//! let draws = authors_draws(&labels, 10, 7).unwrap();
//! // Score only what is needed (each (probe, gallery) pair once over all draws) ...
//! let pairs = authors_pairs(&labels, &draws);
//! let scores: Vec<f32> = pairs
//!     .iter()
//!     .map(|&(p, g)| if labels[p].identity == labels[g].identity { 0.9 } else { 0.1 })
//!     .collect();
//! // ... and look them up.
//! let lookup = |p: usize, g: usize| {
//!     pairs.binary_search(&(p, g)).map_or(f32::NAN, |k| scores[k])
//! };
//! let m = evaluate_authors(&labels, &draws, lookup).unwrap();
//! assert_eq!(m.mean.rank1, 1.0);
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{CMC_MAX_RANK, EvalError, Labels, Metrics, cmc_at, compare_ranked};

/// One draw of the authors' protocol: its gallery.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuthorsDraw {
    /// `gallery[k]`: index (into the test images' labels) of the gallery image of the `k`-th
    /// identity, identities in ascending order, junk excluded. One entry per identity.
    pub gallery: Vec<usize>,
}

impl AuthorsDraw {
    /// The gallery image of `identity` in this draw, if the identity has one.
    pub fn gallery_of(&self, labels: &[Labels], identity: i64) -> Option<usize> {
        let k = self
            .gallery
            .binary_search_by_key(&identity, |&g| {
                labels.get(g).map_or(i64::MIN, |l| l.identity)
            })
            .ok()?;
        self.gallery.get(k).copied()
    }

    /// The probes of this draw, in index order: `(probe, true match)` for every non-junk test
    /// image that is not a gallery image, with the gallery image of its identity.
    pub fn probes<'a>(&'a self, labels: &'a [Labels]) -> impl Iterator<Item = (usize, usize)> + 'a {
        labels
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_junk())
            .filter_map(|(i, l)| {
                let g = self.gallery_of(labels, l.identity)?;
                (g != i).then_some((i, g))
            })
    }
}

/// Non-junk test images grouped by identity: identities ascending, indices ascending.
fn identity_groups(labels: &[Labels]) -> Vec<(i64, Vec<usize>)> {
    let mut map: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate().filter(|(_, l)| !l.is_junk()) {
        map.entry(l.identity).or_default().push(i);
    }
    map.into_iter().collect()
}

/// Draw the galleries of the authors' protocol.
///
/// `labels`: one entry per test image (the caller's indexing, used everywhere after).
/// Returns `draws` [`AuthorsDraw`]s; draw `d` picks, for each non-junk identity in ascending
/// order, one of its images uniformly at random (cameras ignored). Deterministic for a seed
/// ([`ChaCha8Rng`] seeded with `seed`, identities visited in ascending order, draw after draw).
///
/// # Errors
/// [`EvalError::NoDraws`] when `draws == 0`; [`EvalError::NoProbes`] when no identity has two
/// non-junk images (no draw would have a probe).
pub fn authors_draws(
    labels: &[Labels],
    draws: usize,
    seed: u64,
) -> Result<Vec<AuthorsDraw>, EvalError> {
    if draws == 0 {
        return Err(EvalError::NoDraws);
    }
    let groups = identity_groups(labels);
    if !groups.iter().any(|(_, members)| members.len() >= 2) {
        return Err(EvalError::NoProbes);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok((0..draws)
        .map(|_| AuthorsDraw {
            gallery: groups
                .iter()
                .filter_map(|(_, members)| {
                    members
                        .get(rng.random_range(0..members.len().max(1)))
                        .copied()
                })
                .collect(),
        })
        .collect())
}

/// Every `(probe, gallery image)` pair some draw ranks, each once: sorted ascending, no
/// duplicates. Score these (probe image first, gallery image second, as `evaluate_authors`'s
/// lookup is asked) and the lookup never misses. Pairs whose gallery index is outside
/// `labels` are left out.
pub fn authors_pairs(labels: &[Labels], draws: &[AuthorsDraw]) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = draws
        .iter()
        .flat_map(|d| {
            d.probes(labels)
                .flat_map(move |(p, _)| d.gallery.iter().map(move |&g| (p, g)))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Measures of one draw. Fractions in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawMetrics {
    /// CMC of the draw, length `min(50, identities)`.
    pub cmc: Vec<f64>,
    /// Mean of `1 / rank` over the draw's probes.
    pub map: f64,
    /// Probes whose camera equals their gallery image's camera.
    pub same_camera_probes: usize,
    /// ... of which ranked their match first.
    pub same_camera_hits: usize,
    /// Probes whose camera is known and differs from their gallery image's (also known).
    pub cross_camera_probes: usize,
    /// ... of which ranked their match first.
    pub cross_camera_hits: usize,
}

/// Results of the authors' protocol. Fractions are in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorsMetrics {
    /// Means over draws: `cmc` (length `min(50, identities)`), rank-1/5/10/20 and mAP.
    /// `queries` = probes per draw, `gallery` = identities (one image each),
    /// `skipped_queries` = 0.
    pub mean: Metrics,
    /// Number of draws.
    pub draws: usize,
    /// Identities (= gallery images per draw), junk excluded.
    pub identities: usize,
    /// Probes per draw (the same every draw: test images minus one per identity).
    pub probes_per_draw: usize,
    /// Sample standard deviation over draws (divisor `draws - 1`; 0 for one draw) of rank-1.
    pub rank1_std: f64,
    /// ... of rank-5.
    pub rank5_std: f64,
    /// ... of rank-10.
    pub rank10_std: f64,
    /// ... of rank-20.
    pub rank20_std: f64,
    /// ... of mAP.
    pub map_std: f64,
    /// Rank-1 over the same-camera (probe, draw) pairs of all draws; `None` when there are none.
    pub rank1_same_camera: Option<f64>,
    /// Rank-1 over the cross-camera (probe, draw) pairs of all draws; `None` when there are none.
    pub rank1_cross_camera: Option<f64>,
    /// Same-camera probes summed over draws.
    pub same_camera_probes: usize,
    /// Cross-camera probes summed over draws.
    pub cross_camera_probes: usize,
    /// Probes with an unknown camera (theirs or their gallery image's), summed over draws.
    pub unknown_camera_probes: usize,
    /// Each draw's own measures, in draw order.
    pub per_draw: Vec<DrawMetrics>,
}

/// Rank (1-based) of `truth` among `gallery` for one probe: 1 + the gallery images ranked
/// before it by [`compare_ranked`].
fn rank_of<F: FnMut(usize, usize) -> f32>(
    probe: usize,
    truth: usize,
    gallery: &[usize],
    score: &mut F,
) -> usize {
    let t = (truth, score(probe, truth));
    1 + gallery
        .iter()
        .filter(|&&g| g != truth && compare_ranked((g, score(probe, g)), t) == Ordering::Less)
        .count()
}

/// Evaluate drawn galleries ([`authors_draws`]) with a score lookup.
///
/// - `labels`: `[test images]`, the labels the draws were made from.
/// - `draws`: the galleries, one [`AuthorsDraw`] per draw.
/// - `score(probe, gallery)`: p(same) of test image `probe` (the network's first input) with
///   test image `gallery` (second input), higher = more alike. Asked only for the pairs
///   [`authors_pairs`] lists (possibly more than once); it may memoise or read a matrix.
///
/// See the module documentation for the protocol.
///
/// # Errors
/// [`EvalError::NoDraws`] for no draw; [`EvalError::BadDraw`] when a draw is not one gallery
/// image per non-junk identity of `labels` (identities ascending); [`EvalError::NoProbes`] when
/// the draws leave no probe.
pub fn evaluate_authors<F: FnMut(usize, usize) -> f32>(
    labels: &[Labels],
    draws: &[AuthorsDraw],
    mut score: F,
) -> Result<AuthorsMetrics, EvalError> {
    if draws.is_empty() {
        return Err(EvalError::NoDraws);
    }
    let groups = identity_groups(labels);
    for (d, draw) in draws.iter().enumerate() {
        let fits =
            draw.gallery.len() == groups.len()
                && draw.gallery.iter().zip(&groups).all(|(&g, (identity, _))| {
                    labels.get(g).is_some_and(|l| l.identity == *identity)
                });
        if !fits {
            return Err(EvalError::BadDraw { draw: d });
        }
    }
    let identities = groups.len();
    let len = identities.min(CMC_MAX_RANK);
    let mut per_draw = Vec::with_capacity(draws.len());
    let mut probes_per_draw = 0;
    let mut unknown = 0;
    for draw in draws {
        let mut first = vec![0u64; len];
        let (mut probes, mut ap_sum) = (0usize, 0.0f64);
        let mut dm = DrawMetrics {
            cmc: Vec::new(),
            map: 0.0,
            same_camera_probes: 0,
            same_camera_hits: 0,
            cross_camera_probes: 0,
            cross_camera_hits: 0,
        };
        for (p, truth) in draw.probes(labels) {
            let rank = rank_of(p, truth, &draw.gallery, &mut score);
            probes += 1;
            ap_sum += 1.0 / rank as f64;
            if let Some(slot) = first.get_mut(rank - 1) {
                *slot += 1;
            }
            let hit = usize::from(rank == 1);
            let (pl, gl) = (labels[p], labels[truth]);
            match (pl.camera, gl.camera) {
                (Some(a), Some(b)) if a == b => {
                    dm.same_camera_probes += 1;
                    dm.same_camera_hits += hit;
                }
                (Some(_), Some(_)) => {
                    dm.cross_camera_probes += 1;
                    dm.cross_camera_hits += hit;
                }
                _ => unknown += 1,
            }
        }
        if probes == 0 {
            return Err(EvalError::NoProbes);
        }
        probes_per_draw = probes;
        let mut running = 0u64;
        dm.cmc = first
            .iter()
            .map(|&c| {
                running += c;
                running as f64 / probes as f64
            })
            .collect();
        dm.map = ap_sum / probes as f64;
        per_draw.push(dm);
    }

    let n = draws.len() as f64;
    let mut cmc = vec![0.0f64; len];
    for dm in &per_draw {
        for (sum, v) in cmc.iter_mut().zip(&dm.cmc) {
            *sum += v;
        }
    }
    cmc.iter_mut().for_each(|v| *v /= n);
    let map = per_draw.iter().map(|d| d.map).sum::<f64>() / n;
    let std_of = |f: &dyn Fn(&DrawMetrics) -> f64| -> f64 {
        if per_draw.len() < 2 {
            return 0.0;
        }
        let mean = per_draw.iter().map(f).sum::<f64>() / n;
        let ss: f64 = per_draw.iter().map(|d| (f(d) - mean).powi(2)).sum();
        (ss / (n - 1.0)).sqrt()
    };
    let sum = |f: fn(&DrawMetrics) -> usize| per_draw.iter().map(f).sum::<usize>();
    let (same, same_hits) = (sum(|d| d.same_camera_probes), sum(|d| d.same_camera_hits));
    let (cross, cross_hits) = (sum(|d| d.cross_camera_probes), sum(|d| d.cross_camera_hits));
    let ratio = |hits: usize, total: usize| (total > 0).then(|| hits as f64 / total as f64);
    Ok(AuthorsMetrics {
        // One true match per probe: INP = 1 / rank = AP, so mINP = mAP.
        mean: Metrics::from_curve(cmc, (map, map), probes_per_draw, 0, identities),
        draws: draws.len(),
        identities,
        probes_per_draw,
        rank1_std: std_of(&|d| cmc_at(&d.cmc, 1)),
        rank5_std: std_of(&|d| cmc_at(&d.cmc, 5)),
        rank10_std: std_of(&|d| cmc_at(&d.cmc, 10)),
        rank20_std: std_of(&|d| cmc_at(&d.cmc, 20)),
        map_std: std_of(&|d| d.map),
        rank1_same_camera: ratio(same_hits, same),
        rank1_cross_camera: ratio(cross_hits, cross),
        same_camera_probes: same,
        cross_camera_probes: cross,
        unknown_camera_probes: unknown,
        per_draw,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    fn l(identity: i64, camera: u32) -> Labels {
        Labels::new(identity, Some(camera))
    }

    /// Three identities (A = 1, B = 2, C = 3), two cameras:
    /// 0: A c1, 1: A c2, 2: B c1, 3: B c2, 4: B c2, 5: C c1, 6: junk c1.
    fn three() -> Vec<Labels> {
        vec![
            l(1, 1),
            l(1, 2),
            l(2, 1),
            l(2, 2),
            l(2, 2),
            l(3, 1),
            l(-1, 1),
        ]
    }

    /// Hand-written score table `[7 x 7]`: `S[p][g]`.
    const S: [[f32; 7]; 7] = [
        // g:  0    1    2    3    4    5    6
        [0.0, 0.5, 0.6, 0.2, 0.7, 0.1, 0.9], // p = 0 (A c1)
        [0.8, 0.0, 0.3, 0.9, 0.1, 0.2, 0.9], // p = 1 (A c2)
        [0.1, 0.2, 0.0, 0.4, 0.9, 0.5, 0.9], // p = 2 (B c1)
        [0.9, 0.1, 0.6, 0.0, 0.7, 0.8, 0.9], // p = 3 (B c2)
        [0.3, 0.8, 0.3, 0.7, 0.0, 0.8, 0.9], // p = 4 (B c2)
        [0.2, 0.1, 0.4, 0.4, 0.4, 0.0, 0.9], // p = 5 (C c1)
        [0.9; 7],                            // p = 6 (junk, never a probe)
    ];

    fn lookup(p: usize, g: usize) -> f32 {
        S[p][g]
    }

    #[test]
    fn hand_computed_ranks_of_two_draws() {
        let labels = three();
        // Draw 1: A -> 0, B -> 2, C -> 5. Probes: 1 (A), 3, 4 (B).
        //   p1: truth 0 (0.8) vs 2 (0.3), 5 (0.2): rank 1, cross camera (c2 vs c1).
        //   p3: truth 2 (0.6) vs 0 (0.9), 5 (0.8): rank 3, cross.
        //   p4: truth 2 (0.3) vs 0 (0.3, lower index wins the tie), 5 (0.8): rank 3, cross.
        // Draw 2: A -> 1, B -> 4, C -> 5. Probes: 0 (A), 2, 3 (B).
        //   p0: truth 1 (0.5) vs 4 (0.7), 5 (0.1): rank 2, cross (c1 vs c2).
        //   p2: truth 4 (0.9) vs 1 (0.2), 5 (0.5): rank 1, cross (c1 vs c2).
        //   p3: truth 4 (0.7) vs 1 (0.1), 5 (0.8): rank 2, same camera (c2, c2).
        let draws = [
            AuthorsDraw {
                gallery: vec![0, 2, 5],
            },
            AuthorsDraw {
                gallery: vec![1, 4, 5],
            },
        ];
        let m = evaluate_authors(&labels, &draws, lookup).unwrap();
        assert_eq!(m.draws, 2);
        assert_eq!(m.identities, 3);
        assert_eq!(m.probes_per_draw, 3);
        // Draw 1 ranks 1, 3, 3: CMC [1/3, 1/3, 1]; AP (1 + 1/3 + 1/3) / 3 = 5/9.
        // Draw 2 ranks 2, 1, 2: CMC [1/3, 1, 1]; AP (1/2 + 1 + 1/2) / 3 = 2/3.
        let d1 = &m.per_draw[0];
        let d2 = &m.per_draw[1];
        assert_eq!(d1.cmc, vec![1.0 / 3.0, 1.0 / 3.0, 1.0]);
        assert_eq!(d2.cmc, vec![1.0 / 3.0, 1.0, 1.0]);
        assert!((d1.map - 5.0 / 9.0).abs() < 1e-12);
        assert!((d2.map - 2.0 / 3.0).abs() < 1e-12);
        // Means: CMC [1/3, 2/3, 1] (a 3-identity curve: rank-5 and up read 1).
        assert!((m.mean.rank1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.mean.cmc[1] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.mean.rank5, 1.0);
        assert_eq!(m.mean.rank20, 1.0);
        assert!((m.mean.map - (5.0 / 9.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.mean.queries, 3);
        assert_eq!(m.mean.gallery, 3);
        // Spread: rank-1 equal in both draws; mAP 5/9 vs 6/9: sample std = (1/9) / sqrt(2).
        assert_eq!(m.rank1_std, 0.0);
        assert!((m.map_std - (1.0 / 9.0) / 2f64.sqrt()).abs() < 1e-12);
        // Same camera: only draw 2's p3 (rank 2): rank-1 0/1. Cross: 5, hits p1 (d1), p2 (d2).
        assert_eq!(m.same_camera_probes, 1);
        assert_eq!(m.cross_camera_probes, 5);
        assert_eq!(m.unknown_camera_probes, 0);
        assert_eq!(m.rank1_same_camera, Some(0.0));
        assert_eq!(m.rank1_cross_camera, Some(0.4));
        // rank-1 is the probe-weighted mix of the two.
        let mixed = (0.0 * 1.0 + 0.4 * 5.0) / 6.0;
        assert!((m.mean.rank1 - mixed).abs() < 1e-12);
    }

    #[test]
    fn draws_pick_one_image_per_identity_from_either_camera_and_never_junk() {
        let labels = three();
        let draws = authors_draws(&labels, 300, 11).unwrap();
        assert_eq!(draws.len(), 300);
        let mut seen = [false; 7];
        for d in &draws {
            assert_eq!(d.gallery.len(), 3, "{d:?}");
            assert!(d.gallery[0] <= 1, "A is image 0 or 1: {d:?}");
            assert!((2..=4).contains(&d.gallery[1]), "B is image 2..4: {d:?}");
            assert_eq!(d.gallery[2], 5, "C has one image");
            for &g in &d.gallery {
                seen[g] = true;
            }
            // Probes: every non-junk image but the three gallery images.
            let probes: Vec<usize> = d.probes(&labels).map(|(p, _)| p).collect();
            assert_eq!(probes.len(), 3);
            assert!(!probes.contains(&6) && !probes.iter().any(|p| d.gallery.contains(p)));
        }
        // Every image of A and B (both cameras) is drawn at some point; junk never.
        assert_eq!(seen, [true, true, true, true, true, true, false]);
    }

    #[test]
    fn same_seed_same_draws_and_numbers() {
        let labels = three();
        let a = authors_draws(&labels, 10, 42).unwrap();
        let b = authors_draws(&labels, 10, 42).unwrap();
        let c = authors_draws(&labels, 10, 43).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c, "another seed draws other galleries");
        assert_eq!(
            evaluate_authors(&labels, &a, lookup).unwrap(),
            evaluate_authors(&labels, &b, lookup).unwrap()
        );
    }

    #[test]
    fn pairs_cover_every_lookup_once() {
        let labels = three();
        let draws = authors_draws(&labels, 10, 5).unwrap();
        let pairs = authors_pairs(&labels, &draws);
        assert!(
            pairs.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicate"
        );
        let mut asked = Vec::new();
        let m = evaluate_authors(&labels, &draws, |p, g| {
            asked.push((p, g));
            S[p][g]
        })
        .unwrap();
        asked.sort_unstable();
        asked.dedup();
        assert_eq!(asked, pairs);
        assert_eq!(m.per_draw.len(), 10);
        // Probes never score against themselves and junk never appears.
        assert!(pairs.iter().all(|&(p, g)| p != g && p != 6 && g != 6));
    }

    #[test]
    fn unknown_cameras_are_neither_same_nor_cross() {
        let labels = [
            Labels::new(1, None),
            Labels::new(1, Some(1)),
            Labels::new(2, Some(1)),
        ];
        let draws = [AuthorsDraw {
            gallery: vec![1, 2],
        }];
        let m = evaluate_authors(&labels, &draws, |_, g| if g == 1 { 0.9 } else { 0.1 }).unwrap();
        assert_eq!(m.mean.rank1, 1.0);
        assert_eq!(m.unknown_camera_probes, 1);
        assert_eq!(m.rank1_same_camera, None);
        assert_eq!(m.rank1_cross_camera, None);
    }

    #[test]
    fn evaluate_reads_a_square_matrix_for_the_authors_protocol() {
        use crate::eval::{Protocol, evaluate};
        let labels = three();
        let flat: Vec<f32> = S.iter().flatten().copied().collect();
        let protocol = Protocol::Authors { draws: 6, seed: 3 };
        let via_matrix = evaluate(&flat, &labels, &labels, &protocol).unwrap();
        let draws = authors_draws(&labels, 6, 3).unwrap();
        assert_eq!(
            via_matrix,
            evaluate_authors(&labels, &draws, lookup).unwrap().mean
        );
        // Queries and gallery must be the same test images.
        let mut other = labels.clone();
        other[0] = l(9, 1);
        assert_eq!(
            evaluate(&flat, &labels, &other, &protocol),
            Err(EvalError::NotOneSet)
        );
    }

    #[test]
    fn bad_input_is_refused() {
        let labels = three();
        assert_eq!(authors_draws(&labels, 0, 1), Err(EvalError::NoDraws));
        let singles = [l(1, 1), l(2, 2), l(-1, 1), l(-1, 1)];
        assert_eq!(authors_draws(&singles, 3, 1), Err(EvalError::NoProbes));
        assert_eq!(authors_draws(&[], 3, 1), Err(EvalError::NoProbes));
        assert_eq!(
            evaluate_authors(&labels, &[], lookup),
            Err(EvalError::NoDraws)
        );
        // Junk as a gallery image, a missing identity, an index out of range.
        for gallery in [vec![0, 6, 5], vec![0, 2], vec![0, 2, 50]] {
            assert_eq!(
                evaluate_authors(&labels, &[AuthorsDraw { gallery }], lookup),
                Err(EvalError::BadDraw { draw: 0 })
            );
        }
    }
}
