//! Hostile and damaged inputs (issue 16): each test reproduces one reported failure — a panic,
//! a hang, an abort, a silently wrong number — and checks the clear error or the recovery that
//! replaces it.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use common::write_person;
use reid_explorer::data::crops::CropCache;
use reid_explorer::data::layout::scan;
use reid_explorer::data::preprocess::{ImageError, decode_rgb, load_rgb};
use reid_explorer::engine::{
    CacheSpec, JobOptions, evaluate_dataset, model_fingerprint, rank_gallery,
};
use reid_explorer::eval::{Labels, Protocol};
use reid_explorer::model::{ModelConfig, XCorrNet, load_model, save_model};
use reid_explorer::protocol::{CancelToken, Ranking};

fn bin() -> Command {
    common::reid_command()
}

/// Run a command, killing it (and failing) if it is still running after `limit`.
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?} (it hangs)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
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

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Run `f` on another thread; fail if it does not return within `limit` (it hangs).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("still running: it hangs")
}

fn scores(r: &Ranking) -> Vec<(PathBuf, f32)> {
    r.entries
        .iter()
        .map(|e| (e.path.clone(), e.score))
        .collect()
}

/// Whether a ranking run went through the decoding stage (features computed, not cached).
fn decoded(run: impl FnOnce(&(dyn Fn(&'static str, usize, usize) + Sync))) -> bool {
    let seen = Mutex::new(false);
    run(&|stage, _, _| {
        if stage == "decoding" {
            *seen.lock().unwrap() = true;
        }
    });
    seen.into_inner().unwrap()
}

/// Item 6: a cache file whose header shape does not match the model (same product, or a
/// smaller "partial" shape with a consistent body) or that holds NaN is rebuilt, never used.
#[test]
fn a_mismatched_feature_cache_is_recomputed_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dev) = (ModelConfig::default(), Device::flex());
    let net = XCorrNet::init(&cfg, 9, &dev).unwrap();
    let model = tmp.path().join("model");
    save_model(&model, &cfg, &net).unwrap();
    let folder = tmp.path().join("gallery");
    std::fs::create_dir_all(&folder).unwrap();
    let files: Vec<(PathBuf, Option<Labels>)> = (0..4)
        .map(|i| {
            let p = folder.join(format!("{i}.png"));
            write_person(&p, 200 + i, 48, 120);
            (p, None)
        })
        .collect();
    let query = tmp.path().join("q.png");
    write_person(&query, 201, 48, 120);
    let cache_dir = tmp.path().join("cache");
    let fingerprint = model_fingerprint(&model).unwrap();
    let spec = CacheSpec::for_gallery(&folder, fingerprint, Some(&cache_dir)).unwrap();
    let never = CancelToken::new();
    let rank = |cache: Option<&CacheSpec>, p: &(dyn Fn(&'static str, usize, usize) + Sync)| {
        let opts = JobOptions::new(&net, &cfg, &dev)
            .cache(cache)
            .progress(p)
            .cancel(&never);
        rank_gallery(&opts, &query, None, &files).unwrap()
    };
    let fresh = scores(&rank(None, &|_, _, _| {}));
    assert!(decoded(|p| assert_eq!(
        scores(&rank(Some(&spec), p)),
        fresh
    )));
    let file = spec.file.clone();
    let good = std::fs::read(&file).unwrap();
    let newline = good.iter().position(|b| *b == b'\n').unwrap();
    let header: serde_json::Value = serde_json::from_slice(&good[..newline]).unwrap();
    assert_eq!(header["shape"], serde_json::json!([25, 37, 12]));
    let body = &good[newline + 1..];

    let with_header = |h: &serde_json::Value, body: &[u8]| {
        let mut bytes = serde_json::to_vec(h).unwrap();
        bytes.push(b'\n');
        bytes.extend_from_slice(body);
        bytes
    };
    // The same product in another order: used to panic inside Burn on every later run.
    let mut permuted = header.clone();
    permuted["shape"] = serde_json::json!([12, 37, 25]);
    // Half the width with twice the entries (fake stamps): the body length checks out.
    let mut partial = header.clone();
    partial["shape"] = serde_json::json!([25, 37, 6]);
    let mut stamps = partial["files"].as_array().unwrap().clone();
    for (i, s) in header["files"].as_array().unwrap().iter().enumerate() {
        let mut fake = s.clone();
        fake["size"] = serde_json::json!(1_000_000 + i);
        stamps.push(fake);
    }
    partial["files"] = serde_json::Value::Array(stamps);
    let mut nan_body = body.to_vec();
    nan_body[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    for (what, bytes) in [
        ("permuted shape", with_header(&permuted, body)),
        ("partial shape", with_header(&partial, body)),
        ("NaN features", with_header(&header, &nan_body)),
    ] {
        std::fs::write(&file, bytes).unwrap();
        let mut again = None;
        assert!(
            decoded(|p| again = Some(rank(Some(&spec), p))),
            "{what}: the features are recomputed"
        );
        assert_eq!(
            scores(&again.unwrap()),
            fresh,
            "{what}: same ranking as a fresh run"
        );
        assert_eq!(std::fs::read(&file).unwrap(), good, "{what}: cache rebuilt");
    }
}

fn write_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Item 7: absurd sizes and degenerate geometry in config.json are clear errors, not aborts.
#[test]
fn absurd_model_configurations_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path());
    let config = model.join("config.json").display().to_string();
    let cases: [(&str, serde_json::Value, &str); 7] = [
        (
            "input_h",
            serde_json::json!(1_000_000_000u64),
            "input_h is 1000000000",
        ),
        (
            "fc_hidden",
            serde_json::json!(1_000_000_000_000u64),
            "fc_hidden is 1000000000000",
        ),
        (
            "conv1_channels",
            serde_json::json!(100_000),
            "conv1_channels is 100000",
        ),
        (
            "patch",
            serde_json::json!(1),
            "patch must be odd and at least 3",
        ),
        (
            "normalization",
            serde_json::json!({"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.0, 0.2]}),
            "std",
        ),
        (
            "normalization",
            serde_json::json!({"mean": [0.5, 0.5, 0.5], "std": [0.2, -1.0, 0.2]}),
            "std",
        ),
        ("input_w", serde_json::json!(61), "images are fed as 160x60"),
    ];
    for (key, value, expect) in cases {
        save_model(
            &model,
            &ModelConfig::default(),
            &XCorrNet::init(&ModelConfig::default(), 1, &Device::flex()).unwrap(),
        )
        .unwrap();
        write_config(&model, |v| v[key] = value.clone());
        let err = load_model(&model, &Device::flex())
            .expect_err(key)
            .to_string();
        assert!(
            err.starts_with(&config) && err.contains(expect),
            "{key}: {err}"
        );
    }
    // Through the binary: an error exit naming the file, not an abort (134) or the OOM killer.
    write_config(&model, |v| {
        v["input_h"] = serde_json::json!(1_000_000_000u64)
    });
    let a = tmp.path().join("a.png");
    write_person(&a, 1, 48, 120);
    let out = run_within(
        bin()
            .args(["compare", "--backend", "cpu", "--model"])
            .arg(&model)
            .arg(&a)
            .arg(&a),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&config), "{}", stderr(&out));
}

/// Item 9: FIFOs and devices are refused by the image loader and the model loader, at once.
#[test]
fn fifos_and_devices_are_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pipe.png");
    mkfifo(&fifo);
    let f = fifo.clone();
    let err = within(Duration::from_secs(10), move || load_rgb(&f)).unwrap_err();
    assert!(
        err.to_string().starts_with(&fifo.display().to_string()),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("not a regular file (a named pipe)"),
        "{err}"
    );
    let err = within(Duration::from_secs(10), || load_rgb(Path::new("/dev/zero"))).unwrap_err();
    assert!(
        err.to_string()
            .contains("/dev/zero: cannot read file: not a regular file (a character device)"),
        "{err}"
    );
    // A symbolic link to a device is judged by its target.
    let link = tmp.path().join("zero.jpg");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let l = link.clone();
    let err = within(Duration::from_secs(10), move || load_rgb(&l)).unwrap_err();
    assert!(err.to_string().contains("character device"), "{err}");

    // The commands that read images: compare, trace, rank --query.
    let model = model_dir(tmp.path());
    let good = tmp.path().join("good.png");
    write_person(&good, 3, 48, 120);
    let gallery = tmp.path().join("gallery");
    std::fs::create_dir_all(&gallery).unwrap();
    write_person(&gallery.join("g.png"), 4, 48, 120);
    let t = tmp.path().join("t");
    let runs: [Vec<&OsStr>; 3] = [
        vec!["compare".as_ref(), fifo.as_ref(), good.as_ref()],
        vec![
            "trace".as_ref(),
            good.as_ref(),
            link.as_ref(),
            "--out".as_ref(),
            t.as_os_str(),
        ],
        vec![
            "rank".as_ref(),
            "--no-cache".as_ref(),
            "--query".as_ref(),
            fifo.as_ref(),
            "--gallery".as_ref(),
            gallery.as_ref(),
        ],
    ];
    for args in runs {
        let out = run_within(
            bin()
                .args(&args)
                .args(["--backend", "cpu", "--model"])
                .arg(&model),
            Duration::from_secs(60),
        );
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("not a regular file"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // The model loader: config.json linked to a device, weights.bpk a FIFO.
    let bad = tmp.path().join("bad-model");
    std::fs::create_dir_all(&bad).unwrap();
    std::os::unix::fs::symlink("/dev/zero", bad.join("config.json")).unwrap();
    let b = bad.clone();
    let err = within(Duration::from_secs(10), move || {
        load_model(&b, &Device::flex()).err()
    })
    .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("config.json: not a regular file (a character device)"),
        "{text}"
    );
    std::fs::remove_file(bad.join("config.json")).unwrap();
    std::fs::copy(model.join("config.json"), bad.join("config.json")).unwrap();
    mkfifo(&bad.join("weights.bpk"));
    let b = bad.clone();
    let err = within(Duration::from_secs(10), move || {
        load_model(&b, &Device::flex()).err()
    })
    .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("weights.bpk: not a regular file (a named pipe)"),
        "{text}"
    );
}

fn gray_png(width: u32, height: u32) -> Vec<u8> {
    let img = image::GrayImage::new(width, height);
    let mut out = Vec::new();
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    );
    image::ImageEncoder::write_image(
        enc,
        img.as_raw(),
        width,
        height,
        image::ExtendedColorType::L8,
    )
    .unwrap();
    out
}

