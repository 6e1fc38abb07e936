//! A run's recorded history (`out/history.json`) in the Training view: on its own ("Show its
//! curves", a folder's finished or stopped run), or before a resumed run's live curves.

use std::path::PathBuf;

use eframe::egui::{self, RichText};

use super::{Run, Status, TrainingView};
use crate::app::Action;
use crate::app::jobs::Pick;
use crate::train::checkpoint::{History, StepRecord, ValidationRecord};

/// At most this many points per step series: a long run's steps are thinned by a stride (every
/// validation is kept).
const MAX_STEP_POINTS: usize = 20_000;

/// At most this many runs drawn over the shown one.
pub(super) const MAX_OVERLAYS: usize = 6;

/// What a recorded history read from a folder is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryUse {
    /// The shown run (alone, or before a resumed run's live curves).
    Show,
    /// Drawn over the shown run's plots, for comparison (an ablation, another recipe).
    Overlay,
}

/// A recorded run drawn over the shown one.
#[derive(Debug, Clone)]
pub(super) struct Overlay {
    /// The folder's name, as the legend shows it.
    pub name: String,
    pub dir: PathBuf,
    pub run: Run,
}

impl TrainingView {
    /// `out`'s recorded history arrived, for `into`.
    pub fn history_arrived(&mut self, out: PathBuf, into: HistoryUse, history: &History) {
        match into {
            HistoryUse::Show => self.show_history(out, history),
            HistoryUse::Overlay => self.add_overlay(out, history),
        }
    }

    /// Draw `out`'s recorded run over the shown one (replacing an overlay of the same folder;
    /// the oldest goes beyond [`MAX_OVERLAYS`]).
    fn add_overlay(&mut self, out: PathBuf, history: &History) {
        let run = Run::recorded(out.clone(), history);
        self.overlays.retain(|o| o.dir != out);
        if self.overlays.len() >= MAX_OVERLAYS {
            self.overlays.remove(0);
        }
        self.overlays.push(Overlay {
            name: crate::app::state::short_path(&out, 2),
            dir: out,
            run,
        });
    }

    /// `out`'s recorded history arrived. A run of this session in `out` (going on, or ended:
    /// its status and notices stay) gets it before its live points; otherwise it is shown on
    /// its own, as the folder's recorded run.
    fn show_history(&mut self, out: PathBuf, history: &History) {
        match &mut self.run {
            Some(r) if r.model_dir == out && r.status != Status::Saved => {
                r.prepend_history(history)
            }
            _ => {
                let mut r = Run::recorded(out.clone(), history);
                r.finished_dir = Some(out);
                self.run = Some(r);
            }
        }
    }
}

/// "Compare with a run…" and the runs drawn over the plots, in their colours, each removable.
pub(super) fn overlay_row(ui: &mut egui::Ui, overlays: &mut Vec<Overlay>, out: &mut Vec<Action>) {
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("Compare with a run…")
            .on_hover_text(
                "draw another folder's recorded run (history.json) over these plots, dashed: \
                 an ablation, another recipe, an earlier stretch",
            )
            .clicked()
        {
            out.push(Action::Pick(Pick::CompareRun));
        }
        let mut remove = None;
        for (i, o) in overlays.iter().enumerate() {
            ui.label(RichText::new(&o.name).color(super::plots::overlay_color(i)))
                .on_hover_text(o.run.recorded.clone().unwrap_or_default());
            if ui.small_button("×").on_hover_text("stop comparing").clicked() {
                remove = Some(i);
            }
        }
        if let Some(i) = remove {
            overlays.remove(i);
        }
    });
}

impl Run {
    /// `out`'s recorded run on its own: status `Saved`, at its last recorded step.
    fn recorded(out: PathBuf, history: &History) -> Self {
        let mut r = Run::new(out);
        r.status = Status::Saved;
        r.prepend_history(history);
        r.step = history.steps.last().map_or(0, |s| s.step);
        r.total_steps = r.step;
        r.epoch = history.validations.last().map_or(0, |v| v.epoch);
        r
    }

