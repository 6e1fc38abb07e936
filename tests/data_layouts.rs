//! Dataset layouts: detection, labels, split folders, forced layouts, errors, summaries, and the
//! real CUHK03-NP folder when it is present.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use reid_explorer::data::layout::{DatasetError, LayoutKind, Split, scan};

/// Write a small valid image (format from the extension: jpg, png, bmp).
fn img(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_pixel(24, 64, Rgb([90, 120, 200]))
        .save(path)
        .unwrap();
}

fn names<'a>(it: impl Iterator<Item = &'a PathBuf>) -> Vec<String> {
    it.map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn market_with_split_folders() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for n in [
        "0007_c2s1_000100_00.jpg",
        "0002_c1s1_000451_03.jpg",
        "0002_c2s1_000500_01.jpg",
    ] {
        img(&r.join("bounding_box_train").join(n));
    }
    std::fs::write(r.join("bounding_box_train/Thumbs.db"), b"junk").unwrap();
    img(&r.join("bounding_box_train/.hidden.jpg"));
    img(&r.join("query/0003_c1s1_000001_00.jpg"));
    for n in [
        "0003_c10s1_000010_00.jpg",
        "-1_c3s2_001234_00.jpg",
        "0000_c6s1_000001_00.jpg",
        "notes.jpg",
    ] {
        img(&r.join("bounding_box_test").join(n));
    }
    img(&r.join("gt_bbox/0001_c1s1_000001_00.jpg")); // not a split folder: listed, not read
    std::fs::write(r.join("readme.txt"), b"hello").unwrap();

    let ds = scan(r, None).unwrap();
    assert_eq!(ds.layout, LayoutKind::Market);
    let train: Vec<_> = ds.split(Split::Train).collect();
    assert_eq!(
        names(train.iter().map(|s| &s.path)),
        [
            "0002_c1s1_000451_03.jpg",
            "0002_c2s1_000500_01.jpg",
            "0007_c2s1_000100_00.jpg"
        ]
    );
    assert_eq!(
        train
            .iter()
            .map(|s| (s.identity, s.camera))
            .collect::<Vec<_>>(),
        [(Some(2), Some(1)), (Some(2), Some(2)), (Some(7), Some(2))]
    );
    assert_eq!(ds.split(Split::Query).count(), 1);
    let gallery: Vec<_> = ds.split(Split::Gallery).collect();
    assert_eq!(
        gallery
            .iter()
            .map(|s| (s.identity, s.camera, s.is_junk()))
            .collect::<Vec<_>>(),
        [
            (Some(-1), Some(3), true),
            (Some(0), Some(6), false),
            (Some(3), Some(10), false)
        ]
    );
    // Identities 2, 7, 3 and the distractor 0; junk excluded. Cameras 1, 2, 3, 6, 10.
    assert_eq!(ds.identities(), 4);
    assert_eq!(ds.cameras(), 5);
    let skipped = names(ds.skipped.iter().map(|s| &s.path));
    assert_eq!(skipped, ["gt_bbox", "readme.txt", "Thumbs.db", "notes.jpg"]);
    assert!(
        ds.skipped[0]
            .reason
            .contains("beside the Market split folders")
    );
    assert!(ds.skipped[2].reason.contains("Market pattern"));

    let json = serde_json::to_value(ds.summary()).unwrap();
    assert_eq!(json["layout"], "market");
    assert_eq!(json["identities"], 4);
    assert_eq!(json["cameras"], 5);
    assert_eq!(json["images"], 7);
    assert_eq!(json["junk"], 1);
    assert_eq!(json["skipped"].as_array().unwrap().len(), 4);
    assert!(
        json["skipped"][3]["path"]
            .as_str()
            .unwrap()
            .ends_with("notes.jpg")
    );
    assert!(json["skipped"][3]["reason"].is_string());
    assert_eq!(json["splits"][0]["split"], "train");
    assert_eq!(json["splits"][0]["identities"], 2);
    let text = ds.summary().to_string();
    assert!(text.contains("layout:     market"), "{text}");
}

