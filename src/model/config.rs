//! The network's configuration: layer sizes, correlation geometry and input normalisation.
//!
//! Saved as `config.json` in every model folder, so a folder is self-describing.
//!
//! [`ModelConfig::shapes`] is the one check every configuration passes before a network is
//! built or loaded. Besides the geometry (odd patch of at least 3, odd band, an input large
//! enough for every stage) it enforces upper bounds, so a hand-edited `config.json` gives a clear
//! error instead of an allocation that aborts the process:
//!
//! | what | bound |
//! |---|---|
//! | `input_h`, `input_w` | [`MAX_INPUT_SIDE`] |
//! | `conv1_channels`, `conv2_channels`, `head_channels` | [`MAX_CHANNELS`] |
//! | `trunk_kernel`, `patch`, `band` | [`MAX_KERNEL`] |
//! | `fc_hidden` | [`MAX_FC_HIDDEN`] |
//! | values in any one map of one image (or pair) | [`MAX_MAP_VALUES`] |
//! | parameters in all | [`MAX_PARAMETERS`] |
//!
//! `sigma_eps` must be positive and finite, the normalisation's means finite and its standard
//! deviations positive and finite.

use serde::{Deserialize, Serialize};

use crate::data::Normalization;

/// Everything that fixes the network's shapes, plus the input normalisation.
///
/// The defaults are the authors' network (docs/network.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Input crop height (160).
    pub input_h: usize,
    /// Input crop width (60).
    pub input_w: usize,
    /// Trunk conv1 output channels (20).
    pub conv1_channels: usize,
    /// Trunk conv2 output channels (25).
    pub conv2_channels: usize,
    /// Trunk convolution kernel side (5).
    pub trunk_kernel: usize,
    /// Correlation patch side P (5, so N = 25 values).
    pub patch: usize,
    /// Correlation search band D in rows (5: dy = -2..=2).
    pub band: usize,
    /// Sigma epsilon added to the patch std (0.01, the authors').
    pub sigma_eps: f32,
    /// Head 1x1 and 3x3 conv channels (25).
    pub head_channels: usize,
    /// Hidden fully connected width (500).
    pub fc_hidden: usize,
    /// Per-channel input normalisation. A `config.json` without it (older models) reads as
    /// ImageNet statistics, which those models were trained with.
    #[serde(default)]
    pub normalization: Normalization,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            input_h: crate::data::INPUT_H,
            input_w: crate::data::INPUT_W,
            conv1_channels: 20,
            conv2_channels: 25,
            trunk_kernel: 5,
            patch: 5,
            band: 5,
            sigma_eps: 0.01,
            head_channels: 25,
            fc_hidden: 500,
            normalization: Normalization::default(),
        }
    }
}

/// Shapes of every map, derived from a [`ModelConfig`] (C x H x W, no batch axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shapes {
    pub input: [usize; 3],
    pub conv1: [usize; 3],
    pub pool1: [usize; 3],
    pub conv2: [usize; 3],
    /// Trunk features fed to the correlation: `[25, 37, 12]` by default.
    pub pool2: [usize; 3],
    /// Correlation volume: `[C * band * W, H, W]`, `[1500, 37, 12]` by default.
    pub xcorr: [usize; 3],
    pub head_conv1: [usize; 3],
    pub head_conv3: [usize; 3],
    pub head_pool: [usize; 3],
    /// Flattened head input to fc500: 2125 by default.
    pub flat: usize,
}

/// Largest input height or width.
pub const MAX_INPUT_SIDE: usize = 1024;
/// Most channels of any convolution.
pub const MAX_CHANNELS: usize = 512;
/// Largest trunk kernel side, correlation patch side and search band.
pub const MAX_KERNEL: usize = 15;
/// Widest hidden fully connected layer.
pub const MAX_FC_HIDDEN: usize = 8192;
/// Most values in one map of one image or pair (2^26, 256 MB of f32; the default network's
/// largest, the correlation volume, holds 666 000).
pub const MAX_MAP_VALUES: u64 = 1 << 26;
/// Most parameters in all (2^26; the default network has about 1.2 million).
pub const MAX_PARAMETERS: u64 = 1 << 26;

