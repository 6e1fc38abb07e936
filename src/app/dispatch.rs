//! Applying what happened: worker events, background results, view actions, dropped files and
//! keyboard shortcuts, all turned into state changes of [`ExplorerApp`].

use std::path::{Path, PathBuf};

use eframe::egui;

use super::jobs::{JobKind, Pick, TaskResult};
use super::state::Tab;
use super::{Action, ExplorerApp, Slot, chrome, compare, prompt, volume};
use crate::protocol::Event;

impl ExplorerApp {
    pub(super) fn handle_event(&mut self, event: Event) {
        match event {
            Event::ModelLoaded {
                dir,
                config,
                calibration,
                backend,
            } => {
                if self.model.dir.as_deref() == Some(dir.as_path()) {
                    self.model.loaded = true;
                    self.model.backend = Some(backend);
                    self.model.config = Some(config);
                    self.model.calibration = calibration;
                }
                self.persisted.model_dir = Some(dir.clone());
                self.persisted.remember_model(&dir);
                // The app's own choice says why it suits the data shown.
                let why = match self.model.auto {
                    Some(w) if self.model.dir.as_deref() == Some(dir.as_path()) => {
                        format!(" ({w})")
                    }
                    _ => String::new(),
                };
                self.chrome
                    .note(format!("model loaded: {}{why}", dir.display()));
                if self.pair.both().is_some() {
                    self.pair_changed();
                }
            }
            Event::Compared {
                a,
                b,
                p_same,
                millis,
                backend,
            } => {
                if self.pair.a.as_ref() == Some(&a) && self.pair.b.as_ref() == Some(&b) {
                    self.views.compare.set_result(compare::CompareResult {
                        a,
                        b,
                        p_same,
                        millis,
                        backend,
                    });
                }
            }
            Event::Traced { a, b, trace } => {
                if self.pair.a.as_ref() == Some(&a) && self.pair.b.as_ref() == Some(&b) {
                    self.views
                        .features
                        .set_trace(trace.clone(), self.persisted.colormap, &self.bg);
                    self.views
                        .correlation
                        .set_trace(trace, volume::geometry(self.model.config.as_ref()));
                }
            }
            Event::Progress { .. } => {}
            Event::Ranked(r) => self.views.gallery.set_ranking(r),
            Event::Evaluated(e) => {
                self.views.eval_browser.set_evaluation(e.clone());
                self.views.gallery.set_evaluation(e);
            }
            Event::Cancelled { job } => self.chrome.note(format!("{job}: cancelled")),
            Event::Train(e) => self.views.training.on_event(e),
            Event::Error { job, error } => {
                if job == JobKind::Compare {
                    self.views.compare.set_error(error.to_string());
                }
                self.chrome.error(format!("{job}: {error}"));
            }
        }
    }

    pub(super) fn handle_task(&mut self, ctx: &egui::Context, result: TaskResult) {
        match result {
            TaskResult::Picked {
                pick,
                path: Some(path),
                ..
            } => self.picked(ctx, pick, path),
            TaskResult::Picked {
                pick,
                path: None,
                elapsed,
            } => {
                if elapsed < prompt::DIALOG_FAILED_WITHIN {
                    let prefill = self.prefill(pick);
                    self.prompt.open(pick, prefill);
                } else if pick == Pick::ExportPng {
                    self.png_export = None;
                }
            }
            TaskResult::Scanned { root, result } => {
                if self.dataset_loading.as_deref() == Some(root.as_path()) {
                    self.dataset_loading = None;
                }
                match result {
                    Ok(ds) => {
                        self.persisted.dataset_dir = Some(root.clone());
                        self.persisted.remember_folder(&root);
                        if self.pair.a.is_none()
                            && self.pair.b.is_none()
                            && let Some((a, b)) = Self::default_pair(&ds)
                        {
                            self.set_pair(a, b);
                        }
                        self.views.gallery.dataset_opened(&ds);
                        self.chrome.note(format!(
                            "dataset: {} images ({})",
                            ds.samples.len(),
                            root.display()
                        ));
                        self.dataset = Some(ds);
                    }
                    Err(e) => self.chrome.error(format!("dataset: {e}")),
                }
            }
            TaskResult::Grids { generation, result } => match result {
                Ok(grids) => self.views.features.grids_ready(ctx, generation, grids),
                Err(e) => self.chrome.error(format!("feature maps: {e}")),
            },
            TaskResult::Saved { what, result } => match result {
                Ok(path) => self
                    .chrome
                    .note(format!("{what} written: {}", path.display())),
                Err(e) => self.chrome.error(format!("{what}: {e}")),
            },
            TaskResult::History { out, into, result } => match result {
                Ok(Some(history)) => self.views.training.history_arrived(out, into, &history),
                Ok(None) => self
                    .chrome
                    .note(format!("{}: no recorded training history", out.display())),
                Err(e) => self.chrome.error(format!("training history: {e}")),
            },
            TaskResult::Failed { task, error } => {
                self.chrome
                    .error(format!("background task {task}: {error}"));
            }
            TaskResult::Screenshot(image) => {
                if let Some((Some(path), rect)) = self.png_export.take() {
                    let ppp = ctx.pixels_per_point();
                    self.bg.spawn("export-png", move || TaskResult::Saved {
                        what: "PNG",
                        result: chrome::save_screenshot(&image, rect, ppp, &path).map(|()| path),
                    });
                }
            }
        }
    }

