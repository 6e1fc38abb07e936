//! The data behind the Correlation view: the traced `pool2` maps of both branches and the
//! correlation volume, checked against the geometry, with the formula's patches for any
//! position (from [`crate::model::xcorr::direct`]). Pure functions, no drawing.

use eframe::egui::{Pos2, Rect, pos2, vec2};

use crate::model::xcorr::direct::{PatchStats, Plane, XcorrGeometry, band_patch};
use crate::protocol::{Branch, Trace, TracedMap};

/// The maps the view needs, checked against each other and the geometry.
pub(super) struct Volume<'a> {
    pub(super) a: &'a TracedMap,
    pub(super) b: &'a TracedMap,
    pub(super) xcorr: &'a TracedMap,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) geo: XcorrGeometry,
}

impl<'a> Volume<'a> {
    pub(super) fn new(trace: &'a Trace, geo: XcorrGeometry) -> Result<Self, String> {
        let get = |name: &str, branch| {
            trace
                .get(name, branch)
                .ok_or_else(|| format!("the trace has no {name} ({})", branch_name(branch)))
        };
        let (a, b, xcorr) = (
            get("pool2", Branch::A)?,
            get("pool2", Branch::B)?,
            get("xcorr", Branch::Pair)?,
        );
        let [c, h, w] = a.shape[..] else {
            return Err(format!("pool2 has shape {:?}, expected [C, H, W]", a.shape));
        };
        let depth = geo.depth(c, w);
        let ok = c > 0
            && h > 0
            && w > 0
            && geo.band > 0
            && geo.patch > 0
            && b.shape == a.shape
            && xcorr.shape == [depth, h, w]
            && a.data.len() == c * h * w
            && b.data.len() == a.data.len()
            && xcorr.data.len() == depth * h * w;
        if !ok {
            return Err(format!(
                "shapes do not fit the correlation geometry (patch {}, band {}): pool2 {:?} / {:?}, xcorr {:?}",
                geo.patch, geo.band, a.shape, b.shape, xcorr.shape
            ));
        }
        Ok(Self {
            a,
            b,
            xcorr,
            c,
            h,
            w,
            geo,
        })
    }

    /// `xcorr[d, y, x]`.
    pub(super) fn at(&self, d: usize, y: usize, x: usize) -> f32 {
        self.xcorr
            .data
            .get((d * self.h + y) * self.w + x)
            .copied()
            .unwrap_or(f32::NAN)
    }

    /// Correlation of A's position `(y, x)` with B's band cell `(dy, x')` in channel `c`.
    pub(super) fn band(&self, c: usize, dy: usize, xp: usize, (y, x): (usize, usize)) -> f32 {
        self.at(self.geo.depth_index(c, dy, xp, self.w), y, x)
    }

    /// The band value for `channel`, or the channel average.
    pub(super) fn band_value(
        &self,
        channel: Option<usize>,
        dy: usize,
        xp: usize,
        pos: (usize, usize),
    ) -> f32 {
        match channel {
            Some(c) => self.band(c, dy, xp, pos),
            None => {
                (0..self.c).map(|c| self.band(c, dy, xp, pos)).sum::<f32>() / self.c.max(1) as f32
            }
        }
    }

    /// The channel whose patch of A at `pos` varies most (a dead ReLU channel explains
    /// nothing, so the view starts on a lively one).
    pub(super) fn liveliest_channel(&self, (y, x): (usize, usize)) -> usize {
        (0..self.c)
            .map(|c| {
                (
                    c,
                    Self::plane(self.a, c, self.h, self.w)
                        .patch(y as isize, x as isize, &self.geo)
                        .std,
                )
            })
            .fold(
                (0, f64::MIN),
                |best, (c, s)| if s > best.1 { (c, s) } else { best },
            )
            .0
    }

    pub(super) fn plane<'p>(map: &'p TracedMap, c: usize, h: usize, w: usize) -> Plane<'p> {
        Plane {
            data: map.data.get(c * h * w..(c + 1) * h * w).unwrap_or(&[]),
            h,
            w,
        }
    }

    /// The formula's patches for `(c, dy, x')` at `pos`.
    pub(super) fn patches(
        &self,
        (c, dy, xp): (usize, usize, usize),
        (y, x): (usize, usize),
    ) -> (PatchStats, PatchStats) {
        let pa = Self::plane(self.a, c, self.h, self.w);
        let pb = Self::plane(self.b, c, self.h, self.w);
        (
            pa.patch(y as isize, x as isize, &self.geo),
            band_patch(&pb, y, dy, xp, &self.geo),
        )
    }
}

