//! Progress bars for long commands (indicatif on stderr; hidden when stderr is not a terminal).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar that follows stage progress events ("decoding", "trunk features", "scoring", ...).
pub struct StageBar {
    bar: ProgressBar,
    stage: Mutex<&'static str>,
}

impl Default for StageBar {
    fn default() -> Self {
        Self::new()
    }
}

impl StageBar {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self {
            bar,
            stage: Mutex::new(""),
        }
    }

    /// Report `done` of `total` in `stage`.
    pub fn update(&self, stage: &'static str, done: usize, total: usize) {
        if let Ok(mut s) = self.stage.lock()
            && *s != stage
        {
            *s = stage;
            self.bar.set_message(stage);
            self.bar.set_length(total as u64);
        }
        self.bar.set_position(done as u64);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
