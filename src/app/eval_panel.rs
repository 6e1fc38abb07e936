//! The Gallery's evaluation panel: "Evaluate split" (standard, cross-camera single-shot or the
//! authors' protocol) with the CMC curve, rank-k, mAP (the authors' protocol: ± the spread over
//! draws, same- / cross-camera rank-1) and the score histograms, with the verdict threshold
//! marked (the model's calibrated threshold when it has one). "Browse queries" opens the
//! Evaluation view on the same results.

use std::path::Path;
use std::sync::Arc;

use eframe::egui::{self, RichText};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, VLine};

use super::jobs::JobKind;
use super::{Action, Tab, ViewCtx};
use crate::protocol::{CancelToken, Command, Evaluation, Protocol};

/// Which protocol "Evaluate split" asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum EvalChoice {
    /// Market-style: every query against the whole gallery split.
    #[default]
    Standard,
    /// Cross-camera single-shot gallery on the query / gallery split.
    SingleShot,
    /// The authors' test protocol (10 draws) over all test images.
    Authors,
}

impl EvalChoice {
    const ALL: [EvalChoice; 3] = [
        EvalChoice::Standard,
        EvalChoice::SingleShot,
        EvalChoice::Authors,
    ];

    fn name(self) -> &'static str {
        match self {
            EvalChoice::Standard => "standard (Market)",
            EvalChoice::SingleShot => "cross-camera single-shot",
            EvalChoice::Authors => "authors' (test.lua, 10 draws)",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            EvalChoice::Standard => "every query against the gallery split (Market protocol)",
            EvalChoice::SingleShot => {
                "queries against one gallery image per identity from another camera, 10 draws"
            }
            EvalChoice::Authors => {
                "all test images: one gallery image per identity drawn from all its images, every other image a probe, 10 draws"
            }
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            EvalChoice::Standard => Protocol::Standard,
            EvalChoice::SingleShot => Protocol::paper_single_shot(0),
            EvalChoice::Authors => Protocol::authors(0),
        }
    }
}

/// The panel's state: the protocol asked for and the last evaluation.
#[derive(Debug, Default)]
pub struct EvalPanel {
    /// The protocol "Evaluate split" asks for.
    choice: EvalChoice,
    evaluation: Option<Arc<Evaluation>>,
}

impl EvalPanel {
    /// The worker evaluated the dataset.
    pub fn set_evaluation(&mut self, e: Arc<Evaluation>) {
        self.evaluation = Some(e);
    }

