//! Decoded-crop cache: every image decoded and resized once, in parallel, and kept in memory as
//! 160 x 60 8-bit RGB, so an epoch never decodes a JPEG again.
//!
//! Layout of one crop: **HWC**, `[y][x][c]`, `3 * 160 * 60 = 28 800` bytes (the raw layout of
//! [`image::RgbImage`]). [`to_input`] turns one into the network's normalised `[3, 160, 60]` CHW
//! `f32`s. 13 000 crops take about 375 MB.
//!
//! Decoding runs on all cores, but every decode first reserves its memory (known from the
//! image header) from the process-wide [`crate::data::preprocess::DECODING`] budget: four
//! 14 000 x 14 000 images decoded side by side cannot multiply the peak, and one image over the
//! per-image budget is skipped with its reason. Truncated JPEGs are skipped like any failed decode.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::RgbImage;
use rayon::prelude::*;

use crate::data::layout::{Sample, Skipped};
use crate::data::preprocess::{CROP_LEN, INPUT_H, INPUT_W, Normalization, load_crop};

/// Bytes in one crop (`3 * 160 * 60`).
pub const CROP_BYTES: usize = CROP_LEN;

/// Crops of a list of files, in the order given; files that failed to decode have no crop.
#[derive(Debug, Clone, Default)]
pub struct CropCache {
    paths: Vec<PathBuf>,
    crops: Vec<Option<Vec<u8>>>,
}

impl CropCache {
    /// Decode and resize every file in parallel. `progress(done, total)` is called after each file
    /// (from worker threads, `done` increasing). Failures are returned as [`Skipped`] entries in
    /// file order and leave a hole in the cache; they are never errors, and a decoder that panics
    /// on a hostile file is caught and reported the same way.
    pub fn load<P: AsRef<Path> + Sync>(
        paths: &[P],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> (CropCache, Vec<Skipped>) {
        let total = paths.len();
        let done = AtomicUsize::new(0);
        let results: Vec<Result<Vec<u8>, String>> = paths
            .par_iter()
            .map(|p| {
                let r = decode_crop(p.as_ref());
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress(n, total);
                r
            })
            .collect();
        let mut skipped = Vec::new();
        let mut crops = Vec::with_capacity(total);
        for (p, r) in paths.iter().zip(results) {
            match r {
                Ok(c) => crops.push(Some(c)),
                Err(reason) => {
                    skipped.push(Skipped {
                        path: p.as_ref().to_path_buf(),
                        reason,
                    });
                    crops.push(None);
                }
            }
        }
        let paths = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        (CropCache { paths, crops }, skipped)
    }

    /// [`CropCache::load`] for the samples of a dataset (index `i` is `samples[i]`).
    pub fn from_samples(
        samples: &[Sample],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> (CropCache, Vec<Skipped>) {
        let paths: Vec<&Path> = samples.iter().map(|s| s.path.as_path()).collect();
        Self::load(&paths, progress)
    }

    /// Entries (loaded or not).
    pub fn len(&self) -> usize {
        self.crops.len()
    }

    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.crops.is_empty()
    }

    /// Entries that hold a crop.
    pub fn loaded(&self) -> usize {
        self.crops.iter().filter(|c| c.is_some()).count()
    }

    /// The HWC crop of entry `i`, if it decoded.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.crops.get(i)?.as_deref()
    }

    /// The file of entry `i`.
    pub fn path(&self, i: usize) -> Option<&Path> {
        self.paths.get(i).map(PathBuf::as_path)
    }

    /// Entry `i` as normalised network input (`[3, 160, 60]` CHW), if it decoded.
    pub fn input(&self, i: usize, norm: &Normalization) -> Option<Vec<f32>> {
        self.get(i).map(|c| to_input(c, norm))
    }

    /// Entry `i` as an image (for thumbnails).
    pub fn image(&self, i: usize) -> Option<RgbImage> {
        self.get(i).and_then(crop_to_image)
    }
}

