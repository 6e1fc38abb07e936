//! One reader per layout. Each walks its folders in sorted order, labels files from their names or
//! folders, and probes every candidate (in parallel, results kept in walk order).

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;

use super::{
    DatasetError, Entry, LayoutKind, MARKET_FOLDERS, Sample, Skipped, Split, camera_token,
    first_number, list_dir, parse_market, probe,
};

/// What a reader found.
#[derive(Debug, Default)]
pub(super) struct ReadResult {
    pub samples: Vec<Sample>,
    pub skipped: Vec<Skipped>,
    /// Files seen (folders not counted).
    pub files: usize,
    /// Files that carried a label (before probing).
    pub labelled_files: usize,
}

/// A line telling users what a labelled layout expects.
pub(super) fn label_hint(layout: LayoutKind) -> &'static str {
    match layout {
        LayoutKind::Market => {
            "expected bounding_box_train/, query/, bounding_box_test/ or names like 0002_c1s1_000451_03.jpg"
        }
        LayoutKind::CamPair => "expected folders cam_a/ and cam_b/ with numbered images",
        LayoutKind::PerIdentity => "expected one sub-folder of images per identity",
        LayoutKind::Plain => "plain folders carry no labels",
    }
}

/// A walk step: either a file to probe with its labels, or something already skipped.
enum Item {
    Candidate(Sample),
    Skip(Skipped),
}

fn skip(entry: &Entry, reason: impl Into<String>) -> Item {
    Item::Skip(Skipped {
        path: entry.path.clone(),
        reason: reason.into(),
    })
}

impl ReadResult {
    /// Probe the candidates in parallel and append everything in walk order.
    fn push_items(&mut self, items: Vec<Item>) {
        let checked: Vec<Result<Sample, Skipped>> = items
            .into_par_iter()
            .map(|item| match item {
                Item::Skip(s) => Err(s),
                Item::Candidate(sample) => match probe(&sample.path) {
                    Ok(_) => Ok(sample),
                    Err(e) => Err(Skipped {
                        path: sample.path,
                        reason: e.reason().trim_end().to_string(),
                    }),
                },
            })
            .collect();
        for c in checked {
            match c {
                Ok(s) => self.samples.push(s),
                Err(s) => self.skipped.push(s),
            }
        }
    }
}

/// Label every file of one folder with `label`; folders inside are reported, not read.
fn label_folder(
    entries: &[Entry],
    split: Split,
    result: &mut ReadResult,
    label: impl Fn(&str) -> Result<(Option<i64>, Option<u32>), String>,
) -> Vec<Item> {
    let mut items = Vec::with_capacity(entries.len());
    for e in entries {
        if e.is_dir {
            items.push(skip(e, "is a folder (not read in this layout)"));
            continue;
        }
        result.files += 1;
        match label(&e.name.to_string_lossy()) {
            Ok((identity, camera)) => {
                if identity.is_some() {
                    result.labelled_files += 1;
                }
                items.push(Item::Candidate(Sample {
                    path: e.path.clone(),
                    identity,
                    camera,
                    split,
                }));
            }
            Err(reason) => items.push(skip(e, reason)),
        }
    }
    items
}

fn market_label(name: &str) -> Result<(Option<i64>, Option<u32>), String> {
    parse_market(name)
        .map(|(identity, camera)| (Some(identity), Some(camera)))
        .ok_or_else(|| "name does not match the Market pattern PPPP_cC...".to_string())
}

/// Market-1501 style: the three split folders if any exists, else the root as one folder.
pub(super) fn market(entries: &[Entry]) -> Result<ReadResult, DatasetError> {
    let mut result = ReadResult::default();
    let split_dirs: Vec<(&Entry, Split)> = MARKET_FOLDERS
        .iter()
        .filter_map(|(name, split)| {
            entries
                .iter()
                .find(|e| e.is_dir && e.name.to_string_lossy().eq_ignore_ascii_case(name))
                .map(|e| (e, *split))
        })
        .collect();
    if split_dirs.is_empty() {
        let items = label_folder(entries, Split::Unsplit, &mut result, market_label);
        result.push_items(items);
        return Ok(result);
    }
    // Everything else at the root is listed, not silently ignored.
    let others: Vec<Item> = entries
        .iter()
        .filter(|e| !split_dirs.iter().any(|(d, _)| d.path == e.path))
        .map(|e| {
            skip(
                e,
                if e.is_dir {
                    "folder beside the Market split folders (bounding_box_train, query, bounding_box_test): not read"
                } else {
                    "file beside the Market split folders (bounding_box_train, query, bounding_box_test): not read"
                },
            )
        })
        .collect();
    result.push_items(others);
    for (dir, split) in split_dirs {
        let inner = list_dir(&dir.path)?;
        let items = label_folder(&inner, split, &mut result, market_label);
        result.push_items(items);
    }
    Ok(result)
}