/// Item 10: a small file of huge dimensions is refused by the decode budget (it used to take
/// 4 bytes per pixel: 1.6 GB for 14000 x 14000), in the decoder, the crop cache and the scan.
#[test]
fn huge_images_are_refused_by_the_decode_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let png = gray_png(9000, 9000); // 81 M pixels: 324 MB to decode into RGB
    assert!(png.len() < 2_000_000, "{}", png.len());
    let start = Instant::now();
    let err = decode_rgb(&png, Path::new("big.png")).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::OverBudget {
                width: 9000,
                height: 9000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("big.png: image is 9000x9000, too large to decode: needs 309 MB, more than the 256 MB allowed per image"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "refused from the header, not decoded"
    );

    let dir = tmp.path().join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for i in 0..4 {
        let p = dir.join(format!("big{i}.png"));
        std::fs::write(&p, &png).unwrap();
        paths.push(p);
    }
    write_person(&dir.join("ok.png"), 1, 48, 120);
    let (cache, skipped) = CropCache::load(&paths, &|_, _| {});
    assert_eq!((cache.loaded(), skipped.len()), (0, 4));
    assert!(
        skipped
            .iter()
            .all(|s| s.reason.contains("too large to decode")),
        "{skipped:?}"
    );
    let ds = scan(&dir, None).unwrap();
    assert_eq!(ds.samples.len(), 1);
    assert_eq!(ds.skipped.len(), 4);
    assert!(
        ds.skipped[0].reason.contains("256 MB allowed per image"),
        "{:?}",
        ds.skipped[0]
    );
}

