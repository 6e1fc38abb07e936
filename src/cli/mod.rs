//! The command line: `reid-explorer [COMMAND]`. No command opens the GUI.
//!
//! Each command lives in its own file with an `Args` struct and a `run` function returning
//! `anyhow::Result`; `main` prints an error as one line and exits non-zero.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::backend::BackendChoice;

pub mod bench;
pub mod common;
pub mod compare;
pub mod dataset;
pub mod eval;
pub mod export;
mod interrupt;
pub mod progress;
pub mod rank;
pub mod synth;
pub mod trace;
pub mod train;

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "reid-explorer",
    version,
    about = "Run, train and explain the Normalized X-Corr person re-identification network"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where the network runs (the GUI's workers and every command).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto, global = true)]
    pub backend: BackendChoice,
    /// GUI only: open with this model folder (default: the last one chosen, else one that suits
    /// the dataset shown: models/synthetic for the embedded sample, models/cuhk03 otherwise).
    #[arg(long, value_name = "MODEL_DIR")]
    pub model: Option<std::path::PathBuf>,
    /// GUI only: open with this dataset folder (default: the last one used, else the sample).
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<std::path::PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print p(same) for two images.
    Compare(compare::Args),
    /// Write every intermediate map of the network for two images as .npy files.
    Trace(trace::Args),
    /// Summarise a dataset folder: layout, identities, cameras, images, skipped files.
    Dataset(dataset::Args),
    /// Generate a synthetic Market-style dataset of procedurally drawn pedestrians.
    Synth(synth::Args),
    /// Train the network (the authors' protocol by default).
    Train(Box<train::Args>),
    /// CMC, mAP, mINP and ROC of a model on a dataset (per-query results with --export).
    Eval(eval::Args),
    /// Rank a gallery folder against one query image.
    Rank(rank::Args),
    /// Time the correlation layer, the network, a training step and ranking.
    Bench(bench::Args),
    /// Write a model's weights for other frameworks (safetensors, PyTorch names: docs/export.md).
    Export(export::Args),
}

/// Options shared by every command that runs the network.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Model folder (config.json + weights). Defaults to models/cuhk03.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Run one parsed command.
pub fn run(command: Command, backend: BackendChoice) -> anyhow::Result<()> {
    match command {
        Command::Compare(args) => compare::run(args, backend),
        Command::Trace(args) => trace::run(args, backend),
        Command::Dataset(args) => dataset::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Train(args) => train::run(*args, backend),
        Command::Eval(args) => eval::run(args, backend),
        Command::Rank(args) => rank::run(args, backend),
        Command::Bench(args) => bench::run(args, backend),
        Command::Export(args) => export::run(args),
    }
}
