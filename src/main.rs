//! `reid-explorer`: no command opens the GUI; see `--help` for the commands.

use clap::Parser;
use reid_explorer::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(command) => run(command, cli.backend),
        None => reid_explorer::app::run(cli.backend),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
