//! A ranked gallery image as a selectable thumbnail cell, and the click-through from a ranking
//! to the views that explain a pair: Compare, Feature maps and Correlation open the
//! (query, gallery image) pair — the query in slot A and the gallery image in slot B, the order
//! the ranking scored them in (the network is not symmetric), so Compare shows the ranked score.
//!
//! Used by the Gallery's ranked grid and the Evaluation browser's ranked strip: a click selects
//! a cell, a double click opens the pair in Compare, a right click offers every view, and
//! [`open_buttons`] acts on the selection. Arrow keys move the selection (see
//! [`step_selection`]).

use std::path::Path;

use eframe::egui::{self, Rect, Sense, Stroke, Vec2, pos2};

use super::widgets::{match_color, paint_thumbnail};
use super::{Action, Tab, ThumbCache};
use crate::protocol::Labels;

/// The views a ranked pair opens in.
pub const OPEN_IN: [Tab; 3] = [Tab::Compare, Tab::FeatureMaps, Tab::Correlation];

/// What a cell shows.
#[derive(Debug, Clone, Copy)]
pub struct CellInfo<'a> {
    pub path: &'a Path,
    /// 1-based rank.
    pub rank: usize,
    /// p(same) with the query.
    pub score: f32,
    pub labels: Option<Labels>,
    pub is_match: Option<bool>,
}

/// What the user did with a cell this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellClick {
    None,
    /// Selected it (single click or right click).
    Select,
    /// Asked for the pair in a view (double click: Compare; context menu: any).
    Open(Tab),
}

/// "id 12 c3", or "id 12" without a camera.
pub fn label_short(l: &Labels) -> String {
    match l.camera {
        Some(c) => format!("id {} c{c}", l.identity),
        None => format!("id {}", l.identity),
    }
}

/// The accessible label of a cell: "rank 3: p(same) 0.812, id 5 c2".
pub fn cell_label(info: &CellInfo<'_>) -> String {
    format!(
        "rank {}: p(same) {:.3}, {}",
        info.rank,
        info.score,
        info.labels.map_or("unlabelled".into(), |l| label_short(&l))
    )
}

/// Draw one ranked image in a `cell`-sized box (thumbnail of size `thumb`, its match border,
/// rank / score / labels below, a highlight when `selected`) and report clicks.
pub fn ranked_cell(
    ui: &mut egui::Ui,
    thumbs: &mut ThumbCache,
    info: &CellInfo<'_>,
    cell: Vec2,
    thumb: Vec2,
    selected: bool,
) -> CellClick {
    let (rect, resp) = ui.allocate_exact_size(cell, Sense::click());
    let img = Rect::from_center_size(
        pos2(rect.center().x, rect.top() + 3.0 + thumb.y / 2.0),
        thumb,
    );
    if selected {
        ui.painter().rect_filled(
            rect,
            4.0,
            ui.visuals().selection.bg_fill.gamma_multiply(0.5),
        );
        ui.painter().rect_stroke(
            rect,
            4.0,
            Stroke::new(2.0, ui.visuals().selection.stroke.color),
            egui::StrokeKind::Inside,
        );
    } else if resp.hovered() {
        ui.painter()
            .rect_filled(rect, 4.0, ui.visuals().widgets.hovered.weak_bg_fill);
    }
    paint_thumbnail(ui, thumbs, info.path, img);
    if let Some(m) = info.is_match {
        ui.painter().rect_stroke(
            img.expand(2.0),
            2.0,
            Stroke::new(3.0, match_color(m)),
            egui::StrokeKind::Outside,
        );
    }
    let text = format!(
        "#{} {:.3}\n{}",
        info.rank,
        info.score,
        info.labels.map_or("?".into(), |l| label_short(&l))
    );
    let text_color = if selected {
        ui.visuals().strong_text_color()
    } else {
        ui.visuals().text_color()
    };
    ui.painter().text(
        pos2(rect.center().x, img.bottom() + 5.0),
        egui::Align2::CENTER_TOP,
        text,
        egui::FontId::proportional(11.0),
        text_color,
    );
    let label = cell_label(info);
    resp.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, selected, &label));
    let mut click = CellClick::None;
    if resp.double_clicked() {
        click = CellClick::Open(Tab::Compare);
    } else if resp.clicked() || resp.secondary_clicked() {
        click = CellClick::Select;
    }
    resp.context_menu(|ui| {
        ui.label(format!("rank {} · p(same) {:.3}", info.rank, info.score));
        for tab in OPEN_IN {
            if ui.button(format!("Open pair in {tab}")).clicked() {
                click = CellClick::Open(tab);
                ui.close();
            }
        }
    });
    resp.on_hover_text(format!(
        "{}\np(same) = {:.4}\nclick: select · double click: Compare · right click: open in…",
        info.path.display(),
        info.score
    ));
    click
}

/// The action that opens `(query, gallery)` in `tab`.
pub fn open_action(query: &Path, gallery: &Path, tab: Tab) -> Action {
    Action::OpenPair {
        query: query.to_path_buf(),
        gallery: gallery.to_path_buf(),
        tab,
    }
}

