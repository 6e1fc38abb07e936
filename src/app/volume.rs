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

    /// Where the pair's correlation evidence is strongest, the position the view opens on.
    ///
    /// For every position `(y, x)` of A, its best match in B's band: the band cell `(dy, x')`
    /// with the highest channel-averaged correlation (what the view overlays on B). The
    /// position whose best match is highest wins, and its depth slice is that cell in the
    /// channel with the highest correlation there. Only patches that lie wholly inside both
    /// maps take part (when the maps are large enough): zero padding shared by two border
    /// patches correlates by itself and would win without showing anything of the people.
    /// Ties go to the first in row-major order. `None` when every candidate is non-finite.
    pub(super) fn strongest_evidence(&self) -> Option<Evidence> {
        let r = self.geo.patch / 2;
        let inside = |i: usize, n: usize| n <= 2 * r || (r..n - r).contains(&i);
        let half = self.geo.band / 2;
        let mut best: Option<Evidence> = None;
        for y in (0..self.h).filter(|&y| inside(y, self.h)) {
            for x in (0..self.w).filter(|&x| inside(x, self.w)) {
                for dy in 0..self.geo.band {
                    let row = y + dy;
                    if row < half || row - half >= self.h || !inside(row - half, self.h) {
                        continue;
                    }
                    for xp in (0..self.w).filter(|&xp| inside(xp, self.w)) {
                        let mean = self.band_value(None, dy, xp, (y, x));
                        if mean.is_finite() && best.as_ref().is_none_or(|b| mean > b.mean) {
                            best = Some(Evidence {
                                pos: (y, x),
                                depth: (0, dy, xp),
                                mean,
                            });
                        }
                    }
                }
            }
        }
        let mut best = best?;
        let (_, dy, xp) = best.depth;
        let channel = (0..self.c)
            .map(|c| (c, self.band(c, dy, xp, best.pos)))
            .filter(|(_, v)| v.is_finite())
            .fold(None, |acc: Option<(usize, f32)>, (c, v)| match acc {
                Some((_, bv)) if bv >= v => acc,
                _ => Some((c, v)),
            })
            .map_or(0, |(c, _)| c);
        best.depth.0 = channel;
        Some(best)
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

/// The strongest evidence of a pair: see [`Volume::strongest_evidence`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Evidence {
    /// The position of A.
    pub(super) pos: (usize, usize),
    /// `(c, dy, x')`: B's best-matching band cell, in the channel that correlates most there.
    pub(super) depth: (usize, usize, usize),
    /// The channel-averaged correlation at that cell.
    pub(super) mean: f32,
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

    /// A trace with the given xcorr values (pool2 all zeros: only the volume matters here).
    fn planted(
        c: usize,
        h: usize,
        w: usize,
        geo: &XcorrGeometry,
        set: &[(usize, usize, usize, usize, usize, f32)],
    ) -> Trace {
        let mut out = vec![0.0f32; geo.depth(c, w) * h * w];
        for &(ch, dy, xp, y, x, v) in set {
            out[(geo.depth_index(ch, dy, xp, w) * h + y) * w + x] = v;
        }
        let mut t = toy_trace(c, h, w, geo);
        t.maps[2].data = out;
        t
    }

    #[test]
    fn the_view_opens_on_the_strongest_interior_evidence() {
        let geo = XcorrGeometry::default(); // patch 5 (r = 2), band 5
        let (c, h, w) = (3, 10, 8);
        let trace = planted(
            c,
            h,
            w,
            &geo,
            &[
                // Position (4, 3), band cell (dy 1, x' 5): channels 0.3, 0.9, 0.6, mean 0.6.
                (0, 1, 5, 4, 3, 0.3),
                (1, 1, 5, 4, 3, 0.9),
                (2, 1, 5, 4, 3, 0.6),
                // One channel at 0.99 elsewhere: mean 0.33, weaker.
                (2, 2, 4, 6, 5, 0.99),
                // A border position (x 0) and a border band cell (x' 7): ignored.
                (0, 2, 3, 5, 0, 1.0),
                (1, 2, 3, 5, 0, 1.0),
                (2, 2, 3, 5, 0, 1.0),
                (0, 2, 7, 5, 4, 1.0),
                (1, 2, 7, 5, 4, 1.0),
                (2, 2, 7, 5, 4, 1.0),
                // Band row 2 + 0 - 2 = 0 lies on B's border: ignored.
                (0, 0, 4, 2, 4, 1.0),
                (1, 0, 4, 2, 4, 1.0),
                (2, 0, 4, 2, 4, 1.0),
            ],
        );
        let v = Volume::new(&trace, geo).unwrap_or_else(|e| panic!("{e}"));
        let e = v.strongest_evidence();
        assert_eq!(e.map(|e| (e.pos, e.depth)), Some(((4, 3), (1, 1, 5))));
        assert!(e.is_some_and(|e| (e.mean - 0.6).abs() < 1e-6));
    }

    #[test]
    fn small_maps_use_every_position() {
        let geo = XcorrGeometry::default();
        // 3 x 3 maps are narrower than a patch: borders are all there is.
        let trace = planted(1, 3, 3, &geo, &[(0, 2, 0, 0, 2, 0.5)]);
        let v = Volume::new(&trace, geo).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v.strongest_evidence().map(|e| (e.pos, e.depth)),
            Some(((0, 2), (0, 2, 0)))
        );
    }

    #[test]
    fn cells_map_to_rectangles_and_back() {
        let rect = Rect::from_min_size(pos2(10.0, 20.0), vec2(120.0, 370.0));
        let r = cell_rect(rect, 37, 12, 3.0, 4.0, 1.0, 1.0);
        assert_eq!(cell_at(rect, 37, 12, r.center()), Some((3, 4)));
        assert_eq!(cell_at(rect, 37, 12, pos2(0.0, 0.0)), None);
    }
}
