//! The Training view's controls below the form: start (or replace), resume from the checkpoint
//! in the output folder (with its own learning-rate schedule, or the form's: a step drop or a
//! warm restart), load the checkpoint's settings into the form, pause / resume / stop.

use eframe::egui;

use super::{HistoryUse, Run, Status, TrainingView};
use crate::app::{Action, ViewCtx};
use crate::protocol::{ResumeSchedule, StartMode, TrainCommand, TrainConfig};
use crate::train::{OutputFolder, StoredRun};

impl TrainingView {
    /// The start / resume / pause / stop buttons, and the checkpoint's line.
    pub(super) fn buttons(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut ViewCtx<'_>,
        active: bool,
        folder: &OutputFolder,
        out: &mut Vec<Action>,
    ) {
        // The form's settings, cloned only when a button sends them.
        let config = &cx.persisted.train;
        ui.horizontal_wrapped(|ui| {
            let may_start = !folder.holds_model || self.replace;
            if ui
                .add_enabled(!active && may_start, egui::Button::new("Start training"))
                .on_disabled_hover_text(
                    "the output folder holds a trained model: tick \"replace\" or choose another folder",
                )
                .clicked()
            {
                self.run = Some(Run::new(config.out.clone()));
                let mode = if folder.holds_model {
                    StartMode::Overwrite
                } else {
                    StartMode::New
                };
                self.replace = false;
                out.push(Action::Train(TrainCommand::Start {
                    config: Box::new(config.clone()),
                    mode,
                    schedule: ResumeSchedule::Checkpoint,
                }));
            }
            let schedule = if self.form_schedule {
                ResumeSchedule::Form
            } else {
                ResumeSchedule::Checkpoint
            };
            if ui
                .add_enabled(
                    !active && folder.resumable,
                    egui::Button::new("Resume from checkpoint"),
                )
                .on_hover_text(match schedule {
                    ResumeSchedule::Checkpoint => {
                        "continue the run saved in the output folder with its own settings \
                         (the form's epochs and max steps apply)"
                    }
                    ResumeSchedule::Form => {
                        "continue the run saved in the output folder with its own settings, \
                         the form's learning rate and lr decay from now on, and the form's \
                         epochs and max steps"
                    }
                })
                .on_disabled_hover_text("no checkpoint in the output folder")
                .clicked()
            {
                self.run = Some(Run::new(config.out.clone()));
                // A schedule change applies once: the next resume continues it as stored.
                self.form_schedule = false;
                out.push(Action::Train(TrainCommand::Start {
                    config: Box::new(config.clone()),
                    mode: StartMode::Resume,
                    schedule,
                }));
                // The curves so far go before the live ones.
                out.push(Action::LoadHistory {
                    out: config.out.clone(),
                    into: HistoryUse::Show,
                });
            }
            if ui
                .add_enabled(!active && folder.has_history, egui::Button::new("Show its curves"))
                .on_hover_text(
                    "plot the run recorded in the output folder (history.json): loss, accuracy, \
                     learning rate and every validation",
                )
                .on_disabled_hover_text("no recorded history in the output folder")
                .clicked()
            {
                out.push(Action::LoadHistory {
                    out: config.out.clone(),
                    into: HistoryUse::Show,
                });
            }
        });
        if let Some(stored) = &folder.checkpoint {
            self.checkpoint_line(ui, cx, active, stored);
        }
        ui.horizontal_wrapped(|ui| {
            let status = self.run.as_ref().map(|r| r.status.clone());
            if ui
                .add_enabled(status == Some(Status::Running), egui::Button::new("Pause"))
                .on_hover_text("Space")
                .clicked()
            {
                out.push(Action::Train(TrainCommand::Pause));
            }
            if ui
                .add_enabled(status == Some(Status::Paused), egui::Button::new("Resume"))
                .on_hover_text("Space")
                .clicked()
            {
                out.push(Action::Train(TrainCommand::Resume));
            }
            if ui
                .add_enabled(active, egui::Button::new("Stop"))
                .on_hover_text("stop after this step; a checkpoint is written")
                .clicked()
            {
                out.push(Action::Train(TrainCommand::Stop));
            }
        });
    }

    /// The checkpoint's step and learning rate, the choice of schedule for the resume, and
    /// "Load its settings" (the checkpoint's settings into the form, to edit before resuming).
    fn checkpoint_line(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut ViewCtx<'_>,
        active: bool,
        stored: &StoredRun,
    ) {
        let (step, run) = (stored.step, &stored.config);
        ui.label(format!(
            "checkpoint: step {step} · learning rate {} ({})",
            rate(run.lr_at(step)),
            schedule_text(run)
        ))
        .on_hover_text(format!(
            "the run checkpointed in the output folder, on {}; \"Load its settings\" shows \
             all of them in the form",
            run.dataset.display()
        ));
        let form = &cx.persisted.train;
        let hint = if (form.learning_rate, form.lr_decay) != (run.learning_rate, run.lr_decay) {
            format!(
                "from step {step} on: {} (the form's), {} at step {step}: a step drop or a warm \
                 restart; unticked, the checkpoint's schedule goes on",
                schedule_text(form),
                rate(form.lr_at(step)),
            )
        } else {
            "the form's learning rate and decay are the checkpoint's".to_string()
        };
        ui.add_enabled_ui(!active, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.checkbox(&mut self.form_schedule, "resume with the form's learning rate")
                    .on_hover_text(hint);
                if ui
                    .button("Load its settings")
                    .on_hover_text(
                        "fill the form with the checkpoint's settings (recipe, schedule, length) \
                         to edit them before resuming; the output folder stays",
                    )
                    .clicked()
                {
                    let out = cx.persisted.train.out.clone();
                    cx.persisted.train = TrainConfig {
                        out,
                        ..run.clone()
                    };
                }
            });
        });
    }
}

/// `0.05 / (1 + t x 0.0001)`, or `constant` when there is no decay.
fn schedule_text(c: &TrainConfig) -> String {
    if c.lr_decay == 0.0 {
        format!("constant {}", rate(c.learning_rate))
    } else {
        format!("{} / (1 + t × {})", rate(c.learning_rate), rate(c.lr_decay))
    }
}

/// A learning rate with three significant digits: `0.0540`, `0.000580`, `5.00e-8`.
fn rate(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if magnitude < -6.0 {
        format!("{v:.2e}")
    } else {
        format!("{v:.*}", (2.0 - magnitude).max(0.0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_with_three_significant_digits() {
        assert_eq!(rate(0.05), "0.0500");
        assert_eq!(rate(0.00058), "0.000580");
        assert_eq!(rate(0.005402718648), "0.00540");
        assert_eq!(rate(1.0), "1.00");
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(5e-8), "5.00e-8");
    }

    #[test]
    fn schedules_name_their_decay() {
        let authors = TrainConfig::default();
        assert_eq!(schedule_text(&authors), "0.0500 / (1 + t × 0.000100)");
        let dropped = TrainConfig {
            learning_rate: 0.00058,
            lr_decay: 0.0,
            ..authors
        };
        assert_eq!(schedule_text(&dropped), "constant 0.000580");
    }
}
