//! The `eval` command's new options end to end, with the synthetic model on the embedded
//! sample: `--max-queries`, `--export`, `--calibrate`, the verification and stage fields of
//! `--json`, and the refusals.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;

use common::succeeded;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    common::reid_command()
}

/// A copy of the shipped synthetic model (its weights and configuration) under `dir`.
fn model_copy(dir: &Path) -> std::path::PathBuf {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "weights.bpk"] {
        std::fs::copy(repo().join("models/synthetic").join(f), model.join(f)).unwrap();
    }
    model
}

#[test]
fn eval_exports_calibrates_and_reports_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_copy(tmp.path());
    let export = tmp.path().join("export");
    let out = succeeded(
        bin()
            .args([
                "eval",
                "--backend",
                "cpu",
                "--no-cache",
                "--json",
                "--calibrate",
            ])
            .args(["--max-queries", "6", "--seed", "2", "--worst", "2"])
            .arg("--model")
            .arg(&model)
            .arg("--dataset")
            .arg(repo().join("assets/sample"))
            .arg("--export")
            .arg(&export)
            .output()
            .unwrap(),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["query_files"], 6);
    // Flip averaging is on by default: both scoring passes ran.
    assert_eq!(v["flip"], "both");
    let minp = v["mINP"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&minp) && minp <= v["mAP"].as_f64().unwrap() + 1e-12);
    let ver = &v["verification"];
    let threshold = ver["eer_threshold"].as_f64().unwrap();
    assert!(ver["positive_pairs"].as_u64().unwrap() > 0);
    assert!(ver["negative_pairs"].as_u64().unwrap() > 0);
    // Every stage that ran is timed.
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert!(stages.contains(&"trunk features"), "{stages:?}");
    assert!(stages.contains(&"scoring queries"), "{stages:?}");
    assert!(stages.contains(&"scoring mirrored queries"), "{stages:?}");
    let pairs = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "scoring queries")
        .unwrap()["pairs"]
        .as_u64()
        .unwrap();
    assert_eq!(pairs, 6 * 46, "6 queries x 46 gallery images");
    // The export.
    for f in [
        "per_query.csv",
        "scores.npy",
        "queries.txt",
        "gallery.txt",
        "index.html",
        "summary.json",
    ] {
        assert!(export.join(f).is_file(), "{f}");
    }
    assert_eq!(v["export"]["strips"], 2);
    assert_eq!(std::fs::read_dir(export.join("strips")).unwrap().count(), 2);
    let queries = std::fs::read_to_string(export.join("queries.txt")).unwrap();
    assert_eq!(queries.lines().count(), 6);
    // The calibration: the equal-error threshold printed, in the model folder.
    let c: Value =
        serde_json::from_slice(&std::fs::read(model.join("calibration.json")).unwrap()).unwrap();
    assert!((c["threshold"].as_f64().unwrap() - threshold).abs() < 1e-6);
    assert!(c["source"].as_str().unwrap().starts_with("eval "));
}

#[test]
fn eval_refuses_bad_subsets() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_copy(tmp.path());
    for (extra, message) in [
        (
            vec!["--max-queries", "0"],
            "--max-queries must be at least 1",
        ),
        (
            vec!["--protocol", "authors", "--max-queries", "5"],
            "--max-queries applies to the standard and single-shot protocols",
        ),
    ] {
        let out = bin()
            .args(["eval", "--backend", "cpu", "--no-cache"])
            .args(&extra)
            .arg("--model")
            .arg(&model)
            .arg("--dataset")
            .arg(repo().join("assets/sample"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{extra:?}: {err}");
    }
}
