//! Dataset layouts users already have, read into one list of [`Sample`]s.
//!
//! | layout | folders | labels |
//! |---|---|---|
//! | [`LayoutKind::Market`] (Market-1501, DukeMTMC-reID, CUHK03-NP) | `bounding_box_train`, `query`, `bounding_box_test`, or one folder of such names | `^(-?\d+)_c(\d+)`: identity (negative: junk, 0 distractor) and camera |
//! | [`LayoutKind::CamPair`] (VIPeR, PRID) | `cam_a/`, `cam_b/` (cameras 1 and 2), files or one folder per person | identity: the first number in the name |
//! | [`LayoutKind::PerIdentity`] | `<root>/<identity>/<image>` | identity from the folder, camera from a `cN` token |
//! | [`LayoutKind::Plain`] | images directly in the folder | none: a gallery to rank, no metrics |
//!
//! [`scan`] detects the layout (or takes a forced one), walks folders in sorted order, and validates
//! every file cheaply by content (`probe`). A bad file never aborts the scan: it goes to
//! [`Dataset::skipped`] with the reason; so does every entry beside a Market root's split
//! folders (`gt_bbox/`, `readme.txt`), which is not read. Names starting with `.` (`.DS_Store`,
//! `.git`) are ignored.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub mod names;
pub mod probe;
mod readers;

pub use names::{camera_token, first_number, parse_market};
pub use probe::{MIN_SIDE, probe};

/// Market-style split folder names, in the order they are read.
pub const MARKET_FOLDERS: [(&str, Split); 3] = [
    ("bounding_box_train", Split::Train),
    ("query", Split::Query),
    ("bounding_box_test", Split::Gallery),
];

/// How a dataset folder is organised.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    /// Market-1501 / DukeMTMC-reID / CUHK03-NP: `PPPP_cC...` names, optional split folders.
    Market,
    /// VIPeR / PRID: `cam_a/` and `cam_b/`.
    CamPair,
    /// One folder per identity.
    PerIdentity,
    /// A plain folder of unlabelled images.
    Plain,
}

impl fmt::Display for LayoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LayoutKind::Market => "market",
            LayoutKind::CamPair => "cam-pair",
            LayoutKind::PerIdentity => "per-identity",
            LayoutKind::Plain => "plain",
        })
    }
}

/// Which part of a dataset a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// Training images (`bounding_box_train`).
    Train,
    /// Query images (`query`).
    Query,
    /// Gallery images (`bounding_box_test`).
    Gallery,
    /// No split given by the layout (cam-pair, per-identity, plain, one Market-style folder).
    Unsplit,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Query => "query",
            Split::Gallery => "gallery",
            Split::Unsplit => "unsplit",
        })
    }
}

/// One image of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The image file.
    pub path: PathBuf,
    /// Identity label; `None` for unlabelled images, `Some(-1)` (any negative number) for
    /// Market junk, `Some(0)` for Market distractors.
    pub identity: Option<i64>,
    /// Camera id, when the layout or the name gives one.
    pub camera: Option<u32>,
    /// Which split the sample belongs to.
    pub split: Split,
}

impl Sample {
    /// Market-style junk (identity -1, or any negative identity: the same test as evaluation's,
    /// [`crate::eval::is_junk_identity`]): never used for training, left out of evaluation.
    pub fn is_junk(&self) -> bool {
        self.identity.is_some_and(crate::eval::is_junk_identity)
    }
}

/// A file that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file (or folder).
    pub path: PathBuf,
    /// Why it was skipped, without the path.
    pub reason: String,
}

/// Why a dataset folder could not be read as a whole. Always names the folder.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The folder does not exist.
    #[error("{}: folder does not exist", folder.display())]
    NotFound { folder: PathBuf },
    /// The path is a file, not a folder.
    #[error("{}: not a folder", folder.display())]
    NotAFolder { folder: PathBuf },
    /// Listing the folder failed. `error` is shown in the message and deliberately not a
    /// `source`, so a chained report does not print it twice.
    #[error("{}: cannot list folder: {error}", folder.display())]
    Unreadable {
        folder: PathBuf,
        error: std::io::Error,
    },
    /// Nothing in the folder.
    #[error("{}: folder is empty", folder.display())]
    Empty { folder: PathBuf },
    /// Files, but not one usable image.
    #[error("{}: no usable images ({skipped} files skipped; first: {first})", folder.display())]
    NoImages {
        folder: PathBuf,
        skipped: usize,
        first: String,
    },
    /// A labelled layout was asked for but no file carried a label.
    #[error("{}: no identity labels for layout {layout}: {hint}", folder.display())]
    NoLabels {
        folder: PathBuf,
        layout: LayoutKind,
        hint: String,
    },
}

