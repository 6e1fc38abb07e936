//! What the app remembers between runs (persisted with eframe's storage), kept apart from the
//! runtime state (jobs, textures, results) that lives in the views.

use std::fmt;
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

/// The five views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Tab {
    /// p(same) of two images.
    #[default]
    Compare,
    /// A query ranked against a gallery, CMC / mAP.
    Gallery,
    /// Every traced layer as channel grids.
    FeatureMaps,
    /// The normalized correlation of one position, explained.
    Correlation,
    /// Training runs with live plots.
    Training,
}

impl Tab {
    /// Every tab, in order (Ctrl+1 .. Ctrl+5).
    pub const ALL: [Tab; 5] = [
        Tab::Compare,
        Tab::Gallery,
        Tab::FeatureMaps,
        Tab::Correlation,
        Tab::Training,
    ];
}

impl fmt::Display for Tab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tab::Compare => "Compare",
            Tab::Gallery => "Gallery",
            Tab::FeatureMaps => "Feature maps",
            Tab::Correlation => "Correlation",
            Tab::Training => "Training",
        })
    }
}

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

/// Put `path` first in `list`, without duplicates, keeping at most [`RECENT`] entries.
pub fn push_recent(list: &mut Vec<PathBuf>, path: &Path) {
    list.retain(|p| p != path);
    list.insert(0, path.to_path_buf());
    list.truncate(RECENT);
}

pub use crate::bundled_path as resolve;

/// The default model folder: `models/cuhk03` if it exists, else `models/synthetic`; `None`
/// when neither is there.
pub fn default_model_dir() -> Option<PathBuf> {
    [crate::model::DEFAULT_MODEL_DIR, SYNTHETIC_MODEL_DIR]
        .into_iter()
        .map(resolve)
        .find(|p| p.exists())
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
                "Training"
            ]
        );
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
