//! The window's chrome: top bar (tabs, model and dataset pickers, theme, help), status bar
//! (running job, progress, Cancel, last error), the help window, frame-time statistics and the
//! PNG export of a screenshot.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, RichText};

use super::jobs::{Jobs, Pick};
use super::state::{Persisted, Tab, ThemeChoice, short_path};
use super::{Action, ModelState};
use crate::data::Dataset;

/// How long a note stays in the status bar.
const NOTE_FOR: Duration = Duration::from_secs(6);
/// Errors kept in the log.
const ERROR_LOG: usize = 50;

/// The keyboard shortcuts, as listed in the help window.
pub const SHORTCUTS: [(&str, &str); 13] = [
    ("Ctrl+1, Ctrl+2, …", "switch tabs, in the tab bar's order"),
    (
        "Ctrl+O",
        "open an image (Compare: slot A; Gallery: query; Training: dataset)",
    ),
    ("Ctrl+Shift+O", "open a model folder"),
    ("Ctrl+D", "open a dataset folder"),
    ("Ctrl+R", "compare again / rank again"),
    ("Ctrl+S", "swap A and B (Compare)"),
    ("Ctrl+T", "toggle dark / light theme"),
    (
        "Arrow keys",
        "move through the ranking (Gallery; the Evaluation browser's strip)",
    ),
    (
        "Enter",
        "open the selected ranked pair in Compare (right click: any view)",
    ),
    ("Space", "pause / resume training (Training)"),
    ("Esc", "cancel the running ranking or evaluation"),
    ("F1", "this help"),
    (
        "drag and drop",
        "images onto Compare (over B for slot B) or Gallery; folders as dataset or model",
    ),
];

/// What the top bar asks for.
pub enum TopAction {
    Theme,
    Model(PathBuf),
    Dataset(PathBuf),
    Do(Action),
}

/// Status-bar messages and the help window's state.
#[derive(Default)]
pub struct Chrome {
    /// The last error, until dismissed.
    pub error: Option<String>,
    /// Every error of this session (newest last).
    pub errors: VecDeque<String>,
    note: Option<(String, Instant)>,
    /// Whether the help window shows.
    pub help_open: bool,
    log_open: bool,
}

impl Chrome {
    /// Show an error (and keep it in the log).
    pub fn error(&mut self, message: String) {
        if self.errors.len() == ERROR_LOG {
            self.errors.pop_front();
        }
        self.errors.push_back(message.clone());
        self.error = Some(message);
    }

    /// Show a short-lived note.
    pub fn note(&mut self, message: String) {
        self.note = Some((message, Instant::now()));
    }

