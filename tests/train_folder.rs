//! Never lose a model: the output folder's rules (issue "Reliability", items 1-5, 13, 16) and
//! the recipe settings (reuse batching, the authors' augmentation, resume policy).

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use reid_explorer::data::synth::{SynthConfig, generate};
use reid_explorer::protocol::TrainEvent;
use reid_explorer::train::checkpoint::{
    CHECKPOINT_DIR, HISTORY_FILE, has_checkpoint, read_checkpoint,
};
use reid_explorer::train::config::{Augmentation, Batching};
use reid_explorer::train::folder::{LOCK_FILE, REPLACED_CARD};
use reid_explorer::train::{Outcome, StartMode, TrainConfig, TrainControl, TrainError, train};

fn dataset(root: &Path) -> PathBuf {
    let dir = root.join("people");
    let cfg = SynthConfig {
        identities: 6,
        seed: 1,
        cameras: 4,
        cameras_per_identity: (2, 2),
        images_per_camera: (2, 2),
    };
    generate(&dir, &cfg, &|_, _| {}).expect("synth");
    dir
}

fn config(data: &Path, out: &Path, steps: u64) -> TrainConfig {
    TrainConfig {
        dataset: data.to_path_buf(),
        out: out.to_path_buf(),
        epochs: 50,
        // Pair batching (these tests count pairs per step and per epoch as it forms them);
        // the reuse test below sets its own.
        batching: Batching::Pairs,
        batch_size: 8,
        validation_fraction: 0.0,
        validate_every: 0,
        checkpoint_every: 0,
        max_steps: Some(steps),
        seed: 5,
        ..TrainConfig::default()
    }
}

fn run(cfg: &TrainConfig, mode: StartMode) -> (Result<Outcome, TrainError>, Vec<TrainEvent>) {
    let mut events = Vec::new();
    let r = train(
        cfg,
        mode,
        &Device::flex(),
        &TrainControl::default(),
        &mut |e| events.push(e),
    );
    (r, events)
}

fn step_of(out: &Path) -> u64 {
    read_checkpoint(out, &Device::flex())
        .expect("checkpoint")
        .state
        .step
}

fn losses(events: &[TrainEvent]) -> Vec<f32> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { loss, .. } => Some(*loss),
            _ => None,
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Item 1: `--resume` writes to the folder it is given, not the one stored in the checkpoint.
#[test]
fn resume_writes_to_the_given_folder_and_refuses_changed_settings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let (t1, t2) = (tmp.path().join("t1"), tmp.path().join("t2"));
    run(&config(&data, &t1, 2), StartMode::New)
        .0
        .expect("train");
    copy_dir(&t1, &t2);
    let resumed = config(&data, &t2, 4);
    let (r, _) = run(&resumed, StartMode::Resume);
    assert_eq!(r.expect("resume"), Outcome::Finished { step: 4 });
    assert_eq!(step_of(&t1), 2, "the original folder must be untouched");
    assert_eq!(step_of(&t2), 4);
    // The checkpoint now records the folder it lives in.
    let ck = read_checkpoint(&t2, &Device::flex()).expect("checkpoint");
    assert_eq!(ck.state.config.out, t2);

    // A trajectory setting that differs from the checkpoint's is refused, naming it.
    // (The learning-rate schedule may change: src/train/resume.rs tests that.)
    let changed = TrainConfig {
        momentum: 0.5,
        max_steps: Some(6),
        ..resumed.clone()
    };
    let err = run(&changed, StartMode::Resume).0.expect_err("refused");
    assert!(err.to_string().contains("momentum"), "{err}");
    assert_eq!(step_of(&t2), 4, "a refused resume writes nothing");
    // Length and intervals may change, with a notice.
    let longer = TrainConfig {
        max_steps: Some(5),
        epochs: 60,
        ..resumed
    };
    let (r, events) = run(&longer, StartMode::Resume);
    assert_eq!(r.expect("longer"), Outcome::Finished { step: 5 });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TrainEvent::Notice { message } if message.contains("epochs")))
    );
}

