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
//!
//! Paths are stored as their raw bytes, hex-encoded (on unix the `OsStr` bytes, so a file name
//! that is not UTF-8 round-trips exactly). A cache file is used only when everything checks out:
//! format version, model fingerprint, the exact feature shape the model produces, a body of
//! exactly one feature block per listed file, no file listed twice, and only finite values. Any
//! mismatch discards the whole file (its features are recomputed); it is never an error and
//! never partly used.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::score::FeatureBank;
use crate::data::preprocess::read_regular_file;

/// Format version 2: paths as hex-encoded bytes.
const VERSION: u32 = 2;
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
    use crate::model::io::{CONFIG_FILE, MAX_CONFIG_BYTES, MAX_WEIGHTS_BYTES, WEIGHTS_FILE};
    let config = read_regular_file(&model_dir.join(CONFIG_FILE), MAX_CONFIG_BYTES)?;
    let weights = read_regular_file(&model_dir.join(WEIGHTS_FILE), MAX_WEIGHTS_BYTES)?;
    Ok(fnv1a(&weights, fnv1a(&config, 0)))
}

/// A path as raw bytes, hex-encoded, and back: any file name round-trips.
mod path_hex {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[cfg(unix)]
    fn raw(path: &Path) -> &[u8] {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes()
    }

    #[cfg(unix)]
    fn from_raw(bytes: Vec<u8>) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }

    #[cfg(not(unix))]
    fn raw(path: &Path) -> &[u8] {
        path.as_os_str().as_encoded_bytes()
    }

    #[cfg(not(unix))]
    fn from_raw(bytes: Vec<u8>) -> Option<PathBuf> {
        String::from_utf8(bytes).ok().map(PathBuf::from)
    }

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        let text: String = raw(path).iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        let text = String::deserialize(d)?;
        let digit = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
        let bytes: Option<Vec<u8>> = text
            .as_bytes()
            .chunks(2)
            .map(|p| match p {
                [hi, lo] => Some((digit(*hi)? << 4) | digit(*lo)?),
                _ => None,
            })
            .collect();
        bytes
            .and_then(from_raw)
            .ok_or_else(|| D::Error::custom("path is not hex-encoded bytes"))
    }
}

/// What identifies one file's version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileStamp {
    /// Stored as hex-encoded raw bytes (see [`path_hex`]).
    #[serde(with = "path_hex")]
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
    let key = fnv1a(folder.as_os_str().as_encoded_bytes(), 0);
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

    /// Read a cache file for `model`, whose features have `shape` (`[C, H, W]`). A missing,
    /// foreign, damaged or mismatched file gives an empty cache (it will be rebuilt), never an
    /// error and never a partly used file.
    pub fn load(path: &Path, model: u64, shape: [usize; 3]) -> Self {
        Self::try_load(path, model, shape).unwrap_or_else(|| Self {
            shape,
            ..Self::new(model)
        })
    }

    fn try_load(path: &Path, model: u64, shape: [usize; 3]) -> Option<Self> {
        let bytes = read_regular_file(path, u64::MAX).ok()?;
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let header: Header = serde_json::from_slice(&bytes[..newline]).ok()?;
        if header.version != VERSION || header.model != model || header.shape != shape {
            return None;
        }
        let per: usize = shape.iter().product();
        let body = &bytes[newline + 1..];
        let expected = header.files.len().checked_mul(per)?.checked_mul(4)?;
        if per == 0 || body.len() != expected {
            return None;
        }
        let mut entries = HashMap::with_capacity(header.files.len());
        for (stamp, chunk) in header.files.into_iter().zip(body.chunks_exact(per * 4)) {
            let values: Vec<f32> = chunk
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if !values.iter().all(|v| v.is_finite()) || entries.contains_key(&stamp) {
                return None;
            }
            entries.insert(stamp, values);
        }
        Some(Self {
            model,
            shape,
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

    /// The shape of every entry, `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Add the features of a file version. Features of another shape than the cache's (or of
    /// the wrong length) replace everything cached so far, so all entries always share one shape.
    pub fn insert(&mut self, stamp: FileStamp, shape: [usize; 3], values: Vec<f32>) {
        if shape != self.shape {
            self.entries.clear();
            self.shape = shape;
        }
        if values.len() == shape.iter().product::<usize>() {
            self.entries.insert(stamp, values);
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn stamps_round_trip_any_file_name() {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/g/caf\xe9 \xff\"\n.png"));
        let stamp = FileStamp {
            path,
            size: 7,
            modified_ns: 9,
        };
        let text = serde_json::to_string(&stamp).unwrap();
        assert!(text.contains("2f672f636166e920ff220a2e706e67"), "{text}");
        let back: FileStamp = serde_json::from_str(&text).unwrap();
        assert_eq!(back, stamp);
        let odd = text.replace("2f67", "2f6");
        assert!(serde_json::from_str::<FileStamp>(&odd).is_err());
        let bad = text.replace("2f67", "zz67");
        assert!(serde_json::from_str::<FileStamp>(&bad).is_err());
    }

    #[test]
    fn a_cache_of_another_shape_or_with_nan_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.bin");
        let stamp = |i: u64| FileStamp {
            path: PathBuf::from(format!("/x/{i}.png")),
            size: i,
            modified_ns: 0,
        };
        let mut cache = FeatureCache::new(5);
        cache.insert(stamp(1), [2, 3, 1], vec![1.0; 6]);
        cache.insert(stamp(2), [2, 3, 1], vec![2.0; 6]);
        cache.save(&file).unwrap();
        assert_eq!(FeatureCache::load(&file, 5, [2, 3, 1]).len(), 2);
        assert!(FeatureCache::load(&file, 5, [3, 2, 1]).is_empty());
        assert!(FeatureCache::load(&file, 5, [2, 1, 3]).is_empty());
        assert!(FeatureCache::load(&file, 6, [2, 3, 1]).is_empty());
        let empty = FeatureCache::load(&file, 5, [6, 1, 1]);
        assert_eq!((empty.len(), empty.shape()), (0, [6, 1, 1]));
        cache.insert(stamp(3), [2, 3, 1], vec![f32::NAN; 6]);
        cache.save(&file).unwrap();
        assert!(FeatureCache::load(&file, 5, [2, 3, 1]).is_empty());
        // Mixed shapes never coexist: a new shape replaces the entries.
        cache.insert(stamp(4), [6, 1, 1], vec![0.5; 6]);
        assert_eq!((cache.len(), cache.shape()), (1, [6, 1, 1]));
        cache.insert(stamp(5), [6, 1, 1], vec![0.5; 5]);
        assert_eq!(cache.len(), 1, "features of the wrong length are not kept");
    }
}
