//! The synthetic pedestrian generator: byte-for-byte determinism, Market layout on disk with the
//! planned counts, and a dataset the pair sampler and crop cache accept.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use reid_explorer::data::crops::CropCache;
use reid_explorer::data::layout::{LayoutKind, Split, scan};
use reid_explorer::data::sampler::{PairSampler, SamplerConfig};
use reid_explorer::data::synth::{SynthConfig, SynthError, generate};

fn small(seed: u64) -> SynthConfig {
    SynthConfig {
        identities: 6,
        seed,
        cameras: 4,
        cameras_per_identity: (2, 3),
        images_per_camera: (2, 2),
    }
}

/// Every file under `root`, relative path -> bytes.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for dir in ["bounding_box_train", "query", "bounding_box_test"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            out.insert(
                p.strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let ra = generate(a.path(), &small(1), &|_, _| {}).unwrap();
    // Another thread count must not change a byte.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| generate(b.path(), &small(1), &|_, _| {}).unwrap());
    generate(c.path(), &small(2), &|_, _| {}).unwrap();
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert_eq!(fa.len(), ra.images());
    assert_eq!(fa, fb);
    assert_ne!(fa, fc);
    // A second run into a used folder is refused instead of mixing datasets.
    let err = generate(a.path(), &small(1), &|_, _| {}).unwrap_err();
    assert!(matches!(err, SynthError::NotEmpty(_)), "{err}");
}

#[test]
fn output_scans_as_market_with_the_planned_counts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(5);
    let plan = cfg.plan().unwrap();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let report = generate(dir.path(), &cfg, &|_, total| {
        assert_eq!(total, plan.len());
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(calls.into_inner(), plan.len());

    let ds = scan(dir.path(), None).unwrap();
    assert_eq!(ds.layout, LayoutKind::Market);
    assert!(ds.skipped.is_empty(), "{:?}", ds.skipped);
    assert_eq!(ds.split(Split::Train).count(), report.train);
    assert_eq!(ds.split(Split::Query).count(), report.query);
    assert_eq!(ds.split(Split::Gallery).count(), report.gallery);
    assert_eq!(ds.identities(), 6);
    let ids = |s: Split| -> BTreeSet<i64> { ds.split(s).filter_map(|x| x.identity).collect() };
    assert_eq!(ids(Split::Train), BTreeSet::from([1, 2, 3]));
    assert_eq!(ids(Split::Query), BTreeSet::from([4, 5, 6]));
    assert_eq!(ids(Split::Gallery), BTreeSet::from([4, 5, 6]));
    for id in 1..=6i64 {
        let cams: BTreeSet<u32> = ds
            .samples
            .iter()
            .filter(|s| s.identity == Some(id))
            .filter_map(|s| s.camera)
            .collect();
        assert!(cams.len() >= 2, "identity {id} seen by {cams:?}");
        if id > 3 {
            // One query per camera, and every query has a match from another camera.
            let q: Vec<u32> = ds
                .split(Split::Query)
                .filter(|s| s.identity == Some(id))
                .filter_map(|s| s.camera)
                .collect();
            assert_eq!(q, cams.iter().copied().collect::<Vec<_>>());
            let g: BTreeSet<u32> = ds
                .split(Split::Gallery)
                .filter(|s| s.identity == Some(id))
                .filter_map(|s| s.camera)
                .collect();
            assert_eq!(g, cams);
        }
    }

    // Crops decode, sizes vary, and the training split feeds the pair sampler.
    let (cache, failed) = CropCache::from_samples(&ds.samples, &|_, _| {});
    assert!(failed.is_empty());
    assert_eq!(cache.loaded(), ds.samples.len());
    let sizes: BTreeSet<(u32, u32)> = ds
        .samples
        .iter()
        .map(|s| image::image_dimensions(&s.path).unwrap())
        .collect();
    assert!(sizes.len() > 1, "crop sizes vary: {sizes:?}");
    assert!(
        sizes
            .iter()
            .all(|&(w, h)| (48..=64).contains(&w) && (128..=160).contains(&h))
    );
    let labels: Vec<(i64, Option<u32>)> = ds
        .split(Split::Train)
        .map(|s| (s.identity.unwrap(), s.camera))
        .collect();
    let sampler = PairSampler::new(&labels, SamplerConfig::default(), 0).unwrap();
    let pairs = sampler.epoch(0);
    let pos = pairs.iter().filter(|p| p.same).count();
    assert_eq!(pairs.len(), 3 * pos);
    assert!(
        pairs
            .iter()
            .filter(|p| p.same)
            .all(|p| labels[p.a].1 != labels[p.b].1)
    );
}

/// `assets/sample` is what its README's command produces, byte for byte.
#[test]
fn embedded_sample_matches_its_documented_command() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample");
    // Shipped with the repository: its absence is a failure, not a skip.
    assert!(
        sample.join("bounding_box_train").is_dir(),
        "{} is absent",
        sample.display()
    );
    let readme = std::fs::read_to_string(sample.join("README.md")).unwrap();
    assert!(
        readme.contains("synth --out assets/sample --identities 36 --seed 2016 --max-images 2")
    );
    let cfg = SynthConfig {
        identities: 36,
        seed: 2016,
        images_per_camera: (2, 2),
        ..SynthConfig::default()
    };
    let fresh = tempfile::tempdir().unwrap();
    generate(fresh.path(), &cfg, &|_, _| {}).unwrap();
    let (want, got) = (files(fresh.path()), files(&sample));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    assert!(
        want == got,
        "assets/sample differs from a fresh run: regenerate it"
    );
}

/// The two commands end to end: `synth` writes, `dataset --json` reads it back.
#[test]
fn synth_and_dataset_commands() {
    let exe = env!("CARGO_BIN_EXE_reid-explorer");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let run = |args: &[&str]| std::process::Command::new(exe).args(args).output().unwrap();
    let o = out.to_str().unwrap();
    let synth = run(&[
        "synth",
        "--out",
        o,
        "--identities",
        "4",
        "--seed",
        "9",
        "--max-images",
        "2",
    ]);
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    assert!(String::from_utf8_lossy(&synth.stdout).contains("crops/min"));
    std::fs::write(out.join("query/zz_bad.jpg"), b"oops").unwrap();

    let ds = run(&["dataset", o, "--json"]);
    assert!(
        ds.status.success(),
        "{}",
        String::from_utf8_lossy(&ds.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&ds.stdout).unwrap();
    assert_eq!(json["layout"], "market");
    assert_eq!(json["identities"], 4);
    let plan = SynthConfig {
        identities: 4,
        seed: 9,
        images_per_camera: (2, 2),
        ..SynthConfig::default()
    }
    .plan()
    .unwrap();
    assert_eq!(json["images"], plan.len());
    let cams: BTreeSet<u32> = plan.iter().map(|p| p.camera).collect();
    assert_eq!(json["cameras"], cams.len());
    assert_eq!(json["skipped"][0]["path"], format!("{o}/query/zz_bad.jpg"));
    assert_eq!(
        json["skipped"][0]["reason"],
        "name does not match the Market pattern PPPP_cC..."
    );

    let text = run(&["dataset", o, "--layout", "plain"]);
    assert!(!text.status.success());
    assert!(String::from_utf8_lossy(&text.stderr).contains(o));
    let missing = run(&["dataset", &format!("{o}/nope")]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("folder does not exist"));
}
