//! `eval`'s output: the `--json` object and the text report.

use crate::eval::Roc;
use crate::eval::export::ExportSummary;
use crate::model::calibration::Calibration;

/// What `eval --json` prints. Fractions in `[0, 1]`.
#[derive(Debug, serde::Serialize)]
pub(super) struct EvalOutput {
    pub rank1: f64,
    pub rank5: f64,
    pub rank10: f64,
    pub rank20: f64,
    #[serde(rename = "mAP")]
    pub map: f64,
    /// Mean inverse negative penalty (fast-reid's mINP; = mAP with one true match per query).
    #[serde(rename = "mINP")]
    pub minp: f64,
    /// Queries (the authors' protocol: probes per draw).
    pub queries: usize,
    /// Gallery images (the authors' protocol: identities, one gallery image each per draw).
    pub gallery: usize,
    pub skipped_queries: usize,
    pub protocol: String,
    pub model: String,
    pub backend: String,
    pub seconds: f64,
    /// Test-time flip averaging: "off" or "both".
    pub flip: String,
    /// Query files evaluated of the query split: all of them, or the --max-queries subset.
    pub query_files: usize,
    /// Verification over every pair scored (null without both kinds of pair).
    pub verification: Option<VerificationOutput>,
    /// Seconds and units of each stage ("trunk features": images, "scoring queries": queries,
    /// "scoring pairs": pairs).
    pub stages: Vec<StageTime>,
    /// What `--export` wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportSummary>,
    /// The calibration `--calibrate` wrote into the model folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// The authors' protocol only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub authors: Option<AuthorsOutput>,
}

/// The authors' protocol's extra `eval --json` fields.
#[derive(Debug, serde::Serialize)]
pub(super) struct AuthorsOutput {
    pub draws: usize,
    /// Sample standard deviations over draws.
    pub rank1_std: f64,
    pub rank5_std: f64,
    pub rank10_std: f64,
    pub rank20_std: f64,
    #[serde(rename = "mAP_std")]
    pub map_std: f64,
    /// Rank-1 of the probes seen by their gallery image's camera (null: none).
    pub rank1_same_camera: Option<f64>,
    /// Rank-1 of the probes seen by another camera than their gallery image's (null: none).
    pub rank1_cross_camera: Option<f64>,
    /// Probes per draw.
    pub probes: usize,
    /// Same-camera probes, summed over draws.
    pub same_camera_probes: usize,
    /// Cross-camera probes, summed over draws.
    pub cross_camera_probes: usize,
    /// Probes with an unknown camera, summed over draws.
    pub unknown_camera_probes: usize,
    /// Test identities.
    pub identities: usize,
}

/// `eval --json`'s verification fields (rates are fractions).
#[derive(Debug, serde::Serialize)]
pub(super) struct VerificationOutput {
    /// Same-identity pairs scored.
    pub positive_pairs: usize,
    /// Different-identity pairs scored.
    pub negative_pairs: usize,
    pub auc: f64,
    /// The equal-error threshold (the calibrated verdict threshold) and the rates there.
    pub eer_threshold: f32,
    pub eer: f64,
    /// TPR at FPR 1e-2 / 1e-3 (null: no threshold reaches that FPR) and the threshold.
    pub tpr_at_fpr_1e2: Option<f64>,
    pub threshold_at_fpr_1e2: Option<f32>,
    pub tpr_at_fpr_1e3: Option<f64>,
    pub threshold_at_fpr_1e3: Option<f32>,
}

impl VerificationOutput {
    pub(super) fn of(roc: &Roc) -> Self {
        Self {
            positive_pairs: roc.positives,
            negative_pairs: roc.negatives,
            auc: roc.auc,
            eer_threshold: roc.eer.threshold,
            eer: roc.eer_rate,
            tpr_at_fpr_1e2: roc.at_fpr_1e2.map(|p| p.tpr),
            threshold_at_fpr_1e2: roc.at_fpr_1e2.map(|p| p.threshold),
            tpr_at_fpr_1e3: roc.at_fpr_1e3.map(|p| p.tpr),
            threshold_at_fpr_1e3: roc.at_fpr_1e3.map(|p| p.threshold),
        }
    }
}

/// The time of one stage of the job.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct StageTime {
    pub stage: &'static str,
    /// Units done (the stage's total): images, queries or pairs as the stage's name says.
    pub units: usize,
    /// Pairs scored, for the scoring stages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs: Option<usize>,
    pub seconds: f64,
}