/// Decode one file into an HWC crop; the error is a reason without the path.
pub fn decode_crop(path: &Path) -> Result<Vec<u8>, String> {
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| load_crop(path)))
        .map_err(|_| "decoder panicked on this file".to_string())?;
    let img = decoded.map_err(|e| e.reason().trim_end().to_string())?;
    Ok(img.into_raw())
}

/// A 160 x 60 HWC crop as an image; `None` if the length is wrong.
pub fn crop_to_image(crop: &[u8]) -> Option<RgbImage> {
    RgbImage::from_raw(INPUT_W as u32, INPUT_H as u32, crop.to_vec())
}

/// A 160 x 60 HWC crop as normalised network input: `[3, 160, 60]` CHW, flattened.
pub fn to_input(crop: &[u8], norm: &Normalization) -> Vec<f32> {
    debug_assert_eq!(crop.len(), CROP_BYTES);
    let plane = INPUT_H * INPUT_W;
    let mut out = vec![0.0f32; CROP_LEN];
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * norm.std[c]));
    let shift: [f32; 3] = std::array::from_fn(|c| norm.mean[c] / norm.std[c]);
    for (i, px) in crop.chunks_exact(3).take(plane).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = f32::from(px[c]) * scale[c] - shift[c];
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn to_input_matches_normalization_to_chw() {
        let img = RgbImage::from_fn(INPUT_W as u32, INPUT_H as u32, |x, y| {
            image::Rgb([(x * 3) as u8, y as u8, ((x * y) % 256) as u8])
        });
        let norm = Normalization::default();
        let a = to_input(img.as_raw(), &norm);
        let b = norm.to_chw(&img);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
        assert_eq!(crop_to_image(img.as_raw()), Some(img));
        assert_eq!(crop_to_image(&[0u8; 5]), None);
    }

    #[test]
    fn resize_matches_preprocess() {
        let img = RgbImage::from_fn(37, 91, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 3) as u8, ((x ^ y) * 5) as u8])
        });
        let expect = crate::data::preprocess::resize_to_input(&img);
        assert_eq!(crate::data::preprocess::resize_rgb(img), expect);
    }

    #[test]
    fn loads_in_order_and_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("a.png");
        RgbImage::from_pixel(20, 50, image::Rgb([200, 10, 10]))
            .save(&good)
            .unwrap();
        let bad = dir.path().join("b.jpg");
        std::fs::write(&bad, b"not an image").unwrap();
        let missing = dir.path().join("c.png");
        let calls = AtomicUsize::new(0);
        let last = AtomicUsize::new(0);
        let (cache, skipped) = CropCache::load(&[&good, &bad, &missing, &good], &|done, total| {
            assert_eq!(total, 4);
            calls.fetch_add(1, Ordering::Relaxed);
            last.fetch_max(done, Ordering::Relaxed);
        });
        assert_eq!(calls.load(Ordering::Relaxed), 4);
        assert_eq!(last.load(Ordering::Relaxed), 4);
        assert_eq!((cache.len(), cache.loaded()), (4, 2));
        let crop = cache.get(0).unwrap();
        assert_eq!(crop.len(), CROP_BYTES);
        assert_eq!(&crop[..3], &[200, 10, 10]);
        assert!(cache.get(1).is_none() && cache.get(2).is_none());
        assert_eq!(cache.get(3), Some(crop));
        let norm = Normalization::default();
        assert_eq!(cache.input(0, &norm), Some(to_input(crop, &norm)));
        assert_eq!(cache.input(1, &norm), None);
        let paths: Vec<&Path> = skipped.iter().map(|s| s.path.as_path()).collect();
        assert_eq!(paths, [bad.as_path(), missing.as_path()]);
        assert!(skipped[0].reason.contains("not a recognised image format"));
        assert!(skipped[1].reason.contains("cannot read file"));
    }
}
