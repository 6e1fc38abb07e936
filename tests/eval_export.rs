//! `eval --export` and the evaluation options behind it: per_query.csv read back through the
//! csv crate (awkward and non-UTF-8 paths included), scores.npy read back through src/npy.rs,
//! the rank strips of the worst queries (worst first), the seeded --max-queries subset, and
//! flip averaging checked by hand with the synthetic model on the embedded sample.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use reid_explorer::engine::evaluation::split_details;
use reid_explorer::engine::{
    EvalSettings, Evaluation, JobOptions, evaluate_dataset_with, rank_gallery,
};
use reid_explorer::eval::export::{ExportOptions, StripChoice, export_evaluation};
use reid_explorer::eval::table::field_path;
use reid_explorer::eval::{FlipMode, Labels, Protocol, evaluate, worst_queries};
use reid_explorer::model::io::load_model;
use reid_explorer::model::{ModelConfig, XCorrNet};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn l(identity: i64, camera: u32) -> Labels {
    Labels::new(identity, Some(camera))
}

/// File names a CSV writer has to get right: a comma, a quote, a carriage return, a line
/// feed, and (on Unix) bytes that are not UTF-8.
fn awkward_names() -> Vec<OsString> {
    let mut names: Vec<OsString> = vec![
        "a,b.png".into(),
        "say \"cheese\".png".into(),
        "carriage\rreturn.png".into(),
        "line\nfeed.png".into(),
        "plain.png".into(),
    ];
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        names[4] = OsString::from_vec(b"latin1-\xe9t\xe9.png".to_vec());
    }
    names
}

/// An evaluation of two queries against five gallery images written into `dir` (real image
/// files with awkward names), scored by hand: query 1 is the worse one.
fn hand_evaluation(dir: &Path) -> (Evaluation, Vec<f32>) {
    let gallery_names = awkward_names();
    let gallery: Vec<(PathBuf, Labels)> = gallery_names
        .iter()
        .zip([l(1, 2), l(2, 2), l(1, 3), l(3, 2), l(2, 3)])
        .enumerate()
        .map(|(i, (name, labels))| {
            let p = dir.join(name);
            common::write_person(&p, 10 + i as u64, 60, 160);
            (p, labels)
        })
        .collect();
    let queries: Vec<(PathBuf, Labels)> = [("q,0.png", l(1, 1)), ("q1.png", l(2, 1))]
        .iter()
        .enumerate()
        .map(|(i, (name, labels))| {
            let p = dir.join(name);
            common::write_person(&p, 20 + i as u64, 60, 160);
            (p, *labels)
        })
        .collect();
    // q0 (id 1): g0 .9 (match), g2 .8 (match) first: AP 1.
    // q1 (id 2): g3 .9, g0 .8, g2 .7 (misses), g1 .6, g4 .5 (matches at ranks 4, 5):
    // AP (1/4 + 2/5) / 2 = 0.325.
    let scores = vec![
        0.9, 0.1, 0.8, 0.3, 0.2, //
        0.8, 0.6, 0.7, 0.9, 0.5,
    ];
    let q_labels: Vec<Labels> = queries.iter().map(|q| q.1).collect();
    let g_labels: Vec<Labels> = gallery.iter().map(|g| g.1).collect();
    let metrics = evaluate(&scores, &q_labels, &g_labels, &Protocol::Standard).unwrap();
    let details = split_details(
        &Protocol::Standard,
        scores.clone(),
        &q_labels,
        &g_labels,
        10,
    )
    .unwrap();
    let ev = Evaluation {
        dataset: dir.to_path_buf(),
        metrics,
        authors: None,
        same_scores: Vec::new(),
        different_scores: Vec::new(),
        millis: 0.0,
        query_images: queries,
        gallery_images: gallery,
        per_query: details.per_query,
        scores: details.scores,
        roc: details.roc,
        flip: FlipMode::Off,
    };
    (ev, scores)
}

