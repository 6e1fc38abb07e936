//! The glue between the frame loop and everything slow: the inference / training workers
//! ([`Workers`]), and small background tasks of the GUI's own (file dialogs, dataset scans,
//! rendering feature-map grids, writing exports). Nothing here ever blocks the frame.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

use eframe::egui;

use crate::backend::BackendChoice;
use crate::data::Dataset;
use crate::model::ModelConfig;
use crate::protocol::{CancelToken, Command, Event, TrainCommand};
use crate::worker::Workers;

/// The kinds of inference job, to match answers with requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    LoadModel,
    Compare,
    Trace,
    Rank,
    Evaluate,
}

impl JobKind {
    /// The worker's name for the job (as in [`Event::Error`]'s `job`).
    pub fn name(self) -> &'static str {
        match self {
            JobKind::LoadModel => "load model",
            JobKind::Compare => "compare",
            JobKind::Trace => "trace",
            JobKind::Rank => "rank",
            JobKind::Evaluate => "evaluate",
        }
    }

    fn of(command: &Command) -> Self {
        match command {
            Command::LoadModel { .. } => JobKind::LoadModel,
            Command::Compare { .. } => JobKind::Compare,
            Command::Trace { .. } => JobKind::Trace,
            Command::Rank { .. } => JobKind::Rank,
            Command::Evaluate { .. } => JobKind::Evaluate,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            JobKind::LoadModel,
            JobKind::Compare,
            JobKind::Trace,
            JobKind::Rank,
            JobKind::Evaluate,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// One job the inference worker has been asked to do and has not answered yet.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub kind: JobKind,
    /// Set for cancellable jobs (rank, evaluate).
    pub cancel: Option<CancelToken>,
    pub started: Instant,
}

/// Progress of the job at the head of the queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
}

/// The GUI's handle on the workers, with the bookkeeping the status bar needs.
pub struct Jobs {
    workers: Workers,
    inflight: VecDeque<InFlight>,
    progress: Option<Progress>,
}

impl Jobs {
    /// Start the workers; `model` is loaded first.
    pub fn spawn(backend: BackendChoice, model: Option<PathBuf>, ctx: &egui::Context) -> Self {
        let repaint_ctx = ctx.clone();
        let has_model = model.is_some();
        let workers = Workers::spawn(
            backend,
            model,
            Arc::new(move || repaint_ctx.request_repaint()),
        );
        let mut inflight = VecDeque::new();
        if has_model {
            inflight.push_back(InFlight {
                kind: JobKind::LoadModel,
                cancel: None,
                started: Instant::now(),
            });
        }
        Self {
            workers,
            inflight,
            progress: None,
        }
    }

    /// Queue an inference command.
    pub fn send(&mut self, command: Command) {
        let cancel = match &command {
            Command::Rank { cancel, .. } | Command::Evaluate { cancel, .. } => Some(cancel.clone()),
            _ => None,
        };
        self.inflight.push_back(InFlight {
            kind: JobKind::of(&command),
            cancel,
            started: Instant::now(),
        });
        self.workers.send(command);
    }

    /// Start / pause / resume / stop training.
    pub fn train(&mut self, command: TrainCommand) {
        self.workers.train(command);
    }

    /// Whether a training run is going on.
    pub fn training(&self) -> bool {
        self.workers.training()
    }

    /// Every event since the last frame, with the job bookkeeping updated.
    pub fn poll(&mut self) -> Vec<Event> {
        let events = self.workers.poll();
        for e in &events {
            let finished = match e {
                Event::ModelLoaded { .. } => Some(JobKind::LoadModel),
                Event::Compared { .. } => Some(JobKind::Compare),
                Event::Traced { .. } => Some(JobKind::Trace),
                Event::Ranked(_) => Some(JobKind::Rank),
                Event::Evaluated(_) => Some(JobKind::Evaluate),
                Event::Cancelled { job } | Event::Error { job, .. } => {
                    if *job == "queue" {
                        // The last command never reached the worker.
                        self.inflight.pop_back();
                    }
                    JobKind::from_name(job)
                }
                Event::Progress { job, done, total } => {
                    self.progress = Some(Progress {
                        stage: job,
                        done: *done,
                        total: *total,
                    });
                    None
                }
                Event::Train(_) => None,
            };
            if let Some(kind) = finished {
                if let Some(i) = self.inflight.iter().position(|j| j.kind == kind) {
                    self.inflight.remove(i);
                }
                if self.inflight.is_empty() {
                    self.progress = None;
                }
            }
        }
        events
    }

    /// The job being worked on, if any.
    pub fn current(&self) -> Option<&InFlight> {
        self.inflight.front()
    }

    /// Jobs waiting or running.
    pub fn queued(&self) -> usize {
        self.inflight.len()
    }

    /// Whether a job of `kind` is waiting or running.
    pub fn is_running(&self, kind: JobKind) -> bool {
        self.inflight.iter().any(|j| j.kind == kind)
    }

    /// Progress of the running job, if it reported any.
    pub fn progress(&self) -> Option<Progress> {
        self.progress
    }

    /// Whether any queued job can be cancelled.
    pub fn cancellable(&self) -> bool {
        self.inflight
            .iter()
            .any(|j| j.cancel.as_ref().is_some_and(|c| !c.is_cancelled()))
    }

    /// Trip the cancel token of every cancellable job.
    pub fn cancel_all(&mut self) {
        for j in &self.inflight {
            if let Some(c) = &j.cancel {
                c.cancel();
            }
        }
    }
}