/// A scanned dataset: every usable image, and every skipped file with its reason.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The folder that was scanned.
    pub root: PathBuf,
    /// The layout found (or forced).
    pub layout: LayoutKind,
    /// Usable images, in folder order (splits train, query, gallery; names sorted).
    pub samples: Vec<Sample>,
    /// Files that were not used.
    pub skipped: Vec<Skipped>,
}

/// Counts for one split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitSummary {
    /// The split.
    pub split: Split,
    /// Images in it.
    pub images: usize,
    /// Distinct identities in it (junk excluded).
    pub identities: usize,
}

/// A skipped file for reports (the path as text, lossily converted if it is not UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedSummary {
    /// The file.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What `reid-explorer dataset` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetSummary {
    /// The folder.
    pub root: String,
    /// The layout.
    pub layout: LayoutKind,
    /// Distinct identities (junk excluded; Market distractors, identity 0, count as one).
    pub identities: usize,
    /// Distinct cameras.
    pub cameras: usize,
    /// Usable images.
    pub images: usize,
    /// Junk images (any negative identity, Market's -1), included in `images`.
    pub junk: usize,
    /// Per-split counts, for the splits present.
    pub splits: Vec<SplitSummary>,
    /// Skipped files with reasons.
    pub skipped: Vec<SkippedSummary>,
}

/// Skipped files listed by the text summary (JSON lists all).
const SHOWN_SKIPPED: usize = 20;

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "dataset:    {}", self.root)?;
        writeln!(f, "layout:     {}", self.layout)?;
        writeln!(f, "identities: {}", self.identities)?;
        writeln!(f, "cameras:    {}", self.cameras)?;
        write!(f, "images:     {}", self.images)?;
        if self.junk > 0 {
            write!(f, " ({} junk)", self.junk)?;
        }
        writeln!(f)?;
        for s in &self.splits {
            writeln!(
                f,
                "  {:<8} {:>7} images, {:>5} identities",
                s.split.to_string(),
                s.images,
                s.identities
            )?;
        }
        writeln!(f, "skipped:    {}", self.skipped.len())?;
        for s in self.skipped.iter().take(SHOWN_SKIPPED) {
            writeln!(f, "  {}: {}", s.path, s.reason)?;
        }
        if self.skipped.len() > SHOWN_SKIPPED {
            writeln!(
                f,
                "  ... and {} more (--json lists them all)",
                self.skipped.len() - SHOWN_SKIPPED
            )?;
        }
        Ok(())
    }
}

impl Dataset {
    /// The samples of one split.
    pub fn split(&self, s: Split) -> impl Iterator<Item = &Sample> + '_ {
        self.samples.iter().filter(move |x| x.split == s)
    }

    /// Distinct identities, junk (any negative identity) excluded.
    pub fn identities(&self) -> usize {
        count_identities(self.samples.iter())
    }

    /// Distinct cameras.
    pub fn cameras(&self) -> usize {
        self.samples
            .iter()
            .filter_map(|s| s.camera)
            .collect::<HashSet<_>>()
            .len()
    }

    /// Counts and skipped files, for printing or JSON.
    pub fn summary(&self) -> DatasetSummary {
        let splits = [Split::Train, Split::Query, Split::Gallery, Split::Unsplit]
            .into_iter()
            .filter_map(|split| {
                let images = self.split(split).count();
                (images > 0).then(|| SplitSummary {
                    split,
                    images,
                    identities: count_identities(self.split(split)),
                })
            })
            .collect();
        DatasetSummary {
            root: self.root.to_string_lossy().into_owned(),
            layout: self.layout,
            identities: self.identities(),
            cameras: self.cameras(),
            images: self.samples.len(),
            junk: self.samples.iter().filter(|s| s.is_junk()).count(),
            splits,
            skipped: self
                .skipped
                .iter()
                .map(|s| SkippedSummary {
                    path: s.path.to_string_lossy().into_owned(),
                    reason: s.reason.clone(),
                })
                .collect(),
        }
    }
}

