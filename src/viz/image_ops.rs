//! Pixel operations on RGBA8 / RGB8 buffers: nearest-neighbour scaling, heat-map overlays, PNG.

use std::path::{Path, PathBuf};

use image::{ExtendedColorType, ImageEncoder, codecs::png::PngEncoder};

use super::{VizError, check_len, checked_size};

/// Resizes an RGBA8 `[h, w]` image to `[new_h, new_w]` with nearest-neighbour sampling (no
/// blur: feature maps stay blocky). Destination pixel `x` samples source column
/// `floor((x + 0.5) * w / new_w)`, likewise for rows.
///
/// # Errors
/// [`VizError::ShapeMismatch`] when `rgba.len() != w * h * 4`; [`VizError::TooLarge`] when the
/// new size overflows.
pub fn resize_nearest(
    rgba: &[u8],
    w: usize,
    h: usize,
    new_w: usize,
    new_h: usize,
) -> Result<Vec<u8>, VizError> {
    check_len("RGBA image bytes", rgba.len(), &[w, h, 4])?;
    let len = checked_size("resized image", &[new_w, new_h, 4])?;
    if len == 0 {
        return Ok(Vec::new());
    }
    if w == 0 || h == 0 {
        // Nothing to sample: a transparent image of the requested size.
        return Ok(vec![0; len]);
    }
    // Source index of destination index `d`, in u128 so `(2d + 1) * src` cannot overflow.
    let source = |d: usize, src: usize, dst: usize| -> usize {
        let s = (2 * d as u128 + 1) * src as u128 / (2 * dst as u128);
        (s as usize).min(src - 1)
    };
    let cols: Vec<usize> = (0..new_w).map(|x| source(x, w, new_w)).collect();
    let mut out = Vec::with_capacity(len);
    for y in 0..new_h {
        let sy = source(y, h, new_h);
        let row = &rgba[sy * w * 4..(sy + 1) * w * 4];
        for &sx in &cols {
            out.extend_from_slice(&row[sx * 4..sx * 4 + 4]);
        }
    }
    Ok(out)
}

/// Enlarges an RGBA8 `[h, w]` image `factor` times in each direction by repeating pixels: the
/// result is `[h * factor, w * factor]`, pixel `(x, y)` copies source `(x / factor, y / factor)`.
///
/// # Errors
/// [`VizError::ZeroFactor`] for `factor == 0`, [`VizError::ShapeMismatch`] when
/// `rgba.len() != w * h * 4`, [`VizError::TooLarge`] when the result size overflows.
pub fn upscale_nearest(
    rgba: &[u8],
    w: usize,
    h: usize,
    factor: usize,
) -> Result<Vec<u8>, VizError> {
    if factor == 0 {
        return Err(VizError::ZeroFactor);
    }
    let new_w = checked_size("upscaled image", &[w, factor])?;
    let new_h = checked_size("upscaled image", &[h, factor])?;
    resize_nearest(rgba, w, h, new_w, new_h)
}

/// Alpha-blends an RGBA8 heat map over an RGB8 image of the same `[h, w]` size. Returns opaque
/// RGBA8 `[h, w]`. See [`overlay_region`] for the blend.
///
/// # Errors
/// [`VizError::ShapeMismatch`] when a buffer does not match `w x h`.
pub fn overlay(
    base_rgb: &[u8],
    heat_rgba: &[u8],
    w: usize,
    h: usize,
    alpha: f32,
) -> Result<Vec<u8>, VizError> {
    overlay_region(base_rgb, w, h, heat_rgba, w, h, 0, 0, alpha)
}

