//! Evaluation: the per-query results of the last evaluation (the Gallery's "Evaluate split"),
//! one row per query (per probe and draw for the drawn protocols) with its AP, the rank of its
//! first true match, whether that match is from the query's camera or another, and its top-1
//! score; sortable, worst first by default (lowest AP, then first match furthest down: the order
//! of [`crate::eval::per_query::worst_queries`] and of `eval --export`'s strips). Selecting a
//! query shows its ranked strip (the top-k the evaluation kept, with scores and match borders),
//! from which a pair opens in Compare, Feature maps or Correlation as from the Gallery's
//! ranking. Up / down arrows move through the queries, left / right along the strip.
//!
//! "Export" writes the evaluation's files into a folder — the same files as
//! `eval --export DIR` ([`crate::eval::export::export_evaluation`]) — on a background thread.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::{self, RichText, vec2};

use super::ranked::{self, CellClick, CellInfo, Step};
use super::state::file_name;
use super::views::View;
use super::widgets::{CROP_SIZE, thumbnail};
use super::jobs::Pick;
use super::{Action, ViewCtx};
use crate::eval::per_query::{CameraRelation, QueryResult, worst_queries};
use crate::protocol::Evaluation;

/// How the table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Lowest AP first, then first true match furthest down (the export's order).
    Worst,
    /// First true match furthest down first.
    FirstMatch,
    /// Highest top-1 score first (confident answers).
    TopScore,
    /// Query file name (then draw).
    Query,
}

impl SortKey {
    const ALL: [SortKey; 4] = [
        SortKey::Worst,
        SortKey::FirstMatch,
        SortKey::TopScore,
        SortKey::Query,
    ];

    fn name(self) -> &'static str {
        match self {
            SortKey::Worst => "worst first (AP)",
            SortKey::FirstMatch => "first match",
            SortKey::TopScore => "top-1 score",
            SortKey::Query => "query",
        }
    }
}

/// Row order of `results`: evaluated queries by `key` (ties in worst-first order), reversed when
/// `reverse`; then, when `unevaluated`, the queries without a valid match in index order.
pub fn sorted_rows(
    results: &[QueryResult],
    names: &dyn Fn(usize) -> String,
    key: SortKey,
    reverse: bool,
    unevaluated: bool,
) -> Vec<usize> {
    let mut rows = worst_queries(results, usize::MAX);
    let top = |i: usize| {
        results[i]
            .top
            .first()
            .map_or(f32::NEG_INFINITY, |h| h.score)
    };
    // A stable sort keeps the worst-first order among equal keys.
    match key {
        SortKey::Worst => {}
        SortKey::FirstMatch => {
            rows.sort_by(|&a, &b| {
                results[b]
                    .first_match_rank
                    .cmp(&results[a].first_match_rank)
            });
        }
        SortKey::TopScore => rows.sort_by(|&a, &b| top(b).total_cmp(&top(a))),
        SortKey::Query => rows.sort_by(|&a, &b| {
            names(results[a].query)
                .cmp(&names(results[b].query))
                .then(results[a].draw.cmp(&results[b].draw))
                .then(Ordering::Equal)
        }),
    }
    if reverse {
        rows.reverse();
    }
    if unevaluated {
        rows.extend((0..results.len()).filter(|&i| !results[i].evaluated()));
    }
    rows
}

/// The Evaluation view's runtime state.
#[derive(Debug)]
pub struct EvalBrowser {
    evaluation: Option<Arc<Evaluation>>,
    /// Row order (indices into `per_query`), recomputed when the sort changes.
    rows: Vec<usize>,
    sort: SortKey,
    reverse: bool,
    unevaluated: bool,
    /// The selected query: a position in `rows`.
    selected: Option<usize>,
    /// The selected entry of its strip (index into its top-k).
    hit: Option<usize>,
    /// Bring the selected row into view on the next frame.
    scroll_to_selected: bool,
    /// The table's scroll offset and viewport height as last drawn.
    scroll: (f32, f32),
    /// The folder the export writes into.
    export_dir: String,
}

impl EvalBrowser {
    /// The export folder typed or chosen so far (None while empty).
    pub fn export_dir(&self) -> Option<PathBuf> {
        Some(self.export_dir.trim())
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }

    /// Remember `dir` as the export folder and export the shown evaluation into it (None when
    /// no evaluation is shown).
    pub fn export_to(&mut self, dir: PathBuf) -> Option<Action> {
        self.export_dir = dir.display().to_string();
        self.evaluation
            .as_ref()
            .map(|e| Action::ExportEvaluation {
                evaluation: Arc::clone(e),
                dir,
            })
    }
}

