//! A small anti-aliased rasteriser on a floating-point RGB canvas: filled polygons (even-odd,
//! exact horizontal coverage, 4 sub-scanlines per row), ellipses, limbs (tapered capsules),
//! separable blur. Colours are `[f32; 3]` in 0..1.

/// An RGB colour with components in 0..1.
pub type Color = [f32; 3];

/// A point in canvas pixels (x right, y down; pixel `(i, j)` covers `[i, i+1) x [j, j+1)`).
pub type Pt = (f32, f32);

/// Sub-scanlines per pixel row for vertical anti-aliasing.
const SUB: usize = 4;

/// A floating-point RGB image.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// Row-major pixels.
    pub px: Vec<Color>,
    /// Scratch coverage row (reused between calls).
    cov: Vec<f32>,
}

/// Linear interpolation between two colours.
pub fn mix(a: Color, b: Color, t: f32) -> Color {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// A colour times a factor.
pub fn scale(c: Color, f: f32) -> Color {
    [c[0] * f, c[1] * f, c[2] * f]
}

impl Canvas {
    /// A canvas filled with one colour.
    pub fn new(w: usize, h: usize, fill: Color) -> Self {
        Self {
            w,
            h,
            px: vec![fill; w * h],
            cov: vec![0.0; w + 2],
        }
    }

    /// Blend `paint(x, y)` (evaluated at pixel centres) into the polygon's area with opacity `alpha`.
    pub fn fill_polygon(&mut self, pts: &[Pt], alpha: f32, paint: &dyn Fn(f32, f32) -> Color) {
        if pts.len() < 3 || alpha <= 0.0 {
            return;
        }
        let (mut y0, mut y1, mut x0, mut x1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in pts {
            y0 = y0.min(y);
            y1 = y1.max(y);
            x0 = x0.min(x);
            x1 = x1.max(x);
        }
        if !(y0.is_finite() && y1.is_finite() && x0.is_finite() && x1.is_finite()) {
            return;
        }
        let row0 = y0.floor().max(0.0) as usize;
        let row1 = (y1.ceil().max(0.0) as usize).min(self.h);
        let col0 = x0.floor().max(0.0) as usize;
        let col1 = (x1.ceil().max(0.0) as usize).min(self.w);
        if row0 >= row1 || col0 >= col1 {
            return;
        }
        let mut xs: Vec<f32> = Vec::with_capacity(8);
        let mut cov = std::mem::take(&mut self.cov);
        cov.resize(self.w + 2, 0.0);
        for row in row0..row1 {
            cov[col0..col1].iter_mut().for_each(|c| *c = 0.0);
            for s in 0..SUB {
                let sy = row as f32 + (s as f32 + 0.5) / SUB as f32;
                xs.clear();
                for i in 0..pts.len() {
                    let (ax, ay) = pts[i];
                    let (bx, by) = pts[(i + 1) % pts.len()];
                    if (ay <= sy) != (by <= sy) {
                        xs.push(ax + (sy - ay) / (by - ay) * (bx - ax));
                    }
                }
                xs.sort_unstable_by(f32::total_cmp);
                for span in xs.chunks_exact(2) {
                    let a = span[0].max(col0 as f32);
                    let b = span[1].min(col1 as f32);
                    if b <= a {
                        continue;
                    }
                    let first = a.floor() as usize;
                    let last = (b.ceil() as usize).min(col1);
                    for (px, c) in cov.iter_mut().enumerate().take(last).skip(first) {
                        let lo = a.max(px as f32);
                        let hi = b.min(px as f32 + 1.0);
                        if hi > lo {
                            *c += (hi - lo) / SUB as f32;
                        }
                    }
                }
            }
            for (col, &c) in cov.iter().enumerate().take(col1).skip(col0) {
                if c <= 0.0 {
                    continue;
                }
                let a = (c.min(1.0)) * alpha;
                let color = paint(col as f32 + 0.5, row as f32 + 0.5);
                let dst = &mut self.px[row * self.w + col];
                *dst = mix(*dst, color, a);
            }
        }
        self.cov = cov;
    }

    /// A filled ellipse centred at `c` with radii `rx`, `ry`, rotated by `angle` radians.
    pub fn fill_ellipse(
        &mut self,
        c: Pt,
        rx: f32,
        ry: f32,
        angle: f32,
        alpha: f32,
        paint: &dyn Fn(f32, f32) -> Color,
    ) {
        let pts = ellipse_points(c, rx, ry, angle, 24);
        self.fill_polygon(&pts, alpha, paint);
    }

    /// A tapered capsule from `a` (half-width `wa`) to `b` (half-width `wb`) with round ends:
    /// an arm or a leg segment.
    pub fn limb(&mut self, a: Pt, b: Pt, wa: f32, wb: f32, paint: &dyn Fn(f32, f32) -> Color) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt().max(1e-4);
        let (nx, ny) = (-dy / len, dx / len);
        let a0 = (a.0 + nx * wa, a.1 + ny * wa);
        let a1 = (a.0 - nx * wa, a.1 - ny * wa);
        let b0 = (b.0 + nx * wb, b.1 + ny * wb);
        let b1 = (b.0 - nx * wb, b.1 - ny * wb);
        // One outline: end caps as half-circles, so the overlap is not blended twice.
        let angle = dy.atan2(dx);
        let mut pts = vec![a0, b0];
        for i in 1..8 {
            let t = angle + std::f32::consts::FRAC_PI_2 - std::f32::consts::PI * i as f32 / 8.0;
            pts.push((b.0 + wb * t.cos(), b.1 + wb * t.sin()));
        }
        pts.push(b1);
        pts.push(a1);
        for i in 1..8 {
            let t = angle - std::f32::consts::FRAC_PI_2 - std::f32::consts::PI * i as f32 / 8.0;
            pts.push((a.0 + wa * t.cos(), a.1 + wa * t.sin()));
        }
        self.fill_polygon(&pts, 1.0, paint);
    }

    /// An axis-aligned rectangle.
    pub fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, alpha: f32, color: Color) {
        self.fill_polygon(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], alpha, &|_, _| {
            color
        });
    }

    /// Separable box blur of the given radius (call twice or more for a smoother, Gaussian-like
    /// result). Edges are clamped.
    pub fn box_blur(&mut self, radius: usize) {
        if radius == 0 || self.w == 0 || self.h == 0 {
            return;
        }
        let (w, h) = (self.w, self.h);
        let mut tmp = vec![[0.0f32; 3]; w * h];
        let n = (2 * radius + 1) as f32;
        for y in 0..h {
            let row = &self.px[y * w..(y + 1) * w];
            for x in 0..w {
                let mut s = [0.0f32; 3];
                for k in 0..=2 * radius {
                    let xi = (x + k).saturating_sub(radius).min(w - 1);
                    for c in 0..3 {
                        s[c] += row[xi][c];
                    }
                }
                tmp[y * w + x] = scale(s, 1.0 / n);
            }
        }
        for x in 0..w {
            for y in 0..h {
                let mut s = [0.0f32; 3];
                for k in 0..=2 * radius {
                    let yi = (y + k).saturating_sub(radius).min(h - 1);
                    for c in 0..3 {
                        s[c] += tmp[yi * w + x][c];
                    }
                }
                self.px[y * w + x] = scale(s, 1.0 / n);
            }
        }
    }

    /// A light 3-tap blur `[t, 1-2t, t]` in both directions (defocus below one pixel).
    pub fn soften(&mut self, t: f32) {
        if t <= 0.0 || self.w < 2 || self.h < 2 {
            return;
        }
        let (w, h) = (self.w, self.h);
        let src = self.px.clone();
        let k = [t, 1.0 - 2.0 * t, t];
        let mut tmp = src.clone();
        for y in 0..h {
            for x in 0..w {
                let xs = [x.saturating_sub(1), x, (x + 1).min(w - 1)];
                let mut s = [0.0f32; 3];
                for (i, &xi) in xs.iter().enumerate() {
                    for c in 0..3 {
                        s[c] += k[i] * src[y * w + xi][c];
                    }
                }
                tmp[y * w + x] = s;
            }
        }
        for y in 0..h {
            let ys = [y.saturating_sub(1), y, (y + 1).min(h - 1)];
            for x in 0..w {
                let mut s = [0.0f32; 3];
                for (i, &yi) in ys.iter().enumerate() {
                    for c in 0..3 {
                        s[c] += k[i] * tmp[yi * w + x][c];
                    }
                }
                self.px[y * w + x] = s;
            }
        }
    }

    /// Convert to 8-bit RGB (values clamped).
    pub fn to_rgb(&self) -> image::RgbImage {
        let mut raw = Vec::with_capacity(self.w * self.h * 3);
        for p in &self.px {
            for c in p {
                raw.push((c * 255.0).round().clamp(0.0, 255.0) as u8);
            }
        }
        image::RgbImage::from_raw(self.w as u32, self.h as u32, raw)
            .unwrap_or_else(|| image::RgbImage::new(self.w as u32, self.h as u32))
    }
}

