//! The explorer clicked through with egui_kittest (AccessKit queries, no rendering): a real
//! `Workers` on the CPU backend, a freshly initialised model saved to a temporary folder, and a
//! tiny synthetic dataset written by the test.

mod common;

use common::gui::{Dropped, Fixture, TIMEOUT, app, click_tab, fixture, wait_for, wait_gone};

fn harness(fx: &Fixture, train: Option<TrainConfig>) -> Harness<'static, ExplorerApp> {
    app(Some(fx.model.clone()), fx.dataset.clone(), train)
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use reid_explorer::app::{ExplorerApp, Tab};
use reid_explorer::protocol::TrainConfig;

#[test]
fn compare_shows_the_probability_of_a_dataset_pair_at_start() {
    let fx = fixture();
    let mut h = harness(&fx, None);
    wait_for(&mut h, "p(same) =");
    wait_for(&mut h, "verdict:");
    // Not the embedded sample: no hint to switch to the synthetic model.
    assert!(
        h.query_all_by_label_contains("Use models/synthetic")
            .next()
            .is_none()
    );
    // Swapping compares again: the old result goes (the pair changed), then the new one comes.
    h.get_by_label_contains("Swap A").click();
    wait_gone(&mut h, "p(same) =");
    wait_for(&mut h, "p(same) =");
}

#[test]
fn on_the_embedded_sample_compare_offers_the_synthetic_model() {
    let fx = fixture();
    let sample = reid_explorer::bundled_path("assets/sample");
    let mut h = app(Some(fx.model.clone()), sample, None);
    wait_for(&mut h, "p(same) =");
    wait_for(&mut h, "Use models/synthetic");
    h.get_by_label("Use models/synthetic").click();
    // The synthetic model loads (the hint goes) and the pair is compared again with it.
    let start = Instant::now();
    loop {
        h.step();
        let hint = h
            .query_all_by_label_contains("Use models/synthetic")
            .next()
            .is_some();
        let named = h
            .query_all_by_label_contains("model: models/synthetic")
            .next()
            .is_some();
        let result = h.query_all_by_label_contains("p(same) =").next().is_some();
        if !hint && named && result {
            break;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "the synthetic model did not take over"
        );
        std::thread::sleep(Duration::from_millis(15));
    }
}

#[test]
fn gallery_ranks_the_dataset_and_evaluates_the_split() {
    let fx = fixture();
    let mut h = harness(&fx, None);
    wait_for(&mut h, "p(same) =");
    click_tab(&mut h, Tab::Gallery);
    h.get_by_label("Rank").click();
    wait_for(&mut h, "rank 1: p(same)");
    wait_for(&mut h, "ranked in");
    h.get_by_label("Evaluate split").click();
    wait_for(&mut h, "mAP");
    wait_for(&mut h, "rank-1");
}

#[test]
fn feature_maps_and_correlation_explain_the_trace() {
    let fx = fixture();
    let mut h = harness(&fx, None);
    wait_for(&mut h, "p(same) =");
    click_tab(&mut h, Tab::FeatureMaps);
    wait_for(&mut h, "traced p(same)");
    for layer in ["conv1 · a", "pool2 · b", "xcorr", "head_conv3", "fc500"] {
        wait_for(&mut h, layer);
    }
    click_tab(&mut h, Tab::Correlation);
    wait_for(&mut h, "formula ncc =");
    wait_for(&mut h, "matches the network");
    wait_for(&mut h, "Depth slices (1500)");
}

#[test]
fn training_runs_a_short_job_with_live_steps() {
    let fx = fixture();
    let out = fx.dir.path().join("trained");
    let config = TrainConfig {
        dataset: fx.dataset.clone(),
        out: out.clone(),
        // Two epochs: with reuse batching (the default) an epoch of this fixture's five
        // training identities is one step.
        epochs: 2,
        batch_size: 8,
        max_steps: Some(2),
        validate_every: 1,
        checkpoint_every: 1,
        validation_fraction: 0.34,
        ..TrainConfig::default()
    };
    let mut h = harness(&fx, Some(config));
    click_tab(&mut h, Tab::Training);
    h.get_by_label_contains("Start training").click();
    wait_for(&mut h, "Training: finished");
    wait_for(&mut h, "step 2 of");
    // The trained model loads into the other views.
    h.get_by_label_contains("Use this model").click();
    wait_for(&mut h, "model loaded");
    assert!(out.join("config.json").exists());
}

