//! The egui application. It never touches Burn: it sends commands to worker threads
//! ([`crate::worker::Workers`], wrapped by [`jobs::Jobs`]) and draws what they send back.
//!
//! Layout: a top bar (tabs, model and dataset pickers, theme, help), a status bar (the running
//! job with its progress and a Cancel button, the last error) and one view per tab, each in its
//! own module. Views draw the state handed to them and return [`Action`]s, applied after
//! drawing. [`state::Persisted`] is what survives a restart; everything else is runtime state.

mod browser;
mod chrome;
mod compare;
mod correlation;
mod features;
mod gallery;
mod jobs;
mod prompt;
pub mod state;
mod training;
mod widgets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;

use crate::backend::BackendChoice;
use crate::data::{Dataset, Split};
use crate::model::ModelConfig;
use crate::protocol::{Command, Event, TrainCommand, TrainConfig};
use browser::{BrowseTarget, DatasetBrowser};
use jobs::{Background, Jobs, Pick, TaskResult};
pub use state::{Persisted, Tab, ThemeChoice};
use widgets::ThumbCache;

/// The window's title.
pub const APP_NAME: &str = "reid-explorer";

/// How the app starts: backend, model and dataset. [`AppOptions::from_defaults`] gives what
/// `reid-explorer` with no command uses; tests pass their own folders.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: BackendChoice,
    /// Model folder to load (None: the persisted one, else the default).
    pub model_dir: Option<PathBuf>,
    /// Dataset to open (None: the persisted one, else the sample).
    pub dataset_dir: Option<PathBuf>,
    /// Read the persisted state from eframe's storage.
    pub use_storage: bool,
    /// Replace the training form (tests use tiny runs).
    pub train: Option<TrainConfig>,
}

impl AppOptions {
    /// The defaults of the desktop app.
    pub fn from_defaults(backend: BackendChoice) -> Self {
        Self {
            backend,
            model_dir: None,
            dataset_dir: None,
            use_storage: true,
            train: None,
        }
    }
}

/// Which compare slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

/// The pair of images shared by Compare, Feature maps and Correlation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pair {
    pub a: Option<PathBuf>,
    pub b: Option<PathBuf>,
}

impl Pair {
    /// Both images, when both are set.
    pub fn both(&self) -> Option<(PathBuf, PathBuf)> {
        self.a.clone().zip(self.b.clone())
    }
}

/// The loaded model as the GUI knows it.
#[derive(Debug, Clone, Default)]
pub struct ModelState {
    /// Folder asked for (loading or loaded).
    pub dir: Option<PathBuf>,
    /// Whether `dir` is loaded.
    pub loaded: bool,
    /// The backend description the worker reported.
    pub backend: Option<String>,
    /// The folder's configuration (correlation geometry), read from `config.json`.
    pub config: Option<ModelConfig>,
}

/// What views hand back to the app, applied after drawing.
#[must_use]
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Open a file dialog.
    Pick(Pick),
    /// Open the dataset browser.
    Browse(BrowseTarget),
    /// Put an image in a compare slot.
    SetImage(Slot, PathBuf),
    /// Swap A and B.
    SwapPair,
    /// Compare (and trace) the pair again.
    CompareAgain,
    /// Send a command to the inference worker.
    Send(Command),
    /// Send a command to the training worker.
    Train(TrainCommand),
    /// Load this model folder.
    UseModel(PathBuf),
    /// Export the gallery ranking as CSV (asks for a file).
    ExportCsv,
    /// Export this part of the window as PNG (asks for a file).
    ExportPng(egui::Rect),
    /// Cancel the running jobs.
    Cancel,
}

/// What views may read (and the few persisted settings they may change) while drawing.
pub(crate) struct ViewCtx<'a> {
    pub persisted: &'a mut Persisted,
    pub thumbs: &'a mut ThumbCache,
    pub dataset: Option<&'a Dataset>,
    pub model: &'a ModelState,
    pub pair: &'a Pair,
    pub jobs: &'a Jobs,
}

