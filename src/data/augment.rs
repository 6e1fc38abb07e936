//! Seeded augmentation of one crop: random translation (up to 5% of height and width, edges
//! replicated), horizontal flip with p = 0.5, optional mild colour jitter (off by default).
//!
//! Crops are 8-bit RGB in HWC order (`[y][x][c]`, the layout of [`image::RgbImage`] and of
//! [`crate::data::crops::CropCache`]). Drawing the parameters ([`AugmentConfig::sample`]) is separate
//! from applying them ([`apply`]) so callers can log or test what was done.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::preprocess::{INPUT_H, INPUT_W};
use crate::data::sampler::derive_seed;

/// Mild colour jitter ranges (each factor is drawn uniformly in `1 ± range`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColorJitter {
    /// Brightness factor range.
    pub brightness: f32,
    /// Contrast factor range (around mid-grey).
    pub contrast: f32,
    /// Per-channel gain range (a colour cast).
    pub channel_gain: f32,
}

impl Default for ColorJitter {
    fn default() -> Self {
        Self {
            brightness: 0.15,
            contrast: 0.15,
            channel_gain: 0.05,
        }
    }
}

/// What augmentation may do.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Largest vertical shift in rows (5% of 160 = 8).
    pub max_shift_rows: u32,
    /// Largest horizontal shift in columns (5% of 60 = 3).
    pub max_shift_cols: u32,
    /// Probability of a horizontal flip.
    pub flip_probability: f64,
    /// Colour jitter, off by default.
    pub color_jitter: Option<ColorJitter>,
}

impl Default for AugmentConfig {
    /// The authors' setting: shifts up to 5% of height and width, flips half the time.
    fn default() -> Self {
        Self {
            max_shift_rows: (INPUT_H as u32 * 5).div_ceil(100),
            max_shift_cols: (INPUT_W as u32 * 5).div_ceil(100),
            flip_probability: 0.5,
            color_jitter: None,
        }
    }
}

/// One draw of augmentation parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// Rows the content moves down (negative: up).
    pub dy: i32,
    /// Columns the content moves right (negative: left); applied before the flip.
    pub dx: i32,
    /// Mirror left-right.
    pub flip: bool,
    /// Brightness factor (1 = unchanged).
    pub brightness: f32,
    /// Contrast factor around mid-grey (1 = unchanged).
    pub contrast: f32,
    /// Per-channel gains (1 = unchanged).
    pub gains: [f32; 3],
}

impl AugmentParams {
    /// No change at all.
    pub const IDENTITY: AugmentParams = AugmentParams {
        dy: 0,
        dx: 0,
        flip: false,
        brightness: 1.0,
        contrast: 1.0,
        gains: [1.0; 3],
    };
}

impl AugmentConfig {
    /// Draw parameters.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> AugmentParams {
        let rows = self.max_shift_rows as i32;
        let cols = self.max_shift_cols as i32;
        let mut p = AugmentParams {
            dy: rng.random_range(-rows..=rows),
            dx: rng.random_range(-cols..=cols),
            flip: rng.random_bool(self.flip_probability.clamp(0.0, 1.0)),
            ..AugmentParams::IDENTITY
        };
        if let Some(j) = self.color_jitter {
            let mut factor = |r: f32| {
                let r = r.abs();
                if r > 0.0 {
                    rng.random_range(1.0 - r..=1.0 + r)
                } else {
                    1.0
                }
            };
            p.brightness = factor(j.brightness);
            p.contrast = factor(j.contrast);
            p.gains = [
                factor(j.channel_gain),
                factor(j.channel_gain),
                factor(j.channel_gain),
            ];
        }
        p
    }
}

/// The generator for one sample of one epoch: independent of thread scheduling and order.
pub fn rng_for(seed: u64, epoch: u64, sample: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive_seed(derive_seed(seed, epoch), sample))
}

