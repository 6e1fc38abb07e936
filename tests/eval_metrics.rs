//! CMC / mAP / mINP and the pair-verification measures (ROC, TPR at FPR, the equal-error
//! threshold) against hand-computed expectations, per-query results against the summary
//! numbers, plus properties.
#![allow(clippy::unwrap_used)] // tests may unwrap

use proptest::prelude::*;
use reid_explorer::eval::{
    CameraRelation, EvalError, Labels, Metrics, Protocol, authors_draws, authors_results, evaluate,
    evaluate_authors, roc, single_shot_results, standard_results,
};

const EPS: f64 = 1e-12;

fn l(identity: i64, camera: u32) -> Labels {
    Labels::new(identity, Some(camera))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < EPS
}

fn assert_curve(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(close(*a, *e), "{actual:?} vs {expected:?}");
    }
}

/// Two queries (identities 1 and 2, camera 1) against six gallery images (cameras 2 and 3).
fn two_by_six() -> (Vec<f32>, Vec<Labels>, Vec<Labels>) {
    let query = vec![l(1, 1), l(2, 1)];
    //             g0       g1       g2       g3       g4       g5
    let gallery = vec![l(1, 2), l(2, 2), l(1, 3), l(3, 2), l(2, 3), l(3, 3)];
    let scores = vec![
        // q0: order g0 .9, g1 .8, g3 .7, g2 .3, g4 .2, g5 .1 -> matches (id 1) g0, g2 at ranks 1, 4.
        0.9, 0.8, 0.3, 0.7, 0.2, 0.1, //
        // q1: order g3 .9, g1 .8, g5 .6, g4 .5, g2 .2, g0 .1 -> matches (id 2) g1, g4 at ranks 2, 4.
        0.1, 0.8, 0.2, 0.9, 0.5, 0.6,
    ];
    (scores, query, gallery)
}

#[test]
fn two_queries_six_gallery_by_hand() {
    let (scores, query, gallery) = two_by_six();
    let m = evaluate(&scores, &query, &gallery, &Protocol::Standard).unwrap();
    // AP(q0) = (1/1 + 2/4) / 2 = 0.75; AP(q1) = (1/2 + 2/4) / 2 = 0.5; mAP = 0.625.
    assert!(close(m.map, 0.625), "{m:?}");
    // First matches at ranks 1 and 2: CMC = [1/2, 1, 1, 1, 1, 1] (K = gallery size = 6).
    assert_curve(&m.cmc, &[0.5, 1.0, 1.0, 1.0, 1.0, 1.0]);
    assert!(close(m.rank1, 0.5));
    assert!(close(m.rank5, 1.0));
    // Rank 10 and 20 are beyond the 6-image gallery: the curve's last value.
    assert!(close(m.rank10, 1.0));
    assert!(close(m.rank20, 1.0));
    assert_eq!((m.queries, m.skipped_queries, m.gallery), (2, 0, 6));
}

#[test]
fn same_camera_images_of_the_query_identity_are_removed() {
    let (scores, mut query, gallery) = two_by_six();
    // q0 now shares camera 2 with g0 (its best match): g0 is removed from q0's list.
    query[0] = l(1, 2);
    let m = evaluate(&scores, &query, &gallery, &Protocol::Standard).unwrap();
    // q0's list: g1 .8, g3 .7, g2 .3, g4 .2, g5 .1 -> only match g2 at rank 3, AP = 1/3.
    // q1 unchanged: AP 0.5, first match at rank 2. g3 (id 3, camera 2) stays for q0: other id.
    // mAP = (1/3 + 1/2) / 2 = 5/12; CMC: ranks 1: 0, 2: 1/2, 3+: 1; K = 6.
    assert!(close(m.map, 5.0 / 12.0), "{m:?}");
    assert_curve(&m.cmc, &[0.0, 0.5, 1.0, 1.0, 1.0, 1.0]);
    assert!(close(m.rank1, 0.0));
}

