//! Colormaps, value ranges, value-to-colour images, legends and tick values.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{VizError, check_len};

/// Colour of NaN values in every colour map but [`Colormap::Gray`]: a mid grey that none of the
/// colour maps produces.
pub const NAN_RGB: [u8; 3] = [128, 128, 128];
/// Colour of NaN values in [`Colormap::Gray`]: a purple-tinted grey, off the grey ramp.
const NAN_RGB_GRAY: [u8; 3] = [150, 110, 150];

/// A colour map from `t` in `[0, 1]` to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Colormap {
    /// Perceptually uniform, dark blue to yellow (default).
    #[default]
    Viridis,
    /// Perceptually uniform, black to pale yellow through red.
    Inferno,
    /// Perceptually uniform, black to pale pink through purple.
    Magma,
    /// Google's improved rainbow, dark blue to dark red.
    Turbo,
    /// Diverging, blue (low) through white (middle) to red (high): colorous' RdBu reversed. Pair
    /// it with a range symmetric around zero.
    Coolwarm,
    /// Black to white.
    Gray,
}

impl Colormap {
    /// Every colour map, in menu order.
    pub const ALL: [Colormap; 6] = [
        Colormap::Viridis,
        Colormap::Inferno,
        Colormap::Magma,
        Colormap::Turbo,
        Colormap::Coolwarm,
        Colormap::Gray,
    ];

    /// Display name.
    pub const fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Inferno => "inferno",
            Colormap::Magma => "magma",
            Colormap::Turbo => "turbo",
            Colormap::Coolwarm => "coolwarm",
            Colormap::Gray => "gray",
        }
    }

    /// Whether the map is diverging (meant for ranges symmetric around zero).
    pub const fn is_diverging(self) -> bool {
        matches!(self, Colormap::Coolwarm)
    }

    /// The colour of NaN values: [`NAN_RGB`], or a tinted grey for [`Colormap::Gray`].
    pub const fn nan_rgb(self) -> [u8; 3] {
        match self {
            Colormap::Gray => NAN_RGB_GRAY,
            _ => NAN_RGB,
        }
    }

    /// The colour at `t` (`0` low end, `1` high end). `t` is clamped to `[0, 1]`; NaN gives
    /// [`Colormap::nan_rgb`].
    pub fn map(self, t: f32) -> [u8; 3] {
        if t.is_nan() {
            return self.nan_rgb();
        }
        let t = f64::from(t.clamp(0.0, 1.0));
        let gradient = match self {
            Colormap::Viridis => colorous::VIRIDIS,
            Colormap::Inferno => colorous::INFERNO,
            Colormap::Magma => colorous::MAGMA,
            Colormap::Turbo => colorous::TURBO,
            Colormap::Coolwarm => return colorous::RED_BLUE.eval_continuous(1.0 - t).into_array(),
            Colormap::Gray => {
                // In [0, 255] after the clamp, so the cast is exact.
                let v = (t * 255.0).round() as u8;
                return [v, v, v];
            }
        };
        gradient.eval_continuous(t).into_array()
    }
}

impl fmt::Display for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The values mapped to the two ends of a colour map.
///
/// Build it with [`ValueRange::from_data`], [`ValueRange::symmetric`],
/// [`ValueRange::symmetric_around_zero`] or [`ValueRange::fixed`]. [`ValueRange::normalize`]
/// copes with any field values (even NaN or `min > max`) without panicking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueRange {
    /// Value at the low end (`t = 0`).
    pub min: f32,
    /// Value at the high end (`t = 1`).
    pub max: f32,
}

impl ValueRange {
    /// `[0, 1]`: probabilities, and the fallback when data has no finite value.
    pub const UNIT: ValueRange = ValueRange { min: 0.0, max: 1.0 };
    /// `[-1, 1]`: normalized correlations.
    pub const CORRELATION: ValueRange = ValueRange {
        min: -1.0,
        max: 1.0,
    };

    /// Exactly `[min, max]`.
    pub const fn fixed(min: f32, max: f32) -> Self {
        ValueRange { min, max }
    }

    /// Smallest and largest finite value of `values` (NaN and infinities ignored); [`Self::UNIT`]
    /// when there is none. A constant map gives `min == max` (see [`Self::normalize`]).
    pub fn from_data(values: &[f32]) -> Self {
        let mut finite = values.iter().copied().filter(|v| v.is_finite());
        let Some(first) = finite.next() else {
            return Self::UNIT;
        };
        let (min, max) = finite.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
        ValueRange { min, max }
    }

