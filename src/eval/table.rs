//! CSV output: the one writer behind every CSV file the program writes (`rank --csv`, the
//! Gallery view's "Export CSV", `eval --export`'s `per_query.csv`).
//!
//! Built on the `csv` crate: a field is quoted when it holds a comma, a quote, `\n` or `\r`
//! (quotes doubled inside), records end with `\n`. Paths are written as their raw bytes on
//! Unix, so a file name that is not UTF-8 survives the round trip (a reader must take the field
//! as bytes: `csv::ByteRecord`); elsewhere as text, with invalid UTF-16 replaced by U+FFFD.
//! Scores are written with six decimals.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

use crate::engine::Ranking;

/// The header of a ranking table.
pub const RANKING_HEADER: [&str; 6] = ["rank", "path", "score", "identity", "camera", "match"];

/// A path as the bytes of a CSV field (raw bytes on Unix, UTF-8 text elsewhere).
pub fn path_field(path: &Path) -> Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Cow::Borrowed(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        match path.to_string_lossy() {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

/// A CSV field back to a path (the inverse of [`path_field`]).
pub fn field_path(field: &[u8]) -> std::path::PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(field))
    }
    #[cfg(not(unix))]
    {
        std::path::PathBuf::from(String::from_utf8_lossy(field).into_owned())
    }
}

/// A score as written in every table: six decimals.
pub fn score_field(score: f32) -> String {
    format!("{score:.6}")
}

/// A CSV writer over `out` with the program's settings (necessary quoting, `\n` records).
pub fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

/// Write a whole ranking: [`RANKING_HEADER`], then one record per entry, best first
/// (`rank` 1-based; `identity`, `camera`, `match` empty when unknown).
pub fn write_ranking<W: Write>(out: W, ranking: &Ranking) -> csv::Result<()> {
    let mut w = writer(out);
    w.write_record(RANKING_HEADER)?;
    for (i, e) in ranking.entries.iter().enumerate() {
        let identity = e.labels.map(|l| l.identity.to_string()).unwrap_or_default();
        let camera = e
            .labels
            .and_then(|l| l.camera)
            .map(|c| c.to_string())
            .unwrap_or_default();
        let m = e.is_match.map(|m| m.to_string()).unwrap_or_default();
        let rank = (i + 1).to_string();
        let score = score_field(e.score);
        w.write_record([
            rank.as_bytes(),
            &*path_field(&e.path),
            score.as_bytes(),
            identity.as_bytes(),
            camera.as_bytes(),
            m.as_bytes(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// [`write_ranking`] into memory.
pub fn ranking_csv(ranking: &Ranking) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_ranking(&mut out, ranking);
    out
}
