//! A real window: the binary with no command (the GUI) opens on a display (`$DISPLAY`, else a
//! virtual one through `xvfb-run`), renders its first frames with the shipped default model and
//! the embedded sample, saves a screenshot of what it drew (`REID_SCREENSHOT`, see
//! src/app/smoke.rs) and closes itself (`REID_EXIT_AFTER_FRAMES`). The screenshot must not be
//! blank. Skipped with a printed reason where neither a display nor xvfb-run exists; a failure
//! instead under `REQUIRE_DISPLAY` (CI installs xvfb).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous for a loaded runner: a cold start compiles the renderer's shaders in software.
const LIMIT: Duration = Duration::from_secs(300);

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[test]
fn the_app_opens_a_window_and_draws_its_first_frames() {
    let has_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty());
    let bin = env!("CARGO_BIN_EXE_reid-explorer");
    let mut cmd = if has_display {
        Command::new(bin)
    } else if on_path("xvfb-run") {
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1600x1000x24", bin]);
        c
    } else {
        common::skip(
            "REQUIRE_DISPLAY",
            "no DISPLAY and no xvfb-run (Debian package xvfb) to open a window on",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let shot = tmp.path().join("first-frames.png");
    let runtime = tmp.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let log = tmp.path().join("app.log");
    let mut child = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // The app's persisted state (eframe storage) goes to the temporary folder, not the
        // user's: a fresh start, as on a new machine.
        .env("XDG_DATA_HOME", tmp.path().join("data"))
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("REID_SCREENSHOT", &shot)
        .env("REID_EXIT_AFTER_FRAMES", "20")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(tmp.path().join("app.err")).unwrap())
        .spawn()
        .expect("start the app");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the window did not close itself within {} s: {}",
                LIMIT.as_secs(),
                output(tmp.path())
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("window check: {:.1} s", start.elapsed().as_secs_f64());
    assert!(status.success(), "exit {status:?}: {}", output(tmp.path()));
    let image = image::open(&shot)
        .unwrap_or_else(|e| panic!("{}: {e}; {}", shot.display(), output(tmp.path())))
        .to_rgb8();
    assert!(
        image.width() >= 800 && image.height() >= 500,
        "{}x{}",
        image.width(),
        image.height()
    );
    let colours: HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    // A blank or single-colour frame has a handful; text, thumbnails and widgets give hundreds.
    assert!(
        colours.len() > 64,
        "the first frames look blank: {} distinct colours",
        colours.len()
    );
}

fn output(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!("stdout: {}\nstderr: {}", read("app.log"), read("app.err"))
}
