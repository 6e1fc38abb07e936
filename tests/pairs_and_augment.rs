//! Properties of the pair sampler and of augmentation over random inputs.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::HashSet;

use proptest::prelude::*;
use reid_explorer::data::augment::{AugmentConfig, AugmentParams, apply};
use reid_explorer::data::sampler::{PairSampler, SamplerConfig, split_by_identity};

fn labels() -> impl Strategy<Value = Vec<(i64, Option<u32>)>> {
    prop::collection::vec((-1i64..6, prop::option::of(1u32..4)), 2..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_positive_once_with_two_true_negatives(l in labels(), seed in any::<u64>(), epoch in 0u64..5) {
        let Ok(s) = PairSampler::new(&l, SamplerConfig::default(), seed) else {
            return Ok(());
        };
        let pairs = s.epoch(epoch);
        let pos: Vec<_> = pairs.iter().filter(|p| p.same).collect();
        prop_assert_eq!(pairs.len(), 3 * pos.len());
        prop_assert_eq!(pos.len(), s.positives());
        let unique: HashSet<(usize, usize)> =
            pos.iter().map(|p| (p.a.min(p.b), p.a.max(p.b))).collect();
        prop_assert_eq!(unique.len(), pos.len(), "no positive twice");
        for p in &pairs {
            prop_assert!(p.a != p.b);
            prop_assert!(l[p.a].0 >= 0 && l[p.b].0 >= 0, "junk never used");
            prop_assert_eq!(l[p.a].0 == l[p.b].0, p.same);
        }
        // Hand count of positives: same identity, and cross-camera when the identity has 2+
        // known cameras.
        let mut expect = 0;
        for id in 0..6 {
            let members: Vec<usize> = (0..l.len()).filter(|&i| l[i].0 == id).collect();
            let cams: HashSet<u32> = members.iter().filter_map(|&i| l[i].1).collect();
            for (k, &i) in members.iter().enumerate() {
                for &j in &members[k + 1..] {
                    let same_cam = l[i].1.is_some() && l[i].1 == l[j].1;
                    if cams.len() < 2 || !same_cam {
                        expect += 1;
                    }
                }
            }
        }
        prop_assert_eq!(pos.len(), expect);
        prop_assert_eq!(&pairs, &s.epoch(epoch));
    }

    #[test]
    fn identity_split_is_a_partition(l in labels(), frac in 0.0f64..1.0, seed in any::<u64>()) {
        let s = split_by_identity(&l, frac, seed);
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).copied().collect();
        all.sort_unstable();
        let expect: Vec<usize> = (0..l.len()).filter(|&i| l[i].0 >= 0).collect();
        prop_assert_eq!(all, expect);
        let t: HashSet<i64> = s.train.iter().map(|&i| l[i].0).collect();
        let v: HashSet<i64> = s.val.iter().map(|&i| l[i].0).collect();
        prop_assert!(t.is_disjoint(&v));
    }

    #[test]
    fn translation_moves_content_and_flip_mirrors(dy in -8i32..=8, dx in -3i32..=3, flip in any::<bool>()) {
        let (h, w) = (160usize, 60usize);
        let crop: Vec<u8> = (0..h * w)
            .flat_map(|i| [(i / w) as u8, (i % w) as u8, 7])
            .collect();
        let out = apply(&crop, h, w, &AugmentParams { dy, dx, flip, ..AugmentParams::IDENTITY });
        for y in 0..h {
            for x in 0..w {
                let tx = if flip { w - 1 - x } else { x };
                let sy = (y as i32 - dy).clamp(0, h as i32 - 1) as u8;
                let sx = (tx as i32 - dx).clamp(0, w as i32 - 1) as u8;
                let i = 3 * (y * w + x);
                prop_assert_eq!(&out[i..i + 3], &[sy, sx, 7]);
            }
        }
        let drawn = AugmentConfig::default();
        prop_assert_eq!((drawn.max_shift_rows, drawn.max_shift_cols), (8, 3));
    }
}
