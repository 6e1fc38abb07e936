//! Verification over pairs: ROC, TPR at a fixed FPR, the equal-error threshold.
//!
//! A ranking metric says nothing about the verdict "same person or not" a threshold on p(same)
//! gives; this module does. Given the scores of same-identity pairs (positives) and of
//! different-identity pairs (negatives), the decision rule is "same" when `score >= t`:
//! - `TPR(t)` = positives scored `>= t` / positives, `FPR(t)` = negatives scored `>= t` /
//!   negatives, `FNR(t) = 1 - TPR(t)`;
//! - the thresholds considered are the distinct scores (NaN scores count as never accepted);
//! - the ROC curve is `(FPR(t), TPR(t))` for those thresholds, from `(0, 0)` to `(1, 1)`; AUC is
//!   its trapezoidal area (= the chance that a positive outscores a negative, ties counted half);
//! - TPR at FPR `a` ([`Roc::at_fpr`]): the highest TPR over the thresholds with `FPR <= a`, at
//!   the lowest such threshold; `None` when even the highest score has `FPR > a`;
//! - the equal-error threshold ([`Roc::eer`]): the threshold minimising `|FNR - FPR|` (ties: the
//!   higher threshold); the equal error rate reported is `(FNR + FPR) / 2` there. It is the
//!   calibrated verdict threshold of [`crate::model::calibration`].

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Points kept in [`Roc::curve`] at most.
pub const ROC_POINTS: usize = 256;

/// A threshold and the rates it gives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// p(same) at or above which a pair is called "same".
    pub threshold: f32,
    /// True-positive rate at the threshold.
    pub tpr: f64,
    /// False-positive rate at the threshold.
    pub fpr: f64,
}

/// The ROC of a set of scored pairs (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roc {
    /// Same-identity pairs.
    pub positives: usize,
    /// Different-identity pairs.
    pub negatives: usize,
    /// The curve, FPR ascending, thinned to at most [`ROC_POINTS`] points (the first and the
    /// last kept).
    pub curve: Vec<OperatingPoint>,
    /// Area under the (full, unthinned) curve.
    pub auc: f64,
    /// The equal-error threshold.
    pub eer: OperatingPoint,
    /// The equal error rate: `(FNR + FPR) / 2` at [`Roc::eer`].
    pub eer_rate: f64,
    /// TPR at FPR 1e-2.
    pub at_fpr_1e2: Option<OperatingPoint>,
    /// TPR at FPR 1e-3.
    pub at_fpr_1e3: Option<OperatingPoint>,
}

/// Every distinct threshold with its counts: `(threshold, positives >= t, negatives >= t)`,
/// thresholds descending.
fn sweep(positives: &[f32], negatives: &[f32]) -> Vec<(f32, usize, usize)> {
    let mut all: Vec<(f32, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .filter(|(s, _)| !s.is_nan())
        .collect();
    all.sort_unstable_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
    let mut out: Vec<(f32, usize, usize)> = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (i, &(s, pos)) in all.iter().enumerate() {
        if pos {
            tp += 1;
        } else {
            fp += 1;
        }
        // Record once all pairs of this score are counted (`-0.0 == 0.0`: one threshold).
        if all.get(i + 1).is_none_or(|next| next.0 != s) {
            out.push((s, tp, fp));
        }
    }
    out
}

/// The ROC of `positives` (same-identity pair scores) and `negatives` (different-identity);
/// `None` when either is empty or every score is NaN.
pub fn roc(positives: &[f32], negatives: &[f32]) -> Option<Roc> {
    let (np, nn) = (positives.len(), negatives.len());
    if np == 0 || nn == 0 {
        return None;
    }
    let points = sweep(positives, negatives);
    if points.is_empty() {
        return None;
    }
    let point = |&(t, tp, fp): &(f32, usize, usize)| OperatingPoint {
        threshold: t,
        tpr: tp as f64 / np as f64,
        fpr: fp as f64 / nn as f64,
    };
    let full: Vec<OperatingPoint> = points.iter().map(point).collect();
    // Trapezoids from (0, 0) through every point to (1, 1).
    let mut auc = 0.0;
    let (mut x0, mut y0) = (0.0f64, 0.0f64);
    for p in full.iter().chain(std::iter::once(&OperatingPoint {
        threshold: f32::NEG_INFINITY,
        tpr: 1.0,
        fpr: 1.0,
    })) {
        auc += (p.fpr - x0) * (p.tpr + y0) / 2.0;
        (x0, y0) = (p.fpr, p.tpr);
    }
    // Strictly smaller only: on a tie the earlier (higher) threshold stays.
    let mut best = full[0];
    for p in &full[1..] {
        let gap = |q: &OperatingPoint| ((1.0 - q.tpr) - q.fpr).abs();
        if gap(p) < gap(&best) {
            best = *p;
        }
    }
    let at_fpr = |a: f64| full.iter().rev().find(|p| p.fpr <= a).copied();
    Some(Roc {
        positives: np,
        negatives: nn,
        curve: thin(&full, ROC_POINTS),
        auc,
        eer: best,
        eer_rate: ((1.0 - best.tpr) + best.fpr) / 2.0,
        at_fpr_1e2: at_fpr(1e-2),
        at_fpr_1e3: at_fpr(1e-3),
    })
}

impl Roc {
    /// TPR at FPR `a` on the thinned curve (the exact values for 1e-2 and 1e-3 are in the
    /// fields): the last curve point with `fpr <= a`.
    pub fn at_fpr(&self, a: f64) -> Option<OperatingPoint> {
        self.curve.iter().rev().find(|p| p.fpr <= a).copied()
    }
}

/// At most `n` points of `full`, evenly spaced by index, first and last always kept.
fn thin(full: &[OperatingPoint], n: usize) -> Vec<OperatingPoint> {
    if full.len() <= n || n < 2 {
        return full.to_vec();
    }
    let last = full.len() - 1;
    (0..n).map(|i| full[i * last / (n - 1)]).collect::<Vec<_>>()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_ends() {
        let full: Vec<OperatingPoint> = (0..1000)
            .map(|i| OperatingPoint {
                threshold: 1.0 - i as f32 / 1000.0,
                tpr: i as f64 / 999.0,
                fpr: i as f64 / 999.0,
            })
            .collect();
        let t = thin(&full, 10);
        assert_eq!(t.len(), 10);
        assert_eq!(t[0], full[0]);
        assert_eq!(t[9], full[999]);
    }

    #[test]
    fn empty_classes_have_no_roc() {
        assert!(roc(&[], &[0.5]).is_none());
        assert!(roc(&[0.5], &[]).is_none());
        assert!(roc(&[f32::NAN], &[f32::NAN]).is_none());
    }
}
