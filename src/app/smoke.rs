//! The window check CI runs under Xvfb (`tests/window.rs`): with `REID_EXIT_AFTER_FRAMES=N` the
//! app closes its window after N frames; with `REID_SCREENSHOT=FILE` it first saves what the
//! window showed as a PNG (eframe's own screenshot of the rendered frame). Neither is set in
//! normal use, and then nothing here runs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use eframe::egui;

use super::ExplorerApp;

/// Frames drawn before the screenshot when only `REID_SCREENSHOT` is set.
const DEFAULT_FRAMES: u64 = 10;

/// What the environment asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SmokeRequest {
    /// Where to save the screenshot.
    pub shot: Option<PathBuf>,
    /// Close after this many frames.
    pub frames: u64,
}

impl SmokeRequest {
    /// `REID_SCREENSHOT` / `REID_EXIT_AFTER_FRAMES`, None when neither is set.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let shot = std::env::var_os("REID_SCREENSHOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let frames = match std::env::var("REID_EXIT_AFTER_FRAMES") {
            Ok(v) if !v.trim().is_empty() => Some(v.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!("REID_EXIT_AFTER_FRAMES={v:?}: expected a number of frames")
            })?),
            _ => None,
        };
        if shot.is_none() && frames.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            shot,
            frames: frames.unwrap_or(DEFAULT_FRAMES).max(1),
        }))
    }
}

/// The app plus the frame counter; everything else is the app's own.
pub(super) struct SmokeApp {
    app: ExplorerApp,
    request: SmokeRequest,
    frames: u64,
    requested: bool,
    /// The screenshot callback's outcome (it runs after the frame is rendered).
    saved: Arc<Mutex<Option<Result<(), String>>>>,
    /// Why the check failed, read by `run` after the window closed.
    failure: Arc<Mutex<Option<String>>>,
}

impl SmokeApp {
    pub fn new(
        app: ExplorerApp,
        request: SmokeRequest,
        failure: Arc<Mutex<Option<String>>>,
    ) -> Self {
        Self {
            app,
            request,
            frames: 0,
            requested: false,
            saved: Arc::new(Mutex::new(None)),
            failure,
        }
    }

    fn close(&self, ctx: &egui::Context) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    fn after_frame(&mut self, ctx: &egui::Context) {
        self.frames += 1;
        if self.frames < self.request.frames {
            ctx.request_repaint();
            return;
        }
        let Some(path) = self.request.shot.clone() else {
            self.close(ctx);
            return;
        };
        if !self.requested {
            self.requested = true;
            let saved = Arc::clone(&self.saved);
            let repaint = ctx.clone();
            ctx.request_screenshot(move |image| {
                let [w, h] = image.size;
                let full =
                    egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w as f32, h as f32));
                let result = super::chrome::save_screenshot(&image, full, 1.0, &path);
                if let Ok(mut slot) = saved.lock() {
                    *slot = Some(result);
                }
                repaint.request_repaint();
            });
            ctx.request_repaint();
            return;
        }
        let outcome = self.saved.lock().ok().and_then(|mut s| s.take());
        match outcome {
            None => ctx.request_repaint(),
            Some(result) => {
                if let Err(e) = result
                    && let Ok(mut f) = self.failure.lock()
                {
                    *f = Some(format!("screenshot: {e}"));
                }
                self.close(ctx);
            }
        }
    }
}

impl eframe::App for SmokeApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.app.ui(ui, frame);
        self.after_frame(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.app.save(storage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_asked_without_the_variables() {
        // The variables are not set in unit tests (CI sets them for the window test's child
        // process only).
        if std::env::var_os("REID_SCREENSHOT").is_none()
            && std::env::var_os("REID_EXIT_AFTER_FRAMES").is_none()
        {
            assert_eq!(SmokeRequest::from_env().ok(), Some(None));
        }
    }
}
