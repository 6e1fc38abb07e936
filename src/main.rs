//! `reid-explorer`: no command opens the GUI; see `--help` for the commands.

use clap::Parser;
use reid_explorer::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