fn nan_net(cfg: &ModelConfig, dev: &Device) -> XCorrNet {
    let mut net = XCorrNet::init(cfg, 5, dev).unwrap();
    net.fc2.bias = Param::from_tensor(Tensor::<1>::from_data(
        TensorData::new(vec![f32::NAN, 0.0], [2]),
        dev,
    ));
    net
}

/// Item 11: non-finite weights are refused at load, naming the tensor; NaN scores are an error
/// in ranking and evaluation, never a ranking or metrics.
#[test]
fn non_finite_weights_and_scores_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dev) = (ModelConfig::default(), Device::flex());
    let model = tmp.path().join("nan-model");
    save_model(&model, &cfg, &nan_net(&cfg, &dev)).unwrap();
    let err = load_model(&model, &dev).err().unwrap().to_string();
    let weights = model.join("weights.bpk").display().to_string();
    assert!(err.starts_with(&weights), "{err}");
    assert!(
        err.contains("tensor fc2.bias holds 1 non-finite value(s) (first: NaN at index 0)"),
        "{err}"
    );
    let mut inf = XCorrNet::init(&cfg, 5, &dev).unwrap();
    let mut w = vec![0.01f32; 20 * 3 * 25];
    w[7] = f32::INFINITY;
    inf.conv1.weight = Param::from_tensor(Tensor::<4>::from_data(
        TensorData::new(w, [20, 3, 5, 5]),
        &dev,
    ));
    save_model(&model, &cfg, &inf).unwrap();
    let err = load_model(&model, &dev).err().unwrap().to_string();
    assert!(
        err.contains("tensor conv1.weight holds 1 non-finite value(s) (first: inf at index 7)"),
        "{err}"
    );

    // An in-memory NaN network: ranking and evaluation fail instead of ordering ties.
    let net = nan_net(&cfg, &dev);
    let root = tmp.path().join("market");
    for (split, names) in [
        (
            "query",
            ["0001_c1s1_000001_00.jpg", "0002_c1s1_000001_00.jpg"],
        ),
        (
            "bounding_box_test",
            ["0001_c2s1_000001_00.jpg", "0002_c2s1_000001_00.jpg"],
        ),
    ] {
        std::fs::create_dir_all(root.join(split)).unwrap();
        for (i, n) in names.iter().enumerate() {
            write_person(&root.join(split).join(n), i as u64, 48, 120);
        }
    }
    let never = CancelToken::new();
    let err = evaluate_dataset(
        &JobOptions::new(&net, &cfg, &dev).cancel(&never),
        &root,
        &Protocol::Standard,
    )
    .expect_err("NaN scores are an error, not metrics")
    .to_string();
    assert!(
        err.contains("non-finite score (NaN)") && err.contains("0001_c1s1_000001_00.jpg"),
        "{err}"
    );
    let gallery: Vec<(PathBuf, Option<Labels>)> = std::fs::read_dir(root.join("bounding_box_test"))
        .unwrap()
        .map(|e| (e.unwrap().path(), None))
        .collect();
    let query = root.join("query/0001_c1s1_000001_00.jpg");
    let err = rank_gallery(
        &JobOptions::new(&net, &cfg, &dev).cancel(&never),
        &query,
        None,
        &gallery,
    )
    .expect_err("NaN scores are an error, not a ranking")
    .to_string();
    assert!(
        err.contains("non-finite score (NaN) against query"),
        "{err}"
    );
}

