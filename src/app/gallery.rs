//! Gallery: a query ranked against a folder or the dataset's gallery split, as a virtualised
//! grid of thumbnails (score, identity, camera, green / red borders when labels are known);
//! "Evaluate split" (standard, cross-camera single-shot or the authors' protocol) with the CMC
//! curve, rank-k, mAP (the authors' protocol: ± the spread over draws, same- / cross-camera
//! rank-1) and the score histograms; CSV and PNG export.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui::{self, RichText, Stroke, vec2};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use super::browser::BrowseTarget;
use super::jobs::{JobKind, Pick};
use super::state::{file_name, short_path};
use super::widgets::{CROP_SIZE, match_color, paint_thumbnail, thumbnail};
use super::{Action, ViewCtx};
use crate::data::{Dataset, Split};
use crate::protocol::{CancelToken, Command, Evaluation, GallerySource, Labels, Protocol, Ranking};

/// Where the gallery comes from.
#[derive(Debug, Clone, PartialEq)]
enum GallerySel {
    /// The loaded dataset's gallery split.
    Dataset,
    /// A folder of the user's.
    Folder(PathBuf),
}

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

/// The Gallery view's runtime state.
#[derive(Debug)]
pub struct GalleryView {
    query: Option<(PathBuf, Option<Labels>)>,
    gallery: GallerySel,
    dataset_root: Option<PathBuf>,
    ranking: Option<Arc<Ranking>>,
    evaluation: Option<Arc<Evaluation>>,
    /// The protocol "Evaluate split" asks for.
    eval_choice: EvalChoice,
    /// Thumbnail scale in the ranked grid.
    scale: f32,
}

impl Default for GalleryView {
    fn default() -> Self {
        Self {
            query: None,
            gallery: GallerySel::Dataset,
            dataset_root: None,
            ranking: None,
            evaluation: None,
            eval_choice: EvalChoice::default(),
            scale: 0.75,
        }
    }
}

/// Labels from a Market-style file name (`0002_c1s1_...`), for queries opened from a file.
fn labels_from_name(path: &Path) -> Option<Labels> {
    let name = path.file_name()?.to_string_lossy();
    crate::data::layout::parse_market(&name).map(|(id, cam)| Labels::new(id, Some(cam)))
}

impl GalleryView {
    /// A dataset was opened: use its gallery and, if none is chosen yet, its first query.
    pub fn dataset_opened(&mut self, ds: &Dataset) {
        self.dataset_root = Some(ds.root.clone());
        self.gallery = GallerySel::Dataset;
        if self.query.is_none()
            && let Some(q) = ds
                .split(Split::Query)
                .find(|s| s.identity.is_some_and(|i| i > 0))
        {
            self.query = Some((q.path.clone(), q.identity.map(|i| Labels::new(i, q.camera))));
        }
    }

    /// Choose the query (labels from the dataset, or parsed from a Market-style name).
    pub fn set_query(&mut self, path: PathBuf, labels: Option<Labels>) {
        let labels = labels.or_else(|| labels_from_name(&path));
        self.query = Some((path, labels));
        self.ranking = None;
    }

    /// Rank against a folder instead of the dataset.
    pub fn set_gallery_folder(&mut self, dir: PathBuf) {
        self.gallery = GallerySel::Folder(dir);
        self.ranking = None;
    }

    /// The worker ranked the gallery.
    pub fn set_ranking(&mut self, r: Arc<Ranking>) {
        self.ranking = Some(r);
    }

    /// The worker evaluated the dataset.
    pub fn set_evaluation(&mut self, e: Arc<Evaluation>) {
        self.evaluation = Some(e);
    }

    /// The command that ranks the current query (None without a query or gallery).
    pub fn rank_action(&self) -> Option<Action> {
        let (query, query_labels) = self.query.clone()?;
        let dir = match &self.gallery {
            GallerySel::Dataset => self.dataset_root.clone()?,
            GallerySel::Folder(d) => d.clone(),
        };
        Some(Action::Send(Command::Rank {
            query,
            query_labels,
            gallery: GallerySource::Folder(dir),
            cancel: CancelToken::new(),
        }))
    }

    /// The ranking as CSV: `rank,path,score,identity,camera,match`.
    pub fn csv(&self) -> Option<String> {
        let r = self.ranking.as_ref()?;
        let mut out = String::from("rank,path,score,identity,camera,match\n");
        for (i, e) in r.entries.iter().enumerate() {
            let path = e.path.display().to_string();
            let quoted = if path.contains([',', '"', '\n']) {
                format!("\"{}\"", path.replace('"', "\"\""))
            } else {
                path
            };
            let id = e.labels.map(|l| l.identity.to_string()).unwrap_or_default();
            let cam = e
                .labels
                .and_then(|l| l.camera)
                .map(|c| c.to_string())
                .unwrap_or_default();
            let m = e.is_match.map(|m| m.to_string()).unwrap_or_default();
            let _ = writeln!(out, "{},{quoted},{:.6},{id},{cam},{m}", i + 1, e.score);
        }
        Some(out)
    }

