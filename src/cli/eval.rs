//! `reid-explorer eval --dataset DIR [--protocol standard|single-shot|authors] [--draws N]
//! [--seed S] [--max-queries N] [--flip off|both] [--export DIR [--worst N | --all]]
//! [--calibrate] [--json]`.
//!
//! Besides CMC / mAP / mINP: verification over every pair scored (ROC AUC, TPR at FPR 1e-2 and
//! 1e-3, the equal-error threshold), the time of each stage (trunk features per image, pair
//! scores per second), per-query results exported as files (`--export`, see
//! [`crate::eval::export`]) and the calibrated verdict threshold written into the model folder
//! (`--calibrate`, see [`crate::model::calibration`]).

mod report;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;

use crate::backend::BackendChoice;
use crate::engine::{EvalSettings, evaluate_dataset_with};
use crate::eval::export::{DEFAULT_WORST, ExportOptions, StripChoice, export_evaluation};
use crate::eval::{FlipMode, PAPER_DRAWS, Protocol};
use crate::model::calibration::{Calibration, write_calibration};

use super::ModelArgs;
use super::common::load;
use super::progress::StageBar;
use report::{AuthorsOutput, EvalOutput, StageTime, VerificationOutput, human};

/// Test-time flip averaging (`--flip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlipArg {
    /// p(a, b) only.
    Off,
    /// The mean of p(a, b) and p(flip a, flip b), both crops mirrored left-right: twice the
    /// pair scoring.
    Both,
}

impl FlipArg {
    /// The engine's mode.
    pub fn mode(self) -> FlipMode {
        match self {
            FlipArg::Off => FlipMode::Off,
            FlipArg::Both => FlipMode::Both,
        }
    }

    /// The name printed and written to JSON.
    pub fn name(self) -> &'static str {
        match self {
            FlipArg::Off => "off",
            FlipArg::Both => "both",
        }
    }
}

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
    /// The protocol's name as printed.
    pub fn name(self) -> &'static str {
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
    /// Seed of the single-shot and authors' draws, and of the --max-queries subset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Evaluate a seeded random subset of at most N queries of query/ (standard and
    /// single-shot protocols; the same --seed gives the same subset). For large galleries.
    #[arg(long, value_name = "N")]
    pub max_queries: Option<usize>,
    /// Test-time flip averaging of p(same): `both` (the default) averages p(a, b) and
    /// p(flip a, flip b), at twice the pair scoring; `off` scores p(a, b) only (half the time;
    /// the numbers of models evaluated before flip averaging existed). On CUHK03 with
    /// models/cuhk03-cross-camera it raised standard rank-1 from 18.6% to 25.1% and mAP from
    /// 20.9% to 22.7%; the model cards give each model's figures.
    #[arg(long, value_enum, default_value_t = FlipArg::Both)]
    pub flip: FlipArg,
    /// Write the results into DIR: per_query.csv, scores.npy + queries.txt / gallery.txt,
    /// summary.json, rank strips of the worst queries (strips/) and index.html to browse them.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// Rank strips for the N worst queries (lowest AP first).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WORST, requires = "export")]
    pub worst: usize,
    /// Rank strips for every evaluated query (instead of --worst).
    #[arg(long, requires = "export", conflicts_with = "worst")]
    pub all: bool,
    /// Write the equal-error threshold of this evaluation's pairs into the model folder
    /// (calibration.json): the Compare view's default verdict threshold. Calibrate on data
    /// you do not report results on (a validation split).
    #[arg(long)]
    pub calibrate: bool,
    /// Print a JSON object (rank1, rank5, rank10, rank20, mAP, mINP as fractions; queries,
    /// gallery, protocol, model, flip, verification (AUC, TPR at FPR 1e-2 / 1e-3, the
    /// equal-error threshold), stages (seconds per stage); the authors' protocol adds draws,
    /// the *_std spreads over draws, rank1_same_camera / rank1_cross_camera and the probe
    /// counts; export and calibration when asked for).
    #[arg(long)]
    pub json: bool,
    /// Do not read or write the trunk-feature cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Folder of the trunk-feature cache (default: the user's cache folder,
    /// ~/.cache/reid-explorer/features on Linux; one file per folder and model). Caches that
    /// older versions kept beside the images (.reid-explorer-cache/) are no longer used and can
    /// be deleted.
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// One stage's time so far: finished runs, and the run in progress.
struct StageRun {
    /// Seconds and units of the stage's finished runs (a stage runs once per encoded file list).
    done_seconds: f64,
    done_units: usize,
    /// The run in progress: its start (the report before its first), its last report, its
    /// total.
    first: Instant,
    last: Instant,
    total: usize,
}

/// Records, per stage, its time (summed over the stage's runs: a run is a stretch of reports
/// of that stage, from the previous report of any stage to its own last report) and the units
/// done.
struct StageClock {
    state: Mutex<ClockState>,
}

/// The stages seen so far, the time of the latest report and its stage.
struct ClockState {
    stages: Vec<(&'static str, StageRun)>,
    previous: Instant,
    current: Option<&'static str>,
}

impl Default for StageClock {
    fn default() -> Self {
        Self {
            state: Mutex::new(ClockState {
                stages: Vec::new(),
                previous: Instant::now(),
                current: None,
            }),
        }
    }
}

impl StageClock {
    fn record(&self, stage: &'static str, total: usize) {
        let now = Instant::now();
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        let ClockState {
            stages,
            previous,
            current,
        } = &mut *guard;
        // A new run starts when another stage reported in between (the decodes report from
        // several threads, out of order: `done` alone does not tell).
        let continues = *current == Some(stage);
        match stages.iter_mut().find(|(name, _)| *name == stage) {
            Some((_, run)) => {
                if !continues {
                    run.done_seconds += run.last.duration_since(run.first).as_secs_f64();
                    run.done_units += run.total;
                    run.first = *previous;
                }
                run.last = now;
                run.total = total;
            }
            None => stages.push((
                stage,
                StageRun {
                    done_seconds: 0.0,
                    done_units: 0,
                    first: *previous,
                    last: now,
                    total,
                },
            )),
        }
        *previous = now;
        *current = Some(stage);
    }

