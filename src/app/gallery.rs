//! Gallery: a query ranked against a folder or the dataset's gallery split, as a virtualised
//! grid of thumbnails (score, identity, camera, green / red borders when labels are known); a
//! click selects a thumbnail (arrow keys move the selection) and the selected pair opens in
//! Compare, Feature maps or Correlation ([`super::ranked`]); the evaluation panel
//! ([`super::eval_panel`]); CSV and PNG export.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui::{self, RichText, vec2};

use super::browser::BrowseTarget;
use super::eval_panel::EvalPanel;
use super::jobs::{JobKind, Pick};
use super::ranked::{self, CellClick, CellInfo};
use super::state::{file_name, short_path};
use super::views::View;
use super::widgets::{CROP_SIZE, thumbnail};
use super::{Action, Tab, ViewCtx};
use crate::data::{Dataset, Split};
use crate::protocol::{
    CancelToken, Command, Evaluation, Labels, RankedEntry, Ranking,
};

/// Where the gallery comes from.
#[derive(Debug, Clone, PartialEq)]
enum GallerySel {
    /// The loaded dataset's gallery split.
    Dataset,
    /// A folder of the user's.
    Folder(PathBuf),
}

/// The Gallery view's runtime state.
#[derive(Debug)]
pub struct GalleryView {
    query: Option<(PathBuf, Option<Labels>)>,
    gallery: GallerySel,
    dataset_root: Option<PathBuf>,
    ranking: Option<Arc<Ranking>>,
    /// The evaluation panel (protocol choice, the last evaluation's numbers).
    eval: EvalPanel,
    /// Thumbnail scale in the ranked grid.
    scale: f32,
    /// The selected ranked image (index into the ranking; arrow keys move it).
    selected: Option<usize>,
    /// Thumbnails per row as last drawn (up / down move by a row).
    per_row: usize,
    /// The grid's scroll offset and viewport height as last drawn.
    scroll: (f32, f32),
    /// Bring the selection into view on the next frame (it moved by keyboard).
    scroll_to_selected: bool,
}

impl Default for GalleryView {
    fn default() -> Self {
        Self {
            query: None,
            gallery: GallerySel::Dataset,
            dataset_root: None,
            ranking: None,
            eval: EvalPanel::default(),
            scale: 0.75,
            selected: None,
            per_row: 1,
            scroll: (0.0, 0.0),
            scroll_to_selected: false,
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
        self.selected = (!r.entries.is_empty()).then_some(0);
        self.scroll_to_selected = true;
        self.ranking = Some(r);
    }

    /// The worker evaluated the dataset.
    pub fn set_evaluation(&mut self, e: Arc<Evaluation>) {
        self.eval.set_evaluation(e);
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
            gallery: dir,
            cancel: CancelToken::new(),
        }))
    }

    /// The ranking as CSV: `rank,path,score,identity,camera,match` (the writer `rank --csv`
    /// uses, [`crate::eval::table`]: paths as raw bytes, awkward fields quoted).
    pub fn csv(&self) -> Option<Vec<u8>> {
        Some(crate::eval::table::ranking_csv(self.ranking.as_ref()?))
    }
}

impl View for GalleryView {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        let view_rect = ui.max_rect();
        self.controls(ui, cx, view_rect, &mut out);
        ui.separator();
        egui::Panel::right("gallery-eval")
            .resizable(true)
            .default_size(360.0)
            .show(ui, |ui| {
                self.eval.ui(ui, cx, self.dataset_root.as_deref(), &mut out);
            });
        egui::CentralPanel::default().show(ui, |ui| self.ranked_grid(ui, cx, &mut out));
        out
    }
}

impl GalleryView {
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

    fn ranked_grid(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>, out: &mut Vec<Action>) {
        let Some(r) = self.ranking.clone() else {
            ui.label(if cx.jobs.is_running(JobKind::Rank) {
                "ranking…"
            } else {
                "Choose a query and press Rank."
            });
            return;
        };
        let selected = self.selected.and_then(|i| Some((i, r.entries.get(i)?)));
        let info = selected.map(|(i, e)| cell_info(i, e));
        ranked::open_buttons(ui, info.as_ref().map(|c| (r.query.as_path(), c)), out);
        let thumb = CROP_SIZE * self.scale;
        let cell = vec2(thumb.x.max(64.0) + 10.0, thumb.y + 44.0);
        let spacing = ui.spacing().item_spacing;
        let per_row = ((ui.available_width() + spacing.x) / (cell.x + spacing.x))
            .floor()
            .max(1.0) as usize;
        self.per_row = per_row;
        let rows = r.entries.len().div_ceil(per_row);
        let mut area = egui::ScrollArea::vertical().auto_shrink([false, false]);
        if std::mem::take(&mut self.scroll_to_selected)
            && let Some(i) = self.selected
            && let Some(offset) = ranked::scroll_to_row(
                i / per_row,
                cell.y,
                cell.y + spacing.y,
                self.scroll.0,
                self.scroll.1,
            )
        {
            area = area.vertical_scroll_offset(offset);
        }
        let shown = area.show_rows(ui, cell.y, rows, |ui, range| {
            let mut clicked = None;
            for row in range {
                ui.horizontal(|ui| {
                    for (i, e) in r
                        .entries
                        .iter()
                        .enumerate()
                        .skip(row * per_row)
                        .take(per_row)
                    {
                        let info = cell_info(i, e);
                        let is_selected = self.selected == Some(i);
                        match ranked::ranked_cell(ui, cx.thumbs, &info, cell, thumb, is_selected) {
                            CellClick::None => {}
                            CellClick::Select => clicked = Some((i, None)),
                            CellClick::Open(tab) => clicked = Some((i, Some(tab))),
                        }
                    }
                });
            }
            clicked
        });
        self.scroll = (shown.state.clamped_offset().y, shown.inner_rect.height());
        if let Some((i, open)) = shown.inner {
            self.selected = Some(i);
            if let (Some(tab), Some(e)) = (open, r.entries.get(i)) {
                out.push(ranked::open_action(&r.query, &e.path, tab));
            }
        }
    }

    /// Move the selection through the ranking (arrow keys).
    pub fn step_selection(&mut self, step: ranked::Step) {
        let len = self.ranking.as_ref().map_or(0, |r| r.entries.len());
        self.selected = ranked::step_selection(self.selected, step, len, self.per_row);
        self.scroll_to_selected = true;
    }

    /// The selected ranked image opened in `tab` (Enter: Compare).
    pub fn open_selected(&self, tab: Tab) -> Option<Action> {
        let r = self.ranking.as_ref()?;
        let e = r.entries.get(self.selected?)?;
        Some(ranked::open_action(&r.query, &e.path, tab))
    }
}

/// What the ranked cell of entry `i` shows.
fn cell_info(i: usize, e: &RankedEntry) -> CellInfo<'_> {
    CellInfo {
        path: &e.path,
        rank: i + 1,
        score: e.score,
        labels: e.labels,
        is_match: e.is_match,
    }
}

fn label_text(l: &Labels) -> String {
    match l.camera {
        Some(c) => format!("identity {} · camera {c}", l.identity),
        None => format!("identity {}", l.identity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let csv = String::from_utf8(v.csv().unwrap_or_default()).unwrap_or_default();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "rank,path,score,identity,camera,match");
        assert_eq!(lines[1], "1,\"a,b.jpg\",0.900000,1,2,true");
        assert_eq!(lines[2], "2,c.jpg,0.100000,,,");
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