    /// Put `history`'s records before the live ones, up to the first live step (what the
    /// history holds beyond it is measured again by the live run), with a line saying what it
    /// holds.
    pub(super) fn prepend_history(&mut self, h: &History) {
        let first_live = self.loss.first().map_or(f64::INFINITY, |p| p[0]);
        let steps: Vec<&StepRecord> = h
            .steps
            .iter()
            .filter(|s| (s.step as f64) < first_live)
            .collect();
        let stride = steps.len().div_ceil(MAX_STEP_POINTS).max(1);
        let thinned = steps
            .iter()
            .enumerate()
            .filter(|(i, _)| i % stride == 0 || *i + 1 == steps.len())
            .map(|(_, s)| *s);
        let (mut loss, mut accuracy, mut lr) = (Vec::new(), Vec::new(), Vec::new());
        for s in thinned {
            let x = s.step as f64;
            loss.push([x, f64::from(s.loss)]);
            accuracy.push([x, f64::from(s.accuracy) * 100.0]);
            lr.push([x, s.lr]);
        }
        prepend(&mut self.loss, loss);
        prepend(&mut self.accuracy, accuracy);
        prepend(&mut self.lr, lr);
        let mut recorded = Run::new(PathBuf::new());
        for v in &h.validations {
            if (v.step as f64) < first_live {
                recorded.push_validation(v);
            }
        }
        prepend(&mut self.rank1, recorded.rank1);
        prepend(&mut self.map, recorded.map);
        prepend(&mut self.authors_rank1, recorded.authors_rank1);
        prepend(&mut self.authors_map, recorded.authors_map);
        self.recorded = Some(summary(h, stride));
    }

    /// One validation's points (percent).
    pub(super) fn push_validation(&mut self, v: &ValidationRecord) {
        let x = v.step as f64;
        self.rank1.push([x, v.rank1 * 100.0]);
        self.map.push([x, v.map * 100.0]);
        if let Some(a) = v.authors_rank1 {
            self.authors_rank1.push([x, a * 100.0]);
        }
        if let Some(a) = v.authors_map {
            self.authors_map.push([x, a * 100.0]);
        }
    }

    /// Drop the points after `step` (a resumed run's checkpoint: it measures them again).
    pub(super) fn keep_until(&mut self, step: u64) {
        let x = step as f64;
        for series in [
            &mut self.loss,
            &mut self.accuracy,
            &mut self.lr,
            &mut self.rank1,
            &mut self.map,
            &mut self.authors_rank1,
            &mut self.authors_map,
        ] {
            series.retain(|p| p[0] <= x);
        }
    }
}

/// `before` followed by what `series` held.
fn prepend(series: &mut Vec<[f64; 2]>, mut before: Vec<[f64; 2]>) {
    before.append(series);
    *series = before;
}

