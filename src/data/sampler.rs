//! Training pairs, following the authors' protocol: every positive (same-identity) pair, each with
//! two negatives (1:2), reshuffled every epoch.
//!
//! - Samples are given as `(identity, camera)` labels; indices into that slice are what [`Pair`]s
//!   hold. Negative identities (Market junk, -1) are never used.
//! - Positives: every unordered pair of images of one identity. When an identity was seen by two
//!   or more cameras, only pairs whose cameras differ are used (the task is matching across
//!   cameras); an unknown camera counts as different. An optional cap keeps at most N positives
//!   per identity, drawn afresh every epoch.
//! - Negatives: for a positive `(a, b)`, the first negative pairs `a`, the second `b`, with an image
//!   of another identity (identity drawn uniformly, then an image of it).
//! - The order inside each pair is swapped at random (the network is not symmetric), and the whole
//!   list is shuffled. Everything depends only on the seed and the epoch index.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Two sample indices and whether they show the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pair {
    /// First image (index into the labels given to the sampler).
    pub a: usize,
    /// Second image.
    pub b: usize,
    /// Same identity.
    pub same: bool,
}

/// Options of the [`PairSampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamplerConfig {
    /// Negatives per positive: 2 in the authors' protocol.
    pub negatives_per_positive: usize,
    /// Keep at most this many positives per identity each epoch (drawn at random).
    pub max_positives_per_identity: Option<usize>,
    /// Use only cross-camera positives for identities seen by two or more cameras.
    pub cross_camera: bool,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            negatives_per_positive: 2,
            max_positives_per_identity: None,
            cross_camera: true,
        }
    }
}

/// Why pairs cannot be drawn from a set of labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamplerError {
    /// Negatives need two identities.
    #[error("need at least 2 identities to draw negative pairs, found {found}")]
    TooFewIdentities { found: usize },
    /// No identity has two images.
    #[error("no identity has two usable images: no positive pairs")]
    NoPositives,
}

/// Draws the pairs of each epoch. Cheap to keep: positives are listed once, epochs are derived.
#[derive(Debug, Clone)]
pub struct PairSampler {
    /// Per identity (sorted by identity): its sample indices and its positive pairs.
    groups: Vec<Group>,
    config: SamplerConfig,
    seed: u64,
}

#[derive(Debug, Clone)]
struct Group {
    samples: Vec<usize>,
    positives: Vec<(usize, usize)>,
}

/// Mix a seed with a stream number (splitmix64 finaliser): independent, reproducible streams.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PairSampler {
    /// A sampler over every labelled sample (`labels[i]` is sample `i`'s identity and camera).
    pub fn new(
        labels: &[(i64, Option<u32>)],
        config: SamplerConfig,
        seed: u64,
    ) -> Result<Self, SamplerError> {
        let all: Vec<usize> = (0..labels.len()).collect();
        Self::with_subset(labels, &all, config, seed)
    }

    /// A sampler over the samples listed in `subset` (indices into `labels`; pairs keep those
    /// indices). Use with [`split_by_identity`] for a train / validation split.
    pub fn with_subset(
        labels: &[(i64, Option<u32>)],
        subset: &[usize],
        config: SamplerConfig,
        seed: u64,
    ) -> Result<Self, SamplerError> {
        let by_id = group_by_identity(labels, subset);
        if by_id.len() < 2 {
            return Err(SamplerError::TooFewIdentities { found: by_id.len() });
        }
        let groups: Vec<Group> = by_id
            .into_values()
            .map(|mut samples| {
                samples.sort_unstable();
                samples.dedup();
                let positives = positives_of(labels, &samples, config.cross_camera);
                Group { samples, positives }
            })
            .collect();
        if groups.iter().all(|g| g.positives.is_empty()) {
            return Err(SamplerError::NoPositives);
        }
        Ok(Self {
            groups,
            config,
            seed,
        })
    }

    /// Identities with at least one usable image.
    pub fn identities(&self) -> usize {
        self.groups.len()
    }

    /// Positive pairs available per epoch before any cap.
    pub fn positives(&self) -> usize {
        self.groups.iter().map(|g| g.positives.len()).sum()
    }

    /// Pairs of one epoch per epoch (positives after the cap, times 1 + negatives).
    pub fn epoch_len(&self) -> usize {
        let cap = self.config.max_positives_per_identity.unwrap_or(usize::MAX);
        let pos: usize = self.groups.iter().map(|g| g.positives.len().min(cap)).sum();
        // Saturating: absurd ratios are refused by the training config's checks; this only
        // guarantees no overflow panic or wrap-around for a caller that skipped them.
        pos.saturating_mul(self.config.negatives_per_positive.saturating_add(1))
    }

    /// The shuffled pairs of one epoch: the same `(seed, epoch)` always gives the same list.
    pub fn epoch(&self, epoch: u64) -> Vec<Pair> {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, epoch));
        let mut pairs = Vec::with_capacity(self.epoch_len().min(1 << 24));
        let n_groups = self.groups.len();
        for (g_index, group) in self.groups.iter().enumerate() {
            let mut chosen = group.positives.clone();
            if let Some(cap) = self.config.max_positives_per_identity
                && chosen.len() > cap
            {
                chosen.partial_shuffle(&mut rng, cap);
                chosen.truncate(cap);
                chosen.sort_unstable();
            }
            for (a, b) in chosen {
                pairs.push(oriented(&mut rng, a, b, true));
                for k in 0..self.config.negatives_per_positive {
                    let anchor = if k % 2 == 0 { a } else { b };
                    // Another identity, uniformly: skip over our own index.
                    let mut other = rng.random_range(0..n_groups - 1);
                    if other >= g_index {
                        other += 1;
                    }
                    let pool = &self.groups[other].samples;
                    let neg = pool[rng.random_range(0..pool.len())];
                    pairs.push(oriented(&mut rng, anchor, neg, false));
                }
            }
        }
        pairs.shuffle(&mut rng);
        pairs
    }
}