/// The correlation geometry of a model configuration (the authors' when unknown).
pub(super) fn geometry(config: Option<&crate::model::ModelConfig>) -> XcorrGeometry {
    config.map_or_else(XcorrGeometry::default, |c| XcorrGeometry {
        patch: c.patch,
        band: c.band,
        eps: c.sigma_eps,
    })
}

fn branch_name(b: Branch) -> &'static str {
    b.as_str()
}

/// Rectangle of feature cell `(row, col)` of an `h x w` grid drawn over `rect`.
pub(super) fn cell_rect(
    rect: Rect,
    h: usize,
    w: usize,
    row: f32,
    col: f32,
    rows: f32,
    cols: f32,
) -> Rect {
    let ch = rect.height() / h as f32;
    let cw = rect.width() / w as f32;
    Rect::from_min_size(
        pos2(rect.left() + col * cw, rect.top() + row * ch),
        vec2(cols * cw, rows * ch),
    )
    .intersect(rect)
}

/// The feature cell under `p` in an `h x w` grid over `rect`.
pub(super) fn cell_at(rect: Rect, h: usize, w: usize, p: Pos2) -> Option<(usize, usize)> {
    if !rect.contains(p) {
        return None;
    }
    let row = ((p.y - rect.top()) / rect.height() * h as f32) as usize;
    let col = ((p.x - rect.left()) / rect.width() * w as f32) as usize;
    Some((row.min(h - 1), col.min(w - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::xcorr::direct::ncc;
    use crate::model::xcorr::xcorr_direct;

    fn toy_trace(c: usize, h: usize, w: usize, geo: &XcorrGeometry) -> Trace {
        let a: Vec<f32> = (0..c * h * w)
            .map(|i| ((i * 37 % 11) as f32) * 0.1)
            .collect();
        let b: Vec<f32> = (0..c * h * w)
            .map(|i| ((i * 13 % 7) as f32) * 0.2)
            .collect();
        let out = xcorr_direct(&a, &b, [1, c, h, w], geo);
        Trace {
            maps: vec![
                TracedMap {
                    name: "pool2",
                    branch: Branch::A,
                    shape: vec![c, h, w],
                    data: a,
                },
                TracedMap {
                    name: "pool2",
                    branch: Branch::B,
                    shape: vec![c, h, w],
                    data: b,
                },
                TracedMap {
                    name: "xcorr",
                    branch: Branch::Pair,
                    shape: vec![geo.depth(c, w), h, w],
                    data: out,
                },
            ],
        }
    }

    #[test]
    fn formula_values_agree_with_the_volume() {
        let geo = XcorrGeometry::default();
        let trace = toy_trace(2, 7, 6, &geo);
        let v = Volume::new(&trace, geo).unwrap_or_else(|e| panic!("{e}"));
        for depth in [(0, 0, 0), (1, 2, 3), (1, 4, 5)] {
            for pos in [(0, 0), (3, 2), (6, 5)] {
                let (p, q) = v.patches(depth, pos);
                let traced = v.band(depth.0, depth.1, depth.2, pos);
                assert!((ncc(&p, &q) - f64::from(traced)).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn mismatched_shapes_are_reported() {
        let geo = XcorrGeometry::default();
        let mut trace = toy_trace(2, 7, 6, &geo);
        trace.maps[2].shape = vec![3, 7, 6];
        assert!(Volume::new(&trace, geo).is_err());
    }

    #[test]
    fn cells_map_to_rectangles_and_back() {
        let rect = Rect::from_min_size(pos2(10.0, 20.0), vec2(120.0, 370.0));
        let r = cell_rect(rect, 37, 12, 3.0, 4.0, 1.0, 1.0);
        assert_eq!(cell_at(rect, 37, 12, r.center()), Some((3, 4)));
        assert_eq!(cell_at(rect, 37, 12, pos2(0.0, 0.0)), None);
    }
}
