//! What a resumed run may change. The checkpoint's settings define the run; the caller's `out`
//! always wins, and these may differ from the checkpoint (each change is reported as a notice):
//! - where the data is, how long the run goes (epochs, max steps) and the validation /
//!   checkpoint intervals;
//! - the hard-negative pool (random negatives first, hard ones once the easy negatives are
//!   learnt);
//! - the learning-rate schedule, `lr` and `lr_decay`: `lr_t = lr / (1 + t * lr_decay)` with t the
//!   run's global step, so that a run can lower its learning rate late (a step drop: e.g.
//!   `--lr 0.0006 --lr-decay 0` holds 0.0006 from the resume on). The momentum buffer goes on.
//!
//! Any other setting that differs from the checkpoint's is refused, naming it (start a new run
//! with `init_from` to change those).

use super::config::TrainConfig;
use super::run::TrainError;

/// Settings a resumed run may change; everything else must match the checkpoint.
const CHANGEABLE_ON_RESUME: [&str; 8] = [
    "dataset",
    "epochs",
    "max_steps",
    "validate_every",
    "checkpoint_every",
    "hard_negative_pool",
    "learning_rate",
    "lr_decay",
];

/// The configuration a resume runs with: `stored` (the checkpoint's) with the changeable
/// settings of `requested` applied (one notice per change) and `requested.out` as the folder.
/// Any other difference is an error naming every differing setting.
pub(super) fn resume_config(
    stored: &TrainConfig,
    requested: &TrainConfig,
    notice: &mut dyn FnMut(String),
) -> Result<TrainConfig, TrainError> {
    let to_map = |c: &TrainConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(TrainError::Config(
            "internal: config is not an object".into(),
        )),
    };
    let (old, new) = (to_map(stored)?, to_map(requested)?);
    let mut refused = Vec::new();
    for (key, value) in &new {
        let before = old.get(key).unwrap_or(&serde_json::Value::Null);
        if before == value || key == "out" || key == "init_from" {
            continue;
        }
        if CHANGEABLE_ON_RESUME.contains(&key.as_str()) {
            notice(format!("resume: {key} {before} -> {value}"));
        } else {
            refused.push(format!("{key} {value} (checkpoint: {before})"));
        }
    }
    if !refused.is_empty() {
        return Err(TrainError::Config(format!(
            "{}: a resumed run keeps its settings, but these differ from the checkpoint: {}; \
             resume without them, or start a new run (--init-from to fine-tune this model)",
            requested.out.display(),
            refused.join(", ")
        )));
    }
    // The checkpoint's settings with the requested folder and changeable settings over them:
    // the same list decides what is reported and what is applied.
    let mut merged = old;
    for key in CHANGEABLE_ON_RESUME.iter().chain(&["out"]) {
        if let Some(value) = new.get(*key) {
            merged.insert((*key).to_string(), value.clone());
        }
    }
    serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| TrainError::Config(format!("internal: resumed config: {e}")))
}

/// Which learning-rate schedule a resume started from the GUI runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResumeSchedule {
    /// The checkpoint's `learning_rate` and `lr_decay` go on: the run continues as it was.
    #[default]
    Checkpoint,
    /// The form's `learning_rate` and `lr_decay` apply from the resume on (a step drop, or a warm
    /// restart to a higher rate); each change is reported as a notice when the run starts.
    Form,
}

