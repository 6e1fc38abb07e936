//! Drawing one pedestrian: head, hair, torso, arms, legs, shoes, clothing and accessories, seen
//! from the front, the back or a side, in a walking pose.
//!
//! Body coordinates are in body heights: `bx` across (0 = centre line, + = image right), `by` down
//! (0 = top of the head, 1 = soles).

use super::accessories::{draw_bag, draw_hair, draw_hat};
use super::clothing::{Appearance, BottomKind, Pattern};
use super::raster::{Canvas, Color, Pt, scale};

/// Where the camera sees the person from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Walking towards the camera.
    Front,
    /// Walking away.
    Back,
    /// Profile, facing image left.
    Left,
    /// Profile, facing image right.
    Right,
}

impl View {
    pub(super) fn is_side(self) -> bool {
        matches!(self, View::Left | View::Right)
    }
    /// +1 when facing image right, -1 facing left, 0 for front / back.
    pub(super) fn facing(self) -> f32 {
        match self {
            View::Left => -1.0,
            View::Right => 1.0,
            _ => 0.0,
        }
    }
}

/// Pose of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Viewpoint.
    pub view: View,
    /// Walking cycle phase in radians.
    pub phase: f32,
    /// Stride amplitude (0 = standing, 1 = a brisk walk).
    pub stride: f32,
}

/// Where the person stands in the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Centre line, pixels.
    pub cx: f32,
    /// Top of the head, pixels.
    pub top: f32,
    /// Body height, pixels.
    pub height: f32,
}

/// Maps body coordinates to pixels and back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub cx: f32,
    pub top: f32,
    pub h: f32,
}

impl Frame {
    pub fn p(&self, bx: f32, by: f32) -> Pt {
        (self.cx + bx * self.h, self.top + by * self.h)
    }
    pub fn body(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.cx) / self.h, (y - self.top) / self.h)
    }
}

/// Cylindrical shading across a part: `u` in 0..1 across it.
pub(super) fn shade(c: Color, u: f32) -> Color {
    let d = (2.0 * u - 1.0).clamp(-1.0, 1.0);
    scale(c, 1.05 - 0.35 * d * d)
}

