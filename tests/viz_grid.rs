//! Channel-grid layout and rendering properties, and map colours at known points.
#![allow(clippy::unwrap_used)] // tests may unwrap

use proptest::prelude::*;
use reid_explorer::viz::{
    Colormap, GRID_GAP, GridScale, ValueRange, VizError, grid_layout, map_to_rgba, render_grid,
};

proptest! {
    #[test]
    fn every_cell_corner_maps_back_to_its_channel(c in 1usize..2000, h in 1usize..40, w in 1usize..40) {
        let g = grid_layout(c, h, w);
        // Enough cells, and no fully empty row.
        prop_assert!(g.cols * g.rows >= c);
        prop_assert!((g.rows - 1) * g.cols < c);
        prop_assert!(g.cols >= g.rows);
        prop_assert_eq!(g.width, g.cols * w + (g.cols - 1) * GRID_GAP);
        prop_assert_eq!(g.height, g.rows * h + (g.rows - 1) * GRID_GAP);
        for ch in 0..c {
            let (ox, oy) = g.cell_origin(ch).unwrap();
            prop_assert_eq!(g.cell_at(ox, oy), Some((ch, 0, 0)));
            prop_assert_eq!(g.cell_at(ox + w - 1, oy + h - 1), Some((ch, h - 1, w - 1)));
            // The pixel right of a cell is a gap or outside the image.
            prop_assert_eq!(g.cell_at(ox + w, oy), None);
            prop_assert_eq!(g.cell_at(ox, oy + h), None);
        }
        prop_assert_eq!(g.cell_origin(c), None);
    }

    #[test]
    fn each_value_is_drawn_at_exactly_one_pixel(c in 1usize..30, h in 1usize..6, w in 1usize..6) {
        let g = grid_layout(c, h, w);
        let mut seen = vec![0u32; c * h * w];
        for py in 0..g.height {
            for px in 0..g.width {
                if let Some((ch, y, x)) = g.cell_at(px, py) {
                    seen[(ch * h + y) * w + x] += 1;
                }
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{:?}", seen);
    }

    #[test]
    fn rendered_pixels_show_their_values(
        (c, h, w, values) in (1usize..12, 1usize..5, 1usize..5).prop_flat_map(|(c, h, w)| {
            (Just(c), Just(h), Just(w), prop::collection::vec(-5.0f32..5.0, c * h * w))
        })
    ) {
        let range = ValueRange::from_data(&values);
        let img = render_grid(&values, c, h, w, GridScale::Shared(range), Colormap::Turbo).unwrap();
        let g = img.layout;
        prop_assert_eq!(img.rgba.len(), g.width * g.height * 4);
        for py in 0..g.height {
            for px in 0..g.width {
                let p = &img.rgba[(py * g.width + px) * 4..(py * g.width + px) * 4 + 4];
                match g.value_at(&values, px, py) {
                    Some(v) => {
                        let [r, gr, b] = Colormap::Turbo.map(range.normalize(v));
                        prop_assert_eq!(p, &[r, gr, b, 255][..]);
                    }
                    None => prop_assert_eq!(p, &[0, 0, 0, 0][..]),
                }
            }
        }
    }
}

#[test]
fn map_endpoints_equal_colorous_endpoints() {
    // The range's min draws t = 0, its max t = 1.
    let range = ValueRange::fixed(-3.0, 5.0);
    let img = map_to_rgba(&[-3.0, 5.0], 2, 1, range, Colormap::Inferno).unwrap();
    let lo = colorous::INFERNO.eval_continuous(0.0);
    let hi = colorous::INFERNO.eval_continuous(1.0);
    assert_eq!(img, vec![lo.r, lo.g, lo.b, 255, hi.r, hi.g, hi.b, 255]);
}

#[test]
fn grid_shape_mismatch_is_an_error() {
    let err = render_grid(
        &[0.0; 10],
        3,
        2,
        2,
        GridScale::PerChannel,
        Colormap::Viridis,
    );
    assert_eq!(
        err,
        Err(VizError::ShapeMismatch {
            what: "feature map values",
            len: 10,
            expected: 12
        })
    );
}