/// The text report: one header line, then the numbers (authors' protocol: mean ± std over
/// draws, then rank-1 of the same- and cross-camera probes).
pub(super) fn human(dataset: &std::path::Path, out: &EvalOutput) -> String {
    let pct = |v: f64| 100.0 * v;
    let Some(a) = &out.authors else {
        return format!(
            "{} ({} protocol, {} queries x {} gallery, model {}, {}, {:.1} s)\n  rank-1 {:.1}%  rank-5 {:.1}%  rank-10 {:.1}%  rank-20 {:.1}%  mAP {:.1}%  mINP {:.1}%\n{}",
            dataset.display(),
            out.protocol,
            out.queries,
            out.gallery,
            out.model,
            out.backend,
            out.seconds,
            pct(out.rank1),
            pct(out.rank5),
            pct(out.rank10),
            pct(out.rank20),
            pct(out.map),
            pct(out.minp),
            extra_lines(out)
        );
    };
    let split = |r: Option<f64>, n: usize| match r {
        Some(r) => format!("{:.1}% ({n} probe-draws)", pct(r)),
        None => "n/a (no such probe)".into(),
    };
    let mut text = format!(
        "{} (authors' protocol, {} draws, {} identities, {} probes per draw, model {}, {}, {:.1} s)\n  mean ± std over draws: rank-1 {:.1} ± {:.1}%  rank-5 {:.1} ± {:.1}%  rank-10 {:.1} ± {:.1}%  rank-20 {:.1} ± {:.1}%  mAP {:.1} ± {:.1}%\n  rank-1 same-camera probes {}, cross-camera probes {}\n",
        dataset.display(),
        a.draws,
        a.identities,
        a.probes,
        out.model,
        out.backend,
        out.seconds,
        pct(out.rank1),
        pct(a.rank1_std),
        pct(out.rank5),
        pct(a.rank5_std),
        pct(out.rank10),
        pct(a.rank10_std),
        pct(out.rank20),
        pct(a.rank20_std),
        pct(out.map),
        pct(a.map_std),
        split(a.rank1_same_camera, a.same_camera_probes),
        split(a.rank1_cross_camera, a.cross_camera_probes),
    );
    text.push_str(&extra_lines(out));
    if a.unknown_camera_probes > 0 {
        text.push_str(&format!(
            "  {} probe-draws with an unknown camera (in the means, in neither split)\n",
            a.unknown_camera_probes
        ));
    }
    text
}

/// Flip mode, query subset, verification and stage times: the lines under the numbers.
fn extra_lines(out: &EvalOutput) -> String {
    let pct = |v: f64| 100.0 * v;
    let mut text = String::new();
    if out.flip != "off" {
        text.push_str(&format!("  flip averaging: {}\n", out.flip));
    }
    if let Some(v) = &out.verification {
        let at = |tpr: Option<f64>, t: Option<f32>| match (tpr, t) {
            (Some(tpr), Some(t)) => format!("{:.1}% (threshold {t:.4})", pct(tpr)),
            _ => "n/a".into(),
        };
        text.push_str(&format!(
            "  verification over {} same / {} different pairs: AUC {:.4}, TPR at FPR 1e-2 {}, at 1e-3 {}, equal-error threshold {:.4} (EER {:.1}%)\n",
            v.positive_pairs,
            v.negative_pairs,
            v.auc,
            at(v.tpr_at_fpr_1e2, v.threshold_at_fpr_1e2),
            at(v.tpr_at_fpr_1e3, v.threshold_at_fpr_1e3),
            v.eer_threshold,
            pct(v.eer)
        ));
    }
    let stages: Vec<String> = out
        .stages
        .iter()
        .filter(|s| s.seconds > 0.0)
        .map(|s| match s.pairs {
            Some(pairs) => format!(
                "{} {} ({pairs} pairs) in {:.1} s ({:.0} pairs/s)",
                s.stage,
                s.units,
                s.seconds,
                pairs as f64 / s.seconds
            ),
            None => format!(
                "{} {} in {:.1} s ({:.1}/s)",
                s.stage,
                s.units,
                s.seconds,
                s.units as f64 / s.seconds
            ),
        })
        .collect();
    if !stages.is_empty() {
        text.push_str(&format!("  stages: {}\n", stages.join("; ")));
    }
    text
}