fn oriented(rng: &mut ChaCha8Rng, a: usize, b: usize, same: bool) -> Pair {
    if rng.random_bool(0.5) {
        Pair { a: b, b: a, same }
    } else {
        Pair { a, b, same }
    }
}

/// The samples of `subset` (indices into `labels`) grouped by identity, identities ascending,
/// junk (negative identities) and out-of-range indices left out.
pub fn group_by_identity(
    labels: &[(i64, Option<u32>)],
    subset: &[usize],
) -> BTreeMap<i64, Vec<usize>> {
    let mut by_id: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in subset {
        if let Some(&(id, _)) = labels.get(i)
            && id >= 0
        {
            by_id.entry(id).or_default().push(i);
        }
    }
    by_id
}

/// Unordered positive pairs of one identity's (sorted) samples.
fn positives_of(
    labels: &[(i64, Option<u32>)],
    samples: &[usize],
    cross_camera: bool,
) -> Vec<(usize, usize)> {
    let cameras: std::collections::HashSet<u32> =
        samples.iter().filter_map(|&i| labels[i].1).collect();
    let only_cross = cross_camera && cameras.len() >= 2;
    let mut out = Vec::new();
    for (k, &i) in samples.iter().enumerate() {
        for &j in &samples[k + 1..] {
            let (ci, cj) = (labels[i].1, labels[j].1);
            let same_camera = ci.is_some() && ci == cj;
            if !only_cross || !same_camera {
                out.push((i, j));
            }
        }
    }
    out
}

/// Sample indices split by identity into training and validation sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySplit {
    /// Indices of samples whose identity is used for training.
    pub train: Vec<usize>,
    /// Indices of samples whose identity is held out.
    pub val: Vec<usize>,
}

