//! Feature maps: every traced layer of both branches as a grid of channels with a colormap and
//! a value legend; hover shows channel, position and value; click enlarges a channel. The grids
//! are rendered off the frame (on a background thread) and uploaded as textures.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui::{self, Color32, Rect, RichText, Sense, TextureHandle, pos2, vec2};

use super::jobs::{Background, RenderedGrid, TaskResult};
use super::views::View;
use super::widgets::{CROP_SIZE, colormap_picker, format_value, legend, thumbnail};
use super::{Action, ViewCtx};
use crate::protocol::{Branch, Trace, TracedMap};
use crate::viz::{Colormap, GridLayout, GridScale, ValueRange, render_grid};

/// A grid on the GPU with what hovering needs.
struct GridTex {
    tex: TextureHandle,
    layout: GridLayout,
    range: ValueRange,
}

/// The Feature maps view's runtime state.
#[derive(Default)]
pub struct FeaturesView {
    trace: Option<Arc<Trace>>,
    /// Bumped for every new trace; stale renders are dropped.
    generation: u64,
    /// What the last render request was for: (generation, colormap, per-channel).
    requested: Option<(u64, Colormap, bool)>,
    grids: HashMap<usize, GridTex>,
    per_channel: bool,
    /// Size multiplier of the grids.
    zoom: f32,
    /// The enlarged channel: (map index, channel).
    enlarged: Option<(usize, usize)>,
    /// Width of each layer's frame as last drawn (for breaking rows).
    block_widths: HashMap<&'static str, f32>,
}

/// `[C, H, W]` of a traced map: vectors become one row, 2-D maps one channel.
pub fn dims3(shape: &[usize]) -> (usize, usize, usize) {
    match shape {
        [c, h, w] => (*c, *h, *w),
        [h, w] => (1, *h, *w),
        [n] => (1, 1, *n),
        _ => (1, 1, shape.iter().product()),
    }
}

/// Render every map of a trace as a channel grid.
pub fn render_all(
    trace: &Trace,
    cmap: Colormap,
    per_channel: bool,
) -> Result<Vec<RenderedGrid>, String> {
    trace
        .maps
        .iter()
        .enumerate()
        .filter(|(_, m)| !matches!(m.name, "logits" | "probs"))
        .map(|(i, m)| {
            let (c, h, w) = dims3(&m.shape);
            let range = if m.name == "xcorr" {
                ValueRange::CORRELATION
            } else {
                ValueRange::from_data(&m.data)
            };
            let scale = if per_channel {
                GridScale::PerChannel
            } else {
                GridScale::Shared(range)
            };
            let grid = render_grid(&m.data, c, h, w, scale, cmap)
                .map_err(|e| format!("{} ({}): {e}", m.name, m.branch.as_str()))?;
            Ok(RenderedGrid {
                map: i,
                grid,
                range,
            })
        })
        .collect()
}

impl FeaturesView {
    /// A new trace arrived: render its grids.
    pub fn set_trace(&mut self, trace: Arc<Trace>, cmap: Colormap, bg: &Background) {
        self.trace = Some(trace);
        self.generation += 1;
        self.enlarged = None;
        self.rerender(cmap, bg);
    }

    /// Forget the trace (the pair changed; the new one is on its way).
    pub fn clear(&mut self) {
        self.trace = None;
        self.generation += 1;
        self.requested = None;
        self.grids.clear();
        self.enlarged = None;
    }

    /// Whether the grids are out of date (new trace or colormap).
    pub fn regrid_needed(&self, cmap: Colormap) -> bool {
        self.trace.is_some() && self.requested != Some((self.generation, cmap, self.per_channel))
    }

    /// Render the grids again on a background thread.
    pub fn rerender(&mut self, cmap: Colormap, bg: &Background) {
        let Some(trace) = self.trace.clone() else {
            return;
        };
        let (generation, per_channel) = (self.generation, self.per_channel);
        self.requested = Some((generation, cmap, per_channel));
        bg.spawn("grids", move || TaskResult::Grids {
            generation,
            result: render_all(&trace, cmap, per_channel),
        });
    }

    /// Upload rendered grids (if they are for the current trace).
    pub fn grids_ready(&mut self, ctx: &egui::Context, generation: u64, grids: Vec<RenderedGrid>) {
        if generation != self.generation {
            return;
        }
        self.grids.clear();
        for g in grids {
            let l = g.grid.layout;
            if let Some(tex) = super::widgets::upload_rgba(
                ctx,
                &format!("grid-{}", g.map),
                &g.grid.rgba,
                l.width,
                l.height,
            ) {
                self.grids.insert(
                    g.map,
                    GridTex {
                        tex,
                        layout: l,
                        range: g.range,
                    },
                );
            }
        }
    }
}