/// Item 2: a new run never replaces a model silently; a resume needs a checkpoint.
#[test]
fn a_new_run_refuses_a_folder_with_a_model_unless_overwriting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let out = tmp.path().join("m");
    run(&config(&data, &out, 1), StartMode::New)
        .0
        .expect("train");
    std::fs::write(out.join("README.md"), "card of the first model").expect("card");
    let before = std::fs::read(out.join("weights.bpk")).expect("weights");
    let cfg = TrainConfig {
        seed: 9,
        ..config(&data, &out, 1)
    };
    let err = run(&cfg, StartMode::New).0.expect_err("refused");
    assert!(matches!(err, TrainError::Folder(_)), "{err}");
    assert!(err.to_string().contains("--overwrite"), "{err}");
    assert_eq!(
        std::fs::read(out.join("weights.bpk")).expect("weights"),
        before
    );
    // With overwrite: a new model, and the old card moved aside.
    run(&cfg, StartMode::Overwrite).0.expect("overwrite");
    assert_ne!(
        std::fs::read(out.join("weights.bpk")).expect("weights"),
        before
    );
    assert!(!out.join("README.md").exists());
    assert_eq!(
        std::fs::read_to_string(out.join(REPLACED_CARD)).expect("card"),
        "card of the first model"
    );
    // Resume without a checkpoint is an error, and writes nothing.
    let empty = tmp.path().join("empty");
    let err = run(&config(&data, &empty, 1), StartMode::Resume)
        .0
        .expect_err("no checkpoint");
    assert!(err.to_string().contains("no checkpoint"), "{err}");
    assert!(!empty.join("weights.bpk").exists());
}

/// Item 3: two runs on one folder: the second fails at once naming the holder.
#[test]
fn a_second_run_on_a_locked_folder_fails_naming_the_holder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let out = tmp.path().join("m");
    std::fs::create_dir_all(&out).expect("mkdir");
    let mut holder = Command::new("sleep").arg("30").spawn().expect("sleep");
    std::fs::write(out.join(LOCK_FILE), format!("{}\n", holder.id())).expect("lock");
    let err = run(&config(&data, &out, 1), StartMode::New)
        .0
        .expect_err("locked");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        err.to_string().contains(&holder.id().to_string()),
        "names the PID: {err}"
    );
    assert!(!out.join("weights.bpk").exists());
    // The holder is gone: its lock is stale and taken over.
    run(&config(&data, &out, 1), StartMode::New)
        .0
        .expect("stale lock");
    assert!(!out.join(LOCK_FILE).exists(), "the lock is released");
}

/// Item 4: an output folder that cannot be written fails before the first step.
#[test]
fn an_unwritable_output_folder_fails_before_training() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a folder").expect("file");
    let (r, events) = run(&config(&data, &file.join("model"), 1), StartMode::New);
    let err = r.expect_err("unwritable");
    assert!(err.to_string().contains("a-file"), "{err}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TrainEvent::Loading { .. } | TrainEvent::Step { .. })),
        "nothing was loaded or trained"
    );
}

/// Item 5: temporary checkpoint folders of killed runs are removed by the next run.
#[test]
fn stale_temporary_checkpoints_are_cleaned_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let out = tmp.path().join("m");
    run(&config(&data, &out, 1), StartMode::New)
        .0
        .expect("train");
    let stale = out.join(".checkpoint.tmp-424242");
    std::fs::create_dir_all(&stale).expect("mkdir");
    std::fs::write(stale.join("weights.bpk"), vec![0u8; 1000]).expect("write");
    run(&config(&data, &out, 2), StartMode::Resume)
        .0
        .expect("resume");
    assert!(!stale.exists());
}

/// Item 13: zero steps or zero positives are errors, not "model in DIR" with nothing written.
#[test]
fn zero_steps_or_positives_are_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let out = tmp.path().join("m");
    let err = run(&config(&data, &out, 0), StartMode::New)
        .0
        .expect_err("0 steps");
    assert!(err.to_string().contains("max steps"), "{err}");
    let cfg = TrainConfig {
        max_positives_per_identity: Some(0),
        ..config(&data, &out, 1)
    };
    let err = run(&cfg, StartMode::New).0.expect_err("0 positives");
    assert!(err.to_string().contains("positives"), "{err}");
    assert!(!has_checkpoint(&out));
}