    /// `[-m, m]` with `m` the largest finite `|v|` of `values`, so that zero sits in the middle
    /// of a diverging map. [`Self::CORRELATION`] when `m` is zero or there is no finite value.
    pub fn symmetric(values: &[f32]) -> Self {
        let m = values
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f32, |m, v| m.max(v.abs()));
        Self::symmetric_around_zero(m)
    }

    /// `[-|half_width|, |half_width|]`; [`Self::CORRELATION`] when `half_width` is zero or not
    /// finite.
    pub fn symmetric_around_zero(half_width: f32) -> Self {
        let m = half_width.abs();
        if m > 0.0 && m.is_finite() {
            ValueRange { min: -m, max: m }
        } else {
            Self::CORRELATION
        }
    }

    /// Position of `v` in the range, in `[0, 1]` (clamped; infinities go to the ends). NaN
    /// stays NaN (the colour maps draw it in their NaN colour). When the range is empty
    /// (`max <= min`) or not finite, values `<= min` give `0` and larger ones `1`.
    pub fn normalize(self, v: f32) -> f32 {
        if v.is_nan() {
            return f32::NAN;
        }
        let (lo, hi) = (f64::from(self.min), f64::from(self.max));
        let span = hi - lo;
        if !(span.is_finite() && span > 0.0) {
            return if f64::from(v) > lo { 1.0 } else { 0.0 };
        }
        ((f64::from(v) - lo) / span).clamp(0.0, 1.0) as f32
    }
}

/// Colours a `[height, width]` map: RGBA8, row-major, opaque, NaN in the map's NaN colour.
///
/// # Errors
/// [`VizError::ShapeMismatch`] when `values.len() != width * height`.
pub fn map_to_rgba(
    values: &[f32],
    width: usize,
    height: usize,
    range: ValueRange,
    cmap: Colormap,
) -> Result<Vec<u8>, VizError> {
    check_len("map values", values.len(), &[width, height])?;
    let mut out = Vec::with_capacity(values.len().saturating_mul(4));
    for &v in values {
        let [r, g, b] = cmap.map(range.normalize(v));
        out.extend_from_slice(&[r, g, b, 255]);
    }
    Ok(out)
}

/// A horizontal gradient, low end on the left: RGBA8 `[height, width]`, opaque. Column `x`
/// shows `t = x / (width - 1)` (`t = 0` for a one-pixel width). Empty when either size is zero
/// or the size overflows.
pub fn legend_rgba(cmap: Colormap, width: usize, height: usize) -> Vec<u8> {
    let Some(len) = width.checked_mul(height).and_then(|n| n.checked_mul(4)) else {
        return Vec::new();
    };
    let denom = width.saturating_sub(1).max(1) as f32;
    let row: Vec<u8> = (0..width)
        .flat_map(|x| {
            let [r, g, b] = cmap.map(x as f32 / denom);
            [r, g, b, 255]
        })
        .collect();
    let mut out = Vec::with_capacity(len);
    for _ in 0..height {
        out.extend_from_slice(&row);
    }
    out
}

/// About `n` "nice" tick values inside `range`, ascending: multiples of a step of 1, 2 or 5
/// times a power of ten chosen near `(max - min) / (n - 1)`, between `min` and `max` inclusive.
/// `[min]` for an empty range (`min == max`) or `n == 1`; nothing for `n == 0`, a non-finite
/// range or `min > max`. Place a tick at `range.normalize(tick)` along the legend.
pub fn ticks(range: ValueRange, n: usize) -> Vec<f32> {
    let (lo, hi) = (f64::from(range.min), f64::from(range.max));
    if n == 0 || !lo.is_finite() || !hi.is_finite() || hi < lo {
        return Vec::new();
    }
    if hi == lo || n == 1 {
        return vec![range.min];
    }
    let step = nice_step((hi - lo) / (n - 1) as f64);
    if !(step.is_finite() && step > 0.0) {
        return vec![range.min];
    }
    // Small tolerance so that bounds that are multiples of the step (0.6 / 0.2) are included.
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let t = k as f64 * step;
            // Avoid printing "-0".
            if t == 0.0 { 0.0 } else { t as f32 }
        })
        .collect()
}

