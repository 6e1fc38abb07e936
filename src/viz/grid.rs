//! All channels of a `[C, H, W]` feature map laid out in one near-square grid image.

use super::{Colormap, ValueRange, VizError, check_len, checked_size};

/// Pixels between neighbouring cells of a grid (transparent in rendered grids).
pub const GRID_GAP: usize = 1;

/// Where each channel of a `[C, H, W]` map goes in a grid image.
///
/// Channel `c` is in cell row `c / cols`, column `c % cols`; each cell is `cell_h x cell_w`
/// (the map's `H x W`), cells are [`GRID_GAP`] pixels apart, with no border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    /// Channels `C`.
    pub channels: usize,
    /// Cells per row: the smallest `n` with `n * n >= C`.
    pub cols: usize,
    /// Cell rows: `ceil(C / cols)`.
    pub rows: usize,
    /// Cell width: the map's `W`.
    pub cell_w: usize,
    /// Cell height: the map's `H`.
    pub cell_h: usize,
    /// Image width: `cols * W + (cols - 1) * GRID_GAP` (0 for an empty map).
    pub width: usize,
    /// Image height: `rows * H + (rows - 1) * GRID_GAP` (0 for an empty map).
    pub height: usize,
}

/// The grid of `c` channels of `h x w` maps: near-square in cells (`cols = ceil(sqrt(c))`,
/// `rows = ceil(c / cols)`), so the last row may be partly empty. A map with no pixel (`c`, `h`
/// or `w` zero) gives a 0 x 0 image. Sizes saturate instead of overflowing.
pub fn grid_layout(c: usize, h: usize, w: usize) -> GridLayout {
    let cols = ceil_sqrt(c);
    let rows = if cols == 0 { 0 } else { c.div_ceil(cols) };
    let extent = |cells: usize, cell: usize| {
        if c == 0 || h == 0 || w == 0 {
            0
        } else {
            cells
                .saturating_mul(cell)
                .saturating_add((cells - 1).saturating_mul(GRID_GAP))
        }
    };
    GridLayout {
        channels: c,
        cols,
        rows,
        cell_w: w,
        cell_h: h,
        width: extent(cols, w),
        height: extent(rows, h),
    }
}

/// Smallest `n` with `n * n >= c`.
fn ceil_sqrt(c: usize) -> usize {
    let mut n = (c as f64).sqrt() as usize;
    while n.saturating_mul(n) < c {
        n += 1;
    }
    while n > 0 && (n - 1).saturating_mul(n - 1) >= c {
        n -= 1;
    }
    n
}

impl GridLayout {
    /// The `(channel, y, x)` under image pixel `(px, py)`; `None` on a gap, an empty cell of
    /// the last row, or outside the image. For hover lookups.
    pub fn cell_at(&self, px: usize, py: usize) -> Option<(usize, usize, usize)> {
        if px >= self.width || py >= self.height {
            return None;
        }
        let pitch_x = self.cell_w.checked_add(GRID_GAP)?;
        let pitch_y = self.cell_h.checked_add(GRID_GAP)?;
        let (col, x) = (px / pitch_x, px % pitch_x);
        let (row, y) = (py / pitch_y, py % pitch_y);
        if x >= self.cell_w || y >= self.cell_h {
            return None;
        }
        let channel = row.checked_mul(self.cols)?.checked_add(col)?;
        (channel < self.channels).then_some((channel, y, x))
    }

    /// Image pixel `(px, py)` of the top-left corner of `channel`'s cell; `None` past the last
    /// channel or for an empty map.
    pub fn cell_origin(&self, channel: usize) -> Option<(usize, usize)> {
        if channel >= self.channels || self.width == 0 || self.height == 0 {
            return None;
        }
        let (row, col) = (channel / self.cols, channel % self.cols);
        Some((
            col * (self.cell_w + GRID_GAP),
            row * (self.cell_h + GRID_GAP),
        ))
    }

    /// The value under image pixel `(px, py)` of the `[C, H, W]` map `values` this layout was
    /// made for; `None` where [`Self::cell_at`] is `None` or `values` is too short.
    pub fn value_at(&self, values: &[f32], px: usize, py: usize) -> Option<f32> {
        let (c, y, x) = self.cell_at(px, py)?;
        let i = c
            .checked_mul(self.cell_h)?
            .checked_add(y)?
            .checked_mul(self.cell_w)?
            .checked_add(x)?;
        values.get(i).copied()
    }
}

