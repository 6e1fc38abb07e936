//! The shipped models are what their cards say: each model folder's `metrics.json` holds its
//! headline numbers (protocol, dataset, rank-1, mAP, the command that reproduces them, the
//! tolerance), the card (`README.md` in the folder) quotes them, and the evaluation is run again
//! here through the library and must land within the tolerance. The default model answers
//! `compare` on the embedded sample.
//!
//! `models/cuhk03` is evaluated on `../shared/data/cuhk03` (skipped when absent, a failure under
//! `REQUIRE_SHARED`). The whole test split takes minutes in the test profile, so by default the
//! test evaluates the deterministic query subset described in `metrics.json` (`test_subset`:
//! every k-th query file in name order against the whole gallery) and checks that subset's stored
//! numbers; `REID_FULL_EVAL=1` evaluates the whole split against the headline numbers.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use reid_explorer::engine::{JobOptions, evaluate_dataset};
use reid_explorer::eval::Protocol;
use reid_explorer::model::io::load_model;
use reid_explorer::protocol::CancelToken;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A model folder's `metrics.json`.
fn metrics(model: &str) -> Value {
    let path = repo().join(model).join("metrics.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (every shipped model has one)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("metrics.json: {key} is not a number in {v}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("metrics.json: {key} is not a string in {v}"))
}

/// The fields every `metrics.json` has, and the card quoting them.
fn check_card(model: &str, m: &Value) {
    assert_eq!(text(m, "model"), model);
    assert_eq!(text(m, "protocol"), "standard");
    for key in ["dataset", "command"] {
        assert!(!text(m, key).is_empty(), "{key}");
    }
    let tolerance = number(m, "tolerance_points");
    assert!(tolerance > 0.0 && tolerance <= 2.0, "tolerance {tolerance}");
    let card = std::fs::read_to_string(repo().join(model).join("README.md")).unwrap();
    for key in ["rank1", "map"] {
        let quoted = format!("{:.1}%", 100.0 * number(m, key));
        assert!(
            card.contains(&quoted),
            "{model}/README.md does not quote metrics.json's {key} ({quoted})"
        );
    }
    assert!(
        card.contains(text(m, "command")),
        "{model}/README.md does not show metrics.json's command"
    );
    assert!(card.contains("metrics.json"), "{model}/README.md");
}

/// Evaluate `model` on `dataset` (standard protocol, flex CPU backend): (rank-1, mAP, queries).
fn evaluate(model: &Path, dataset: &Path) -> (f64, f64, usize) {
    let device = Device::flex();
    let (config, net) = load_model(model, &device).expect("model");
    let ev = evaluate_dataset(
        &JobOptions::new(&net, &config, &device).cancel(&CancelToken::new()),
        dataset,
        &Protocol::Standard,
    )
    .expect("evaluate");
    (ev.metrics.rank1, ev.metrics.map, ev.metrics.queries)
}

/// Measured against expected, in percentage points.
fn assert_close(what: &str, measured: f64, expected: f64, tolerance: f64) {
    let drift = 100.0 * (measured - expected).abs();
    assert!(
        drift <= tolerance,
        "{what}: measured {:.2}%, metrics.json says {:.2}% (drift {drift:.2} points, tolerance {tolerance})",
        100.0 * measured,
        100.0 * expected
    );
}

fn check(what: &str, measured: (f64, f64, usize), expected: &Value, tolerance: f64) {
    println!(
        "{what}: rank-1 {:.4}, mAP {:.4}, {} queries",
        measured.0, measured.1, measured.2
    );
    assert_eq!(
        measured.2 as u64,
        expected["queries"].as_u64().expect("queries"),
        "{what}: queries evaluated"
    );
    assert_close(
        &format!("{what} rank-1"),
        measured.0,
        number(expected, "rank1"),
        tolerance,
    );
    assert_close(
        &format!("{what} mAP"),
        measured.1,
        number(expected, "map"),
        tolerance,
    );
}

#[test]
fn synthetic_model_reproduces_its_card_on_the_embedded_sample() {
    let m = metrics("models/synthetic");
    check_card("models/synthetic", &m);
    assert_eq!(text(&m, "dataset"), "assets/sample");
    let measured = evaluate(
        &repo().join("models/synthetic"),
        &repo().join("assets/sample"),
    );
    check(
        "models/synthetic on assets/sample",
        measured,
        &m,
        number(&m, "tolerance_points"),
    );
}

/// A copy of `root`'s gallery and every `every`-th query file (name order), for the subset.
fn query_subset(root: &Path, every: usize, out: &Path) -> usize {
    let mut queries: Vec<PathBuf> = std::fs::read_dir(root.join("query"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    queries.sort();
    let chosen: Vec<&PathBuf> = queries.iter().step_by(every).collect();
    std::fs::create_dir_all(out.join("query")).unwrap();
    for q in &chosen {
        std::fs::copy(q, out.join("query").join(q.file_name().unwrap())).unwrap();
    }
    let gallery = out.join("bounding_box_test");
    std::fs::create_dir_all(&gallery).unwrap();
    for e in std::fs::read_dir(root.join("bounding_box_test")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, gallery.join(p.file_name().unwrap())).unwrap();
    }
    chosen.len()
}

#[test]
fn cuhk03_model_reproduces_its_card_on_the_test_split() {
    let m = metrics("models/cuhk03");
    check_card("models/cuhk03", &m);
    assert_eq!(text(&m, "dataset"), "../shared/data/cuhk03");
    let Some(root) = common::shared_path("data/cuhk03") else {
        return;
    };
    let model = repo().join("models/cuhk03");
    let tolerance = number(&m, "tolerance_points");
    let subset = &m["test_subset"];
    if common::required("REID_FULL_EVAL") || subset.is_null() {
        let measured = evaluate(&model, &root);
        check(
            "models/cuhk03 on the CUHK03 test split",
            measured,
            &m,
            tolerance,
        );
        return;
    }
    let every = subset["every"].as_u64().expect("test_subset.every") as usize;
    let tmp = tempfile::tempdir().unwrap();
    let files = query_subset(&root, every, tmp.path());
    assert_eq!(
        files as u64,
        subset["query_files"]
            .as_u64()
            .expect("test_subset.query_files")
    );
    let measured = evaluate(&model, tmp.path());
    check(
        &format!("models/cuhk03 on every {every}th CUHK03 query"),
        measured,
        subset,
        tolerance,
    );
}

#[test]
fn default_model_answers_compare_on_the_embedded_sample() {
    let sample = repo().join("assets/sample/query");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sample)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // No --model: the default (models/cuhk03, the README's default model).
    let out = common::reid_command()
        .current_dir(repo())
        .args(["compare", "--json", "--backend", "cpu"])
        .arg(&files[0])
        .arg(&files[1])
        .output()
        .expect("run compare");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let p = v["p_same"].as_f64().expect("p_same");
    assert!((0.0..=1.0).contains(&p), "{v}");
    let model = v["model"].as_str().expect("model");
    assert!(model.ends_with("models/cuhk03"), "{model}");
}
