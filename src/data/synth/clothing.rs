//! What a synthetic person wears and looks like: colour palettes, garment patterns, hats and bags.
//! Palettes are small on purpose so distinct identities share attributes (many people wear black
//! trousers or blue jeans); an identity is a combination of attributes.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::raster::{Color, mix};

/// Skin tones.
const SKIN: [Color; 6] = [
    [0.96, 0.80, 0.69],
    [0.90, 0.72, 0.58],
    [0.80, 0.60, 0.45],
    [0.65, 0.46, 0.32],
    [0.48, 0.33, 0.23],
    [0.33, 0.22, 0.16],
];

/// Hair colours.
const HAIR: [Color; 6] = [
    [0.06, 0.05, 0.05],
    [0.20, 0.13, 0.08],
    [0.38, 0.25, 0.14],
    [0.80, 0.66, 0.40],
    [0.60, 0.60, 0.60],
    [0.55, 0.22, 0.10],
];

/// Garment colours (named for reading; weights make dark colours common, as in real streets).
const CLOTH: [(Color, u32); 16] = [
    ([0.08, 0.08, 0.09], 6), // black
    ([0.95, 0.95, 0.93], 4), // white
    ([0.45, 0.46, 0.48], 3), // grey
    ([0.12, 0.17, 0.35], 3), // navy
    ([0.80, 0.12, 0.12], 2), // red
    ([0.15, 0.40, 0.80], 2), // blue
    ([0.20, 0.50, 0.25], 2), // green
    ([0.95, 0.80, 0.15], 1), // yellow
    ([0.95, 0.50, 0.10], 1), // orange
    ([0.55, 0.20, 0.60], 1), // purple
    ([0.95, 0.60, 0.70], 1), // pink
    ([0.75, 0.65, 0.48], 2), // beige
    ([0.40, 0.25, 0.15], 2), // brown
    ([0.35, 0.50, 0.68], 2), // denim
    ([0.50, 0.80, 0.80], 1), // light cyan
    ([0.30, 0.35, 0.18], 1), // olive
];

/// Colours for trousers and skirts.
const BOTTOM: [(Color, u32); 7] = [
    ([0.08, 0.08, 0.09], 6), // black
    ([0.22, 0.32, 0.52], 5), // jeans
    ([0.45, 0.46, 0.48], 2), // grey
    ([0.75, 0.65, 0.48], 2), // beige
    ([0.12, 0.17, 0.35], 2), // navy
    ([0.40, 0.25, 0.15], 1), // brown
    ([0.90, 0.90, 0.88], 1), // white
];

/// Pattern printed on a garment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    /// One colour.
    Solid,
    /// Horizontal stripes with the given period (fraction of body height) and second colour.
    HStripes { period: f32, color: Color },
    /// Vertical stripes.
    VStripes { period: f32, color: Color },
    /// A check pattern.
    Checks { period: f32, color: Color },
    /// A logo on the chest (front view only): a shape in a second colour.
    Logo { color: Color, round: bool },
    /// Upper and lower half in different colours.
    TwoTone { color: Color },
}

impl Pattern {
    /// The colour at garment coordinates: `u` across (0..1, about 0.18 body heights wide), `v`
    /// down (0..1, about 0.35 body heights tall); `front` says whether a logo shows.
    pub fn color_at(&self, base: Color, u: f32, v: f32, front: bool) -> Color {
        let band = |t: f32, period: f32| ((t / period.max(1e-3)).floor() as i64).rem_euclid(2) == 1;
        match *self {
            Pattern::Solid => base,
            Pattern::HStripes { period, color } => {
                if band(v * 0.35, period) {
                    color
                } else {
                    base
                }
            }
            Pattern::VStripes { period, color } => {
                if band(u * 0.18, period) {
                    color
                } else {
                    base
                }
            }
            Pattern::Checks { period, color } => {
                let a = band(u * 0.18, period);
                let b = band(v * 0.35, period);
                if a != b { mix(base, color, 0.8) } else { base }
            }
            Pattern::Logo { color, round } => {
                if !front {
                    return base;
                }
                let (du, dv) = (u - 0.5, v - 0.33);
                let inside = if round {
                    (du / 0.22).powi(2) + (dv / 0.14).powi(2) < 1.0
                } else {
                    du.abs() < 0.2 && dv.abs() < 0.12
                };
                if inside { color } else { base }
            }
            Pattern::TwoTone { color } => {
                if v > 0.5 {
                    color
                } else {
                    base
                }
            }
        }
    }
}

/// Upper-body garment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Top {
    /// Main colour.
    pub color: Color,
    /// Pattern.
    pub pattern: Pattern,
    /// Sleeves down to the wrist (else short sleeves, forearms bare).
    pub long_sleeves: bool,
    /// An open jacket: `Some(inner shirt colour)` shows a vertical band in the middle at the front.
    pub open_jacket: Option<Color>,
    /// Length: 0 at the waist, up to 0.25 (a long coat, fraction of body height).
    pub length: f32,
}

/// Lower-body garment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BottomKind {
    /// Trousers to the ankle.
    Trousers,
    /// Shorts to the knee (legs bare below).
    Shorts,
    /// A skirt (legs bare below).
    Skirt,
}

/// Lower-body garment and shoes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bottom {
    /// Kind.
    pub kind: BottomKind,
    /// Colour.
    pub color: Color,
    /// Shoe colour.
    pub shoes: Color,
}

/// Hair style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HairStyle {
    /// Short.
    Short,
    /// Down to the shoulders.
    Long,
    /// A ponytail (shows from the side and back).
    Ponytail,
    /// Shaved or bald.
    Bald,
}

/// Headwear.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hat {
    /// A cap with a visor.
    Cap(Color),
    /// A beanie.
    Beanie(Color),
}

