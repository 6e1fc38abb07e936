//! The training thread: one run of [`crate::train::train`], its events forwarded to the GUI
//! (steps thinned to what a plot needs), its end reported as a [`TrainEvent`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Outbox;
use crate::backend::{BackendChoice, select};
use crate::protocol::{Event, ResumeSchedule, StartMode, TrainEvent};
use crate::train::resume::form_resume_config;
use crate::train::{Outcome, TrainConfig, TrainControl, TrainFailure, train};

/// Run one training session to its end (finished, cancelled or failed).
pub(super) fn run(
    backend: BackendChoice,
    config: TrainConfig,
    mode: StartMode,
    schedule: ResumeSchedule,
    control: Arc<TrainControl>,
    out: Outbox,
) {
    let failed = |reason: TrainFailure| out.send(Event::Train(TrainEvent::Failed { reason }));
    // A resume from the GUI continues the stored run: its settings, the form's length (and
    // learning-rate schedule when asked).
    let config = if mode == StartMode::Resume {
        match crate::train::checkpoint::stored_config(&config.out) {
            Ok(stored) => form_resume_config(stored, &config, schedule),
            Err(e) => return failed(e.into()),
        }
    } else {
        config
    };
    let device = match select(backend) {
        Ok(d) => d,
        Err(e) => return failed(e.into()),
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
        Ok(Err(e)) => TrainEvent::Failed { reason: e.into() },
        Err(_) => TrainEvent::Failed {
            reason: TrainFailure::Panicked,
        },
    };
    out.send(Event::Train(event));
}
