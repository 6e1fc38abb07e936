//! The model the app opens with when the user has chosen none: on the embedded synthetic
//! sample the synthetic model, on other data the CUHK03 model; the model picker's tooltip
//! says why. Drives the real `ExplorerApp` headless through egui_kittest.

mod common;

use common::gui::{TIMEOUT, app, wait_for};

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use reid_explorer::app::ExplorerApp;

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
    let mut h = app(None, reid_explorer::bundled_path("assets/sample"), None);
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
    let mut h = app(None, data, None);
    opens_with(
        &mut h,
        "models/cuhk03",
        "CUHK03 model: suits real photographs",
    );
}