#[test]
fn junk_is_ignored_and_distractors_count() {
    let (scores, query, mut gallery) = two_by_six();
    let base = evaluate(&scores, &query, &gallery, &Protocol::Standard).unwrap();

    // A seventh gallery image that both queries score highest (0.95).
    let mut scores7 = Vec::new();
    for row in scores.chunks(6) {
        scores7.extend_from_slice(row);
        scores7.push(0.95);
    }

    gallery.push(l(-1, 2)); // junk
    let junk = evaluate(&scores7, &query, &gallery, &Protocol::Standard).unwrap();
    assert_eq!(
        junk,
        Metrics {
            gallery: 7,
            // K grows with the gallery: one more entry with the same final value.
            cmc: vec![0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            ..base.clone()
        }
    );

    gallery[6] = l(0, 2); // distractor
    let d = evaluate(&scores7, &query, &gallery, &Protocol::Standard).unwrap();
    // Every match moves down one rank. q0: ranks 2, 5 -> (1/2 + 2/5) / 2 = 0.45.
    // q1: ranks 3, 5 -> (1/3 + 2/5) / 2 = 11/30. mAP = (0.45 + 11/30) / 2 = 49/120.
    assert!(close(d.map, 49.0 / 120.0), "{d:?}");
    // First matches at ranks 2 and 3.
    assert_curve(&d.cmc, &[0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]);
}

#[test]
fn queries_without_valid_match_are_skipped_and_counted() {
    let (scores, mut query, gallery) = two_by_six();
    // Identity 9 does not appear in the gallery.
    query[1] = l(9, 1);
    let m = evaluate(&scores, &query, &gallery, &Protocol::Standard).unwrap();
    assert_eq!((m.queries, m.skipped_queries), (1, 1));
    // Only q0 counts: AP 0.75, rank 1.
    assert!(close(m.map, 0.75));
    assert!(close(m.rank1, 1.0));

    // Nothing left to evaluate is an error, not a row of zeros.
    let q = [l(9, 1)];
    let err = evaluate(&scores[..6], &q, &gallery, &Protocol::Standard).unwrap_err();
    assert_eq!(err, EvalError::NoValidQueries { skipped: 1 });
}

#[test]
fn ties_are_broken_by_gallery_index() {
    // One query (id 1), gallery: g0 id 2, g1 id 1, g2 id 1, all scored 0.5.
    // Order by index: g0 (miss), g1, g2 -> hits at ranks 2, 3: AP = (1/2 + 2/3) / 2 = 7/12.
    let q = [l(1, 1)];
    let g = [l(2, 2), l(1, 2), l(1, 2)];
    let m = evaluate(&[0.5, 0.5, 0.5], &q, &g, &Protocol::Standard).unwrap();
    assert!(close(m.map, 7.0 / 12.0), "{m:?}");
    assert!(close(m.rank1, 0.0));
    // NaN ranks last: the NaN-scored non-match g0 falls behind both matches.
    let m = evaluate(&[f32::NAN, 0.5, 0.5], &q, &g, &Protocol::Standard).unwrap();
    assert!(close(m.map, 1.0));
}

#[test]
fn shape_errors_do_not_panic() {
    let (scores, query, gallery) = two_by_six();
    assert_eq!(
        evaluate(&scores[..11], &query, &gallery, &Protocol::Standard),
        Err(EvalError::ShapeMismatch {
            len: 11,
            queries: 2,
            gallery: 6
        })
    );
    assert_eq!(
        evaluate(&[], &[], &gallery, &Protocol::Standard),
        Err(EvalError::NoQueries)
    );
    assert_eq!(
        evaluate(&[], &query, &[], &Protocol::Standard),
        Err(EvalError::EmptyGallery)
    );
    let zero = Protocol::SingleShot { draws: 0, seed: 1 };
    assert_eq!(
        evaluate(&scores, &query, &gallery, &zero),
        Err(EvalError::NoDraws)
    );
}

#[test]
fn single_shot_uses_one_image_per_identity() {
    // One query, id 1 camera 1. Gallery: id 1 twice from camera 2 (scores 0.9 and 0.1), id 2
    // three times from camera 2 (0.5 each), plus one junk image.
    // With one image per identity the gallery of a draw is {one id-1 image, one id-2 image}:
    // the match is at rank 1 (0.9 drawn) or rank 2 (0.1 drawn), never lower, so CMC has
    // K = 2 identities and reaches 1 at rank 2. (All images ranked, 0.1 would be at rank 5.)
    let q = [l(1, 1)];
    let g = [l(1, 2), l(1, 2), l(2, 2), l(2, 2), l(2, 2), l(-1, 2)];
    let scores = [0.9, 0.1, 0.5, 0.5, 0.5, 0.99];
    let p = Protocol::SingleShot {
        draws: 1000,
        seed: 42,
    };
    let m = evaluate(&scores, &q, &g, &p).unwrap();
    assert_eq!(m.cmc.len(), 2);
    assert!(close(m.cmc[1], 1.0), "{m:?}");
    // rank1 = fraction of draws picking the 0.9 image: about 1/2 over 1000 draws.
    assert!(m.rank1 > 0.4 && m.rank1 < 0.6, "{m:?}");
    // Per draw AP = 1/rank: mAP = rank1 * 1 + (1 - rank1) * 1/2.
    assert!(close(m.map, m.rank1 + (1.0 - m.rank1) / 2.0), "{m:?}");
    assert_eq!((m.queries, m.skipped_queries, m.gallery), (1, 0, 6));

    let standard = evaluate(&scores, &q, &g, &Protocol::Standard).unwrap();
    // Standard: list .9 (hit), .5, .5, .5, .1 (hit) -> AP = (1 + 2/5) / 2 = 0.7, rank1 = 1.
    assert!(close(standard.map, 0.7));
    assert!(close(standard.rank1, 1.0));
}

#[test]
fn single_shot_is_deterministic_for_a_seed() {
    let q = [l(1, 1), l(2, 1), l(3, 2)];
    let g = [
        l(1, 2),
        l(1, 2),
        l(2, 2),
        l(2, 2),
        l(3, 1),
        l(3, 1),
        l(4, 2),
    ];
    let scores: Vec<f32> = (0..q.len() * g.len())
        .map(|i| ((i * 37) % 11) as f32 / 11.0)
        .collect();
    let p = Protocol::paper_single_shot(7);
    let a = evaluate(&scores, &q, &g, &p).unwrap();
    let b = evaluate(&scores, &q, &g, &p).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.cmc.len(), 4); // 4 identities
}

