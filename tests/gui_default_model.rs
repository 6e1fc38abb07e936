//! The model the app opens with when the user has chosen none: on the embedded synthetic
//! sample the synthetic model, on other data the CUHK03 model; the model picker's tooltip
//! says why. Drives the real `ExplorerApp` headless through egui_kittest.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use reid_explorer::app::{AppOptions, ExplorerApp};
use reid_explorer::backend::BackendChoice;

const TIMEOUT: Duration = Duration::from_secs(120);

fn app_on(dataset: PathBuf) -> Harness<'static, ExplorerApp> {
    let options = AppOptions {
        backend: BackendChoice::Cpu,
        model_dir: None,
        dataset_dir: Some(dataset),
        use_storage: false,
        train: None,
    };
    Harness::builder()
        .with_size([1500.0, 950.0])
        .build_eframe(move |cc| ExplorerApp::new(cc, options))
}

fn wait_for(h: &mut Harness<'_, ExplorerApp>, text: &str) {
    let start = Instant::now();
    loop {
        h.step();
        if h.query_all_by_label_contains(text).next().is_some() {
            return;
        }
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {text:?}");
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// The app loads `dir` by itself and says `why` in the model picker's tooltip (the folder, then
/// the reason on the next line). The status bar says it too when the model has loaded, but
/// later notes (the dataset scan) may replace that one, so only the tooltip is checked.
fn opens_with(h: &mut Harness<'_, ExplorerApp>, dir: &str, why: &str) {
    let picker = format!("model: {dir}");
    let start = Instant::now();
    // The picker without "(loading…)": the model is loaded.
    while h.query_all_by_label(&picker).next().is_none() {
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out waiting for {picker:?}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
    h.get_by_label(&picker).hover();
    wait_for(h, &format!("{dir}\n{why}"));
}

#[test]
fn on_the_embedded_sample_the_app_opens_the_synthetic_model() {
    let mut h = app_on(reid_explorer::bundled_path("assets/sample"));
    opens_with(
        &mut h,
        "models/synthetic",
        "synthetic model: suits the embedded sample",
    );
}

#[test]
fn on_other_data_the_app_opens_the_cuhk03_model() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("photos");
    std::fs::create_dir_all(&data).expect("mkdir");
    common::write_person(&data.join("0001_c1s1_000001_00.png"), 1, 64, 128);
    common::write_person(&data.join("0001_c2s1_000002_00.png"), 2, 64, 128);
    let mut h = app_on(data);
    opens_with(
        &mut h,
        "models/cuhk03",
        "CUHK03 model: suits real photographs",
    );
}
