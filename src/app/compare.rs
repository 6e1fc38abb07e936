//! Compare: two image slots, p(same) large with a bar and a verdict at an adjustable threshold,
//! inference time and backend.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use eframe::egui::{self, Color32, Rect, RichText, Sense, pos2, vec2};

use super::browser::BrowseTarget;
use super::jobs::{JobKind, Pick};
use super::state::file_name;
use super::views::View;
use super::widgets::{CROP_SIZE, ThumbState, paint_thumbnail};
use super::{Action, Slot, ViewCtx};

/// The answer of the worker for the current pair.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareResult {
    pub a: PathBuf,
    pub b: PathBuf,
    pub p_same: f32,
    pub millis: f64,
    pub backend: String,
}

/// The Compare view's runtime state.
#[derive(Debug, Default)]
pub struct CompareView {
    result: Option<CompareResult>,
    error: Option<String>,
    /// Where slot B was drawn last frame (drops over it go to B).
    b_rect: Option<Rect>,
}

/// Slot images are drawn at twice the network's crop size.
const SLOT_SCALE: f32 = 2.5;

impl CompareView {
    /// Forget the result (the pair changed).
    pub fn clear(&mut self) {
        self.result = None;
        self.error = None;
    }

    /// The worker answered.
    pub fn set_result(&mut self, r: CompareResult) {
        self.error = None;
        self.result = Some(r);
    }

    /// The worker failed on the pair.
    pub fn set_error(&mut self, message: String) {
        self.error = Some(message);
    }

    /// Whether the pointer is over slot B (for drops).
    pub fn pointer_over_b(&self, ctx: &egui::Context) -> bool {
        let pos = ctx.input(|i| i.pointer.hover_pos());
        matches!((self.b_rect, pos), (Some(r), Some(p)) if r.contains(p))
    }
}

impl View for CompareView {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        ui.horizontal_top(|ui| {
            self.slot(ui, cx, Slot::A, &mut out);
            ui.vertical(|ui| {
                ui.add_space(CROP_SIZE.y * SLOT_SCALE / 2.0);
                if ui
                    .button("Swap A <-> B")
                    .on_hover_text("swap A and B (Ctrl+S)")
                    .clicked()
                {
                    out.push(Action::SwapPair);
                }
            });
            let b = self.slot(ui, cx, Slot::B, &mut out);
            self.b_rect = Some(b);
            ui.separator();
            ui.vertical(|ui| self.result_panel(ui, cx, &mut out));
        });
        out
    }
}