impl View for FeaturesView {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action> {
        if self.zoom <= 0.0 {
            self.zoom = 1.0;
        }
        ui.horizontal(|ui| {
            colormap_picker(ui, &mut cx.persisted.colormap);
            ui.checkbox(&mut self.per_channel, "scale each channel")
                .on_hover_text("stretch every channel over its own min..max");
            ui.add(egui::Slider::new(&mut self.zoom, 0.5..=3.0).text("size"));
            if let Some(p) = self.trace.as_ref().and_then(|t| t.p_same()) {
                ui.separator();
                ui.label(format!("traced p(same) = {p:.3}"));
            }
        });
        let Some(trace) = self.trace.clone() else {
            ui.label(if cx.pair.both().is_some() {
                "tracing the pair…"
            } else {
                "Choose two images in Compare to see their feature maps."
            });
            return Vec::new();
        };
        ui.separator();
        egui::Panel::left("feature-inputs")
            .resizable(false)
            .show(ui, |ui| {
                for (name, path) in [("A", &cx.pair.a), ("B", &cx.pair.b)] {
                    ui.label(RichText::new(format!("input {name}")).strong());
                    if let Some(p) = path {
                        thumbnail(ui, cx.thumbs, p, CROP_SIZE * 1.5);
                    }
                }
            });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| self.layers(ui, &trace, cx.persisted.colormap));
        });
        self.enlarged_window(ui.ctx(), &trace, cx.persisted.colormap);
        Vec::new()
    }
}