    /// Draw the panel; `dataset_root`: the dataset "Evaluate split" evaluates.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut ViewCtx<'_>,
        dataset_root: Option<&Path>,
        out: &mut Vec<Action>,
    ) {
        ui.label(RichText::new("Evaluation").strong());
        egui::ComboBox::from_label("protocol")
            .selected_text(self.choice.name())
            .show_ui(ui, |ui| {
                for c in EvalChoice::ALL {
                    ui.selectable_value(&mut self.choice, c, c.name());
                }
            });
        ui.label(RichText::new(self.choice.explanation()).weak().small());
        let running = cx.jobs.is_running(JobKind::Evaluate);
        ui.horizontal(|ui| {
            let can = dataset_root.is_some() && !running;
            if ui
                .add_enabled(can, egui::Button::new("Evaluate split"))
                .clicked()
                && let Some(root) = dataset_root.map(Path::to_path_buf)
            {
                out.push(Action::Send(Command::Evaluate {
                    dataset: root,
                    protocol: self.choice.protocol(),
                    cancel: CancelToken::new(),
                }));
            }
            if running {
                ui.spinner();
            }
        });
        let Some(e) = self.evaluation.clone() else {
            return;
        };
        let m = &e.metrics;
        ui.label(
            RichText::new(format!("mAP {:.1}%", m.map * 100.0))
                .size(20.0)
                .strong(),
        );
        let a = e.authors.as_ref();
        let spread =
            |std: Option<f64>| std.map_or(String::new(), |s| format!(" ± {:.1}", s * 100.0));
        egui::Grid::new("rank-k").show(ui, |ui| {
            for (k, v, std) in [
                (1, m.rank1, a.map(|a| a.rank1_std)),
                (5, m.rank5, a.map(|a| a.rank5_std)),
                (10, m.rank10, a.map(|a| a.rank10_std)),
                (20, m.rank20, a.map(|a| a.rank20_std)),
            ] {
                ui.label(format!("rank-{k}"));
                ui.label(format!("{:.1}{}%", v * 100.0, spread(std)));
                ui.end_row();
            }
        });
        let summary = match a {
            None => format!(
                "{} queries, {} gallery images, {:.1} s",
                m.queries,
                m.gallery,
                e.millis / 1000.0
            ),
            Some(a) => {
                let r1 = |r: Option<f64>| r.map_or("n/a".into(), |r| format!("{:.1}%", r * 100.0));
                format!(
                    "authors' protocol, mean ± std over {} draws (mAP ± {:.1}); {} probes per draw against {} identities; rank-1 same-camera {} ({}), cross-camera {} ({}); {:.1} s",
                    a.draws,
                    a.map_std * 100.0,
                    a.probes_per_draw,
                    a.identities,
                    r1(a.rank1_same_camera),
                    a.same_camera_probes,
                    r1(a.rank1_cross_camera),
                    a.cross_camera_probes,
                    e.millis / 1000.0
                )
            }
        };
        ui.label(RichText::new(summary).weak().small());
        if ui
            .button("Browse queries")
            .on_hover_text("every query of this evaluation, worst first, with its ranked strip")
            .clicked()
        {
            cx.persisted.tab = Tab::Evaluation;
        }
        ui.label("CMC");
        let cmc: PlotPoints = m
            .cmc
            .iter()
            .enumerate()
            .map(|(k, v)| [(k + 1) as f64, *v * 100.0])
            .collect();
        Plot::new("cmc")
            .height(170.0)
            .include_y(0.0)
            .include_y(100.0)
            .x_axis_label("rank")
            .y_axis_label("%")
            .allow_scroll(false)
            .show(ui, |p| p.line(Line::new("CMC", cmc)));
        ui.label("p(same) histogram");
        let bins = 20;
        let hist = |scores: &[f32]| -> Vec<f64> {
            let mut h = vec![0.0; bins];
            for s in scores.iter().filter(|s| s.is_finite()) {
                let b = ((s.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
                h[b] += 1.0;
            }
            let total: f64 = h.iter().sum::<f64>().max(1.0);
            h.iter().map(|v| v / total).collect()
        };
        let to_bars = |h: Vec<f64>| -> Vec<Bar> {
            h.into_iter()
                .enumerate()
                .map(|(i, v)| Bar::new((i as f64 + 0.5) / bins as f64, v).width(1.0 / bins as f64))
                .collect()
        };
        let same = BarChart::new("same identity", to_bars(hist(&e.same_scores)))
            .color(egui::Color32::from_rgba_unmultiplied(60, 180, 90, 160));
        let diff = BarChart::new("different", to_bars(hist(&e.different_scores)))
            .color(egui::Color32::from_rgba_unmultiplied(220, 80, 70, 160));
        let threshold = cx.persisted.threshold;
        let calibrated = cx.model.calibration.as_ref().map(|c| c.threshold);
        let line_color = ui.visuals().strong_text_color();
        Plot::new("score-hist")
            .height(170.0)
            .legend(Legend::default())
            .x_axis_label("p(same)")
            .y_axis_label("fraction")
            .allow_scroll(false)
            .show(ui, |p| {
                p.bar_chart(diff);
                p.bar_chart(same);
                p.vline(
                    VLine::new(format!("verdict threshold {threshold:.3}"), threshold)
                        .stroke((2.0, line_color)),
                );
                if let Some(t) = calibrated.filter(|t| (t - threshold).abs() > 1e-6) {
                    p.vline(
                        VLine::new(format!("calibrated threshold {t:.3}"), t)
                            .stroke((2.0, egui::Color32::from_rgb(240, 170, 40))),
                    );
                }
            });
        ui.label(
            RichText::new(match calibrated {
                Some(t) => format!("the model's calibrated threshold: {t:.3} (calibration.json)"),
                None => "the model has no calibrated threshold (calibration.json)".into(),
            })
            .weak()
            .small(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_evaluation_choice_sends_its_protocol() {
        let sent: Vec<Protocol> = EvalChoice::ALL.iter().map(|c| c.protocol()).collect();
        let (draws, seed) = (crate::eval::PAPER_DRAWS, 0);
        assert_eq!(
            sent,
            [
                Protocol::Standard,
                Protocol::SingleShot { draws, seed },
                Protocol::Authors { draws, seed }
            ]
        );
    }
}