#[test]
fn one_market_style_folder() {
    let dir = tempfile::tempdir().unwrap();
    for n in [
        "0001_c1s1_000001_00.jpg",
        "0001_c2s1_000001_00.jpg",
        "0005_c1_f0046985.jpg",
    ] {
        img(&dir.path().join(n));
    }
    let ds = scan(dir.path(), None).unwrap();
    assert_eq!(ds.layout, LayoutKind::Market);
    assert!(ds.samples.iter().all(|s| s.split == Split::Unsplit));
    assert_eq!((ds.identities(), ds.cameras()), (2, 2));
}

#[test]
fn viper_and_prid_camera_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for n in [
        "cam_a/000_45.bmp",
        "cam_a/001_90.bmp",
        "cam_b/000_0.bmp",
        "cam_b/001_180.bmp",
    ] {
        img(&r.join(n));
    }
    img(&r.join("cam_b/nonumber.bmp"));
    let ds = scan(r, None).unwrap();
    assert_eq!(ds.layout, LayoutKind::CamPair);
    let labels: Vec<_> = ds.samples.iter().map(|s| (s.identity, s.camera)).collect();
    assert_eq!(
        labels,
        [
            (Some(0), Some(1)),
            (Some(1), Some(1)),
            (Some(0), Some(2)),
            (Some(1), Some(2))
        ]
    );
    assert_eq!(names(ds.skipped.iter().map(|s| &s.path)), ["nonumber.bmp"]);

    // PRID: single-shot names and multi-shot folders.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    img(&r.join("cam_a/person_0001.png"));
    img(&r.join("cam_b/person_0001.png"));
    img(&r.join("cam_a/person_0003/0001.png"));
    img(&r.join("cam_a/person_0003/0002.png"));
    let ds = scan(r, None).unwrap();
    let labels: Vec<_> = ds.samples.iter().map(|s| (s.identity, s.camera)).collect();
    assert_eq!(
        labels,
        [
            (Some(1), Some(1)),
            (Some(3), Some(1)),
            (Some(3), Some(1)),
            (Some(1), Some(2))
        ]
    );
}

#[test]
fn one_folder_per_identity() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    img(&r.join("40/img_c2_01.jpg"));
    img(&r.join("40/front.jpg"));
    img(&r.join("12/c1-0001.png"));
    let ds = scan(r, None).unwrap();
    assert_eq!(ds.layout, LayoutKind::PerIdentity);
    let labels: Vec<_> = ds.samples.iter().map(|s| (s.identity, s.camera)).collect();
    assert_eq!(
        labels,
        [(Some(12), Some(1)), (Some(40), None), (Some(40), Some(2))]
    );

    // Folder names without unique numbers: numbered in sorted order.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    img(&r.join("bob/a.jpg"));
    img(&r.join("alice/a.jpg"));
    img(&r.join("alice/b.jpg"));
    std::fs::write(r.join("list.txt"), b"alice\nbob\n").unwrap();
    let ds = scan(r, None).unwrap();
    assert_eq!(ds.layout, LayoutKind::PerIdentity);
    let ids: Vec<_> = ds.samples.iter().map(|s| s.identity).collect();
    assert_eq!(ids, [Some(0), Some(0), Some(1)]);
    assert_eq!(names(ds.skipped.iter().map(|s| &s.path)), ["list.txt"]);
    assert_eq!(ds.skipped[0].reason, "not inside an identity folder");
}

