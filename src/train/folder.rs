//! The output folder of a training run: what may be written there, and by whom.
//!
//! Rules (the command line and the GUI alike):
//! - a new run refuses a folder that already holds a model (`weights.bpk`) or a checkpoint unless
//!   the caller asked to overwrite it; overwriting removes the old model's files first (and moves
//!   its model card aside, since it would describe a model that is gone);
//! - a resume needs a checkpoint in the folder;
//! - one run per folder: a lock file (`.train.lock`, holding the PID) is taken before anything
//!   is written; a second run fails at once naming the holder; a lock left by a killed process
//!   is taken over;
//! - the folder must be writable before the first step (checked by writing a probe file);
//! - temporary checkpoint folders left by killed runs are removed.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::checkpoint::{CHECKPOINT_DIR, HISTORY_FILE, has_checkpoint};

/// The lock file inside a model folder.
pub const LOCK_FILE: &str = ".train.lock";
/// Where an overwritten model's card is moved.
pub const REPLACED_CARD: &str = "README.replaced.md";

/// Why a run may not use its output folder. Names the folder.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error(
        "{0}: already holds a trained model; continue it with --resume, or replace it with --overwrite"
    )]
    HoldsModel(PathBuf),
    #[error("{0}: no checkpoint to resume from (start a new run without --resume)")]
    NoCheckpoint(PathBuf),
    #[error("{dir}: another training run (process {pid}) is writing this folder (lock {lock})")]
    Locked {
        dir: PathBuf,
        pid: String,
        lock: PathBuf,
    },
    #[error("{path}: cannot write the output folder: {error}")]
    NotWritable {
        path: PathBuf,
        /// Shown in the message, deliberately not a `source` (a chained report would print it twice).
        error: std::io::Error,
    },
}

/// How a run starts in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StartMode {
    /// A new run; the folder must not hold a model.
    New,
    /// A new run that replaces whatever model the folder holds.
    Overwrite,
    /// Continue the run checkpointed in the folder.
    Resume,
}

/// Whether `dir` holds a model or a checkpoint.
pub fn holds_model(dir: &Path) -> bool {
    dir.join(crate::model::io::WEIGHTS_FILE).exists() || has_checkpoint(dir)
}

/// The exclusive right to write one model folder; released on drop.
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` is running (unknown platforms: assume it is).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Take the folder's lock (creating the folder).
pub fn lock(dir: &Path) -> Result<FolderLock, FolderError> {
    let not_writable = |path: &Path| {
        let path = path.to_path_buf();
        move |error| FolderError::NotWritable { path, error }
    };
    std::fs::create_dir_all(dir).map_err(not_writable(dir))?;
    let path = dir.join(LOCK_FILE);
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                writeln!(f, "{}", std::process::id()).map_err(not_writable(&path))?;
                return Ok(FolderLock { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim().to_string();
                match holder.parse::<u32>() {
                    Ok(pid) if pid != std::process::id() && alive(pid) => {
                        return Err(FolderError::Locked {
                            dir: dir.to_path_buf(),
                            pid: holder,
                            lock: path,
                        });
                    }
                    // Left by a killed run (or unreadable): take it over.
                    _ => std::fs::remove_file(&path).map_err(not_writable(&path))?,
                }
            }
            Err(e) => return Err(not_writable(&path)(e)),
        }
    }
    Err(FolderError::Locked {
        dir: dir.to_path_buf(),
        pid: "unknown".into(),
        lock: path,
    })
}

/// Check that files can be created in `dir` (a read-only folder fails here, not at the first
/// checkpoint hundreds of steps later).
pub fn check_writable(dir: &Path) -> Result<(), FolderError> {
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    let result = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    result.map_err(|error| FolderError::NotWritable {
        path: dir.to_path_buf(),
        error,
    })
}

/// Remove temporary checkpoint folders and files of killed runs (call with the lock held).
/// Returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".checkpoint.tmp-") || name.contains(".tmp-")) {
            continue;
        }
        let path = entry.path();
        let ok = if path.is_dir() {
            std::fs::remove_dir_all(&path).is_ok()
        } else {
            std::fs::remove_file(&path).is_ok()
        };
        removed += usize::from(ok);
    }
    removed
}

/// Prepare `dir` for a run started in `mode`: lock it, check it is writable, apply the
/// new-run / resume rules, clean up after killed runs. Notices (what was removed) go to
/// `notice`.
pub fn prepare(
    dir: &Path,
    mode: StartMode,
    notice: &mut dyn FnMut(String),
) -> Result<FolderLock, FolderError> {
    match mode {
        StartMode::New if holds_model(dir) => {
            return Err(FolderError::HoldsModel(dir.to_path_buf()));
        }
        StartMode::Resume if !has_checkpoint(dir) => {
            return Err(FolderError::NoCheckpoint(dir.to_path_buf()));
        }
        _ => {}
    }
    let lock = lock(dir)?;
    check_writable(dir)?;
    let stale = remove_stale_temporaries(dir);
    if stale > 0 {
        notice(format!(
            "{}: removed {stale} temporary file(s) left by an interrupted run",
            dir.display()
        ));
    }
    if mode == StartMode::Overwrite && holds_model(dir) {
        let wrap = |path: PathBuf| move |error| FolderError::NotWritable { path, error };
        for name in [CHECKPOINT_DIR, "checkpoint.old"] {
            let p = dir.join(name);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(wrap(p.clone()))?;
            }
        }
        for name in [
            crate::model::io::WEIGHTS_FILE,
            crate::model::io::CONFIG_FILE,
            HISTORY_FILE,
        ] {
            let p = dir.join(name);
            if p.exists() {
                std::fs::remove_file(&p).map_err(wrap(p.clone()))?;
            }
        }
        let card = dir.join("README.md");
        if card.exists() {
            let aside = dir.join(REPLACED_CARD);
            std::fs::rename(&card, &aside).map_err(wrap(card.clone()))?;
            notice(format!(
                "{}: the replaced model's card was moved to {REPLACED_CARD}",
                dir.display()
            ));
        }
        notice(format!(
            "{}: the previous model was replaced",
            dir.display()
        ));
    }
    Ok(lock)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_naming_the_holder_and_a_dead_holders_lock_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let first = lock(tmp.path()).unwrap();
        // Our own PID counts as "this process": pretend another live process holds it.
        std::fs::write(tmp.path().join(LOCK_FILE), "1\n").unwrap();
        let e = lock(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("process 1"), "{e}");
        // A PID that cannot be running.
        std::fs::write(tmp.path().join(LOCK_FILE), "4294967\n").unwrap();
        let second = lock(tmp.path()).unwrap();
        drop(first);
        drop(second);
        assert!(!tmp.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".checkpoint.tmp-99999")).unwrap();
        std::fs::write(tmp.path().join(".weights.bpk.tmp-77"), b"x").unwrap();
        std::fs::write(tmp.path().join("weights.bpk"), b"keep").unwrap();
        assert_eq!(remove_stale_temporaries(tmp.path()), 2);
        assert!(tmp.path().join("weights.bpk").exists());
    }
}