/// Apply `p` to an HWC RGB crop of `height` x `width`: `out(y, x) = in(y - dy, x - dx)` with
/// coordinates clamped to the border (edge replication), then the flip, then the colour change.
pub fn apply(crop: &[u8], height: usize, width: usize, p: &AugmentParams) -> Vec<u8> {
    debug_assert_eq!(crop.len(), 3 * height * width);
    let mut out = vec![0u8; 3 * height * width];
    if height == 0 || width == 0 {
        return out;
    }
    let jitter = p.brightness != 1.0 || p.contrast != 1.0 || p.gains != [1.0; 3];
    let mut lut = [[0u8; 256]; 3];
    if jitter {
        for (c, table) in lut.iter_mut().enumerate() {
            for (v, slot) in table.iter_mut().enumerate() {
                let x = ((v as f32 / 255.0 - 0.5) * p.contrast + 0.5) * p.brightness * p.gains[c];
                *slot = (x * 255.0).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    let clamp = |v: i64, n: usize| v.clamp(0, n as i64 - 1) as usize;
    for y in 0..height {
        let sy = clamp(y as i64 - i64::from(p.dy), height);
        for x in 0..width {
            let tx = if p.flip { width - 1 - x } else { x };
            let sx = clamp(tx as i64 - i64::from(p.dx), width);
            let src = 3 * (sy * width + sx);
            let dst = 3 * (y * width + x);
            for c in 0..3 {
                let v = crop[src + c];
                out[dst + c] = if jitter { lut[c][usize::from(v)] } else { v };
            }
        }
    }
    out
}

/// Augment a 160 x 60 HWC crop with the parameters drawn for `(seed, epoch, sample)`.
pub fn augment(crop: &[u8], config: &AugmentConfig, seed: u64, epoch: u64, sample: u64) -> Vec<u8> {
    let params = config.sample(&mut rng_for(seed, epoch, sample));
    apply(crop, INPUT_H, INPUT_W, &params)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A 4 x 3 crop whose pixel (y, x) is [10y + x, 100 + x, 200 - y].
    fn tiny() -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..4u8 {
            for x in 0..3u8 {
                v.extend([10 * y + x, 100 + x, 200 - y]);
            }
        }
        v
    }

    fn px(img: &[u8], w: usize, y: usize, x: usize) -> [u8; 3] {
        let i = 3 * (y * w + x);
        [img[i], img[i + 1], img[i + 2]]
    }

    #[test]
    fn flip_mirrors_columns() {
        let p = AugmentParams {
            flip: true,
            ..AugmentParams::IDENTITY
        };
        let out = apply(&tiny(), 4, 3, &p);
        assert_eq!(px(&out, 3, 0, 0), [2, 102, 200]);
        assert_eq!(px(&out, 3, 2, 2), [20, 100, 198]);
        assert_eq!(px(&out, 3, 1, 1), [11, 101, 199]);
        assert_eq!(apply(&out, 4, 3, &p), tiny(), "two flips undo each other");
    }

    #[test]
    fn translation_replicates_edges() {
        let p = AugmentParams {
            dy: 2,
            dx: -1,
            ..AugmentParams::IDENTITY
        };
        let out = apply(&tiny(), 4, 3, &p);
        // Rows 0..2 repeat source row 0; row 3 is source row 1. Column x is source x + 1, last
        // column repeats source column 2.
        assert_eq!(px(&out, 3, 0, 0), [1, 101, 200]);
        assert_eq!(px(&out, 3, 2, 1), [2, 102, 200]);
        assert_eq!(px(&out, 3, 2, 2), [2, 102, 200]);
        assert_eq!(px(&out, 3, 3, 0), [11, 101, 199]);
        assert_eq!(apply(&tiny(), 4, 3, &AugmentParams::IDENTITY), tiny());
    }

    #[test]
    fn drawn_shifts_stay_within_five_percent_and_cover_the_range() {
        let cfg = AugmentConfig::default();
        assert_eq!((cfg.max_shift_rows, cfg.max_shift_cols), (8, 3));
        let mut seen_dy = std::collections::HashSet::new();
        let mut flips = 0;
        for i in 0..2000 {
            let p = cfg.sample(&mut rng_for(5, 0, i));
            assert!(p.dy.abs() <= 8 && p.dx.abs() <= 3);
            assert_eq!(
                (p.brightness, p.gains),
                (1.0, [1.0; 3]),
                "jitter is off by default"
            );
            seen_dy.insert(p.dy);
            flips += usize::from(p.flip);
        }
        assert_eq!(seen_dy.len(), 17);
        assert!((850..1150).contains(&flips), "flips {flips}");
    }

    #[test]
    fn seeded_and_jitter_changes_colours() {
        let crop: Vec<u8> = (0..3 * INPUT_H * INPUT_W)
            .map(|i| (i % 251) as u8)
            .collect();
        let cfg = AugmentConfig::default();
        let a = augment(&crop, &cfg, 1, 2, 3);
        assert_eq!(a, augment(&crop, &cfg, 1, 2, 3));
        let differs = (0..20).any(|s| augment(&crop, &cfg, 1, 2, 4 + s) != a);
        assert!(differs);
        let jit = AugmentConfig {
            color_jitter: Some(ColorJitter::default()),
            max_shift_rows: 0,
            max_shift_cols: 0,
            flip_probability: 0.0,
        };
        assert_ne!(augment(&crop, &jit, 1, 2, 3), crop);
    }
}