/// Item 14: a file name that is not UTF-8 no longer disables the feature cache of its folder.
#[test]
fn non_utf8_file_names_keep_the_feature_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dev) = (ModelConfig::default(), Device::flex());
    let net = XCorrNet::init(&cfg, 3, &dev).unwrap();
    let model = tmp.path().join("model");
    save_model(&model, &cfg, &net).unwrap();
    let folder = tmp.path().join("plain");
    std::fs::create_dir_all(&folder).unwrap();
    let names: [&[u8]; 3] = [b"a.png", b"caf\xe9.png", b"\xff\xfe.png"];
    for (i, n) in names.iter().enumerate() {
        write_person(&folder.join(OsStr::from_bytes(n)), 50 + i as u64, 48, 120);
    }
    let (files, skipped) = reid_explorer::engine::gallery_files(&folder).unwrap();
    assert_eq!((files.len(), skipped.len()), (3, 0));
    let query = tmp.path().join("q.png");
    write_person(&query, 51, 48, 120);
    let cache_dir = tmp.path().join("cache");
    let fingerprint = model_fingerprint(&model).unwrap();
    let spec = CacheSpec::for_gallery(&folder, fingerprint, Some(&cache_dir)).unwrap();
    let never = CancelToken::new();
    let rank = |cache: Option<&CacheSpec>, p: &(dyn Fn(&'static str, usize, usize) + Sync)| {
        let opts = JobOptions::new(&net, &cfg, &dev)
            .cache(cache)
            .progress(p)
            .cancel(&never);
        rank_gallery(&opts, &query, None, &files).unwrap()
    };
    let fresh = scores(&rank(None, &|_, _, _| {}));
    assert!(decoded(|p| assert_eq!(
        scores(&rank(Some(&spec), p)),
        fresh
    )));
    assert!(spec.file.exists(), "the cache was written");
    let mut second = None;
    assert!(
        !decoded(|p| second = Some(rank(Some(&spec), p))),
        "the second run reuses every feature"
    );
    let second = scores(&second.unwrap());
    assert_eq!(second, fresh);
    assert!(
        second
            .iter()
            .any(|(p, _)| p.as_os_str().as_bytes().ends_with(b"/\xff\xfe.png"))
    );
}