#[test]
fn a_bad_image_file_shows_a_readable_error() {
    let fx = fixture();
    let bad = fx.dir.path().join("bad.png");
    std::fs::write(&bad, b"this is not an image").expect("write");
    let mut h = harness(&fx, None);
    wait_for(&mut h, "p(same) =");
    let good = first_image(&fx.dataset);
    h.state_mut().set_pair(bad, good);
    wait_for(&mut h, "not a recognised image format");
}

#[test]
fn dropped_files_fill_the_slots_and_shortcuts_switch_tabs() {
    let fx = fixture();
    let mut h = harness(&fx, None);
    wait_for(&mut h, "p(same) =");
    let files: Vec<PathBuf> = images(&fx.dataset).into_iter().rev().take(2).collect();
    for f in &files {
        h.input_mut()
            .dropped_files
            .push(std::sync::Arc::new(Dropped(f.clone())));
    }
    h.step();
    let name = files[0]
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    wait_for(&mut h, &name);
    wait_for(&mut h, "p(same) =");
    h.key_press_modifiers(eframe::egui::Modifiers::COMMAND, eframe::egui::Key::Num5);
    h.step();
    h.step();
    assert_eq!(h.state().tab(), Tab::Training);
    h.key_press_modifiers(eframe::egui::Modifiers::COMMAND, eframe::egui::Key::Num2);
    h.step();
    h.step();
    assert_eq!(h.state().tab(), Tab::Gallery);
}

fn images(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for split in ["query", "bounding_box_test", "bounding_box_train"] {
        if let Ok(rd) = std::fs::read_dir(root.join(split)) {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            out.extend(v);
        }
    }
    out
}

fn first_image(root: &Path) -> PathBuf {
    images(root).into_iter().next().expect("an image")
}

