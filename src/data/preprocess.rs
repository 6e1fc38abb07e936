//! Image decoding and preprocessing: the one place where a file becomes network input.
//!
//! Files are decoded by content (extensions lie: a JPEG named `.png` is common), converted to
//! 8-bit RGB whatever their colour type (grayscale, RGBA, 16-bit, CMYK JPEG), resized to the
//! network's 160 x 60 (H x W) and normalised per channel with the mean / std stored in the
//! model configuration.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageReader, RgbImage, imageops::FilterType};

/// Network input height.
pub const INPUT_H: usize = 160;
/// Network input width.
pub const INPUT_W: usize = 60;
/// Values in one preprocessed crop: `[3, 160, 60]`.
pub const CROP_LEN: usize = 3 * INPUT_H * INPUT_W;
/// Images larger than this many pixels are refused (a decompression bomb guard).
pub const MAX_PIXELS: u64 = 20_000 * 20_000;

/// Why an image could not be used. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: empty file")]
    Empty { path: PathBuf },
    #[error("{path}: not a recognised image format")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: cannot decode image: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("{path}: image is {width}x{height}, too small (needs at least 2x2)")]
    TooSmall {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("{path}: image is {width}x{height}, too large")]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
}

impl ImageError {
    /// The reason without the path (for reports that list the path separately).
    pub fn reason(&self) -> String {
        match self {
            ImageError::Io { source, .. } => format!("cannot read file: {source}"),
            ImageError::Empty { .. } => "empty file".into(),
            ImageError::UnknownFormat { .. } => "not a recognised image format".into(),
            ImageError::Decode { reason, .. } => format!("cannot decode image: {reason}"),
            ImageError::TooSmall { width, height, .. } => {
                format!("image is {width}x{height}, too small")
            }
            ImageError::TooLarge { width, height, .. } => {
                format!("image is {width}x{height}, too large")
            }
        }
    }
}

/// Decode an image file by content into 8-bit RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_rgb(&bytes, path)
}

/// Decode in-memory bytes (named `path` in errors) into 8-bit RGB.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty {
            path: path.to_path_buf(),
        });
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if reader.format().is_none() {
        return Err(ImageError::UnknownFormat {
            path: path.to_path_buf(),
        });
    }
    let mut reader = reader;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(2 * 1024 * 1024 * 1024);
    reader.limits(limits);
    let (width, height) = reader.into_dimensions().map_err(|e| ImageError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let img = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .decode()
        .map_err(|e| ImageError::Decode {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if img.width() < 2 || img.height() < 2 {
        return Err(ImageError::TooSmall {
            path: path.to_path_buf(),
            width: img.width(),
            height: img.height(),
        });
    }
    Ok(img.to_rgb8())
}

/// Resize any RGB image to the network's 60 x 160 (W x H) with a triangle (bilinear) filter.
pub fn resize_to_input(img: &RgbImage) -> RgbImage {
    if img.width() as usize == INPUT_W && img.height() as usize == INPUT_H {
        return img.clone();
    }
    image::imageops::resize(img, INPUT_W as u32, INPUT_H as u32, FilterType::Triangle)
}

/// Per-channel normalisation: `(value / 255 - mean[c]) / std[c]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for Normalization {
    /// The ImageNet statistics, which fit pedestrian crops well enough and are what users expect.
    fn default() -> Self {
        Self {
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }
}

impl Normalization {
    /// A 160 x 60 RGB crop as normalised CHW values: `[3, 160, 60]` flattened.
    pub fn to_chw(&self, crop: &RgbImage) -> Vec<f32> {
        debug_assert_eq!(crop.width() as usize, INPUT_W);
        debug_assert_eq!(crop.height() as usize, INPUT_H);
        let plane = INPUT_H * INPUT_W;
        let mut out = vec![0.0f32; CROP_LEN];
        for (i, px) in crop.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (f32::from(px.0[c]) / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        out
    }

    /// Inverse of [`Normalization::to_chw`] for display: `[3, H, W]` values back to RGB bytes.
    pub fn to_rgb(&self, chw: &[f32], height: usize, width: usize) -> RgbImage {
        let plane = height * width;
        RgbImage::from_fn(width as u32, height as u32, |x, y| {
            let i = y as usize * width + x as usize;
            let mut px = [0u8; 3];
            for c in 0..3 {
                let v = (chw[c * plane + i] * self.std[c] + self.mean[c]) * 255.0;
                px[c] = v.round().clamp(0.0, 255.0) as u8;
            }
            image::Rgb(px)
        })
    }
}

/// Decode, resize and normalise one file: `[3, 160, 60]` flattened.
pub fn load_input(path: &Path, norm: &Normalization) -> Result<Vec<f32>, ImageError> {
    Ok(norm.to_chw(&resize_to_input(&load_rgb(path)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_round_trips() {
        let img = RgbImage::from_fn(INPUT_W as u32, INPUT_H as u32, |x, y| {
            image::Rgb([(x * 4) as u8, (y) as u8, ((x + y) % 256) as u8])
        });
        let norm = Normalization::default();
        let chw = norm.to_chw(&img);
        assert_eq!(chw.len(), CROP_LEN);
        // Red channel of pixel (x=1, y=0) is 4.
        let expect = (4.0 / 255.0 - 0.485) / 0.229;
        assert!((chw[1] - expect).abs() < 1e-6);
        assert_eq!(norm.to_rgb(&chw, INPUT_H, INPUT_W), img);
    }

    #[test]
    fn content_not_extension_decides() {
        let img = RgbImage::from_pixel(8, 20, image::Rgb([10, 200, 30]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let decoded = decode_rgb(&png, Path::new("photo.jpg")).expect("png named jpg decodes");
        assert_eq!(decoded.dimensions(), (8, 20));
        let err = decode_rgb(b"hello", Path::new("x.png")).expect_err("text is not an image");
        assert!(err.to_string().contains("x.png"));
        let err = decode_rgb(&[], Path::new("empty.png")).expect_err("empty");
        assert!(err.to_string().contains("empty.png: empty file"));
    }
}
