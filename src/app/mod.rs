//! The egui application. It never touches Burn: it sends commands to the worker threads of
//! `crate::worker` (wrapped by `jobs::Jobs`) and draws what they send back.
//!
//! Layout: a top bar (tabs, model and dataset pickers, theme, help), a status bar (the running
//! job with its progress and a Cancel button, the last error) and one view per tab, each in its
//! own module, listed once in the `views!` registry below (`views`: a view is a
//! `views::View`). Views draw the state handed to them and return `Action`s, applied after
//! drawing. [`state::Persisted`] is what survives a restart; everything else is runtime state.

mod browser;
mod chrome;
mod dispatch;
mod eval_panel;
mod jobs;
mod prompt;
mod ranked;
mod smoke;
pub mod state;
mod train_form;
mod volume;
mod widgets;
#[macro_use]
mod views;

// The registry: one line per view, in tab order (see views.rs). It declares the modules, `Tab`
// (variants, labels, `Tab::ALL`) and `Views`.
views! {
    /// p(same) of two images.
    Compare => compare::CompareView, "Compare";
    /// A query ranked against a gallery, CMC / mAP.
    Gallery => gallery::GalleryView, "Gallery";
    /// Every traced layer as channel grids.
    FeatureMaps => features::FeaturesView, "Feature maps";
    /// The normalized correlation of one position, explained.
    Correlation => correlation::CorrelationView, "Correlation";
    /// Training runs with live plots.
    Training => training::TrainingView, "Training";
    /// The last evaluation's queries, worst first, each with its ranked strip.
    Evaluation => eval_browser::EvalBrowser, "Evaluation";
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;

use crate::backend::BackendChoice;
use crate::data::{Dataset, Split};
use crate::model::ModelConfig;
use crate::protocol::{Command, TrainCommand, TrainConfig};
use browser::{BrowseTarget, DatasetBrowser};
use jobs::{Background, Jobs, Pick, TaskResult};
pub use state::{Persisted, ThemeChoice};
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
    /// The loaded model's configuration (correlation geometry), from the worker.
    pub config: Option<ModelConfig>,
    /// Why the app chose this model itself (None: the user chose it).
    pub auto: Option<&'static str>,
    /// The model's calibrated verdict threshold (`calibration.json`), from the worker. It
    /// becomes the verdict threshold when the model loads (`ExplorerApp::apply_calibration`).
    pub calibration: Option<crate::model::calibration::Calibration>,
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
    /// Open a ranked pair in a view: the query in slot A, the gallery image in slot B (the
    /// order the ranking scored them in).
    OpenPair {
        query: PathBuf,
        gallery: PathBuf,
        tab: Tab,
    },
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
    /// Read an output folder's recorded training history (`history.json`) and plot it in the
    /// Training view: as the shown run, or over it for comparison.
    LoadHistory { out: PathBuf, into: HistoryUse },
    /// Export the gallery ranking as CSV (asks for a file).
    ExportCsv,
    /// Write an evaluation's files into a folder (those of `eval --export DIR`).
    ExportEvaluation {
        evaluation: Arc<crate::protocol::Evaluation>,
        dir: PathBuf,
    },
    /// Export this part of the window as PNG (asks for a file).
    ExportPng(egui::Rect),
    /// Cancel the running jobs.
    Cancel,
}

pub use training::HistoryUse;

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
    /// Every registered view.
    views: Views,
    chrome: chrome::Chrome,
    /// Where the next screenshot goes, and which part of the window.
    png_export: Option<(Option<PathBuf>, egui::Rect)>,
    /// Frames to wait before taking the export screenshot.
    png_countdown: u8,
    frames: chrome::FrameStats,
    /// The calibrated threshold that last became the verdict threshold: (model folder, value,
    /// the user's threshold it replaced).
    calibrated_for: Option<(PathBuf, f32, f32)>,
}

