//! Correlation: pick a position on image A's feature grid and see its normalized correlation
//! over image B's band (per channel and averaged, overlaid on B); browse every depth slice of the
//! correlation volume; and check the formula for one pair of patches, computed from the traced
//! `pool2` maps with [`crate::model::xcorr::direct`] against the traced `xcorr` value.
//!
//! Every new trace opens on the pair's strongest evidence ([`Volume::strongest_evidence`]): the
//! position of A whose best match in B's band has the highest channel-averaged correlation,
//! with that band cell and its most correlated channel selected; "Strongest evidence" returns
//! there.

use std::sync::Arc;

use eframe::egui::{self, Color32, Pos2, Rect, RichText, Sense, Stroke, StrokeKind, pos2, vec2};

use super::views::View;
use super::volume::{Evidence, Volume, cell_at, cell_rect, geometry};
use super::widgets::{CROP_SIZE, color_of, format_value, legend, paint_thumbnail};
use super::{Action, ViewCtx};
use crate::model::xcorr::direct::{PatchStats, XcorrGeometry, ncc};
use crate::protocol::Trace;
use crate::viz::{Colormap, ValueRange};

/// Crops are drawn this many times the network's 60 x 160.
const CROP_SCALE: f32 = 3.0;

/// The Correlation view's runtime state.
#[derive(Debug)]
pub struct CorrelationView {
    trace: Option<Arc<Trace>>,
    /// Selected position `(y, x)` on A's feature grid.
    pos: (usize, usize),
    /// Channel shown over B (None: the average of all channels).
    channel: Option<usize>,
    /// Selected depth slice `(c, dy, x')`, also the pair of patches of the formula.
    depth: (usize, usize, usize),
    /// Opacity of the overlay on B.
    alpha: f32,
    /// Where the current trace's correlation evidence is strongest (the starting selection).
    evidence: Option<Evidence>,
}

impl Default for CorrelationView {
    fn default() -> Self {
        Self {
            trace: None,
            pos: (18, 6),
            channel: None,
            depth: (0, 2, 6),
            alpha: 0.65,
            evidence: None,
        }
    }
}

impl CorrelationView {
    /// A new trace arrived.
    /// A new trace arrived: select its strongest evidence (or, when no value is finite, keep
    /// the position and pick its liveliest channel).
    pub fn set_trace(&mut self, trace: Arc<Trace>, geo: XcorrGeometry) {
        self.evidence = None;
        if let Ok(v) = Volume::new(&trace, geo) {
            self.evidence = v.strongest_evidence();
            match self.evidence {
                Some(e) => self.go_to(e),
                None => {
                    self.clamp(&v);
                    self.depth.0 = v.liveliest_channel(self.pos);
                }
            }
        }
        self.trace = Some(trace);
    }

    /// Forget the trace (the pair changed; the new one is on its way).
    pub fn clear(&mut self) {
        self.trace = None;
        self.evidence = None;
    }

    /// Select a piece of evidence: its position, band cell and channel, averaged over B.
    fn go_to(&mut self, e: Evidence) {
        self.pos = e.pos;
        self.depth = e.depth;
        self.channel = None;
    }
}