impl Default for EvalBrowser {
    fn default() -> Self {
        Self {
            evaluation: None,
            rows: Vec::new(),
            sort: SortKey::Worst,
            reverse: false,
            unevaluated: false,
            selected: None,
            hit: None,
            scroll_to_selected: false,
            scroll: (0.0, 0.0),
            export_dir: String::new(),
        }
    }
}

/// Height of a table row.
const ROW_H: f32 = 18.0;

impl EvalBrowser {
    /// A finished evaluation: show its queries, worst first, the worst selected.
    pub fn set_evaluation(&mut self, e: Arc<Evaluation>) {
        self.evaluation = Some(e);
        self.sort = SortKey::Worst;
        self.reverse = false;
        self.resort();
        self.selected = (!self.rows.is_empty()).then_some(0);
        self.hit = self.selected.map(|_| 0);
        self.scroll_to_selected = true;
    }

    fn resort(&mut self) {
        let Some(e) = self.evaluation.clone() else {
            self.rows.clear();
            return;
        };
        let names = |q: usize| {
            e.query_images
                .get(q)
                .map(|(p, _)| file_name(p))
                .unwrap_or_default()
        };
        let keep = self.selected.and_then(|s| self.rows.get(s).copied());
        self.rows = sorted_rows(
            &e.per_query,
            &names,
            self.sort,
            self.reverse,
            self.unevaluated,
        );
        self.selected = keep.and_then(|k| self.rows.iter().position(|&r| r == k));
        self.scroll_to_selected = true;
    }

    /// The selected query's result.
    fn current(&self) -> Option<&QueryResult> {
        let e = self.evaluation.as_ref()?;
        e.per_query.get(*self.rows.get(self.selected?)?)
    }

    /// Up / down: the previous / next query; left / right: along its strip.
    pub fn step(&mut self, step: Step) {
        match step {
            Step::Up | Step::Down => {
                let len = self.rows.len();
                self.selected = match (step, self.selected) {
                    _ if len == 0 => None,
                    (_, None) => Some(0),
                    (Step::Up, Some(i)) => Some(i.saturating_sub(1)),
                    (_, Some(i)) => Some((i + 1).min(len - 1)),
                };
                self.hit = self.selected.map(|_| 0);
                self.scroll_to_selected = true;
            }
            Step::Left | Step::Right => {
                let len = self.current().map_or(0, |q| q.top.len());
                self.hit = ranked::step_selection(self.hit, step, len, len);
            }
        }
    }

    /// The selected strip entry opened in `tab` (Enter: Compare).
    pub fn open_selected(&self, tab: super::Tab) -> Option<Action> {
        let e = self.evaluation.as_ref()?;
        let q = self.current()?;
        let hit = q.top.get(self.hit?)?;
        Some(ranked::open_action(
            &e.query_images.get(q.query)?.0,
            &e.gallery_images.get(hit.gallery)?.0,
            tab,
        ))
    }

    fn summary(ui: &mut egui::Ui, e: &Evaluation) {
        let evaluated = e.per_query.iter().filter(|q| q.evaluated()).count();
        let mut line = format!(
            "{} queries ({evaluated} with a true match) against {} gallery images · mAP {:.1}% · rank-1 {:.1}%",
            e.per_query.len(),
            e.gallery_images.len(),
            e.metrics.map * 100.0,
            e.metrics.rank1 * 100.0
        );
        if let Some(roc) = &e.roc {
            line.push_str(&format!(
                " · equal-error threshold {:.3} (TPR {:.1}%)",
                roc.eer.threshold,
                roc.eer.tpr * 100.0
            ));
        }
        ui.label(line);
    }

    fn controls(&mut self, ui: &mut egui::Ui, e: &Arc<Evaluation>, out: &mut Vec<Action>) {
        ui.horizontal_wrapped(|ui| {
            ui.label("sort:");
            let mut resort = false;
            for key in SortKey::ALL {
                let on = self.sort == key;
                let arrow = if on && self.reverse {
                    " (reversed)"
                } else {
                    ""
                };
                if ui
                    .selectable_label(on, format!("{}{arrow}", key.name()))
                    .on_hover_text("click again to reverse")
                    .clicked()
                {
                    self.reverse = on && !self.reverse;
                    self.sort = key;
                    resort = true;
                }
            }
            if ui
                .checkbox(&mut self.unevaluated, "queries without a true match")
                .on_hover_text("the protocol skips them; listed last")
                .changed()
            {
                resort = true;
            }
            if resort {
                self.resort();
            }
            ui.separator();
            let label = ui.label("export to");
            ui.add(
                egui::TextEdit::singleline(&mut self.export_dir)
                    .hint_text("a folder (created if needed)")
                    .desired_width(260.0),
            )
            .labelled_by(label.id);
            if ui
                .button("Choose folder...")
                .on_hover_text("pick the folder, then export into it")
                .clicked()
            {
                out.push(Action::Pick(Pick::EvalExport));
            }
            let dir = self.export_dir.trim();
            if ui
                .add_enabled(!dir.is_empty(), egui::Button::new("Export evaluation"))
                .on_hover_text(
                    "per_query.csv, scores.npy, queries.txt, gallery.txt, summary.json, the worst queries' rank strips and index.html: the files of `eval --export DIR`",
                )
                .clicked()
            {
                out.push(Action::ExportEvaluation {
                    evaluation: Arc::clone(e),
                    dir: PathBuf::from(dir),
                });
            }
        });
    }

