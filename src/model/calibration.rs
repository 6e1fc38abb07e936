//! The calibrated verdict threshold of a model: `calibration.json` in the model folder.
//!
//! p(same) is a score, not a probability a user can read off: a model whose different-identity
//! pairs score near 1 makes a fixed 0.50 verdict threshold meaningless. The calibrated threshold
//! is the **equal-error threshold** (see `crate::eval::roc`) measured on labelled pairs: at it,
//! the fraction of same-identity pairs called "different" equals the fraction of
//! different-identity pairs called "same". It is measured on the held-out validation identities
//! when training validates (source `"validation step N"`), or by `eval --calibrate` (source
//! `"eval <dataset> (<protocol> protocol)"`), and used as the Compare view's default threshold.
//!
//! It lives in its own file, not in `config.json`, so writing it does not change the model
//! fingerprint that keys the gallery feature cache (features do not depend on a threshold).
//! Written atomically (temporary file + rename, as [`super::io`]); read with the same checks as
//! the rest of the folder (a regular file of a sensible size), and a damaged file is an error
//! naming it, never a silent default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::io::write_atomic;
use crate::data::guard::read_regular_file;

/// The calibration file in a model folder.
pub const CALIBRATION_FILE: &str = "calibration.json";
/// The largest `calibration.json` read.
pub const MAX_CALIBRATION_BYTES: u64 = 64 * 1024;

/// A calibrated verdict threshold and where it was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// p(same) at or above which a pair is called "same person": the equal-error threshold.
    pub threshold: f32,
    /// Where it was measured: `"validation step N"` or `"eval <dataset> (<protocol> protocol)"`.
    pub source: String,
    /// True-positive rate at the threshold: same-identity pairs scored `>= threshold`, as a
    /// fraction of all same-identity pairs measured.
    pub tpr: f64,
    /// False-positive rate at the threshold: different-identity pairs scored `>= threshold`,
    /// as a fraction of all different-identity pairs measured.
    pub fpr: f64,
    /// Same-identity pairs measured.
    pub positive_pairs: usize,
    /// Different-identity pairs measured.
    pub negative_pairs: usize,
}

impl Calibration {
    /// Checks what a file could get wrong: a finite threshold in `[0, 1]` and rates in `[0, 1]`.
    pub fn check(&self) -> Result<(), String> {
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            return Err(format!(
                "threshold {} is not a p(same) in [0, 1]",
                self.threshold
            ));
        }
        for (name, v) in [("tpr", self.tpr), ("fpr", self.fpr)] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(format!("{name} {v} is not a rate in [0, 1]"));
            }
        }
        Ok(())
    }
}

/// Why `calibration.json` could not be read or written. Names the file.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// `error` is shown in the message and deliberately not a `source`.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: damaged calibration file: {reason} (delete it or run `eval --calibrate`)")]
    Invalid { path: PathBuf, reason: String },
}

/// The model folder's calibration; `Ok(None)` when it has none.
///
/// # Errors
/// [`CalibrationError::Invalid`] for a file that is not a calibration (bad JSON, a threshold
/// outside `[0, 1]`, ...), [`CalibrationError::Io`] for a file that cannot be read (not a regular
/// file, too large, no permission).
pub fn read_calibration(dir: &Path) -> Result<Option<Calibration>, CalibrationError> {
    let path = dir.join(CALIBRATION_FILE);
    let bytes = match read_regular_file(&path, MAX_CALIBRATION_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(CalibrationError::Io { path, error }),
    };
    let invalid = |reason: String| CalibrationError::Invalid {
        path: path.clone(),
        reason,
    };
    let calibration: Calibration =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    calibration.check().map_err(invalid)?;
    Ok(Some(calibration))
}

/// Write `calibration` into `dir/calibration.json` atomically (`dir` must exist).
///
/// # Errors
/// [`CalibrationError::Invalid`] when the calibration does not pass [`Calibration::check`]
/// (nothing is written), [`CalibrationError::Io`] when the file cannot be written.
pub fn write_calibration(dir: &Path, calibration: &Calibration) -> Result<(), CalibrationError> {
    let path = dir.join(CALIBRATION_FILE);
    calibration
        .check()
        .map_err(|reason| CalibrationError::Invalid {
            path: path.clone(),
            reason,
        })?;
    let json = serde_json::to_vec_pretty(calibration).map_err(|e| CalibrationError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(&path, &json).map_err(|error| CalibrationError::Io { path, error })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Calibration {
        Calibration {
            threshold: 0.8125,
            source: "validation step 572".into(),
            tpr: 0.75,
            fpr: 0.25,
            positive_pairs: 40,
            negative_pairs: 1200,
        }
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_calibration(dir.path()).unwrap().is_none());
        write_calibration(dir.path(), &sample()).unwrap();
        assert_eq!(read_calibration(dir.path()).unwrap(), Some(sample()));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(CALIBRATION_FILE)]);
    }

    #[test]
    fn damaged_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CALIBRATION_FILE);
        for (text, why) in [
            ("{\"threshold\": 0.5", "EOF"),
            ("{\"threshold\": 0.5}", "missing field"),
            (
                "{\"threshold\": 1.5, \"source\": \"x\", \"tpr\": 0.5, \"fpr\": 0.5, \"positive_pairs\": 1, \"negative_pairs\": 1}",
                "threshold 1.5",
            ),
            (
                "{\"threshold\": 0.5, \"source\": \"x\", \"tpr\": 2.0, \"fpr\": 0.5, \"positive_pairs\": 1, \"negative_pairs\": 1}",
                "tpr 2",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read_calibration(dir.path()).unwrap_err().to_string();
            assert!(err.contains(CALIBRATION_FILE), "{err}");
            assert!(err.contains("damaged calibration file"), "{err}");
            assert!(err.contains(why), "{text}: {err}");
        }
        // A folder where the file should be is refused, not read.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(
            read_calibration(dir.path()),
            Err(CalibrationError::Io { .. })
        ));
    }

    #[test]
    fn an_invalid_calibration_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let bad = Calibration {
            threshold: f32::NAN,
            ..sample()
        };
        assert!(write_calibration(dir.path(), &bad).is_err());
        assert!(!dir.path().join(CALIBRATION_FILE).exists());
    }
}