impl CompareView {
    /// One image slot; returns its rectangle.
    fn slot(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut ViewCtx<'_>,
        slot: Slot,
        out: &mut Vec<Action>,
    ) -> Rect {
        let (name, pick, browse, path) = match slot {
            Slot::A => (
                "A",
                Pick::CompareA,
                BrowseTarget::CompareA,
                cx.pair.a.clone(),
            ),
            Slot::B => (
                "B",
                Pick::CompareB,
                BrowseTarget::CompareB,
                cx.pair.b.clone(),
            ),
        };
        ui.vertical(|ui| {
            ui.set_width(CROP_SIZE.x * SLOT_SCALE + 24.0);
            ui.label(RichText::new(format!("Image {name}")).strong());
            let (rect, response) = ui.allocate_exact_size(CROP_SIZE * SLOT_SCALE, Sense::click());
            let painter = ui.painter_at(rect);
            let mut failure = None;
            match &path {
                Some(p) => {
                    paint_thumbnail(ui, cx.thumbs, p, rect);
                    if let ThumbState::Failed(reason) = cx.thumbs.get(p) {
                        failure = Some(reason.to_string());
                    }
                }
                None => {
                    painter.rect_filled(rect, 4.0, ui.visuals().faint_bg_color);
                    painter.text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        "drop an image\nor open one",
                        egui::FontId::proportional(13.0),
                        ui.visuals().weak_text_color(),
                    );
                }
            }
            let hovering_files = ui.ctx().input(|i| !i.raw.hovered_files.is_empty());
            let pointer_here = ui
                .ctx()
                .input(|i| i.pointer.hover_pos())
                .is_some_and(|p| rect.contains(p));
            if hovering_files && (pointer_here || (slot == Slot::A && self.b_rect.is_none())) {
                painter.rect_stroke(
                    rect,
                    4.0,
                    egui::Stroke::new(3.0, ui.visuals().selection.bg_fill),
                    egui::StrokeKind::Inside,
                );
            }
            if response.clicked() {
                out.push(Action::Pick(pick));
            }
            ui.horizontal(|ui| {
                if ui
                    .button("Open…")
                    .on_hover_text("choose an image file")
                    .clicked()
                {
                    out.push(Action::Pick(pick));
                }
                if ui
                    .add_enabled(cx.dataset.is_some(), egui::Button::new("Dataset…"))
                    .on_hover_text("pick from the loaded dataset")
                    .clicked()
                {
                    out.push(Action::Browse(browse));
                }
                if !cx.persisted.recent_files.is_empty() {
                    ui.menu_button("Recent", |ui| {
                        for f in cx.persisted.recent_files.clone() {
                            if ui
                                .button(file_name(&f))
                                .on_hover_text(f.display().to_string())
                                .clicked()
                            {
                                out.push(Action::SetImage(slot, f));
                                ui.close();
                            }
                        }
                    });
                }
            });
            if let Some(p) = &path {
                ui.label(RichText::new(file_name(p)).small())
                    .on_hover_text(p.display().to_string());
                if let Some(labels) = labels_of(cx, p) {
                    ui.label(RichText::new(labels).small().weak());
                }
            }
            if let Some(reason) = failure {
                ui.label(
                    RichText::new(format!("cannot show this file: {reason}"))
                        .color(ui.visuals().error_fg_color),
                );
            }
            rect
        })
        .inner
    }

    fn result_panel(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>, out: &mut Vec<Action>) {
        ui.label(RichText::new("Same person?").strong());
        let running = cx.jobs.is_running(JobKind::Compare);
        match (&self.result, &self.error) {
            (Some(r), _) => {
                let p = r.p_same;
                let same = p >= cx.persisted.threshold;
                ui.label(
                    RichText::new(format!("p(same) = {p:.3}"))
                        .size(34.0)
                        .strong(),
                );
                probability_bar(ui, p, cx.persisted.threshold, 320.0);
                let (text, color) = if same {
                    ("same person", Color32::from_rgb(60, 180, 90))
                } else {
                    ("different people", Color32::from_rgb(220, 80, 70))
                };
                ui.label(
                    RichText::new(format!("verdict: {text}"))
                        .size(20.0)
                        .color(color),
                );
                ui.label(RichText::new(format!("{:.1} ms on {}", r.millis, r.backend)).weak());
            }
            (None, Some(e)) => {
                ui.label(
                    RichText::new(format!("cannot compare: {e}"))
                        .color(ui.visuals().error_fg_color),
                );
            }
            (None, None) if running => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("comparing…");
                });
            }
            (None, None) if cx.model.dir.is_none() => {
                ui.label("No model loaded: open a model folder from the top bar, or train one.");
            }
            (None, None) => {
                ui.label("Put an image in each slot.");
            }
        }
        if let Some(synthetic) = synthetic_model_hint(cx) {
            ui.add_space(6.0);
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new(
                        "These are generated people (the embedded sample); this model was trained on real CUHK03 crops.",
                    )
                    .weak(),
                );
                if ui
                    .small_button("Use models/synthetic")
                    .on_hover_text("the model trained on generated people (rank-1 76% on this sample)")
                    .clicked()
                {
                    out.push(Action::UseModel(synthetic));
                }
            });
        }
        ui.add_space(8.0);
        ui.add(egui::Slider::new(&mut cx.persisted.threshold, 0.0..=1.0).text("threshold"));
        let calibration = cx.model.calibration.as_ref();
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(threshold_origin(
                    cx.persisted.threshold,
                    calibration,
                    cx.model.loaded,
                ))
                .weak()
                .small(),
            );
            if let Some(c) = calibration
                && !same_threshold(cx.persisted.threshold, c.threshold)
                && ui
                    .small_button("Use calibrated")
                    .on_hover_text(format!("set the threshold to {:.3}", c.threshold))
                    .clicked()
            {
                cx.persisted.threshold = c.threshold;
            }
        });
        if ui
            .add_enabled(cx.pair.both().is_some(), egui::Button::new("Compare again"))
            .on_hover_text("Ctrl+R")
            .clicked()
        {
            out.push(Action::CompareAgain);
        }
    }
}