/// What a history holds, in a line: steps, hours, validations and the best one.
fn summary(h: &History, stride: usize) -> String {
    let last = h.steps.last().map_or(0, |s| s.step);
    let mut line = format!(
        "recorded: {last} steps, {:.1} h of training, {} validations",
        h.seconds / 3600.0,
        h.validations.len()
    );
    if let Some(b) = h.best {
        line += &format!(
            "; best (the folder's model) at step {}: rank-1 {:.1}% / mAP {:.1}%",
            b.step,
            b.rank1 * 100.0,
            b.map * 100.0
        );
        if let (Some(r), Some(m)) = (b.authors_rank1, b.authors_map) {
            line += &format!(", authors' {:.1}% / {:.1}%", r * 100.0, m * 100.0);
        }
    }
    if stride > 1 {
        line += &format!(" (every {stride}th step plotted)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::TrainEvent;

    fn history(steps: u64, every: u64) -> History {
        History {
            steps: (1..=steps)
                .map(|step| StepRecord {
                    step,
                    loss: 1.0 / step as f32,
                    accuracy: 0.5,
                    lr: 0.05,
                })
                .collect(),
            validations: (1..=steps / every)
                .map(|i| ValidationRecord {
                    step: i * every,
                    epoch: 0,
                    rank1: 0.1,
                    rank5: 0.2,
                    map: 0.3,
                    authors_rank1: Some(0.4),
                    authors_map: None,
                    rank1_same_camera: None,
                    rank1_cross_camera: None,
                    calibration: None,
                })
                .collect(),
            seconds: 7200.0,
            best: None,
        }
    }

    #[test]
    fn a_folders_history_is_shown_as_its_recorded_run() {
        let mut v = TrainingView::default();
        v.history_arrived("out".into(), HistoryUse::Show, &history(10, 5));
        let r = v.run.as_ref().expect("a run");
        assert_eq!(r.status, Status::Saved);
        assert!(!r.active());
        assert_eq!(r.loss.len(), 10);
        assert_eq!(r.loss[9], [10.0, 0.1_f32 as f64]);
        assert_eq!(r.rank1, vec![[5.0, 10.0], [10.0, 10.0]]);
        assert_eq!(r.authors_rank1.len(), 2);
        assert!(r.authors_map.is_empty(), "older validations have no authors' mAP");
        assert_eq!(r.step, 10);
        assert_eq!(r.finished_dir.as_deref(), Some(std::path::Path::new("out")));
        let line = r.recorded.as_deref().unwrap_or_default();
        assert!(line.contains("10 steps, 2.0 h"), "{line}");
    }

    /// A resumed run: the history (written past the checkpoint at step 6) goes before the
    /// live steps, and what it holds beyond the checkpoint is dropped when the run starts,
    /// whichever of the two arrives first.
    #[test]
    fn a_resumed_runs_history_goes_before_its_live_steps() {
        let step = |step| TrainEvent::Step {
            step,
            epoch: 0,
            loss: 9.0,
            accuracy: 1.0,
            lr: 0.001,
            pairs: 1,
            pairs_per_s: 1.0,
        };
        let started = TrainEvent::Started {
            total_steps: 20,
            start_step: 6,
            pairs_per_epoch: 1,
        };
        for history_first in [true, false] {
            let mut v = TrainingView {
                run: Some(Run::new("out".into())),
                ..TrainingView::default()
            };
            if history_first {
                v.history_arrived("out".into(), HistoryUse::Show, &history(8, 4));
            }
            v.on_event(started.clone());
            v.on_event(step(7));
            if !history_first {
                v.history_arrived("out".into(), HistoryUse::Show, &history(8, 4));
            }
            let r = v.run.as_ref().expect("the run");
            let xs: Vec<f64> = r.loss.iter().map(|p| p[0]).collect();
            assert_eq!(xs, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "{history_first}");
            assert_eq!(r.loss[6][1], 9.0, "the live step");
            assert_eq!(r.rank1, vec![[4.0, 10.0]], "the validation at 8 is re-run");
            assert_eq!(r.status, Status::Running);
        }
    }

    /// Overlays: one per folder (a second read replaces the first), at most MAX_OVERLAYS, the
    /// oldest dropped; the shown run stays.
    #[test]
    fn overlays_are_one_per_folder_and_capped() {
        let mut v = TrainingView::default();
        v.history_arrived("shown".into(), HistoryUse::Show, &history(10, 5));
        v.history_arrived("a".into(), HistoryUse::Overlay, &history(4, 2));
        v.history_arrived("a".into(), HistoryUse::Overlay, &history(6, 2));
        assert_eq!(v.overlays.len(), 1);
        assert_eq!(v.overlays[0].run.loss.len(), 6);
        for i in 0..MAX_OVERLAYS {
            v.history_arrived(format!("b{i}").into(), HistoryUse::Overlay, &history(2, 1));
        }
        assert_eq!(v.overlays.len(), MAX_OVERLAYS);
        assert_eq!(v.overlays[0].dir, PathBuf::from("b0"), "the oldest ('a') went");
        assert_eq!(v.run.as_ref().map(|r| r.loss.len()), Some(10));
    }

    /// A resume that failed before its history arrived keeps saying so: the history goes under
    /// the failed run instead of replacing it.
    #[test]
    fn a_failed_run_keeps_its_status_when_its_history_arrives() {
        let mut v = TrainingView {
            run: Some(Run::new("out".into())),
            ..TrainingView::default()
        };
        v.on_event(TrainEvent::Failed {
            reason: crate::train::TrainFailure::Panicked,
        });
        v.history_arrived("out".into(), HistoryUse::Show, &history(4, 2));
        let r = v.run.as_ref().expect("the run");
        assert_eq!(r.status, Status::Failed(crate::train::TrainFailure::Panicked));
        assert_eq!(r.loss.len(), 4);
        // Another folder's history replaces it.
        v.history_arrived("other".into(), HistoryUse::Show, &history(4, 2));
        assert_eq!(v.run.as_ref().map(|r| r.status.clone()), Some(Status::Saved));
    }

    #[test]
    fn long_histories_are_thinned_to_the_cap_keeping_the_last_step() {
        let mut r = Run::new("out".into());
        let n = (MAX_STEP_POINTS * 3 + 7) as u64;
        r.prepend_history(&history(n, n));
        assert!(r.loss.len() <= MAX_STEP_POINTS + 1, "{}", r.loss.len());
        assert_eq!(r.loss.last().map(|p| p[0]), Some(n as f64));
        assert_eq!(r.loss[1][0] - r.loss[0][0], 4.0, "stride 4");
    }
}
