//! Ctrl-C (SIGINT) and SIGTERM for long commands: the first asks the job to stop cleanly (a
//! training run finishes its step and writes a checkpoint, so `--resume` loses nothing); a
//! second Ctrl-C ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::protocol::CancelToken;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // SAFETY: signal() is async-signal-safe; restoring the default action makes a second
    // Ctrl-C end the process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Cancels `token` on the first SIGINT / SIGTERM (a message says so on stderr).
pub fn cancel_on_interrupt(token: CancelToken, what: &'static str) {
    #[cfg(unix)]
    {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic and calls signal(), both
        // async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }
    let watcher = std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            while !INTERRUPTED.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("interrupted: {what} (Ctrl-C again to quit at once)");
            token.cancel();
        });
    if let Err(e) = watcher {
        eprintln!("warning: Ctrl-C will not stop cleanly ({e})");
    }
}
