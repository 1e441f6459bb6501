//! A program for the startup tests: `main!(typed ...)` with a configuration that says
//! how to end (print, fail, panic, exit code).

use std::io::Write;
use std::os::fd::BorrowedFd;
use std::process::ExitCode;

#[derive(serde::Deserialize)]
struct Config<'a> {
    action: &'a str,
    out: argdata::Fd,
}

fn probe(config: Config<'static>) -> Result<ExitCode, String> {
    // SAFETY: `out` was granted to this program (the typed decoder checked it) and stays
    // open until exit; it is only borrowed here.
    let out = unsafe { BorrowedFd::borrow_raw(config.out.raw()) };
    let mut file = std::fs::File::from(out.try_clone_to_owned().map_err(|e| e.to_string())?);
    match config.action {
        "ok" => {
            writeln!(file, "ok on fd {}", config.out).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        "fail" => Err("asked to fail".to_owned()),
        "panic" => panic!("asked to panic"),
        "exit3" => Ok(ExitCode::from(3)),
        other => Err(format!("unknown action {other}")),
    }
}

program::main!(typed probe);
