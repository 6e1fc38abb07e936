//! The training loop: the authors' protocol (DESIGN.md section 2) over Burn autodiff.
//!
//! One call of [`train`] runs (or resumes) a run to its end, reporting [`TrainEvent`]s through a
//! callback. It checks its [`TrainControl`] between steps: pause waits, cancel writes a
//! checkpoint and returns. A non-finite loss stops the run before anything is written, so the
//! last checkpoint stays the last good state.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::checkpoint::{
    History, StepRecord, TrainState, ValidationRecord, has_checkpoint, read_checkpoint,
    restore_optimizer, to_training, write_checkpoint,
};
use super::config::TrainConfig;
use super::data::TrainData;
use crate::data::augment::{AugmentConfig, ColorJitter, augment};
use crate::data::crops::to_input;
use crate::data::sampler::Pair;
use crate::model::io::load_model;
use crate::model::{ModelConfig, XCorrNet};
use crate::protocol::{CancelToken, TrainEvent};

/// Pause and cancel switches shared with the caller.
#[derive(Debug, Default)]
pub struct TrainControl {
    pub pause: AtomicBool,
    pub cancel: CancelToken,
}

/// Why a run ended without finishing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] super::data::TrainDataError),
    #[error(transparent)]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    #[error("{0}")]
    Config(String),
    #[error(
        "training diverged at step {step} (a loss or weight became {value}): training stopped; the last checkpoint is kept"
    )]
    NonFinite { step: u64, value: f32 },
    #[error("reading from the device failed: {0}")]
    Device(String),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished { step: u64 },
    Cancelled { step: u64 },
}

fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .with_momentum(Some(MomentumConfig {
            momentum: config.momentum,
            dampening: 0.0,
            nesterov: false,
        }))
        .init()
}

/// Mean cross-entropy and accuracy of `[B, 2]` logits against same/different labels.
fn loss_and_accuracy(logits: Tensor<2>, same: &[bool], device: &Device) -> (Tensor<1>, Tensor<2>) {
    let b = same.len();
    let target: Vec<f32> = same
        .iter()
        .flat_map(|&s| if s { [0.0, 1.0] } else { [1.0, 0.0] })
        .collect();
    let target = Tensor::<2>::from_data(TensorData::new(target, [b, 2]), device); // [B, 2]
    let loss = (log_softmax(logits.clone(), 1) * target)
        .sum_dim(1)
        .mean()
        .neg(); // [1]
    (loss, logits)
}

/// Build one batch: augmented, normalised crops for both sides, `[B, 3, 160, 60]` each.
fn batch_tensors(
    data: &TrainData,
    pairs: &[Pair],
    aug: Option<&AugmentConfig>,
    seed: u64,
    step: u64,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let norm = &data.normalization;
    let side = |pick: fn(&Pair) -> usize, salt: u64| -> Vec<f32> {
        let parts: Vec<Vec<f32>> = pairs
            .par_iter()
            .enumerate()
            .map(|(i, p)| {
                let crop = data.crop(pick(p));
                match aug {
                    Some(cfg) => {
                        to_input(&augment(crop, cfg, seed, step, 2 * i as u64 + salt), norm)
                    }
                    None => to_input(crop, norm),
                }
            })
            .collect();
        parts.concat()
    };
    let dims = [pairs.len(), 3, crate::data::INPUT_H, crate::data::INPUT_W];
    let a = Tensor::from_data(TensorData::new(side(|p| p.a, 0), dims), device);
    let b = Tensor::from_data(TensorData::new(side(|p| p.b, 1), dims), device);
    (a, b)
}

fn scalar(t: Tensor<1>) -> Result<f32, TrainError> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Device(format!("{e:?}")))?
        .first()
        .copied()
        .ok_or_else(|| TrainError::Device("empty tensor".into()))
}

fn accuracy(logits: Tensor<2>, same: &[bool]) -> Result<f32, TrainError> {
    let v = logits
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Device(format!("{e:?}")))?;
    let right = v
        .chunks_exact(2)
        .zip(same)
        .filter(|(l, s)| (l[1] > l[0]) == **s)
        .count();
    Ok(right as f32 / same.len().max(1) as f32)
}

