//! `reid-explorer`: no command opens the GUI; see `--help` for the commands.

use clap::Parser;
use reid_explorer::cli::{Cli, run};

/// mimalloc instead of the system allocator: glibc hands every large block (the network's
/// 85 MB correlation volume and its gradients, each training step) back to the OS on free and
/// pays a page fault per 4 KiB when it is allocated again; mimalloc reuses them (CHANGELOG.md
/// has the measured gain).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_decommits` in mimalloc.h's `mi_option_e` (the crate does not name it).
const MI_OPTION_PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

/// Freed memory mimalloc purges is only marked reclaimable (`MADV_FREE`) instead of being
/// decommitted, so a block reused before the OS needs the pages costs no page faults, and
/// the OS can still take them back under memory pressure (another ~5-8% on a training step).
fn tune_allocator() {
    // SAFETY: mimalloc's option setter is not thread-safe; this runs first in `main`, before
    // any thread of ours exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0) };
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    if cli.backend == reid_explorer::backend::BackendChoice::Cpu
        && std::env::var_os("BURN_DEVICE").is_none()
    {
        // Burn creates some tensors on its default device (the optimiser state read back on
        // resume): with --backend cpu that must be the CPU, not a wgpu adapter started for
        // nothing. SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    let result = match cli.command {
        Some(command) => run(command, cli.backend),
        None => reid_explorer::app::run(reid_explorer::app::AppOptions {
            model_dir: cli.model,
            dataset_dir: cli.dataset,
            ..reid_explorer::app::AppOptions::from_defaults(cli.backend)
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
