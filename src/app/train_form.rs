//! The training form: dataset, output folder and every hyper-parameter of
//! [`TrainConfig`], starting from the authors' defaults.

use eframe::egui::{self, RichText};

use super::Action;
use super::jobs::Pick;
use crate::protocol::TrainConfig;

/// The whole form: data, hyper-parameters, recipe, and a reset to the authors' defaults.
pub(super) fn form(ui: &mut egui::Ui, c: &mut TrainConfig, out: &mut Vec<Action>) {
    data(ui, c, out);
    ui.separator();
    hyper_parameters(ui, c);
    recipe(ui, c);
    if ui
        .button("Authors' defaults")
        .on_hover_text("reset the hyper-parameters (keeps dataset, output and starting model)")
        .clicked()
    {
        let (dataset, out_dir, init_from) = (c.dataset.clone(), c.out.clone(), c.init_from.clone());
        *c = TrainConfig {
            dataset,
            out: out_dir,
            init_from,
            ..TrainConfig::default()
        };
    }
}

/// Dataset, output folder and the model a run starts from.
fn data(ui: &mut egui::Ui, c: &mut TrainConfig, out: &mut Vec<Action>) {
    ui.label(RichText::new("Data").strong());
    ui.horizontal(|ui| {
        ui.label("dataset");
        ui.label(RichText::new(super::state::short_path(&c.dataset, 2)).monospace())
            .on_hover_text(c.dataset.display().to_string());
    });
    ui.horizontal(|ui| {
        if ui.button("Choose…").clicked() {
            out.push(Action::Pick(Pick::TrainDataset));
        }
        if ui
            .button("Sample")
            .on_hover_text("the embedded sample dataset")
            .clicked()
        {
            c.dataset = super::state::resolve(super::state::SAMPLE_DATASET);
        }
    });
    ui.horizontal(|ui| {
        ui.label("output");
        ui.label(RichText::new(super::state::short_path(&c.out, 2)).monospace())
            .on_hover_text(c.out.display().to_string());
        if ui.button("Choose…").clicked() {
            out.push(Action::Pick(Pick::TrainOut));
        }
    });
    ui.horizontal(|ui| {
        ui.label("start from");
        match &c.init_from {
            Some(dir) => {
                ui.label(RichText::new(super::state::short_path(dir, 2)).monospace())
                    .on_hover_text(format!(
                        "fine-tune: the run starts from this model's weights\n{}",
                        dir.display()
                    ));
                if ui
                    .small_button("×")
                    .on_hover_text("start from a fresh seeded initialisation")
                    .clicked()
                {
                    c.init_from = None;
                }
            }
            None => {
                ui.label("fresh weights (seeded)");
            }
        }
        if ui
            .button("Model…")
            .on_hover_text("fine-tune an existing model folder")
            .clicked()
        {
            out.push(Action::Pick(Pick::TrainInit));
        }
    });
}

/// The optimiser, sampling, validation and length settings.
fn hyper_parameters(ui: &mut egui::Ui, c: &mut TrainConfig) {
    ui.label(RichText::new("Hyper-parameters").strong());
    egui::Grid::new("train-params")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            let row = |ui: &mut egui::Ui, label: &str, w: egui::DragValue<'_>| {
                ui.label(label);
                ui.add(w);
                ui.end_row();
            };
            row(
                ui,
                "epochs",
                egui::DragValue::new(&mut c.epochs).range(1..=10_000),
            );
            row(
                ui,
                "batch size (pairs)",
                egui::DragValue::new(&mut c.batch_size).range(2..=4096),
            );
            row(
                ui,
                "learning rate",
                egui::DragValue::new(&mut c.learning_rate)
                    .range(1e-6..=1.0)
                    .speed(0.001)
                    .max_decimals(6),
            );
            row(
                ui,
                "momentum",
                egui::DragValue::new(&mut c.momentum)
                    .range(0.0..=0.999)
                    .speed(0.01),
            );
            row(
                ui,
                "dampening",
                egui::DragValue::new(&mut c.dampening)
                    .range(0.0..=1.0)
                    .speed(0.01),
            );
            row(
                ui,
                "weight decay",
                egui::DragValue::new(&mut c.weight_decay)
                    .range(0.0..=0.1)
                    .speed(0.0001)
                    .max_decimals(6),
            );
            row(
                ui,
                "lr decay (per step)",
                egui::DragValue::new(&mut c.lr_decay)
                    .range(0.0..=0.1)
                    .speed(0.00001)
                    .max_decimals(7),
            );
            row(
                ui,
                "negatives per positive",
                egui::DragValue::new(&mut c.negatives_per_positive).range(0..=20),
            );
            ui.label("max positives per id");
            ui.horizontal(|ui| {
                let mut on = c.max_positives_per_identity.is_some();
                ui.checkbox(&mut on, "");
                let mut v = c.max_positives_per_identity.unwrap_or(100);
                ui.add_enabled(on, egui::DragValue::new(&mut v).range(1..=100_000));
                c.max_positives_per_identity = on.then_some(v);
            });
            ui.end_row();
            row(
                ui,
                "validation fraction",
                egui::DragValue::new(&mut c.validation_fraction)
                    .range(0.0..=0.9)
                    .speed(0.01),
            );
            row(
                ui,
                "validate every (steps)",
                egui::DragValue::new(&mut c.validate_every).range(1..=1_000_000),
            );
            row(
                ui,
                "checkpoint every (steps)",
                egui::DragValue::new(&mut c.checkpoint_every).range(1..=1_000_000),
            );
            row(ui, "seed", egui::DragValue::new(&mut c.seed));
            ui.label("max steps");
            ui.horizontal(|ui| {
                let mut on = c.max_steps.is_some();
                ui.checkbox(&mut on, "");
                let mut v = c.max_steps.unwrap_or(1000);
                ui.add_enabled(on, egui::DragValue::new(&mut v).range(1..=100_000_000));
                c.max_steps = on.then_some(v);
            });
            ui.end_row();
        });
}

