//! What the app remembers between runs (persisted with eframe's storage), kept apart from the
//! runtime state (jobs, textures, results) that lives in the views.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::protocol::TrainConfig;
use crate::viz::Colormap;

/// Key under which [`Persisted`] is stored.
pub const STORAGE_KEY: &str = "reid-explorer/state";

/// The embedded sample dataset (Market-style), relative to the current folder or the crate.
pub const SAMPLE_DATASET: &str = "assets/sample";

/// The fallback model when `models/cuhk03` is absent.
pub const SYNTHETIC_MODEL_DIR: &str = "models/synthetic";

/// How many recent entries each list keeps.
const RECENT: usize = 10;

/// The views (declared by the registry in `app/mod.rs`).
pub use super::Tab;

/// Dark or light visuals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

impl ThemeChoice {
    /// The other one.
    pub fn toggled(self) -> Self {
        match self {
            ThemeChoice::Dark => ThemeChoice::Light,
            ThemeChoice::Light => ThemeChoice::Dark,
        }
    }

    /// egui's theme.
    pub fn egui(self) -> eframe::egui::Theme {
        match self {
            ThemeChoice::Dark => eframe::egui::Theme::Dark,
            ThemeChoice::Light => eframe::egui::Theme::Light,
        }
    }
}

/// Everything saved between runs. Unknown or missing fields fall back to defaults, so an old
/// or damaged state never stops the app from starting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    pub tab: Tab,
    pub theme: ThemeChoice,
    /// Verdict threshold on p(same).
    pub threshold: f32,
    /// Colormap of feature maps and correlations.
    pub colormap: Colormap,
    /// Last model folder loaded.
    pub model_dir: Option<PathBuf>,
    /// Whether `model_dir` was the app's own choice ([`auto_model`]) rather than the user's: such
    /// a folder is chosen again for the data shown at the next start, not reused as a choice.
    pub model_auto: bool,
    /// Last dataset opened.
    pub dataset_dir: Option<PathBuf>,
    /// Recently opened image files, newest first.
    pub recent_files: Vec<PathBuf>,
    /// Recently opened dataset / gallery folders, newest first.
    pub recent_folders: Vec<PathBuf>,
    /// Recently loaded model folders, newest first.
    pub recent_models: Vec<PathBuf>,
    /// The training form.
    pub train: TrainConfig,
    /// Loss smoothing of the training plot (EMA weight of the newest value).
    pub ema_alpha: f32,
}

impl Default for Persisted {
    fn default() -> Self {
        let train = TrainConfig {
            dataset: resolve(SAMPLE_DATASET),
            ..TrainConfig::default()
        };
        Self {
            tab: Tab::default(),
            theme: ThemeChoice::default(),
            threshold: 0.5,
            colormap: Colormap::Viridis,
            model_dir: None,
            model_auto: false,
            dataset_dir: None,
            recent_files: Vec::new(),
            recent_folders: Vec::new(),
            recent_models: Vec::new(),
            train,
            ema_alpha: 0.05,
        }
    }
}

impl Persisted {
    /// Read from eframe's storage (defaults when absent or unreadable).
    pub fn load(storage: Option<&dyn eframe::Storage>) -> Self {
        let mut p: Persisted = storage
            .and_then(|s| eframe::get_value(s, STORAGE_KEY))
            .unwrap_or_default();
        p.sanitize();
        p
    }

    /// Write to eframe's storage.
    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, self);
    }

    /// Clamp values a hand-edited or old state could carry.
    fn sanitize(&mut self) {
        if !self.threshold.is_finite() {
            self.threshold = 0.5;
        }
        self.threshold = self.threshold.clamp(0.0, 1.0);
        if !(self.ema_alpha.is_finite() && self.ema_alpha > 0.0 && self.ema_alpha <= 1.0) {
            self.ema_alpha = 0.05;
        }
        for list in [
            &mut self.recent_files,
            &mut self.recent_folders,
            &mut self.recent_models,
        ] {
            list.truncate(RECENT);
        }
    }

    /// The model folder the user chose last (`None` when it is gone, or was the app's own
    /// choice: then [`auto_model`] picks again).
    pub fn chosen_model(&self) -> Option<PathBuf> {
        self.model_dir
            .clone()
            .filter(|d| !self.model_auto && d.exists())
    }

    /// Remember an image file.
    pub fn remember_file(&mut self, path: &Path) {
        push_recent(&mut self.recent_files, path);
    }

    /// Remember a folder (dataset or gallery).
    pub fn remember_folder(&mut self, path: &Path) {
        push_recent(&mut self.recent_folders, path);
    }

    /// Remember a model folder.
    pub fn remember_model(&mut self, path: &Path) {
        push_recent(&mut self.recent_models, path);
    }
}

/// Put `path` first in `list`, without duplicates, keeping at most `RECENT` entries.
pub fn push_recent(list: &mut Vec<PathBuf>, path: &Path) {
    list.retain(|p| p != path);
    list.insert(0, path.to_path_buf());
    list.truncate(RECENT);
}

pub use crate::bundled_path as resolve;

/// A model the app picked by itself for the data it shows, and why (for the model picker's
/// tooltip and the status bar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoModel {
    pub dir: PathBuf,
    pub why: &'static str,
}

