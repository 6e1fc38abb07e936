//! From a ranking to its explanation, clicked through with egui_kittest (AccessKit queries, no
//! rendering): a ranked thumbnail opens its (query, gallery image) pair in Compare and
//! Correlation, arrow keys move the selection, and every registered view renders.
//!
//! The same fixture as gui_explorer.rs: a real `Workers` on the CPU backend, a freshly
//! initialised model saved to a temporary folder, a tiny synthetic dataset.

mod common;

use common::gui::{Dropped, Fixture, app, click_tab, fixture, label_containing, text_of, wait_for};

fn harness(fx: &Fixture) -> Harness<'static, ExplorerApp> {
    app(Some(fx.model.clone()), fx.dataset.clone(), None)
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use eframe::egui::Key;
use eframe::egui::accesskit::{Role, Toggled};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use reid_explorer::app::{ExplorerApp, Tab};
use reid_explorer::model::{ModelConfig, XCorrNet, save_model};

/// Whether the node labelled `label` is selected (egui says so with AccessKit's `toggled`).
fn toggled(h: &Harness<'_, ExplorerApp>, label: &str) -> Option<Toggled> {
    h.get_by_label_contains(label).accesskit_node().toggled()
}

fn press(h: &mut Harness<'_, ExplorerApp>, key: Key) {
    h.key_press(key);
    h.step();
    h.step();
}

/// The number after `after` in `label` (up to the next space or comma).
fn number_after(label: &str, after: &str) -> f64 {
    let rest = label
        .split_once(after)
        .unwrap_or_else(|| panic!("{after:?} not in {label:?}"))
        .1;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("no number after {after:?} in {label:?}: {e}"))
}

/// Rank the dataset's default query in the Gallery; the ranked labels' scores, best first.
fn rank(h: &mut Harness<'_, ExplorerApp>) -> Vec<f64> {
    wait_for(h, "p(same) =");
    click_tab(h, Tab::Gallery);
    h.get_by_label("Rank").click();
    wait_for(h, "ranked in");
    let mut scores = Vec::new();
    for r in 1.. {
        match label_containing(h, &format!("rank {r}: p(same) ")) {
            Some(l) => scores.push(number_after(&l, "p(same) ")),
            None => break,
        }
    }
    assert!(scores.len() >= 4, "few ranked images: {scores:?}");
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "not best first: {scores:?}"
    );
    scores
}

