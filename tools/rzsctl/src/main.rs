// SPDX-License-Identifier: GPL-2.0
//! `rzsctl`: see the library (`src/lib.rs`) and `rzsctl --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Usage errors exit 2 (clap); --help and --version exit 0.
    let cli = rzsctl::cli::Cli::parse();
    match rzsctl::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rzsctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