    /// Draw the view.
    #[must_use]
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        let view_rect = ui.max_rect();
        self.controls(ui, cx, view_rect, &mut out);
        ui.separator();
        egui::Panel::right("gallery-eval")
            .resizable(true)
            .default_size(360.0)
            .show(ui, |ui| {
                self.evaluation_panel(ui, cx, &mut out);
            });
        egui::CentralPanel::default().show(ui, |ui| self.ranked_grid(ui, cx));
        out
    }

    fn controls(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut ViewCtx<'_>,
        view_rect: egui::Rect,
        out: &mut Vec<Action>,
    ) {
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.label(RichText::new("Query").strong());
                match &self.query {
                    Some((p, labels)) => {
                        let r = thumbnail(ui, cx.thumbs, p, CROP_SIZE);
                        r.on_hover_text(p.display().to_string());
                        ui.small(file_name(p));
                        ui.small(labels.map_or("unlabelled".into(), |l| label_text(&l)));
                    }
                    None => {
                        ui.label("none");
                    }
                }
            });
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    if ui.button("Open query…").clicked() {
                        out.push(Action::Pick(Pick::Query));
                    }
                    if ui
                        .add_enabled(
                            cx.dataset.is_some(),
                            egui::Button::new("Query from dataset…"),
                        )
                        .clicked()
                    {
                        out.push(Action::Browse(BrowseTarget::Query));
                    }
                });
                ui.horizontal(|ui| {
                    ui.label("gallery:");
                    let ds_label = self
                        .dataset_root
                        .as_ref()
                        .map_or("dataset (none loaded)".into(), |r| {
                            format!("dataset gallery split ({})", short_path(r, 1))
                        });
                    if ui
                        .selectable_label(self.gallery == GallerySel::Dataset, ds_label)
                        .clicked()
                    {
                        self.gallery = GallerySel::Dataset;
                    }
                    if let GallerySel::Folder(d) = &self.gallery {
                        let _ = ui.selectable_label(true, format!("folder {}", short_path(d, 2)));
                    }
                    if ui
                        .button("Folder…")
                        .on_hover_text("rank a folder of images instead")
                        .clicked()
                    {
                        out.push(Action::Pick(Pick::GalleryFolder));
                    }
                });
                ui.horizontal(|ui| {
                    let ranking = cx.jobs.is_running(JobKind::Rank);
                    let rank = self.rank_action();
                    if ui
                        .add_enabled(rank.is_some() && !ranking, egui::Button::new("Rank"))
                        .on_hover_text("Ctrl+R")
                        .clicked()
                        && let Some(a) = rank
                    {
                        out.push(a);
                    }
                    if ranking && ui.button("Cancel").clicked() {
                        out.push(Action::Cancel);
                    }
                    ui.separator();
                    if ui
                        .add_enabled(self.ranking.is_some(), egui::Button::new("Export CSV…"))
                        .clicked()
                    {
                        out.push(Action::ExportCsv);
                    }
                    if ui
                        .button("Export PNG…")
                        .on_hover_text("save this view as an image")
                        .clicked()
                    {
                        out.push(Action::ExportPng(view_rect));
                    }
                    ui.separator();
                    ui.add(egui::Slider::new(&mut self.scale, 0.5..=1.5).text("size"));
                });
                if let Some(r) = &self.ranking {
                    let matches = r
                        .entries
                        .iter()
                        .filter(|e| e.is_match == Some(true))
                        .count();
                    let mut line = format!("{} ranked in {:.0} ms", r.entries.len(), r.millis);
                    if r.query_labels.is_some() {
                        let _ = write!(line, " · {matches} true matches");
                    }
                    if let Some(first) = r.entries.iter().position(|e| e.is_match == Some(true)) {
                        let _ = write!(line, " · first match at rank {}", first + 1);
                    }
                    if !r.skipped.is_empty() {
                        let _ = write!(line, " · {} files skipped", r.skipped.len());
                    }
                    ui.label(line).on_hover_text(
                        r.skipped
                            .iter()
                            .take(20)
                            .map(|(p, why)| format!("{}: {why}", p.display()))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                }
            });
        });
    }

    fn ranked_grid(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) {
        let Some(r) = self.ranking.clone() else {
            ui.label(if cx.jobs.is_running(JobKind::Rank) {
                "ranking…"
            } else {
                "Choose a query and press Rank."
            });
            return;
        };
        let thumb = CROP_SIZE * self.scale;
        let cell = vec2(thumb.x.max(64.0) + 10.0, thumb.y + 44.0);
        let spacing = ui.spacing().item_spacing;
        let per_row = ((ui.available_width() + spacing.x) / (cell.x + spacing.x))
            .floor()
            .max(1.0) as usize;
        let rows = r.entries.len().div_ceil(per_row);
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show_rows(ui, cell.y, rows, |ui, range| {
                for row in range {
                    ui.horizontal(|ui| {
                        for (i, e) in r
                            .entries
                            .iter()
                            .enumerate()
                            .skip(row * per_row)
                            .take(per_row)
                        {
                            let (rect, resp) = ui.allocate_exact_size(cell, egui::Sense::hover());
                            let img = egui::Rect::from_center_size(
                                egui::pos2(rect.center().x, rect.top() + 3.0 + thumb.y / 2.0),
                                thumb,
                            );
                            paint_thumbnail(ui, cx.thumbs, &e.path, img);
                            if let Some(m) = e.is_match {
                                ui.painter().rect_stroke(
                                    img.expand(2.0),
                                    2.0,
                                    Stroke::new(3.0, match_color(m)),
                                    egui::StrokeKind::Outside,
                                );
                            }
                            let text = format!(
                                "#{} {:.3}\n{}",
                                i + 1,
                                e.score,
                                e.labels.map_or("?".into(), |l| label_short(&l))
                            );
                            ui.painter().text(
                                egui::pos2(rect.center().x, img.bottom() + 5.0),
                                egui::Align2::CENTER_TOP,
                                text,
                                egui::FontId::proportional(11.0),
                                ui.visuals().text_color(),
                            );
                            let info = format!(
                                "rank {}: p(same) {:.3}, {}",
                                i + 1,
                                e.score,
                                e.labels.map_or("unlabelled".into(), |l| label_short(&l))
                            );
                            resp.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::Role::Image, true, &info)
                            });
                            resp.on_hover_text(format!(
                                "{}\np(same) = {:.4}",
                                e.path.display(),
                                e.score
                            ));
                        }
                    });
                }
            });
    }

    fn evaluation_panel(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>, out: &mut Vec<Action>) {
        ui.label(RichText::new("Evaluation").strong());
        egui::ComboBox::from_label("protocol")
            .selected_text(self.eval_choice.name())
            .show_ui(ui, |ui| {
                for c in EvalChoice::ALL {
                    ui.selectable_value(&mut self.eval_choice, c, c.name());
                }
            });
        ui.label(RichText::new(self.eval_choice.explanation()).weak().small());
        let running = cx.jobs.is_running(JobKind::Evaluate);
        ui.horizontal(|ui| {
            let can = self.dataset_root.is_some() && !running;
            if ui
                .add_enabled(can, egui::Button::new("Evaluate split"))
                .clicked()
                && let Some(root) = self.dataset_root.clone()
            {
                out.push(Action::Send(Command::Evaluate {
                    dataset: root,
                    protocol: self.eval_choice.protocol(),
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
        Plot::new("score-hist")
            .height(170.0)
            .legend(Legend::default())
            .x_axis_label("p(same)")
            .y_axis_label("fraction")
            .allow_scroll(false)
            .show(ui, |p| {
                p.bar_chart(diff);
                p.bar_chart(same);
            });
    }
}

fn label_text(l: &Labels) -> String {
    match l.camera {
        Some(c) => format!("identity {} · camera {c}", l.identity),
        None => format!("identity {}", l.identity),
    }
}

fn label_short(l: &Labels) -> String {
    match l.camera {
        Some(c) => format!("id {} c{c}", l.identity),
        None => format!("id {}", l.identity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RankedEntry;

    #[test]
    fn csv_quotes_awkward_paths() {
        let mut v = GalleryView::default();
        v.set_ranking(Arc::new(Ranking {
            query: "q.jpg".into(),
            query_labels: Some(Labels::new(1, Some(1))),
            entries: vec![
                RankedEntry {
                    path: "a,b.jpg".into(),
                    score: 0.9,
                    labels: Some(Labels::new(1, Some(2))),
                    is_match: Some(true),
                },
                RankedEntry {
                    path: "c.jpg".into(),
                    score: 0.1,
                    labels: None,
                    is_match: None,
                },
            ],
            skipped: vec![],
            millis: 1.0,
        }));
        let csv = v.csv().unwrap_or_default();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "rank,path,score,identity,camera,match");
        assert_eq!(lines[1], "1,\"a,b.jpg\",0.900000,1,2,true");
        assert_eq!(lines[2], "2,c.jpg,0.100000,,,");
    }

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

    #[test]
    fn market_names_give_query_labels() {
        assert_eq!(
            labels_from_name(Path::new("/x/0012_c3s1_000001_00.jpg")),
            Some(Labels::new(12, Some(3)))
        );
        assert_eq!(labels_from_name(Path::new("/x/holiday.jpg")), None);
    }
}