#[test]
fn single_shot_prefers_images_from_another_camera() {
    // Query id 1 camera 1. Identity 2 has a camera-1 image scored 0.99 and a camera-2 image
    // scored 0.2; identity 1 has only a camera-2 image scored 0.5. Drawing from camera 2 for
    // every identity, the match (0.5) beats identity 2's 0.2 in every draw: rank1 = mAP = 1.
    // (The standard protocol keeps the 0.99 image: rank1 = 0.)
    let q = [l(1, 1)];
    let g = [l(2, 1), l(2, 2), l(1, 2)];
    let scores = [0.99, 0.2, 0.5];
    let m = evaluate(&scores, &q, &g, &Protocol::paper_single_shot(1)).unwrap();
    assert!(close(m.rank1, 1.0) && close(m.map, 1.0), "{m:?}");
    let s = evaluate(&scores, &q, &g, &Protocol::Standard).unwrap();
    assert!(close(s.rank1, 0.0));
}

#[test]
fn single_shot_skips_queries_seen_only_by_their_own_camera() {
    // Query id 1 camera 1; identity 1 only in camera 1: no valid match in any draw.
    let q = [l(1, 1), l(2, 1)];
    let g = [l(1, 1), l(2, 2)];
    let m = evaluate(
        &[0.9, 0.1, 0.2, 0.8],
        &q,
        &g,
        &Protocol::paper_single_shot(3),
    )
    .unwrap();
    assert_eq!((m.queries, m.skipped_queries), (1, 1));
    assert!(close(m.rank1, 1.0));
}