/// VIPeR / PRID: `cam_a` is camera 1, `cam_b` camera 2. Files are labelled by the first number in
/// their name; a folder inside (PRID multi-shot `cam_a/person_0001/`) labels all its files.
pub(super) fn cam_pair(root: &Path, entries: &[Entry]) -> Result<ReadResult, DatasetError> {
    let mut result = ReadResult::default();
    let cams: Vec<(&Entry, u32)> = [("cam_a", 1), ("cam_b", 2)]
        .iter()
        .filter_map(|(name, cam)| {
            entries
                .iter()
                .find(|e| e.is_dir && e.name.to_string_lossy().eq_ignore_ascii_case(name))
                .map(|e| (e, *cam))
        })
        .collect();
    if cams.is_empty() {
        return Err(DatasetError::NoLabels {
            folder: root.to_path_buf(),
            layout: LayoutKind::CamPair,
            hint: label_hint(LayoutKind::CamPair).into(),
        });
    }
    for (dir, camera) in cams {
        for e in list_dir(&dir.path)? {
            if e.is_dir {
                let person = first_number(&e.name.to_string_lossy());
                let inner = list_dir(&e.path)?;
                let items = label_folder(&inner, Split::Unsplit, &mut result, |_| match person {
                    Some(id) => Ok((Some(id), Some(camera))),
                    None => Err("folder name has no identity number".into()),
                });
                result.push_items(items);
            } else {
                let items = label_folder(
                    std::slice::from_ref(&e),
                    Split::Unsplit,
                    &mut result,
                    |name| match first_number(name) {
                        Some(id) => Ok((Some(id), Some(camera))),
                        None => Err("name has no identity number".into()),
                    },
                );
                result.push_items(items);
            }
        }
    }
    Ok(result)
}

/// One folder per identity. Identities are the first number of each folder name when every folder
/// has one and they are all different; otherwise the folders are numbered 0, 1, 2... in sorted
/// order. Cameras come from a `cN` token in the file name.
pub(super) fn per_identity(entries: &[Entry]) -> Result<ReadResult, DatasetError> {
    let mut result = ReadResult::default();
    let dirs: Vec<&Entry> = entries.iter().filter(|e| e.is_dir).collect();
    let numbers: Vec<Option<i64>> = dirs
        .iter()
        .map(|d| first_number(&d.name.to_string_lossy()))
        .collect();
    let unique: HashSet<i64> = numbers.iter().flatten().copied().collect();
    let use_numbers = numbers.iter().all(Option::is_some) && unique.len() == dirs.len();
    let mut items = Vec::new();
    for e in entries.iter().filter(|e| !e.is_dir) {
        result.files += 1;
        items.push(skip(e, "not inside an identity folder"));
    }
    result.push_items(items);
    for (i, dir) in dirs.iter().enumerate() {
        let identity = match numbers[i] {
            Some(n) if use_numbers => n,
            _ => i as i64,
        };
        let inner = list_dir(&dir.path)?;
        let items = label_folder(&inner, Split::Unsplit, &mut result, |name| {
            Ok((Some(identity), camera_token(name)))
        });
        result.push_items(items);
    }
    Ok(result)
}

/// A plain folder: every file directly inside, unlabelled. Sub-folders are reported, not read.
pub(super) fn plain(entries: &[Entry]) -> ReadResult {
    let mut result = ReadResult::default();
    let items = label_folder(entries, Split::Unsplit, &mut result, |_| Ok((None, None)));
    result.push_items(items);
    result
}