#[test]
fn per_query_csv_round_trips_awkward_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let (ev, _) = hand_evaluation(tmp.path());
    let out = tmp.path().join("export");
    let summary = export_evaluation(&ev, &out, &ExportOptions::default()).unwrap();
    assert_eq!(summary.per_query_rows, 2);
    assert_eq!(summary.unreadable_images, 0, "{summary:?}");

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(out.join("per_query.csv"))
        .unwrap();
    let header = reader.byte_headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name.as_bytes()).unwrap();
    let rows: Vec<csv::ByteRecord> = reader.byte_records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    // Query paths (one with a comma) come back byte for byte.
    for (row, (path, labels)) in rows.iter().zip(&ev.query_images) {
        assert_eq!(field_path(&row[col("query")]), *path);
        assert_eq!(
            &row[col("identity")],
            labels.identity.to_string().as_bytes()
        );
    }
    assert_eq!(&rows[0][col("AP")], b"1.000000");
    assert_eq!(&rows[1][col("AP")], b"0.325000");
    assert_eq!(&rows[1][col("first_match_rank")], b"4");
    assert_eq!(&rows[1][col("first_match_camera")], b"cross");
    // q1's ranked list is g3, g0, g2, g1, g4: every awkward name, in that order, with scores.
    let order = [3, 0, 2, 1, 4];
    let expected_scores = ["0.900000", "0.800000", "0.700000", "0.600000", "0.500000"];
    for (k, (&g, score)) in order.iter().zip(expected_scores).enumerate() {
        let path = field_path(&rows[1][col(&format!("top{}_path", k + 1))]);
        assert_eq!(path, ev.gallery_images[g].0, "top {}", k + 1);
        assert_eq!(
            &rows[1][col(&format!("top{}_score", k + 1))],
            score.as_bytes()
        );
    }
    assert_eq!(&rows[1][col("top4_match")], b"true");
    assert_eq!(&rows[1][col("top1_match")], b"false");
    // Ten entries per row in the header, empty beyond the five gallery images.
    assert!(rows[1][col("top10_path")].is_empty());
}

#[test]
fn scores_npy_and_path_lists_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (ev, scores) = hand_evaluation(tmp.path());
    let out = tmp.path().join("export");
    let summary = export_evaluation(&ev, &out, &ExportOptions::default()).unwrap();
    assert_eq!(summary.scores_shape, Some((2, 5)));
    let bytes = std::fs::read(out.join("scores.npy")).unwrap();
    let (values, shape) = reid_explorer::npy::decode_f32(&bytes).unwrap();
    assert_eq!(shape, vec![2, 5]);
    assert_eq!(values, scores);
    // One line per image; the line feed in a name is escaped, nothing else changes.
    let gallery = std::fs::read(out.join("gallery.txt")).unwrap();
    let lines: Vec<&[u8]> = gallery.split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 6, "five lines and the empty tail");
    assert!(lines[3].ends_with(b"line\\nfeed.png"));
    assert!(lines[2].ends_with(b"carriage\\rreturn.png"));
    let queries = std::fs::read_to_string(out.join("queries.txt")).unwrap();
    assert!(queries.lines().next().unwrap().ends_with("q,0.png"));
}

#[test]
fn strips_of_the_worst_queries_come_worst_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (ev, _) = hand_evaluation(tmp.path());
    let out = tmp.path().join("export");
    let options = ExportOptions {
        strips: StripChoice::Worst(1),
        ..ExportOptions::default()
    };
    let summary = export_evaluation(&ev, &out, &options).unwrap();
    assert_eq!(summary.strips, 1);
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // Query 1 (AP 0.325) is the worst.
    assert_eq!(names(&out.join("strips")), vec!["0001_q1.png"]);
    let png = image::open(out.join("strips/0001_q1.png"))
        .unwrap()
        .to_rgb8();
    // Query + 5 gallery images at 2x, 3-pixel borders: wider than 6 crops, taller than one.
    assert!(
        png.width() > 6 * 2 * 60 && png.height() > 2 * 160,
        "{:?}",
        png.dimensions()
    );
    // Borders: the query blue, q1's first entry (g3, another identity) red. At scale 2 with a
    // 4-pixel margin, cells 2 * 66 wide and a 16-pixel gap after the query.
    assert_eq!(png.get_pixel(8, 8).0, [40, 110, 230]);
    assert_eq!(png.get_pixel(8 + 132 + 32, 8).0, [215, 40, 40]);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("strips/0001_q1.png"), "{html}");
    assert!(html.contains("q,0.png") || html.contains("q1.png"));

    // --all: both queries, worst first, in a fresh folder.
    let all = tmp.path().join("all");
    let options = ExportOptions {
        strips: StripChoice::All,
        ..ExportOptions::default()
    };
    export_evaluation(&ev, &all, &options).unwrap();
    assert_eq!(
        names(&all.join("strips")),
        vec!["0001_q1.png", "0002_q0.png"]
    );
}

/// The shipped synthetic model on the flex CPU device.
fn synthetic() -> (ModelConfig, XCorrNet, Device) {
    let device = Device::flex();
    let (config, net) = load_model(&repo().join("models/synthetic"), &device).unwrap();
    (config, net, device)
}

