//! Image-reuse batches: K identities x M images per step, and the pairs formed among them.
//!
//! In pair batching every pair runs the network's trunk on both of its images; the trunk is
//! about two thirds of a pair's arithmetic. A reuse batch runs the trunk once per image and
//! scores many pairs of the same images:
//! - identities (those with at least two usable images) are shuffled once per epoch and taken K
//!   at a time; the last batch of an epoch is filled up from the start of the order, so every
//!   batch has K identities and an epoch is `ceil(identities / K)` steps;
//! - per identity, M images drawn without replacement (all of them when it has fewer); with
//!   `camera_balanced`, drawn in turn from each of the identity's cameras (2 + 2 of a two-camera
//!   identity at M = 4: 4 of its 6 positives cross-camera, against ~3.3 for a random draw of
//!   5 + 5 images);
//! - positives: every pair of an identity's drawn images allowed by the positives rule (the
//!   same rule as [`crate::data::sampler`]: with `cross_camera`, an identity seen by two or more
//!   cameras pairs only images of different cameras);
//! - negatives: for each positive `(a, b)`, `negatives_per_positive` pairs alternately anchored on
//!   `a` and `b`, with an image of another identity of the batch drawn uniformly;
//! - hard negatives (`negative_pool` > 1): each negative is instead a pool of that many
//!   candidates (distinct images of other identities, same anchor), listed in
//!   [`ReuseBatch::pools`]; the training step scores them all and keeps the highest-scoring
//!   one of each pool ([`crate::train::step`]);
//! - each pair's order is swapped at random (the network is not symmetric).
//!
//! Everything depends only on the seed, the epoch and the batch index, so a resumed run draws
//! the same batches. No Burn here: indices only.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::sampler::{SamplerError, derive_seed, group_by_identity};

/// Options of the [`ReuseSampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReuseConfig {
    /// Identities per batch (K).
    pub identities: usize,
    /// Images per identity (M).
    pub images: usize,
    /// Negatives per positive (the authors: 2).
    pub negatives_per_positive: usize,
    /// Only cross-camera positives for identities seen by two or more cameras.
    pub cross_camera: bool,
    /// Draw an identity's M images in turn from each of its cameras (random order of cameras,
    /// random images within each) instead of uniformly from all of its images.
    pub camera_balanced: bool,
    /// Candidates per negative, the highest-scoring kept by the training step (1: random
    /// negatives, the authors').
    pub negative_pool: usize,
}

/// One step's images and pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseBatch {
    /// Sample indices (into the labels given to the sampler), one per image of the step.
    pub images: Vec<usize>,
    /// Pairs as `(a, b, same)`, `a` and `b` indices into `images`.
    pub pairs: Vec<(usize, usize, bool)>,
    /// Hard-negative pools: ranges of `pairs`, each the candidates of one negative (empty with
    /// random negatives). Pairs outside every pool are always scored.
    pub pools: Vec<std::ops::Range<usize>>,
}

/// Draws reuse batches.
#[derive(Debug, Clone)]
pub struct ReuseSampler {
    /// Per identity (sorted by identity): its sample indices, and whether only cross-camera
    /// pairs are positives for it.
    groups: Vec<(Vec<usize>, bool)>,
    /// Per identity, in the order of `groups`: its sample indices per camera (cameras in order
    /// of first appearance; images without a camera form one group). For `camera_balanced`.
    by_camera: Vec<Vec<Vec<usize>>>,
    cameras: Vec<Option<u32>>,
    config: ReuseConfig,
    seed: u64,
}