#[test]
fn metrics_serialize_to_json() {
    let (scores, query, gallery) = two_by_six();
    let m = evaluate(&scores, &query, &gallery, &Protocol::Standard).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    assert!(json.contains("\"map\":0.625"), "{json}");
    assert!(json.contains("\"rank1\":0.5"), "{json}");
}

/// Random labelled problems: `(query labels, gallery labels, scores)`.
#[test]
fn minp_by_hand() {
    let (scores, query, gallery) = two_by_six();
    // q0: matches at ranks 1 and 4 -> INP 2/4; q1: ranks 2 and 4 -> 2/4. mINP = 1/2.
    let m = evaluate(&scores, &query, &gallery, &Protocol::Standard).unwrap();
    assert!(close(m.minp, 0.5), "{m:?}");
    // Make q0's second match (g2, 0.3) its second-best: q0 ranks g0 .9, g2 .85, g1 .8, ...
    // matches at ranks 1, 2 -> INP 1; q1 stays 1/2: mINP 3/4 (mAP: (1 + 0.5) / 2 = 3/4 too).
    let mut s2 = scores.clone();
    s2[2] = 0.85;
    let m = evaluate(&s2, &query, &gallery, &Protocol::Standard).unwrap();
    assert!(close(m.minp, 0.75), "{m:?}");
    // A query whose matches are at ranks 1 and 3 has AP (1 + 2/3) / 2 = 5/6 but INP 2/3:
    // mINP punishes the hardest match, mAP does not.
    let q = [l(1, 1)];
    let g = [l(1, 2), l(2, 2), l(1, 3)];
    let m = evaluate(&[0.9, 0.8, 0.7], &q, &g, &Protocol::Standard).unwrap();
    assert!(close(m.map, 5.0 / 6.0) && close(m.minp, 2.0 / 3.0), "{m:?}");
}

#[test]
fn minp_equals_map_with_one_match_per_query() {
    let labels = [l(1, 1), l(1, 2), l(2, 1), l(2, 2), l(3, 1), l(3, 2)];
    let draws = authors_draws(&labels, 4, 9).unwrap();
    let m = evaluate_authors(&labels, &draws, |p, g| ((p * 7 + g * 3) % 11) as f32 / 11.0).unwrap();
    assert!(close(m.mean.minp, m.mean.map), "{:?}", m.mean);
}

#[test]
fn roc_tpr_at_fpr_and_eer_by_hand() {
    // Positives 0.9 0.8 0.4, negatives 0.7 0.3 0.2 0.1. Thresholds, descending:
    //   t    TP FP  TPR  FPR  |FNR - FPR|
    //   0.9  1  0   1/3  0    2/3
    //   0.8  2  0   2/3  0    1/3
    //   0.7  2  1   2/3  1/4  1/12   <- equal error
    //   0.4  3  1   1    1/4  1/4
    //   0.3  3  2   1    1/2  1/2   ... 0.1: FPR 1
    let r = roc(&[0.9, 0.8, 0.4], &[0.7, 0.3, 0.2, 0.1]).unwrap();
    assert_eq!((r.positives, r.negatives), (3, 4));
    assert_eq!(r.eer.threshold, 0.7);
    assert!(
        close(r.eer.tpr, 2.0 / 3.0) && close(r.eer.fpr, 0.25),
        "{r:?}"
    );
    assert!(close(r.eer_rate, (1.0 / 3.0 + 0.25) / 2.0), "{r:?}");
    // FPR <= 1e-2 (and 1e-3): only thresholds 0.9 and 0.8 (FPR 0); the best TPR is 2/3 at 0.8.
    let at = r.at_fpr_1e2.unwrap();
    assert_eq!(at.threshold, 0.8);
    assert!(close(at.tpr, 2.0 / 3.0) && at.fpr == 0.0);
    assert_eq!(r.at_fpr_1e3, r.at_fpr_1e2);
    // AUC: positive-negative pairs ordered right: 0.9 and 0.8 beat all 4, 0.4 beats 3: 11/12.
    assert!(close(r.auc, 11.0 / 12.0), "{}", r.auc);
    // The curve runs from the highest threshold to the lowest, FPR non-decreasing.
    assert_eq!(r.curve.len(), 7);
    assert!(
        r.curve
            .windows(2)
            .all(|w| w[0].fpr <= w[1].fpr && w[0].tpr <= w[1].tpr)
    );
    assert_eq!((r.curve[6].tpr, r.curve[6].fpr), (1.0, 1.0));
}