    /// A starting text for the typed-path prompt.
    pub(super) fn prefill(&self, pick: Pick) -> String {
        let cwd = std::env::current_dir().unwrap_or_default();
        let path = match pick {
            Pick::CompareA | Pick::CompareB | Pick::Query => {
                self.persisted.recent_files.first().cloned()
            }
            Pick::GalleryFolder | Pick::Dataset => self.dataset.as_ref().map(|d| d.root.clone()),
            Pick::TrainDataset => Some(self.persisted.train.dataset.clone()),
            Pick::TrainOut => Some(self.persisted.train.out.clone()),
            Pick::TrainInit => self
                .persisted
                .train
                .init_from
                .clone()
                .or(self.model.dir.clone()),
            Pick::Model => self.model.dir.clone(),
            Pick::CompareRun => self.persisted.train.out.parent().map(Path::to_path_buf),
            Pick::ExportCsv => Some(cwd.join("ranking.csv")),
            Pick::ExportPng => Some(cwd.join("gallery.png")),
            Pick::EvalExport => Some(
                self.views
                    .eval_browser
                    .export_dir()
                    .unwrap_or_else(|| cwd.join("evaluation")),
            ),
        };
        path.map(|p| p.display().to_string()).unwrap_or_default()
    }

    pub(super) fn picked(&mut self, ctx: &egui::Context, pick: Pick, path: PathBuf) {
        match pick {
            Pick::CompareA => self.apply(Action::SetImage(Slot::A, path)),
            Pick::CompareB => self.apply(Action::SetImage(Slot::B, path)),
            Pick::Query => {
                self.persisted.remember_file(&path);
                self.views.gallery.set_query(path, None);
            }
            Pick::GalleryFolder => {
                self.persisted.remember_folder(&path);
                self.views.gallery.set_gallery_folder(path);
            }
            Pick::Dataset => self.open_dataset(path),
            Pick::Model => self.load_model(path),
            Pick::TrainDataset => self.persisted.train.dataset = path,
            Pick::TrainOut => self.persisted.train.out = path,
            Pick::TrainInit => self.persisted.train.init_from = Some(path),
            Pick::CompareRun => self.apply(Action::LoadHistory {
                out: path,
                into: super::HistoryUse::Overlay,
            }),
            Pick::ExportCsv => {
                if let Some(csv) = self.views.gallery.csv() {
                    self.bg.spawn("export-csv", move || TaskResult::Saved {
                        what: "CSV",
                        result: std::fs::write(&path, csv)
                            .map(|()| path.clone())
                            .map_err(|e| format!("{}: {e}", path.display())),
                    });
                }
            }
            Pick::EvalExport => {
                if let Some(action) = self.views.eval_browser.export_to(path) {
                    self.apply(action);
                }
            }
            Pick::ExportPng => {
                if let Some((_, rect)) = self.png_export {
                    self.png_export = Some((Some(path), rect));
                    // Two frames later, so a closing dialog or prompt is not in the picture.
                    self.png_countdown = 2;
                    ctx.request_repaint();
                }
            }
        }
    }

    pub(super) fn apply(&mut self, action: Action) {
        match action {
            Action::Pick(p) => self.bg.pick(p),
            Action::Browse(t) => self.browser.open(t),
            Action::SetImage(slot, path) => {
                self.thumbs.forget(&path);
                match slot {
                    Slot::A => self.pair.a = Some(path),
                    Slot::B => self.pair.b = Some(path),
                }
                self.pair_changed();
            }
            Action::OpenPair {
                query,
                gallery,
                tab,
            } => {
                let pair = super::Pair {
                    a: Some(query),
                    b: Some(gallery),
                };
                // The same pair again: its results are there (or on their way).
                if pair != self.pair {
                    self.pair = pair;
                    self.pair_changed();
                }
                self.persisted.tab = tab;
            }
            Action::SwapPair => {
                std::mem::swap(&mut self.pair.a, &mut self.pair.b);
                self.pair_changed();
            }
            Action::CompareAgain => self.pair_changed(),
            Action::Send(c) => self.jobs.send(c),
            Action::Train(c) => self.jobs.train(c),
            Action::UseModel(dir) => self.load_model(dir),
            Action::LoadHistory { out, into } => self.bg.spawn("read-history", move || {
                let result = crate::train::checkpoint::read_history(&out)
                    .map(|h| h.map(Box::new))
                    .map_err(|e| e.to_string());
                TaskResult::History { out, into, result }
            }),
            Action::ExportCsv => self.bg.pick(Pick::ExportCsv),
            Action::ExportEvaluation { evaluation, dir } => {
                self.chrome
                    .note(format!("exporting the evaluation to {}…", dir.display()));
                self.bg
                    .spawn("export-evaluation", move || TaskResult::Saved {
                        what: "evaluation export",
                        result: crate::eval::export::export_evaluation(
                            &evaluation,
                            &dir,
                            &crate::eval::export::ExportOptions::default(),
                        )
                        .map(|summary| summary.dir)
                        .map_err(|e| e.to_string()),
                    });
            }
            Action::ExportPng(rect) => {
                self.png_export = Some((None, rect));
                self.bg.pick(Pick::ExportPng);
            }
            Action::Cancel => self.jobs.cancel_all(),
        }
    }