/// Paint a limb with cylindrical shading across its axis.
fn limb(canvas: &mut Canvas, f: &Frame, a: (f32, f32), b: (f32, f32), wa: f32, wb: f32, c: Color) {
    let pa = f.p(a.0, a.1);
    let pb = f.p(b.0, b.1);
    let (dx, dy) = (pb.0 - pa.0, pb.1 - pa.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (nx, ny) = (-dy / len, dx / len);
    let half = (wa.max(wb) * f.h).max(0.5);
    canvas.limb(pa, pb, wa * f.h, wb * f.h, &move |x, y| {
        let t = ((x - pa.0) * nx + (y - pa.1) * ny) / half;
        shade(c, 0.5 + 0.5 * t)
    });
}

/// Draw `app` in `pose` at `at`.
pub fn draw_person(canvas: &mut Canvas, app: &Appearance, pose: &Pose, at: &Placement) {
    let f = Frame {
        cx: at.cx,
        top: at.top + at.height * 0.008 * (pose.phase * 2.0).cos().abs(),
        h: at.height * app.height,
    };
    let side = pose.view.is_side();
    let dir = pose.view.facing();
    let front = pose.view == View::Front;
    let b = app.build;
    let sw = if side { 0.062 * b } else { 0.112 * b };
    let waist = if side { 0.055 * b } else { 0.082 * b };
    let hip = if side { 0.06 * b } else { 0.088 * b };
    let s = pose.phase.sin();
    let swing = 0.38 * pose.stride * s;

    // Leg joints: (hip, knee, ankle) per leg; index 0 is the far / left leg.
    let legs: [[(f32, f32); 3]; 2] = std::array::from_fn(|i| {
        let sign = if i == 0 { -1.0 } else { 1.0 };
        if side {
            let theta = sign * swing;
            let hip_j = (0.0, 0.5);
            let knee = (
                hip_j.0 + dir * 0.22 * theta.sin(),
                hip_j.1 + 0.22 * theta.cos(),
            );
            let bend = 0.5 * pose.stride * (sign * s).min(0.0).abs();
            let ankle = (
                knee.0 + dir * 0.22 * (theta - bend).sin(),
                knee.1 + 0.22 * (theta - bend).cos(),
            );
            [hip_j, knee, ankle]
        } else {
            let lift = 0.018 * pose.stride * sign * s;
            let x = sign * 0.045 * b;
            [
                (x, 0.5),
                (x * 1.05, 0.72 - lift),
                (x * 1.08, 0.945 - 1.6 * lift),
            ]
        }
    });
    // Arm joints: (shoulder, elbow, wrist).
    let arms: [[(f32, f32); 3]; 2] = std::array::from_fn(|i| {
        let sign = if i == 0 { -1.0 } else { 1.0 };
        if side {
            let alpha = -sign * swing * 1.1;
            let sh = (0.0, 0.18);
            let el = (sh.0 + dir * 0.15 * alpha.sin(), sh.1 + 0.15 * alpha.cos());
            let fa = alpha + dir.abs() * 0.25 * pose.stride;
            let wr = (el.0 + dir * 0.14 * fa.sin(), el.1 + 0.14 * fa.cos());
            [sh, el, wr]
        } else {
            let lift = 0.02 * pose.stride * -sign * s;
            let x = sign * (sw - 0.018);
            [
                (x, 0.18),
                (x + sign * 0.022, 0.33 - lift),
                (x + sign * 0.03, 0.46 - 2.0 * lift),
            ]
        }
    });
    // In a side view the far limbs are darker (in shadow) and drawn first.
    let far = 0.78;
    let top_c = app.top.color;
    let bottom_c = app.bottom.color;
    let leg_upper = match app.bottom.kind {
        BottomKind::Trousers | BottomKind::Shorts => bottom_c,
        BottomKind::Skirt => app.skin,
    };
    let leg_lower = match app.bottom.kind {
        BottomKind::Trousers => bottom_c,
        _ => app.skin,
    };
    let draw_leg = |canvas: &mut Canvas, j: &[(f32, f32); 3], dim: f32| {
        limb(
            canvas,
            &f,
            j[0],
            j[1],
            0.042 * b,
            0.031 * b,
            scale(leg_upper, dim),
        );
        limb(
            canvas,
            &f,
            j[1],
            j[2],
            0.03 * b,
            0.022 * b,
            scale(leg_lower, dim),
        );
        let toe = if side { dir * 0.045 } else { 0.0 };
        let shoe_c = scale(app.bottom.shoes, dim);
        let (cx, cy) = f.p(j[2].0 + toe * 0.5, j[2].1 + 0.028);
        let rx = if side { 0.05 } else { 0.03 } * f.h;
        canvas.fill_ellipse((cx, cy), rx, 0.02 * f.h, 0.0, 1.0, &|_, _| shoe_c);
    };
    let sleeve_lower = if app.top.long_sleeves {
        top_c
    } else {
        app.skin
    };
    let draw_arm = |canvas: &mut Canvas, j: &[(f32, f32); 3], dim: f32| {
        limb(
            canvas,
            &f,
            j[0],
            j[1],
            0.03 * b,
            0.026 * b,
            scale(top_c, dim),
        );
        limb(
            canvas,
            &f,
            j[1],
            j[2],
            0.025 * b,
            0.02 * b,
            scale(sleeve_lower, dim),
        );
        let (hx, hy) = f.p(j[2].0, j[2].1 + 0.015);
        let skin = scale(app.skin, dim);
        canvas.fill_ellipse((hx, hy), 0.02 * f.h, 0.024 * f.h, 0.0, 1.0, &|_, _| skin);
    };

    // Backpack behind the body in front view (only straps show); bag behind in side view if far.
    if side {
        draw_arm(canvas, &arms[0], far);
        draw_leg(canvas, &legs[0], far);
        draw_leg(canvas, &legs[1], 1.0);
    } else {
        draw_leg(canvas, &legs[0], 1.0);
        draw_leg(canvas, &legs[1], 1.0);
    }

    // Hips: trousers / shorts top or a skirt.
    let hem = 0.5 + app.top.length;
    match app.bottom.kind {
        BottomKind::Skirt => {
            let pts = [
                f.p(-waist, 0.44),
                f.p(waist, 0.44),
                f.p(hip * 1.6, 0.66),
                f.p(-hip * 1.6, 0.66),
            ];
            canvas.fill_polygon(&pts, 1.0, &|x, y| {
                let (bx, _) = f.body(x, y);
                shade(bottom_c, 0.5 + bx / (hip * 3.2))
            });
        }
        _ => {
            let pts = [
                f.p(-waist, 0.44),
                f.p(waist, 0.44),
                f.p(hip, 0.53),
                f.p(-hip, 0.53),
            ];
            canvas.fill_polygon(&pts, 1.0, &|x, y| {
                let (bx, _) = f.body(x, y);
                shade(bottom_c, 0.5 + bx / (hip * 2.0))
            });
        }
    }

    // Torso with the garment pattern.
    let torso = [
        f.p(-sw * 0.8, 0.145),
        f.p(sw * 0.8, 0.145),
        f.p(sw, 0.175),
        f.p(waist, 0.42),
        f.p(hip * 1.02, hem),
        f.p(-hip * 1.02, hem),
        f.p(-waist, 0.42),
        f.p(-sw, 0.175),
    ];
    let top = app.top;
    let pattern_front = front && top.open_jacket.is_none();
    canvas.fill_polygon(&torso, 1.0, &|x, y| {
        let (bx, by) = f.body(x, y);
        let u = 0.5 + bx / (2.0 * sw);
        let v = (by - 0.145) / (hem - 0.145);
        let mut c = top.pattern.color_at(top.color, u, v, pattern_front);
        if let (Some(inner), true) = (top.open_jacket, front)
            && bx.abs() < 0.028 * b
        {
            c = top.pattern.color_at(inner, u, v, true);
            if matches!(top.pattern, Pattern::Solid) {
                c = inner;
            }
        }
        if side {
            // The back of a jacket is a little darker than its front.
            let towards = bx * dir;
            c = scale(c, if towards < 0.0 { 0.92 } else { 1.0 });
        }
        shade(c, u)
    });

    // Backpack / bags.
    if let Some(bag) = app.bag {
        draw_bag(canvas, &f, bag, pose.view, app.bag_side, sw, b, &arms);
    }

    // Near arm(s).
    if side {
        draw_arm(canvas, &arms[1], 1.0);
    } else {
        draw_arm(canvas, &arms[0], 1.0);
        draw_arm(canvas, &arms[1], 1.0);
    }

    // Neck and head.
    let neck = f.p(0.0, 0.135);
    let skin = app.skin;
    canvas.fill_rect(
        neck.0 - 0.022 * f.h,
        neck.1 - 0.02 * f.h,
        neck.0 + 0.022 * f.h,
        neck.1 + 0.02 * f.h,
        1.0,
        scale(skin, 0.85),
    );
    let head_c = f.p(dir * 0.006, 0.066);
    let (hrx, hry) = (if side { 0.05 } else { 0.046 } * f.h, 0.064 * f.h);
    canvas.fill_ellipse(head_c, hrx, hry, 0.0, 1.0, &|x, _| {
        shade(skin, 0.5 + (x - head_c.0) / (2.0 * hrx))
    });
    draw_hair(canvas, app, pose.view, head_c, hrx, hry);
    if front {
        // Eyes and mouth: a hint of a face.
        let eye = scale(skin, 0.35);
        for sx in [-1.0, 1.0] {
            let (ex, ey) = (head_c.0 + sx * 0.018 * f.h, head_c.1 - 0.002 * f.h);
            canvas.fill_ellipse((ex, ey), 0.007 * f.h, 0.005 * f.h, 0.0, 0.8, &|_, _| eye);
        }
    } else if side {
        let eye = scale(skin, 0.35);
        let (ex, ey) = (head_c.0 + dir * 0.03 * f.h, head_c.1 - 0.002 * f.h);
        canvas.fill_ellipse((ex, ey), 0.006 * f.h, 0.005 * f.h, 0.0, 0.8, &|_, _| eye);
    }
    if let Some(hat) = app.hat {
        draw_hat(canvas, hat, pose.view, head_c, hrx, hry);
    }
}
