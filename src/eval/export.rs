//! An evaluation's results as files (`eval --export DIR`, the Gallery view's export): the same
//! files from both front ends.
//!
//! ```text
//! DIR/per_query.csv   one record per query (per probe and draw for the drawn protocols):
//!                     query, identity, camera, draw, AP, first_match_rank, INP, matches,
//!                     candidates, first_match_camera, then top1_path, top1_score,
//!                     top1_match ... topK_*; empty fields where there is nothing (a query
//!                     without a valid match has no AP). Written by [`super::table`].
//! DIR/scores.npy      float32 [queries x gallery] p(same), row q = query q of queries.txt,
//!                     column g = image g of gallery.txt. The authors' protocol scores only
//!                     the pairs its draws rank: [n x n] over the test images, NaN elsewhere
//!                     (left out above MAX_DENSE_SCORES values, said in the summary).
//! DIR/queries.txt     one path per line (raw bytes on Unix; `\`, line breaks written as `\\`,
//! DIR/gallery.txt     `\n`, `\r`)
//! DIR/summary.json    the metrics, the ROC summary, the flip mode, counts
//! DIR/strips/NNNN_qQ[_dD].png  rank strips (query + top-K, green / red borders, scores), the
//!                     worst N queries (worst first: lowest AP, then first match furthest down)
//!                     or every evaluated query
//! DIR/index.html      the strips in that order with each query's numbers, for a browser
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::per_query::{QueryResult, worst_queries};
use super::table::{path_field, score_field, writer};
use crate::data::crops::CropCache;
use crate::data::{INPUT_H, INPUT_W};
use crate::engine::Evaluation;
use crate::viz::{MATCH_BORDER, MISS_BORDER, QUERY_BORDER, StripCell, render_strip, save_png};

/// Largest score matrix written to `scores.npy` (values): 1 GiB of float32.
pub const MAX_DENSE_SCORES: usize = 256 * 1024 * 1024;
/// Rank strips written by default: the worst queries.
pub const DEFAULT_WORST: usize = 50;

/// Which queries get a rank strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripChoice {
    /// The `n` worst evaluated queries.
    Worst(usize),
    /// Every evaluated query (worst first).
    All,
}

/// How to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Which queries get a rank strip.
    pub strips: StripChoice,
    /// Gallery entries per strip and per `per_query.csv` record (at most what the evaluation
    /// kept per query).
    pub top_k: usize,
    /// Canvas pixels per crop pixel in the strips.
    pub strip_scale: usize,
    /// Largest score matrix written to `scores.npy` (values).
    pub max_dense_scores: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            strips: StripChoice::Worst(DEFAULT_WORST),
            top_k: super::per_query::DEFAULT_TOP_K,
            strip_scale: 2,
            max_dense_scores: MAX_DENSE_SCORES,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportSummary {
    /// The export folder.
    pub dir: PathBuf,
    /// Records in `per_query.csv`.
    pub per_query_rows: usize,
    /// `(rows, cols)` of `scores.npy`; `None` when it was not written.
    pub scores_shape: Option<(usize, usize)>,
    /// Rank strips written.
    pub strips: usize,
    /// Images a strip could not read (drawn grey).
    pub unreadable_images: usize,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

/// Why an export failed. Names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `error` is shown in the message and deliberately not a `source`.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("nothing to export: the evaluation kept no per-query results")]
    Empty,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |error| ExportError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn write_err(path: &Path) -> impl FnOnce(String) -> ExportError + '_ {
    move |reason| ExportError::Write {
        path: path.to_path_buf(),
        reason,
    }
}