/// A combo box over `options` (value, label, hover text).
fn choice<T: PartialEq + Copy>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut T,
    options: &[(T, &str, &str)],
) {
    ui.label(label);
    let current = options.iter().find(|o| o.0 == *value).map_or("?", |o| o.1);
    egui::ComboBox::from_id_salt(label)
        .selected_text(current)
        .show_ui(ui, |ui| {
            for (v, name, hover) in options {
                ui.selectable_value(value, *v, *name).on_hover_text(*hover);
            }
        });
    ui.end_row();
}

/// The recipe's choices (docs/training.md).
fn recipe(ui: &mut egui::Ui, c: &mut TrainConfig) {
    use crate::train::config::{Augmentation, Batching, Init, InputNorm, Positives, ReuseCameras};
    ui.label(RichText::new("Recipe").strong());
    egui::Grid::new("train-recipe")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            choice(
                ui,
                "positives",
                &mut c.positives,
                &[
                    (
                        Positives::All,
                        "all",
                        "every pair of an identity's images (the authors')",
                    ),
                    (
                        Positives::CrossCamera,
                        "cross-camera",
                        "only pairs of different cameras",
                    ),
                ],
            );
            choice(
                ui,
                "initialisation",
                &mut c.init,
                &[
                    (
                        Init::Torch,
                        "torch",
                        "uniform ±1/sqrt(fan_in), biases too (the authors')",
                    ),
                    (Init::He, "he", "He-uniform weights, zero biases"),
                ],
            );
            choice(
                ui,
                "input",
                &mut c.input_norm,
                &[
                    (
                        InputNorm::None,
                        "[0, 1]",
                        "RGB scaled to [0, 1] (the authors')",
                    ),
                    (InputNorm::Imagenet, "imagenet", "ImageNet mean / std"),
                ],
            );
            let mut aug = c.augmentation();
            choice(
                ui,
                "augmentation",
                &mut aug,
                &[
                    (
                        Augmentation::Online,
                        "online",
                        "a fresh translation and flip per step",
                    ),
                    (
                        Augmentation::Authors,
                        "authors' copies",
                        "2 translated + 1 flipped copy of every image, paired like originals",
                    ),
                    (Augmentation::Off, "off", "no augmentation"),
                ],
            );
            c.augment = aug != Augmentation::Off;
            if c.augment {
                c.augmentation = aug;
            }
            ui.label("colour jitter");
            ui.checkbox(&mut c.color_jitter, "");
            ui.end_row();
            choice(
                ui,
                "batching",
                &mut c.batching,
                &[
                    (Batching::Pairs, "pairs", "batch-size pairs per step"),
                    (
                        Batching::Reuse,
                        "image reuse",
                        "K identities x M images per step, pairs formed among them",
                    ),
                ],
            );
            if c.batching == Batching::Reuse {
                ui.label("identities x images");
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(&mut c.reuse_identities).range(2..=256));
                    ui.label("x");
                    ui.add(egui::DragValue::new(&mut c.reuse_images).range(2..=64));
                });
                ui.end_row();
                choice(
                    ui,
                    "images drawn",
                    &mut c.reuse_cameras,
                    &[
                        (
                            ReuseCameras::Random,
                            "at random",
                            "uniformly from the identity's images",
                        ),
                        (
                            ReuseCameras::Balanced,
                            "camera-balanced",
                            "in turn from each camera: more cross-camera positives",
                        ),
                    ],
                );
                ui.label("hard-negative pool")
                    .on_hover_text(
                        "candidates scored per negative, the highest-scoring kept (1: random negatives, the authors')",
                    );
                ui.add(egui::DragValue::new(&mut c.hard_negative_pool).range(1..=16));
                ui.end_row();
            }
        });
}
