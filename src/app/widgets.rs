//! Shared widgets: a lazily filled thumbnail cache (decoded off-thread), colormap helpers and
//! legends, texture uploads of RGBA buffers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};

use eframe::egui::{
    self, Color32, ColorImage, Rect, Sense, TextureHandle, TextureOptions, Vec2, pos2, vec2,
};

use crate::data::{INPUT_H, INPUT_W};
use crate::viz::{Colormap, ValueRange};

/// Threads decoding thumbnails.
const THUMB_THREADS: usize = 2;
/// Requests waiting beyond this are dropped (oldest first) and asked again when visible.
const MAX_QUEUED: usize = 256;
/// Textures kept; the least recently drawn go first.
const MAX_THUMBS: usize = 1500;

/// The size of a network crop (60 x 160) in points.
pub const CROP_SIZE: Vec2 = vec2(INPUT_W as f32, INPUT_H as f32);

/// One thumbnail's state.
enum Thumb {
    Pending,
    Ready { tex: TextureHandle, last_used: u64 },
    Failed(String),
}

/// What [`ThumbCache::get`] says about a file.
pub enum ThumbState<'a> {
    /// Being decoded.
    Loading,
    /// Ready to draw.
    Ready(&'a TextureHandle),
    /// The file cannot be shown; the reason.
    Failed(&'a str),
}

#[derive(Default)]
struct Queue {
    items: Mutex<Vec<PathBuf>>,
    ready: Condvar,
}

/// Decoded 160 x 60 crops of image files as textures, filled lazily by background threads.
///
/// Ask for a path every frame it is visible; the newest requests are served first (a fast
/// scroll does not wait for the rows it skipped), and textures are evicted when unused.
pub struct ThumbCache {
    entries: HashMap<PathBuf, Thumb>,
    queue: Arc<Queue>,
    results: Receiver<(PathBuf, Result<ColorImage, String>)>,
    frame: u64,
    ctx: egui::Context,
}

impl ThumbCache {
    /// Start the decoding threads.
    pub fn new(ctx: &egui::Context) -> Self {
        let queue = Arc::new(Queue::default());
        let (tx, results) = channel();
        for i in 0..THUMB_THREADS {
            let queue = queue.clone();
            let tx: Sender<_> = tx.clone();
            let ctx = ctx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("thumbs-{i}"))
                .spawn(move || decode_loop(&queue, &tx, &ctx));
        }
        Self {
            entries: HashMap::new(),
            queue,
            results,
            frame: 0,
            ctx: ctx.clone(),
        }
    }

    /// Take decoded images in and evict unused textures; call once per frame.
    pub fn begin_frame(&mut self) {
        self.frame += 1;
        for (path, result) in self.results.try_iter().take(64) {
            let thumb = match result {
                Ok(img) => Thumb::Ready {
                    tex: self.ctx.load_texture(
                        format!("thumb:{}", path.display()),
                        img,
                        TextureOptions::LINEAR,
                    ),
                    last_used: self.frame,
                },
                Err(reason) => Thumb::Failed(reason),
            };
            self.entries.insert(path, thumb);
        }
        let ready = self
            .entries
            .values()
            .filter(|t| matches!(t, Thumb::Ready { .. }))
            .count();
        if ready > MAX_THUMBS {
            let mut ages: Vec<(u64, PathBuf)> = self
                .entries
                .iter()
                .filter_map(|(p, t)| match t {
                    Thumb::Ready { last_used, .. } => Some((*last_used, p.clone())),
                    _ => None,
                })
                .collect();
            ages.sort();
            for (_, p) in ages.into_iter().take(ready - MAX_THUMBS) {
                self.entries.remove(&p);
            }
        }
    }

    /// The thumbnail of `path`, asking for it if it is not there yet.
    pub fn get(&mut self, path: &Path) -> ThumbState<'_> {
        if !self.entries.contains_key(path) {
            self.request(path);
        }
        let frame = self.frame;
        match self.entries.get_mut(path) {
            Some(Thumb::Ready { tex, last_used }) => {
                *last_used = frame;
                ThumbState::Ready(tex)
            }
            Some(Thumb::Failed(reason)) => ThumbState::Failed(reason),
            Some(Thumb::Pending) | None => ThumbState::Loading,
        }
    }

    /// Forget `path` (e.g. after the file changed).
    pub fn forget(&mut self, path: &Path) {
        self.entries.remove(path);
    }

    fn request(&mut self, path: &Path) {
        self.entries.insert(path.to_path_buf(), Thumb::Pending);
        let dropped: Vec<PathBuf> = {
            let Ok(mut items) = self.queue.items.lock() else {
                return;
            };
            items.push(path.to_path_buf());
            let excess = items.len().saturating_sub(MAX_QUEUED);
            items.drain(..excess).collect()
        };
        for p in dropped {
            self.entries.remove(&p);
        }
        self.queue.ready.notify_one();
    }
}