impl ReuseSampler {
    /// A sampler over the samples in `subset` (indices into `labels`, `(identity, camera)`).
    /// Negative identities (junk) are left out; identities with one image too.
    pub fn new(
        labels: &[(i64, Option<u32>)],
        subset: &[usize],
        config: ReuseConfig,
        seed: u64,
    ) -> Result<Self, SamplerError> {
        let by_id = group_by_identity(labels, subset);
        let identities = by_id.len();
        let groups: Vec<(Vec<usize>, bool)> = by_id
            .into_values()
            .filter(|s| s.len() >= 2)
            .map(|mut s| {
                s.sort_unstable();
                s.dedup();
                let cams: HashSet<u32> = s.iter().filter_map(|&i| labels[i].1).collect();
                (s, config.cross_camera && cams.len() >= 2)
            })
            .collect();
        if identities < 2 {
            return Err(SamplerError::TooFewIdentities { found: identities });
        }
        if groups.len() < 2 {
            return Err(SamplerError::NoPositives);
        }
        let by_camera = groups
            .iter()
            .map(|(samples, _)| {
                let mut cams: Vec<(Option<u32>, Vec<usize>)> = Vec::new();
                for &i in samples {
                    match cams.iter_mut().find(|(c, _)| *c == labels[i].1) {
                        Some((_, group)) => group.push(i),
                        None => cams.push((labels[i].1, vec![i])),
                    }
                }
                cams.into_iter().map(|(_, group)| group).collect()
            })
            .collect();
        Ok(Self {
            groups,
            by_camera,
            cameras: labels.iter().map(|l| l.1).collect(),
            config,
            seed,
        })
    }

    /// Identities that take part (two or more images).
    pub fn identities(&self) -> usize {
        self.groups.len()
    }

    /// Identities per batch actually used (K, at most the number of identities).
    fn k(&self) -> usize {
        self.config.identities.clamp(2, self.groups.len())
    }

    /// Steps in one epoch (one pass over the identities).
    pub fn steps_per_epoch(&self) -> usize {
        self.groups.len().div_ceil(self.k())
    }

    /// The batch `index` of `epoch`: the same arguments always give the same batch.
    pub fn batch(&self, epoch: u64, index: usize) -> ReuseBatch {
        let k = self.k();
        let mut order: Vec<usize> = (0..self.groups.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            self.seed, epoch,
        )));
        let chosen: Vec<usize> = (0..k)
            .map(|j| order[(index * k + j) % order.len()])
            .collect();
        let stream = derive_seed(
            derive_seed(self.seed ^ 0x0052_4555_5345, epoch),
            index as u64,
        );
        let mut rng = ChaCha8Rng::seed_from_u64(stream);
        let mut images = Vec::new();
        // Per chosen identity: the range of its images in `images`.
        let mut spans = Vec::with_capacity(k);
        for &g in &chosen {
            let (samples, _) = &self.groups[g];
            let m = self.config.images.min(samples.len());
            let mut picked = if self.config.camera_balanced {
                balanced(&self.by_camera[g], m, &mut rng)
            } else {
                let mut picked = samples.clone();
                picked.partial_shuffle(&mut rng, m);
                picked.truncate(m);
                picked
            };
            picked.sort_unstable();
            spans.push(images.len()..images.len() + m);
            images.extend(picked);
        }
        let mut pairs = Vec::new();
        let mut pools = Vec::new();
        for (slot, span) in spans.iter().enumerate() {
            let only_cross = self.groups[chosen[slot]].1;
            for a in span.clone() {
                for b in a + 1..span.end {
                    let (ca, cb) = (self.cameras[images[a]], self.cameras[images[b]]);
                    if only_cross && ca.is_some() && ca == cb {
                        continue;
                    }
                    pairs.push(orient(&mut rng, a, b, true));
                    for n in 0..self.config.negatives_per_positive {
                        let anchor = if n % 2 == 0 { a } else { b };
                        // Images of other identities of the batch: index `j` of the `outside`
                        // ones, skipping this identity's span.
                        let outside = images.len() - span.len();
                        let image = |j: usize| if j >= span.start { j + span.len() } else { j };
                        let pool = self.config.negative_pool.min(outside);
                        if pool <= 1 {
                            let j = rng.random_range(0..outside);
                            pairs.push(orient(&mut rng, anchor, image(j), false));
                        } else {
                            let start = pairs.len();
                            for j in rand::seq::index::sample(&mut rng, outside, pool) {
                                pairs.push(orient(&mut rng, anchor, image(j), false));
                            }
                            pools.push(start..pairs.len());
                        }
                    }
                }
            }
        }
        ReuseBatch {
            images,
            pairs,
            pools,
        }
    }
}