impl ExplorerApp {
    /// Build the app: read the persisted state, start the workers, open the dataset.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = &cc.egui_ctx;
        let mut persisted = if options.use_storage {
            Persisted::load(cc.storage)
        } else {
            Persisted::default()
        };
        if let Some(train) = options.train {
            persisted.train = train;
        }
        let dataset_dir = options
            .dataset_dir
            .or_else(|| persisted.dataset_dir.clone().filter(|d| d.exists()))
            .or_else(state::sample_dataset_dir);
        // The user's model (--model, else the last one chosen), else one that suits the data.
        let chosen = options.model_dir.or_else(|| persisted.chosen_model());
        let auto = chosen
            .is_none()
            .then(|| state::auto_model(dataset_dir.as_deref()))
            .flatten();
        persisted.model_auto = auto.is_some();
        let model_dir = chosen.or_else(|| auto.as_ref().map(|a| a.dir.clone()));
        ctx.set_theme(persisted.theme.egui());
        let jobs = Jobs::spawn(options.backend, model_dir.clone(), ctx);
        let bg = Background::new(ctx);
        let mut chrome = chrome::Chrome::default();
        if let Some(a) = &auto {
            chrome.note(a.why.to_string());
        }
        if model_dir.is_none() {
            chrome.error = Some(format!(
                "no model found ({} or {} under {}): open a model folder, or train one in the Training tab",
                crate::model::DEFAULT_MODEL_DIR,
                state::SYNTHETIC_MODEL_DIR,
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ));
        }
        let mut app = Self {
            persisted,
            jobs,
            bg,
            thumbs: ThumbCache::new(ctx),
            model: ModelState {
                dir: model_dir,
                auto: auto.map(|a| a.why),
                ..ModelState::default()
            },
            dataset: None,
            dataset_loading: None,
            pair: Pair::default(),
            browser: DatasetBrowser::default(),
            prompt: prompt::PathPrompt::default(),
            views: Views::default(),
            chrome,
            png_export: None,
            png_countdown: 0,
            frames: chrome::FrameStats::default(),
            calibrated_for: None,
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

    /// Put two images in the compare slots (compares and traces them).
    pub fn set_pair(&mut self, a: PathBuf, b: PathBuf) {
        self.pair = Pair {
            a: Some(a),
            b: Some(b),
        };
        self.pair_changed();
    }

    /// The pair shown by Compare, Feature maps and Correlation.
    pub fn pair(&self) -> &Pair {
        &self.pair
    }

    /// A loaded model with a calibrated threshold makes it the verdict threshold, once per
    /// model (the user can move it afterwards; Compare says where the value came from). A model
    /// without one gives the user's own threshold back, unless they moved the calibrated one.
    fn apply_calibration(&mut self) {
        let Some(dir) = self.model.dir.as_ref().filter(|_| self.model.loaded) else {
            return;
        };
        let applied = self.calibrated_for.as_ref();
        match &self.model.calibration {
            Some(c) if applied.is_none_or(|(d, ..)| d != dir) => {
                let user = applied.map_or(self.persisted.threshold, |&(_, _, user)| user);
                self.persisted.threshold = c.threshold;
                self.calibrated_for = Some((dir.clone(), c.threshold, user));
            }
            None => {
                if let Some((_, value, user)) = self.calibrated_for.take()
                    && self.persisted.threshold == value
                {
                    self.persisted.threshold = user;
                }
            }
            Some(_) => {}
        }
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
        self.persisted.model_auto = false;
        self.jobs.send(Command::LoadModel { dir });
    }

    /// Compare and trace the pair (when both images are set and a model is there).
    fn pair_changed(&mut self) {
        self.views.compare.clear();
        self.views.features.clear();
        self.views.correlation.clear();
        if let Some((a, b)) = self.pair.both() {
            for p in [&a, &b] {
                self.persisted.remember_file(p);
            }
            if self.model.dir.is_some() {
                self.jobs.send(Command::Compare {
                    a: a.clone(),
                    b: b.clone(),
                });
                self.jobs.send(Command::Trace { a, b });
            }
        }
    }

    /// The first query and a gallery image of the same identity from another camera.
    fn default_pair(ds: &Dataset) -> Option<(PathBuf, PathBuf)> {
        let queries: Vec<_> = ds.split(Split::Query).collect();
        let pool: Vec<_> = if queries.is_empty() {
            ds.samples.iter().collect()
        } else {
            queries
        };
        let a = pool
            .iter()
            .find(|s| s.identity.is_some_and(|i| i > 0))
            .or(pool.first())?;
        let a_path: &Path = &a.path;
        let others = move || ds.samples.iter().filter(move |s| s.path != a_path);
        let b = others()
            .find(|s| s.identity == a.identity && s.camera != a.camera)
            .or_else(|| others().find(|s| s.identity == a.identity))
            .or_else(|| others().next())?;
        Some((a.path.clone(), b.path.clone()))
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
        self.apply_calibration();
        self.thumbs.begin_frame();
        let mut actions = self.shortcuts(&ctx);
        actions.extend(self.dropped_files(&ctx));

        let top = self.chrome.top_bar(
            ui,
            &mut self.persisted,
            &self.model,
            self.dataset.as_deref(),
            self.dataset_loading.as_deref(),
        );
        for t in top {
            match t {
                chrome::TopAction::Theme => self.toggle_theme(&ctx),
                chrome::TopAction::Model(dir) => self.load_model(dir),
                chrome::TopAction::Dataset(dir) => self.open_dataset(dir),
                chrome::TopAction::Do(a) => actions.push(a),
            }
        }
        let training_line = self.views.training.status_line();
        actions.extend(
            self.chrome
                .status_bar(ui, &self.jobs, training_line.as_deref()),
        );

        egui::CentralPanel::default().show(ui, |ui| {
            let mut cx = ViewCtx {
                persisted: &mut self.persisted,
                thumbs: &mut self.thumbs,
                dataset: self.dataset.as_deref(),
                model: &self.model,
                pair: &self.pair,
                jobs: &self.jobs,
            };
            let tab = cx.persisted.tab;
            actions.extend(self.views.get_mut(tab).ui(ui, &mut cx));
        });

        if let Some((target, sample)) =
            self.browser
                .show(&ctx, self.dataset.as_deref(), &mut self.thumbs)
        {
            match target {
                BrowseTarget::CompareA => actions.push(Action::SetImage(Slot::A, sample.path)),
                BrowseTarget::CompareB => actions.push(Action::SetImage(Slot::B, sample.path)),
                BrowseTarget::Query => {
                    let labels = sample
                        .identity
                        .map(|identity| crate::protocol::Labels::new(identity, sample.camera));
                    self.views.gallery.set_query(sample.path, labels);
                }
            }
        }
        if let Some((pick, path)) = self.prompt.show(&ctx) {
            self.picked(&ctx, pick, path);
        }
        self.chrome.help_window(&ctx, &self.frames);
        if self.views.features.regrid_needed(self.persisted.colormap) {
            self.views
                .features
                .rerender(self.persisted.colormap, &self.bg);
        }
        for a in actions {
            self.apply(a);
        }
        if self.jobs.queued() > 0 || self.views.training.running() {
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
pub fn run(app_options: AppOptions) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(APP_NAME)
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    // CI's window check (REID_SCREENSHOT / REID_EXIT_AFTER_FRAMES, see smoke.rs).
    let smoke = smoke::SmokeRequest::from_env()?;
    let failure: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let report = Arc::clone(&failure);
    eframe::run_native(
        APP_NAME,
        options,
        Box::new(move |cc| {
            let app = ExplorerApp::new(cc, app_options);
            Ok(match smoke {
                Some(request) => {
                    Box::new(smoke::SmokeApp::new(app, request, report)) as Box<dyn eframe::App>
                }
                None => Box::new(app),
            })
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    match failure.lock().ok().and_then(|mut f| f.take()) {
        Some(why) => anyhow::bail!("{why}"),
        None => Ok(()),
    }
}