fn decode_loop(
    queue: &Queue,
    tx: &Sender<(PathBuf, Result<ColorImage, String>)>,
    ctx: &egui::Context,
) {
    loop {
        let path = {
            let Ok(mut items) = queue.items.lock() else {
                return;
            };
            loop {
                if let Some(p) = items.pop() {
                    break p;
                }
                items = match queue.ready.wait(items) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
        };
        let result = crate::data::crops::decode_crop(&path)
            .map(|crop| ColorImage::from_rgb([INPUT_W, INPUT_H], &crop));
        if tx.send((path, result)).is_err() {
            return;
        }
        ctx.request_repaint();
    }
}

/// Draw a thumbnail (or its placeholder) at `size`; the response senses clicks.
pub fn thumbnail(
    ui: &mut egui::Ui,
    thumbs: &mut ThumbCache,
    path: &Path,
    size: Vec2,
) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(size, Sense::click());
    paint_thumbnail(ui, thumbs, path, rect);
    response
}

/// Paint the thumbnail of `path` into `rect`.
pub fn paint_thumbnail(ui: &egui::Ui, thumbs: &mut ThumbCache, path: &Path, rect: Rect) {
    let painter = ui.painter_at(rect);
    match thumbs.get(path) {
        ThumbState::Ready(tex) => {
            painter.image(
                tex.id(),
                rect,
                Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        ThumbState::Loading => {
            painter.rect_filled(rect, 2.0, ui.visuals().faint_bg_color);
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "…",
                egui::FontId::proportional(14.0),
                ui.visuals().weak_text_color(),
            );
        }
        ThumbState::Failed(_) => {
            painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "x",
                egui::FontId::proportional(16.0),
                ui.visuals().error_fg_color,
            );
        }
    }
}

/// A colour of `cmap` for `v` in `range`, with `alpha` (0..=255).
pub fn color_of(cmap: Colormap, range: ValueRange, v: f32, alpha: u8) -> Color32 {
    let [r, g, b] = cmap.map(range.normalize(v));
    Color32::from_rgba_unmultiplied(r, g, b, alpha)
}

/// A horizontal colour bar for `cmap` over `range` with tick values, `width` points wide.
pub fn legend(ui: &mut egui::Ui, cmap: Colormap, range: ValueRange, width: f32) {
    let height = 12.0;
    let pad = 16.0;
    let (rect, _) = ui.allocate_exact_size(vec2(width, height + 14.0), Sense::hover());
    // Room at both ends for the first and last tick labels.
    let width = (width - 2.0 * pad).max(8.0);
    let bar = Rect::from_min_size(rect.min + vec2(pad, 0.0), vec2(width, height));
    let painter = ui.painter_at(rect);
    let steps = 64;
    for i in 0..steps {
        let t0 = i as f32 / steps as f32;
        let t1 = (i + 1) as f32 / steps as f32;
        let [r, g, b] = cmap.map((t0 + t1) / 2.0);
        let seg = Rect::from_min_max(
            pos2(bar.left() + t0 * width, bar.top()),
            pos2(bar.left() + t1 * width, bar.bottom()),
        );
        painter.rect_filled(seg, 0.0, Color32::from_rgb(r, g, b));
    }
    let span = range.max - range.min;
    for t in crate::viz::ticks(range, 5) {
        let x = if span > 0.0 {
            bar.left() + (t - range.min) / span * width
        } else {
            bar.left()
        };
        painter.line_segment(
            [pos2(x, bar.bottom()), pos2(x, bar.bottom() + 3.0)],
            ui.visuals().widgets.noninteractive.fg_stroke,
        );
        painter.text(
            pos2(x, bar.bottom() + 3.0),
            egui::Align2::CENTER_TOP,
            format_value(t),
            egui::FontId::proportional(10.0),
            ui.visuals().text_color(),
        );
    }
}

/// A compact number: 3 significant digits, scientific for very small or large values.
pub fn format_value(v: f32) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A combo box choosing a colormap.
pub fn colormap_picker(ui: &mut egui::Ui, cmap: &mut Colormap) {
    egui::ComboBox::from_label("colormap")
        .selected_text(cmap.name())
        .show_ui(ui, |ui| {
            for c in Colormap::ALL {
                ui.selectable_value(cmap, c, c.name());
            }
        });
}

/// Upload an RGBA8 buffer as a texture with nearest filtering (feature maps stay blocky).
pub fn upload_rgba(
    ctx: &egui::Context,
    name: &str,
    rgba: &[u8],
    w: usize,
    h: usize,
) -> Option<TextureHandle> {
    if w == 0 || h == 0 || rgba.len() != w * h * 4 {
        return None;
    }
    let img = ColorImage::from_rgba_unmultiplied([w, h], rgba);
    Some(ctx.load_texture(name, img, TextureOptions::NEAREST))
}

/// Green for a match, red for a non-match.
pub fn match_color(is_match: bool) -> Color32 {
    if is_match {
        Color32::from_rgb(40, 180, 70)
    } else {
        Color32::from_rgb(210, 50, 50)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_compactly() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(0.12345), "0.123");
        assert_eq!(format_value(12.345), "12.35");
        assert_eq!(format_value(1234.5), "1234");
        assert_eq!(format_value(1e-6), "1.00e-6");
    }
}
