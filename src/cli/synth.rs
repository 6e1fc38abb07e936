//! `reid-explorer synth --out DIR --identities N --seed S`: a synthetic Market-style dataset of
//! procedurally drawn pedestrians (see [`crate::data::synth`]).

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::synth::{GALLERY_DIR, QUERY_DIR, SynthConfig, TRAIN_DIR, generate};

/// Arguments of `synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created; gets bounding_box_train, query, bounding_box_test).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of identities (the first half are training identities).
    #[arg(long, default_value_t = 100)]
    pub identities: usize,
    /// Seed: the same seed gives the same dataset, byte for byte.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Cameras in the dataset.
    #[arg(long, default_value_t = 6)]
    pub cameras: u32,
    /// Fewest cameras that see one identity (at least 2).
    #[arg(long, default_value_t = 2)]
    pub min_cameras: u32,
    /// Most cameras that see one identity.
    #[arg(long, default_value_t = 3)]
    pub max_cameras: u32,
    /// Fewest frames per camera and identity (at least 2: one query, one gallery).
    #[arg(long, default_value_t = 2)]
    pub min_images: u32,
    /// Most frames per camera and identity.
    #[arg(long, default_value_t = 3)]
    pub max_images: u32,
    /// Delete the three split folders under --out first if they exist.
    #[arg(long)]
    pub force: bool,
}

/// Generate the dataset, with a progress bar, and print what was written and how fast.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = SynthConfig {
        identities: args.identities,
        seed: args.seed,
        cameras: args.cameras,
        cameras_per_identity: (args.min_cameras, args.max_cameras),
        images_per_camera: (args.min_images, args.max_images),
    };
    if args.force {
        for dir in [TRAIN_DIR, QUERY_DIR, GALLERY_DIR] {
            let path = args.out.join(dir);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("{}: cannot remove", path.display()))?;
            }
        }
    }
    let total = config.plan()?.len();
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} crops [{elapsed}]") {
        bar.set_style(style);
    }
    let report = generate(&args.out, &config, &|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{}: {} identities, {} images (train {}, query {}, gallery {}) in {:.2} s, {:.0} crops/min on {} threads",
        args.out.display(),
        report.identities,
        report.images(),
        report.train,
        report.query,
        report.gallery,
        secs,
        report.images() as f64 / secs * 60.0,
        rayon::current_num_threads()
    );
    Ok(())
}