/// Why a configuration cannot build a network.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid model configuration: {0}")]
    Invalid(String),
}

impl ModelConfig {
    /// Check the configuration and derive every map's shape.
    pub fn shapes(&self) -> Result<Shapes, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.patch < 3 || self.patch.is_multiple_of(2) {
            return bad(format!(
                "patch must be odd and at least 3 (a patch of 1 value has no spread), got {}",
                self.patch
            ));
        }
        if self.band.is_multiple_of(2) {
            return bad(format!("band must be odd, got {}", self.band));
        }
        if self.sigma_eps <= 0.0 || !self.sigma_eps.is_finite() {
            return bad("sigma_eps must be a positive number".into());
        }
        let norm = &self.normalization;
        if !norm.mean.iter().all(|m| m.is_finite()) {
            return bad("normalization mean must be finite numbers".into());
        }
        if !norm.std.iter().all(|s| s.is_finite() && *s > 0.0) {
            return bad("normalization std must be positive finite numbers".into());
        }
        if [
            self.conv1_channels,
            self.conv2_channels,
            self.head_channels,
            self.fc_hidden,
            self.trunk_kernel,
        ]
        .contains(&0)
        {
            return bad("layer sizes must be positive".into());
        }
        for (name, value, max) in [
            ("input_h", self.input_h, MAX_INPUT_SIDE),
            ("input_w", self.input_w, MAX_INPUT_SIDE),
            ("conv1_channels", self.conv1_channels, MAX_CHANNELS),
            ("conv2_channels", self.conv2_channels, MAX_CHANNELS),
            ("head_channels", self.head_channels, MAX_CHANNELS),
            ("trunk_kernel", self.trunk_kernel, MAX_KERNEL),
            ("patch", self.patch, MAX_KERNEL),
            ("band", self.band, MAX_KERNEL),
            ("fc_hidden", self.fc_hidden, MAX_FC_HIDDEN),
        ] {
            if value > max {
                return bad(format!("{name} is {value}, more than the {max} allowed"));
            }
        }
        let k = self.trunk_kernel;
        let valid = |n: usize, k: usize| n.checked_sub(k - 1).filter(|&v| v > 0);
        let conv = |h: usize, w: usize| valid(h, k).zip(valid(w, k));
        let (h1, w1) = conv(self.input_h, self.input_w)
            .ok_or(ConfigError::Invalid("input too small".into()))?;
        let (p1h, p1w) = (h1 / 2, w1 / 2);
        let (h2, w2) = conv(p1h, p1w).ok_or(ConfigError::Invalid("input too small".into()))?;
        let (p2h, p2w) = (h2 / 2, w2 / 2);
        let (h3, w3) = valid(p2h, 3)
            .zip(valid(p2w, 3))
            .ok_or(ConfigError::Invalid("input too small for the head".into()))?;
        let (hp, wp) = (h3 / 2, w3 / 2);
        if hp == 0 || wp == 0 {
            return bad("input too small for the head".into());
        }
        let c = self.conv2_channels;
        let shapes = Shapes {
            input: [3, self.input_h, self.input_w],
            conv1: [self.conv1_channels, h1, w1],
            pool1: [self.conv1_channels, p1h, p1w],
            conv2: [c, h2, w2],
            pool2: [c, p2h, p2w],
            xcorr: [c * self.band * p2w, p2h, p2w],
            head_conv1: [self.head_channels, p2h, p2w],
            head_conv3: [self.head_channels, h3, w3],
            head_pool: [self.head_channels, hp, wp],
            flat: self.head_channels * hp * wp,
        };
        self.check_sizes(&shapes)?;
        Ok(shapes)
    }

    /// The bounds on map sizes and the parameter count (the sides are bounded already, so
    /// nothing here overflows a u64).
    fn check_sizes(&self, s: &Shapes) -> Result<(), ConfigError> {
        let count = |shape: &[usize; 3]| shape.iter().map(|&d| d as u64).product::<u64>();
        for (name, shape) in [
            ("conv1", &s.conv1),
            ("conv2", &s.conv2),
            ("correlation volume", &s.xcorr),
            ("head conv1", &s.head_conv1),
        ] {
            let n = count(shape);
            if n > MAX_MAP_VALUES {
                return Err(ConfigError::Invalid(format!(
                    "the {name} map would hold {n} values per image, more than the {MAX_MAP_VALUES} allowed"
                )));
            }
        }
        let params = self.params_of(s);
        if params > MAX_PARAMETERS {
            return Err(ConfigError::Invalid(format!(
                "the network would have {params} parameters, more than the {MAX_PARAMETERS} allowed"
            )));
        }
        Ok(())
    }

    /// Number of parameters of the network this configuration builds.
    pub fn parameter_count(&self) -> Result<u64, ConfigError> {
        Ok(self.params_of(&self.shapes()?))
    }

    fn params_of(&self, s: &Shapes) -> u64 {
        let k2 = (self.trunk_kernel * self.trunk_kernel) as u64;
        let (c1, c2, h) = (
            self.conv1_channels as u64,
            self.conv2_channels as u64,
            self.head_channels as u64,
        );
        let fc = self.fc_hidden as u64;
        let conv = |out: u64, inp: u64, k2: u64| out * inp * k2 + out;
        conv(c1, 3, k2)
            + conv(c2, c1, k2)
            + conv(h, s.xcorr[0] as u64, 1)
            + conv(h, h, 9)
            + conv(fc, s.flat as u64, 1)
            + conv(2, fc, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_shapes_match_the_paper_table() {
        let s = ModelConfig::default().shapes().expect("valid");
        assert_eq!(s.conv1, [20, 156, 56]);
        assert_eq!(s.pool1, [20, 78, 28]);
        assert_eq!(s.pool2, [25, 37, 12]);
        assert_eq!(s.xcorr, [1500, 37, 12]);
        assert_eq!(s.head_conv3, [25, 35, 10]);
        assert_eq!(s.head_pool, [25, 17, 5]);
        assert_eq!(s.flat, 2125);
    }

    #[test]
    fn bad_configs_are_errors() {
        let cfg = ModelConfig {
            patch: 4,
            ..Default::default()
        };
        assert!(cfg.shapes().is_err());
        let cfg = ModelConfig {
            input_h: 10,
            ..Default::default()
        };
        assert!(cfg.shapes().is_err());
    }

    #[test]
    fn the_default_network_is_well_inside_the_bounds() {
        let cfg = ModelConfig::default();
        // conv1 1,520 + conv2 12,525 + head 1x1 37,525 + 3x3 5,650 + fc 1,063,000 + 1,002.
        assert_eq!(cfg.parameter_count(), Ok(1_121_222));
    }

    #[test]
    fn absurd_or_degenerate_values_are_clear_errors() {
        let err = |cfg: ModelConfig| match cfg.shapes() {
            Err(ConfigError::Invalid(m)) => m,
            Ok(_) => panic!("accepted {cfg:?}"),
        };
        let d = ModelConfig::default;
        let m = err(ModelConfig {
            input_h: 1_000_000_000,
            ..d()
        });
        assert!(
            m.contains("input_h is 1000000000, more than the 1024 allowed"),
            "{m}"
        );
        let m = err(ModelConfig {
            fc_hidden: 1_000_000_000_000,
            ..d()
        });
        assert!(m.contains("fc_hidden"), "{m}");
        let m = err(ModelConfig { patch: 1, ..d() });
        assert!(m.contains("patch must be odd and at least 3"), "{m}");
        let m = err(ModelConfig {
            fc_hidden: 8192,
            head_channels: 512,
            ..d()
        });
        assert!(m.contains("parameters"), "{m}");
        let m = err(ModelConfig {
            input_h: 1024,
            input_w: 1024,
            conv1_channels: 512,
            ..d()
        });
        assert!(m.contains("conv1 map"), "{m}");
        let mut n = d();
        n.normalization.std[1] = 0.0;
        assert!(err(n).contains("std"));
        let mut n = d();
        n.normalization.mean[2] = f32::NAN;
        assert!(err(n).contains("mean"));
        let mut n = d();
        n.normalization.std[0] = f32::INFINITY;
        assert!(err(n).contains("std"));
    }
}
