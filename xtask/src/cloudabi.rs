//! `cargo xtask cloudabi ...`: build real CloudABI executables.
//!
//! * `cargo xtask cloudabi install-toolchain`: installs the Debian packages of every file
//!   the build and the tests need that is missing (`toolchain.tsv`: one file a line, with
//!   its package), then checks the files again; `check-toolchain` only checks.
//! * `cargo xtask cloudabi build --target TRIPLE (--example NAME)... | --all`: builds the
//!   examples of `examples/cloudabi/` for `x86_64-unknown-cloudabi` or
//!   `aarch64-unknown-cloudabi` (target JSONs in `targets/`) into
//!   `target/cloudabi/TRIPLE/NAME`. Rust examples are `examples/cloudabi/src/bin/NAME.rs`;
//!   C examples `examples/cloudabi/c/STEM.c` are called `STEM-c` (freestanding C compiled
//!   by GCC, linked by `ld.lld-22` with `libcloudlibc_rs.a` built for the target).
//!
//! * `cargo xtask cloudabi emulator --arch x86_64|aarch64`: builds the statically
//!   linked emulator binary `cloudabi-emulate` (what `cloudabi-run --emulate` starts in
//!   its sandbox) into `target/cloudabi/ARCH-linux/cloudabi-emulate`. The AArch64 one is
//!   built with Debian's toolchain (`-Zbuild-std`, `aarch64-linux-gnu-gcc` as linker).
//! * `cargo xtask cloudabi run --target TRIPLE --example NAME [--config FILE]`: builds
//!   what is needed and runs the example under `cloudabi-run --emulate`, in its sandbox:
//!   x86-64 with the x86-64 emulator, AArch64 with the AArch64 emulator started through
//!   `qemu-aarch64-static` (`--runner`). The configuration defaults to `examples/cloudabi/NAME.yaml` (for
//!   `STEM-c`, `STEM.yaml`).
//!
//! The build uses Debian's own `rustc`/`cargo` (package `rustc-web`, whose standard library
//! sources come with `rust-web-src`) with `-Zbuild-std=core,alloc` under
//! `RUSTC_BOOTSTRAP=1`, links with `rust-lld` (which needs `lld-22`) into a static PIE and
//! then sets the ELF OSABI byte to 17 (`ELFOSABI_CLOUDABI`), which no linker can do.
//! See `docs/cloudabi-target.md`.

use std::path::Path;
use std::process::Command;

use crate::paths::{host_target_dir, root};

/// What the build and the tests need, one file a line with the Debian package that provides
/// it (`toolchain.tsv`, also read by the tests' own toolchain check).
const TOOLCHAIN: &str = include_str!("toolchain.tsv");

/// One needed file: its path, its Debian package and what it is for.
struct Needed {
    path: &'static str,
    package: &'static str,
    purpose: &'static str,
}

/// The lines of [`TOOLCHAIN`], comments skipped.
fn needed() -> impl Iterator<Item = Needed> {
    TOOLCHAIN
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut cols = l.split('\t');
            let mut col = || cols.next().unwrap_or_default();
            let (path, package, _group, purpose) = (col(), col(), col(), col());
            Needed {
                path,
                package,
                purpose,
            }
        })
}

/// The needed files that are not there.
fn missing() -> Vec<Needed> {
    needed().filter(|n| !Path::new(n.path).exists()).collect()
}

/// Debian's rustc and cargo (the rustup proxies come first in `PATH`, so use full paths).
const RUSTC: &str = "/usr/bin/rustc";
const CARGO: &str = "/usr/bin/cargo";

/// The target triples with a JSON in `targets/`.
pub(crate) const TRIPLES: [&str; 2] = ["x86_64-unknown-cloudabi", "aarch64-unknown-cloudabi"];

const USAGE: &str = "usage: cargo xtask cloudabi <command>

commands:
  install-toolchain                     apt-get install what the build and tests need
                                        (only the packages of missing files; idempotent)
  check-toolchain                       check that every needed file is there
  build --target TRIPLE --example NAME  build one example (repeat --example for more)
  build --target TRIPLE --all           build every example of examples/cloudabi/
  emulator --arch x86_64|aarch64        build the static emulator binary
  run --target TRIPLE --example NAME [--config FILE]
                                        build and run an example under the emulator
  list                                  print the example names

