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
use crate::data::{Dataset, DatasetError};
pub use crate::protocol::JobKind;
use crate::protocol::{CancelToken, Command, Event, TrainCommand};
use crate::worker::Workers;

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
    /// The stage's label ("decoding", "trunk features", "scoring", ...).
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
        self.inflight.push_back(InFlight {
            kind: command.kind(),
            cancel: command.cancel_token().cloned(),
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
            self.track(e);
        }
        events
    }

    /// Update the queue and the progress for one event.
    fn track(&mut self, event: &Event) {
        if let Event::Progress {
            job,
            stage,
            done,
            total,
        } = *event
        {
            // Only the running job's progress (a late report of a finished job is dropped).
            if self.inflight.front().is_some_and(|j| j.kind == job) {
                self.progress = Some(Progress { stage, done, total });
            }
            return;
        }
        let Some(kind) = event.finishes() else {
            return;
        };
        let refused = matches!(event, Event::Error { error, .. } if error.never_ran());
        // A refused command was the last one queued of its kind; an answer is for the oldest.
        let i = if refused {
            self.inflight.iter().rposition(|j| j.kind == kind)
        } else {
            self.inflight.iter().position(|j| j.kind == kind)
        };
        if let Some(i) = i {
            self.inflight.remove(i);
        }
        if self.inflight.is_empty() {
            self.progress = None;
        }
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
    /// The folder an evaluation's export goes into (`eval --export`'s files).
    EvalExport,
    /// A run folder whose recorded curves go over the Training view's plots.
    CompareRun,
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
            Pick::CompareRun => d
                .set_title("Compare with the run recorded in this folder")
                .pick_folder(),
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
            Pick::EvalExport => d
                .set_title("Export the evaluation into a folder")
                .pick_folder(),
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
        result: Result<Arc<Dataset>, DatasetError>,
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
    /// An output folder's `history.json` was read (`None`: the folder has none).
    History {
        out: PathBuf,
        into: super::HistoryUse,
        result: Result<Option<Box<crate::train::checkpoint::History>>, String>,
    },
    /// A task could not run to its end (`task`: the name given to [`Background::spawn`]).
    Failed {
        task: &'static str,
        error: TaskError,
    },
}

/// Why a background task gave no result.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("it panicked (a bug): please report it")]
    Panicked,
    #[error("cannot start a thread: {0}")]
    Spawn(std::io::Error),
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
    pub fn spawn(&self, name: &'static str, task: impl FnOnce() -> TaskResult + Send + 'static) {
        let tx = self.tx.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("gui-{name}"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
                    .unwrap_or(TaskResult::Failed {
                        task: name,
                        error: TaskError::Panicked,
                    });
                let _ = tx.send(result);
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            let _ = self.tx.send(TaskResult::Failed {
                task: name,
                error: TaskError::Spawn(e),
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
            // A dialog that panics counts as closed, so the next one can open.
            let path = std::panic::catch_unwind(|| pick.dialog()).unwrap_or(None);
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
            let result = crate::data::scan(&root, None).map(Arc::new);
            TaskResult::Scanned { root, result }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::JobFailure;

    fn queued(jobs: &Jobs) -> Vec<(JobKind, bool)> {
        jobs.inflight
            .iter()
            .map(|j| (j.kind, j.cancel.is_some()))
            .collect()
    }

    /// An answer ends the oldest job of its kind, a refused command the newest (the one just
    /// queued); progress counts only for the job at the head of the queue.
    #[test]
    fn events_end_the_job_they_name() {
        let ctx = egui::Context::default();
        let mut jobs = Jobs::spawn(BackendChoice::Cpu, None, &ctx);
        // Rank (no token), Compare, Rank (with a token): the two ranks are told apart.
        for (kind, cancel) in [
            (JobKind::Rank, None),
            (JobKind::Compare, None),
            (JobKind::Rank, Some(CancelToken::new())),
        ] {
            jobs.inflight.push_back(InFlight {
                kind,
                cancel,
                started: Instant::now(),
            });
        }
        jobs.track(&Event::Error {
            job: JobKind::Rank,
            error: JobFailure::QueueFull,
        });
        assert_eq!(
            queued(&jobs),
            [(JobKind::Rank, false), (JobKind::Compare, false)]
        );
        let progress = |job| Event::Progress {
            job,
            stage: "scoring",
            done: 1,
            total: 4,
        };
        jobs.track(&progress(JobKind::Compare));
        assert_eq!(jobs.progress(), None, "compare is not running yet");
        jobs.track(&progress(JobKind::Rank));
        assert_eq!(jobs.progress().map(|p| (p.done, p.total)), Some((1, 4)));
        jobs.track(&Event::Cancelled { job: JobKind::Rank });
        assert_eq!(queued(&jobs), [(JobKind::Compare, false)]);
        jobs.track(&Event::Error {
            job: JobKind::Compare,
            error: JobFailure::NoModel,
        });
        assert!(queued(&jobs).is_empty());
        assert_eq!(jobs.progress(), None);
    }
}
