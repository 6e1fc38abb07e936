//! The gallery feature cache: the same ranking with and without it, reuse on the next query,
//! recomputation of changed files, and a readable error-free fallback for damaged cache files.

mod common;

use std::path::PathBuf;
use std::sync::Mutex;

use burn::tensor::Device;
use common::write_person;
use reid_explorer::engine::{CacheSpec, JobOptions, model_fingerprint, rank_gallery};
use reid_explorer::model::{ModelConfig, XCorrNet, save_model};
use reid_explorer::protocol::CancelToken;

fn stages_seen(
    f: impl FnOnce(&(dyn Fn(&'static str, usize, usize) + Sync)),
) -> Vec<(&'static str, usize)> {
    let seen = Mutex::new(Vec::new());
    f(&|s, d, _| {
        if let Ok(mut v) = seen.lock() {
            v.push((s, d));
        }
    });
    seen.into_inner().unwrap_or_default()
}

#[test]
fn cached_features_give_the_same_ranking_and_skip_the_trunk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = ModelConfig::default();
    let dev = Device::flex();
    let net = XCorrNet::init(&cfg, 9, &dev).expect("init");
    let model_dir = tmp.path().join("model");
    save_model(&model_dir, &cfg, &net).expect("save");
    let gallery = tmp.path().join("gallery");
    std::fs::create_dir_all(&gallery).expect("mkdir");
    let cache_dir = tmp.path().join("cache");
    let model = model_fingerprint(&model_dir).expect("fp");
    let spec = CacheSpec::for_gallery(&gallery, model, Some(&cache_dir)).expect("cache folder");
    let files: Vec<(PathBuf, Option<_>)> = (0..6)
        .map(|i| {
            let p = spec.folder.join(format!("{i}.png"));
            write_person(&p, 100 + i, 48, 120);
            (p, None)
        })
        .collect();
    let query = tmp.path().join("q.png");
    write_person(&query, 100, 48, 120);
    let never = CancelToken::new();
    let rank = |cache: Option<&CacheSpec>,
                progress: &(dyn Fn(&'static str, usize, usize) + Sync)| {
        let opts = JobOptions::new(&net, &cfg, &dev)
            .cache(cache)
            .progress(progress)
            .cancel(&never);
        rank_gallery(&opts, &query, None, &files).expect("rank")
    };

    let plain = rank(None, &|_, _, _| {});
    let mut first = None;
    let stages = stages_seen(|p| first = Some(rank(Some(&spec), p)));
    assert!(
        stages.iter().any(|(s, _)| *s == "decoding"),
        "first cached run computes features"
    );
    let file = spec.file.clone();
    assert!(file.starts_with(&cache_dir) && file.exists());
    assert_eq!(
        std::fs::read_dir(&spec.folder).expect("ls").count(),
        6,
        "nothing is written beside the images"
    );
    let mut second = None;
    let stages = stages_seen(|p| second = Some(rank(Some(&spec), p)));
    assert!(
        !stages.iter().any(|(s, _)| *s == "decoding"),
        "second run reuses the cache: {stages:?}"
    );
    for r in [first.expect("first"), second.expect("second")] {
        let a: Vec<_> = r
            .entries
            .iter()
            .map(|e| (e.path.clone(), e.score))
            .collect();
        let b: Vec<_> = plain
            .entries
            .iter()
            .map(|e| (e.path.clone(), e.score))
            .collect();
        assert_eq!(a, b, "the cache must not change any score");
    }
    assert!(
        plain.entries.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );

    // A changed file is recomputed (and only it).
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_person(&files[3].0, 999, 60, 150);
    let mut third = None;
    let stages = stages_seen(|p| third = Some(rank(Some(&spec), p)));
    let decoded = stages
        .iter()
        .filter(|(s, _)| *s == "decoding")
        .map(|(_, d)| *d)
        .max();
    assert_eq!(decoded, Some(1), "{stages:?}");
    let fresh = rank(None, &|_, _, _| {});
    let a: Vec<_> = third
        .expect("third")
        .entries
        .iter()
        .map(|e| e.score)
        .collect();
    let b: Vec<_> = fresh.entries.iter().map(|e| e.score).collect();
    assert_eq!(a, b);

    // A damaged cache file is ignored and rebuilt: every image's features are computed again,
    // the ranking is the uncached one (paths and scores), and the rebuilt file serves the next
    // query.
    std::fs::write(&file, b"garbage").expect("write");
    let mut again = None;
    let stages = stages_seen(|p| again = Some(rank(Some(&spec), p)));
    let decoded = stages
        .iter()
        .filter(|(s, _)| *s == "decoding")
        .map(|(_, d)| *d)
        .max();
    assert_eq!(decoded, Some(6), "all recomputed: {stages:?}");
    let scored = |r: &reid_explorer::protocol::Ranking| -> Vec<(PathBuf, f32)> {
        r.entries
            .iter()
            .map(|e| (e.path.clone(), e.score))
            .collect()
    };
    assert_eq!(scored(&again.expect("rebuilt")), scored(&fresh));
    let mut reused = None;
    let stages = stages_seen(|p| reused = Some(rank(Some(&spec), p)));
    assert!(
        !stages.iter().any(|(s, _)| *s == "decoding"),
        "the rebuilt cache is used: {stages:?}"
    );
    assert_eq!(scored(&reused.expect("reused")), scored(&fresh));
}
