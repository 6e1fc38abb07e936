//! The GUI tests' shared harness: a tiny model and synthetic dataset, the real `ExplorerApp`
//! driven headless by egui_kittest, and waits that end on the awaited label.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{AccessKitNode, NodeT, Queryable};
use reid_explorer::app::{AppOptions, ExplorerApp, Tab};
use reid_explorer::backend::BackendChoice;
use reid_explorer::data::synth::{SynthConfig, generate};
use reid_explorer::model::{ModelConfig, XCorrNet, save_model};
use reid_explorer::protocol::TrainConfig;

/// How long a test waits for the workers: a generous bound for a loaded runner (the waits end
/// on the awaited label, so a fast machine never waits this long).
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// A randomly initialised model and an 8-identity synthetic dataset in a temporary folder.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub model: PathBuf,
    pub dataset: PathBuf,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = dir.path().join("model");
    let config = ModelConfig::default();
    let net = XCorrNet::init(&config, 7, &Device::flex()).expect("init");
    save_model(&model, &config, &net).expect("save model");
    let dataset = dir.path().join("data");
    let synth = SynthConfig {
        identities: 8,
        seed: 3,
        cameras: 2,
        cameras_per_identity: (2, 2),
        images_per_camera: (2, 2),
    };
    generate(&dataset, &synth, &|_, _| {}).expect("synthetic dataset");
    Fixture {
        dir,
        model,
        dataset,
    }
}

/// The app on the CPU with `model` (None: the app's own choice) and `dataset`, no persisted
/// state, and `train` in the training form when given.
pub fn app(
    model: Option<PathBuf>,
    dataset: PathBuf,
    train: Option<TrainConfig>,
) -> Harness<'static, ExplorerApp> {
    let options = AppOptions {
        backend: BackendChoice::Cpu,
        model_dir: model,
        dataset_dir: Some(dataset),
        use_storage: false,
        train,
    };
    Harness::builder()
        .with_size([1500.0, 950.0])
        .build_eframe(move |cc| ExplorerApp::new(cc, options))
}

/// A node's text: its label, or for a plain label its value (AccessKit keeps a label's text
/// there).
pub fn text_of(n: &AccessKitNode<'_>) -> Option<String> {
    if n.role() == Role::Label {
        n.value()
    } else {
        n.label()
    }
}

/// The text of the first node whose label contains `text`.
pub fn label_containing(h: &Harness<'_, ExplorerApp>, text: &str) -> Option<String> {
    h.query_all_by_label_contains(text)
        .next()
        .and_then(|n| text_of(&n.accesskit_node()))
}

/// Step frames until a node whose label contains `text` shows up; its text.
pub fn wait_for(h: &mut Harness<'_, ExplorerApp>, text: &str) -> String {
    let start = Instant::now();
    loop {
        h.step();
        if let Some(label) = label_containing(h, text) {
            return label;
        }
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {text:?}");
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Step frames until no node's label contains `text`. No sleep between frames: the worker's
/// next answer may follow within milliseconds.
pub fn wait_gone(h: &mut Harness<'_, ExplorerApp>, text: &str) {
    let start = Instant::now();
    loop {
        h.step();
        if h.query_all_by_label_contains(text).next().is_none() {
            return;
        }
        assert!(start.elapsed() < TIMEOUT, "{text:?} did not go away");
    }
}

/// Click the tab labelled `tab` and check the app switched to it.
pub fn click_tab(h: &mut Harness<'_, ExplorerApp>, tab: Tab) {
    h.get_by_label(&tab.to_string()).click();
    h.step();
    h.step();
    assert_eq!(h.state().tab(), tab);
}

/// A file "dropped" on the window (egui's `DroppedFile` for a path on disk).
#[derive(Debug)]
pub struct Dropped(pub PathBuf);

impl eframe::egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}
