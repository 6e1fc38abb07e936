//! `reid-explorer dataset DIR [--json] [--layout KIND]`: layout, identities, cameras, images,
//! skipped files with their reasons.

use std::path::PathBuf;

use anyhow::Context;

use crate::data::layout::{LayoutKind, scan};

/// Arguments of `dataset`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset folder.
    pub dir: PathBuf,
    /// Print a JSON object (keys: root, layout, identities, cameras, images, junk, splits,
    /// skipped as a list of {path, reason}).
    #[arg(long)]
    pub json: bool,
    /// Read the folder as this layout instead of detecting it.
    #[arg(long, value_enum, value_name = "KIND")]
    pub layout: Option<LayoutKind>,
}

/// Scan the folder and print its summary.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dataset = scan(&args.dir, args.layout)?;
    let summary = dataset.summary();
    if args.json {
        let text = serde_json::to_string_pretty(&summary).context("cannot write JSON")?;
        println!("{text}");
    } else {
        print!("{summary}");
    }
    Ok(())
}