/// What a file dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Image for compare slot A.
    CompareA,
    /// Image for compare slot B.
    CompareB,
    /// Query image of the gallery view.
    Query,
    /// Gallery folder.
    GalleryFolder,
    /// Dataset folder (the app's loaded dataset).
    Dataset,
    /// Model folder.
    Model,
    /// Training dataset folder.
    TrainDataset,
    /// Training output folder.
    TrainOut,
    /// Model folder a training run starts from (fine-tuning).
    TrainInit,
    /// Where to write the ranking CSV.
    ExportCsv,
    /// Where to write the gallery view PNG.
    ExportPng,
}

impl Pick {
    fn dialog(self) -> Option<PathBuf> {
        let images = [
            "png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp", "ppm", "pgm",
        ];
        let d = rfd::FileDialog::new();
        match self {
            Pick::CompareA | Pick::CompareB | Pick::Query => d
                .set_title("Open an image")
                .add_filter("images", &images)
                .pick_file(),
            Pick::GalleryFolder => d.set_title("Choose a gallery folder").pick_folder(),
            Pick::Dataset | Pick::TrainDataset => {
                d.set_title("Choose a dataset folder").pick_folder()
            }
            Pick::Model => d
                .set_title("Choose a model folder (config.json + weights.bpk)")
                .pick_folder(),
            Pick::TrainOut => d.set_title("Choose the output model folder").pick_folder(),
            Pick::TrainInit => d.set_title("Start training from this model").pick_folder(),
            Pick::ExportCsv => d
                .set_title("Export the ranking")
                .add_filter("CSV", &["csv"])
                .set_file_name("ranking.csv")
                .save_file(),
            Pick::ExportPng => d
                .set_title("Export the view")
                .add_filter("PNG", &["png"])
                .set_file_name("gallery.png")
                .save_file(),
        }
    }
}

/// A rendered channel grid, ready to upload.
#[derive(Debug, Clone)]
pub struct RenderedGrid {
    /// Index of the map in the trace.
    pub map: usize,
    pub grid: crate::viz::GridImage,
    /// The shared value range used (for the legend).
    pub range: crate::viz::ValueRange,
}

/// What a background task hands back.
pub enum TaskResult {
    /// A file dialog closed (`None`: cancelled, or no dialog could be shown when `elapsed` is
    /// very short).
    Picked {
        pick: Pick,
        path: Option<PathBuf>,
        elapsed: std::time::Duration,
    },
    /// A dataset folder was scanned.
    Scanned {
        root: PathBuf,
        result: Result<Arc<Dataset>, String>,
    },
    /// A model folder's `config.json` was read.
    ModelConfig {
        dir: PathBuf,
        result: Result<ModelConfig, String>,
    },
    /// Feature-map grids were rendered for trace `generation`.
    Grids {
        generation: u64,
        result: Result<Vec<RenderedGrid>, String>,
    },
    /// A file was written (or not).
    Saved {
        what: &'static str,
        result: Result<PathBuf, String>,
    },
    /// A screenshot of the window arrived.
    Screenshot(Arc<egui::ColorImage>),
}

/// Runs closures on short-lived threads and hands their results back to the frame loop.
pub struct Background {
    tx: Sender<TaskResult>,
    rx: Receiver<TaskResult>,
    ctx: egui::Context,
    dialog_open: bool,
}

impl Background {
    pub fn new(ctx: &egui::Context) -> Self {
        let (tx, rx) = channel();
        Self {
            tx,
            rx,
            ctx: ctx.clone(),
            dialog_open: false,
        }
    }

    /// Run `task` on a thread of its own; its result arrives through [`Background::poll`].
    pub fn spawn(&self, name: &str, task: impl FnOnce() -> TaskResult + Send + 'static) {
        let tx = self.tx.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("gui-{name}"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
                    .unwrap_or_else(|_| TaskResult::Saved {
                        what: "background task",
                        result: Err("a background task panicked (a bug): please report it".into()),
                    });
                let _ = tx.send(result);
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            let _ = self.tx.send(TaskResult::Saved {
                what: "background task",
                result: Err(format!("cannot start a thread: {e}")),
            });
        }
    }

    /// A sender for callbacks (screenshots) that run elsewhere.
    pub fn sender(&self) -> Sender<TaskResult> {
        self.tx.clone()
    }

    /// Open a file dialog on a background thread (one at a time).
    pub fn pick(&mut self, pick: Pick) {
        if self.dialog_open {
            return;
        }
        self.dialog_open = true;
        self.spawn("dialog", move || {
            let start = Instant::now();
            let path = pick.dialog();
            TaskResult::Picked {
                pick,
                path,
                elapsed: start.elapsed(),
            }
        });
    }

    /// Every result since the last frame.
    pub fn poll(&mut self) -> Vec<TaskResult> {
        let results: Vec<TaskResult> = self.rx.try_iter().collect();
        if results
            .iter()
            .any(|r| matches!(r, TaskResult::Picked { .. }))
        {
            self.dialog_open = false;
        }
        results
    }

    /// Scan a dataset folder.
    pub fn scan(&self, root: PathBuf) {
        self.spawn("scan", move || {
            let result = crate::data::scan(&root, None)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            TaskResult::Scanned { root, result }
        });
    }

    /// Read a model folder's configuration (plain JSON).
    pub fn read_model_config(&self, dir: PathBuf) {
        self.spawn("model-config", move || {
            let path = dir.join(crate::model::io::CONFIG_FILE);
            let result = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|text| {
                    serde_json::from_str::<ModelConfig>(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))
                });
            TaskResult::ModelConfig { dir, result }
        });
    }
}