TRIPLE: x86_64-unknown-cloudabi or aarch64-unknown-cloudabi
output: target/cloudabi/TRIPLE/NAME, target/cloudabi/ARCH-linux/cloudabi-emulate
";

/// Entry point of `cargo xtask cloudabi`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("install-toolchain") => install_toolchain(),
        Some("check-toolchain") => toolchain_present().map(|()| {
            eprintln!("toolchain: all {} needed files present", needed().count());
        }),
        Some("build") => build(&args[1..]),
        Some("emulator") => match args.get(1..) {
            Some([flag, arch]) if flag == "--arch" => emulator(arch).map(|_| ()),
            _ => Err(format!(
                "usage: cargo xtask cloudabi emulator --arch x86_64|aarch64\n\n{USAGE}"
            )),
        },
        Some("run") => run_example(&args[1..]),
        Some("list") => {
            for name in examples()? {
                println!("{name}");
            }
            Ok(())
        }
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    }
}

/// `apt-get install`s the packages of every missing file (nothing when all are there), then
/// checks that every file is there now.
fn install_toolchain() -> Result<(), String> {
    let mut packages: Vec<&str> = missing().iter().map(|n| n.package).collect();
    packages.sort_unstable();
    packages.dedup();
    if packages.is_empty() {
        eprintln!("toolchain: all {} needed files present", needed().count());
        return Ok(());
    }
    let install = |update: bool| -> Result<bool, String> {
        if update {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        }
        let status = Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("cannot start apt-get: {e}"))?;
        Ok(status.success())
    };
    eprintln!("toolchain: installing {}", packages.join(", "));
    if !(install(false)? || install(true)?) {
        return Err(format!("apt-get install {} failed", packages.join(" ")));
    }
    toolchain_present()
}

/// Whether every file the build and the tests need is there; `Err` names each missing file
/// with its Debian package.
pub(crate) fn toolchain_present() -> Result<(), String> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing
        .iter()
        .map(|n| {
            format!(
                "  {} is missing (Debian package {}: {})",
                n.path, n.package, n.purpose
            )
        })
        .collect();
    Err(format!(
        "the toolchain is incomplete:\n{}\nrun `cargo xtask cloudabi install-toolchain`",
        lines.join("\n")
    ))
}