/// Write an evaluation's files into `dir` (created if needed; files of an earlier export are
/// replaced, other files are left alone). See the module documentation for the files.
///
/// # Errors
/// [`ExportError::Empty`] for an evaluation without per-query results; [`ExportError::Io`] /
/// [`ExportError::Write`] naming the file that could not be written. An image that cannot be
/// read for a strip is not an error: it is drawn grey and counted.
pub fn export_evaluation(
    ev: &Evaluation,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    if ev.per_query.is_empty() {
        return Err(ExportError::Empty);
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut notes = Vec::new();
    let top_k = options.top_k.max(1);

    let csv_path = dir.join("per_query.csv");
    write_per_query(ev, &csv_path, top_k)?;

    let (rows, cols) = ev.scores.dims();
    let scores_shape = match ev.scores.dense(options.max_dense_scores) {
        Some(values) if rows * cols > 0 => {
            let path = dir.join("scores.npy");
            crate::npy::write_f32(&path, &values, &[rows, cols]).map_err(io_err(&path))?;
            Some((rows, cols))
        }
        Some(_) => {
            notes.push("scores.npy: the evaluation kept no scores".into());
            None
        }
        None => {
            notes.push(format!(
                "scores.npy: {rows} x {cols} values is more than the {} written",
                options.max_dense_scores
            ));
            None
        }
    };
    write_paths(
        &dir.join("queries.txt"),
        ev.query_images.iter().map(|q| &q.0),
    )?;
    write_paths(
        &dir.join("gallery.txt"),
        ev.gallery_images.iter().map(|g| &g.0),
    )?;

    let chosen = match options.strips {
        StripChoice::Worst(n) => worst_queries(&ev.per_query, n),
        StripChoice::All => worst_queries(&ev.per_query, usize::MAX),
    };
    let strips_dir = dir.join("strips");
    let (names, unreadable) = write_strips(ev, &chosen, &strips_dir, top_k, options.strip_scale)?;
    let index = dir.join("index.html");
    let html = index_html(ev, &chosen, &names, top_k);
    crate::model::io::write_atomic(&index, html.as_bytes()).map_err(io_err(&index))?;

    let summary = ExportSummary {
        dir: dir.to_path_buf(),
        per_query_rows: ev.per_query.len(),
        scores_shape,
        strips: names.len(),
        unreadable_images: unreadable,
        notes,
    };
    let json_path = dir.join("summary.json");
    let json = serde_json::to_vec_pretty(&SummaryFile {
        dataset: ev.dataset.display().to_string(),
        metrics: &ev.metrics,
        roc: ev.roc.as_ref(),
        flip: ev.flip,
        export: &summary,
    })
    .map_err(|e| write_err(&json_path)(e.to_string()))?;
    crate::model::io::write_atomic(&json_path, &json).map_err(io_err(&json_path))?;
    Ok(summary)
}

/// What `summary.json` holds.
#[derive(Serialize)]
struct SummaryFile<'a> {
    dataset: String,
    metrics: &'a super::Metrics,
    roc: Option<&'a super::Roc>,
    flip: super::FlipMode,
    export: &'a ExportSummary,
}

/// The header of `per_query.csv` for `top_k` entries.
pub fn per_query_header(top_k: usize) -> Vec<String> {
    let mut h: Vec<String> = [
        "query",
        "identity",
        "camera",
        "draw",
        "AP",
        "first_match_rank",
        "INP",
        "matches",
        "candidates",
        "first_match_camera",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in 1..=top_k {
        h.extend([
            format!("top{k}_path"),
            format!("top{k}_score"),
            format!("top{k}_match"),
        ]);
    }
    h
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn write_per_query(ev: &Evaluation, path: &Path, top_k: usize) -> Result<(), ExportError> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = writer(std::io::BufWriter::new(file));
    let csv_err = |e: csv::Error| write_err(path)(e.to_string());
    w.write_record(per_query_header(top_k)).map_err(csv_err)?;
    let empty = PathBuf::new();
    for r in &ev.per_query {
        let query = ev.query_images.get(r.query).map_or(&empty, |q| &q.0);
        let mut rec: Vec<Vec<u8>> = vec![
            path_field(query).into_owned(),
            r.labels.identity.to_string().into_bytes(),
            opt(r.labels.camera).into_bytes(),
            opt(r.draw).into_bytes(),
            opt(r.average_precision.map(|v| format!("{v:.6}"))).into_bytes(),
            opt(r.first_match_rank).into_bytes(),
            opt(r.inp.map(|v| format!("{v:.6}"))).into_bytes(),
            r.matches.to_string().into_bytes(),
            r.candidates.to_string().into_bytes(),
            r.first_match_camera
                .map_or("", |c| c.name())
                .as_bytes()
                .to_vec(),
        ];
        for k in 0..top_k {
            match r.top.get(k) {
                Some(h) => {
                    let g = ev.gallery_images.get(h.gallery).map_or(&empty, |g| &g.0);
                    rec.push(path_field(g).into_owned());
                    rec.push(score_field(h.score).into_bytes());
                    rec.push(h.is_match.to_string().into_bytes());
                }
                None => rec.extend([Vec::new(), Vec::new(), Vec::new()]),
            }
        }
        w.write_record(&rec).map_err(csv_err)?;
    }
    w.flush().map_err(io_err(path))?;
    Ok(())
}

/// One path per line, raw bytes on Unix, `\` and line breaks escaped.
fn write_paths<'a>(
    path: &Path,
    paths: impl Iterator<Item = &'a PathBuf>,
) -> Result<(), ExportError> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut out = std::io::BufWriter::new(file);
    for p in paths {
        let mut line = Vec::new();
        for &b in path_field(p).iter() {
            match b {
                b'\\' => line.extend_from_slice(b"\\\\"),
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b => line.push(b),
            }
        }
        line.push(b'\n');
        out.write_all(&line).map_err(io_err(path))?;
    }
    out.flush().map_err(io_err(path))
}

/// The file name of a query's strip.
fn strip_name(order: usize, r: &QueryResult) -> String {
    match r.draw {
        Some(d) => format!("{:04}_q{}_d{}.png", order + 1, r.query, d),
        None => format!("{:04}_q{}.png", order + 1, r.query),
    }
}