/// Carried bags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bag {
    /// A backpack: large from the back, straps from the front, a slab from the side.
    Backpack(Color),
    /// A shoulder bag hanging at one hip, with a strap across the chest.
    Shoulder(Color),
    /// A handbag held low on one side.
    Hand(Color),
}

/// Everything that makes one synthetic identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Appearance {
    /// Skin colour.
    pub skin: Color,
    /// Hair colour.
    pub hair: Color,
    /// Hair style.
    pub hair_style: HairStyle,
    /// Height relative to the average (0.9..1.06).
    pub height: f32,
    /// Width relative to the average (0.85..1.2).
    pub build: f32,
    /// Upper garment.
    pub top: Top,
    /// Lower garment.
    pub bottom: Bottom,
    /// Headwear.
    pub hat: Option<Hat>,
    /// Bag.
    pub bag: Option<Bag>,
    /// Which side a shoulder bag or handbag is on (+1 right, -1 left, in the person's frame).
    pub bag_side: f32,
}

fn weighted<R: Rng + ?Sized>(rng: &mut R, table: &[(Color, u32)]) -> Color {
    let total: u32 = table.iter().map(|t| t.1).sum();
    let mut k = rng.random_range(0..total.max(1));
    for &(c, w) in table {
        if k < w {
            return c;
        }
        k -= w;
    }
    table.first().map(|t| t.0).unwrap_or([0.5; 3])
}

/// A colour nudged a little: two people in "red" are not wearing the same red.
fn nudge<R: Rng + ?Sized>(rng: &mut R, c: Color, amount: f32) -> Color {
    let f = rng.random_range(1.0 - amount..1.0 + amount);
    let mut out = [0.0; 3];
    for (i, v) in c.iter().enumerate() {
        out[i] = (v * f + rng.random_range(-amount..amount) * 0.3).clamp(0.0, 1.0);
    }
    out
}

/// A weighted palette colour, nudged.
fn pick<R: Rng + ?Sized>(rng: &mut R, table: &[(Color, u32)], amount: f32) -> Color {
    let c = weighted(rng, table);
    nudge(rng, c, amount)
}

/// A second colour that differs visibly from `base`.
fn contrasting<R: Rng + ?Sized>(rng: &mut R, base: Color) -> Color {
    for _ in 0..8 {
        let c = weighted(rng, &CLOTH);
        let d: f32 = c.iter().zip(&base).map(|(a, b)| (a - b).abs()).sum();
        if d > 0.6 {
            return c;
        }
    }
    if base.iter().sum::<f32>() > 1.5 {
        [0.08, 0.08, 0.09]
    } else {
        [0.95, 0.95, 0.93]
    }
}

impl Appearance {
    /// Draw an identity.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let skin = *SKIN.choose(rng).unwrap_or(&SKIN[0]);
        let skin = nudge(rng, skin, 0.04);
        let hair = *HAIR.choose(rng).unwrap_or(&HAIR[0]);
        let hair = nudge(rng, hair, 0.05);
        let hair_style = match rng.random_range(0..10) {
            0..=4 => HairStyle::Short,
            5..=6 => HairStyle::Long,
            7..=8 => HairStyle::Ponytail,
            _ => HairStyle::Bald,
        };
        let top_color = pick(rng, &CLOTH, 0.06);
        let second = contrasting(rng, top_color);
        let pattern = match rng.random_range(0..12) {
            0..=4 => Pattern::Solid,
            5 => Pattern::HStripes {
                period: rng.random_range(0.05..0.12),
                color: second,
            },
            6 => Pattern::VStripes {
                period: rng.random_range(0.03..0.06),
                color: second,
            },
            7 => Pattern::Checks {
                period: rng.random_range(0.03..0.06),
                color: second,
            },
            8 | 9 => Pattern::Logo {
                color: second,
                round: rng.random_bool(0.5),
            },
            _ => Pattern::TwoTone { color: second },
        };
        let open_jacket = rng.random_bool(0.2).then(|| pick(rng, &CLOTH, 0.05));
        let top = Top {
            color: top_color,
            pattern,
            long_sleeves: rng.random_bool(0.55),
            open_jacket,
            length: if rng.random_bool(0.15) {
                rng.random_range(0.12..0.25)
            } else {
                rng.random_range(0.0..0.04)
            },
        };
        let kind = match rng.random_range(0..10) {
            0..=6 => BottomKind::Trousers,
            7 | 8 => BottomKind::Shorts,
            _ => BottomKind::Skirt,
        };
        let shoes = match rng.random_range(0..6) {
            0..=2 => [0.07, 0.07, 0.07],
            3 => [0.92, 0.92, 0.92],
            4 => [0.35, 0.22, 0.12],
            _ => weighted(rng, &CLOTH),
        };
        let bottom = Bottom {
            kind,
            color: pick(rng, &BOTTOM, 0.05),
            shoes,
        };
        let hat = match rng.random_range(0..10) {
            0 => Some(Hat::Cap(weighted(rng, &CLOTH))),
            1 => Some(Hat::Beanie(weighted(rng, &CLOTH))),
            _ => None,
        };
        let bag_color = pick(rng, &CLOTH, 0.05);
        let bag = match rng.random_range(0..10) {
            0..=2 => Some(Bag::Backpack(bag_color)),
            3 | 4 => Some(Bag::Shoulder(bag_color)),
            5 => Some(Bag::Hand(bag_color)),
            _ => None,
        };
        Appearance {
            skin,
            hair,
            hair_style,
            height: rng.random_range(0.9..1.06),
            build: rng.random_range(0.85..1.2),
            top,
            bottom,
            hat,
            bag,
            bag_side: if rng.random_bool(0.5) { 1.0 } else { -1.0 },
        }
    }
}