/// Names of the examples: `examples/cloudabi/src/bin/NAME.rs` (Rust) and
/// `examples/cloudabi/c/NAME.c` (C, built as `NAME-c`).
fn examples() -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for (dir, ext, suffix) in [("src/bin", ".rs", ""), ("c", ".c", "-c")] {
        let dir = root().join("examples/cloudabi").join(dir);
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(ext) {
                names.push(format!("{stem}{suffix}"));
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Runs a build command; fails when it does.
fn check_status(what: &str, cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Debian's cargo set up for a CloudABI target (`-Zbuild-std`, `RUSTC_BOOTSTRAP`).
fn target_cargo(spec: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(CARGO);
    cmd.current_dir(dir)
        .env("RUSTC", RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", root().join("target/cloudabi-build"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTDOC")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .args([
            "build",
            "--release",
            "-Zjson-target-spec",
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
            "--target",
        ])
        .arg(spec);
    cmd
}

/// Builds the C example `examples/cloudabi/c/STEM.c` into the linked (not yet marked)
/// executable at `out`: compiled freestanding with GCC, linked by `ld.lld-22` as a static
/// PIE with `libcloudlibc_rs.a` built for the target.
fn build_c(triple: &str, stem: &str, out: &Path) -> Result<(), String> {
    let root = root();
    let arch = triple.split('-').next().unwrap_or_default();
    let gcc = if arch == "x86_64" {
        "gcc".to_string()
    } else {
        format!("{arch}-linux-gnu-gcc")
    };
    let object = out.with_extension("o");
    check_status(
        &format!("compiling {stem}.c"),
        Command::new(&gcc)
            .current_dir(&root)
            .args([
                "-O2",
                "-std=c11",
                "-ffreestanding",
                "-fPIE",
                "-fno-stack-protector",
                "-fno-asynchronous-unwind-tables",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Icloudlibc-rs/include",
                "-Icloudabi-types/include",
                "-c",
            ])
            .arg(format!("examples/cloudabi/c/{stem}.c"))
            .arg("-o")
            .arg(&object),
    )?;
    let lib = root
        .join("target/cloudabi-build")
        .join(triple)
        .join("release/libcloudlibc_rs.a");
    check_status(
        &format!("linking {stem}"),
        Command::new("ld.lld-22")
            .args([
                "-static",
                "-pie",
                "--no-dynamic-linker",
                "-z",
                "text",
                "-z",
                "relro",
                "-z",
                "now",
                "--gc-sections",
                "-e",
                "_start",
                "-o",
            ])
            .arg(out)
            .arg(&object)
            .arg(&lib),
    )
}

fn build(args: &[String]) -> Result<(), String> {
    let mut triple = None;
    let mut names = Vec::new();
    let mut all = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--target" => triple = it.next().cloned(),
            "--example" => names.push(
                it.next()
                    .cloned()
                    .ok_or_else(|| "--example needs a name".to_string())?,
            ),
            "--all" => all = true,
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    let triple = triple.ok_or_else(|| format!("--target is required\n\n{USAGE}"))?;
    if !TRIPLES.contains(&triple.as_str()) {
        return Err(format!(
            "unknown target `{triple}`: expected one of {}",
            TRIPLES.join(", ")
        ));
    }
    let known = examples()?;
    if all {
        names = known.clone();
    }
    if names.is_empty() {
        return Err(format!("name an --example or pass --all\n\n{USAGE}"));
    }
    for name in &names {
        if !known.contains(name) {
            return Err(format!(
                "no example `{name}` (examples: {})",
                known.join(", ")
            ));
        }
    }
    toolchain_present()?;
    let root = root();
    let spec = root.join("targets").join(format!("{triple}.json"));
    let build_dir = root.join("target/cloudabi-build");
    let (c_names, rust_names): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| n.ends_with("-c"));
    if !rust_names.is_empty() {
        let mut cmd = target_cargo(&spec, &root.join("examples/cloudabi"));
        for name in &rust_names {
            cmd.args(["--bin", name.as_str()]);
        }
        eprintln!("==> cloudabi build ({triple}): Rust {rust_names:?}");
        check_status(&format!("cargo build for {triple}"), &mut cmd)?;
    }
    if !c_names.is_empty() {
        eprintln!("==> cloudabi build ({triple}): libcloudlibc_rs.a, C {c_names:?}");
        check_status(
            &format!("cargo build -p cloudlibc-rs for {triple}"),
            target_cargo(&spec, &root).args(["-p", "cloudlibc-rs", "--lib"]),
        )?;
    }
    let out_dir = root.join("target/cloudabi").join(&triple);
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    for name in &names {
        let built = match name.strip_suffix("-c") {
            Some(stem) => {
                let linked = build_dir.join(&triple).join("c").join(name);
                std::fs::create_dir_all(build_dir.join(&triple).join("c"))
                    .map_err(|e| format!("{}: {e}", build_dir.display()))?;
                build_c(&triple, stem, &linked)?;
                linked
            }
            None => build_dir.join(&triple).join("release").join(name),
        };
        let mut bytes = std::fs::read(&built).map_err(|e| format!("{}: {e}", built.display()))?;
        set_cloudabi_osabi(&mut bytes).map_err(|e| format!("{}: {e}", built.display()))?;
        let out = out_dir.join(name);
        std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("    {}", out.display());
    }
    Ok(())
}

/// Marks a linked static PIE as a CloudABI executable: `EI_OSABI` (byte 7) = 17.
pub(crate) fn set_cloudabi_osabi(elf: &mut [u8]) -> Result<(), String> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".to_string());
    }
    if u16::from_le_bytes([elf[16], elf[17]]) != 3 {
        return Err("not a position-independent executable (ET_DYN)".to_string());
    }
    match elf[7] {
        0 | 17 => {
            elf[7] = 17;
            Ok(())
        }
        other => Err(format!("unexpected ELF OSABI {other}")),
    }
}

