//! `reid-explorer rank --query IMG --gallery DIR [--top K] [--csv FILE] [--flip off|both]`.
//!
//! The CSV is written by [`crate::eval::table`], the writer shared with the Gallery view.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::backend::BackendChoice;
use crate::data::layout::parse_market;
use crate::engine::{gallery_files, rank_gallery};
use crate::eval::Labels;
use crate::protocol::Ranking;

use super::ModelArgs;
use super::common::load;
use super::progress::StageBar;

/// Arguments of `rank`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The query image.
    #[arg(long)]
    pub query: PathBuf,
    /// Gallery folder (any layout; a Market-style root uses its bounding_box_test split).
    #[arg(long)]
    pub gallery: PathBuf,
    /// How many entries to print.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Write the whole ranking as CSV (rank,path,score,identity,camera,match; a field holding
    /// a comma, a quote or a line break is quoted).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Test-time flip averaging of p(same): `both` (the default) averages p(a, b) and
    /// p(flip a, flip b), at twice the pair scoring; `off` scores p(a, b) only.
    #[arg(long, value_enum, default_value_t = super::eval::FlipArg::Both)]
    pub flip: super::eval::FlipArg,
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

/// The `--csv` file, opened before any work so an unwritable path fails at once.
struct CsvOut {
    path: PathBuf,
    file: std::fs::File,
    /// Whether the file was there before (a new one is removed again if ranking fails).
    existed: bool,
}

impl CsvOut {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let existed = path.exists();
        // Not truncated yet: an existing file keeps its content until the ranking is done.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("{}: cannot write the CSV file", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            existed,
        })
    }

    fn discard(self) {
        if !self.existed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    let csv = args.csv.as_deref().map(CsvOut::open).transpose()?;
    let result = rank_and_print(&args, backend);
    match (result, csv) {
        (Ok(ranking), Some(csv)) => write_csv(csv, &ranking),
        (Ok(_), None) => Ok(()),
        (Err(e), csv) => {
            if let Some(csv) = csv {
                csv.discard();
            }
            Err(e)
        }
    }
}

fn rank_and_print(args: &Args, backend: BackendChoice) -> anyhow::Result<Ranking> {
    let loaded = load(args.model.model.as_deref(), backend)?;
    let (files, mut skipped) = gallery_files(&args.gallery)?;
    if files.is_empty() {
        anyhow::bail!("{}: no gallery images", args.gallery.display());
    }
    let query_labels = args
        .query
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_market)
        .map(|(identity, camera)| Labels {
            identity,
            camera: Some(camera),
        });
    let cache = (!args.no_cache)
        .then(|| loaded.cache_for(&args.gallery, args.cache_dir.as_deref()))
        .flatten();
    let bar = StageBar::new();
    let progress = |s, d, t| bar.update(s, d, t);
    let opts = loaded
        .job()
        .cache(cache.as_ref())
        .progress(&progress)
        .flip(args.flip.mode());
    let ranking = rank_gallery(&opts, &args.query, query_labels, &files)?;
    bar.finish();
    skipped.extend(ranking.skipped.iter().cloned());
    println!(
        "query {} against {} images ({}, {:.0} ms)",
        args.query.display(),
        ranking.entries.len(),
        loaded.device.description,
        ranking.millis
    );
    for (i, e) in ranking.entries.iter().take(args.top).enumerate() {
        let mark = match e.is_match {
            Some(true) => "match",
            Some(false) => "",
            None => "?",
        };
        println!(
            "{:>4}  {:.4}  {}  {}",
            i + 1,
            e.score,
            e.path.display(),
            mark
        );
    }
    for (path, reason) in &skipped {
        eprintln!("skipped {}: {reason}", path.display());
    }
    Ok(ranking)
}

/// Write the whole ranking into the opened `--csv` file.
fn write_csv(csv: CsvOut, ranking: &Ranking) -> anyhow::Result<()> {
    let name = csv.path.display().to_string();
    let result = (|| -> std::io::Result<()> {
        if csv.file.metadata()?.is_file() {
            csv.file.set_len(0)?;
        }
        let mut f = std::io::BufWriter::new(&csv.file);
        crate::eval::table::write_ranking(&mut f, ranking).map_err(std::io::Error::other)?;
        f.flush()
    })();
    result.with_context(|| format!("{name}: cannot write the CSV file"))
}