    /// The top bar; returns what was asked for.
    #[must_use]
    pub fn top_bar(
        &mut self,
        ui: &mut egui::Ui,
        persisted: &mut Persisted,
        model: &ModelState,
        dataset: Option<&Dataset>,
        dataset_loading: Option<&Path>,
    ) -> Vec<TopAction> {
        let mut out = Vec::new();
        egui::Panel::top("top-bar").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.heading(RichText::new(super::APP_NAME).strong());
                ui.separator();
                for (i, tab) in Tab::ALL.into_iter().enumerate() {
                    let r = ui
                        .selectable_label(persisted.tab == tab, tab.to_string())
                        .on_hover_text(format!("Ctrl+{}", i + 1));
                    if r.clicked() {
                        persisted.tab = tab;
                    }
                }
                ui.separator();
                let model_text = match (&model.dir, model.loaded) {
                    (Some(d), true) => format!("model: {}", short_path(d, 2)),
                    (Some(d), false) => format!("model: {} (loading…)", short_path(d, 2)),
                    (None, _) => "model: none".to_string(),
                };
                ui.menu_button(model_text, |ui| {
                    if ui.button("Open model folder…").clicked() {
                        out.push(TopAction::Do(Action::Pick(Pick::Model)));
                        ui.close();
                    }
                    if !persisted.recent_models.is_empty() {
                        ui.separator();
                        ui.label("recent");
                        for d in persisted.recent_models.clone() {
                            if ui.button(d.display().to_string()).clicked() {
                                out.push(TopAction::Model(d));
                                ui.close();
                            }
                        }
                    }
                })
                .response
                .on_hover_text(
                    model
                        .dir
                        .as_ref()
                        .map(|d| match model.auto {
                            Some(why) => format!("{}\n{why}", d.display()),
                            None => d.display().to_string(),
                        })
                        .unwrap_or_else(|| "no model".into()),
                );
                let backend = model.backend.as_deref().unwrap_or("backend: starting");
                ui.label(RichText::new(backend).weak())
                    .on_hover_text("the device the workers run on (--backend auto|gpu|cpu)");
                ui.separator();
                let ds_text = match (dataset_loading, dataset) {
                    (Some(d), _) => format!("dataset: {} (scanning…)", short_path(d, 2)),
                    (None, Some(ds)) => format!(
                        "dataset: {} ({} images)",
                        short_path(&ds.root, 2),
                        ds.samples.len()
                    ),
                    (None, None) => "dataset: none".into(),
                };
                ui.menu_button(ds_text, |ui| {
                    if ui.button("Open dataset folder…").clicked() {
                        out.push(TopAction::Do(Action::Pick(Pick::Dataset)));
                        ui.close();
                    }
                    if let Some(sample) = super::state::sample_dataset_dir()
                        && ui.button("Sample dataset").clicked()
                    {
                        out.push(TopAction::Dataset(sample));
                        ui.close();
                    }
                    if !persisted.recent_folders.is_empty() {
                        ui.separator();
                        ui.label("recent");
                        for d in persisted.recent_folders.clone() {
                            if ui.button(d.display().to_string()).clicked() {
                                out.push(TopAction::Dataset(d));
                                ui.close();
                            }
                        }
                    }
                });
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui
                        .button("?")
                        .on_hover_text("help and shortcuts (F1)")
                        .clicked()
                    {
                        self.help_open = !self.help_open;
                    }
                    let theme_label = match persisted.theme {
                        ThemeChoice::Dark => "Light theme",
                        ThemeChoice::Light => "Dark theme",
                    };
                    if ui
                        .button(theme_label)
                        .on_hover_text("toggle the theme (Ctrl+T)")
                        .clicked()
                    {
                        out.push(TopAction::Theme);
                    }
                });
            });
        });
        out
    }

    /// The status bar: job progress with Cancel, training line, last error or note.
    #[must_use]
    pub fn status_bar(
        &mut self,
        ui: &mut egui::Ui,
        jobs: &Jobs,
        training: Option<&str>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        egui::Panel::bottom("status-bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                if let Some(job) = jobs.current() {
                    ui.spinner();
                    let secs = job.started.elapsed().as_secs_f32();
                    match jobs.progress() {
                        Some(p) if p.total > 0 => {
                            let frac = p.done as f32 / p.total as f32;
                            ui.label(format!("{}: {}", job.kind, p.stage));
                            ui.add(
                                egui::ProgressBar::new(frac)
                                    .desired_width(220.0)
                                    .text(format!("{}/{} · {secs:.0}s", p.done, p.total)),
                            );
                        }
                        _ => {
                            ui.label(format!("{} · {secs:.1}s", job.kind));
                        }
                    }
                    if jobs.queued() > 1 {
                        ui.label(RichText::new(format!("+{} queued", jobs.queued() - 1)).weak());
                    }
                    if jobs.cancellable()
                        && ui
                            .button("Cancel")
                            .on_hover_text("stop this job (Esc)")
                            .clicked()
                    {
                        out.push(Action::Cancel);
                    }
                    ui.separator();
                }
                if let Some(t) = training {
                    ui.label(t);
                    ui.separator();
                }
                if let Some(err) = self.error.clone() {
                    ui.label(
                        RichText::new(format!("Error: {err}")).color(ui.visuals().error_fg_color),
                    );
                    if ui.small_button("x").on_hover_text("dismiss").clicked() {
                        self.error = None;
                    }
                    if ui.small_button("log").clicked() {
                        self.log_open = true;
                    }
                } else if let Some((note, at)) = &self.note {
                    if at.elapsed() < NOTE_FOR {
                        ui.label(RichText::new(note).weak());
                        ui.ctx().request_repaint_after(NOTE_FOR);
                    } else {
                        self.note = None;
                    }
                } else if jobs.current().is_none() && training.is_none() {
                    ui.label(RichText::new("ready").weak());
                }
            });
        });
        out
    }

    /// The help window (shortcuts, frame times) and the error log.
    pub fn help_window(&mut self, ctx: &egui::Context, frames: &FrameStats) {
        egui::Window::new("Help")
            .open(&mut self.help_open)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label("Keyboard shortcuts");
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (keys, what) in SHORTCUTS {
                        ui.label(RichText::new(keys).monospace());
                        ui.label(what);
                        ui.end_row();
                    }
                });
                ui.separator();
                ui.label(frames.summary());
            });
        egui::Window::new("Errors")
            .open(&mut self.log_open)
            .show(ctx, |ui| {
                egui::ScrollArea::vertical()
                    .max_height(300.0)
                    .show(ui, |ui| {
                        for e in self.errors.iter().rev() {
                            ui.label(RichText::new(e).color(Color32::from_rgb(220, 90, 90)));
                        }
                    });
            });
    }
}

