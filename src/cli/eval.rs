//! `reid-explorer eval --dataset DIR [--protocol standard|single-shot|authors] [--draws N]
//! [--seed S] [--json]`.

use std::path::PathBuf;

use crate::backend::BackendChoice;
use crate::engine::evaluate_dataset;
use crate::eval::{PAPER_DRAWS, Protocol};
use crate::protocol::CancelToken;

use super::ModelArgs;
use super::common::load;
use super::progress::StageBar;

/// Which protocol to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// Market-1501 style on query/ vs bounding_box_test/: whole gallery, same-camera matches
    /// removed, junk ignored.
    Standard,
    /// Cross-camera single-shot gallery on query/ vs bounding_box_test/: one gallery image per
    /// identity, from another camera than the query's, averaged over --draws draws. Not the
    /// paper's protocol (see `authors`).
    SingleShot,
    /// The authors' CUHK03 test protocol (their test.lua, the paper's numbers): per draw one
    /// gallery image per identity from all its images, every other image a probe; query/ and
    /// bounding_box_test/ pooled, or every labelled image of a layout without splits.
    Authors,
}

impl ProtocolArg {
    fn name(self) -> &'static str {
        match self {
            ProtocolArg::Standard => "standard",
            ProtocolArg::SingleShot => "single-shot",
            ProtocolArg::Authors => "authors",
        }
    }
}

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset root: query/ and bounding_box_test/ (any protocol), or a layout without splits
    /// (one folder per identity, cam_a/ + cam_b/; authors' protocol only).
    #[arg(long)]
    pub dataset: PathBuf,
    #[arg(long, value_enum, default_value_t = ProtocolArg::Standard)]
    pub protocol: ProtocolArg,
    /// Number of random draws of the single-shot and authors' protocols.
    #[arg(long, default_value_t = PAPER_DRAWS)]
    pub draws: usize,
    /// Seed of the single-shot and authors' draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a JSON object (rank1, rank5, rank10, rank20, mAP as fractions; queries, gallery,
    /// protocol, model; the authors' protocol adds draws, the *_std spreads over draws,
    /// rank1_same_camera / rank1_cross_camera and the probe counts).
    #[arg(long)]
    pub json: bool,
    /// Do not read or write the trunk-feature cache kept beside the images.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// What `eval --json` prints. Fractions in `[0, 1]`.
#[derive(Debug, serde::Serialize)]
pub struct EvalOutput {
    pub rank1: f64,
    pub rank5: f64,
    pub rank10: f64,
    pub rank20: f64,
    #[serde(rename = "mAP")]
    pub map: f64,
    /// Queries (the authors' protocol: probes per draw).
    pub queries: usize,
    /// Gallery images (the authors' protocol: identities, one gallery image each per draw).
    pub gallery: usize,
    pub skipped_queries: usize,
    pub protocol: String,
    pub model: String,
    pub backend: String,
    pub seconds: f64,
    /// The authors' protocol only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub authors: Option<AuthorsOutput>,
}

/// The authors' protocol's extra `eval --json` fields.
#[derive(Debug, serde::Serialize)]
pub struct AuthorsOutput {
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

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    if args.draws == 0 {
        anyhow::bail!("--draws must be at least 1 (got 0)");
    }
    let loaded = load(args.model.model.as_deref(), backend)?;
    let (draws, seed) = (args.draws, args.seed);
    let protocol = match args.protocol {
        ProtocolArg::Standard => Protocol::Standard,
        ProtocolArg::SingleShot => Protocol::SingleShot { draws, seed },
        ProtocolArg::Authors => Protocol::Authors { draws, seed },
    };
    let cache = loaded.cache_for(&args.dataset, !args.no_cache);
    let bar = StageBar::new();
    let ev = evaluate_dataset(
        &loaded.net,
        &loaded.config,
        &args.dataset,
        &protocol,
        cache.as_ref(),
        &loaded.device.device,
        &|s, d, t| bar.update(s, d, t),
        &CancelToken::new(),
    )?;
    bar.finish();
    let m = &ev.metrics;
    let out = EvalOutput {
        rank1: m.rank1,
        rank5: m.rank5,
        rank10: m.rank10,
        rank20: m.rank20,
        map: m.map,
        queries: m.queries,
        gallery: m.gallery,
        skipped_queries: m.skipped_queries,
        protocol: args.protocol.name().into(),
        model: loaded.dir.display().to_string(),
        backend: loaded.device.description.clone(),
        seconds: ev.millis / 1e3,
        authors: ev.authors.as_ref().map(|a| AuthorsOutput {
            draws: a.draws,
            rank1_std: a.rank1_std,
            rank5_std: a.rank5_std,
            rank10_std: a.rank10_std,
            rank20_std: a.rank20_std,
            map_std: a.map_std,
            rank1_same_camera: a.rank1_same_camera,
            rank1_cross_camera: a.rank1_cross_camera,
            probes: a.probes_per_draw,
            same_camera_probes: a.same_camera_probes,
            cross_camera_probes: a.cross_camera_probes,
            unknown_camera_probes: a.unknown_camera_probes,
            identities: a.identities,
        }),
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", human(&args.dataset, &out));
    }
    Ok(())
}

/// The text report: one header line, then the numbers (authors' protocol: mean ± std over
/// draws, then rank-1 of the same- and cross-camera probes).
fn human(dataset: &std::path::Path, out: &EvalOutput) -> String {
    let pct = |v: f64| 100.0 * v;
    let Some(a) = &out.authors else {
        return format!(
            "{} ({} protocol, {} queries x {} gallery, model {}, {}, {:.1} s)\n  rank-1 {:.1}%  rank-5 {:.1}%  rank-10 {:.1}%  rank-20 {:.1}%  mAP {:.1}%\n",
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
            pct(out.map)
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
    if a.unknown_camera_probes > 0 {
        text.push_str(&format!(
            "  {} probe-draws with an unknown camera (in the means, in neither split)\n",
            a.unknown_camera_probes
        ));
    }
    text
}