impl View for CorrelationView {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action> {
        let Some(trace) = self.trace.clone() else {
            ui.label(if cx.pair.both().is_some() {
                "tracing the pair…"
            } else {
                "Choose two images in Compare to explore their correlation."
            });
            return Vec::new();
        };
        let geo = geometry(cx.model.config.as_ref());
        let vol = match Volume::new(&trace, geo) {
            Ok(v) => v,
            Err(e) => {
                ui.label(
                    RichText::new(format!("cannot explain this trace: {e}"))
                        .color(ui.visuals().error_fg_color),
                );
                return Vec::new();
            }
        };
        self.clamp(&vol);
        let cmap = cx.persisted.colormap;
        ui.horizontal(|ui| {
            super::widgets::colormap_picker(ui, &mut cx.persisted.colormap);
            ui.add(egui::Slider::new(&mut self.alpha, 0.0..=1.0).text("overlay opacity"));
            ui.label(format!(
                "position A (y {}, x {}) of {}x{}",
                self.pos.0, self.pos.1, vol.h, vol.w
            ));
        });
        if let Some(e) = self.evidence {
            ui.horizontal_wrapped(|ui| {
                let half = (vol.geo.band / 2) as isize;
                let (_, dy, xp) = e.depth;
                ui.label(RichText::new(format!(
                    "strongest evidence: A (y {}, x {}) matches B (y {}, x {xp}) with mean correlation {:.3} over {} channels",
                    e.pos.0,
                    e.pos.1,
                    e.pos.0 as isize + dy as isize - half,
                    e.mean,
                    vol.c
                )).small())
                .on_hover_text("of every position of A (patches wholly inside the maps), the one whose best match in B's band has the highest channel-averaged correlation; the view opens there for every new pair");
                let here = self.pos == e.pos && self.depth == e.depth;
                if ui
                    .add_enabled(!here, egui::Button::new("Strongest evidence"))
                    .on_hover_text("select that position, band cell and channel again")
                    .clicked()
                {
                    self.go_to(e);
                }
            });
        }
        ui.separator();
        egui::ScrollArea::both()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.horizontal_top(|ui| {
                    self.image_a(ui, cx, &vol);
                    self.image_b(ui, cx, &vol, cmap);
                    ui.vertical(|ui| {
                        self.channel_maps(ui, &vol, cmap);
                        ui.add_space(10.0);
                        self.slice_browser(ui, &vol, cmap);
                    });
                    ui.separator();
                    self.formula(ui, &vol);
                });
            });
        Vec::new()
    }
}

impl CorrelationView {
    fn clamp(&mut self, v: &Volume<'_>) {
        self.pos = (self.pos.0.min(v.h - 1), self.pos.1.min(v.w - 1));
        self.depth = (
            self.depth.0.min(v.c - 1),
            self.depth.1.min(v.geo.band - 1),
            self.depth.2.min(v.w - 1),
        );
        if self.channel.is_some_and(|c| c >= v.c) {
            self.channel = None;
        }
    }

    fn image_a(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>, v: &Volume<'_>) {
        ui.vertical(|ui| {
            ui.set_width(CROP_SIZE.x * CROP_SCALE + 8.0);
            ui.label(RichText::new("Image A: click a position").strong());
            let (rect, response) = ui.allocate_exact_size(CROP_SIZE * CROP_SCALE, Sense::click());
            if let Some(p) = &cx.pair.a {
                paint_thumbnail(ui, cx.thumbs, p, rect);
            }
            let painter = ui.painter_at(rect);
            let grid = Stroke::new(0.5, Color32::from_white_alpha(40));
            for r in 0..=v.h {
                let y = rect.top() + r as f32 * rect.height() / v.h as f32;
                painter.line_segment([pos2(rect.left(), y), pos2(rect.right(), y)], grid);
            }
            for c in 0..=v.w {
                let x = rect.left() + c as f32 * rect.width() / v.w as f32;
                painter.line_segment([pos2(x, rect.top()), pos2(x, rect.bottom())], grid);
            }
            let (y, x) = self.pos;
            let r = (v.geo.patch / 2) as f32;
            let patch = cell_rect(
                rect,
                v.h,
                v.w,
                y as f32 - r,
                x as f32 - r,
                v.geo.patch as f32,
                v.geo.patch as f32,
            );
            painter.rect_stroke(
                patch,
                0.0,
                Stroke::new(2.0, Color32::from_rgb(255, 200, 0)),
                StrokeKind::Inside,
            );
            painter.rect_filled(
                cell_rect(rect, v.h, v.w, y as f32, x as f32, 1.0, 1.0),
                0.0,
                Color32::from_rgba_unmultiplied(255, 60, 60, 200),
            );
            if let Some(p) = response.interact_pointer_pos()
                && response.clicked()
                && let Some(cell) = cell_at(rect, v.h, v.w, p)
            {
                self.pos = cell;
            }
            if let Some(p) = response.hover_pos()
                && let Some((cy, cx_)) = cell_at(rect, v.h, v.w, p)
            {
                response.on_hover_text_at_pointer(format!(
                    "feature cell (y {cy}, x {cx_}); its {0}x{0} patch is outlined when selected",
                    v.geo.patch
                ));
            }
            ui.small(format!(
                "{}x{} feature grid; cell ≈ {:.1}x{:.1} px of the crop",
                v.h,
                v.w,
                160.0 / v.h as f32,
                60.0 / v.w as f32
            ));
        });
    }

