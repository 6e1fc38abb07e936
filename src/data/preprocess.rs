//! Image decoding and preprocessing: the one place where a file becomes network input.
//!
//! Files are decoded by content (extensions lie: a JPEG named `.png` is common), converted to
//! 8-bit RGB whatever their colour type (grayscale, RGBA, 16-bit, CMYK JPEG), resized to the
//! network's 160 x 60 (H x W) and normalised per channel with the mean / std stored in the
//! model configuration.
//!
//! What is refused before any pixel is decoded, each with an [`ImageError`] naming the file:
//! - anything but a regular file after following symbolic links ([`read_regular_file`]): a FIFO
//!   would block forever, a device such as `/dev/zero` never ends; and files over
//!   [`MAX_FILE_BYTES`];
//! - images whose decoding would need more than [`DECODE_BUDGET`] bytes (the decoded pixels plus
//!   the 8-bit RGB copy, known from the header); the same number is the decoder's own allocation
//!   limit. All decodes running at once (the crop cache decodes in parallel) share
//!   [`GLOBAL_DECODE_BUDGET`]: a decode waits until its share is free, so a folder of large images
//!   cannot multiply the peak;
//! - a JPEG whose data ends before its end-of-image marker ([`jpeg_truncation`]): decoders fill
//!   the missing part with grey and report success. The strict loaders return
//!   [`ImageError::Truncated`]; [`load_input_lenient`] (`compare`, `trace`) returns the image and
//!   the error as a warning.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{
    ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage, imageops::FilterType,
};

pub use super::guard::{
    MemoryBudget, Reservation, check_regular, jpeg_truncation, read_regular_file,
};

/// Network input height.
pub const INPUT_H: usize = 160;
/// Network input width.
pub const INPUT_W: usize = 60;
/// Values in one preprocessed crop: `[3, 160, 60]`.
pub const CROP_LEN: usize = 3 * INPUT_H * INPUT_W;
/// Images larger than this many pixels are refused (a decompression bomb guard).
pub const MAX_PIXELS: u64 = 20_000 * 20_000;
/// Image files larger than this are not read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Memory one image may take to decode: its decoded pixels plus the 8-bit RGB copy.
pub const DECODE_BUDGET: u64 = 256 * 1024 * 1024;
/// Memory all decodes running at the same time may take together.
pub const GLOBAL_DECODE_BUDGET: u64 = 4 * DECODE_BUDGET;

const MB: u64 = 1024 * 1024;

/// Why an image could not be used. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file cannot be read (or is not a regular file). `error` is shown in the message and
    /// deliberately not a `source`, so a chained report does not print it twice.
    #[error("{path}: cannot read file: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
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
    /// Decoding would need more than [`DECODE_BUDGET`].
    #[error(
        "{path}: image is {width}x{height}, too large to decode: needs {needed_mb} MB, more than the {budget_mb} MB allowed per image"
    )]
    OverBudget {
        path: PathBuf,
        width: u32,
        height: u32,
        needed_mb: u64,
        budget_mb: u64,
    },
    /// The data ends early (a JPEG without its end-of-image marker).
    #[error("{path}: truncated image: {reason}")]
    Truncated { path: PathBuf, reason: String },
}

impl ImageError {
    /// The reason without the path (for reports that list the path separately).
    pub fn reason(&self) -> String {
        match self {
            ImageError::Io { error, .. } => format!("cannot read file: {error}"),
            ImageError::Empty { .. } => "empty file".into(),
            ImageError::UnknownFormat { .. } => "not a recognised image format".into(),
            ImageError::Decode { reason, .. } => format!("cannot decode image: {reason}"),
            ImageError::TooSmall { width, height, .. } => {
                format!("image is {width}x{height}, too small")
            }
            ImageError::TooLarge { width, height, .. } => {
                format!("image is {width}x{height}, too large")
            }
            ImageError::OverBudget {
                width,
                height,
                needed_mb,
                budget_mb,
                ..
            } => format!(
                "image is {width}x{height}, too large to decode: needs {needed_mb} MB, more than the {budget_mb} MB allowed per image"
            ),
            ImageError::Truncated { reason, .. } => format!("truncated image: {reason}"),
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ImageError::Io { path, .. }
            | ImageError::Empty { path }
            | ImageError::UnknownFormat { path }
            | ImageError::Decode { path, .. }
            | ImageError::TooSmall { path, .. }
            | ImageError::TooLarge { path, .. }
            | ImageError::OverBudget { path, .. }
            | ImageError::Truncated { path, .. } => path,
        }
    }
}