#[test]
fn roc_ties_and_unreachable_fpr() {
    // Every score equal: one threshold, TPR = FPR = 1; AUC 1/2 (ties count half).
    let r = roc(&[0.5, 0.5], &[0.5]).unwrap();
    assert_eq!(r.curve.len(), 1);
    assert!(close(r.auc, 0.5));
    assert_eq!(r.eer.threshold, 0.5);
    // Negatives 0.50, 0.55, ..., 0.95 and one positive 0.6: the highest threshold (0.95)
    // already accepts a negative (FPR 1/10), so no threshold reaches FPR 1e-2.
    let negatives: Vec<f32> = (0..10).map(|i| 0.5 + i as f32 * 0.05).collect();
    let r = roc(&[0.6], &negatives).unwrap();
    assert_eq!(r.at_fpr_1e2, None);
    // Perfect separation: EER 0 at the lowest positive.
    let r = roc(&[0.9, 0.8], &[0.2, 0.1]).unwrap();
    assert_eq!(r.eer.threshold, 0.8);
    assert!(close(r.eer_rate, 0.0) && close(r.auc, 1.0));
}

#[test]
fn per_query_results_agree_with_the_summary() {
    let (scores, query, gallery) = two_by_six();
    let m = evaluate(&scores, &query, &gallery, &Protocol::Standard).unwrap();
    let per = standard_results(&scores, &query, &gallery, 3).unwrap();
    assert_eq!(per.len(), 2);
    // q0: matches g0 (rank 1), g2 (rank 4); q1: g1 (rank 2), g4 (rank 4).
    assert_eq!(per[0].first_match_rank, Some(1));
    assert_eq!(per[1].first_match_rank, Some(2));
    assert_eq!(per[0].average_precision, Some(0.75));
    assert_eq!(per[1].average_precision, Some(0.5));
    let map = per.iter().filter_map(|r| r.average_precision).sum::<f64>() / 2.0;
    assert!(close(map, m.map));
    // q1's top 3: g3 .9 (id 3), g1 .8 (match), g5 .6 (id 3), all cross-camera (c1 vs c2/c3).
    let top: Vec<(usize, f32, bool)> = per[1]
        .top
        .iter()
        .map(|h| (h.gallery, h.score, h.is_match))
        .collect();
    assert_eq!(top, vec![(3, 0.9, false), (1, 0.8, true), (5, 0.6, false)]);
    assert!(per[1].top.iter().all(|h| h.camera == CameraRelation::Cross));
    assert_eq!(per[1].first_match_camera, Some(CameraRelation::Cross));

    // Single-shot: one result per query and draw, whose mean AP is the protocol's mAP.
    let p = Protocol::SingleShot { draws: 4, seed: 3 };
    let m = evaluate(&scores, &query, &gallery, &p).unwrap();
    let per = single_shot_results(&scores, &query, &gallery, 4, 3, 10).unwrap();
    assert_eq!(per.len(), 8);
    let map = per.iter().filter_map(|r| r.average_precision).sum::<f64>() / 8.0;
    assert!(close(map, m.map), "{map} vs {}", m.map);

    // The authors' protocol: one result per probe and draw, ranks as the protocol's CMC.
    let labels = [
        l(1, 1),
        l(1, 2),
        l(2, 1),
        l(2, 2),
        l(3, 1),
        l(3, 2),
        l(3, 2),
    ];
    let score = |p: usize, g: usize| ((p * 5 + g * 3) % 7) as f32 / 7.0;
    let draws = authors_draws(&labels, 3, 1).unwrap();
    let a = evaluate_authors(&labels, &draws, score).unwrap();
    let per = authors_results(&labels, &draws, score, 10);
    assert_eq!(per.len(), 3 * a.probes_per_draw);
    let rank1 =
        per.iter().filter(|r| r.first_match_rank == Some(1)).count() as f64 / per.len() as f64;
    assert!(close(rank1, a.mean.rank1), "{rank1} vs {}", a.mean.rank1);
    assert!(
        per.iter()
            .all(|r| r.draw.is_some() && r.matches == 1 && r.candidates == 3)
    );
}

