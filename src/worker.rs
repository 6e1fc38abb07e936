//! The worker threads behind the GUI. They own the device and the models; the GUI talks to them
//! only through [`Command`]s, [`TrainCommand`]s and the [`Event`]s they send back (plain data),
//! so the GUI thread never waits on Burn.
//!
//! - the inference worker runs one command at a time (compare, trace, rank, evaluate, load);
//! - a training run gets a thread of its own; pause / resume / stop act on shared flags, so
//!   they take effect at the next step even while the thread is busy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use crate::backend::{BackendChoice, ComputeDevice, select};
use crate::engine::{CacheSpec, evaluate_dataset, gallery_files, model_fingerprint, rank_gallery};
use crate::model::infer::{images_tensor, pair_probabilities};
use crate::model::{ModelConfig, XCorrNet, load_model, trace};
use crate::protocol::{Command, Event, GallerySource, StartMode, TrainCommand, TrainEvent};
use crate::train::{Outcome, TrainControl, train};

/// Asks the GUI to draw a new frame (egui's `request_repaint`).
pub type Repaint = Arc<dyn Fn() + Send + Sync>;

/// Capacity of the command and event channels.
const CHANNEL: usize = 256;

/// Sends events to the GUI, dropping progress updates when the GUI is behind (never results).
#[derive(Clone)]
struct Outbox {
    tx: SyncSender<Event>,
    repaint: Repaint,
}

impl Outbox {
    fn send(&self, event: Event) {
        let droppable = matches!(
            event,
            Event::Progress { .. }
                | Event::Train(TrainEvent::Step { .. })
                | Event::Train(TrainEvent::Loading { .. })
        );
        let sent = if droppable {
            match self.tx.try_send(event) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => false,
                Err(TrySendError::Disconnected(_)) => false,
            }
        } else {
            self.tx.send(event).is_ok()
        };
        if sent {
            (self.repaint)();
        }
    }
}

/// The GUI's handle on the workers.
pub struct Workers {
    commands: SyncSender<Command>,
    events: Receiver<Event>,
    outbox: Outbox,
    backend: BackendChoice,
    training: Option<Arc<TrainControl>>,
}

