//! `reid-explorer train --dataset DIR --out MODEL_DIR [options] [--resume]`.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::{BackendChoice, select};
use crate::protocol::TrainEvent;
use crate::train::checkpoint::stored_config;
use crate::train::config::{Augmentation, Batching, Init, InputNorm, Positives};
use crate::train::{Outcome, StartMode, TrainConfig, TrainControl, train};

/// Arguments of `train`. Settings left out take the authors' recipe (`TrainConfig::default`)
/// for a new run, and the checkpoint's values on `--resume`.
///
/// On `--resume` the checkpoint's settings define the run and `--out` names the folder. These
/// may change on a resume, each change printed as a notice: `--dataset` (the data moved),
/// `--epochs`, `--max-steps`, `--validate-every`, `--checkpoint-every`. Any other setting given
/// with a value different from the checkpoint's is refused with an error naming it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset root with identity labels (its training split is used). Optional on --resume.
    #[arg(long, required_unless_present = "resume")]
    pub dataset: Option<PathBuf>,
    /// Output model folder (checkpoints, history, the best model).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run checkpointed in --out (an error when there is none).
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Replace the model already in --out (without it, a folder holding a model is refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Epochs over the pair list (pairs) or the identities (reuse) [default: 20].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Pairs per step with --batching pairs [default: 128].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate [default: 0.05].
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Momentum dampening; Torch7's optim.sgd uses the momentum [default: 0.9].
    #[arg(long)]
    pub dampening: Option<f64>,
    /// L2 weight decay, biases included [default: 5e-4].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// lr_t = lr / (1 + t * lr_decay) [default: 1e-4].
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Negatives per positive pair [default: 2].
    #[arg(long)]
    pub negatives: Option<usize>,
    /// Cap on positive pairs per identity per epoch [default: all].
    #[arg(long)]
    pub max_positives: Option<usize>,
    /// Which pairs of an identity's images are positives [default: all].
    #[arg(long, value_enum)]
    pub positives: Option<Positives>,
    /// Initialisation of a fresh network [default: torch].
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// Input scaling of a fresh network [default: none, RGB in [0, 1]].
    #[arg(long, value_enum)]
    pub input_norm: Option<InputNorm>,
    /// Augmentation [default: online].
    #[arg(long, value_enum)]
    pub augmentation: Option<Augmentation>,
    /// How a step's pairs are formed [default: pairs].
    #[arg(long, value_enum)]
    pub batching: Option<Batching>,
    /// Reuse batching: identities per step (K) [default: 8].
    #[arg(long)]
    pub reuse_identities: Option<usize>,
    /// Reuse batching: images per identity (M) [default: 4].
    #[arg(long)]
    pub reuse_images: Option<usize>,
    /// Fraction of identities held out for validation [default: 0.1].
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Validate every this many steps, 0 = never [default: 500].
    #[arg(long)]
    pub validate_every: Option<usize>,
    /// Checkpoint every this many steps [default: 500].
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Turn off every augmentation (same as --augmentation off).
    #[arg(long)]
    pub no_augment: bool,
    /// Mild colour jitter.
    #[arg(long)]
    pub color_jitter: bool,
    /// Seed of initialisation, sampling and augmentation [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many steps in total.
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Print one JSON object per event on stdout instead of a progress bar.
    #[arg(long)]
    pub json: bool,
    /// Start from this model folder's weights (fine-tune) instead of a fresh initialisation
    #[arg(long, value_name = "MODEL_DIR", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
}

impl Args {
    /// The run's settings: the given flags over `base` (the defaults, or on resume the
    /// checkpoint's settings).
    fn config(&self, base: TrainConfig) -> TrainConfig {
        fn set<T>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        let mut c = base;
        set(&mut c.dataset, self.dataset.clone());
        c.out = self.out.clone();
        set(&mut c.epochs, self.epochs);
        set(&mut c.batch_size, self.batch_size);
        set(&mut c.learning_rate, self.lr);
        set(&mut c.momentum, self.momentum);
        set(&mut c.dampening, self.dampening);
        set(&mut c.weight_decay, self.weight_decay);
        set(&mut c.lr_decay, self.lr_decay);
        set(&mut c.negatives_per_positive, self.negatives);
        if self.max_positives.is_some() {
            c.max_positives_per_identity = self.max_positives;
        }
        set(&mut c.positives, self.positives);
        set(&mut c.init, self.init);
        set(&mut c.input_norm, self.input_norm);
        set(&mut c.augmentation, self.augmentation);
        if self.no_augment || self.augmentation == Some(Augmentation::Off) {
            c.augment = false;
        } else if self.augmentation.is_some() {
            c.augment = true;
        }
        if self.color_jitter {
            c.color_jitter = true;
        }
        set(&mut c.batching, self.batching);
        set(&mut c.reuse_identities, self.reuse_identities);
        set(&mut c.reuse_images, self.reuse_images);
        set(&mut c.validation_fraction, self.val_fraction);
        set(&mut c.validate_every, self.validate_every);
        set(&mut c.checkpoint_every, self.checkpoint_every);
        set(&mut c.seed, self.seed);
        if self.max_steps.is_some() {
            c.max_steps = self.max_steps;
        }
        if self.init_from.is_some() {
            c.init_from = self.init_from.clone();
        }
        c
    }