fn problem() -> impl Strategy<Value = (Vec<Labels>, Vec<Labels>, Vec<f32>)> {
    let labels = |ids: std::ops::Range<i64>| {
        (ids, prop::option::of(1u32..4)).prop_map(|(i, c)| Labels::new(i, c))
    };
    (
        prop::collection::vec(labels(0..5), 1..8),
        prop::collection::vec(labels(-1..5), 1..70),
    )
        .prop_flat_map(|(q, g)| {
            let n = q.len() * g.len();
            (
                Just(q),
                Just(g),
                prop::collection::vec(prop_oneof![9 => 0.0f32..1.0, 1 => Just(f32::NAN)], n),
            )
        })
}

proptest! {
    #[test]
    fn cmc_is_non_decreasing_and_at_most_one((q, g, scores) in problem(), single in any::<bool>()) {
        let p = if single {
            Protocol::SingleShot { draws: 3, seed: 5 }
        } else {
            Protocol::Standard
        };
        match evaluate(&scores, &q, &g, &p) {
            Ok(m) => {
                prop_assert!(!m.cmc.is_empty());
                prop_assert!(m.cmc.windows(2).all(|w| w[0] <= w[1]), "{:?}", m.cmc);
                prop_assert!(m.cmc.iter().all(|&c| (0.0..=1.0).contains(&c)));
                prop_assert!((0.0..=1.0).contains(&m.map));
                prop_assert!(m.rank1 <= m.rank5 && m.rank5 <= m.rank10 && m.rank10 <= m.rank20);
                prop_assert_eq!(m.queries + m.skipped_queries, q.len());
            }
            Err(e) => prop_assert!(matches!(e, EvalError::NoValidQueries { .. }), "{e}"),
        }
    }

    #[test]
    fn perfect_scores_give_rank1_and_map_of_one((q, g, _) in problem(), single in any::<bool>()) {
        // Score 1 for the same identity, 0 otherwise: every match outranks every non-match.
        let scores: Vec<f32> = q
            .iter()
            .flat_map(|qi| g.iter().map(move |gi| f32::from(u8::from(gi.identity == qi.identity))))
            .collect();
        let p = if single {
            Protocol::SingleShot { draws: 2, seed: 11 }
        } else {
            Protocol::Standard
        };
        match evaluate(&scores, &q, &g, &p) {
            Ok(m) => {
                prop_assert!((m.rank1 - 1.0).abs() < EPS, "{:?}", m);
                prop_assert!((m.map - 1.0).abs() < EPS, "{:?}", m);
            }
            Err(e) => prop_assert!(matches!(e, EvalError::NoValidQueries { .. }), "{e}"),
        }
    }
}