fn parent_name(p: Option<&PathBuf>) -> String {
    p.and_then(|p| p.parent())
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Compare's p(same), once the pair's result is in.
fn compared_p(h: &mut Harness<'_, ExplorerApp>) -> f64 {
    number_after(&wait_for(h, "p(same) = "), "p(same) = ")
}

#[test]
fn a_ranked_image_opens_in_compare_and_correlation() {
    let fx = fixture();
    let mut h = harness(&fx);
    let scores = rank(&mut h);

    // A new ranking selects rank 1; the arrow keys move the selection, and it shows.
    wait_for(&mut h, "selected rank 1 ·");
    press(&mut h, Key::ArrowRight);
    press(&mut h, Key::ArrowRight);
    press(&mut h, Key::ArrowLeft);
    wait_for(&mut h, "selected rank 2 ·");
    assert_eq!(toggled(&h, "rank 2: p(same)"), Some(Toggled::True));
    assert_eq!(toggled(&h, "rank 1: p(same)"), Some(Toggled::False));

    // One click opens the pair in Compare: the query in A, the gallery image in B, the order
    // the ranking scored them in, so Compare's p(same) is rank 2's score.
    h.get_by_label("Open in Compare").click();
    h.step();
    assert_eq!(h.state().tab(), Tab::Compare);
    let pair = h.state().pair().clone();
    assert_eq!(parent_name(pair.a.as_ref()), "query");
    assert_eq!(parent_name(pair.b.as_ref()), "bounding_box_test");
    let p = compared_p(&mut h);
    assert!(
        (p - scores[1]).abs() <= 0.0015,
        "Compare says {p}, the ranking {}",
        scores[1]
    );

    // Back in the Gallery, a click selects rank 4 and Correlation opens that pair on its
    // strongest evidence.
    click_tab(&mut h, Tab::Gallery);
    h.get_by_label_contains("rank 4: p(same)").click();
    h.step();
    wait_for(&mut h, "selected rank 4 ·");
    h.get_by_label("Open in Correlation").click();
    h.step();
    assert_eq!(h.state().tab(), Tab::Correlation);
    assert_ne!(h.state().pair().b, pair.b);
    let evidence = wait_for(&mut h, "strongest evidence: A (y ");
    let position = wait_for(&mut h, "position A (y ");
    for after in ["A (y ", ", x "] {
        assert_eq!(
            number_after(&evidence, after),
            number_after(&position, after),
            "the view does not open on the evidence: {evidence:?} / {position:?}"
        );
    }
    // The strongest evidence is an interior position of the 37 x 12 grid (patch radius 2).
    let (y, x) = (
        number_after(&evidence, "A (y "),
        number_after(&evidence, ", x "),
    );
    assert!(
        (2.0..35.0).contains(&y) && (2.0..10.0).contains(&x),
        "{evidence}"
    );
    wait_for(&mut h, "matches the network");

    // Enter opens the selection in Compare.
    click_tab(&mut h, Tab::Gallery);
    press(&mut h, Key::ArrowLeft);
    wait_for(&mut h, "selected rank 3 ·");
    press(&mut h, Key::Enter);
    assert_eq!(h.state().tab(), Tab::Compare);
    let p = compared_p(&mut h);
    assert!((p - scores[2]).abs() <= 0.0015, "{p} vs {}", scores[2]);
}

#[test]
fn the_context_menu_offers_every_explaining_view() {
    let fx = fixture();
    let mut h = harness(&fx);
    let scores = rank(&mut h);
    // The pointer rests on the thumbnail, then the right click.
    h.get_by_label_contains("rank 3: p(same)").hover();
    h.step();
    h.get_by_label_contains("rank 3: p(same)").click_secondary();
    h.step();
    h.step();
    wait_for(&mut h, "selected rank 3 ·");
    for tab in ["Compare", "Feature maps", "Correlation"] {
        assert!(
            label_containing(&h, &format!("Open pair in {tab}")).is_some(),
            "no {tab} in the menu"
        );
    }
    h.get_by_label("Open pair in Feature maps").click();
    h.step();
    h.step();
    assert_eq!(h.state().tab(), Tab::FeatureMaps);
    let traced = number_after(&wait_for(&mut h, "traced p(same) = "), "traced p(same) = ");
    assert!(
        (traced - scores[2]).abs() <= 0.0015,
        "{traced} vs {}",
        scores[2]
    );
}

/// A label each view always shows. Exhaustive: a new view needs its line here.
fn landmark(tab: Tab) -> &'static str {
    match tab {
        Tab::Compare => "Same person?",
        Tab::Gallery => "Evaluate split",
        Tab::FeatureMaps => "traced p(same)",
        Tab::Correlation => "formula ncc =",
        Tab::Training => "Start training",
        Tab::Evaluation => "No evaluation yet",
    }
}

/// Every registered view renders (the registry's `Tab::ALL`, each clicked by its `Display`
/// label) and shows its landmark.
///
/// Not an image snapshot: egui_kittest's `Harness::snapshot` needs its `wgpu` and `snapshot`
/// features and a wgpu adapter, and the machines this runs on have no GPU and no software
/// Vulkan driver, so the check is made on the AccessKit tree each view builds.
#[test]
fn every_registered_view_renders() {
    let fx = fixture();
    let mut h = harness(&fx);
    wait_for(&mut h, "p(same) =");
    assert!(Tab::ALL.len() >= 5);
    for tab in Tab::ALL {
        click_tab(&mut h, tab);
        wait_for(&mut h, landmark(tab));
    }
}