    fn mode(&self) -> StartMode {
        if self.resume {
            StartMode::Resume
        } else if self.overwrite {
            StartMode::Overwrite
        } else {
            StartMode::New
        }
    }
}

/// One event as a JSON object with an `"event"` tag.
fn event_json(e: &TrainEvent) -> serde_json::Value {
    use serde_json::json;
    match e {
        TrainEvent::Loading { done, total } => {
            json!({"event": "loading", "done": done, "total": total})
        }
        TrainEvent::Started {
            total_steps,
            start_step,
            pairs_per_epoch,
        } => {
            json!({"event": "started", "total_steps": total_steps, "start_step": start_step, "pairs_per_epoch": pairs_per_epoch})
        }
        TrainEvent::Step {
            step,
            epoch,
            loss,
            accuracy,
            lr,
            pairs,
            pairs_per_s,
        } => {
            json!({"event": "step", "step": step, "epoch": epoch, "loss": loss, "accuracy": accuracy, "lr": lr, "pairs": pairs, "pairs_per_s": pairs_per_s})
        }
        TrainEvent::EpochEnd { epoch, step } => {
            json!({"event": "epoch_end", "epoch": epoch, "step": step})
        }
        TrainEvent::Validation(v) => {
            json!({"event": "validation", "step": v.step, "epoch": v.epoch, "rank1": v.rank1, "rank5": v.rank5, "mAP": v.map,
                "authors_rank1": v.authors_rank1, "authors_mAP": v.authors_map,
                "rank1_same_camera": v.rank1_same_camera, "rank1_cross_camera": v.rank1_cross_camera})
        }
        TrainEvent::Notice { message } => json!({"event": "notice", "message": message}),
        TrainEvent::Checkpoint { step, path } => {
            json!({"event": "checkpoint", "step": step, "path": path})
        }
        TrainEvent::Paused { step } => json!({"event": "paused", "step": step}),
        TrainEvent::Resumed { step } => json!({"event": "resumed", "step": step}),
        TrainEvent::Finished { step, model_dir } => {
            json!({"event": "finished", "step": step, "model": model_dir})
        }
        TrainEvent::Cancelled { step, model_dir } => {
            json!({"event": "cancelled", "step": step, "model": model_dir})
        }
        TrainEvent::Failed { reason } => json!({"event": "failed", "reason": reason}),
    }
}

pub fn run(args: Args, backend: BackendChoice) -> anyhow::Result<()> {
    let device = select(backend)?;
    if let Some(n) = &device.notice {
        eprintln!("{n}");
    }
    let mode = args.mode();
    // On resume the flags apply over the checkpoint's settings (see `Args`).
    let base = if mode == StartMode::Resume {
        stored_config(&args.out)?
    } else {
        TrainConfig::default()
    };
    let config = args.config(base);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let start = Instant::now();
    let (mut pairs, mut last_loss, mut last_rate) = (0usize, f32::NAN, 0.0);
    let control = TrainControl::default();
    super::interrupt::cancel_on_interrupt(
        control.cancel.clone(),
        "stopping after this step and writing a checkpoint",
    );
    let outcome = train(&config, mode, &device.device, &control, &mut |e| {
        if args.json {
            println!("{}", event_json(&e));
        }
        match &e {
            TrainEvent::Started {
                total_steps,
                start_step,
                ..
            } => {
                bar.set_length(*total_steps);
                bar.set_position(*start_step);
            }
            TrainEvent::Step {
                step,
                loss,
                pairs: n,
                pairs_per_s,
                accuracy,
                ..
            } => {
                pairs += n;
                last_loss = *loss;
                last_rate = *pairs_per_s;
                bar.set_position(*step);
                bar.set_message(format!(
                    "loss {loss:.4} acc {:.1}% {pairs_per_s:.0} pairs/s",
                    accuracy * 100.0
                ));
            }
            TrainEvent::Validation(v) if !args.json => {
                let pct = |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0));
                bar.println(format!(
                    "step {}: validation standard rank-1 {:.1}% mAP {:.1}% | authors' rank-1 {} mAP {} (same camera {}, cross camera {})",
                    v.step,
                    v.rank1 * 100.0,
                    v.map * 100.0,
                    pct(v.authors_rank1),
                    pct(v.authors_map),
                    pct(v.rank1_same_camera),
                    pct(v.rank1_cross_camera),
                ));
            }
            TrainEvent::Notice { message } if !args.json => bar.println(message),
            _ => {}
        }
    });
    bar.finish_and_clear();
    match outcome {
        Ok(outcome) => {
            let model_dir = config.out.clone();
            let (step, last) = match outcome {
                Outcome::Cancelled { step } => (step, TrainEvent::Cancelled { step, model_dir }),
                Outcome::Finished { step } => (step, TrainEvent::Finished { step, model_dir }),
            };
            let secs = start.elapsed().as_secs_f64();
            if args.json {
                println!("{}", event_json(&last));
            } else {
                println!(
                    "trained to step {step} in {secs:.0} s ({:.1} pairs/s overall, last step {last_rate:.1} pairs/s, loss {last_loss:.4}); model in {}",
                    pairs as f64 / secs.max(1e-9),
                    config.out.display()
                );
            }
            Ok(())
        }
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    event_json(&TrainEvent::Failed {
                        reason: e.to_string()
                    })
                );
            }
            Err(e.into())
        }
    }
}
