//! The inference worker: one command at a time on the loaded model ([`Session`]), one handler
//! function per [`Command`]. A handler returns the answer [`Event`] or a typed [`JobFailure`];
//! [`Inference::dispatch`] sends either, tagged with the command's [`JobKind`], and turns a
//! panic into [`JobFailure::Panicked`] so the worker goes on with the next command.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use super::Outbox;
use crate::backend::{BackendChoice, ComputeDevice, select};
use crate::engine::{JobError, Session, evaluate_dataset, gallery_files, rank_gallery};
use crate::model::infer::{images_tensor, pair_probabilities};
use crate::model::trace;
use crate::protocol::{CancelToken, Command, Event, JobFailure, JobKind, Labels, Protocol};

/// The worker's loop: choose the device, load `model`, then answer commands until the GUI
/// hangs up.
pub(super) fn run(
    backend: BackendChoice,
    model: Option<PathBuf>,
    rx: Receiver<Command>,
    out: Outbox,
) {
    let device = match select(backend) {
        Ok(d) => d,
        Err(e) => {
            out.error(JobKind::Backend, e.into());
            crate::backend::cpu()
        }
    };
    let mut worker = Inference {
        device,
        session: None,
        out,
    };
    if let Some(dir) = model {
        worker.dispatch(Command::LoadModel { dir });
    }
    while let Ok(command) = rx.recv() {
        worker.dispatch(command);
    }
}

/// The worker's state: its device and the loaded model.
struct Inference {
    device: ComputeDevice,
    session: Option<Session>,
    out: Outbox,
}

impl Inference {
    /// Run one command and send its answer.
    fn dispatch(&mut self, command: Command) {
        let job = command.kind();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(command)));
        match result {
            Ok(Ok(event)) => self.out.send(event),
            Ok(Err(error)) => self.out.error(job, error),
            Err(_) => self.out.error(job, JobFailure::Panicked),
        }
    }

    /// The command's answer, from its handler.
    fn handle(&mut self, command: Command) -> Result<Event, JobFailure> {
        let job = command.kind();
        let Self {
            device,
            session,
            out,
        } = self;
        let out = &*out;
        let loaded = || session.as_ref().ok_or(JobFailure::NoModel);
        let progress = |stage: &'static str, done: usize, total: usize| {
            out.send(Event::Progress {
                job,
                stage,
                done,
                total,
            });
        };
        match command {
            Command::LoadModel { dir } => load_model(device, session, dir),
            Command::Compare { a, b } => compare(loaded()?, a, b),
            Command::Trace { a, b } => trace_pair(loaded()?, a, b),
            Command::Rank {
                query,
                query_labels,
                gallery,
                cancel,
            } => rank(loaded()?, &progress, &cancel, query, query_labels, gallery),
            Command::Evaluate {
                dataset,
                protocol,
                cancel,
            } => evaluate(loaded()?, &progress, &cancel, dataset, &protocol),
        }
    }
}

/// Replace the model (the previous one stays when loading fails).
fn load_model(
    device: &ComputeDevice,
    session: &mut Option<Session>,
    dir: PathBuf,
) -> Result<Event, JobFailure> {
    let loaded = Session::load(&dir, device.clone())?;
    let calibration = loaded.calibration()?;
    let event = Event::ModelLoaded {
        dir,
        config: loaded.config.clone(),
        calibration,
        backend: device.description.clone(),
    };
    *session = Some(loaded);
    Ok(event)
}

/// The answer of a cancellable engine job: its result, [`Event::Cancelled`], or the failure.
fn answer<T>(
    job: JobKind,
    result: Result<T, JobError>,
    wrap: impl FnOnce(T) -> Event,
) -> Result<Event, JobFailure> {
    match result {
        Ok(value) => Ok(wrap(value)),
        Err(JobError::Cancelled) => Ok(Event::Cancelled { job }),
        Err(e) => Err(e.into()),
    }
}

fn compare(s: &Session, a: PathBuf, b: PathBuf) -> Result<Event, JobFailure> {
    let start = Instant::now();
    let (ia, ib) = (s.input(&a)?, s.input(&b)?);
    let p = pair_probabilities(&s.net, &[&ia], &[&ib], &s.device.device)
        .map_err(JobFailure::Forward)?;
    Ok(Event::Compared {
        a,
        b,
        p_same: p.first().copied().unwrap_or(f32::NAN),
        millis: start.elapsed().as_secs_f64() * 1e3,
        backend: s.device.description.clone(),
    })
}

fn trace_pair(s: &Session, a: PathBuf, b: PathBuf) -> Result<Event, JobFailure> {
    let (ia, ib) = (s.input(&a)?, s.input(&b)?);
    let dev = &s.device.device;
    let t = trace(
        &s.net,
        images_tensor(&[&ia], dev),
        images_tensor(&[&ib], dev),
    )?;
    Ok(Event::Traced {
        a,
        b,
        trace: Arc::new(t),
    })
}

fn rank(
    s: &Session,
    progress: &(dyn Fn(&'static str, usize, usize) + Sync),
    cancel: &CancelToken,
    query: PathBuf,
    query_labels: Option<Labels>,
    gallery: PathBuf,
) -> Result<Event, JobFailure> {
    let files = gallery_files(&gallery).map_err(JobFailure::from)?.0;
    let cache = s.cache_for(&gallery, None);
    let opts = s
        .job()
        .cache(cache.as_ref())
        .progress(progress)
        .cancel(cancel);
    answer(
        JobKind::Rank,
        rank_gallery(&opts, &query, query_labels, &files),
        |r| Event::Ranked(Arc::new(r)),
    )
}

fn evaluate(
    s: &Session,
    progress: &(dyn Fn(&'static str, usize, usize) + Sync),
    cancel: &CancelToken,
    dataset: PathBuf,
    protocol: &Protocol,
) -> Result<Event, JobFailure> {
    let cache = s.cache_for(&dataset, None);
    let opts = s
        .job()
        .cache(cache.as_ref())
        .progress(progress)
        .cancel(cancel);
    answer(
        JobKind::Evaluate,
        evaluate_dataset(&opts, &dataset, protocol),
        |e| Event::Evaluated(Arc::new(e)),
    )
}
