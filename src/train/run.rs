//! The training loop: the authors' recipe (docs/training.md) over Burn autodiff.
//!
//! One call of [`train`] runs (or resumes) a run to its end, reporting [`TrainEvent`]s through a
//! callback. It holds the output folder's lock for the whole run (see [`super::folder`]). It
//! checks its [`TrainControl`] between steps: pause waits, cancel writes a checkpoint and
//! returns. A non-finite loss stops the run before anything is written, so the last checkpoint
//! stays the last good state. The folder's model (`weights.bpk`) is the best validation so far.
//!
//! Resuming: the checkpoint's settings define the run, except the few that [`super::resume`]
//! lets a resume change.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::checkpoint::{
    BestRecord, History, StepRecord, TrainState, ValidationRecord, read_checkpoint,
    restore_optimizer, write_checkpoint, write_history,
};
use super::config::{Batching, TrainConfig};
use super::data::{Sampling, TrainData};
use super::event::TrainEvent;
use super::folder::{StartMode, prepare};
use super::resume::resume_config;
use super::step::{StepInput, optimizer, train_step, trainable};
use crate::cancel::CancelToken;
use crate::data::augment::{AugmentConfig, ColorJitter};
use crate::data::crops::to_input;
use crate::data::reuse::ReuseBatch;
use crate::data::sampler::Pair;
use crate::model::io::{load_model, save_model};
use crate::model::{ModelConfig, XCorrNet};

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
    #[error(transparent)]
    Folder(#[from] super::folder::FolderError),
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

/// Run (or resume) the training described by `config` on `device` (a plain device; autodiff
/// is enabled here), starting as `mode` says. Events go to `emit`.
pub fn train(
    config: &TrainConfig,
    mode: StartMode,
    device: &Device,
    control: &TrainControl,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<Outcome, TrainError> {
    config.check().map_err(TrainError::Config)?;
    let mut notice = |message: String| emit(TrainEvent::Notice { message });
    let _lock = prepare(&config.out, mode, &mut notice)?;
    let ad = device.clone().autodiff();
    let (mut state, net, optim) = if mode == StartMode::Resume {
        let ck = read_checkpoint(&config.out, &ad)?;
        let cfg = resume_config(&ck.state.config, config, &mut notice)?;
        let optim = restore_optimizer(optimizer(&cfg), ck.optimizer, &ck.dir)?;
        let mut state = ck.state;
        state.config = cfg;
        (state, trainable(ck.net, &ad), optim)
    } else {
        let (model, net) = match &config.init_from {
            Some(dir) => {
                let (model, net) =
                    load_model(dir, device).map_err(|e| TrainError::Config(e.to_string()))?;
                if model.normalization != config.input_norm.normalization() {
                    notice(format!(
                        "{}: fine-tuning keeps the model's input normalisation ({:?} / {:?})",
                        dir.display(),
                        model.normalization.mean,
                        model.normalization.std
                    ));
                }
                (model, trainable(net, &ad))
            }
            None => {
                let model = ModelConfig {
                    normalization: config.input_norm.normalization(),
                    ..ModelConfig::default()
                };
                let net = XCorrNet::init_with(&model, config.init, config.seed, &ad)
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

/// A run in progress: its state, optimiser and fixed surroundings (the network is passed along,
/// since a step consumes it and returns the next).
struct Loop<'a> {
    state: &'a mut TrainState,
    optim: ModuleOptimizer,
    data: &'a TrainData,
    /// The plain device (validation) and its autodiff twin (steps).
    device: &'a Device,
    ad: Device,
    control: &'a TrainControl,
    aug: Option<AugmentConfig>,
    batches_per_epoch: usize,
    total_steps: u64,
    /// Start of the time not yet added to the history's seconds.
    session_start: Instant,
}

impl Loop<'_> {
    /// Checkpoint the state, `net` and the optimiser (refusing broken weights).
    fn save(&mut self, net: &XCorrNet, emit: &mut dyn FnMut(TrainEvent)) -> Result<(), TrainError> {
        let state = &mut *self.state;
        if let Some(bad) = non_finite_parameter(net) {
            return Err(TrainError::NonFinite {
                step: state.step,
                value: bad,
            });
        }
        state.history.seconds += self.session_start.elapsed().as_secs_f64();
        self.session_start = Instant::now();
        // Without validations the folder's model follows the latest weights.
        let refresh = state.history.best.is_none();
        let out = state.config.out.clone();
        let path = write_checkpoint(&out, state, &net.valid(), &self.optim, refresh)?;
        emit(TrainEvent::Checkpoint {
            step: state.step,
            path,
        });
        Ok(())
    }

    /// The step's input and labels.
    fn step_input(&self, pairs: &[Pair]) -> (StepInput, Vec<bool>) {
        let (cfg, step) = (&self.state.config, self.state.step);
        match &self.data.sampling {
            Sampling::Pairs(_) => {
                let lo = self.state.batch_in_epoch * cfg.batch_size;
                let batch = &pairs[lo.min(pairs.len())..(lo + cfg.batch_size).min(pairs.len())];
                let same = batch.iter().map(|p| p.same).collect();
                let (a, b) = pair_tensors(self.data, batch, self.aug.as_ref(), step, &self.ad);
                (StepInput::Pairs { a, b }, same)
            }
            Sampling::Reuse(s) => {
                let batch = s.batch(self.state.epoch as u64, self.state.batch_in_epoch);
                let same = batch.pairs.iter().map(|p| p.2).collect();
                (
                    reuse_input(self.data, &batch, self.aug.as_ref(), step, &self.ad),
                    same,
                )
            }
        }
    }

    /// Wait while paused (reporting the pause and the resume).
    fn pause_point(&mut self, emit: &mut dyn FnMut(TrainEvent)) {
        let control = self.control;
        if !control.pause.load(Ordering::Relaxed) {
            return;
        }
        emit(TrainEvent::Paused {
            step: self.state.step,
        });
        while control.pause.load(Ordering::Relaxed) && !control.cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        emit(TrainEvent::Resumed {
            step: self.state.step,
        });
        self.session_start = Instant::now();
    }

    /// One optimiser step on the next batch (`pairs`: the epoch's pair list, pairs batching),
    /// recorded in the history and reported.
    fn step(
        &mut self,
        net: XCorrNet,
        pairs: &[Pair],
        emit: &mut dyn FnMut(TrainEvent),
    ) -> Result<XCorrNet, TrainError> {
        let start = Instant::now();
        let (input, same) = self.step_input(pairs);
        let state = &mut *self.state;
        let lr = state.config.lr_at(state.step);
        let (next, stats) =
            train_step(net, &mut self.optim, input, &same, lr, state.step, &self.ad)?;
        state.step += 1;
        state.batch_in_epoch += 1;
        let pairs_per_s = stats.pairs as f64 / start.elapsed().as_secs_f64().max(1e-9);
        state.history.steps.push(StepRecord {
            step: state.step,
            loss: stats.loss,
            accuracy: stats.accuracy,
            lr,
        });
        emit(TrainEvent::Step {
            step: state.step,
            epoch: state.epoch,
            loss: stats.loss,
            accuracy: stats.accuracy,
            lr,
            pairs: stats.pairs,
            pairs_per_s,
        });
        Ok(next)
    }

    /// Validation, end of epoch and checkpoint after a step, as the settings ask. Returns
    /// whether the epoch ended.
    fn after_step(
        &mut self,
        net: &XCorrNet,
        emit: &mut dyn FnMut(TrainEvent),
    ) -> Result<bool, TrainError> {
        let cfg = &self.state.config;
        let step = self.state.step;
        let epoch_done = self.state.batch_in_epoch == self.batches_per_epoch;
        // Reuse epochs are short (one pass over the identities): only the interval counts.
        let epoch_validates = epoch_done && cfg.batching == Batching::Pairs;
        let validates = cfg.validate_every > 0
            && (step.is_multiple_of(cfg.validate_every as u64)
                || epoch_validates
                || step == self.total_steps);
        let checkpoints = step == self.total_steps
            || (cfg.checkpoint_every > 0 && step.is_multiple_of(cfg.checkpoint_every as u64));
        if validates {
            validate(self.state, net, self.data, self.device, emit)?;
        }
        if epoch_done {
            self.state.epoch += 1;
            self.state.batch_in_epoch = 0;
            emit(TrainEvent::EpochEnd {
                epoch: self.state.epoch,
                step,
            });
            self.save(net, emit)?;
        } else if checkpoints {
            self.save(net, emit)?;
        }
        Ok(epoch_done)
    }

    /// Steps until the last epoch or `total_steps`, or until cancelled (a checkpoint is
    /// written then).
    fn run(
        mut self,
        mut net: XCorrNet,
        emit: &mut dyn FnMut(TrainEvent),
    ) -> Result<Outcome, TrainError> {
        let (epochs, total) = (self.state.config.epochs, self.total_steps);
        while self.state.epoch < epochs && self.state.step < total {
            let pairs = match &self.data.sampling {
                Sampling::Pairs(s) => s.epoch(self.state.epoch as u64),
                Sampling::Reuse(_) => Vec::new(),
            };
            while self.state.batch_in_epoch < self.batches_per_epoch && self.state.step < total {
                self.pause_point(emit);
                if self.control.cancel.is_cancelled() {
                    self.save(&net, emit)?;
                    return Ok(Outcome::Cancelled {
                        step: self.state.step,
                    });
                }
                net = self.step(net, &pairs, emit)?;
                if self.after_step(&net, emit)? {
                    break; // the next epoch draws new pairs
                }
            }
        }
        Ok(Outcome::Finished {
            step: self.state.step,
        })
    }
}

/// Plan the run (steps, augmentation) and run it to its end.
fn run_loop(
    state: &mut TrainState,
    net: XCorrNet,
    optim: ModuleOptimizer,
    data: &TrainData,
    device: &Device,
    control: &TrainControl,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<Outcome, TrainError> {
    let cfg = state.config.clone();
    let (batches_per_epoch, per_epoch) = data.epoch_shape(cfg.batch_size);
    let all_steps = (batches_per_epoch as u64).saturating_mul(cfg.epochs as u64);
    let total_steps = cfg.max_steps.map_or(all_steps, |m| m.min(all_steps));
    if state.step >= total_steps {
        return Err(TrainError::Config(format!(
            "{}: the run is already at step {} of {total_steps}; nothing to do (raise --epochs or --max-steps)",
            cfg.out.display(),
            state.step
        )));
    }
    let online = AugmentConfig {
        color_jitter: cfg.color_jitter.then(ColorJitter::default),
        ..AugmentConfig::default()
    };
    emit(TrainEvent::Started {
        total_steps,
        start_step: state.step,
        pairs_per_epoch: per_epoch,
    });
    let run = Loop {
        state,
        optim,
        data,
        device,
        ad: device.clone().autodiff(),
        control,
        aug: (cfg.augmentation() == super::config::Augmentation::Online).then_some(online),
        batches_per_epoch,
        total_steps,
        session_start: Instant::now(),
    };
    run.run(net, emit)
}

/// Both sides of a pair batch: augmented, normalised crops, `[B, 3, 160, 60]` each.
fn pair_tensors(
    data: &TrainData,
    pairs: &[Pair],
    aug: Option<&AugmentConfig>,
    step: u64,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let norm = &data.normalization;
    let side = |pick: fn(&Pair) -> usize, salt: u64| -> Vec<f32> {
        let parts: Vec<Vec<f32>> = pairs
            .par_iter()
            .enumerate()
            .map(|(i, p)| {
                let online = aug.map(|cfg| (cfg, step, 2 * i as u64 + salt));
                to_input(&data.image(pick(p), online), norm)
            })
            .collect();
        parts.concat()
    };
    let dims = [pairs.len(), 3, crate::data::INPUT_H, crate::data::INPUT_W];
    let a = Tensor::from_data(TensorData::new(side(|p| p.a, 0), dims), device);
    let b = Tensor::from_data(TensorData::new(side(|p| p.b, 1), dims), device);
    (a, b)
}

/// A reuse batch's images `[N, 3, 160, 60]` (each augmented once) and its pair indices.
fn reuse_input(
    data: &TrainData,
    batch: &ReuseBatch,
    aug: Option<&AugmentConfig>,
    step: u64,
    device: &Device,
) -> StepInput {
    let norm = &data.normalization;
    let parts: Vec<Vec<f32>> = batch
        .images
        .par_iter()
        .enumerate()
        .map(|(slot, &v)| {
            let online = aug.map(|cfg| (cfg, step, slot as u64));
            to_input(&data.image(v, online), norm)
        })
        .collect();
    let dims = [
        batch.images.len(),
        3,
        crate::data::INPUT_H,
        crate::data::INPUT_W,
    ];
    StepInput::Reuse {
        images: Tensor::from_data(TensorData::new(parts.concat(), dims), device),
        ia: batch.pairs.iter().map(|p| p.0).collect(),
        ib: batch.pairs.iter().map(|p| p.1).collect(),
        pools: batch.pools.clone(),
    }
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

/// Validate, record, and when the selection score (standard + authors' mAP) is the best so far
/// make the current weights the folder's model.
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
        authors_rank1: Some(m.authors_rank1),
        authors_map: Some(m.authors_map),
        rank1_same_camera: m.rank1_same_camera,
        rank1_cross_camera: m.rank1_cross_camera,
        calibration: m.calibration,
    };
    state.history.validations.push(rec);
    emit(TrainEvent::Validation(rec));
    let score = rec.selection_score();
    if state
        .history
        .best
        .is_none_or(|b| score > b.selection_score())
    {
        state.history.best = Some(BestRecord {
            step: rec.step,
            rank1: rec.rank1,
            map: rec.map,
            authors_rank1: rec.authors_rank1,
            authors_map: rec.authors_map,
        });
        let out = state.config.out.clone();
        save_best(&out, state, net)?;
        emit(TrainEvent::Notice {
            message: format!("step {}: new best model (validation)", rec.step),
        });
    }
    Ok(())
}

/// Write `net` as the folder's model and the history that names it.
fn save_best(out: &Path, state: &TrainState, net: &XCorrNet) -> Result<(), TrainError> {
    if let Some(bad) = non_finite_parameter(net) {
        return Err(TrainError::NonFinite {
            step: state.step,
            value: bad,
        });
    }
    save_model(out, &state.model, &net.valid()).map_err(|e| TrainError::Config(e.to_string()))?;
    write_history(out, &state.history)?;
    Ok(())
}