fn count_identities<'a>(samples: impl Iterator<Item = &'a Sample>) -> usize {
    samples
        .filter(|s| !s.is_junk())
        .filter_map(|s| s.identity)
        .collect::<HashSet<_>>()
        .len()
}

/// Read a dataset folder. `forced` skips detection; `None` detects the layout (see the module
/// documentation). Errors only for the folder as a whole (missing, empty, no usable image, no
/// labels for a forced labelled layout); single bad files end up in [`Dataset::skipped`].
pub fn scan(root: &Path, forced: Option<LayoutKind>) -> Result<Dataset, DatasetError> {
    let entries = list_dir(root)?;
    if entries.is_empty() {
        return Err(DatasetError::Empty {
            folder: root.to_path_buf(),
        });
    }
    let layout = match forced {
        Some(layout) => layout,
        None => detect(&entries),
    };
    let read = match layout {
        LayoutKind::Market => readers::market(&entries)?,
        LayoutKind::CamPair => readers::cam_pair(root, &entries)?,
        LayoutKind::PerIdentity => readers::per_identity(&entries)?,
        LayoutKind::Plain => readers::plain(&entries),
    };
    if read.samples.is_empty() {
        if read.labelled_files == 0 && layout != LayoutKind::Plain && read.files > 0 {
            return Err(DatasetError::NoLabels {
                folder: root.to_path_buf(),
                layout,
                hint: readers::label_hint(layout).into(),
            });
        }
        return Err(match read.skipped.first() {
            None => DatasetError::Empty {
                folder: root.to_path_buf(),
            },
            Some(first) => DatasetError::NoImages {
                folder: root.to_path_buf(),
                skipped: read.skipped.len(),
                first: format!("{}: {}", first.path.display(), first.reason),
            },
        });
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        layout,
        samples: read.samples,
        skipped: read.skipped,
    })
}

/// Pick a layout from the top-level entries of a folder.
fn detect(entries: &[Entry]) -> LayoutKind {
    let has_dir = |name: &str| {
        entries
            .iter()
            .any(|e| e.is_dir && e.name.to_string_lossy().eq_ignore_ascii_case(name))
    };
    if MARKET_FOLDERS.iter().any(|(name, _)| has_dir(name)) {
        return LayoutKind::Market;
    }
    if has_dir("cam_a") && has_dir("cam_b") {
        return LayoutKind::CamPair;
    }
    let files: Vec<&Entry> = entries.iter().filter(|e| !e.is_dir).collect();
    let any_image = files.iter().any(|e| probe(&e.path).is_ok());
    if !any_image && entries.iter().any(|e| e.is_dir) {
        return LayoutKind::PerIdentity;
    }
    let market_names = files
        .iter()
        .filter(|e| parse_market(&e.name.to_string_lossy()).is_some())
        .count();
    if market_names > 0 && market_names * 2 >= files.len() {
        LayoutKind::Market
    } else {
        LayoutKind::Plain
    }
}

/// One entry of a folder listing.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub path: PathBuf,
    pub name: OsString,
    /// A folder (symbolic links followed; an entry whose target cannot be read is not a folder).
    pub is_dir: bool,
}

/// The non-hidden entries of `dir`, sorted by name.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<Entry>, DatasetError> {
    let meta = std::fs::metadata(dir).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            DatasetError::NotFound {
                folder: dir.to_path_buf(),
            }
        } else {
            DatasetError::Unreadable {
                folder: dir.to_path_buf(),
                error,
            }
        }
    })?;
    if !meta.is_dir() {
        return Err(DatasetError::NotAFolder {
            folder: dir.to_path_buf(),
        });
    }
    let unreadable = |error| DatasetError::Unreadable {
        folder: dir.to_path_buf(),
        error,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let path = entry.path();
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        entries.push(Entry { path, name, is_dir });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}
