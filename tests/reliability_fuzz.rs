//! Property tests for the loaders (issue 16): random bytes, random truncations and byte edits of
//! real JPEG / PNG / BMP / GIF files (encoded here), and random edits of a model's `config.json`.
//! Whatever the input: no panic, and either a result or an error that names the file.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::tensor::Device;
use image::{ImageFormat, RgbImage};
use proptest::prelude::*;
use proptest::sample::Index;
use reid_explorer::data::Normalization;
use reid_explorer::data::layout::probe;
use reid_explorer::data::preprocess::{decode_rgb, load_input_lenient, load_rgb};
use reid_explorer::model::io::load_config;
use reid_explorer::model::{ModelConfig, XCorrNet, load_model, save_model};

/// Small images in every format the loader is most likely to meet.
fn samples() -> &'static [(&'static str, Vec<u8>)] {
    static SAMPLES: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let img = RgbImage::from_fn(24, 40, |x, y| {
            image::Rgb([(x * 9) as u8, (y * 5) as u8, ((x ^ y) * 13) as u8])
        });
        let encode = |img: &image::DynamicImage, format| {
            let mut v = Vec::new();
            img.write_to(&mut Cursor::new(&mut v), format).unwrap();
            v
        };
        let rgb = image::DynamicImage::ImageRgb8(img);
        let gray = image::DynamicImage::ImageLuma8(rgb.to_luma8());
        vec![
            ("sample.jpg", encode(&rgb, ImageFormat::Jpeg)),
            ("sample.png", encode(&rgb, ImageFormat::Png)),
            ("gray.png", encode(&gray, ImageFormat::Png)),
            ("sample.bmp", encode(&rgb, ImageFormat::Bmp)),
            ("sample.gif", encode(&rgb, ImageFormat::Gif)),
        ]
    })
}

/// Ok with a usable image, or an error whose message starts with the file's name.
fn check_decode(bytes: &[u8], name: &str) -> Result<(), TestCaseError> {
    match decode_rgb(bytes, Path::new(name)) {
        Ok(img) => prop_assert!(img.width() >= 2 && img.height() >= 2),
        Err(e) => prop_assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}"),
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn truncated_and_edited_images_never_panic(
        which in 0usize..5,
        keep in 0.0f64..=1.0,
        edits in prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
    ) {
        let (name, full) = &samples()[which];
        let mut bytes = full[..(full.len() as f64 * keep) as usize].to_vec();
        for (at, value) in edits {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
        }
        check_decode(&bytes, name)?;
        // The same bytes as a file, through every file-level entry point.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let shown = path.display().to_string();
        if let Err(e) = load_rgb(&path) {
            prop_assert!(e.to_string().starts_with(&shown), "{e}");
        }
        if let Err(e) = probe(&path) {
            prop_assert!(e.to_string().starts_with(&shown), "{e}");
        }
        match load_input_lenient(&path, &Normalization::default()) {
            Ok((input, _)) => prop_assert_eq!(input.len(), 3 * 160 * 60),
            Err(e) => prop_assert!(e.to_string().starts_with(&shown), "{e}"),
        }
    }

    #[test]
    fn random_bytes_never_panic(
        magic in 0usize..6,
        tail in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        // Start like a known format half of the time, so decoders get past their first check.
        let heads: [&[u8]; 6] = [
            b"",
            &[0xFF, 0xD8, 0xFF],
            b"\x89PNG\r\n\x1a\n",
            b"BM",
            b"GIF89a",
            b"II*\0",
        ];
        let mut bytes = heads[magic].to_vec();
        bytes.extend_from_slice(&tail);
        check_decode(&bytes, "random.img")?;
    }
}

/// A model folder whose weights every edited configuration is loaded against.
fn base_model() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("model");
        let cfg = ModelConfig::default();
        save_model(
            &dir,
            &cfg,
            &XCorrNet::init(&cfg, 1, &Device::flex()).unwrap(),
        )
        .unwrap();
        (tmp, dir)
    })
    .1
}

const KEYS: [&str; 11] = [
    "input_h",
    "input_w",
    "conv1_channels",
    "conv2_channels",
    "trunk_kernel",
    "patch",
    "band",
    "sigma_eps",
    "head_channels",
    "fc_hidden",
    "normalization",
];

fn json_value() -> impl Strategy<Value = Option<serde_json::Value>> {
    use serde_json::json;
    prop_oneof![
        (0u64..64).prop_map(|v| Some(json!(v))),
        any::<u64>().prop_map(|v| Some(json!(v))),
        any::<i64>().prop_map(|v| Some(json!(v))),
        (-1e12f64..1e12).prop_map(|v| Some(json!(v))),
        Just(Some(json!(null))),
        Just(Some(json!("five"))),
        Just(Some(json!([1, 2, 3]))),
        Just(Some(
            json!({"mean": [0.5, 0.5, 0.5], "std": [0.0, 1.0, 1.0]})
        )),
        Just(Some(json!({"mean": [0.5, 0.5], "std": [1.0, 1.0, 1.0]}))),
        (-2.0f64..2.0).prop_map(|s| Some(json!({"mean": [0.5, 0.5, 0.5], "std": [s, 1.0, 1.0]}))),
        Just(None),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn edited_model_configurations_never_panic(
        edits in prop::collection::vec((0usize..KEYS.len(), json_value()), 1..4),
        cut in prop::option::of(any::<Index>()),
        flip in prop::option::of((any::<Index>(), any::<u8>())),
    ) {
        let base = base_model();
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(base.join("config.json")).unwrap()).unwrap();
        for (key, value) in edits {
            match value {
                Some(value) => v[KEYS[key]] = value,
                None => {
                    v.as_object_mut().unwrap().remove(KEYS[key]);
                }
            }
        }
        let mut text = serde_json::to_vec_pretty(&v).unwrap();
        if let Some(cut) = cut {
            text.truncate(cut.index(text.len() + 1));
        }
        if let Some((at, value)) = flip
            && !text.is_empty()
        {
            let i = at.index(text.len());
            text[i] = value;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("model");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), &text).unwrap();
        std::os::unix::fs::symlink(base.join("weights.bpk"), dir.join("weights.bpk")).unwrap();
        let shown = dir.join("config.json").display().to_string();
        match load_config(&dir) {
            Err(e) => prop_assert!(e.to_string().starts_with(&shown), "{e}"),
            Ok(cfg) => {
                // Only small networks are built (the bounds allow far larger ones than a test
                // should allocate); every accepted configuration passed the same checks.
                let params = cfg.parameter_count().unwrap();
                if params < 3_000_000 {
                    match load_model(&dir, &Device::flex()) {
                        // Same shapes as the weights (other eps / normalisation): loads.
                        Ok((loaded, _)) => prop_assert!(loaded.shapes().is_ok()),
                        Err(e) => prop_assert!(e.to_string().contains("weights.bpk"), "{e}"),
                    }
                }
            }
        }
    }
}