/// The model that suits `dataset` when the user has chosen none: on the embedded synthetic
/// sample `models/synthetic` (trained on such drawn people), on any other data `models/cuhk03`
/// (trained on photographs); the other one when the suitable one is absent; `None` when neither
/// is there.
pub fn auto_model(dataset: Option<&Path>) -> Option<AutoModel> {
    auto_model_among(
        dataset,
        &resolve(SAMPLE_DATASET),
        &resolve(crate::model::DEFAULT_MODEL_DIR),
        &resolve(SYNTHETIC_MODEL_DIR),
    )
}

/// Whether two paths name the same folder (symbolic links and `..` resolved when they exist).
fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// [`auto_model`] with the sample and the two model folders given.
fn auto_model_among(
    dataset: Option<&Path>,
    sample: &Path,
    real: &Path,
    synthetic: &Path,
) -> Option<AutoModel> {
    let on_sample = dataset.is_some_and(|d| same_folder(d, sample));
    let pick = |dir: &Path, why| {
        dir.exists().then(|| AutoModel {
            dir: dir.to_path_buf(),
            why,
        })
    };
    if on_sample {
        pick(synthetic, "synthetic model: suits the embedded sample").or_else(|| {
            pick(
                real,
                "CUHK03 model (models/synthetic, which suits the embedded sample, is absent)",
            )
        })
    } else {
        pick(real, "CUHK03 model: suits real photographs").or_else(|| {
            pick(
                synthetic,
                "synthetic model (models/cuhk03, which suits real photographs, is absent)",
            )
        })
    }
}

/// The sample dataset, if it is there.
pub fn sample_dataset_dir() -> Option<PathBuf> {
    Some(resolve(SAMPLE_DATASET)).filter(|p| p.exists())
}

/// A short form of a path for labels: the last `n` components.
pub fn short_path(path: &Path, n: usize) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.len() <= n {
        return path.display().to_string();
    }
    format!("…/{}", parts[parts.len() - n..].join("/"))
}

/// The file name of a path, for compact labels.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_lists_are_deduplicated_and_bounded() {
        let mut list = Vec::new();
        for i in 0..15 {
            push_recent(&mut list, Path::new(&format!("/x/{i}")));
        }
        push_recent(&mut list, Path::new("/x/10"));
        assert_eq!(list.len(), RECENT);
        assert_eq!(list[0], PathBuf::from("/x/10"));
        assert_eq!(
            list.iter()
                .filter(|p| p.as_path() == Path::new("/x/10"))
                .count(),
            1
        );
    }

    #[test]
    fn tab_labels_are_readable() {
        let labels: Vec<String> = Tab::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            labels,
            [
                "Compare",
                "Gallery",
                "Feature maps",
                "Correlation",
                "Training",
                "Evaluation"
            ]
        );
    }

    #[test]
    fn the_automatic_model_suits_the_data_shown() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = |n: &str| {
            let d = tmp.path().join(n);
            std::fs::create_dir_all(&d).expect("mkdir");
            d
        };
        let (sample, real, synthetic) = (dir("sample"), dir("cuhk03"), dir("synthetic"));
        let other = dir("market");
        let pick = |ds: Option<&Path>| auto_model_among(ds, &sample, &real, &synthetic);
        let on_sample = pick(Some(&sample)).expect("a model");
        assert_eq!(on_sample.dir, synthetic);
        assert_eq!(on_sample.why, "synthetic model: suits the embedded sample");
        // The sample reached by another path is still the sample.
        let again = tmp.path().join("market/../sample");
        assert_eq!(pick(Some(&again)).expect("a model").dir, synthetic);
        assert_eq!(pick(Some(&other)).expect("a model").dir, real);
        assert_eq!(pick(None).expect("a model").dir, real);
        // The suitable one absent: the other, saying so.
        std::fs::remove_dir(&synthetic).expect("rm");
        let fallback = pick(Some(&sample)).expect("a model");
        assert_eq!(fallback.dir, real);
        assert!(fallback.why.contains("absent"), "{}", fallback.why);
        std::fs::remove_dir(&real).expect("rm");
        assert_eq!(pick(Some(&sample)), None);
    }

    #[test]
    fn only_a_model_the_user_chose_is_reused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut p = Persisted {
            model_dir: Some(tmp.path().to_path_buf()),
            ..Persisted::default()
        };
        assert_eq!(p.chosen_model(), Some(tmp.path().to_path_buf()));
        p.model_auto = true;
        assert_eq!(p.chosen_model(), None);
        p.model_auto = false;
        p.model_dir = Some(tmp.path().join("gone"));
        assert_eq!(p.chosen_model(), None);
    }

    #[test]
    fn damaged_state_is_sanitized() {
        let mut p = Persisted {
            threshold: f32::NAN,
            ema_alpha: 7.0,
            ..Persisted::default()
        };
        p.sanitize();
        assert_eq!(p.threshold, 0.5);
        assert_eq!(p.ema_alpha, 0.05);
    }

    #[test]
    fn old_state_with_missing_fields_loads() {
        let p: Persisted =
            serde_json::from_str(r#"{"tab":"Gallery","threshold":0.7}"#).unwrap_or_default();
        assert_eq!(p.tab, Tab::Gallery);
        assert_eq!(p.threshold, 0.7);
        assert_eq!(p.colormap, Colormap::Viridis);
    }
}
