//! Synthetic pedestrians: a Market-style dataset of procedurally drawn people seen by several
//! cameras, for demos, tests and a small trainable sample.
//!
//! - Every identity is a drawn person ([`Appearance`]: skin, hair, build, top with a pattern,
//!   bottom, shoes, hat, bag). Palettes are small, so identities share attributes, and some
//!   identities are near-copies of their predecessor with one thing changed (hard negatives).
//! - Every camera has its own look ([`CameraProfile`]); each identity is seen by at least two
//!   cameras, at least two frames per camera, with a fresh pose, background and framing per frame.
//! - Output: `bounding_box_train/` (the first half of the identities), `query/` (one frame per
//!   camera of each remaining identity) and `bounding_box_test/` (their other frames). Names are
//!   `PPPP_cCs0_FFFFFF_00.jpg` with identities from 0001: Market-style, with sequence `s0` marking
//!   generated images (real Market / CUHK03-NP names use s1 and up).
//! - Deterministic: every identity, camera and frame has its own ChaCha generator derived from the
//!   seed, so the rayon-parallel rendering gives the same bytes on any machine and thread count.
//!
//! This module depends on `image`, `rand`, `rand_chacha`, `rayon` and `thiserror` only.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

mod accessories;
mod camera;
mod clothing;
mod person;
mod raster;

pub use camera::{CameraProfile, render_frame};
pub use clothing::{Appearance, Bag, Bottom, BottomKind, HairStyle, Hat, Pattern, Top};
pub use person::{Placement, Pose, View, draw_person};
pub use raster::{Canvas, Color};

/// Split folders written, in Market-1501 naming.
pub const TRAIN_DIR: &str = "bounding_box_train";
/// Query folder.
pub const QUERY_DIR: &str = "query";
/// Gallery folder.
pub const GALLERY_DIR: &str = "bounding_box_test";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of identities (at least 2: half train, half test).
    pub identities: usize,
    /// Seed: same seed, same bytes.
    pub seed: u64,
    /// Cameras in the dataset (at least 2).
    pub cameras: u32,
    /// Cameras that see each identity, inclusive range (at least 2).
    pub cameras_per_identity: (u32, u32),
    /// Frames per camera and identity, inclusive range (at least 2).
    pub images_per_camera: (u32, u32),
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            identities: 100,
            seed: 0,
            cameras: 6,
            cameras_per_identity: (2, 3),
            images_per_camera: (2, 3),
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A setting is out of range.
    #[error("invalid synth settings: {0}")]
    Config(String),
    /// A split folder already holds files.
    #[error("{}: folder is not empty (remove it or choose another output)", .0.display())]
    NotEmpty(PathBuf),
    /// Writing failed. `error` is shown in the message and deliberately not a `source`, so a
    /// chained report does not print it twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// JPEG encoding failed.
    #[error("{}: cannot encode JPEG: {reason}", path.display())]
    Encode { path: PathBuf, reason: String },
}

/// One frame to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthImage {
    /// Identity, from 1.
    pub identity: u32,
    /// Camera, from 1.
    pub camera: u32,
    /// Frame index within the identity (0..).
    pub index: u32,
    /// Split folder ([`TRAIN_DIR`], [`QUERY_DIR`] or [`GALLERY_DIR`]).
    pub folder: &'static str,
    /// File name, `PPPP_cCs0_FFFFFF_00.jpg`.
    pub name: String,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthReport {
    /// Identities generated.
    pub identities: usize,
    /// Images in `bounding_box_train`.
    pub train: usize,
    /// Images in `query`.
    pub query: usize,
    /// Images in `bounding_box_test`.
    pub gallery: usize,
    /// Wall-clock time of rendering, encoding and writing.
    pub elapsed: Duration,
}

impl SynthReport {
    /// All images.
    pub fn images(&self) -> usize {
        self.train + self.query + self.gallery
    }
}

const TAG_CAMERA: u64 = 1;
const TAG_IDENTITY: u64 = 2;
const TAG_PLAN: u64 = 3;
const TAG_FRAME: u64 = 4;
const TAG_VARIANT: u64 = 5;

