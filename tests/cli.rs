//! The command line on real files: compare, trace, bad input.

mod common;

use common::succeeded;

use std::path::Path;
use std::process::Command;

use burn::tensor::Device;
use common::write_person;
use reid_explorer::model::{ModelConfig, XCorrNet, save_model};

fn bin() -> Command {
    common::reid_command()
}

fn model_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("model");
    let cfg = ModelConfig::default();
    let net = XCorrNet::init(&cfg, 42, &Device::flex()).expect("init");
    save_model(&dir, &cfg, &net).expect("save");
    dir
}

#[test]
fn compare_prints_json_with_a_probability() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = model_dir(tmp.path());
    let a = tmp.path().join("a.png");
    let b = tmp.path().join("b.jpg");
    write_person(&a, 1, 64, 128);
    write_person(&b, 2, 50, 150);
    let out = bin()
        .args(["compare", "--json", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run");
    let out = succeeded(out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let p = v["p_same"].as_f64().expect("p_same");
    assert!((0.0..=1.0).contains(&p));
    assert!(v["backend"].as_str().expect("backend").starts_with("cpu"));
    assert!(v["millis"].as_f64().expect("millis") > 0.0);
    assert_eq!(
        v["model"].as_str().expect("model"),
        model.display().to_string()
    );

    // The same pair through the library gives the same number.
    let cfg = ModelConfig::default();
    let net = XCorrNet::init(&cfg, 42, &Device::flex()).expect("init");
    let ia = reid_explorer::data::load_input(&a, &cfg.normalization).expect("a");
    let ib = reid_explorer::data::load_input(&b, &cfg.normalization).expect("b");
    let lib =
        reid_explorer::model::infer::pair_probabilities(&net, &[&ia], &[&ib], &Device::flex())
            .expect("fwd");
    assert!((lib[0] as f64 - p).abs() < 1e-6);
}

#[test]
fn trace_writes_npy_files_and_an_index() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = model_dir(tmp.path());
    let a = tmp.path().join("a.png");
    let b = tmp.path().join("b.png");
    write_person(&a, 3, 64, 128);
    write_person(&b, 4, 64, 128);
    let out_dir = tmp.path().join("trace");
    let out = bin()
        .args(["trace", "--backend", "cpu", "--model"])
        .arg(&model)
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("run");
    succeeded(out);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("index.json")).expect("index"))
            .expect("json");
    let entries = index.as_array().expect("list");
    assert_eq!(entries.len(), 17);
    let find = |name: &str, branch: &str| {
        entries
            .iter()
            .find(|e| e["name"] == name && e["branch"] == branch)
            .unwrap_or_else(|| panic!("{branch}/{name} missing"))
    };
    let xc = find("xcorr", "pair");
    assert_eq!(xc["shape"], serde_json::json!([1500, 37, 12]));
    let bytes = std::fs::read(out_dir.join(xc["file"].as_str().expect("file"))).expect("npy");
    let (data, shape) = reid_explorer::npy::decode_f32(&bytes).expect("decode");
    assert_eq!(shape, vec![1500, 37, 12]);
    assert!(data.iter().all(|v| v.abs() <= 1.0 + 1e-5));
    let probs = find("probs", "pair");
    let (p, _) = reid_explorer::npy::decode_f32(
        &std::fs::read(out_dir.join(probs["file"].as_str().expect("file"))).expect("npy"),
    )
    .expect("decode");
    assert!((p[0] + p[1] - 1.0).abs() < 1e-5);
    for branch in ["a", "b"] {
        for name in ["input", "conv1", "pool1", "conv2", "pool2"] {
            find(name, branch);
        }
    }
}

#[test]
fn bad_input_gives_one_clear_line_and_nonzero_exit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = model_dir(tmp.path());
    let good = tmp.path().join("good.png");
    write_person(&good, 5, 64, 128);
    let text = tmp.path().join("notes.jpg");
    std::fs::write(&text, "this is not an image").expect("write");

    let run = |args: &[&std::ffi::OsStr]| {
        let out = bin().args(args).output().expect("run");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        err
    };
    let err = run(&[
        "compare".as_ref(),
        "--backend".as_ref(),
        "cpu".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        good.as_os_str(),
        text.as_os_str(),
    ]);
    assert!(
        err.contains("notes.jpg") && err.contains("not a recognised image format"),
        "{err}"
    );
    let missing = tmp.path().join("missing.png");
    let err = run(&[
        "compare".as_ref(),
        "--backend".as_ref(),
        "cpu".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        good.as_os_str(),
        missing.as_os_str(),
    ]);
    assert!(err.contains("missing.png"), "{err}");
    let no_model = tmp.path().join("no-model");
    let err = run(&[
        "compare".as_ref(),
        "--backend".as_ref(),
        "cpu".as_ref(),
        "--model".as_ref(),
        no_model.as_os_str(),
        good.as_os_str(),
        good.as_os_str(),
    ]);
    assert!(
        err.contains("no-model") && err.contains("no model here"),
        "{err}"
    );
}

