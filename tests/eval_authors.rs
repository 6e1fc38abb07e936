//! `eval --protocol authors` through the command line: the authors' CUHK03 test protocol on the
//! embedded sample (Market layout) and on layouts without a split, with models/synthetic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    common::reid_command()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model() -> PathBuf {
    repo().join("models/synthetic")
}

/// Image files of a folder, sorted by name.
fn images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    v.sort();
    v
}

/// The sample's test split (query/ + bounding_box_test/), copied so that the feature cache is
/// written in a temporary folder, not in the repository.
fn sample_test_split(root: &Path) -> PathBuf {
    let data = root.join("sample");
    for split in ["query", "bounding_box_test"] {
        let to = data.join(split);
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in images(&repo().join("assets/sample").join(split)) {
            std::fs::copy(&f, to.join(f.file_name().expect("name"))).expect("copy");
        }
    }
    data
}

/// The identity of a Market-style name (`0019_c2s0_...`).
fn identity_of(path: &Path) -> i64 {
    let name = path.file_name().expect("name").to_string_lossy();
    name[..4].parse().expect("identity")
}

fn eval(dataset: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["eval", "--backend", "cpu", "--model"])
        .arg(model())
        .arg("--dataset")
        .arg(dataset)
        .args(extra)
        .output()
        .expect("run")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing or not a count in {v}"))
}

/// The error line of a command that must have failed.
fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn authors_protocol_on_the_sample_split() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = sample_test_split(tmp.path());
    let args = [
        "--protocol",
        "authors",
        "--draws",
        "4",
        "--seed",
        "9",
        "--json",
    ];
    let first = json_of(&eval(&data, &args));

    // Fields: the rank-k and mAP fractions, their spreads, the camera split.
    for key in [
        "rank1",
        "rank5",
        "rank10",
        "rank20",
        "mAP",
        "rank1_std",
        "rank5_std",
        "rank10_std",
        "rank20_std",
        "mAP_std",
        "rank1_same_camera",
        "rank1_cross_camera",
    ] {
        let x = f(&first, key);
        assert!((0.0..=1.0).contains(&x), "{key} = {x}");
    }
    assert_eq!(first["protocol"], "authors");
    assert_eq!(u(&first, "draws"), 4);
    let cmc = [
        f(&first, "rank1"),
        f(&first, "rank5"),
        f(&first, "rank10"),
        f(&first, "rank20"),
    ];
    assert!(cmc.windows(2).all(|w| w[0] <= w[1]), "{cmc:?}");
    // 18 test identities (19..36) with 92 images: one gallery image each, 74 probes per draw.
    let all: Vec<PathBuf> = ["query", "bounding_box_test"]
        .iter()
        .flat_map(|s| images(&data.join(s)))
        .collect();
    let mut ids: Vec<i64> = all.iter().map(|p| identity_of(p)).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((all.len(), ids.len()), (92, 18));
    assert_eq!(u(&first, "identities"), 18);
    assert_eq!(u(&first, "gallery"), 18);
    assert_eq!(u(&first, "probes"), 74);
    assert_eq!(u(&first, "queries"), 74);
    // 18 identities: rank-20 covers every gallery image.
    assert_eq!(f(&first, "rank20"), 1.0);
    // Every probe is same- or cross-camera (the names carry cameras), counted once per draw.
    let (same, cross) = (
        u(&first, "same_camera_probes") as f64,
        u(&first, "cross_camera_probes") as f64,
    );
    assert_eq!(u(&first, "unknown_camera_probes"), 0);
    assert_eq!(same + cross, 74.0 * 4.0);
    // Each sample identity has 2 images per camera: the other frame of the gallery image's
    // camera is a same-camera probe, so every draw has exactly 18 of them.
    assert_eq!(same, 18.0 * 4.0);
    // rank-1 is the probe-weighted mix of the same- and cross-camera rank-1.
    let mixed = (f(&first, "rank1_same_camera") * same + f(&first, "rank1_cross_camera") * cross)
        / (same + cross);
    assert!(
        (f(&first, "rank1") - mixed).abs() < 1e-9,
        "rank1 {} vs mixed {mixed}",
        f(&first, "rank1")
    );

    // The same seed gives the same numbers (this time through the feature cache).
    let again = json_of(&eval(&data, &args));
    for (key, value) in first.as_object().expect("object") {
        // Times differ run to run (and the cached run skips the trunk).
        if key != "seconds" && key != "stages" {
            assert_eq!(&again[key], value, "{key}");
        }
    }

    // The human-readable report prints mean ± std.
    let text = eval(&data, &["--protocol", "authors", "--draws", "2"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("authors' protocol, 2 draws"), "{text}");
    assert!(text.contains("rank-1 ") && text.contains(" ± "), "{text}");
    assert!(
        text.contains("same-camera") && text.contains("cross-camera"),
        "{text}"
    );
}

