//! `export --format safetensors`: the file read back with the `safetensors` crate holds every
//! parameter under the documented PyTorch name, shape and layout with the model's exact values;
//! benches/load_safetensors.py expects exactly those names (its `--check-names` mode, run with
//! any python3, no torch needed); with a Python that has torch (`$REID_PYTHON`, else python3) the
//! PyTorch network filled from the file gives the Rust forward's p(same).

mod common;

use common::succeeded;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::{Device, Tensor};
use reid_explorer::model::export::{META_CONFIG, META_FORMAT};
use reid_explorer::model::infer::pair_probabilities;
use reid_explorer::model::{Init, ModelConfig, XCorrNet, load_model, save_model};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

fn bin() -> Command {
    common::reid_command()
}

/// A model folder with Torch-style weights (non-zero biases) of the default configuration.
fn model(root: &Path) -> (PathBuf, ModelConfig, XCorrNet) {
    let dir = root.join("model");
    let cfg = ModelConfig::default();
    let net = XCorrNet::init_with(&cfg, Init::Torch, 7, &Device::flex()).expect("init");
    save_model(&dir, &cfg, &net).expect("save");
    (dir, cfg, net)
}

fn export(model: &Path, out: &Path) -> Output {
    bin()
        .args(["export", "--format", "safetensors", "--model"])
        .arg(model)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run")
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.flatten::<1>(0, D - 1)
        .try_into_vec_as::<f32>()
        .expect("read")
}

fn floats(view: &TensorView<'_>) -> Vec<f32> {
    view.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn the_file_holds_every_parameter_under_its_pytorch_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, cfg, net) = model(tmp.path());
    let file = tmp.path().join("w.safetensors");
    let out = succeeded(export(&dir, &file));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("12 tensors"), "{stdout}");

    let bytes = std::fs::read(&file).expect("read");
    let st = SafeTensors::deserialize(&bytes).expect("a safetensors file");
    // docs/export.md's table for the default configuration, written out by hand: the exported
    // name, its shape, the Burn parameter's values in Burn's layout, and whether the file holds
    // them transposed.
    let conv = |p: &reid_explorer::model::network::ConvParams| {
        (values(p.weight.val()), values(p.bias.val()))
    };
    let (c1w, c1b) = conv(&net.conv1);
    let (c2w, c2b) = conv(&net.conv2);
    let (h1w, h1b) = conv(&net.head_conv1);
    let (h3w, h3b) = conv(&net.head_conv3);
    let (f1w, f1b) = (values(net.fc1.weight.val()), values(net.fc1.bias.val()));
    let (f2w, f2b) = (values(net.fc2.weight.val()), values(net.fc2.bias.val()));
    let expected: Vec<(&str, Vec<usize>, &Vec<f32>, bool)> = vec![
        ("conv1.weight", vec![20, 3, 5, 5], &c1w, false),
        ("conv1.bias", vec![20], &c1b, false),
        ("conv2.weight", vec![25, 20, 5, 5], &c2w, false),
        ("conv2.bias", vec![25], &c2b, false),
        ("head1.weight", vec![25, 1500, 1, 1], &h1w, false),
        ("head1.bias", vec![25], &h1b, false),
        ("head3.weight", vec![25, 25, 3, 3], &h3w, false),
        ("head3.bias", vec![25], &h3b, false),
        ("fc1.weight", vec![500, 2125], &f1w, true),
        ("fc1.bias", vec![500], &f1b, false),
        ("fc2.weight", vec![2, 500], &f2w, true),
        ("fc2.bias", vec![2], &f2b, false),
    ];
    let mut names = st.names();
    names.sort_unstable();
    let mut want: Vec<&str> = expected.iter().map(|e| e.0).collect();
    want.sort_unstable();
    assert_eq!(names, want, "exactly the documented tensors");
    for (name, shape, burn, transposed) in &expected {
        let view = st.tensor(name).expect(name);
        assert_eq!(view.dtype(), Dtype::F32, "{name}");
        assert_eq!(view.shape(), shape.as_slice(), "{name}");
        let got = floats(&view);
        assert_eq!(got.len(), burn.len(), "{name}");
        if *transposed {
            // File [out, in] row-major; Burn [in, out] row-major.
            let (out_n, in_n) = (shape[0], shape[1]);
            for o in 0..out_n {
                for i in 0..in_n {
                    assert_eq!(got[o * in_n + i], burn[i * out_n + o], "{name}[{o}, {i}]");
                }
            }
        } else {
            assert_eq!(&got, *burn, "{name}");
        }
        assert!(got.iter().any(|v| *v != 0.0), "{name} is not all zeros");
    }
    let (_, meta) = SafeTensors::read_metadata(&bytes).expect("metadata");
    let meta = meta.metadata().clone().expect("metadata present");
    assert_eq!(meta.get(META_FORMAT).map(String::as_str), Some("pt"));
    let back: ModelConfig =
        serde_json::from_str(meta.get(META_CONFIG).expect("config")).expect("config parses");
    assert_eq!(back, cfg);
}

#[test]
fn bad_model_folders_and_unwritable_files_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-model-here");
    let out = export(&missing, &tmp.path().join("w.safetensors"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-model-here"), "{err}");
    assert!(!tmp.path().join("w.safetensors").exists());

    let (dir, _, _) = model(tmp.path());
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, b"x").expect("write");
    let out = export(&dir, &blocker.join("w.safetensors"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a-file/w.safetensors"), "{err}");
}

/// `python3` when it runs, else None (the test skips with the reason printed).
fn python3() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip("REQUIRE_PYTHON", "no python3 on PATH");
    }
    ok.then_some("python3")
}

