//! Hair, hats and bags: drawn on top of (or, for a backpack seen from behind, over) the body.

use super::clothing::{Appearance, Bag, HairStyle, Hat};
use super::person::{Frame, View, shade};
use super::raster::{Canvas, Pt, mix, scale};

pub(super) fn draw_hair(
    canvas: &mut Canvas,
    app: &Appearance,
    view: View,
    head: Pt,
    rx: f32,
    ry: f32,
) {
    let hair = app.hair;
    let paint = move |x: f32, _y: f32| shade(hair, 0.5 + (x - head.0) / (2.4 * rx));
    if app.hair_style == HairStyle::Bald {
        return;
    }
    let dir = view.facing();
    match view {
        View::Back => {
            canvas.fill_ellipse(
                (head.0, head.1 - 0.05 * ry),
                rx * 1.06,
                ry * 1.0,
                0.0,
                1.0,
                &paint,
            );
        }
        _ => {
            // A cap of hair over the top of the head, shifted to the back of the head from a side.
            let shift = -dir * 0.25 * rx;
            let pts: Vec<Pt> = (0..=12)
                .map(|i| {
                    let t = std::f32::consts::PI * (1.0 + i as f32 / 12.0);
                    (
                        head.0 + shift * 0.3 + rx * 1.08 * t.cos(),
                        head.1 - 0.15 * ry + ry * 0.95 * t.sin(),
                    )
                })
                .chain([
                    (head.0 + rx * 1.05, head.1 - 0.1 * ry),
                    (head.0 - rx * 1.05, head.1 - 0.1 * ry),
                ])
                .collect();
            canvas.fill_polygon(&pts, 1.0, &paint);
            if view.is_side() {
                // The back of the head is hair too.
                canvas.fill_ellipse(
                    (head.0 + shift, head.1),
                    rx * 0.75,
                    ry * 0.9,
                    0.0,
                    1.0,
                    &paint,
                );
            }
        }
    }
    match app.hair_style {
        HairStyle::Long => {
            let down = if view == View::Front { 0.6 } else { 1.0 };
            let w = rx * if view.is_side() { 0.8 } else { 1.1 };
            let cx = head.0 - dir * 0.3 * rx;
            let pts = [
                (cx - w, head.1),
                (cx + w, head.1),
                (cx + w * 1.05, head.1 + ry * (1.0 + down)),
                (cx - w * 1.05, head.1 + ry * (1.0 + down)),
            ];
            if view == View::Front {
                // Only the sides show beside the face.
                for sx in [-1.0f32, 1.0] {
                    let x0 = head.0 + sx * rx * 0.75;
                    let x1 = head.0 + sx * rx * 1.12;
                    let quad = [
                        (x0.min(x1), head.1 - 0.2 * ry),
                        (x0.max(x1), head.1 - 0.2 * ry),
                        (x0.max(x1), head.1 + ry * 1.5),
                        (x0.min(x1), head.1 + ry * 1.5),
                    ];
                    canvas.fill_polygon(&quad, 1.0, &paint);
                }
            } else {
                canvas.fill_polygon(&pts, 1.0, &paint);
            }
        }
        HairStyle::Ponytail if view != View::Front => {
            let cx = head.0 - dir * rx * 1.05;
            canvas.fill_ellipse(
                (cx, head.1 + ry * 0.7),
                rx * 0.35,
                ry * 0.65,
                0.2 * dir,
                1.0,
                &paint,
            );
        }
        _ => {}
    }
}