    fn table(&mut self, ui: &mut egui::Ui, e: &Evaluation) {
        let name = |q: usize| e.query_images.get(q).map(|(p, _)| file_name(p));
        let spacing = ui.spacing().item_spacing.y;
        let mut area = egui::ScrollArea::vertical()
            .id_salt("eval-rows")
            .auto_shrink([false, false])
            .max_height(ui.available_height() * 0.5);
        if std::mem::take(&mut self.scroll_to_selected)
            && let Some(i) = self.selected
            && let Some(offset) =
                ranked::scroll_to_row(i, ROW_H, ROW_H + spacing, self.scroll.0, self.scroll.1)
        {
            area = area.vertical_scroll_offset(offset);
        }
        ui.label(
            RichText::new(format!(
                "{:<32} {:>9} {:>5} {:>6} {:>6} {:>6} {:>7}",
                "query", "identity", "draw", "AP", "first", "camera", "top-1"
            ))
            .monospace()
            .strong(),
        );
        let shown = area.show_rows(ui, ROW_H, self.rows.len(), |ui, range| {
            let mut clicked = None;
            for pos in range {
                let Some(q) = self.rows.get(pos).and_then(|&r| e.per_query.get(r)) else {
                    continue;
                };
                let text = row_text(q, name(q.query).as_deref().unwrap_or("?"));
                let selected = self.selected == Some(pos);
                // Text on the left, the rest of the row's width after it (a grow atom).
                let row = egui::Button::selectable(
                    selected,
                    (RichText::new(text).monospace(), egui::Atom::grow()),
                )
                .min_size(vec2(ui.available_width(), ROW_H));
                if ui.add(row).clicked() {
                    clicked = Some(pos);
                }
            }
            clicked
        });
        self.scroll = (shown.state.clamped_offset().y, shown.inner_rect.height());
        if let Some(pos) = shown.inner {
            self.selected = Some(pos);
            self.hit = Some(0);
        }
    }

    fn strip(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut ViewCtx<'_>,
        e: &Evaluation,
        out: &mut Vec<Action>,
    ) {
        let Some(q) = self.current().cloned() else {
            ui.label("Select a query to see its ranked strip.");
            return;
        };
        let Some((query, labels)) = e.query_images.get(q.query) else {
            return;
        };
        let cells: Vec<CellInfo<'_>> = q
            .top
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let (path, labels) = e.gallery_images.get(h.gallery)?;
                Some(CellInfo {
                    path,
                    rank: i + 1,
                    score: h.score,
                    labels: Some(*labels),
                    is_match: Some(h.is_match),
                })
            })
            .collect();
        let info = self.hit.and_then(|i| cells.get(i));
        ranked::open_buttons(ui, info.map(|c| (query.as_path(), c)), out);
        let thumb = CROP_SIZE * 0.9;
        let cell = vec2(thumb.x.max(64.0) + 10.0, thumb.y + 44.0);
        egui::ScrollArea::horizontal()
            .id_salt("eval-strip")
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.vertical(|ui| {
                        thumbnail(ui, cx.thumbs, query, thumb)
                            .on_hover_text(query.display().to_string());
                        ui.small(format!("query · {}", ranked::label_short(labels)));
                    });
                    ui.separator();
                    for (i, c) in cells.iter().enumerate() {
                        match ranked::ranked_cell(
                            ui,
                            cx.thumbs,
                            c,
                            cell,
                            thumb,
                            self.hit == Some(i),
                        ) {
                            CellClick::None => {}
                            CellClick::Select => self.hit = Some(i),
                            CellClick::Open(tab) => {
                                self.hit = Some(i);
                                out.push(ranked::open_action(query, c.path, tab));
                            }
                        }
                    }
                });
            });
        if cells.is_empty() {
            ui.label("The evaluation kept no ranked entries for this query.");
        }
    }
}

