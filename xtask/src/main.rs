//! Project automation, run as `cargo xtask <task>`.
//!
//! * `cargo xtask test`: every check the project has (format, lints, all tests, C tests,
//!   generated-code drift), and the path tests a second time with `openat2` refused by a
//!   seccomp filter. `.ci/run` runs exactly this.
//! * `cargo xtask test-without-openat2`: only that second run of the path tests.
//! * `cargo xtask test-packages`: only the packaging of the crates to publish (the library
//!   crates and `argdata-cli`) and their tests run from the packages (a step of `test`).
//! * `cargo xtask demo`: the main job: the demo service under `cloudabi-run`.
//! * `cargo xtask gen`: regenerate `cloudabi-types` (and the emulator's typed system call
//!   trait) from its spec.
//! * `cargo xtask cloudabi`: build CloudABI executables (`install-toolchain`, `build`).
//! * `cargo xtask install [--prefix DIR]`: install `argdata`, `cloudabi-run` and the static
//!   emulator with their man pages and shell completions.
//! * `cargo xtask modgraph CRATE/src [--top]`: a crate's module dependencies, failing on a
//!   cycle (`cargo xtask test` checks `cloudabi-emulator/src` with it).

#![deny(unsafe_code)]

mod ci;
mod cloudabi;
mod r#gen;
mod install;
mod manifest;
mod modgraph;
mod paths;
// Installs a seccomp filter through libc: the one module with unsafe code.
#[allow(unsafe_code)]
mod seccomp;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  test      run every check and test (what CI runs)
  test-without-openat2
            only the path tests, with openat2 refused (a step of `test`)
  test-packages
            only the packages of the crates to publish and their tests (a step of `test`)
  demo      run the demo service under cloudabi-run
  gen       regenerate cloudabi-types and the emulator syscall trait from cloudabi-types/spec
  cloudabi  build and run CloudABI executables (`cargo xtask cloudabi help`)
  install   install argdata, cloudabi-run and the emulator, man pages and completions
            (`cargo xtask install [--prefix DIR]`, default prefix $HOME/.local)
  modgraph  a crate's module dependencies, failing on a cycle
            (`cargo xtask modgraph CRATE/src [--top]`)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => ci::test(&args[1..]),
        Some("test-without-openat2") => ci::test_without_openat2(&args[1..]),
        Some("test-packages") => ci::test_packages(&args[1..]),
        Some("demo") => ci::demo(&args[1..]),
        Some("gen") => r#gen::run(&args[1..]),
        Some("cloudabi") => cloudabi::run(&args[1..]),
        Some("install") => install::run(&args[1..]),
        Some("modgraph") => modgraph::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // An empty message: the task has already said why it failed.
            if !message.is_empty() {
                eprintln!("xtask: {message}");
            }
            ExitCode::FAILURE
        }
    }
}