/// Builds the static `cloudabi-emulate` for `arch`; returns its path.
pub(crate) fn emulator(arch: &str) -> Result<std::path::PathBuf, String> {
    let root = root();
    let triple = match arch {
        "x86_64" => "x86_64-unknown-linux-gnu",
        "aarch64" => "aarch64-unknown-linux-gnu",
        other => {
            return Err(format!(
                "unknown arch `{other}`: expected x86_64 or aarch64"
            ));
        }
    };
    let (mut cmd, target_dir) = if arch == std::env::consts::ARCH {
        // The project's own toolchain, with a static C library.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        (Command::new(cargo), host_target_dir())
    } else {
        // No standard library for the other architecture through rustup here: build it
        // from Debian's sources.
        toolchain_present()?;
        let dir = root.join("target/cloudabi-host-build");
        let mut c = Command::new(CARGO);
        c.env("RUSTC", RUSTC)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &dir)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env(
                format!(
                    "CARGO_TARGET_{}_LINKER",
                    triple.to_uppercase().replace('-', "_")
                ),
                format!("{arch}-linux-gnu-gcc"),
            )
            .arg("-Zbuild-std");
        (c, dir)
    };
    cmd.current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args([
            "build",
            "--release",
            "-p",
            "cloudabi-emulator",
            "--bin",
            "cloudabi-emulate",
            "--target",
            triple,
        ]);
    eprintln!("==> static emulator ({triple})");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the {arch} emulator failed ({status})"));
    }
    let built = target_dir.join(triple).join("release/cloudabi-emulate");
    let out_dir = root.join("target/cloudabi").join(format!("{arch}-linux"));
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let out = out_dir.join("cloudabi-emulate");
    std::fs::copy(&built, &out).map_err(|e| format!("{}: {e}", built.display()))?;
    eprintln!("    {}", out.display());
    Ok(out)
}

fn run_example(args: &[String]) -> Result<(), String> {
    let (mut triple, mut name, mut config) = (None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--target" => triple = it.next().cloned(),
            "--example" => name = it.next().cloned(),
            "--config" => config = it.next().cloned(),
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    let (Some(triple), Some(name)) = (triple, name) else {
        return Err(format!("run needs --target and --example\n\n{USAGE}"));
    };
    let root = root();
    let config = config.map_or_else(
        || {
            let stem = name.strip_suffix("-c").unwrap_or(&name);
            root.join("examples/cloudabi").join(format!("{stem}.yaml"))
        },
        std::path::PathBuf::from,
    );
    build(&[
        "--target".into(),
        triple.clone(),
        "--example".into(),
        name.clone(),
    ])?;
    let program = root.join("target/cloudabi").join(&triple).join(&name);
    // x86-64: the emulator runs natively; AArch64: the AArch64 emulator runs through
    // qemu-aarch64-static (`--runner`). Either way inside cloudabi-run's sandbox.
    let arch = if triple.starts_with("x86_64") {
        "x86_64"
    } else {
        "aarch64"
    };
    let emulate = emulator(arch)?;
    let status = {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let built = Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "-p",
                "cloudabi-run",
                "--bin",
                "cloudabi-run",
            ])
            .status()
            .map_err(|e| format!("cannot start cargo: {e}"))?;
        if !built.success() {
            return Err("building cloudabi-run failed".to_string());
        }
        let mut run = Command::new(host_target_dir().join("release/cloudabi-run"));
        run.arg("--emulate").arg("--emulator").arg(&emulate);
        if arch == "aarch64" {
            run.args(["--runner", "/usr/bin/qemu-aarch64-static"]);
        }
        run.arg(&program).arg("--config").arg(&config).status()
    }
    .map_err(|e| format!("cannot start the program: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} exited with {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::needed;

    #[test]
    fn every_needed_file_names_its_package() {
        let all: Vec<_> = needed().collect();
        assert!(all.len() >= 11);
        for n in &all {
            assert!(n.path.starts_with('/'), "{}", n.path);
            assert!(!n.package.is_empty() && !n.purpose.is_empty(), "{}", n.path);
        }
        // The two files whose packages are only Recommends of the ones named before.
        for (path, package) in [
            ("/usr/bin/rust-lld", "rust-web-llvm"),
            (
                "/usr/aarch64-linux-gnu/include/bits/libc-header-start.h",
                "libc6-dev-arm64-cross",
            ),
        ] {
            assert!(
                all.iter().any(|n| n.path == path && n.package == package),
                "{path}"
            );
        }
    }
}
