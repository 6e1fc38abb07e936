//! Tensors to images: colormaps, value ranges, channel grids, legends, upscaling, overlays and PNG
//! export. No egui here: everything takes `f32` slices and returns plain RGBA8 buffers, so it is
//! testable and the GUI only uploads textures.
//!
//! Conventions:
//! - images are row-major, top row first; RGBA8 buffers hold `width * height * 4` bytes, RGB8
//!   buffers `width * height * 3`;
//! - a feature map `[C, H, W]` is flattened channel-major: value `(c, y, x)` is at
//!   `c * H * W + y * W + x`;
//! - wrong buffer sizes are a [`VizError`], never a panic.

mod colormap;
mod grid;
mod image_ops;
mod strip;

use std::path::PathBuf;

pub use colormap::{Colormap, NAN_RGB, ValueRange, legend_rgba, map_to_rgba, ticks};
pub use grid::{GRID_GAP, GridImage, GridLayout, GridScale, grid_layout, render_grid};
pub use image_ops::{
    encode_png, overlay, overlay_region, resize_nearest, save_png, upscale_nearest,
};
pub use strip::{
    MATCH_BORDER, MISS_BORDER, MISSING_FILL, QUERY_BORDER, Strip, StripCell, render_strip,
};

/// Why an image could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VizError {
    /// A buffer does not have the size its dimensions call for.
    #[error("{what}: {len} values, expected {expected}")]
    ShapeMismatch {
        /// Which buffer.
        what: &'static str,
        /// Values (or bytes) given.
        len: usize,
        /// Values (or bytes) the dimensions call for.
        expected: usize,
    },
    /// The dimensions overflow `usize` (or `u32` for PNG).
    #[error("{what}: dimensions too large")]
    TooLarge {
        /// Which buffer.
        what: &'static str,
    },
    /// An upscale factor of zero.
    #[error("upscale factor must be at least 1")]
    ZeroFactor,
    /// PNG encoding or writing failed.
    #[error("cannot write PNG {path}: {reason}")]
    Png {
        /// Destination (empty for in-memory encoding).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Checks that `len` equals the product of `dims`.
pub(crate) fn check_len(what: &'static str, len: usize, dims: &[usize]) -> Result<(), VizError> {
    let expected = checked_size(what, dims)?;
    if len == expected {
        Ok(())
    } else {
        Err(VizError::ShapeMismatch {
            what,
            len,
            expected,
        })
    }
}

/// The product of `dims`, or [`VizError::TooLarge`].
pub(crate) fn checked_size(what: &'static str, dims: &[usize]) -> Result<usize, VizError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(VizError::TooLarge { what })
}
