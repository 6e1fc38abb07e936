//! The network's configuration: layer sizes, correlation geometry and input normalisation.
//!
//! Saved as `config.json` in every model folder, so a folder is self-describing.

use serde::{Deserialize, Serialize};

use crate::data::Normalization;

/// Everything that fixes the network's shapes, plus the input normalisation.
///
/// The defaults are the authors' network (DESIGN.md section 1).
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
    /// Per-channel input normalisation.
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

/// Why a configuration cannot build a network.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid model configuration: {0}")]
    Invalid(String),
}

impl ModelConfig {
    /// Check the configuration and derive every map's shape.
    pub fn shapes(&self) -> Result<Shapes, ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.patch.is_multiple_of(2) || self.band.is_multiple_of(2) {
            return bad("patch and band must be odd");
        }
        if self.sigma_eps <= 0.0 || !self.sigma_eps.is_finite() {
            return bad("sigma_eps must be a positive number");
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
            return bad("layer sizes must be positive");
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
            return bad("input too small for the head");
        }
        let c = self.conv2_channels;
        Ok(Shapes {
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
        })
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
}