/// `m` images (at most the identity's count) taken in turn from each camera group of one
/// identity: cameras in random order, images shuffled within each; a camera that runs out is
/// skipped.
fn balanced(by_camera: &[Vec<usize>], m: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut groups = by_camera.to_vec();
    groups.shuffle(rng);
    for group in &mut groups {
        group.shuffle(rng);
    }
    let mut picked = Vec::with_capacity(m);
    let mut round = 0;
    while picked.len() < m {
        for group in &groups {
            if picked.len() < m
                && let Some(&i) = group.get(round)
            {
                picked.push(i);
            }
        }
        round += 1;
    }
    picked
}

fn orient(rng: &mut ChaCha8Rng, a: usize, b: usize, same: bool) -> (usize, usize, bool) {
    if rng.random_bool(0.5) {
        (b, a, same)
    } else {
        (a, b, same)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 5 identities x 6 images; images 0..3 of each by camera 1, 3..6 by camera 2.
    fn labels() -> Vec<(i64, Option<u32>)> {
        (0..30)
            .map(|i| ((i / 6) as i64, Some(1 + ((i % 6) / 3) as u32)))
            .collect()
    }

    fn config(cross_camera: bool) -> ReuseConfig {
        ReuseConfig {
            identities: 2,
            images: 4,
            negatives_per_positive: 2,
            cross_camera,
            camera_balanced: false,
            negative_pool: 1,
        }
    }

    #[test]
    fn camera_balanced_draws_take_each_camera_in_turn() {
        // Identity 0: 5 images by camera 1, 1 by camera 2; the others 3 + 3 (see `labels`).
        let mut l = labels();
        for (i, label) in l.iter_mut().enumerate().take(6) {
            label.1 = Some(if i == 5 { 2 } else { 1 });
        }
        let all: Vec<usize> = (0..l.len()).collect();
        let c = ReuseConfig {
            camera_balanced: true,
            ..config(false)
        };
        let s = ReuseSampler::new(&l, &all, c, 7).unwrap();
        let mut cross = 0;
        let mut positives = 0;
        for epoch in 0..4 {
            for i in 0..s.steps_per_epoch() {
                let b = s.batch(epoch, i);
                assert_eq!(b.images.len(), 8);
                for id in 0..5 {
                    let cams: Vec<u32> = b
                        .images
                        .iter()
                        .filter(|&&img| l[img].0 == id)
                        .filter_map(|&img| l[img].1)
                        .collect();
                    if cams.is_empty() {
                        continue;
                    }
                    let twos = cams.iter().filter(|&&c| c == 2).count();
                    // 2 + 2 when both cameras have two images; identity 0's one camera-2
                    // image is always drawn and the rest come from camera 1.
                    assert_eq!(twos, if id == 0 { 1 } else { 2 }, "identity {id}: {cams:?}");
                }
                for &(a, c, same) in &b.pairs {
                    if same {
                        positives += 1;
                        cross += usize::from(l[b.images[a]].1 != l[b.images[c]].1);
                    }
                }
                assert_eq!(b, s.batch(epoch, i), "seeded");
            }
        }
        // 2 + 2 gives 4 cross-camera positives of 6, 1 + 3 gives 3 of 6.
        assert!(cross * 2 > positives, "{cross} of {positives}");
    }

    #[test]
    fn pairs_are_every_positive_of_the_batch_with_two_negatives_each() {
        let l = labels();
        let all: Vec<usize> = (0..l.len()).collect();
        let s = ReuseSampler::new(&l, &all, config(false), 3).unwrap();
        assert_eq!(s.steps_per_epoch(), 3);
        let b = s.batch(0, 0);
        assert_eq!(b.images.len(), 8);
        let positives = b.pairs.iter().filter(|p| p.2).count();
        assert_eq!(positives, 2 * 6, "C(4, 2) per identity");
        assert_eq!(b.pairs.len(), positives * 3);
        for &(a, c, same) in &b.pairs {
            let (ia, ic) = (l[b.images[a]].0, l[b.images[c]].0);
            assert_eq!(ia == ic, same, "labels of pair ({a}, {c})");
            assert_ne!(a, c);
        }
        assert_eq!(b, s.batch(0, 0), "seeded");
        assert_ne!(b, s.batch(1, 0), "another epoch, another draw");
    }

    #[test]
    fn hard_negative_pools_hold_distinct_other_identity_candidates_of_one_anchor() {
        let l = labels();
        let all: Vec<usize> = (0..l.len()).collect();
        let c = ReuseConfig {
            identities: 3,
            negative_pool: 3,
            ..config(false)
        };
        let s = ReuseSampler::new(&l, &all, c, 11).unwrap();
        let b = s.batch(1, 0);
        let positives = b.pairs.iter().filter(|p| p.2).count();
        assert_eq!(positives, 3 * 6);
        assert_eq!(b.pools.len(), 2 * positives, "one pool per negative");
        assert_eq!(b.pairs.len(), positives + 3 * b.pools.len());
        let mut pooled = 0;
        for pool in &b.pools {
            assert_eq!(pool.len(), 3);
            pooled += pool.len();
            let cand = &b.pairs[pool.clone()];
            let ends = |p: &(usize, usize, bool)| [p.0, p.1];
            // One image is common to every candidate (the anchor); the others differ.
            let anchor = ends(&cand[0])
                .into_iter()
                .find(|i| cand.iter().all(|p| ends(p).contains(i)))
                .unwrap();
            let mut others: Vec<usize> = cand
                .iter()
                .map(|p| if p.0 == anchor { p.1 } else { p.0 })
                .collect();
            others.sort_unstable();
            others.dedup();
            assert_eq!(others.len(), 3, "distinct candidates: {cand:?}");
            for &(x, y, same) in cand {
                assert!(!same);
                assert_ne!(l[b.images[x]].0, l[b.images[y]].0);
            }
        }
        assert_eq!(
            pooled + positives,
            b.pairs.len(),
            "every negative is pooled"
        );
        assert_eq!(b, s.batch(1, 0), "seeded");
        // A pool of one is the random draw, exactly.
        let one = ReuseSampler::new(
            &l,
            &all,
            ReuseConfig {
                negative_pool: 1,
                ..c
            },
            11,
        )
        .unwrap();
        assert!(one.batch(1, 0).pools.is_empty());
    }

    #[test]
    fn cross_camera_positives_skip_same_camera_pairs() {
        let l = labels();
        let all: Vec<usize> = (0..l.len()).collect();
        let s = ReuseSampler::new(&l, &all, config(true), 5).unwrap();
        for i in 0..s.steps_per_epoch() {
            let b = s.batch(2, i);
            for &(a, c, same) in &b.pairs {
                if same {
                    assert_ne!(l[b.images[a]].1, l[b.images[c]].1);
                }
            }
        }
    }

    #[test]
    fn an_epoch_visits_every_identity() {
        let l = labels();
        let all: Vec<usize> = (0..l.len()).collect();
        let s = ReuseSampler::new(&l, &all, config(false), 9).unwrap();
        let mut seen = HashSet::new();
        for i in 0..s.steps_per_epoch() {
            for &img in &s.batch(4, i).images {
                seen.insert(l[img].0);
            }
        }
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn too_little_data_is_an_error() {
        let l = vec![(0, None), (0, None)];
        assert!(ReuseSampler::new(&l, &[0, 1], config(false), 0).is_err());
        let l = vec![(0, None), (1, None), (2, None)];
        assert_eq!(
            ReuseSampler::new(&l, &[0, 1, 2], config(false), 0).unwrap_err(),
            SamplerError::NoPositives
        );
    }
}
