//! # reid-explorer
//!
//! Runs, trains and explains the Normalized X-Corr Siamese network for person re-identification
//! (Subramaniam, Chatterjee, Mittal, NIPS 2016).
//!
//! Module map (see ARCHITECTURE.md for the longer tour):
//! - [`data`]: image decoding and preprocessing, dataset layouts, synthetic pedestrians, pair
//!   sampling and augmentation. No Burn.
//! - [`model`]: the network (trunk, normalized correlation, head), its configuration, traced
//!   forward, weights on disk. Burn lives here and in the worker modules only.
//! - [`backend`]: choosing the compute device at run time (`auto | gpu | cpu`).
//! - [`eval`]: CMC / mAP and ranking protocols (plain numbers, no Burn).
//! - [`viz`]: tensors to images with colormaps (no egui, testable).
//! - [`npy`]: the numpy `.npy` writer used by `trace`.
//! - [`engine`]: jobs over many images (a loaded model [`engine::Session`], ranking,
//!   evaluation, the feature cache), shared by the command line and the GUI's workers.
//! - [`train`]: the training run (configuration, loop, checkpoints, its events).
//! - [`cancel`]: the cancel flag of long jobs.
//! - [`protocol`]: the typed contract between the GUI and its worker threads (commands, job
//!   kinds, events, failures); `worker` (crate-private): the threads themselves.
//! - [`app`]: the egui application; [`cli`]: the command line.
//!
//! Layering: `cancel` <- `engine`, `train` <- `protocol` <- `worker` <- `app`; neither the
//! engine nor the training loop imports the protocol.

pub mod app;
pub mod backend;
pub mod cancel;
pub mod cli;
pub mod data;
pub mod engine;
pub mod eval;
pub mod model;
pub mod npy;
pub mod protocol;
pub mod train;
pub mod viz;
pub(crate) mod worker;

/// A path shipped with the repository (`models/…`, `assets/…`): `rel` under the current folder if
/// it exists there, else under the source tree this binary was built from (so `cargo run` from
/// anywhere finds the shipped files), else `rel` as given.
pub fn bundled_path(rel: &str) -> std::path::PathBuf {
    let here = std::path::PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    let in_crate = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if in_crate.exists() { in_crate } else { here }
}