pub(super) fn draw_hat(canvas: &mut Canvas, hat: Hat, view: View, head: Pt, rx: f32, ry: f32) {
    let dir = view.facing();
    match hat {
        Hat::Cap(c) => {
            canvas.fill_ellipse(
                (head.0, head.1 - 0.55 * ry),
                rx * 1.08,
                ry * 0.5,
                0.0,
                1.0,
                &|x, _| shade(c, 0.5 + (x - head.0) / (2.4 * rx)),
            );
            let visor = scale(c, 0.8);
            match view {
                View::Front => canvas.fill_ellipse(
                    (head.0, head.1 - 0.3 * ry),
                    rx * 0.95,
                    ry * 0.14,
                    0.0,
                    1.0,
                    &|_, _| visor,
                ),
                View::Back => {}
                _ => canvas.fill_ellipse(
                    (head.0 + dir * rx * 1.1, head.1 - 0.35 * ry),
                    rx * 0.6,
                    ry * 0.1,
                    0.0,
                    1.0,
                    &|_, _| visor,
                ),
            }
        }
        Hat::Beanie(c) => {
            let band = mix(c, [1.0; 3], 0.15);
            canvas.fill_ellipse(
                (head.0, head.1 - 0.45 * ry),
                rx * 1.1,
                ry * 0.65,
                0.0,
                1.0,
                &|x, y| {
                    let v = (y - (head.1 - 0.45 * ry)) / (ry * 0.65);
                    shade(
                        if v > 0.45 { band } else { c },
                        0.5 + (x - head.0) / (2.4 * rx),
                    )
                },
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn draw_bag(
    canvas: &mut Canvas,
    f: &Frame,
    bag: Bag,
    view: View,
    bag_side: f32,
    sw: f32,
    b: f32,
    arms: &[[(f32, f32); 3]; 2],
) {
    let dir = view.facing();
    // The bag side in image coordinates: a person's right is image left when they face us.
    let image_side = match view {
        View::Front => -bag_side,
        View::Back => bag_side,
        _ => -dir,
    };
    match bag {
        Bag::Backpack(c) => {
            let strap = scale(c, 0.7);
            match view {
                View::Front => {
                    for sx in [-1.0, 1.0] {
                        let pts = [
                            f.p(sx * sw * 0.55, 0.16),
                            f.p(sx * sw * 0.75, 0.16),
                            f.p(sx * sw * 0.8, 0.36),
                            f.p(sx * sw * 0.6, 0.36),
                        ];
                        canvas.fill_polygon(&pts, 1.0, &|_, _| strap);
                    }
                }
                View::Back => {
                    let pts = [
                        f.p(-sw * 0.85, 0.19),
                        f.p(sw * 0.85, 0.19),
                        f.p(sw * 0.9, 0.43),
                        f.p(-sw * 0.9, 0.43),
                    ];
                    canvas.fill_polygon(&pts, 1.0, &|x, _| {
                        shade(c, 0.5 + (x - f.cx) / (2.0 * sw * f.h))
                    });
                    let pocket = scale(c, 0.8);
                    let pts = [
                        f.p(-sw * 0.55, 0.32),
                        f.p(sw * 0.55, 0.32),
                        f.p(sw * 0.6, 0.41),
                        f.p(-sw * 0.6, 0.41),
                    ];
                    canvas.fill_polygon(&pts, 1.0, &|_, _| pocket);
                }
                _ => {
                    let x0 = -dir * sw;
                    let x1 = -dir * (sw + 0.07 * b);
                    let pts = [f.p(x0, 0.19), f.p(x1, 0.2), f.p(x1, 0.42), f.p(x0, 0.43)];
                    canvas.fill_polygon(&pts, 1.0, &|_, _| c);
                }
            }
        }
        Bag::Shoulder(c) => {
            let strap = scale(c, 0.6);
            if !view.is_side() {
                // A strap across the chest from the opposite shoulder to the bag.
                let pts = [
                    f.p(-image_side * sw * 0.7, 0.16),
                    f.p(-image_side * sw * 0.45, 0.16),
                    f.p(image_side * sw * 0.95, 0.45),
                    f.p(image_side * sw * 0.7, 0.47),
                ];
                canvas.fill_polygon(&pts, 1.0, &|_, _| strap);
            }
            let x = if view.is_side() {
                0.0
            } else {
                image_side * (sw + 0.02)
            };
            let pts = [
                f.p(x - 0.045, 0.44),
                f.p(x + 0.045, 0.44),
                f.p(x + 0.05, 0.55),
                f.p(x - 0.05, 0.55),
            ];
            canvas.fill_polygon(&pts, 1.0, &|x, _| {
                shade(c, 0.5 + (x - f.p(0.0, 0.0).0) / (0.2 * f.h))
            });
        }
        Bag::Hand(c) => {
            let hand = if image_side < 0.0 {
                arms[0][2]
            } else {
                arms[1][2]
            };
            let hand = if view.is_side() { arms[1][2] } else { hand };
            let pts = [
                f.p(hand.0 - 0.04, hand.1 + 0.02),
                f.p(hand.0 + 0.04, hand.1 + 0.02),
                f.p(hand.0 + 0.05, hand.1 + 0.11),
                f.p(hand.0 - 0.05, hand.1 + 0.11),
            ];
            canvas.fill_polygon(&pts, 1.0, &|_, _| c);
        }
    }
}