/// The browser's rows (labels ending in the top-1 verdict), in table order.
fn rows(h: &Harness<'_, ExplorerApp>) -> Vec<String> {
    h.query_all_by(|n| {
        n.role() == Role::Button
            && text_of(n).is_some_and(|l| {
                (l.ends_with(" match") || l.ends_with(" miss")) && l.split_whitespace().count() >= 8
            })
    })
    .filter_map(|n| text_of(&n.accesskit_node()))
    .collect()
}

/// Column `from_end` of a row, counted from its end (the top-1 verdict mark is 0, its score 1,
/// then the first match's camera 2, its rank 3, the AP 4).
fn column(row: &str, from_end: usize) -> String {
    let tokens: Vec<&str> = row.split_whitespace().collect();
    tokens[tokens.len() - 1 - from_end].to_string()
}

#[test]
fn the_evaluation_browser_lists_queries_worst_first_and_opens_their_pairs() {
    let fx = fixture();
    let mut h = harness(&fx);
    wait_for(&mut h, "p(same) =");
    click_tab(&mut h, Tab::Gallery);
    h.get_by_label("Evaluate split").click();
    wait_for(&mut h, "mAP");
    h.get_by_label("Browse queries").click();
    h.step();
    h.step();
    assert_eq!(h.state().tab(), Tab::Evaluation);
    wait_for(&mut h, "queries (");

    // Worst first: AP ascending.
    let table = rows(&h);
    assert!(table.len() >= 4, "{table:?}");
    let aps: Vec<f64> = table
        .iter()
        .map(|r| column(r, 4).parse().unwrap_or(f64::NAN))
        .collect();
    assert!(
        aps.windows(2).all(|w| w[0] <= w[1]),
        "not worst first: {aps:?}"
    );
    // The worst query is selected and its strip shows; its rank 1 opens in Compare with the
    // strip's score.
    wait_for(&mut h, "selected rank 1 ·");
    let strip1 = number_after(&wait_for(&mut h, "rank 1: p(same) "), "p(same) ");
    assert_eq!(
        column(&table[0], 1),
        format!("{strip1:.3}"),
        "the strip is not the first row's"
    );
    h.get_by_label("Open in Compare").click();
    h.step();
    assert_eq!(h.state().tab(), Tab::Compare);
    assert_eq!(parent_name(h.state().pair().a.as_ref()), "query");
    let p = compared_p(&mut h);
    assert!((p - strip1).abs() <= 0.0015, "{p} vs {strip1}");

    // ↓ selects the next query; → the next entry of its strip.
    click_tab(&mut h, Tab::Evaluation);
    press(&mut h, Key::ArrowDown);
    press(&mut h, Key::ArrowRight);
    wait_for(&mut h, "selected rank 2 ·");
    assert_eq!(toggled(&h, &table[1]), Some(Toggled::True));
    // A click selects a row, and its strip starts at rank 1.
    h.get_by_label(&table[2]).click();
    h.step();
    h.step();
    assert_eq!(toggled(&h, &table[2]), Some(Toggled::True));
    assert_eq!(toggled(&h, &table[1]), Some(Toggled::False));
    wait_for(&mut h, "selected rank 1 ·");

    // Sorting by first match puts the furthest-down first matches first.
    h.get_by_label("first match").click();
    h.step();
    h.step();
    let firsts: Vec<usize> = rows(&h)
        .iter()
        .map(|r| column(r, 3).trim_start_matches('#').parse().unwrap_or(0))
        .collect();
    assert!(
        firsts.windows(2).all(|w| w[0] >= w[1]),
        "not by first match: {firsts:?}"
    );

    // The export writes the files of `eval --export DIR`.
    let out = fx.dir.path().join("export");
    h.get_by_label("export to").click();
    h.step();
    h.get_by_label("export to")
        .type_text(&out.display().to_string());
    h.step();
    h.get_by_label("Export evaluation").click();
    wait_for(&mut h, "evaluation export written");
    for f in [
        "per_query.csv",
        "scores.npy",
        "queries.txt",
        "gallery.txt",
        "summary.json",
        "index.html",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("per_query.csv")).expect("per_query.csv");
    assert_eq!(csv.lines().count(), table.len() + 1, "{csv}");
}

