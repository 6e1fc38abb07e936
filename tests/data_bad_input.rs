//! Bad input: a folder of broken, odd and unusual files. Everything loadable loads, the rest is
//! reported with a reason, nothing panics and nothing aborts the scan.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use image::{GrayImage, ImageBuffer, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use reid_explorer::data::crops::{CROP_BYTES, CropCache};
use reid_explorer::data::layout::{LayoutKind, scan};

fn jpeg_bytes(img: &RgbImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut Cursor::new(&mut v), ImageFormat::Jpeg)
        .unwrap();
    v
}

/// Bits, most significant first, with JPEG byte stuffing (0xFF is followed by 0x00).
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                let b = self.acc as u8;
                self.out.push(b);
                if b == 0xFF {
                    self.out.push(0);
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    fn finish(mut self) -> Vec<u8> {
        while self.n != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

/// A 16 x 16 baseline JPEG with four components (Adobe CMYK), written by hand because the image
/// crate cannot encode CMYK. Every block has only a DC value; each component gets its own level.
fn cmyk_jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    // APP14 Adobe, transform 0 (CMYK as is).
    j.extend([0xFF, 0xEE, 0x00, 0x0E]);
    j.extend(b"Adobe");
    j.extend([0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);
    // DQT: table 0, all ones.
    j.extend([0xFF, 0xDB, 0x00, 0x43, 0x00]);
    j.extend([1u8; 64]);
    // SOF0: 8-bit, 16 x 16, 4 components, 1x1 sampling, table 0.
    j.extend([0xFF, 0xC0, 0x00, 0x14, 0x08, 0x00, 0x10, 0x00, 0x10, 0x04]);
    for id in 1..=4u8 {
        j.extend([id, 0x11, 0x00]);
    }
    // DHT DC 0: two 2-bit codes, 00 -> category 0, 01 -> category 10.
    j.extend([0xFF, 0xC4, 0x00, 0x15, 0x00, 0, 2]);
    j.extend([0u8; 14]);
    j.extend([0x00, 0x0A]);
    // DHT AC 0: one 1-bit code, 0 -> end of block.
    j.extend([0xFF, 0xC4, 0x00, 0x14, 0x10, 1]);
    j.extend([0u8; 15]);
    j.extend([0x00]);
    // SOS: 4 components, tables 0/0.
    j.extend([0xFF, 0xDA, 0x00, 0x0E, 0x04]);
    for id in 1..=4u8 {
        j.extend([id, 0x00]);
    }
    j.extend([0x00, 0x3F, 0x00]);
    let mut bits = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    // First MCU: DC differences +512, -512, +800, -800 (category 10, one's-complement negatives).
    for diff in [512i32, -512, 800, -800] {
        bits.put(0b01, 2);
        let raw = if diff < 0 { diff + 1023 } else { diff } as u32;
        bits.put(raw, 10);
        bits.put(0, 1);
    }
    // Three more MCUs, no change.
    for _ in 0..3 * 4 {
        bits.put(0b00, 2);
        bits.put(0, 1);
    }
    j.extend(bits.finish());
    j.extend([0xFF, 0xD9]);
    j
}

#[test]
fn bad_files_are_reported_and_good_ones_load() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let person = RgbImage::from_fn(40, 100, |x, y| Rgb([(x * 6) as u8, (y * 2) as u8, 90]));

    // Loadable.
    std::fs::write(r.join("a_good.jpg"), jpeg_bytes(&person)).unwrap();
    std::fs::write(r.join("b_jpeg_named.png"), jpeg_bytes(&person)).unwrap();
    ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(20, 50, Rgb([60000, 1000, 30000]))
        .save(r.join("c_deep16.png"))
        .unwrap();
    GrayImage::from_pixel(20, 50, Luma([77]))
        .save(r.join("d_gray.png"))
        .unwrap();
    RgbaImage::from_pixel(20, 50, Rgba([10, 20, 30, 128]))
        .save(r.join("e_rgba.png"))
        .unwrap();
    std::fs::write(r.join("f_cmyk.jpg"), cmyk_jpeg()).unwrap();
    GrayImage::new(9000, 9000)
        .save(r.join("g_huge.png"))
        .unwrap();
    let mut png = Vec::new();
    person
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    std::fs::write(r.join(OsStr::from_bytes(b"h_caf\xe9.png")), &png).unwrap();
    // A truncated JPEG whose header survives: reported at scan time (no end-of-image marker).
    let busy = RgbImage::from_fn(60, 160, |x, y| {
        let h = (x * 7919 + y * 104_729) ^ (x * y * 31);
        Rgb([h as u8, (h >> 8) as u8, (h >> 3) as u8])
    });
    let full = jpeg_bytes(&busy);
    assert!(full.len() > 4000, "{}", full.len());
    std::fs::write(r.join("i_truncated.jpg"), &full[..full.len() * 2 / 3]).unwrap();

    // Not loadable.
    let mut noise = Vec::new();
    let mut x = 12345u32;
    for _ in 0..4000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    std::fs::write(r.join("p_corrupt.jpg"), &noise).unwrap();
    std::fs::write(r.join("q_empty.jpg"), b"").unwrap();
    std::fs::write(r.join("r_text.jpg"), b"this is not a picture\n").unwrap();
    RgbImage::from_pixel(1, 1, Rgb([1, 2, 3]))
        .save(r.join("s_tiny.png"))
        .unwrap();
    std::fs::write(r.join("t_header_cut.jpg"), &full[..20]).unwrap();
    std::fs::create_dir(r.join("u_dir.jpg")).unwrap();
    std::fs::write(r.join(OsStr::from_bytes(b"x_bad\xff.jpg")), b"text").unwrap();
    std::os::unix::fs::symlink(r.join("does-not-exist.jpg"), r.join("v_dangling.jpg")).unwrap();

    let ds = scan(r, None).unwrap();
    assert_eq!(ds.layout, LayoutKind::Plain);
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let loaded: Vec<String> = ds.samples.iter().map(|s| name(&s.path)).collect();
    assert_eq!(
        loaded,
        [
            "a_good.jpg",
            "b_jpeg_named.png",
            "c_deep16.png",
            "d_gray.png",
            "e_rgba.png",
            "f_cmyk.jpg",
            "h_caf\u{FFFD}.png",
        ]
    );
    let reasons: BTreeMap<String, String> = ds
        .skipped
        .iter()
        .map(|s| (name(&s.path), s.reason.clone()))
        .collect();
    let expect = [
        // 81 M grey pixels: 324 MB to decode into RGB, over the per-image budget.
        ("g_huge.png", "too large to decode"),
        ("i_truncated.jpg", "truncated image"),
        ("p_corrupt.jpg", "not a recognised image format"),
        ("q_empty.jpg", "empty file"),
        ("r_text.jpg", "not a recognised image format"),
        ("s_tiny.png", "too small"),
        ("t_header_cut.jpg", "cannot decode"),
        ("u_dir.jpg", "folder"),
        ("v_dangling.jpg", "cannot read file"),
        ("x_bad\u{FFFD}.jpg", "not a recognised image format"),
    ];
    for (file, why) in expect {
        let got = reasons
            .get(file)
            .unwrap_or_else(|| panic!("{file} not reported: {reasons:?}"));
        assert!(got.contains(why), "{file}: {got}");
    }
    assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
    let json = serde_json::to_string(&ds.summary()).unwrap();
    assert!(
        json.contains("x_bad\u{FFFD}.jpg"),
        "non-UTF-8 names are shown lossily: {json}"
    );

    // Decode everything: all of them load.
    let (cache, failed) = CropCache::from_samples(&ds.samples, &|_, _| {});
    assert!(failed.is_empty(), "{failed:?}");
    for (i, s) in ds.samples.iter().enumerate() {
        let c = cache.get(i).unwrap();
        assert_eq!(c.len(), CROP_BYTES, "{}", name(&s.path));
    }
    // Decoding the skipped ones directly gives the same reasons.
    let (_, failed) = CropCache::load(
        &[r.join("g_huge.png"), r.join("i_truncated.jpg")],
        &|_, _| {},
    );
    assert!(
        failed[0].reason.contains("too large to decode"),
        "{failed:?}"
    );
    assert!(failed[1].reason.contains("truncated image"), "{failed:?}");
    // Grey stays grey; 16-bit red is scaled down to 8 bits; CMYK became some RGB.
    let gray = cache.get(3).unwrap();
    assert!(gray.chunks(3).all(|p| p == [77, 77, 77]));
    let deep = cache.get(2).unwrap();
    assert_eq!(&deep[..3], &[233, 4, 117]);
}

#[test]
fn scrambled_png_is_reported_at_decode_time() {
    let dir = tempfile::tempdir().unwrap();
    let person = RgbImage::from_fn(40, 100, |x, y| Rgb([(x * 6) as u8, (y * 2) as u8, 90]));
    let mut png = Vec::new();
    person
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    for b in &mut png[40..] {
        *b ^= 0x5A;
    }
    let path = dir.path().join("scrambled.png");
    std::fs::write(&path, &png).unwrap();
    let (cache, failed) = CropCache::load(&[&path], &|_, _| {});
    assert_eq!(cache.loaded(), 0);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].reason.contains("cannot decode"),
        "{}",
        failed[0].reason
    );
}
