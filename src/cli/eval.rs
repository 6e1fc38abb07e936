//! `reid-explorer eval --dataset DIR [--protocol standard|single-shot] [--json]`.

use std::path::PathBuf;

use crate::backend::BackendChoice;
use crate::engine::evaluate_dataset;
use crate::eval::Protocol;
use crate::protocol::CancelToken;

use super::ModelArgs;
use super::common::load;
use super::progress::StageBar;

/// Which protocol to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// Market-1501 style: whole gallery, same-camera matches removed, junk ignored.
    Standard,
    /// The paper's CUHK03 mode: one gallery image per identity, averaged over 10 draws.
    SingleShot,
}

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset root with query/ and bounding_box_test/.
    #[arg(long)]
    pub dataset: PathBuf,
    #[arg(long, value_enum, default_value_t = ProtocolArg::Standard)]
    pub protocol: ProtocolArg,
    /// Seed of the single-shot draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a JSON object (rank1, rank5, rank10, rank20, mAP as fractions; queries, gallery,
    /// protocol, model).
    #[arg(long)]
    pub json: bool,
    /// Do not read or write the trunk-feature cache kept beside the images.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// What `eval --json` prints.
#[derive(Debug, serde::Serialize)]
pub struct EvalOutput {
    pub rank1: f64,
    pub rank5: f64,
    pub rank10: f64,
    pub rank20: f64,
    #[serde(rename = "mAP")]
    pub map: f64,
    pub queries: usize,
    pub gallery: usize,
    pub skipped_queries: usize,
    pub protocol: String,
    pub model: String,
    pub backend: String,
    pub seconds: f64,
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    let loaded = load(args.model.model.as_deref(), backend)?;
    let protocol = match args.protocol {
        ProtocolArg::Standard => Protocol::Standard,
        ProtocolArg::SingleShot => Protocol::paper_single_shot(args.seed),
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
        protocol: match args.protocol {
            ProtocolArg::Standard => "standard".into(),
            ProtocolArg::SingleShot => "single-shot".into(),
        },
        model: loaded.dir.display().to_string(),
        backend: loaded.device.description.clone(),
        seconds: ev.millis / 1e3,
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} ({} protocol, {} queries x {} gallery, model {}, {}, {:.1} s)\n  rank-1 {:.1}%  rank-5 {:.1}%  rank-10 {:.1}%  rank-20 {:.1}%  mAP {:.1}%",
            args.dataset.display(),
            out.protocol,
            out.queries,
            out.gallery,
            out.model,
            out.backend,
            out.seconds,
            100.0 * out.rank1,
            100.0 * out.rank5,
            100.0 * out.rank10,
            100.0 * out.rank20,
            100.0 * out.map
        );
    }
    Ok(())
}
