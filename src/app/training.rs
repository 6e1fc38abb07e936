//! Training: the dataset and hyper-parameters (the authors' defaults), start / pause / resume /
//! stop, resume from a checkpoint (buttons.rs), live plots (loss with EMA smoothing, pair
//! accuracy, learning rate, validation rank-1 and mAP of both protocols: plots.rs) over the
//! run's recorded history and other runs' for comparison (history.rs), progress with ETA and
//! pairs/s, and "Use this model".

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

mod buttons;
mod history;
mod plots;

pub use history::HistoryUse;

use super::views::View;
use super::widgets::format_value;
use super::{Action, ViewCtx};
use crate::protocol::{TrainCommand, TrainEvent};
use crate::train::{OutputFolder, TrainFailure};

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Starting,
    Loading { done: usize, total: usize },
    Running,
    Paused,
    Finished,
    Cancelled,
    Failed(TrainFailure),
    /// Not a run: the curves recorded in an output folder's `history.json`.
    Saved,
}

/// One run's live record.
#[derive(Debug, Clone)]
struct Run {
    status: Status,
    total_steps: u64,
    start_step: u64,
    pairs_per_epoch: usize,
    step: u64,
    epoch: usize,
    loss: Vec<[f64; 2]>,
    accuracy: Vec<[f64; 2]>,
    lr: Vec<[f64; 2]>,
    rank1: Vec<[f64; 2]>,
    map: Vec<[f64; 2]>,
    /// The authors' protocol (absent from older validations).
    authors_rank1: Vec<[f64; 2]>,
    authors_map: Vec<[f64; 2]>,
    pairs_per_s: f64,
    /// First step seen in this session and when (for the ETA).
    clock: Option<(u64, Instant)>,
    last_checkpoint: Option<(u64, PathBuf)>,
    model_dir: PathBuf,
    finished_dir: Option<PathBuf>,
    /// Notices from the run (settings changed on resume, new best model, clean-ups).
    notices: Vec<String>,
    /// What the output folder's recorded history holds, once it is shown.
    recorded: Option<String>,
}

impl Run {
    fn new(out: PathBuf) -> Self {
        Self {
            status: Status::Starting,
            total_steps: 0,
            start_step: 0,
            pairs_per_epoch: 0,
            step: 0,
            epoch: 0,
            notices: Vec::new(),
            recorded: None,
            loss: Vec::new(),
            accuracy: Vec::new(),
            lr: Vec::new(),
            rank1: Vec::new(),
            map: Vec::new(),
            authors_rank1: Vec::new(),
            authors_map: Vec::new(),
            pairs_per_s: 0.0,
            clock: None,
            last_checkpoint: None,
            model_dir: out,
            finished_dir: None,
        }
    }

    fn active(&self) -> bool {
        matches!(
            self.status,
            Status::Starting | Status::Loading { .. } | Status::Running | Status::Paused
        )
    }

    /// Estimated time left, from the step rate since the first step of this session.
    fn eta(&self) -> Option<Duration> {
        let (first, at) = self.clock?;
        let done = self.step.checked_sub(first).filter(|d| *d > 0)?;
        let per_step = at.elapsed().as_secs_f64() / done as f64;
        let left = self.total_steps.saturating_sub(self.step) as f64 * per_step;
        left.is_finite().then(|| Duration::from_secs_f64(left))
    }
}

/// `1h 02m`, `3m 20s`, `12s`.
fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Exponential moving average of a series (`alpha`: weight of the newest value).
pub fn ema(points: &[[f64; 2]], alpha: f64) -> Vec<[f64; 2]> {
    let mut out = Vec::with_capacity(points.len());
    let mut acc: Option<f64> = None;
    for [x, y] in points {
        if !y.is_finite() {
            continue;
        }
        let v = acc.map_or(*y, |a| a + alpha * (y - a));
        acc = Some(v);
        out.push([*x, v]);
    }
    out
}

/// The Training view's runtime state.
#[derive(Debug, Default)]
pub struct TrainingView {
    run: Option<Run>,
    /// Cached [`TrainingView::folder_state`]: (folder, answer, when checked).
    /// `None` as the time: out of date (the run wrote to the folder since).
    checkpoint: Option<(PathBuf, OutputFolder, Option<Instant>)>,
    /// The user confirmed replacing the model in the output folder.
    replace: bool,
    /// The next "Resume from checkpoint" takes the form's learning-rate schedule.
    form_schedule: bool,
    /// Recorded runs drawn over the shown one.
    overlays: Vec<history::Overlay>,
}

impl TrainingView {
    /// Whether a run is going on (as far as the events tell).
    pub fn running(&self) -> bool {
        self.run.as_ref().is_some_and(Run::active)
    }

    /// Space: pause or resume.
    #[must_use]
    pub fn toggle_pause(&self) -> Vec<Action> {
        match self.run.as_ref().map(|r| &r.status) {
            Some(Status::Running) => vec![Action::Train(TrainCommand::Pause)],
            Some(Status::Paused) => vec![Action::Train(TrainCommand::Resume)],
            _ => Vec::new(),
        }
    }