/// Vertices of an ellipse.
pub fn ellipse_points(c: Pt, rx: f32, ry: f32, angle: f32, n: usize) -> Vec<Pt> {
    let (s, co) = angle.sin_cos();
    (0..n)
        .map(|i| {
            let t = std::f32::consts::TAU * i as f32 / n as f32;
            let (x, y) = (rx * t.cos(), ry * t.sin());
            (c.0 + x * co - y * s, c.1 + x * s + y * co)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn polygon_coverage_is_exact_for_aligned_and_half_pixels() {
        let mut c = Canvas::new(6, 4, [0.0; 3]);
        c.fill_rect(1.0, 1.0, 3.5, 3.0, 1.0, [1.0; 3]);
        let v = |c: &Canvas, x: usize, y: usize| c.px[y * c.w + x][0];
        assert_eq!(v(&c, 0, 1), 0.0);
        assert!((v(&c, 1, 1) - 1.0).abs() < 1e-6);
        assert!((v(&c, 2, 2) - 1.0).abs() < 1e-6);
        assert!((v(&c, 3, 2) - 0.5).abs() < 1e-6);
        assert_eq!(v(&c, 1, 3), 0.0);
        // Area is preserved by anti-aliasing: an ellipse of radius 2 covers about 4 pi pixels.
        let mut e = Canvas::new(10, 10, [0.0; 3]);
        e.fill_ellipse((5.0, 5.0), 2.0, 2.0, 0.3, 1.0, &|_, _| [1.0; 3]);
        let area: f32 = e.px.iter().map(|p| p[0]).sum();
        assert!((area - 4.0 * std::f32::consts::PI).abs() < 0.4, "{area}");
    }

    #[test]
    fn blur_keeps_mean_of_flat_image() {
        let mut c = Canvas::new(5, 7, [0.25, 0.5, 0.75]);
        c.box_blur(2);
        c.soften(0.2);
        for p in &c.px {
            assert!((p[1] - 0.5).abs() < 1e-5);
        }
    }
}