#[test]
fn max_queries_is_a_seeded_reproducible_subset_and_exports_real_strips() {
    let (config, net, device) = synthetic();
    let sample = repo().join("assets/sample");
    let opts = JobOptions::new(&net, &config, &device);
    let run = |seed: u64| {
        let settings = EvalSettings {
            max_queries: Some(5),
            query_seed: seed,
            ..EvalSettings::default()
        };
        evaluate_dataset_with(&opts, &sample, &Protocol::Standard, &settings).unwrap()
    };
    let a = run(3);
    let b = run(3);
    let c = run(4);
    let paths = |e: &Evaluation| {
        e.query_images
            .iter()
            .map(|q| q.0.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&a).len(), 5);
    assert_eq!(paths(&a), paths(&b), "same seed, same queries");
    assert_eq!(a.metrics, b.metrics);
    assert_ne!(paths(&a), paths(&c), "another seed, other queries");
    let mut sorted = paths(&a);
    sorted.sort();
    assert_eq!(sorted, paths(&a), "file order kept");
    assert_eq!(a.per_query.len(), 5);
    assert_eq!(a.gallery_images.len(), 46);

    // Export: strips of the 3 worst, the first strip is the query with the lowest AP.
    let tmp = tempfile::tempdir().unwrap();
    let options = ExportOptions {
        strips: StripChoice::Worst(3),
        ..ExportOptions::default()
    };
    let summary = export_evaluation(&a, tmp.path(), &options).unwrap();
    let worst = worst_queries(&a.per_query, 3);
    assert_eq!(summary.strips, worst.len());
    let lowest = a
        .per_query
        .iter()
        .filter_map(|r| r.average_precision)
        .fold(f64::INFINITY, f64::min);
    let first = &a.per_query[worst[0]];
    assert_eq!(first.average_precision, Some(lowest));
    let expected = tmp
        .path()
        .join("strips")
        .join(format!("0001_q{}.png", first.query));
    assert!(expected.exists(), "{}", expected.display());
    assert_eq!(summary.unreadable_images, 0);
}

/// A 60 x 160 RGB image, mirror-symmetric when `symmetric`.
fn write_image(path: &Path, seed: u32, symmetric: bool) {
    let img = image::RgbImage::from_fn(60, 160, |x, y| {
        let x = if symmetric { x.min(59 - x) } else { x };
        let v = (x * 7 + y * 3 + seed * 31) % 251;
        image::Rgb([
            v as u8,
            ((v * 5 + y) % 256) as u8,
            ((x * seed + 40) % 256) as u8,
        ])
    });
    img.save(path).unwrap();
}

/// p(same) of `a` against `b` under `flip`.
fn p_same(opts: &JobOptions<'_>, flip: FlipMode, a: &Path, b: &Path) -> f32 {
    let r = rank_gallery(&opts.flip(flip), a, None, &[(b.to_path_buf(), None)]).unwrap();
    r.entries[0].score
}

#[test]
fn flip_averaging_by_hand() {
    let (config, net, device) = synthetic();
    let opts = JobOptions::new(&net, &config, &device);
    let tmp = tempfile::tempdir().unwrap();
    let file = |name: &str| tmp.path().join(name);

    // A pair of mirror-symmetric images is its own mirror: the average is the plain score.
    write_image(&file("sa.png"), 1, true);
    write_image(&file("sb.png"), 2, true);
    let plain = p_same(&opts, FlipMode::Off, &file("sa.png"), &file("sb.png"));
    let both = p_same(&opts, FlipMode::Both, &file("sa.png"), &file("sb.png"));
    assert!((plain - both).abs() < 1e-6, "{plain} vs {both}");

    // An asymmetric pair: the average of the pair and of the mirrored files, scored plainly.
    write_image(&file("a.png"), 3, false);
    write_image(&file("b.png"), 4, false);
    for name in ["a", "b"] {
        let img = image::open(file(&format!("{name}.png"))).unwrap().to_rgb8();
        image::imageops::flip_horizontal(&img)
            .save(file(&format!("{name}-mirrored.png")))
            .unwrap();
    }
    let direct = p_same(&opts, FlipMode::Off, &file("a.png"), &file("b.png"));
    let mirrored = p_same(
        &opts,
        FlipMode::Off,
        &file("a-mirrored.png"),
        &file("b-mirrored.png"),
    );
    assert!(
        (direct - mirrored).abs() > 1e-6,
        "the mirrored pair scores differently ({direct} vs {mirrored})"
    );
    let both = p_same(&opts, FlipMode::Both, &file("a.png"), &file("b.png"));
    let by_hand = 0.5 * (direct + mirrored);
    assert!((both - by_hand).abs() < 1e-5, "{both} vs {by_hand}");
}