/// "Open in Compare / Feature maps / Correlation" buttons for the selected pair (disabled
/// without one), after a short description of the selection.
pub fn open_buttons(
    ui: &mut egui::Ui,
    selection: Option<(&Path, &CellInfo<'_>)>,
    out: &mut Vec<Action>,
) {
    ui.horizontal_wrapped(|ui| {
        match selection {
            Some((_, info)) => {
                ui.label(
                    egui::RichText::new(format!(
                        "selected rank {} · p(same) {:.3} · {}",
                        info.rank,
                        info.score,
                        info.labels.map_or("unlabelled".into(), |l| label_short(&l))
                    ))
                    .color(match info.is_match {
                        Some(m) => match_color(m),
                        None => ui.visuals().text_color(),
                    }),
                );
            }
            None => {
                ui.label(egui::RichText::new("nothing selected").weak());
            }
        }
        for tab in OPEN_IN {
            let button = ui
                .add_enabled(
                    selection.is_some(),
                    egui::Button::new(format!("Open in {tab}")),
                )
                .on_hover_text(format!(
                    "the query in slot A, the selected image in slot B, shown in {tab} (Enter: Compare)"
                ));
            if button.clicked()
                && let Some((query, info)) = selection
            {
                out.push(open_action(query, info.path, tab));
            }
        }
        ui.label(egui::RichText::new("arrow keys move the selection").weak().small());
    });
}

/// A keyboard step through a ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Left,
    Right,
    Up,
    Down,
}

impl Step {
    /// The arrow keys pressed this frame (consumed), at most one step each.
    pub fn consume(ctx: &egui::Context) -> Vec<Step> {
        use egui::{Key, Modifiers};
        let mut steps = Vec::new();
        for (key, step) in [
            (Key::ArrowLeft, Step::Left),
            (Key::ArrowRight, Step::Right),
            (Key::ArrowUp, Step::Up),
            (Key::ArrowDown, Step::Down),
        ] {
            if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, key)) {
                steps.push(step);
            }
        }
        steps
    }
}

/// The selection after `step` in a ranking of `len` images laid out `per_row` to a row (a
/// strip is one row of `len`): left / right move by one, up / down by a row; it stays inside
/// the ranking. With nothing selected, any step selects rank 1.
pub fn step_selection(
    selected: Option<usize>,
    step: Step,
    len: usize,
    per_row: usize,
) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let Some(i) = selected else {
        return Some(0);
    };
    let per_row = per_row.max(1);
    let last = len - 1;
    Some(match step {
        Step::Left => i.saturating_sub(1),
        Step::Right => (i + 1).min(last),
        Step::Up => i.checked_sub(per_row).unwrap_or(i),
        Step::Down => {
            if i + per_row <= last {
                i + per_row
            } else {
                i
            }
        }
    })
}

/// The vertical scroll offset that brings row `row` (of height `row_h`, rows `step` apart)
/// into a viewport of height `view_h` scrolled to `offset`; None when it is already visible.
/// A viewport not drawn yet (`view_h` 0) gets the row at its top.
pub fn scroll_to_row(row: usize, row_h: f32, step: f32, offset: f32, view_h: f32) -> Option<f32> {
    let top = row as f32 * step;
    if view_h <= 0.0 {
        return (top != offset).then_some(top);
    }
    if top < offset {
        Some(top)
    } else if top + row_h > offset + view_h {
        Some((top + row_h - view_h).max(0.0))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewport_not_drawn_yet_shows_the_row_at_its_top() {
        // The first frame of a table knows no viewport height: row 0 stays in view (it used
        // to be scrolled one row past, hiding the worst query under the header).
        assert_eq!(scroll_to_row(0, 18.0, 22.0, 0.0, 0.0), None);
        assert_eq!(scroll_to_row(3, 18.0, 22.0, 0.0, 0.0), Some(66.0));
        assert_eq!(scroll_to_row(0, 18.0, 22.0, 0.0, 100.0), None);
    }

    #[test]
    fn arrow_steps_stay_inside_the_ranking() {
        // 10 images, 4 to a row: 0 1 2 3 / 4 5 6 7 / 8 9
        assert_eq!(step_selection(None, Step::Down, 10, 4), Some(0));
        assert_eq!(step_selection(Some(0), Step::Left, 10, 4), Some(0));
        assert_eq!(step_selection(Some(0), Step::Right, 10, 4), Some(1));
        assert_eq!(step_selection(Some(3), Step::Right, 10, 4), Some(4));
        assert_eq!(step_selection(Some(9), Step::Right, 10, 4), Some(9));
        assert_eq!(step_selection(Some(5), Step::Down, 10, 4), Some(9));
        assert_eq!(step_selection(Some(6), Step::Down, 10, 4), Some(6));
        assert_eq!(step_selection(Some(6), Step::Up, 10, 4), Some(2));
        assert_eq!(step_selection(Some(2), Step::Up, 10, 4), Some(2));
        assert_eq!(step_selection(Some(2), Step::Up, 0, 4), None);
    }

    #[test]
    fn scrolling_brings_a_row_into_view() {
        // Rows 50 high, 54 apart; a 200-high viewport at offset 100 shows y 100..300.
        assert_eq!(scroll_to_row(2, 50.0, 54.0, 100.0, 200.0), None);
        assert_eq!(scroll_to_row(1, 50.0, 54.0, 100.0, 200.0), Some(54.0));
        assert_eq!(scroll_to_row(5, 50.0, 54.0, 100.0, 200.0), Some(120.0));
    }
}