impl Workers {
    /// Start the inference worker on `backend`, loading `model` (if any) first.
    pub fn spawn(backend: BackendChoice, model: Option<PathBuf>, repaint: Repaint) -> Self {
        let (commands, rx) = sync_channel::<Command>(CHANNEL);
        let (tx, events) = sync_channel::<Event>(CHANNEL);
        let outbox = Outbox { tx, repaint };
        let out = outbox.clone();
        let spawned = std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || inference_loop(backend, model, rx, out));
        if let Err(e) = spawned {
            outbox.send(Event::Error {
                job: "startup",
                message: format!("cannot start the inference worker: {e}"),
            });
        }
        Self {
            commands,
            events,
            outbox,
            backend,
            training: None,
        }
    }

    /// Queue a command; an error event comes back if the worker is gone or swamped.
    pub fn send(&self, command: Command) {
        if let Err(e) = self.commands.try_send(command) {
            let why = match e {
                TrySendError::Full(_) => "the worker is busy with too many queued jobs",
                TrySendError::Disconnected(_) => "the worker has stopped",
            };
            self.outbox.send(Event::Error {
                job: "queue",
                message: why.into(),
            });
        }
    }

    /// Every event received since the last call (never blocks).
    pub fn poll(&self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    /// Whether a training run is going on.
    pub fn training(&self) -> bool {
        self.training
            .as_ref()
            .is_some_and(|c| Arc::strong_count(c) > 1)
    }

    /// Start, pause, resume or stop training.
    pub fn train(&mut self, command: TrainCommand) {
        match command {
            TrainCommand::Start { config, mode } => {
                if self.training() {
                    self.outbox.send(Event::Error {
                        job: "training",
                        message: "a training run is already going on".into(),
                    });
                    return;
                }
                let control = Arc::new(TrainControl::default());
                self.training = Some(control.clone());
                let out = self.outbox.clone();
                let backend = self.backend;
                let spawned =
                    std::thread::Builder::new()
                        .name("training".into())
                        .spawn(move || {
                            training_thread(backend, *config, mode, control, out);
                        });
                if let Err(e) = spawned {
                    self.outbox.send(Event::Error {
                        job: "training",
                        message: format!("cannot start the training thread: {e}"),
                    });
                }
            }
            TrainCommand::Pause => self.with_control(|c| c.pause.store(true, Ordering::Relaxed)),
            TrainCommand::Resume => self.with_control(|c| c.pause.store(false, Ordering::Relaxed)),
            TrainCommand::Stop => self.with_control(|c| {
                c.cancel.cancel();
                c.pause.store(false, Ordering::Relaxed);
            }),
        }
    }

    fn with_control(&self, f: impl FnOnce(&TrainControl)) {
        if let Some(c) = &self.training {
            f(c);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.with_control(|c| c.cancel.cancel());
    }
}

fn training_thread(
    backend: BackendChoice,
    config: crate::train::TrainConfig,
    mode: StartMode,
    control: Arc<TrainControl>,
    out: Outbox,
) {
    // A resume from the GUI continues the stored run: its settings, the form's length.
    let config = if mode == StartMode::Resume {
        match crate::train::checkpoint::stored_config(&config.out) {
            Ok(stored) => crate::train::TrainConfig {
                out: config.out,
                epochs: config.epochs,
                max_steps: config.max_steps,
                ..stored
            },
            Err(e) => {
                out.send(Event::Train(TrainEvent::Failed {
                    reason: e.to_string(),
                }));
                return;
            }
        }
    } else {
        config
    };
    let device = match select(backend) {
        Ok(d) => d,
        Err(e) => {
            out.send(Event::Train(TrainEvent::Failed {
                reason: e.to_string(),
            }));
            return;
        }
    };
    let model_dir = config.out.clone();
    let mut last_step_sent = Instant::now() - Duration::from_secs(1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train(&config, mode, &device.device, &control, &mut |e| {
            // Steps can come faster than the GUI needs: at most ~20 per second, the rest are kept
            // in the run's history.
            if matches!(e, TrainEvent::Step { .. }) {
                if last_step_sent.elapsed() < Duration::from_millis(50) {
                    return;
                }
                last_step_sent = Instant::now();
            }
            out.send(Event::Train(e));
        })
    }));
    let event = match result {
        Ok(Ok(Outcome::Finished { step })) => TrainEvent::Finished { step, model_dir },
        Ok(Ok(Outcome::Cancelled { step })) => TrainEvent::Cancelled { step, model_dir },
        Ok(Err(e)) => TrainEvent::Failed {
            reason: e.to_string(),
        },
        Err(_) => TrainEvent::Failed {
            reason: "the training thread panicked; the last checkpoint is kept".into(),
        },
    };
    out.send(Event::Train(event));
}

struct Loaded {
    config: ModelConfig,
    net: XCorrNet,
    /// For the gallery feature cache (None if the files could not be read again).
    fingerprint: Option<u64>,
}

impl Loaded {
    fn cache(&self, folder: &Path) -> Option<CacheSpec> {
        self.fingerprint.map(|model| CacheSpec {
            folder: folder.to_path_buf(),
            model,
        })
    }
}

fn load(dir: &Path, device: &ComputeDevice) -> Result<Loaded, String> {
    load_model(dir, &device.device)
        .map(|(config, net)| Loaded {
            config,
            net,
            fingerprint: model_fingerprint(dir).ok(),
        })
        .map_err(|e| e.to_string())
}

fn inference_loop(
    backend: BackendChoice,
    model: Option<PathBuf>,
    rx: Receiver<Command>,
    out: Outbox,
) {
    let device = match select(backend) {
        Ok(d) => d,
        Err(e) => {
            out.send(Event::Error {
                job: "backend",
                message: e.to_string(),
            });
            crate::backend::cpu()
        }
    };
    let mut current: Option<Loaded> = None;
    if let Some(dir) = model {
        handle(Command::LoadModel { dir }, &device, &mut current, &out);
    }
    while let Ok(cmd) = rx.recv() {
        let job = job_name(&cmd);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(cmd, &device, &mut current, &out)
        }));
        if result.is_err() {
            out.send(Event::Error {
                job,
                message: "the computation panicked (a bug): please report it".into(),
            });
        }
    }
}

