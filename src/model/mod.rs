//! The network: configuration, parameters and forward, the correlation layer, the traced
//! forward, inference helpers and weights on disk. Burn lives here; nothing here knows the GUI.

pub mod calibration;
pub mod config;
pub mod conv;
pub mod export;
mod flex_host;
pub mod infer;
pub mod io;
pub mod network;
pub mod pool;
pub mod samples;
pub mod simd;
pub mod simd_wide;
pub mod trace;
pub mod trunk_cpu;
pub mod xcorr;

pub use config::{ModelConfig, Shapes};
pub use io::{ModelIoError, load_model, save_model};
pub use network::{Init, XCorrNet, probabilities};
pub use trace::{Branch, Trace, TracedMap, trace};

/// The default model folder of the app and the command line.
pub const DEFAULT_MODEL_DIR: &str = "models/cuhk03";
