//! The gallery feature cache: trunk features of every image, computed once per (model, file)
//! and saved beside the dataset, so ranking more queries — or reopening the gallery — skips the
//! trunk entirely.
//!
//! A cache file holds one model's features for one folder: a JSON header line (format version,
//! model fingerprint, feature shape, and per file its path, size and modification time) then the
//! raw little-endian f32 features in header order. Entries whose file changed are recomputed;
//! the rest are reused. Files are written to a temporary name and renamed. When the dataset
//! folder is not writable (a read-only mount, or no write permission bits), the cache goes to the
//! user's cache folder instead.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::score::FeatureBank;

const VERSION: u32 = 1;
/// Folder created inside a dataset folder for caches.
pub const CACHE_DIR: &str = ".reid-explorer-cache";

/// FNV-1a 64 of some bytes: a stable fingerprint (not a security hash).
pub fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A model folder's fingerprint: its configuration and weights files.
pub fn model_fingerprint(model_dir: &Path) -> std::io::Result<u64> {
    let config = std::fs::read(model_dir.join(crate::model::io::CONFIG_FILE))?;
    let weights = std::fs::read(model_dir.join(crate::model::io::WEIGHTS_FILE))?;
    Ok(fnv1a(&weights, fnv1a(&config, 0)))
}

/// What identifies one file's version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: PathBuf,
    pub size: u64,
    pub modified_ns: u128,
}

impl FileStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Self {
            path: path.to_path_buf(),
            size: meta.len(),
            modified_ns,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    version: u32,
    model: u64,
    shape: [usize; 3],
    files: Vec<FileStamp>,
}

/// Features known for a folder under one model.
#[derive(Debug, Default)]
pub struct FeatureCache {
    model: u64,
    shape: [usize; 3],
    entries: HashMap<FileStamp, Vec<f32>>,
}

/// Where the cache of `folder` for `model` lives: inside the folder when it is writable, else in
/// the user's cache folder under a name derived from the folder's path.
pub fn cache_path(folder: &Path, model: u64) -> PathBuf {
    let name = format!("features-{model:016x}.bin");
    let inside = folder.join(CACHE_DIR);
    // A folder without write permission bits is left alone even when we could write (root).
    let read_only = std::fs::metadata(folder).is_ok_and(|m| m.permissions().readonly());
    if !read_only && std::fs::create_dir_all(&inside).is_ok() && writable(&inside) {
        return inside.join(name);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let key = fnv1a(folder.to_string_lossy().as_bytes(), 0);
    base.join("reid-explorer")
        .join(format!("{key:016x}"))
        .join(name)
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

impl FeatureCache {
    /// An empty cache for `model`.
    pub fn new(model: u64) -> Self {
        Self {
            model,
            ..Self::default()
        }
    }

    /// Read a cache file; a missing, foreign or damaged file gives an empty cache (it will be
    /// rebuilt), never an error.
    pub fn load(path: &Path, model: u64) -> Self {
        Self::try_load(path, model).unwrap_or_else(|| Self::new(model))
    }

    fn try_load(path: &Path, model: u64) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let header: Header = serde_json::from_slice(&bytes[..newline]).ok()?;
        if header.version != VERSION || header.model != model {
            return None;
        }
        let per: usize = header.shape.iter().product();
        let body = &bytes[newline + 1..];
        if per == 0 || body.len() != header.files.len() * per * 4 {
            return None;
        }
        let mut entries = HashMap::with_capacity(header.files.len());
        for (i, stamp) in header.files.into_iter().enumerate() {
            let chunk = &body[i * per * 4..(i + 1) * per * 4];
            let values = chunk
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            entries.insert(stamp, values);
        }
        Some(Self {
            model,
            shape: header.shape,
            entries,
        })
    }

    /// The files the cache holds features for.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.entries.keys().map(|k| k.path.as_path())
    }

    /// Number of cached files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The features of a file version, if cached.
    pub fn get(&self, stamp: &FileStamp) -> Option<&[f32]> {
        self.entries.get(stamp).map(Vec::as_slice)
    }

    /// Add the features of a file version.
    pub fn insert(&mut self, stamp: FileStamp, shape: [usize; 3], values: Vec<f32>) {
        self.shape = shape;
        self.entries.insert(stamp, values);
    }

    /// Keep only the files in `keep` (drops entries of deleted or changed files).
    pub fn retain(&mut self, keep: &[FileStamp]) {
        let keep: std::collections::HashSet<&FileStamp> = keep.iter().collect();
        self.entries.retain(|k, _| keep.contains(k));
    }

    /// Write the cache atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut files: Vec<&FileStamp> = self.entries.keys().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let header = Header {
            version: VERSION,
            model: self.model,
            shape: self.shape,
            files: files.iter().map(|f| (*f).clone()).collect(),
        };
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let result = (|| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            serde_json::to_writer(&mut out, &header)?;
            out.write_all(b"\n")?;
            for f in files {
                for v in &self.entries[f] {
                    out.write_all(&v.to_le_bytes())?;
                }
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Assemble a bank for `stamps` (all must be cached).
    pub fn bank(&self, stamps: &[FileStamp]) -> Option<FeatureBank> {
        let per: usize = self.shape.iter().product();
        let mut values = Vec::with_capacity(stamps.len() * per);
        for s in stamps {
            values.extend_from_slice(self.get(s)?);
        }
        Some(FeatureBank {
            shape: self.shape,
            values,
        })
    }
}
