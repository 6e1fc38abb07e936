//! Cameras: every camera of a synthetic dataset has its own look (illumination, colour cast,
//! gamma, resolution, blur, noise, JPEG quality, background, preferred viewpoints, framing), and
//! every frame adds its own jitter (walking pose, clutter, occlusion, box misalignment).

use image::RgbImage;
use image::imageops::FilterType;
use rand::Rng;

use super::clothing::Appearance;
use super::person::{Placement, Pose, View, draw_person};
use super::raster::{Canvas, Color, mix, scale};

/// The fixed look of one camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraProfile {
    /// Overall brightness.
    pub gain: f32,
    /// Per-channel colour cast (white balance).
    pub cast: [f32; 3],
    /// Gamma applied after gain.
    pub gamma: f32,
    /// Contrast around mid-grey.
    pub contrast: f32,
    /// Sensor resolution relative to the crop (below 1: rendered small and upscaled, soft).
    pub resolution: f32,
    /// Defocus (0..0.3, a 3-tap blur weight).
    pub blur: f32,
    /// Noise standard deviation (0..1 scale).
    pub noise: f32,
    /// JPEG quality of its files.
    pub jpeg_quality: u8,
    /// Floor colour.
    pub ground: Color,
    /// Wall / far background colour.
    pub wall: Color,
    /// Clutter colours (signs, windows, poles, passers-by).
    pub clutter: [Color; 4],
    /// Where the floor starts, as a fraction of the height.
    pub horizon: f32,
    /// Relative frequency of front, back, left and right views.
    pub view_weights: [f32; 4],
    /// Person height as a fraction of the crop height.
    pub person_scale: f32,
}

fn rand_color<R: Rng + ?Sized>(rng: &mut R, lo: f32, hi: f32) -> Color {
    [
        rng.random_range(lo..hi),
        rng.random_range(lo..hi),
        rng.random_range(lo..hi),
    ]
}

impl CameraProfile {
    /// Draw a camera.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let warm = rng.random_range(-0.12f32..0.12);
        let green = rng.random_range(-0.05f32..0.05);
        let grey = rng.random_range(0.3..0.75);
        let tint = rand_color(rng, -0.08, 0.08);
        let wall = [
            (grey + tint[0]).clamp(0.0, 1.0),
            (grey + tint[1]).clamp(0.0, 1.0),
            (grey + tint[2]).clamp(0.0, 1.0),
        ];
        let g = rng.random_range(0.25..0.6);
        let ground = mix([g, g, g], rand_color(rng, 0.2, 0.6), 0.3);
        let mut view_weights = [0.0f32; 4];
        for w in &mut view_weights {
            *w = rng.random_range(0.1..1.0);
        }
        // Most cameras look along a corridor: one of front or back dominates.
        view_weights[rng.random_range(0..2)] += 1.2;
        Self {
            gain: rng.random_range(0.7..1.25),
            cast: [1.0 + warm, 1.0 + green, 1.0 - warm],
            gamma: rng.random_range(0.8..1.25),
            contrast: rng.random_range(0.8..1.1),
            resolution: if rng.random_bool(0.35) {
                rng.random_range(0.5..0.8)
            } else {
                1.0
            },
            blur: rng.random_range(0.0..0.22),
            noise: rng.random_range(0.005..0.04),
            jpeg_quality: rng.random_range(72..=95),
            ground,
            wall,
            clutter: [
                rand_color(rng, 0.05, 0.95),
                rand_color(rng, 0.05, 0.95),
                rand_color(rng, 0.1, 0.5),
                rand_color(rng, 0.5, 0.95),
            ],
            horizon: rng.random_range(0.45..0.75),
            view_weights,
            person_scale: rng.random_range(0.8..0.93),
        }
    }

    /// Draw a viewpoint from this camera's preferences.
    pub fn view<R: Rng + ?Sized>(&self, rng: &mut R) -> View {
        let total: f32 = self.view_weights.iter().sum();
        let mut t = rng.random_range(0.0..total.max(1e-3));
        for (i, w) in self.view_weights.iter().enumerate() {
            if t < *w {
                return [View::Front, View::Back, View::Left, View::Right][i];
            }
            t -= w;
        }
        View::Front
    }
}

