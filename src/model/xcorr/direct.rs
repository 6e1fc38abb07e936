//! The normalized correlation computed straight from its definition, in f64, on plain slices.
//!
//! This is the oracle every other implementation is tested against, and the source of the
//! "formula values" the Correlation view shows for one pair of patches. It is slow
//! (O(B C H W D W N)) and never used on a hot path.
//!
//! Definition (docs/network.md, the authors' formula): for X, Y of shape `[B, C, H, W]`,
//! patch side P (N = P*P values), band D rows, every `b, c, y, x`, `dy in 0..D`, `x' in 0..W`:
//! p = PxP patch of `X[b, c]` centred at (y, x), q = patch of `Y[b, c]` centred at
//! (y + dy - D/2, x'), both zero padded (q all zero when its centre row is outside the map);
//! sigma = sample std (N-1) + eps; `ncc = sum((p - mean p)(q - mean q)) / ((N-1) sigma_p sigma_q)`;
//! `out[b, c*D*W + dy*W + x', y, x] = ncc`.

/// Geometry of the correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XcorrGeometry {
    /// Patch side P (odd).
    pub patch: usize,
    /// Band height D in rows (odd).
    pub band: usize,
    /// Added to the patch std.
    pub eps: f32,
}

impl Default for XcorrGeometry {
    fn default() -> Self {
        Self {
            patch: 5,
            band: 5,
            eps: 0.01,
        }
    }
}

impl XcorrGeometry {
    /// Output depth for `c` channels of width `w`: `c * D * w`.
    pub fn depth(&self, c: usize, w: usize) -> usize {
        c * self.band * w
    }

    /// Output depth index of (channel, dy, x'): `c * D * W + dy * W + x'`.
    pub fn depth_index(&self, c: usize, dy: usize, xp: usize, w: usize) -> usize {
        c * self.band * w + dy * w + xp
    }

    /// Inverse of [`XcorrGeometry::depth_index`]: `(c, dy, x')`.
    pub fn split_depth(&self, d: usize, w: usize) -> (usize, usize, usize) {
        let per_c = self.band * w;
        (d / per_c, (d % per_c) / w, d % w)
    }
}

/// The values of one patch and its statistics, as the formula uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchStats {
    /// The P*P values, row-major, zeros where the patch leaves the map.
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation (N-1 denominator).
    pub std: f64,
    /// `std + eps`.
    pub sigma: f64,
}

/// One map `[H, W]` (a channel of X or Y) borrowed from a flat slice.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [f32],
    pub h: usize,
    pub w: usize,
}

impl Plane<'_> {
    /// Patch statistics centred at (row `cy`, column `cx`), which may lie outside the map.
    pub fn patch(&self, cy: isize, cx: isize, geo: &XcorrGeometry) -> PatchStats {
        let r = (geo.patch / 2) as isize;
        let n = geo.patch * geo.patch;
        let mut values = Vec::with_capacity(n);
        for py in cy - r..=cy + r {
            for px in cx - r..=cx + r {
                let inside = py >= 0 && px >= 0 && (py as usize) < self.h && (px as usize) < self.w;
                values.push(if inside {
                    f64::from(self.data[py as usize * self.w + px as usize])
                } else {
                    0.0
                });
            }
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let std = var.sqrt();
        PatchStats {
            values,
            mean,
            std,
            sigma: std + f64::from(geo.eps),
        }
    }
}

/// The normalized cross-correlation of two patches.
pub fn ncc(p: &PatchStats, q: &PatchStats) -> f64 {
    let n = p.values.len();
    let dot: f64 = p
        .values
        .iter()
        .zip(&q.values)
        .map(|(a, b)| (a - p.mean) * (b - q.mean))
        .sum();
    dot / ((n - 1) as f64 * p.sigma * q.sigma)
}

/// The patch of Y that `out[.., c*D*W + dy*W + x', y, ..]` compares against: all zeros when the
/// band row `y + dy - D/2` lies outside the map.
pub fn band_patch(
    y_plane: &Plane<'_>,
    y: usize,
    dy: usize,
    xp: usize,
    geo: &XcorrGeometry,
) -> PatchStats {
    let row = y as isize + dy as isize - (geo.band / 2) as isize;
    if row < 0 || row as usize >= y_plane.h {
        let n = geo.patch * geo.patch;
        return PatchStats {
            values: vec![0.0; n],
            mean: 0.0,
            std: 0.0,
            sigma: f64::from(geo.eps),
        };
    }
    y_plane.patch(row, xp as isize, geo)
}

/// The whole layer by definition: `x, y` are `[B, C, H, W]` flattened; returns
/// `[B, C*D*W, H, W]` flattened.
pub fn xcorr_direct(x: &[f32], y: &[f32], dims: [usize; 4], geo: &XcorrGeometry) -> Vec<f32> {
    let [b, c, h, w] = dims;
    let plane = h * w;
    let depth = geo.depth(c, w);
    let mut out = vec![0.0f32; b * depth * plane];
    for bi in 0..b {
        for ci in 0..c {
            let off = (bi * c + ci) * plane;
            let xp = Plane {
                data: &x[off..off + plane],
                h,
                w,
            };
            let yp = Plane {
                data: &y[off..off + plane],
                h,
                w,
            };
            for yy in 0..h {
                for xx in 0..w {
                    let p = xp.patch(yy as isize, xx as isize, geo);
                    for dy in 0..geo.band {
                        for xq in 0..w {
                            let q = band_patch(&yp, yy, dy, xq, geo);
                            let d = geo.depth_index(ci, dy, xq, w);
                            out[(bi * depth + d) * plane + yy * w + xx] = ncc(&p, &q) as f32;
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_patches_correlate_to_nearly_one() {
        // A 5x5 map with a gradient: the centre patch compared with itself.
        let data: Vec<f32> = (0..25).map(|i| (i * i % 7) as f32).collect();
        let plane = Plane {
            data: &data,
            h: 5,
            w: 5,
        };
        let geo = XcorrGeometry::default();
        let p = plane.patch(2, 2, &geo);
        // ncc(p, p) = var / sigma^2 = std^2 / (std + eps)^2, slightly below 1.
        let expect = p.std.powi(2) / p.sigma.powi(2);
        assert!((p.sigma - p.std - 0.01).abs() < 1e-8);
        assert!((ncc(&p, &p) - expect).abs() < 1e-12);
        assert!(ncc(&p, &p) < 1.0 && ncc(&p, &p) > 0.98);
    }

    #[test]
    fn flat_and_outside_patches_give_zero() {
        let data = vec![3.0f32; 36];
        let plane = Plane {
            data: &data,
            h: 6,
            w: 6,
        };
        let geo = XcorrGeometry::default();
        let p = plane.patch(2, 2, &geo);
        assert_eq!(p.std, 0.0);
        let q = band_patch(&plane, 0, 0, 1, &geo); // row -2: outside
        assert!(q.values.iter().all(|&v| v == 0.0));
        assert_eq!(ncc(&p, &q), 0.0);
    }

    #[test]
    fn depth_index_round_trips() {
        let geo = XcorrGeometry::default();
        for d in 0..1500 {
            let (c, dy, xp) = geo.split_depth(d, 12);
            assert_eq!(geo.depth_index(c, dy, xp, 12), d);
        }
        assert_eq!(geo.depth_index(3, 2, 7, 12), 3 * 60 + 2 * 12 + 7);
    }
}