/// Item 16: history once (compact, outside state.json); older folders still resume.
#[test]
fn history_is_stored_once_and_old_folders_still_resume() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let out = tmp.path().join("m");
    run(&config(&data, &out, 2), StartMode::New)
        .0
        .expect("train");
    let state =
        std::fs::read_to_string(out.join(CHECKPOINT_DIR).join("state.json")).expect("state");
    assert!(
        !state.contains("\"steps\""),
        "state.json embeds the history"
    );
    let history = std::fs::read_to_string(out.join(HISTORY_FILE)).expect("history");
    assert!(!history.contains("\n "), "history.json is compact");
    // An older folder: history inside state.json, no history.json.
    let mut v: serde_json::Value = serde_json::from_str(&state).expect("json");
    v["history"] = serde_json::from_str(&history).expect("json");
    std::fs::write(
        out.join(CHECKPOINT_DIR).join("state.json"),
        serde_json::to_vec_pretty(&v).expect("json"),
    )
    .expect("write");
    std::fs::remove_file(out.join(HISTORY_FILE)).expect("rm");
    let ck = read_checkpoint(&out, &Device::flex()).expect("old layout");
    assert_eq!(ck.state.history.steps.len(), 2);
    run(&config(&data, &out, 3), StartMode::Resume)
        .0
        .expect("resume old layout");
    let ck = read_checkpoint(&out, &Device::flex()).expect("checkpoint");
    assert_eq!(ck.state.history.steps.len(), 3);
    // A history written ahead of its checkpoint (killed between the two) is cut back.
    let mut h: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(HISTORY_FILE)).expect("h")).expect("json");
    let extra = h["steps"][2].clone();
    let mut extra = extra;
    extra["step"] = serde_json::json!(4);
    h["steps"].as_array_mut().expect("array").push(extra);
    std::fs::write(
        out.join(HISTORY_FILE),
        serde_json::to_vec(&h).expect("json"),
    )
    .expect("w");
    let ck = read_checkpoint(&out, &Device::flex()).expect("checkpoint");
    assert_eq!(ck.state.history.steps.len(), 3);
}

/// Reuse batching and the authors' augmentation train, checkpoint and resume exactly.
#[test]
fn reuse_batching_resumes_exactly_and_the_authors_copies_train() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = dataset(tmp.path());
    let reuse = |out: &Path, steps: u64| TrainConfig {
        batching: Batching::Reuse,
        reuse_identities: 3,
        reuse_images: 3,
        ..config(&data, out, steps)
    };
    let straight = reuse(&tmp.path().join("straight"), 3);
    let (r, all) = run(&straight, StartMode::New);
    assert_eq!(r.expect("train"), Outcome::Finished { step: 3 });
    let pairs: Vec<usize> = all
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { pairs, .. } => Some(*pairs),
            _ => None,
        })
        .collect();
    // The 3 training identities x C(3, 2) positives (3 of each one's 4 images drawn), each
    // with 2 negatives.
    assert!(pairs.iter().all(|&p| p == 27), "{pairs:?}");
    let split = tmp.path().join("split");
    let (r, first) = run(&reuse(&split, 1), StartMode::New);
    r.expect("first");
    let (r, second) = run(&reuse(&split, 3), StartMode::Resume);
    assert_eq!(r.expect("resume"), Outcome::Finished { step: 3 });
    let mut joined = losses(&first);
    joined.extend(losses(&second));
    assert_eq!(
        joined,
        losses(&all),
        "a resumed reuse run repeats the straight one"
    );

    let authors = TrainConfig {
        augmentation: Augmentation::Authors,
        ..config(&data, &tmp.path().join("authors"), 2)
    };
    let (r, events) = run(&authors, StartMode::New);
    assert_eq!(r.expect("authors' copies"), Outcome::Finished { step: 2 });
    let started = events.iter().find_map(|e| match e {
        TrainEvent::Started {
            pairs_per_epoch, ..
        } => Some(*pairs_per_epoch),
        _ => None,
    });
    // 3 training identities (synth puts half in the training split) x 4 images x 4 copies = 16
    // images each: C(16, 2) = 120 positives per identity, each with 2 negatives.
    assert_eq!(started, Some(3 * 120 * 3));
}