fn loader() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load_safetensors.py")
}

/// Rewrite a safetensors file with tensor `from` renamed `to` and `reshape` applied to its
/// shape (same values).
fn rewritten(bytes: &[u8], from: &str, to: &str, reshape: Option<Vec<usize>>) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).expect("parse");
    let (_, meta) = SafeTensors::read_metadata(bytes).expect("metadata");
    let tensors: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            if name == from {
                let shape = reshape.clone().unwrap_or_else(|| view.shape().to_vec());
                let v = TensorView::new(view.dtype(), shape, view.data()).expect("view");
                (to.to_string(), v)
            } else {
                (name, view)
            }
        })
        .collect();
    safetensors::tensor::serialize(tensors, meta.metadata().clone()).expect("serialize")
}

#[test]
fn the_python_loader_expects_the_names_rust_writes() {
    let Some(python) = python3() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _, _) = model(tmp.path());
    let file = tmp.path().join("w.safetensors");
    succeeded(export(&dir, &file));
    let check = |f: &Path| {
        Command::new(python)
            .arg(loader())
            .arg("--check-names")
            .arg(f)
            .output()
            .expect("run python3")
    };
    let out = succeeded(check(&file));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("names and shapes as expected"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The check can fail: a Burn name instead of the PyTorch one, and an untransposed matrix.
    let bytes = std::fs::read(&file).expect("read");
    let renamed = tmp.path().join("renamed.safetensors");
    std::fs::write(
        &renamed,
        rewritten(&bytes, "head1.weight", "head_conv1.weight", None),
    )
    .expect("write");
    let out = check(&renamed);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("missing tensor head1.weight")
            && err.contains("unexpected tensor head_conv1.weight"),
        "{err}"
    );
    let untransposed = tmp.path().join("untransposed.safetensors");
    std::fs::write(
        &untransposed,
        rewritten(&bytes, "fc1.weight", "fc1.weight", Some(vec![2125, 500])),
    )
    .expect("write");
    let out = check(&untransposed);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("fc1.weight: shape [2125, 500], expected [500, 2125]"),
        "{err}"
    );
}

fn slices(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(Vec::as_slice).collect()
}

/// A Python with torch: `$REID_PYTHON`, else python3; None (with the reason printed) when it
/// cannot import torch.
fn python_with_torch() -> Option<PathBuf> {
    let python = std::env::var_os("REID_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&python)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip(
            "REQUIRE_TORCH",
            &format!(
                "{} cannot import torch (set REID_PYTHON to a Python that can)",
                python.display()
            ),
        );
    }
    ok.then_some(python)
}

#[test]
fn pytorch_filled_from_the_file_gives_the_same_p_same() {
    let Some(python) = python_with_torch() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model_dir = root.join("models/synthetic");
    let sample = root.join("assets/sample");
    let dev = Device::flex();
    let (cfg, net) = load_model(&model_dir, &dev).expect("the shipped synthetic model");
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("synthetic.safetensors");
    succeeded(export(&model_dir, &file));

    // Queries against gallery images: same and different identities.
    let list = |d: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(sample.join(d))
            .expect("sample")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
        v.sort();
        v
    };
    let (queries, gallery) = (list("query"), list("bounding_box_test"));
    let pairs: Vec<(&PathBuf, &PathBuf)> = queries
        .iter()
        .take(3)
        .flat_map(|q| gallery.iter().take(4).map(move |g| (q, g)))
        .collect();
    let input = |p: &Path| reid_explorer::data::load_input(p, &cfg.normalization).expect("image");
    let a: Vec<Vec<f32>> = pairs.iter().map(|(q, _)| input(q)).collect();
    let b: Vec<Vec<f32>> = pairs.iter().map(|(_, g)| input(g)).collect();
    let rust = pair_probabilities(&net, &slices(&a), &slices(&b), &dev).expect("forward");

    // The same inputs for Python: "a" and "b", [B, 3, 160, 60].
    let flat = |v: &[Vec<f32>]| -> Vec<u8> {
        v.iter()
            .flat_map(|x| x.iter().flat_map(|f| f.to_le_bytes()))
            .collect()
    };
    let (fa, fb) = (flat(&a), flat(&b));
    let shape = vec![pairs.len(), 3, cfg.input_h, cfg.input_w];
    let views = vec![
        (
            "a",
            TensorView::new(Dtype::F32, shape.clone(), &fa).expect("a"),
        ),
        ("b", TensorView::new(Dtype::F32, shape, &fb).expect("b")),
    ];
    let inputs = tmp.path().join("pairs.safetensors");
    std::fs::write(
        &inputs,
        safetensors::tensor::serialize(views, None).expect("serialize"),
    )
    .expect("write");
    let out = succeeded(
        Command::new(&python)
            .arg(loader())
            .arg(&file)
            .arg("--pairs")
            .arg(&inputs)
            .output()
            .expect("run python"),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let py: Vec<f32> = json["p_same"]
        .as_array()
        .expect("p_same")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect();
    assert_eq!(py.len(), rust.len());
    for (i, (r, p)) in rust.iter().zip(&py).enumerate() {
        assert!((r - p).abs() < 1e-4, "pair {i}: Rust {r}, PyTorch {p}");
    }
    // The pairs are not all alike (the comparison means something).
    let spread = rust.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
        - rust.iter().cloned().fold(f32::INFINITY, f32::min);
    assert!(spread > 0.1, "{rust:?}");
    println!("p(same) Rust {rust:?}\np(same) PyTorch {py:?}");
}
