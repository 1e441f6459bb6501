//! `argdata`: print encoded argdata as YAML, or encode YAML as argdata. See
//! `argdata --help` and `docs/argdata.1.md`.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use argdata_cli::{Cli, EX_USAGE};
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to standard output with status 0; every other clap
            // error is a usage error.
            let status = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(status);
        }
    };
    let stdout = std::io::stdout();
    let is_terminal = stdout.is_terminal();
    match argdata_cli::run(
        &cli,
        &mut std::io::stdin().lock(),
        &mut stdout.lock(),
        is_terminal,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("argdata: {failure}");
            ExitCode::from(failure.status())
        }
    }
}