impl FeaturesView {
    fn layers(&mut self, ui: &mut egui::Ui, trace: &Trace, cmap: Colormap) {
        let names: Vec<&'static str> = {
            let mut seen = Vec::new();
            for m in &trace.maps {
                if !seen.contains(&m.name) {
                    seen.push(m.name);
                }
            }
            seen
        };
        // Layers flow left to right in rows, each in its own frame; a row breaks where the next
        // layer (its width as drawn last frame) would not fit.
        let available = ui.available_width();
        let spacing = 10.0;
        let mut rows: Vec<Vec<&'static str>> = vec![Vec::new()];
        let mut used = 0.0;
        for name in names {
            let w = self.block_widths.get(name).copied().unwrap_or(340.0);
            if used + w > available
                && let Some(row) = rows.last()
                && !row.is_empty()
            {
                rows.push(Vec::new());
                used = 0.0;
            }
            used += w + spacing;
            if let Some(row) = rows.last_mut() {
                row.push(name);
            }
        }
        for row in rows {
            ui.horizontal_top(|ui| {
                ui.spacing_mut().item_spacing = vec2(spacing, spacing);
                for name in row {
                    let maps: Vec<(usize, &TracedMap)> = trace
                        .maps
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| m.name == name)
                        .collect();
                    let r = egui::Frame::group(ui.style()).show(ui, |ui| {
                        ui.vertical(|ui| self.layer(ui, name, &maps, cmap));
                    });
                    let w = r.response.rect.width();
                    if self
                        .block_widths
                        .insert(name, w)
                        .is_none_or(|old| (old - w).abs() > 1.0)
                    {
                        // The rows were laid out with a guess: lay them out again.
                        ui.ctx().request_repaint();
                    }
                }
            });
            ui.add_space(spacing);
        }
    }

    /// One layer: its name and shape, a grid per branch, the legend.
    fn layer(
        &mut self,
        ui: &mut egui::Ui,
        name: &str,
        maps: &[(usize, &TracedMap)],
        cmap: Colormap,
    ) {
        let Some((_, first)) = maps.first() else {
            return;
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(name).strong().size(15.0));
            ui.label(RichText::new(format!("{:?}", first.shape)).weak());
            let branches: Vec<&str> = maps.iter().map(|(_, m)| m.branch.as_str()).collect();
            ui.label(RichText::new(format!("branch {}", branches.join(" + "))).weak());
        });
        if matches!(name, "logits" | "probs") {
            for (_, m) in maps {
                let values: Vec<String> = m.data.iter().map(|v| format!("{v:.4}")).collect();
                ui.label(format!(
                    "{name}: [{}]  (different, same)",
                    values.join(", ")
                ));
            }
            return;
        }
        let width = if maps.len() > 1 { 320.0 } else { 640.0 };
        ui.horizontal_top(|ui| {
            for (i, m) in maps {
                ui.vertical(|ui| {
                    if m.branch != Branch::Pair {
                        ui.label(format!("{name} · {}", m.branch.as_str()));
                    }
                    self.grid(ui, *i, m, width);
                });
            }
        });
        if let Some(g) = maps.first().and_then(|(i, _)| self.grids.get(i))
            && !self.per_channel
        {
            legend(ui, cmap, g.range, 240.0);
        }
    }

    fn grid(&mut self, ui: &mut egui::Ui, index: usize, map: &TracedMap, width: f32) {
        let Some(g) = self.grids.get(&index) else {
            ui.spinner();
            return;
        };
        let l = g.layout;
        // Fit the width, keep a grid to about 360 points high (the 1500-channel correlation to 720;
        // the zoom slider changes both), at most 4x.
        let max_h = if map.name == "xcorr" { 720.0 } else { 360.0 };
        let fit = (width / l.width.max(1) as f32)
            .min(max_h / l.height.max(1) as f32)
            .min(4.0);
        let scale = (fit * self.zoom).max(0.1);
        let mut size = vec2(l.width as f32 * scale, l.height as f32 * scale);
        if size.y < 16.0 {
            size.y = 16.0;
        }
        let (rect, response) = ui.allocate_exact_size(size, Sense::click());
        ui.painter().image(
            g.tex.id(),
            rect,
            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
            Color32::WHITE,
        );
        if let Some(pos) = response.hover_pos() {
            let px = ((pos.x - rect.left()) / size.x * l.width as f32) as usize;
            let py = ((pos.y - rect.top()) / size.y * l.height as f32) as usize;
            if let Some((c, y, x)) = l.cell_at(px, py) {
                let value = map.data.get((c * l.cell_h + y) * l.cell_w + x).copied();
                let text = format!(
                    "channel {c} · (y {y}, x {x}) · value {}",
                    value.map_or("?".into(), format_value)
                );
                response.clone().on_hover_text_at_pointer(text);
                if response.clicked() {
                    self.enlarged = Some((index, c));
                }
            }
        }
    }

    fn enlarged_window(&mut self, ctx: &egui::Context, trace: &Trace, cmap: Colormap) {
        let Some((index, channel)) = self.enlarged else {
            return;
        };
        let (Some(map), Some(g)) = (trace.maps.get(index), self.grids.get(&index)) else {
            self.enlarged = None;
            return;
        };
        let mut open = true;
        let l = g.layout;
        egui::Window::new(format!(
            "{} · {} · channel {channel}",
            map.name,
            map.branch.as_str()
        ))
        .id(egui::Id::unique("enlarged-channel"))
        .open(&mut open)
        .show(ctx, |ui| {
            let Some((ox, oy)) = l.cell_origin(channel) else {
                return;
            };
            let uv = Rect::from_min_max(
                pos2(ox as f32 / l.width as f32, oy as f32 / l.height as f32),
                pos2(
                    (ox + l.cell_w) as f32 / l.width as f32,
                    (oy + l.cell_h) as f32 / l.height as f32,
                ),
            );
            let scale = (480.0 / l.cell_h.max(1) as f32)
                .min(560.0 / l.cell_w.max(1) as f32)
                .max(1.0);
            let size = vec2(l.cell_w as f32 * scale, (l.cell_h as f32 * scale).max(16.0));
            let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
            ui.painter().image(g.tex.id(), rect, uv, Color32::WHITE);
            let plane = l.cell_h * l.cell_w;
            if let Some(pos) = response.hover_pos() {
                let x = (((pos.x - rect.left()) / size.x) * l.cell_w as f32) as usize;
                let y = (((pos.y - rect.top()) / size.y) * l.cell_h as f32) as usize;
                if let Some(v) = map
                    .data
                    .get(channel * plane + y.min(l.cell_h - 1) * l.cell_w + x.min(l.cell_w - 1))
                {
                    response.on_hover_text_at_pointer(format!(
                        "(y {y}, x {x}) · value {}",
                        format_value(*v)
                    ));
                }
            }
            let range = g.range;
            if !self.per_channel {
                legend(ui, cmap, range, size.x.min(320.0));
            }
            let slice = map
                .data
                .get(channel * plane..(channel + 1) * plane)
                .unwrap_or(&[]);
            let r = ValueRange::from_data(slice);
            ui.label(format!(
                "channel range {} .. {}",
                format_value(r.min),
                format_value(r.max)
            ));
        });
        if !open {
            self.enlarged = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Branch;

    #[test]
    fn every_map_but_the_scalars_gets_a_grid() {
        let trace = Trace {
            maps: vec![
                TracedMap {
                    name: "conv1",
                    branch: Branch::A,
                    shape: vec![2, 3, 4],
                    data: (0..24).map(|v| v as f32).collect(),
                },
                TracedMap {
                    name: "fc500",
                    branch: Branch::Pair,
                    shape: vec![5],
                    data: vec![0.0; 5],
                },
                TracedMap {
                    name: "probs",
                    branch: Branch::Pair,
                    shape: vec![2],
                    data: vec![0.3, 0.7],
                },
            ],
        };
        let grids = render_all(&trace, Colormap::Viridis, false).unwrap_or_default();
        assert_eq!(grids.len(), 2);
        assert_eq!(grids[0].grid.layout.channels, 2);
        assert_eq!(grids[1].grid.layout.width, 5);
    }

    #[test]
    fn a_wrong_length_is_an_error_not_a_panic() {
        let trace = Trace {
            maps: vec![TracedMap {
                name: "conv1",
                branch: Branch::A,
                shape: vec![2, 3, 4],
                data: vec![0.0; 5],
            }],
        };
        assert!(render_all(&trace, Colormap::Viridis, false).is_err());
    }
}
