//! What users are told and what is written (issue 16): truncated images reported, one
//! definition of junk, io errors shown once, `trace` and `rank --csv` output files, entries a
//! Market root does not read. Each test reproduces one reported failure.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use common::write_person;
use reid_explorer::data::crops::CropCache;
use reid_explorer::data::layout::scan;
use reid_explorer::eval::Labels;
use reid_explorer::model::{ModelConfig, XCorrNet, save_model};

fn bin() -> Command {
    common::reid_command()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn model_dir(root: &Path) -> PathBuf {
    let dir = root.join("model");
    let cfg = ModelConfig::default();
    save_model(
        &dir,
        &cfg,
        &XCorrNet::init(&cfg, 42, &Device::flex()).unwrap(),
    )
    .unwrap();
    dir
}

/// Item 12: a truncated JPEG is skipped by `dataset` and the crop cache, and `compare` scores
/// it with a warning.
#[test]
fn truncated_jpegs_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("market");
    let train = root.join("bounding_box_train");
    std::fs::create_dir_all(&train).unwrap();
    let intact = train.join("0001_c1s1_000001_00.jpg");
    write_person(&intact, 1, 64, 160);
    write_person(&train.join("0001_c2s1_000001_00.jpg"), 2, 64, 160);
    let cut = train.join("0002_c1s1_000001_00.jpg");
    write_person(&cut, 3, 64, 160);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();

    let out = bin()
        .args(["dataset", "--json"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["images"], 2);
    assert_eq!(json["skipped"][0]["path"], cut.display().to_string());
    let reason = json["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("truncated") && reason.contains("end-of-image"),
        "{reason}"
    );

    let (cache, skipped) = CropCache::load(&[&intact, &cut], &|_, _| {});
    assert_eq!(cache.loaded(), 1);
    assert_eq!(skipped[0].path, cut);
    assert!(
        skipped[0].reason.contains("truncated"),
        "{}",
        skipped[0].reason
    );

    let model = model_dir(tmp.path());
    let out = bin()
        .args(["compare", "--json", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg(&intact)
        .arg(&cut)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let warning = format!("warning: {}: truncated image", cut.display());
    assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((0.0..=1.0).contains(&json["p_same"].as_f64().unwrap()));
    let warnings = json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains("truncated"));
}

/// Item 15: one definition of junk (any negative identity) in `dataset` and `eval`.
#[test]
fn negative_identities_are_junk_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, n) in [
        "0001_c1s1_01.jpg",
        "0001_c2s1_01.jpg",
        "-1_c1s1_01.jpg",
        "-7_c2s1_01.jpg",
    ]
    .iter()
    .enumerate()
    {
        write_person(&tmp.path().join(n), i as u64, 32, 80);
    }
    let ds = scan(tmp.path(), None).unwrap();
    let summary = ds.summary();
    assert_eq!(
        (summary.images, summary.junk, summary.identities),
        (4, 2, 1)
    );
    for s in &ds.samples {
        let labels = Labels::new(s.identity.unwrap(), s.camera);
        assert_eq!(s.is_junk(), labels.is_junk(), "{:?}", s.path);
    }
}

/// Item 15: an io error is shown once, not twice ("(os error 2): ... (os error 2)").
#[test]
fn io_errors_are_shown_once() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path());
    let a = tmp.path().join("a.png");
    write_person(&a, 1, 48, 120);
    let missing = tmp.path().join("missing.png");
    let out = bin()
        .args(["compare", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg(&a)
        .arg(&missing)
        .output()
        .unwrap();
    let text = stderr(&out);
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert_eq!(text.matches("(os error 2)").count(), 1, "{text}");
    std::fs::remove_file(model.join("weights.bpk")).unwrap();
    let out = bin()
        .args(["compare", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg(&a)
        .arg(&a)
        .output()
        .unwrap();
    let text = stderr(&out);
    assert!(text.contains("weights.bpk"), "{text}");
    assert_eq!(text.matches("(os error 2)").count(), 1, "{text}");
}

/// Item 15: `trace` replaces a symbolic link inside `--out` instead of writing through it.
#[test]
fn trace_does_not_write_through_symlinks_in_its_output() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path());
    let a = tmp.path().join("a.png");
    write_person(&a, 1, 48, 120);
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let victims: Vec<PathBuf> = ["index.json", "a_input.npy"]
        .iter()
        .map(|name| {
            let victim = tmp.path().join(format!("victim-{name}"));
            std::fs::write(&victim, b"precious").unwrap();
            std::os::unix::fs::symlink(&victim, out_dir.join(name)).unwrap();
            victim
        })
        .collect();
    let out = bin()
        .args(["trace", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg(&a)
        .arg(&a)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for (victim, name) in victims.iter().zip(["index.json", "a_input.npy"]) {
        assert_eq!(
            std::fs::read(victim).unwrap(),
            b"precious",
            "{name} wrote through the link"
        );
        let meta = std::fs::symlink_metadata(out_dir.join(name)).unwrap();
        assert!(meta.file_type().is_file(), "{name} is now a regular file");
    }
}

/// Item 15: entries beside a Market root's split folders are listed as skipped.
#[test]
fn market_roots_list_what_they_do_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("query")).unwrap();
    std::fs::create_dir_all(tmp.path().join("gt_bbox")).unwrap();
    std::fs::write(tmp.path().join("readme.txt"), b"hello").unwrap();
    write_person(&tmp.path().join("query/0001_c1s1_01.jpg"), 1, 32, 80);
    let ds = scan(tmp.path(), None).unwrap();
    let skipped: Vec<(PathBuf, &str)> = ds
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, tmp.path().join("gt_bbox"));
    assert!(
        skipped[0]
            .1
            .starts_with("folder beside the Market split folders"),
        "{}",
        skipped[0].1
    );
    assert_eq!(skipped[1].0, tmp.path().join("readme.txt"));
    assert!(
        skipped[1]
            .1
            .starts_with("file beside the Market split folders"),
        "{}",
        skipped[1].1
    );
}

/// `rank --csv`: an unwritable CSV path fails before any ranking, naming the file.
#[test]
fn rank_checks_the_csv_path_first() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path());
    let gallery = tmp.path().join("gallery");
    std::fs::create_dir_all(&gallery).unwrap();
    write_person(&gallery.join("g.png"), 4, 48, 120);
    let q = tmp.path().join("q.png");
    write_person(&q, 5, 48, 120);
    let csv = tmp.path().join("no-such-folder/out.csv");
    let out = bin()
        .args(["rank", "--no-cache", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg("--query")
        .arg(&q)
        .arg("--gallery")
        .arg(&gallery)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains(&format!("{}: cannot write the CSV file", csv.display())),
        "{text}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing was ranked: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A ranking that fails leaves no new CSV file behind.
    let csv = tmp.path().join("out.csv");
    let out = bin()
        .args(["rank", "--no-cache", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg("--query")
        .arg(tmp.path().join("nope.png"))
        .arg("--gallery")
        .arg(&gallery)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!csv.exists());
}