/// The settings a resume asked for by the GUI's form runs with: the checkpoint's (`stored`),
/// with the form's folder and length (epochs, max steps), and the form's learning-rate schedule
/// when `schedule` says so. The form's other settings are not applied: the form may still hold
/// the settings of another run.
pub fn form_resume_config(
    stored: TrainConfig,
    form: &TrainConfig,
    schedule: ResumeSchedule,
) -> TrainConfig {
    let (learning_rate, lr_decay) = match schedule {
        ResumeSchedule::Checkpoint => (stored.learning_rate, stored.lr_decay),
        ResumeSchedule::Form => (form.learning_rate, form.lr_decay),
    };
    TrainConfig {
        out: form.out.clone(),
        epochs: form.epochs,
        max_steps: form.max_steps,
        learning_rate,
        lr_decay,
        ..stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resume may switch hard-negative mining on (with a notice); a changed recipe setting
    /// is refused, naming it.
    #[test]
    fn a_resume_may_change_the_hard_negative_pool_but_not_the_recipe() {
        let stored = TrainConfig::default();
        let mut notices = Vec::new();
        let hard = TrainConfig {
            hard_negative_pool: 3,
            ..stored.clone()
        };
        let got = resume_config(&stored, &hard, &mut |n| notices.push(n));
        assert_eq!(got.map(|c| c.hard_negative_pool).ok(), Some(3));
        assert_eq!(
            notices,
            vec!["resume: hard_negative_pool 1 -> 3".to_string()]
        );
        let other = TrainConfig {
            momentum: 0.5,
            ..stored.clone()
        };
        match resume_config(&stored, &other, &mut |_| {}) {
            Err(TrainError::Config(e)) => assert!(e.contains("momentum 0.5"), "{e}"),
            other => panic!("must be refused: {other:?}"),
        }
    }

    /// A step drop of the learning rate on resume: the new schedule applies from the run's
    /// global step on (lr_at uses the new base and decay), each change a notice.
    #[test]
    fn a_resume_may_lower_the_learning_rate() {
        let stored = TrainConfig::default(); // lr 0.05, decay 1e-4
        let dropped = TrainConfig {
            learning_rate: 0.0006,
            lr_decay: 0.0,
            ..stored.clone()
        };
        let mut notices = Vec::new();
        let got = resume_config(&stored, &dropped, &mut |n| notices.push(n));
        let Ok(cfg) = got else {
            panic!("a lower learning rate must be accepted: {got:?}")
        };
        // Before: 0.05 / (1 + 60000 * 1e-4) = 0.05 / 7; after: constant 0.0006.
        assert!((stored.lr_at(60_000) - 0.05 / 7.0).abs() < 1e-12);
        assert_eq!(cfg.lr_at(60_000), 0.0006);
        assert_eq!(cfg.lr_at(90_000), 0.0006);
        notices.sort();
        assert_eq!(
            notices,
            vec![
                "resume: learning_rate 0.05 -> 0.0006".to_string(),
                "resume: lr_decay 0.0001 -> 0.0".to_string(),
            ]
        );
        // The rest of the recipe still comes from the checkpoint.
        assert_eq!(cfg.momentum, stored.momentum);
        assert_eq!(cfg.dampening, stored.dampening);
    }
    /// A GUI resume keeps the checkpoint's schedule unless the form's is asked for; the form's
    /// other settings never apply (only its folder and length).
    #[test]
    fn a_form_resume_takes_the_forms_schedule_only_when_asked() {
        let stored = TrainConfig {
            learning_rate: 0.00058,
            lr_decay: 0.0,
            momentum: 0.9,
            max_steps: Some(79_500),
            ..TrainConfig::default()
        };
        let form = TrainConfig {
            out: "elsewhere".into(),
            learning_rate: 0.05,
            lr_decay: 1e-4,
            momentum: 0.5,
            max_steps: Some(100_000),
            ..TrainConfig::default()
        };
        let kept = form_resume_config(stored.clone(), &form, ResumeSchedule::Checkpoint);
        assert_eq!((kept.learning_rate, kept.lr_decay), (0.00058, 0.0));
        let given = form_resume_config(stored.clone(), &form, ResumeSchedule::Form);
        assert_eq!((given.learning_rate, given.lr_decay), (0.05, 1e-4));
        for c in [&kept, &given] {
            assert_eq!(c.out, form.out);
            assert_eq!(c.max_steps, Some(100_000));
            assert_eq!(c.momentum, 0.9, "the recipe stays the checkpoint's");
        }
        // Whatever the form asked, the result is a config resume_config accepts.
        assert!(resume_config(&stored, &given, &mut |_| {}).is_ok());
    }
}