fn job_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::LoadModel { .. } => "load model",
        Command::Compare { .. } => "compare",
        Command::Trace { .. } => "trace",
        Command::Rank { .. } => "rank",
        Command::Evaluate { .. } => "evaluate",
    }
}

fn handle(cmd: Command, device: &ComputeDevice, current: &mut Option<Loaded>, out: &Outbox) {
    let job = job_name(&cmd);
    if let Command::LoadModel { dir } = &cmd {
        match load(dir, device) {
            Ok(l) => {
                *current = Some(l);
                out.send(Event::ModelLoaded {
                    dir: dir.clone(),
                    backend: device.description.clone(),
                });
            }
            Err(message) => out.send(Event::Error { job, message }),
        }
        return;
    }
    let Some(m) = current.as_ref() else {
        out.send(Event::Error {
            job,
            message: "no model loaded: choose a model folder first".into(),
        });
        return;
    };
    let dev = &device.device;
    let progress = |stage: &'static str, done: usize, total: usize| {
        out.send(Event::Progress {
            job: stage,
            done,
            total,
        });
    };
    let result: Result<Event, String> = match cmd {
        Command::LoadModel { .. } => return,
        Command::Compare { a, b } => (|| {
            let start = Instant::now();
            let ia =
                crate::data::load_input(&a, &m.config.normalization).map_err(|e| e.to_string())?;
            let ib =
                crate::data::load_input(&b, &m.config.normalization).map_err(|e| e.to_string())?;
            let p = pair_probabilities(&m.net, &[&ia], &[&ib], dev)?;
            Ok(Event::Compared {
                a,
                b,
                p_same: p.first().copied().unwrap_or(f32::NAN),
                millis: start.elapsed().as_secs_f64() * 1e3,
                backend: device.description.clone(),
            })
        })(),
        Command::Trace { a, b } => (|| {
            let ia =
                crate::data::load_input(&a, &m.config.normalization).map_err(|e| e.to_string())?;
            let ib =
                crate::data::load_input(&b, &m.config.normalization).map_err(|e| e.to_string())?;
            let t = trace(
                &m.net,
                images_tensor(&[&ia], dev),
                images_tensor(&[&ib], dev),
            )
            .map_err(|e| e.to_string())?;
            Ok(Event::Traced {
                a,
                b,
                trace: Arc::new(t),
            })
        })(),
        Command::Rank {
            query,
            query_labels,
            gallery,
            cancel,
        } => (|| {
            let (files, folder) = match gallery {
                GallerySource::Folder(dir) => {
                    (gallery_files(&dir).map_err(|e| e.to_string())?.0, Some(dir))
                }
                GallerySource::Files(f) => {
                    let parent = f
                        .first()
                        .and_then(|(p, _)| p.parent())
                        .map(Path::to_path_buf);
                    (f, parent)
                }
            };
            let cache = folder.and_then(|d| m.cache(&d));
            let r = rank_gallery(
                &m.net,
                &m.config,
                &query,
                query_labels,
                &files,
                cache.as_ref(),
                dev,
                &progress,
                &cancel,
            )
            .map_err(|e| e.to_string())?;
            Ok(Event::Ranked(Arc::new(r)))
        })(),
        Command::Evaluate {
            dataset,
            protocol,
            cancel,
        } => evaluate_dataset(
            &m.net,
            &m.config,
            &dataset,
            &protocol,
            m.cache(&dataset).as_ref(),
            dev,
            &progress,
            &cancel,
        )
        .map(|e| Event::Evaluated(Arc::new(e)))
        .map_err(|e| e.to_string()),
    };
    match result {
        Ok(event) => out.send(event),
        Err(message) if message == "cancelled" => out.send(Event::Cancelled { job }),
        Err(message) => out.send(Event::Error { job, message }),
    }
}
