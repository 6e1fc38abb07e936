//! The network: shapes, traced forward, save / load round trip, bad model folders, backend parity.

mod common;

use burn::tensor::Device;
use common::*;
use reid_explorer::data::preprocess::CROP_LEN;
use reid_explorer::model::infer::{images_tensor, pair_probabilities};
use reid_explorer::model::io::{CONFIG_FILE, WEIGHTS_FILE};
use reid_explorer::model::{Branch, ModelConfig, XCorrNet, load_model, save_model, trace};

fn crops(seed: u64, n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| random_values(CROP_LEN, seed + i as u64))
        .collect()
}

fn probs(net: &XCorrNet, a: &[Vec<f32>], b: &[Vec<f32>], device: &Device) -> Vec<f32> {
    let ar: Vec<&[f32]> = a.iter().map(|v| v.as_slice()).collect();
    let br: Vec<&[f32]> = b.iter().map(|v| v.as_slice()).collect();
    pair_probabilities(net, &ar, &br, device).expect("forward")
}

#[test]
fn trace_has_every_map_with_the_papers_shapes() {
    let device = Device::flex();
    let net = XCorrNet::init(&ModelConfig::default(), 3, &device).expect("init");
    let [a, b] = [crops(1, 1), crops(2, 1)].map(|c| images_tensor(&[&c[0]], &device));
    let t = trace(&net, a, b).expect("trace");
    let expect: [(&str, Branch, &[usize]); 17] = [
        ("input", Branch::A, &[3, 160, 60]),
        ("conv1", Branch::A, &[20, 156, 56]),
        ("pool1", Branch::A, &[20, 78, 28]),
        ("conv2", Branch::A, &[25, 74, 24]),
        ("pool2", Branch::A, &[25, 37, 12]),
        ("input", Branch::B, &[3, 160, 60]),
        ("conv1", Branch::B, &[20, 156, 56]),
        ("pool1", Branch::B, &[20, 78, 28]),
        ("conv2", Branch::B, &[25, 74, 24]),
        ("pool2", Branch::B, &[25, 37, 12]),
        ("xcorr", Branch::Pair, &[1500, 37, 12]),
        ("head_conv1", Branch::Pair, &[25, 37, 12]),
        ("head_conv3", Branch::Pair, &[25, 35, 10]),
        ("head_pool", Branch::Pair, &[25, 17, 5]),
        ("fc500", Branch::Pair, &[500]),
        ("logits", Branch::Pair, &[2]),
        ("probs", Branch::Pair, &[2]),
    ];
    assert_eq!(t.maps.len(), expect.len());
    for (map, (name, branch, shape)) in t.maps.iter().zip(expect) {
        assert_eq!(
            (map.name, map.branch, map.shape.as_slice()),
            (name, branch, shape)
        );
        assert_eq!(map.data.len(), shape.iter().product::<usize>());
    }
    // Internal consistency: ReLU outputs are non-negative, probabilities sum to one, the
    // correlation lies in [-1, 1], and the traced p(same) equals the plain forward's.
    for name in ["conv1", "pool2"] {
        assert!(
            t.get(name, Branch::A)
                .expect("map")
                .data
                .iter()
                .all(|v| *v >= 0.0)
        );
    }
    assert!(
        t.get("xcorr", Branch::Pair)
            .expect("xcorr")
            .data
            .iter()
            .all(|v| v.abs() <= 1.0 + 1e-5)
    );
    let p = &t.get("probs", Branch::Pair).expect("probs").data;
    assert!((p[0] + p[1] - 1.0).abs() < 1e-5);
    let plain = probs(&net, &crops(1, 1), &crops(2, 1), &device);
    assert!((plain[0] - p[1]).abs() < 1e-5);
}

#[test]
fn same_seed_same_weights_different_seed_different() {
    let device = Device::flex();
    let cfg = ModelConfig::default();
    let a = crops(10, 2);
    let b = crops(20, 2);
    let p1 = probs(
        &XCorrNet::init(&cfg, 5, &device).expect("init"),
        &a,
        &b,
        &device,
    );
    let p2 = probs(
        &XCorrNet::init(&cfg, 5, &device).expect("init"),
        &a,
        &b,
        &device,
    );
    let p3 = probs(
        &XCorrNet::init(&cfg, 6, &device).expect("init"),
        &a,
        &b,
        &device,
    );
    assert_eq!(p1, p2);
    assert_ne!(p1, p3);
}

