//! Training: configuration, data preparation, the output folder's rules, one step, the loop
//! (run on a worker thread by the GUI and the command line), checkpoints.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod folder;
pub mod run;
pub mod step;

pub use config::TrainConfig;
pub use folder::StartMode;
pub use run::{Outcome, TrainControl, TrainError, resume_config, train};
