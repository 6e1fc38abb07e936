//! Ctrl-C and termination requests (SIGINT / SIGTERM / SIGHUP on Unix, console events on
//! Windows, through the `ctrlc` crate) for long commands: the first asks the job to stop
//! cleanly (a training run finishes its step and writes a checkpoint, so `--resume` loses
//! nothing); a second ends the process at once (exit status 130).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::protocol::CancelToken;

/// Cancels `token` on the first interrupt (a message says so on stderr); the second quits.
pub fn cancel_on_interrupt(token: CancelToken, what: &'static str) {
    let interrupted = AtomicBool::new(false);
    let installed = ctrlc::set_handler(move || {
        if interrupted.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again: quitting now");
            std::process::exit(130);
        }
        eprintln!("interrupted: {what} (Ctrl-C again to quit at once)");
        token.cancel();
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not stop cleanly ({e})");
    }
}
