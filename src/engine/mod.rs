//! Compute jobs shared by the command line and the GUI's workers: a loaded model
//! ([`Session`]), trunk features for many images, scoring query x gallery pairs in batches,
//! ranking and evaluation over files. Burn is used here (through [`crate::model`]); everything
//! returned is plain data.

pub mod cache;
pub mod evaluation;
pub mod flip;
pub mod jobs;
pub mod options;
pub mod results;
pub mod score;
pub mod session;

pub use cache::model_fingerprint;
pub use evaluation::EvalSettings;
pub use jobs::evaluate_dataset_with;
pub use jobs::{
    CacheSpec, JobError, JobOptions, StageProgress, evaluate_dataset, gallery_files, rank_gallery,
};
pub use results::{Evaluation, RankedEntry, Ranking};
pub use score::{FeatureBank, Progress, ScoreError, features, score_matrix, score_query};
pub use session::Session;