/// One table row: query name, identity / camera, draw, AP, first match, its camera, top-1.
fn row_text(q: &QueryResult, name: &str) -> String {
    let cut: String = if name.chars().count() > 32 {
        let tail: String = name
            .chars()
            .rev()
            .take(31)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    } else {
        name.to_string()
    };
    let labels = ranked::label_short(&q.labels);
    let draw = q.draw.map_or("-".into(), |d| d.to_string());
    let ap = q
        .average_precision
        .map_or("-".into(), |a| format!("{a:.3}"));
    let first = q.first_match_rank.map_or("-".into(), |r| format!("#{r}"));
    let camera = match q.first_match_camera {
        Some(CameraRelation::Same) => "same",
        Some(CameraRelation::Cross) => "cross",
        Some(CameraRelation::Unknown) => "?",
        None => "-",
    };
    let top = q.top.first().map_or("-".into(), |h| {
        format!(
            "{:.3}{}",
            h.score,
            if h.is_match { " match" } else { " miss" }
        )
    });
    format!("{cut:<32} {labels:>9} {draw:>5} {ap:>6} {first:>6} {camera:>6} {top:>7}")
}

impl View for EvalBrowser {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(e) = self.evaluation.clone() else {
            ui.label("No evaluation yet: press \"Evaluate split\" in the Gallery, then come back to browse its queries.");
            if ui.button("Go to Gallery").clicked() {
                cx.persisted.tab = super::Tab::Gallery;
            }
            return out;
        };
        Self::summary(ui, &e);
        self.controls(ui, &e, &mut out);
        ui.separator();
        if e.per_query.is_empty() {
            ui.label("This evaluation kept no per-query results.");
            return out;
        }
        self.table(ui, &e);
        ui.separator();
        self.strip(ui, cx, &e, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Labels;
    use crate::eval::per_query::RankedHit;

    fn result(query: usize, ap: Option<f64>, first: Option<usize>, top1: f32) -> QueryResult {
        QueryResult {
            query,
            labels: Labels::new(query as i64, Some(1)),
            draw: None,
            average_precision: ap,
            first_match_rank: first,
            inp: ap,
            matches: usize::from(first.is_some()),
            candidates: 10,
            first_match_camera: first.map(|_| CameraRelation::Cross),
            top: vec![RankedHit {
                gallery: 0,
                score: top1,
                is_match: first == Some(1),
                camera: CameraRelation::Cross,
            }],
        }
    }

    fn results() -> Vec<QueryResult> {
        vec![
            result(0, Some(1.0), Some(1), 0.9),   // perfect
            result(1, Some(0.25), Some(4), 0.8),  // AP 0.25, first at 4
            result(2, None, None, 0.7),           // no true match
            result(3, Some(0.25), Some(2), 0.95), // AP 0.25, first at 2
            result(4, Some(0.1), Some(10), 0.6),  // worst
        ]
    }

    fn names(q: usize) -> String {
        ["e.jpg", "d.jpg", "c.jpg", "b.jpg", "a.jpg"][q].to_string()
    }

    #[test]
    fn a_chosen_export_folder_is_remembered_and_exports_only_an_evaluation() {
        let mut b = EvalBrowser::default();
        assert_eq!(b.export_dir(), None);
        b.export_dir = "   ".into();
        assert_eq!(b.export_dir(), None, "blank text is no folder");
        let dir = PathBuf::from("/tmp/some export");
        assert!(b.export_to(dir.clone()).is_none(), "nothing to export yet");
        assert_eq!(b.export_dir(), Some(dir));
    }

    #[test]
    fn rows_are_worst_first_by_default() {
        let r = results();
        // AP ascending; the AP 0.25 tie goes to the first match furthest down (4 before 2).
        assert_eq!(
            sorted_rows(&r, &names, SortKey::Worst, false, false),
            [4, 1, 3, 0]
        );
        assert_eq!(
            sorted_rows(&r, &names, SortKey::Worst, true, false),
            [0, 3, 1, 4]
        );
        // Queries without a true match come last when asked for.
        assert_eq!(
            sorted_rows(&r, &names, SortKey::Worst, false, true),
            [4, 1, 3, 0, 2]
        );
    }

    #[test]
    fn rows_sort_by_each_column() {
        let r = results();
        assert_eq!(
            sorted_rows(&r, &names, SortKey::FirstMatch, false, false),
            [4, 1, 3, 0]
        );
        assert_eq!(
            sorted_rows(&r, &names, SortKey::TopScore, false, false),
            [3, 0, 1, 4]
        );
        assert_eq!(
            sorted_rows(&r, &names, SortKey::Query, false, false),
            [4, 3, 1, 0]
        );
    }

    #[test]
    fn a_row_shows_the_query_and_its_numbers() {
        let r = results();
        let text = row_text(&r[1], "0001_c1.jpg");
        assert!(text.starts_with("0001_c1.jpg "), "{text}");
        for part in ["id 1 c1", "0.250", "#4", "cross", "0.800 miss"] {
            assert!(text.contains(part), "{part:?} not in {text:?}");
        }
    }
}