/// The 1, 2 or 5 times a power of ten nearest `raw` (Heckbert's nice numbers).
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return raw;
    }
    let base = 10f64.powf(raw.log10().floor());
    let f = raw / base;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * base
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match_colorous_and_published_values() {
        // Published endpoints of the matplotlib maps (hex), which colorous tabulates.
        assert_eq!(Colormap::Viridis.map(0.0), [0x44, 0x01, 0x54]);
        assert_eq!(Colormap::Viridis.map(1.0), [0xfd, 0xe7, 0x25]);
        assert_eq!(Colormap::Inferno.map(0.0), [0x00, 0x00, 0x04]);
        assert_eq!(Colormap::Magma.map(0.0), [0x00, 0x00, 0x04]);
        let pairs = [
            (Colormap::Viridis, colorous::VIRIDIS),
            (Colormap::Inferno, colorous::INFERNO),
            (Colormap::Magma, colorous::MAGMA),
            (Colormap::Turbo, colorous::TURBO),
        ];
        for (cmap, g) in pairs {
            assert_eq!(cmap.map(0.0), g.eval_continuous(0.0).into_array(), "{cmap}");
            assert_eq!(cmap.map(1.0), g.eval_continuous(1.0).into_array(), "{cmap}");
        }
        // Coolwarm is RdBu reversed: low end = RdBu's blue end, high end = RdBu's red end.
        let rdbu = colorous::RED_BLUE;
        assert_eq!(
            Colormap::Coolwarm.map(0.0),
            rdbu.eval_continuous(1.0).into_array()
        );
        assert_eq!(
            Colormap::Coolwarm.map(1.0),
            rdbu.eval_continuous(0.0).into_array()
        );
        let [r, _, b] = Colormap::Coolwarm.map(0.0);
        assert!(b > r, "low end is blue");
        let [r, _, b] = Colormap::Coolwarm.map(1.0);
        assert!(r > b, "high end is red");
        assert_eq!(Colormap::Gray.map(0.0), [0, 0, 0]);
        assert_eq!(Colormap::Gray.map(1.0), [255, 255, 255]);
        // 0.5 * 255 = 127.5 rounds to 128.
        assert_eq!(Colormap::Gray.map(0.5), [128, 128, 128]);
    }

    #[test]
    fn out_of_range_t_is_clamped() {
        for cmap in Colormap::ALL {
            assert_eq!(cmap.map(-3.0), cmap.map(0.0), "{cmap}");
            assert_eq!(cmap.map(7.0), cmap.map(1.0), "{cmap}");
            assert_eq!(cmap.map(f32::INFINITY), cmap.map(1.0), "{cmap}");
        }
    }

    #[test]
    fn nan_colour_is_not_on_any_map() {
        for cmap in Colormap::ALL {
            assert_eq!(cmap.map(f32::NAN), cmap.nan_rgb());
            for i in 0..=1024 {
                let c = cmap.map(i as f32 / 1024.0);
                assert_ne!(c, cmap.nan_rgb(), "{cmap} at {i}/1024");
            }
        }
    }

    #[test]
    fn names_and_all() {
        assert_eq!(Colormap::ALL.len(), 6);
        assert_eq!(Colormap::Coolwarm.to_string(), "coolwarm");
        assert!(Colormap::Coolwarm.is_diverging() && !Colormap::Viridis.is_diverging());
    }

    #[test]
    fn range_from_data_ignores_nan_and_infinities() {
        let r =
            ValueRange::from_data(&[f32::NAN, 2.0, -1.5, f32::INFINITY, 0.5, f32::NEG_INFINITY]);
        assert_eq!(r, ValueRange::fixed(-1.5, 2.0));
        assert_eq!(ValueRange::from_data(&[f32::NAN]), ValueRange::UNIT);
        assert_eq!(ValueRange::from_data(&[]), ValueRange::UNIT);
    }

    #[test]
    fn symmetric_ranges() {
        assert_eq!(
            ValueRange::symmetric(&[0.2, -0.7, f32::NAN, f32::NEG_INFINITY]),
            ValueRange::fixed(-0.7, 0.7)
        );
        assert_eq!(ValueRange::symmetric(&[0.0, 0.0]), ValueRange::CORRELATION);
        assert_eq!(
            ValueRange::symmetric_around_zero(-2.0),
            ValueRange::fixed(-2.0, 2.0)
        );
        assert_eq!(
            ValueRange::symmetric_around_zero(f32::NAN),
            ValueRange::CORRELATION
        );
    }

    #[test]
    fn normalize_by_hand() {
        let r = ValueRange::fixed(-1.0, 3.0);
        // (v - (-1)) / 4
        assert_eq!(r.normalize(-1.0), 0.0);
        assert_eq!(r.normalize(0.0), 0.25);
        assert_eq!(r.normalize(3.0), 1.0);
        assert_eq!(r.normalize(10.0), 1.0);
        assert_eq!(r.normalize(f32::NEG_INFINITY), 0.0);
        assert!(r.normalize(f32::NAN).is_nan());
        // Empty range: a step at min.
        let flat = ValueRange::fixed(2.0, 2.0);
        assert_eq!(flat.normalize(2.0), 0.0);
        assert_eq!(flat.normalize(2.5), 1.0);
        // Nonsense ranges do not panic.
        let _ = ValueRange::fixed(f32::NAN, 1.0).normalize(0.5);
        let _ = ValueRange::fixed(3.0, -3.0).normalize(0.5);
        // Extreme but finite bounds do not overflow (f64 arithmetic).
        let huge = ValueRange::fixed(f32::MIN, f32::MAX);
        assert_eq!(huge.normalize(0.0), 0.5);
    }

    #[test]
    fn map_to_rgba_pixels_and_shape_errors() {
        // [2 rows, 2 columns]: -1 (low end), 1 (high end), NaN, 0 (middle).
        let values = [-1.0, 1.0, f32::NAN, 0.0];
        let img = map_to_rgba(&values, 2, 2, ValueRange::CORRELATION, Colormap::Gray).unwrap();
        assert_eq!(
            img,
            vec![
                0, 0, 0, 255, //
                255, 255, 255, 255, //
                150, 110, 150, 255, //
                128, 128, 128, 255,
            ]
        );
        assert_eq!(
            map_to_rgba(&values, 3, 2, ValueRange::UNIT, Colormap::Gray),
            Err(VizError::ShapeMismatch {
                what: "map values",
                len: 4,
                expected: 6
            })
        );
        assert!(matches!(
            map_to_rgba(&values, usize::MAX, 2, ValueRange::UNIT, Colormap::Gray),
            Err(VizError::TooLarge { .. })
        ));
    }

    #[test]
    fn legend_is_a_horizontal_gradient() {
        let l = legend_rgba(Colormap::Viridis, 5, 3);
        assert_eq!(l.len(), 5 * 3 * 4);
        let px = |x: usize, y: usize| &l[(y * 5 + x) * 4..(y * 5 + x) * 4 + 4];
        assert_eq!(px(0, 0), &[0x44, 0x01, 0x54, 255]);
        assert_eq!(px(4, 2), &[0xfd, 0xe7, 0x25, 255]);
        // Column 2 is t = 2/4.
        let [r, g, b] = Colormap::Viridis.map(0.5);
        for y in 0..3 {
            assert_eq!(px(2, y), &[r, g, b, 255]);
        }
        assert!(legend_rgba(Colormap::Gray, 0, 4).is_empty());
        assert_eq!(legend_rgba(Colormap::Gray, 1, 1), vec![0, 0, 0, 255]);
    }

    #[test]
    fn nice_ticks_by_hand() {
        // Span 1 over 4 intervals: raw 0.25 -> 2.5 x 0.1 -> step 0.2.
        assert_eq!(
            ticks(ValueRange::UNIT, 5),
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        // Span 2 over 4: raw 0.5 -> step 0.5.
        assert_eq!(
            ticks(ValueRange::CORRELATION, 5),
            vec![-1.0, -0.5, 0.0, 0.5, 1.0]
        );
        // Span 0.74 over 3: raw 0.2467 -> step 0.2; multiples of 0.2 in [0.13, 0.87].
        assert_eq!(
            ticks(ValueRange::fixed(0.13, 0.87), 4),
            vec![0.2, 0.4, 0.6, 0.8]
        );
        // Span 100 over 2: raw 50 -> step 50.
        assert_eq!(
            ticks(ValueRange::fixed(0.0, 100.0), 3),
            vec![0.0, 50.0, 100.0]
        );
        // Span 730 over 4: raw 182.5 -> 1.825 x 100 -> step 200.
        assert_eq!(
            ticks(ValueRange::fixed(-30.0, 700.0), 5),
            vec![0.0, 200.0, 400.0, 600.0]
        );
        assert_eq!(ticks(ValueRange::fixed(2.0, 2.0), 5), vec![2.0]);
        assert!(ticks(ValueRange::UNIT, 0).is_empty());
        assert!(ticks(ValueRange::fixed(f32::NAN, 1.0), 5).is_empty());
        assert!(ticks(ValueRange::fixed(1.0, 0.0), 5).is_empty());
    }
}