/// A generator seed for `(seed, tag, index)` (splitmix64 mixing).
fn derive(seed: u64, tag: u64, index: u64) -> u64 {
    let mut z =
        seed ^ tag.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

fn rng(seed: u64, tag: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive(seed, tag, index))
}

impl SynthConfig {
    fn validate(&self) -> Result<(), SynthError> {
        let bad = |m: String| Err(SynthError::Config(m));
        let (c0, c1) = self.cameras_per_identity;
        let (i0, i1) = self.images_per_camera;
        if self.identities < 2 {
            return bad(format!(
                "need at least 2 identities, got {}",
                self.identities
            ));
        }
        if self.identities > 9999 {
            return bad(format!("at most 9999 identities, got {}", self.identities));
        }
        if !(2..=99).contains(&self.cameras) {
            return bad(format!("cameras must be 2..=99, got {}", self.cameras));
        }
        if c0 < 2 || c0 > c1 || c1 > self.cameras {
            return bad(format!(
                "cameras per identity {c0}..={c1} must be within 2..={}",
                self.cameras
            ));
        }
        if i0 < 2 || i0 > i1 || c1 * i1 > 99 {
            return bad(format!(
                "images per camera {i0}..={i1} must start at 2 (one query, one gallery) and \
                 give at most 99 frames per identity"
            ));
        }
        Ok(())
    }

    /// Every frame of the dataset, in identity order. Identities `1..=identities/2` are training
    /// identities.
    pub fn plan(&self) -> Result<Vec<SynthImage>, SynthError> {
        self.validate()?;
        let n_train = self.identities / 2;
        let mut out = Vec::new();
        for pid in 1..=self.identities as u32 {
            let mut r = rng(self.seed, TAG_PLAN, u64::from(pid));
            let n_cams = r.random_range(self.cameras_per_identity.0..=self.cameras_per_identity.1);
            let mut cams: Vec<u32> = (1..=self.cameras).collect();
            cams.shuffle(&mut r);
            cams.truncate(n_cams as usize);
            cams.sort_unstable();
            let mut index = 0u32;
            for cam in cams {
                let n = r.random_range(self.images_per_camera.0..=self.images_per_camera.1);
                for k in 0..n {
                    let folder = if pid as usize <= n_train {
                        TRAIN_DIR
                    } else if k == 0 {
                        QUERY_DIR
                    } else {
                        GALLERY_DIR
                    };
                    let frame = pid * 100 + index;
                    out.push(SynthImage {
                        identity: pid,
                        camera: cam,
                        index,
                        folder,
                        name: format!("{pid:04}_c{cam}s0_{frame:06}_00.jpg"),
                    });
                    index += 1;
                }
            }
        }
        Ok(out)
    }
}

/// The camera profile of camera `camera` (from 1) of a dataset with this seed.
pub fn camera_profile(seed: u64, camera: u32) -> CameraProfile {
    CameraProfile::random(&mut rng(seed, TAG_CAMERA, u64::from(camera)))
}

/// The appearance of identity `identity`. About one identity in five is a near-copy of the
/// previous one with one attribute changed (a hard negative).
pub fn appearance(seed: u64, identity: u32) -> Appearance {
    let own = Appearance::random(&mut rng(seed, TAG_IDENTITY, u64::from(identity)));
    let mut r = rng(seed, TAG_VARIANT, u64::from(identity));
    if identity < 2 || !r.random_bool(0.2) {
        return own;
    }
    let mut app = Appearance::random(&mut rng(seed, TAG_IDENTITY, u64::from(identity - 1)));
    match r.random_range(0..4) {
        0 => app.top = own.top,
        1 => app.bottom = own.bottom,
        2 => {
            app.bag = own.bag;
            app.hat = own.hat;
            app.top.pattern = own.top.pattern;
        }
        _ => {
            app.hair = own.hair;
            app.hair_style = own.hair_style;
            app.top.color = own.top.color;
        }
    }
    if app == Appearance::random(&mut rng(seed, TAG_IDENTITY, u64::from(identity - 1))) {
        return own;
    }
    app
}

