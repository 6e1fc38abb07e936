//! Cheap validation of one file at scan time: the header is read by content (the extension is
//! ignored), the dimensions must be readable and sensible, and decoding must fit the per-image
//! memory budget. A JPEG is also read to its end and checked for its end-of-image marker, so a
//! truncated file is skipped here rather than scored as a partly grey image. Full decoding
//! happens later (see [`crate::data::crops`]); a file that passes here can still fail to decode
//! (a damaged scan), and is then reported by whoever decodes it.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use image::{ImageDecoder, ImageFormat, ImageReader};

use crate::data::preprocess::{
    ImageError, MAX_FILE_BYTES, check_decode_size, check_regular, jpeg_truncation,
    read_regular_file,
};

/// The smallest width or height accepted at scan time: anything thinner is not a person crop.
pub const MIN_SIDE: u32 = 4;

/// Check that `path` is a readable image file of a sensible size; returns its `(width, height)`.
pub fn probe(path: &Path) -> Result<(u32, u32), ImageError> {
    let io = |error| ImageError::Io {
        path: path.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    check_regular(&meta).map_err(io)?;
    if meta.len() == 0 {
        return Err(ImageError::Empty {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "file is {} bytes, more than the {MAX_FILE_BYTES} allowed",
                meta.len()
            ),
        )));
    }
    let file = File::open(path).map_err(io)?;
    let reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(io)?;
    let Some(format) = reader.format() else {
        return Err(ImageError::UnknownFormat {
            path: path.to_path_buf(),
        });
    };
    let decoder = reader.into_decoder().map_err(|e| ImageError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let (width, height) = decoder.dimensions();
    let color = decoder.color_type();
    drop(decoder);
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(ImageError::TooSmall {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    check_decode_size(path, color, width, height)?;
    if format == ImageFormat::Jpeg {
        let bytes = read_regular_file(path, MAX_FILE_BYTES).map_err(io)?;
        if let Some(reason) = jpeg_truncation(&bytes) {
            return Err(ImageError::Truncated {
                path: path.to_path_buf(),
                reason,
            });
        }
    }
    Ok((width, height))
}