    fn image_b(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>, v: &Volume<'_>, cmap: Colormap) {
        ui.vertical(|ui| {
            ui.set_width(CROP_SIZE.x * CROP_SCALE + 8.0);
            let what = self
                .channel
                .map_or("average".into(), |c| format!("channel {c}"));
            ui.label(RichText::new(format!("Image B: band ({what})")).strong());
            let (rect, response) = ui.allocate_exact_size(CROP_SIZE * CROP_SCALE, Sense::click());
            if let Some(p) = &cx.pair.b {
                paint_thumbnail(ui, cx.thumbs, p, rect);
            }
            let painter = ui.painter_at(rect);
            let half = (v.geo.band / 2) as isize;
            let alpha = (self.alpha * 255.0) as u8;
            for dy in 0..v.geo.band {
                let row = self.pos.0 as isize + dy as isize - half;
                if row < 0 || row as usize >= v.h {
                    continue;
                }
                for xp in 0..v.w {
                    let value = v.band_value(self.channel, dy, xp, self.pos);
                    let cell = cell_rect(rect, v.h, v.w, row as f32, xp as f32, 1.0, 1.0);
                    painter.rect_filled(
                        cell,
                        0.0,
                        color_of(cmap, ValueRange::CORRELATION, value, alpha),
                    );
                }
            }
            let (_, sdy, sxp) = self.depth;
            let srow = self.pos.0 as f32 + sdy as f32 - half as f32;
            let r = (v.geo.patch / 2) as f32;
            painter.rect_stroke(
                cell_rect(
                    rect,
                    v.h,
                    v.w,
                    srow - r,
                    sxp as f32 - r,
                    v.geo.patch as f32,
                    v.geo.patch as f32,
                ),
                0.0,
                Stroke::new(2.0, Color32::from_rgb(0, 220, 255)),
                StrokeKind::Inside,
            );
            painter.rect_stroke(
                cell_rect(rect, v.h, v.w, srow, sxp as f32, 1.0, 1.0),
                0.0,
                Stroke::new(2.0, Color32::WHITE),
                StrokeKind::Inside,
            );
            let band_cell = |p: Pos2| -> Option<(usize, usize, f32)> {
                let (row, col) = cell_at(rect, v.h, v.w, p)?;
                let dy = row as isize - self.pos.0 as isize + half;
                (0..v.geo.band as isize).contains(&dy).then(|| {
                    (
                        dy as usize,
                        col,
                        v.band_value(self.channel, dy as usize, col, self.pos),
                    )
                })
            };
            if response.clicked()
                && let Some((dy, xp, _)) = response.interact_pointer_pos().and_then(band_cell)
            {
                self.depth.1 = dy;
                self.depth.2 = xp;
            }
            if let Some((dy, xp, value)) = response.hover_pos().and_then(band_cell) {
                response.on_hover_text_at_pointer(format!(
                    "dy {:+}, x' {xp}: {}",
                    dy as isize - half,
                    format_value(value)
                ));
            }
            legend(ui, cmap, ValueRange::CORRELATION, rect.width());
        });
    }