/// Background: wall, floor, clutter (windows, signs, poles, blurred passers-by).
fn background<R: Rng + ?Sized>(c: &mut Canvas, cam: &CameraProfile, rng: &mut R) {
    let (w, h) = (c.w as f32, c.h as f32);
    let horizon = (cam.horizon + rng.random_range(-0.05..0.05)) * h;
    let ground = cam.ground;
    let wall = cam.wall;
    c.fill_rect(0.0, 0.0, w, horizon, 1.0, wall);
    c.fill_polygon(
        &[(0.0, horizon), (w, horizon), (w, h), (0.0, h)],
        1.0,
        &|_, y| scale(ground, 0.85 + 0.3 * (y - horizon) / (h - horizon).max(1.0)),
    );
    let n = rng.random_range(2..7);
    for _ in 0..n {
        let color = cam.clutter[rng.random_range(0..4)];
        let color = mix(color, wall, rng.random_range(0.0..0.5));
        match rng.random_range(0..4) {
            0 => {
                // A pole or door frame.
                let x = rng.random_range(0.0..w);
                let bw = rng.random_range(1.5..w * 0.12);
                c.fill_rect(
                    x,
                    0.0,
                    x + bw,
                    horizon + rng.random_range(0.0..h * 0.2),
                    1.0,
                    color,
                );
            }
            1 => {
                // A window or sign.
                let x = rng.random_range(-0.2 * w..w);
                let y = rng.random_range(0.0..horizon * 0.9);
                let (bw, bh) = (
                    rng.random_range(0.2..0.7) * w,
                    rng.random_range(0.05..0.25) * h,
                );
                c.fill_rect(x, y, x + bw, y + bh, 1.0, color);
            }
            2 => {
                // A distant passer-by: a blurred dark figure.
                let x = rng.random_range(0.0..w);
                let ph = rng.random_range(0.25..0.5) * h;
                let y = horizon - ph * 0.8;
                c.fill_ellipse(
                    (x, y + ph * 0.1),
                    ph * 0.07,
                    ph * 0.09,
                    0.0,
                    0.9,
                    &|_, _| scale(color, 0.7),
                );
                c.fill_rect(
                    x - ph * 0.12,
                    y + ph * 0.18,
                    x + ph * 0.12,
                    y + ph,
                    0.9,
                    color,
                );
            }
            _ => {
                // A floor marking or tile edge.
                let y = rng.random_range(horizon..h);
                let t = rng.random_range(1.0..3.0);
                c.fill_rect(0.0, y, w, y + t, 0.6, mix(ground, color, 0.5));
            }
        }
    }
    c.soften(0.25);
}

/// Something between the camera and the person, covering part of them.
fn occluder<R: Rng + ?Sized>(c: &mut Canvas, cam: &CameraProfile, rng: &mut R) {
    let (w, h) = (c.w as f32, c.h as f32);
    let color = mix(cam.clutter[rng.random_range(0..4)], cam.ground, 0.3);
    match rng.random_range(0..3) {
        0 => {
            let x = rng.random_range(0.0..w);
            let bw = rng.random_range(0.1..0.25) * w;
            c.fill_rect(x - bw / 2.0, 0.0, x + bw / 2.0, h, 1.0, color);
        }
        1 => {
            // A box, bin or car bonnet across the bottom.
            let top = h * rng.random_range(0.7..0.85);
            c.fill_polygon(
                &[
                    (0.0, top + rng.random_range(-4.0..4.0)),
                    (w, top),
                    (w, h),
                    (0.0, h),
                ],
                1.0,
                &|_, y| scale(color, 1.0 - 0.3 * (y - top) / h),
            );
        }
        _ => {
            // Another pedestrian's shoulder entering from a side.
            let side = if rng.random_bool(0.5) { 0.0 } else { w };
            let cy = h * rng.random_range(0.3..0.7);
            c.fill_ellipse(
                (side, cy),
                w * rng.random_range(0.2..0.35),
                h * 0.3,
                0.0,
                1.0,
                &|_, _| color,
            );
        }
    }
}

/// Render one frame of `app` by camera `cam` at `width` x `height`.
pub fn render_frame<R: Rng + ?Sized>(
    app: &Appearance,
    cam: &CameraProfile,
    rng: &mut R,
    width: u32,
    height: u32,
) -> RgbImage {
    let res = cam.resolution;
    let (rw, rh) = if res < 1.0 {
        (
            ((width as f32 * res).round() as usize).max(8),
            ((height as f32 * res).round() as usize).max(16),
        )
    } else {
        (width as usize, height as usize)
    };
    let mut c = Canvas::new(rw, rh, cam.wall);
    background(&mut c, cam, rng);
    let (w, h) = (rw as f32, rh as f32);
    let ph = h * cam.person_scale * rng.random_range(0.93..1.05);
    let at = Placement {
        cx: w / 2.0 + rng.random_range(-0.08..0.08) * w,
        top: (h - ph) / 2.0 + rng.random_range(-0.05..0.05) * h,
        height: ph,
    };
    let pose = Pose {
        view: cam.view(rng),
        phase: rng.random_range(0.0..std::f32::consts::TAU),
        stride: rng.random_range(0.3..1.0),
    };
    // Shadow under the feet.
    let feet = at.top + ph * 0.99 * app.height;
    c.fill_ellipse((at.cx, feet), ph * 0.11, ph * 0.022, 0.0, 0.35, &|_, _| {
        [0.0; 3]
    });
    draw_person(&mut c, app, &pose, &at);
    if rng.random_bool(0.15) {
        occluder(&mut c, cam, rng);
    }
    // Optics and sensor.
    let light = rng.random_range(0.9..1.1) * cam.gain;
    let slope = rng.random_range(-0.15f32..0.15);
    let inv_gamma = 1.0 / cam.gamma;
    for (i, p) in c.px.iter_mut().enumerate() {
        let y = (i / rw) as f32 / h - 0.5;
        let l = light * (1.0 + slope * y);
        for (v, cast) in p.iter_mut().zip(cam.cast) {
            let lit = (*v * cast * l).clamp(0.0, 1.0).powf(inv_gamma);
            *v = (lit - 0.5) * cam.contrast + 0.5;
        }
    }
    c.soften(cam.blur);
    let sigma = cam.noise;
    for p in &mut c.px {
        let shared = (rng.random::<f32>() + rng.random::<f32>() - 1.0) * sigma * 1.7;
        for v in p.iter_mut() {
            *v += shared + (rng.random::<f32>() - 0.5) * sigma;
        }
    }
    let img = c.to_rgb();
    if (rw, rh) == (width as usize, height as usize) {
        img
    } else {
        image::imageops::resize(&img, width, height, FilterType::Triangle)
    }
}
