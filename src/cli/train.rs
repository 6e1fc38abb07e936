//! `reid-explorer train --dataset DIR --out MODEL_DIR [options] [--resume]`.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::{BackendChoice, select};
use crate::train::checkpoint::stored_config;
use crate::train::config::{Augmentation, Batching, Init, InputNorm, Positives, ReuseCameras};
use crate::train::{
    Outcome, StartMode, TrainConfig, TrainControl, TrainEvent, TrainFailure, train,
};

/// Arguments of `train`. Settings left out take the authors' recipe (`TrainConfig::default`)
/// for a new run, and the checkpoint's values on `--resume`.
///
/// On `--resume` the checkpoint's settings define the run and `--out` names the folder; the
/// few that may change (lengths, intervals, the data's location, the hard-negative pool, the
/// learning-rate schedule) are listed in [`crate::train::resume`], each change printed as a
/// notice. Any other setting given with a value different from the checkpoint's is refused with
/// an error naming it.
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
    // The settings below are None when not given (a resume keeps the checkpoint's value); their
    // help shows the default of a new run, read from `TrainConfig::default`.
    #[arg(long, help = help("Epochs over the pair list (pairs) or the identities (reuse)", d().epochs))]
    pub epochs: Option<usize>,
    #[arg(long, help = help("Pairs per step with --batching pairs", d().batch_size))]
    pub batch_size: Option<usize>,
    #[arg(long, help = help("Base learning rate", d().learning_rate))]
    pub lr: Option<f64>,
    #[arg(long, help = help("SGD momentum", d().momentum))]
    pub momentum: Option<f64>,
    #[arg(long, help = help("Momentum dampening; Torch7's optim.sgd uses the momentum", d().dampening))]
    pub dampening: Option<f64>,
    #[arg(long, help = help("L2 weight decay, biases included", d().weight_decay))]
    pub weight_decay: Option<f64>,
    #[arg(long, help = help("lr_t = lr / (1 + t * lr_decay)", d().lr_decay))]
    pub lr_decay: Option<f64>,
    #[arg(long, help = help("Negatives per positive pair", d().negatives_per_positive))]
    pub negatives: Option<usize>,
    #[arg(long, help = help(
        "Cap on positive pairs per identity per epoch",
        d().max_positives_per_identity.map_or("all".into(), |n| n.to_string()),
    ))]
    pub max_positives: Option<usize>,
    #[arg(long, value_enum, help = help("Which pairs of an identity's images are positives", name(d().positives)))]
    pub positives: Option<Positives>,
    #[arg(long, value_enum, help = help("Initialisation of a fresh network", name(d().init)))]
    pub init: Option<Init>,
    #[arg(long, value_enum, help = help(
        "Input scaling of a fresh network (none: RGB in [0, 1])",
        name(d().input_norm),
    ))]
    pub input_norm: Option<InputNorm>,
    #[arg(long, value_enum, help = help("Augmentation", name(d().augmentation())))]
    pub augmentation: Option<Augmentation>,
    #[arg(long, value_enum, help = help("How a step's pairs are formed", name(d().batching)))]
    pub batching: Option<Batching>,
    #[arg(long, help = help("Reuse batching: identities per step (K)", d().reuse_identities))]
    pub reuse_identities: Option<usize>,
    #[arg(long, help = help("Reuse batching: images per identity (M)", d().reuse_images))]
    pub reuse_images: Option<usize>,
    #[arg(long, value_enum, help = help(
        "Reuse batching: how an identity's images are drawn",
        name(d().reuse_cameras),
    ))]
    pub reuse_cameras: Option<ReuseCameras>,
    #[arg(long, value_name = "POOL", help = help(
        "Reuse batching: candidates per negative, the highest-scoring kept (hard-negative mining; 1 = random)",
        d().hard_negative_pool,
    ))]
    pub hard_negatives: Option<usize>,
    #[arg(long, help = help("Fraction of identities held out for validation", d().validation_fraction))]
    pub val_fraction: Option<f64>,
    #[arg(long, help = help("Validate every this many steps, 0 = never", d().validate_every))]
    pub validate_every: Option<usize>,
    #[arg(long, help = help("Checkpoint every this many steps", d().checkpoint_every))]
    pub checkpoint_every: Option<usize>,
    /// Turn off every augmentation (same as --augmentation off).
    #[arg(long)]
    pub no_augment: bool,
    /// Mild colour jitter.
    #[arg(long)]
    pub color_jitter: bool,
    #[arg(long, help = help("Seed of initialisation, sampling and augmentation", d().seed))]
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

