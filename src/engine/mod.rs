//! Compute jobs shared by the command line and the GUI's workers: trunk features for many
//! images, scoring query x gallery pairs in batches, ranking and evaluation over files.
//! Burn is used here (through [`crate::model`]); everything returned is plain data.

pub mod cache;
pub mod jobs;
pub mod score;

pub use cache::model_fingerprint;
pub use jobs::{CacheSpec, JobError, StageProgress, evaluate_dataset, gallery_files, rank_gallery};
pub use score::{FeatureBank, Progress, ScoreError, features, score_matrix, score_query};
