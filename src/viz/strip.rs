//! Rank strips: a query crop followed by its top-ranked gallery crops, each framed by a coloured
//! border (query blue, true match green, other identity red) with a caption (the score) drawn
//! under it in a small built-in pixel font (digits, `.`, `-`, `#`, `Q`; other characters are
//! left blank). The `eval --export` rank-strip PNGs.
//!
//! Crops are HWC RGB8 (`[h, w, 3]`, the preprocessed 160 x 60 crops); the strip is RGBA8.

use super::{VizError, check_len, checked_size};

/// Border colour of the query.
pub const QUERY_BORDER: [u8; 3] = [40, 110, 230];
/// Border colour of a true match.
pub const MATCH_BORDER: [u8; 3] = [20, 170, 60];
/// Border colour of another identity.
pub const MISS_BORDER: [u8; 3] = [215, 40, 40];
/// Fill of a crop that could not be read.
pub const MISSING_FILL: [u8; 3] = [128, 128, 128];

/// Border width in crop pixels (before scaling).
const BORDER: usize = 3;
/// Gap between cells, and wider after the query.
const GAP: usize = 4;
const QUERY_GAP: usize = 16;
/// The font: 3 x 5 glyphs, drawn at 2 x 2 crop pixels per font pixel.
const GLYPH_W: usize = 3;
const GLYPH_H: usize = 5;
const FONT_SCALE: usize = 2;
/// The caption band under each cell.
const CAPTION_H: usize = GLYPH_H * FONT_SCALE + 6;

/// One cell of a strip.
#[derive(Debug, Clone)]
pub struct StripCell<'a> {
    /// The crop, `[h, w, 3]` RGB8; `None` draws a grey box (an image that could not be read).
    pub crop: Option<&'a [u8]>,
    /// Border colour.
    pub border: [u8; 3],
    /// Caption under the cell.
    pub caption: String,
}

/// A rendered strip: RGBA8, `width * height * 4` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Strip {
    pub rgba: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

/// Rows of a 3-wide glyph, top first; bit 2 is the left column.
fn glyph(c: char) -> Option<[u8; GLYPH_H]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '#' => [0b101, 0b111, 0b101, 0b111, 0b101],
        'Q' => [0b111, 0b101, 0b101, 0b111, 0b001],
        _ => return None,
    })
}

/// An RGBA8 canvas being drawn on.
struct Canvas {
    rgba: Vec<u8>,
    width: usize,
}

impl Canvas {
    fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        let i = (y * self.width + x) * 4;
        if let Some(px) = self.rgba.get_mut(i..i + 4) {
            px.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
        }
    }

    fn fill(&mut self, x0: usize, y0: usize, w: usize, h: usize, rgb: [u8; 3]) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.put(x, y, rgb);
            }
        }
    }

    /// Text at `scale` canvas pixels per crop pixel, left-aligned at `(x0, y0)`.
    fn text(&mut self, x0: usize, y0: usize, text: &str, scale: usize, rgb: [u8; 3]) {
        let px = FONT_SCALE * scale;
        for (k, c) in text.chars().enumerate() {
            let Some(rows) = glyph(c) else { continue };
            let gx = x0 + k * (GLYPH_W + 1) * px;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits & (0b100 >> col) != 0 {
                        self.fill(gx + col * px, y0 + r * px, px, px, rgb);
                    }
                }
            }
        }
    }
}