/// The settings of a new run: the one source of the defaults shown by `--help`.
fn d() -> TrainConfig {
    TrainConfig::default()
}

/// A setting's help line with its default: `Base learning rate [default: 0.05]`.
fn help(text: &str, default: impl std::fmt::Display) -> String {
    format!("{text} [default: {default}]")
}

/// A choice's command-line spelling (`cross-camera`).
fn name<T: clap::ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
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
        set(&mut c.reuse_cameras, self.reuse_cameras);
        set(&mut c.hard_negative_pool, self.hard_negatives);
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
            println!("{}", e.json_line());
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
                println!("{}", last.json_line());
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
            let e = std::sync::Arc::new(e);
            if args.json {
                let failed = TrainEvent::Failed {
                    reason: TrainFailure::Run(e.clone()),
                };
                println!("{}", failed.json_line());
            }
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Args as _;

    use super::*;

    fn parse(args: &[&str]) -> Args {
        let cmd = Args::augment_args(clap::Command::new("train").no_binary_name(true));
        let matches = cmd.try_get_matches_from(args).expect("valid arguments");
        <Args as clap::FromArgMatches>::from_arg_matches(&matches).expect("arguments")
    }

    /// A new run given only the folders trains with `TrainConfig::default`, and `--help` shows
    /// exactly those defaults.
    #[test]
    fn the_command_line_defaults_are_the_config_defaults() {
        let args = parse(&["--dataset", "data", "--out", "m"]);
        let config = args.config(TrainConfig::default());
        let expected = TrainConfig {
            dataset: "data".into(),
            out: "m".into(),
            ..TrainConfig::default()
        };
        assert_eq!(config, expected);
        let cmd = Args::augment_args(clap::Command::new("train"));
        let shown = |id: &str| {
            cmd.get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default()
        };
        for (id, default) in [
            ("epochs", "20"),
            ("batch_size", "128"),
            ("lr", "0.05"),
            ("momentum", "0.9"),
            ("dampening", "0.9"),
            ("weight_decay", "0.0005"),
            ("lr_decay", "0.0001"),
            ("negatives", "2"),
            ("max_positives", "all"),
            ("positives", "all"),
            ("init", "torch"),
            ("input_norm", "none"),
            ("augmentation", "online"),
            ("batching", "reuse"),
            ("reuse_identities", "8"),
            ("reuse_images", "4"),
            ("reuse_cameras", "random"),
            ("hard_negatives", "1"),
            ("val_fraction", "0.1"),
            ("validate_every", "500"),
            ("checkpoint_every", "500"),
            ("seed", "0"),
        ] {
            let help = shown(id);
            assert!(
                help.ends_with(&format!("[default: {default}]")),
                "{id}: {help}"
            );
        }
    }

    #[test]
    fn given_settings_override_the_base() {
        let args = parse(&[
            "--dataset",
            "data",
            "--out",
            "m",
            "--epochs",
            "3",
            "--lr",
            "0.01",
            "--no-augment",
        ]);
        let c = args.config(TrainConfig::default());
        assert_eq!((c.epochs, c.learning_rate, c.augment), (3, 0.01, false));
        assert_eq!(c.batch_size, TrainConfig::default().batch_size);
    }
}
