//! A typed-path fallback for the file dialogs: where no dialog can be shown (no desktop portal,
//! e.g. under Xvfb or in a bare container), the dialog returns at once and this window asks
//! for the path instead.

use std::path::PathBuf;
use std::time::Duration;

use eframe::egui::{self, RichText};

use super::jobs::Pick;

/// A dialog that answered faster than this without a path was never shown.
pub const DIALOG_FAILED_WITHIN: Duration = Duration::from_millis(300);

/// The prompt's state.
#[derive(Debug, Default)]
pub struct PathPrompt {
    pick: Option<Pick>,
    text: String,
}

impl Pick {
    /// What the prompt asks for.
    fn question(self) -> &'static str {
        match self {
            Pick::CompareA => "Image A (file)",
            Pick::CompareB => "Image B (file)",
            Pick::Query => "Query image (file)",
            Pick::GalleryFolder => "Gallery folder",
            Pick::Dataset | Pick::TrainDataset => "Dataset folder",
            Pick::Model | Pick::TrainInit => "Model folder (config.json + weights.bpk)",
            Pick::TrainOut => "Output model folder (created if needed)",
            Pick::ExportCsv => "Write the ranking CSV to",
            Pick::ExportPng => "Write the PNG to",
            Pick::EvalExport => "Export the evaluation into (a folder, created if needed)",
            Pick::CompareRun => "Run folder to compare with (its history.json)",
        }
    }

    /// Whether the path must already exist.
    fn must_exist(self) -> bool {
        !matches!(
            self,
            Pick::TrainOut | Pick::ExportCsv | Pick::ExportPng | Pick::EvalExport
        )
    }
}

impl PathPrompt {
    /// Ask for `pick`'s path, starting from `prefill`.
    pub fn open(&mut self, pick: Pick, prefill: String) {
        self.pick = Some(pick);
        self.text = prefill;
    }

    /// Draw the window; returns the path entered.
    #[must_use]
    pub fn show(&mut self, ctx: &egui::Context) -> Option<(Pick, PathBuf)> {
        let pick = self.pick?;
        let mut open = true;
        let mut chosen = None;
        let mut cancel = false;
        egui::Window::new("Enter a path")
            .id(egui::Id::unique("path-prompt"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 120.0))
            .show(ctx, |ui| {
                ui.label(
                    RichText::new("No file dialog is available here: type the path instead.")
                        .weak(),
                );
                ui.label(pick.question());
                let edit = ui.add(egui::TextEdit::singleline(&mut self.text).desired_width(460.0));
                let path = PathBuf::from(self.text.trim());
                let exists = path.exists();
                let ok = !self.text.trim().is_empty() && (exists || !pick.must_exist());
                if pick.must_exist() && !self.text.trim().is_empty() && !exists {
                    ui.label(
                        RichText::new("no such file or folder").color(ui.visuals().error_fg_color),
                    );
                }
                let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    if (ui.add_enabled(ok, egui::Button::new("OK")).clicked() || (entered && ok))
                        && chosen.is_none()
                    {
                        chosen = Some((pick, path.clone()));
                    }
                    if ui.button("Cancel").clicked() {
                        cancel = true;
                    }
                });
            });
        if !open || cancel || chosen.is_some() {
            self.pick = None;
        }
        chosen
    }
}