/// Hold out about `val_fraction` of the identities (seeded draw). Junk (negative identities) goes
/// to neither side. With a fraction above 0 and at least two identities, each side gets at least
/// one identity.
pub fn split_by_identity(
    labels: &[(i64, Option<u32>)],
    val_fraction: f64,
    seed: u64,
) -> IdentitySplit {
    let mut ids: Vec<i64> = labels.iter().map(|l| l.0).filter(|&id| id >= 0).collect();
    ids.sort_unstable();
    ids.dedup();
    let n = ids.len();
    let mut n_val = (n as f64 * val_fraction.clamp(0.0, 1.0)).round() as usize;
    if val_fraction > 0.0 && n >= 2 {
        n_val = n_val.clamp(1, n - 1);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, 0x5EED_5B17));
    ids.shuffle(&mut rng);
    let val_ids: std::collections::HashSet<i64> = ids[..n_val].iter().copied().collect();
    let mut split = IdentitySplit {
        train: Vec::new(),
        val: Vec::new(),
    };
    for (i, &(id, _)) in labels.iter().enumerate() {
        if id < 0 {
            continue;
        }
        if val_ids.contains(&id) {
            split.val.push(i);
        } else {
            split.train.push(i);
        }
    }
    split
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// id 1: 2 images cam 1 + 2 images cam 2 -> 4 cross-camera positives (not 6).
    /// id 2: 3 images, one camera -> 3 positives. id 3: one image -> none. Junk: never used.
    fn labels() -> Vec<(i64, Option<u32>)> {
        vec![
            (1, Some(1)),
            (1, Some(1)),
            (1, Some(2)),
            (1, Some(2)),
            (2, Some(3)),
            (2, Some(3)),
            (2, Some(3)),
            (3, Some(1)),
            (-1, Some(1)),
            (-1, Some(2)),
        ]
    }

    #[test]
    fn hand_counted_positives_and_ratio() {
        let s = PairSampler::new(&labels(), SamplerConfig::default(), 7).unwrap();
        assert_eq!(s.identities(), 3);
        assert_eq!(s.positives(), 4 + 3);
        let pairs = s.epoch(0);
        assert_eq!(pairs.len(), 21);
        let pos: HashSet<(usize, usize)> = pairs
            .iter()
            .filter(|p| p.same)
            .map(|p| (p.a.min(p.b), p.a.max(p.b)))
            .collect();
        let expect: HashSet<(usize, usize)> =
            [(0, 2), (0, 3), (1, 2), (1, 3), (4, 5), (4, 6), (5, 6)].into();
        assert_eq!(pos, expect);
        assert_eq!(pairs.iter().filter(|p| !p.same).count(), 14);
        let l = labels();
        for p in &pairs {
            assert!(l[p.a].0 >= 0 && l[p.b].0 >= 0, "junk used: {p:?}");
            assert_eq!(l[p.a].0 == l[p.b].0, p.same, "{p:?}");
            assert_ne!(p.a, p.b);
        }
    }

    #[test]
    fn same_camera_pairs_when_asked() {
        let cfg = SamplerConfig {
            cross_camera: false,
            ..SamplerConfig::default()
        };
        let s = PairSampler::new(&labels(), cfg, 7).unwrap();
        assert_eq!(s.positives(), 6 + 3);
    }

    #[test]
    fn cap_limits_positives_per_identity() {
        let cfg = SamplerConfig {
            max_positives_per_identity: Some(2),
            ..SamplerConfig::default()
        };
        let s = PairSampler::new(&labels(), cfg, 1).unwrap();
        assert_eq!(s.epoch_len(), 4 * 3);
        let pairs = s.epoch(3);
        assert_eq!(pairs.len(), 12);
        let l = labels();
        for id in [1, 2] {
            let n = pairs.iter().filter(|p| p.same && l[p.a].0 == id).count();
            assert_eq!(n, 2);
        }
    }

    #[test]
    fn seeded_and_reshuffled_per_epoch() {
        let l: Vec<(i64, Option<u32>)> = (0..30).map(|i| (i / 3, Some((i % 3) as u32))).collect();
        let s = PairSampler::new(&l, SamplerConfig::default(), 42).unwrap();
        let e0 = s.epoch(0);
        assert_eq!(e0, s.epoch(0));
        assert_eq!(
            e0,
            PairSampler::new(&l, SamplerConfig::default(), 42)
                .unwrap()
                .epoch(0)
        );
        let e1 = s.epoch(1);
        assert_ne!(e0, e1);
        assert_ne!(
            e0,
            PairSampler::new(&l, SamplerConfig::default(), 43)
                .unwrap()
                .epoch(0)
        );
        // Same positives every epoch (no cap), in another order.
        let key = |v: &[Pair]| {
            let mut p: Vec<(usize, usize)> = v
                .iter()
                .filter(|p| p.same)
                .map(|p| (p.a.min(p.b), p.a.max(p.b)))
                .collect();
            p.sort_unstable();
            p
        };
        assert_eq!(key(&e0), key(&e1));
        assert_eq!(key(&e0).len(), 10 * 3);
    }

    #[test]
    fn errors() {
        let one = [(5, None), (5, None)];
        assert_eq!(
            PairSampler::new(&one, SamplerConfig::default(), 0).unwrap_err(),
            SamplerError::TooFewIdentities { found: 1 }
        );
        let singles = [(5, None), (6, None), (-1, None), (-1, None)];
        assert_eq!(
            PairSampler::new(&singles, SamplerConfig::default(), 0).unwrap_err(),
            SamplerError::NoPositives
        );
    }

    #[test]
    fn identity_split() {
        let l: Vec<(i64, Option<u32>)> =
            (0..40).map(|i| (i / 4, None)).chain([(-1, None)]).collect();
        let s = split_by_identity(&l, 0.2, 9);
        assert_eq!(s.train.len() + s.val.len(), 40);
        let val_ids: HashSet<i64> = s.val.iter().map(|&i| l[i].0).collect();
        let train_ids: HashSet<i64> = s.train.iter().map(|&i| l[i].0).collect();
        assert_eq!(val_ids.len(), 2);
        assert_eq!(train_ids.len(), 8);
        assert!(val_ids.is_disjoint(&train_ids));
        assert_eq!(s, split_by_identity(&l, 0.2, 9));
        assert_ne!(s, split_by_identity(&l, 0.2, 10));
        assert_eq!(split_by_identity(&l, 0.0, 9).val.len(), 0);
    }
}