    /// Each stage's seconds and units, in the order the stages started; the scoring stages
    /// also in pairs (a stage counting queries scores each against `gallery` images).
    fn times(&self, gallery: usize) -> Vec<StageTime> {
        let Ok(guard) = self.state.lock() else {
            return Vec::new();
        };
        guard
            .stages
            .iter()
            .map(|(name, run)| StageTime {
                stage: name,
                units: run.done_units + run.total,
                pairs: if name.starts_with("scoring") && name.ends_with("queries") {
                    Some((run.done_units + run.total) * gallery)
                } else if name.starts_with("scoring") && name.ends_with("pairs") {
                    Some(run.done_units + run.total)
                } else {
                    None
                },
                seconds: run.done_seconds + run.last.duration_since(run.first).as_secs_f64(),
            })
            .collect()
    }
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    if args.draws == 0 {
        anyhow::bail!("--draws must be at least 1 (got 0)");
    }
    if args.max_queries == Some(0) {
        anyhow::bail!("--max-queries must be at least 1 (got 0)");
    }
    if args.max_queries.is_some() && args.protocol == ProtocolArg::Authors {
        anyhow::bail!(
            "--max-queries applies to the standard and single-shot protocols: the authors' protocol ranks every test image (use fewer --draws to shorten it)"
        );
    }
    let loaded = load(args.model.model.as_deref(), backend)?;
    let (draws, seed) = (args.draws, args.seed);
    let protocol = match args.protocol {
        ProtocolArg::Standard => Protocol::Standard,
        ProtocolArg::SingleShot => Protocol::SingleShot { draws, seed },
        ProtocolArg::Authors => Protocol::Authors { draws, seed },
    };
    let cache = (!args.no_cache)
        .then(|| loaded.cache_for(&args.dataset, args.cache_dir.as_deref()))
        .flatten();
    let bar = StageBar::new();
    let clock = StageClock::default();
    let progress = |s, d, t| {
        clock.record(s, t);
        bar.update(s, d, t);
    };
    let opts = loaded
        .job()
        .cache(cache.as_ref())
        .progress(&progress)
        .flip(args.flip.mode());
    let settings = EvalSettings {
        max_queries: args.max_queries,
        query_seed: seed,
        ..EvalSettings::default()
    };
    let ev = evaluate_dataset_with(&opts, &args.dataset, &protocol, &settings)?;
    bar.finish();

    let export = match &args.export {
        Some(dir) => {
            let options = ExportOptions {
                strips: if args.all {
                    StripChoice::All
                } else {
                    StripChoice::Worst(args.worst)
                },
                ..ExportOptions::default()
            };
            Some(
                export_evaluation(&ev, dir, &options)
                    .with_context(|| format!("{}: cannot export the evaluation", dir.display()))?,
            )
        }
        None => None,
    };
    let calibration = if args.calibrate {
        let roc = ev.roc.as_ref().with_context(|| {
            format!(
                "{}: cannot calibrate: the evaluation scored no same-identity or no different-identity pair",
                args.dataset.display()
            )
        })?;
        let calibration = Calibration {
            threshold: roc.eer.threshold,
            source: format!(
                "eval {} ({} protocol)",
                args.dataset.display(),
                args.protocol.name()
            ),
            tpr: roc.eer.tpr,
            fpr: roc.eer.fpr,
            positive_pairs: roc.positives,
            negative_pairs: roc.negatives,
        };
        write_calibration(&loaded.dir, &calibration)?;
        Some(calibration)
    } else {
        None
    };

    let m = &ev.metrics;
    let out = EvalOutput {
        rank1: m.rank1,
        rank5: m.rank5,
        rank10: m.rank10,
        rank20: m.rank20,
        map: m.map,
        minp: m.minp,
        queries: m.queries,
        gallery: m.gallery,
        skipped_queries: m.skipped_queries,
        protocol: args.protocol.name().into(),
        model: loaded.dir.display().to_string(),
        backend: loaded.device.description.clone(),
        seconds: ev.millis / 1e3,
        flip: args.flip.name().into(),
        query_files: ev.query_images.len(),
        verification: ev.roc.as_ref().map(VerificationOutput::of),
        stages: clock.times(ev.gallery_images.len()),
        export,
        calibration,
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
        if let Some(e) = &out.export {
            println!(
                "  exported to {}: per_query.csv ({} rows), {}{} rank strips, index.html",
                e.dir.display(),
                e.per_query_rows,
                e.scores_shape
                    .map_or(String::new(), |(r, c)| format!("scores.npy ({r} x {c}), ")),
                e.strips
            );
            for note in &e.notes {
                println!("  note: {note}");
            }
        }
        if let Some(c) = &out.calibration {
            println!(
                "  calibration: threshold {:.4} written to {}",
                c.threshold,
                loaded
                    .dir
                    .join(crate::model::calibration::CALIBRATION_FILE)
                    .display()
            );
        }
    }
    Ok(())
}