#[test]
fn eval_and_rank_on_a_generated_dataset() {
    use reid_explorer::data::synth::{SynthConfig, generate};
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = model_dir(tmp.path());
    let data = tmp.path().join("people");
    let cfg = SynthConfig {
        identities: 8,
        seed: 5,
        cameras: 3,
        cameras_per_identity: (2, 2),
        images_per_camera: (2, 2),
    };
    generate(&data, &cfg, &|_, _| {}).expect("synth");
    for protocol in ["standard", "single-shot"] {
        let out = bin()
            .args([
                "eval",
                "--json",
                "--backend",
                "cpu",
                "--protocol",
                protocol,
                "--model",
            ])
            .arg(&model)
            .arg("--dataset")
            .arg(&data)
            .output()
            .expect("run");
        let out = succeeded(out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        for key in ["rank1", "rank5", "rank10", "rank20", "mAP"] {
            let x = v[key].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&x), "{key} = {x}");
        }
        assert!(v["rank1"].as_f64() <= v["rank5"].as_f64());
        assert_eq!(v["protocol"], protocol);
        assert!(v["queries"].as_u64().expect("queries") > 0);
        assert!(v["gallery"].as_u64().expect("gallery") > 0);
        assert_eq!(
            v["model"].as_str().expect("model"),
            model.display().to_string()
        );
    }
    let query = std::fs::read_dir(data.join("query"))
        .expect("query")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    let csv = tmp.path().join("ranking.csv");
    let out = bin()
        .args(["rank", "--backend", "cpu", "--top", "3", "--model"])
        .arg(&model)
        .arg("--query")
        .arg(&query)
        .arg("--gallery")
        .arg(&data)
        .arg("--csv")
        .arg(&csv)
        .output()
        .expect("run");
    succeeded(out);
    let text = std::fs::read_to_string(&csv).expect("csv");
    let gallery = std::fs::read_dir(data.join("bounding_box_test"))
        .expect("gallery")
        .count();
    assert_eq!(
        text.lines().count(),
        gallery + 1,
        "header + one line per gallery image"
    );
    let scores: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).expect("score").parse().expect("number"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ranked best first");
    assert!(
        text.lines().skip(1).any(|l| l.ends_with(",true")),
        "the query's identity is in the gallery"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_training_with_a_checkpoint_that_resumes() {
    use reid_explorer::data::synth::{SynthConfig, generate};
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("people");
    let cfg = SynthConfig {
        identities: 6,
        seed: 9,
        cameras: 2,
        cameras_per_identity: (2, 2),
        images_per_camera: (2, 2),
    };
    generate(&data, &cfg, &|_, _| {}).expect("synth");
    let out = tmp.path().join("run");
    let mut child = bin()
        .args(["train", "--json", "--backend", "cpu", "--batch-size", "4"])
        .args([
            "--lr",
            "0.01",
            "--epochs",
            "1000",
            "--checkpoint-every",
            "100000",
        ])
        .args(["--validate-every", "100000", "--val-fraction", "0"])
        .arg("--dataset")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn train");
    // The child's output is read on threads and waited on with a deadline: a run that hangs
    // fails the test instead of blocking it forever.
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    // The next line, None at the end of the output; kills the child and fails past the deadline.
    let next_line = |child: &mut std::process::Child| -> Option<String> {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => Some(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("train did not finish within 300 s");
            }
        }
    };
    // Wait for two steps, then press Ctrl-C.
    let mut steps = 0;
    while let Some(line) = next_line(&mut child) {
        if line.contains("\"event\":\"step\"") {
            steps += 1;
            if steps == 2 {
                break;
            }
        }
    }
    assert_eq!(steps, 2, "training printed no steps");
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let mut rest = Vec::new();
    while let Some(line) = next_line(&mut child) {
        rest.push(line);
    }
    let status = child.wait().expect("wait");
    let errors = errors.join().unwrap_or_default();
    assert!(status.success(), "exit status {status:?}: {errors}");
    let cancelled = rest
        .iter()
        .find(|l| l.contains("\"event\":\"cancelled\""))
        .unwrap_or_else(|| panic!("no cancelled event in {rest:?}"));
    let step: u64 = serde_json::from_str::<serde_json::Value>(cancelled).expect("json")["step"]
        .as_u64()
        .expect("step");
    assert!(step >= 2);
    // The checkpoint holds that step, and --resume continues from it.
    let ck = reid_explorer::train::checkpoint::read_checkpoint(&out, &Device::flex())
        .expect("checkpoint written on Ctrl-C");
    assert_eq!(ck.state.step, step);
    let resumed = succeeded(
        bin()
            .args([
                "train",
                "--json",
                "--backend",
                "cpu",
                "--resume",
                "--max-steps",
            ])
            .arg((step + 1).to_string())
            .arg("--dataset")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("resume"),
    );
    let text = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        text.contains(&format!("\"start_step\":{step}")),
        "resume did not start at {step}: {text}"
    );
}