    /// The status bar's line about training.
    pub fn status_line(&self) -> Option<String> {
        let r = self.run.as_ref().filter(|r| r.active())?;
        Some(match &r.status {
            Status::Starting => "training: starting".into(),
            Status::Loading { done, total } => format!("training: loading images {done}/{total}"),
            Status::Paused => format!("training paused at step {}", r.step),
            _ => {
                let eta = r
                    .eta()
                    .map(|d| format!(" · ETA {}", format_duration(d)))
                    .unwrap_or_default();
                format!(
                    "training: step {}/{} · {:.0} pairs/s{eta}",
                    r.step, r.total_steps, r.pairs_per_s
                )
            }
        })
    }

    /// An event from the training thread.
    pub fn on_event(&mut self, e: TrainEvent) {
        // Events after which the output folder holds something new (a checkpoint, a model).
        if matches!(
            e,
            TrainEvent::Started { .. }
                | TrainEvent::Checkpoint { .. }
                | TrainEvent::Finished { .. }
                | TrainEvent::Cancelled { .. }
                | TrainEvent::Failed { .. }
        ) && let Some((_, _, checked)) = &mut self.checkpoint
        {
            *checked = None;
        }
        let r = self.run.get_or_insert_with(|| Run::new(PathBuf::new()));
        match e {
            TrainEvent::Loading { done, total } => r.status = Status::Loading { done, total },
            TrainEvent::Started {
                total_steps,
                start_step,
                pairs_per_epoch,
            } => {
                r.status = Status::Running;
                r.total_steps = total_steps;
                r.start_step = start_step;
                r.step = start_step;
                r.pairs_per_epoch = pairs_per_epoch;
                r.clock = None;
                // A history loaded before the run started may reach past its checkpoint: the
                // run measures those steps again.
                r.keep_until(start_step);
            }
            TrainEvent::Step {
                step,
                epoch,
                loss,
                accuracy,
                lr,
                pairs_per_s,
                ..
            } => {
                if r.status == Status::Starting || matches!(r.status, Status::Loading { .. }) {
                    r.status = Status::Running;
                }
                r.step = step;
                r.epoch = epoch;
                let x = step as f64;
                r.loss.push([x, f64::from(loss)]);
                r.accuracy.push([x, f64::from(accuracy) * 100.0]);
                r.lr.push([x, lr]);
                r.pairs_per_s = pairs_per_s;
                if r.clock.is_none() {
                    r.clock = Some((step, Instant::now()));
                }
            }
            TrainEvent::EpochEnd { epoch, step } => {
                r.epoch = epoch;
                r.step = r.step.max(step);
            }
            TrainEvent::Validation(v) => {
                r.push_validation(&v);
            }
            TrainEvent::Notice { message } => r.notices.push(message),
            TrainEvent::Checkpoint { step, path } => r.last_checkpoint = Some((step, path)),
            TrainEvent::Paused { step } => {
                r.status = Status::Paused;
                r.step = step;
            }
            TrainEvent::Resumed { step } => {
                r.status = Status::Running;
                r.step = step;
                r.clock = None;
            }
            TrainEvent::Finished { step, model_dir } => {
                r.status = Status::Finished;
                r.step = step;
                r.finished_dir = Some(model_dir);
            }
            TrainEvent::Cancelled { step, model_dir } => {
                r.status = Status::Cancelled;
                r.step = step;
                r.finished_dir = Some(model_dir);
            }
            TrainEvent::Failed { reason } => r.status = Status::Failed(reason),
        }
    }

    /// What `out` holds: a few `stat` calls at most every two seconds (sooner after the run
    /// wrote to it), `state.json` read again only when it changed.
    fn folder_state(&mut self, out: &std::path::Path) -> OutputFolder {
        let fresh = self.checkpoint.as_ref().is_some_and(|(p, _, at)| {
            p == out && at.is_some_and(|at| at.elapsed() < Duration::from_secs(2))
        });
        if !fresh {
            let previous = self.checkpoint.take().filter(|(p, ..)| p == out);
            let state = OutputFolder::inspect(out, previous.as_ref().map(|(_, s, _)| s));
            self.checkpoint = Some((out.to_path_buf(), state, Some(Instant::now())));
        }
        self.checkpoint
            .as_ref()
            .map_or_else(OutputFolder::default, |(_, state, _)| state.clone())
    }

    fn progress_and_plots(&mut self, ui: &mut egui::Ui, alpha: &mut f32, out: &mut Vec<Action>) {
        let Some(r) = self.run.as_ref() else {
            ui.label(
                "Set the hyper-parameters and press Start (the defaults are the authors' \
                 protocol), or resume the checkpoint in the output folder, or show the run \
                 recorded there (\"Show its curves\").",
            );
            return;
        };
        progress(ui, r, out);
        history::overlay_row(ui, &mut self.overlays, out);
        ui.separator();
        plots::plots(ui, r, &self.overlays, alpha);
    }
}

