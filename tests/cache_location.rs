//! Where the gallery feature cache lives: by default under the user's cache folder (here
//! `$XDG_CACHE_HOME`, set for the child process), never beside the images; one file per
//! (gallery folder, model); `--cache-dir DIR` honoured and read back on the next run; an
//! unusable cache folder gives one warning and a ranking all the same.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use common::{succeeded, write_person};
use reid_explorer::engine::CacheSpec;
use reid_explorer::engine::cache::{CACHE_EXTENSION, CACHE_SUBDIR, cache_file_name};
use reid_explorer::model::{ModelConfig, XCorrNet, save_model};

fn model(root: &Path) -> PathBuf {
    let dir = root.join("model");
    let cfg = ModelConfig::default();
    let net = XCorrNet::init(&cfg, 11, &Device::flex()).expect("init");
    save_model(&dir, &cfg, &net).expect("save");
    dir
}

/// A gallery of `n` synthetic people and a query, under `root`.
fn gallery(root: &Path, name: &str, n: u64) -> (PathBuf, PathBuf) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for i in 0..n {
        write_person(&dir.join(format!("{i}.png")), 300 + i, 48, 120);
    }
    let query = root.join(format!("{name}-query.png"));
    write_person(&query, 301, 48, 120);
    (dir, query)
}

/// `rank` in a child process whose user cache folder is `xdg` (HOME moved too, so nothing
/// reaches the real one), writing the whole ranking to `csv`.
fn rank(root: &Path, model: &Path, gallery: &Path, query: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reid-explorer"))
        .env("XDG_CACHE_HOME", root.join("xdg"))
        .env("HOME", root.join("home"))
        .args(["rank", "--backend", "cpu", "--model"])
        .arg(model)
        .arg("--gallery")
        .arg(gallery)
        .arg("--query")
        .arg(query)
        .arg("--csv")
        .arg(root.join("ranking.csv"))
        // The cache holds the unmirrored features only: flip averaging would recompute half of
        // every score from the images and hide what the cache gave.
        .args(["--flip", "off"])
        .args(extra)
        .output()
        .expect("run")
}

/// The cache files in `dir` (none when it does not exist).
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == CACHE_EXTENSION))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The scores of the last `--csv` ranking, by file name.
fn scores(root: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(root.join("ranking.csv")).expect("csv");
    let mut v: Vec<(String, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let name = Path::new(f[1].trim_matches('"'))
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, f[2].parse().expect("score"))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn the_default_cache_is_in_the_user_cache_folder_not_beside_the_images() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let model = model(root);
    let (g, q) = gallery(root, "street", 3);
    succeeded(rank(root, &model, &g, &q, &[]));
    let dir = root.join("xdg").join(CACHE_SUBDIR);
    let files = cache_files(&dir);
    assert_eq!(files.len(), 1, "one cache file in {}", dir.display());
    let name = files[0].file_name().expect("name").to_string_lossy();
    assert!(name.starts_with("street-"), "{name}");
    let listed: Vec<_> = std::fs::read_dir(&g).expect("ls").collect();
    assert_eq!(listed.len(), 3, "only the images in the gallery folder");
    assert!(!root.join("home/.cache").exists());
}

#[test]
fn two_galleries_and_two_models_map_to_different_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let cache = root.join("cache");
    let (a, b) = (root.join("a/gallery"), root.join("b/gallery"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let spec = |d: &Path, m: u64| CacheSpec::for_gallery(d, m, Some(&cache)).expect("spec");
    let (sa, sb) = (spec(&a, 1), spec(&b, 1));
    assert_ne!(sa.file, sb.file, "same folder name, different folders");
    assert_ne!(sa.file, spec(&a, 2).file, "same folder, another model");
    assert!(sa.file.starts_with(&cache) && sb.file.starts_with(&cache));
    // The same folder reached by another path is the same cache.
    assert_eq!(spec(&root.join("b/../a/gallery"), 1).file, sa.file);
    #[cfg(unix)]
    {
        let link = root.join("link");
        std::os::unix::fs::symlink(&a, &link).expect("symlink");
        assert_eq!(spec(&link, 1).file, sa.file);
    }
    // The name is the pure function of the canonical path and the model.
    let canonical = std::fs::canonicalize(&a).expect("canonical");
    assert_eq!(sa.file, cache.join(cache_file_name(&canonical, 1)));
}

#[test]
fn cache_dir_is_honoured_and_read_back_on_the_next_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let model = model(root);
    let (g, q) = gallery(root, "shop", 4);
    let chosen = root.join("chosen cache");
    let dir = chosen.to_str().expect("utf-8");
    succeeded(rank(root, &model, &g, &q, &["--cache-dir", dir]));
    let fresh = scores(root);
    let files = cache_files(&chosen);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(cache_files(&root.join("xdg").join(CACHE_SUBDIR)).is_empty());
    let distinct = |s: &[(String, f64)]| {
        let mut v: Vec<String> = s.iter().map(|(_, x)| format!("{x:.6}")).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    assert!(distinct(&fresh) > 1, "{fresh:?}");

    // Give every cached image the first image's features: a run that reads the cache scores
    // them all alike; an uncached run still tells them apart.
    let bytes = std::fs::read(&files[0]).expect("read");
    let newline = bytes.iter().position(|b| *b == b'\n').expect("header");
    let (head, body) = bytes.split_at(newline + 1);
    let block = 25 * 37 * 12 * 4; // one image's features [25, 37, 12], f32
    assert_eq!(body.len(), 4 * block, "the four gallery images");
    let mut forged = head.to_vec();
    for _ in 0..4 {
        forged.extend_from_slice(&body[..block]);
    }
    std::fs::write(&files[0], forged).expect("write");
    succeeded(rank(root, &model, &g, &q, &["--cache-dir", dir]));
    let cached = scores(root);
    assert_eq!(distinct(&cached), 1, "the cache was read: {cached:?}");
    succeeded(rank(root, &model, &g, &q, &["--no-cache"]));
    assert_eq!(scores(root), fresh);
}

#[test]
fn an_unusable_cache_folder_warns_once_and_still_ranks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let model = model(root);
    let (g, q) = gallery(root, "park", 3);
    succeeded(rank(root, &model, &g, &q, &["--no-cache"]));
    let fresh = scores(root);
    // A folder below a regular file cannot be created, even by root.
    let blocker = root.join("a-file");
    std::fs::write(&blocker, b"x").expect("write");
    let below = blocker.join("cache");
    let out = succeeded(rank(
        root,
        &model,
        &g,
        &q,
        &["--cache-dir", below.to_str().expect("utf-8")],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("running without the feature cache").count(),
        1,
        "{err}"
    );
    assert!(err.contains("a-file/cache"), "{err}");
    assert_eq!(scores(root), fresh, "ranked all the same");

    // The same with the default folder: $XDG_CACHE_HOME is a regular file.
    let out = Command::new(env!("CARGO_BIN_EXE_reid-explorer"))
        .env("XDG_CACHE_HOME", &blocker)
        .env("HOME", root.join("home"))
        .args(["rank", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg("--gallery")
        .arg(&g)
        .arg("--query")
        .arg(&q)
        .output()
        .expect("run");
    let out = succeeded(out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("running without the feature cache"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        ["0.png", "1.png", "2.png"]
            .iter()
            .all(|n| stdout.contains(n)),
        "{stdout}"
    );
}
