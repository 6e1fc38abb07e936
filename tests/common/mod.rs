//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod gui;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Whether the environment variable `name` asks for something (set, not empty, not "0").
pub fn required(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The skip policy of every test that needs something outside the repository. On a developer's
/// machine the test skips: the reason goes straight to the process's stdout, so it shows in
/// `cargo test` output even when the test passes (println! would be captured with the test's
/// output and hidden). When `var` is set (CI sets `REQUIRE_SHARED=1`, `REQUIRE_GPU=1`,
/// `REQUIRE_DISPLAY=1`), a skip is a failure: this panics with the reason.
pub fn skip(var: &str, reason: &str) {
    if required(var) {
        panic!("{reason}; {var} is set, so this test may not skip");
    }
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "skipped {test}: {reason} (set {var}=1 to make this a failure)"
    );
    let _ = out.flush();
}

/// `../shared` beside the checkout, or `$REID_SHARED_DIR`, whether or not it exists.
pub fn shared_root() -> PathBuf {
    std::env::var_os("REID_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// The shared folder, if present (no skip policy: see [`shared_path`]).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = shared_root();
    dir.exists().then_some(dir)
}

/// `relative` inside the shared folder (e.g. `data/cuhk03`, `golden`) when it exists; else the
/// test skips with the reason printed, or fails under `REQUIRE_SHARED` (see [`skip`]).
pub fn shared_path(relative: &str) -> Option<PathBuf> {
    let path = shared_root().join(relative);
    if path.exists() {
        return Some(path);
    }
    skip(
        "REQUIRE_SHARED",
        &format!(
            "{} is absent (research data kept outside the repository: ../shared beside the \
             checkout, or $REID_SHARED_DIR)",
            path.display()
        ),
    );
    None
}

/// A golden case: (x, y, out, x dims).
pub struct Golden {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub out: Vec<f32>,
    pub dims: [usize; 4],
    pub out_dims: [usize; 4],
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_shape(path: &Path) -> [usize; 4] {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let s: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    [s[0], s[1], s[2], s[3]]
}

/// Load a golden case, or print why it is skipped and return None.
pub fn golden(case: &str) -> Option<Golden> {
    // Golden vectors are not shipped with the repository.
    let dir = shared_path("golden")?;
    let p = |suffix: &str, ext: &str| dir.join(format!("{case}_{suffix}.{ext}"));
    Some(Golden {
        x: read_f32(&p("x", "f32")),
        y: read_f32(&p("y", "f32")),
        out: read_f32(&p("out", "f32")),
        dims: read_shape(&p("x", "json")),
        out_dims: read_shape(&p("out", "json")),
    })
}

/// Relative L2 error ||a - b|| / ||b||.
pub fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

/// Largest absolute difference.
pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Seeded normal-ish random values in [-2, 2).
pub fn random_values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

/// Random input with edge cases: channel 0 all zero, last channel constant in rows 1..=3.
pub fn edgy_input(dims: [usize; 4], seed: u64) -> Vec<f32> {
    let [b, c, h, w] = dims;
    let mut v = random_values(b * c * h * w, seed);
    for bi in 0..b {
        let base = bi * c * h * w;
        for i in 0..h * w {
            v[base + i] = 0.0;
        }
        let last = base + (c - 1) * h * w;
        for row in 1..4.min(h) {
            for col in 0..w {
                v[last + row * w + col] = 0.75;
            }
        }
    }
    v
}

pub fn tensor4(data: Vec<f32>, dims: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(data, dims), device)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().expect("read back")
}

/// A wgpu device when an adapter exists (software adapters included), else None: the test
/// skips with the reason printed, or fails under `REQUIRE_GPU` (see [`skip`]).
pub fn gpu_device() -> Option<Device> {
    match reid_explorer::backend::select(reid_explorer::backend::BackendChoice::Gpu) {
        Ok(d) => {
            eprintln!("gpu path on {}", d.description);
            Some(d.device)
        }
        Err(e) => {
            skip("REQUIRE_GPU", &format!("no wgpu adapter: {e}"));
            None
        }
    }
}

/// Write a test image (a coloured figure on a background) as PNG or JPEG.
pub fn write_person(path: &Path, seed: u64, width: u32, height: u32) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shirt = [rng.random::<u8>(), rng.random::<u8>(), rng.random::<u8>()];
    let legs = [rng.random::<u8>(), rng.random::<u8>(), rng.random::<u8>()];
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let cx = (x as f32 / width as f32 - 0.5).abs();
        let fy = y as f32 / height as f32;
        if cx < 0.2 && fy > 0.2 && fy < 0.55 {
            image::Rgb(shirt)
        } else if cx < 0.15 && fy >= 0.55 {
            image::Rgb(legs)
        } else if cx < 0.08 && fy <= 0.2 && fy > 0.05 {
            image::Rgb([220, 180, 150])
        } else {
            image::Rgb([(x * 3) as u8, (y * 2) as u8, 90])
        }
    });
    img.save(path).expect("write test image");
}

/// The `reid-explorer` binary as a command, with the user cache folder (where the gallery
/// feature cache lives by default) redirected under cargo's per-target temporary folder, so
/// that tests never fill the real `~/.cache` (each temporary dataset would leave a file there).
pub fn reid_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reid-explorer"));
    cmd.env(
        "XDG_CACHE_HOME",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache"),
    );
    cmd
}

/// `out` when its command succeeded; otherwise the test fails with the command's stderr.
pub fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
