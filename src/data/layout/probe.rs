//! Cheap validation of one file at scan time: the header is read by content (the extension is
//! ignored), the dimensions must be readable and sensible. Full decoding happens later (see
//! [`crate::data::crops`]); a file that passes here can still fail to decode (a truncated JPEG),
//! and is then reported by whoever decodes it.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use image::ImageReader;

use crate::data::preprocess::{ImageError, MAX_PIXELS};

/// The smallest width or height accepted at scan time: anything thinner is not a person crop.
pub const MIN_SIDE: u32 = 4;

/// Check that `path` is a readable image file of a sensible size; returns its `(width, height)`.
pub fn probe(path: &Path) -> Result<(u32, u32), ImageError> {
    let io = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(ImageError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other("is a directory"),
        });
    }
    if !meta.is_file() {
        return Err(ImageError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other("not a regular file"),
        });
    }
    if meta.len() == 0 {
        return Err(ImageError::Empty {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(io)?;
    let reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(io)?;
    if reader.format().is_none() {
        return Err(ImageError::UnknownFormat {
            path: path.to_path_buf(),
        });
    }
    let (width, height) = reader.into_dimensions().map_err(|e| ImageError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(ImageError::TooSmall {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok((width, height))
}