/// Alpha-blends an RGBA8 `[heat_h, heat_w]` heat map over an RGB8 `[base_h, base_w]` image with
/// its top-left corner at base pixel `(x0, y0)`; the parts outside the image are clipped (the
/// correlation view puts a band of rows over image B this way, after [`resize_nearest`]).
/// Returns opaque RGBA8 `[base_h, base_w]`.
///
/// Per pixel, with `a = alpha * heat_alpha / 255` (`alpha` clamped to `[0, 1]`, NaN as 0):
/// `out = round(base * (1 - a) + heat * a)`. Pixels outside the heat map keep the base colour.
///
/// # Errors
/// [`VizError::ShapeMismatch`] when a buffer does not match its dimensions.
#[allow(clippy::too_many_arguments)]
pub fn overlay_region(
    base_rgb: &[u8],
    base_w: usize,
    base_h: usize,
    heat_rgba: &[u8],
    heat_w: usize,
    heat_h: usize,
    x0: usize,
    y0: usize,
    alpha: f32,
) -> Result<Vec<u8>, VizError> {
    check_len("base RGB image bytes", base_rgb.len(), &[base_w, base_h, 3])?;
    check_len(
        "heat RGBA image bytes",
        heat_rgba.len(),
        &[heat_w, heat_h, 4],
    )?;
    let alpha = if alpha.is_nan() {
        0.0
    } else {
        alpha.clamp(0.0, 1.0)
    };
    let mut out: Vec<u8> = base_rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let x_end = base_w.min(x0.saturating_add(heat_w));
    let y_end = base_h.min(y0.saturating_add(heat_h));
    for y in y0..y_end {
        for x in x0..x_end {
            let hi = ((y - y0) * heat_w + (x - x0)) * 4;
            let oi = (y * base_w + x) * 4;
            let (Some(heat), Some(dst)) = (heat_rgba.get(hi..hi + 4), out.get_mut(oi..oi + 3))
            else {
                continue;
            };
            let a = alpha * f32::from(heat[3]) / 255.0;
            for (d, &s) in dst.iter_mut().zip(&heat[..3]) {
                let v = f32::from(*d) * (1.0 - a) + f32::from(s) * a;
                *d = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(out)
}

/// Encodes an RGBA8 `[h, w]` image as PNG bytes.
///
/// # Errors
/// [`VizError::ShapeMismatch`] for a wrong buffer size, [`VizError::TooLarge`] when a side does
/// not fit `u32`, [`VizError::Png`] when encoding fails.
pub fn encode_png(rgba: &[u8], w: usize, h: usize) -> Result<Vec<u8>, VizError> {
    check_len("RGBA image bytes", rgba.len(), &[w, h, 4])?;
    let too_large = || VizError::TooLarge { what: "PNG image" };
    let w32 = u32::try_from(w).map_err(|_| too_large())?;
    let h32 = u32::try_from(h).map_err(|_| too_large())?;
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(rgba, w32, h32, ExtendedColorType::Rgba8)
        .map_err(|e| VizError::Png {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// Writes an RGBA8 `[h, w]` image to `path` as PNG (the views' "export PNG").
///
/// # Errors
/// As [`encode_png`], plus [`VizError::Png`] naming `path` when the file cannot be written.
pub fn save_png(path: &Path, rgba: &[u8], w: usize, h: usize) -> Result<(), VizError> {
    let bytes = encode_png(rgba, w, h).map_err(|e| match e {
        VizError::Png { reason, .. } => VizError::Png {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    })?;
    std::fs::write(path, bytes).map_err(|e| VizError::Png {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A 2 x 2 RGBA image with distinct pixels: 1, 2 / 3, 4 (all channels equal to the number).
    fn two_by_two() -> Vec<u8> {
        [1u8, 2, 3, 4].iter().flat_map(|&v| [v, v, v, v]).collect()
    }

    fn red_channel(rgba: &[u8]) -> Vec<u8> {
        rgba.chunks(4).map(|p| p[0]).collect()
    }

    #[test]
    fn upscale_repeats_pixels() {
        let up = upscale_nearest(&two_by_two(), 2, 2, 3).unwrap();
        assert_eq!(up.len(), 6 * 6 * 4);
        #[rustfmt::skip]
        let expected = vec![
            1, 1, 1, 2, 2, 2,
            1, 1, 1, 2, 2, 2,
            1, 1, 1, 2, 2, 2,
            3, 3, 3, 4, 4, 4,
            3, 3, 3, 4, 4, 4,
            3, 3, 3, 4, 4, 4,
        ];
        assert_eq!(red_channel(&up), expected);
        assert_eq!(
            upscale_nearest(&two_by_two(), 2, 2, 1).unwrap(),
            two_by_two()
        );
    }

    #[test]
    fn upscale_errors() {
        assert_eq!(
            upscale_nearest(&two_by_two(), 2, 2, 0),
            Err(VizError::ZeroFactor)
        );
        assert_eq!(
            upscale_nearest(&two_by_two(), 3, 2, 2),
            Err(VizError::ShapeMismatch {
                what: "RGBA image bytes",
                len: 16,
                expected: 24
            })
        );
        assert!(matches!(
            upscale_nearest(&[0; 4], 1, 1, usize::MAX),
            Err(VizError::TooLarge { .. })
        ));
    }

    #[test]
    fn resize_to_non_integer_sizes() {
        // 2 columns -> 3: destination x samples floor((2x + 1) * 2 / 6) = 0, 1, 1.
        // 2 rows -> 1: y 0 samples floor(1 * 2 / 2) = 1 (the bottom row).
        let r = resize_nearest(&two_by_two(), 2, 2, 3, 1).unwrap();
        assert_eq!(red_channel(&r), vec![3, 4, 4]);
        // Shrinking 2 x 2 -> 1 x 1 picks the centre-nearest pixel (1, 1).
        assert_eq!(
            red_channel(&resize_nearest(&two_by_two(), 2, 2, 1, 1).unwrap()),
            vec![4]
        );
        assert!(
            resize_nearest(&two_by_two(), 2, 2, 0, 5)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn overlay_blends_by_hand() {
        // Base 2 x 1 RGB: (100, 0, 200), (10, 20, 30).
        let base = [100, 0, 200, 10, 20, 30];
        // Heat: opaque red, then a translucent (alpha 102 = 0.4) white.
        let heat = [255, 0, 0, 255, 255, 255, 255, 102];
        let out = overlay(&base, &heat, 2, 1, 0.5).unwrap();
        // Pixel 0: a = 0.5: (100 + 255) / 2 = 177.5 -> 178 (half away from zero), 0, 200 / 2.
        // Pixel 1: a = 0.5 * 0.4 = 0.2: 10 * 0.8 + 255 * 0.2 = 59, 20 * 0.8 + 51 = 67,
        // 30 * 0.8 + 51 = 75.
        assert_eq!(out, vec![178, 0, 100, 255, 59, 67, 75, 255]);
        // alpha 0 (and NaN) leaves the base; alpha > 1 is clamped to 1.
        assert_eq!(
            overlay(&base, &heat, 2, 1, 0.0).unwrap(),
            vec![100, 0, 200, 255, 10, 20, 30, 255]
        );
        assert_eq!(
            overlay(&base, &heat, 2, 1, f32::NAN).unwrap(),
            overlay(&base, &heat, 2, 1, 0.0).unwrap()
        );
        assert_eq!(
            &overlay(&base, &heat, 2, 1, 9.0).unwrap()[..4],
            &[255, 0, 0, 255]
        );
    }

    #[test]
    fn overlay_region_places_and_clips() {
        // Base 3 x 3 black; heat 2 x 2 opaque white at (2, 1): only column 2, rows 1-2 land.
        let base = [0u8; 27];
        let heat = [255u8; 16];
        let out = overlay_region(&base, 3, 3, &heat, 2, 2, 2, 1, 1.0).unwrap();
        #[rustfmt::skip]
        let expected = vec![
            0, 0, 0,
            0, 0, 255,
            0, 0, 255,
        ];
        assert_eq!(red_channel(&out), expected);
        // Entirely outside: unchanged.
        let out = overlay_region(&base, 3, 3, &heat, 2, 2, 5, 5, 1.0).unwrap();
        assert!(red_channel(&out).iter().all(|&v| v == 0));
    }

    #[test]
    fn overlay_shape_errors() {
        assert_eq!(
            overlay(&[0; 5], &[0; 8], 2, 1, 0.5),
            Err(VizError::ShapeMismatch {
                what: "base RGB image bytes",
                len: 5,
                expected: 6
            })
        );
        assert!(matches!(
            overlay(&[0; 6], &[0; 7], 2, 1, 0.5),
            Err(VizError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn png_round_trip() {
        let rgba: Vec<u8> = (0..2 * 3 * 4).map(|v| (v * 10) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        save_png(&path, &rgba, 3, 2).unwrap();
        let back = image::open(&path).unwrap().to_rgba8();
        assert_eq!((back.width(), back.height()), (3, 2));
        assert_eq!(back.into_raw(), rgba);
        assert!(matches!(
            encode_png(&rgba, 2, 2),
            Err(VizError::ShapeMismatch { .. })
        ));
        let missing = dir.path().join("no/such/dir/x.png");
        assert!(matches!(
            save_png(&missing, &rgba, 3, 2),
            Err(VizError::Png { .. })
        ));
    }
}