/// The application: persisted settings, the worker handles and the five views.
pub struct ExplorerApp {
    persisted: Persisted,
    jobs: Jobs,
    bg: Background,
    thumbs: ThumbCache,
    model: ModelState,
    dataset: Option<Arc<Dataset>>,
    dataset_loading: Option<PathBuf>,
    pair: Pair,
    browser: DatasetBrowser,
    prompt: prompt::PathPrompt,
    compare: compare::CompareView,
    gallery: gallery::GalleryView,
    features: features::FeaturesView,
    correlation: correlation::CorrelationView,
    training: training::TrainingView,
    chrome: chrome::Chrome,
    /// Where the next screenshot goes, and which part of the window.
    png_export: Option<(Option<PathBuf>, egui::Rect)>,
    /// Frames to wait before taking the export screenshot.
    png_countdown: u8,
    frames: chrome::FrameStats,
}

impl ExplorerApp {
    /// Build the app: read the persisted state, start the workers, open the dataset.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = &cc.egui_ctx;
        let mut persisted = if options.use_storage { Persisted::load(cc.storage) } else { Persisted::default() };
        if let Some(train) = options.train {
            persisted.train = train;
        }
        let model_dir = options
            .model_dir
            .or_else(|| persisted.model_dir.clone().filter(|d| d.exists()))
            .or_else(state::default_model_dir);
        let dataset_dir = options
            .dataset_dir
            .or_else(|| persisted.dataset_dir.clone().filter(|d| d.exists()))
            .or_else(state::sample_dataset_dir);
        ctx.set_theme(persisted.theme.egui());
        let jobs = Jobs::spawn(options.backend, model_dir.clone(), ctx);
        let bg = Background::new(ctx);
        let mut chrome = chrome::Chrome::default();
        if model_dir.is_none() {
            chrome.error = Some(format!(
                "no model found ({} or {} under {}): open a model folder, or train one in the Training tab",
                crate::model::DEFAULT_MODEL_DIR,
                state::SYNTHETIC_MODEL_DIR,
                std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
            ));
        }
        if let Some(dir) = &model_dir {
            bg.read_model_config(dir.clone());
        }
        let mut app = Self {
            persisted,
            jobs,
            bg,
            thumbs: ThumbCache::new(ctx),
            model: ModelState {
                dir: model_dir,
                ..ModelState::default()
            },
            dataset: None,
            dataset_loading: None,
            pair: Pair::default(),
            browser: DatasetBrowser::default(),
            prompt: prompt::PathPrompt::default(),
            compare: compare::CompareView::default(),
            gallery: gallery::GalleryView::default(),
            features: features::FeaturesView::default(),
            correlation: correlation::CorrelationView::default(),
            training: training::TrainingView::default(),
            chrome,
            png_export: None,
            png_countdown: 0,
            frames: chrome::FrameStats::default(),
        };
        if let Some(dir) = dataset_dir {
            app.open_dataset(dir);
        }
        app
    }

    /// The tab on show.
    pub fn tab(&self) -> Tab {
        self.persisted.tab
    }

    /// Switch tabs.
    pub fn set_tab(&mut self, tab: Tab) {
        self.persisted.tab = tab;
    }

    /// Put two images in the compare slots (compares and traces them).
    pub fn set_pair(&mut self, a: PathBuf, b: PathBuf) {
        self.pair = Pair { a: Some(a), b: Some(b) };
        self.pair_changed();
    }

    /// The persisted settings.
    pub fn persisted(&self) -> &Persisted {
        &self.persisted
    }

    fn open_dataset(&mut self, dir: PathBuf) {
        self.dataset_loading = Some(dir.clone());
        self.bg.scan(dir);
    }

    fn load_model(&mut self, dir: PathBuf) {
        self.model = ModelState {
            dir: Some(dir.clone()),
            ..ModelState::default()
        };
        self.jobs.send(Command::LoadModel { dir: dir.clone() });
        self.bg.read_model_config(dir);
    }

    /// Compare and trace the pair (when both images are set and a model is there).
    fn pair_changed(&mut self) {
        self.compare.clear();
        if let Some((a, b)) = self.pair.both() {
            for p in [&a, &b] {
                self.persisted.remember_file(p);
            }
            if self.model.dir.is_some() {
                self.jobs.send(Command::Compare { a: a.clone(), b: b.clone() });
                self.jobs.send(Command::Trace { a, b });
            }
        }
    }

    /// The first query and a gallery image of the same identity from another camera.
    fn default_pair(ds: &Dataset) -> Option<(PathBuf, PathBuf)> {
        let queries: Vec<_> = ds.split(Split::Query).collect();
        let pool: Vec<_> = if queries.is_empty() { ds.samples.iter().collect() } else { queries };
        let a = pool.iter().find(|s| s.identity.is_some_and(|i| i > 0)).or(pool.first())?;
        let a_path: &Path = &a.path;
        let others = move || ds.samples.iter().filter(move |s| s.path != a_path);
        let b = others()
            .find(|s| s.identity == a.identity && s.camera != a.camera)
            .or_else(|| others().find(|s| s.identity == a.identity))
            .or_else(|| others().next())?;
        Some((a.path.clone(), b.path.clone()))
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::ModelLoaded { dir, backend } => {
                if self.model.dir.as_deref() == Some(dir.as_path()) {
                    self.model.loaded = true;
                    self.model.backend = Some(backend);
                }
                self.persisted.model_dir = Some(dir.clone());
                self.persisted.remember_model(&dir);
                self.chrome.note(format!("model loaded: {}", dir.display()));
                if self.pair.both().is_some() {
                    self.pair_changed();
                }
            }
            Event::Compared { a, b, p_same, millis, backend } => {
                if self.pair.a.as_ref() == Some(&a) && self.pair.b.as_ref() == Some(&b) {
                    self.compare.set_result(compare::CompareResult { a, b, p_same, millis, backend });
                }
            }
            Event::Traced { a, b, trace } => {
                if self.pair.a.as_ref() == Some(&a) && self.pair.b.as_ref() == Some(&b) {
                    self.features.set_trace(trace.clone(), self.persisted.colormap, &self.bg);
                    self.correlation.set_trace(trace, correlation::geometry(self.model.config.as_ref()));
                }
            }
            Event::Progress { .. } => {}
            Event::Ranked(r) => self.gallery.set_ranking(r),
            Event::Evaluated(e) => self.gallery.set_evaluation(e),
            Event::Cancelled { job } => self.chrome.note(format!("{job}: cancelled")),
            Event::Train(e) => self.training.on_event(e),
            Event::Error { job, message } => {
                if job == "compare" {
                    self.compare.set_error(message.clone());
                }
                self.chrome.error(format!("{job}: {message}"));
            }
        }
    }

    fn handle_task(&mut self, ctx: &egui::Context, result: TaskResult) {
        match result {
            TaskResult::Picked { pick, path: Some(path), .. } => self.picked(ctx, pick, path),
            TaskResult::Picked { pick, path: None, elapsed } => {
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
                        self.gallery.dataset_opened(&ds);
                        self.chrome.note(format!("dataset: {} images ({})", ds.samples.len(), root.display()));
                        self.dataset = Some(ds);
                    }
                    Err(e) => self.chrome.error(format!("dataset: {e}")),
                }
            }
            TaskResult::ModelConfig { dir, result } => {
                if self.model.dir.as_deref() == Some(dir.as_path()) {
                    match result {
                        Ok(c) => self.model.config = Some(c),
                        Err(e) => self.chrome.error(format!("model: {e}")),
                    }
                }
            }
            TaskResult::Grids { generation, result } => match result {
                Ok(grids) => self.features.grids_ready(ctx, generation, grids),
                Err(e) => self.chrome.error(format!("feature maps: {e}")),
            },
            TaskResult::Saved { what, result } => match result {
                Ok(path) => self.chrome.note(format!("{what} written: {}", path.display())),
                Err(e) => self.chrome.error(format!("{what}: {e}")),
            },
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
    fn prefill(&self, pick: Pick) -> String {
        let cwd = std::env::current_dir().unwrap_or_default();
        let path = match pick {
            Pick::CompareA | Pick::CompareB | Pick::Query => self.persisted.recent_files.first().cloned(),
            Pick::GalleryFolder | Pick::Dataset => self.dataset.as_ref().map(|d| d.root.clone()),
            Pick::TrainDataset => Some(self.persisted.train.dataset.clone()),
            Pick::TrainOut => Some(self.persisted.train.out.clone()),
            Pick::Model => self.model.dir.clone(),
            Pick::ExportCsv => Some(cwd.join("ranking.csv")),
            Pick::ExportPng => Some(cwd.join("gallery.png")),
        };
        path.map(|p| p.display().to_string()).unwrap_or_default()
    }

    fn picked(&mut self, ctx: &egui::Context, pick: Pick, path: PathBuf) {
        match pick {
            Pick::CompareA => self.apply(Action::SetImage(Slot::A, path)),
            Pick::CompareB => self.apply(Action::SetImage(Slot::B, path)),
            Pick::Query => {
                self.persisted.remember_file(&path);
                self.gallery.set_query(path, None);
            }
            Pick::GalleryFolder => {
                self.persisted.remember_folder(&path);
                self.gallery.set_gallery_folder(path);
            }
            Pick::Dataset => self.open_dataset(path),
            Pick::Model => self.load_model(path),
            Pick::TrainDataset => self.persisted.train.dataset = path,
            Pick::TrainOut => self.persisted.train.out = path,
            Pick::ExportCsv => {
                if let Some(csv) = self.gallery.csv() {
                    self.bg.spawn("export-csv", move || TaskResult::Saved {
                        what: "CSV",
                        result: std::fs::write(&path, csv).map(|()| path.clone()).map_err(|e| format!("{}: {e}", path.display())),
                    });
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

    fn apply(&mut self, action: Action) {
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
            Action::SwapPair => {
                std::mem::swap(&mut self.pair.a, &mut self.pair.b);
                self.pair_changed();
            }
            Action::CompareAgain => self.pair_changed(),
            Action::Send(c) => self.jobs.send(c),
            Action::Train(c) => self.jobs.train(c),
            Action::UseModel(dir) => self.load_model(dir),
            Action::ExportCsv => self.bg.pick(Pick::ExportCsv),
            Action::ExportPng(rect) => {
                self.png_export = Some((None, rect));
                self.bg.pick(Pick::ExportPng);
            }
            Action::Cancel => self.jobs.cancel_all(),
        }
    }

    /// Files dropped on the window: images go to the compare slots (or the query), folders
    /// become the dataset, or the model when they hold a `config.json`.
    fn dropped_files(&mut self, ctx: &egui::Context) -> Vec<Action> {
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        let mut actions = Vec::new();
        let (folders, files): (Vec<PathBuf>, Vec<PathBuf>) = dropped.into_iter().partition(|p| p.is_dir());
        for dir in folders {
            if dir.join(crate::model::io::CONFIG_FILE).exists() {
                actions.push(Action::UseModel(dir));
            } else if self.persisted.tab == Tab::Gallery {
                self.gallery.set_gallery_folder(dir);
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
                    self.gallery.set_query(f, None);
                }
            }
            _ => {
                let hovered_b = self.compare.pointer_over_b(ctx);
                match files.as_slice() {
                    [one] => actions.push(Action::SetImage(if hovered_b { Slot::B } else { Slot::A }, one.clone())),
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

    fn shortcuts(&mut self, ctx: &egui::Context) -> Vec<Action> {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let mut actions = Vec::new();
        let consume = |m: Modifiers, k: Key| ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(m, k)));
        let digits = [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5];
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
                Tab::Gallery => actions.extend(self.gallery.rank_action()),
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
        if !ctx.egui_wants_keyboard_input() && consume(Modifiers::NONE, Key::Space) && self.persisted.tab == Tab::Training {
            actions.extend(self.training.toggle_pause());
        }
        actions
    }

    fn toggle_theme(&mut self, ctx: &egui::Context) {
        self.persisted.theme = self.persisted.theme.toggled();
        ctx.set_theme(self.persisted.theme.egui());
    }
}

impl eframe::App for ExplorerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.frames.begin();
        for event in self.jobs.poll() {
            self.handle_event(event);
        }
        for result in self.bg.poll() {
            self.handle_task(&ctx, result);
        }
        self.thumbs.begin_frame();
        let mut actions = self.shortcuts(&ctx);
        actions.extend(self.dropped_files(&ctx));

        let top = self.chrome.top_bar(ui, &mut self.persisted, &self.model, self.dataset.as_deref(), self.dataset_loading.as_deref());
        for t in top {
            match t {
                chrome::TopAction::Theme => self.toggle_theme(&ctx),
                chrome::TopAction::Model(dir) => self.load_model(dir),
                chrome::TopAction::Dataset(dir) => self.open_dataset(dir),
                chrome::TopAction::Do(a) => actions.push(a),
            }
        }
        let training_line = self.training.status_line();
        actions.extend(self.chrome.status_bar(ui, &self.jobs, training_line.as_deref()));

        egui::CentralPanel::default().show(ui, |ui| {
            let mut cx = ViewCtx {
                persisted: &mut self.persisted,
                thumbs: &mut self.thumbs,
                dataset: self.dataset.as_deref(),
                model: &self.model,
                pair: &self.pair,
                jobs: &self.jobs,
            };
            let view_actions = match cx.persisted.tab {
                Tab::Compare => self.compare.ui(ui, &mut cx),
                Tab::Gallery => self.gallery.ui(ui, &mut cx),
                Tab::FeatureMaps => self.features.ui(ui, &mut cx),
                Tab::Correlation => self.correlation.ui(ui, &mut cx),
                Tab::Training => self.training.ui(ui, &mut cx),
            };
            actions.extend(view_actions);
        });

        if let Some((target, sample)) = self.browser.show(&ctx, self.dataset.as_deref(), &mut self.thumbs) {
            match target {
                BrowseTarget::CompareA => actions.push(Action::SetImage(Slot::A, sample.path)),
                BrowseTarget::CompareB => actions.push(Action::SetImage(Slot::B, sample.path)),
                BrowseTarget::Query => {
                    let labels = sample.identity.map(|identity| crate::protocol::Labels::new(identity, sample.camera));
                    self.gallery.set_query(sample.path, labels);
                }
            }
        }
        if let Some((pick, path)) = self.prompt.show(&ctx) {
            self.picked(&ctx, pick, path);
        }
        self.chrome.help_window(&ctx, &self.frames);
        if self.features.regrid_needed(self.persisted.colormap) {
            self.features.rerender(self.persisted.colormap, &self.bg);
        }
        for a in actions {
            self.apply(a);
        }
        if self.jobs.queued() > 0 || self.training.running() {
            // Progress bars animate; events also wake the frame loop.
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
        if self.png_countdown > 0 {
            self.png_countdown -= 1;
            if self.png_countdown == 0 {
                let tx = self.bg.sender();
                let repaint = ctx.clone();
                ctx.request_screenshot(move |image| {
                    let _ = tx.send(TaskResult::Screenshot(image));
                    repaint.request_repaint();
                });
            } else {
                ctx.request_repaint();
            }
        }
        self.frames.end(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.persisted.save(storage);
    }
}

/// Open the GUI window and run until it is closed.
pub fn run(backend: BackendChoice) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(APP_NAME)
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        APP_NAME,
        options,
        Box::new(move |cc| Ok(Box::new(ExplorerApp::new(cc, AppOptions::from_defaults(backend))))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// `path` relative to the dataset root when inside it (for compact labels).
pub fn display_path(path: &Path, root: Option<&Path>) -> String {
    root.and_then(|r| path.strip_prefix(r).ok())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| state::short_path(path, 2))
}
