//! Training: configuration, data preparation, the loop (run on a worker thread by the GUI and
//! the command line), checkpoints.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod run;

pub use config::TrainConfig;
pub use run::{Outcome, TrainControl, TrainError, train};