/// How a grid maps values to colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GridScale {
    /// One range for every channel (e.g. `ValueRange::from_data` of the whole map), so channels
    /// compare with each other.
    Shared(ValueRange),
    /// Each channel stretched over its own finite min..max.
    PerChannel,
    /// Each channel over its own range symmetric around zero (for diverging maps).
    PerChannelSymmetric,
}

/// A rendered grid.
#[derive(Debug, Clone, PartialEq)]
pub struct GridImage {
    /// Where the channels are.
    pub layout: GridLayout,
    /// RGBA8 `[layout.height, layout.width]`; gaps and empty cells are transparent black.
    pub rgba: Vec<u8>,
    /// The range used for each channel, `[C]` (all equal with [`GridScale::Shared`]).
    pub ranges: Vec<ValueRange>,
}

/// Renders every channel of a `[c, h, w]` map (flattened channel-major) into one grid image.
///
/// # Errors
/// [`VizError::ShapeMismatch`] when `values.len() != c * h * w`, [`VizError::TooLarge`] when
/// the image size overflows.
pub fn render_grid(
    values: &[f32],
    c: usize,
    h: usize,
    w: usize,
    scale: GridScale,
    cmap: Colormap,
) -> Result<GridImage, VizError> {
    check_len("feature map values", values.len(), &[c, h, w])?;
    let layout = grid_layout(c, h, w);
    let len = checked_size("grid image", &[layout.width, layout.height, 4])?;
    let mut rgba = vec![0u8; len];
    let mut ranges = Vec::with_capacity(c);
    let plane = h * w; // no overflow: c * h * w was checked
    if plane == 0 {
        ranges.resize(c, ValueRange::UNIT);
        return Ok(GridImage {
            layout,
            rgba,
            ranges,
        });
    }
    for (ch, map) in values.chunks_exact(plane).enumerate() {
        let range = match scale {
            GridScale::Shared(r) => r,
            GridScale::PerChannel => ValueRange::from_data(map),
            GridScale::PerChannelSymmetric => ValueRange::symmetric(map),
        };
        ranges.push(range);
        let Some((ox, oy)) = layout.cell_origin(ch) else {
            continue;
        };
        for (y, row) in map.chunks_exact(w).enumerate() {
            let start = ((oy + y) * layout.width + ox) * 4;
            let Some(dst) = rgba.get_mut(start..start + w * 4) else {
                continue;
            };
            for (px, &v) in dst.chunks_exact_mut(4).zip(row) {
                let [r, g, b] = cmap.map(range.normalize(v));
                px.copy_from_slice(&[r, g, b, 255]);
            }
        }
    }
    Ok(GridImage {
        layout,
        rgba,
        ranges,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn layout_arithmetic_by_hand() {
        // C = 20: sqrt 4.47 -> 5 columns, ceil(20 / 5) = 4 rows. Cells 37 x 12 (H x W):
        // width 5 * 12 + 4 = 64, height 4 * 37 + 3 = 151.
        let g = grid_layout(20, 37, 12);
        assert_eq!((g.cols, g.rows, g.cell_w, g.cell_h), (5, 4, 12, 37));
        assert_eq!((g.width, g.height), (64, 151));
        // C = 25: exactly 5 x 5. Cells 18 x 5: width 5 * 5 + 4 = 29, height 5 * 18 + 4 = 94.
        let g = grid_layout(25, 18, 5);
        assert_eq!((g.cols, g.rows, g.width, g.height), (5, 5, 29, 94));
        // C = 1500: 38^2 = 1444 < 1500 <= 1521 = 39^2 -> 39 columns; 38 * 39 = 1482 < 1500 ->
        // 39 rows. Cells 37 x 12: width 39 * 12 + 38 = 506, height 39 * 37 + 38 = 1481.
        let g = grid_layout(1500, 37, 12);
        assert_eq!((g.cols, g.rows, g.width, g.height), (39, 39, 506, 1481));
        // C = 1: a single cell, no gap.
        let g = grid_layout(1, 3, 4);
        assert_eq!((g.cols, g.rows, g.width, g.height), (1, 1, 4, 3));
        // C = 26: 6 columns (25 < 26 <= 36), 5 rows.
        assert_eq!(
            (grid_layout(26, 1, 1).cols, grid_layout(26, 1, 1).rows),
            (6, 5)
        );
        let g = grid_layout(0, 3, 4);
        assert_eq!((g.cols, g.rows, g.width, g.height), (0, 0, 0, 0));
        assert_eq!(grid_layout(4, 0, 4).width, 0);
    }

    #[test]
    fn ceil_sqrt_around_squares() {
        for n in 1..200usize {
            assert_eq!(ceil_sqrt(n * n), n);
            assert_eq!(ceil_sqrt(n * n + 1), n + 1);
            assert_eq!(ceil_sqrt(n * n - 1), if n == 1 { 0 } else { n });
        }
        assert_eq!(ceil_sqrt(usize::MAX), 1 << (usize::BITS / 2));
    }

    #[test]
    fn cell_at_gaps_and_empty_cells() {
        // 3 channels of 2 x 2: 2 columns, 2 rows, image 5 x 5; the bottom-right cell is empty.
        let g = grid_layout(3, 2, 2);
        assert_eq!((g.width, g.height), (5, 5));
        assert_eq!(g.cell_at(0, 0), Some((0, 0, 0)));
        assert_eq!(g.cell_at(1, 1), Some((0, 1, 1)));
        assert_eq!(g.cell_at(2, 0), None); // vertical gap
        assert_eq!(g.cell_at(0, 2), None); // horizontal gap
        assert_eq!(g.cell_at(3, 0), Some((1, 0, 0)));
        assert_eq!(g.cell_at(4, 1), Some((1, 1, 1)));
        assert_eq!(g.cell_at(1, 4), Some((2, 1, 1)));
        assert_eq!(g.cell_at(3, 3), None); // empty 4th cell
        assert_eq!(g.cell_at(5, 0), None); // outside
        assert_eq!(g.cell_origin(2), Some((0, 3)));
        assert_eq!(g.cell_origin(3), None);
        let values: Vec<f32> = (0..12).map(|v| v as f32).collect();
        // Channel 1, y 1, x 0 -> index 1 * 4 + 1 * 2 + 0 = 6.
        assert_eq!(g.value_at(&values, 3, 1), Some(6.0));
        assert_eq!(g.value_at(&values, 2, 1), None);
    }

    #[test]
    fn render_shared_and_per_channel() {
        // 2 channels of 1 x 2 (H x W): [0, 1] and [10, 20]. Layout: 2 columns, image 5 x 1.
        let values = [0.0, 1.0, 10.0, 20.0];
        let shared = GridScale::Shared(ValueRange::fixed(0.0, 20.0));
        let img = render_grid(&values, 2, 1, 2, shared, Colormap::Gray).unwrap();
        assert_eq!((img.layout.width, img.layout.height), (5, 1));
        // Shared 0..20: 0 -> 0, 1 -> 1/20 * 255 = 12.75 -> 13, gap, 10 -> 127.5 -> 128, 20 -> 255.
        assert_eq!(
            img.rgba,
            vec![
                0, 0, 0, 255, 13, 13, 13, 255, 0, 0, 0, 0, 128, 128, 128, 255, 255, 255, 255, 255
            ]
        );
        assert_eq!(img.ranges, vec![ValueRange::fixed(0.0, 20.0); 2]);
        let img = render_grid(&values, 2, 1, 2, GridScale::PerChannel, Colormap::Gray).unwrap();
        // Each channel stretched to 0..255.
        let grey: Vec<u8> = img.rgba.chunks(4).map(|p| p[0]).collect();
        assert_eq!(grey, vec![0, 255, 0, 0, 255]);
        assert_eq!(
            img.ranges,
            vec![ValueRange::fixed(0.0, 1.0), ValueRange::fixed(10.0, 20.0)]
        );
        let img = render_grid(
            &[-2.0, 1.0, 0.5, 0.25],
            2,
            1,
            2,
            GridScale::PerChannelSymmetric,
            Colormap::Gray,
        )
        .unwrap();
        assert_eq!(
            img.ranges,
            vec![ValueRange::fixed(-2.0, 2.0), ValueRange::fixed(-0.5, 0.5)]
        );
        // Channel 0: -2 -> 0, 1 -> 3/4 * 255 = 191.25 -> 191.
        assert_eq!(&img.rgba[..8], &[0, 0, 0, 255, 191, 191, 191, 255]);
    }

    #[test]
    fn render_shape_mismatch_is_an_error() {
        assert_eq!(
            render_grid(&[0.0; 5], 2, 1, 2, GridScale::PerChannel, Colormap::Gray),
            Err(VizError::ShapeMismatch {
                what: "feature map values",
                len: 5,
                expected: 4
            })
        );
        let empty = render_grid(&[], 0, 4, 4, GridScale::PerChannel, Colormap::Gray).unwrap();
        assert!(empty.rgba.is_empty());
    }
}
