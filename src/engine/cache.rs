//! The gallery feature cache: trunk features of every image, computed once per (model, file)
//! and saved in the user's cache folder, so ranking more queries — or reopening the gallery —
//! skips the trunk entirely.
//!
//! Where: [`CacheSpec::for_gallery`] puts one file per (gallery folder, model) in the cache
//! folder — `--cache-dir DIR`, else [`default_cache_dir`] (`$XDG_CACHE_HOME/reid-explorer/features`
//! or `~/.cache/reid-explorer/features` on Linux, the platform's cache folder elsewhere) — named
//! after the folder's canonical path and the model fingerprint ([`cache_file_name`]), so
//! different datasets and models never share a file and nothing is written into the user's
//! dataset folders. Caches that older versions kept beside the images (`.reid-explorer-cache/`)
//! are no longer read. When no cache folder can be determined or created and written, the job
//! runs without a cache after one warning ([`spec_or_warn`]).
//!
//! A cache file holds one model's features for one folder: a JSON header line (format version,
//! model fingerprint, feature shape, and per file its path, size and modification time) then the
//! raw little-endian f32 features in header order. Entries whose file changed are recomputed;
//! the rest are reused. Files are written to a temporary name and renamed.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::score::FeatureBank;
use crate::data::preprocess::read_regular_file;

/// Format version 2: paths as hex-encoded bytes.
const VERSION: u32 = 2;
/// The folder, inside the user's cache folder, that holds the feature caches.
pub const CACHE_SUBDIR: &str = "reid-explorer/features";
/// The extension of a feature-cache file.
pub const CACHE_EXTENSION: &str = "features";

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
    pub fn raw(path: &Path) -> &[u8] {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes()
    }

    #[cfg(unix)]
    fn from_raw(bytes: Vec<u8>) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }

    #[cfg(not(unix))]
    pub fn raw(path: &Path) -> &[u8] {
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
    /// Stored as hex-encoded raw bytes (see `path_hex`).
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

/// Where features of a folder are cached, and for which model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    /// The folder the features belong to (a dataset root or gallery folder), as given.
    pub folder: PathBuf,
    /// [`model_fingerprint`] of the model.
    pub model: u64,
    /// The cache file: inside the cache folder, named by [`cache_file_name`].
    pub file: PathBuf,
}

/// Why a job runs without the feature cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheUnavailable {
    #[error(
        "no user cache folder could be determined (set XDG_CACHE_HOME or HOME, or pass --cache-dir DIR)"
    )]
    NoCacheDir,
    #[error("{dir}: cannot keep the feature cache there: {error}")]
    NotWritable { dir: PathBuf, error: std::io::Error },
}

/// The default cache folder: [`CACHE_SUBDIR`] in the user's cache folder (`$XDG_CACHE_HOME`, else
/// `~/.cache` on Linux; `~/Library/Caches` on macOS; `%LOCALAPPDATA%` on Windows). None when the
/// platform reports none.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join(CACHE_SUBDIR))
}

/// The cache file name of a gallery folder (its canonical path) under a model: the folder's
/// last component (letters, digits, `-`, `_` and `.` kept, at most 32 characters), a 64-bit
/// hash of the whole path, the model fingerprint: `market-1501-3f0c…-a41b….features`. Two folders
/// give two names (up to a hash collision); the same folder under two models too.
pub fn cache_file_name(canonical_folder: &Path, model: u64) -> String {
    let stem: String = canonical_folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let stem = if stem.is_empty() || stem.starts_with('.') {
        format!("folder{stem}")
    } else {
        stem
    };
    let key = fnv1a(path_hex::raw(canonical_folder), 0);
    format!("{stem}-{key:016x}-{model:016x}.{CACHE_EXTENSION}")
}

/// `folder` made canonical (symbolic links and `..` resolved), else absolute, else as given.
fn canonical(folder: &Path) -> PathBuf {
    std::fs::canonicalize(folder)
        .or_else(|_| std::path::absolute(folder))
        .unwrap_or_else(|_| folder.to_path_buf())
}

impl CacheSpec {
    /// The cache of `folder` for `model` inside `cache_dir` (pure: nothing is read or created;
    /// `canonical_folder` should be the canonical path, see [`CacheSpec::for_gallery`]).
    pub fn in_dir(cache_dir: &Path, canonical_folder: &Path, model: u64) -> Self {
        Self {
            folder: canonical_folder.to_path_buf(),
            model,
            file: cache_dir.join(cache_file_name(canonical_folder, model)),
        }
    }

    /// The cache of the gallery `folder` for `model`: in `cache_dir` when given, else in
    /// [`default_cache_dir`]. The cache folder is created and checked for writing here, so a
    /// job either has a usable cache or knows why not before it starts.
    pub fn for_gallery(
        folder: &Path,
        model: u64,
        cache_dir: Option<&Path>,
    ) -> Result<Self, CacheUnavailable> {
        let dir = match cache_dir {
            Some(d) => d.to_path_buf(),
            None => default_cache_dir().ok_or(CacheUnavailable::NoCacheDir)?,
        };
        let not_writable = |error| CacheUnavailable::NotWritable {
            dir: dir.clone(),
            error,
        };
        std::fs::create_dir_all(&dir).map_err(not_writable)?;
        writable(&dir).map_err(not_writable)?;
        let mut spec = Self::in_dir(&dir, &canonical(folder), model);
        spec.folder = folder.to_path_buf();
        Ok(spec)
    }
}

/// Set once the "running without a cache" warning has been printed.
static WARNED: AtomicBool = AtomicBool::new(false);

/// [`CacheSpec::for_gallery`], or None after a warning on stderr (printed once per process, so
/// a GUI session or a long command does not repeat it on every job).
pub fn spec_or_warn(folder: &Path, model: u64, cache_dir: Option<&Path>) -> Option<CacheSpec> {
    match CacheSpec::for_gallery(folder, model, cache_dir) {
        Ok(spec) => Some(spec),
        Err(e) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                eprintln!("warning: {e}; running without the feature cache");
            }
            None
        }
    }
}

/// Whether a file can be created in `dir` (a probe file, removed again).
fn writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
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
    fn cache_file_names_keep_folders_and_models_apart() {
        let name = cache_file_name(Path::new("/data/Market-1501 v15.09"), 0xab);
        let key = fnv1a(b"/data/Market-1501 v15.09", 0);
        assert_eq!(
            name,
            format!("Market-1501_v15.09-{key:016x}-00000000000000ab.features")
        );
        let other = cache_file_name(Path::new("/other/Market-1501 v15.09"), 0xab);
        assert_ne!(name, other, "same last component, another folder");
        assert_ne!(
            name,
            cache_file_name(Path::new("/data/Market-1501 v15.09"), 0xac)
        );
        // Odd or hidden last components still give a plain, visible file name.
        let odd = cache_file_name(Path::new("/x/.caf\u{e9}/"), 1);
        assert!(odd.starts_with("folder.caf_-"), "{odd}");
        assert!(cache_file_name(Path::new("/"), 1).starts_with("folder-"));
        let long = cache_file_name(Path::new(&"a".repeat(300)), 1);
        assert!(long.starts_with(&format!("{}-", "a".repeat(32))), "{long}");
    }

    #[test]
    fn a_spec_in_a_folder_is_pure() {
        let spec = CacheSpec::in_dir(Path::new("/c"), Path::new("/g/x"), 5);
        assert_eq!(
            spec.file,
            Path::new("/c").join(cache_file_name(Path::new("/g/x"), 5))
        );
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