    fn channel_maps(&mut self, ui: &mut egui::Ui, v: &Volume<'_>, cmap: Colormap) {
        ui.vertical(|ui| {
            ui.label(RichText::new("Per channel (band: rows dy, columns x')").strong());
            let cell = 6.0;
            let size = vec2(v.w as f32 * cell, v.geo.band as f32 * cell);
            let cols = 5;
            let mut clicked = None;
            let mut draw = |ui: &mut egui::Ui, channel: Option<usize>, selected: bool| {
                ui.vertical(|ui| {
                    ui.small(channel.map_or("average".into(), |c| format!("c{c}")));
                    let (rect, response) = ui.allocate_exact_size(size, Sense::click());
                    let painter = ui.painter_at(rect);
                    for dy in 0..v.geo.band {
                        for xp in 0..v.w {
                            let value = v.band_value(channel, dy, xp, self.pos);
                            let r = Rect::from_min_size(
                                pos2(
                                    rect.left() + xp as f32 * cell,
                                    rect.top() + dy as f32 * cell,
                                ),
                                vec2(cell, cell),
                            );
                            painter.rect_filled(
                                r,
                                0.0,
                                color_of(cmap, ValueRange::CORRELATION, value, 255),
                            );
                        }
                    }
                    if selected {
                        painter.rect_stroke(
                            rect,
                            0.0,
                            Stroke::new(2.0, Color32::WHITE),
                            StrokeKind::Inside,
                        );
                    }
                    if response.clicked() {
                        clicked = Some(channel);
                    }
                });
            };
            for row in 0..v.c.div_ceil(cols) {
                ui.horizontal(|ui| {
                    for c in (row * cols..(row + 1) * cols).filter(|c| *c < v.c) {
                        draw(ui, Some(c), self.channel == Some(c));
                    }
                });
            }
            ui.horizontal(|ui| draw(ui, None, self.channel.is_none()));
            if let Some(ch) = clicked {
                self.channel = ch;
                if let Some(c) = ch {
                    self.depth.0 = c;
                }
            }
            ui.small("click a map to show it over B (and select its channel)");
        });
    }

    fn slice_browser(&mut self, ui: &mut egui::Ui, v: &Volume<'_>, cmap: Colormap) {
        ui.vertical(|ui| {
            let total = v.geo.depth(v.c, v.w);
            ui.label(RichText::new(format!("Depth slices ({total})")).strong());
            let (mut c, mut dy, mut xp) = self.depth;
            let half = (v.geo.band / 2) as i32;
            let mut dy_signed = dy as i32 - half;
            ui.add(egui::Slider::new(&mut c, 0..=v.c - 1).text("channel"));
            ui.add(egui::Slider::new(&mut dy_signed, -half..=half).text("dy"));
            ui.add(egui::Slider::new(&mut xp, 0..=v.w - 1).text("x'"));
            dy = (dy_signed + half).max(0) as usize;
            let mut d = v.geo.depth_index(c, dy, xp, v.w);
            ui.horizontal(|ui| {
                ui.label("depth index");
                ui.add(egui::DragValue::new(&mut d).range(0..=total - 1));
            });
            let (c2, dy2, xp2) = v.geo.split_depth(d.min(total - 1), v.w);
            if (c2, dy2, xp2) != (c, dy, xp) {
                (c, dy, xp) = (c2, dy2, xp2);
            }
            self.depth = (c, dy, xp);
            let cell = 7.0;
            let (rect, response) =
                ui.allocate_exact_size(vec2(v.w as f32 * cell, v.h as f32 * cell), Sense::click());
            let painter = ui.painter_at(rect);
            for y in 0..v.h {
                for x in 0..v.w {
                    let r = Rect::from_min_size(
                        pos2(rect.left() + x as f32 * cell, rect.top() + y as f32 * cell),
                        vec2(cell, cell),
                    );
                    painter.rect_filled(
                        r,
                        0.0,
                        color_of(cmap, ValueRange::CORRELATION, v.at(d, y, x), 255),
                    );
                }
            }
            let sel = Rect::from_min_size(
                pos2(
                    rect.left() + self.pos.1 as f32 * cell,
                    rect.top() + self.pos.0 as f32 * cell,
                ),
                vec2(cell, cell),
            );
            painter.rect_stroke(
                sel,
                0.0,
                Stroke::new(2.0, Color32::WHITE),
                StrokeKind::Inside,
            );
            if let Some(p) = response.hover_pos()
                && let Some((y, x)) = cell_at(rect, v.h, v.w, p)
            {
                let value = v.at(d, y, x);
                if response.clicked() {
                    self.pos = (y, x);
                }
                response.on_hover_text_at_pointer(format!(
                    "A position (y {y}, x {x}): {}",
                    format_value(value)
                ));
            }
            ui.small(format!(
                "slice d = {d}: every A position vs B's patch at dy {:+}, x' {xp}, channel {c}",
                dy as i32 - half
            ));
        });
    }