/// Render one planned frame (size varies per frame: 128..=160 rows, 48..=64 columns).
pub fn render(seed: u64, img: &SynthImage) -> RgbImage {
    let app = appearance(seed, img.identity);
    let cam = camera_profile(seed, img.camera);
    let mut r = rng(
        seed,
        TAG_FRAME,
        u64::from(img.identity) * 1000 + u64::from(img.index),
    );
    let height = r.random_range(128..=160u32);
    let width = ((height as f32 * r.random_range(0.36..0.42)).round() as u32).clamp(48, 64);
    render_frame(&app, &cam, &mut r, width, height)
}

/// Encode a frame as JPEG with its camera's quality.
pub fn encode_jpeg(img: &RgbImage, quality: u8, path: &Path) -> Result<Vec<u8>, SynthError> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .map_err(|e| SynthError::Encode {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(bytes)
}

/// Write the dataset under `out` (created if needed; its split folders must be empty or absent).
/// `progress(done, total)` is called after every file, from worker threads.
pub fn generate(
    out: &Path,
    config: &SynthConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthReport, SynthError> {
    let start = Instant::now();
    let plan = config.plan()?;
    for dir in [TRAIN_DIR, QUERY_DIR, GALLERY_DIR] {
        let path = out.join(dir);
        if let Ok(mut entries) = std::fs::read_dir(&path)
            && entries.next().is_some()
        {
            return Err(SynthError::NotEmpty(path));
        }
        std::fs::create_dir_all(&path).map_err(|error| SynthError::Io {
            path: path.clone(),
            error,
        })?;
    }
    let qualities: Vec<u8> = (1..=config.cameras)
        .map(|c| camera_profile(config.seed, c).jpeg_quality)
        .collect();
    let total = plan.len();
    let done = AtomicUsize::new(0);
    plan.par_iter().try_for_each(|img| {
        let path = out.join(img.folder).join(&img.name);
        let frame = render(config.seed, img);
        let quality = qualities
            .get(img.camera as usize - 1)
            .copied()
            .unwrap_or(90);
        let bytes = encode_jpeg(&frame, quality, &path)?;
        std::fs::write(&path, bytes).map_err(|error| SynthError::Io {
            path: path.clone(),
            error,
        })?;
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
        Ok::<(), SynthError>(())
    })?;
    let count = |f: &str| plan.iter().filter(|p| p.folder == f).count();
    Ok(SynthReport {
        identities: config.identities,
        train: count(TRAIN_DIR),
        query: count(QUERY_DIR),
        gallery: count(GALLERY_DIR),
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plan_splits_and_names() {
        let cfg = SynthConfig {
            identities: 5,
            seed: 3,
            ..SynthConfig::default()
        };
        let plan = cfg.plan().unwrap();
        let names: std::collections::HashSet<&str> = plan.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), plan.len(), "names are unique");
        for p in &plan {
            let train = p.identity <= 2;
            assert_eq!(p.folder == TRAIN_DIR, train, "{p:?}");
            assert!(
                p.name
                    .starts_with(&format!("{:04}_c{}s0_", p.identity, p.camera))
            );
        }
        for pid in 3..=5 {
            let cams: std::collections::BTreeSet<u32> = plan
                .iter()
                .filter(|p| p.identity == pid)
                .map(|p| p.camera)
                .collect();
            let queries: Vec<u32> = plan
                .iter()
                .filter(|p| p.identity == pid && p.folder == QUERY_DIR)
                .map(|p| p.camera)
                .collect();
            assert!(cams.len() >= 2);
            assert_eq!(
                queries,
                cams.into_iter().collect::<Vec<_>>(),
                "one query per camera"
            );
        }
        assert!(
            SynthConfig {
                identities: 1,
                ..cfg.clone()
            }
            .plan()
            .is_err()
        );
        let bad = SynthConfig {
            images_per_camera: (1, 2),
            ..cfg
        };
        assert!(bad.plan().is_err());
    }

    #[test]
    fn frames_are_deterministic_and_sized() {
        let img = SynthImage {
            identity: 7,
            camera: 2,
            index: 1,
            folder: TRAIN_DIR,
            name: String::new(),
        };
        let a = render(11, &img);
        assert_eq!(a, render(11, &img));
        assert_ne!(a, render(12, &img));
        assert!((128..=160).contains(&a.height()) && (48..=64).contains(&a.width()));
    }
}
