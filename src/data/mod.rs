//! Data: image decoding and preprocessing, guards for reading untrusted files, dataset layouts,
//! synthetic people, pair sampling and augmentation.

pub mod augment;
pub mod crops;
pub mod guard;
pub mod layout;
pub mod preprocess;
pub mod reuse;
pub mod sampler;
pub mod synth;

pub use layout::{Dataset, DatasetError, LayoutKind, Sample, Skipped, Split, scan};
pub use preprocess::{INPUT_H, INPUT_W, ImageError, Normalization, load_input, load_rgb};
