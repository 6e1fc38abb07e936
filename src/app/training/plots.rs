//! The Training view's plots: loss (raw and smoothed), pair accuracy, learning rate, and the
//! validations (standard and authors' protocol) against the step, their x axes linked.

use eframe::egui;
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints, Points};

use super::history::Overlay;
use super::{Run, ema};
use crate::app::widgets::format_value;

const ORANGE: egui::Color32 = egui::Color32::from_rgb(240, 150, 40);
const GREEN: egui::Color32 = egui::Color32::from_rgb(70, 180, 90);
const BLUE: egui::Color32 = egui::Color32::from_rgb(80, 140, 230);
const PURPLE: egui::Color32 = egui::Color32::from_rgb(170, 110, 230);
const TEAL: egui::Color32 = egui::Color32::from_rgb(40, 190, 190);

/// The colours of the runs drawn over the shown one.
const OVERLAY_COLORS: [egui::Color32; 6] = [
    egui::Color32::from_rgb(230, 90, 90),
    egui::Color32::from_rgb(200, 200, 80),
    egui::Color32::from_rgb(240, 130, 200),
    egui::Color32::from_rgb(150, 200, 255),
    egui::Color32::from_rgb(160, 230, 160),
    egui::Color32::from_rgb(200, 160, 120),
];

/// The colour of overlay `i`.
pub(super) fn overlay_color(i: usize) -> egui::Color32 {
    OVERLAY_COLORS[i % OVERLAY_COLORS.len()]
}

/// Loss (raw and smoothed with EMA weight `alpha`, adjustable), pair accuracy, learning rate
/// and validation rank-1 / mAP (both protocols) against the step; each overlay's loss and
/// accuracy (both smoothed), learning rate and validations over them in its colour.
pub(super) fn plots(ui: &mut egui::Ui, r: &Run, overlays: &[Overlay], alpha: &mut f32) {
    let h = ((ui.available_height() - 40.0) / 2.0).max(120.0);
    let w = ((ui.available_width() - 16.0) / 2.0).max(160.0);
    let link = egui::Id::unique("train-plots");
    let smoothed = ema(&r.loss, f64::from(*alpha));
    let plot = |id: &str, y: &str| {
        Plot::new(id.to_string())
            .height(h)
            .width(w)
            .legend(Legend::default())
            .link_axis(link, [true, false])
            .x_axis_label("step")
            .y_axis_label(y.to_string())
            .allow_scroll(false)
    };
    ui.horizontal(|ui| {
        plot("plot-loss", "loss")
            .y_axis_formatter(|mark, _| format_value(mark.value as f32))
            .show(ui, |p| {
                p.line(
                    Line::new("loss", PlotPoints::from(r.loss.clone()))
                        .color(egui::Color32::from_gray(140)),
                );
                p.line(
                    Line::new("loss (EMA)", PlotPoints::from(smoothed))
                        .width(2.0)
                        .color(ORANGE),
                );
                for (i, o) in overlays.iter().enumerate() {
                    let smoothed = ema(&o.run.loss, f64::from(*alpha));
                    overlay(p, i, o, "loss (EMA)", &smoothed);
                }
            });
        plot("plot-acc", "%")
            .include_y(0.0)
            .include_y(100.0)
            .show(ui, |p| {
                p.line(
                    Line::new("pair accuracy", PlotPoints::from(r.accuracy.clone())).color(GREEN),
                );
                for (i, o) in overlays.iter().enumerate() {
                    let smoothed = ema(&o.run.accuracy, f64::from(*alpha));
                    overlay(p, i, o, "pair accuracy (EMA)", &smoothed);
                }
            });
    });
    ui.horizontal(|ui| {
        plot("plot-lr", "lr").show(ui, |p| {
            p.line(Line::new("learning rate", PlotPoints::from(r.lr.clone())).color(BLUE));
            for (i, o) in overlays.iter().enumerate() {
                overlay(p, i, o, "learning rate", &o.run.lr);
            }
        });
        plot("plot-val", "%")
            .include_y(0.0)
            .include_y(100.0)
            .show(ui, |p| {
                validation(p, "val rank-1", &r.rank1, PURPLE, LineStyle::Solid);
                validation(p, "val mAP", &r.map, TEAL, LineStyle::Solid);
                let dashed = LineStyle::dashed_loose();
                validation(p, "val authors' rank-1", &r.authors_rank1, PURPLE, dashed);
                validation(p, "val authors' mAP", &r.authors_map, TEAL, dashed);
                for (i, o) in overlays.iter().enumerate() {
                    overlay(p, i, o, "val rank-1", &o.run.rank1);
                    overlay(p, i, o, "val mAP", &o.run.map);
                    overlay(p, i, o, "val authors' rank-1", &o.run.authors_rank1);
                    overlay(p, i, o, "val authors' mAP", &o.run.authors_map);
                }
            });
    });
    ui.horizontal(|ui| {
        ui.label("loss smoothing (EMA weight)");
        ui.add(egui::Slider::new(alpha, 0.005..=1.0).logarithmic(true));
    });
}


/// One series of overlay `i`, named after its folder, dashed in its colour.
fn overlay(p: &mut egui_plot::PlotUi<'_>, i: usize, o: &Overlay, what: &str, points: &[[f64; 2]]) {
    if points.is_empty() {
        return;
    }
    p.line(
        Line::new(format!("{}: {what}", o.name), PlotPoints::from(points.to_vec()))
            .color(overlay_color(i))
            .style(LineStyle::dashed_dense()),
    );
}

/// One validation series: a line through its points (skipped when empty: older histories have
/// no authors' protocol).
fn validation(
    p: &mut egui_plot::PlotUi<'_>,
    name: &str,
    points: &[[f64; 2]],
    color: egui::Color32,
    style: LineStyle,
) {
    if points.is_empty() {
        return;
    }
    p.line(
        Line::new(name, PlotPoints::from(points.to_vec()))
            .color(color)
            .style(style),
    );
    p.points(
        Points::new(name, PlotPoints::from(points.to_vec()))
            .radius(3.0)
            .color(color),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::training::HistoryUse;
    use crate::app::training::TrainingView;
    use crate::train::checkpoint::{History, StepRecord};

    /// The plots draw a shown run with overlays, empty series included, without panicking.
    #[test]
    fn plots_draw_a_run_with_overlays() {
        let history = History {
            steps: (1..=50)
                .map(|step| StepRecord {
                    step,
                    loss: 0.5,
                    accuracy: 0.8,
                    lr: 0.01,
                })
                .collect(),
            ..History::default()
        };
        let mut v = TrainingView::default();
        v.history_arrived("shown".into(), HistoryUse::Show, &history);
        for i in 0..8 {
            v.history_arrived(format!("o{i}").into(), HistoryUse::Overlay, &history);
        }
        let (Some(run), overlays) = (v.run.as_ref(), &v.overlays) else {
            panic!("no run shown");
        };
        let ctx = egui::Context::default();
        let mut alpha = 0.05;
        let _ = ctx.run_ui(egui::RawInput::default(), |ui| {
            plots(ui, run, overlays, &mut alpha);
        });
        assert_eq!(overlays.len(), 6);
    }
}
