//! The Training view's plots: loss (raw and smoothed), pair accuracy, learning rate, and the
//! validations (standard and authors' protocol) against the step, their x axes linked.

use eframe::egui;
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints, Points};

use super::{Run, ema};
use crate::app::widgets::format_value;

const ORANGE: egui::Color32 = egui::Color32::from_rgb(240, 150, 40);
const GREEN: egui::Color32 = egui::Color32::from_rgb(70, 180, 90);
const BLUE: egui::Color32 = egui::Color32::from_rgb(80, 140, 230);
const PURPLE: egui::Color32 = egui::Color32::from_rgb(170, 110, 230);
const TEAL: egui::Color32 = egui::Color32::from_rgb(40, 190, 190);

/// Loss (raw and smoothed with EMA weight `alpha`, adjustable), pair accuracy, learning rate
/// and validation rank-1 / mAP against the step.
pub(super) fn plots(ui: &mut egui::Ui, r: &Run, alpha: &mut f32) {
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
            });
        plot("plot-acc", "%")
            .include_y(0.0)
            .include_y(100.0)
            .show(ui, |p| {
                p.line(
                    Line::new("pair accuracy", PlotPoints::from(r.accuracy.clone())).color(GREEN),
                );
            });
    });
    ui.horizontal(|ui| {
        plot("plot-lr", "lr").show(ui, |p| {
            p.line(Line::new("learning rate", PlotPoints::from(r.lr.clone())).color(BLUE))
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
            });
    });
    ui.horizontal(|ui| {
        ui.label("loss smoothing (EMA weight)");
        ui.add(egui::Slider::new(alpha, 0.005..=1.0).logarithmic(true));
    });
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