/// The synthetic model's folder when the loaded dataset is the embedded (synthetic) sample and
/// another model is in use: real-data weights see a different world in drawn people.
fn synthetic_model_hint(cx: &ViewCtx<'_>) -> Option<PathBuf> {
    // Resolved once (resolving looks at the file system); plain path comparisons while drawing.
    // The app opens the sample and the models through `resolve`, so equal folders have equal
    // paths.
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (sample, synthetic) = PATHS.get_or_init(|| {
        (
            super::state::resolve(super::state::SAMPLE_DATASET),
            super::state::resolve(super::state::SYNTHETIC_MODEL_DIR),
        )
    });
    let on_sample = cx.dataset.is_some_and(|d| &d.root == sample);
    let model = cx.model.dir.as_deref()?;
    let other_model = model != synthetic && !model.ends_with(super::state::SYNTHETIC_MODEL_DIR);
    (on_sample && other_model).then(|| synthetic.clone())
}

/// Whether two thresholds are the same setting (the slider moves in steps far above this).
fn same_threshold(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-6
}

/// Where the verdict threshold came from, in words.
pub fn threshold_origin(
    threshold: f32,
    calibration: Option<&crate::model::calibration::Calibration>,
    loaded: bool,
) -> String {
    match calibration {
        _ if !loaded => format!(
            "threshold {threshold:.3}: the model is loading (its calibrated threshold, if any, comes with it)"
        ),
        Some(c) if same_threshold(threshold, c.threshold) => format!(
            "threshold {threshold:.3}: this model's calibrated threshold (calibration.json, {}): the equal-error point, where {:.1}% of same-identity pairs pass and {:.1}% of different-identity pairs do",
            c.source,
            c.tpr * 100.0,
            c.fpr * 100.0
        ),
        Some(c) => format!(
            "threshold {threshold:.3}: moved by you; this model's calibrated threshold is {:.3} ({})",
            c.threshold, c.source
        ),
        None => format!(
            "threshold {threshold:.3}: your setting; this model has no calibration.json (`eval --calibrate` writes one)"
        ),
    }
}

/// "identity 12 · camera 3" for a dataset image.
fn labels_of(cx: &ViewCtx<'_>, path: &Path) -> Option<String> {
    let s = cx.dataset?.samples.iter().find(|s| s.path == path)?;
    let id = s
        .identity
        .map_or("identity ?".into(), |i| format!("identity {i}"));
    let cam = s.camera.map_or(String::new(), |c| format!(" · camera {c}"));
    Some(format!("{id}{cam} · {}", s.split))
}

/// A horizontal bar filled to `p` with a mark at the threshold.
fn probability_bar(ui: &mut egui::Ui, p: f32, threshold: f32, width: f32) {
    let (rect, _) = ui.allocate_exact_size(vec2(width, 18.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
    let p = if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = Rect::from_min_max(rect.min, pos2(rect.left() + p * width, rect.bottom()));
    let color = if p >= threshold {
        Color32::from_rgb(60, 170, 90)
    } else {
        Color32::from_rgb(200, 80, 70)
    };
    painter.rect_filled(filled, 4.0, color);
    let x = rect.left() + threshold.clamp(0.0, 1.0) * width;
    painter.line_segment(
        [pos2(x, rect.top() - 3.0), pos2(x, rect.bottom() + 3.0)],
        egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::calibration::Calibration;

    #[test]
    fn the_threshold_says_where_it_came_from() {
        let c = Calibration {
            threshold: 0.62,
            source: "validation step 500".into(),
            tpr: 0.8,
            fpr: 0.2,
            positive_pairs: 10,
            negative_pairs: 20,
        };
        let calibrated = threshold_origin(0.62, Some(&c), true);
        assert!(calibrated.contains("calibrated threshold"), "{calibrated}");
        assert!(calibrated.contains("validation step 500"), "{calibrated}");
        assert!(calibrated.contains("80.0%") && calibrated.contains("20.0%"));
        let moved = threshold_origin(0.5, Some(&c), true);
        assert!(
            moved.contains("moved by you") && moved.contains("0.620"),
            "{moved}"
        );
        let none = threshold_origin(0.5, None, true);
        assert!(none.contains("no calibration.json"), "{none}");
        let loading = threshold_origin(0.5, None, false);
        assert!(loading.contains("the model is loading"), "{loading}");
    }
}