/// Bytes needed to decode a `width` x `height` image of `color` into 8-bit RGB: the decoded
/// buffer, plus the RGB copy unless it already is 8-bit RGB.
pub fn decode_memory(color: ColorType, width: u32, height: u32) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    let decoded = pixels.saturating_mul(u64::from(color.bytes_per_pixel()));
    let rgb = if color == ColorType::Rgb8 {
        0
    } else {
        pixels * 3
    };
    decoded.saturating_add(rgb)
}

/// Check an image's header numbers: pixel count and decoding memory.
pub fn check_decode_size(
    path: &Path,
    color: ColorType,
    width: u32,
    height: u32,
) -> Result<u64, ImageError> {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let needed = decode_memory(color, width, height);
    if needed > DECODE_BUDGET {
        return Err(ImageError::OverBudget {
            path: path.to_path_buf(),
            width,
            height,
            needed_mb: needed.div_ceil(MB),
            budget_mb: DECODE_BUDGET / MB,
        });
    }
    Ok(needed)
}

/// The budget every decode in this process draws from.
pub static DECODING: MemoryBudget = MemoryBudget::new(GLOBAL_DECODE_BUDGET);

/// Decode `bytes` (named `path` in errors) into 8-bit RGB and hand it to `then` while its
/// memory is reserved. A truncated JPEG is an error when `strict`, else decoded and returned
/// with the error as a warning.
fn decode_with<T>(
    bytes: &[u8],
    path: &Path,
    strict: bool,
    then: impl FnOnce(RgbImage) -> T,
) -> Result<(T, Option<ImageError>), ImageError> {
    let decode_err = |e: image::ImageError| ImageError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if bytes.is_empty() {
        return Err(ImageError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| ImageError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    let Some(format) = reader.format() else {
        return Err(ImageError::UnknownFormat {
            path: path.to_path_buf(),
        });
    };
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(DECODE_BUDGET);
    reader.limits(limits);
    // The decoder that decodes is the one that carries the limit.
    let decoder = reader.into_decoder().map_err(decode_err)?;
    let (width, height) = decoder.dimensions();
    let needed = check_decode_size(path, decoder.color_type(), width, height)?;
    let warning = if format == ImageFormat::Jpeg {
        jpeg_truncation(bytes).map(|reason| ImageError::Truncated {
            path: path.to_path_buf(),
            reason,
        })
    } else {
        None
    };
    if strict && let Some(w) = warning {
        return Err(w);
    }
    let _reserved = DECODING.acquire(needed);
    let img = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    if img.width() < 2 || img.height() < 2 {
        return Err(ImageError::TooSmall {
            path: path.to_path_buf(),
            width: img.width(),
            height: img.height(),
        });
    }
    Ok((then(img.into_rgb8()), warning))
}

fn read_image_file(path: &Path) -> Result<Vec<u8>, ImageError> {
    read_regular_file(path, MAX_FILE_BYTES).map_err(|error| ImageError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Decode an image file by content into 8-bit RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    decode_rgb(&read_image_file(path)?, path)
}

/// Decode in-memory bytes (named `path` in errors) into 8-bit RGB.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage, ImageError> {
    decode_with(bytes, path, true, |img| img).map(|(img, _)| img)
}

/// Decode an image file and resize it to the network's 160 x 60 (within the decode budget).
pub fn load_crop(path: &Path) -> Result<RgbImage, ImageError> {
    let bytes = read_image_file(path)?;
    decode_with(&bytes, path, true, resize_rgb).map(|(img, _)| img)
}

/// Resize any RGB image to the network's 60 x 160 (W x H) with a triangle (bilinear) filter.
pub fn resize_to_input(img: &RgbImage) -> RgbImage {
    if img.width() as usize == INPUT_W && img.height() as usize == INPUT_H {
        return img.clone();
    }
    image::imageops::resize(img, INPUT_W as u32, INPUT_H as u32, FilterType::Triangle)
}

/// [`resize_to_input`] taking ownership, through the non-generic `DynamicImage::resize_exact`
/// (the same `imageops::resize` with the same filter, so the bytes are identical), which is
/// compiled inside the optimised `image` crate: a debug build resizes a 9000 x 9000 image in
/// milliseconds instead of seconds.
pub fn resize_rgb(img: RgbImage) -> RgbImage {
    if img.width() as usize == INPUT_W && img.height() as usize == INPUT_H {
        return img;
    }
    DynamicImage::ImageRgb8(img)
        .resize_exact(INPUT_W as u32, INPUT_H as u32, FilterType::Triangle)
        .into_rgb8()
}

/// Per-channel normalisation: `(value / 255 - mean[c]) / std[c]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for Normalization {
    /// The ImageNet statistics: what models saved without a normalisation field were trained
    /// with (a new training run chooses with its `input_norm` setting).
    fn default() -> Self {
        Self::imagenet()
    }
}

impl Normalization {
    /// The ImageNet statistics.
    pub const fn imagenet() -> Self {
        Self {
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// RGB scaled to [0, 1] and nothing else (the authors' input).
    pub const fn unit() -> Self {
        Self {
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

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
    Ok(norm.to_chw(&load_crop(path)?))
}

/// [`load_input`] that scores a truncated JPEG anyway: the input, and the
/// [`ImageError::Truncated`] to show as a warning.
pub fn load_input_lenient(
    path: &Path,
    norm: &Normalization,
) -> Result<(Vec<f32>, Option<ImageError>), ImageError> {
    let bytes = read_image_file(path)?;
    let (crop, warning) = decode_with(&bytes, path, false, resize_rgb)?;
    Ok((norm.to_chw(&crop), warning))
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

    fn jpeg(img: &RgbImage) -> Vec<u8> {
        let mut v = Vec::new();
        img.write_to(&mut Cursor::new(&mut v), ImageFormat::Jpeg)
            .expect("encode");
        v
    }

    #[test]
    fn truncated_jpegs_are_found_by_their_missing_end_marker() {
        let img = RgbImage::from_fn(40, 90, |x, y| image::Rgb([(x * 5) as u8, (y * 2) as u8, 7]));
        let full = jpeg(&img);
        assert_eq!(jpeg_truncation(&full), None);
        let mut trailing = full.clone();
        trailing.extend_from_slice(b"trailing bytes after the end");
        assert_eq!(jpeg_truncation(&trailing), None);
        for cut in [3, 20, full.len() / 2, full.len() - 2, full.len() - 1] {
            let reason = jpeg_truncation(&full[..cut]).expect("truncated");
            assert!(reason.contains("end-of-image"), "{cut}: {reason}");
        }
        let err = decode_rgb(&full[..full.len() - 100], Path::new("cut.jpg")).expect_err("cut");
        assert!(matches!(err, ImageError::Truncated { .. }), "{err}");
        assert!(
            err.to_string().starts_with("cut.jpg: truncated image"),
            "{err}"
        );
        // The lenient path decodes it and hands the warning back.
        let (rgb, warning) = decode_with(
            &full[..full.len() - 100],
            Path::new("cut.jpg"),
            false,
            |i| i,
        )
        .expect("lenient");
        assert_eq!(rgb.dimensions(), (40, 90));
        assert!(matches!(warning, Some(ImageError::Truncated { .. })));
    }

    #[test]
    fn decoding_memory_is_budgeted_per_image_from_the_header() {
        assert_eq!(decode_memory(ColorType::Rgb8, 10, 10), 300);
        assert_eq!(decode_memory(ColorType::L8, 10, 10), 400);
        assert_eq!(decode_memory(ColorType::Rgba16, 10, 10), 1100);
        // 9000 x 9000 grayscale: 81 MB decoded + 243 MB of RGB, over the 256 MB budget.
        let err = check_decode_size(Path::new("big.png"), ColorType::L8, 9000, 9000)
            .expect_err("over budget");
        assert!(
            matches!(err, ImageError::OverBudget { needed_mb: 309, .. }),
            "{err}"
        );
        assert!(check_decode_size(Path::new("ok.png"), ColorType::Rgb8, 6000, 6000).is_ok());
    }
}