/// The explorer on the real CUHK03 folders (../shared/data/cuhk03, skipped when absent): the
/// dataset opens, Compare shows a pair from it, and Gallery ranks a query against its 759-image
/// gallery split.
#[test]
fn the_explorer_works_on_the_real_cuhk03_folders() {
    let Some(root) = common::shared_path("data/cuhk03") else {
        return;
    };
    let fx = fixture();
    let mut h = app(Some(fx.model.clone()), root, None);
    wait_for(&mut h, "p(same) =");
    wait_for(&mut h, "13151 images");
    click_tab(&mut h, Tab::Gallery);
    h.get_by_label("Rank").click();
    let start = Instant::now();
    loop {
        h.step();
        if h.query_all_by_label_contains("759 ranked in")
            .next()
            .is_some()
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "ranking 759 images timed out"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn training_asks_before_replacing_a_model() {
    use reid_explorer::train::{StartMode, TrainControl, train};
    let fx = fixture();
    let out = fx.dir.path().join("trained");
    let config = TrainConfig {
        dataset: fx.dataset.clone(),
        out: out.clone(),
        epochs: 1,
        batch_size: 8,
        max_steps: Some(1),
        validate_every: 0,
        checkpoint_every: 1,
        validation_fraction: 0.0,
        ..TrainConfig::default()
    };
    train(
        &config,
        StartMode::New,
        &Device::flex(),
        &TrainControl::default(),
        &mut |_| {},
    )
    .expect("a model to replace");
    std::fs::write(out.join("README.md"), "the first model's card").expect("card");
    let weights = std::fs::read(out.join("weights.bpk")).expect("weights");
    let mut h = harness(&fx, Some(TrainConfig { seed: 1, ..config }));
    click_tab(&mut h, Tab::Training);
    // The folder holds a model: Start does nothing until the user ticks "replace".
    h.get_by_label_contains("Start training").click();
    for _ in 0..20 {
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
    assert_eq!(
        std::fs::read(out.join("weights.bpk")).expect("weights"),
        weights
    );
    assert!(out.join("README.md").exists());
    h.get_by_label("replace the model in the output folder")
        .click();
    h.step();
    h.get_by_label_contains("Start training").click();
    wait_for(&mut h, "Training: finished");
    assert_ne!(
        std::fs::read(out.join("weights.bpk")).expect("weights"),
        weights
    );
    assert_eq!(
        std::fs::read_to_string(out.join("README.replaced.md")).expect("card moved aside"),
        "the first model's card"
    );
}

/// The checkpoint's line names its step and learning rate; a resume with "the form's learning
/// rate" ticked runs on the form's schedule (reported as a notice), keeps the rest of the
/// checkpoint's recipe and plots the recorded steps first; "Load its settings" fills the form
/// with the checkpoint's settings; "Show its curves" plots the folder's recorded run.
#[test]
fn a_resume_can_take_the_forms_learning_rate_and_the_form_can_load_the_checkpoints() {
    use reid_explorer::train::checkpoint::stored_run;
    use reid_explorer::train::{StartMode, TrainControl, train};
    let fx = fixture();
    let out = fx.dir.path().join("dropped");
    // The checkpointed run: a constant (dropped) rate and a weight decay of its own.
    let stored = TrainConfig {
        dataset: fx.dataset.clone(),
        out: out.clone(),
        epochs: 100,
        batch_size: 8,
        max_steps: Some(1),
        validate_every: 0,
        checkpoint_every: 1,
        validation_fraction: 0.0,
        learning_rate: 0.01,
        lr_decay: 0.0,
        weight_decay: 0.001,
        ..TrainConfig::default()
    };
    train(
        &stored,
        StartMode::New,
        &Device::flex(),
        &TrainControl::default(),
        &mut |_| {},
    )
    .expect("a checkpoint to resume");
    // The form: the authors' schedule and weight decay, one step more.
    let form = TrainConfig {
        max_steps: Some(2),
        learning_rate: 0.05,
        lr_decay: 1e-4,
        weight_decay: 0.0005,
        ..stored.clone()
    };
    let mut h = harness(&fx, Some(form));
    click_tab(&mut h, Tab::Training);
    wait_for(
        &mut h,
        "checkpoint: step 1 · learning rate 0.0100 (constant 0.0100)",
    );
    h.get_by_label("resume with the form's learning rate")
        .click();
    h.step();
    h.get_by_label_contains("Resume from checkpoint").click();
    wait_for(&mut h, "resume: learning_rate 0.01 -> 0.05");
    // The curves recorded before the resume go before the live ones.
    wait_for(&mut h, "recorded: 1 steps");
    wait_for(&mut h, "Training: finished");
    let state = stored_run(&out).expect("the resumed run's checkpoint");
    assert_eq!(state.step, 2);
    assert_eq!(
        (state.config.learning_rate, state.config.lr_decay),
        (0.05, 1e-4)
    );
    assert_eq!(
        state.config.weight_decay, 0.001,
        "the recipe is the checkpoint's"
    );
    wait_for(
        &mut h,
        "checkpoint: step 2 · learning rate 0.0500 (0.0500 / (1 + t × 0.000100))",
    );
    // Load the checkpoint's settings: the form takes its weight decay.
    assert_eq!(h.state().persisted().train.weight_decay, 0.0005);
    h.get_by_label("Load its settings").click();
    h.step();
    let form = &h.state().persisted().train;
    assert_eq!(form.weight_decay, 0.001);
    assert_eq!((form.learning_rate, form.lr_decay), (0.05, 1e-4));
    assert_eq!(form.out, out);
    // The folder's recorded run, read again: both steps, under the finished run (its status
    // stays).
    h.get_by_label("Show its curves").click();
    wait_for(&mut h, "recorded: 2 steps");
    wait_for(&mut h, "Training: finished");
    // Other runs can be drawn over it.
    assert!(h.query_by_label("Compare with a run…").is_some());
}