    /// Files dropped on the window: images go to the compare slots (or the query), folders
    /// become the dataset, or the model when they hold a `config.json`.
    pub(super) fn dropped_files(&mut self, ctx: &egui::Context) -> Vec<Action> {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        let mut actions = Vec::new();
        let (folders, files): (Vec<PathBuf>, Vec<PathBuf>) =
            dropped.into_iter().partition(|p| p.is_dir());
        for dir in folders {
            if dir.join(crate::model::io::CONFIG_FILE).exists() {
                actions.push(Action::UseModel(dir));
            } else if self.persisted.tab == Tab::Gallery {
                self.views.gallery.set_gallery_folder(dir);
            } else {
                self.open_dataset(dir);
            }
        }
        if files.is_empty() {
            return actions;
        }
        match self.persisted.tab {
            Tab::Gallery => {
                if let Some(f) = files.into_iter().next() {
                    self.views.gallery.set_query(f, None);
                }
            }
            _ => {
                let hovered_b = self.views.compare.pointer_over_b(ctx);
                match files.as_slice() {
                    [one] => actions.push(Action::SetImage(
                        if hovered_b { Slot::B } else { Slot::A },
                        one.clone(),
                    )),
                    [a, b, ..] => {
                        actions.push(Action::SetImage(Slot::A, a.clone()));
                        actions.push(Action::SetImage(Slot::B, b.clone()));
                    }
                    [] => {}
                }
            }
        }
        actions
    }

    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) -> Vec<Action> {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let mut actions = Vec::new();
        let consume = |m: Modifiers, k: Key| {
            ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(m, k)))
        };
        let digits = [
            Key::Num1,
            Key::Num2,
            Key::Num3,
            Key::Num4,
            Key::Num5,
            Key::Num6,
            Key::Num7,
            Key::Num8,
            Key::Num9,
        ];
        for (tab, key) in Tab::ALL.into_iter().zip(digits) {
            if consume(Modifiers::COMMAND, key) {
                self.persisted.tab = tab;
            }
        }
        if consume(Modifiers::COMMAND | Modifiers::SHIFT, Key::O) {
            actions.push(Action::Pick(Pick::Model));
        }
        if consume(Modifiers::COMMAND, Key::O) {
            actions.push(Action::Pick(match self.persisted.tab {
                Tab::Gallery => Pick::Query,
                Tab::Training => Pick::TrainDataset,
                _ => Pick::CompareA,
            }));
        }
        if consume(Modifiers::COMMAND, Key::D) {
            actions.push(Action::Pick(Pick::Dataset));
        }
        if consume(Modifiers::COMMAND, Key::R) {
            match self.persisted.tab {
                Tab::Gallery => actions.extend(self.views.gallery.rank_action()),
                _ => actions.push(Action::CompareAgain),
            }
        }
        if consume(Modifiers::COMMAND, Key::S) && self.persisted.tab == Tab::Compare {
            actions.push(Action::SwapPair);
        }
        if consume(Modifiers::COMMAND, Key::T) {
            self.toggle_theme(ctx);
        }
        if consume(Modifiers::NONE, Key::F1) {
            self.chrome.help_open = !self.chrome.help_open;
        }
        if consume(Modifiers::NONE, Key::Escape) && self.jobs.cancellable() {
            actions.push(Action::Cancel);
        }
        // Arrow keys move through the ranking on show, Enter opens the selection in Compare
        // (not while typing: a text field keeps its keys).
        if !ctx.egui_wants_keyboard_input() {
            match self.persisted.tab {
                Tab::Gallery => {
                    for step in super::ranked::Step::consume(ctx) {
                        self.views.gallery.step_selection(step);
                    }
                    if consume(Modifiers::NONE, Key::Enter) {
                        actions.extend(self.views.gallery.open_selected(Tab::Compare));
                    }
                }
                Tab::Evaluation => {
                    for step in super::ranked::Step::consume(ctx) {
                        self.views.eval_browser.step(step);
                    }
                    if consume(Modifiers::NONE, Key::Enter) {
                        actions.extend(self.views.eval_browser.open_selected(Tab::Compare));
                    }
                }
                _ => {}
            }
        }
        if !ctx.egui_wants_keyboard_input()
            && consume(Modifiers::NONE, Key::Space)
            && self.persisted.tab == Tab::Training
        {
            actions.extend(self.views.training.toggle_pause());
        }
        actions
    }

    pub(super) fn toggle_theme(&mut self, ctx: &egui::Context) {
        self.persisted.theme = self.persisted.theme.toggled();
        ctx.set_theme(self.persisted.theme.egui());
    }
}