#[test]
fn plain_folder_and_forced_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    img(&r.join("b.jpg"));
    img(&r.join("a.png"));
    img(&r.join("sub/c.jpg"));
    let ds = scan(r, None).unwrap();
    assert_eq!(ds.layout, LayoutKind::Plain);
    assert_eq!(
        names(ds.samples.iter().map(|s| &s.path)),
        ["a.png", "b.jpg"]
    );
    assert!(
        ds.samples
            .iter()
            .all(|s| s.identity.is_none() && s.split == Split::Unsplit)
    );
    assert_eq!(names(ds.skipped.iter().map(|s| &s.path)), ["sub"]);
    assert_eq!(ds.identities(), 0);

    // Forced on a flat folder of unlabelled names: no labels, and the error says where.
    let flat = tempfile::tempdir().unwrap();
    img(&flat.path().join("a.png"));
    img(&flat.path().join("b.jpg"));
    for forced in [
        LayoutKind::Market,
        LayoutKind::CamPair,
        LayoutKind::PerIdentity,
    ] {
        let err = scan(flat.path(), Some(forced)).unwrap_err();
        assert!(
            matches!(err, DatasetError::NoLabels { .. }),
            "{forced}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with(&flat.path().display().to_string()), "{msg}");
        assert!(msg.contains(&forced.to_string()), "{msg}");
    }
    // Forcing per-identity on the first folder reads `sub/` as an identity.
    let ds = scan(r, Some(LayoutKind::PerIdentity)).unwrap();
    assert_eq!(names(ds.samples.iter().map(|s| &s.path)), ["c.jpg"]);
    assert_eq!(ds.skipped.len(), 2);
    // Forcing the plain layout on labelled names works: labels ignored.
    let m = tempfile::tempdir().unwrap();
    img(&m.path().join("0001_c1s1_000001_00.jpg"));
    let ds = scan(m.path(), Some(LayoutKind::Plain)).unwrap();
    assert_eq!(
        (ds.layout, ds.samples[0].identity),
        (LayoutKind::Plain, None)
    );
}

#[test]
fn folder_errors_name_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = scan(&missing, None).unwrap_err();
    assert!(matches!(err, DatasetError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!("{}: folder does not exist", missing.display())
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = scan(&empty, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: folder is empty", empty.display())
    );

    let file = dir.path().join("f.jpg");
    img(&file);
    assert!(matches!(
        scan(&file, None).unwrap_err(),
        DatasetError::NotAFolder { .. }
    ));

    let junk = dir.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("a.txt"), b"text").unwrap();
    let err = scan(&junk, None).unwrap_err();
    assert!(
        matches!(err, DatasetError::NoImages { skipped: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not a recognised image format"));

    // Market split folders that hold nothing.
    let m = dir.path().join("market");
    std::fs::create_dir_all(m.join("query")).unwrap();
    std::fs::create_dir_all(m.join("bounding_box_test")).unwrap();
    assert!(matches!(
        scan(&m, None).unwrap_err(),
        DatasetError::Empty { .. }
    ));
}

#[test]
fn layout_names_round_trip() {
    use clap::ValueEnum;
    for k in LayoutKind::value_variants() {
        let shown = k.to_string();
        assert_eq!(LayoutKind::from_str(&shown, false).unwrap(), *k);
        assert_eq!(serde_json::to_value(k).unwrap(), shown.as_str());
    }
    let shown: Vec<String> = LayoutKind::value_variants()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(shown, ["market", "cam-pair", "per-identity", "plain"]);
}

/// The real CUHK03-NP copy in the shared folder, when this machine has it.
#[test]
fn real_cuhk03_when_present() {
    let Some(root) = common::shared_path("data/cuhk03") else {
        return;
    };
    let root = root.as_path();
    let ds = scan(root, None).unwrap();
    assert_eq!(ds.layout, LayoutKind::Market);
    for (folder, split) in [
        ("bounding_box_train", Split::Train),
        ("query", Split::Query),
        ("bounding_box_test", Split::Gallery),
    ] {
        let files: BTreeSet<PathBuf> = std::fs::read_dir(root.join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        let seen: BTreeSet<PathBuf> = ds
            .split(split)
            .map(|s| s.path.clone())
            .chain(
                ds.skipped
                    .iter()
                    .filter(|s| s.path.parent() == Some(&root.join(folder)))
                    .map(|s| s.path.clone()),
            )
            .collect();
        assert_eq!(files, seen, "{folder}: every file is a sample or skipped");
    }
    assert_eq!(ds.split(Split::Train).count(), 12192);
    assert_eq!(ds.split(Split::Query).count(), 200);
    assert_eq!(ds.split(Split::Gallery).count(), 759);
    assert!(ds.skipped.is_empty(), "{:?}", ds.skipped.first());
    let query_ids: BTreeSet<i64> = ds.split(Split::Query).filter_map(|s| s.identity).collect();
    let train_ids: BTreeSet<i64> = ds.split(Split::Train).filter_map(|s| s.identity).collect();
    assert!(query_ids.is_disjoint(&train_ids));
    assert!(ds.cameras() >= 2);
}