    fn formula(&mut self, ui: &mut egui::Ui, v: &Volume<'_>) {
        ui.vertical(|ui| {
            let (c, dy, xp) = self.depth;
            let (y, x) = self.pos;
            let half = (v.geo.band / 2) as isize;
            ui.label(RichText::new("The formula for this pair of patches").strong());
            ui.label(format!(
                "p: A's pool2 channel {c}, centred at (y {y}, x {x});  q: B's pool2 channel {c}, centred at (y {}, x {xp})",
                y as isize + dy as isize - half
            ));
            let (p, q) = v.patches(self.depth, self.pos);
            ui.horizontal_top(|ui| {
                patch_table(ui, "p", &p, v.geo.patch);
                ui.add_space(12.0);
                patch_table(ui, "q", &q, v.geo.patch);
            });
            let value = ncc(&p, &q);
            let traced = v.band(c, dy, xp, self.pos);
            let n = v.geo.patch * v.geo.patch;
            egui::Grid::new("formula-values").striped(true).show(ui, |ui| {
                for (name, pv, qv) in [("mean", p.mean, q.mean), ("std (N-1)", p.std, q.std), ("sigma = std + eps", p.sigma, q.sigma)] {
                    ui.label(name);
                    ui.label(format!("p {pv:.5}"));
                    ui.label(format!("q {qv:.5}"));
                    ui.end_row();
                }
            });
            ui.label(format!("ncc = Σ (p - mean p)(q - mean q) / ((N - 1) σp σq), N = {n}, eps = {}", v.geo.eps));
            ui.label(RichText::new(format!("formula ncc = {value:.5}")).size(16.0).strong());
            let diff = (value - f64::from(traced)).abs();
            let (verdict, color) = if diff < 1e-3 {
                ("matches the network", Color32::from_rgb(60, 180, 90))
            } else {
                ("differs from the network", Color32::from_rgb(220, 80, 70))
            };
            ui.label(format!("traced xcorr[{}, {y}, {x}] = {traced:.5}", v.geo.depth_index(c, dy, xp, v.w)));
            ui.label(RichText::new(format!("|difference| = {diff:.2e}: {verdict}")).color(color));
        });
    }
}

/// A P x P table of patch values.
fn patch_table(ui: &mut egui::Ui, name: &str, s: &PatchStats, side: usize) {
    ui.vertical(|ui| {
        ui.label(RichText::new(format!("{name} values")).italics());
        egui::Grid::new(format!("patch-{name}"))
            .spacing(vec2(6.0, 2.0))
            .show(ui, |ui| {
                for row in s.values.chunks(side.max(1)) {
                    for v in row {
                        ui.label(RichText::new(format!("{v:7.3}")).monospace().size(11.0));
                    }
                    ui.end_row();
                }
            });
    });
}