/// Run (or, with `resume`, continue) the training described by `config` on `device` (a plain
/// device; autodiff is enabled here). Events go to `emit`.
pub fn train(
    config: &TrainConfig,
    resume: bool,
    device: &Device,
    control: &TrainControl,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<Outcome, TrainError> {
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(TrainError::Config(
            "batch size and epochs must be positive".into(),
        ));
    }
    let ad = device.clone().autodiff();
    let (mut state, net, optim) = if resume && has_checkpoint(&config.out) {
        let ck = read_checkpoint(&config.out, &ad)?;
        let optim = restore_optimizer(optimizer(&ck.state.config), ck.optimizer, &ck.dir)?;
        let mut state = ck.state;
        // Settings that do not change the run's trajectory may be changed on resume.
        state.config.epochs = config.epochs;
        state.config.max_steps = config.max_steps;
        state.config.validate_every = config.validate_every;
        state.config.checkpoint_every = config.checkpoint_every;
        (state, to_training(ck.net, &ad), optim)
    } else {
        let (model, net) = match &config.init_from {
            Some(dir) => {
                let (model, net) =
                    load_model(dir, device).map_err(|e| TrainError::Config(e.to_string()))?;
                (model, to_training(net, &ad))
            }
            None => {
                let model = ModelConfig::default();
                let net = XCorrNet::init(&model, config.seed, &ad)
                    .map_err(|e| TrainError::Config(e.to_string()))?;
                (model, net)
            }
        };
        let state = TrainState {
            config: config.clone(),
            model,
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            history: History::default(),
        };
        (state, net, optimizer(config))
    };
    let cfg = state.config.clone();
    let data = TrainData::load(&cfg, &state.model.normalization, &mut |done, total| {
        emit(TrainEvent::Loading { done, total })
    })?;
    run_loop(&mut state, net, optim, &data, device, control, emit)
}

