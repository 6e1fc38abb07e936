//! A small window to pick an image from the loaded dataset: split, identity filter, and a
//! virtualised grid of thumbnails.

use eframe::egui::{self, Vec2, vec2};

use super::widgets::{ThumbCache, thumbnail};
use crate::data::{Dataset, Sample, Split};

/// Where a picked image goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowseTarget {
    CompareA,
    CompareB,
    Query,
}

impl BrowseTarget {
    fn title(self) -> &'static str {
        match self {
            BrowseTarget::CompareA => "Pick image A",
            BrowseTarget::CompareB => "Pick image B",
            BrowseTarget::Query => "Pick a query",
        }
    }
}

/// The browser's state.
#[derive(Debug, Default)]
pub struct DatasetBrowser {
    target: Option<BrowseTarget>,
    split: Option<Split>,
    filter: String,
}

const CELL: Vec2 = vec2(60.0, 160.0);

impl DatasetBrowser {
    /// Open the browser for `target`.
    pub fn open(&mut self, target: BrowseTarget) {
        self.target = Some(target);
        if target == BrowseTarget::Query && self.split.is_none() {
            self.split = Some(Split::Query);
        }
    }

    /// Draw the window; returns the picked sample.
    #[must_use]
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        dataset: Option<&Dataset>,
        thumbs: &mut ThumbCache,
    ) -> Option<(BrowseTarget, Sample)> {
        let target = self.target?;
        let mut open = true;
        let mut picked = None;
        egui::Window::new(target.title())
            .id(egui::Id::unique("dataset-browser"))
            .open(&mut open)
            .default_size([520.0, 560.0])
            .resizable(true)
            .show(ctx, |ui| {
                let Some(ds) = dataset else {
                    ui.label("No dataset loaded: open one with the dataset button in the top bar.");
                    return;
                };
                let splits: Vec<Split> =
                    [Split::Train, Split::Query, Split::Gallery, Split::Unsplit]
                        .into_iter()
                        .filter(|s| ds.samples.iter().any(|x| x.split == *s))
                        .collect();
                let split = match self.split.filter(|s| splits.contains(s)) {
                    Some(s) => s,
                    None => splits.first().copied().unwrap_or(Split::Unsplit),
                };
                ui.horizontal(|ui| {
                    for s in &splits {
                        if ui.selectable_label(split == *s, s.to_string()).clicked() {
                            self.split = Some(*s);
                        }
                    }
                    ui.separator();
                    ui.label("identity");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.filter)
                            .desired_width(60.0)
                            .hint_text("any"),
                    );
                });
                let want: Option<i64> = self.filter.trim().parse().ok();
                let items: Vec<&Sample> = ds
                    .samples
                    .iter()
                    .filter(|s| s.split == split)
                    .filter(|s| want.is_none() || s.identity == want)
                    .collect();
                ui.label(format!("{} images", items.len()));
                let spacing = ui.spacing().item_spacing;
                let per_row = ((ui.available_width() + spacing.x) / (CELL.x + 8.0 + spacing.x))
                    .floor()
                    .max(1.0) as usize;
                let rows = items.len().div_ceil(per_row);
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show_rows(ui, CELL.y + 18.0, rows, |ui, range| {
                        for row in range {
                            ui.horizontal(|ui| {
                                for s in items.iter().skip(row * per_row).take(per_row) {
                                    ui.vertical(|ui| {
                                        ui.set_width(CELL.x + 8.0);
                                        let r = thumbnail(ui, thumbs, &s.path, CELL)
                                            .on_hover_text(s.path.display().to_string());
                                        let id = s.identity.map_or("?".into(), |i| i.to_string());
                                        let cam =
                                            s.camera.map_or(String::new(), |c| format!(" c{c}"));
                                        ui.small(format!("{id}{cam}"));
                                        if r.clicked() {
                                            picked = Some((target, (*s).clone()));
                                        }
                                    });
                                }
                            });
                        }
                    });
            });
        if !open || picked.is_some() {
            self.target = None;
        }
        picked
    }
}