/// A model folder with `calibration.json` makes its threshold Compare's verdict threshold, says
/// so, and the user can move it (and go back).
#[test]
fn a_calibrated_model_sets_the_verdict_threshold() {
    use reid_explorer::model::calibration::{Calibration, write_calibration};
    let fx = fixture();
    let calibration = Calibration {
        threshold: 0.37,
        source: "validation step 12".into(),
        tpr: 0.75,
        fpr: 0.25,
        positive_pairs: 8,
        negative_pairs: 16,
    };
    write_calibration(&fx.model, &calibration).expect("calibration.json");
    let mut h = harness(&fx);
    wait_for(&mut h, "p(same) =");
    let origin = wait_for(&mut h, "this model's calibrated threshold");
    assert!(origin.starts_with("threshold 0.370:"), "{origin}");
    assert!(origin.contains("validation step 12"), "{origin}");
    assert_eq!(h.state().persisted().threshold, 0.37);
    // Moved by the user: said so, and "Use calibrated" brings it back.
    h.get_by_role_and_label(Role::Slider, "threshold")
        .set_value_accesskit(0.8);
    wait_for(&mut h, "moved by you");
    assert_eq!(h.state().persisted().threshold, 0.8);
    h.get_by_label("Use calibrated").click();
    wait_for(&mut h, "this model's calibrated threshold");
    assert_eq!(h.state().persisted().threshold, 0.37);

    // A model without calibration (dropped on the window) gives the user's threshold back.
    let plain = fx.dir.path().join("plain-model");
    let config = ModelConfig::default();
    let net = XCorrNet::init(&config, 8, &Device::flex()).expect("init");
    save_model(&plain, &config, &net).expect("save model");
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(plain)));
    let origin = wait_for(&mut h, "no calibration.json");
    assert!(origin.starts_with("threshold 0.500:"), "{origin}");
    assert_eq!(h.state().persisted().threshold, 0.5);
}

#[test]
fn without_calibration_the_threshold_is_the_users() {
    let fx = fixture();
    let mut h = harness(&fx);
    wait_for(&mut h, "p(same) =");
    let origin = wait_for(&mut h, "no calibration.json");
    assert!(origin.starts_with("threshold 0.500:"), "{origin}");
}

/// On the real CUHK03 folders (../shared/data/cuhk03, skipped when absent) with the shipped
/// model: the first query's rank 1 of the 759-image gallery opens in Compare with its ranked
/// score and in Correlation on an interior position whose formula matches the network.
#[test]
fn on_cuhk03_the_shipped_models_rank_1_opens_in_the_explaining_views() {
    let Some(root) = common::shared_path("data/cuhk03") else {
        return;
    };
    let model = reid_explorer::bundled_path("models/cuhk03");
    if !model.join("weights.bpk").is_file() {
        common::skip("REQUIRE_SHARED", "models/cuhk03 has no weights.bpk");
        return;
    }
    let mut h = app(Some(model), root, None);
    wait_for(&mut h, "p(same) =");
    click_tab(&mut h, Tab::Gallery);
    h.get_by_label("Rank").click();
    let start = Instant::now();
    while label_containing(&h, "759 ranked in").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "ranking timed out"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = number_after(&wait_for(&mut h, "rank 1: p(same) "), "p(same) ");
    h.get_by_label("Open in Compare").click();
    h.step();
    let p = compared_p(&mut h);
    assert!((p - first).abs() <= 0.0015, "{p} vs {first}");
    click_tab(&mut h, Tab::Gallery);
    h.get_by_label("Open in Correlation").click();
    h.step();
    let evidence = wait_for(&mut h, "strongest evidence: A (y ");
    let (y, x) = (
        number_after(&evidence, "A (y "),
        number_after(&evidence, ", x "),
    );
    assert!(
        (2.0..35.0).contains(&y) && (2.0..10.0).contains(&x),
        "{evidence}"
    );
    wait_for(&mut h, "matches the network");
    println!("rank 1 p(same) {first:.3}; {evidence}");
}