#[allow(clippy::too_many_arguments)]
fn run_loop(
    state: &mut TrainState,
    mut net: XCorrNet,
    mut optim: ModuleOptimizer,
    data: &TrainData,
    device: &Device,
    control: &TrainControl,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<Outcome, TrainError> {
    let cfg = state.config.clone();
    let ad = device.clone().autodiff();
    let aug = AugmentConfig {
        color_jitter: cfg.color_jitter.then(ColorJitter::default),
        ..AugmentConfig::default()
    };
    let aug = cfg.augment.then_some(&aug);
    let per_epoch = data.sampler.epoch_len();
    let batches_per_epoch = per_epoch.div_ceil(cfg.batch_size);
    let total_steps = (batches_per_epoch * cfg.epochs) as u64;
    let total_steps = cfg.max_steps.map_or(total_steps, |m| m.min(total_steps));
    emit(TrainEvent::Started {
        total_steps,
        start_step: state.step,
        pairs_per_epoch: per_epoch,
    });
    let out = cfg.out.clone();
    let mut session_start = Instant::now();
    let save = |state: &mut TrainState,
                net: &XCorrNet,
                optim: &ModuleOptimizer,
                session_start: &mut Instant,
                emit: &mut dyn FnMut(TrainEvent)|
     -> Result<(), TrainError> {
        // Never let a checkpoint replace the last good one with broken weights.
        if let Some(bad) = non_finite_parameter(net) {
            return Err(TrainError::NonFinite {
                step: state.step,
                value: bad,
            });
        }
        state.history.seconds += session_start.elapsed().as_secs_f64();
        *session_start = Instant::now();
        let path = write_checkpoint(&out, state, &net.valid(), optim)?;
        emit(TrainEvent::Checkpoint {
            step: state.step,
            path,
        });
        Ok(())
    };

    while state.epoch < cfg.epochs && state.step < total_steps {
        let pairs = data.sampler.epoch(state.epoch as u64);
        while state.batch_in_epoch < batches_per_epoch && state.step < total_steps {
            // Pause / cancel between steps.
            if control.pause.load(Ordering::Relaxed) {
                emit(TrainEvent::Paused { step: state.step });
                while control.pause.load(Ordering::Relaxed) && !control.cancel.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                emit(TrainEvent::Resumed { step: state.step });
                session_start = Instant::now();
            }
            if control.cancel.is_cancelled() {
                save(state, &net, &optim, &mut session_start, emit)?;
                return Ok(Outcome::Cancelled { step: state.step });
            }
            let start = Instant::now();
            let lo = state.batch_in_epoch * cfg.batch_size;
            let batch = &pairs[lo..(lo + cfg.batch_size).min(pairs.len())];
            let same: Vec<bool> = batch.iter().map(|p| p.same).collect();
            let (a, b) = batch_tensors(data, batch, aug, cfg.seed, state.step, &ad);
            let logits = net.forward(a, b); // [B, 2]
            let (loss, logits) = loss_and_accuracy(logits, &same, &ad);
            let loss_value = scalar(loss.clone().inner())?;
            if !loss_value.is_finite() {
                return Err(TrainError::NonFinite {
                    step: state.step,
                    value: loss_value,
                });
            }
            let acc = accuracy(logits.inner(), &same)?;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let lr = cfg.lr_at(state.step);
            net = optim.step(lr, net, grads);
            state.step += 1;
            state.batch_in_epoch += 1;
            let pairs_per_s = batch.len() as f64 / start.elapsed().as_secs_f64().max(1e-9);
            state.history.steps.push(StepRecord {
                step: state.step,
                loss: loss_value,
                accuracy: acc,
                lr,
            });
            emit(TrainEvent::Step {
                step: state.step,
                epoch: state.epoch,
                loss: loss_value,
                accuracy: acc,
                lr,
                pairs_per_s,
            });
            let epoch_done = state.batch_in_epoch == batches_per_epoch;
            if cfg.validate_every > 0
                && (state.step.is_multiple_of(cfg.validate_every as u64)
                    || epoch_done
                    || state.step == total_steps)
            {
                validate(state, &net, data, device, emit)?;
            }
            if epoch_done {
                state.epoch += 1;
                state.batch_in_epoch = 0;
                emit(TrainEvent::EpochEnd {
                    epoch: state.epoch,
                    step: state.step,
                });
                save(state, &net, &optim, &mut session_start, emit)?;
                break; // the next epoch draws new pairs
            }
            if state.step == total_steps
                || (cfg.checkpoint_every > 0
                    && state.step.is_multiple_of(cfg.checkpoint_every as u64))
            {
                save(state, &net, &optim, &mut session_start, emit)?;
            }
        }
    }
    Ok(Outcome::Finished { step: state.step })
}

/// The first non-finite parameter value of `net`, if any.
fn non_finite_parameter(net: &XCorrNet) -> Option<f32> {
    let v = net.valid();
    let params: [Tensor<1>; 12] = [
        v.conv1.weight.val().flatten(0, 3),
        v.conv1.bias.val(),
        v.conv2.weight.val().flatten(0, 3),
        v.conv2.bias.val(),
        v.head_conv1.weight.val().flatten(0, 3),
        v.head_conv1.bias.val(),
        v.head_conv3.weight.val().flatten(0, 3),
        v.head_conv3.bias.val(),
        v.fc1.weight.val().flatten(0, 1),
        v.fc1.bias.val(),
        v.fc2.weight.val().flatten(0, 1),
        v.fc2.bias.val(),
    ];
    params.into_iter().find_map(|p| {
        let s = p.sum().try_into_vec_as::<f32>().ok()?.first().copied()?;
        (!s.is_finite()).then_some(s)
    })
}

fn validate(
    state: &mut TrainState,
    net: &XCorrNet,
    data: &TrainData,
    device: &Device,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<(), TrainError> {
    let Some(m) = data.validate(&net.valid().fork(device), device)? else {
        return Ok(());
    };
    let rec = ValidationRecord {
        step: state.step,
        epoch: state.epoch,
        rank1: m.rank1,
        rank5: m.rank5,
        map: m.map,
    };
    state.history.validations.push(rec);
    emit(TrainEvent::Validation {
        step: rec.step,
        epoch: rec.epoch,
        rank1: rec.rank1,
        rank5: rec.rank5,
        map: rec.map,
    });
    Ok(())
}

/// The model folder a run writes.
pub fn model_dir(config: &TrainConfig) -> PathBuf {
    config.out.clone()
}