/// Render `cells` left to right (the first one is the query: a wider gap follows it), each crop
/// `h x w` drawn at `scale` canvas pixels per crop pixel.
///
/// # Errors
/// [`VizError::ZeroFactor`] for `scale == 0`, [`VizError::ShapeMismatch`] for a crop that is
/// not `h * w * 3` bytes, [`VizError::TooLarge`] when the strip's size overflows.
pub fn render_strip(
    cells: &[StripCell<'_>],
    h: usize,
    w: usize,
    scale: usize,
) -> Result<Strip, VizError> {
    if scale == 0 {
        return Err(VizError::ZeroFactor);
    }
    for c in cells {
        if let Some(crop) = c.crop {
            check_len("strip crop", crop.len(), &[h, w, 3])?;
        }
    }
    let cell_w = checked_size("strip", &[w + 2 * BORDER, scale])?;
    let cell_h = checked_size("strip", &[h + 2 * BORDER + CAPTION_H, scale])?;
    let gaps =
        GAP * cells.len().saturating_sub(1) + (QUERY_GAP - GAP) * usize::from(cells.len() > 1);
    let width = checked_size("strip", &[cell_w, cells.len()])?
        .checked_add(checked_size("strip", &[gaps + 2 * GAP, scale])?)
        .ok_or(VizError::TooLarge { what: "strip" })?;
    let height = cell_h + 2 * GAP * scale;
    let mut canvas = Canvas {
        rgba: vec![255; checked_size("strip", &[width, height, 4])?],
        width,
    };
    let mut x = GAP * scale;
    let y = GAP * scale;
    for (k, cell) in cells.iter().enumerate() {
        let (bw, bh) = ((w + 2 * BORDER) * scale, (h + 2 * BORDER) * scale);
        canvas.fill(x, y, bw, bh, cell.border);
        let (ix, iy) = (x + BORDER * scale, y + BORDER * scale);
        match cell.crop {
            Some(crop) => {
                for cy in 0..h * scale {
                    for cx in 0..w * scale {
                        let s = ((cy / scale) * w + cx / scale) * 3;
                        let rgb = [crop[s], crop[s + 1], crop[s + 2]];
                        canvas.put(ix + cx, iy + cy, rgb);
                    }
                }
            }
            None => canvas.fill(ix, iy, w * scale, h * scale, MISSING_FILL),
        }
        canvas.text(
            x + BORDER * scale,
            y + bh + 3 * scale,
            &cell.caption,
            scale,
            [0, 0, 0],
        );
        x += cell_w + if k == 0 { QUERY_GAP } else { GAP } * scale;
    }
    Ok(Strip {
        rgba: canvas.rgba,
        width,
        height,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn px(s: &Strip, x: usize, y: usize) -> [u8; 4] {
        let i = (y * s.width + x) * 4;
        [s.rgba[i], s.rgba[i + 1], s.rgba[i + 2], s.rgba[i + 3]]
    }

    #[test]
    fn borders_crops_and_size() {
        let (h, w) = (4, 2);
        let red_crop = [200u8, 0, 0].repeat(h * w);
        let cells = [
            StripCell {
                crop: Some(&red_crop),
                border: QUERY_BORDER,
                caption: "Q".into(),
            },
            StripCell {
                crop: None,
                border: MATCH_BORDER,
                caption: "0.91".into(),
            },
        ];
        let s = render_strip(&cells, h, w, 1).unwrap();
        let cell_w = w + 2 * BORDER;
        assert_eq!(s.width, 2 * cell_w + QUERY_GAP + 2 * GAP);
        assert_eq!(s.height, h + 2 * BORDER + CAPTION_H + 2 * GAP);
        assert_eq!(s.rgba.len(), s.width * s.height * 4);
        // Query: border at its corner, the crop inside.
        assert_eq!(px(&s, GAP, GAP), [40, 110, 230, 255]);
        assert_eq!(px(&s, GAP + BORDER, GAP + BORDER), [200, 0, 0, 255]);
        // Second cell after the wider gap: green border, grey inside.
        let x1 = GAP + cell_w + QUERY_GAP;
        assert_eq!(px(&s, x1, GAP), [20, 170, 60, 255]);
        assert_eq!(px(&s, x1 + BORDER, GAP + BORDER), [128, 128, 128, 255]);
        // A wrong crop size is an error, not a panic.
        let bad = [StripCell {
            crop: Some(&red_crop[..3]),
            border: MISS_BORDER,
            caption: String::new(),
        }];
        assert!(render_strip(&bad, h, w, 1).is_err());
        assert!(render_strip(&cells, h, w, 0).is_err());
    }
}
