//! `reid-explorer train --dataset DIR --out MODEL_DIR [options] [--resume]`.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::{BackendChoice, select};
use crate::protocol::TrainEvent;
use crate::train::{Outcome, TrainConfig, TrainControl, train};

/// Arguments of `train` (defaults: the authors' protocol).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset root with identity labels (its training split is used).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Output model folder (checkpoints, history, final model).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run stored in --out.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// lr_t = lr / (1 + t * lr_decay).
    #[arg(long, default_value_t = 1e-4)]
    pub lr_decay: f64,
    #[arg(long, default_value_t = 2)]
    pub negatives: usize,
    /// Cap on positive pairs per identity per epoch (default: all).
    #[arg(long)]
    pub max_positives: Option<usize>,
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    #[arg(long, default_value_t = 500)]
    pub validate_every: usize,
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: usize,
    /// Turn off translation / flip augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Mild colour jitter.
    #[arg(long)]
    pub color_jitter: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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
    fn config(&self) -> TrainConfig {
        TrainConfig {
            dataset: self.dataset.clone(),
            out: self.out.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            lr_decay: self.lr_decay,
            negatives_per_positive: self.negatives,
            max_positives_per_identity: self.max_positives,
            validation_fraction: self.val_fraction,
            validate_every: self.validate_every,
            checkpoint_every: self.checkpoint_every,
            augment: !self.no_augment,
            color_jitter: self.color_jitter,
            seed: self.seed,
            max_steps: self.max_steps,
            init_from: self.init_from.clone(),
        }
    }
}

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
            pairs_per_s,
        } => {
            json!({"event": "step", "step": step, "epoch": epoch, "loss": loss, "accuracy": accuracy, "lr": lr, "pairs_per_s": pairs_per_s})
        }
        TrainEvent::EpochEnd { epoch, step } => {
            json!({"event": "epoch_end", "epoch": epoch, "step": step})
        }
        TrainEvent::Validation {
            step,
            epoch,
            rank1,
            rank5,
            map,
        } => {
            json!({"event": "validation", "step": step, "epoch": epoch, "rank1": rank1, "rank5": rank5, "mAP": map})
        }
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
    let config = args.config();
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
    let outcome = train(&config, args.resume, &device.device, &control, &mut |e| {
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
                pairs_per_s,
                accuracy,
                ..
            } => {
                pairs += config.batch_size;
                last_loss = *loss;
                last_rate = *pairs_per_s;
                bar.set_position(*step);
                bar.set_message(format!(
                    "loss {loss:.4} acc {:.1}% {pairs_per_s:.0} pairs/s",
                    accuracy * 100.0
                ));
            }
            TrainEvent::Validation {
                step, rank1, map, ..
            } if !args.json => {
                bar.println(format!(
                    "step {step}: validation rank-1 {:.1}%  mAP {:.1}%",
                    rank1 * 100.0,
                    map * 100.0
                ));
            }
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
