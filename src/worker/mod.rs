//! The worker threads behind the GUI. They own the device and the models; the GUI talks to them
//! only through [`Command`]s, [`TrainCommand`]s and the [`Event`]s they send back (plain data),
//! so the GUI thread never waits on Burn.
//!
//! - the inference worker ([`inference`]) runs one command at a time (compare, trace, rank,
//!   evaluate, load), one handler function per command, on an [`crate::engine::Session`];
//! - a training run ([`training`]) gets a thread of its own; pause / resume / stop act on shared
//!   flags, so they take effect at the next step even while the thread is busy.
//!
//! Adding a command: a variant of [`Command`] and its [`crate::protocol::JobKind`] (the compiler
//! then points at `Command::kind`, `Event::finishes` and the dispatch in [`inference`]), an
//! answer [`Event`] variant, and a handler function in [`inference`].

mod inference;
mod training;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use crate::backend::BackendChoice;
use crate::protocol::{Command, Event, JobFailure, JobKind, TrainCommand, TrainEvent};
use crate::train::TrainControl;

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
            self.tx.try_send(event).is_ok()
        } else {
            self.tx.send(event).is_ok()
        };
        if sent {
            (self.repaint)();
        }
    }

    fn error(&self, job: JobKind, error: JobFailure) {
        self.send(Event::Error { job, error });
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
            .spawn(move || inference::run(backend, model, rx, out));
        if let Err(e) = spawned {
            outbox.error(
                JobKind::Startup,
                JobFailure::Spawn {
                    what: "inference worker",
                    error: Arc::new(e),
                },
            );
        }
        Self {
            commands,
            events,
            outbox,
            backend,
            training: None,
        }
    }

    /// Queue a command; an error event (with [`JobFailure::never_ran`]) comes back if the
    /// worker is gone or swamped.
    pub fn send(&self, command: Command) {
        let job = command.kind();
        if let Err(e) = self.commands.try_send(command) {
            let error = match e {
                TrySendError::Full(_) => JobFailure::QueueFull,
                TrySendError::Disconnected(_) => JobFailure::WorkerStopped,
            };
            self.outbox.error(job, error);
        }
    }

    /// Every event received since the last call (never blocks).
    pub fn poll(&self) -> Vec<Event> {
        self.events.try_iter().collect()
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
            TrainCommand::Start {
                config,
                mode,
                schedule,
            } => {
                if self.training() {
                    self.outbox
                        .error(JobKind::Training, JobFailure::AlreadyTraining);
                    return;
                }
                let control = Arc::new(TrainControl::default());
                self.training = Some(control.clone());
                let out = self.outbox.clone();
                let backend = self.backend;
                let spawned = std::thread::Builder::new()
                    .name("training".into())
                    .spawn(move || training::run(backend, *config, mode, schedule, control, out));
                if let Err(e) = spawned {
                    self.outbox.error(
                        JobKind::Training,
                        JobFailure::Spawn {
                            what: "training thread",
                            error: Arc::new(e),
                        },
                    );
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use burn::tensor::Device;

    use super::*;
    use crate::model::{Init, ModelConfig, XCorrNet, save_model};
    use crate::protocol::{CancelToken, Protocol};

    /// The next event that is not a progress report (fails after 120 s).
    fn next_event(workers: &Workers) -> Event {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(e) = workers
                .poll()
                .into_iter()
                .find(|e| !matches!(e, Event::Progress { .. }))
            {
                return e;
            }
            assert!(Instant::now() < deadline, "no answer from the worker");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn spawn(model: Option<PathBuf>) -> Workers {
        Workers::spawn(BackendChoice::Cpu, model, Arc::new(|| {}))
    }

    #[test]
    fn failures_are_typed_and_name_their_job() {
        let workers = spawn(None);
        let image = PathBuf::from("a.png");
        workers.send(Command::Compare {
            a: image.clone(),
            b: image,
        });
        match next_event(&workers) {
            Event::Error {
                job: JobKind::Compare,
                error: JobFailure::NoModel,
            } => {}
            e => panic!("expected compare / no model, got {e:?}"),
        }
        let missing = Path::new("no-such-model-folder").to_path_buf();
        workers.send(Command::LoadModel {
            dir: missing.clone(),
        });
        match next_event(&workers) {
            Event::Error {
                job: JobKind::LoadModel,
                error: JobFailure::Model(e),
            } => assert!(e.to_string().contains("no-such-model-folder"), "{e}"),
            e => panic!("expected load model / model error, got {e:?}"),
        }
    }

    #[test]
    fn a_loaded_model_reports_its_config_and_a_cancelled_job_answers_cancelled() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("model");
        let config = ModelConfig::default();
        let net = XCorrNet::init_with(&config, Init::Torch, 0, &Device::flex()).expect("init");
        save_model(&dir, &config, &net).expect("save");
        let workers = spawn(Some(dir.clone()));
        match next_event(&workers) {
            Event::ModelLoaded {
                dir: loaded,
                config: c,
                calibration,
                ..
            } => {
                assert_eq!((loaded, c, calibration), (dir, config, None));
            }
            e => panic!("expected the model, got {e:?}"),
        }
        let cancel = CancelToken::new();
        cancel.cancel();
        workers.send(Command::Evaluate {
            dataset: crate::bundled_path("assets/sample"),
            protocol: Protocol::Standard,
            cancel,
        });
        match next_event(&workers) {
            Event::Cancelled {
                job: JobKind::Evaluate,
            } => {}
            e => panic!("expected evaluate / cancelled, got {e:?}"),
        }
    }
}