#[test]
fn save_load_round_trip_gives_identical_outputs() {
    let device = Device::flex();
    let cfg = ModelConfig::default();
    let net = XCorrNet::init(&cfg, 11, &device).expect("init");
    let dir = tempfile::tempdir().expect("tempdir");
    save_model(dir.path(), &cfg, &net).expect("save");
    let (cfg2, net2) = load_model(dir.path(), &device).expect("load");
    assert_eq!(cfg, cfg2);
    let a = crops(30, 3);
    let b = crops(40, 3);
    assert_eq!(probs(&net, &a, &b, &device), probs(&net2, &a, &b, &device));
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn bad_model_folders_give_clear_errors() {
    let device = Device::flex();
    let cfg = ModelConfig::default();
    let net = XCorrNet::init(&cfg, 1, &device).expect("init");
    let dir = tempfile::tempdir().expect("tempdir");

    // Missing folder.
    let err = load_model(&dir.path().join("nope"), &device)
        .expect_err("missing")
        .to_string();
    assert!(
        err.contains("nope") && err.contains("config.json missing"),
        "{err}"
    );

    // Truncated weights.
    save_model(dir.path(), &cfg, &net).expect("save");
    let wpath = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&wpath).expect("read");
    std::fs::write(&wpath, &bytes[..bytes.len() / 3]).expect("truncate");
    let err = load_model(dir.path(), &device)
        .expect_err("truncated")
        .to_string();
    assert!(err.contains(WEIGHTS_FILE), "{err}");

    // Garbage weights.
    std::fs::write(&wpath, b"not a weights file at all").expect("write");
    let err = load_model(dir.path(), &device)
        .expect_err("garbage")
        .to_string();
    assert!(err.contains(WEIGHTS_FILE), "{err}");

    // Weights of a differently shaped network.
    let small = ModelConfig {
        fc_hidden: 100,
        ..ModelConfig::default()
    };
    let other = XCorrNet::init(&small, 1, &device).expect("init");
    save_model(dir.path(), &small, &other).expect("save");
    std::fs::write(
        dir.path().join(CONFIG_FILE),
        serde_json::to_vec(&cfg).expect("json"),
    )
    .expect("write");
    let err = load_model(dir.path(), &device)
        .expect_err("mismatch")
        .to_string();
    assert!(
        err.contains(WEIGHTS_FILE) && err.contains("do not fit"),
        "{err}"
    );

    // Corrupt configuration.
    std::fs::write(dir.path().join(CONFIG_FILE), b"{ \"patch\": ").expect("write");
    let err = load_model(dir.path(), &device)
        .expect_err("bad json")
        .to_string();
    assert!(
        err.contains(CONFIG_FILE) && err.contains("invalid model configuration"),
        "{err}"
    );
}

#[test]
fn probabilities_agree_on_cpu_and_gpu() {
    let Some(gpu) = gpu_device() else { return };
    let cfg = ModelConfig::default();
    let cpu_net = XCorrNet::init(&cfg, 17, &Device::flex()).expect("init");
    let gpu_net = XCorrNet::init(&cfg, 17, &gpu).expect("init");
    let a = crops(50, 4);
    let b = crops(60, 4);
    let pc = probs(&cpu_net, &a, &b, &Device::flex());
    let pg = probs(&gpu_net, &a, &b, &gpu);
    assert!(max_abs(&pc, &pg) < 1e-4, "cpu {pc:?} vs gpu {pg:?}");
}

#[test]
fn host_trunk_and_fused_head_match_burns_layers_on_a_shipped_model() {
    use reid_explorer::model::xcorr::with_reference_path;
    // A trained model (not a fresh init) so ReLUs and pools see realistic activations.
    let flex = Device::flex();
    let (_, net) = load_model(&reid_explorer::bundled_path("models/synthetic"), &flex)
        .expect("shipped synthetic model");
    let dims = [3, 3, 160, 60];
    let n: usize = dims.iter().product();
    let a = || tensor4(random_values(n, 91), dims, &flex);
    let b = || tensor4(random_values(n, 92), dims, &flex);
    let fast = to_vec(net.features(a()));
    let slow = with_reference_path(|| to_vec(net.features(a())));
    let err = rel_l2(&fast, &slow);
    assert!(err < 1e-5, "trunk features: relative L2 error {err}");
    let fast = to_vec(net.forward(a(), b()));
    let slow = with_reference_path(|| to_vec(net.forward(a(), b())));
    assert!(max_abs(&fast, &slow) < 1e-4, "logits {fast:?} vs {slow:?}");
    // Pair probabilities (what the compare view and the CLI report) agree as well.
    let crops: Vec<Vec<f32>> = [91, 92]
        .iter()
        .map(|s| random_values(CROP_LEN, *s))
        .collect();
    let p = pair_probabilities(&net, &[&crops[0]], &[&crops[1]], &flex).expect("forward");
    let p_slow = with_reference_path(|| {
        pair_probabilities(&net, &[&crops[0]], &[&crops[1]], &flex).expect("forward")
    });
    assert!((p[0] - p_slow[0]).abs() < 1e-5, "{p:?} vs {p_slow:?}");
}