impl View for TrainingView {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        let active = self.running() || cx.jobs.training();
        egui::Panel::left("train-form")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.add_enabled_ui(!active, |ui| {
                        super::train_form::form(ui, &mut cx.persisted.train, &mut out)
                    });
                    ui.separator();
                    let folder = self.folder_state(&cx.persisted.train.out);
                    if folder.holds_model {
                        ui.checkbox(&mut self.replace, "replace the model in the output folder")
                            .on_hover_text(
                                "the output folder holds a trained model: a new run replaces it \
                                 (its model card is moved to README.replaced.md)",
                            );
                    }
                    self.buttons(ui, cx, active, &folder, &mut out);
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.progress_and_plots(ui, &mut cx.persisted.ema_alpha, &mut out)
        });
        if let Some(r) = &self.run {
            ui.ctx().request_repaint_after(if r.active() {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            });
        }
        out
    }
}

/// The run's status, progress bars, last checkpoint, notices and latest numbers.
fn progress(ui: &mut egui::Ui, r: &Run, out: &mut Vec<Action>) {
    let status = match &r.status {
        Status::Starting => "starting…".to_string(),
        Status::Loading { done, total } => format!("loading images {done}/{total}"),
        Status::Running => "running".into(),
        Status::Paused => "paused".into(),
        Status::Finished => "finished".into(),
        Status::Cancelled => "stopped (checkpoint written)".into(),
        Status::Failed(why) => format!("failed: {why}"),
        Status::Saved => "the output folder's recorded run".into(),
    };
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("Training: {status}")).strong());
        ui.label(format!(
            "step {} of {} · epoch {}",
            r.step,
            r.total_steps,
            r.epoch + 1
        ));
        ui.label(RichText::new(format!("-> {}", r.model_dir.display())).weak());
    });
    let frac = if r.total_steps > 0 {
        r.step as f32 / r.total_steps as f32
    } else {
        0.0
    };
    let text = if r.status == Status::Running {
        let eta = r
            .eta()
            .map_or(String::new(), |d| format!(" · ETA {}", format_duration(d)));
        format!("{:.0}% · {:.0} pairs/s{eta}", frac * 100.0, r.pairs_per_s)
    } else {
        format!("{:.0}%", frac * 100.0)
    };
    ui.add(egui::ProgressBar::new(frac).text(text));
    if let Status::Loading { done, total } = r.status {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("decoding {done}/{total} training images")),
        );
    }
    if let Some((step, path)) = &r.last_checkpoint {
        ui.label(
            RichText::new(format!(
                "last checkpoint at step {step}: {}",
                path.display()
            ))
            .weak(),
        );
    }
    if let Some(line) = &r.recorded {
        ui.label(RichText::new(line).weak());
    }
    for notice in r.notices.iter().rev().take(3).rev() {
        ui.label(RichText::new(notice).weak());
    }
    if let Some(last) = r.loss.last() {
        ui.label(format!(
            "loss {} · accuracy {:.1}% · lr {:.2e}{}",
            format_value(last[1] as f32),
            r.accuracy.last().map_or(0.0, |a| a[1]),
            r.lr.last().map_or(0.0, |l| l[1]),
            r.rank1
                .last()
                .map_or(String::new(), |v| format!(" · val rank-1 {:.1}%", v[1]))
        ));
    }
    if let Some(dir) = &r.finished_dir
        && ui
            .button(format!("Use this model ({})", dir.display()))
            .on_hover_text("load it into Compare, Gallery and the maps")
            .clicked()
    {
        out.push(Action::UseModel(dir.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_smooths_and_skips_non_finite() {
        let pts = [[0.0, 1.0], [1.0, f64::NAN], [2.0, 0.0]];
        let e = ema(&pts, 0.5);
        assert_eq!(e, vec![[0.0, 1.0], [2.0, 0.5]]);
    }

    #[test]
    fn events_build_the_run() {
        let mut v = TrainingView::default();
        v.on_event(TrainEvent::Started {
            total_steps: 10,
            start_step: 0,
            pairs_per_epoch: 80,
        });
        v.on_event(TrainEvent::Step {
            step: 1,
            epoch: 0,
            loss: 0.7,
            accuracy: 0.5,
            lr: 0.05,
            pairs: 32,
            pairs_per_s: 100.0,
        });
        assert!(v.running());
        assert!(v.status_line().is_some_and(|s| s.contains("step 1/10")));
        assert_eq!(v.toggle_pause().len(), 1);
        v.on_event(TrainEvent::Finished {
            step: 10,
            model_dir: "m".into(),
        });
        assert!(!v.running());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h 02m");
        assert_eq!(format_duration(Duration::from_secs(200)), "3m 20s");
        assert_eq!(format_duration(Duration::from_secs(9)), "9s");
    }
}