/// Write the strips of `chosen` (indices into `ev.per_query`), in that order. Returns the file
/// names and the number of images that could not be read.
fn write_strips(
    ev: &Evaluation,
    chosen: &[usize],
    dir: &Path,
    top_k: usize,
    scale: usize,
) -> Result<(Vec<String>, usize), ExportError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut names = Vec::with_capacity(chosen.len());
    let mut unreadable = 0;
    // A batch of strips at a time: their images are decoded in parallel, memory stays bounded.
    for (b, batch) in chosen.chunks(64).enumerate() {
        let mut paths: Vec<PathBuf> = Vec::new();
        for &i in batch {
            let r = &ev.per_query[i];
            paths.extend(ev.query_images.get(r.query).map(|q| q.0.clone()));
            paths.extend(
                r.top
                    .iter()
                    .take(top_k)
                    .filter_map(|h| ev.gallery_images.get(h.gallery).map(|g| g.0.clone())),
            );
        }
        let (crops, failed) = CropCache::load(&paths, &|_, _| {});
        unreadable += failed.len();
        let mut next = 0usize;
        let mut take = || {
            let crop = crops.get(next);
            next += 1;
            crop
        };
        for (k, &i) in batch.iter().enumerate() {
            let r = &ev.per_query[i];
            let mut cells = Vec::with_capacity(top_k + 1);
            if ev.query_images.get(r.query).is_some() {
                // The query's caption: the rank of its first true match.
                let caption = r
                    .first_match_rank
                    .map_or("Q".to_string(), |rank| format!("Q #{rank}"));
                cells.push(StripCell {
                    crop: take(),
                    border: QUERY_BORDER,
                    caption,
                });
            }
            for h in r.top.iter().take(top_k) {
                if ev.gallery_images.get(h.gallery).is_some() {
                    cells.push(StripCell {
                        crop: take(),
                        border: if h.is_match {
                            MATCH_BORDER
                        } else {
                            MISS_BORDER
                        },
                        caption: format!("{:.3}", h.score),
                    });
                }
            }
            let name = strip_name(b * 64 + k, r);
            let path = dir.join(&name);
            let strip = render_strip(&cells, INPUT_H, INPUT_W, scale.max(1))
                .map_err(|e| write_err(&path)(e.to_string()))?;
            save_png(&path, &strip.rgba, strip.width, strip.height)
                .map_err(|e| write_err(&path)(e.to_string()))?;
            names.push(name);
        }
    }
    Ok((names, unreadable))
}

/// Text for HTML: `&`, `<`, `>`, `"` escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn index_html(ev: &Evaluation, chosen: &[usize], names: &[String], top_k: usize) -> String {
    let m = &ev.metrics;
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>reid-explorer evaluation</title>\n<style>body{font-family:sans-serif;margin:1em}td,th{padding:2px 8px;text-align:left}img{display:block;max-width:100%}.q{margin:1.2em 0;border-top:1px solid #ccc;padding-top:.4em}</style></head><body>\n",
    );
    h.push_str(&format!(
        "<h1>{}</h1>\n<p>{} queries x {} gallery images; rank-1 {}, rank-5 {}, rank-10 {}, mAP {}, mINP {}; flip averaging: {:?}</p>\n",
        esc(&ev.dataset.display().to_string()),
        m.queries,
        m.gallery,
        pct(m.rank1),
        pct(m.rank5),
        pct(m.rank10),
        pct(m.map),
        pct(m.minp),
        ev.flip
    ));
    if let Some(roc) = &ev.roc {
        let at = |p: Option<super::OperatingPoint>| {
            p.map_or("n/a".to_string(), |p| {
                format!("{} (threshold {:.4})", pct(p.tpr), p.threshold)
            })
        };
        h.push_str(&format!(
            "<p>Pairs: {} same identity, {} different. ROC AUC {:.4}; TPR at FPR 1e-2: {}; at 1e-3: {}; equal-error threshold {:.4} (EER {}).</p>\n",
            roc.positives,
            roc.negatives,
            roc.auc,
            at(roc.at_fpr_1e2),
            at(roc.at_fpr_1e3),
            roc.eer.threshold,
            pct(roc.eer_rate)
        ));
    }
    h.push_str(&format!(
        "<p>{} queries below, worst first (lowest AP, then first true match furthest down). Borders: blue query, green same identity, red another identity; the number under a gallery image is p(same). Every query is in <a href=\"per_query.csv\">per_query.csv</a>.</p>\n",
        names.len()
    ));
    for (&i, name) in chosen.iter().zip(names) {
        let r = &ev.per_query[i];
        let query = ev
            .query_images
            .get(r.query)
            .map(|q| q.0.display().to_string())
            .unwrap_or_default();
        let draw = r.draw.map(|d| format!(", draw {d}")).unwrap_or_default();
        h.push_str(&format!(
            "<div class=\"q\"><b>{}</b> — identity {}, camera {}{draw}: AP {}, first true match at rank {}, {} match(es) among {} candidates<img src=\"strips/{}\" alt=\"query and top {top_k}\"></div>\n",
            esc(&query),
            r.labels.identity,
            opt(r.labels.camera),
            r.average_precision.map_or("n/a".into(), |v| format!("{v:.3}")),
            opt(r.first_match_rank),
            r.matches,
            r.candidates,
            esc(name),
        ));
    }
    h.push_str("</body></html>\n");
    h
}