/// Recent frame costs: the time spent building each frame in `App::ui` (CPU, excluding
/// painting), and egui's `unstable_dt` (time between frames, idle waits included). Shown in the
/// help window; `REID_EXPLORER_FRAME_LOG=1` prints a summary to stderr every few seconds.
pub struct FrameStats {
    cpu: VecDeque<f32>,
    dts: VecDeque<f32>,
    started: Option<Instant>,
    log: bool,
    last_log: Instant,
}

impl Default for FrameStats {
    fn default() -> Self {
        Self {
            cpu: VecDeque::new(),
            dts: VecDeque::new(),
            started: None,
            log: std::env::var_os("REID_EXPLORER_FRAME_LOG").is_some(),
            last_log: Instant::now(),
        }
    }
}

/// Frames kept for the statistics.
const FRAMES: usize = 240;

fn push(q: &mut VecDeque<f32>, v: f32) {
    if q.len() == FRAMES {
        q.pop_front();
    }
    q.push_back(v);
}

fn mean_max(q: &VecDeque<f32>) -> (f32, f32) {
    if q.is_empty() {
        return (0.0, 0.0);
    }
    (
        q.iter().sum::<f32>() / q.len() as f32,
        q.iter().copied().fold(0.0, f32::max),
    )
}

impl FrameStats {
    /// A frame starts.
    pub fn begin(&mut self) {
        self.started = Some(Instant::now());
    }

    /// The frame is built.
    pub fn end(&mut self, ctx: &egui::Context) {
        if let Some(t) = self.started.take() {
            push(&mut self.cpu, t.elapsed().as_secs_f32() * 1000.0);
        }
        push(&mut self.dts, ctx.input(|i| i.unstable_dt) * 1000.0);
        if self.log && self.last_log.elapsed() > Duration::from_secs(3) {
            eprintln!("{}", self.summary());
            self.last_log = Instant::now();
        }
    }

    /// One line: build time mean / max, and frame interval mean / max, in milliseconds.
    pub fn summary(&self) -> String {
        let (cm, cx) = mean_max(&self.cpu);
        let (dm, dx) = mean_max(&self.dts);
        format!(
            "frame build {cm:.1} ms mean, {cx:.1} ms max; interval (unstable_dt) {dm:.1} ms mean, {dx:.1} ms max; last {} frames",
            self.cpu.len()
        )
    }
}

/// Crop a window screenshot to `rect` (points) and write it as PNG.
pub fn save_screenshot(
    image: &egui::ColorImage,
    rect: egui::Rect,
    ppp: f32,
    path: &Path,
) -> Result<(), String> {
    let [w, h] = image.size;
    let clamp = |v: f32, hi: usize| (v * ppp).round().clamp(0.0, hi as f32) as usize;
    let (x0, y0) = (clamp(rect.min.x, w), clamp(rect.min.y, h));
    let (x1, y1) = (clamp(rect.max.x, w), clamp(rect.max.y, h));
    if x1 <= x0 || y1 <= y0 {
        return Err("nothing to export (empty area)".into());
    }
    let mut rgba = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for x in x0..x1 {
            let c = image.pixels[y * w + x];
            rgba.extend_from_slice(&[c.r(), c.g(), c.b(), 255]);
        }
    }
    crate::viz::save_png(path, &rgba, x1 - x0, y1 - y0).map_err(|e| e.to_string())
}