#[test]
fn zero_draws_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = sample_test_split(tmp.path());
    let err = failed(&eval(&data, &["--protocol", "authors", "--draws", "0"]));
    assert!(
        err.contains("--draws") && err.contains("at least 1"),
        "{err}"
    );
}

/// `<root>/person_NNNN/<image>` with the sample test images of identities `ids`.
fn per_identity(root: &Path, ids: &[i64], per_identity: usize) -> PathBuf {
    let data = root.join("people");
    for split in ["query", "bounding_box_test"] {
        for f in images(&repo().join("assets/sample").join(split)) {
            let id = identity_of(&f);
            if !ids.contains(&id) {
                continue;
            }
            let dir = data.join(format!("person_{id:04}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            if images(&dir).len() < per_identity {
                std::fs::copy(&f, dir.join(f.file_name().expect("name"))).expect("copy");
            }
        }
    }
    data
}

#[test]
fn per_identity_folders_are_evaluated_by_the_authors_protocol() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ids = [19, 20, 21, 22, 23];
    let data = per_identity(tmp.path(), &ids, usize::MAX);
    let total: usize = ids
        .iter()
        .map(|id| images(&data.join(format!("person_{id:04}"))).len())
        .sum();
    // The split protocols still refuse a layout without query/ and bounding_box_test/ ...
    let err = failed(&eval(&data, &["--json"]));
    assert!(err.contains("query/ and bounding_box_test/"), "{err}");
    // ... the authors' protocol evaluates every labelled image.
    let v = json_of(&eval(
        &data,
        &["--protocol", "authors", "--draws", "3", "--json"],
    ));
    assert_eq!(u(&v, "identities"), 5);
    assert_eq!(u(&v, "probes"), (total - 5) as u64);
    assert_eq!(
        u(&v, "same_camera_probes") + u(&v, "cross_camera_probes"),
        3 * (total - 5) as u64,
        "cameras come from the c<N> token of the names"
    );
    assert!((0.0..=1.0).contains(&f(&v, "rank1")));
    // 5 identities: rank-5 covers the whole gallery of every draw.
    assert_eq!(f(&v, "rank5"), 1.0);

    // One image per identity: nothing to probe.
    let single = per_identity(&tmp.path().join("single"), &ids, 1);
    let err = failed(&eval(&single, &["--protocol", "authors"]));
    assert!(
        err.contains("no identity has two images: the authors' protocol needs a gallery image and a probe per identity"),
        "{err}"
    );
    assert!(
        err.contains(&single.display().to_string()),
        "names the folder: {err}"
    );
}

#[test]
fn cam_pair_layout_has_only_cross_camera_probes() {
    // VIPeR-style: one image per identity in cam_a/ and one in cam_b/ (cameras 1 and 2). The
    // probe of a draw is always the other camera's image of its identity.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("viper");
    let query = images(&repo().join("assets/sample/query"));
    let mut placed = Vec::new();
    for f in &query {
        let id = identity_of(f);
        if placed.contains(&id) || placed.len() == 6 {
            continue;
        }
        let other = query.iter().find(|g| identity_of(g) == id && *g != f);
        let Some(other) = other else { continue };
        for (cam, src) in [("cam_a", f), ("cam_b", other)] {
            let dir = data.join(cam);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::copy(src, dir.join(format!("{id:03}_{cam}.jpg"))).expect("copy");
        }
        placed.push(id);
    }
    assert_eq!(placed.len(), 6);
    let v = json_of(&eval(
        &data,
        &["--protocol", "authors", "--draws", "5", "--json"],
    ));
    assert_eq!(u(&v, "identities"), 6);
    assert_eq!(u(&v, "probes"), 6);
    assert_eq!(u(&v, "same_camera_probes"), 0);
    assert_eq!(u(&v, "cross_camera_probes"), 30);
    assert!(v["rank1_same_camera"].is_null(), "{v}");
    assert_eq!(f(&v, "rank1_cross_camera"), f(&v, "rank1"));
}
